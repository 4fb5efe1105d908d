#!/usr/bin/env bash
# bench-dcvd.sh [BUILD] -- the daemon against real servers: a BIND primary
# that notifies a Knot secondary at once (NOTIFY/IXFR, notify-delay 0), all
# on loopback (tests/integration/lib.sh, INDEX 17). Prints the machine, then
# ONE table; every figure in it is measured in this run:
#
#   throughput  N CSRs (default 10,000, one name each; written and copied
#               before the clock starts) dropped at once by rename() into a
#               running dcvd's incoming/ -> done/ holds N status files, i.e.
#               every record is served by the primary and the secondary (the
#               clock stops at the newest status file's mtime). One AXFR at
#               each server then checks that exactly the N records are served.
#               Beside it, on the same records and the same reset zone:
#               the floor (ONE nsupdate process, 100-record messages, to the
#               primary, nothing confirmed) and the hook way (per CSR: `openssl
#               req -outform DER | openssl md5`, the same for sha256, one
#               nsupdate process), measured on 200 and scaled to N.
#   latency     one CSR into an idle dcvd (run with -v), 20 times: drop (the
#               rename) -> "publishing -> published" in dcvd's log (the
#               primary confirmed it) and -> "published -> visible" (every
#               authoritative server serves it); the secondary's own transfer
#               time, from BIND's "adding an RR" log line to knotd's "zone
#               updated" line; a few samples cross-checked by a tight query
#               loop (one query per millisecond to each server).
#   memory      peak RSS (VmHWM) of the dcvd that took the N CSRs; RSS and
#               CPU (utime + stime) of an idle dcvd over 60 s.
#   scaling     time per CSR at N = 1,000 (median of DCV_BENCH_REPS), 10,000
#               and 50,000 (one run).
#
# Before every throughput run both servers are reset to the same empty zone
# (stopped; BIND's journal deleted and its zone file put back; Knot's zone,
# journal and timers deleted; started again, Knot transferring serial 1), and
# each dcvd run gets a fresh dcvd and spool, so every run does the same work.
#
# knotd logs with whole seconds only, so the lab's knotd is restarted with
# its log lines stamped (microseconds) by a pipe as they arrive; BIND logs
# milliseconds itself, dcvd too (UTC).
#
# Prints figures and met / NOT met against the goals; a slow machine never
# makes it fail. Exits non-zero only when something is broken: a command
# fails, a job fails, dcvd dies or makes no progress for 60 s, records are
# missing.
# Knobs: DCV_BENCH_N (10000), DCV_BENCH_REPS (3: dcvd and floor runs at N,
# median shown), DCV_BENCH_HOOK_N (200), DCV_BENCH_LAT_N (20),
# DCV_BENCH_XCHECK (3 latency samples cross-checked), DCV_BENCH_IDLE_S (60),
# DCV_BENCH_QUICK=1 (skips the 50,000 run and the idle measurement),
# DCV_BENCH_FS=host (the lab under TMPDIR, not on an ext4 made for the run),
# DCV_KEEP_LAB=1 (keeps the lab folder with every log).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" && pwd)

# The lab's folder goes on a file system made for this run: ext4 with a
# journal (what a server's spool is usually on), in a sparse image file
# mounted by loop. A file system the machine has used for hours differs
# from run to run, and ext4 without a journal (as this project's
# development machine's / is) makes every new file skip each inode deleted
# in the last 1-6 minutes (ialloc.c, recently_deleted()), so the status
# files of a burst after earlier tests cost up to half of dcvd's CPU in
# the kernel. DCV_BENCH_FS=host keeps the lab under TMPDIR instead; without
# root, mkfs.ext4 or a loop device the bench says so and does the same.
if [[ ${DCV_BENCH_FS:-fresh} == fresh ]]; then
	fs_img='' fs_mnt='' rc=0
	fs_gone() {
		if [[ ${DCV_KEEP_LAB:-0} == 1 ]] && mountpoint -q "$fs_mnt"; then
			echo "bench-dcvd: the lab stays mounted at $fs_mnt (image $fs_img)" >&2
			return
		fi
		mountpoint -q "$fs_mnt" && umount "$fs_mnt"
		rm -f "$fs_img"
		rmdir "$fs_mnt" 2>/dev/null || true
	}
	if ((EUID == 0)) && command -v mkfs.ext4 >/dev/null &&
		fs_img=$(mktemp "${TMPDIR:-/tmp}/dcv-bench-fs.XXXXXX") &&
		fs_mnt=$(mktemp -d "${TMPDIR:-/tmp}/dcv-bench-mnt.XXXXXX") &&
		trap fs_gone EXIT &&
		truncate -s 4G "$fs_img" &&
		mkfs.ext4 -q -F -i 4096 "$fs_img" &&
		mount -o loop "$fs_img" "$fs_mnt" 2>/dev/null; then
		TMPDIR=$fs_mnt DCV_BENCH_FS=ext4-fresh "$0" "$build" || rc=$?
		exit "$rc"
	fi
	fs_gone
	trap - EXIT
	echo "bench-dcvd: cannot make a fresh ext4 by loop (needs root, mkfs.ext4, a loop device);" \
		"the lab stays under ${TMPDIR:-/tmp}" >&2
fi
dcv=$build/dcv dcvd=$build/dcvd gen=$build/tests/gen_csrs
n=${DCV_BENCH_N:-10000} reps=${DCV_BENCH_REPS:-3} n_hook=${DCV_BENCH_HOOK_N:-200}
n_lat=${DCV_BENCH_LAT_N:-20} n_xcheck=${DCV_BENCH_XCHECK:-3} idle_s=${DCV_BENCH_IDLE_S:-60}
quick=${DCV_BENCH_QUICK:-0}
scale=(1000 50000)
((quick)) && scale=(1000)
per_msg=100
zone=bench.test

# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
source "$here/../integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_bench.sh
source "$here/lib_bench.sh"
if [[ ! -x $dcv || ! -x $dcvd || ! -x $gen ]]; then
	echo "bench-dcvd: build $dcv, $dcvd and $gen first" >&2
	exit 2
fi
((n_hook <= n)) || n_hook=$n
((n_xcheck <= n_lat)) || n_xcheck=$n_lat

die() {
	echo "bench-dcvd: $*" >&2
	exit 1
}

lab_init bench-dcvd 17
lab_need nsupdate dig named knotd openssl perl python3 awk find
[[ -x /usr/bin/time ]] || die "/usr/bin/time is not installed (Debian package time)"
p=$LAB_NET.1 s=$LAB_NET.2 port=$LAB_PORT
bind=bind-$p knot=knot key=$LAB/keys/dcv.key
res=$LAB/results

# result KEY VALUE -- one figure for the table.
result() {
	echo "$1 $2" >>"$res"
}

# --- the machine --------------------------------------------------------------

cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
# The machine may be shared: its load and CPU pressure (the share of time
# some runnable task waited for a CPU) say how much the figures suffer.
busy() {
	local psi=
	[[ -r /proc/pressure/cpu ]] &&
		psi=", CPU pressure $(awk '/^some/ { sub(/avg10=/, "", $2); print $2 "%" }' /proc/pressure/cpu)"
	echo "load average $(cut -d' ' -f1-3 /proc/loadavg)$psi"
}
# The lab's filesystem; ext4 without a journal is worth saying (see README).
fs_of() {
	local fs dev
	fs=$(df --output=fstype "$1" | tail -n 1)
	dev=$(df --output=source "$1" | tail -n 1)
	dev=${dev##*/}
	if [[ $fs == ext4 && $(cat "/sys/fs/ext4/$dev/journal_task" 2>/dev/null) == "<none>" ]]; then
		fs+=" without a journal"
	fi
	echo "$fs"
}
echo "bench-dcvd: $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r)," \
	"$(awk '/^MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)," \
	"$(busy) at start"
echo "lab: BIND $(named -v | awk '{ print $2 }') primary $p@$port -> NOTIFY/IXFR (notify-delay 0) ->" \
	"Knot $(knotd --version | awk '{ print $NF }') secondary $s@$port; zone $zone; TSIG hmac-sha256;" \
	"$("$dcvd" --version 2>&1 | head -n 1); folder $LAB ($(fs_of "$LAB")$(
		[[ ${DCV_BENCH_FS:-} == ext4-fresh ]] && echo ", made for this run by loop"))"

# --- the servers ----------------------------------------------------------------

lab_key dcv hmac-sha256
chmod 0640 "$key"
lab_zone_file "$zone" "ns1=$p" "ns2=$s"
lab_bind_primary "$p" "$port" dcv "$zone" --notify "$s@$port"
bind_log=$(lab_log "$bind")
lab_knot_secondary "$s" "$port" "$p@$port" "$zone"
# The same knotd again, with two changes: its zone may be read by AXFR (for
# the checks), and every log line gets the time it arrived, in
# microseconds. The shell execs knotd, so the lab's pid is knotd's; the
# stamping perl ends when knotd closes the pipe.
kdir=$LAB/knot-$s
lab_stop "knot-$s"
awk '{ print }
	$0 == "acl:" {
		print "  - id: transfer_out"
		print "    address: [127.0.0.0/8]"
		print "    action: transfer"
	}' "$kdir/knot.conf" >"$kdir/knot.conf.new"
sed -i 's/^    acl: notify_from_primary$/    acl: [notify_from_primary, transfer_out]/' "$kdir/knot.conf.new"
mv "$kdir/knot.conf.new" "$kdir/knot.conf"
grep -q 'acl: \[notify_from_primary, transfer_out\]' "$kdir/knot.conf" ||
	die "cannot allow AXFR in $kdir/knot.conf"
cat >"$LAB/knotd-stamped" <<'EOF'
#!/bin/bash
exec knotd -c "$1" 2> >(exec perl -MTime::HiRes=time -ne 'BEGIN { $| = 1 } printf "%.6f %s", time, $_')
EOF
chmod 0755 "$LAB/knotd-stamped"
lab_spawn "$knot" "$LAB/knotd-stamped" "$kdir/knot.conf"
lab_wait "$s" "$port" "$zone" 15
knot_log=$(lab_log "$knot")

# Prints "owner target" of every CNAME that ADDR serves in the zone, lower
# case, sorted, read with one AXFR; fails when no SOA came. Both servers
# allow transfers to the secondary's address.
zone_cnames() { # ADDR
	dig -b "$s" +time=20 +tries=1 +noall +answer -p "$port" @"$1" "$zone" AXFR |
		awk 'toupper($4) == "SOA" { soa = 1 }
			toupper($4) == "CNAME" { print tolower($1), tolower($5) }
			END { exit !soa }' | sort
}

# check_served WHAT FILE -- both servers serve exactly the records of FILE.
check_served() {
	local a
	for a in "$p" "$s"; do
		zone_cnames "$a" >"$LAB/served" || die "$1: AXFR of $zone from $a@$port failed"
		cmp -s "$LAB/served" "$2" ||
			die "$1: $a serves $(wc -l <"$LAB/served") CNAMEs; $(comm -13 "$LAB/served" "$2" |
				wc -l) of the $(wc -l <"$2") expected are missing"
	done
}

