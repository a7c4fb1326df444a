#!/usr/bin/env bash
# Storage faults with real parts: the VM's disk is a device-mapper target in the lab
# (loop device over a 16 MiB file; sectors 8192-10239, i.e. 4-5 MiB, mapped to the dm
# "error" target). The stock guest reads that range with O_DIRECT and fails at once (no
# retries), its kernel logging the SCSI MEDIUM ERROR with sense "Unrecovered read
# error" (11/00) and "critical medium error" (dd sees ENODATA, what Linux returns for a
# medium error; EIO is accepted too); reads on both sides still return the right bytes; a write there followed by
# fsync fails too ("Write error", 0C/00) and so does every flush after it (the host's
# page cache lost that write: it is never reported durable); the VM keeps running
# (`vm status`) and powers off cleanly, and a write made before the fault is in the file.
# Cost: one lab boot and one guest boot, 25-55 s.
source "$(dirname "$0")/lib.sh"
new_tmpdir

cat > "$TEST_TMP/g.sh" <<'G'
D=
for i in $(seq 100); do
    for b in /sys/block/sd*; do [ "$(cat $b/size 2>/dev/null)" = 32768 ] && D=/dev/${b##*/}; done
    [ -n "$D" ] && break
    usleep 100000
done
echo "FACT dev ${D:-none}"
secs() { echo $(( $(date +%s) - $1 )); }
sum() { sha256sum | cut -d' ' -f1; }
echo "FACT good-before $(dd if=$D bs=4096 count=256 iflag=direct 2>/dev/null | sum)"
dd if=/dev/urandom of=/tmp/w bs=4096 count=16 2>/dev/null
dd if=/tmp/w of=$D bs=4096 seek=2048 oflag=direct conv=fsync 2>/dev/null && echo "FACT good-write $(sum < /tmp/w)"
t0=$(date +%s)
if dd if=$D of=/dev/null bs=4096 skip=1100 count=1 iflag=direct 2>/tmp/e; then echo "FACT bad-read ok"
else echo "FACT bad-read failed $(tr '\n' ' ' < /tmp/e)"; fi
echo "FACT bad-read-secs $(secs $t0)"
echo "FACT good-after $(dd if=$D bs=4096 skip=1536 count=256 iflag=direct 2>/dev/null | sum)"
t0=$(date +%s)
if dd if=/dev/zero of=$D bs=4096 seek=1100 count=1 oflag=direct conv=fsync 2>/tmp/e; then echo "FACT bad-write ok"
else echo "FACT bad-write failed $(tr '\n' ' ' < /tmp/e)"; fi
echo "FACT bad-write-secs $(secs $t0)"
if dd if=/tmp/w of=$D bs=4096 seek=3072 oflag=direct conv=fsync 2>/dev/null; then echo "FACT later-flush ok"
else echo "FACT later-flush failed"; fi
echo "FACT read-still $(dd if=$D bs=4096 skip=2048 count=16 iflag=direct 2>/dev/null | sum)"
echo "FACT sense-read $(dmesg | grep -c 'Add. Sense: Unrecovered read error')"
echo "FACT sense-write $(dmesg | grep -c 'Add. Sense: Write error')"
dmesg | grep -E 'Sense|I/O error|critical|storvsc' | head -n 12
echo "FACT ready"
sleep 3
G

cat > "$TEST_TMP/batch.sh" <<'BATCH'
. /lab/inlab.sh
range() { dd if=/work/back.img bs=4096 skip=$1 count=$2 2>/dev/null | sha256sum | cut -d' ' -f1; }
cp /lab/g.sh /tmp/
cd /work
dd if=/dev/urandom of=back.img bs=1M count=16 2>/dev/null
if ! modprobe loop || ! modprobe dm_mod; then
    fail storage-faults/setup "no loop or dm_mod module"; exit 0
fi
L=$(losetup -f) && losetup "$L" /work/back.img || { fail storage-faults/setup "losetup failed"; exit 0; }
export DM_DISABLE_UDEV=1
printf '0 8192 linear %s 0\n8192 2048 error\n10240 22528 linear %s 10240\n' "$L" "$L" \
    | dmsetup create --noudevsync faulty 2>/tmp/dm || { fail storage-faults/setup "dmsetup: $(cat /tmp/dm)"; exit 0; }
dd if=/dev/mapper/faulty of=/dev/null bs=4096 skip=1100 count=1 iflag=direct 2>/dev/null \
    && { fail storage-faults/setup "the error range reads on the host"; exit 0; }
pass storage-faults/setup
want_before=$(range 0 256)
want_after=$(range 1536 256)

t0=$(date +%s)
guest_run viridian /tmp/c 300 /tmp/g.sh --name faults --disk /dev/mapper/faulty &
vm=$!
if wait_line /tmp/c "FACT ready" 240; then
    state=$(viridian vm status faults 2>/dev/null | sed -n 's/^state: //p')
else
    state="no ready line"
fi
wait $vm
rc=$?
secs=$(( $(date +%s) - t0 ))

case "$(fact bad-read /tmp/c)" in
    failed*"No data available"*|failed*"Input/output error"*) [ "$(fact bad-read-secs /tmp/c)" -le 10 ] && [ "$(fact sense-read /tmp/c)" -ge 1 ] \
        && pass storage-faults/read-error "EIO in $(fact bad-read-secs /tmp/c)s, sense logged" \
        || fail storage-faults/read-error "$(fact bad-read-secs /tmp/c)s, sense lines $(fact sense-read /tmp/c)" ;;
    *) fail storage-faults/read-error "guest: $(fact bad-read /tmp/c); $(tail -n 5 /tmp/c | tr '\n' '|')" ;;
