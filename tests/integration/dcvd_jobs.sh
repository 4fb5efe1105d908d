#!/usr/bin/env bash
# dcvd_jobs.sh BUILD -- with real servers (BIND primary -> Knot secondary by
# NOTIFY/IXFR -> unbound):
#   max_jobs  with max_jobs: 5, 20 CSRs dropped at once all end visible and
#             active/ never holds more than 5 (watched every few ms; the
#             secondary is paused for a while so that the limit binds)
#   logs      every line that mentions a job's file names the job ("job
#             NAME~ID: ..."): good, refused, failed and resumed jobs, hook
#             output; with JOURNAL_STREAM set to the DEV:INODE of dcvd's own
#             stderr, every line starts with a syslog priority "<N>" that
#             fits it; with one naming another stream (plain) every line
#             starts with a UTC timestamp
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
dcvd_lab dcvd_jobs 11 "$build" example.test

spool=$LAB/spool cfg=$LAB/dcvd.yaml
cat >"$LAB/hook.sh" <<'EOF'
#!/bin/sh
echo "hook saw $DCV_EVENT for $DCV_FILE"
EOF
chmod 0755 "$LAB/hook.sh"
dcvd_config "$cfg" "$spool" example.test <<EOF
max_jobs: 5
hook: $LAB/hook.sh
EOF
mkdir -p "$LAB/csr"
"$GEN_CSRS" "$LAB/csr" 20 example.test 1 m >/dev/null

# --- max_jobs ----------------------------------------------------------------------
# JOURNAL_STREAM names a stream, but not dcvd's stderr (the test's own, as a
# naive test would compute it): dcvd must log plain lines.
dcvd_start dcvd "$cfg" "$spool" JOURNAL_STREAM="$(stat -L -c %d:%i /proc/self/fd/2)"
read -r env_js err_js < <(dcvd_journal_stream dcvd)
lab_check "plain: JOURNAL_STREAM=$env_js, dcvd's stderr is $err_js: another stream" \
	test "$env_js" != unset -a "$env_js" != "$err_js"
max=0 samples=0
# watch SECONDS [DONE]: polls active/ (every 5 ms, no fork) for SECONDS or
# until done/ holds DONE status files; keeps the most CSRs seen in max.
watch() {
	local deadline
	_lab_now
	deadline=$((_LAB_NOW + ${1%.*} * 1000))
	while _lab_now && ((_LAB_NOW < deadline)); do
		dcvd_n "$spool/active" '*.csr'
		((DCVD_N <= max)) || max=$DCVD_N
		samples=$((samples + 1))
		if [[ -n ${2:-} ]]; then
			dcvd_n "$spool/done" '*.status'
			((DCVD_N < $2)) || return 0
		fi
		sleep 0.005
	done
	[[ -z ${2:-} ]]
}
lab_pause "knot-$S"
dcvd_stage "$spool" "$LAB"/csr/m*.csr
dcvd_release "$spool"
watch 1
# five_and_fifteen: active/ holds 5 CSRs and incoming/ 15.
# shellcheck disable=SC2317 # run through lab_check
five_and_fifteen() {
	dcvd_n "$spool/active" '*.csr'
	((DCVD_N == 5)) || return 1
	dcvd_n "$spool/incoming" '*.csr'
	((DCVD_N == 15))
}
lab_check "max_jobs: with the secondary paused, active/ holds 5 and 15 wait in incoming/" \
	lab_until 10 five_and_fifteen
watch 1
lab_check "max_jobs: dcvd says so" grep -q 'max_jobs (5) jobs in flight: new CSRs wait in incoming/' \
	"$(lab_log dcvd)"
lab_resume "knot-$S"
lab_check "max_jobs: all 20 visible" watch 30 20
lab_check "max_jobs: active/ never held more than 5 (most seen: $max, $samples looks)" test "$max" -le 5
dcvd_check_complete "max_jobs" "$spool" "$cfg" example.test "$LAB"/csr/m*.csr
lab_stop dcvd

# --- logs ---------------------------------------------------------------------------
# Good CSRs, a request in no zone, garbage, a sidecar whose expect differs,
# and a CSR taken just before a kill -9 (it resumes).
"$GEN_CSRS" "$LAB/csr" 3 example.test 1 good >/dev/null
"$GEN_CSRS" "$LAB/csr" 1 elsewhere.test 1 nozone >/dev/null
"$GEN_CSRS" "$LAB/csr" 1 example.test 1 differ >/dev/null
"$GEN_CSRS" "$LAB/csr" 1 example.test 1 resume >/dev/null
echo "not a CSR" >"$LAB/csr/garbage0.csr"
read -r owner _ < <(dcvd_expected example.test "$LAB/csr/differ0.csr")
printf 'expect: "%s. CNAME x.sectigo.com."\n' "$owner" >"$LAB/csr/differ0.yaml"
dcvd_start dcvd-journal "$cfg" "$spool" --journal
jlog=$(lab_log dcvd-journal)
read -r env_js err_js < <(dcvd_journal_stream dcvd-journal)
lab_check "journal: JOURNAL_STREAM=$env_js names dcvd's stderr ($err_js)" test "$env_js" = "$err_js"
lab_pause "knot-$S"
dcvd_drop "$spool" "$LAB/csr/resume0.csr"
lab_check "logs: resume0 is published before the kill -9" \
	lab_until 10 grep -q 'resume0~.*publishing -> published' "$jlog"
