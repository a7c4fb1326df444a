#!/usr/bin/env bash
# The synthetic SCSI controller (storvsp) with the stock guest, in one lab boot:
#   four disks on two controllers (raw 64M on controller 0; dynamic VHD 32M, dynamic
#   VHDX 48M at LUN 1 and a read-only raw 16M at LUN 3 on controller 1) appear with the
#   right sizes and 512-byte sectors; ext4 is made, mounted, written (files with known
#   checksums), synced and unmounted on three of them; the read-only disk is read-only in the guest, a write to
#   it fails and its content is unchanged; a second boot reads the files back identical.
#   Out of the lab: e2fsck finds the raw image's file system clean and debugfs reads the
#   same file the guest wrote; qemu-img opens the VHD and reads it exactly as
#   viridian's own disk library does (qemu-img compare against `viridian disk convert`),
#   and `qemu-img check` finds the VHDX clean.
#   A --dvd ISO is a read-only DVD drive (sr, 2048-byte sectors) reading the ISO's bytes.
#   Each controller gets one sub-channel per extra vCPU; no I/O errors in the guest log.
#   fstrim in the guest gives space back: the dynamic VHDX's allocated size shrinks.
#   A differencing VHDX on a read-only base reads the base's bytes, takes the guest's
#   writes (the chain then reads as base + writes) and leaves the base untouched.
#   A missing image is refused with exit status 2 before anything runs.
#   The guest's channel signals for its I/O do not exit to viridian (doorbells).
# Cost: one lab boot and two guest boots, about 3 minutes under TCG.
source "$(dirname "$0")/lib.sh"
new_tmpdir

cat > "$TEST_TMP/g1.sh" <<'G'
for b in /sys/block/sd*; do
    echo "FACT disk $(cat $b/size) $(cat $b/queue/logical_block_size) $(cat $b/ro) $(basename "$(readlink $b/device)")"
done
dev_of() { for b in /sys/block/sd*; do [ "$(cat $b/size)" = "$1" ] && echo /dev/${b##*/} && return; done; }
A=$(dev_of 131072); B=$(dev_of 65536); C=$(dev_of 98304); R=$(dev_of 32768)
echo "FACT devices $A $B $C $R"
mkfs.ext4 -q -F "$A" && mkfs.ext4 -q -F "$B" && mkfs.ext4 -q -F "$C" && echo "FACT mkfs ok"
mkdir -p /mnt/a /mnt/b /mnt/c
mount -t ext4 "$A" /mnt/a && mount -t ext4 "$B" /mnt/b && mount -t ext4 "$C" /mnt/c && echo "FACT mount ok"
dd if=/dev/urandom of=/mnt/a/rand bs=1k count=3000 2>/dev/null
echo hello-viridian > /mnt/a/text
dd if=/dev/urandom of=/mnt/b/rand bs=1k count=1500 2>/dev/null
dd if=/dev/urandom of=/mnt/c/rand bs=1k count=2000 2>/dev/null
sync
for f in /mnt/a/rand /mnt/a/text /mnt/b/rand /mnt/c/rand; do echo "FACT sum $f $(sha256sum < $f | cut -d' ' -f1)"; done
# trim: fill, let the host measure, delete and fstrim, let the host measure again
dd if=/dev/urandom of=/mnt/c/trimme bs=1M count=12 2>/dev/null; sync
echo "FACT ios $(cat /sys/block/sd*/stat | awk '{ s += $1 + $5 } END { print s }')"
echo "FACT trim-filled"
sleep 8
rm /mnt/c/trimme; sync; fstrim -v /mnt/c; sync
echo "FACT trim-done"
sleep 8
umount /mnt/a && umount /mnt/b && umount /mnt/c && echo "FACT umount ok"
E=$(dev_of 81920)
echo "FACT diff-before $(dd if=$E bs=1M 2>/dev/null | sha256sum | cut -d' ' -f1)"
dd if=/dev/zero of=$E bs=1M seek=8 count=1 conv=fsync 2>/dev/null
echo 3 > /proc/sys/vm/drop_caches
echo "FACT diff-after $(dd if=$E bs=1M 2>/dev/null | sha256sum | cut -d' ' -f1)"
echo "FACT ro-sum $(dd if=$R bs=1M count=16 2>/dev/null | sha256sum | cut -d' ' -f1)"
if dd if=/dev/zero of=$R bs=4096 count=1 conv=fsync 2>/dev/null; then echo "FACT ro-write accepted"; else echo "FACT ro-write refused"; fi
modprobe sr_mod
for i in $(seq 50); do [ -b /dev/sr0 ] && break; usleep 100000; done
echo "FACT dvd $(cat /sys/block/sr0/size) $(cat /sys/block/sr0/queue/logical_block_size) $(cat /sys/block/sr0/ro) $(basename "$(readlink /sys/block/sr0/device)")"
echo "FACT dvd-sum $(dd if=/dev/sr0 bs=2048 2>/dev/null | sha256sum | cut -d' ' -f1)"
for d in /sys/bus/vmbus/devices/*; do
    grep -q ba6163d9 $d/class_id 2>/dev/null && echo "FACT scsi-channels $(ls $d/channels | wc -l)"
done
echo "FACT io-errors $(dmesg | grep -ciE 'I/O error|medium error|EXT4-fs error')"
dmesg | grep -iE "storvsc|sd [0-9]|scsi|I/O error|EXT4" | tail -n 30
G

cat > "$TEST_TMP/g2.sh" <<'G'
dev_of() { for b in /sys/block/sd*; do [ "$(cat $b/size)" = "$1" ] && echo /dev/${b##*/} && return; done; }
A=$(dev_of 131072); B=$(dev_of 65536); C=$(dev_of 98304)
mkdir -p /mnt/a /mnt/b /mnt/c
mount -t ext4 -o ro "$A" /mnt/a && mount -t ext4 -o ro "$B" /mnt/b && mount -t ext4 -o ro "$C" /mnt/c &&
    echo "FACT mount ok"
