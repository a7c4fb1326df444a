#!/usr/bin/env bash
# `viridian disk` with bad input: wrong paths, unknown formats, bad sizes, bad options,
# corrupt images. Each must fail with a non-zero exit and one clear error line, and
# leave nothing created and nothing modified.
source "$(dirname "$0")/../lib.sh"
new_tmpdir
cd "$TEST_TMP" || exit 1
V=$VIRIDIAN
DISKIO=${DISKIO:-$VIRIDIAN_ROOT/build/diskio}

# expect_fail NAME CMD...: non-zero exit, exactly one "viridian: " line on stderr
expect_fail() {
    local name=$1; shift
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if ((rc == 0)); then
        fail "$name" "succeeded"
    elif [[ $(printf '%s\n' "$err" | grep -c '^viridian: ') != 1 ]]; then
        fail "$name" "want one error line, got: $err"
    else
        pass "$name"
    fi
}
# expect_absent NAME FILE
expect_absent() { if [[ -e $2 ]]; then fail "$1" "$2 was created"; else pass "$1"; fi; }

# --- sizes, formats, options ---------------------------------------------------------
for size in 0 junk 12Q -1G 9000000P 1000 3000G; do
    expect_fail "disk-bad/create-size-$size" "$V" disk create "s$size.vhd" "$size"
    expect_absent "disk-bad/create-size-$size-nothing-created" "s$size.vhd"
done
expect_fail disk-bad/create-raw-size-0 "$V" disk create z.img 0
expect_absent disk-bad/create-raw-size-0-nothing-created z.img
expect_fail disk-bad/unknown-extension "$V" disk create x.qcow2 1M
expect_absent disk-bad/unknown-extension-nothing-created x.qcow2
expect_fail disk-bad/unknown-format "$V" disk create x.vhd 1M --format qcow2
expect_absent disk-bad/unknown-format-nothing-created x.vhd
expect_fail disk-bad/unknown-type "$V" disk create x.vhd 1M --type sparse
expect_fail disk-bad/bad-block-size "$V" disk create x.vhd 1M --block-size 3000
expect_fail disk-bad/vhd-4k-sectors "$V" disk create x.vhd 1M --sector-size 4096
expect_absent disk-bad/vhd-4k-sectors-nothing-created x.vhd
expect_fail disk-bad/bad-sector-size "$V" disk create x.img 1M --sector-size 1024
expect_fail disk-bad/unknown-option "$V" disk create x.vhd 1M --colour red
expect_fail disk-bad/missing-size "$V" disk create x.vhd
expect_fail disk-bad/missing-option-value "$V" disk create x.vhd 1M --type
expect_fail disk-bad/size-and-parent "$V" disk create x.vhd 1M --parent y.vhd
expect_fail disk-bad/extra-argument "$V" disk info a b
expect_fail disk-bad/unknown-subcommand "$V" disk frobnicate x
expect_fail disk-bad/missing-parent-file "$V" disk create x.vhd --parent nowhere.vhd
expect_absent disk-bad/missing-parent-file-nothing-created x.vhd

# --- wrong paths -----------------------------------------------------------------------
for cmd in info check compact merge; do
    expect_fail "disk-bad/$cmd-no-such-file" "$V" disk "$cmd" /nonexistent/x.vhd
done
expect_fail disk-bad/resize-no-such-file "$V" disk resize /nonexistent/x.vhd 1G
expect_fail disk-bad/convert-no-such-source "$V" disk convert /nonexistent/x.vhd out.vhd
expect_absent disk-bad/convert-no-such-source-nothing-created out.vhd
expect_fail disk-bad/create-in-missing-dir "$V" disk create /nonexistent/x.vhd 1M
"$V" disk create keep.vhd 4M
sum=$(md5sum <keep.vhd)
expect_fail disk-bad/create-over-existing "$V" disk create keep.vhd 8M
expect_fail disk-bad/convert-over-existing "$V" disk convert keep.vhd keep.vhd
if [[ $(md5sum <keep.vhd) == "$sum" ]]; then pass disk-bad/existing-untouched; else fail disk-bad/existing-untouched "modified"; fi
expect_fail disk-bad/merge-not-differencing "$V" disk merge keep.vhd
expect_fail disk-bad/set-parent-not-differencing "$V" disk set-parent keep.vhd keep.vhd
expect_fail disk-bad/directory "$V" disk info .

# --- corrupt images ----------------------------------------------------------------------
# put_be32 FILE OFFSET VALUE
put_be32() {
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($3 >> 24 & 255)) $(($3 >> 16 & 255)) $(($3 >> 8 & 255)) $(($3 & 255)))" |
        dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
