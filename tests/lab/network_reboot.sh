#!/usr/bin/env bash
# A synthetic NIC across a guest reboot and a driver re-attach, with a receive queue
# per vCPU (vRSS), as on Hyper-V: the VM restarts (the default --on-reboot restart)
# with the same NIC - the same MAC, its port on the switch still there - and the stock
# guest's hv_netvsc brings it up again and reaches the host.
# One VM (2 vCPUs) on an internal switch with a 1 MiB marker disk that tells the guest
# which boot it is in. Boot 1: the guest sees two receive queues (a sub-channel), moves
# 16 TCP flows of 64 KiB each way at once with matching MD5s, while the host sees the
# flows spread over both queues in both directions (viridian vm status); the guest
# changes its MTU (netvsc detaches and re-attaches: the NIC is closed, its sub-channel
# rescinded, asked for and offered again) and still has two queues and reaches the
# host; it writes the marker and reboots. Boot 2: two queues again, pings, powers off.
# The MACs the guest saw in both boots must equal the one `viridian vm status` reports.
# Cost: one lab boot, two guest boots; about two minutes under TCG.
source "$(dirname "$0")/lib.sh"
new_tmpdir

cat > "$TEST_TMP/guest.sh" <<'G'
fact() { echo "FACT $*"; }
for i in $(seq 50); do [ -b /dev/sda ] && ls /sys/class/net/eth* >/dev/null 2>&1 && break; usleep 100000; done
E=$(ls -d /sys/class/net/eth* | head -n 1); E=${E##*/}
queues() { ls -d /sys/class/net/$E/queues/rx-* | wc -l; }
ip link set lo up
ip link set "$E" up
ip addr add 192.0.2.10/24 dev "$E"
ping -c 3 -W 3 192.0.2.1 >/dev/null 2>&1 && p=ok || p=unreached
if [ "$(head -c 6 /dev/sda)" = "booted" ]; then
    fact boot2 "$(cat /sys/class/net/$E/address)" "$p" "$(queues)"
else
    fact boot1 "$(cat /sys/class/net/$E/address)" "$p" "$(queues)"
    # 16 flows each way at once: host -> guest from ports 6001.., guest -> host to 7001..
    # (a receiving busybox nc whose stdin ends closes the connection: give it a FIFO)
    dd if=/dev/zero of=/tmp/zero bs=65536 count=1 2>/dev/null
    mkfifo /tmp/hold
    for i in $(seq 16); do
        (timeout 120 nc 192.0.2.1 $((6000 + i)) 0<>/tmp/hold | md5sum > /tmp/h2g.$i) &
        (timeout 120 nc 192.0.2.1 $((7000 + i)) < /tmp/zero) &
    done
    wait
    fact h2g-flows $(cut -d' ' -f1 /tmp/h2g.* | sort | uniq -c | tr -s ' ' | tr ' ' ':')
    fact flows-done
    sleep 3 # the host reads the queue counters now
    timeout 60 ip link set "$E" mtu 1400 && m=ok || m=failed
    ping -c 3 -W 3 192.0.2.1 >/dev/null 2>&1 && p=ok || p=unreached
    fact mtu "$m" "$(cat /sys/class/net/$E/mtu)" "$p" "$(queues)"
    sleep 3
    printf booted | dd of=/dev/sda conv=fsync 2>/dev/null
    reboot -f
fi
G

cat > "$TEST_TMP/batch.sh" <<'BATCH'
. /lab/inlab.sh
modprobe tun && modprobe bridge || fail network-reboot/modules "cannot load tun and bridge"
export VIRIDIAN_STATE_DIR=/tmp/state
viridian switch create in1 --type internal || fail network-reboot/switch "switch create failed"
ip addr add 192.0.2.1/24 dev in1
ip link set in1 up
truncate -s 1M /tmp/marker.img
dd if=/dev/urandom of=/tmp/seed bs=65536 count=1 2>/dev/null
want=$(md5sum < /tmp/seed | cut -d' ' -f1)
zero=$(head -c 65536 /dev/zero | md5sum | cut -d' ' -f1)
mkfifo /tmp/hold
for i in $(seq 16); do
    (nc -l -p $((6000 + i)) < /tmp/seed) &
    (nc -l -p $((7000 + i)) 0<>/tmp/hold | md5sum > /tmp/g2h.$i) &
done
guest_run viridian /tmp/c 400 /lab/guest.sh --memory 256M --cpus 2 --name vmr \
    --nic switch=in1 --disk /tmp/marker.img &
pid=$!
status=$(wait_line /tmp/c "VIRIDIAN-GUEST: init reached" 240 && viridian vm status vmr)
flows=$(wait_line /tmp/c "FACT flows-done" 200 && viridian vm status vmr | grep '^nics\.0:')
after=$(wait_line /tmp/c "FACT mtu" 120 && viridian vm status vmr | grep '^nics\.0:')
wait $pid
rc=$?
mac=$(echo "$status" | sed -n 's/^nics\.0: .*"mac": *"\([0-9a-f:]*\)".*/\1/p')
set -- $(fact boot1 /tmp/c) "" "" ""
b1_mac=$1 b1_ping=$2 b1_queues=$3
set -- $(fact boot2 /tmp/c) "" "" ""
b2_mac=$1 b2_ping=$2 b2_queues=$3
[ "$rc" = 0 ] && [ "$(grep -c 'VIRIDIAN-GUEST: init reached' /tmp/c)" = 2 ] \
    && pass network-reboot/vm-restarts-and-ends \
    || fail network-reboot/vm-restarts-and-ends "exit $rc; console: $(tail -n 15 /tmp/c | tr '\n' '|')"
[ "$b1_ping" = ok ] && [ "$b2_ping" = ok ] && pass network-reboot/host-reached-in-both-boots \
    || fail network-reboot/host-reached-in-both-boots "boot 1: ${b1_ping:-no answer}, boot 2: ${b2_ping:-no answer}"
[ -n "$mac" ] && [ "$b1_mac" = "$mac" ] && [ "$b2_mac" = "$mac" ] && pass network-reboot/same-mac \
    || fail network-reboot/same-mac "status ${mac:-?}, boot 1 ${b1_mac:-?}, boot 2 ${b2_mac:-?}"
# vRSS: a receive queue per vCPU, in both boots
[ "$b1_queues" = 2 ] && [ "$b2_queues" = 2 ] && pass network-reboot/a-receive-queue-per-vcpu \
    || fail network-reboot/a-receive-queue-per-vcpu "guest rx queues: boot 1 ${b1_queues:-?}, boot 2 ${b2_queues:-?} (want 2)"
h2g=$(fact h2g-flows /tmp/c)
g2h_ok=$(cat /tmp/g2h.* 2>/dev/null | grep -c "^$zero")
[ "$h2g" = ":16:$want" ] && [ "$g2h_ok" = 16 ] && pass network-reboot/sixteen-flows-intact \
    || fail network-reboot/sixteen-flows-intact "host->guest sums (count:md5) [$h2g], want 16 of $want; guest->host $g2h_ok of 16 intact"
# both queues carried flows, both ways: [q0, q1] frames to the guest, packets from it
rxq=$(echo "$flows" | sed -n 's/.*"rx_queue_frames": *\[ *\([0-9]*\), *\([0-9]*\) *\].*/\1 \2/p')
txq=$(echo "$flows" | sed -n 's/.*"tx_queue_packets": *\[ *\([0-9]*\), *\([0-9]*\) *\].*/\1 \2/p')
set -- $rxq 0 0; rx0=$1 rx1=$2
set -- $txq 0 0; tx0=$1 tx1=$2
[ "$rx0" -gt 0 ] && [ "$rx1" -gt 0 ] && [ "$tx0" -gt 0 ] && [ "$tx1" -gt 0 ] \
    && pass network-reboot/flows-spread-over-both-queues \
    || fail network-reboot/flows-spread-over-both-queues "to the guest by queue [$rxq], from it [$txq]; status: $flows"
set -- $(fact mtu /tmp/c) "" "" "" ""
open=$(echo "$after" | sed -n 's/.*"queues_open": *\([0-9]*\).*/\1/p')
[ "$1" = ok ] && [ "$2" = 1400 ] && [ "$3" = ok ] && [ "$4" = 2 ] && [ "$open" = 2 ] \
    && pass network-reboot/mtu-change-reattaches-with-both-queues \
    || fail network-reboot/mtu-change-reattaches-with-both-queues "ip link set: ${1:-hung?}, mtu ${2:-?}, ping ${3:-?}, guest queues ${4:-?}, open at the host ${open:-?}"
left=$(ip link | grep -c "vtap")
[ "$left" = 0 ] && pass network-reboot/tap-removed-at-exit || fail network-reboot/tap-removed-at-exit "$left TAP devices left"
BATCH

lab_batch network-reboot/lab "$TEST_TMP/batch.sh" --timeout 900 --add "$TEST_TMP/guest.sh:/lab/guest.sh"
