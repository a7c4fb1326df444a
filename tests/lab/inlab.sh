# Helpers for batch scripts that run INSIDE the lab (busybox sh). lab_batch (lib.sh)
# puts this file at /lab/inlab.sh; a batch script starts with `. /lab/inlab.sh`.
# shellcheck shell=sh
#
#   pass NAME | fail NAME WHY | skip NAME WHY      one result line each
#   check NAME CMD...                              PASS when CMD exits 0
#   guest_run VMM OUT SECS SCRIPT [VMM-ARG]...     boots the default guest under VMM
#       (viridian or qemu), the guest running the sh script file SCRIPT; the console goes
#       to file OUT; returns the VMM's exit status (124 if killed after SECS seconds)
#   guest_has OUT TEXT                             true when OUT has a line containing TEXT
#   wait_line FILE TEXT SECS                       waits until FILE has such a line
#   fact NAME OUT                                  the guest's last "FACT NAME value"
#   guest_status OUT                               prints the guest script's exit status
#   vmm_exit_kinds VM / vmm_exit_total VM          viridian VM's exits to user space so
#       far: a "KIND COUNT" line each / their sum (0 when VM does not answer)
#   kvm_eoi_irq_counts                             "EOIS IRQS": guest EOI writes that
#       exited to KVM (x2APIC EOI and Hyper-V EOI MSRs) and interrupts KVM injected, in
#       all VMs since the first call
#   vmm_end_check NAME OUT RC WANT                 PASS when the VMM ended with status
#       WANT; else a FAIL with its status and the console's last lines (why it is gone)
#
# The guest prints these lines (tools/guest-files/init):
#   VIRIDIAN-GUEST: init reached
#   VIRIDIAN-GUEST: module NAME loaded | VIRIDIAN-GUEST: module NAME failed: WHY
#   VIRIDIAN-GUEST: script exit status N
#   VIRIDIAN-GUEST: powering off

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: ${2:-}"; }
skip() { echo "SKIP $1: ${2:-}"; }
check() {
    _name=$1; shift
    if _out=$("$@" 2>&1); then pass "$_name"; else fail "$_name" "$(echo "$_out" | tail -n 3 | tr '\n' ' ')"; fi
}

GUEST_KERNEL=/guest/vmlinuz
GUEST_INITRD=/guest/initrd.img
GUEST_CMDLINE=$(cat /guest/cmdline 2>/dev/null)
GUEST_MEMORY=512M
GUEST_CPUS=2

# guest_initrd SCRIPT OUT: the default initrd plus a cpio holding SCRIPT as
# /etc/viridian/script.sh (the kernel unpacks concatenated archives in order).
guest_initrd() {
    _d=$(mktemp -d)
    mkdir -p "$_d/etc/viridian"
    cp "$1" "$_d/etc/viridian/script.sh"
    cat "$GUEST_INITRD" > "$2"
    (cd "$_d" && find etc | cpio -o -H newc 2>/dev/null) >> "$2"
    rm -rf "$_d"
}

guest_run() {
    _vmm=$1 _out=$2 _secs=$3 _script=$4; shift 4
    _initrd=$(mktemp /tmp/initrd-XXXXXX)
    guest_initrd "$_script" "$_initrd"
    case $_vmm in
        viridian)
            "${VIRIDIAN:-viridian}" run --kernel "$GUEST_KERNEL" --initrd "$_initrd" \
                --cmdline "$GUEST_CMDLINE" --memory "$GUEST_MEMORY" --cpus "$GUEST_CPUS" "$@" \
                > "$_out" 2>&1 < /dev/null &
            vmm_watch $! "$_secs" "$_out" ;;
        qemu)
            timeout "$_secs" qemu-system-x86_64 -accel kvm -cpu host -m "$GUEST_MEMORY" -smp "$GUEST_CPUS" \
                -kernel "$GUEST_KERNEL" -initrd "$_initrd" -append "$GUEST_CMDLINE" \
                -nodefaults -display none -monitor none -serial stdio -no-reboot "$@" \
                > "$_out" 2>&1 < /dev/null ;;
        *) echo "guest_run: unknown VMM $_vmm" > "$_out"; rm -f "$_initrd"; return 2 ;;
    esac
    _rc=$?
    # busybox timeout reports a kill as 128+SIGTERM; make it the usual 124.
    [ $_rc = 143 ] && _rc=124
    rm -f "$_initrd"
    return $_rc
}

