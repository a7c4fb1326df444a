# A diagnostic, not a test: one stock guest (1 vCPU, 256M) on an internal switch moves
# MIB MiB (default 100) to the lab host over TCP and then MIB MiB back, as fast as it
# can (busybox nc); ROUNDS boots (default 1) under VMM (viridian, default, or qemu with
# virtio-net on a TAP in the same bridge: the same workload under another VMM, to tell
# a VMM's fault from the lab's). MD5=1 has the guest checksum both streams while
# they pass (tee + md5sum). Every 10 s the bytes the host received are
# printed, at each round's end the guest console's tail and a "SOAK round" summary;
# TRACE=1 also records the lab kernel's KVM events and prints the last ones of a round
# whose guest died. Viridian runs with VIRIDIAN_POSTMORTEM=1: at a triple fault it walks
# the guest's page tables for the last RIP, the IDT and its #PF and #DF handlers.
# It was written for the nested-guest crash of issue 6 (README, "The lab"). Run:
#   tools/lab run --with-qemu --timeout 3000 --add tests/lab/inlab.sh:/lab/inlab.sh \
#       --add tools/lab-files/stream-soak.sh:/lab/soak.sh -- env MIB=100 sh /lab/soak.sh
. /lab/inlab.sh
MIB=${MIB:-100}
ROUNDS=${ROUNDS:-1}
VMM=${VMM:-viridian}
GUEST_MEMORY=256M GUEST_CPUS=1
export VIRIDIAN_STATE_DIR=/tmp/state
# a triple fault's guest page-table walks on the console (src/core/vcpu_postmortem.h)
export VIRIDIAN_POSTMORTEM=1
modprobe tun && modprobe bridge || exit 1
viridian switch create soak --type internal > /dev/null || exit 1
ip addr add 192.0.2.1/24 dev soak && ip link set soak up || exit 1
if [ "${MD5:-0}" = 1 ]; then tap_out="tee /tmp/out |"; sum_in="| md5sum"; else tap_out=""; sum_in="> /dev/null"; fi
cat > /tmp/g.sh <<G
ip link set lo up
modprobe virtio_pci 2>/dev/null; modprobe virtio_net 2>/dev/null
for i in \$(seq 100); do [ -e /sys/class/net/eth0 ] && break; usleep 100000; done
E=eth0
ip link set \$E up && ip addr add 192.0.2.10/24 dev \$E
for i in \$(seq 30); do ping -c 1 -W 1 192.0.2.1 > /dev/null 2>&1 && break; done
dd if=/dev/urandom of=/tmp/seed bs=1048576 count=1 2>/dev/null
mkfifo /tmp/out /tmp/hold
[ "${MD5:-0}" = 1 ] && md5sum < /tmp/out > /tmp/out.sum &
t0=\$(date +%s)
i=0; while [ \$i -lt $MIB ]; do cat /tmp/seed; i=\$((i + 1)); done | $tap_out timeout 900 nc 192.0.2.1 \$((P + 1))
wait
echo "SOAK-G2H sent in \$(( \$(date +%s) - t0 )) s \$(cat /tmp/out.sum 2>/dev/null)"
t0=\$(date +%s)
timeout 900 nc 192.0.2.1 \$((P + 2)) 0<>/tmp/hold $sum_in
echo "SOAK-H2G got in \$(( \$(date +%s) - t0 )) s"
G
dd if=/dev/urandom of=/tmp/hseed bs=1048576 count=1 2>/dev/null
# TRACE=1: the lab kernel's KVM trace events (exits, injected exceptions and interrupts,
# emulated instructions) in its ring buffer; a round whose guest dies prints its tail
T=/sys/kernel/tracing
if [ "${TRACE:-0}" = 1 ]; then
    [ -e $T/trace ] || mount -t tracefs nodev $T || exit 1
    echo 8192 > $T/buffer_size_kb
    for e in kvm_exit kvm_msr kvm_inj_exception kvm_inj_virq kvm_emulate_insn kvm_userspace_exit kvm_page_fault; do
        [ -e $T/events/kvm/$e/enable ] && echo 1 > $T/events/kvm/$e/enable
    done
fi
r=1
while [ $r -le $ROUNDS ]; do
    : > /tmp/console
    rm -f /tmp/hold; mkfifo /tmp/hold
    p=$((5000 + 2 * r))  # ports of its own: a dead round's listeners may linger
    (echo P=$p; cat /tmp/g.sh) > /tmp/gr.sh
    (nc -l -p $((p + 1)) 0<>/tmp/hold > /tmp/recv) &
    (i=0; while [ $i -lt $MIB ]; do cat /tmp/hseed; i=$((i + 1)); done | nc -l -p $((p + 2))) &
    case $VMM in
        viridian) (guest_run viridian /tmp/console 2000 /tmp/gr.sh --name soak --nic switch=soak
                   echo "SOAK-END exit $?" >> /tmp/console) & ;;
        qemu) (guest_run qemu /tmp/console 2000 /tmp/gr.sh \
                   -netdev tap,id=n0,ifname=qtap0,script=no,downscript=no -device virtio-net-pci,netdev=n0,romfile=
               echo "SOAK-END exit $?" >> /tmp/console) &
              qemu_tap_on_switch qtap0 soak || echo "soak: cannot put QEMU's TAP on the switch" ;;
    esac
    t=0
    while ! grep -q "^SOAK-END" /tmp/console 2>/dev/null && [ $t -lt 2000 ]; do
        sleep 10; t=$((t + 10))
        echo "soak $VMM round $r: ${t} s: host received $(stat -c %s /tmp/recv 2>/dev/null) bytes"
    done
    sleep 2
    # QEMU ends with status 0 when its guest resets (-no-reboot): a guest that died says
    # so only by never reaching its script's end
    grep -q "script exit status 0" /tmp/console && died= || died="GUEST DIED "
    if [ "${TRACE:-0}" = 1 ] && [ -n "$died" ]; then
        echo 0 > $T/tracing_on
        echo "soak: the lab kernel's last KVM events:"; tail -n 120 $T/trace | sed 's/^/  /'
        : > $T/trace; echo 1 > $T/tracing_on
    fi
    echo "soak: guest console end:"; tail -n 6 /tmp/console | sed 's/^/  /'
    echo "SOAK round $r $VMM: $died$(grep -o 'SOAK-[A-Z2]* [a-z]* in [0-9]* s' /tmp/console | tr '\n' ' ') $(grep -o 'SOAK-END.*' /tmp/console) received $(stat -c %s /tmp/recv)"
    r=$((r + 1))
done
