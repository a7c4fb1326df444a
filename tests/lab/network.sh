#!/usr/bin/env bash
# Synthetic networking (netvsp + virtual switches) with the stock guest's hv_netvsc, in
# one lab boot running two VMs at once (256M, 1 vCPU each), six NICs each:
#   NIC 0  internal switch in1 (host 192.0.2.1)    A 192.0.2.10   B 192.0.2.11
#   NIC 1  private switch pv1 (A: spoofing=allow)  A .1           B .2    198.51.100.0/28
#   NIC 2  switch vl1, A VLAN 10, B VLAN 20        A .17          B .18   198.51.100.16/28
#   NIC 3  switch vl1, both VLAN 30                A .33          B .34   198.51.100.32/28
#   NIC 4  switch vl2, A VLAN 10, B VLAN 20        A .49          B .50   198.51.100.48/28
#   NIC 5  switch vl2, both VLAN 30                A .65          B .66   198.51.100.64/28
# vl1 keeps the bridge's 802.1Q filtering (the bridge does the VLANs); on vl2 it is
# turned off before the VMs start, so netvsp tags and filters (kernels without it).
# Checks: every NIC appears with its MAC (NIC 0's generated 00:15:5d:.. as status says);
# A pings the host (the TCP streams to and from the host are
# tests/lab/network_stream.sh's); A and B reach each other on the private switch and A
# does not reach the host through it; same VLAN reaches, different VLANs don't (both
# switches); A changing its MAC on a protected port gets nothing through (and the port
# counts spoofed frames), on the spoofing=allow port it still does; the host takes
# NIC 0's link down and up (viridian vm nic-link) and the guest's carrier follows, and
# traffic flows again after; both VMs end cleanly; the TAPs are gone after the run;
# an unknown switch and a missing CAP_NET_ADMIN are refused with exit status 2.
# Cost: one lab boot, two concurrent guest boots; about 4 minutes under TCG.
source "$(dirname "$0")/lib.sh"
new_tmpdir