for f in /mnt/a/rand /mnt/a/text /mnt/b/rand /mnt/c/rand; do echo "FACT sum $f $(sha256sum < $f | cut -d' ' -f1)"; done
umount /mnt/a; umount /mnt/b; umount /mnt/c
G

cat > "$TEST_TMP/batch.sh" <<'BATCH'
. /lab/inlab.sh
fact() { sed -n "s/^FACT $1 //p" "$2" | tr -d '\r'; }
sums() { fact sum "$1" | sort; }
cp /lab/g1.sh /lab/g2.sh /tmp/
cd /work
dd if=/dev/zero of=a.img bs=1M count=0 seek=64 2>/dev/null
viridian disk create b.vhd 32M --type dynamic > /dev/null || fail storage/create-vhd "viridian disk create failed"
viridian disk create c.vhdx 48M --type dynamic --block-size 2M > /dev/null || fail storage/create-vhdx "viridian disk create failed"
dd if=/dev/urandom of=base.raw bs=1M count=40 2>/dev/null
viridian disk convert base.raw base.vhdx > /dev/null && chmod 0444 base.vhdx &&
    viridian disk create e.vhdx --parent base.vhdx > /dev/null || fail storage/create-differencing "could not build the chain"
base_file_sum=$(sha256sum < base.vhdx | cut -d' ' -f1)
diff_before=$(sha256sum < base.raw | cut -d' ' -f1)
dd if=/dev/zero of=base.raw bs=1M seek=8 count=1 conv=notrunc 2>/dev/null
diff_after=$(sha256sum < base.raw | cut -d' ' -f1)
dd if=/dev/urandom of=r.img bs=1M count=16 2>/dev/null
ro_before=$(sha256sum < r.img | cut -d' ' -f1)
dd if=/dev/urandom of=d.iso bs=1M count=8 2>/dev/null
iso_sum=$(sha256sum < d.iso | cut -d' ' -f1)
DISKS="--disk /work/a.img --disk /work/b.vhd,controller=1 --disk /work/c.vhdx,controller=1,lun=1 --disk /work/r.img,ro,controller=1,lun=3 --disk /work/e.vhdx,controller=1,lun=2"

viridian run --kernel "$GUEST_KERNEL" --disk /work/missing.img > /tmp/miss 2>&1
rc=$?
[ $rc = 2 ] && [ "$(wc -l < /tmp/miss)" = 1 ] && grep -q "missing.img" /tmp/miss \
    && pass storage/missing-image-refused || fail storage/missing-image-refused "exit $rc: $(cat /tmp/miss)"

# shellcheck disable=SC2086
guest_run viridian /tmp/c1 400 /tmp/g1.sh $DISKS --dvd /work/d.iso --name st1 &
vm1=$!
wait_line /tmp/c1 "FACT trim-filled" 300 && filled=$(du -k /work/c.vhdx | cut -f1) &&
    hypercalls=$(viridian vm status st1 | sed -n 's/^exits\.hypercall: //p')
wait_line /tmp/c1 "FACT trim-done" 120 && sleep 3 && trimmed=$(du -k /work/c.vhdx | cut -f1)
wait $vm1
rc=$?
if [ -n "$filled" ] && [ -n "$trimmed" ] && [ "$trimmed" -lt $((filled - 4096)) ]; then
    pass storage/fstrim-shrinks-vhdx
