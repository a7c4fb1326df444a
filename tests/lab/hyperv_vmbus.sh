#!/usr/bin/env bash
# The Hyper-V interface, VMBus and the integration services against the stock guest,
# with no guest changes, in one lab boot:
#   guest log shows Hyper-V and the VMBus version; /sys/bus/vmbus/devices lists the
#   offered devices; hv_utils binds; the heartbeat is seen by the host (and advances);
#   time sync puts a wrong guest clock within 1 s of the host's; KVP returns the guest's
#   host name and IP and delivers a host key; VMBus interrupts arrive on the second vCPU
#   once a channel is moved there; `viridian vm shutdown` powers the guest off within
#   10 s; a guest reboot reconnects VMBus and the services.
# Cost: one lab boot and two guest boots, about 2 minutes under TCG.
source "$(dirname "$0")/lib.sh"
new_tmpdir

cat > "$TEST_TMP/batch.sh" <<'BATCH'
. /lab/inlab.sh
st() { viridian vm status "$1" 2>/dev/null | sed -n "s/^$2: //p"; }

# --- VM 1: everything but the reboot -------------------------------------------------
cat > /tmp/g1.sh <<'G'
hb=57164f39-9115-4e78-ab55-382f3bd5422d
modprobe dummy && ip addr add 192.0.2.10/24 dev dummy0 && ip link set dummy0 up
hostname kvp-test-host
echo "127.0.1.1 kvp-test-host" >> /etc/hosts   # as a distribution sets it up
dmesg | grep -q "Hypervisor detected: Microsoft Hyper-V" && echo "FACT hyperv-detected yes"
echo "FACT vmbus-version $(dmesg | sed -n 's/.*Vmbus version:\([0-9.]*\).*/\1/p' | tail -n 1)"
for d in /sys/bus/vmbus/devices/*; do echo "FACT vmbus-class $(cat $d/class_id)"; done
echo "FACT hv_utils-bound $(ls /sys/bus/vmbus/drivers/hv_utils | grep -c -- -)"
# time sync: make the clock wrong, then let hv_utils reconnect; the host's SYNC fixes it
date -s @1000000000 > /dev/null
killall hv_kvp_daemon 2>/dev/null
rmmod hv_utils && modprobe hv_utils
# (the reload, the re-offer and the negotiation take a few seconds under emulation, more
# on a busy machine: up to 30 s for the host's SYNC)
for i in $(seq 300); do [ "$(date +%Y)" != 2001 ] && break; usleep 100000; done
echo "FACT clock $(date +%s)"
for i in $(seq 50); do [ -c /dev/vmbus/hv_kvp ] && break; usleep 100000; done
hv_kvp_daemon
# VMBus interrupts on CPU 1: move the heartbeat channel there, count callbacks on CPU 1
hbdev=$(dirname "$(grep -l "$hb" /sys/bus/vmbus/devices/*/class_id | head -n 1)")
for c in "$hbdev"/channels/*/cpu; do echo 1 > "$c"; done
c1() { awk '/HYP:/ {print $3}' /proc/interrupts; }
before=$(c1); sleep 4; after=$(c1)
echo "FACT hyp-cpu1 $before $after"
echo "FACT ready yes"
for i in $(seq 100); do
    grep -aq greeting /var/lib/hyperv/.kvp_pool_0 2>/dev/null && { echo "FACT kvp-set-seen yes"; break; }
    sleep 1
done
sleep 300
G
guest_run viridian /tmp/c1 400 /tmp/g1.sh --name ic1 --cpus 2 &
vm1=$!
if wait_line /tmp/c1 "FACT clock" 150; then
    host_clock=$(date +%s)
    g=$(fact clock /tmp/c1)
    d=$((host_clock - g)); [ $d -lt 0 ] && d=$((-d))
    [ "$d" -le 1 ] && pass ic/timesync-clock || fail ic/timesync-clock "guest $g host $host_clock"
else
    fail ic/timesync-clock "no clock line; console: $(tail -n 5 /tmp/c1 | tr '\n' '|')"
fi
if ! wait_line /tmp/c1 "FACT ready" 90; then
    fail ic/guest-ready "the guest script did not finish; console: $(tail -n 8 /tmp/c1 | tr '\n' '|')"
fi
[ "$(fact hyperv-detected /tmp/c1)" = yes ] && pass hv/guest-detects-hyper-v || fail hv/guest-detects-hyper-v "no 'Hypervisor detected: Microsoft Hyper-V'"
[ "$(fact vmbus-version /tmp/c1)" = 5.3 ] && pass vmbus/version-negotiated || fail vmbus/version-negotiated "guest says '$(fact vmbus-version /tmp/c1)'"
classes=$(sed -n 's/^FACT vmbus-class //p' /tmp/c1 | tr -d '\r{}' | sort | tr '\n' ' ')
ok=1
for c in 0e0b6031-5213-4934-818b-38d90ced39db 9527e630-d0ae-497b-adce-e80ab0175caf \
         57164f39-9115-4e78-ab55-382f3bd5422d a9a0f4e7-5a45-4d96-b827-8a841e8c03e6; do
    case " $classes " in *" $c "*) ;; *) ok=0 ;; esac
done
[ $ok = 1 ] && pass vmbus/devices-listed || fail vmbus/devices-listed "guest lists: $classes"
n=$(fact hv_utils-bound /tmp/c1)
[ "${n:-0}" -ge 4 ] && pass ic/hv_utils-binds || fail ic/hv_utils-binds "hv_utils bound to $n devices"
set -- $(fact hyp-cpu1 /tmp/c1)
[ -n "$2" ] && [ "$2" -gt "$1" ] && pass vmbus/interrupts-on-cpu1 || fail vmbus/interrupts-on-cpu1 "CPU1 HYP count $1 -> $2"

seq1=$(st ic1 heartbeat.sequence); alive=$(st ic1 heartbeat.alive); sleep 3; seq2=$(st ic1 heartbeat.sequence)
[ "$alive" = true ] && [ "${seq2:-0}" -gt "${seq1:-0}" ] && pass ic/heartbeat-seen \
    || fail ic/heartbeat-seen "alive=$alive sequence $seq1 -> $seq2"
for i in $(seq 30); do [ "$(st ic1 integration_services.kvp)" = ready ] && break; sleep 1; done
viridian vm kvp ic1 > /tmp/kvp 2>&1
grep -qx "FullyQualifiedDomainName=kvp-test-host" /tmp/kvp && pass ic/kvp-host-name \
    || fail ic/kvp-host-name "$(tr '\n' '|' < /tmp/kvp)"
grep -q "^NetworkAddressIPv4=.*192\.0\.2\.10" /tmp/kvp && pass ic/kvp-ip-address \
    || fail ic/kvp-ip-address "$(tr '\n' '|' < /tmp/kvp)"
viridian vm kvp-set ic1 greeting hello-from-host > /tmp/kvpset 2>&1
wait_line /tmp/c1 "FACT kvp-set-seen" 30 && pass ic/kvp-set-reaches-guest \
    || fail ic/kvp-set-reaches-guest "$(cat /tmp/kvpset)"

t0=$(date +%s)
viridian vm shutdown ic1 --wait 10 > /tmp/sd 2>&1
sd=$?
wait $vm1; rc=$?
t=$(( $(date +%s) - t0 ))
if [ $sd = 0 ] && [ $rc = 0 ] && [ $t -le 10 ] && grep -q "integration service" /tmp/sd; then
    pass ic/shutdown-within-10s
else
    fail ic/shutdown-within-10s "vm shutdown $sd ($(cat /tmp/sd)), run exit $rc, after $t s"
fi

# --- VM 2: a guest reboot reconnects VMBus and the services ---------------------------
echo 'sleep 300' > /tmp/g2.sh
guest_run viridian /tmp/c2 400 /tmp/g2.sh --name ic2 --cpus 1 &
vm2=$!
for i in $(seq 120); do [ "$(st ic2 heartbeat.alive)" = true ] && break; sleep 1; done
viridian vm shutdown ic2 --reboot > /tmp/rb 2>&1 || fail ic/reboot-request "$(cat /tmp/rb)"
for i in $(seq 150); do
    [ "$(st ic2 boots)" = 2 ] && [ "$(st ic2 heartbeat.alive)" = true ] && break
    sleep 1
done
if [ "$(st ic2 boots)" = 2 ] && [ "$(st ic2 vmbus.connected)" = true ] && [ "$(st ic2 heartbeat.alive)" = true ]; then
    pass vmbus/reboot-reconnects
else
    fail vmbus/reboot-reconnects "boots $(st ic2 boots), vmbus $(st ic2 vmbus.connected), heartbeat $(st ic2 heartbeat.alive)"
fi
viridian vm shutdown ic2 --wait 20 > /dev/null 2>&1 || viridian vm turn-off ic2 > /dev/null 2>&1
wait $vm2
BATCH

lab_batch hyperv/lab "$TEST_TMP/batch.sh" --timeout 900
