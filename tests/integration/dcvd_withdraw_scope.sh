#!/usr/bin/env bash
# dcvd_withdraw_scope.sh BUILD -- a withdrawal deletes exactly our record
# (owner, type and data: RFC 2136 2.5.4), never the CNAME RRset at the owner.
# Real servers: BIND primary -> Knot secondary (NOTIFY/IXFR) -> unbound.
#   dcvd     two CSRs published by dcvd (withdraw_after 8s); once both are
#            visible, someone else replaces the record at one owner with
#            their own CNAME (one nsupdate with the lab's key: delete ours,
#            add theirs; adds carry "no CNAME at the owner", so theirs can
#            only come after ours is gone). When dcvd withdraws, the other
#            owner's record is gone (the control: the withdrawal happened)
#            and theirs stays, on the primary and on the secondary, and both
#            jobs end withdrawn. (Not asked of the resolver: it has our
#            record cached, and theirs points nowhere it can resolve.)
#   dcv      the same with dcv publish, the replacement, dcv withdraw.
# Expected records come from python's hashlib over the DER bytes
# (dcvd_expected), never from dcv.
# shellcheck disable=SC2317 # the helpers below run through lab_check and lab_until
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
dcvd_lab dcvd_withdraw_scope 24 "$build" scope.test
lab_need nsupdate

spool=$LAB/spool cfg=$LAB/dcvd.yaml
# withdraw_after: long enough to replace the record after visible, also on a
# busy machine; short enough for a quick test.
dcvd_config "$cfg" "$spool" scope.test </dev/null
sed -i 's/^withdraw_after: 0$/withdraw_after: 8s/' "$cfg"
grep -qx "withdraw_after: 8s" "$cfg" || lab_fail "withdraw_after 8s is not in $cfg"
lab_check "dcvd --check accepts the configuration" "$DCVD" -c "$cfg" --check
mkdir -p "$LAB/csr"
for n in taken kept cli; do
	"$GEN_CSRS" "$LAB/csr" 1 scope.test 1 "$n" >/dev/null
done
read -r own_t tgt_t < <(dcvd_expected scope.test "$LAB/csr/taken0.csr")
read -r own_k tgt_k < <(dcvd_expected scope.test "$LAB/csr/kept0.csr")
theirs=someone-else.example.net

# replace OWNER OURS: one UPDATE by "someone else": our record out, theirs in.
replace() {
	lab_nsupdate dcv "$P" "$LAB_PORT" <<-EOF
		update delete $1. CNAME $2.
		update add $1. 300 CNAME $theirs.
	EOF
}

# serves_theirs ADDR OWNER: ADDR serves their CNAME at OWNER, and only it.
serves_theirs() {
	[[ $(_lab_answers norec "$1" "$LAB_PORT" "$2" CNAME) == "$theirs" ]]
}

# both_are STATE: the status files of both dcvd jobs say STATE.
both_are() {
	local f
	for f in "$spool/done/taken0.status" "$spool/done/kept0.status"; do
		[[ -e $f && $(dcvd_field "$f" state) == "$1" ]] || return 1
	done
}

# --- dcvd ------------------------------------------------------------------------
dcvd_start dcvd "$cfg" "$spool"
dcvd_stage "$spool" "$LAB/csr/taken0.csr" "$LAB/csr/kept0.csr"
dcvd_release "$spool"
lab_check "dcvd: both CSRs visible" lab_until 20 both_are visible
lab_check "dcvd: the primary serves our record at the owner to be taken" \
	lab_serves "$P" "$LAB_PORT" "$own_t" CNAME "$tgt_t"
lab_check "dcvd: ... and the control record" lab_serves "$P" "$LAB_PORT" "$own_k" CNAME "$tgt_k"
lab_check "dcvd: someone else replaces it (nsupdate: delete ours, add theirs)" \
	replace "$own_t" "$tgt_t"
lab_check "dcvd: the primary serves theirs, not ours" serves_theirs "$P" "$own_t"
lab_check "dcvd: ... and so does the secondary" lab_until 5 serves_theirs "$S" "$own_t"
lab_check "dcvd: the replacement came before the withdrawal" \
	test "$(dcvd_field "$spool/done/taken0.status" state)" = visible
lab_check "dcvd: both jobs withdrawn after withdraw_after" lab_until 30 both_are withdrawn
lab_check "dcvd: the control record is gone from the primary" \
	lab_not lab_serves "$P" "$LAB_PORT" "$own_k" CNAME
lab_check "dcvd: ... and from the secondary" lab_until 5 lab_not lab_serves "$S" "$LAB_PORT" "$own_k" CNAME
lab_check "dcvd: their CNAME stays on the primary (dig)" serves_theirs "$P" "$own_t"
lab_check "dcvd: ... and on the secondary" lab_until 5 dcvd_same_serial scope.test
lab_check "dcvd: ... the secondary serves it too" serves_theirs "$S" "$own_t"
lab_check "dcvd still runs" kill -0 "$(lab_pid dcvd)"
lab_stop dcvd

# --- dcv ------------------------------------------------------------------------
read -r own_c tgt_c < <(dcvd_expected scope.test "$LAB/csr/cli0.csr")
"$DCV" publish -c "$cfg" "$LAB/csr/cli0.csr" >"$LAB/pub.out" 2>&1 || true
lab_check "dcv: publish put our record on the primary" lab_serves "$P" "$LAB_PORT" "$own_c" CNAME "$tgt_c"
lab_check "dcv: someone else replaces it" replace "$own_c" "$tgt_c"
rc=0
"$DCV" withdraw -c "$cfg" --timeout 15 "$LAB/csr/cli0.csr" >"$LAB/wd.out" 2>&1 || rc=$?
echo "  dcv withdraw (exit $rc): $(tr '\n' ' ' <"$LAB/wd.out")"
lab_check "dcv: withdraw exits 0 (our record is not served)" test "$rc" = 0
lab_check "dcv: their CNAME stays on the primary (dig)" serves_theirs "$P" "$own_c"
lab_check "dcv: ... and on the secondary" lab_until 5 serves_theirs "$S" "$own_c"
lab_finish
