#!/usr/bin/env bash
# dcvd_signals.sh BUILD -- dcvd --check, SIGTERM, SIGINT and SIGHUP with real
# servers (BIND primary -> Knot secondary by NOTIFY/IXFR -> unbound):
#   --check   a broken configuration: exit 2 and FILE:LINE:COL on stderr;
#             a good one: "configuration OK", exit 0; a missing key file
#             is named
#   SIGTERM   exit status 0 within 2 s when idle, during a burst of 300
#             jobs waiting for a paused secondary, and with an UPDATE
#             in flight to a paused primary; after a restart every job
#             completes
#   SIGINT    the same, in the middle of a burst
#   SIGHUP    a configuration with a second zone is taken (a CSR for it
#             fails before, succeeds after); a broken one is refused with
#             FILE:LINE:COL in the log, the old one stays: the job in flight
#             and a new CSR succeed, dcvd keeps running
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
LAB_UPDATE_POLICY=any # a TXT record below goes in with the lab's key
dcvd_lab dcvd_signals 9 "$build" t1.test t2.test t3.test c1.test c2.test
lab_need openssl

# --- dcvd --check ---------------------------------------------------------------
dcvd_config "$LAB/good.yaml" "$LAB/spool-check" t1.test </dev/null
check() { # TAG CONFIG: runs dcvd --check; sets RC, OUT, ERR
	RC=0
	"$DCVD" -c "$2" --check >"$LAB/$1.out" 2>"$LAB/$1.err" || RC=$?
	OUT=$(cat "$LAB/$1.out") ERR=$(cat "$LAB/$1.err")
}
check good "$LAB/good.yaml"
lab_check "--check: a good configuration exits 0 ($RC)" test "$RC" = 0
lab_check "--check: and says \"configuration OK\"" test "$OUT" = "configuration OK"
# Line 2 of the file is "withdraw_after: 0": its value starts at column 17.
sed '2s/.*/withdraw_after: soon/' "$LAB/good.yaml" >"$LAB/bad-value.yaml"
check bad-value "$LAB/bad-value.yaml"
lab_check "--check: a bad value exits 2 ($RC)" test "$RC" = 2
lab_check "--check: stderr names FILE:2:17 ($ERR)" grep -q "^dcvd: $LAB/bad-value.yaml:2:17: .*soon" "$LAB/bad-value.err"
lab_check "--check: nothing on stdout" test -z "$OUT"
# The last line, "resolver: [ADDR]", loses its closing bracket.
sed '$s/]$//' "$LAB/good.yaml" >"$LAB/bad-syntax.yaml"
check bad-syntax "$LAB/bad-syntax.yaml"
lab_check "--check: a YAML syntax error exits 2 ($RC)" test "$RC" = 2
lab_check "--check: stderr names FILE:LINE:COL ($ERR)" \
	grep -Eq "^dcvd: $LAB/bad-syntax.yaml:[0-9]+:[0-9]+: YAML syntax error" "$LAB/bad-syntax.err"
sed "s#$LAB/keys/dcv.key#$LAB/keys/missing.key#" "$LAB/good.yaml" >"$LAB/no-key.yaml"
check no-key "$LAB/no-key.yaml"
lab_check "--check: a missing key file exits 2 ($RC)" test "$RC" = 2
lab_check "--check: stderr names the key file ($ERR)" grep -q "$LAB/keys/missing.key" "$LAB/no-key.err"

# --- SIGTERM, SIGINT ----------------------------------------------------------------
# stop NAME SIGNAL: sends SIGNAL, waits for the exit; sets STOP_MS and STOP_RC.
stop() {
	local pid start
	pid=$(lab_pid "$1")
	_lab_now
	start=$_LAB_NOW
	kill "-$2" "$pid"
	STOP_RC=0
	wait "$pid" 2>/dev/null || STOP_RC=$?
	_lab_now
	STOP_MS=$((_LAB_NOW - start))
}
stopped_ok() { # TAG
	lab_check "$1: exit status 0 ($STOP_RC)" test "$STOP_RC" = 0
	lab_check "$1: gone within 2 s ($STOP_MS ms)" test "$STOP_MS" -le 2000
}
# records_at_least N SPOOL: SPOOL/state holds the records of N jobs or more
# (the entries of the jobs database, LMDB's state/data.mdb).
# shellcheck disable=SC2317 # called through lab_until
records_at_least() {
	local n
	n=$(mdb_stat -s jobs "$2/state" 2>/dev/null | awk '/Entries:/ { print $2 }')
	((${n:-0} >= $1))
}