# vmm_watch PID SECS OUT: waits up to SECS seconds for the VMM PID and returns its
# status. A guest still running then timed out: where the VMM's threads are (a vCPU
# halted in KVM_RUN, or a thread waiting in user space) and the lab kernel's last
# messages are printed, then it gets SIGTERM and the status is 124. A VMM still there 20 s
# after the SIGTERM is a FAIL: its threads again, the console's end, and it is killed.
vmm_watch() {
    pid_wait "$1" "$2" && { wait "$1"; return; }
    echo "guest timed out after $2 s ($3); the VMM's threads:"
    vmm_threads "$1"
    echo "the lab kernel's last messages:"; dmesg | tail -n 5 | sed 's/^/  /'
    kill -TERM "$1"
    if ! pid_wait "$1" 20; then
        echo "stuck VMM pid $1, threads:"
        vmm_threads "$1"
        kill -9 "$1"
        echo "console end:"; tail -n 15 "$3" | sed 's/^/  /'
        fail vmm-stops-on-sigterm "the VMM ($3) was still running 20 s after its SIGTERM"
    fi
    wait "$1"
    return 124
}

# pid_wait PID SECS: true once process PID has ended, false if it is still there after SECS
pid_wait() {
    _n=0
    while kill -0 "$1" 2>/dev/null; do
        [ $_n -ge $(( $2 * 5 )) ] && return 1
        usleep 200000; _n=$((_n + 1))
    done
}

