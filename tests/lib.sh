# Shared helpers for shell tests. A test script prints one line per check:
#   PASS <name> | FAIL <name>: <why> | SKIP <name>: <why>
# tests/run counts those lines; a script's exit status alone decides nothing.
# shellcheck shell=bash

VIRIDIAN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VIRIDIAN=${VIRIDIAN:-$VIRIDIAN_ROOT/build/viridian}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: ${2:-}"; }
skip() { echo "SKIP $1: ${2:-}"; }

# check NAME CMD...: PASS when CMD exits 0.
check() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"; fi
}

# scratch directory removed when the script exits
new_tmpdir() {
    TEST_TMP=$(mktemp -d /tmp/viridian-test-XXXXXX)
    trap 'rm -rf "$TEST_TMP"' EXIT
}
