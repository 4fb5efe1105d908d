#!/usr/bin/env bash
# dcv_bind.sh BUILD_DIR -- `dcv publish | check | withdraw` against a BIND
# primary (update-policy, TSIG hmac-sha256) that feeds a Knot secondary by
# NOTIFY/IXFR, with unbound as the resolver. Covers: the records land at
# the primary (dig) exactly as openssl's digests say; one record per zone
# apex for a multi-name CSR spanning two zones (placement: zone); check
# succeeds once BIND, the secondary and unbound serve them; withdraw removes
# them from every server; keys from a tsig-keygen file and a keymgr file; a
# name in a delegated child zone that is not configured; a lagging
# secondary keeps check waiting, and unbound is not asked before every
# authoritative server serves the record (from unbound's query log).
# Address block 2.
# shellcheck disable=SC2317 # the helpers below are called through lab_check
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=lib_dcv.sh
source "$here/lib_dcv.sh"
lab_init dcv_bind 2
dcv_init "${1:?usage: dcv_bind.sh BUILD_DIR}"
lab_need kdig

P=$LAB_PORT
BIND=$LAB_NET.1    # named, primary of example.test and second.test
KNOT2=$LAB_NET.2   # knotd, secondary of both
CHILD=$LAB_NET.3   # knotd, primary of dlg.example.test (delegated, not configured)
UNBOUND=$LAB_NET.4 # unbound, stubs to every server

# Two requests for names in the child zone; the child zone already holds
# another record at the second one's first candidate, which the CA would
# take before ours at the apex.
dcv_csr dlg www.dlg.example.test
dcv_csr dlgx api.dlg.example.test
dcv_expect dlgx example.test
XMD5=$DCV_MD5
lab_zone_file dlg.example.test ns1="$CHILD"
echo "_$XMD5.api CNAME someone.else.sectigo.com." >>"$LAB/zones/dlg.example.test.zone"

lab_key dcv hmac-sha256
lab_zone_file example.test ns1="$BIND" ns2="$KNOT2"
printf 'dlg NS ns.dlg\nns.dlg A %s\n' "$CHILD" >>"$LAB/zones/example.test.zone"
lab_zone_file second.test ns1="$BIND" ns2="$KNOT2"
lab_bind_primary "$BIND" "$P" dcv example.test second.test --notify "$KNOT2@$P" --name bind
lab_knot_secondary "$KNOT2" "$P" "$BIND@$P" example.test second.test --name knot2
lab_knot_primary "$CHILD" "$P" - dlg.example.test --name child
lab_unbound "$UNBOUND" "$P" example.test="$BIND@$P,$KNOT2@$P" second.test="$BIND@$P,$KNOT2@$P" \
	dlg.example.test="$CHILD@$P" --log-queries --name unbound

# The same configuration twice: the key from tsig-keygen's file, and from
# the keymgr file holding the same key.
config() { # FILE KEYFILE
	cat >"$1" <<-EOF
		key:
		  - id: dcv
		    file: $2
		remote:
		  - id: bind
		    address: $BIND@$P
		    key: dcv
		zone:
		  - domain: example.test
		    primary: bind
		    nameservers: [$BIND@$P, $KNOT2@$P]
		  - domain: second.test
		    primary: bind
		    nameservers: [$BIND@$P, $KNOT2@$P]
		resolver: [$UNBOUND@$P]
	EOF
}
config "$LAB/bind.yaml" keys/dcv.key
config "$LAB/keymgr.yaml" keys/dcv.knot.yaml
CONF=$LAB/bind.yaml

# Six names in two zones: placement zone puts one record at each apex.
dcv_csr multi www.example.test www.example.test example.test '*.example.test' \
	a.b.example.test www.second.test second.test
CSR=$LAB/csr/multi.csr
dcv_expect multi example.test
OWNER1=$DCV_OWNER TARGET=$DCV_TARGET MD5=$DCV_MD5
OWNER2=_$MD5.second.test

# --- before publishing, check fails ---------------------------------------------
dcv_run check0 check -c "$CONF" --timeout 1 "$CSR"
lab_check "check before publish exits 1" dcv_rc 1
lab_check "... within 2 s ($DCV_MS ms)" dcv_within 2000
lab_check "... and says which server answers what" \
	dcv_err_has "multi.csr" "$BIND@$P" "_$MD5.example.test" NXDOMAIN

