#!/usr/bin/env bash
# VHDX interoperability and robustness, driven through build-asan/disktool:
#  - images we write (fixed/dynamic, block sizes 1-256 MiB, odd sizes) read identically
#    by qemu-img (compare, check); 4 KiB-sector images (QEMU refuses them; libvhdi reads)
#  - images qemu-img/qemu-io create and write, we read byte-identically; each side
#    writes into the other's images
#  - differencing: vhdiinfo, and a 10-deep chain read by vhdimount (FUSE) vs us
#  - discard, resize, pending-log handling (read-only refusal, NO_REPLAY, replay),
#    corrupt headers/region table/BAT, parent loops
# Budget: ~20 s.
source "$(dirname "$0")/../lib.sh"
new_tmpdir
# vhdimount keeps a FUSE daemon per mount: unmount whatever is left before cleaning up
trap 'for m in "$TEST_TMP"/m*; do mountpoint -q "$m" && umount "$m"; done; rm -rf "$TEST_TMP"' EXIT
T=$VIRIDIAN_ROOT/build-asan/disktool
cd "$TEST_TMP" || exit 1
if [[ ! -x $T ]]; then fail vhdx_interop "build-asan/disktool missing (make asan)"; exit 0; fi
if ! command -v qemu-img >/dev/null; then skip vhdx_interop "qemu-img not installed"; exit 0; fi