else
    fail storage/fstrim-shrinks-vhdx "allocated ${filled:-?} KiB after filling, ${trimmed:-?} KiB after fstrim; $(grep -i trim /tmp/c1 | tr '\n' '|')"
fi
[ $rc = 0 ] && [ "$(guest_status /tmp/c1)" = 0 ] && pass storage/boot1 \
    || fail storage/boot1 "exit $rc; console: $(tail -n 15 /tmp/c1 | tr '\n' '|')"
# FACT disk SECTORS LOGICAL_BLOCK_SIZE RO H:C:T:L, one per disk
disk() { fact disk /tmp/c1 | awk -v s="$1" '$1 == s {print $2, $3, $4}'; }
vhdx_disk=$(disk 98304)
set -- $(disk 131072) $(disk 65536) $(disk 32768)
if [ "$1 $2 $4 $5 $7 $8" = "512 0 512 0 512 1" ] && [ "${3#*:}" = 0:0:0 ] && [ "${6#*:}" = 0:0:0 ] &&
   [ "${9#*:}" = 0:0:3 ] && [ "${6%%:*}" = "${9%%:*}" ] && [ "${3%%:*}" != "${6%%:*}" ] &&
   [ "${vhdx_disk% *}" = "512 0" ] && [ "${vhdx_disk##*:}" = 1 ]; then
    pass storage/disks-seen
else
    fail storage/disks-seen "guest sees: $(fact disk /tmp/c1 | tr '\n' '|')"
fi
guest_has /tmp/c1 "FACT mkfs ok" && guest_has /tmp/c1 "FACT mount ok" && guest_has /tmp/c1 "FACT umount ok" \
    && pass storage/mkfs-mount-write || fail storage/mkfs-mount-write "$(grep -E 'FACT|error|EXT4' /tmp/c1 | tail -n 12 | tr '\n' '|')"
[ "$(fact ro-sum /tmp/c1)" = "$ro_before" ] && pass storage/ro-disk-reads || fail storage/ro-disk-reads "guest $(fact ro-sum /tmp/c1) host $ro_before"
[ "$(fact ro-write /tmp/c1)" = refused ] && [ "$(sha256sum < r.img | cut -d' ' -f1)" = "$ro_before" ] \
    && pass storage/ro-disk-refuses-writes || fail storage/ro-disk-refuses-writes "write $(fact ro-write /tmp/c1)"

# the DVD: next free LUN on controller 0, 2048-byte sectors, read-only, the ISO's bytes
set -- $(fact dvd /tmp/c1)
[ "$1 $2 $3 ${4#*:}" = "16384 2048 1 0:0:1" ] && [ "$(fact dvd-sum /tmp/c1)" = "$iso_sum" ] \
    && pass storage/dvd-reads || fail storage/dvd-reads "guest: $* sum $(fact dvd-sum /tmp/c1), host $iso_sum"

# two vCPUs: storvsc asks each controller for one sub-channel and opens it
ch=$(fact scsi-channels /tmp/c1 | tr '\n' ' ')
[ "$ch" = "2 2 " ] && pass storage/subchannel-per-vcpu || fail storage/subchannel-per-vcpu "channels per controller: $ch"
# the guest's signals for its I/O are channel doorbells (KVM ioeventfd): they do not
# exit to viridian, where each used to cost one exit (hypercalls also count the VMBus
# set-up's messages)
ios=$(fact ios /tmp/c1)
echo "storage: ${hypercalls:-?} hypercall exits for ${ios:-?} I/Os"
[ -n "$hypercalls" ] && [ "${ios:-0}" -gt 200 ] && [ $((hypercalls * 2)) -lt "$ios" ] \
    && pass storage/signals-skip-user-space || fail storage/signals-skip-user-space "${hypercalls:-?} hypercall exits for ${ios:-?} I/Os"
[ "$(fact io-errors /tmp/c1)" = 0 ] && pass storage/no-io-errors || fail storage/no-io-errors "$(grep -iE 'I/O error|medium error|EXT4-fs error' /tmp/c1 | head -n 3 | tr '\n' '|')"

# shellcheck disable=SC2086
guest_run viridian /tmp/c2 400 /tmp/g2.sh $DISKS
rc=$?
s1=$(sums /tmp/c1); s2=$(sums /tmp/c2)
[ $rc = 0 ] && [ -n "$s1" ] && [ "$(echo "$s1" | wc -l)" = 4 ] && [ "$s1" = "$s2" ] \
    && pass storage/files-survive-reboot || fail storage/files-survive-reboot "exit $rc; boot1 [$s1] boot2 [$s2]; $(tail -n 8 /tmp/c2 | tr '\n' '|')"

