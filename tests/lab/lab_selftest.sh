#!/usr/bin/env bash
# Checks the nested lab itself (tools/lab, tools/guest, tests/lab/inlab.sh) in one full
# lab boot with QEMU inside, plus two cheap runs for the timeout and failure statuses.
# Cost: about 25 s (one lab boot + one nested guest boot under QEMU, and a 4 s timeout).
source "$(dirname "$0")/lib.sh"
new_tmpdir

token=$RANDOM-$RANDOM-$$
echo "$token" > "$TEST_TMP/token"
cat > "$TEST_TMP/inside.sh" <<'EOF'
. /lab/inlab.sh
echo "out: streamed line"
echo "out: stderr line" >&2
echo "out: token $(cat /work/token)"
echo "out: viridian ${VIRIDIAN:-none} $([ -x "${VIRIDIAN:-/nonexistent}" ] && echo executable)"
grep -qw svm /proc/cpuinfo && echo "out: cpu has svm"
grep -q '^kvm_amd ' /proc/modules && echo "out: kvm_amd loaded"
# /dev/kvm usable: a stock guest kernel boots under QEMU -accel kvm to the guest's init.
cat > /tmp/guest.sh <<'GUEST'
echo "guest script ran"
mkfs.ext4 -q -F /tmp/fs.img 4096 && echo "guest mkfs.ext4 ok"
exit 3
GUEST
# The script goes in base64 on the kernel command line (the later -append wins), which
# must take precedence over the initrd's /etc/viridian/script.sh.
echo 'echo "wrong script"' > /tmp/decoy.sh
guest_run qemu /tmp/console 120 /tmp/decoy.sh -append "$GUEST_CMDLINE viridian.script=$(base64 -w 0 /tmp/guest.sh)"
echo "out: qemu exit $?"
guest_has /tmp/console "VIRIDIAN-GUEST: init reached" && echo "out: guest init reached"
guest_has /tmp/console "guest script ran" && ! guest_has /tmp/console "wrong script" && echo "out: guest script ran"
guest_has /tmp/console "guest mkfs.ext4 ok" && echo "out: guest mkfs ok"
echo "out: guest status $(guest_status /tmp/console)"
grep -q "VIRIDIAN-GUEST: module hv_vmbus \(loaded\|failed\)" /tmp/console && echo "out: hv_vmbus reported"
guest_has /tmp/console "VIRIDIAN-GUEST: powering off" && echo "out: guest powered off"
cp /tmp/console /tmp/export/console
echo exported > /tmp/export/file
exit 42
EOF
# shellcheck disable=SC2016
out=$("$VIRIDIAN_ROOT/tools/lab" run --with-qemu --timeout 300 \
        --add "$TEST_TMP/token" --add "$VIRIDIAN_ROOT/tests/lab/inlab.sh:/lab/inlab.sh" \
        --add "$TEST_TMP/inside.sh:/lab/inside.sh" --export "/tmp/export:$TEST_TMP/export" \
        -- sh -c 'mkdir -p /tmp/export && sh /lab/inside.sh' 2>"$TEST_TMP/err")
rc=$?
has() { grep -qxF -- "$1" <<<"$out"; }
why() { printf 'output was: %s / stderr: %s' "$(tail -n 5 <<<"$out" | tr '\n' '|')" \
        "$(tail -n 3 "$TEST_TMP/err" | tr '\n' '|')"; }

if [[ $rc == 42 ]]; then pass lab/exit-status; else fail lab/exit-status "wanted 42, got $rc; $(why)"; fi
if has "out: streamed line"; then pass lab/stdout; else fail lab/stdout "$(why)"; fi
if has "out: stderr line"; then pass lab/stderr-merged; else fail lab/stderr-merged "$(why)"; fi
if has "out: token $token"; then pass lab/add; else fail lab/add "$(why)"; fi
if ! grep -q 'VIRIDIAN-LAB' <<<"$out"; then pass lab/no-marker-leak; else fail lab/no-marker-leak "status line shown"; fi
if [[ -x $VIRIDIAN_ROOT/build/viridian ]]; then
    if has "out: viridian /usr/bin/viridian executable"; then pass lab/viridian-inside
    else fail lab/viridian-inside "$(why)"; fi
else
    skip lab/viridian-inside "build/viridian not built"
fi
if has "out: cpu has svm" && has "out: kvm_amd loaded"; then pass lab/svm-kvm
else fail lab/svm-kvm "$(why)"; fi
if has "out: qemu exit 0" && has "out: guest init reached"; then pass lab/nested-guest-boots
else fail lab/nested-guest-boots "$(why)"; fi
if has "out: guest script ran" && has "out: guest status 3"; then pass guest/script-and-status
else fail guest/script-and-status "$(why)"; fi
if has "out: hv_vmbus reported" && has "out: guest powered off"; then pass guest/modules-and-poweroff
else fail guest/modules-and-poweroff "$(why)"; fi
if has "out: guest mkfs ok"; then pass guest/mkfs-ext4; else fail guest/mkfs-ext4 "$(why)"; fi
if [[ $(cat "$TEST_TMP/export/file" 2>/dev/null) == exported ]] \
   && grep -q "VIRIDIAN-GUEST: init reached" "$TEST_TMP/export/console"; then pass lab/export
else fail lab/export "exported files missing or wrong"; fi

# Timeout: the lab cannot even boot in 3 s, so this must come back as 124.
"$VIRIDIAN_ROOT/tools/lab" run --timeout 3 -- sleep 60 >/dev/null 2>&1
rc=$?
if [[ $rc == 124 ]]; then pass lab/timeout-status; else fail lab/timeout-status "wanted 124, got $rc"; fi

# Infrastructure failure: a kernel that does not exist must give 125, not a hang.
VIRIDIAN_KERNEL_RELEASE=0.0.0-0-nonexistent VIRIDIAN_CACHE=$TEST_TMP/cache \
    "$VIRIDIAN_ROOT/tools/lab" run -- true >/dev/null 2>&1
rc=$?
if [[ $rc == 125 ]]; then pass lab/infra-failure-status; else fail lab/infra-failure-status "wanted 125, got $rc"; fi

# A lab host whose kernel stops: the console heartbeat goes silent (here its loop is
# stopped, as a stuck kernel would stop it) and tools/lab must end the run with 126
# well before --timeout, instead of waiting the whole timeout out.
start=$SECONDS
LAB_DEAD_AFTER=20 "$VIRIDIAN_ROOT/tools/lab" run --timeout 300 -- \
    sh -c 'kill -STOP $(cat /run/lab-heartbeat.pid) && sleep 200' \
    >"$TEST_TMP/dead.out" 2>&1
rc=$?
took=$((SECONDS - start))
if [[ $rc == 126 ]] && ((took < 150)) && grep -q "lab host died" "$TEST_TMP/dead.out"; then
    pass lab/dead-host-status
else
    fail lab/dead-host-status "wanted 126 within 150 s, got $rc after ${took}s: $(tail -n 3 "$TEST_TMP/dead.out")"
fi

# A lab kernel that panics ends the run with 126 too (a lab that died, not a set-up failure).
"$VIRIDIAN_ROOT/tools/lab" run --timeout 300 -- sh -c 'echo c > /proc/sysrq-trigger; sleep 100' >/dev/null 2>&1
rc=$?
if [[ $rc == 126 ]]; then pass lab/panic-status; else fail lab/panic-status "wanted 126, got $rc"; fi
