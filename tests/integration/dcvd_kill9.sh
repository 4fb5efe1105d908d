#!/usr/bin/env bash
# dcvd_kill9.sh BUILD -- kill -9 of dcvd in the middle of a burst, with real
# servers (BIND primary -> Knot secondary by NOTIFY/IXFR -> unbound). Each
# round drops 300 CSRs at once into a spool of its own (its zone, its
# configuration), kills dcvd with SIGKILL at one moment, restarts it with
# the same configuration and checks that every job ends visible, once:
#   r1  right after the drop, before anything is claimed (dcvd is stopped
#       with SIGSTOP during the drop, so nothing can be claimed)
#   r2  right after the first claims (active/ holds files; the first jobs
#       may be visible already: with nothing but the record log flushed,
#       a job can finish within the shell's reaction time)
#   r3  when done/ holds 10% of the status files (some visible, most not)
#   r4  when done/ holds half of them
# (under load a store batch may put many status files at once: the check
# is that the kill came after that share and before the end). After r4 is
# complete, one more kill -9 and status files lost, emptied or stale (what
# a power loss can do to them: they are not flushed) must be rebuilt from
# the job records at the restart.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
dcvd_lab dcvd_kill9 8 "$build" r1.test r2.test r3.test r4.test

N=300

# Polls (every 5 ms, no fork) until DIR holds at least MIN files GLOB, for
# at most 30 s; sets DCVD_N.
wait_files() { # MIN DIR GLOB
	local deadline
	_lab_now
	deadline=$((_LAB_NOW + 30000))
	while dcvd_n "$2" "$3" && ((DCVD_N < $1)); do
		_lab_now
		((_LAB_NOW < deadline)) || return 1
		sleep 0.005
	done
}

# Every status file kept in folder $1 is in $2 with the same bytes.
# shellcheck disable=SC2317 # called through lab_until
same_status() { # KEPT DONE
	local f
	for f in "$1"/*.status; do
		cmp -s "$f" "$2/${f##*/}" || return 1
	done
}

# lost_status N NAME SPOOL: after round N completed, kill -9, damage four
# status files, restart; dcvd rewrites those four and leaves the rest.
lost_status() {
	local r=$1 name=$2 spool=$3 keep=$LAB/status$1 pid ino_before ino_after
	local -a files
	pid=$(lab_pid "$name")
	dcvd_kill9 "$pid"
	wait "$pid" 2>/dev/null || true
	mkdir -p "$keep"
	cp -p "$spool"/done/*.status "$keep"/
	files=("$spool"/done/*.status)
	rm -f "${files[0]}" "${files[1]}"
	: >"${files[2]}"
	printf 'state: active\nstep: publishing\n' >"${files[3]}"
	ino_before=$(stat -c %i "${files[4]}")
	lab_restart "$name"
	lab_check "r$r: status files lost, emptied or stale at a kill -9 are rebuilt at the restart" \
		lab_until 10 same_status "$keep" "$spool/done"
	ino_after=$(stat -c %i "${files[4]}")
	lab_check "r$r: a status file that was right is left alone" test "$ino_before" = "$ino_after"
	dcvd_n "$spool/done" '.*.tmp'
	lab_check "r$r: no temporary status file left" test "$DCVD_N" = 0
}

# round N HOW: one burst, one kill -9 at moment HOW, one restart.
round() {
	local r=$1 how=$2 zone=r$1.test spool=$LAB/spool$1 cfg=$LAB/dcvd$1.yaml name=dcvd$1
	local pid at ndone active state incoming
	mkdir -p "$LAB/csr$r"
	"$GEN_CSRS" "$LAB/csr$r" "$N" "$zone" 1 c >/dev/null
	dcvd_config "$cfg" "$spool" "$zone" </dev/null
	dcvd_start "$name" "$cfg" "$spool"
	pid=$(lab_pid "$name")
	dcvd_stage "$spool" "$LAB/csr$r"/*.csr
	case $how in
	drop)
		lab_pause "$name"
		dcvd_release "$spool"
		;;
	claim)
		dcvd_release "$spool"
		wait_files 1 "$spool/active" '*' || lab_fail "r$r: nothing claimed in 30 s"
		;;
	done*)
		dcvd_release "$spool"
		wait_files $((N * ${how#done} / 100)) "$spool/done" '*.status' ||
			lab_fail "r$r: done/ never reached ${how#done}%"
		;;
	esac
	dcvd_kill9 "$pid"
	wait "$pid" 2>/dev/null || true
	dcvd_n "$spool/done" '*.status'
	ndone=$DCVD_N
	dcvd_n "$spool/active" '*'
	active=$DCVD_N
	# Job records: the entries of the jobs database (LMDB, state/data.mdb);
	# none before the first batch made it.
	state=$(mdb_stat -s jobs "$spool/state" 2>/dev/null | awk '/Entries:/ { print $2 }')
	state=${state:-0}
	dcvd_n "$spool/incoming" '*'
	incoming=$DCVD_N
	at="done $ndone, active $active, job records $state, incoming $incoming"
	case $how in
	drop) lab_check "r$r: killed before any claim ($at)" test "$incoming" = "$N" -a "$state" = 0 ;;
	claim)
		lab_check "r$r: killed right after claiming ($at)" \
			test "$active" -gt 0 -a "$ndone" -lt $((N / 10))
		;;
	done*)
		# Status files go to done/ before their CSRs leave active/ (one
		# store batch): a CSR still in active/ is a job not finished.
		lab_check "r$r: killed with ${how#done}% or more visible, some not yet ($at)" \
			test "$ndone" -ge $((N * ${how#done} / 100)) -a "$active" -gt 0
		;;
	esac
	lab_restart "$name"
	dcvd_check_complete "r$r" "$spool" "$cfg" "$zone" "$LAB/csr$r"/*.csr
	lab_check "r$r: no damaged job record" lab_not grep -F '(damaged record' "$(lab_log "$name")"
	lab_check "r$r: no error in dcvd's log" lab_not grep -E ': error: ' "$(lab_log "$name")"
	[[ $how != done50 ]] || lost_status "$r" "$name" "$spool"
	lab_stop "$name"
}

round 1 drop
round 2 claim
round 3 done10
round 4 done50
lab_finish
