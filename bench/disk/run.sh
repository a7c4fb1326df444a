#!/usr/bin/env bash
# Disk benchmark: Viridian against qemu-img, in one run, on the same files.
# Not a test (tests/run does not run it). Prints one `ratio NAME VALUE` line per
# comparison; above 1 means Viridian is faster.
#
#   1. convert a 2 GiB raw image (every other 2 MiB block random, the rest written
#      zeroes) to a dynamic $FMT image, and that image back to raw. Our convert ends
#      with the new image on stable storage (fdatasync); qemu-img's default cache mode
#      for convert is "unsafe" and never syncs a raw destination (strace shows no
#      fdatasync), so the ratio compares qemu-img with `-t writeback`, which syncs when
#      it closes the image: the same work and the same guarantee. qemu-img's default is
#      timed too and printed below, for information;
#   2. 4 KiB I/O at queue depth 1 on the dynamic image: reads, and writes on separate
#      copies. (VHD's 2 MiB blocks: half of them allocated, so half the writes
#      allocate. VHDX's 32 MiB blocks: every block holds data, half of each block is
#      a hole in the file, so no write allocates a block.) The access pattern is
#      qemu-img bench's: the offset advances by STEP modulo the disk size (STEP =
#      7919 x 4 KiB scatters requests over the whole disk). Ours goes through the
#      library (build/diskio bench).
#   3. the same at queue depth 32: ours through the io_uring engine (disk_aio.h,
#      build/diskio aiobench), qemu's with `qemu-img bench -d 32`.
# Both write figures stop when the last request completed: qemu-img bench's "Run
# completed in" leaves out its final flush (it happens at close), so ours leaves out
# its flush too; our flush time is printed below the line, for information. The copy
# a write run works on is synced first (its writeback would throttle the writes).
# Each timing is the best of RUNS runs (default 5), page cache warm for both tools,
# after a sync so that one run's writeback does not slow the next. Noise is one-sided
# and large on a shared VM: identical 512 MiB page-cache writes measured 0.09 s to
# 0.47 s here (other tenants' CPU load, and freshly allocated memory that the
# hypervisor must first back again after free-page reporting), hence the best of
# several alternating runs rather than one.
# Env: FMT (default vhdx when this build can create it, else vhd), DIR (scratch dir,
# default a new one under /var/tmp), SIZE_MIB (default 2048), RUNS.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
make -C "$root" -s build/viridian build/diskio
V=$root/build/viridian
DISKIO=$root/build/diskio
DIR=${DIR:-$(mktemp -d /var/tmp/viridian-bench-XXXXXX)}
trap 'rm -rf "$DIR"' EXIT
cd "$DIR"
SIZE_MIB=${SIZE_MIB:-2048}
RUNS=${RUNS:-5}
if [[ -z ${FMT:-} ]]; then
    FMT=vhd
    "$V" disk create probe.vhdx 1M >/dev/null 2>&1 && FMT=vhdx
    rm -f probe.vhdx
fi
case $FMT in vhd) QFMT=vpc ;; *) QFMT=$FMT ;; esac
echo "format $FMT (qemu: $QFMT), $SIZE_MIB MiB, best of $RUNS, $(qemu-img --version | head -n 1)"

# the source: random and zero 2 MiB blocks alternating
for ((i = 0; i < SIZE_MIB / 4; i++)); do
    head -c $((2 << 20)) /dev/urandom
    head -c $((2 << 20)) /dev/zero
done >src.raw

# best OUT_A CMD_A OUT_B CMD_B: prints the best wall times "A B" of RUNS runs of each
# command (which write OUT_A / OUT_B), alternating A and B so that load from elsewhere
# on the machine hits both alike. The output is removed before each run, outside the
# timing: on this ext4 (mounted with `discard`) unlinking a 512 MiB file takes ~0.6 s
# plus discards at the next journal commit, which would otherwise be timed as part of
# whichever convert ran next; the sync commits them first.
timed() { # OUT CMD: "wall cpu" seconds (cpu: user + system of the command)
    local t TIMEFORMAT='%R %U %S'
    rm -f "$1"
    sync; sleep 1   # let the previous run's writeback finish first
    t=$({ time "$2" >/dev/null; } 2>&1)
    echo "$t" | awk '{ print $1, $2 + $3 }'
}
min() { if [[ -z $1 ]] || (($(echo "$2 < $1" | bc -l))); then echo "$2"; else echo "$1"; fi; }
best() { # prints "wallA wallB cpuA cpuB", each the least of RUNS runs
    local a="" b="" ca="" cb="" w c
    for ((r = 0; r < RUNS; r++)); do
        read -r w c < <(timed "$1" "$2"); a=$(min "$a" "$w"); ca=$(min "$ca" "$c")
        read -r w c < <(timed "$3" "$4"); b=$(min "$b" "$w"); cb=$(min "$cb" "$c")
    done
    echo "$a $b $ca $cb"
}
ratio() { printf 'ratio %s %.2f\n' "$1" "$(echo "$2 / $3" | bc -l)"; }
show() { printf '  %-28s viridian %8.3fs   qemu-img %8.3fs\n' "$1" "$2" "$3"; }

