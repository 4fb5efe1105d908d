#!/usr/bin/env bash
# bench-publish.sh [BUILD] -- how fast `dcv publish` gets the DCV records of
# many CSRs into a real BIND primary, against what nsupdate needs for the
# same records, all measured in the same run against the same server:
#
#   dcv    `dcv publish -c CONFIG` of N CSRs (one name each, default 5,000),
#          start to exit: reading and verifying the CSRs, the TSIG-signed
#          UPDATEs (packed up to max_message_size, 65535) and the
#          confirmation query of every record;
#   floor  the same N records (the lines `dcv records` prints) sent by ONE
#          nsupdate process in 100-record messages, nothing confirmed:
#          about the least any client can do;
#   hook   one nsupdate process per record, the way a hook script does it,
#          measured on 200 records and scaled to N.
#
# Every measurement runs REPS times (default 3) on an empty zone: before
# each run the primary is stopped, its journal deleted, its zone file put
# back and the server started again, so that every run adds the same
# records to the same zone. That reset is also how the floor's records are
# kept distinct from dcv's: it deletes dcv's records first, so the floor
# adds exactly dcv's records (not cheaper no-op duplicates, and not records
# of another zone), and nothing differs between the two but the client.
# The table shows medians, records/s and the ratios dcv/floor and hook/dcv.
#
# After every run one AXFR (one dig, not N queries) checks that the zone
# serves exactly the expected records. Where dcv's time goes is read from
# outside, without slowing dcv down: named logs every record it adds with a
# millisecond timestamp, which splits each run into start -> first record
# added (reading the CSRs, building the UPDATEs), first -> last record added
# (the UPDATEs) and last record added -> exit (the confirmation queries).
#
# Prints figures; never fails on a slow machine. Exits non-zero only when
# something is broken: a command fails, or records are missing.
# Knobs: DCV_BENCH_N (5000), DCV_BENCH_HOOK_N (200), DCV_BENCH_REPS (3),
# DCV_BENCH_TRACE=1 adds one dcv run under `strace -f -c` (system calls by
# count), DCV_KEEP_LAB=1 keeps the lab folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" && pwd)
dcv=$build/dcv gen=$build/tests/gen_csrs
n=${DCV_BENCH_N:-5000} n_hook=${DCV_BENCH_HOOK_N:-200} reps=${DCV_BENCH_REPS:-3}
per_msg=100
zone=bench.test

# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
source "$here/../integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_bench.sh
source "$here/lib_bench.sh"
if [[ ! -x $dcv || ! -x $gen ]]; then
	echo "bench-publish: build $dcv and $gen first" >&2
	exit 2
fi
((n_hook <= n)) || n_hook=$n
lab_init bench-publish 6
lab_need nsupdate dig named awk date
addr=$LAB_NET.1 port=$LAB_PORT srv=bind-$LAB_NET.1
key=$LAB/keys/dcv.key
log=$LAB/$srv/log

die() {
	echo "bench-publish: $*" >&2
	exit 1
}

# --- the server ---------------------------------------------------------------

lab_key dcv hmac-sha256
lab_zone_file "$zone" "ns1=$addr"
lab_bind_primary "$addr" "$port" dcv "$zone"
# The lab's primary transfers to nobody; the checks below read the zone with
# one TSIG-signed AXFR instead of N queries. named reads this at the first
# reset.
conf=$LAB/$srv/named.conf
sed -i 's/allow-transfer { none; };/allow-transfer { key dcv; };/' "$conf"
grep -q 'allow-transfer { key dcv; };' "$conf" || die "cannot allow AXFR in $conf"

# Prints "owner target" of every CNAME in the zone, lower case, sorted; fails
# when the transfer did not work (no SOA came).
zone_cnames() {
	dig -k "$key" +time=5 +tries=1 +noall +answer -p "$port" @"$addr" "$zone" AXFR |
		awk 'toupper($4) == "SOA" { soa = 1 }
			toupper($4) == "CNAME" { print tolower($1), tolower($5) }
			END { exit !soa }' | sort
}

# Back to the zone file without DCV records: no journal, fresh server.
reset_zone() {
	lab_stop "$srv"
	rm -f "$LAB/$srv/$zone.zone.jnl"
	cp "$LAB/zones/$zone.zone" "$LAB/$srv/$zone.zone"
	lab_restart "$srv"
	local left
	left=$(zone_cnames) || die "AXFR of $zone from $addr@$port failed"
	[[ -z $left ]] || die "the zone still holds CNAMEs after the reset"
	log_off=$(stat -c %s "$log")
}

