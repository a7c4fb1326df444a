#!/usr/bin/env bash
# A synthetic NIC across a guest reboot, as on Hyper-V: the VM restarts (the default
# --on-reboot restart) with the same NIC - the same MAC, its port on the switch still
# there - and the stock guest's hv_netvsc brings it up again and reaches the host.
# One VM (1 vCPU) on an internal switch with a 1 MiB marker disk that tells the guest
# which boot it is in: boot 1 pings the host, writes the marker and reboots; boot 2
# pings again and powers off. The MACs the guest saw in both boots must equal the one
# `viridian vm status` reports.
# Cost: one lab boot, two guest boots; about a minute under TCG.
source "$(dirname "$0")/lib.sh"
new_tmpdir

cat > "$TEST_TMP/guest.sh" <<'G'
fact() { echo "FACT $*"; }
for i in $(seq 50); do [ -b /dev/sda ] && ls /sys/class/net/eth* >/dev/null 2>&1 && break; usleep 100000; done
E=$(ls -d /sys/class/net/eth* | head -n 1); E=${E##*/}
ip link set lo up
ip link set "$E" up
ip addr add 192.0.2.10/24 dev "$E"
ping -c 3 -W 3 192.0.2.1 >/dev/null 2>&1 && p=ok || p=unreached
if [ "$(head -c 6 /dev/sda)" = "booted" ]; then
    fact boot2 "$(cat /sys/class/net/$E/address)" "$p"
else
    fact boot1 "$(cat /sys/class/net/$E/address)" "$p"
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
guest_run viridian /tmp/c 300 /lab/guest.sh --memory 256M --cpus 1 --name vmr \
    --nic switch=in1 --disk /tmp/marker.img &
pid=$!
status=$(wait_line /tmp/c "VIRIDIAN-GUEST: init reached" 240 && viridian vm status vmr)
wait $pid
rc=$?
mac=$(echo "$status" | sed -n 's/^nics\.0: .*"mac": *"\([0-9a-f:]*\)".*/\1/p')
set -- $(fact boot1 /tmp/c) ""
b1_mac=$1 b1_ping=$2
set -- $(fact boot2 /tmp/c) ""
b2_mac=$1 b2_ping=$2
[ "$rc" = 0 ] && [ "$(grep -c 'VIRIDIAN-GUEST: init reached' /tmp/c)" = 2 ] \
    && pass network-reboot/vm-restarts-and-ends \
    || fail network-reboot/vm-restarts-and-ends "exit $rc; console: $(tail -n 15 /tmp/c | tr '\n' '|')"
[ "$b1_ping" = ok ] && [ "$b2_ping" = ok ] && pass network-reboot/host-reached-in-both-boots \
    || fail network-reboot/host-reached-in-both-boots "boot 1: ${b1_ping:-no answer}, boot 2: ${b2_ping:-no answer}"
[ -n "$mac" ] && [ "$b1_mac" = "$mac" ] && [ "$b2_mac" = "$mac" ] && pass network-reboot/same-mac \
    || fail network-reboot/same-mac "status ${mac:-?}, boot 1 ${b1_mac:-?}, boot 2 ${b2_mac:-?}"
left=$(ip link | grep -c "vtap")
[ "$left" = 0 ] && pass network-reboot/tap-removed-at-exit || fail network-reboot/tap-removed-at-exit "$left TAP devices left"
BATCH

lab_batch network-reboot/lab "$TEST_TMP/batch.sh" --timeout 600 --add "$TEST_TMP/guest.sh:/lab/guest.sh"
