#!/usr/bin/env bash
# hostile.sh BUILD_DIR -- dcv publish, dcv check and dcvd against a hostile
# network: tests/tools/hostile_dns.py sits in front of a real BIND primary
# and answers every query with lies -- the real reply from another port and
# from another address, with the wrong ID, question name or type, without
# its TSIG, with an altered MAC, a forged BADSIG without MAC, a forged
# unsigned REFUSED, cut in half, garbage, compression loops, noise; over TCP
# also an empty frame and a length prefix of 65535 with a connection that
# closes or stalls behind it.
#
#   mixed: the lies come first, then the real reply: publish, check,
#          withdraw and dcvd all succeed (every lie ignored or rejected);
#   tc:    the same over TCP (UDP answers TC);
#   only:  one kind of lie and never the real reply: the command fails,
#          naming the server and the right reason.
#
# Never a crash; run from the sanitized build folder, never a read out of
# bounds either (lib.sh fails the test on any sanitizer report in dcvd's
# log; dcv's own reports make it exit non-zero). Address block 12.
# shellcheck disable=SC2317 # the helpers below are called through lab_check
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=lib_dcv.sh
source "$here/lib_dcv.sh"
lab_init hostile 12
dcv_init "${1:?usage: hostile.sh BUILD_DIR}"
build=$(cd "$1" && pwd)
lab_need python3

P=$LAB_PORT
BIND=$LAB_NET.1 # the real primary
FAKE=$LAB_NET.2 # hostile_dns.py, port 53 (NS glue has no port): every query goes through it
ALT=$LAB_NET.3  # the fake's second address, for replies from the wrong one

lab_key dcv hmac-sha256
lab_zone_file example.test ns1="$FAKE"
lab_bind_primary "$BIND" "$P" dcv example.test --name bind
dcv_hostile fake "$FAKE@53" "$BIND@$P" "$ALT" || lab_fail "the fake did not start"
FAKELOG=$(lab_log fake)

cat >"$LAB/dcv.yaml" <<EOF
key:
  - id: dcv
    file: keys/dcv.key
remote:
  - id: fake
    address: $FAKE@53
    key: dcv
zone:
  - domain: example.test
    primary: fake
    nameservers: [$FAKE@53]
EOF
CONF=$LAB/dcv.yaml
# The same without nameservers: the NS set is asked for, through the fake too.
grep -v nameservers "$CONF" >"$LAB/discover.yaml"

mode() { echo "$1" >"$LAB/mode"; }
# sent KIND -- the fake logged at least one reply KIND ("udp bad-mac") since the mark.
mark() { MARK=$(wc -l <"$FAKELOG"); }
sent() {
	grep -q "^$1 " < <(tail -n +"$((MARK + 1))" "$FAKELOG") && return 0
	echo "  the fake never sent '$1' (its log: $FAKELOG)"
	return 1
}
sent_all() { # PROTO NAME...
	local proto=$1 name
	shift
	for name in "$@"; do
		sent "$proto $name" || return 1
	done
}

# --- mixed over UDP: the lies first, then the truth ---------------------------------
dcv_csr a www.example.test
dcv_expect a example.test
mode mixed
mark
dcv_run pub-mixed publish -c "$CONF" --timeout 20 "$LAB/csr/a.csr"
lab_check "mixed (UDP): publish exits 0" dcv_rc 0
lab_check "... says published" dcv_out_has "a.csr: published $DCV_OWNER\. 300 IN CNAME $DCV_TARGET\."
lab_check "... BIND serves the record" lab_serves "$BIND" "$P" "$DCV_OWNER" CNAME "$DCV_TARGET"
lab_check "... the fake lied about the UPDATE in every way" sent_all udp noise wrong-port \
	wrong-addr wrong-id wrong-question wrong-type truncated garbage loop loop2 no-tsig bad-mac \
	forged-badsig unsigned-refused
mark
dcv_run chk-mixed check -c "$CONF" --timeout 20 "$LAB/csr/a.csr"
lab_check "mixed (UDP): check exits 0" dcv_rc 0
lab_check "... says visible" dcv_out_has "a.csr: visible: 1 name served by 1 authoritative address"
lab_check "... through lies about the queries" sent_all udp wrong-id wrong-question truncated \
	garbage loop loop2
dcv_run chk-discover check -c "$LAB/discover.yaml" --timeout 20 "$LAB/csr/a.csr"
lab_check "mixed (UDP): check finding the NS set exits 0" dcv_rc 0
lab_check "... says visible" dcv_out_has "a.csr: visible: 1 name served by 1 authoritative address"

