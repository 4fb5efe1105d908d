#!/usr/bin/env bash
# dcvd_keep.sh BUILD -- retention (keep:) with real servers. With keep: 3s,
# a job withdrawn 2 s after it was visible loses its files in done/ and its
# job record a few seconds later; a visible job with withdraw_after: 0
# stays however often the sweep runs; a job that failed after publishing
# stays while its cleanup cannot finish (the secondary is paused, so the
# deletes cannot be seen everywhere) and goes once it has; a dot-file left
# in incoming/ two days ago is removed while a fresh one stays; each sweep
# logs its line; a sweep on a read-only spool fails saying so and dcvd
# goes on; `dcvd --check` warns when keep is shorter than withdraw_after.
# Oracles: ls, mdb_dump(1) of the job store (the jobs and holders
# databases), dcv status --json, dig for the records.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
dcvd_lab dcvd_keep 32 "${1:?build folder}" example.test
lab_need mdb_dump openssl mount umount

# The spool on a small tmpfs of its own, to be remounted read-only at the end.
spool=$LAB/spool
log=$LAB/dcvd/log
mkdir -p "$spool"
mount -t tmpfs -o size=16m,mode=0750 dcv-keep-spool "$spool"
lab_atexit "umount -l '$spool' 2>/dev/null"

# conf WITHDRAW_AFTER VISIBLE_TIMEOUT [KEEP] -- the configuration, replaced whole.
conf() {
	DCVD_WITHDRAW_AFTER=$1 dcvd_config "$LAB/dcvd.yaml" "$spool" example.test <<<"keep: ${3:-3s}"
	sed -i "s/^visible_timeout: .*/visible_timeout: $2/" "$LAB/dcvd.yaml"
}

# The ids in the job store (one per line), read with mdb_dump as dcv never would.
store_ids() {
	mdb_dump -p -s jobs "$spool/state" | sed -e '1,/^HEADER=END/d' -e '/^DATA=END/,$d' |
		sed -n '1~2p' | sed 's/^ //'
}
holder_keys() {
	mdb_dump -p -s holders "$spool/state" | sed -e '1,/^HEADER=END/d' -e '/^DATA=END/,$d' |
		sed -n '1~2p' | sed 's/^ //'
}
# has_holder OWNER -- the holders database has a key ZONE/OWNER.
# (grep reads a process substitution: under pipefail an early exit of
# grep -q in a pipe could kill the writer with SIGPIPE and fail the check.)
# shellcheck disable=SC2317 # called through lab_until
has_holder() { grep -q "/$1\.\$" < <(holder_keys); }
# has_id NAME -- the store holds a job of NAME (ids are NAME~HEX).
# shellcheck disable=SC2317 # called through lab_until
has_id() { grep -q "^$1~" < <(store_ids); }
# job_json NAME KEY -- KEY of NAME's job in `dcv status --json` (None: no such job).
job_json() {
	"$DCV" status -c "$LAB/dcvd.yaml" --json |
		python3 -c 'import json, sys
jobs = [j for j in json.load(sys.stdin)["jobs"] if j["name"] == sys.argv[1]]
print(jobs[0].get(sys.argv[2]) if jobs else None)' "$1" "$2"
}
no_files() { # NAME: nothing of NAME in done/ or failed/
	! compgen -G "$spool/done/$1[.~]*" >/dev/null && ! compgen -G "$spool/failed/$1[.~]*" >/dev/null
}
# reload WITHDRAW_AFTER VISIBLE_TIMEOUT -- a new configuration, SIGHUP, and wait until loaded.
reload() {
	local n
	n=$(grep -c 'reload: .* loaded' "$log" || true)
	conf "$@"
	kill -HUP "$(lab_pid dcvd)"
	lab_until 10 bash -c "[ \$(grep -c 'reload: .* loaded' '$log') -gt $n ]"
}
# withdrawn NAME -- done/NAME.status says withdrawn.
withdrawn() {
	[[ "$(dcvd_field "$spool/done/$1.status" state 2>/dev/null)" == withdrawn ]]
}
sweeps() { grep -c 'retention: sweep:' "$log" || true; }
csr() { # NAME
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=$1.example.test" -out "$LAB/$1.csr" 2>/dev/null
}

