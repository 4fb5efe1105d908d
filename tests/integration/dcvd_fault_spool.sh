#!/usr/bin/env bash
# dcvd_fault_spool.sh BUILD -- the spool's filesystem fails under dcvd (the
# spool is a small tmpfs mounted for the test; needs root):
#   1. full (ENOSPC): CSRs dropped meanwhile are claimed, dcvd logs that it
#      cannot save job states and why, keeps running; once space is freed
#      everything completes;
#   2. read-only (remount,ro) while jobs are in flight and new CSRs arrive:
#      the same, and no CSR is failed for it; after remount,rw all complete;
#   3. damaged job records while dcvd is stopped (every log entry of one
#      job with a state that does not parse, every entry of another
#      garbage): at start it names each damaged entry (log, line, column)
#      and why, rewrites the whole entries of each damaged log into a new
#      log and moves the damaged log to state/damaged/, keeps running; the
#      other jobs go on, and the CSRs of the damaged ones are taken again.
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
# New CSRs arrive while the spool turns read-only under a stopped dcvd.
lab_pause dcvd
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

# --- 3. damaged job records ----------------------------------------------------------
lab_pause knot
stage 21 24
fault_drop
lab_until 10 eval '(($(fault_log_count "job c2[1-4]~.*: publishing -> published") == 4))' ||
	lab_fail "c21..c24 not published within 10 s"
lab_stop dcvd
# Job records are entries of logs, state/<N>.log: every entry of c22 gets a
# state that does not parse, every entry of c23 garbage after its id line.
damage_logs() { # STATE: prints the names of the logs it changed
	python3 - "$1" <<'EOF'
import os, re, sys
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    if not re.fullmatch(r'[0-9a-f]{16}\.log', name):
        continue
    path = os.path.join(d, name)
    with open(path, 'rb') as f:
        parts = re.split(rb'(?<=\n\.\.\.\n)', f.read())
    changed = False
    for i, e in enumerate(parts):
        if re.search(rb'^id: c22~', e, re.M):
            parts[i] = re.sub(rb'^state: .*$', b'state: flying', e, flags=re.M)
            changed = True
        elif re.search(rb'^id: c23~', e, re.M):
            head = re.match(rb'---\nversion: 1\nid: [^\n]*\n', e).group(0)
            parts[i] = head + b'\x00\xff\xfe{[garbage: "\n...\n'
            changed = True
    if changed:
        with open(path, 'wb') as f:
            f.write(b''.join(parts))
        print(name)
EOF
}
mapfile -t damaged < <(damage_logs "$SPOOL/state")
lab_check "the records of c22 and c23 are damaged in ${#damaged[@]} logs" test "${#damaged[@]}" -ge 1
lab_restart dcvd
lab_until 10 eval '(($(fault_log_count "dcvd: info: started") == 2))' || lab_fail "dcvd did not start again"
lab_check "the log names a damaged entry of c22 (log, line, column) and why" \
	fault_log_has "job state $SPOOL/state/[0-9a-f]{16}\\.log:[0-9]+:[0-9]+: .*state.*\\(damaged entry: skipped\\)"
skipped="job state $SPOOL/state/[0-9a-f]{16}\\.log:[0-9]+:[0-9]+: .+\\(damaged entry: skipped\\)"
lab_check "the log names a damaged entry of c23 too (log, line, column)" \
	test "$(fault_log_count "$skipped")" -ge 2
lab_check "... and that their CSRs go back to incoming/ to be taken again" \
	eval 'fault_log_has "active/c22\.csr has no job record .*: back to incoming/" &&
		fault_log_has "active/c23\.csr has no job record .*: back to incoming/"'
for log in "${damaged[@]}"; do
	lab_check "the log says $log had damaged entries and where it went" \
		fault_log_has "job state $SPOOL/state/$log: [0-9]+ damaged entr(y|ies) skipped.*\\(moved to $SPOOL/state/damaged/$log\\)"
	lab_check "$log is in state/damaged/, not in state/" \
		eval 'test -f "$SPOOL/state/damaged/$log" && ! test -e "$SPOOL/state/$log"'
done
lab_check "dcvd runs on" fault_alive
lab_check "the other jobs resume" fault_log_has "job c2[14]~.*: resumed in state"
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
