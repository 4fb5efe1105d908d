#!/usr/bin/env bash
# dcvd_resolver.sh BUILD -- with real servers (BIND primary -> Knot secondary
# by NOTIFY/IXFR -> unbound logging every query):
#   order    the resolver is never asked before every authoritative server
#            serves the record: with the Knot secondary paused (SIGSTOP) for
#            3 s after the drop, the job stays in flight, unbound's log has
#            no query for the _md5 name until the secondary is resumed; then
#            the job is visible and unbound resolves the record (no cached
#            NXDOMAIN)
#   sidecar  NAME.yaml with unique_value: the published target carries it;
#            one with a matching expect succeeds; one whose expect differs
#            fails in failed/ naming both records, and nothing is published
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
dcvd_lab dcvd_resolver 10 "$build" example.test --log-queries

spool=$LAB/spool cfg=$LAB/dcvd.yaml ulog=$LAB/unbound-$R/log
dcvd_config "$cfg" "$spool" example.test </dev/null
mkdir -p "$LAB/csr"
for n in order uniq match differ; do
	"$GEN_CSRS" "$LAB/csr" 1 example.test 1 "$n" >/dev/null
done
dcvd_start dcvd "$cfg" "$spool"

# --- order: authoritative servers first, the resolver after -----------------------
read -r owner target < <(dcvd_expected example.test "$LAB/csr/order0.csr")
md5=${owner%%.*}
lab_pause "knot-$S"
dcvd_drop "$spool" "$LAB/csr/order0.csr"
lab_check "order: the primary serves the record (published)" \
	lab_until 10 lab_serves "$P" "$LAB_PORT" "$owner" CNAME "$target"
_lab_now
resume_at=$((_LAB_NOW + 3000))
# The scenario itself: the secondary stays paused for 3 s while dcvd probes.
while _lab_now && ((_LAB_NOW < resume_at)); do
	sleep 0.1
done
lab_check "order: not visible while the secondary is paused (3 s)" test ! -e "$spool/done/order0.status"
lab_check "order: the job is in flight (CSR in active/)" test -e "$spool/active/order0.csr"
cp "$ulog" "$LAB/unbound-before-resume.log"
lab_resume "knot-$S"
lab_check "order: visible after the resume" lab_until 15 test -e "$spool/done/order0.status"
# Any name holding the _md5 label counts: the owner and the longer candidates.
lab_check "order: unbound got no query for $md5.* before the resume" \
	lab_not grep -qi "query: .*[ .]$md5\." "$LAB/unbound-before-resume.log"
lab_check "order: unbound's log does show queries (the oracle works)" \
	grep -qi 'query: .* localhost\. ' "$LAB/unbound-before-resume.log"
lab_check "order: dcvd asked unbound after the resume" grep -qi "query: .* ${owner}\. " "$ulog"
lab_check "order: unbound resolves the record (RD=1)" lab_resolves "$R" "$LAB_PORT" "$owner" CNAME "$target"
lab_check "order: no NXDOMAIN from unbound" test "$(lab_rcode --rec "$R" "$LAB_PORT" "$owner" CNAME)" = NOERROR
lab_check "order: unbound never answered NXDOMAIN for it" lab_not grep -qi "reply: .* ${owner}\. .*NXDOMAIN" "$ulog"

# has_record STATUS OWNER TARGET: the status file's records are exactly that one.
# shellcheck disable=SC2317 # run through lab_check
has_record() {
	python3 - "$@" <<-'EOF'
		import sys, yaml
		recs = [r.lower() for r in yaml.safe_load(open(sys.argv[1]))["records"]]
		want = "%s. 300 in cname %s." % (sys.argv[2], sys.argv[3])
		if recs != [want]:
		    print("  records %s, want [%s]" % (recs, want))
		    sys.exit(1)
	EOF
}

# --- sidecars ---------------------------------------------------------------------
unique=Ab12Cd34Ef56
printf 'unique_value: %s\n' "$unique" >"$LAB/uniq0.yaml"
dcvd_drop "$spool" "$LAB/uniq0.yaml"
dcvd_drop "$spool" "$LAB/csr/uniq0.csr"
read -r owner target < <(dcvd_expected example.test "$unique" "$LAB/csr/uniq0.csr")
lab_check "unique_value: visible" lab_until 15 test -e "$spool/done/uniq0.status"
lab_check "unique_value: the status lists the record, its target carries it ($target)" \
	has_record "$spool/done/uniq0.status" "$owner" "$target"
lab_check "unique_value: the primary serves it" lab_serves "$P" "$LAB_PORT" "$owner" CNAME "$target"
lab_check "unique_value: the secondary serves it" lab_serves "$S" "$LAB_PORT" "$owner" CNAME "$target"
lab_check "unique_value: the resolver serves it" lab_resolves "$R" "$LAB_PORT" "$owner" CNAME "$target"
# The status file comes first, the files follow in the same store batch.
lab_check "unique_value: the sidecar moved to done/ with its CSR" \
	lab_until 5 test -e "$spool/done/uniq0.yaml" -a -e "$spool/done/uniq0.csr"

read -r owner target < <(dcvd_expected example.test "$LAB/csr/match0.csr")
printf 'expect:\n  - "%s. 300 IN CNAME %s."\n' "$owner" "$target" >"$LAB/match0.yaml"
dcvd_drop "$spool" "$LAB/match0.yaml"
dcvd_drop "$spool" "$LAB/csr/match0.csr"
lab_check "expect that matches: visible" lab_until 15 test -e "$spool/done/match0.status"
lab_check "expect that matches: the secondary serves it" lab_serves "$S" "$LAB_PORT" "$owner" CNAME "$target"

read -r owner target < <(dcvd_expected example.test "$LAB/csr/differ0.csr")
wrong=0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.sectigo.com.
printf 'expect: "%s. CNAME %s"\n' "$owner" "$wrong" >"$LAB/differ0.yaml"
dcvd_drop "$spool" "$LAB/differ0.yaml"
dcvd_drop "$spool" "$LAB/csr/differ0.csr"
lab_check "expect that differs: failed" lab_until 15 test -e "$spool/failed/differ0.status"
err=$(dcvd_field "$spool/failed/differ0.status" error 2>/dev/null || true)
lab_check "expect that differs: the error names the CA's record ($err)" \
	grep -qiF "$owner. CNAME $wrong" <<<"$err"
lab_check "expect that differs: and the computed record" grep -qiF "$owner. CNAME $target" <<<"$err"
lab_check "expect that differs: CSR and sidecar in failed/" \
	lab_until 5 test -e "$spool/failed/differ0.csr" -a -e "$spool/failed/differ0.yaml"
lab_check "expect that differs: nothing published" \
	test "$(lab_rcode "$P" "$LAB_PORT" "$owner" CNAME)" = NXDOMAIN
lab_check "dcvd still runs" kill -0 "$(lab_pid dcvd)"
lab_finish
