# shellcheck shell=bash
# lib_dcvd.sh -- helpers for the dcvd integration tests (dcvd_*.sh). Source
# it after lib.sh:
#
#   source "$here/lib.sh"
#   source "$here/lib_dcvd.sh"
#   dcvd_lab mytest 9 "$1" example.test other.test   # servers, $DCVD, $P $S $R
#   dcvd_config "$LAB/dcvd.yaml" "$LAB/spool" example.test <<<"max_jobs: 5"
#   dcvd_start dcvd "$LAB/dcvd.yaml" "$LAB/spool"
#
# The servers: a BIND primary ($P, port $LAB_PORT) of every zone, which
# notifies a Knot secondary ($S) that transfers the zones, and unbound ($R)
# with a stub zone per zone pointing at both. Expected records come from
# python's base64 and hashlib over the CSR's DER bytes, never from dcv.

# dcvd_lab NAME INDEX BUILD_DIR ZONE... [--log-queries] -- lab_init and the
# three servers. Sets DCVD (the daemon), DCV (the CLI), GEN_CSRS, P, S, R.
dcvd_lab() {
	local name=${1:?dcvd_lab NAME INDEX BUILD ZONE...} index=${2:?} build=${3:?} z
	local -a zones=() stubs=() uflags=()
	shift 3
	for z in "$@"; do
		case $z in
		--log-queries) uflags+=("$z") ;;
		*) zones+=("$z") ;;
		esac
	done
	lab_init "$name" "$index"
	lab_need dig python3
	DCVD=$build/dcvd DCV=$build/dcv GEN_CSRS=$build/tests/gen_csrs
	[[ -x $DCVD && -x $DCV && -x $GEN_CSRS ]] ||
		_lab_err "build dcvd, dcv and tests/gen_csrs first (in $build)" || return 1
	P=$LAB_NET.1 S=$LAB_NET.2 R=$LAB_NET.3
	lab_key dcv hmac-sha256
	chmod 0640 "$LAB/keys/dcv.key"
	for z in "${zones[@]}"; do
		lab_zone_file "$z" "ns1=$P" "ns2=$S"
		stubs+=("$z=$P@$LAB_PORT,$S@$LAB_PORT")
	done
	lab_bind_primary "$P" "$LAB_PORT" dcv "${zones[@]}" --notify "$S@$LAB_PORT"
	lab_knot_secondary "$S" "$LAB_PORT" "$P@$LAB_PORT" "${zones[@]}"
	lab_unbound "$R" "$LAB_PORT" "${stubs[@]}" "${uflags[@]}"
}

# dcvd_config FILE SPOOL ZONE... -- a dcvd configuration for the lab's
# servers: records kept (withdraw_after 0, or $DCVD_WITHDRAW_AFTER), the
# given zones (nameservers listed: the NS glue has no port), the resolver.
# Lines read from stdin (when it is not a terminal) are added at the top
# level. The file is replaced whole (a rename), so a running dcvd reloads
# either the old or the new one.
dcvd_config() {
	local file=${1:?dcvd_config FILE SPOOL ZONE...} spool=${2:?} z extra=""
	shift 2
	[[ -t 0 ]] || extra=$(cat)
	{
		echo "spool: $spool"
		echo "withdraw_after: ${DCVD_WITHDRAW_AFTER:-0}"
		echo "visible_timeout: 40s"
		[[ -z $extra ]] || echo "$extra"
		echo "key:"
		echo "  - id: dcv"
		echo "    file: $LAB/keys/dcv.key"
		echo "remote:"
		echo "  - id: bind"
		echo "    address: $P@$LAB_PORT"
		echo "    key: dcv"
		echo "zone:"
		for z in "$@"; do
			echo "  - domain: $z"
			echo "    primary: bind"
			echo "    nameservers: [$P@$LAB_PORT, $S@$LAB_PORT]"
		done
		echo "resolver: [$R@$LAB_PORT]"
	} >"$file.tmp" && mv "$file.tmp" "$file"
}

