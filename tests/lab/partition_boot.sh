#!/usr/bin/env bash
# viridian run with the stock guest, in one lab boot: boot to init with a marker, CPU
# count and memory size seen by the guest, lazy EOI (the guest uses the enlightened APIC
# and fewer EOI exits than half its interrupts), the TSC-deadline timer, the host
# processor's name and caches, power-off /
# reboot / triple-fault exit statuses, one restart on reboot, the guest clock, console to
# a file, and both kernel formats (the bzImage and the ELF vmlinux unpacked from it).
# Cost: one lab boot plus eight guest boots (~2 min under TCG).
source "$(dirname "$0")/lib.sh"
new_tmpdir

if ! command -v lz4 >/dev/null; then
    fail partition/setup "lz4 is missing (tools/install-deps installs it)"
    exit 0
fi
"$VIRIDIAN_ROOT/tools/guest" build >/dev/null || { fail partition/setup "tools/guest build failed"; exit 0; }
# The ELF kernel: the bzImage's LZ4 payload (located from its setup header, minus the
# build's 4-byte size trailer), unpacked here with the lz4 tool.
kernel=$VIRIDIAN_ROOT/build/guest/vmlinuz
le32() { od -An -tu4 -j "$1" -N 4 "$kernel" | tr -d ' '; }
sects=$(od -An -tu1 -j $((0x1f1)) -N 1 "$kernel" | tr -d ' ')
start=$(( (sects + 1) * 512 + $(le32 $((0x248))) ))
len=$(( $(le32 $((0x24c))) - 4 ))
if ! tail -c +$((start + 1)) "$kernel" | head -c "$len" | lz4 -dc > "$TEST_TMP/vmlinux" 2>"$TEST_TMP/lz4.err" ||
   [[ $(head -c 4 "$TEST_TMP/vmlinux" | od -An -tx1 | tr -d ' ') != 7f454c46 ]]; then
    fail partition/setup "could not unpack an ELF vmlinux from $kernel: $(head -c 200 "$TEST_TMP/lz4.err")"
    exit 0
fi

cat > "$TEST_TMP/batch.sh" <<'BATCH'
. /lab/inlab.sh
mem_kb() { sed -n 's/.*MemTotal: *\([0-9]*\) kB.*/\1/p' "$1" | tail -n 1; }

# 1. stock guest, 2 vCPUs, 512 MiB: init, nproc, MemTotal, clock, power-off status
cat > /tmp/facts.sh <<'G'
echo "FACT nproc $(nproc)"
echo "FACT $(grep MemTotal /proc/meminfo)"
echo "FACT clock $(date +%s)"
echo "FACT apic $(dmesg | grep -o 'Using enlightened APIC.*')"
echo "FACT clockevent $(cat /sys/devices/system/clockevents/clockevent0/current_device)"
echo "FACT model $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "FACT caches $(ls -d /sys/devices/system/cpu/cpu0/cache/index* 2>/dev/null | wc -l)"
exit 7
G
start=$(date +%s)
set -- $(kvm_eoi_irq_counts); eoi0=$1 irq0=$2
guest_run viridian /tmp/c1 180 /tmp/facts.sh --cpus 2 --memory 512M
rc=$?
host_now=$(date +%s)
set -- $(kvm_eoi_irq_counts); eois=$(( $1 - eoi0 )) irqs=$(( $2 - irq0 ))
if guest_has /tmp/c1 "VIRIDIAN-GUEST: init reached"; then pass partition/boot-to-init
else fail partition/boot-to-init "no init marker; exit $rc; console: $(tail -n 5 /tmp/c1 | tr '\n' '|')"; fi
[ "$rc" = 0 ] && pass partition/poweroff-exit-0 || fail partition/poweroff-exit-0 "exit status $rc"
[ "$(guest_status /tmp/c1)" = 7 ] && pass partition/guest-script-ran || fail partition/guest-script-ran "status $(guest_status /tmp/c1)"
n=$(fact nproc /tmp/c1)
[ "$n" = 2 ] && pass partition/cpus-2 || fail partition/cpus-2 "guest nproc is '$n'"
kb=$(mem_kb /tmp/c1)
if [ -n "$kb" ] && [ "$kb" -ge $((512 * 1024 * 3 / 4)) ] && [ "$kb" -le $((512 * 1024)) ]; then
    pass partition/memory-512M; else fail partition/memory-512M "MemTotal ${kb} kB"; fi
# APIC assist (KVM's PV EOI on the VP assist page): most interrupts need no EOI exit
if [ -n "$(fact apic /tmp/c1)" ] && [ $((eois * 2)) -le $irqs ]; then
    pass partition/lazy-eoi "$eois EOI exits for $irqs interrupts"