esac
[ "$(fact good-before /tmp/c)" = "$want_before" ] && [ "$(fact good-after /tmp/c)" = "$want_after" ] \
    && pass storage-faults/reads-around-it || fail storage-faults/reads-around-it "bytes differ"
case "$(fact bad-write /tmp/c)" in
    failed*"Input/output error"*) [ "$(fact bad-write-secs /tmp/c)" -le 20 ] && [ "$(fact sense-write /tmp/c)" -ge 1 ] \
        && [ "$(fact later-flush /tmp/c)" = failed ] \
        && pass storage-faults/write-error "EIO in $(fact bad-write-secs /tmp/c)s, later flushes fail too" \
        || fail storage-faults/write-error "$(fact bad-write-secs /tmp/c)s, sense lines $(fact sense-write /tmp/c), later flush $(fact later-flush /tmp/c)" ;;
    *) fail storage-faults/write-error "guest: $(fact bad-write /tmp/c)" ;;
esac
[ "$state" = running ] && pass storage-faults/vm-keeps-running || fail storage-faults/vm-keeps-running "state: $state"
[ $rc = 0 ] && guest_has /tmp/c "VIRIDIAN-GUEST: powering off" \
    && pass storage-faults/clean-poweroff "whole guest run ${secs}s" \
    || fail storage-faults/clean-poweroff "exit $rc; $(tail -n 5 /tmp/c | tr '\n' '|')"
dmsetup remove --noudevsync faulty 2>/dev/null
losetup -d "$L"
w=$(fact good-write /tmp/c)
[ -n "$w" ] && [ "$(range 2048 16)" = "$w" ] && [ "$(fact read-still /tmp/c)" = "$w" ] \
    && pass storage-faults/earlier-write-kept || fail storage-faults/earlier-write-kept "guest $w, file $(range 2048 16)"
grep -E 'FACT|Sense|I/O error|critical|storvsc' /tmp/c | head -n 40 | sed 's/^/console: /'
BATCH

lab_batch storage-faults/lab "$TEST_TMP/batch.sh" --timeout 600 --add "$TEST_TMP/g.sh:/lab/g.sh"
