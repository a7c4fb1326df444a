# Inside-the-lab half of bench/network/run (busybox sh). One internal switch "nbench"
# (a bridge; the lab host is 192.0.2.1 on it, with an iperf3 server); Viridian's NIC is
# its own TAP port on it (--nic switch=nbench), QEMU's virtio-net uses a TAP "qtap0"
# that QEMU opens, added to the same bridge once it exists (userspace virtio-net, no
# vhost: both VMMs move every frame through their own process). Both NICs have a queue
# pair per vCPU: Viridian's netvsp does by default (vRSS), QEMU is given a multi-queue
# TAP and virtio-net with mq=on (the guest's virtio_net then uses them all). The same guest script
# (bench/network/guest.sh) runs under each VMM, RUNS times alternating; around each of
# its phases this script reads the exit counters: KVM's own (debugfs, every exit of the
# lab's only VM) and, for Viridian, the exits that reached its user space.
. /lab/inlab.sh
RUNS=${RUNS:-1}
export VIRIDIAN_STATE_DIR=/tmp/viridian-state
modprobe tun 2>/dev/null
modprobe bridge 2>/dev/null
viridian switch create nbench --type internal > /dev/null || { echo "bench: cannot create the switch"; exit 1; }
ip addr add 192.0.2.1/24 dev nbench && ip link set nbench up || { echo "bench: no host address"; exit 1; }
# iperf3 serves one test at a time, and a guest that died mid-test (README, "The lab")
# leaves its test holding the server: every VMM run gets a fresh server.
iperf3_server() {
    [ -s /tmp/iperf3.pid ] && kill "$(cat /tmp/iperf3.pid)" 2>/dev/null && usleep 300000
    iperf3 -s -D -B 192.0.2.1 -I /tmp/iperf3.pid || { echo "bench: iperf3 server did not start"; exit 1; }
}
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
{ echo "SECS=${SECS:-10} PINGS=${PINGS:-300}"; cat /bench/guest.sh; } > /tmp/guest.sh

kvm_exits() { cat /sys/kernel/debug/kvm/exits 2>/dev/null || echo 0; }
# wait_line_pid FILE TEXT PID: until FILE has a line with TEXT; fails when PID has ended
wait_line_pid() {
    while ! grep -q "$2" "$1" 2>/dev/null; do
        kill -0 "$3" 2>/dev/null || return 1
        usleep 100000
    done
}

VMMS=${VMMS:-qemu viridian}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

run_one() {
    vmm=$1
    iperf3_server
    rm -f /tmp/out
    : > /tmp/out
    case $vmm in
        viridian*) # viridian-none / viridian-norsc: VIRIDIAN_NET_OFFLOADS for comparison;
                   # viridian-nodoorbell: VIRIDIAN_DOORBELLS=0
            ( off=${vmm#viridian}; off=${off#-}
              if [ "$off" = nodoorbell ]; then export VIRIDIAN_DOORBELLS=0; else export VIRIDIAN_NET_OFFLOADS=$off; fi
              guest_run viridian /tmp/out 600 /tmp/guest.sh --name nbench --nic switch=nbench ) & ;;
        qemu) q=${GUEST_CPUS:-2}
              guest_run qemu /tmp/out 600 /tmp/guest.sh -name nbench,debug-threads=on \
                  -netdev tap,id=n0,ifname=qtap0,script=no,downscript=no,queues=$q \
                  -device virtio-net-pci,netdev=n0,mq=on,vectors=$((2 * q + 2)),romfile= & ;;
    esac
    pid=$!
    if [ $vmm = qemu ]; then
        # QEMU made the (multi-queue) TAP: on the switch with it, before the guest pings
        qemu_tap_on_switch qtap0 nbench || echo "bench: cannot put QEMU's TAP on the switch"
    fi
    echo "bench: $vmm started"
    tailpid=
    if [ "${DEBUG:-0}" = 1 ]; then tail -f /tmp/out & tailpid=$!; fi
    for ph in g2h h2g g2h-p4 h2g-p4 rr; do
        wait_line_pid /tmp/out "PHASE $ph start" $pid || break
        k0=$(kvm_exits) v0=$(vmm_exit_total nbench)
        [ "${PROFILE:-0}" = 1 ] && profile_snapshot $vmm nbench /tmp/prof0
        wait_line_pid /tmp/out "PHASE $ph end" $pid || break
        k1=$(kvm_exits) v1=$(vmm_exit_total nbench)
        if [ "${PROFILE:-0}" = 1 ]; then
            profile_snapshot $vmm nbench /tmp/prof1
            profile_diff /tmp/prof0 /tmp/prof1 "$vmm $ph"
        fi
        [ $vmm != qemu ] && viridian vm status nbench --json 2>/dev/null | tr -d ' \n' |
            sed -n "s/.*\"nics\":{\"0\":{\\([^}]*\\)}.*/bench: viridian NIC after $ph: \\1\\n/p" | tr ',' ' '
        echo "bench: $vmm $ph done"
        echo "$vmm exits-$ph $((k1 - k0)) $((v1 - v0))" >> /tmp/results
    done
    wait $pid
    rc=$?
    [ -n "$tailpid" ] && kill $tailpid
    # a run that died (the lab faults of README "The lab" hit QEMU too) is left out
    grep -q "^RESULT rr " /tmp/out || { echo "$vmm failed (exit $rc), left out:"; tail -n 8 /tmp/out; return 1; }
    tr -d '\r' < /tmp/out | sed -n "s/^RESULT /$vmm /p" | tee -a /tmp/results
}

