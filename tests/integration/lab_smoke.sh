#!/usr/bin/env bash
# lab_smoke.sh [BUILD_DIR] -- proves that lib.sh runs real servers that do
# what the other integration tests rely on: a BIND primary notifying a Knot
# secondary, a Knot primary, unbound with stub zones, TSIG-signed updates
# accepted with the right key and refused with a wrong one, pause, resume,
# restart, stop, and start functions that fail loudly. Address block 1.
# shellcheck disable=SC2317 # the helpers below are called through lab_check
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
lab_init lab_smoke 1
lab_need kdig keymgr nsupdate

P=$LAB_PORT
BIND=$LAB_NET.1    # named, primary of example.test
KNOT2=$LAB_NET.2   # knotd, secondary of example.test
KNOT1=$LAB_NET.3   # knotd, primary of knot.test
UNBOUND=$LAB_NET.4 # unbound, stubs for both zones

# Records shaped like the ones dcvd publishes.
OWNER=_0123456789abcdef0123456789abcdef.example.test
TARGET=00112233445566778899aabbccddeeff.ffeeddccbbaa99887766554433221100.sectigo.com
KOWNER=_fedcba9876543210fedcba9876543210.www.knot.test
KTARGET=aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb.ccccccccccccccccdddddddddddddddd.sectigo.com

lab_key dcv hmac-sha256
lab_key other hmac-sha256 # its secret serves as a wrong secret for "dcv"
WRONG=$LAB_SECRET_OTHER
lab_zone_file example.test ns1="$BIND" ns2="$KNOT2"
lab_zone_file knot.test ns1="$KNOT1"

lab_bind_primary "$BIND" "$P" dcv example.test --notify "$KNOT2@$P" --name bind
lab_knot_secondary "$KNOT2" "$P" "$BIND@$P" example.test --name knot2
lab_knot_primary "$KNOT1" "$P" dcv knot.test --name knot1
lab_unbound "$UNBOUND" "$P" example.test="$BIND@$P,$KNOT2@$P" knot.test="$KNOT1@$P" --name unbound

# --- the servers are up ------------------------------------------------------
lab_check "bind serves example.test" lab_wait "$BIND" "$P" example.test 5
lab_check "knot secondary serves example.test" lab_wait "$KNOT2" "$P" example.test 5
lab_check "knot primary serves knot.test" lab_wait "$KNOT1" "$P" knot.test 5
lab_check "unbound resolves knot.test SOA through its stub" \
	lab_until 5 lab_resolves "$UNBOUND" "$P" knot.test SOA
lab_check "the NS glue of example.test is on the lab addresses" \
	lab_serves "$BIND" "$P" ns2.example.test A "$KNOT2"

# The Knot key file has exactly the shape of `keymgr -t` (secret aside).
same_shape_as_keymgr() {
	cmp -s <(keymgr -t dcv hmac-sha256 | sed 's/[A-Za-z0-9+/=]*=$/SECRET/; s/:[^:]*$/:SECRET/') \
		<(sed 's/[A-Za-z0-9+/=]*=$/SECRET/; s/:[^:]*$/:SECRET/' "$LAB/keys/dcv.knot.yaml")
}
lab_check "keys/dcv.knot.yaml has the format of keymgr -t" same_shape_as_keymgr
lab_check "keys/dcv.key and dcv.knot.yaml carry the same secret" \
	grep -qF "secret: $LAB_SECRET_DCV" "$LAB/keys/dcv.knot.yaml"

# --- an update to BIND reaches its secondary and unbound ---------------------
lab_check "bind says NXDOMAIN before the update" \
	test "$(lab_rcode "$BIND" "$P" "$OWNER" CNAME)" = NXDOMAIN
lab_check "nsupdate -k to bind accepted" \
	lab_nsupdate dcv "$BIND" "$P" <<<"update add $OWNER. 300 CNAME $TARGET."