# Both servers back to the zone file alone (serial 1, no CNAME).
reset_zone() {
	lab_stop "$knot"
	lab_stop "$bind"
	rm -f "$LAB/$bind/$zone.zone.jnl"
	cp "$LAB/zones/$zone.zone" "$LAB/$bind/$zone.zone"
	find "$kdir" -mindepth 1 -maxdepth 1 ! -name knot.conf -exec rm -rf {} +
	lab_restart "$bind"
	lab_restart "$knot"
	lab_wait "$s" "$port" "$zone" 15
	[[ $(lab_serial "$p" "$port" "$zone") == 1 && $(lab_serial "$s" "$port" "$zone") == 1 ]] ||
		die "the zone is not at serial 1 after the reset"
	bind_off=$(stat -c %s "$bind_log")
	knot_off=$(stat -c %s "$knot_log")
}

# --- helpers ----------------------------------------------------------------------

# CPU time (utime + stime) of PID in milliseconds.
cpu_ms() {
	local stat
	read -r stat <"/proc/$1/stat"
	stat=${stat##*) }
	# shellcheck disable=SC2086 # split into fields on purpose
	set -- $stat
	echo $(((${12} + ${13}) * 1000 / clk_tck))
}
clk_tck=$(getconf CLK_TCK)

# proc_kb PID FIELD -- a "FIELD: N kB" line of /proc/PID/status.
proc_kb() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# drop STAGE INCOMING -- rename() every *.csr of STAGE into INCOMING, in one
# process; prints "START END COUNT" (epoch seconds: before the first
# rename, after the last).
drop() {
	perl -MTime::HiRes=time -e '
		my ($from, $to) = @ARGV;
		opendir(my $d, $from) or die "$from: $!\n";
		my @f = grep { /\.csr$/ } readdir $d;
		closedir $d;
		my $t0 = time;
		for (@f) { rename("$from/$_", "$to/$_") or die "rename $from/$_: $!\n" }
		printf "%.6f %.6f %d\n", $t0, time, scalar @f' "$1" "$2"
}

# count DIR -- the number of *.status files in DIR.
count() {
	perl -e 'opendir(my $d, $ARGV[0]) or die; print scalar(grep { /\.status$/ } readdir $d), "\n"' "$1"
}

# epoch TIME... -- dcvd's UTC stamps (2026-11-23T02:19:05.845Z) in epoch seconds.
epoch() {
	local t
	for t in "$@"; do
		date -d "$t" +%s.%3N
	done
}

# Writes the dcvd configuration for SPOOL into FILE. placement fqdn puts each
# record at its own name, exactly as `dcv records` prints it, so the floor
# and the hook send the very records dcvd publishes; ttl 300 is also what
# `dcv records` prints. Records stay (withdraw_after 0): the reset removes them.
dcvd_config() { # FILE SPOOL
	cat >"$1" <<-EOF
		spool: $2
		ttl: 300
		placement: fqdn
		withdraw_after: 0
		visible_timeout: 1h
		key:
		  - id: dcv
		    file: $key
		remote:
		  - id: bind
		    address: $p@$port
		    key: dcv
		zone:
		  - domain: $zone
		    primary: bind
		    nameservers: [$p@$port, $s@$port]
	EOF
}

# start_dcvd NAME [-v] -- a fresh dcvd with its own spool $LAB/NAME/spool.
start_dcvd() {
	local name=$1 dir=$LAB/$1
	shift
	mkdir -p "$dir/spool"
	dcvd_config "$dir/dcvd.yaml" "$dir/spool"
	lab_spawn "$name" "$dcvd" -c "$dir/dcvd.yaml" "$@"
	lab_until 10 grep -q ': info: started' "$LAB/$name/log" ||
		die "$name did not start: $(tail -n 5 "$LAB/$name/log")"
	lab_until 5 test -d "$dir/spool/incoming" || die "$name made no $dir/spool/incoming"
}

# The state of dcvd NAME's jobs, for messages.
dcvd_states() { # NAME
	"$dcv" status -c "$LAB/$1/dcvd.yaml" 2>&1 | head -n 15 | tr '\n' ' '
}

# wait_done NAME WANT -- until NAME's done/ holds WANT status files. Dies when
# a job fails, dcvd exits, or neither done/ nor dcvd's log grows for 60 s.
wait_done() {
	local name=$1 want=$2 spool=$LAB/$1/spool pid got failed size last=-1 last_size=-1 since
	local pause=0.1
	((want < 5000)) || pause=0.5
	pid=$(lab_pid "$name")
	_lab_now
	since=$_LAB_NOW
	while :; do
		got=$(count "$spool/done")
		((got < want)) || return 0
		failed=$(count "$spool/failed")
		((failed == 0)) || die "$name: $failed jobs failed, e.g. $(grep -h -m1 '^error:' "$spool"/failed/*.status | head -n 1)"
		kill -0 "$pid" 2>/dev/null || die "$name exited: $(tail -n 5 "$LAB/$name/log")"
		size=$(stat -c %s "$LAB/$name/log")
		_lab_now
		if ((got != last || size != last_size)); then
			last=$got last_size=$size since=$_LAB_NOW
		elif ((_LAB_NOW - since > 60000)); then
			die "$name made no progress for 60 s: $got of $want visible; $(dcvd_states "$name")"
		fi
		sleep "$pause"
	done
}

# The newest mtime among the status files in DIR (epoch seconds).
newest_status() {
	find "$1" -name '*.status' -printf '%T@\n' | sort -n | tail -n 1
}

# knot_has SERIAL -- true once knotd logged "zone updated" to SERIAL since the reset.
knot_has() {
	tail -c +$((knot_off + 1)) "$knot_log" | grep -q "zone updated, .* -> $1,"
}

# Sets KNOT_LAST to the stamp of knotd's last "zone updated" line since the
# reset.
knot_last() {
	KNOT_LAST=$(tail -c +$((knot_off + 1)) "$knot_log" | awk '/zone updated/ { t = $1 } END { print t }')
	[[ -n $KNOT_LAST ]] || die "knotd logged no zone update"
}

# --- the CSRs and records -----------------------------------------------------------

# make_set NAME COUNT PREFIX -- $LAB/NAME/ with COUNT CSRs and $LAB/NAME.want
# (their records, "owner target", sorted).
make_set() {
	mkdir -p "$LAB/$1"
	"$gen" "$LAB/$1" "$2" "$zone" 1 "$3" >/dev/null
	(($(find "$LAB/$1" -name '*.csr' | wc -l) == $2)) || die "gen_csrs did not write $2 CSRs"
	find "$LAB/$1" -name '*.csr' -print0 | xargs -0 "$dcv" records >"$LAB/$1.records"
	(($(wc -l <"$LAB/$1.records") == $2)) || die "dcv records printed no $2 records for $1"
	awk '{ print tolower($1), tolower($5) }' "$LAB/$1.records" | sort >"$LAB/$1.want"
}

echo "preparing: CSRs ($n, ${scale[*]}, $n_lat), their records (dcv records) ..."
make_set "csr-$n" "$n" r
for m in "${scale[@]}"; do
	[[ $m == "$n" ]] || make_set "csr-$m" "$m" r
done
make_set csr-lat "$n_lat" lat
: >"$res"

# The floor's input: all N records, a send after every 100.
awk -v a="$p" -v pt="$port" -v m="$per_msg" '
	BEGIN { print "server", a, pt }
	{ print "update add", $0 }
	NR % m == 0 { print "send" }
	END { if (NR % m) print "send" }' "$LAB/csr-$n.records" >"$LAB/floor.nsupdate"
# The hook's CSRs: the first n_hook files; gen_csrs names rI.csr after hI.ZONE.
mapfile -t hook_files < <(find "$LAB/csr-$n" -name '*.csr' | sort | head -n "$n_hook")
"$dcv" records "${hook_files[@]}" | awk '{ print tolower($1), tolower($5) }' | sort >"$LAB/want-hook"

# --- the runs -----------------------------------------------------------------------

# run_dcvd NAME SET COUNT -- one throughput run: reset, fresh dcvd, drop,
# wait, check. Sets T (drop -> newest status file) and the R_* figures.
run_dcvd() {
	local name=$1 set=$2 want=$3 dir=$LAB/$1 pid d0 d1 cnt stop c0 c1 n0 n1 k0 k1 pdone
	local fr lr lp lv inflight
	reset_zone
	mkdir -p "$dir/stage"
	cp -r "$LAB/$set/." "$dir/stage/"
	start_dcvd "$name"
	pid=$(lab_pid "$name")
	R_RSS0=$(proc_kb "$pid" VmRSS)
	sync -f "$dir" # the copies are on disk before the clock starts
	c0=$(cpu_ms "$pid") n0=$(cpu_ms "$(lab_pid "$bind")") k0=$(cpu_ms "$(lab_pid "$knot")")
	read -r d0 d1 cnt < <(drop "$dir/stage" "$dir/spool/incoming")
	[[ -n $cnt ]] || die "$name: the drop failed"
	((cnt == want)) || die "$name: dropped $cnt CSRs, not $want"
	wait_done "$name" "$want"
	_lab_now
	pdone=$_LAB_NOW
	c1=$(cpu_ms "$pid") n1=$(cpu_ms "$(lab_pid "$bind")") k1=$(cpu_ms "$(lab_pid "$knot")")
	R_HWM=$(proc_kb "$pid" VmHWM)
	stop=$(newest_status "$dir/spool/done")
	lab_stop "$name"
	T=$(awk -v a="$d0" -v b="$stop" 'BEGIN { printf "%.3f", b - a }')
	# Where the time went, from the logs: the last CSR received, the last
	# record confirmed on the primary, the last job visible; the most jobs
	# between received and visible at once.
	read -r fr lr lp lv inflight < <(awk '
		$4 == "job" && $6 == "received" && $7 != "->" { if (!fr) fr = $1; lr = $1; if (++f > max) max = f }
		$4 == "job" && $7 == "->" && $8 == "published" { lp = $1 }
		$4 == "job" && $7 == "->" && $8 == "visible" { lv = $1; f-- }
		END { print fr, lr, lp, lv, max }' "$LAB/$name/log")
	[[ -n $lv ]] || die "$name logged no visible job"
	read -r fr lr lp lv <<<"$(epoch "$fr" "$lr" "$lp" "$lv" | paste -sd' ')"
	bench_bind_marks "$bind_log" "$bind_off" || die "named logged no added record"
	knot_last
	R_PH=$(awk -v d0="$d0" -v d1="$d1" -v fr="$fr" -v lr="$lr" -v lp="$lp" -v lv="$lv" -v st="$stop" \
		-v bf="$BIND_FIRST" -v bl="$BIND_LAST" -v kl="$KNOT_LAST" 'BEGIN {
		printf "%.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f",
			d1 - d0, fr - d0, lr - d0, bf - d0, bl - d0, lp - d0, kl - d0, lv - d0, st - d0 }')
	R_MSGS=$BIND_CONNS R_INFLIGHT=$inflight
	R_CPU="$((c1 - c0)) $((n1 - n0)) $((k1 - k0))"
	R_POLL=$(awk -v a="$d0" -v b="$pdone" 'BEGIN { printf "%.3f", b / 1000 - a }')
	check_served "$name" "$LAB/$set.want"
}

run_floor() {
	local t0 t1 serial n0 n1 k0 k1
	reset_zone
	n0=$(cpu_ms "$(lab_pid "$bind")") k0=$(cpu_ms "$(lab_pid "$knot")")
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%U %S' -o "$LAB/floor.time" nsupdate -k "$key" -t 600 "$LAB/floor.nsupdate" ||
		die "nsupdate (floor) failed"
	t1=$EPOCHREALTIME
	T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	serial=$(lab_serial "$p" "$port" "$zone")
	lab_until 120 knot_has "$serial" ||
		die "the secondary did not reach serial $serial after the floor"
	knot_last
	n1=$(cpu_ms "$(lab_pid "$bind")") k1=$(cpu_ms "$(lab_pid "$knot")")
	T_SEC=$(awk -v a="$t0" -v b="$KNOT_LAST" 'BEGIN { printf "%.3f", b - a }')
	F_CPU="$(awk '{ printf "%d", ($1 + $2) * 1000 }' "$LAB/floor.time") $((n1 - n0)) $((k1 - k0))"
	check_served "floor" "$LAB/csr-$n.want"
}

run_hook() {
	local t0 t1 f i md5 sha
	reset_zone
	t0=$EPOCHREALTIME
	for f in "${hook_files[@]}"; do
		i=${f##*/r}
		i=${i%.csr}
		md5=$(openssl req -in "$f" -outform DER | openssl md5)
		sha=$(openssl req -in "$f" -outform DER | openssl sha256)
		md5=${md5##* } sha=${sha##* }
		printf 'server %s %s\nupdate add _%s.h%s.%s. 300 IN CNAME %s.%s.sectigo.com.\nsend\n' \
			"$p" "$port" "$md5" "$i" "$zone" "${sha:0:32}" "${sha:32:32}" |
			nsupdate -k "$key" -t 30 || die "nsupdate (hook) failed for $f"
	done
	t1=$EPOCHREALTIME
	T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	zone_cnames "$p" >"$LAB/served" || die "hook: AXFR of $zone from $p@$port failed"
	cmp -s "$LAB/served" "$LAB/want-hook" ||
		die "hook: the primary does not serve exactly the $n_hook records dcv computes"
}

# The median, with three decimals (as the times are written, so that it can
# be looked up among them).
median() { # VALUE...
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { printf "%.3f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# notify_rate N -- named's notify-rate from its next start (reset_zone) on.
# The lab sets 1000 (tests/integration/lib.sh says why); BIND's default is
# 20. Faster NOTIFYs make the primary serve an IXFR after nearly every one of
# the floor's 100 UPDATEs, which slows the floor; so the floor runs both
# ways and the table compares dcvd with the faster one.
notify_rate() {
	sed -i "s/notify-rate [0-9]*;/notify-rate $1;/" "$LAB/$bind/named.conf"
	grep -q "notify-rate $1;" "$LAB/$bind/named.conf" || die "cannot set notify-rate in named.conf"
}

echo "throughput: $reps runs each of dcvd and the floor (twice) on $n CSRs, one hook run on $n_hook ..."
declare -a t_dcvd=() t_floor=() t_fsec=() t_floor20=() t_fsec20=() hwm=() rss0=()
declare -A ph_of=() cpu_of=() msgs_of=() infl_of=() poll_of=() fcpu_of=() fcpu20_of=()
for ((rep = 1; rep <= reps; rep++)); do
	run_dcvd "dcvd-$n-$rep" "csr-$n" "$n"
	t_dcvd+=("$T") hwm+=("$R_HWM") rss0+=("$R_RSS0")
	ph_of[$T]=$R_PH cpu_of[$T]=$R_CPU msgs_of[$T]=$R_MSGS infl_of[$T]=$R_INFLIGHT poll_of[$T]=$R_POLL
	run_floor
	t_floor+=("$T") t_fsec+=("$T_SEC")
	fcpu_of[$T]=$F_CPU
	notify_rate 20
	run_floor
	notify_rate 1000
	t_floor20+=("$T") t_fsec20+=("$T_SEC")
	fcpu20_of[$T]=$F_CPU
	printf '  run %d: dcvd %.3f s (peak RSS %d KiB), floor %.3f s / %.3f s with notify-rate 20 (secondary done at %.3f / %.3f s)\n' \
		"$rep" "${t_dcvd[-1]}" "${hwm[-1]}" "${t_floor[-1]}" "${t_floor20[-1]}" "${t_fsec[-1]}" "${t_fsec20[-1]}"
done
run_hook
printf '  hook: %d CSRs in %.3f s\n' "$n_hook" "$T"
m_dcvd=$(median "${t_dcvd[@]}")
# The phases, CPU and message counts of the median run (of the first when
# the number of runs is even).
m_run=$m_dcvd
[[ -n ${ph_of[$m_run]:-} ]] || m_run=${t_dcvd[0]}
result n "$n"
result reps "$reps"
result dcvd "$m_dcvd"
result dcvd_all "$(IFS=,; echo "${t_dcvd[*]}")"
m_floor=$(median "${t_floor[@]}")
m_floor20=$(median "${t_floor20[@]}")
result floor_lab "$m_floor"
result floor_20 "$m_floor20"
# The faster setting is the floor; its CPU figures from its median run.
if awk -v a="$m_floor20" -v b="$m_floor" 'BEGIN { exit !(a < b) }'; then
	result floor "$m_floor20"
	result floor_rate 20
	result floor_cpu "${fcpu20_of[$m_floor20]:-${fcpu20_of[${t_floor20[0]}]}}"
	result floor_sec "$(median "${t_fsec20[@]}")"
else
	result floor "$m_floor"
	result floor_rate 1000
	result floor_cpu "${fcpu_of[$m_floor]:-${fcpu_of[${t_floor[0]}]}}"
	result floor_sec "$(median "${t_fsec[@]}")"
fi
result hook "$T"
result n_hook "$n_hook"
result phases "${ph_of[$m_run]// /,}"
result cpu "${cpu_of[$m_run]// /,}"
result msgs "${msgs_of[$m_run]}"
result inflight "${infl_of[$m_run]}"
result poll "${poll_of[$m_run]}"
result hwm "$(printf '%s\n' "${hwm[@]}" | sort -n | tail -n 1)"
result rss_start "$(median "${rss0[@]}")"

# --- latency ------------------------------------------------------------------------

# A tight query loop: asks each server (RD=0) for OWNER CNAME every
# millisecond until it answers with the record, and prints "ADDR EPOCH" for
# each; "ready" first, once the sockets are open.
cat >"$LAB/poll.py" <<'EOF'
import os, select, socket, struct, sys, time
owner, port, servers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def query(qid):
    q = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in owner.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", 5, 1)
socks = {}
for a in servers:
    so = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    so.connect((a, port))
    socks[a] = so
print("ready", flush=True)
seen, deadline, qid = {}, time.time() + 30, 0
while len(seen) < len(servers) and time.time() < deadline:
    for a, so in socks.items():
        if a in seen:
            continue
        qid = (qid + 1) & 0xFFFF
        so.send(query(qid))
        # Every reply waiting counts, also late ones to earlier queries (all
        # ask the same): a server slower than 50 ms must not leave the loop
        # reading the previous reply each time.
        timeout = 0.05
        while select.select([so], [], [], timeout)[0]:
            reply = so.recv(65535)
            t = time.time()
            timeout = 0
            flags, _, an = struct.unpack("!HHH", reply[2:8])
            if flags & 0x8000 and (flags & 0xF) == 0 and an > 0:
                seen.setdefault(a, t)
    time.sleep(0.001)
for a in servers:
    print(a, "%.6f" % seen.get(a, 0), flush=True)
EOF

echo "latency: $n_lat CSRs one at a time into an idle dcvd -v ..."
reset_zone
lat_bind_off=$bind_off lat_knot_off=$knot_off
start_dcvd dcvd-lat -v
lat_pid=$(lab_pid dcvd-lat)
mkdir -p "$LAB/dcvd-lat/stage"
: >"$LAB/lat.samples"
for ((i = 0; i < n_lat; i++)); do
	f=$LAB/csr-lat/lat$i.csr
	owner=$("$dcv" records "$f" | awk '{ print $1 }')
	cp "$f" "$LAB/dcvd-lat/stage/"
	sync -f "$LAB/dcvd-lat"
	xp=0 xs=0
	if ((i < n_xcheck)); then
		python3 "$LAB/poll.py" "$owner" "$port" "$p" "$s" >"$LAB/poll.out" &
		poll_pid=$!
		lab_until 10 grep -qs '^ready$' "$LAB/poll.out" || die "the query loop did not start"
	fi
	read -r d0 d1 cnt < <(drop "$LAB/dcvd-lat/stage" "$LAB/dcvd-lat/spool/incoming")
	[[ $cnt == 1 ]] || die "the drop of lat$i.csr failed"
	lab_until 30 test -e "$LAB/dcvd-lat/spool/done/lat$i.status" ||
		die "lat$i.csr not visible after 30 s; $(dcvd_states dcvd-lat)"
	if ((i < n_xcheck)); then
		wait "$poll_pid" || die "the query loop failed"
		xp=$(awk -v a="$p" '$1 == a { print $2 }' "$LAB/poll.out")
		xs=$(awk -v a="$s" '$1 == a { print $2 }' "$LAB/poll.out")
	fi
	echo "$i $d0 $(lab_serial "$p" "$port" "$zone") ${owner%.} ${xp:-0} ${xs:-0}" >>"$LAB/lat.samples"
	# Idle again: servers and dcvd have written what follows a change.
	sleep 0.3
done
zone_cnames "$p" >"$LAB/served"
zone_cnames "$s" >"$LAB/served-s"
{ cmp -s "$LAB/served" "$LAB/csr-lat.want" && cmp -s "$LAB/served-s" "$LAB/csr-lat.want"; } ||
	die "latency: the servers do not serve exactly the $n_lat records"

# Per sample, from the logs: drop -> published and -> visible (dcvd), drop
# -> BIND added the record, BIND added it -> knotd's zone updated to the
# serial holding it; and the query loop's times.
python3 - "$LAB/lat.samples" "$LAB/dcvd-lat/log" "$bind_log" "$lat_bind_off" "$knot_log" \
	"$lat_knot_off" >>"$res" <<'EOF'
import calendar, datetime, re, sys
samples, dlog, blog, boff, klog, koff = sys.argv[1:]
def utc(s):  # 2026-11-23T02:19:05.845Z
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
    return calendar.timegm(d.timetuple()) + d.microsecond / 1e6
def local(s):  # 23-Nov-2026 02:17:50.178 (named logs local time)
    return datetime.datetime.strptime(s, "%d-%b-%Y %H:%M:%S.%f").timestamp()
jobs, rec, pub, vis = {}, {}, {}, {}
for line in open(dlog, errors="replace"):
    m = re.match(r"(\S+Z) dcvd: \w+: job (\S+): (.*)", line)
    if not m:
        continue
    t, job, what = m.groups()
    r = re.match(r"received (\S+)\.csr( from .*)?$", what)
    if r:
        jobs[r.group(1)] = job
        rec[job] = utc(t)
    elif what == "publishing -> published":
        pub[job] = utc(t)
    elif what == "published -> visible":
        vis[job] = utc(t)
added = {}
with open(blog, errors="replace") as f:
    f.seek(int(boff))
    for line in f:
        m = re.match(r"(\S+ \S+) .*adding an RR at '([^']+)'", line)
        if m:
            added.setdefault(m.group(2).lower(), local(m.group(1)))
kupd = {}
with open(klog, errors="replace") as f:
    f.seek(int(koff))
    for line in f:
        m = re.match(r"(\d+\.\d+) .*zone updated, .*-> (\d+),", line)
        if m:
            kupd.setdefault(int(m.group(2)), float(m.group(1)))
cols = {k: [] for k in ("recv", "prim", "vis", "bind", "xfer", "visxfer", "knotvis")}
xc = []
for line in open(samples):
    i, d0, serial, owner, xp, xs = line.split()
    d0, serial, xp, xs = float(d0), int(serial), float(xp), float(xs)
    job = jobs["lat" + i]
    # The first serial at or after the one served at the end that knotd reached.
    kt = min((t for s, t in kupd.items() if s >= serial), default=None)
    if kt is None:
        sys.exit("bench-dcvd: no knotd 'zone updated' line for serial %d" % serial)
    b = added[owner.lower()]
    cols["recv"].append(rec[job] - d0)
    cols["prim"].append(pub[job] - d0)
    cols["vis"].append(vis[job] - d0)
    cols["bind"].append(b - d0)
    cols["xfer"].append(kt - b)
    cols["visxfer"].append(vis[job] - d0 - (kt - b))
    cols["knotvis"].append(vis[job] - kt)
    if xp > 0:
        xc.append((pub[job] - d0, xp - d0, b - d0, kt - d0, xs - d0, vis[job] - d0))
def med(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
for k, v in cols.items():
    print("lat_%s %.1f,%.1f,%d" % (k, med(v) * 1000, max(v) * 1000, len(v)))
for j, x in enumerate(xc):
    print("xcheck_%d %s" % (j, ",".join("%.1f" % (t * 1000) for t in x)))
EOF

# --- idle ---------------------------------------------------------------------------

if ((quick)); then
	result idle skipped
else
	echo "idle: dcvd-lat for $idle_s s ..."
	c0=$(cpu_ms "$lat_pid") w0=$(proc_kb "$lat_pid" voluntary_ctxt_switches)
	l0=$(stat -c %s "$LAB/dcvd-lat/log")
	sleep "$idle_s"
	c1=$(cpu_ms "$lat_pid") w1=$(proc_kb "$lat_pid" voluntary_ctxt_switches)
	l1=$(stat -c %s "$LAB/dcvd-lat/log")
	result idle "$(proc_kb "$lat_pid" VmRSS),$((c1 - c0)),$((w1 - w0)),$((l1 - l0)),$idle_s,$(proc_kb "$lat_pid" RssAnon),$(proc_kb "$lat_pid" RssFile)"
fi
lab_stop dcvd-lat

# --- scaling ------------------------------------------------------------------------

# Runs under 10,000 CSRs are repeated (median of reps, like the 10,000):
# their time is short enough for one late transfer of the secondary (see
# the latency's worst case) to double it.
echo "scaling: ${scale[*]} CSRs (median of $reps below $n, one run above) ..."
sc="$n:$m_dcvd:$(printf '%s\n' "${hwm[@]}" | sort -n | tail -n 1)"
for m in "${scale[@]}"; do
	[[ $m == "$n" ]] && continue
	declare -a t_m=() hwm_m=()
	for ((rep = 1; rep <= (m < n ? reps : 1); rep++)); do
		run_dcvd "dcvd-$m-$rep" "csr-$m" "$m"
		t_m+=("$T") hwm_m+=("$R_HWM")
		printf '  %d CSRs: %.3f s (peak RSS %d KiB)\n' "$m" "$T" "$R_HWM"
	done
	sc+=" $m:$(median "${t_m[@]}"):$(printf '%s\n' "${hwm_m[@]}" | sort -n | tail -n 1)"
done
result scale "$(tr ' ' '\n' <<<"$sc" | sort -t: -k1,1n | paste -sd' ' | tr ' ' ';')"
echo "$(busy) at the end"

# --- the table ----------------------------------------------------------------------

python3 - "$res" <<'EOF'
import sys
r = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition(" ")
    r[k] = v
n, reps, nh = int(r["n"]), int(r["reps"]), int(r["n_hook"])
d, f, fs, h = float(r["dcvd"]), float(r["floor"]), float(r["floor_sec"]), float(r["hook"])
hs = h * n / nh
rows = []
def row(what, value, goal="", ok=None):
    rows.append((what, value, goal, "" if ok is None else ("met" if ok else "NOT met")))
def head(text):
    rows.append((text, None, None, None))
def ms2(key):
    m, w, _ = r[key].split(",")
    return float(m), float(w)

head(f"Throughput: {n:,} CSRs dropped at once -> served by primary and secondary (median of {reps})")
row("dcvd: drop -> done/ holds every status file", f"{d:.3f} s {n / d:7.0f}/s")
row("  each run", ", ".join("%.3f" % float(x) for x in r["dcvd_all"].split(",")) + " s")
ph = [float(x) for x in r["phases"].split(",")]
row("  drop: the renames into incoming/ took", f"{ph[0]:.3f} s")
row("  drop -> first / last CSR received", f"{ph[1]:.3f} / {ph[2]:.3f} s")
row("  drop -> BIND added first / last record", f"{ph[3]:.3f} / {ph[4]:.3f} s")
row("  drop -> last 'published' (primary confirmed)", f"{ph[5]:.3f} s")
row("  drop -> knotd's last transfer done", f"{ph[6]:.3f} s")
row("  drop -> last 'visible' logged", f"{ph[7]:.3f} s")
row("  drop -> last status file written", f"{ph[8]:.3f} s (seen by polling at {float(r['poll']):.3f} s)")
cpu = [int(x) for x in r["cpu"].split(",")]
row("  CPU during the run: dcvd / named / knotd", f"{cpu[0] / 1000:.2f} / {cpu[1] / 1000:.2f} / {cpu[2] / 1000:.2f} s")
row("  UPDATE messages (BIND: client ports)", f"{r['msgs']} ({n / max(int(r['msgs']), 1):.0f} records each)")
row("  most jobs in flight at once (dcvd log)", f"{int(r['inflight']):,}")
row(f"floor: one nsupdate, {100}-record messages, primary only", f"{f:.3f} s {n / f:7.0f}/s")
row("  BIND notify-rate 1000 (the lab's) / 20 (default)",
    f"{float(r['floor_lab']):.3f} / {float(r['floor_20']):.3f} s: the floor is the faster")
row(f"  floor until knotd has the last serial (notify-rate {r['floor_rate']})", f"{fs:.3f} s")
fc = [int(x) for x in r["floor_cpu"].replace(" ", ",").split(",")]
row("  CPU: nsupdate / named / knotd", f"{fc[0] / 1000:.2f} / {fc[1] / 1000:.2f} / {fc[2] / 1000:.2f} s")
row(f"hook: openssl md5 + sha256, nsupdate, per CSR ({nh}: {h:.2f} s), scaled", f"{hs:.1f} s {n / hs:7.1f}/s")
row("dcvd / floor", f"{d / f:.1f} x", "<= 2.5 x", d <= 2.5 * f)
row("hook / dcvd", f"{hs / d:.0f} x", ">= 100 x", hs / d >= 100)

pm, pw = ms2("lat_prim")
vm, vw = ms2("lat_vis")
bm, bw = ms2("lat_bind")
xm, xw = ms2("lat_xfer")
ym, yw = ms2("lat_visxfer")
km, kw = ms2("lat_knotvis")
nl = r["lat_prim"].split(",")[2]
head(f"Latency: one CSR into an idle dcvd -v, median / worst of {nl} (ms)")
rm_, rw = ms2("lat_recv")
row("drop -> primary serves it ('published')", f"{pm:.0f} / {pw:.0f} ms", "<= 20 ms", pm <= 20)
row("  drop -> dcvd logs 'received'", f"{rm_:.0f} / {rw:.0f} ms")
row("  drop -> BIND logs 'adding an RR'", f"{bm:.0f} / {bw:.0f} ms")
row("drop -> every server serves it ('visible')", f"{vm:.0f} / {vw:.0f} ms")
row("  secondary transfer: BIND adds -> knotd zone updated", f"{xm:.0f} / {xw:.0f} ms")
row("  knotd zone updated -> 'visible'", f"{km:.0f} / {kw:.0f} ms")
row("visible - secondary transfer", f"{ym:.0f} / {yw:.0f} ms", "<= 50 ms", ym <= 50)
for j in range(10):
    x = r.get(f"xcheck_{j}")
    if x is None:
        break
    v = [float(t) for t in x.split(",")]
    row(f"  check {j + 1}: query loop / logs: primary", f"{v[1]:.0f} / {v[0]:.0f} (BIND {v[2]:.0f}) ms")
    row(f"  check {j + 1}: query loop / logs: secondary", f"{v[4]:.0f} / {v[3]:.0f} (visible {v[5]:.0f}) ms")

head("Memory and idle cost")
hwm = int(r["hwm"]) / 1024
row(f"peak RSS (VmHWM), {n:,} jobs in flight (worst run)", f"{hwm:.1f} MiB", "<= 64 MiB", hwm <= 64)
row("  RSS just after start, no job yet", f"{float(r['rss_start']) / 1024:.1f} MiB")
if r["idle"] == "skipped":
    row("idle RSS and CPU", "skipped (DCV_BENCH_QUICK=1)")
else:
    rss, cpu, wake, logb, secs, anon, lib = (int(x) for x in r["idle"].split(","))
    row(f"idle RSS after {nl} jobs, end of {secs} s idle", f"{rss / 1024:.1f} MiB", "<= 8 MiB", rss / 1024 <= 8)
    row("  of it: anonymous (dcvd's own) / file-backed (libraries)", f"{anon / 1024:.1f} / {lib / 1024:.1f} MiB")
    row(f"idle CPU (utime+stime) over {secs} s", f"{cpu} ms", "~0 (<= 0.1 %)", cpu <= secs)
    row(f"  wakeups (voluntary switches) / log bytes in {secs} s", f"{wake} / {logb}")

head("Scaling: drop -> all visible, time per CSR")
sc = []
for item in r["scale"].split(";"):
    parts = item.split(":")
    sc.append((int(parts[0]), float(parts[1]), parts[2] if len(parts) > 2 else None))
per = [t / m * 1000 for m, t, _ in sc]
for (m, t, hw), pc in zip(sc, per):
    extra = f", peak RSS {int(hw) / 1024:.1f} MiB" if hw else ""
    row(f"  {m:,} CSRs", f"{t:.3f} s = {pc:.3f} ms/CSR{extra}")
row("largest / smallest time per CSR", f"{max(per) / min(per):.2f} x", "flat (<= 1.5 x)",
    max(per) / min(per) <= 1.5)
# A fixed latency (the secondary's last transfer, the last probe, the last
# status files) weighs on a small run's time per CSR; what grows with N
# shows in the time each further CSR adds between two runs.
marg = [((t1 - t0) / (m1 - m0) * 1000, m0, m1) for (m0, t0, _), (m1, t1, _) in zip(sc, sc[1:])]
for mc, m0, m1 in marg:
    row(f"  each CSR from {m0:,} to {m1:,} added", f"{mc:.3f} ms")
if len(marg) >= 2:
    mr = marg[-1][0] / marg[0][0] if marg[0][0] > 0 else float("inf")
    row("  largest N's step / smallest N's step (growth with N)", f"{mr:.2f} x", "(<= 1.5 x)", mr <= 1.5)

w0 = max(len(x[0]) for x in rows if x[1] is not None) + 4
# Values of rows with a goal line up; the others may run on.
w1 = max([16] + [len(x[1]) + 2 for x in rows if x[2]])
print()
print(f"{'measure':<{w0}}{'value':<{w1}}{'goal':<16}")
for what, value, goal, ok in rows:
    if value is None:
        print(what)
    else:
        print(f"  {what:<{w0 - 2}}{value:<{w1}}{goal:<16}{ok}".rstrip())
EOF