# --- dcvd --check: keep shorter than withdraw_after ------------------------------
conf 10s 40s 3s
lab_check "dcvd --check accepts keep: 3s with withdraw_after: 10s" \
	bash -c "'$DCVD' -c '$LAB/dcvd.yaml' --check >'$LAB/check.out' 2>&1"
lab_check "dcvd --check warns that keep is shorter than withdraw_after, and what that means" \
	grep -q "keep (3s) is shorter than withdraw_after (10s): keep counts from a job's withdrawal" \
	"$LAB/check.out"
conf 10s 40s 10s
"$DCVD" -c "$LAB/dcvd.yaml" --check >"$LAB/check2.out" 2>&1
lab_check "no such warning when keep equals withdraw_after" lab_not grep -q "keep (" "$LAB/check2.out"

# --- a visible job with withdraw_after: 0 ---------------------------------------
conf 0 40s
dcvd_start dcvd "$LAB/dcvd.yaml" "$spool"
lab_check "a sweep at start, logged" lab_until 5 grep -q "retention: sweep: deleted 0 finished jobs" "$log"
csr stay
dcvd_drop "$spool" "$LAB/stay.csr"
lab_check "stay.csr is visible" lab_until 20 test -e "$spool/done/stay.status"
read -r stay_owner stay_target < <(dcvd_expected example.test "$LAB/stay.csr")
lab_check "the primary serves stay's record" lab_serves "$P" "$LAB_PORT" "$stay_owner" CNAME "$stay_target"

# --- dot-files in incoming/ -----------------------------------------------------
echo "half a CSR" >"$spool/incoming/.stale.csr"
touch -d '2 days ago' "$spool/incoming/.stale.csr"
echo "half a CSR" >"$spool/incoming/.fresh.csr"
touch -d '20 hours ago' "$spool/incoming/.fresh.csr"
mkdir "$spool/incoming/.olddir"
touch -d '2 days ago' "$spool/incoming/.olddir"
lab_check "the stale dot-file is removed at the next sweep" lab_until 10 test ! -e "$spool/incoming/.stale.csr"
lab_check "the removal is logged, naming the file" grep -q "retention: removed $spool/incoming/.stale.csr" "$log"
lab_check "the fresh dot-file stays" test -e "$spool/incoming/.fresh.csr"
lab_check "an old dot-directory stays (regular files only)" test -d "$spool/incoming/.olddir"
lab_check "the sweep line counts it" grep -q "removed 1 stale dot-files from incoming/; 0 errors" "$log"

# --- withdrawn, then deleted after keep -------------------------------------------
lab_check "reload: withdraw_after 2s" reload 2s 40s
csr gone
dcvd_drop "$spool" "$LAB/gone.csr"
lab_check "gone.csr is visible" lab_until 20 test -e "$spool/done/gone.csr"
read -r gone_owner _ < <(dcvd_expected example.test "$LAB/gone.csr")
lab_check "gone's job is in the store" has_id gone
lab_check "gone is withdrawn 2 s later (status file)" lab_until 20 withdrawn gone
lab_check "the primary no longer serves gone's record" lab_not lab_serves "$P" "$LAB_PORT" "$gone_owner" CNAME
withdrawn_at=$(date +%s)
lab_check "gone's files in done/ are deleted after keep" lab_until 15 no_files gone
deleted_at=$(date +%s)
lab_check "not before keep (3 s) had passed since its withdrawal ($((deleted_at - withdrawn_at)) s after we saw it)" \
	test $((deleted_at - withdrawn_at)) -ge 2
lab_check "gone's job record is deleted (mdb_dump)" lab_not has_id gone
lab_check "dcv status no longer lists gone" test "$(job_json gone state)" = None
lab_check "the sweep logged the deletion" grep -q "retention: sweep: deleted 1 finished jobs older than keep (3s)" "$log"
lab_check "it counted stay as holding records" grep -Eq "retention: sweep: deleted 1 finished jobs .* kept [1-9][0-9]* that hold records" "$log"

# --- the visible job stays --------------------------------------------------------
n=$(sweeps)
lab_check "more sweeps run (every keep, 3 s)" lab_until 10 bash -c "[ \$(grep -c 'retention: sweep:' '$log') -gt $n ]"
lab_check "stay's status and CSR stay in done/" test -e "$spool/done/stay.status" -a -e "$spool/done/stay.csr"
lab_check "stay's job record stays (mdb_dump)" has_id stay
lab_check "stay's record still holds its rr (holders database)" has_holder "$stay_owner"
lab_check "dcv status: stay is visible" test "$(job_json stay state)" = visible
lab_check "the primary still serves stay's record" lab_serves "$P" "$LAB_PORT" "$stay_owner" CNAME "$stay_target"