# The guest side, shared by both VMs: ROLE=A|B is prepended by the batch.
cat > "$TEST_TMP/guest.sh" <<'G'
fact() { echo "FACT $*"; }
# the interface holding MAC $1
ifc() { for d in /sys/class/net/eth*; do [ "$(cat $d/address)" = "$1" ] && echo ${d##*/} && return; done; }
ip link set lo up
fact nics $(ls -d /sys/class/net/eth* | wc -l)
E0=""
for d in /sys/class/net/eth*; do
    case $(cat $d/address) in 02:00:00:00:0*) ;; *) E0=${d##*/} ;; esac
done
fact mac0 $(cat /sys/class/net/$E0/address)
if [ $ROLE = A ]; then X=a; H=10; O=1; else X=b; H=11; O=2; fi
E1=$(ifc 02:00:00:00:0$X:01); E2=$(ifc 02:00:00:00:0$X:02); E3=$(ifc 02:00:00:00:0$X:03)
E4=$(ifc 02:00:00:00:0$X:04); E5=$(ifc 02:00:00:00:0$X:05)
fact ifaces "$E0 $E1 $E2 $E3 $E4 $E5"
cfg() { ip link set $1 up && ip addr add $2 dev $1; }
cfg $E0 192.0.2.$H/24; cfg $E1 198.51.100.$O/28; cfg $E2 198.51.100.$((16 + O))/28
cfg $E3 198.51.100.$((32 + O))/28; cfg $E4 198.51.100.$((48 + O))/28; cfg $E5 198.51.100.$((64 + O))/28
fact configured $(ip addr show dev $E0 | grep -c "inet 192.0.2.$H/24")
# ping-wait ADDR SECS: true once ADDR answers (the other VM may still be booting)
ping_wait() { _e=$(( $(date +%s) + $2 )); while [ $(date +%s) -lt $_e ]; do ping -c 1 -W 1 $1 > /dev/null 2>&1 && return 0; done; return 1; }
quiet_ping() { ping -c 3 -W 1 "$@" > /dev/null 2>&1; }
if [ $ROLE = B ]; then
    fact ready
    sleep 900   # the host turns B off when A is done
    exit 0
fi
ping_wait 192.0.2.1 30 && fact ping-host ok || fact ping-host fail
ip addr show dev $E0 | grep inet
fact host-done   # the host starts B now
# private switch: the peer, never the host (even when routed through it)
ping_wait 198.51.100.2 120 && fact private-peer ok || fact private-peer fail
ip route add 192.0.2.1/32 dev $E1
quiet_ping 192.0.2.1 && fact private-host reached || fact private-host unreached
ip route del 192.0.2.1/32 dev $E1
# VLANs: same VLAN first (the peer is up once these answer), then the other VLAN
for p in 34 66; do ping_wait 198.51.100.$p 60 && fact vlan-same-$p ok || fact vlan-same-$p fail; done
for p in 18 50; do quiet_ping 198.51.100.$p && fact vlan-other-$p reached || fact vlan-other-$p unreached; done
# MAC spoofing: a protected port (E3) and a spoofing=allow one (E1)
newmac() {
    ip link set $1 down
    _o=$(ip link set $1 address $2 2>&1) || echo "MAC change on $1: $_o"
    ip link set $1 up && ip neigh flush dev $1 && [ "$(cat /sys/class/net/$1/address)" = $2 ]
}
quiet_ping 198.51.100.34 && fact spoof-before ok || fact spoof-before fail
newmac $E3 02:00:00:00:0a:99 && fact spoof-changed ok || fact spoof-changed fail
quiet_ping 198.51.100.34 && fact spoof-deny reached || fact spoof-deny unreached
newmac $E1 02:00:00:00:0a:98 && quiet_ping 198.51.100.2 && fact spoof-allow reached || fact spoof-allow unreached
# link from the host: down, then up
fact link-ready $(cat /sys/class/net/$E0/carrier)
wait_carrier() { _e=$(( $(date +%s) + 90 )); while [ $(date +%s) -lt $_e ]; do [ "$(cat /sys/class/net/$E0/carrier)" = $1 ] && return 0; usleep 100000; done; return 1; }
wait_carrier 0 && fact carrier-down ok || fact carrier-down fail
wait_carrier 1 && fact carrier-up ok || fact carrier-up fail
ping_wait 192.0.2.1 30 && fact ping-after-link ok || fact ping-after-link fail
G

cat > "$TEST_TMP/batch.sh" <<'BATCH'
. /lab/inlab.sh
modprobe tun && modprobe bridge || fail network/modules "cannot load tun and bridge"
export VIRIDIAN_STATE_DIR=/tmp/state
for s in "in1 internal" "pv1 private" "vl1 private" "vl2 private"; do
    set -- $s
    viridian switch create $1 --type $2 || fail network/switch-$1 "viridian switch create $1 failed"
done
echo 0 > /sys/class/net/vs-vl2/bridge/vlan_filtering
ip addr add 192.0.2.1/24 dev in1
ip link set in1 up

viridian run --kernel "$GUEST_KERNEL" --nic switch=nosuch > /tmp/miss 2>&1
rc=$?
[ $rc = 2 ] && grep -q "nosuch" /tmp/miss && pass network/unknown-switch-refused \
    || fail network/unknown-switch-refused "exit $rc: $(cat /tmp/miss)"

# without CAP_NET_ADMIN (root of a user namespace of its own): refused with a reason
unshare -U -r viridian run --kernel "$GUEST_KERNEL" --nic switch=in1 > /tmp/perm 2>&1
rc=$?
[ $rc = 2 ] && grep -q "CAP_NET_ADMIN" /tmp/perm && [ "$(wc -l < /tmp/perm)" = 1 ] \
    && pass network/no-cap-net-admin-refused || fail network/no-cap-net-admin-refused "exit $rc: $(cat /tmp/perm)"

nics() {
    echo "--nic switch=in1 --nic switch=pv1,mac=02:00:00:00:0$1:01$2"
    echo "--nic switch=vl1,mac=02:00:00:00:0$1:02,vlan=$3 --nic switch=vl1,mac=02:00:00:00:0$1:03,vlan=30"
    echo "--nic switch=vl2,mac=02:00:00:00:0$1:04,vlan=$3 --nic switch=vl2,mac=02:00:00:00:0$1:05,vlan=30"
}
(echo ROLE=A; cat /lab/guest.sh) > /tmp/ga.sh
(echo ROLE=B; cat /lab/guest.sh) > /tmp/gb.sh
t0=$(date +%s)
# shellcheck disable=SC2046
guest_run viridian /tmp/ca 900 /tmp/ga.sh --memory 256M --cpus 1 --name vma $(nics a ,spoofing=allow 10) &
pa=$!
# A's findings as they come (progress on the lab's output)
status_a=$(wait_line /tmp/ca "FACT mac0" 240 && viridian vm status vma)
(tail -n +1 -f /tmp/ca 2>/dev/null | while read -r l; do case $l in FACT*) echo "network: A $l ($(( $(date +%s) - t0 )) s)" ;; esac; done) &
# B joins once A has reached the host (two guests booting at once are slow to boot)
if ! wait_line /tmp/ca "FACT host-done" 120 $pa; then
    echo "network: A did not reach the host"
    vm_stalled vma /tmp/ca
    a_gone=1
fi
# shellcheck disable=SC2046
guest_run viridian /tmp/cb 900 /tmp/gb.sh --memory 256M --cpus 1 --name vmb $(nics b "" 20) &
pb=$!
echo "network: B started ($(( $(date +%s) - t0 )) s)"
# the host flips NIC 0's link when the guest is ready for it
if [ -z "${a_gone:-}" ] && wait_line /tmp/ca "FACT link-ready" 600 $pa; then
    viridian vm nic-link vma 0 down || fail network/nic-link-command "nic-link down refused"
    status_down=$(viridian vm status vma)
    wait_line /tmp/ca "FACT carrier-down" 100
    sleep 1
    viridian vm nic-link vma 0 up || fail network/nic-link-command "nic-link up refused"
