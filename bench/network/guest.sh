# Guest half of bench/network (busybox sh in the default guest; the same script under
# both VMMs). The NIC is eth0 either way (hv_netvsc or virtio_net); the lab host is
# 192.0.2.1 with an iperf3 server. Each phase is announced on the console
# ("PHASE NAME start" ... "PHASE NAME end", a second of quiet on either side) so that
# the lab side can read the exit counters around it. Results: "RESULT NAME VALUE UNIT".
SECS=${SECS:-10}
PINGS=${PINGS:-300}
modprobe virtio_pci 2>/dev/null
modprobe virtio_net 2>/dev/null
for i in $(seq 100); do [ -e /sys/class/net/eth0 ] && break; usleep 100000; done
ip addr add 192.0.2.2/24 dev eth0 && ip link set eth0 up || exit 1
ok=0
for i in $(seq 60); do
    if ping -c 1 -W 1 192.0.2.1 > /dev/null 2>&1; then ok=1; break; fi
done
[ $ok = 1 ] || { echo "BENCH: the host 192.0.2.1 does not answer"; ip addr; exit 1; }
echo "BENCH: host reachable"

phase() { echo "PHASE $1 $2"; sleep 1; }

# iperf3's receiver-side bitrate in Kbit/s and the bytes it moved (rate x seconds)
iperf_result() {
    awk -v n="$1" '/receiver/ {
        for (i = 1; i <= NF; i++) if ($i == "Kbits/sec") rate = $(i - 1)
        for (i = 1; i <= NF; i++) if ($i == "sec") { split($(i - 1), t, "-"); secs = t[2] - t[1] }
    } END { if (rate != "") { print "RESULT " n " " rate " Kbit/s"; printf "RESULT %s-bytes %d bytes\n", n, rate * 125 * secs } }' "$2"
}

# the sender's side, for the guest-to-host phases: its retransmissions and its mean
# congestion window (over every interval line of every stream), which tell a lossy or
# a slow-to-acknowledge path from a sender that is simply slow
iperf_sender() {
    awk -v n="$1" '
        $NF == "sender" && (r == "" || /SUM/) { r = $(NF - 1) }
        $NF ~ /Bytes$/ && !/sender|receiver/ { c = $(NF - 1); if ($NF == "MBytes") c *= 1024; sum += c; k++ }
        END { if (r != "") print "RESULT " n "-retr " r " retransmissions"
              if (k) printf "RESULT %s-cwnd %d KBytes\n", n, sum / k }' "$2"
}

phase g2h start
timeout $((SECS + 30)) iperf3 -c 192.0.2.1 -t "$SECS" -f k > /tmp/g2h 2>&1
phase g2h end
iperf_result g2h /tmp/g2h
iperf_sender g2h /tmp/g2h
grep -q receiver /tmp/g2h || tail -n 5 /tmp/g2h

phase h2g start
timeout $((SECS + 30)) iperf3 -c 192.0.2.1 -t "$SECS" -f k -R > /tmp/h2g 2>&1
phase h2g end
iperf_result h2g /tmp/h2g
grep -q receiver /tmp/h2g || tail -n 5 /tmp/h2g

# four streams at once (iperf3 -P 4): what several queues are for
phase g2h-p4 start
timeout $((SECS + 30)) iperf3 -c 192.0.2.1 -t "$SECS" -f k -P 4 > /tmp/g2hp 2>&1
phase g2h-p4 end
iperf_result g2h-p4 /tmp/g2hp
iperf_sender g2h-p4 /tmp/g2hp
grep -q receiver /tmp/g2hp || tail -n 5 /tmp/g2hp

phase h2g-p4 start
timeout $((SECS + 30)) iperf3 -c 192.0.2.1 -t "$SECS" -f k -P 4 -R > /tmp/h2gp 2>&1
phase h2g-p4 end
iperf_result h2g-p4 /tmp/h2gp
grep -q receiver /tmp/h2gp || tail -n 5 /tmp/h2gp

# request/response: ICMP echo, the next request as soon as the reply is in (-A)
phase rr start
timeout 120 ping -A -q -c "$PINGS" 192.0.2.1 > /tmp/rr 2>&1
phase rr end
sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p' /tmp/rr | awk -v n="$PINGS" \
    '{ printf "RESULT rr %d us\nRESULT rr-packets %d packets\n", $1 * 1000, 2 * n }'
grep -q "min/avg" /tmp/rr || tail -n 3 /tmp/rr