# --- failed after publishing: kept until its cleanup is done -----------------------
lab_check "reload: visible_timeout 3s" reload 2s 3s
lab_pause "knot-$S"
csr fail
dcvd_drop "$spool" "$LAB/fail.csr"
lab_check "fail.csr fails (not visible at the paused secondary within 3 s)" \
	lab_until 20 test -e "$spool/failed/fail.status"
lab_check "dcv status: its cleanup is pending" lab_until 5 bash -c "[ \"\$('$DCV' status -c '$LAB/dcvd.yaml' --json | python3 -c 'import json,sys; print([j[\"cleanup\"] for j in json.load(sys.stdin)[\"jobs\"] if j[\"name\"] == \"fail\"])')\" = '[True]' ]"
n=$(sweeps)
lab_check "two more sweeps run" lab_until 15 bash -c "[ \$(grep -c 'retention: sweep:' '$log') -ge $((n + 2)) ]"
lab_check "two sweeps later, fail's files are still in failed/" test -e "$spool/failed/fail.status" -a -e "$spool/failed/fail.csr"
lab_check "and its job record (mdb_dump)" has_id fail
lab_resume "knot-$S"
lab_check "once the secondary is back, the cleanup finishes" \
	lab_until 30 bash -c "[ \"\$('$DCV' status -c '$LAB/dcvd.yaml' --json | python3 -c 'import json,sys; print([j[\"cleanup\"] for j in json.load(sys.stdin)[\"jobs\"] if j[\"name\"] == \"fail\"])')\" != '[True]' ]"
lab_check "then fail's files go, after keep" lab_until 20 no_files fail
lab_check "and its job record (mdb_dump)" lab_not has_id fail
lab_check "the store holds stay's job alone now" test "$(store_ids | sed 's/~.*//' | sort -u | tr '\n' ' ')" = "stay "
lab_check "the holders database holds stay's record alone" test "$(holder_keys | wc -l)" -eq 1
lab_check "no sweep reported an error" lab_not grep -q "retention: .*cannot\|retention: sweep failed" "$log"

# --- older than keep while dcvd was stopped: deleted by the sweep at start ----------
lab_check "reload: visible_timeout 40s again" reload 2s 40s
csr late
dcvd_drop "$spool" "$LAB/late.csr"
lab_check "late.csr is withdrawn" lab_until 20 withdrawn late
lab_stop dcvd
lab_check "dcvd stopped before late's keep ran out: its files are there" \
	test -e "$spool/done/late.status" -a -e "$spool/done/late.csr"
lab_check "and its record" has_id late
sleep 4
starts=$(grep -c 'started (dcvd' "$log")
lab_restart dcvd
lab_check "dcvd starts again" lab_until 10 bash -c "[ \$(grep -c 'started (dcvd' '$log') -gt $starts ]"
lab_check "the sweep at start deletes late's files" lab_until 5 no_files late
lab_check "and its record (mdb_dump)" lab_not has_id late
lab_check "stay is still there, visible" test "$(job_json stay state)" = visible

# --- a read-only spool: the sweep fails, says why, and dcvd keeps running ------------
# (between two sweeps dcvd holds no file of the spool open for writing)
lab_check "the spool is remounted read-only" lab_until 5 mount -o remount,ro "$spool"
lab_check "the next sweep fails, naming the job store and the reason" \
	lab_until 10 grep -q "retention: sweep failed: $spool/state/data.mdb: .*Read-only file system.*next sweep in 3 s" "$log"
lab_check "dcvd still runs" kill -0 "$(lab_pid dcvd)"
lab_check "stay's files and record are untouched" bash -c "test -e '$spool/done/stay.status' && test -e '$spool/done/stay.csr'"
lab_check "and its record" has_id stay
mount -o remount,rw "$spool"
n=$(sweeps)
lab_check "writable again: the sweeps succeed again" lab_until 10 bash -c "[ \$(grep -c 'retention: sweep:' '$log') -gt $n ]"
lab_check "dcvd still runs" kill -0 "$(lab_pid dcvd)"
lab_finish