MiB=1048576
# reference data: random, with a zero hole and patterns at block edges
mkref() { # file size
    head -c "$2" /dev/urandom >"$1"
    if (( $2 > 6 * MiB )); then dd if=/dev/zero of="$1" bs=1M seek=2 count=3 conv=notrunc status=none; fi
}
vsize() { qemu-img info --output=json "$1" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p'; }

# --- our images -> qemu-img ---------------------------------------------------------
for type in dynamic fixed; do
    for bs in 1M 2M 32M 256M; do
        for size in $((MiB)) $((7 * MiB + 512)) $((33 * MiB)); do
            name="ours_${type}_bs${bs}_size${size}"
            rm -f o.vhdx; mkref ref.raw "$size"
            if ! out=$($T create o.vhdx "$size" "$type" block=$bs 2>&1 && $T write-raw o.vhdx ref.raw 2>&1); then
                fail "$name" "$out"; continue
            fi
            if ! out=$(qemu-img compare -f raw -F vhdx ref.raw o.vhdx 2>&1); then fail "$name" "compare: $out"
            elif ! out=$(qemu-img check o.vhdx 2>&1); then fail "$name" "qemu-img check: $out"
            elif [[ $(vsize o.vhdx) != "$size" ]]; then fail "$name" "qemu virtual size $(vsize o.vhdx)"
            elif ! out=$($T check o.vhdx 2>&1); then fail "$name" "our check: $out"
            else pass "$name"; fi
        done
    done
done
rm -f o.vhdx

# 4 KiB logical sectors: our round trip; QEMU 7.2 refuses them (ENOTSUP); libvhdi reads them
mkref ref.raw $((12 * MiB))
if $T create s4k.vhdx $((12 * MiB)) sector=4096 block=1M && $T write-raw s4k.vhdx ref.raw &&
   $T dump-raw s4k.vhdx s4k.raw && cmp -s ref.raw s4k.raw && $T check s4k.vhdx >/dev/null &&
   [[ $($T info s4k.vhdx | grep logical_sector) == logical_sector=4096 ]]; then
    pass vhdx_4k_sectors_roundtrip
else fail vhdx_4k_sectors_roundtrip "mismatch"; fi
# QEMU 7.2 refuses 4 KiB logical sectors with ENOTSUP (QEMU issue #3142); a QEMU
# that reads them must read them right
if out=$(qemu-img info s4k.vhdx 2>&1); then
    check vhdx_4k_sectors_qemu qemu-img compare -f raw -F vhdx ref.raw s4k.vhdx
elif [[ $out == *"not supported"* ]]; then pass vhdx_4k_sectors_qemu_refuses_cleanly
else fail vhdx_4k_sectors_qemu "$out"; fi
mounted=false
if [[ -e /dev/fuse ]] && command -v vhdimount >/dev/null; then
    mkdir -p m4k && vhdimount s4k.vhdx m4k >/dev/null 2>&1 && mounted=true
fi
if $mounted; then
    check vhdx_4k_sectors_libvhdi cmp ref.raw m4k/vhdi1; umount m4k
else skip vhdx_4k_sectors_libvhdi "vhdimount unavailable or failed (no FUSE?)"; fi

# a differencing child with 4 KiB sectors, read by libvhdi
if $T create s4c.vhdx 0 parent=s4k.vhdx && $T write-pattern s4c.vhdx 5M 12K 0x4c; then
    cp ref.raw s4exp.raw
    head -c 12288 /dev/zero | tr '\0' '\114' | dd of=s4exp.raw bs=4096 seek=1280 conv=notrunc status=none
    if $T dump-raw s4c.vhdx s4c.raw && cmp -s s4exp.raw s4c.raw; then pass vhdx_4k_differencing
    else fail vhdx_4k_differencing "our read differs"; fi
    if $mounted && mkdir -p m4c && vhdimount s4c.vhdx m4c >/dev/null 2>&1; then
        check vhdx_4k_differencing_libvhdi cmp s4exp.raw m4c/vhdi2; umount m4c
    else skip vhdx_4k_differencing_libvhdi "vhdimount unavailable or failed"; fi
else fail vhdx_4k_differencing "create/write failed"; fi

# --- qemu images -> us ---------------------------------------------------------------
for o in subformat=dynamic subformat=fixed subformat=fixed,block_state_zero=off \
         subformat=dynamic,block_size=1M subformat=dynamic,block_size=256M,log_size=4M; do
    name="qemu_${o//[=,]/_}"
    rm -f q.vhdx
    if qemu-img create -q -f vhdx -o "$o" q.vhdx 40M &&
       qemu-io -f vhdx -c 'write -P 0xab 0 512' -c 'write -P 0xcd 1023k 4k' -c 'write -P 0xcd 20M 4k' \
               -c 'write -P 0x11 40959k 1k' q.vhdx >/dev/null &&
       qemu-img convert -f vhdx -O raw q.vhdx qref.raw && $T dump-raw q.vhdx qo.raw && cmp -s qref.raw qo.raw &&
       $T check q.vhdx >/dev/null; then
        pass "$name"
    else fail "$name" "our read differs from qemu-img convert -O raw"; fi
done
mkref ref.raw $((50 * MiB))
if qemu-img convert -f raw -O vhdx ref.raw cv.vhdx && $T dump-raw cv.vhdx cvo.raw && cmp -s ref.raw cvo.raw; then
    pass qemu_convert_read
else fail qemu_convert_read "mismatch"; fi
# we write into qemu's image, qemu reads it back
if $T write-pattern cv.vhdx 1M 64K 0x5a && $T write-pattern cv.vhdx 45M 3M 0x5b && qemu-img check -q cv.vhdx &&
   qemu-io -r -f vhdx -c 'read -P 0x5a 1M 64k' -c 'read -P 0x5b 45M 3M' cv.vhdx | grep -q 'read 3145728'; then
    pass ours_write_into_qemu_image
else fail ours_write_into_qemu_image "qemu does not read our writes"; fi
# qemu writes into our image, we read it back
rm -f o.vhdx
$T create o.vhdx 50M block=2M && $T write-raw o.vhdx ref.raw
cp ref.raw exp.raw
qemu-io -f vhdx -c 'write -P 0x77 30M 8k' o.vhdx >/dev/null
printf '\x77%.0s' $(seq 8192) | dd of=exp.raw bs=1k seek=30720 conv=notrunc status=none
if $T dump-raw o.vhdx o2.raw && cmp -s exp.raw o2.raw && $T check o.vhdx >/dev/null; then
    pass qemu_write_into_our_image
else fail qemu_write_into_our_image "mismatch"; fi

# --- discard --------------------------------------------------------------------------
rm -f dsc.vhdx; mkref ref.raw $((16 * MiB))
$T create dsc.vhdx $((16 * MiB)) block=1M && $T write-raw dsc.vhdx ref.raw
before=$(stat -c %b dsc.vhdx)
$T discard dsc.vhdx 8M 2M && $T discard dsc.vhdx 12M 4096
cp ref.raw exp.raw
dd if=/dev/zero of=exp.raw bs=1M seek=8 count=2 conv=notrunc status=none
dd if=/dev/zero of=exp.raw bs=4096 seek=3072 count=1 conv=notrunc status=none
after=$(stat -c %b dsc.vhdx)
if qemu-img compare -q -f raw -F vhdx exp.raw dsc.vhdx && qemu-img check -q dsc.vhdx &&
   $T check dsc.vhdx >/dev/null && (( after < before - 3000 )); then
    pass vhdx_discard_zeroes_and_frees
else fail vhdx_discard_zeroes_and_frees "blocks $before -> $after or content/check mismatch"; fi
if $T write-pattern dsc.vhdx 8M 512 0x31 && qemu-io -r -f vhdx -c 'read -P 0x31 8M 512' -c 'read -P 0 8389120 1048064' dsc.vhdx | grep -q 'read 1048064'; then
    pass vhdx_rewrite_after_discard
else fail vhdx_rewrite_after_discard "discarded block did not come back as zeros + new data"; fi

# --- resize ---------------------------------------------------------------------------
rm -f rs.vhdx; mkref ref.raw $((20 * MiB))
$T create rs.vhdx $((20 * MiB)) block=1M && $T write-raw rs.vhdx ref.raw
if $T resize rs.vhdx 300G && [[ $(vsize rs.vhdx) == $((300 << 30)) ]] && qemu-img check -q rs.vhdx &&
   $T write-pattern rs.vhdx 299G 1M 0x44 && qemu-io -r -f vhdx -c 'read -P 0x44 299G 1M' rs.vhdx | grep -q 'read 1048576'; then
    pass vhdx_grow_moves_bat
else fail vhdx_grow_moves_bat "grow to 300G failed"; fi
if $T resize rs.vhdx 10M 2>/dev/null; then fail vhdx_shrink_refuses_data "shrank over data"; else pass vhdx_shrink_refuses_data; fi
$T discard rs.vhdx 299G 1M
if $T resize rs.vhdx $((20 * MiB)) && [[ $(vsize rs.vhdx) == $((20 * MiB)) ]] && qemu-img compare -q -f raw -F vhdx ref.raw rs.vhdx &&
   qemu-img check -q rs.vhdx; then
    pass vhdx_shrink
else fail vhdx_shrink "shrink to 20M failed"; fi
rm -f fx.vhdx; $T create fx.vhdx $((5 * MiB + 512)) fixed block=4M && $T write-pattern fx.vhdx 5M 512 0x12
if $T resize fx.vhdx 9M && qemu-img check -q fx.vhdx && [[ $($T info fx.vhdx | grep type=) == type=fixed ]] &&
   qemu-io -r -f vhdx -c 'read -P 0x12 5M 512' -c 'read -P 0 5243392 3669504' fx.vhdx | grep -q 'read 3669504'; then
    pass vhdx_grow_fixed
else fail vhdx_grow_fixed "fixed grow failed"; fi
if $T create big.vhdx 64T && [[ $(vsize big.vhdx) == $((64 << 40)) ]] && $T write-pattern big.vhdx $(((64 << 40) - 4096)) 4096 0x99 &&
   qemu-io -r -f vhdx -c 'read -P 0x99 70368744173568 4096' big.vhdx | grep -q 'read 4096'; then
    pass vhdx_64T
else fail vhdx_64T "64 TiB image"; fi
if $T create big2.vhdx $(((64 << 40) + 512)) 2>/dev/null; then fail vhdx_over_64T_refused "created"; else pass vhdx_over_64T_refused; fi
rm -f big.vhdx big2.vhdx

# --- pending log ------------------------------------------------------------------------
rm -f pl.vhdx; $T create pl.vhdx 20M block=1M
$T crash-after-write pl.vhdx 3M 8K 0x66
if out=$($T dump-raw pl.vhdx x.raw 2>&1); then fail vhdx_pending_log_refused_ro "read-only open succeeded"
elif [[ $out == *"pending log"* ]]; then pass vhdx_pending_log_refused_ro
else fail vhdx_pending_log_refused_ro "unclear error: $out"; fi
if $T dump-raw pl.vhdx nr.raw noreplay && [[ $(od -An -tx1 -j $((3 * MiB)) -N 2 nr.raw) == " 66 66" ]]; then
    pass vhdx_no_replay_open
else fail vhdx_no_replay_open "NO_REPLAY read failed"; fi
qemu-img info pl.vhdx >/dev/null 2>&1 && fail qemu_sees_pending_log "qemu opened a dirty image read-only" || pass qemu_sees_pending_log
if $T check pl.vhdx repair | grep -q 'log .*replayed' && qemu-img check -q pl.vhdx &&
   qemu-io -r -f vhdx -c 'read -P 0x66 3M 8k' pl.vhdx | grep -q 'read 8192'; then
    pass vhdx_log_replay
else fail vhdx_log_replay "replay"; fi

# QEMU replays our log: a crash after a flush, with the in-place BAT write lost
rm -f ql.vhdx; $T create ql.vhdx 20M block=1M && $T crash-after-write ql.vhdx 3M 8K 0x67
dd if=/dev/zero of=ql.vhdx bs=1 seek=$((3 * MiB + 3 * 8)) count=8 conv=notrunc status=none  # BAT entry 3
if qemu-img check -r all ql.vhdx >/dev/null 2>&1 && qemu-io -r -f vhdx -c 'read -P 0x67 3M 8k' ql.vhdx | grep -q 'read 8192'; then
    pass qemu_replays_our_log
else fail qemu_replays_our_log "qemu-img check -r all did not restore the block"; fi

# --- corruption -----------------------------------------------------------------------
mkref ref.raw $((8 * MiB))
mkimg() { rm -f "$1"; $T create "$1" $((8 * MiB)) block=1M && $T write-raw "$1" ref.raw; }
poke() { printf "$3" | dd of="$1" bs=1 seek=$(($2)) conv=notrunc status=none; }
mkimg h.vhdx; poke h.vhdx 65536+100 '\xff'   # header 1
if $T dump-raw h.vhdx h.raw && cmp -s ref.raw h.raw && ! $T check h.vhdx >/dev/null &&
   $T check h.vhdx repair | grep -q repaired && $T check h.vhdx >/dev/null; then
    pass vhdx_one_bad_header
else fail vhdx_one_bad_header "fallback/check/repair"; fi
poke h.vhdx 65536+100 '\xff'; poke h.vhdx 131072+100 '\xff'
out=$($T info h.vhdx 2>&1) && fail vhdx_both_headers_bad "opened" ||
    { [[ $out == *"no valid VHDX header"* ]] && pass vhdx_both_headers_bad || fail vhdx_both_headers_bad "$out"; }
mkimg r.vhdx; poke r.vhdx 196608+300 '\x01'   # region table 1
if $T dump-raw r.vhdx r.raw && cmp -s ref.raw r.raw && $T check r.vhdx | grep -q 'region table 1' &&
   $T check r.vhdx repair >/dev/null && $T check r.vhdx >/dev/null && qemu-img check -q r.vhdx; then
    pass vhdx_bad_region_table_1
else fail vhdx_bad_region_table_1 "fallback/repair"; fi
mkimg b.vhdx; poke b.vhdx $((3 * MiB + 8 * 6))+3 '\x7f'   # BAT entry 6 (present) far past EOF
out=$($T info b.vhdx 2>&1) && fail vhdx_bat_past_eof "opened" ||
    { [[ $out == *"past the end"* ]] && pass vhdx_bat_past_eof || fail vhdx_bat_past_eof "$out"; }
if out=$($T check b.vhdx); [[ $? == 2 && $out == *"BAT entry 6"* ]]; then pass vhdx_check_reports_bat; else fail vhdx_check_reports_bat "$out"; fi
mkimg b2.vhdx; poke b2.vhdx $((3 * MiB + 8 * 2)) '\x06\x00\x10'   # block 2 -> offset 1 MiB (the log)
out=$($T info b2.vhdx 2>&1) && fail vhdx_bat_overlaps_log "opened" ||
    { [[ $out == *"overlaps the log"* ]] && pass vhdx_bat_overlaps_log || fail vhdx_bat_overlaps_log "$out"; }

# --- differencing -------------------------------------------------------------------------
mkref ref.raw $((24 * MiB))
rm -f base.vhdx; $T create base.vhdx $((24 * MiB)) block=2M && $T write-raw base.vhdx ref.raw
cp ref.raw exp.raw
prev=base.vhdx
for i in $(seq 1 10); do
    $T create "l$i.vhdx" 0 parent=$prev >/dev/null
    $T write-pattern "l$i.vhdx" $((i * MiB + i * 4096)) $((64 * 1024)) $((0x20 + i)) >/dev/null
    head -c $((64 * 1024)) /dev/zero | tr '\0' "\\$(printf '%03o' $((0x20 + i)))" |
        dd of=exp.raw bs=4096 seek=$((i * 256 + i)) conv=notrunc status=none
    prev="l$i.vhdx"
done
if $T dump-raw l10.vhdx chain.raw && cmp -s exp.raw chain.raw && $T check l10.vhdx >/dev/null; then
    pass vhdx_chain10_ours
else fail vhdx_chain10_ours "our read of the 10-deep chain differs from the model"; fi
if command -v vhdiinfo >/dev/null && vhdiinfo l1.vhdx | grep -q 'Differential' && vhdiinfo l1.vhdx | grep -q 'Parent filename.*base.vhdx'; then
    pass vhdx_diff_vhdiinfo
else fail vhdx_diff_vhdiinfo "$(vhdiinfo l1.vhdx 2>&1 | tail -3)"; fi
mkdir -p mnt; mounted=false
[[ -e /dev/fuse ]] && vhdimount l10.vhdx mnt >/dev/null 2>&1 && mounted=true
if $mounted; then
    check vhdx_chain10_libvhdi cmp exp.raw mnt/vhdi11; umount mnt
else skip vhdx_chain10_libvhdi "vhdimount failed or /dev/fuse missing: independent chain read not done"; fi
# a whole-block discard in a child reads zeros, not the parent (ZERO state). libvhdi
# 20210425 reads ZERO blocks of a child from the parent, so only we judge this one.
$T discard l10.vhdx 20M 2M; $T discard l10.vhdx 16M 4096
dd if=/dev/zero of=exp.raw bs=1M seek=20 count=2 conv=notrunc status=none
dd if=/dev/zero of=exp.raw bs=4096 seek=4096 count=1 conv=notrunc status=none
if $T dump-raw l10.vhdx chain.raw && cmp -s exp.raw chain.raw && $T check l10.vhdx >/dev/null; then
    pass vhdx_diff_discard
else fail vhdx_diff_discard "discarded child ranges do not read as zeros"; fi
# the parent changed after the child was created: refused
$T write-pattern base.vhdx 0 512 0x01 >/dev/null
out=$($T info l1.vhdx 2>&1) && out2=$($T dump-raw l1.vhdx x.raw 2>&1) && fail vhdx_parent_linkage "opened" ||
    { [[ ${out2:-$out} == *"DataWriteGuid"* ]] && pass vhdx_parent_linkage || fail vhdx_parent_linkage "$out $out2"; }
# loop: the parent file replaced by a copy of its child
rm -f la.vhdx lb.vhdx; $T create la.vhdx 4M && $T create lb.vhdx 0 parent=la.vhdx && cp lb.vhdx la.vhdx
out=$($T dump-raw lb.vhdx x.raw 2>&1) && fail vhdx_parent_loop "opened" ||
    { [[ $out == *"loop"* ]] && pass vhdx_parent_loop || fail vhdx_parent_loop "$out"; }