# dcvd_start NAME CONFIG SPOOL [--journal | ENV=VALUE...] -- runs dcvd -c
# CONFIG -v as lab server NAME (with the ENV=VALUE words in its environment)
# and waits until it says it started (a new "started (dcvd" line in its
# log; the spool may exist from an earlier run). With --journal, JOURNAL_STREAM is set
# to the DEV:INODE of dcvd's own standard error (its log), as systemd does:
# stat runs in the shell that then execs dcvd, so /proc/self/fd/2 is that
# very stream (in the test's shell it would be the test's stderr instead).
dcvd_start() {
	local name=${1:?dcvd_start NAME CONFIG SPOOL [--journal | ENV=VALUE...]} cfg=${2:?} spool=${3:?}
	local before
	shift 3
	before=$(_dcvd_starts "$name")
	if [[ ${1:-} == --journal ]]; then
		# shellcheck disable=SC2016 # expanded by the inner shell
		lab_spawn "$name" sh -c \
			'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) && export JOURNAL_STREAM && exec "$@"' \
			sh "$DCVD" -c "$cfg" -v
	else
		lab_spawn "$name" env "$@" "$DCVD" -c "$cfg" -v
	fi
	lab_until 10 _dcvd_started "$name" "$before" || _lab_err "$name did not start in 10 s" || return 1
	[[ -d $spool/incoming ]] || _lab_err "$name made no spool $spool"
}

# How many times dcvd NAME logged that it started.
_dcvd_starts() {
	local n
	n=$(grep -c 'started (dcvd' "$LAB/$1/log" 2>/dev/null) || true
	echo "${n:-0}"
}

_dcvd_started() { # NAME BEFORE
	(($(_dcvd_starts "$1") > $2))
}

# dcvd_rename FILE... DIR -- rename(2) every FILE into DIR, in one process.
# Not mv: coreutils' mv stats the destination after the rename, and fails
# when dcvd has taken the file away in between.
dcvd_rename() {
	python3 -c '
import os, sys
for f in sys.argv[1:-1]:
    os.rename(f, os.path.join(sys.argv[-1], os.path.basename(f)))
' "$@"
}

