#!/usr/bin/env bash
# Virtual switches (viridian switch) inside a private network namespace, so the host's
# real network is never touched: create/list/delete of each type, the persisted
# definitions, restore after the bridge vanished, clear errors for clashes and bad
# names, and a TAP port (net/tap.c, via build-asan/tap_probe) on an internal switch
# exchanging frames with the host side, and the netvsp data path through a TAP
# (build-asan/netvsp_tap_loop). Needs root; ~2 s.
source "$(dirname "$0")/../lib.sh"

if [[ $(id -u) -ne 0 ]]; then
    skip switch "needs root to create a network namespace and bridges (running as uid $(id -u))"
    exit 0
fi
PROBE=$VIRIDIAN_ROOT/build-asan/tap_probe
LOOP=$VIRIDIAN_ROOT/build-asan/netvsp_tap_loop
for b in "$VIRIDIAN" "$PROBE" "$LOOP"; do
    [[ -x $b ]] || { fail switch "$b is not built (make all asan)"; exit 0; }
done
command -v ip >/dev/null || { skip switch "iproute2 (ip) is missing"; exit 0; }

new_tmpdir
NS=viridian-sw-$$
if ! ip netns add "$NS" 2>"$TEST_TMP/err"; then
    skip switch "cannot create a network namespace: $(cat "$TEST_TMP/err")"
    exit 0
fi
trap 'ip netns del "$NS" 2>/dev/null; rm -rf "$TEST_TMP"' EXIT
export VIRIDIAN_STATE_DIR=$TEST_TMP/state
in_ns() { ip netns exec "$NS" "$@"; }
vsw() { in_ns "$VIRIDIAN" switch "$@"; }
has_link() { in_ns ip link show "$1" >/dev/null 2>&1; }
master_of() { in_ns ip -o link show "$1" | sed -n 's/.* master \([^ ]*\) .*/\1/p'; }
defs=$VIRIDIAN_STATE_DIR/switches

# expect_err NAME PATTERN CMD...: CMD fails (non-zero) and its message matches PATTERN
expect_err() {
    local name=$1 pat=$2; shift 2
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    if ((rc == 0)); then fail "$name" "succeeded"
    elif ! grep -qi -- "$pat" <<<"$out"; then fail "$name" "rc $rc, message: $out"
    else pass "$name"; fi
}

# --- internal ------------------------------------------------------------------------
check switch/internal-create vsw create in1 --type internal
if in_ns ip -d link show in1 2>/dev/null | grep -q ' bridge '; then
    pass switch/internal-host-interface
else
    fail switch/internal-host-interface "no bridge named in1 in the namespace"
fi
if [[ -f $defs/in1.json ]] && python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
sys.exit(0 if d=={"name":"in1","type":"internal"} else 1)' "$defs/in1.json"; then
    pass switch/internal-definition
else
    fail switch/internal-definition "$(cat "$defs/in1.json" 2>&1)"
fi

# a TAP port on the internal switch talks to the host side (ARP through the bridge)
in_ns ip link set lo up
in_ns ip addr add 192.0.2.1/24 dev in1
if out=$(in_ns "$PROBE" in1 192.0.2.1 2>&1) && grep -q "reply from" <<<"$out"; then
    pass switch/tap-port-exchanges-frames
else
    fail switch/tap-port-exchanges-frames "$out"
fi

# the synthetic NIC end to end: a fake netvsc's ARP request through netvsp, its TAP
# backend and the bridge to the host, and the reply back into its receive buffer
if out=$(in_ns "$LOOP" in1 192.0.2.1 2>&1) && grep -q "reply from" <<<"$out"; then
    pass switch/netvsp-through-tap
else
    fail switch/netvsp-through-tap "$out"
fi

# --- private -------------------------------------------------------------------------
check switch/private-create vsw create pv1 --type private
if has_link pv1; then fail switch/private-no-host-interface "an interface named pv1 exists"
elif ! has_link vs-pv1; then fail switch/private-no-host-interface "bridge vs-pv1 missing"
elif [[ -n $(in_ns ip -o addr show dev vs-pv1) ]]; then
    fail switch/private-no-host-interface "vs-pv1 has addresses: $(in_ns ip -o addr show dev vs-pv1)"
else pass switch/private-no-host-interface; fi