# --- publish ---------------------------------------------------------------------
dcv_run pub publish -c "$CONF" "$CSR"
lab_check "publish (tsig-keygen key file) exits 0" dcv_rc 0
lab_check "publish reports two records" dcv_out_lines ": published " 2
lab_check "... one at the apex of example.test" \
	dcv_out_has "published $OWNER1\. 300 IN CNAME $TARGET\. \(zone example.test\)"
lab_check "... one at the apex of second.test" \
	dcv_out_has "published $OWNER2\. 300 IN CNAME $TARGET\. \(zone second.test\)"
lab_check "dig: bind serves the example.test record" lab_serves "$BIND" "$P" "$OWNER1" CNAME "$TARGET"
lab_check "dig: bind serves the second.test record" lab_serves "$BIND" "$P" "$OWNER2" CNAME "$TARGET"
lab_check "kdig agrees at bind" dcv_kdig_serves "$BIND" "$P" "$OWNER1" "$TARGET"
for name in www.example.test a.b.example.test www.second.test; do
	lab_check "no record of its own for $name (NXDOMAIN at bind)" \
		dcv_rcode_is "$BIND" "$P" "_$MD5.$name" NXDOMAIN
done

# --- check -------------------------------------------------------------------------
dcv_run check check -c "$CONF" "$CSR"
lab_check "check exits 0" dcv_rc 0
lab_check "... visible: 6 names, 2 authoritative addresses, 1 resolver" \
	dcv_out_has "multi.csr: visible: 6 names served by 2 authoritative addresses and 1 resolver"
lab_check "kdig: the knot secondary serves the example.test record" \
	dcv_kdig_serves "$KNOT2" "$P" "$OWNER1" "$TARGET"
lab_check "kdig: the knot secondary serves the second.test record" \
	dcv_kdig_serves "$KNOT2" "$P" "$OWNER2" "$TARGET"
lab_check "unbound resolves the example.test record" \
	lab_resolves "$UNBOUND" "$P" "$OWNER1" CNAME "$TARGET"
lab_check "unbound resolves the second.test record" \
	lab_resolves "$UNBOUND" "$P" "$OWNER2" CNAME "$TARGET"

# --- withdraw ----------------------------------------------------------------------
dcv_run wd withdraw -c "$LAB/keymgr.yaml" "$CSR"
lab_check "withdraw (keymgr key file) exits 0" dcv_rc 0
lab_check "withdraw reports both records" dcv_out_lines ": withdrawn " 2
lab_check "... gone from 2 authoritative addresses" \
	dcv_out_has "withdrawn $OWNER1\. CNAME $TARGET\. \(zone example.test\), gone from 2 "
for srv in "$BIND" "$KNOT2"; do
	for owner in "$OWNER1" "$OWNER2"; do
		lab_check "dig: $srv says NXDOMAIN for ${owner#_"$MD5".}" \
			dcv_rcode_is "$srv" "$P" "$owner" NXDOMAIN
	done
done
lab_check "bind still serves the zone's other data (exact delete)" \
	lab_serves "$BIND" "$P" ns2.example.test A "$KNOT2"
dcv_run check1 check -c "$CONF" --timeout 2 "$CSR"
lab_check "check after withdraw exits 1" dcv_rc 1
lab_check "... within 3 s ($DCV_MS ms)" dcv_within 3000
lab_check "... naming the secondary and what it says" \
	dcv_err_has "multi.csr" "$KNOT2@$P" NXDOMAIN

# --- names in a delegated child zone that is not configured -----------------------
# BIND and the secondary answer the longer candidates with a referral; the
# record at the apex of example.test is what the CA finds.
dcv_expect dlg example.test
dcv_run dlgpub publish -c "$CONF" "$LAB/csr/dlg.csr"
lab_check "www.dlg.example.test (delegated child): publish exits 0" dcv_rc 0
lab_check "... at the apex of example.test" dcv_out_has "published $DCV_OWNER\. 300 IN CNAME "
dcv_run dlgcheck check -c "$CONF" --timeout 10 "$LAB/csr/dlg.csr"
lab_check "check exits 0 (referrals at the longer candidates are no failure)" dcv_rc 0
lab_check "unbound resolves the record" lab_resolves "$UNBOUND" "$P" "$DCV_OWNER" CNAME "$DCV_TARGET"
dcv_run dlgxpub publish -c "$CONF" "$LAB/csr/dlgx.csr"
lab_check "api.dlg.example.test: publish exits 0" dcv_rc 0
dcv_run dlgxcheck check -c "$CONF" --timeout 2 "$LAB/csr/dlgx.csr"
lab_check "check exits 1: the child zone has another record the CA finds first" dcv_rc 1
lab_check "... the resolver says which" \
	dcv_err_has "dlgx.csr: " "resolver $UNBOUND@$P" "_$XMD5.api.dlg.example.test" \
	"someone.else.sectigo.com"

