#!/usr/bin/env bash
# Storage changes while the stock guest runs, in one lab boot (`viridian vm ...`):
#   disk-add puts a 40M disk at the next free LUN of controller 0 and the guest sees a
#   new sd device with its bytes within 30 s; disk-remove takes it away and the device
#   goes; dvd-eject empties the DVD drive (the guest's reads fail: no medium);
#   dvd-insert with another ISO and the guest reads the new ISO's size and bytes. No I/O
#   errors but those of the DVD drive between the eject and the first good read of the
#   new disc (reads that race the eject, the medium-changed UNIT ATTENTION; as on a real
#   drive).
#   Hot add to a controller the VM did not start with is refused.
#   Disk full: a disk image on a small tmpfs; a guest write that fills it pauses the VM
#   (`vm status` says paused-disk-full, one line on stderr); deleting a filler file lets
#   the write finish, the VM runs again and the guest reads back what it wrote.
# Cost: one lab boot and one guest boot, about 3 minutes under TCG.
source "$(dirname "$0")/lib.sh"
new_tmpdir

cat > "$TEST_TMP/g1.sh" <<'G'
modprobe sr_mod
for i in $(seq 100); do [ -b /dev/sr0 ] && break; usleep 100000; done
echo "FACT dvd1 $(cat /sys/block/sr0/size) $(dd if=/dev/sr0 bs=2048 2>/dev/null | sha256sum | cut -d' ' -f1)"
echo "FACT ready1"
found=
for i in $(seq 600); do
    for b in /sys/block/sd*; do [ "$(cat $b/size 2>/dev/null)" = 81920 ] && found=${b##*/}; done
    [ -n "$found" ] && break; usleep 100000
done
echo "FACT hot-added ${found:-none} $(basename "$(readlink /sys/block/$found/device 2>/dev/null)")"
echo "FACT hot-sum $(dd if=/dev/$found bs=1M count=40 2>/dev/null | sha256sum | cut -d' ' -f1)"
echo "FACT ready2"
for i in $(seq 600); do [ -e /sys/block/$found ] || break; usleep 100000; done
[ -e /sys/block/$found ] && echo "FACT hot-removed no" || echo "FACT hot-removed yes"
echo "FACT ready3"
# a read of the disc that races the eject fails like any read of an empty drive, and the
# first read after the insert may fail with UNIT ATTENTION (medium changed), as on a
# real drive: the errors logged from the eject until the new disc reads are not counted
ioerr() { dmesg | grep -ciE 'I/O error|medium error'; }
before_eject=$(ioerr)
for i in $(seq 600); do dd if=/dev/sr0 of=/dev/null bs=2048 count=1 2>/dev/null || break; usleep 100000; done
if dd if=/dev/sr0 of=/dev/null bs=2048 count=1 2>/tmp/err; then echo "FACT dvd-empty no"; else echo "FACT dvd-empty yes $(cat /tmp/err)"; fi
echo "FACT ready4"
for i in $(seq 600); do dd if=/dev/sr0 of=/dev/null bs=2048 count=1 2>/dev/null && break; usleep 100000; done
at_eject=$(( $(ioerr) - before_eject ))
echo "FACT dvd2 $(cat /sys/block/sr0/size) $(dd if=/dev/sr0 bs=2048 2>/dev/null | sha256sum | cut -d' ' -f1)"
echo "FACT io-errors $(( $(ioerr) - at_eject ))"
echo "FACT ready5"
F=$(for b in /sys/block/sd*; do [ "$(cat $b/size)" = 98304 ] && echo /dev/${b##*/}; done)
dd if=/dev/urandom of=/tmp/r16 bs=1M count=16 2>/dev/null
echo "FACT full-src $(sha256sum < /tmp/r16 | cut -d' ' -f1)"
echo "FACT ready6"
if dd if=/tmp/r16 of=$F bs=1M conv=fsync 2>/tmp/err; then echo "FACT full-write ok"; else echo "FACT full-write failed $(cat /tmp/err)"; fi
echo 3 > /proc/sys/vm/drop_caches
echo "FACT full-read $(dd if=$F bs=1M count=16 2>/dev/null | sha256sum | cut -d' ' -f1)"
echo "FACT io-errors2 $(( $(ioerr) - at_eject ))"
dmesg | grep -iE "storvsc|sd [0-9]|sr [0-9]|scsi|I/O error" | tail -n 20
echo "FACT ready7"
sleep 300
G

cat > "$TEST_TMP/batch.sh" <<'BATCH'
. /lab/inlab.sh
sum() { sha256sum < "$1" | cut -d' ' -f1; }
cp /lab/g1.sh /tmp/
cd /work
dd if=/dev/zero of=a.img bs=1M count=0 seek=64 2>/dev/null
dd if=/dev/urandom of=hot.img bs=1M count=40 2>/dev/null
dd if=/dev/urandom of=d1.iso bs=1M count=8 2>/dev/null
dd if=/dev/urandom of=d2.iso bs=1M count=4 2>/dev/null
# disk full: a sparse 48M image on a 24M tmpfs that a 16M filler leaves ~8M of
mkdir -p /full
full_ok=0
mount -t tmpfs -o size=24M tmpfs /full && dd if=/dev/zero of=/full/filler bs=1M count=16 2>/dev/null && full_ok=1
dd if=/dev/zero of=/full/full.img bs=1M count=0 seek=48 2>/dev/null

guest_run viridian /tmp/c1 500 /tmp/g1.sh --name hp --disk /work/a.img --disk /full/full.img --dvd /work/d1.iso &
vm=$!
if ! wait_line /tmp/c1 "FACT ready1" 240; then
    fail storage-hotplug/boot "no ready line; console: $(tail -n 10 /tmp/c1 | tr '\n' '|')"
fi
[ "$(fact dvd1 /tmp/c1)" = "16384 $(sum d1.iso)" ] && pass storage-hotplug/dvd-first-disc \
    || fail storage-hotplug/dvd-first-disc "guest $(fact dvd1 /tmp/c1)"

viridian vm disk-add hp /work/hot.img,controller=3 > /tmp/r0 2>&1 && fail storage-hotplug/new-controller-refused "accepted" \
    || { grep -q "was not there at start" /tmp/r0 && pass storage-hotplug/new-controller-refused \
         || fail storage-hotplug/new-controller-refused "$(cat /tmp/r0)"; }
t0=$(date +%s)
viridian vm disk-add hp /work/hot.img > /tmp/r1 2>&1 || fail storage-hotplug/disk-add "$(cat /tmp/r1)"
if wait_line /tmp/c1 "FACT ready2" 60; then
    t=$(( $(date +%s) - t0 ))
    set -- $(fact hot-added /tmp/c1)
    [ "$1" != none ] && [ "${2#*:}" = 0:0:3 ] && [ "$t" -le 30 ] && grep -q "LUN 3" /tmp/r1 \
        && [ "$(fact hot-sum /tmp/c1)" = "$(sum hot.img)" ] \
        && pass storage-hotplug/disk-add "$1 in ${t}s" || fail storage-hotplug/disk-add "guest: $* in ${t}s; host: $(cat /tmp/r1)"
else
    fail storage-hotplug/disk-add "the guest did not see it; console: $(tail -n 10 /tmp/c1 | tr '\n' '|')"
fi
viridian vm disk-remove hp --controller 0 --lun 3 > /tmp/r2 2>&1 || fail storage-hotplug/disk-remove "$(cat /tmp/r2)"
wait_line /tmp/c1 "FACT ready3" 90
[ "$(fact hot-removed /tmp/c1)" = yes ] && pass storage-hotplug/disk-remove \
    || fail storage-hotplug/disk-remove "guest: $(fact hot-removed /tmp/c1); $(tail -n 5 /tmp/c1 | tr '\n' '|')"
viridian vm disk-remove hp --controller 0 --lun 3 > /tmp/r2 2>&1 && fail storage-hotplug/remove-twice-refused "accepted" \
    || pass storage-hotplug/remove-twice-refused

viridian vm dvd-eject hp > /tmp/r3 2>&1 || fail storage-hotplug/dvd-eject "$(cat /tmp/r3)"
wait_line /tmp/c1 "FACT ready4" 90
case "$(fact dvd-empty /tmp/c1)" in
    yes*) pass storage-hotplug/dvd-eject ;;
    *) fail storage-hotplug/dvd-eject "guest: $(fact dvd-empty /tmp/c1)" ;;
esac
viridian vm dvd-insert hp /work/d2.iso > /tmp/r4 2>&1 || fail storage-hotplug/dvd-insert "$(cat /tmp/r4)"
wait_line /tmp/c1 "FACT ready5" 90
[ "$(fact dvd2 /tmp/c1)" = "8192 $(sum d2.iso)" ] && pass storage-hotplug/dvd-insert \
    || fail storage-hotplug/dvd-insert "guest $(fact dvd2 /tmp/c1), want 8192 $(sum d2.iso)"
[ "$(fact io-errors /tmp/c1)" = 0 ] && pass storage-hotplug/no-io-errors \
    || fail storage-hotplug/no-io-errors "$(grep -iE 'I/O error|medium error' /tmp/c1 | head -n 3 | tr '\n' '|')"

st() { viridian vm status hp 2>/dev/null | sed -n "s/^$1: //p"; }
wait_line /tmp/c1 "FACT ready6" 60
if [ $full_ok = 1 ]; then
    for i in $(seq 120); do [ "$(st state)" = paused-disk-full ] && break; usleep 500000; done
    state=$(st state)
    sleep 2
    if [ "$state" = paused-disk-full ] && [ "$(st state)" = paused-disk-full ] && ! grep -q "FACT full-write" /tmp/c1 &&
       [ "$(grep -c "disk full:" /tmp/c1)" = 1 ]; then
        pass storage-hotplug/disk-full-pauses
    else
        fail storage-hotplug/disk-full-pauses "state $state; $(grep -E 'disk full|FACT full' /tmp/c1 | tr '\n' '|'); $(df /full | tail -n 1)"
    fi
    viridian vm resume hp > /tmp/r5 2>&1 && pass storage-hotplug/resume-while-full-accepted         || fail storage-hotplug/resume-while-full-accepted "$(cat /tmp/r5)"
    rm -f /full/filler
    for i in $(seq 60); do [ "$(st state)" = running ] && break; usleep 500000; done
    state=$(st state)
    wait_line /tmp/c1 "FACT ready7" 120
    [ "$state" = running ] && [ "$(fact full-write /tmp/c1)" = ok ] && [ -n "$(fact full-src /tmp/c1)" ] &&
        [ "$(fact full-read /tmp/c1)" = "$(fact full-src /tmp/c1)" ] && [ "$(fact io-errors2 /tmp/c1)" = 0 ] &&
        grep -q "disk space available again" /tmp/c1         && pass storage-hotplug/disk-full-resumes         || fail storage-hotplug/disk-full-resumes "state $state; $(grep -E 'FACT (full|io-err)|disk space' /tmp/c1 | tr '\n' '|')"
else
    skip storage-hotplug/disk-full-pauses "cannot mount a tmpfs in the lab"
fi
viridian vm turn-off hp > /dev/null 2>&1
wait $vm
vmm_end_check storage-hotplug/vm-runs-until-turned-off /tmp/c1 $? 7
grep -E 'storvsc|sd |sr |scsi' /tmp/c1 | tail -n 12 | sed 's/^/console: /'
BATCH

lab_batch storage-hotplug/lab "$TEST_TMP/batch.sh" --timeout 900 --add "$TEST_TMP/g1.sh:/lab/g1.sh"
