#!/usr/bin/env bash
# dcvd_fault_spool.sh BUILD -- the spool's filesystem fails under dcvd (the
# spool is a small tmpfs mounted for the test; needs root):
#   1. full (ENOSPC): CSRs dropped meanwhile are claimed, dcvd logs that it
#      cannot save job states and why, keeps running; once space is freed
#      everything completes;
#   2. read-only (remount,ro) while jobs are in flight and new CSRs arrive:
#      the same, and no CSR is failed for it; after remount,rw all complete
#      (dcvd holds its job database, state/data.mdb, open only while a
#      batch runs, so the remount is done between two batches);
#   3. a job database that cannot be read (both meta pages of data.mdb
#      garbage, while dcvd is stopped): dcvd refuses to start, naming the
#      file and what to do; once it is moved aside (as the message says)
#      dcvd starts empty, the CSRs of the jobs that were in flight are taken
#      again and every job completes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_faults.sh
source "$here/lib_faults.sh"
lab_init dcvd_fault_spool 16
fault_init "${1:?build folder}" "$LAB/spool"
lab_need mount umount findmnt

mount -t tmpfs -o size=2m,mode=0750 dcv-fault-spool "$SPOOL"
lab_atexit "umount -l '$SPOOL' 2>/dev/null"
lab_check "the spool is a tmpfs of its own" findmnt -n -t tmpfs "$SPOOL"

fault_lab 120s secondary
fault_start dcvd
"$GEN_CSRS" "$LAB" 40 example.test 1 c >/dev/null
stage() { # FIRST LAST: stages c<FIRST>.csr .. c<LAST>.csr
	local i
	for i in $(seq "$1" "$2"); do fault_stage "c$i.csr" "$LAB/c$i.csr"; done
}
total=0
stage 0 0
fault_drop
total=1
lab_check "dcvd works before the faults" lab_until 10 fault_done_is "$total"

# --- 1. full -------------------------------------------------------------------
stage 1 10
head -c 8M /dev/zero >"$SPOOL/.filler" 2>/dev/null || true
lab_check "the spool is full" lab_not bash -c "echo x >'$SPOOL/.probe'"
fault_drop
total=11
lab_check "dcvd says it cannot save job states: no space left (ENOSPC)" \
	lab_until 10 fault_log_match "spool $SPOOL: cannot save [0-9]+ job states: .*No space left on device"
fault_log_has "spool $SPOOL: cannot save [0-9]+ job states: .*No space left on device"
lab_check "dcvd runs on while the spool is full" fault_alive
lab_check "no job failed for it" fault_empty failed
lab_check "the CSRs are claimed and kept in active/" \
	lab_until 5 eval '(($(fault_count active "c*.csr") == 10))'
rm -f "$SPOOL/.filler"
lab_check "space freed: all $total CSRs visible" lab_until 25 fault_done_is "$total"
lab_check "dcvd says saving works again" fault_log_has "spool $SPOOL: saving job states works again"
lab_check "no job failed" fault_empty failed
lab_check "incoming/ and active/ are empty" eval 'fault_empty incoming && fault_empty active'

# --- 2. read-only ----------------------------------------------------------------
# Jobs in flight: published, waiting for the (paused) secondary.
lab_pause knot
stage 11 15
fault_drop
lab_until 10 eval '(($(fault_log_count "job c1[1-5]~.*: publishing -> published") == 5))' ||
	lab_fail "c11..c15 not published within 10 s"
# New CSRs arrive while the spool turns read-only under a stopped dcvd. It
# holds its job database open only while a batch runs (a file open for
# writing would make the remount fail): it is paused between two.
for _ in $(seq 100); do
	lab_pause dcvd
	pid=$(lab_pid dcvd)
	grep -q 'state/data\.mdb' "/proc/$pid/maps" ||
		ls -l "/proc/$pid/fd" | grep -q 'state/.*\.mdb' || break
	lab_resume dcvd
	sleep 0.05
done
stage 16 20
fault_drop
mount -o remount,ro "$SPOOL"
lab_resume dcvd
lab_resume knot
total=21
lab_check "dcvd says it cannot save job states: read-only (EROFS)" \
	lab_until 10 fault_log_match "spool $SPOOL: cannot save [0-9]+ job states: .*Read-only file system"
lab_check "dcvd says it cannot claim the new CSRs: read-only" \
	lab_until 10 fault_log_match "spool $SPOOL: .*incoming/c(1[6-9]|20)\\.csr.*Read-only file system"
lab_check "dcvd runs on while the spool is read-only" fault_alive
lab_check "no job failed for it" fault_empty failed
lab_check "the new CSRs wait in incoming/" test "$(fault_count incoming 'c*.csr')" = 5
mount -o remount,rw "$SPOOL"
lab_check "read-write again: all $total CSRs visible" lab_until 25 fault_done_is "$total"
lab_check "no job failed" fault_empty failed
lab_check "incoming/ and active/ are empty" eval 'fault_empty incoming && fault_empty active'
lab_check "every status says visible" fault_states 'done' visible

# --- 3. a job database that cannot be read ------------------------------------------
lab_pause knot
stage 21 24
fault_drop
lab_until 10 eval '(($(fault_log_count "job c2[1-4]~.*: publishing -> published") == 4))' ||
	lab_fail "c21..c24 not published within 10 s"
lab_stop dcvd
# Both meta pages of the LMDB file garbage: no reader can make sense of it.
head -c 8192 /dev/urandom | dd of="$SPOOL/state/data.mdb" conv=notrunc status=none
lab_restart dcvd 2>/dev/null || true
lab_check "dcvd does not run on a job database it cannot read" lab_until 10 lab_not fault_alive
lab_check "it says why, naming the file and what to do" \
	fault_log_has "dcvd: error: $SPOOL/state/data\\.mdb: cannot open the job database: .+; dcvd does not start on it: move state/data\\.mdb aside"
lab_check "it never said it started" test "$(fault_log_count "dcvd: info: started")" = 1
lab_check "the CSRs of its jobs in flight stay in active/" test "$(fault_count active 'c2[1-4].csr')" = 4
mv "$SPOOL/state/data.mdb" "$LAB/data.mdb.damaged"
lab_restart dcvd
lab_until 10 eval '(($(fault_log_count "dcvd: info: started") == 2))' || lab_fail "dcvd did not start again"
lab_check "moved aside, the CSRs of the jobs in flight go back to incoming/ to be taken again" \
	eval 'fault_log_has "active/c21\.csr has no job record .*: back to incoming/" &&
		fault_log_has "active/c24\.csr has no job record .*: back to incoming/"'
lab_check "dcvd runs on" fault_alive
lab_resume knot
total=25
lab_check "all $total CSRs visible, the damaged jobs' CSRs taken again" lab_until 25 fault_done_is "$total"
lab_check "no job failed" fault_empty failed
lab_check "incoming/ and active/ are empty" eval 'fault_empty incoming && fault_empty active'
fault_expect example.test "$LAB"/c{21,22,23,24}.csr >"$LAB/want"
missing=$(fault_unserved "$s" "$LAB/want")
lab_check "the secondary serves the 4 records (missing: $missing)" test "$missing" = 0
lab_check "dcvd still runs" fault_alive
lab_finish