# dcvd_drop SPOOL FILE [NAME] -- put FILE into SPOOL/incoming/ (as NAME,
# default its own name) by rename() from the same filesystem.
dcvd_drop() {
	local spool=${1:?dcvd_drop SPOOL FILE [NAME]} file=${2:?} name=${3:-}
	[[ -n $name ]] || name=${file##*/}
	mkdir -p "$spool/.drop1"
	cp "$file" "$spool/.drop1/$name" && dcvd_rename "$spool/.drop1/$name" "$spool/incoming"
}

# dcvd_stage SPOOL FILE... -- copy every FILE to SPOOL/.drop/ (same
# filesystem, ignored by dcvd), for dcvd_release.
dcvd_stage() {
	local spool=${1:?dcvd_stage SPOOL FILE...}
	shift
	rm -rf "$spool/.drop"
	mkdir "$spool/.drop"
	cp "$@" "$spool/.drop/"
}

# dcvd_release SPOOL -- rename everything staged into SPOOL/incoming/ at
# once (one process: a burst of rename() calls).
dcvd_release() {
	dcvd_rename "${1:?dcvd_release SPOOL}"/.drop/* "$1/incoming"
}

# dcvd_n DIR GLOB -- sets DCVD_N to the number of files DIR/GLOB (no fork:
# cheap enough to poll every few milliseconds).
dcvd_n() {
	local -a f
	# shellcheck disable=SC2206 # GLOB is meant to expand
	f=("$1"/$2)
	DCVD_N=${#f[@]}
	[[ -e ${f[0]} || -L ${f[0]} ]] || DCVD_N=0
}

# dcvd_at_least N DIR GLOB -- true when DIR holds N or more files GLOB.
dcvd_at_least() {
	dcvd_n "$2" "$3"
	((DCVD_N >= $1))
}

# dcvd_field FILE KEY -- print the top-level KEY of a YAML file.
dcvd_field() {
	python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get(sys.argv[2]))' "$1" "$2"
}

# dcvd_expected ADN [UNIQUE] CSR... -- print "OWNER TARGET" (lower case,
# no trailing dots) per CSR: _<md5>.ADN and <sha256 0:32>.<sha256
# 32:64>[.UNIQUE].sectigo.com from the DER bytes inside the PEM, sorted.
dcvd_expected() {
	local adn=${1:?dcvd_expected ADN [UNIQUE] CSR...} unique=""
	shift
	[[ -f ${1:-} ]] || {
		unique=$1
		shift
	}
	python3 - "$adn" "$unique" "$@" <<-'EOF'
		import base64, hashlib, re, sys
		adn, unique, out = sys.argv[1], sys.argv[2].lower(), []
		for path in sys.argv[3:]:
		    pem = open(path).read()
		    body = re.search(r"-----BEGIN CERTIFICATE REQUEST-----(.*?)-----END", pem, re.S)
		    der = base64.b64decode("".join(body.group(1).split()))
		    md5, sha = hashlib.md5(der).hexdigest(), hashlib.sha256(der).hexdigest()
		    target = sha[:32] + "." + sha[32:] + ("." + unique if unique else "") + ".sectigo.com"
		    out.append("_%s.%s %s" % (md5, adn, target))
		print("\n".join(sorted(out)))
	EOF
}

# dcvd_axfr_cnames ADDR PORT ZONE [SOURCE] -- print every CNAME of ZONE as
# "OWNER TARGET" (lower case, no trailing dots), sorted, from one AXFR
# (from address SOURCE when the server allows transfers only to that one).
dcvd_axfr_cnames() {
	local -a src=()
	[[ -z ${4:-} ]] || src=(-b "$4")
	dig "${src[@]}" +time=5 +tries=1 +noall +answer -p "$2" @"$1" "$3" AXFR |
		awk 'toupper($4) == "CNAME" { o = tolower($1); t = tolower($5); sub(/\.$/, "", o);
			sub(/\.$/, "", t); print o, t }' | sort -u
}

# dcvd_batch_cnames ADDR PORT rec|norec OWNER... -- ask ADDR@PORT for each
# OWNER's CNAME in one dig process (a batch file); print "OWNER TARGET" lines
# as dcvd_axfr_cnames does.
dcvd_batch_cnames() {
	local addr=$1 port=$2 rd=+$3 batch
	shift 3
	batch=$(mktemp "$LAB/batch.XXXXXX")
	printf '%s CNAME\n' "$@" >"$batch"
	dig "$rd" +time=2 +tries=2 +noall +answer -p "$port" @"$addr" -f "$batch" 2>/dev/null |
		awk 'toupper($4) == "CNAME" { o = tolower($1); t = tolower($5); sub(/\.$/, "", o);
			sub(/\.$/, "", t); print o, t }' | sort -u
	rm -f "$batch"
}

# dcvd_same WANT_FILE GOT_FILE WHAT -- true when both hold the same lines;
# otherwise says how many are missing and extra, with examples.
dcvd_same() {
	local missing extra
	missing=$(comm -23 "$1" "$2" | wc -l)
	extra=$(comm -13 "$1" "$2" | wc -l)
	((missing == 0 && extra == 0)) && return 0
	echo "  $3: $missing missing (e.g. $(comm -23 "$1" "$2" | head -n 1)), $extra extra (e.g. $(comm -13 "$1" "$2" | head -n 1))"
	return 1
}

# dcvd_states_are STATE N DIR -- true when DIR holds exactly N status files
# and every one says state STATE; otherwise prints what they say.
dcvd_states_are() {
	python3 - "$@" <<-'EOF'
		import collections, glob, sys, yaml
		want, n, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
		loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10 times faster
		states = collections.Counter()
		for path in glob.glob(folder + "/*.status"):
		    with open(path) as f:
		        states[yaml.load(f, Loader=loader).get("state")] += 1
		if states != collections.Counter({want: n}):
		    print("  %s: %s, want %d %s" % (folder, dict(states), n, want))
		    sys.exit(1)
	EOF
}

# dcvd_empty DIR... -- true when no DIR holds anything but dot-files.
dcvd_empty() {
	local d ok=0
	local -a f
	for d in "$@"; do
		dcvd_n "$d" '*'
		((DCVD_N == 0)) || {
			f=("$d"/*)
			echo "  $d holds $DCVD_N files, e.g. ${f[*]:0:3}"
			ok=1
		}
	done
	return $ok
}

# dcvd_same_serial ZONE -- true when the secondary serves the primary's serial.
dcvd_same_serial() {
	local a b
	a=$(lab_serial "$P" "$LAB_PORT" "$1") && b=$(lab_serial "$S" "$LAB_PORT" "$1") && [[ $a == "$b" ]]
}

_dcvd_all_done() { # N DIR
	dcvd_at_least "$1" "$2" '*.status' && dcvd_at_least "$1" "$2" '*.csr'
}

# dcvd_check_complete TAG SPOOL CONFIG ZONE CSR... -- waits (40 s at most)
# until every CSR's job is visible, then checks (one line each): done/
# holds a visible status file and the CSR for each; active/, incoming/ and
# failed/ are empty; the primary's zone holds exactly the records of these
# CSRs as CNAMEs (one AXFR: no duplicate, no orphan, none missing); the
# secondary has caught up and serves each (one batch dig), and so does the
# resolver; `dcv status` counts exactly that many jobs, all visible.
dcvd_check_complete() {
	local tag=$1 spool=$2 cfg=$3 zone=$4 n w=$LAB/$1
	shift 4
	n=$#
	# A store batch writes the status files first, then moves the CSRs.
	lab_check "$tag: $n status files and $n CSRs in done/" \
		lab_until 40 _dcvd_all_done "$n" "$spool/done"
	lab_check "$tag: every status says visible" dcvd_states_are visible "$n" "$spool/done"
	lab_check "$tag: nothing left in active/, incoming/, failed/" \
		dcvd_empty "$spool/active" "$spool/incoming" "$spool/failed"
	dcvd_expected "$zone" "$@" >"$w.want"
	dcvd_axfr_cnames "$P" "$LAB_PORT" "$zone" "$S" >"$w.primary"
	lab_check "$tag: the primary's zone holds exactly the $n CNAMEs (one AXFR, $(wc -l <"$w.primary") CNAMEs)" \
		dcvd_same "$w.want" "$w.primary" "primary"
	lab_check "$tag: the secondary has the primary's serial" lab_until 5 dcvd_same_serial "$zone"
	# shellcheck disable=SC2046 # one owner name per word
	dcvd_batch_cnames "$S" "$LAB_PORT" norec $(cut -d' ' -f1 "$w.want") >"$w.secondary"
	lab_check "$tag: the secondary serves each record (one batch dig)" \
		dcvd_same "$w.want" "$w.secondary" "secondary"
	# shellcheck disable=SC2046
	dcvd_batch_cnames "$R" "$LAB_PORT" rec $(cut -d' ' -f1 "$w.want") >"$w.resolver"
	lab_check "$tag: the resolver serves each record (one batch dig)" \
		dcvd_same "$w.want" "$w.resolver" "resolver"
	"$DCV" status -c "$cfg" >"$w.dcvstatus" 2>&1 || true
	lab_check "$tag: dcv status: $n jobs, $n visible, no other state" \
		grep -Eq "^  received 0, publishing 0, published 0, visible $n, withdrawing 0, withdrawn 0, failed 0\$" \
		"$w.dcvstatus"
	lab_check "$tag: dcv status: $n jobs in all" grep -Eq "^spool .*: $n jobs," "$w.dcvstatus"
}

# dcvd_journal_stream NAME -- print lab server NAME's JOURNAL_STREAM and the
# DEV:INODE of its stderr, as "ENV STDERR" (equal when set up right).
dcvd_journal_stream() {
	local pid env
	pid=$(lab_pid "${1:?dcvd_journal_stream NAME}") || return 1
	env=$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^JOURNAL_STREAM=//p')
	echo "${env:-unset} $(stat -L -c %d:%i "/proc/$pid/fd/2")"
}

# dcvd_kill9 PID -- kill -9 dcvd PID (a child of this shell: `wait PID`
# after it reaps it). In a coverage build (DCV_GCOV_FLUSH=1, set by ctest
# there) SIGUSR2 goes first: such a dcvd writes its coverage counters and
# then kills itself with SIGKILL (tests/tools/gcov_flush.c), so the run
# still counts; if it is not gone within 5 s, SIGKILL. A stopped dcvd
# (lab_pause) gets SIGKILL at once: a flush would need it to run again.
dcvd_kill9() {
	local pid=${1:?dcvd_kill9 PID} i st=
	if [[ ${DCV_GCOV_FLUSH:-0} == 1 ]]; then
		read -r _ _ st _ <"/proc/$pid/stat" 2>/dev/null || true
		if [[ $st == [RSD] ]] && kill -USR2 "$pid" 2>/dev/null; then
			for ((i = 0; i < 500; i++)); do
				st=
				read -r _ _ st _ <"/proc/$pid/stat" 2>/dev/null || true
				[[ -z $st || $st == [ZX] ]] && return 0
				sleep 0.01
			done
		fi
	fi
	kill -KILL "$pid"
}
