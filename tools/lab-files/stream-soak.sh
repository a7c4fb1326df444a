# A diagnostic, not a test: one stock guest (1 vCPU) on an internal switch sends MIB
# MiB (default 100) to the lab host over TCP, as fast as it can; every 10 s the bytes
# received and the NIC's counters are printed, and at the end the guest's console.
# It reproduces the lab's nested-guest crash of issue 6 (see README, "The lab"):
# within 10-30 s of a sustained stream the guest triple-faults (viridian exit 5) or
# the lab's own kernel dies. Run:
#   tools/lab run --add tests/lab/inlab.sh:/lab/inlab.sh \
#       --add tools/lab-files/stream-soak.sh:/lab/soak.sh -- env MIB=100 sh /lab/soak.sh
. /lab/inlab.sh
MIB=${MIB:-100}
export VIRIDIAN_STATE_DIR=/tmp/state
modprobe tun && modprobe bridge || exit 1
viridian switch create soak --type internal > /dev/null || exit 1
ip addr add 192.0.2.1/24 dev soak && ip link set soak up || exit 1
# busybox nc ends the connection when its stdin ends: hold it open
mkfifo /tmp/hold
(nc -l -p 5001 0<>/tmp/hold > /tmp/recv) &
cat > /tmp/g.sh <<G
ip link set lo up
for d in /sys/class/net/eth*; do E=\${d##*/}; done
ip link set \$E up && ip addr add 192.0.2.10/24 dev \$E
for i in \$(seq 30); do ping -c 1 -W 1 192.0.2.1 > /dev/null 2>&1 && break; done
dd if=/dev/urandom of=/tmp/seed bs=1048576 count=1 2>/dev/null
t0=\$(date +%s)
i=0; while [ \$i -lt $MIB ]; do cat /tmp/seed; i=\$((i + 1)); done | timeout 900 nc 192.0.2.1 5001
echo "SOAK sent in \$(( \$(date +%s) - t0 )) s"
G
(guest_run viridian /tmp/console 1000 /tmp/g.sh --memory 256M --cpus 1 --name soak --nic switch=soak
 echo "SOAK viridian exit $?" >> /tmp/console) &
t=0
while ! grep -q "^SOAK" /tmp/console 2>/dev/null && [ $t -lt 1000 ]; do
    sleep 10; t=$((t + 10))
    echo "soak: ${t} s: host received $(stat -c %s /tmp/recv) bytes;" \
        "$(viridian vm status soak 2>/dev/null | sed -n 's/^nics\.0: //p' | tr -d ' "{}')"
done
sleep 2
echo "soak: guest console end:"; tail -n 15 /tmp/console | sed 's/^/  /'