put_be64() { put_be32 "$1" "$2" $(($3 >> 32)); put_be32 "$1" $(($2 + 4)) $(($3 & 0xffffffff)); }
# fix_csum FILE OFFSET LEN CSUM_FIELD: recompute a VHD checksum (one's complement byte sum)
fix_csum() {
    local sum=0 i=0 b
    for b in $(od -An -v -tu1 -j "$2" -N "$3" "$1"); do
        if ((i < $4 || i >= $4 + 4)); then sum=$((sum + b)); fi
        i=$((i + 1))
    done
    put_be32 "$1" $(($2 + $4)) $((~sum & 0xffffffff))
}
fix_footers() { # dynamic VHD: both footer copies
    local end=$(($(stat -c %s "$1") - 512))
    fix_csum "$1" 0 512 64
    dd if="$1" of="$1.f" bs=512 count=1 status=none
    dd if="$1.f" of="$1" bs=1 seek=$end conv=notrunc status=none
    rm -f "$1.f"
}
head -c $((3 * 1024 * 1024)) /dev/urandom >data
"$V" disk create good.vhd 8M
"$DISKIO" write good.vhd 0 data
"$DISKIO" write good.vhd $((6 * 1024 * 1024)) data 2>/dev/null || true
end=$(($(stat -c %s good.vhd) - 512))

corrupt() { # NAME: copy good.vhd to NAME.vhd, run the edit, expect open and check to fail
    local name=$1; shift
    cp good.vhd "$name.vhd"
    "$@" "$name.vhd"
    local sum; sum=$(md5sum <"$name.vhd")
    expect_fail "disk-bad/corrupt-$name-info" "$V" disk info "$name.vhd"
    expect_fail "disk-bad/corrupt-$name-check" "$V" disk check "$name.vhd"
    expect_fail "disk-bad/corrupt-$name-convert" "$V" disk convert "$name.vhd" "$name.raw"
    expect_absent "disk-bad/corrupt-$name-convert-nothing-created" "$name.raw"
    if [[ $(md5sum <"$name.vhd") == "$sum" ]]; then pass "disk-bad/corrupt-$name-untouched"
    else fail "disk-bad/corrupt-$name-untouched" "modified"; fi
}
bad_footer_csum() { put_be32 "$1" 64 12345; put_be32 "$1" $((end + 64)) 12345; }
bad_cookie() { printf 'XXXXXXXX' | dd of="$1" bs=1 seek=0 conv=notrunc status=none; printf 'XXXXXXXX' | dd of="$1" bs=1 seek=$end conv=notrunc status=none; }
bad_header_cookie() { printf 'notspars' | dd of="$1" bs=1 seek=512 conv=notrunc status=none; }
bad_header_csum() { put_be32 "$1" $((512 + 36)) 7; }
absurd_size() { put_be64 "$1" 48 $((1 << 50)); fix_footers "$1"; }
odd_size() { put_be64 "$1" 48 1000; fix_footers "$1"; }
bad_type() { put_be32 "$1" 60 9; fix_footers "$1"; }
bat_small() { put_be32 "$1" $((512 + 28)) 1; fix_csum "$1" 512 1024 36; }
bad_block_size() { put_be32 "$1" $((512 + 32)) 3000; fix_csum "$1" 512 1024 36; }
bat_outside() { put_be32 "$1" 1536 $((0x7fffffff)); }
bat_on_header() { put_be32 "$1" 1536 1; }
bat_overlap() { local first; first=$(od -An -tu1 -j 1536 -N 4 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4}'); put_be32 "$1" $((1536 + 4)) $((first + 1)); }
truncated() { truncate -s 1M "$1"; }
for c in bad_footer_csum bad_cookie bad_header_cookie bad_header_csum absurd_size odd_size bad_type \
         bat_small bad_block_size bat_outside bat_on_header bat_overlap truncated; do
    corrupt "$c" "$c"
done

# damaged but recoverable: end footer broken, copy at 0 good -> check reports, repair fixes
cp good.vhd eof.vhd
put_be32 eof.vhd $((end + 64)) 99
expect_fail disk-bad/eof-footer-check-reports "$V" disk check eof.vhd
if "$V" disk check --repair eof.vhd >/dev/null && "$V" disk check eof.vhd >/dev/null &&
    "$V" disk convert eof.vhd eof.raw >/dev/null && "$V" disk convert good.vhd good.raw >/dev/null &&
    cmp -s eof.raw good.raw; then
    pass disk-bad/eof-footer-repaired
else
    fail disk-bad/eof-footer-repaired "repair did not restore the image"
fi
# a BAT entry outside the file: check lists it, --repair drops it
cp good.vhd batfix.vhd
bat_outside batfix.vhd
if "$V" disk check batfix.vhd 2>&1 | grep -q "BAT entry 0 points past the end"; then pass disk-bad/check-lists-bat-entry
else fail disk-bad/check-lists-bat-entry "not reported"; fi
if "$V" disk check --repair batfix.vhd >/dev/null && "$V" disk check batfix.vhd >/dev/null; then
    pass disk-bad/check-repair-bat
else
    fail disk-bad/check-repair-bat "still inconsistent after --repair"
fi
# a torn end (garbage after the last block, no footer at the end): readable from the
# footer copy, reported by check, cut off by --repair
cp good.vhd torn.vhd
head -c 1000 /dev/urandom >>torn.vhd
expect_fail disk-bad/torn-end-check-reports "$V" disk check torn.vhd
if "$V" disk check --repair torn.vhd >/dev/null && "$V" disk check torn.vhd >/dev/null &&
    "$V" disk convert torn.vhd torn.raw >/dev/null && cmp -s torn.raw good.raw &&
    [[ $(stat -c %s torn.vhd) == $(stat -c %s good.vhd) ]]; then
    pass disk-bad/torn-end-repaired
else
    fail disk-bad/torn-end-repaired "repair did not restore the image"
fi
