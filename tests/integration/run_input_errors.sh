#!/usr/bin/env bash
# viridian run on bad input: one clear line on stderr, nothing on stdout, the documented
# non-zero status, no crash. Input is checked before the host, so these run anywhere.
# Also the host check: on a host whose KVM cannot run ring-0 code (no vmx/svm in
# /proc/cpuinfo, e.g. this project's kvm_pvm machines) viridian must say so in one line.
# NIC settings and an unknown switch too. Cost: a few seconds.
source "$(dirname "$0")/../lib.sh"
new_tmpdir

"$VIRIDIAN_ROOT/tools/guest" build >/dev/null 2>&1 || { fail run-input/setup "tools/guest build failed"; exit 0; }
kernel=$VIRIDIAN_ROOT/build/guest/vmlinuz
: > "$TEST_TMP/empty"
head -c 200000 "$kernel" > "$TEST_TMP/truncated"
head -c 1000000 /dev/urandom > "$TEST_TMP/random"
truncate -s 200M "$TEST_TMP/big-initrd"

# expect NAME STATUS TEXT -- ARGS...: status, exactly one stderr line containing TEXT.
expect() {
    local name=$1 want=$2 text=$3; shift 4
    local rc=0
    "$VIRIDIAN" "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" </dev/null || rc=$?
    local lines
    lines=$(wc -l < "$TEST_TMP/err")
    if [[ $rc != "$want" ]]; then
        fail "$name" "exit status $rc, wanted $want; stderr: $(head -c 300 "$TEST_TMP/err")"
    elif [[ $lines != 1 ]] || ! grep -q "^viridian: .*$text" "$TEST_TMP/err"; then
        fail "$name" "wanted one line with '$text', got $lines: $(head -c 300 "$TEST_TMP/err")"
    elif [[ -s $TEST_TMP/out ]]; then
        fail "$name" "printed to stdout: $(head -c 100 "$TEST_TMP/out")"
    else
        pass "$name"
    fi
}

expect run-input/missing-kernel 2 "no-such-file.*No such file" -- run --kernel "$TEST_TMP/no-such-file"
expect run-input/no-kernel-option 2 "no kernel given" -- run --memory 1G
expect run-input/empty-kernel 2 "empty" -- run --kernel "$TEST_TMP/empty"
expect run-input/truncated-bzimage 2 "truncated" -- run --kernel "$TEST_TMP/truncated"
expect run-input/random-file 2 "not a Linux kernel" -- run --kernel "$TEST_TMP/random"
expect run-input/directory 2 "not a regular file" -- run --kernel "$TEST_TMP"
expect run-input/initrd-too-big 2 "does not fit" -- run --kernel "$kernel" --initrd "$TEST_TMP/big-initrd" --memory 128M
expect run-input/missing-initrd 2 "initrd" -- run --kernel "$kernel" --initrd "$TEST_TMP/nope"
expect run-input/memory-zero 2 "out of range" -- run --kernel "$kernel" --memory 0
expect run-input/memory-absurd 2 "out of range" -- run --kernel "$kernel" --memory 99999T
expect run-input/memory-junk 2 "not a size" -- run --kernel "$kernel" --memory lots
expect run-input/memory-too-small-for-kernel 2 "larger --memory" -- run --kernel "$kernel" --memory 16M
expect run-input/cpus-zero 2 "from 1 to" -- run --kernel "$kernel" --cpus 0
expect run-input/cpus-absurd 2 "from 1 to" -- run --kernel "$kernel" --cpus 100000
expect run-input/unknown-option 2 "unknown option" -- run --kernel "$kernel" --turbo
expect run-input/bad-console 2 "console" -- run --kernel "$kernel" --console tcp:80
truncate -s 1M "$TEST_TMP/disk.img"
expect run-input/missing-disk 2 "--disk .*nope.img: .*No such file" -- run --kernel "$kernel" --disk "$TEST_TMP/nope.img"
expect run-input/missing-dvd 2 "--dvd .*nope.iso" -- run --kernel "$kernel" --dvd "$TEST_TMP/nope.iso"
expect run-input/disk-bad-lun 2 "lun must be 0 to 63" -- run --kernel "$kernel" --disk "$TEST_TMP/disk.img,lun=64"
expect run-input/disk-bad-controller 2 "controller must be 0 to 3" -- run --kernel "$kernel" --disk "$TEST_TMP/disk.img,controller=9"
expect run-input/disk-lun-taken 2 "already taken" -- run --kernel "$kernel" --disk "$TEST_TMP/disk.img" --disk "$TEST_TMP/disk.img,lun=0"
expect cli/unknown-command 2 "unknown command" -- frobnicate

if grep -qwE 'vmx|svm' /proc/cpuinfo; then
    skip host-check/pvm "this host has hardware virtualization; the software-KVM message is checked only where KVM is software-backed"
    check host-check/hardware "$VIRIDIAN" host-check
else
    expect host-check/pvm 3 "cannot run an unmodified guest kernel.*INT3.*VT-x or AMD-V.*tools/lab" -- host-check
    expect run-input/pvm-host 3 "cannot run an unmodified guest kernel" -- run --kernel "$kernel" --memory 256M
fi

# NICs: bad settings, and a switch nobody created (checked before the host, like files)
expect run-input/nic-bad-mac 2 "not a unicast MAC" -- run --kernel "$kernel" --nic switch=s,mac=01:02:03:04:05:06
expect run-input/nic-bad-vlan 2 "VLAN ID from 1 to 4094" -- run --kernel "$kernel" --nic switch=s,vlan=5000
expect run-input/nic-no-switch 2 "needs switch=NAME" -- run --kernel "$kernel" --nic vlan=5
VIRIDIAN_STATE_DIR=$TEST_TMP/state expect run-input/nic-unknown-switch 2 "switch=nosuch: no switch named 'nosuch'" \
    -- run --kernel "$kernel" --nic switch=nosuch
