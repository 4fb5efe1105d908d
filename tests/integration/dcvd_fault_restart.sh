#!/usr/bin/env bash
# dcvd_fault_restart.sh BUILD -- BIND primary -> Knot secondary under dcvd:
#   1. the primary restarts while a burst of 200 CSRs is being published:
#      every job completes, and the zone (AXFR) holds exactly the 200
#      records, none missing, none twice, nothing else;
#   2. the secondary lags (paused): the jobs wait, the log names the
#      secondary, and they become visible once it catches up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_faults.sh
source "$here/lib_faults.sh"
lab_init dcvd_fault_restart 14
fault_init "${1:?build folder}" "$LAB/spool"

fault_lab 90s secondary
fault_start dcvd

# --- 1. the primary restarts mid-batch -----------------------------------------
n=200
"$GEN_CSRS" "$LAB" "$n" example.test 1 b >/dev/null
for i in $(seq 0 $((n - 1))); do fault_stage "b$i.csr" "$LAB/b$i.csr"; done
# The primary hangs while the burst comes in, so that an UPDATE is surely
# in flight (sent, not answered) when it restarts, and the rest queued.
lab_pause bind
fault_drop
lab_until 10 fault_log_match "zone example.test: UPDATE add of" ||
	lab_fail "no UPDATE within 10 s"
lab_until 10 eval '(($(fault_log_count "received -> publishing") == n))' ||
	lab_fail "not all $n jobs publishing within 10 s"
restarted_done=$(fault_count 'done')
lab_restart bind
lab_check "the restart came mid-batch ($restarted_done of $n done by then)" \
	test "$restarted_done" -lt "$n"
lab_check "all $n CSRs end in done/" lab_until 45 fault_done_is "$n"
lab_check "every status says visible" fault_states 'done' visible
lab_check "no job failed" fault_empty failed
lab_check "incoming/ and active/ are empty" eval 'fault_empty incoming && fault_empty active'
# The restarted named wrote what it added after "=== lab: ... start" (lab.sh).
added=$(awk '/^=== lab: .* start: / { n++ } n == 2 && /adding an RR at ._/' "$(lab_log bind)" | wc -l)
lab_check "the restarted primary received records of the burst ($added)" test "$added" -gt 0
fault_expect example.test "$LAB"/b*.csr >"$LAB/want"
if fault_axfr "$p" "$LAB_PORT" example.test "$s" >"$LAB/got"; then
	lab_check "AXFR: $(wc -l <"$LAB/got") DCV records in the zone, $n expected" \
		test "$(wc -l <"$LAB/got")" = "$n"
	lab_check "AXFR: no record missing" \
		test -z "$(comm -23 "$LAB/want" "$LAB/got" | head -n 3)"
	lab_check "AXFR: no record twice or unexpected" \
		test -z "$(comm -13 "$LAB/want" "$LAB/got" | head -n 3)"
else
	lab_fail "AXFR from the primary"
fi
last=$(tail -n 1 "$LAB/want")
lab_check "the secondary serves them too" lab_serves "$s" "$LAB_PORT" "${last% *}" CNAME "${last#* }"

# --- 2. the secondary lags ------------------------------------------------------
"$GEN_CSRS" "$LAB" 5 example.test 1 lag >/dev/null
lab_pause knot
for i in 0 1 2 3 4; do fault_stage "lag$i.csr" "$LAB/lag$i.csr"; done
fault_drop
fault_expect example.test "$LAB"/lag*.csr >"$LAB/lagwant"
first=$(head -n 1 "$LAB/lagwant")
lab_check "the primary serves the new records" \
	lab_until 10 lab_serves "$p" "$LAB_PORT" "${first% *}" CNAME "${first#* }"
lab_check "the log names the lagging secondary and what it does not answer" \
	lab_until 15 fault_log_match "job lag[0-9]~[0-9a-f]+: published [0-9.]+ s ago, not yet visible everywhere: server $s@$LAB_PORT asked _[0-9a-f]{32}\.(h[0-9]\.)?example\.test\. for h[0-9]\.example\.test: timed out"
lab_check "the jobs wait: none is done" fault_done_is "$n"
lab_check "the jobs wait: their CSRs are in active/" \
	test "$(fault_count active 'lag*.csr')" = 5
"$DCV" status -c "$LAB/dcvd.yaml" >"$LAB/status.out" 2>&1 || true
lab_check "dcv status lists them in flight" grep -q "lag0" "$LAB/status.out"
lab_resume knot
lab_check "once the secondary catches up all 5 are visible" lab_until 20 fault_done_is $((n + 5))
lab_check "the secondary serves them" lab_serves "$s" "$LAB_PORT" "${first% *}" CNAME "${first#* }"
lab_check "no job failed" fault_empty failed
lab_check "dcvd still runs" fault_alive
lab_finish