lab_check "bind serves the CNAME at once" lab_serves "$BIND" "$P" "$OWNER" CNAME "$TARGET"
lab_check "knot secondary serves it within 2 s (notify)" \
	lab_until 2 lab_serves "$KNOT2" "$P" "$OWNER" CNAME "$TARGET"
kdig_says() { # ADDR OWNER TARGET [+rec]
	[[ $(kdig @"$1" -p "$P" "${4:-+norec}" +short +timeout=1 +retry=0 "$2" CNAME) == "$3." ]]
}
lab_check "kdig agrees with the knot secondary" kdig_says "$KNOT2" "$OWNER" "$TARGET"
lab_check "unbound returns it" lab_until 3 lab_resolves "$UNBOUND" "$P" "$OWNER" CNAME "$TARGET"
lab_check "bind and the knot secondary have the same serial" \
	test "$(lab_serial "$BIND" "$P" example.test)" = "$(lab_serial "$KNOT2" "$P" example.test)"

# --- negative caching: visible, and short (SOA minimum 3 s) -------------------
NEG=_negative.knot.test
lab_check "unbound says NXDOMAIN for a name not there yet" \
	test "$(lab_rcode --rec "$UNBOUND" "$P" "$NEG" CNAME)" = NXDOMAIN
_lab_now
neg_cached_at=$_LAB_NOW
lab_check "the name is added on the knot primary" \
	lab_nsupdate dcv "$KNOT1" "$P" <<<"update add $NEG. 300 CNAME $KTARGET."
lab_check "knot serves it at once" lab_serves "$KNOT1" "$P" "$NEG" CNAME "$KTARGET"
lab_check "unbound still says NXDOMAIN (cached)" \
	test "$(lab_rcode --rec "$UNBOUND" "$P" "$NEG" CNAME)" = NXDOMAIN

# --- an update to the Knot primary -------------------------------------------
lab_check "nsupdate -y to knot accepted" nsupdate -t 5 -y "hmac-sha256:dcv:$LAB_SECRET_DCV" \
	<<<"server $KNOT1 $P
update add $KOWNER. 300 CNAME $KTARGET.
send"
lab_check "knot primary serves the CNAME at once (kdig)" kdig_says "$KNOT1" "$KOWNER" "$KTARGET"
lab_check "unbound returns it" lab_until 3 lab_resolves "$UNBOUND" "$P" "$KOWNER" CNAME "$KTARGET"

# --- wrong keys are refused --------------------------------------------------
refused() { # ADDR NSUPDATE_KEY_OPTION... -- nsupdate must fail and change nothing
	local addr=$1 owner=_bad.$2
	shift 2
	if nsupdate -t 3 "$@" >/dev/null 2>&1 <<<"server $addr $P
update add $owner. 300 CNAME bad.sectigo.com.
send"; then
		return 1
	fi
	[[ $(lab_rcode "$addr" "$P" "$owner" CNAME) == NXDOMAIN ]]
}
lab_check "bind refuses a wrong secret" refused "$BIND" example.test -y "hmac-sha256:dcv:$WRONG"
lab_check "bind refuses an unknown key" refused "$BIND" example.test -k "$LAB/keys/other.key"
lab_check "bind refuses an unsigned update" refused "$BIND" example.test
lab_check "knot refuses a wrong secret" refused "$KNOT1" knot.test -y "hmac-sha256:dcv:$WRONG"
lab_check "knot refuses an unknown key" refused "$KNOT1" knot.test -k "$LAB/keys/other.key"
lab_check "knot refuses an unsigned update" refused "$KNOT1" knot.test

# --- pause, resume, restart, stop --------------------------------------------
lab_pause knot2
lab_check "paused knot secondary does not answer" lab_not lab_serves "$KNOT2" "$P" "$OWNER" CNAME
lab_check "bind accepts a delete while the secondary sleeps" \
	lab_nsupdate dcv "$BIND" "$P" <<<"update delete $OWNER. CNAME $TARGET."