fi
spoofed=$(viridian vm status vma | sed -n 's/^nics\.3: .*"tx_spoofed": *\([0-9]*\).*/\1/p')
wait $pa
rc_a=$?
wait_line /tmp/cb "FACT ready" 5
viridian vm turn-off vmb > /dev/null
wait $pb
rc_b=$?
echo "lab: both VMs done after $(( $(date +%s) - t0 )) s"

[ $rc_a = 0 ] && [ "$(guest_status /tmp/ca)" = 0 ] && pass network/vm-a-ran \
    || fail network/vm-a-ran "exit $rc_a; console: $(tail -n 15 /tmp/ca | tr '\n' '|')"
[ $rc_b = 7 ] && guest_has /tmp/cb "FACT ready" && pass network/vm-b-ran \
    || fail network/vm-b-ran "exit $rc_b; console: $(tail -n 15 /tmp/cb | tr '\n' '|')"
mac0=$(echo "$status_a" | sed -n 's/^nics\.0: .*"mac": *"\([0-9a-f:]*\)".*/\1/p')
if [ "$(fact nics /tmp/ca)" = 6 ] && [ "$(fact nics /tmp/cb)" = 6 ] && [ -n "$mac0" ] &&
   [ "$(fact mac0 /tmp/ca)" = "$mac0" ] && [ "${mac0#00:15:5d:}" != "$mac0" ] &&
   [ "$(fact mac0 /tmp/cb)" != "$mac0" ] && [ "$(fact ifaces /tmp/ca | wc -w)" = 6 ]; then
    pass network/six-nics-with-their-macs
else
    fail network/six-nics-with-their-macs "A: $(fact nics /tmp/ca) NICs, mac0 $(fact mac0 /tmp/ca) (status: ${mac0:-?}), ifaces [$(fact ifaces /tmp/ca)]; B: $(fact nics /tmp/cb) NICs, mac0 $(fact mac0 /tmp/cb)"
fi
[ "$(fact configured /tmp/ca)" = 1 ] && [ "$(fact ping-host /tmp/ca)" = ok ] && pass network/address-and-ping-host \
    || fail network/address-and-ping-host "configured $(fact configured /tmp/ca), ping $(fact ping-host /tmp/ca)"
[ "$(fact private-peer /tmp/ca)" = ok ] && [ "$(fact private-host /tmp/ca)" = unreached ] \
    && pass network/private-peer-not-host \
    || fail network/private-peer-not-host "peer $(fact private-peer /tmp/ca), host $(fact private-host /tmp/ca)"
for v in "bridge 34 18" "netvsp 66 50"; do
    set -- $v
    [ "$(fact vlan-same-$2 /tmp/ca)" = ok ] && [ "$(fact vlan-other-$3 /tmp/ca)" = unreached ] \
        && pass network/vlan-isolation-by-$1 \
        || fail network/vlan-isolation-by-$1 "same VLAN $(fact vlan-same-$2 /tmp/ca), other VLAN $(fact vlan-other-$3 /tmp/ca)"
done
[ "$(fact spoof-before /tmp/ca)" = ok ] && [ "$(fact spoof-changed /tmp/ca)" = ok ] &&
    [ "$(fact spoof-deny /tmp/ca)" = unreached ] && [ "${spoofed:-0}" -gt 0 ] \
    && pass network/mac-spoofing-blocked \
    || fail network/mac-spoofing-blocked "before $(fact spoof-before /tmp/ca), MAC change $(fact spoof-changed /tmp/ca), after $(fact spoof-deny /tmp/ca), port counted ${spoofed:-?} spoofed"
[ "$(fact spoof-allow /tmp/ca)" = reached ] && pass network/mac-spoofing-allowed \
    || fail network/mac-spoofing-allowed "$(fact spoof-allow /tmp/ca)"
echo "$status_down" | grep -q '^nics\.0: .*"link": *"down"' && [ "$(fact link-ready /tmp/ca)" = 1 ] &&
    [ "$(fact carrier-down /tmp/ca)" = ok ] && [ "$(fact carrier-up /tmp/ca)" = ok ] &&
    [ "$(fact ping-after-link /tmp/ca)" = ok ] && pass network/link-down-up-from-host \
    || fail network/link-down-up-from-host "carrier before $(fact link-ready /tmp/ca), down $(fact carrier-down /tmp/ca), up $(fact carrier-up /tmp/ca), ping after $(fact ping-after-link /tmp/ca)"
left=$(ip link | grep -c "vtap")
[ "$left" = 0 ] && pass network/taps-removed-at-exit || fail network/taps-removed-at-exit "$left TAP devices left"
grep -E "netvsc|BUG|Oops|WARN|MAC change" /tmp/ca | head -n 20
BATCH

lab_batch network/lab "$TEST_TMP/batch.sh" --timeout 1200 --add "$TEST_TMP/guest.sh:/lab/guest.sh"
