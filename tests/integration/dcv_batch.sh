#!/usr/bin/env bash
# dcv_batch.sh BUILD_DIR -- a CSR with 200 names under `placement: fqdn`:
# dcv publish sends the 200 records in ONE UPDATE message over TCP, and
# withdraw deletes them in one more. Proven by BIND itself: its statistics
# channel counts UPDATE messages and TCP requests, its log names the client
# (address, port) of every record added, and the zone's serial moves by one.
# All 200 records are then served by BIND and gone after withdraw, asked
# with dig. A smaller max_message_size splits a batch into several
# messages. No secondary here: its transfers would add TCP requests of their
# own to named's counters. Address block 4.
# shellcheck disable=SC2317 # the helpers below are called through lab_check
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=lib_dcv.sh
source "$here/lib_dcv.sh"
lab_init dcv_batch 4
build=${1:?usage: dcv_batch.sh BUILD_DIR}
dcv_init "$build"
lab_need python3
GEN=$build/tests/gen_csrs
[[ -x $GEN ]] || _lab_err "$GEN is missing: build the gen_csrs target" || exit 1

P=$LAB_PORT
BIND=$LAB_NET.1 # named, primary of example.test, statistics channel on

lab_key dcv hmac-sha256
lab_bind_primary "$BIND" "$P" dcv example.test --stats --name bind

config() { # FILE [EXTRA_LINE]
	cat >"$1" <<-EOF
		placement: fqdn
		${2:-}
		key:
		  - id: dcv
		    file: keys/dcv.key
		remote:
		  - id: bind
		    address: $BIND@$P
		    key: dcv
		zone:
		  - domain: example.test
		    primary: bind
		    nameservers: [$BIND@$P]
	EOF
}
config "$LAB/fqdn.yaml"
config "$LAB/small.yaml" "max_message_size: 4096"

# 200 names each: h<i>.example.test and n1..n199.h<i>.example.test.
"$GEN" "$LAB/csr" 2 example.test 200 batch >/dev/null
CSR=$LAB/csr/batch0.csr
CSR2=$LAB/csr/batch1.csr

# The expected records, from openssl: the names in the request and its digests.
# Writes $LAB/NAME.names (one name a line) and $LAB/NAME.queries (dig -f).
expect_all() { # NAME
	local name=$1
	openssl req -in "$LAB/csr/$name.csr" -noout -text |
		grep -oE 'DNS:[^, ]+' | sed 's/^DNS://' | sort -u >"$LAB/$name.names"
	dcv_expect "$name" x
	sed "s/^/_$DCV_MD5./; s/\$/ CNAME/" "$LAB/$name.names" >"$LAB/$name.queries"
}
expect_all batch0
MD5=$DCV_MD5 TARGET=$DCV_TARGET
lab_check "openssl lists 200 names in the CSR" test "$(wc -l <"$LAB/batch0.names")" = 200

# served_all ADDR NAME: every one of NAME's 200 owners answers our CNAME (one dig run).
served_all() {
	local got want
	got=$(dig -p "$P" @"$1" +norec +time=2 +tries=2 +noall +answer -f "$LAB/$2.queries" |
		awk -v t="$TARGET." '$4 == "CNAME" && tolower($5) == t { print tolower($1) }' | sort -u)
	want=$(sed 's/ CNAME$/./' "$LAB/$2.queries" | sort -u)
	[[ $got == "$want" ]] && return 0
	echo "  $1 serves $(grep -c . <<<"$got") of the $(grep -c . <<<"$want") records"
	return 1
}
# gone_all ADDR NAME: every owner is NXDOMAIN.
gone_all() {
	local n
	n=$(dig -p "$P" @"$1" +norec +time=2 +tries=2 +noall +comments -f "$LAB/$2.queries" |
		grep -c 'status: NXDOMAIN' || true)
	[[ $n == 200 ]] && return 0
	echo "  $1: $n of 200 owners are NXDOMAIN"
	return 1
}
# stat NAME: the counter from named's statistics channel (0 when absent).
stat() {
	awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' "$LAB/stats.now"
}
stats_now() {
	lab_bind_stats bind >"$LAB/stats.now"
}
# delta COUNTER WANT: the counter moved by WANT since the last stats_mark.
delta() {
	local d=$(($(stat "$1") - ${MARK[$1]:-0}))
	[[ $d == "$2" ]] && return 0
	echo "  $1 moved by $d, want $2"
	return 1
}
declare -A MARK=()
stats_mark() {
	stats_now
	local c
	for c in opcodes.UPDATE nsstats.ReqTCP nsstats.UpdateDone; do
		MARK[$c]=$(stat "$c")
	done
}