else
    fail partition/lazy-eoi "$eois EOI exits for $irqs interrupts; guest: $(fact apic /tmp/c1)"
fi
# KVM's TSC-deadline timer offered (CPUID.1:ECX[24]): the guest's timer uses it
ce=$(fact clockevent /tmp/c1)
[ "$ce" = lapic-deadline ] && pass partition/tsc-deadline-timer \
    || fail partition/tsc-deadline-timer "the guest's clock event device is '$ce'"
# the host processor's identity (brand string, cache leaves) passes through, as on
# Hyper-V: the guest names the lab's processor and sees its caches (L1d, L1i, L2, ...)
model=$(fact model /tmp/c1) caches=$(fact caches /tmp/c1)
host_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
[ -n "$model" ] && [ "$model" = "$host_model" ] && [ "${caches:-0}" -ge 3 ] && pass partition/host-cpu-identity \
    || fail partition/host-cpu-identity "guest model '$model' (host '$host_model'), $caches cache levels"
gclock=$(fact clock /tmp/c1)
if [ -n "$gclock" ] && [ "$gclock" -ge $((start - 2)) ] && [ "$gclock" -le $((host_now + 2)) ]; then
    pass partition/rtc-host-time; else fail partition/rtc-host-time "guest $gclock, host $start..$host_now"; fi

# 2. one vCPU, 1 GiB, the ELF vmlinux (64-bit entry), console to a file
guest_run viridian /tmp/c2 180 /tmp/facts.sh --cpus 1 --memory 1G --console file:/tmp/c2.console \
    --kernel /work/vmlinux
rc=$?
# guest_run's own --kernel comes first; the later one wins
n=$(fact nproc /tmp/c2.console)
[ "$rc" = 0 ] && [ "$n" = 1 ] && pass partition/elf-vmlinux-boot || fail partition/elf-vmlinux-boot "exit $rc nproc '$n'"
kb=$(mem_kb /tmp/c2.console)
if [ -n "$kb" ] && [ "$kb" -ge $((1024 * 1024 * 3 / 4)) ] && [ "$kb" -le $((1024 * 1024)) ]; then
    pass partition/memory-1G; else fail partition/memory-1G "MemTotal ${kb} kB"; fi
if guest_has /tmp/c2.console "VIRIDIAN-GUEST: init reached" && ! guest_has /tmp/c2 "VIRIDIAN-GUEST"; then
    pass partition/console-file; else fail partition/console-file "console did not go (only) to the file"; fi

# 3. guest reboot with --on-reboot exit: status 4
echo 'reboot -f' > /tmp/reboot.sh
guest_run viridian /tmp/c3 120 /tmp/reboot.sh --cpus 1 --on-reboot exit
rc=$?
[ "$rc" = 4 ] && pass partition/reboot-exit-4 || fail partition/reboot-exit-4 "exit status $rc"

# 4. guest reboot by default restarts the VM: init is reached again. The first boot
# leaves a mark on a disk and reboots, the second finds it and powers off (one restart:
# every VM the lab starts and ends adds to the odds of its known faults).
dd if=/dev/zero of=/tmp/mark.img bs=1M count=1 2>/dev/null
cat > /tmp/reboot-once.sh <<'G'
for i in $(seq 50); do [ -b /dev/sda ] && break; usleep 100000; done
[ "$(dd if=/dev/sda bs=6 count=1 2>/dev/null)" = booted ] && exit 0
printf booted | dd of=/dev/sda conv=fsync 2>/dev/null
reboot -f
G
guest_run viridian /tmp/c4 120 /tmp/reboot-once.sh --cpus 1 --disk /tmp/mark.img
rc=$?
boots=$(grep -c "VIRIDIAN-GUEST: init reached" /tmp/c4)
[ "$boots" = 2 ] && [ "$rc" = 0 ] && pass partition/reboot-restarts \
    || fail partition/reboot-restarts "init reached $boots times, exit $rc; $(tail -n 5 /tmp/c4 | tr '\n' '|')"

# 5. triple fault (the kernel's reboot=t resets by faulting): status 5
guest_run viridian /tmp/c5 120 /tmp/reboot.sh --cpus 1 --on-reboot exit --cmdline "$GUEST_CMDLINE reboot=t"
rc=$?
[ "$rc" = 5 ] && pass partition/triple-fault-exit-5 || fail partition/triple-fault-exit-5 "exit status $rc"

# 6. the host check passes on this SVM-backed KVM
check partition/host-check-lab viridian host-check
BATCH

lab_batch partition/lab "$TEST_TMP/batch.sh" --timeout 900 --add "$TEST_TMP/vmlinux:/work/vmlinux"