csrs() { # DIR N ZONE: N CSRs in DIR
	mkdir -p "$1"
	"$GEN_CSRS" "$1" "$2" "$3" 1 c >/dev/null
}

spool=$LAB/spool1 cfg=$LAB/dcvd1.yaml
dcvd_config "$cfg" "$spool" t1.test </dev/null
dcvd_start term "$cfg" "$spool"
lab_until 10 grep -q 'started' "$(lab_log term)" || true
stop term TERM
stopped_ok "SIGTERM, idle"
lab_check "SIGTERM, idle: logs that it stopped" grep -q 'info: stopped' "$(lab_log term)"

# A burst waiting for a paused secondary: 300 jobs published, probing.
csrs "$LAB/csr1" 300 t1.test
lab_restart term
lab_pause "knot-$S"
dcvd_stage "$spool" "$LAB"/csr1/*.csr
dcvd_release "$spool"
lab_check "SIGTERM, burst: 300 job records written" lab_until 20 records_at_least 300 "$spool"
lab_check "SIGTERM, burst: jobs published, waiting for the secondary" \
	lab_until 10 grep -q 'publishing -> published' "$(lab_log term)"
stop term TERM
stopped_ok "SIGTERM, burst in flight"
dcvd_n "$spool/done" '*.status'
lab_check "SIGTERM, burst: none visible yet (secondary paused)" test "$DCVD_N" = 0
lab_resume "knot-$S"
lab_restart term
dcvd_check_complete "SIGTERM, burst, after restart" "$spool" "$cfg" t1.test "$LAB"/csr1/*.csr
lab_stop term

# An UPDATE in flight to a paused primary.
spool=$LAB/spool2 cfg=$LAB/dcvd2.yaml
dcvd_config "$cfg" "$spool" t2.test </dev/null
csrs "$LAB/csr2" 1 t2.test
dcvd_start term2 "$cfg" "$spool"
lab_pause "bind-$P"
dcvd_drop "$spool" "$LAB/csr2/c0.csr"
lab_check "SIGTERM, UPDATE in flight: job record written" lab_until 10 records_at_least 1 "$spool"
lab_check "SIGTERM, UPDATE in flight: the UPDATE is out" \
	lab_until 10 grep -q 'zone t2.test: UPDATE add of 1 records' "$(lab_log term2)"
stop term2 TERM
stopped_ok "SIGTERM, UPDATE to a paused primary in flight"
lab_check "SIGTERM, UPDATE in flight: the log says the update was canceled" \
	grep -q 'warning: zone t2.test: primary bind .*canceled' "$(lab_log term2)"
lab_check "SIGTERM, UPDATE in flight: ... naming the zone once" \
	lab_not grep -q 'zone t2.test: zone t2.test' "$(lab_log term2)"
lab_resume "bind-$P"
lab_restart term2
dcvd_check_complete "SIGTERM, UPDATE in flight, after restart" "$spool" "$cfg" t2.test "$LAB/csr2/c0.csr"
lab_stop term2

# SIGTERM between two confirmation rounds of an UPDATE: the owner name holds
# a TXT record, so BIND answers NOERROR to the add and keeps the TXT alone;
# dcvd's confirmation query finds no CNAME and asks again after 250 ms. The
# stop comes in that pause, when no query is out: the update must end with
# the stop rather than send its next round on a dnsio already closed.
spool=$LAB/spool5 cfg=$LAB/dcvd5.yaml
dcvd_config "$cfg" "$spool" t2.test </dev/null
mkdir -p "$LAB/csr5"
"$GEN_CSRS" "$LAB/csr5" 1 t2.test 1 busy >/dev/null
read -r owner _ < <(dcvd_expected t2.test "$LAB/csr5/busy0.csr")
lab_nsupdate dcv "$P" "$LAB_PORT" <<<"update add $owner. 30 TXT occupied" >/dev/null
dcvd_start term5 "$cfg" "$spool"
dcvd_drop "$spool" "$LAB/csr5/busy0.csr"
lab_check "SIGTERM between confirmation rounds: the UPDATE is out" \
	lab_until 10 grep -q 'zone t2.test: UPDATE add of 1 records' "$(lab_log term5)"
sleep 0.1
stop term5 TERM
stopped_ok "SIGTERM between confirmation rounds"
lab_check "SIGTERM between confirmation rounds: the update ends as canceled" \
	grep -q 'warning: zone t2.test: primary bind .*canceled' "$(lab_log term5)"
lab_check "SIGTERM between confirmation rounds: the job is not failed" \
	dcvd_empty "$spool/failed"

# SIGINT in the middle of a burst.
spool=$LAB/spool3 cfg=$LAB/dcvd3.yaml
dcvd_config "$cfg" "$spool" t3.test </dev/null
csrs "$LAB/csr3" 300 t3.test
dcvd_start int "$cfg" "$spool"
dcvd_stage "$spool" "$LAB"/csr3/*.csr
dcvd_release "$spool"
lab_until 30 dcvd_at_least 30 "$spool/done" '*.status' || true
stop int INT
stopped_ok "SIGINT, burst in flight"
dcvd_n "$spool/done" '*.status'
visible=$DCVD_N
dcvd_n "$spool/active" '*.csr'
lab_check "SIGINT: it came in the middle of the burst ($visible status files in done/, $DCVD_N CSRs in active/)" \
	test "$visible" -ge 30 -a "$DCVD_N" -gt 0
lab_check "SIGINT: logs it" grep -q 'SIGINT: stopping' "$(lab_log int)"
lab_restart int
dcvd_check_complete "SIGINT, after restart" "$spool" "$cfg" t3.test "$LAB"/csr3/*.csr
lab_stop int

# --- SIGHUP ---------------------------------------------------------------------------
spool=$LAB/spool4 cfg=$LAB/dcvd4.yaml
dcvd_config "$cfg" "$spool" c1.test </dev/null
mkdir -p "$LAB/csr4"
for n in a b c; do
	"$GEN_CSRS" "$LAB/csr4" 1 c1.test 1 "one-$n" >/dev/null
	"$GEN_CSRS" "$LAB/csr4" 1 c2.test 1 "two-$n" >/dev/null
done
dcvd_start hup "$cfg" "$spool"
hup_log=$(lab_log hup)
dcvd_drop "$spool" "$LAB/csr4/two-a0.csr"
lab_check "SIGHUP: before the reload a CSR for c2.test fails" \
	lab_until 10 test -e "$spool/failed/two-a0.status"
lab_check "SIGHUP: ... as in no configured zone" grep -q 'lies in no configured zone' "$spool/failed/two-a0.status"

dcvd_config "$cfg" "$spool" c1.test c2.test </dev/null
kill -HUP "$(lab_pid hup)"
lab_check "SIGHUP: the new configuration is loaded" lab_until 5 grep -q "reload: $cfg loaded" "$hup_log"
dcvd_drop "$spool" "$LAB/csr4/two-b0.csr"
lab_check "SIGHUP: a CSR for the added zone c2.test is visible" \
	lab_until 20 test -e "$spool/done/two-b0.status"
dcvd_expected c2.test "$LAB/csr4/two-b0.csr" >"$LAB/two-b0.want"
read -r owner target <"$LAB/two-b0.want"
lab_check "SIGHUP: the secondary serves it" lab_serves "$S" "$LAB_PORT" "$owner" CNAME "$target"

# A job in flight (secondary paused) across a broken reload.
lab_pause "knot-$S"
dcvd_drop "$spool" "$LAB/csr4/one-a0.csr"
lab_check "SIGHUP: a job is in flight (its secondary paused)" lab_until 10 test -e "$spool/active/one-a0.csr"
cp "$cfg" "$LAB/dcvd4.good"
# Line 3 is "visible_timeout: 40s": a bad duration at column 18.
sed '3s/.*/visible_timeout: later/' "$LAB/dcvd4.good" >"$cfg"
kill -HUP "$(lab_pid hup)"
lab_check "SIGHUP, broken: refused with FILE:LINE:COL in the log" \
	lab_until 5 grep -q "error: reload: $cfg:3:18: visible_timeout" "$hup_log"
# Its own line, logged after the one above: waited for too (under ASan it
# came 5 ms later, after the check had read the log).
lab_check "SIGHUP, broken: says it keeps the running configuration" \
	lab_until 5 grep -q "reload: $cfg refused; keeping the running configuration" "$hup_log"
lab_check "SIGHUP, broken: dcvd still runs" kill -0 "$(lab_pid hup)"
lab_resume "knot-$S"
lab_check "SIGHUP, broken: the job in flight completes" lab_until 20 test -e "$spool/done/one-a0.status"
dcvd_drop "$spool" "$LAB/csr4/two-c0.csr"
lab_check "SIGHUP, broken: a new CSR (zone c2.test of the kept configuration) is visible" \
	lab_until 20 test -e "$spool/done/two-c0.status"
dcvd_drop "$spool" "$LAB/csr4/one-b0.csr"
lab_check "SIGHUP, broken: and one for c1.test" lab_until 20 test -e "$spool/done/one-b0.status"
lab_check "SIGHUP: dcvd still runs at the end" kill -0 "$(lab_pid hup)"
stop hup TERM
stopped_ok "SIGTERM after the reloads"
lab_finish