# --- publish: one UPDATE over TCP ----------------------------------------------------
serial0=$(lab_serial "$BIND" "$P" example.test)
stats_mark
dcv_run pub publish -c "$LAB/fqdn.yaml" "$CSR"
stats_now
lab_check "publish of 200 names exits 0" dcv_rc 0
lab_check "... reports 200 records" dcv_out_lines ": published _$MD5\." 200
lab_check "named counted exactly 1 UPDATE message" delta opcodes.UPDATE 1
lab_check "... received over TCP (1 TCP request)" delta nsstats.ReqTCP 1
lab_check "... and applied it (UpdateDone 1)" delta nsstats.UpdateDone 1
lab_check "the serial moved by one ($serial0 -> $(lab_serial "$BIND" "$P" example.test))" \
	test "$(lab_serial "$BIND" "$P" example.test)" = $((serial0 + 1))
one_client() { # named logs "client @0xPTR ADDR#PORT/key dcv: updating zone ... adding an RR at '_MD5..."
	local lines clients
	lines=$(grep -E "adding an RR at '_$MD5\." "$(lab_log bind)" || true)
	clients=$(grep -oE 'client @0x[0-9a-f]+ [0-9.]+#[0-9]+' <<<"$lines" | sort -u)
	if [[ $(grep -c . <<<"$lines") != 200 || $(grep -c . <<<"$clients") != 1 ]]; then
		echo "  $(grep -c . <<<"$lines") records added by $(grep -c . <<<"$clients") clients: $clients"
		return 1
	fi
}
lab_check "named's log: 200 records added, all from one client request" one_client
lab_check "dig: bind serves all 200 records" served_all "$BIND" batch0

# --- check ---------------------------------------------------------------------------
dcv_run check check -c "$LAB/fqdn.yaml" "$CSR"
lab_check "check exits 0" dcv_rc 0
lab_check "... visible: 200 names at 1 authoritative address" \
	dcv_out_has "batch0.csr: visible: 200 names served by 1 authoritative address "

# --- withdraw: one more UPDATE ---------------------------------------------------------
stats_mark
dcv_run wd withdraw -c "$LAB/fqdn.yaml" "$CSR"
stats_now
lab_check "withdraw exits 0" dcv_rc 0
lab_check "... reports 200 records withdrawn" dcv_out_lines ": withdrawn _$MD5\." 200
lab_check "named counted exactly 1 UPDATE message" delta opcodes.UPDATE 1
lab_check "... over TCP" delta nsstats.ReqTCP 1
lab_check "dig: all 200 gone from bind" gone_all "$BIND" batch0

# --- max_message_size 4096 splits the batch ------------------------------------------
expect_all batch1
TARGET=$DCV_TARGET
stats_mark
dcv_run small publish -c "$LAB/small.yaml" "$CSR2"
stats_now
lab_check "publish with max_message_size 4096 exits 0" dcv_rc 0
several() {
	local d=$(($(stat opcodes.UPDATE) - ${MARK[opcodes.UPDATE]}))
	((d >= 7 && d <= 12)) && return 0
	echo "  $d UPDATE messages; 200 records of ~150 bytes need 8 to 10 of 4096 bytes"
	return 1
}
lab_check "... sent several UPDATE messages ($(($(stat opcodes.UPDATE) - ${MARK[opcodes.UPDATE]})))" several
lab_check "dig: bind serves all 200 records" served_all "$BIND" batch1

lab_finish