# vmm_threads PID: each thread of a VMM with its state, the system call it sits in and
# its kernel stack (where a hung VMM waits)
vmm_threads() {
    for _t in /proc/"$1"/task/*; do
        echo "  $(cat "$_t"/comm) state=$(cut -d' ' -f3 "$_t"/stat) syscall=$(cut -d' ' -f1 "$_t"/syscall)"
        sed 's/^/    /' "$_t"/stack 2>/dev/null | head -n 8
    done
}

# vm_stalled NAME CONSOLE: a VM that stopped making progress: its status, every VMM's
# threads and its console's end are printed, then it is turned off
vm_stalled() {
    echo "VM $1's status:"; viridian vm status "$1" 2>&1 | sed 's/^/  /'
    for _p in $(pidof viridian); do echo "VMM pid $_p:"; vmm_threads "$_p"; done
    echo "$1's console end:"; tail -n 20 "$2" | sed 's/^/  /'
    viridian vm turn-off "$1" > /dev/null 2>&1
}

# qemu_tap_on_switch TAP BRIDGE: waits (up to 30 s) for the TAP QEMU creates itself
# (-netdev tap,ifname=TAP) and puts it, up, on the switch's bridge; false if it cannot
qemu_tap_on_switch() {
    _n=0
    while [ ! -e /sys/class/net/"$1" ] && [ $_n -lt 300 ]; do usleep 100000; _n=$((_n + 1)); done
    brctl addif "$2" "$1" && ip link set "$1" up
}

# wait_line FILE TEXT SECS [PID]: true once FILE has a line containing TEXT; false after
# SECS seconds, or as soon as process PID (the guest's VMM, whose console FILE is) ends
# without it
wait_line() {
    for _i in $(seq $(( $3 * 5 ))); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && { grep -qF -- "$2" "$1" 2>/dev/null; return; }
        usleep 200000
    done
    return 1
}
# fact NAME FILE: the value of the guest's last "FACT NAME value" line (serial lines end
# in CR)
fact() { sed -n "s/^FACT $1 //p" "$2" | tr -d '\r' | tail -n 1; }
guest_has() { grep -qF -- "$2" "$1"; }

vmm_end_check() {
    if [ "$3" = "$4" ]; then pass "$1"; else
        fail "$1" "the VMM ended with status $3, not $4; console end: $(tail -n 25 "$2" | tr -d '\r' | tr '\n' '|')"
    fi
}

guest_status() { sed -n 's/.*VIRIDIAN-GUEST: script exit status \([0-9]*\).*/\1/p' "$1" | tail -n 1; }

# Benchmark profiles (bench/*/in-lab.sh, PROFILE=1): profile_snapshot VMM VM-NAME FILE
# records the KVM counters (debugfs), the VMM's CPU ticks per thread (by thread name),
# the lab's idle ticks, for viridian its exits to user space by kind, and KVM's exits by
# SVM exit code (svm-XX), MSR accesses by index (msr-rd/wr-INDEX) and emulated guest
# instructions by address (emul-RIP) and interrupts injected by vector (irq-VECTOR),
# counted by tracefs histogram triggers that the first snapshot installs;
# profile_diff BEFORE AFTER LABEL prints the ones that moved.
vmm_exit_kinds() { viridian vm status "$1" 2>/dev/null | sed -n 's/^exits\.\([a-z_]*\): \([0-9]*\)$/\1 \2/p'; }
vmm_exit_total() { vmm_exit_kinds "$1" | awk '{ s += $2 } END { print s + 0 }'; }
kvm_eoi_irq_counts() {
    kvm_trace_counts | awk '$1 == "msr-wr-80b" || $1 == "msr-wr-40000070" { e += $2 }
        $1 ~ /^irq-/ { i += $2 } END { print e + 0, i + 0 }'
}
profile_snapshot() {
    [ -d /sys/kernel/debug/kvm ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
    {
        for _f in /sys/kernel/debug/kvm/*; do [ -f "$_f" ] && echo "${_f##*/} $(cat "$_f" 2>/dev/null)"; done
        case $1 in
            qemu) _p=$(pidof qemu-system-x86_64) ;;
            *) _p=$(pidof viridian)
               vmm_exit_kinds "$2" | sed 's/^/vmm-/' ;;
        esac
        for _t in /proc/"${_p%% *}"/task/*; do
            echo "$(tr ' ' _ < $_t/comm) $(cut -d')' -f2 $_t/stat | awk '{ print $12 + $13 }')"
        done | awk '{ s[$1] += $2 } END { for (k in s) print k, s[k] }'
        echo "lab-idle $(awk '/^cpu / { print $5 }' /proc/stat)"
        kvm_trace_counts
    } > "$3" 2>/dev/null
}
kvm_trace_counts() {
    _ev=/sys/kernel/tracing/events/kvm
    [ -d $_ev ] || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
    for _h in "kvm_exit exit_reason.hex" "kvm_msr ecx.hex,write" "kvm_emulate_insn rip.hex" "kvm_inj_virq vector.hex"; do
        set -- $_h
        grep -q '^hist' $_ev/$1/trigger 2>/dev/null || echo "hist:keys=$2:size=1024" > $_ev/$1/trigger
    done
    sed -n 's/^{ exit_reason: *\([0-9a-f]*\) *} hitcount: *\([0-9]*\).*/svm-\1 \2/p' $_ev/kvm_exit/hist
    sed -n 's/^{ ecx: *\([0-9a-f]*\), write: *\([01]\) *} hitcount: *\([0-9]*\).*/msr-\2-\1 \3/p' $_ev/kvm_msr/hist |
        sed 's/^msr-0-/msr-rd-/; s/^msr-1-/msr-wr-/'
    sed -n 's/^{ rip: *\([0-9a-f]*\) *} hitcount: *\([0-9]*\).*/emul-\1 \2/p' $_ev/kvm_emulate_insn/hist
    sed -n 's/^{ vector: *\([0-9a-f]*\) *} hitcount: *\([0-9]*\).*/irq-\1 \2/p' $_ev/kvm_inj_virq/hist
}
profile_diff() {
    awk -v l="$3" 'NR == FNR { a[$1] = $2; next } { d = $2 - a[$1]; if (d > 0) out = out " " $1 "=" d }
        END { print "profile " l ":" out }' "$1" "$2"
}
