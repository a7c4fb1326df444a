#!/usr/bin/env bash
# An external switch and its VLANs on the wire, as on Hyper-V: the switch's host NIC is
# a trunk - a VM port in VLAN 10 reaches the outside network's VLAN 10, its frames
# tagged 10 on the NIC, and nothing untagged; an untagged VM port stays untagged.
# The "physical" NIC is one end of a veth pair (ext0); the other end (ext0p) is the
# outside network, in network namespaces of the test's own (busybox unshare):
#   namespace OUT:   ext0p, untagged, 02:00:00:00:0e:01, 198.51.100.97/28 and also
#                    198.51.100.113/28 - the VLAN-10 address, there to answer any frame
#                    of the VLAN-10 port that leaves untagged
#   namespace OUT10: ext0p.10 (VLAN 10 on ext0p), 02:00:00:00:0e:10, 198.51.100.113/28
# A second switch, vy, on a second pair (ext1/ext1p, outside: .129/28 untagged in OUT
# with MAC 02:00:00:00:0e:02, and on ext1p.10 in OUT10 with 02:00:00:00:0e:11) has its
# bridge's VLAN filtering off, so netvsp tags and untags (kernels without filtering).
# One VM (256M, 1 vCPU), three NICs:
#   NIC X  vx untagged    198.51.100.98/28    NIC Y  vx vlan=10    198.51.100.114/28
#   NIC W  vy vlan=10     198.51.100.130/28
# Checks: X reaches .97 and its ARP answer came from OUT's MAC; Y reaches .113 and the
# answer came from OUT10's MAC (its frames went out tagged 10: OUT, which holds the same
# address untagged, never answered); from outside, OUT10 reaches Y and OUT does not
# (the guest answers ARP only on the interface holding the address, arp_ignore=1); W
# likewise: .129 answered by OUT10's ext1p.10, and from outside only VLAN 10 reaches it.
# Cost: one lab boot, one guest boot; about a minute under TCG.
source "$(dirname "$0")/lib.sh"
new_tmpdir

