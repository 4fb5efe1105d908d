#!/usr/bin/env bash
# dcvd_fault_hang.sh BUILD -- the primary hangs (SIGSTOP) for longer than
# dcvd's update timeout (30 s) while a burst of CSRs is in flight, then
# comes back (SIGCONT). dcvd keeps running, the log names the server and
# the timeouts meanwhile, no job fails, and after the resume every CSR ends
# in done/ with its record served by the primary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_faults.sh
source "$here/lib_faults.sh"
lab_init dcvd_fault_hang 13
fault_init "${1:?build folder}" "$LAB/spool"

fault_lab 150s
fault_start dcvd

n1=10 n2=30 n=40
"$GEN_CSRS" "$LAB" "$n1" example.test 1 early >/dev/null
"$GEN_CSRS" "$LAB" "$n2" example.test 1 late >/dev/null
for i in $(seq 0 $((n1 - 1))); do fault_stage "early$i.csr" "$LAB/early$i.csr"; done
fault_drop
lab_check "dcvd works before the fault: the first job is visible" \
	lab_until 20 bash -c "(( \$(ls $SPOOL/done/*.status 2>/dev/null | wc -l) >= 1 ))"

# The burst: the first jobs are in flight (publishing, probing), the rest
# arrive while the primary hangs.
lab_pause bind
for i in $(seq 0 $((n2 - 1))); do fault_stage "late$i.csr" "$LAB/late$i.csr"; done
fault_drop
_lab_now
hang_start=$_LAB_NOW

# dcvd's update gives up after 30 s and says why; dnsio's tries (over UDP,
# or over TCP when the batch is too big for one datagram) are what it last saw.
lab_check "the log names the hung primary and the update timeout" \
	lab_until 45 fault_log_match "zone example.test: primary bind \\($p@$LAB_PORT\\): no success within 30\\.0 s"
lab_check "... and the query timeouts behind it" \
	fault_log_has "primary bind \\($p@$LAB_PORT\\)" "no reply (over TCP )?after [0-9]+ tries"
lab_check "... and that it retries" fault_log_has "zone example.test: retrying [0-9]+ records in"
lab_check "... naming the zone once per line" lab_not fault_log_match "zone example.test: zone example.test"
lab_check "dcvd still runs while the primary hangs" fault_alive
lab_check "nothing failed while the primary hangs" fault_empty failed
lab_check "the jobs wait: not all are done" lab_not fault_done_is "$n"
_lab_now
hang=$((_LAB_NOW - hang_start))
lab_check "the primary hung longer than the update timeout (${hang} ms > 30000 ms)" \
	test "$hang" -gt 30000

lab_resume bind
lab_check "after the resume every CSR is visible: $n in done/" lab_until 40 fault_done_is "$n"
lab_check "every status says visible" fault_states 'done' visible
lab_check "no job failed" fault_empty failed
lab_check "incoming/ is empty" fault_empty incoming
lab_check "active/ is empty" fault_empty active
lab_check "every CSR is in done/" test "$(fault_count 'done' '*.csr')" = "$n"
fault_expect example.test "$LAB"/early*.csr "$LAB"/late*.csr >"$LAB/want"
missing=$(fault_unserved "$p" "$LAB/want")
lab_check "the primary serves all $n records (missing: $missing)" test "$missing" = 0
lab_check "dcvd still runs" fault_alive
lab_finish
