#!/usr/bin/env bash
# VHDX crash consistency: a workload of random writes/discards/flushes is SIGKILLed
# at random points (also inside metadata updates, with unsynced in-place metadata
# writes undone to simulate a power loss); after each kill the image must reopen
# (log replay), check clean, and hold every flushed sector and no foreign data.
# 150 runs on a dynamic VHDX, 100 on a differencing child (sector bitmaps); each
# mode fails if it cannot finish within 90 s. See tests/tools/vhdx_crash_test.c.
# Budget: ~25 s on an idle machine.
source "$(dirname "$0")/../lib.sh"
new_tmpdir
tool=$VIRIDIAN_ROOT/build-asan/vhdx_crash_test
if [[ ! -x $tool ]]; then
    fail vhdx_crash "build-asan/vhdx_crash_test missing (make asan)"
    exit 0
fi
run() { # name runs mode
    local out
    out=$("$tool" "$TEST_TMP" "$2" "$RANDOM$RANDOM" 90 $3 2>&1)
    printf '%s\n' "$out" | grep -E '^(PASS|FAIL) ' | sed "s/ vhdx_crash:/ $1:/" ||
        fail "$1" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
}
run vhdx_crash_dynamic 150 ""
run vhdx_crash_differencing 100 diff