# --- the same over TCP -------------------------------------------------------------
dcv_csr b www.example.test example.test
dcv_expect b example.test
mode tc
mark
dcv_run pub-tcp publish -c "$CONF" --timeout 20 "$LAB/csr/b.csr"
lab_check "mixed (TCP): publish exits 0" dcv_rc 0
lab_check "... BIND serves the record" lab_serves "$BIND" "$P" "$DCV_OWNER" CNAME "$DCV_TARGET"
lab_check "... the fake lied over TCP" sent_all tcp huge-length empty-frame wrong-id \
	wrong-question truncated garbage loop loop2 no-tsig bad-mac forged-badsig unsigned-refused real
mark
dcv_run chk-tcp check -c "$CONF" --timeout 20 "$LAB/csr/b.csr"
lab_check "mixed (TCP): check exits 0" dcv_rc 0
lab_check "... through lies" sent_all tcp huge-length garbage loop real
dcv_run wd-tcp withdraw -c "$CONF" --timeout 20 "$LAB/csr/b.csr"
lab_check "mixed (TCP): withdraw exits 0" dcv_rc 0
lab_check "... BIND no longer serves it" dcv_rcode_is "$BIND" "$P" "$DCV_OWNER" NXDOMAIN

# --- only lies: fail, naming the server and the reason -------------------------------
dcv_csr c www.example.test
# only KIND TIMEOUT CMD PATTERN... -- with only lies of KIND, dcv CMD exits 1 within
# TIMEOUT + 1.5 s and one line of its stderr matches every PATTERN.
only() {
	local kind=$1 timeout=$2 cmd=$3 proto=udp
	shift 3
	mode "only:$kind"
	mark
	dcv_run "only-$cmd-$kind" "$cmd" -c "$CONF" --timeout "$timeout" "$LAB/csr/c.csr"
	[[ $kind == huge-* ]] && proto=tcp
	lab_check "only $kind: $cmd exits 1" dcv_rc 1
	lab_check "... in time ($DCV_MS ms)" dcv_within $((${timeout%.*} * 1000 + 1500))
	lab_check "... naming the server and the reason" dcv_err_has "c.csr: " "$FAKE@53" "$@"
	lab_check "... (the fake did send $kind)" sent "$proto $kind"
}
# Signed updates: the TSIG verdict is the reason.
only no-tsig 1.5 publish "zone example.test" "not signed \(no TSIG record\)"
only bad-mac 1.5 publish "zone example.test" "MAC does not verify"
only forged-badsig 1.5 publish "zone example.test" "BADSIG" "key 'dcv'"
only unsigned-refused 1.5 publish "zone example.test" "REFUSED" "carried no TSIG"
only truncated 1.5 publish "zone example.test" "cut short or malformed"
only garbage 1.5 publish "zone example.test" "cut short or malformed"
only loop 1.5 publish "zone example.test" "cut short or malformed"
# Replies that do not even match the query: as if nothing came.
only wrong-id 1.5 publish "zone example.test" "no success within" "last: no answer"
only wrong-question 1.5 publish "zone example.test" "no success within" "last: no answer"
only wrong-port 1.5 publish "zone example.test" "no success within" "last: no answer"
only wrong-addr 1.5 publish "zone example.test" "no success within" "last: no answer"
# TCP: 65535 bytes announced, 100 sent, then the connection closes or stalls.
only huge-length 1.5 publish "zone example.test" "closed in the middle of a reply \(102 of 65537"
only huge-stall 1.5 publish "zone example.test" "no success within" "last: no answer"
# Plain queries of check.
only garbage 1.5 check "malformed reply"
only loop2 1.5 check "malformed reply"
only truncated 1.5 check "malformed reply"
only wrong-type 1.5 check "timed out|no reply after"

# --- dcvd through the lies -----------------------------------------------------------
mode mixed
spool=$LAB/spool
mkdir -p "$spool"
cat >"$LAB/dcvd.yaml" <<EOF
spool: $spool
withdraw_after: 0
visible_timeout: 30s
$(cat "$CONF")
EOF
dcv_csr d www.example.test
dcv_expect d example.test
mark
lab_spawn dcvd "$build/dcvd" -c "$LAB/dcvd.yaml" -v
lab_until 10 test -d "$spool/incoming" || lab_fail "dcvd did not create its spool"
cp "$LAB/csr/d.csr" "$spool/.d.tmp" && mv "$spool/.d.tmp" "$spool/incoming/d.csr"
lab_check "dcvd (mixed): d.csr reaches done/" lab_until 25 test -e "$spool/done/d.status"
lab_check "... its status says visible" grep -q '^state: visible' "$spool/done/d.status"
lab_check "... BIND serves the record" lab_serves "$BIND" "$P" "$DCV_OWNER" CNAME "$DCV_TARGET"
lab_check "... through lies" sent_all udp forged-badsig bad-mac garbage loop real
lab_stop dcvd
lab_check "dcvd stopped cleanly (no sanitizer report, no crash)" \
	lab_not grep -qE 'Sanitizer|runtime error|Segmentation' "$(lab_log dcvd)"

lab_finish
