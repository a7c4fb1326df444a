# Inside-the-lab half of bench/boot (busybox sh); see bench/boot for what it measures.
RUNS=${RUNS:-5}
MEM_MB=512
CPUS=2
KERNEL=/guest/vmlinuz
INITRD=/guest/initrd.img
CMDLINE=$(cat /guest/cmdline)
MARKER="VIRIDIAN-GUEST: init reached"
LIMIT=180   # seconds one boot may take before it counts as failed

now_ms() { read -r _up _idle < /proc/uptime; echo $(( ${_up%.*} * 1000 + 1${_up#*.} * 10 - 1000 )); }

# Resident memory of PID in kB: "total guest" where guest = the mappings at least half the
# guest's RAM in size (the guest RAM), total = VmRSS.
rss_of() {
    awk -v thr=$((MEM_MB * 1024 / 2)) '
        /^Size:/ { size = $2 }
        /^Rss:/  { if (size >= thr) guest += $2 }
        END { printf "%d ", guest }' "/proc/$1/smaps" 2>/dev/null
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# boot_once VMM: prints "MS TOTAL_KB GUEST_KB" or "fail WHY".
boot_once() {
    fifo=/tmp/bench.fifo
    rm -f $fifo; mkfifo $fifo
    t0=$(now_ms)
    case $1 in
        qemu) qemu-system-x86_64 -accel kvm -cpu host -m ${MEM_MB}M -smp $CPUS \
                  -kernel $KERNEL -initrd $INITRD -append "$CMDLINE" \
                  -nodefaults -display none -monitor none -serial stdio -no-reboot \
                  < /dev/null > $fifo 2>&1 & ;;
        viridian) "$VIRIDIAN" run --kernel $KERNEL --initrd $INITRD --cmdline "$CMDLINE" \
                  --memory ${MEM_MB}M --cpus $CPUS < /dev/null > $fifo 2>&1 & ;;
    esac
    pid=$!
    # Ends by itself within a second of the VMM; its fds must not hold the fifo or the
    # caller's $(...) open.
    (i=0; while [ $i -lt $LIMIT ] && kill -0 $pid; do sleep 1; i=$((i + 1)); done; kill $pid) \
        < /dev/null > /dev/null 2>&1 &
    watchdog=$!
    result=
    : > /tmp/bench.log
    while IFS= read -r line; do
        echo "$line" >> /tmp/bench.log
        case $line in
            *"$MARKER"*)
                t1=$(now_ms)
                mem=$(rss_of $pid)
                result="$((t1 - t0)) ${mem#* } ${mem% *}"
                break ;;
        esac
    done < $fifo
    kill $pid 2>/dev/null
    wait $pid 2>/dev/null
    kill $watchdog 2>/dev/null
    wait $watchdog 2>/dev/null
    if [ -n "$result" ]; then echo "$result"
    else echo "fail $(tail -n 3 /tmp/bench.log | tr '\n' ' ')"; fi
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

q_ms= v_ms= q_over= v_over= v_fail=
[ -x "${VIRIDIAN:-}" ] || v_fail="build/viridian is not in the lab"
i=1
while [ $i -le $RUNS ]; do
    r=$(boot_once qemu)
    echo "run $i qemu: $r"
    case $r in fail*) echo "qemu failed to boot the guest; giving up"; exit 1 ;; esac
    set -- $r; q_ms="$q_ms $1"; q_over="$q_over $(($2 - $3))"
    if [ -z "$v_fail" ]; then
        r=$(boot_once viridian)
        echo "run $i viridian: $r"
        case $r in
            fail*) v_fail=${r#fail } ;;
            *) set -- $r; v_ms="$v_ms $1"; v_over="$v_over $(($2 - $3))" ;;
        esac
    fi
    i=$((i + 1))
done

qm=$(echo $q_ms | median)
echo "qemu boot-to-init ms:$q_ms median $qm"
echo "qemu memory overhead kB (VmRSS - guest RAM resident):$q_over median $(echo $q_over | median)"
if [ -n "$v_fail" ]; then
    echo "viridian: could not boot the guest to its init: $v_fail"
    echo "ratio boot n/a"
    exit 1
fi
vm=$(echo $v_ms | median)
echo "viridian boot-to-init ms:$v_ms median $vm"
echo "viridian memory overhead kB (VmRSS - guest RAM resident):$v_over median $(echo $v_over | median)"
awk -v q="$qm" -v v="$vm" 'BEGIN { printf "ratio boot %.3f\n", q / v }'