# --- external ------------------------------------------------------------------------
in_ns ip link add nic0 type veth peer name nic0p
check switch/external-create vsw create ex1 --type external --nic nic0
[[ $(master_of nic0) == vs-ex1 ]] && pass switch/external-nic-enslaved ||
    fail switch/external-nic-enslaved "nic0 master is '$(master_of nic0)'"
grep -q '"nic": *"nic0"' "$defs/ex1.json" 2>/dev/null && pass switch/external-definition ||
    fail switch/external-definition "$(cat "$defs/ex1.json" 2>&1)"

# --- list ----------------------------------------------------------------------------
out=$(vsw list 2>&1)
if grep -Eq '^ex1 +external +vs-ex1 +nic0 +present' <<<"$out" && grep -Eq '^in1 +internal' <<<"$out" &&
   grep -Eq '^pv1 +private +vs-pv1' <<<"$out"; then
    pass switch/list
else
    fail switch/list "$out"
fi
if vsw list --json | python3 -c '
import json,sys; l=json.load(sys.stdin)
want={"ex1":("external","vs-ex1","nic0"),"in1":("internal","in1",None),"pv1":("private","vs-pv1",None)}
got={d["name"]:(d["type"],d["bridge"],d["nic"]) for d in l}
sys.exit(0 if got==want and all(d["state"]=="present" for d in l) else 1)'; then
    pass switch/list-json
else
    fail switch/list-json "$(vsw list --json 2>&1 | tr '\n' ' ')"
fi

# --- errors --------------------------------------------------------------------------
expect_err switch/clash-same-name "already exists" vsw create in1 --type private
in_ns ip link add taken type veth peer name takenp
expect_err switch/clash-interface-name "already exists" vsw create taken --type internal
expect_err switch/name-too-long "too long" vsw create abcdefghijklm --type private
expect_err switch/name-bad-char "character" vsw create 'a/b' --type private
expect_err switch/unknown-nic "does not exist" vsw create ex2 --type external --nic nosuchnic
expect_err switch/nic-already-enslaved "already a port" vsw create ex3 --type external --nic nic0
expect_err switch/external-needs-nic "needs --nic" vsw create ex4 --type external
expect_err switch/unknown-type "unknown switch type" vsw create t1 --type bogus
expect_err switch/delete-unknown "no switch named" vsw delete nosuch
[[ ! -e $defs/taken.json && ! -e $defs/ex2.json && ! -e $defs/ex3.json ]] &&
    pass switch/failed-create-leaves-nothing || fail switch/failed-create-leaves-nothing "$(ls "$defs")"
has_link vs-ex2 && fail switch/failed-create-no-bridge "vs-ex2 left behind" || pass switch/failed-create-no-bridge
if command -v capsh >/dev/null; then
    expect_err switch/no-cap-net-admin "CAP_NET_ADMIN" in_ns capsh --drop=cap_net_admin -- -c \
        "VIRIDIAN_STATE_DIR=$VIRIDIAN_STATE_DIR $VIRIDIAN switch create nocap --type private"
else
    skip switch/no-cap-net-admin "capsh (libcap2-bin) is not installed"
fi

# --- restore after the bridges vanished (as after a reboot) --------------------------
in_ns ip link del in1
in_ns ip link del vs-ex1
grep -Eq '^in1 +internal.*missing' <<<"$(vsw list)" && pass switch/list-shows-missing ||
    fail switch/list-shows-missing "$(vsw list 2>&1)"
check switch/restore vsw restore
has_link in1 && [[ $(master_of nic0) == vs-ex1 ]] && pass switch/restore-recreates ||
    fail switch/restore-recreates "in1 or vs-ex1/nic0 not back"

# --- delete --------------------------------------------------------------------------
check switch/delete-internal vsw delete in1
check switch/delete-private vsw delete pv1
check switch/delete-external vsw delete ex1
if has_link in1 || has_link vs-pv1 || has_link vs-ex1; then
    fail switch/delete-removes-bridges "$(in_ns ip -br link)"
elif [[ -n $(master_of nic0) ]] || ! has_link nic0; then
    fail switch/delete-releases-nic "nic0: $(in_ns ip -o link show nic0 2>&1)"
else
    pass switch/delete-removes-bridges
fi
[[ -z $(ls "$defs") ]] && pass switch/delete-removes-definitions || fail switch/delete-removes-definitions "$(ls "$defs")"