# check_served WHAT FILE -- the zone serves exactly the records of FILE
# ("owner target" lines, sorted).
check_served() {
	zone_cnames >"$LAB/served" || die "$1: AXFR of $zone from $addr@$port failed"
	cmp -s "$LAB/served" "$2" ||
		die "$1: the zone serves $(wc -l <"$LAB/served") CNAMEs; $(comm -13 "$LAB/served" "$2" |
			wc -l) of the $(wc -l <"$2") expected are missing"
}

# --- the records ----------------------------------------------------------------

echo "bench-publish: $n CSRs, BIND $(named -v | awk '{ print $2 }') primary $addr@$port," \
	"zone $zone, TSIG hmac-sha256, $reps runs each"
mkdir "$LAB/csr"
"$gen" "$LAB/csr" "$n" "$zone" 1 >/dev/null
files=("$LAB"/csr/*.csr)
((${#files[@]} == n)) || die "gen_csrs wrote ${#files[@]} CSRs, not $n"
"$dcv" records "${files[@]}" >"$LAB/records"
(($(wc -l <"$LAB/records") == n)) || die "dcv records printed $(wc -l <"$LAB/records") lines, not $n"
awk '{ print tolower($1), tolower($5) }' "$LAB/records" | sort >"$LAB/want-all"
head -n "$n_hook" "$LAB/records" | awk '{ print tolower($1), tolower($5) }' | sort >"$LAB/want-hook"

# placement fqdn: each record at its own name, exactly what `dcv records`
# prints, so that the floor sends the very records dcv publishes. ttl 300
# is also what `dcv records` prints.
cat >"$LAB/dcv.yaml" <<EOF
spool: $LAB/spool
ttl: 300
placement: fqdn
key:
  - id: dcv
    algorithm: hmac-sha256
    file: $key
remote:
  - id: primary
    address: $addr@$port
    key: dcv
zone:
  - domain: $zone
    primary: [primary]
    nameservers: [$addr@$port]
EOF

# The floor's input: all records, a send after every 100.
awk -v a="$addr" -v p="$port" -v m="$per_msg" '
	BEGIN { print "server", a, p }
	{ print "update add", $0 }
	NR % m == 0 { print "send" }
	END { if (NR % m) print "send" }' "$LAB/records" >"$LAB/floor.nsupdate"
mapfile -t -n "$n_hook" hook_lines <"$LAB/records"

# --- the measurements -------------------------------------------------------------

# Each sets T (seconds, start to exit) and leaves T0, T1 (epoch seconds).
run_dcv() {
	T0=$EPOCHREALTIME
	"$dcv" publish -c "$LAB/dcv.yaml" --timeout 600 "${files[@]}" >"$LAB/dcv.out" 2>"$LAB/dcv.err" ||
		die "dcv publish failed: $(head -n 5 "$LAB/dcv.err")"
	T1=$EPOCHREALTIME
	T=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.6f", b - a }')
	(($(grep -c ': published ' "$LAB/dcv.out") == n)) || die "dcv publish did not report $n records"
}

run_records() {
	T0=$EPOCHREALTIME
	"$dcv" records "${files[@]}" >/dev/null
	T1=$EPOCHREALTIME
	T=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.6f", b - a }')
}

run_floor() {
	T0=$EPOCHREALTIME
	nsupdate -k "$key" -t 600 "$LAB/floor.nsupdate" || die "nsupdate (floor) failed"
	T1=$EPOCHREALTIME
	T=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.6f", b - a }')
}

run_hook() {
	local line
	T0=$EPOCHREALTIME
	for line in "${hook_lines[@]}"; do
		printf 'server %s %s\nupdate add %s\nsend\n' "$addr" "$port" "$line" |
			nsupdate -k "$key" -t 30 || die "nsupdate (hook) failed for $line"
	done
	T1=$EPOCHREALTIME
	T=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.6f", b - a }')
}

# Sets PH to "start->first first->last last->exit connections" of the run
# just made.
phases() {
	bench_bind_marks "$log" "$log_off" || die "named logged no added record"
	PH=$(awk -v t0="$T0" -v t1="$T1" -v f="$BIND_FIRST" -v l="$BIND_LAST" -v c="$BIND_CONNS" \
		'BEGIN { printf "%.3f %.3f %.3f %d", f - t0, l - f, t1 - l, c }')
}

declare -a t_dcv=() t_floor=() t_hook=() t_rec=() p_dcv=() p_floor=()
for ((rep = 1; rep <= reps; rep++)); do
	reset_zone
	run_dcv
	t_dcv+=("$T")
	phases
	p_dcv+=("$PH")
	check_served "dcv publish, run $rep" "$LAB/want-all"

	reset_zone
	run_floor
	t_floor+=("$T")
	phases
	p_floor+=("$PH")
	check_served "nsupdate floor, run $rep" "$LAB/want-all"

	reset_zone
	run_hook
	t_hook+=("$T")
	check_served "nsupdate per record, run $rep" "$LAB/want-hook"

	run_records
	t_rec+=("$T")
	printf '  run %d: dcv %.3f s, floor %.3f s, hook %.3f s (%d records), dcv records %.3f s\n' \
		"$rep" "${t_dcv[-1]}" "${t_floor[-1]}" "${t_hook[-1]}" "$n_hook" "${t_rec[-1]}"
done

median() { # VALUE...
	printf '%s\n' "$@" | sort -g |
		awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
column() { # K VALUE... -- the K-th word of each VALUE
	local k=$1
	shift
	printf '%s\n' "$@" | awk -v k="$k" '{ print $k }'
}
m_dcv=$(median "${t_dcv[@]}")
m_floor=$(median "${t_floor[@]}")
m_hook=$(median "${t_hook[@]}")
m_rec=$(median "${t_rec[@]}")
mapfile -t cols < <(column 1 "${p_dcv[@]}")
d_load=$(median "${cols[@]}")
mapfile -t cols < <(column 2 "${p_dcv[@]}")
d_upd=$(median "${cols[@]}")
mapfile -t cols < <(column 3 "${p_dcv[@]}")
d_conf=$(median "${cols[@]}")
mapfile -t cols < <(column 4 "${p_dcv[@]}")
d_msgs=$(median "${cols[@]}")
mapfile -t cols < <(column 1 "${p_floor[@]}")
f_start=$(median "${cols[@]}")
mapfile -t cols < <(column 2 "${p_floor[@]}")
f_upd=$(median "${cols[@]}")
mapfile -t cols < <(column 3 "${p_floor[@]}")
f_end=$(median "${cols[@]}")

awk -v n="$n" -v nh="$n_hook" -v reps="$reps" -v d="$m_dcv" -v f="$m_floor" -v h="$m_hook" \
	-v pm="$per_msg" -v rec="$m_rec" -v dl="$d_load" -v du="$d_upd" -v dc="$d_conf" \
	-v dm="$d_msgs" -v fs="$f_start" -v fu="$f_upd" -v fe="$f_end" 'BEGIN {
	hs = h * n / nh
	printf "\nPublishing %d DCV records to BIND (median of %d runs, each on an empty zone)\n", n, reps
	printf "  %-46s %9s %10s\n", "method", "seconds", "records/s"
	printf "  %-46s %9.3f %10.0f\n", "dcv publish (CSRs in, every record confirmed)", d, n / d
	printf "  %-46s %9.3f %10.0f\n", "floor: one nsupdate, " pm "-record messages", f, n / f
	printf "  %-46s %9.3f %10.0f   (%d records: %.3f s)\n", "hook: one nsupdate per record, scaled", hs, n / hs, nh, h
	printf "  ratio dcv / floor: %.2f   ratio hook / dcv: %.0f\n", d / f, hs / d
	printf "  goal dcv <= 1.5 x floor: %s\n", d <= 1.5 * f ? "met" : "NOT met"
	printf "\nWhere the time goes (medians; split by the times named logged the first and the last record added)\n"
	printf "  %-46s %9s %9s\n", "phase", "dcv", "floor"
	printf "  %-46s %9.3f %9.3f\n", "start -> first record added", dl, fs
	printf "  %-46s %9.3f %9.3f   (UPDATE messages: dcv %d, floor %d)\n", "first -> last record added (the UPDATEs)", du, fu, dm, int((n + pm - 1) / pm)
	printf "  %-46s %9.3f %9.3f\n", "last record added -> exit", dc, fe
	printf "  dcv, start -> first record: reading the config and the %d CSRs, building the UPDATEs and\n", n
	printf "    sending the first; `dcv records` alone on the same CSRs (read, verify, hash) takes %.3f s\n", rec
	printf "  dcv, last record -> exit: the last reply, then %d confirmation queries (shared UDP sockets, at most 128 in flight)\n", n
	printf "  for reference: `dcv records` + the floor = %.3f s (what a script starting from CSRs needs\n", rec + f
	printf "    at least); dcv / that = %.2f\n", d / (rec + f)
}'

if [[ ${DCV_BENCH_TRACE:-0} == 1 ]]; then
	lab_need strace
	reset_zone
	strace -f -c -o "$LAB/strace" "$dcv" publish -c "$LAB/dcv.yaml" --timeout 600 "${files[@]}" \
		>/dev/null 2>&1 || die "dcv publish under strace failed"
	echo
	echo "dcv publish under strace -f -c (system calls, most frequent first; times inflated by strace):"
	awk '/^-/ { body = 1; next } body && NF >= 5 && $NF != "total" { print }' "$LAB/strace" |
		sort -k4,4nr | head -n 12 | sed 's/^/  /'
fi