pid=$(lab_pid dcvd-journal)
dcvd_kill9 "$pid"
wait "$pid" 2>/dev/null || true
lab_resume "knot-$S"
lab_restart dcvd-journal
dcvd_drop "$spool" "$LAB/csr/differ0.yaml"
for f in good0.csr good1.csr good2.csr nozone0.csr garbage0.csr differ0.csr; do
	dcvd_drop "$spool" "$LAB/csr/$f"
done
lab_check "logs: the jobs are visible" lab_until 20 bash -c \
	"test -e $spool/done/good2.status -a -e $spool/done/good0.status -a -e $spool/done/resume0.status"
lab_check "logs: the bad ones failed" lab_until 10 bash -c \
	"test -e $spool/failed/nozone0.status -a -e $spool/failed/garbage0.status -a -e $spool/failed/differ0.status"
# hooks_done LOG NAME...: the visible hook of every NAME has finished.
# shellcheck disable=SC2317 # run through lab_check
hooks_done() {
	local log=$1 name
	shift
	for name in "$@"; do
		grep -qE "job $name~[0-9a-f]+: hook visible finished" "$log" || return 1
	done
}
lab_check "logs: their hooks ran" lab_until 10 hooks_done "$jlog" good0 good1 good2 resume0
lab_stop dcvd-journal

# Only dcvd's lines: the lab's own "=== lab: ... start" lines are not dcvd's.
grep -v '^=== lab: ' "$jlog" >"$LAB/journal.log"
grep -v '^=== lab: ' "$(lab_log dcvd)" >"$LAB/plain.log"
# names_jobs LOG NAME...: every line mentioning NAME.ext or NAME~ names it as "job NAME~HEX: ".
# shellcheck disable=SC2317 # run through lab_check
names_jobs() {
	local log=$1 name bad=0 lines
	shift
	for name in "$@"; do
		lines=$(grep -E "(^|[^a-z0-9])$name(\.(csr|yaml)|~)" "$log" |
			grep -vE "job $name~[0-9a-f]+: " || true)
		[[ -z $lines ]] || {
			echo "  lines about $name that do not name its job:"
			head -n 5 <<<"$lines" | while IFS= read -r l; do echo "  | $l"; done
			bad=1
		}
		grep -qE "job $name~[0-9a-f]+: " "$log" || {
			echo "  no line names job $name~..."
			bad=1
		}
	done
	return "$bad"
}
lab_check "logs (journal): every line about a job names it \"job NAME~...\"" \
	names_jobs "$LAB/journal.log" good0 good1 good2 nozone0 garbage0 differ0 resume0
lab_check "logs (plain): every line about a job names it" \
	names_jobs "$LAB/plain.log" m0 m1 m5 m10 m19
lab_check "logs (journal): there are lines ($(wc -l <"$LAB/journal.log"))" test -s "$LAB/journal.log"
lab_check "logs (journal): every line starts with <N>" lab_not grep -vE '^<[0-7]>' "$LAB/journal.log"
lab_check "logs (journal): no timestamps (journald adds its own)" \
	lab_not grep -E '^<[0-7]>[0-9]{4}-[0-9]{2}-' "$LAB/journal.log"
lab_check "logs (journal): a failure is <3> (err)" grep -qE '^<3>job nozone0~[0-9a-f]+: failed: ' "$LAB/journal.log"
lab_check "logs (journal): a transition is <6> (info)" \
	grep -qE '^<6>job good0~[0-9a-f]+: published -> visible' "$LAB/journal.log"
lab_check "logs (journal): visibility is <5> (notice)" grep -qE '^<5>job good0~[0-9a-f]+: visible at ' "$LAB/journal.log"
lab_check "logs (journal): -v debug lines are <7>" grep -qE '^<7>zone example.test: UPDATE add' "$LAB/journal.log"
lab_check "logs (journal): a resumed job says so" grep -qE '^<6>job resume0~[0-9a-f]+: resumed in state ' "$LAB/journal.log"
lab_check "logs (journal): hook output is the job's" \
	grep -qE '^<6>job good1~[0-9a-f]+: hook: hook saw visible for good1.csr' "$LAB/journal.log"
lab_check "logs (plain, JOURNAL_STREAM of another stream): every line has a UTC timestamp and a level" \
	lab_not grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z dcvd: (error|warning|notice|info|debug): ' \
	"$LAB/plain.log"
lab_finish