viridian disk check b.vhd > /tmp/chk 2>&1 && pass storage/vhd-check || fail storage/vhd-check "$(cat /tmp/chk)"
viridian disk check c.vhdx > /tmp/chk 2>&1 && pass storage/vhdx-check || fail storage/vhdx-check "$(cat /tmp/chk)"
viridian disk convert e.vhdx e-out.raw > /dev/null 2>&1
if [ "$(fact diff-before /tmp/c1)" = "$diff_before" ] && [ "$(fact diff-after /tmp/c1)" = "$diff_after" ] &&
   [ "$(sha256sum < e-out.raw | cut -d' ' -f1)" = "$diff_after" ] &&
   [ "$(sha256sum < base.vhdx | cut -d' ' -f1)" = "$base_file_sum" ] && viridian disk check e.vhdx > /tmp/chk 2>&1; then
    pass storage/differencing-on-read-only-base
else
    fail storage/differencing-on-read-only-base "guest before/after $(fact diff-before /tmp/c1)/$(fact diff-after /tmp/c1), want $diff_before/$diff_after; $(cat /tmp/chk)"
fi
mkdir -p /work/out
viridian disk convert b.vhd out/b.raw > /dev/null 2>&1
viridian disk convert c.vhdx out/c.raw > /dev/null 2>&1
mv a.img b.vhd c.vhdx out/
fact sum /tmp/c1 | grep /mnt/a/rand | cut -d' ' -f2 > out/a-rand.sha256
BATCH

out=$TEST_TMP/out
lab_batch storage/lab "$TEST_TMP/batch.sh" --timeout 1200 \
    --add "$TEST_TMP/g1.sh:/lab/g1.sh" --add "$TEST_TMP/g2.sh:/lab/g2.sh" \
    --export "/work/out:$out"

# Host side: the images as other tools see them.
if [ -f "$out/a.img" ]; then
    if e2fsck -fn "$out/a.img" > "$TEST_TMP/fsck" 2>&1; then pass storage/ext4-clean-on-host
    else fail storage/ext4-clean-on-host "$(tail -n 3 "$TEST_TMP/fsck" | tr '\n' '|')"; fi
    got=$(debugfs -R "cat /rand" "$out/a.img" 2>/dev/null | sha256sum | cut -d' ' -f1)
    [ -n "$got" ] && [ "$got" = "$(cat "$out/a-rand.sha256")" ] && pass storage/file-read-on-host \
        || fail storage/file-read-on-host "debugfs $got, guest $(cat "$out/a-rand.sha256")"
else
    fail storage/ext4-clean-on-host "a.img did not come out of the lab"
fi
if ! command -v qemu-img > /dev/null; then
    skip storage/qemu-img-vhd "no qemu-img on this host"
elif [ -f "$out/b.vhd" ] && [ -f "$out/b.raw" ]; then
    # (qemu-img has no `check` for VHD: it must open it and read it as we do)
    if qemu-img info -f vpc "$out/b.vhd" > "$TEST_TMP/qchk" 2>&1 &&
       qemu-img compare -f vpc -F raw "$out/b.vhd" "$out/b.raw" > "$TEST_TMP/qcmp" 2>&1; then
        pass storage/qemu-img-vhd
    else
        fail storage/qemu-img-vhd "$(cat "$TEST_TMP/qchk" "$TEST_TMP/qcmp" 2>/dev/null | tail -n 4 | tr '\n' '|')"
    fi
else
    fail storage/qemu-img-vhd "b.vhd did not come out of the lab"
fi
if ! command -v qemu-img > /dev/null; then
    skip storage/qemu-img-vhdx "no qemu-img on this host"
elif [ -f "$out/c.vhdx" ] && [ -f "$out/c.raw" ]; then
    if qemu-img check -f vhdx "$out/c.vhdx" > "$TEST_TMP/qchk" 2>&1 &&
       qemu-img compare -f vhdx -F raw "$out/c.vhdx" "$out/c.raw" > "$TEST_TMP/qcmp" 2>&1; then
        pass storage/qemu-img-vhdx
    else
        fail storage/qemu-img-vhdx "$(cat "$TEST_TMP/qchk" "$TEST_TMP/qcmp" 2>/dev/null | tail -n 4 | tr '\n' '|')"
    fi
else
    fail storage/qemu-img-vhdx "c.vhdx did not come out of the lab"
fi