i=1
while [ $i -le $RUNS ]; do
    for vmm in $VMMS; do run_one $vmm; done
    i=$((i + 1))
done

# med VMM NAME [FIELD]: median of a result over the runs
med() { awk -v v="$1" -v n="$2" -v f="${3:-3}" '$1 == v && $2 == n { print $f }' /tmp/results | tr '\n' ' ' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "nan" }'; }
for vmm in $VMMS; do
    case $vmm in viridian*) ;; *) continue ;; esac
    sfx=${vmm#viridian}
    # the sender's retransmissions and mean congestion window (guest.sh) with the rates
    for n in g2h h2g g2h-p4 h2g-p4 rr g2h-retr g2h-cwnd g2h-p4-retr g2h-p4-cwnd; do
        q=$(med qemu $n) v=$(med $vmm $n)
        unit=$(awk -v n=$n '$2 == n { print $4; exit }' /tmp/results)
        [ $n = rr ] && unit="us average round trip (ping -A)"
        echo "median $n$sfx qemu $q $vmm $v $unit"
    done
    echo "ratio g2h$sfx $(ratio "$(med $vmm g2h)" "$(med qemu g2h)")"
    echo "ratio h2g$sfx $(ratio "$(med $vmm h2g)" "$(med qemu h2g)")"
    echo "ratio g2h-p4$sfx $(ratio "$(med $vmm g2h-p4)" "$(med qemu g2h-p4)")"
    echo "ratio h2g-p4$sfx $(ratio "$(med $vmm h2g-p4)" "$(med qemu h2g-p4)")"
    echo "ratio rr$sfx $(ratio "$(med qemu rr)" "$(med $vmm rr)")"
done
# exits per packet: packets = bytes moved / 1448 (full-size TCP segments) for the
# streams, 2 per ping for rr
for n in g2h h2g g2h-p4 h2g-p4 rr; do
    for vmm in $VMMS; do
        k=$(med $vmm exits-$n 3) u=$(med $vmm exits-$n 4)
        if [ $n = rr ]; then p=$(med $vmm rr-packets); else p=$(med $vmm $n-bytes | awk '{ printf "%d", $1 / 1448 }'); fi
        awk -v vmm=$vmm -v n=$n -v k="$k" -v u="$u" -v p="$p" 'BEGIN {
            if (p <= 0) { printf "exits-per-packet %s %s: no packets\n", n, vmm; exit }
            printf "exits-per-packet %s %s kvm %.3f", n, vmm, k / p
            if (vmm != "qemu") printf " vmm %.3f", u / p
            printf " (%d packets)\n", p }'
    done
done
