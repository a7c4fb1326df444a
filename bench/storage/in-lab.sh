# Inside-the-lab half of bench/storage/run (busybox sh): the same guest script under
# viridian (storvsc -> storvsp) and QEMU (virtio-blk), both on a 256 MiB raw image in the
# lab's /work, RUNS times alternating; prints every result and the medians.
. /lab/inlab.sh
RUNS=${RUNS:-1}
IMG=/work/bench.img
dd if=/dev/zero of=$IMG bs=1M count=256 2>/dev/null
cp /bench/guest.sh /tmp/guest.sh

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

i=1
while [ $i -le $RUNS ]; do
    for vmm in qemu viridian; do
        case $vmm in
            viridian) guest_run viridian /tmp/out 1200 /tmp/guest.sh --disk $IMG ;;
            qemu) guest_run qemu /tmp/out 1200 /tmp/guest.sh -drive file=$IMG,format=raw,if=virtio ;;
        esac
        rc=$?
        grep -q "^RESULT " /tmp/out || { echo "$vmm failed (exit $rc): $(tail -n 5 /tmp/out | tr '\n' '|')"; exit 1; }
        tr -d '\r' < /tmp/out | sed -n "s/^RESULT /$vmm /p" | tee -a /tmp/results
    done
    i=$((i + 1))
done
for p in seqwrite seqread randwrite randread; do
    q=$(awk -v p=$p '$1 == "qemu" && $2 == p {print $3}' /tmp/results | tr '\n' ' ' | median)
    v=$(awk -v p=$p '$1 == "viridian" && $2 == p {print $3}' /tmp/results | tr '\n' ' ' | median)
    echo "median $p qemu $q viridian $v bytes/s"
    echo "ratio $p $(awk -v q="$q" -v v="$v" 'BEGIN { if (q > 0) printf "%.2f", v / q; else print "nan" }')"
done
