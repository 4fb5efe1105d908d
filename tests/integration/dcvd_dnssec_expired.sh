#!/usr/bin/env bash
# dcvd_dnssec_expired.sh BUILD -- one authoritative address of a signed
# zone serves expired signatures. BIND signs the zone and dcvd's UPDATE
# (dnssec-policy default with inline-signing) at P; S is a second server of
# the zone, without a resolver in the configuration (so the zone counts as
# `signed`):
#   waiting  while S lacks the record (NXDOMAIN) the job waits, it does not fail
#   expired  S then loads a copy holding the record, signed by ldns-signzone
#            with BIND's own K-files but a validity that ended yesterday:
#            the job fails within 10 s, the error says DNSSEC, names S and
#            the expiry, and the status file says dnssec: {ZONE: signed}.
#   unsigned S then serves an unsigned copy holding another job's record:
#            that job fails too, naming S and the missing RRSIG.
# The oracle for the copy: dig shows S's RRSIG expiration in the past, P's
# in the future.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
zone=expired.test
lab_init dcvd_dnssec_expired 29
lab_need dig python3 ldns-signzone knotc
DCVD=$build/dcvd DCV=$build/dcv GEN_CSRS=$build/tests/gen_csrs
P=$LAB_NET.1 S=$LAB_NET.2 R=$LAB_NET.3
lab_key dcv hmac-sha256
chmod 0640 "$LAB/keys/dcv.key"
lab_zone_file $zone "ns1=$P" "ns2=$S"
lab_bind_primary "$P" "$LAB_PORT" dcv $zone --signed --inline
lab_knot_primary "$S" "$LAB_PORT" - $zone
lab_check "BIND signed the zone" lab_until 10 lab_serves "$P" "$LAB_PORT" $zone DNSKEY

spool=$LAB/spool cfg=$LAB/dcvd.yaml
dcvd_config "$cfg" "$spool" $zone </dev/null
sed -i '/^resolver:/d' "$cfg"
mkdir -p "$LAB/csr"
"$GEN_CSRS" "$LAB/csr" 1 $zone 1 old >/dev/null
dcvd_start dcvd "$cfg" "$spool"
read -r owner target < <(dcvd_expected $zone "$LAB/csr/old0.csr")
dcvd_drop "$spool" "$LAB/csr/old0.csr"
lab_check "waiting: P serves the signed record" \
	lab_until 10 lab_serves "$P" "$LAB_PORT" "$owner" CNAME "$target"
sleep 1
lab_check "waiting: S has no record yet (NXDOMAIN)" \
	test "$(lab_rcode "$S" "$LAB_PORT" "$owner" CNAME)" = NXDOMAIN
lab_check "waiting: the job waits (not failed)" test ! -e "$spool/failed/old0.status"

# rrsig_expires ADDR: the expiration (YYYYMMDDhhmmss) of the CNAME's RRSIG at ADDR.
rrsig_expires() {
	dig +norec +dnssec +noall +answer -p "$LAB_PORT" @"$1" "$owner" CNAME |
		awk '$4 == "RRSIG" && $5 == "CNAME" { print $9; exit }'
}
now=$(date -u +%Y%m%d%H%M%S) p_exp=$(rrsig_expires "$P")
lab_check "the oracle: P's RRSIG is valid ($p_exp > $now)" test "${p_exp:-0}" \> "$now"

# The copy: the zone with the record, serial 2, signed with BIND's keys, expired.
copy=$LAB/copy.zone
sed 's/ SOA \(.*\) hostmaster 1 / SOA \1 hostmaster 2 /' "$LAB/zones/$zone.zone" >"$copy"
echo "$owner. 30 IN CNAME $target." >>"$copy"
keys=()
for k in "$LAB/bind-$P/K$zone."+*.private; do
	keys+=("${k%.private}")
done
lab_check "BIND's K-files are there (${#keys[@]})" test ${#keys[@]} -gt 0
ldns-signzone -o $zone -i "$(date -u -d '2 days ago' +%Y%m%d%H%M%S)" \
	-e "$(date -u -d '1 day ago' +%Y%m%d%H%M%S)" -f "$LAB/knot-$S/$zone.zone" "$copy" "${keys[@]}"
knotc -s "$LAB/knot-$S/knot.sock" zone-reload $zone >/dev/null
lab_check "expired: S serves the record now" \
	lab_until 5 lab_serves "$S" "$LAB_PORT" "$owner" CNAME "$target"
now=$(date -u +%Y%m%d%H%M%S) s_exp=$(rrsig_expires "$S")
lab_check "the oracle: S's RRSIG expired ($s_exp < $now)" test "${s_exp:-99999999999999}" \< "$now"
lab_check "expired: failed within 10 s" lab_until 10 test -e "$spool/failed/old0.status"
err=$(dcvd_field "$spool/failed/old0.status" error 2>/dev/null || true)
lab_check "expired: the error says DNSSEC ($err)" grep -q 'DNSSEC' <<<"$err"
lab_check "expired: it names S" grep -qF "server $S@$LAB_PORT" <<<"$err"
lab_check "expired: and the expiry" grep -q 'expired' <<<"$err"
lab_check "expired: it does not blame P" lab_not grep -qF "$P@$LAB_PORT" <<<"$err"
lab_check "expired: it is not a time-out" lab_not grep -q 'visible_timeout' <<<"$err"
lab_check "the status file says dnssec: {$zone: signed}" python3 - "$spool/failed/old0.status" $zone <<-'EOF'
	import sys, yaml
	st = yaml.safe_load(open(sys.argv[1]))
	if st.get("dnssec") != {sys.argv[2]: "signed"}:
	    print("  dnssec: %r" % (st.get("dnssec"),))
	    sys.exit(1)
EOF

# --- unsigned: S serves a copy without signatures ----------------------------------
"$GEN_CSRS" "$LAB/csr" 1 $zone 1 uns >/dev/null
read -r owner target < <(dcvd_expected $zone "$LAB/csr/uns0.csr")
dcvd_drop "$spool" "$LAB/csr/uns0.csr"
lab_check "unsigned: P serves the signed record" \
	lab_until 10 lab_serves "$P" "$LAB_PORT" "$owner" CNAME "$target"
sed 's/ SOA \(.*\) hostmaster 1 / SOA \1 hostmaster 3 /' "$LAB/zones/$zone.zone" >"$LAB/knot-$S/$zone.zone"
echo "$owner. 30 IN CNAME $target." >>"$LAB/knot-$S/$zone.zone"
knotc -s "$LAB/knot-$S/knot.sock" zone-reload $zone >/dev/null
lab_check "unsigned: S serves the record" lab_until 5 lab_serves "$S" "$LAB_PORT" "$owner" CNAME "$target"
lab_check "unsigned: without an RRSIG (the oracle)" lab_not lab_serves "$S" "$LAB_PORT" "$owner" RRSIG
lab_check "unsigned: failed within 10 s" lab_until 10 test -e "$spool/failed/uns0.status"
err=$(dcvd_field "$spool/failed/uns0.status" error 2>/dev/null || true)
lab_check "unsigned: the error names S and the missing RRSIG ($err)" \
	grep -q "server $S@$LAB_PORT.*DNSSEC: .*RRSIG missing" <<<"$err"
lab_check "dcvd still runs" kill -0 "$(lab_pid dcvd)"
lab_finish
