# Inside-the-lab half of bench/storage/run (busybox sh): the same guest script under
# viridian (storvsc -> storvsp) and QEMU (virtio-blk), both on a 256 MiB raw image in the
# lab's /work, RUNS times alternating; prints every result and the medians.
. /lab/inlab.sh
RUNS=${RUNS:-1}
IMG=/work/bench.img
dd if=/dev/zero of=$IMG bs=1M count=256 2>/dev/null
cp /bench/guest.sh /tmp/guest.sh

# Runs the guest under VMM (qemu or viridian) in the background and takes the counters
# at each BEGIN/END line: viridian's exits to user space as "PATTERN EXITS IOS" lines in
# /tmp/exits, and with PROFILE=1 a profile line per pattern (inlab.sh's profile_diff).
vmm_run() {
    _vmm=$1
    : > /tmp/out
    case $_vmm in
        viridian) guest_run viridian /tmp/out 1200 /tmp/guest.sh --name bench --disk $IMG & ;;
        qemu) guest_run qemu /tmp/out 1200 /tmp/guest.sh -name bench,debug-threads=on \
                  -drive file=$IMG,format=raw,if=virtio & ;;
    esac
    _pid=$!
    for _p in "seqwrite 64" "seqread 64" "randwrite 1000" "randread 1000" "randwrite 4000 32" "randread 4000 32"; do
        set -- $_p
        _name=$1
        [ -n "${3:-}" ] && _name=$1-qd$3
        _b=$(awk -v p=$1 -v n=$2 -v q="${3:-}" 'BEGIN { printf "BEGIN %s %s %s", p, (p ~ /^seq/ ? 1048576 : 4096), n; if (q != "") printf " %s", q }')
        _e=$(echo "$_b" | sed 's/^BEGIN/END/')
        wait_line /tmp/out "$_b" 600 || break
        _e0=$(vmm_exit_total bench)
        [ "${PROFILE:-0}" = 1 ] && profile_snapshot $_vmm bench /tmp/prof0
        wait_line /tmp/out "$_e" 600 || break
        _e1=$(vmm_exit_total bench)
        if [ "${PROFILE:-0}" = 1 ]; then
            profile_snapshot $_vmm bench /tmp/prof1
            profile_diff /tmp/prof0 /tmp/prof1 "$_vmm $_name"
        fi
        [ $_vmm = viridian ] && echo "$_name $((_e1 - _e0)) $2" >> /tmp/exits
    done
    wait $_pid
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

i=1
while [ $i -le $RUNS ]; do
    for vmm in qemu viridian; do
        vmm_run $vmm
        rc=$?
        # a run that died (the lab faults of README "The lab" hit QEMU too) is left out
        grep -q "RESULT " /tmp/out || { echo "$vmm failed (exit $rc), left out: $(tail -n 5 /tmp/out | tr '\n' '|')"; continue; }
        tr -d "\r" < /tmp/out | grep -o "RESULT .*" | sed "s/^RESULT /$vmm /" | tee -a /tmp/results
    done
    i=$((i + 1))
done
for p in seqwrite seqread randwrite randread randwrite-qd32 randread-qd32; do
    q=$(awk -v p=$p '$1 == "qemu" && $2 == p {print $3}' /tmp/results | tr '\n' ' ' | median)
    v=$(awk -v p=$p '$1 == "viridian" && $2 == p {print $3}' /tmp/results | tr '\n' ' ' | median)
    echo "median $p qemu $q viridian $v bytes/s"
    echo "ratio $p $(awk -v q="$q" -v v="$v" 'BEGIN { if (q > 0) printf "%.2f", v / q; else print "nan" }')"
    awk -v p=$p '$1 == p { e += $2; n += $3 } END { if (n) printf "exits %s %.2f per I/O (viridian, %d exits / %d I/Os)\n", p, e / n, e, n }' /tmp/exits 2>/dev/null
done
