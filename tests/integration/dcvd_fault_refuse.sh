#!/usr/bin/env bash
# dcvd_fault_refuse.sh BUILD -- primaries that refuse, and a skewed clock:
#   1. two independent BIND primaries for one zone (primary: [a, b]); b
#      refuses: its update policy does not grant our key (REFUSED), or for
#      another zone it holds our key name with another secret (BADSIG).
#      The contract (update.h, zbatch.c, engine.h): a record succeeds only
#      when every primary accepted and confirmed it; a refusal is a
#      configuration error that fails the job at once, naming the primary,
#      its address and the reason; what the other primary accepted is
#      deleted again (cleanup). dcvd keeps running; other zones go on.
#   2. BADTIME: dcv publish and dcvd under faketime 20 minutes behind: the
#      message names the server and the skew in seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_faults.sh
source "$here/lib_faults.sh"
lab_init dcvd_fault_refuse 15
fault_init "${1:?build folder}" "$LAB/spool"
lab_need faketime openssl tsig-keygen dpkg

a=$LAB_NET.1 b=$LAB_NET.2 c=$LAB_NET.3
lab_key other hmac-sha256
lab_key dcv hmac-sha256
chmod 0640 "$LAB/keys/dcv.key"
for z in one.test two.test three.test; do lab_zone_file "$z" "ns1=$a"; done
lab_bind_primary "$a" "$LAB_PORT" dcv one.test two.test three.test --name bind-a
# b: one.test, knows key dcv, but its update policy grants only key other.
lab_zone_file one.test "ns1=$b"
lab_bind_primary "$b" "$LAB_PORT" other one.test --name bind-b
echo "include \"$LAB/keys/dcv.key\";" >>"$LAB/bind-b/named.conf"
lab_restart bind-b
# c: two.test, holds a key named dcv with another secret.
mkdir -p "$LAB/wrong"
tsig-keygen -a hmac-sha256 dcv >"$LAB/wrong/dcv.key"
lab_zone_file two.test "ns1=$c"
lab_bind_primary "$c" "$LAB_PORT" - two.test --name bind-c
sed -i -e "1i include \"$LAB/wrong/dcv.key\";" \
	-e 's/^\( *type primary;\)$/\1\n        update-policy { grant dcv zonesub ANY; };/' "$LAB/bind-c/named.conf"
lab_restart bind-c
lab_check "bind-b really refuses key dcv (nsupdate)" lab_not lab_nsupdate dcv "$b" "$LAB_PORT" \
	<<<"update add probe.one.test. 30 IN TXT x" 2>/dev/null
lab_check "bind-c really rejects key dcv (nsupdate)" lab_not lab_nsupdate dcv "$c" "$LAB_PORT" \
	<<<"update add probe.two.test. 30 IN TXT x" 2>/dev/null

cat >"$LAB/dcvd.yaml" <<EOF
spool: $SPOOL
withdraw_after: 0
visible_timeout: 60s
key:
  - id: dcv
    file: $LAB/keys/dcv.key
remote:
  - id: prim-a
    address: $a@$LAB_PORT
    key: dcv
  - id: prim-b
    address: $b@$LAB_PORT
    key: dcv
  - id: prim-c
    address: $c@$LAB_PORT
    key: dcv
zone:
  - domain: one.test
    primary: [prim-a, prim-b]
    nameservers: [$a@$LAB_PORT, $b@$LAB_PORT]
  - domain: two.test
    primary: [prim-a, prim-c]
    nameservers: [$a@$LAB_PORT, $c@$LAB_PORT]
  - domain: three.test
    primary: [prim-a]
    nameservers: [$a@$LAB_PORT]
EOF
fault_start dcvd

csr() { # NAME CN
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$LAB/$1.key" \
		-subj "/CN=$2" -out "$LAB/$1.csr" 2>/dev/null
}
csr one www.one.test
csr two www.two.test
csr three www.three.test
for x in one two three; do fault_stage "$x.csr" "$LAB/$x.csr"; done
fault_drop

# --- 1. a refusing primary ----------------------------------------------------
lab_check "one.csr fails" lab_until 20 test -e "$SPOOL/failed/one.status"
lab_check "two.csr fails" lab_until 20 test -e "$SPOOL/failed/two.status"
lab_check "three.csr (a zone without the refusing primary) is visible" \
	lab_until 20 test -e "$SPOOL/done/three.status"
err_one=$(fault_field "$SPOOL/failed/one.status" error 2>/dev/null || true)
err_two=$(fault_field "$SPOOL/failed/two.status" error 2>/dev/null || true)
echo "  failed/one.status: $err_one"
echo "  failed/two.status: $err_two"
lab_check "one's reason names zone, primary, address and REFUSED of key dcv" \
	grep -Eq "^zone one\.test: primary prim-b \\($b@$LAB_PORT\\): REFUSED: the server will not let key 'dcv' update zone one\\.test" <<<"$err_one"
lab_check "two's reason names zone, primary, address and BADSIG of key dcv" \
	grep -Eq "^zone two\.test: primary prim-c \\($c@$LAB_PORT\\): TSIG BADSIG: .*key 'dcv'" <<<"$err_two"
lab_check "the reasons do not blame the primary that accepted" \
	lab_not grep -q "prim-a" <<<"$err_one$err_two"
