#!/usr/bin/env bash
# Interoperability of `viridian disk` with independent implementations:
#   - images we write must read back identically in qemu-img (and pass its check where
#     it has one); images qemu-img writes must read identically through us;
#   - differencing chains (qemu cannot write those) are read by libvhdi (vhdimount).
# Formats under test: FORMATS below; adding a format is one word there.
source "$(dirname "$0")/../lib.sh"
new_tmpdir
cd "$TEST_TMP" || exit 1

FORMATS=(vhd vhdx)
DISKIO=${DISKIO:-$VIRIDIAN_ROOT/build/diskio}
MiB=$((1024 * 1024))

qemu_name() { case $1 in vhd) echo vpc ;; *) echo "$1" ;; esac; }

if ! command -v qemu-img >/dev/null; then
    skip disk-interop "qemu-img is not installed (tools/install-deps installs qemu-utils)"
    exit 0
fi

# The reference disk: random data, real holes, written zeroes, odd size (not a block
# multiple), patterns at block boundaries.
SIZE=$((24 * MiB + 3 * 512))
head -c $SIZE /dev/urandom >ref.raw
truncate -s 0 ref.raw && truncate -s $SIZE ref.raw
head -c $((6 * MiB)) /dev/urandom | dd of=ref.raw conv=notrunc status=none
head -c $((5 * MiB)) /dev/urandom | dd of=ref.raw bs=1M seek=12 conv=notrunc status=none
dd if=/dev/zero of=ref.raw bs=1M seek=14 count=1 conv=notrunc status=none   # written zeroes
printf 'edge' | dd of=ref.raw bs=1 seek=$((8 * MiB - 2)) conv=notrunc status=none
printf 'tail' | dd of=ref.raw bs=1 seek=$((SIZE - 4)) conv=notrunc status=none