ours_to() { "$V" disk convert src.raw ours.$FMT --type dynamic; }
qemu_to() { qemu-img convert -t writeback -f raw -O "$QFMT" -o subformat=dynamic src.raw qemu.$FMT; }
qemu_to_unsafe() { qemu-img convert -f raw -O "$QFMT" -o subformat=dynamic src.raw qemu.$FMT; }
ours_back() { "$V" disk convert ours.$FMT back-ours.raw; }
qemu_back() { qemu-img convert -t writeback -f "$QFMT" -O raw ours.$FMT back-qemu.raw; }
qemu_back_unsafe() { qemu-img convert -f "$QFMT" -O raw ours.$FMT back-qemu.raw; }
unsafe_note() { # CMD: qemu-img's own default (no sync), best of RUNS, for information
    local b="" w c
    for ((r = 0; r < RUNS; r++)); do read -r w c < <(timed "$2" "$1"); b=$(min "$b" "$w"); done
    printf '  %-28s qemu-img default (-t unsafe, not synced) %8.3fs\n' "" "$b"
}

# (the CPU time, user + system, is printed too: unlike wall time it hardly depends on
# what else runs on the machine)
cpu_note() { printf '  %-28s viridian %8.3fs   qemu-img %8.3fs   (CPU, least)\n' "" "$1" "$2"; }
read -r a b ca cb < <(best ours.$FMT ours_to qemu.$FMT qemu_to)
show "convert raw->$FMT" "$a" "$b"; cpu_note "$ca" "$cb"; unsafe_note qemu_to_unsafe qemu.$FMT
ratio "convert_raw_to_$FMT" "$b" "$a"
read -r a b ca cb < <(best back-ours.raw ours_back back-qemu.raw qemu_back)
show "convert $FMT->raw" "$a" "$b"; cpu_note "$ca" "$cb"; unsafe_note qemu_back_unsafe back-qemu.raw
ratio "convert_${FMT}_to_raw" "$b" "$a"
cmp src.raw back-ours.raw || { echo "bench: our round trip differs!" >&2; exit 1; }

COUNT_R=${COUNT_R:-50000}
COUNT_W=${COUNT_W:-5000}
STEP=$((4096 * 7919))
# qemu-img bench's I/O engine: io_uring where this qemu has it (measured here: reads
# 2-5x faster than its default thread pool at QD1 and QD32; ours uses io_uring at QD32
# too), else its default. QEMU_AIO=threads|io_uring overrides.
if [[ -z ${QEMU_AIO:-} ]]; then
    QEMU_AIO=threads
    qemu-img bench -f "$QFMT" -c 1 -i io_uring ours.$FMT >/dev/null 2>&1 && QEMU_AIO=io_uring
fi
echo "qemu-img bench: -i $QEMU_AIO"
qbench() { # ARGS...: qemu-img bench's own "Run completed in S seconds"
    qemu-img bench -f "$QFMT" -i "$QEMU_AIO" -s 4096 -S $STEP "$@" | sed -n 's/^Run completed in \([0-9.]*\) seconds./\1/p'
}
best_of() { # prints the minimum of the numbers produced by running "$@" RUNS times
    local b="" t
    for ((r = 0; r < RUNS; r++)); do
        t=$("$@")
        if [[ -z $b ]] || (($(echo "$t < $b" | bc -l))); then b=$t; fi
    done
    echo "$b"
}
ours_read() { "$DISKIO" bench ours.$FMT read "$COUNT_R" $STEP | sed -n 's/^seconds //p'; }
qemu_read() { qbench -c "$COUNT_R" -d 1 ours.$FMT; }
a=$(best_of ours_read); b=$(best_of qemu_read)
show "rand 4k read QD1 x$COUNT_R" "$a" "$b"; ratio "randread_4k_qd1" "$b" "$a"
ours_read32() { "$DISKIO" aiobench ours.$FMT read "$COUNT_R" $STEP 32 | sed -n 's/^seconds //p'; }
qemu_read32() { qbench -c "$COUNT_R" -d 32 ours.$FMT; }
a=$(best_of ours_read32); b=$(best_of qemu_read32)
show "rand 4k read QD32 x$COUNT_R" "$a" "$b"; ratio "randread_4k_qd32" "$b" "$a"

# ours_write DISKIO-ARGS...: I/O seconds on stdout; the flush's seconds go to flush.txt
ours_write() {
    cp --sparse=always ours.$FMT w-ours.$FMT; sync
    "$DISKIO" "$1" w-ours.$FMT write "${@:2}" 2>/dev/null >out.txt
    sed -n 's/^flush //p' out.txt >>flush.txt
    sed -n 's/^seconds //p' out.txt
}
qemu_write() { cp --sparse=always ours.$FMT w-qemu.$FMT; sync; qbench -w "$@" w-qemu.$FMT; }
flush_note() { printf '  (viridian final flush, untimed: %s s)\n' "$(sort -n flush.txt | sed -n 1p)"; rm -f flush.txt; }
a=$(best_of ours_write bench "$COUNT_W" $STEP); b=$(best_of qemu_write -c "$COUNT_W" -d 1)
show "rand 4k write QD1 x$COUNT_W" "$a" "$b"; ratio "randwrite_4k_qd1" "$b" "$a"; flush_note
a=$(best_of ours_write aiobench "$COUNT_W" $STEP 32); b=$(best_of qemu_write -c "$COUNT_W" -d 32)
show "rand 4k write QD32 x$COUNT_W" "$a" "$b"; ratio "randwrite_4k_qd32" "$b" "$a"; flush_note
