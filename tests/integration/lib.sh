# shellcheck shell=bash
# lib.sh -- run real DNS servers (named, knotd, unbound) on loopback for the
# integration tests. Source it; it is not a test itself (ctest skips lib*.sh).
#
#   source "$(dirname "$0")/lib.sh"
#   lab_init mytest 7                   # folder $LAB, addresses 127.53.7.N
#   lab_key dcv hmac-sha256
#   lab_zone_file example.test ns1="$LAB_NET.1"
#   lab_bind_primary "$LAB_NET.1" "$LAB_PORT" dcv example.test
#
# Every server gets its own loopback address, so all of them can use the same
# port (LAB_PORT). knotd and unbound bind any 127.x.y.z without setup; named
# only listens on addresses it finds on an interface, so lab_bind_primary
# first adds its address to lo (ip addr add ADDR/32 dev lo, as root) and the
# exit trap removes it. IPv4 only for now. Each test owns the address block
# 127.53.INDEX.0/24 (LAB_NET=127.53.INDEX), so tests running in parallel never
# collide; a start function refuses an address that is already in use.
# Claim an INDEX here when you add a test:
#
#   INDEX     test
#   1         lab_smoke.sh
#   2         dcv_bind.sh (dcv publish/check/withdraw: BIND, Knot secondary, unbound)
#   3         dcv_knot.sh (dcv on a Knot primary, port 53, NS discovery)
#   4         dcv_batch.sh (dcv: 200 names in one UPDATE)
#   5         dcv_errors.sh (dcv: failures and their messages)
#   6         ../bench/bench-publish.sh (a benchmark, not a ctest test)
#   7         dcvd_e2e.sh
#   8         dcvd_kill9.sh (kill -9 of dcvd in a burst, resume)
#   9         dcvd_signals.sh (dcvd --check, SIGTERM, SIGINT, SIGHUP)
#   10        dcvd_resolver.sh (resolver asked last; sidecars)
#   11        dcvd_jobs.sh (max_jobs; log lines, JOURNAL_STREAM)
#   12        hostile.sh (dcv and dcvd against a fake, hostile DNS responder)
#   13        dcvd_fault_hang.sh (the primary hangs longer than the update timeout)
#   14        dcvd_fault_restart.sh (primary restarts mid-batch; a lagging secondary)
#   15        dcvd_fault_refuse.sh (one of two primaries refuses; BADTIME under faketime)
#   16        dcvd_fault_spool.sh (spool full, read-only; damaged job records)
#   17        ../bench/bench-dcvd.sh
#   18        secrets.sh (the TSIG secret never shows; modes of what dcvd creates)
#   19        limits.sh (max_jobs, max_names, max_message_size, hook_timeout)
#   20        reserved
#   21        dcv_conflict.sh (never overwrite a foreign CNAME: BIND and Knot primaries, dcvd)
#   22        dcvd_spool_attack.sh (dcvd as its own user; submitters attack incoming/)
#   23        dcvd_chaos.sh (random drops, deletions and odd entries by two submitters)
#   24        dcvd_withdraw_scope.sh (a withdrawal leaves a CNAME someone else put at our owner)
#   25        dcvd_poll.sh (polling a stale server backs off to poll_max)
#   26        dcvd_reload.sh (a reload: the spool kept, a removed zone still withdrawn)
#   31        dcvd_metrics.sh (metrics_file and promtool; dcv status --json)
#   32        dcvd_keep.sh (keep: finished jobs and their records deleted; stale dot-files)
#   27        dcvd_dnssec.sh (signed zones: Knot and BIND signers, validating unbound)
#   28        dcvd_dnssec_bogus.sh (a broken chain: wrong trust anchor)
#   29        dcvd_dnssec_expired.sh (one address serves expired signatures)
#   30        dcvd_dnssec_bind.sh (dcvd_dnssec.sh with BIND's dnssec-policy as the signer)
#   33        dcvd_submit.sh (dcv submit --wait as a submitter; results/ privacy)
#   34        dcvd_unit_sandbox.sh (dcvd.service booted by systemd in a namespace: its sandbox)
#   35..249   free
#   250       ../demo.sh (the README's first command)
#
# Everything the servers write (configuration, zones, journals, logs) lives in
# $LAB; a server's log is $LAB/NAME/log. On exit every server started here is
# stopped (SIGTERM, up to 5 s, then SIGKILL), the folder is removed unless
# DCV_KEEP_LAB=1, and after a non-zero exit the tail of every log is printed.
# Servers also get SIGTERM when the test's shell dies without running its
# trap (setpriv --pdeathsig), so a test killed by a ctest timeout leaves no
# server behind. Start servers from the test's main shell, never inside $( )
# or ( ): the table of servers lives in this shell's variables.
#
# All functions return non-zero on failure and print why on stderr; they work
# with `set -euo pipefail`. Start functions wait until the server answers and
# fail loudly (with the log tail) when it does not come up.
#
# Environment knobs: LAB_PORT (default port, 5300), LAB_START_TIMEOUT (seconds
# a start function waits, 15), LAB_LOG_LINES (lines of log tail shown, 40),
# DCV_KEEP_LAB=1 (keep the folder).

LAB_PORT=${LAB_PORT:-5300}
LAB_START_TIMEOUT=${LAB_START_TIMEOUT:-15}
LAB_LOG_LINES=${LAB_LOG_LINES:-40}
LAB_STATS_PORT=${LAB_STATS_PORT:-8053}
LAB_FAILS=0
LAB_CHECKS=0
LAB_ELAPSED_MS=0

declare -gA _LAB_PID=()   # name -> pid of the running server
declare -gA _LAB_CMD=()   # name -> command line (printf %q words) to (re)start it
declare -gA _LAB_READY=() # name -> readiness spec: "auth ADDR PORT ZONE..." | "any ADDR PORT" | "none"
declare -gA _LAB_WHAT=()  # name -> one-line description for messages
declare -gA _LAB_STATS=() # name -> ADDR:PORT of named's statistics channel (--stats)
declare -ga _LAB_NAMES=() # every server ever started, in start order
declare -ga _LAB_ATEXIT=()