lab_resume knot2
lab_check "resumed knot secondary drops the record within 6 s" \
	lab_until 6 lab_not lab_serves "$KNOT2" "$P" "$OWNER" CNAME
lab_check "and says NXDOMAIN" test "$(lab_rcode "$KNOT2" "$P" "$OWNER" CNAME)" = NXDOMAIN
lab_check "lab_restart knot2 (keeps its zone)" lab_restart knot2
lab_check "restarted secondary has bind's serial" \
	test "$(lab_serial "$BIND" "$P" example.test)" = "$(lab_serial "$KNOT2" "$P" example.test)"
old_pid=$(lab_pid knot1)
lab_stop knot1
gone() { ! kill -0 "$1" 2>/dev/null; }
lab_check "stopped knot primary is gone" gone "$old_pid"
lab_check "and answers nothing" lab_not lab_serves "$KNOT1" "$P" "$KOWNER" CNAME
lab_check "lab_restart brings a stopped server back" lab_restart knot1
lab_check "with its update kept" kdig_says "$KNOT1" "$KOWNER" "$KTARGET"

# A program that dies by the signal, under set -e.
lab_spawn sleeper sleep 60
sleeper=$(lab_pid sleeper)
lab_check "lab_spawn runs a program under the lab" kill -0 "$sleeper"
lab_stop sleeper
lab_check "and lab_stop stops it" gone "$sleeper"

# --- start functions fail loudly ---------------------------------------------
# Each runs in a subshell (its stderr captured) and must fail and say why:
# with the server's log when the server ran, naming the address when it is
# taken.
loud() { # NAME EXPECTED_MESSAGE COMMAND...
	local name=$1 want=$2 out
	shift 2
	if out=$("$@" --name "$name" 2>&1); then
		echo "  $name came up, but should not have"
		return 1
	fi
	if ! grep -q "lab: $name.*$want" <<<"$out"; then
		echo "  no 'lab: $name...$want' in: $out"
		return 1
	fi
	if [[ $want == "did not come up" ]] && ! grep -q "^$name| " <<<"$out"; then
		echo "  no log lines of $name in: $out"
		return 1
	fi
}
up="did not come up"
lab_check "named with an undefined key fails loudly" \
	loud badbind "$up" lab_bind_primary "$LAB_NET.11" "$P" nosuchkey example.test
lab_check "knotd with an undefined key fails loudly" \
	loud badknot "$up" lab_knot_primary "$LAB_NET.12" "$P" nosuchkey knot.test
lab_check "unbound with a bad stub address fails loudly" \
	loud badunbound "$up" lab_unbound "$LAB_NET.13" "$P" knot.test=999.1.1.1@"$P"
LAB_START_TIMEOUT=1 lab_check "knot secondary without a primary fails loudly (1 s)" \
	loud badsecondary "$up" lab_knot_secondary "$LAB_NET.14" "$P" "$LAB_NET.15@$P" example.test
lab_check "named on a taken address fails loudly" \
	loud bind2 "in use" lab_bind_primary "$BIND" "$P" dcv example.test
lab_check "knotd on a taken address fails loudly" \
	loud knot3 "in use" lab_knot_primary "$KNOT1" "$P" dcv knot.test
lab_check "unbound on a taken address fails loudly" \
	loud unbound2 "in use" lab_unbound "$UNBOUND" "$P" knot.test="$KNOT1@$P"
lab_check "the failed starts left no process behind" \
	lab_until 5 lab_not pgrep -f "$LAB/(bad|bind2|knot3|unbound2)"

# The negative answer of the beginning has expired by now (3 s after it was
# cached; the checks above took about as long).
lab_check "unbound returns the name once its negative answer expired" \
	lab_until 4 lab_resolves "$UNBOUND" "$P" "$NEG" CNAME "$KTARGET"
_lab_now
lab_check "... within 8 s of caching it ($((_LAB_NOW - neg_cached_at)) ms)" \
	test $((_LAB_NOW - neg_cached_at)) -le 8000

lab_finish
