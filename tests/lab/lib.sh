# Helpers for lab tests (tests/lab/*.sh), on the host side. Source it instead of
# tests/lib.sh (it sources that too):
#   source "$(dirname "$0")/lib.sh"
# shellcheck shell=bash
#
# lab_batch NAME SCRIPT [tools/lab OPTION]...
#   Runs the busybox-sh file SCRIPT inside ONE lab boot and prints its output (its
#   PASS/FAIL/SKIP lines). SCRIPT starts with `. /lab/inlab.sh` for the in-lab helpers
#   (tests/lab/inlab.sh: pass/fail/skip/check, guest_run, guest_has, guest_status).
#   Adds one more line about the batch itself: FAIL NAME when the lab timed out (124),
#   could not run (125), its host died under SCRIPT (126: then also a LAB-DIED line, which
#   tests/run reads), or SCRIPT exited non-zero; nothing when all went well.
#   Options go to tools/lab run (--timeout, --with-qemu, --add ...).

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LAB=$VIRIDIAN_ROOT/tools/lab

lab_batch() {
    local name=$1 script=$2; shift 2
    local rc=0
    "$LAB" run --add "$VIRIDIAN_ROOT/tests/lab/inlab.sh:/lab/inlab.sh" \
        --add "$script:/lab/batch.sh" "$@" -- sh /lab/batch.sh || rc=$?
    case $rc in
        0) ;;
        124) fail "$name" "the lab timed out" ;;
        125) fail "$name" "the lab could not run (see the lab: lines above)" ;;
        126) fail "$name" "the lab host died (see the lab: lines above)"; echo "LAB-DIED $name" ;;
        *) fail "$name" "the batch script exited $rc" ;;
    esac
}