cat > "$TEST_TMP/guest.sh" <<'G'
fact() { echo "FACT $*"; }
ifc() { for d in /sys/class/net/eth*; do [ "$(cat $d/address)" = "$1" ] && echo ${d##*/} && return; done; }
for i in $(seq 50); do [ -n "$(ifc 02:00:00:00:0c:03)" ] && break; usleep 100000; done
X=$(ifc 02:00:00:00:0c:01) Y=$(ifc 02:00:00:00:0c:02) W=$(ifc 02:00:00:00:0c:03)
echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore
ip link set lo up
ip link set $X up && ip addr add 198.51.100.98/28 dev $X
ip link set $Y up && ip addr add 198.51.100.114/28 dev $Y
ip link set $W up && ip addr add 198.51.100.130/28 dev $W
ping_wait() { _e=$(( $(date +%s) + 30 )); while [ $(date +%s) -lt $_e ]; do ping -c 1 -W 1 $1 > /dev/null 2>&1 && return 0; done; return 1; }
mac_of() { ip neigh show $1 dev $2 | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p'; }
ping_wait 198.51.100.97 && fact untagged ok $(mac_of 198.51.100.97 $X) || fact untagged unreached
ping_wait 198.51.100.113 && fact vlan10 ok $(mac_of 198.51.100.113 $Y) || fact vlan10 unreached
ping_wait 198.51.100.129 && fact netvsp-vlan10 ok $(mac_of 198.51.100.129 $W) || fact netvsp-vlan10 unreached
fact outbound-done
sleep 600 # the host turns the VM off once it has pinged in
G

cat > "$TEST_TMP/batch.sh" <<'BATCH'
. /lab/inlab.sh
modprobe tun && modprobe bridge && modprobe veth && modprobe 8021q \
    || fail network-external/modules "cannot load tun, bridge, veth and 8021q"
export VIRIDIAN_STATE_DIR=/tmp/state
# busybox ip names a veth's peer itself (veth0)
for e in ext0 ext1; do
    ip link add $e type veth && ip link set veth0 name ${e}p || fail network-external/veth "no veth pair $e"
done
unshare -n sleep 900 & out=$!
unshare -n sleep 900 & out10=$!
usleep 300000
in_out() { nsenter -t $out -n "$@"; }
in_out10() { nsenter -t $out10 -n "$@"; }
# outside NICP MAC VLAN-MAC ADDR [ADDR...]: the outer end NICP in OUT with MAC and every
# ADDR, untagged; its VLAN 10 in OUT10 with VLAN-MAC and the first ADDR
outside() {
    _p=$1 _mac=$2 _vmac=$3; shift 3
    ip link set $_p netns $out
    in_out ip link set $_p address $_mac
    in_out ip link set $_p up
    for _a in "$@"; do in_out ip addr add $_a dev $_p; done
    in_out ip link add link $_p name $_p.10 type vlan id 10
    in_out ip link set $_p.10 netns $out10
    in_out10 ip link set $_p.10 address $_vmac
    in_out10 ip link set $_p.10 up
    in_out10 ip addr add $1 dev $_p.10
}
outside ext0p 02:00:00:00:0e:01 02:00:00:00:0e:10 198.51.100.113/28 198.51.100.97/28
outside ext1p 02:00:00:00:0e:02 02:00:00:00:0e:11 198.51.100.129/28
in_out10 ip addr show dev ext0p.10 | grep -q "inet 198.51.100.113/28" &&
    in_out10 ip addr show dev ext1p.10 | grep -q "inet 198.51.100.129/28" \
    || fail network-external/outside "the outside network was not set up: $(in_out ip addr; in_out10 ip addr)"
viridian switch create vx --type external --nic ext0 || fail network-external/switch "switch create vx failed"
viridian switch create vy --type external --nic ext1 || fail network-external/switch "switch create vy failed"
echo 0 > /sys/class/net/vs-vy/bridge/vlan_filtering

guest_run viridian /tmp/c 300 /lab/guest.sh --memory 256M --cpus 1 --name vmx \
    --nic switch=vx,mac=02:00:00:00:0c:01 --nic switch=vx,mac=02:00:00:00:0c:02,vlan=10 \
    --nic switch=vy,mac=02:00:00:00:0c:03,vlan=10 &
pid=$!
if wait_line /tmp/c "FACT outbound-done" 240; then
    in_out10 ping -c 3 -W 2 198.51.100.114 > /dev/null 2>&1 && in10=reached || in10=unreached
    in_out ping -c 3 -W 2 198.51.100.114 > /dev/null 2>&1 && in0=reached || in0=unreached
    in_out10 ping -c 3 -W 2 198.51.100.130 > /dev/null 2>&1 && nv10=reached || nv10=unreached
    in_out ping -c 3 -W 2 198.51.100.130 > /dev/null 2>&1 && nv0=reached || nv0=unreached
fi
viridian vm turn-off vmx > /dev/null
wait $pid
set -- $(fact untagged /tmp/c) "" ""
[ "$1 $2" = "ok 02:00:00:00:0e:01" ] && pass network-external/untagged-port-reaches-the-outside \
    || fail network-external/untagged-port-reaches-the-outside "guest: ${1:-no answer} ${2:-}; console: $(tail -n 8 /tmp/c | tr '\n' '|')"
set -- $(fact vlan10 /tmp/c) "" ""
[ "$1 $2" = "ok 02:00:00:00:0e:10" ] && pass network-external/vlan-port-tagged-on-the-host-nic \
    || fail network-external/vlan-port-tagged-on-the-host-nic "guest: ${1:-no answer}, answered by ${2:-?} (want 02:00:00:00:0e:10, VLAN 10 outside; 02:00:00:00:0e:01 is the untagged side)"
[ "${in10:-}" = reached ] && [ "${in0:-}" = unreached ] && pass network-external/outside-reaches-vlan-port-only-tagged \
    || fail network-external/outside-reaches-vlan-port-only-tagged "from VLAN 10 ${in10:-not tried}, from untagged ${in0:-not tried} (want reached, unreached)"
set -- $(fact netvsp-vlan10 /tmp/c) "" ""
[ "$1 $2" = "ok 02:00:00:00:0e:11" ] && [ "${nv10:-}" = reached ] && [ "${nv0:-}" = unreached ] \
    && pass network-external/vlan-tagged-by-netvsp-without-bridge-filtering \
    || fail network-external/vlan-tagged-by-netvsp-without-bridge-filtering "guest: ${1:-no answer}, answered by ${2:-?} (want 02:00:00:00:0e:11); from VLAN 10 ${nv10:-not tried}, from untagged ${nv0:-not tried} (want reached, unreached)"
kill $out $out10
BATCH

lab_batch network-external/lab "$TEST_TMP/batch.sh" --timeout 600 --add "$TEST_TMP/guest.sh:/lab/guest.sh"
