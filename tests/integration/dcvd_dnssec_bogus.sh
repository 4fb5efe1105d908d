#!/usr/bin/env bash
# dcvd_dnssec_bogus.sh BUILD -- a broken chain of trust: unbound's trust
# anchor for the zone is a key the signer never had (as a wrong DS at the
# parent would be). The CA's validating lookup would fail, so dcvd fails
# the job within 10 s with a DNSSEC reason naming the resolver, not a
# time-out. The oracle: unbound answers SERVFAIL for the zone's DNSKEY and,
# with CD=1, the DNSKEY.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
# shellcheck source=tests/integration/lib_dnssec.sh
source "$here/lib_dnssec.sh"
zone=bogus.test
dnssec_lab dcvd_dnssec_bogus 28 "$build" $zone knot --anchor wrong

spool=$LAB/spool cfg=$LAB/dcvd.yaml
lab_check "the oracle: unbound answers SERVFAIL for the DNSKEY" \
	test "$(lab_rcode --rec "$R" "$LAB_PORT" $zone DNSKEY)" = SERVFAIL
lab_check "the oracle: with CD=1 it has the DNSKEY" \
	grep -q DNSKEY <<<"$(dig +rec +cd +noall +answer -p "$LAB_PORT" @"$R" $zone DNSKEY)"
dcvd_config "$cfg" "$spool" $zone </dev/null
mkdir -p "$LAB/csr"
"$GEN_CSRS" "$LAB/csr" 1 $zone 1 bad >/dev/null
dcvd_start dcvd "$cfg" "$spool"
dcvd_drop "$spool" "$LAB/csr/bad0.csr"
lab_check "failed within 10 s" lab_until 10 test -e "$spool/failed/bad0.status"
err=$(dcvd_field "$spool/failed/bad0.status" error 2>/dev/null || true)
lab_check "the error says DNSSEC ($err)" grep -q 'DNSSEC' <<<"$err"
lab_check "the error names the resolver and the zone as bogus" \
	grep -q "$R@$LAB_PORT.*$zone is bogus" <<<"$err"
lab_check "the error carries unbound's Extended DNS Error" grep -q 'Extended DNS Error' <<<"$err"
lab_check "it is not a time-out" lab_not grep -q 'visible_timeout' <<<"$err"
out=$("$DCV" check -c "$cfg" --timeout 10 "$LAB/csr/bad0.csr" 2>&1) && rc=0 || rc=$?
lab_check "dcv check fails alike (exit $rc)" test "$rc" -ne 0
lab_check "dcv check says DNSSEC and bogus" grep -q 'DNSSEC: zone bogus.test is bogus' <<<"$out"
lab_check "dcvd still runs" kill -0 "$(lab_pid dcvd)"
lab_finish