# --- a lagging secondary -----------------------------------------------------------
# The Knot secondary is paused before publish and resumed 3 s later. check,
# started right after publish, must wait for it; unbound must get no query
# for the record's names before the resume. A marker query sent to unbound
# just before the resume splits its log into before and after.
dcv_csr lag lag.example.test
dcv_expect lag example.test
LAGOWNER=$DCV_OWNER LAGTARGET=$DCV_TARGET LAGMD5=$DCV_MD5
lab_pause knot2
dcv_run lagpub publish -c "$CONF" "$LAB/csr/lag.csr"
lab_check "publish with the secondary paused exits 0" dcv_rc 0
"$DCV" check -c "$CONF" --timeout 40 "$LAB/csr/lag.csr" >"$LAB/run/lagcheck.out" \
	2>"$LAB/run/lagcheck.err" &
check_pid=$!
_lab_now
check_started=$_LAB_NOW
exited() { ! kill -0 "$check_pid" 2>/dev/null; }
lab_check "check keeps waiting while the secondary is paused (3 s)" lab_not lab_until 3 exited
lab_check "bind serves the record meanwhile" lab_serves "$BIND" "$P" "$LAGOWNER" CNAME "$LAGTARGET"
MARKER=resume-marker-$RANDOM.invalid
dig +time=1 +tries=1 -p "$P" @"$UNBOUND" "$MARKER" A >/dev/null || true
_lab_now
resumed=$_LAB_NOW
resumed_epoch=${EPOCHREALTIME%[.,]*}
lab_resume knot2
lab_until 35 exited || true
_lab_now
check_rc=0
wait "$check_pid" || check_rc=$?
DCV_TAG=lagcheck DCV_RC=$check_rc DCV_MS=$((_LAB_NOW - check_started))
lab_check "check exits 0 after the resume ($((_LAB_NOW - resumed)) ms later)" dcv_rc 0
lab_check "... and says visible" dcv_out_has "lag.csr: visible: 1 name served by 2 authoritative"
lab_check "kdig: the secondary serves the record" \
	dcv_kdig_serves "$KNOT2" "$P" "$LAGOWNER" "$LAGTARGET"
lab_check "unbound resolves it at once (no NXDOMAIN cached)" \
	lab_resolves "$UNBOUND" "$P" "$LAGOWNER" CNAME "$LAGTARGET"

# unbound's log: "[EPOCH] unbound[PID:0] query: CLIENT NAME TYPE IN" and
# "... reply: CLIENT NAME TYPE IN RCODE ...".
ulog=$(lab_log unbound)
marker_line=$(grep -n "query: .* $MARKER\. " "$ulog" | head -n 1 | cut -d: -f1)
first_line=$(grep -n "query: .* _$LAGMD5\." "$ulog" | head -n 1 | cut -d: -f1)
first_epoch=$(grep "query: .* _$LAGMD5\." "$ulog" | head -n 1 | sed -n 's/^\[\([0-9]*\)\].*/\1/p')
unbound_after_resume() {
	if [[ -z $marker_line || -z $first_line ]]; then
		echo "  marker at line '${marker_line}', first _$LAGMD5 query at line '${first_line}' of $ulog"
		return 1
	fi
	if ((first_line < marker_line)); then
		echo "  unbound was asked for _$LAGMD5... (line $first_line) before the resume (line $marker_line):"
		sed -n "${first_line}p" "$ulog" | sed 's/^/  | /'
		return 1
	fi
}
lab_check "unbound's first query for the record came after the resume (log order)" \
	unbound_after_resume
lab_check "... at $first_epoch, resume at $resumed_epoch (epoch seconds)" \
	test "${first_epoch:-0}" -ge "$resumed_epoch"
no_nxdomain_for_record() {
	! grep -E "reply: .* $LAGOWNER\. CNAME IN NXDOMAIN" "$ulog"
}
lab_check "unbound never answered NXDOMAIN for the record" no_nxdomain_for_record

lab_finish