# info --json's virtual_size
our_size() { "$VIRIDIAN" disk info --json "$1" | sed -n 's/.*"virtual_size": \([0-9]*\).*/\1/p'; }
qemu_size() { qemu-img info -f "$2" --output=json "$1" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p'; }

# --- images we write, read by qemu-img ----------------------------------------------
for fmt in "${FORMATS[@]}"; do
    q=$(qemu_name "$fmt")
    for type in dynamic fixed; do
        img=ours-$type.$fmt
        name=disk-interop/ours-$fmt-$type
        if ! out=$("$VIRIDIAN" disk convert ref.raw "$img" --type "$type" 2>&1); then
            fail "$name-convert" "$out"; continue
        fi
        pass "$name-convert"
        check "$name-qemu-compare" qemu-img compare -q -f raw -F "$q" ref.raw "$img"
        qs=$(qemu_size "$img" "$q")
        if [[ $qs == "$SIZE" ]]; then pass "$name-qemu-size"; else fail "$name-qemu-size" "qemu sees $qs, want $SIZE"; fi
        qemu-img check -q -f "$q" "$img" >/dev/null 2>&1; rc=$?
        if ((rc == 63)); then
            pass "$name-qemu-check (qemu-img has no checker for $q)"
        elif ((rc == 0)); then pass "$name-qemu-check"; else fail "$name-qemu-check" "exit $rc"; fi
        check "$name-our-check" "$VIRIDIAN" disk check "$img"
        if command -v vhdiinfo >/dev/null; then
            if vhdiinfo "$img" 2>/dev/null | grep -q "($SIZE bytes)"; then pass "$name-vhdiinfo-size"
            else fail "$name-vhdiinfo-size" "libvhdi does not report $SIZE bytes"; fi
        fi
    done
done
# qemu writes into a dynamic image of ours (new blocks and existing ones); we read it back
for fmt in "${FORMATS[@]}"; do
    q=$(qemu_name "$fmt")
    name=disk-interop/qemu-writes-into-ours-$fmt
    cp ours-dynamic.$fmt mixed.$fmt
    rm -f mine.raw theirs.raw
    if qemu-io -f "$q" -c "write -P 0x5a $((7 * MiB)) 4096" -c "write -P 0x6b $((20 * MiB - 512)) 1024" \
        -c "write -P 0x7c 1024 512" mixed.$fmt >/dev/null &&
        qemu-img convert -f "$q" -O raw mixed.$fmt theirs.raw &&
        "$VIRIDIAN" disk convert mixed.$fmt mine.raw >/dev/null && cmp -s mine.raw theirs.raw; then
        pass "$name"
    else
        fail "$name" "our reading differs from qemu's"
    fi
    check "$name-check" "$VIRIDIAN" disk check mixed.$fmt
done

# back to raw: our dynamic images keep ref.raw's holes as holes inside their blocks;
# convert skips them (and written zeroes) and the raw it makes is identical and sparse
for fmt in "${FORMATS[@]}"; do
    name=disk-interop/ours-$fmt-to-raw
    rm -f back.raw
    if "$VIRIDIAN" disk convert ours-dynamic.$fmt back.raw >/dev/null && cmp -s back.raw ref.raw; then
        pass "$name"
    else
        fail "$name" "contents differ from the source"
    fi
    # ref.raw holds 11 MiB of non-zero data; the rest must stay holes
    if (($(stat -c %b back.raw) * 512 <= 12 * MiB)); then pass "$name-sparse"
    else fail "$name-sparse" "$(($(stat -c %b back.raw) / 2)) KiB allocated"; fi
done
# many separate small pieces in one 2 MiB convert chunk (a differencing child over an
# empty parent, every other 4 KiB written): more pieces than convert has segments for
for fmt in "${FORMATS[@]}"; do
    name=disk-interop/scattered-$fmt
    rm -f sp.$fmt sc.$fmt sc.raw sexp.raw
    "$VIRIDIAN" disk create sp.$fmt 4M >/dev/null && "$VIRIDIAN" disk create sc.$fmt --parent sp.$fmt >/dev/null
    truncate -s $((4 * MiB)) sexp.raw
    for ((i = 0; i < 80; i++)); do
        "$DISKIO" fill sc.$fmt $((i * 8192 + 4096)) 4096 $((i + 1)) || break
        head -c 4096 /dev/zero | tr '\0' "\\$(printf %o $((i + 1)))" |
            dd of=sexp.raw bs=4096 seek=$((i * 2 + 1)) conv=notrunc status=none
    done
    if "$VIRIDIAN" disk convert sc.$fmt sc.raw >/dev/null && cmp -s sc.raw sexp.raw; then
        pass "$name"
    else
        fail "$name" "converted contents differ"
    fi
done

# raw: identical and sparse
if "$VIRIDIAN" disk convert ref.raw ours.img >/dev/null 2>&1 && cmp -s ref.raw ours.img; then
    pass disk-interop/ours-raw-identical
else
    fail disk-interop/ours-raw-identical "convert to raw differs"
fi
alloc=$(($(stat -c %b ours.img) * 512))
if ((alloc < SIZE - 4 * MiB)); then pass disk-interop/ours-raw-sparse; else fail disk-interop/ours-raw-sparse "$alloc bytes allocated"; fi

# --- images qemu-img writes, read by us -----------------------------------------------
qemu_fill() { # IMG FMT SIZE: patterns at sector 0, the last sector, around 2 MiB, mid-block
    local last=$(($3 - 512))
    qemu-io -f "$2" -c "write -P 0x11 0 512" -c "write -P 0x22 $last 512" \
        -c "write -P 0x33 $((2 * MiB - 512)) 1024" -c "write -P 0x44 $((5 * MiB + 4096)) 512" \
        "$1" >/dev/null
}
for fmt in "${FORMATS[@]}"; do
    q=$(qemu_name "$fmt")
    for sub in dynamic fixed; do
        for size in 10M 33M 7000K; do
            img=q-$sub-$size.$fmt
            name=disk-interop/qemu-$fmt-$sub-$size
            qemu-img create -q -f "$q" -o subformat=$sub "$img" $size
            qs=$(qemu_size "$img" "$q")
            qemu_fill "$img" "$q" "$qs"
            rm -f mine.raw theirs.raw
            qemu-img convert -f "$q" -O raw "$img" theirs.raw
            if out=$("$VIRIDIAN" disk convert "$img" mine.raw 2>&1) && cmp -s mine.raw theirs.raw; then
                pass "$name-read"
            else
                fail "$name-read" "${out:-contents differ}"
            fi
            os=$(our_size "$img")
            if [[ $os == "$qs" ]]; then pass "$name-size"; else fail "$name-size" "we see $os, qemu $qs"; fi
            check "$name-our-check" "$VIRIDIAN" disk check "$img"
        done
    done
    # qemu-img convert from a raw with a known pattern and holes
    img=qconv.$fmt
    rm -f mine.raw theirs.raw
    qemu-img convert -f raw -O "$q" ref.raw "$img"
    qemu-img convert -f "$q" -O raw "$img" theirs.raw
    if "$VIRIDIAN" disk convert "$img" mine.raw >/dev/null 2>&1 && cmp -s mine.raw theirs.raw; then
        pass "disk-interop/qemu-$fmt-convert-read"
    else
        fail "disk-interop/qemu-$fmt-convert-read" "contents differ"
    fi
    check "disk-interop/qemu-$fmt-convert-check" "$VIRIDIAN" disk check "$img"
done

# --- differencing chains, read by libvhdi -----------------------------------------------
for fmt in "${FORMATS[@]}"; do
    name=disk-interop/chain-$fmt
    mkdir -p "chain-$fmt" && pushd "chain-$fmt" >/dev/null || exit 1
    head -c $((8 * MiB)) /dev/urandom >expect.raw
    dd if=/dev/zero of=expect.raw bs=1M seek=4 count=2 conv=notrunc status=none
    "$VIRIDIAN" disk convert expect.raw l0.$fmt >/dev/null
    ok=1
    for i in $(seq 1 10); do
        "$VIRIDIAN" disk create l$i.$fmt --parent l$((i - 1)).$fmt || { ok=0; break; }
        off=$(((i * 777 * 512 + i * 13) % (8 * MiB - 70000)))
        head -c $((1000 + i * 5000)) /dev/urandom >p
        "$DISKIO" write l$i.$fmt $off p || { ok=0; break; }
        dd if=p of=expect.raw bs=1 seek=$off conv=notrunc status=none
    done
    if ((ok)) && "$VIRIDIAN" disk convert l10.$fmt out.raw >/dev/null && cmp -s out.raw expect.raw; then
        pass "$name-depth10-read"
    else
        fail "$name-depth10-read" "our view of the chain differs"
    fi
    check "$name-check" "$VIRIDIAN" disk check l10.$fmt
    if [[ $("$VIRIDIAN" disk info l10.$fmt | grep -o -- '->' | wc -l) == 9 ]]; then
        pass "$name-info-chain"
    else
        fail "$name-info-chain" "info does not list 10 parents"
    fi
    if command -v vhdiinfo >/dev/null; then
        # libvhdi, independently: the child's parent identifier is the parent's identifier
        # (VHD: the parent's UUID; VHDX: its data write GUID)
        pid=$(vhdiinfo l9.$fmt | sed -n 's/^[[:space:]]*Identifier[[:space:]]*: //p' | head -n 1)
        if [[ -n $pid ]] && vhdiinfo l10.$fmt | grep -i "Parent identifier" | grep -qi "$pid"; then
            pass "$name-vhdiinfo-parent"
        else
            fail "$name-vhdiinfo-parent" "libvhdi sees another parent identifier than l9's ($pid)"
        fi
    fi
    if ! command -v vhdimount >/dev/null || [[ ! -c /dev/fuse ]]; then
        skip "$name-vhdimount" "vhdimount or /dev/fuse unavailable: libvhdi did not verify the chain"
    else
        mkdir -p mnt
        if vhdimount l10.$fmt mnt >/dev/null 2>&1; then
            last=$(ls mnt | sort -V | tail -n 1)
            if cmp -s "mnt/$last" expect.raw; then pass "$name-vhdimount"; else fail "$name-vhdimount" "libvhdi reads other data"; fi
            umount mnt
        else
            skip "$name-vhdimount" "vhdimount could not mount (no FUSE here?)"
        fi
    fi

    # merge the top child into its parent: the parent now reads as the whole chain did
    if "$VIRIDIAN" disk merge l10.$fmt >/dev/null && "$VIRIDIAN" disk convert l9.$fmt m.raw >/dev/null &&
        cmp -s m.raw expect.raw; then
        pass "$name-merge"
    else
        fail "$name-merge" "parent after merge differs"
    fi
    # moved parent: a clear error, then set-parent fixes it; a wrong parent is refused
    mkdir -p moved && mv l0.$fmt moved/
    out=$("$VIRIDIAN" disk info l1.$fmt 2>&1 >/dev/null; "$VIRIDIAN" disk convert l1.$fmt x.raw 2>&1)
    if [[ $out == *"not found; use \`viridian disk set-parent\`"* ]]; then pass "$name-missing-parent-error"
    else fail "$name-missing-parent-error" "$out"; fi
    if "$VIRIDIAN" disk set-parent l1.$fmt l5.$fmt 2>/dev/null; then
        fail "$name-set-parent-wrong" "accepted a disk that is not the parent"
    else
        pass "$name-set-parent-wrong"
    fi
    rm -f x.raw
    if "$VIRIDIAN" disk set-parent l1.$fmt moved/l0.$fmt && "$VIRIDIAN" disk convert l9.$fmt x.raw >/dev/null &&
        cmp -s x.raw expect.raw; then
        pass "$name-set-parent"
    else
        fail "$name-set-parent" "chain unreadable after set-parent"
    fi
    if "$VIRIDIAN" disk set-parent l1.$fmt l3.$fmt 2>/dev/null; then
        fail "$name-set-parent-loop" "accepted a loop"
    else
        pass "$name-set-parent-loop"
    fi
    popd >/dev/null || exit 1
done

# --- compact and resize -------------------------------------------------------------
for fmt in "${FORMATS[@]}"; do
    q=$(qemu_name "$fmt")
    name=disk-interop/ops-$fmt
    "$VIRIDIAN" disk create c.$fmt 16M --block-size 2M
    head -c $((4 * MiB)) /dev/urandom >data
    "$DISKIO" write c.$fmt 0 data
    "$DISKIO" fill c.$fmt $((8 * MiB)) $((4 * MiB)) 0      # allocated, all zero
    before=$(stat -c %b c.$fmt)
    qemu-img convert -f "$q" -O raw c.$fmt c-before.raw
    "$VIRIDIAN" disk compact c.$fmt >/dev/null
    after=$(stat -c %b c.$fmt)
    if ((after < before)) && qemu-img compare -q -f raw -F "$q" c-before.raw c.$fmt; then
        pass "$name-compact"
    else
        fail "$name-compact" "blocks $before -> $after, or contents changed"
    fi
    check "$name-compact-check" "$VIRIDIAN" disk check c.$fmt
    # grow far enough that the BAT runs into the first block, which must move
    if "$VIRIDIAN" disk resize c.$fmt 3000M && [[ $(qemu_size c.$fmt "$q") == $((3000 * MiB)) ]] &&
        qemu-img compare -q -f raw -F "$q" c-before.raw c.$fmt; then
        pass "$name-grow"
    else
        fail "$name-grow" "size or data wrong after growing"
    fi
    check "$name-grow-check" "$VIRIDIAN" disk check c.$fmt
    if "$VIRIDIAN" disk resize c.$fmt 2M 2>/dev/null; then fail "$name-shrink-refused" "cut off data"
    else pass "$name-shrink-refused"; fi
    rm -f c-after.raw
    if "$VIRIDIAN" disk resize c.$fmt 6M && [[ $(qemu_size c.$fmt "$q") == $((6 * MiB)) ]] &&
        qemu-img convert -f "$q" -O raw c.$fmt c-after.raw &&
        cmp -s <(head -c $((6 * MiB)) c-before.raw) c-after.raw; then
        pass "$name-shrink"
    else
        fail "$name-shrink" "shrink to the data's end failed"
    fi
    "$VIRIDIAN" disk convert ref.raw f.$fmt --type fixed >/dev/null
    if "$VIRIDIAN" disk resize f.$fmt 40M && [[ $(qemu_size f.$fmt "$q") == $((40 * MiB)) ]] &&
        qemu-img compare -q -f raw -F "$q" ref.raw f.$fmt; then
        pass "$name-fixed-grow"
    else
        fail "$name-fixed-grow" "size or data wrong after growing"
    fi
done

# --- compact makes the file shorter --------------------------------------------------
# A zero block between two data blocks: compact moves the last data block into the
# freed place and cuts the file (Hyper-V's compaction makes the file smaller, not just
# sparser), and qemu-img still reads the same disk and finds the image clean.
for fmt in "${FORMATS[@]}"; do
    q=$(qemu_name "$fmt")
    name=disk-interop/compact-$fmt
    rm -f s.$fmt s-before.raw
    "$VIRIDIAN" disk create s.$fmt 32M --block-size 2M >/dev/null
    head -c $((2 * MiB)) /dev/urandom >d1
    head -c $((2 * MiB)) /dev/urandom >d2
    "$DISKIO" write s.$fmt 0 d1
    "$DISKIO" fill s.$fmt $((8 * MiB)) $((4 * MiB)) 0       # two allocated zero blocks
    "$DISKIO" write s.$fmt $((20 * MiB)) d2                 # allocated after them
    qemu-img convert -f "$q" -O raw s.$fmt s-before.raw
    before=$(stat -c %s s.$fmt)
    "$VIRIDIAN" disk compact s.$fmt >/dev/null
    after=$(stat -c %s s.$fmt)
    if ((after <= before - 4 * MiB)) && qemu-img compare -q -f raw -F "$q" s-before.raw s.$fmt &&
        { [[ $q == vpc ]] || qemu-img check -q -f "$q" s.$fmt; }; then   # qemu cannot check vpc
        pass "$name-shortens-file"
    else
        fail "$name-shortens-file" "file $before -> $after bytes (want 4 MiB less), or contents/check differ"
    fi
    check "$name-check" "$VIRIDIAN" disk check s.$fmt
done

# A differencing VHDX gives a discarded block's space to the next new block (after the
# discard is durable) instead of growing the file.
rm -f rb.vhdx rc.vhdx
"$VIRIDIAN" disk create rb.vhdx 32M --block-size 2M >/dev/null
"$VIRIDIAN" disk create rc.vhdx --parent rb.vhdx >/dev/null
head -c $((2 * MiB)) /dev/urandom >d1
"$DISKIO" write rc.vhdx $((4 * MiB)) d1
"$DISKIO" discard rc.vhdx $((4 * MiB)) $((2 * MiB))
size1=$(stat -c %s rc.vhdx)
"$DISKIO" write rc.vhdx $((10 * MiB)) d1
size2=$(stat -c %s rc.vhdx)
truncate -s 32M rc-want.raw
dd if=d1 of=rc-want.raw bs=1M seek=10 conv=notrunc status=none
rm -f rc.raw
if ((size2 == size1)) && "$VIRIDIAN" disk convert rc.vhdx rc.raw >/dev/null && cmp -s rc.raw rc-want.raw; then
    pass disk-interop/differencing-reuses-space
else
    fail disk-interop/differencing-reuses-space "file $size1 -> $size2 bytes (want no growth), or the data differs"
fi
check disk-interop/differencing-reuses-space-check "$VIRIDIAN" disk check rc.vhdx

# A dynamic VHD puts a new block into the gap a discarded block left (the BAT entry is
# on stable storage as unused before the gap is handed out), so the file does not grow;
# qemu-img reads the result.
rm -f rv.vhd rv.raw
"$VIRIDIAN" disk create rv.vhd 32M --block-size 2M >/dev/null
head -c $((6 * MiB)) /dev/urandom >d3
head -c $((2 * MiB)) /dev/urandom >d1
"$DISKIO" write rv.vhd 0 d3                                 # blocks 0, 1, 2
"$DISKIO" discard rv.vhd $((2 * MiB)) $((2 * MiB))           # block 1: a gap
size1=$(stat -c %s rv.vhd)
"$DISKIO" write rv.vhd $((20 * MiB)) d1                     # block 10: into the gap
size2=$(stat -c %s rv.vhd)
truncate -s 32M rv-want.raw
dd if=d3 of=rv-want.raw bs=1M conv=notrunc status=none
dd if=/dev/zero of=rv-want.raw bs=1M seek=2 count=2 conv=notrunc status=none
dd if=d1 of=rv-want.raw bs=1M seek=20 conv=notrunc status=none
if ((size2 == size1)) && qemu-img compare -q -f raw -F vpc rv-want.raw rv.vhd; then
    pass disk-interop/vhd-reuses-freed-space
else
    fail disk-interop/vhd-reuses-freed-space "file $size1 -> $size2 bytes (want no growth), or qemu-img reads other data"
fi
check disk-interop/vhd-reuses-freed-space-check "$VIRIDIAN" disk check rv.vhd