_lab_err() {
	echo "lab: $*" >&2
	return 1
}

# Sets _LAB_NOW to the time in milliseconds (no subshell: cheap in polls).
_lab_now() {
	local t=${EPOCHREALTIME/[.,]/}
	_LAB_NOW=$((t / 1000))
}

# Prints its arguments as a YAML flow list: [a, b, c] (knotd accepts flow
# lists, not flow mappings).
_lab_list() {
	local out
	printf -v out '%s, ' "$@"
	echo "[${out%, }]"
}

# Sets _LAB_MS to SECONDS (a decimal like 2, 0.5 or 1.25) in milliseconds,
# in shell arithmetic (mawk's printf %d stops at 2^31).
_lab_ms() { # SECONDS
	local int=${1%%.*} frac=
	[[ $1 == *.* ]] && frac=${1#*.}
	if [[ ! $1 =~ ^[0-9]*(\.[0-9]*)?$ || $1 == . || -z $1 ]]; then
		_lab_err "not a number of seconds: '$1'"
		return 1
	fi
	frac=${frac}000
	_LAB_MS=$((10#${int:-0} * 1000 + 10#${frac:0:3}))
}

# lab_need TOOL... -- fail (saying which) unless every TOOL is installed.
lab_need() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || _lab_err "$tool is not installed" || return 1
	done
}

# ---------------------------------------------------------------------------
# Lab folder and exit handling

# lab_init NAME INDEX
lab_init() {
	local name=${1:?lab_init NAME INDEX} index=${2:?lab_init NAME INDEX}
	if [[ ! $index =~ ^[0-9]+$ ]] || ((index < 1 || index > 250)); then
		_lab_err "lab_init: INDEX must be 1..250, not '$index'"
		return 1
	fi
	lab_need dig setpriv ss || return 1
	LAB=$(mktemp -d "${TMPDIR:-/tmp}/dcv-lab-$name.XXXXXX") || return 1
	LAB_NET=127.53.$index
	export LAB LAB_NET LAB_PORT
	mkdir -p "$LAB/keys" "$LAB/zones"
	trap '_lab_exit $?' EXIT
	# A signal must still stop the servers: turn it into an exit.
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 141' PIPE
}

# lab_atexit COMMAND -- run COMMAND (a string, eval'ed) on exit, before the
# servers are stopped. For tests that start other things to clean up.
lab_atexit() {
	_LAB_ATEXIT+=("$1")
}

_lab_exit() {
	local rc=$1 cmd name
	set +e
	trap - EXIT HUP INT TERM
	# Output may go to a closed pipe by now; cleaning up matters more.
	trap '' PIPE
	for cmd in "${_LAB_ATEXIT[@]}"; do
		eval "$cmd"
	done
	if ((rc != 0)); then
		echo "lab: exit status $rc; server logs follow" >&2
		lab_logs >&2
	fi
	_lab_kill "${!_LAB_PID[@]}"
	_lab_sanitizer_reports || { ((rc != 0)) || rc=1; }
	if [[ -f $LAB/addrs ]]; then
		sort -u "$LAB/addrs" | while read -r cmd; do
			ip addr del "$cmd/32" dev lo 2>/dev/null
		done
	fi
	if [[ ${DCV_KEEP_LAB:-0} == 1 ]]; then
		echo "lab: kept $LAB" >&2
	elif [[ -n ${LAB:-} && -d $LAB ]]; then
		rm -rf "$LAB"
	fi
	exit "$rc"
}

# A program built with -DDCV_SANITIZE=ON that the lab ran (dcvd under
# lab_spawn) reports memory errors, leaks and undefined behaviour into its
# log, where no exit status shows them: any report anywhere in $LAB fails the
# test, and is printed.
_lab_sanitizer_reports() {
	local file found=0
	[[ -n ${LAB:-} && -d $LAB ]] || return 0
	while IFS= read -r file; do
		found=1
		echo "lab: sanitizer report in $file:" >&2
		grep -E -A40 'ERROR: [A-Za-z]*Sanitizer|runtime error:' "$file" | head -n 80 >&2
	done < <(grep -rlIE 'SUMMARY: [A-Za-z]*Sanitizer|: runtime error: ' "$LAB" 2>/dev/null)
	((found == 0))
}

# lab_logs [NAME...] -- print the tail of the logs of NAMEs (default: every
# server ever started).
lab_logs() {
	local name
	(($#)) || set -- "${_LAB_NAMES[@]}"
	for name in "$@"; do
		echo "----- $name: ${_LAB_WHAT[$name]:-?} ($LAB/$name/log, last $LAB_LOG_LINES lines)"
		tail -n "$LAB_LOG_LINES" "$LAB/$name/log" 2>/dev/null | sed "s#^#$name| #"
	done
}

# lab_log NAME -- print the path of NAME's log.
lab_log() {
	echo "$LAB/${1:?lab_log NAME}/log"
}

# lab_pid NAME -- print the pid of running server NAME.
lab_pid() {
	[[ -n ${_LAB_PID[${1:?lab_pid NAME}]:-} ]] || _lab_err "$1 is not running" || return 1
	echo "${_LAB_PID[$1]}"
}

# Stops the named servers together: SIGTERM (and SIGCONT, in case one is
# paused), up to 5 s for all of them, then SIGKILL for the rest.
_lab_kill() {
	local name pid deadline alive
	local -a pids=()
	for name in "$@"; do
		pid=${_LAB_PID[$name]:-}
		unset "_LAB_PID[$name]"
		[[ -n $pid ]] || continue
		pids+=("$pid")
		# A server that died on its own is not an error here.
		kill -TERM "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true
	done
	((${#pids[@]})) || return 0
	_lab_now
	deadline=$((_LAB_NOW + 5000))
	while :; do
		alive=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		((alive)) || break
		_lab_now
		if ((_LAB_NOW >= deadline)); then
			for pid in "${pids[@]}"; do
				kill -KILL "$pid" 2>/dev/null && echo "lab: pid $pid ignored SIGTERM, killed" >&2
			done
			break
		fi
		sleep 0.02
	done
	for pid in "${pids[@]}"; do
		# Its exit status (143 for a program killed by SIGTERM) must not
		# end a test running under set -e.
		wait "$pid" 2>/dev/null || true
	done
	return 0
}

# ---------------------------------------------------------------------------
# Keys and zones

# lab_key NAME ALG -- TSIG key NAME (algorithm ALG, e.g. hmac-sha256) in
# $LAB/keys/NAME.key (tsig-keygen, BIND format) and $LAB/keys/NAME.knot.yaml
# (the format of `keymgr -t`). The secret is exported as LAB_SECRET_<NAME>
# (NAME upper-cased, other characters than letters and digits made '_') and
# as LAB_SECRET (the last key made).
lab_key() {
	local name=${1:?lab_key NAME ALG} alg=${2:?lab_key NAME ALG} secret var
	lab_need tsig-keygen || return 1
	(umask 077 && tsig-keygen -a "$alg" "$name" >"$LAB/keys/$name.key") ||
		_lab_err "tsig-keygen -a $alg $name failed" || return 1
	secret=$(sed -n 's/^[[:space:]]*secret "\(.*\)";/\1/p' "$LAB/keys/$name.key")
	[[ -n $secret ]] || _lab_err "no secret in $LAB/keys/$name.key" || return 1
	alg=$(sed -n 's/^[[:space:]]*algorithm \(.*\);/\1/p' "$LAB/keys/$name.key")
	(umask 077 && printf '# %s:%s:%s\nkey:\n  - id: %s\n    algorithm: %s\n    secret: %s\n' \
		"$alg" "$name" "$secret" "$name" "$alg" "$secret" >"$LAB/keys/$name.knot.yaml")
	var=${name^^}
	var=LAB_SECRET_${var//[^A-Z0-9]/_}
	printf -v "$var" '%s' "$secret"
	export "${var?}"
	export LAB_SECRET=$secret
}

# lab_zone_file ZONE NS... -- $LAB/zones/ZONE.zone with a SOA (refresh 5 s,
# retry 2 s, negative TTL 3 s), default TTL 30 and one NS per argument. An
# argument is LABEL=ADDR (NS LABEL.ZONE. with glue A ADDR) or just ADDR (named
# ns1, ns2, ... by position). Append more records to the file as you like
# before starting a primary with it.
lab_zone_file() {
	local zone=${1:?lab_zone_file ZONE NS...} i=0 arg label addr first=""
	shift
	(($#)) || _lab_err "lab_zone_file $zone: give at least one name server" || return 1
	zone=${zone%.}
	local -a ns=() glue=()
	for arg in "$@"; do
		i=$((i + 1))
		if [[ $arg == *=* ]]; then
			label=${arg%%=*} addr=${arg#*=}
		else
			label=ns$i addr=$arg
		fi
		[[ -n $first ]] || first=$label
		ns+=("@ NS $label")
		glue+=("$label A $addr")
	done
	{
		echo "\$ORIGIN $zone."
		echo "\$TTL 30"
		echo "@ SOA $first hostmaster 1 5 2 600 3"
		printf '%s\n' "${ns[@]}" "${glue[@]}"
	} >"$LAB/zones/$zone.zone"
}

# The zone file a primary starts from: lab_zone_file's, or a default one with
# the primary itself as the only name server.
_lab_zone_for() { # ZONE ADDR
	[[ -f $LAB/zones/$1.zone ]] || lab_zone_file "$1" "ns1=$2"
}

# ---------------------------------------------------------------------------
# Starting, stopping, waiting

# Parses the common options out of "$@": --name NAME, --notify A@P... and
# the flags --stats (named) and --log-queries (unbound). Leaves positional
# words in _LAB_ARGS, notify targets in _LAB_NOTIFY, flags in _LAB_FLAGS.
_lab_opts() {
	_LAB_OPTNAME="" _LAB_ARGS=() _LAB_NOTIFY=()
	declare -gA _LAB_FLAGS=()
	local mode=args
	while (($#)); do
		case $1 in
		--name)
			_LAB_OPTNAME=${2:?--name needs a value}
			shift 2
			continue
			;;
		--stats | --log-queries | --signed | --inline | --validate) _LAB_FLAGS[${1#--}]=1 ;;
		--notify) mode=notify ;;
		-?*) _lab_err "unknown option $1" || return 1 ;; # a lone "-" is KEYNAME "none"
		*)
			if [[ $mode == notify ]]; then
				[[ $1 == *@* ]] || _lab_err "--notify wants ADDR@PORT, not $1" || return 1
				_LAB_NOTIFY+=("$1")
			else
				_LAB_ARGS+=("$1")
			fi
			;;
		esac
		shift
	done
}

# Fails when a flag was given that the calling start function does not know.
_lab_flags_only() { # FUNCTION ALLOWED_FLAG...
	local fn=$1 flag ok
	shift
	for flag in "${!_LAB_FLAGS[@]}"; do
		ok=0
		[[ " $* " == *" $flag "* ]] && ok=1
		((ok)) || _lab_err "$fn does not take --$flag" || return 1
	done
}

# Chooses and checks the server's name; creates its folder. Sets _LAB_SRV.
_lab_newname() { # DEFAULT
	local name=${_LAB_OPTNAME:-$1}
	[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || _lab_err "bad server name '$name'" || return 1
	[[ -z ${_LAB_CMD[$name]:-} ]] ||
		_lab_err "a server named $name exists already (give --name)" || return 1
	mkdir -p "$LAB/$name" || return 1
	_LAB_SRV=$name
}

# _lab_launch NAME WHAT READY CMD... -- registers and starts server NAME.
_lab_launch() {
	local name=$1 what=$2 ready=$3 word cmd=""
	shift 3
	for word in "$@"; do
		cmd+="$(printf '%q' "$word") "
	done
	_LAB_CMD[$name]=$cmd
	_LAB_READY[$name]=$ready
	_LAB_WHAT[$name]=$what
	_LAB_NAMES+=("$name")
	_lab_start "$name"
}

# Fails when something listens on ADDR@PORT (or on the wildcard address and
# PORT). knotd binds with SO_REUSEPORT and unbound with SO_REUSEADDR, so a
# second server on a taken address would start quietly and share the
# queries; two tests using the same address block would go unnoticed.
_lab_free() { # NAME ADDR PORT
	local who
	who=$(ss -Hlntup "sport = :$3" 2>/dev/null |
		awk -v a="$2:$3" -v p=":$3" '$5 == a || $5 == "0.0.0.0" p || $5 == "*" p { print $1, $5, $7 }')
	[[ -z $who ]] || _lab_err "$1: $2@$3 is in use already: $who" || return 1
}

# Starts registered server NAME and waits until it is ready.
_lab_start() {
	local name=$1 pid log=$LAB/$1/log
	local -a cmd spec
	read -r -a spec <<<"${_LAB_READY[$name]}"
	[[ ${spec[0]} == none ]] || _lab_free "$name" "${spec[1]}" "${spec[2]}" || return 1
	eval "cmd=(${_LAB_CMD[$name]})"
	echo "=== lab: $(date '+%T.%N') start: ${_LAB_CMD[$name]}" >>"$log"
	# setpriv execs the server, so $! is the server's own pid.
	setpriv --pdeathsig TERM -- "${cmd[@]}" </dev/null >>"$log" 2>&1 &
	pid=$!
	_LAB_PID[$name]=$pid
	if ! _lab_ready "$name" "$LAB_START_TIMEOUT"; then
		echo "lab: $name (${_LAB_WHAT[$name]}) did not come up; its log:" >&2
		lab_logs "$name" >&2
		_lab_kill "$name"
		return 1
	fi
}

# Polls until server NAME is ready, for at most SECONDS; fails at once when
# the process is gone.
_lab_ready() { # NAME SECONDS
	local name=$1 pid=${_LAB_PID[$1]} deadline kind addr port
	local -a spec zones
	read -r -a spec <<<"${_LAB_READY[$name]}"
	kind=${spec[0]} addr=${spec[1]:-} port=${spec[2]:-}
	zones=("${spec[@]:3}")
	_lab_ms "$2" || return 1
	_lab_now
	deadline=$((_LAB_NOW + _LAB_MS))
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			local status=0
			wait "$pid" 2>/dev/null || status=$?
			echo "lab: $name exited with status $status while starting" >&2
			return 1
		fi
		case $kind in
		none) return 0 ;;
		any) dig +norec +time=1 +tries=1 -p "$port" @"$addr" localhost. A >/dev/null 2>&1 && return 0 ;;
		auth)
			local zone ok=1
			for zone in "${zones[@]}"; do
				_lab_is_auth "$addr" "$port" "$zone" || {
					ok=0
					break
				}
			done
			((ok)) && return 0
			;;
		esac
		_lab_now
		((_LAB_NOW < deadline)) || break
		sleep 0.05
	done
	echo "lab: $name not ready after $2 s (${_LAB_READY[$name]})" >&2
	return 1
}

# True when ADDR@PORT answers a RD=0 SOA query for ZONE with NOERROR, AA and
# the SOA.
_lab_is_auth() { # ADDR PORT ZONE
	local out
	out=$(dig +norec +time=1 +tries=1 -p "$2" @"$1" "$3" SOA 2>&1) || return 1
	[[ $out == *"status: NOERROR"* ]] || return 1
	grep -qE '^;; flags:[^;]* aa[ ;]' <<<"$out" || return 1
	awk -v z="${3%.}." 'tolower($1) == tolower(z) && $4 == "SOA" { f = 1 } END { exit !f }' \
		<<<"$out"
}

# lab_wait ADDR PORT ZONE [SECONDS] -- wait (default 15 s) until the server
# answers authoritatively for ZONE (RD=0 SOA: NOERROR, AA, the SOA).
lab_wait() {
	local addr=${1:?lab_wait ADDR PORT ZONE [SECONDS]} port=${2:?} zone=${3:?} secs=${4:-15}
	lab_until "$secs" _lab_is_auth "$addr" "$port" "$zone" ||
		_lab_err "$addr@$port does not serve $zone after $secs s" || return 1
}

# lab_until SECONDS COMMAND... -- run COMMAND until it succeeds, for at most
# SECONDS (may be fractional). Sets LAB_ELAPSED_MS to the time it took (or to
# the time waited when it times out, status 1).
lab_until() {
	local secs=${1:?lab_until SECONDS COMMAND...} start deadline
	shift
	_lab_now
	start=$_LAB_NOW
	_lab_ms "$secs" || return 1
	deadline=$((start + _LAB_MS))
	while :; do
		if "$@"; then
			_lab_now
			# shellcheck disable=SC2034 # read by the tests that source this file
			LAB_ELAPSED_MS=$((_LAB_NOW - start))
			return 0
		fi
		_lab_now
		if ((_LAB_NOW >= deadline)); then
			# shellcheck disable=SC2034 # read by the tests that source this file
			LAB_ELAPSED_MS=$((_LAB_NOW - start))
			return 1
		fi
		sleep 0.05
	done
}

# lab_stop NAME -- stop server NAME (SIGTERM, up to 5 s, then SIGKILL).
lab_stop() {
	local name=${1:?lab_stop NAME}
	[[ -n ${_LAB_CMD[$name]:-} ]] || _lab_err "no server named $name" || return 1
	_lab_kill "$name"
}

# lab_pause NAME -- SIGSTOP: the server keeps its sockets but answers nothing.
lab_pause() {
	local pid
	pid=$(lab_pid "${1:?lab_pause NAME}") || return 1
	kill -STOP "$pid"
}

# lab_resume NAME -- SIGCONT after lab_pause.
lab_resume() {
	local pid
	pid=$(lab_pid "${1:?lab_resume NAME}") || return 1
	kill -CONT "$pid"
}

# lab_restart NAME -- stop server NAME if it runs, start it again with the same
# configuration and data (journals, transferred zones) and wait until ready.
lab_restart() {
	local name=${1:?lab_restart NAME}
	[[ -n ${_LAB_CMD[$name]:-} ]] || _lab_err "no server named $name" || return 1
	_lab_kill "$name"
	_lab_start "$name"
}

# lab_spawn NAME COMMAND... -- run any other long-lived program (dcvd, say)
# under the lab: log in $LAB/NAME/log, stopped on exit, usable with lab_stop,
# lab_pause, lab_resume, lab_restart, lab_pid. Returns at once (fails only if
# the program is gone immediately); wait for its readiness yourself.
lab_spawn() {
	local name=${1:?lab_spawn NAME COMMAND...}
	shift
	(($#)) || _lab_err "lab_spawn $name: no command" || return 1
	_LAB_OPTNAME=$name
	_lab_newname "$name" || return 1
	_lab_launch "$name" "$1" none "$@"
}

# ---------------------------------------------------------------------------
# The servers

# The record types a primary lets the lab's key update: CNAME (the narrow
# policy the README shows), or ANY with LAB_UPDATE_POLICY=any.
_lab_update_types() {
	case ${LAB_UPDATE_POLICY:-cname} in
	cname) echo CNAME ;;
	any) echo ANY ;;
	*) _lab_err "LAB_UPDATE_POLICY must be cname or any, not '$LAB_UPDATE_POLICY'" ;;
	esac
}

# lab_bind_primary ADDR PORT KEYNAME ZONE... [--notify ADDR@PORT...] [--name NAME] [--stats] [--signed]
# [--inline] (--signed: dnssec-policy default, which signs the zone and every
# UPDATE; --inline too: inline-signing, the signed copy kept apart)
# named as primary of each ZONE (zone file from lab_zone_file, or a default
# one), accepting updates signed with KEYNAME (from lab_key; "-" for none)
# the way the README tells operators to: CNAME records at any name in the
# zone and nothing else (update-policy { grant KEYNAME zonesub CNAME; }), so
# the tests prove dcvd works under that policy. LAB_UPDATE_POLICY=any when
# the server starts grants every type instead (zonesub ANY), for a test
# whose fixtures put other records into the zone with that key. With
# --notify it notifies those secondaries at once (notify explicit,
# notify-delay 0) and lets them transfer the zone.
# notify-rate 1000: with the default (20 per second) named's rate limiter
# held the NOTIFY of a zone that changed again within the same moment for
# about a second, so a burst of UPDATEs reached the secondary a second
# late (a 1,000-CSR burst: 1.3 s instead of 0.4). The README advises
# operators the same.
# With --stats it opens its statistics channel on ADDR port LAB_STATS_PORT
# (8053), read with lab_bind_stats. Default name bind-ADDR.
lab_bind_primary() {
	_lab_opts "$@" || return 1
	_lab_flags_only lab_bind_primary stats signed inline || return 1
	(( ${#_LAB_ARGS[@]} >= 4 )) ||
		_lab_err "usage: lab_bind_primary ADDR PORT KEYNAME ZONE... [--notify ADDR@PORT...] [--name NAME]" ||
		return 1
	local addr=${_LAB_ARGS[0]} port=${_LAB_ARGS[1]} key=${_LAB_ARGS[2]} zone dir conf t
	local -a zones=("${_LAB_ARGS[@]:3}")
	zones=("${zones[@]%.}")
	local notify=() allow=() types
	types=$(_lab_update_types) || return 1
	lab_need named || return 1
	_lab_newname "bind-$addr" || return 1
	lab_local_addr "$addr" || return 1
	dir=$LAB/$_LAB_SRV conf=$dir/named.conf
	for t in "${_LAB_NOTIFY[@]}"; do
		notify+=("${t%@*} port ${t##*@};")
		allow+=("${t%@*};")
	done
	{
		cat <<-EOF
			options {
			        directory "$dir";
			        pid-file none;
			        session-keyfile none;
			        listen-on port $port { $addr; };
			        listen-on-v6 { none; };
			        recursion no;
			        dnssec-validation no;
			        notify-source $addr;
			        transfer-source $addr;
			        notify no;
			        notify-rate 1000;
			};
			controls { };
		EOF
		if [[ -n ${_LAB_FLAGS[stats]:-} ]]; then
			echo "statistics-channels { inet $addr port $LAB_STATS_PORT allow { 127.0.0.0/8; }; };"
			_LAB_STATS[$_LAB_SRV]=$addr:$LAB_STATS_PORT
		fi
		[[ $key == - ]] || echo "include \"$LAB/keys/$key.key\";"
		for zone in "${zones[@]}"; do
			_lab_zone_for "$zone" "$addr" || return 1
			cp "$LAB/zones/$zone.zone" "$dir/$zone.zone"
			echo "zone \"$zone\" {"
			echo "        type primary;"
			echo "        file \"$dir/$zone.zone\";"
			echo "        journal \"$dir/$zone.zone.jnl\";"
			[[ $key == - ]] || echo "        update-policy { grant $key zonesub $types; };"
			# --signed: BIND 9.18 signs the zone and every dynamic update (CSK, ECDSA P-256).
			[[ -z ${_LAB_FLAGS[signed]:-} ]] || echo "        dnssec-policy default;"
			# --inline (with --signed): the signed copy is a separate zone (inline-signing).
			[[ -z ${_LAB_FLAGS[inline]:-} ]] || echo "        inline-signing yes;"
			if ((${#notify[@]})); then
				echo "        notify explicit;"
				echo "        also-notify { ${notify[*]} };"
				echo "        notify-delay 0;"
				echo "        allow-transfer { ${allow[*]} };"
			else
				echo "        allow-transfer { none; };"
			fi
			echo "};"
		done
	} >"$conf" || return 1
	_lab_launch "$_LAB_SRV" "named primary $addr@$port ${zones[*]}" \
		"auth $addr $port ${zones[*]}" named -c "$conf" -g -u root
}

# lab_local_addr ADDR -- make sure ADDR is an address of an interface. named
# (unlike knotd and unbound) only listens on addresses it finds on an
# interface, and lo carries just 127.0.0.1 until told otherwise; so a missing
# ADDR is added to lo as ADDR/32 (needs root). On exit the lab removes what it
# added, and any address of its own block $LAB_NET.0/24 that a killed earlier
# run left behind. The list is a file, so that this works from subshells too.
lab_local_addr() {
	local addr=${1:?lab_local_addr ADDR} out
	lab_need ip || return 1
	if ip -4 -o addr show | awk '{ sub(/\/.*/, "", $4); print $4 }' | grep -qxF -- "$addr"; then
		[[ $addr != "$LAB_NET".* ]] || echo "$addr" >>"$LAB/addrs"
		return 0
	fi
	if ! out=$(ip addr add "$addr/32" dev lo 2>&1); then
		_lab_err "named listens only on interface addresses and adding $addr to lo failed" \
			"($out); run as root, or give named 127.0.0.1 and a port of its own"
		return 1
	fi
	echo "$addr" >>"$LAB/addrs"
}

# Common part of the knotd configurations: server, control, database, log.
_lab_knot_head() { # DIR ADDR PORT
	cat <<-EOF
		server:
		    rundir: "$1"
		    listen: $2@$3
		    udp-workers: 1
		    tcp-workers: 1
		    background-workers: 1

		control:
		    listen: "$1/knot.sock"

		database:
		    storage: "$1"

		log:
		  - target: stderr
		    any: info

		template:
		  - id: default
		    storage: "$1"
		    file: "$1/%s.zone"

	EOF
}

# lab_knot_secondary ADDR PORT PRIMARY_ADDR@PORT[,ADDR@PORT...] ZONE... [--name NAME]
# knotd as secondary of each ZONE: transfers (IXFR, AXFR) from the primary
# and accepts its NOTIFY. Ready once it serves every zone. Default name
# knot-ADDR.
lab_knot_secondary() {
	_lab_opts "$@" || return 1
	_lab_flags_only lab_knot_secondary || return 1
	(( ${#_LAB_ARGS[@]} >= 4 )) ||
		_lab_err "usage: lab_knot_secondary ADDR PORT PRIMARY_ADDR@PORT[,...] ZONE... [--name NAME]" ||
		return 1
	local addr=${_LAB_ARGS[0]} port=${_LAB_ARGS[1]} prims=${_LAB_ARGS[2]} dir p i=0 zone
	local -a zones=("${_LAB_ARGS[@]:3}") ids=() addrs=()
	zones=("${zones[@]%.}")
	lab_need knotd || return 1
	_lab_newname "knot-$addr" || return 1
	dir=$LAB/$_LAB_SRV
	{
		_lab_knot_head "$dir" "$addr" "$port"
		echo "remote:"
		for p in ${prims//,/ }; do
			[[ $p == *@* ]] || _lab_err "primary must be ADDR@PORT, not $p" || return 1
			i=$((i + 1))
			ids+=("primary$i")
			addrs+=("${p%@*}")
			echo "  - id: primary$i"
			echo "    address: $p"
			echo "    via: $addr"
		done
		echo
		echo "acl:"
		echo "  - id: notify_from_primary"
		echo "    address: $(_lab_list "${addrs[@]}")"
		echo "    action: notify"
		echo
		echo "zone:"
		for zone in "${zones[@]}"; do
			echo "  - domain: $zone"
			echo "    master: $(_lab_list "${ids[@]}")"
			echo "    acl: notify_from_primary"
		done
	} >"$dir/knot.conf" || return 1
	_lab_launch "$_LAB_SRV" "knotd secondary $addr@$port of $prims ${zones[*]}" \
		"auth $addr $port ${zones[*]}" knotd -c "$dir/knot.conf"
}

# lab_knot_primary ADDR PORT KEYNAME ZONE... [--notify ADDR@PORT...] [--name NAME] [--signed]
# (--signed: dnssec-signing: on, the default policy; updates are signed too)
# knotd as primary of each ZONE (zone file from lab_zone_file, or a default
# one), accepting updates signed with KEYNAME ("-" for none) of CNAME
# records only (an update acl with update-type: [CNAME], as the README
# advises; Knot 3.2 has no owner patterns, so any name in the zone).
# LAB_UPDATE_POLICY=any when the server starts drops update-type (every
# type), as for lab_bind_primary. With --notify it notifies those
# secondaries and lets them transfer. Default name knot-ADDR.
lab_knot_primary() {
	_lab_opts "$@" || return 1
	_lab_flags_only lab_knot_primary signed || return 1
	(( ${#_LAB_ARGS[@]} >= 4 )) ||
		_lab_err "usage: lab_knot_primary ADDR PORT KEYNAME ZONE... [--notify ADDR@PORT...] [--name NAME]" ||
		return 1
	local addr=${_LAB_ARGS[0]} port=${_LAB_ARGS[1]} key=${_LAB_ARGS[2]} dir zone t i=0
	local -a zones=("${_LAB_ARGS[@]:3}") acls=() ids=() addrs=()
	local types
	zones=("${zones[@]%.}")
	types=$(_lab_update_types) || return 1
	lab_need knotd || return 1
	_lab_newname "knot-$addr" || return 1
	dir=$LAB/$_LAB_SRV
	{
		[[ $key == - ]] || echo "include: \"$LAB/keys/$key.knot.yaml\""
		echo
		_lab_knot_head "$dir" "$addr" "$port"
		if ((${#_LAB_NOTIFY[@]})); then
			echo "remote:"
			for t in "${_LAB_NOTIFY[@]}"; do
				i=$((i + 1))
				ids+=("secondary$i")
				addrs+=("${t%@*}")
				echo "  - id: secondary$i"
				echo "    address: $t"
				echo "    via: $addr"
			done
			echo
		fi
		if ((${#addrs[@]})) || [[ $key != - ]]; then
			echo "acl:"
		fi
		if [[ $key != - ]]; then
			echo "  - id: update_$key"
			echo "    key: $key"
			echo "    action: update"
			[[ $types == ANY ]] || echo "    update-type: [$types]"
			acls+=("update_$key")
		fi
		if ((${#addrs[@]})); then
			echo "  - id: transfer_to_secondaries"
			echo "    address: $(_lab_list "${addrs[@]}")"
			echo "    action: transfer"
			acls+=(transfer_to_secondaries)
		fi
		echo
		echo "zone:"
		for zone in "${zones[@]}"; do
			_lab_zone_for "$zone" "$addr" || return 1
			cp "$LAB/zones/$zone.zone" "$dir/$zone.zone"
			echo "  - domain: $zone"
			((${#acls[@]} == 0)) || echo "    acl: $(_lab_list "${acls[@]}")"
			((${#ids[@]} == 0)) || echo "    notify: $(_lab_list "${ids[@]}")"
			# --signed: Knot signs the zone and every update (default policy, ECDSA P-256).
			[[ -z ${_LAB_FLAGS[signed]:-} ]] || echo "    dnssec-signing: on"
		done
	} >"$dir/knot.conf" || return 1
	_lab_launch "$_LAB_SRV" "knotd primary $addr@$port ${zones[*]}" \
		"auth $addr $port ${zones[*]}" knotd -c "$dir/knot.conf"
}

# lab_unbound ADDR PORT ZONE=ADDR@PORT[,ADDR@PORT...]... [--name NAME] [--log-queries] [--validate]
# (--validate: validating, trust anchors from $LAB/trust-anchors, ede: yes)
# unbound as a resolver on ADDR@PORT with a stub zone per ZONE pointing at
# the given servers; no DNSSEC validation; special-use TLDs (test, invalid,
# ...) of the zones are not blocked. Ready once it answers at all. With
# --log-queries its log has a line for every query it receives and every
# reply it sends ("[EPOCH] unbound[..] query: CLIENT NAME TYPE IN",
# "... reply: CLIENT NAME TYPE IN RCODE ..."), in the order they happened.
# Default name unbound-ADDR.
lab_unbound() {
	_lab_opts "$@" || return 1
	_lab_flags_only lab_unbound log-queries validate || return 1
	(( ${#_LAB_ARGS[@]} >= 3 )) ||
		_lab_err "usage: lab_unbound ADDR PORT ZONE=ADDR@PORT[,...]... [--name NAME]" || return 1
	local addr=${_LAB_ARGS[0]} port=${_LAB_ARGS[1]} dir arg zone tld s modules=iterator
	local -a stubs=("${_LAB_ARGS[@]:2}")
	[[ -z ${_LAB_FLAGS[validate]:-} ]] || modules="validator iterator"
	local -A nodefault=([test]=1)
	lab_need unbound || return 1
	_lab_newname "unbound-$addr" || return 1
	dir=$LAB/$_LAB_SRV
	for arg in "${stubs[@]}"; do
		[[ $arg == *=*@* ]] || _lab_err "stub must be ZONE=ADDR@PORT[,...], not $arg" || return 1
		zone=${arg%%=*}
		tld=${zone%.}
		tld=${tld##*.}
		case ${tld,,} in
		test | invalid | onion | local | localhost | example) nodefault[${tld,,}]=1 ;;
		esac
	done
	{
		cat <<-EOF
			server:
			    verbosity: 1
			    interface: $addr@$port
			    outgoing-interface: $addr
			    do-ip6: no
			    access-control: 127.0.0.0/8 allow
			    do-not-query-localhost: no
			    module-config: "$modules"
			    username: ""
			    chroot: ""
			    directory: "$dir"
			    pidfile: "$dir/unbound.pid"
			    use-syslog: no
			    logfile: ""
			    num-threads: 1
			    outgoing-range: 64
			    num-queries-per-thread: 32
			    so-reuseport: no
			    infra-host-ttl: 5
			    infra-keep-probing: yes
		EOF
		if [[ -n ${_LAB_FLAGS[validate]:-} ]]; then
			# --validate: trust anchors from $LAB/trust-anchors (DNSKEY or DS lines).
			echo "    trust-anchor-file: \"$LAB/trust-anchors\""
			echo "    ede: yes"
			echo "    val-log-level: 2"
		fi
		if [[ -n ${_LAB_FLAGS[log-queries]:-} ]]; then
			echo "    log-queries: yes"
			echo "    log-replies: yes"
			echo "    log-tag-queryreply: yes"
		fi
		for tld in "${!nodefault[@]}"; do
			echo "    local-zone: \"$tld.\" nodefault"
		done
		echo
		echo "remote-control:"
		echo "    control-enable: no"
		for arg in "${stubs[@]}"; do
			zone=${arg%%=*}
			echo
			echo "stub-zone:"
			echo "    name: \"${zone%.}.\""
			s=${arg#*=}
			for s in ${s//,/ }; do
				echo "    stub-addr: $s"
			done
		done
	} >"$dir/unbound.conf" || return 1
	_lab_launch "$_LAB_SRV" "unbound $addr@$port stubs ${stubs[*]}" \
		"any $addr $port" unbound -d -c "$dir/unbound.conf"
}

# ---------------------------------------------------------------------------
# Asking and updating

# Prints the answer records OWNER TYPE from ADDR@PORT as "rdata" lines,
# normalised (lower case, no trailing dot). RD is 0 unless REC is rec.
_lab_answers() { # REC ADDR PORT OWNER TYPE
	local rd=+norec out
	[[ $1 == rec ]] && rd=+rec
	out=$(dig "$rd" +time=1 +tries=1 +noall +answer -p "$3" @"$2" "$4" "$5" 2>/dev/null) ||
		return 1
	awk -v o="${4%.}." -v t="${5^^}" '
		tolower($1) == tolower(o) && toupper($4) == t {
			r = $5
			for (i = 6; i <= NF; i++) r = r " " $i
			r = tolower(r); sub(/\.$/, "", r); print r
		}' <<<"$out"
}

_lab_has() { # REC ADDR PORT OWNER TYPE [RDATA]
	local got want
	got=$(_lab_answers "$1" "$2" "$3" "$4" "$5") || return 1
	[[ -n $got ]] || return 1
	(($# >= 6)) || return 0
	want=${6,,}
	want=${want%.}
	grep -qxF -- "$want" <<<"$got"
}

# lab_serves ADDR PORT OWNER TYPE [RDATA] -- true when ADDR@PORT, asked with
# RD=0, answers OWNER TYPE with RDATA (compared case-insensitively, trailing
# dot ignored), or with any record of that type when RDATA is not given.
lab_serves() {
	(($# >= 4)) || _lab_err "usage: lab_serves ADDR PORT OWNER TYPE [RDATA]" || return 1
	_lab_has norec "$@"
}

# lab_resolves ADDR PORT OWNER TYPE [RDATA] -- the same with RD=1, for
# resolvers (unbound).
lab_resolves() {
	(($# >= 4)) || _lab_err "usage: lab_resolves ADDR PORT OWNER TYPE [RDATA]" || return 1
	_lab_has rec "$@"
}

# lab_rcode [--rec] ADDR PORT OWNER TYPE -- print the response code
# (NOERROR, NXDOMAIN, REFUSED, ...) or TIMEOUT when no answer came.
lab_rcode() {
	local rd=+norec out
	if [[ ${1:-} == --rec ]]; then
		rd=+rec
		shift
	fi
	(($# == 4)) || _lab_err "usage: lab_rcode [--rec] ADDR PORT OWNER TYPE" || return 1
	if ! out=$(dig "$rd" +time=1 +tries=1 -p "$2" @"$1" "$3" "$4" 2>&1); then
		echo TIMEOUT
		return 0
	fi
	sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | head -n 1
}

# lab_serial ADDR PORT ZONE -- print the SOA serial ADDR@PORT serves (RD=0).
lab_serial() {
	(($# == 3)) || _lab_err "usage: lab_serial ADDR PORT ZONE" || return 1
	local serial
	serial=$(dig +norec +time=1 +tries=1 +short -p "$2" @"$1" "$3" SOA 2>/dev/null |
		awk 'NF == 7 { print $3; exit }')
	[[ -n $serial ]] || _lab_err "no SOA for $3 from $1@$2" || return 1
	echo "$serial"
}

# lab_nsupdate KEYNAME ADDR PORT [NSUPDATE_OPTION...] < COMMANDS -- send
# nsupdate COMMANDS (update add/delete, prereq ..., without the server line)
# to ADDR@PORT signed with key KEYNAME from lab_key ("-": unsigned). A final
# "send" is added when COMMANDS has none. Exit status is nsupdate's: 0 only
# when the server said NOERROR.
lab_nsupdate() {
	(($# >= 3)) || _lab_err "usage: lab_nsupdate KEYNAME ADDR PORT [OPTION...] < COMMANDS" ||
		return 1
	local key=$1 addr=$2 port=$3 cmds
	local -a opt=(-t 5 -u 2)
	shift 3
	lab_need nsupdate || return 1
	[[ $key == - ]] || opt+=(-k "$LAB/keys/$key.key")
	cmds=$(cat)
	grep -qx '[[:space:]]*send[[:space:]]*' <<<"$cmds" || cmds+=$'\nsend'
	printf 'server %s %s\n%s\n' "$addr" "$port" "$cmds" | nsupdate "${opt[@]}" "$@"
}

# lab_bind_stats NAME -- print the non-zero counters of named NAME (started
# with --stats) as "GROUP.COUNTER VALUE" lines, e.g. "opcodes.UPDATE 1",
# "nsstats.ReqTCP 1", "nsstats.UpdateDone 1" (from /json/v1/server; groups
# opcodes, rcodes, nsstats; a counter not printed is 0).
lab_bind_stats() {
	local name=${1:?lab_bind_stats NAME}
	[[ -n ${_LAB_STATS[$name]:-} ]] || _lab_err "$name has no statistics channel (--stats)" ||
		return 1
	lab_need python3 || return 1
	python3 - "http://${_LAB_STATS[$name]}/json/v1/server" <<-'EOF'
		import json, sys, urllib.request
		with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
		    doc = json.load(r)
		for group in ("opcodes", "rcodes", "nsstats"):
		    for k, v in sorted(doc.get(group, {}).items()):
		        if v:
		            print(f"{group}.{k} {v}")
	EOF
}

# ---------------------------------------------------------------------------
# Reporting

# lab_check DESCRIPTION COMMAND... -- run COMMAND, print "ok   DESCRIPTION" or
# "FAIL DESCRIPTION" (one line each) and count failures. Never exits.
lab_check() {
	local desc=${1:?lab_check DESCRIPTION COMMAND...} start
	shift
	LAB_CHECKS=$((LAB_CHECKS + 1))
	_lab_now
	start=$_LAB_NOW
	if "$@"; then
		_lab_now
		printf 'ok   %s (%d ms)\n' "$desc" $((_LAB_NOW - start))
		return 0
	fi
	LAB_FAILS=$((LAB_FAILS + 1))
	printf 'FAIL %s\n' "$desc"
	return 0
}

# lab_not COMMAND... -- true when COMMAND fails (for lab_check and lab_until).
lab_not() {
	! "$@"
}

# lab_fail DESCRIPTION -- count and print a failure found by other means.
lab_fail() {
	LAB_CHECKS=$((LAB_CHECKS + 1))
	LAB_FAILS=$((LAB_FAILS + 1))
	printf 'FAIL %s\n' "$*"
}

# lab_ok DESCRIPTION -- count and print a success found by other means.
lab_ok() {
	LAB_CHECKS=$((LAB_CHECKS + 1))
	printf 'ok   %s\n' "$*"
}

# lab_finish -- print the summary and exit: 0 when every check held.
lab_finish() {
	if ((LAB_FAILS)); then
		echo "$LAB_FAILS of $LAB_CHECKS checks failed"
		exit 1
	fi
	echo "all $LAB_CHECKS checks passed"
	exit 0
}