lab_check "the log says so too (REFUSED)" fault_log_has "job one~" "failed: zone one\\.test: primary prim-b \\($b@$LAB_PORT\\): REFUSED"
lab_check "the log says so too (BADSIG)" fault_log_has "job two~" "failed: zone two\\.test: primary prim-c \\($c@$LAB_PORT\\): TSIG BADSIG"
lab_check "the CSRs went to failed/" eval 'test -e "$SPOOL/failed/one.csr" && test -e "$SPOOL/failed/two.csr"'
fault_expect one.test "$LAB/one.csr" >"$LAB/want.one"
fault_expect two.test "$LAB/two.csr" >"$LAB/want.two"
read -r own1 _ <"$LAB/want.one"
read -r own2 _ <"$LAB/want.two"
lab_check "cleanup: prim-a no longer serves one's record" \
	lab_until 10 lab_not lab_serves "$a" "$LAB_PORT" "$own1" CNAME
lab_check "cleanup: prim-a no longer serves two's record" \
	lab_until 10 lab_not lab_serves "$a" "$LAB_PORT" "$own2" CNAME
lab_check "bind-b never had it" lab_not lab_serves "$b" "$LAB_PORT" "$own1" CNAME
# cleanup_ended NAME...: `dcv status` lists each NAME's job as failed, and
# not as "records still being deleted" (its job record's cleanup is over).
# shellcheck disable=SC2317 # called through lab_until
cleanup_ended() {
	local out name
	out=$("$DCV" status -c "$LAB/dcvd.yaml" 2>&1) || return 1
	for name in "$@"; do
		grep -qE "^failed +$name~" <<<"$out" || return 1
		! grep -qE "^failed +$name~.*records still being deleted" <<<"$out" || return 1
	done
}
lab_check "the cleanup ends: the job records say nothing is left to delete" \
	lab_until 15 cleanup_ended one two
lab_check "dcvd still runs" fault_alive
# grep -c prints 0 when nothing matches: the floor makes a changed log wording
# (of named or of this test) fail instead of passing as "not hammered".
updates_b=$(grep -c "updating zone 'one.test/IN': update failed: rejected" "$(lab_log bind-b)" || true)
lab_check "bind-b logged our refused updates, and is not hammered: $updates_b (1 to 4)" \
	test "$updates_b" -ge 1 -a "$updates_b" -le 4

# --- 2. BADTIME: 20 minutes behind ------------------------------------------------
# Only the wall clock is shifted; timers run on the monotonic clock.
csr late www.three.test
rc=0
# libfaketime is preloaded ahead of ASan's runtime in the sanitized build;
# ASan refuses that unless told the order is fine (faketime wraps no malloc).
asan_order="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
env "$asan_order" FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f -20m "$DCV" publish -c "$LAB/dcvd.yaml" \
	"$LAB/late.csr" >"$LAB/late.out" 2>"$LAB/late.err" || rc=$?
echo "  dcv publish (20 min behind): $(tr '\n' ' ' <"$LAB/late.err")"
lab_check "dcv publish 20 min behind fails" test "$rc" = 1
lab_check "... naming the server and BADTIME" \
	grep -Eq "prim-a \\($a@$LAB_PORT\\): TSIG BADTIME" "$LAB/late.err"
lab_check "... with the skew in seconds and which clock is behind (1200 +- 5 s)" \
	grep -Eq "our clock is (119[5-9]|120[0-5]) s behind the server.s" "$LAB/late.err"

# dcvd gets libfaketime preloaded by env, which execs: the faketime command
# forks and waits, so the lab would stop faketime and leave dcvd running.
libfaketime=$(dpkg -L libfaketime 2>/dev/null | grep -m 1 '/libfaketimeMT\.so\.1$' || true)
[[ -n $libfaketime ]] || lab_fail "libfaketimeMT.so.1 not found (package libfaketime)"
skewed=(env "$asan_order" "LD_PRELOAD=$libfaketime" FAKETIME=-20m FAKETIME_DONT_FAKE_MONOTONIC=1)
skew_spool=$LAB/spool-skew
sed -e "s#^spool: .*#spool: $skew_spool#" "$LAB/dcvd.yaml" >"$LAB/skew.yaml"
mkdir -p "$skew_spool"
lab_spawn dcvd-skew "${skewed[@]}" "$DCVD" -c "$LAB/skew.yaml" -v
lab_until 10 test -d "$skew_spool/incoming" || lab_fail "dcvd-skew did not start"
cp "$LAB/late.csr" "$skew_spool/.late.csr" && mv "$skew_spool/.late.csr" "$skew_spool/incoming/late.csr"
lab_check "dcvd 20 min behind: the job fails" lab_until 20 test -e "$skew_spool/failed/late.status"
err=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["error"])' \
	"$skew_spool/failed/late.status" 2>/dev/null || true)
echo "  failed/late.status: $err"
lab_check "... naming the server, BADTIME and the skew in seconds" \
	grep -Eq "prim-a \\($a@$LAB_PORT\\): TSIG BADTIME: .*our clock is (119[5-9]|120[0-5]) s behind the server.s" <<<"$err"
lab_check "... in its log too" \
	fault_log_has dcvd-skew: "job late~" "failed: .*prim-a \\($a@$LAB_PORT\\): TSIG BADTIME"
lab_check "dcvd 20 min behind still runs" fault_alive dcvd-skew
lab_check "... as the process the lab stops (no wrapper left behind)" \
	test "$(readlink "/proc/$(lab_pid dcvd-skew)/exe")" = "$(readlink -f "$DCVD")"
lab_finish
