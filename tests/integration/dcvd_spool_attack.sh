#!/usr/bin/env bash
# dcvd_spool_attack.sh BUILD -- the spool as on a real host, attacked by the
# users who may write to it. dcvd runs as a system user of its own
# (dcvdt22-d); two submitters (dcvdt22-s1, -s2) share incoming/ (3770
# daemon:group, setgid + sticky) and drop files into it as themselves
# (lib_users.sh). Real servers: BIND primary -> Knot secondary -> unbound.
# Each numbered check is one behaviour:
#   1  a directory incoming/evil.csr beside good CSRs: the good ones are
#      served; the directory stays (dcvd cannot move another user's
#      directory), is reported once (one log line, failed/evil.status),
#      not again at every scan, at most once more after a restart
#   2  a file (or symlink, or FIFO) created and removed a few ms later, 200
#      times, while good CSRs flow: every good CSR is served, no "cannot
#      save" loop
#   3  a FIFO, a socket, a symlink and a hard link (2 links) to good CSRs:
#      none is taken (dcvd keeps working), each fails saying why
#   4  names with a control byte, a byte that is not UTF-8, a '~': failed/
#      under a safe name, the status shows the name escaped, no raw control
#      byte in any file name or in the log
#   5  the same CSR twice (a.pem, a.der): both visible, both withdraw, the
#      record stays while one of them is visible and is gone after both; a
#      duplicate that fails (the secondary paused past visible_timeout)
#      leaves the record of the first served
#   6  the same CSR again with another target (sidecar): fails naming the
#      job holding the owner and both targets; the first target stays
#   7  the same NAME twice: the older job's files are archived as
#      NAME~HEX.*, nothing is replaced
#   8  zone submitters: and max_jobs_per_submitter; a sidecar of another
#      user beside a CSR fails the job
#   9  no raw ESC in the log from a file name holding one
# Expected records come from python's hashlib over the DER bytes
# (users_expected), never from dcv.
# shellcheck disable=SC2317 # the helpers below run through lab_check and lab_until
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
# shellcheck source=tests/integration/lib_users.sh
source "$here/lib_users.sh"
dcvd_lab dcvd_spool_attack 22 "$build" example.test s1only.test
lab_need openssl python3
users_init 22
S1=$USERS_S1 S2=$USERS_S2
csr=$LAB/csr
mkdir -p "$csr"
chmod 0755 "$csr"

# --- helpers ----------------------------------------------------------------------

# sub USER OP ARG... -- the drop tool (lib_users.sh) as USER, in $spool/incoming.
sub() {
	local u=$1
	shift
	users_as "$u" "$USERS_PY" "$USERS_SUBMIT" "$spool/incoming" "$@"
}

# gen PREFIX COUNT [ZONE] -- COUNT CSRs $csr/PREFIX<i>.csr (gen_csrs), world-readable.
gen() {
	"$GEN_CSRS" "$csr" "$2" "${3:-example.test}" 1 "$1" >/dev/null
	chmod 0644 "$csr/$1"*.csr
}

# all_state STATE FILE... -- every FILE exists and says state: STATE.
all_state() {
	local want=$1 f
	shift
	for f in "$@"; do
		[[ -e $f ]] || return 1
	done
	python3 - "$want" "$@" <<-'EOF'
		import sys, yaml
		for p in sys.argv[2:]:
		    try:
		        d = yaml.safe_load(open(p))
		    except Exception:
		        sys.exit(1)
		    if not isinstance(d, dict) or d.get("state") != sys.argv[1]:
		        sys.exit(1)
	EOF
}

# visible NAME... -- done/NAME.status says visible, for every NAME.
visible() {
	local -a files=()
	local n
	for n in "$@"; do
		files+=("$spool/done/$n.status")
	done
	all_state visible "${files[@]}"
}

# field FILE KEY -- KEY of the status FILE ("" when missing).
field() {
	python3 -c '
import sys, yaml
try:
    v = yaml.safe_load(open(sys.argv[1])).get(sys.argv[2])
except Exception:
    v = None
print("" if v is None else v)' "$1" "$2"
}

# error_has FILE ERE -- the error: of status FILE matches ERE (any case);
# otherwise says what it is.
error_has() {
	local err
	err=$(field "$1" error)
	grep -qiE -- "$2" <<<"$err" && return 0
	echo "  ${1#"$LAB"/}: error: '$err', want /$2/"
	return 1
}

# error_contains FILE TEXT... -- the error: of status FILE holds every TEXT
# (fixed strings, any case).
error_contains() {
	local f=$1 err t bad=0
	shift
	err=$(field "$f" error)
	for t in "$@"; do
		grep -qiF -- "$t" <<<"$err" || {
			echo "  ${f#"$LAB"/}: error does not name '$t'"
			bad=1
		}
	done
	((bad == 0)) || echo "  error: '$err'"
	return "$bad"
}

# serves_all FILE -- the primary serves every "OWNER TARGET" line of FILE.
serves_all() {
	local owner target bad=0
	while read -r owner target; do
		lab_serves "$P" "$LAB_PORT" "$owner" CNAME "$target" || {
			echo "  the primary does not serve $owner CNAME $target"
			bad=1
		}
	done <"$1"
	return "$bad"
}

# serves_none FILE -- the primary serves no CNAME at any OWNER of FILE.
serves_none() {
	local owner target bad=0
	while read -r owner target; do
		if lab_serves "$P" "$LAB_PORT" "$owner" CNAME; then
			echo "  the primary serves $owner CNAME $(_lab_answers norec "$P" "$LAB_PORT" "$owner" CNAME)"
			bad=1
		fi
	done <"$1"
	return "$bad"
}

# log_count NAME ERE -- lines of dcvd NAME's log matching ERE.
log_count() {
	grep -caE -- "$2" "$(lab_log "$1")" || true
}

# reports NAME ENTRY -- how many times dcvd NAME reported incoming/ENTRY
# (a name without special characters): the jobs named by the log lines that
# name it, and each such line that names no job.
reports() {
	grep -aF -- "incoming/$2" "$(lab_log "$1")" |
		awk '{ if (match($0, /job [^ ]+~[0-9a-f]+: /)) jobs[substr($0, RSTART, RLENGTH)] = 1; else n++ }
			END { for (j in jobs) n++; print n + 0 }'
}

# alive NAME -- dcvd NAME still runs.
alive() {
	local pid
	pid=$(lab_pid "$1") && kill -0 "$pid" 2>/dev/null
}

# drop_wait USER SRC NAME -- drop SRC as NAME, wait (20 s) until visible.
drop_wait() {
	sub "$1" put "$2" "$3"
	lab_until 20 visible "${3%.*}" || {
		echo "  ${3%.*} is not visible after 20 s"
		return 1
	}
}

# config FILE SPOOL WITHDRAW_AFTER VISIBLE_TIMEOUT [ZONE_LINE...] -- a
# configuration for the lab's servers and zone example.test; each
# ZONE_LINE is added as a zone entry (YAML flow mapping).
config() {
	local file=$1 sp=$2 wa=$3 vt=$4 z
	shift 4
	{
		echo "spool: $sp"
		echo "withdraw_after: $wa"
		echo "visible_timeout: $vt"
		echo "key:"
		echo "  - id: dcv"
		echo "    file: $LAB/keys/dcv.key"
		echo "remote:"
		echo "  - id: bind"
		echo "    address: $P@$LAB_PORT"
		echo "    key: dcv"
		echo "zone:"
		echo "  - domain: example.test"
		echo "    primary: bind"
		echo "    nameservers: [$P@$LAB_PORT, $S@$LAB_PORT]"
		for z in "$@"; do
			echo "  - $z"
		done
		echo "resolver: [$R@$LAB_PORT]"
	} >"$file"
	chmod 0644 "$file"
}

# ===================================================================================
# dcvd "dcvd": checks 1, 2, 3, 4, 6, 7, 9 (withdraw_after 0)
spool=$LAB/spool cfg=$LAB/dcvd.yaml
config "$cfg" "$spool" 0 30s
users_spool "$spool"
users_dcvd_start dcvd "$cfg" "$spool"
log=$(lab_log dcvd)

# --- 1: a directory in incoming/ ------------------------------------------------------
gen g 5
sub "$S1" mkdir evil.csr
sub "$S1" put "$csr/g0.csr" g0.csr
sub "$S1" put "$csr/g1.csr" g1.csr
sub "$S1" put "$csr/g2.csr" g2.csr
sub "$S1" put "$csr/g3.csr" g3.csr
sub "$S1" put "$csr/g4.csr" g4.csr
users_expected sectigo.com example.test "$csr"/g?.csr >"$LAB/want.g"
lab_check "1: the 5 good CSRs dropped beside the directory incoming/evil.csr are visible" \
	lab_until 30 visible g0 g1 g2 g3 g4
lab_check "1: the primary serves their 5 records (dig)" serves_all "$LAB/want.g"
lab_check "1: failed/evil.status says state: failed" lab_until 15 all_state failed "$spool/failed/evil.status"
lab_check "1: its error says it is a directory" error_has "$spool/failed/evil.status" 'directory'
lab_check "1: evil.csr stays in incoming/ (a directory of $S1: dcvd cannot move it)" \
	test -d "$spool/incoming/evil.csr"
sleep 1
n1=$(log_count dcvd 'incoming/evil\.csr') r1=$(reports dcvd evil.csr)
lab_check "1: reported once: one job reports incoming/evil.csr ($r1)" test "$r1" -eq 1
lab_check "1: reported once: one log line names incoming/evil.csr ($n1)" test "$n1" -eq 1
# Every drop is an inotify event, and every event a scan of incoming/.
gen r 6
for i in 0 1 2; do
	drop_wait "$S1" "$csr/r$i.csr" "r$i.csr" || lab_fail "1: r$i.csr (a scan) not visible"
done
n2=$(log_count dcvd 'incoming/evil\.csr') r2=$(reports dcvd evil.csr)
lab_check "1: three more scans (a CSR dropped, visible, each): not reported again ($r2 reports, $n2 lines)" \
	test "$r2" -eq 1 -a "$n2" -eq "$n1"
users_dcvd_restart dcvd
for i in 3 4 5; do
	drop_wait "$S1" "$csr/r$i.csr" "r$i.csr" || lab_fail "1: r$i.csr (a scan) not visible"
done
sleep 1
n3=$(log_count dcvd 'incoming/evil\.csr') r3=$(reports dcvd evil.csr)
lab_check "1: after a restart and three more scans: at most one more report ($r3 in all, $n3 lines)" \
	test "$r3" -le 2 -a "$n3" -le $((2 * n1))
lab_check "1: evil.csr is still in incoming/, failed/evil.status still says failed" \
	all_state failed "$spool/failed/evil.status"
lab_check "1: ... and still a directory in incoming/" test -d "$spool/incoming/evil.csr"

# --- 2: entries that vanish a few ms after they appear ------------------------------
gen f 10
flaps=()
for i in 0 1 2 3 4 5 6 7; do flaps+=("flap$i.csr"); done
users_bg "$S2" "$USERS_PY" "$USERS_SUBMIT" "$spool/incoming" flap 200 "${flaps[@]}"
flapper=$USERS_BG
for i in 0 1 2 3 4 5 6 7 8 9; do
	sub "$S1" put "$csr/f$i.csr" "f$i.csr"
	sleep 0.1
done
users_wait "$flapper" || lab_fail "2: the flapping submitter failed (status $?)"
users_expected sectigo.com example.test "$csr"/f?.csr >"$LAB/want.f"
lab_check "2: all 10 CSRs dropped while 200 entries came and went are visible" \
	lab_until 30 visible f0 f1 f2 f3 f4 f5 f6 f7 f8 f9
lab_check "2: the primary serves their 10 records" serves_all "$LAB/want.f"
lab_check "2: nothing left in active/" lab_until 10 dcvd_empty "$spool/active"
sleep 1
lab_check "2: no 'cannot save' in dcvd's log ($(log_count dcvd 'cannot save') lines)" \
	test "$(log_count dcvd 'cannot save')" -eq 0
lab_check "2: dcvd still runs" alive dcvd

# --- 3: FIFO, socket, symlink, hard link --------------------------------------------
gen k 3
sub "$S1" fifo fifo.csr
sub "$S1" socket sock.csr
sub "$S1" symlink "$csr/k1.csr" sym.csr
sub "$S1" hardlink "$csr/k2.csr" hl.csr
sub "$S1" put "$csr/k0.csr" k0.csr
lab_check "3: dcvd keeps working: k0.csr dropped after them is visible" lab_until 20 visible k0
# outcome NAME ERE: failed/STEM.status says failed, its error matches ERE;
# the entry left incoming/, or (if dcvd could not move it) is reported once.
outcome() {
	local name=$1 stem=${1%.*} n
	lab_until 15 all_state failed "$spool/failed/$stem.status" || {
		echo "  no failed/$stem.status saying failed"
		return 1
	}
	error_has "$spool/failed/$stem.status" "$2" || return 1
	if [[ -e $spool/incoming/$name || -L $spool/incoming/$name ]]; then
		n=$(reports dcvd "$name")
		((n == 1)) || {
			echo "  $name is still in incoming/ and was reported $n times"
			return 1
		}
	fi
}
lab_check "3: the FIFO ends in failed/, error says FIFO" outcome fifo.csr 'FIFO'
lab_check "3: the socket ends in failed/, error says socket" outcome sock.csr 'socket'
lab_check "3: the symlink ends in failed/, error says symbolic link" outcome sym.csr 'symbolic link'
lab_check "3: the hard link (2 links) ends in failed/, error says hard link" outcome hl.csr 'hard link'
users_expected sectigo.com example.test "$csr/k1.csr" "$csr/k2.csr" >"$LAB/want.k"
lab_check "3: the CSRs behind the symlink and the hard link are not published" serves_none "$LAB/want.k"
lab_check "3: dcvd still runs" alive dcvd

# --- 4 and 9: odd names ----------------------------------------------------------------
gen o 4
raw=($'b\001.csr' $'c\xff.csr' 'd~1.csr' $'e\033[31mred.csr')
# The original names as dcv_escape shows them: \xNN for every byte that is
# not printable UTF-8.
esc=('b\x01.csr' 'c\xff.csr' 'd~1.csr' 'e\x1b[31mred.csr')
for i in 0 1 2 3; do
	sub "$S1" put "$csr/o$i.csr" "${raw[$i]}"
done
# failed_mentioning TEXT: a status file in failed/ says state failed and its
# error: holds TEXT.
failed_mentioning() {
	python3 - "$spool/failed" "$1" <<-'EOF'
		import glob, sys, yaml
		for p in glob.glob(sys.argv[1] + "/*.status"):
		    try:
		        d = yaml.safe_load(open(p, encoding="utf-8", errors="replace"))
		    except Exception:
		        continue
		    if isinstance(d, dict) and d.get("state") == "failed" and sys.argv[2] in str(d.get("error")):
		        sys.exit(0)
		sys.exit(1)
	EOF
}
for i in 0 1 2 3; do
	lab_check "4: ${esc[$i]} ends in failed/: a status file whose error shows '${esc[$i]}'" \
		lab_until 20 failed_mentioning "${esc[$i]}"
done
# gone_raw: none of the raw names is left in incoming/ or found in done/.
gone_raw() {
	local n bad=0
	for n in "${raw[@]}"; do
		if [[ -e $spool/incoming/$n || -e $spool/done/$n ]]; then
			echo "  $(printf '%q' "$n") is still in incoming/ or in done/"
			bad=1
		fi
	done
	return "$bad"
}
lab_check "4: none of the four is left in incoming/ (all moved)" lab_until 10 gone_raw
# safe_names DIR...: every file name in DIR is printable UTF-8.
safe_names() {
	python3 - "$@" <<-'EOF'
		import os, sys, unicodedata
		bad = []
		for d in sys.argv[1:]:
		    for n in os.listdir(os.fsencode(d)):
		        try:
		            s = n.decode("utf-8")
		        except UnicodeDecodeError:
		            bad.append(n)
		            continue
		        if any(unicodedata.category(c) == "Cc" for c in s):
		            bad.append(n)
		for n in bad[:5]:
		    print("  unsafe name: %r" % n)
		sys.exit(1 if bad else 0)
	EOF
}
lab_check "4: every file name in failed/ and done/ is printable UTF-8 (no control byte)" \
	safe_names "$spool/failed" "$spool/done"
lab_check "4: no job left in active/" lab_until 10 dcvd_empty "$spool/active"
users_expected sectigo.com example.test "$csr"/o?.csr >"$LAB/want.o"
lab_check "4: none of their records is published" serves_none "$LAB/want.o"
lab_check "4: dcvd's log holds no raw control byte" \
	lab_not env LC_ALL=C grep -qaP '[\x00-\x08\x0b-\x1f\x7f]' "$log"
lab_check "9: no raw ESC (\\x1b) in dcvd's log, though e\\x1b[31mred.csr was submitted" \
	lab_not grep -qaF $'\033' "$log"

# --- 6: the same CSR again, another target --------------------------------------------
gen c 1
lab_check "6: c.csr is visible" drop_wait "$S1" "$csr/c0.csr" c.csr
first=$(field "$spool/done/c.status" job)
read -r owner target1 < <(users_expected sectigo.com example.test "$csr/c0.csr")
read -r _ target2 < <(users_expected comodoca.com example.test "$csr/c0.csr")
sub "$S1" text c2.yaml 'target: comodoca.com'
sub "$S1" put "$csr/c0.csr" c2.csr
lab_check "6: c2.csr (same CSR, sidecar target: comodoca.com) fails" \
	lab_until 20 all_state failed "$spool/failed/c2.status"
# holder_named: the error names the first job (its id, or c.csr).
holder_named() {
	local err
	err=$(field "$spool/failed/c2.status" error)
	[[ -n $first && $err == *"$first"* ]] || [[ $err == *c.csr* ]] || {
		echo "  error: '$err' names neither job $first nor c.csr"
		return 1
	}
}
lab_check "6: its error names the job holding the owner ($first)" holder_named
lab_check "6: its error names both targets" error_contains "$spool/failed/c2.status" "$target1" "$target2"
lab_check "6: the primary still serves the first target" lab_serves "$P" "$LAB_PORT" "$owner" CNAME "$target1"
# one_cname OWNER TARGET: the primary's zone (AXFR) holds exactly this CNAME at OWNER.
one_cname() {
	local got
	got=$(dcvd_axfr_cnames "$P" "$LAB_PORT" example.test "$S" | awk -v o="$1" '$1 == o')
	[[ $got == "$1 $2" ]] && return 0
	echo "  AXFR at $1: '${got//$'\n'/; }', want '$1 $2'"
	return 1
}
lab_check "6: the zone holds exactly that one CNAME at the owner (AXFR)" one_cname "$owner" "$target1"

# --- 7: the same NAME twice: archives ------------------------------------------------
gen a 2
lab_check "7: arch.csr (first) is visible" drop_wait "$S1" "$csr/a0.csr" arch.csr
old=$(field "$spool/done/arch.status" job)
md5_of() { # FILE: md5 of the CSR's DER bytes (the oracle)
	users_expected sectigo.com x "$1" | sed 's/^_\([0-9a-f]*\)\..*/\1/'
}
md5_0=$(md5_of "$csr/a0.csr") md5_1=$(md5_of "$csr/a1.csr")
sub "$S1" put "$csr/a1.csr" arch.csr
# newer_visible: done/arch.status is another job's, visible, with the second CSR's md5.
newer_visible() {
	visible arch && [[ $(field "$spool/done/arch.status" job) != "$old" ]] &&
		[[ $(field "$spool/done/arch.status" md5) == "$md5_1" ]]
}
lab_check "7: arch.csr (second) is visible: done/arch.status is the newer job's" lab_until 20 newer_visible
new=$(field "$spool/done/arch.status" job)
two_ids() {
	[[ $old =~ ^arch~[0-9a-f]+$ && $new =~ ^arch~[0-9a-f]+$ && $old != "$new" ]]
}
lab_check "7: the older job id is arch~HEX ($old) and the newer another ($new)" two_ids
# older_kept: done/OLD.status is the older job's: its id, the first CSR's md5.
older_kept() {
	local job md5
	job=$(field "$spool/done/$old.status" job) md5=$(field "$spool/done/$old.status" md5)
	[[ $job == "$old" && $md5 == "$md5_0" ]] && return 0
	echo "  done/$old.status: job '$job' md5 '$md5', want $old and $md5_0"
	return 1
}
lab_check "7: done/$old.status is the older job's (its id, the md5 of the first CSR)" older_kept
lab_check "7: done/$old.status still says visible" all_state visible "$spool/done/$old.status"
lab_check "7: done/$old.csr holds the first CSR" cmp -s "$spool/done/$old.csr" "$csr/a0.csr"
lab_check "7: done/arch.csr holds the second CSR" cmp -s "$spool/done/arch.csr" "$csr/a1.csr"
# only_four: done/ holds arch.csr, arch.status, OLD.csr, OLD.status of these jobs.
only_four() {
	local got
	got=$(cd "$spool/done" && find . -maxdepth 1 -name 'arch[.~]*' ! -name '.*' -printf '%f\n' | sort | tr '\n' ' ')
	[[ $got == "arch.csr arch.status $old.csr $old.status " ]] && return 0
	echo "  done/ holds: $got"
	return 1
}
lab_check "7: nothing else of arch in done/" only_four
users_expected sectigo.com example.test "$csr/a0.csr" "$csr/a1.csr" >"$LAB/want.a"
lab_check "7: the primary serves both records (nothing replaced)" serves_all "$LAB/want.a"
lab_check "dcvd: still runs after checks 1-4, 6, 7" alive dcvd
lab_check "dcvd: no raw control byte in its log, at the end" \
	lab_not env LC_ALL=C grep -qaP '[\x00-\x08\x0b-\x1f\x7f]' "$log"
lab_stop dcvd

# ===================================================================================
# --- 5a: the same CSR as a.pem and a.der, withdraw_after 6s -------------------------
spool=$LAB/spool-dup
config "$LAB/dcvd-dup.yaml" "$spool" 6s 30s
users_spool "$spool"
gen x 1
openssl req -in "$csr/x0.csr" -outform DER -out "$csr/x0.der"
chmod 0644 "$csr/x0.der"
read -r xowner xtarget < <(users_expected sectigo.com example.test "$csr/x0.csr")
if users_dcvd_start dcvd-dup "$LAB/dcvd-dup.yaml" "$spool"; then
	lab_check "5: a.pem is visible" drop_wait "$S1" "$csr/x0.csr" a.pem
	ida=$(field "$spool/done/a.status" job)
	sleep 1.5
	sub "$S1" put "$csr/x0.der" a.der
	# b_visible: done/a.status is another job's and visible.
	b_visible() {
		visible a && [[ $(field "$spool/done/a.status" job) != "$ida" ]]
	}
	lab_check "5: a.der (the same request, DER) is visible too" lab_until 20 b_visible
	idb=$(field "$spool/done/a.status" job)
	lab_check "5: both jobs visible: done/a.status ($idb, a.der) and done/$ida.status (a.pem)" \
		all_state visible "$spool/done/a.status" "$spool/done/$ida.status"
	lab_check "5: the first job ($ida) withdraws after 6 s" \
		lab_until 15 all_state withdrawn "$spool/done/$ida.status"
	if all_state visible "$spool/done/a.status"; then
		lab_check "5: the first withdrawn, the second visible: the primary still serves the record" \
			lab_serves "$P" "$LAB_PORT" "$xowner" CNAME "$xtarget"
	else
		lab_fail "5: the second job was no longer visible when the first had withdrawn (state $(field "$spool/done/a.status" state)): cannot check the record stays"
	fi
	lab_check "5: the second job withdraws too" lab_until 15 all_state withdrawn "$spool/done/a.status"
	lab_check "5: both status files say withdrawn" \
		all_state withdrawn "$spool/done/a.status" "$spool/done/$ida.status"
	no_owner() { # OWNER: the primary's zone (AXFR) has nothing at OWNER
		local got
		got=$(dcvd_axfr_cnames "$P" "$LAB_PORT" example.test "$S" | awk -v o="$1" '$1 == o')
		[[ -z $got ]] && return 0
		echo "  AXFR still holds: $got"
		return 1
	}
	lab_check "5: the record is gone from the primary's zone (AXFR)" lab_until 5 no_owner "$xowner"
	lab_stop dcvd-dup
else
	lab_fail "5: dcvd (withdraw_after 6s) did not start"
fi

# --- 5b: a duplicate that fails must not take the first job's record ----------------
spool=$LAB/spool-keep
config "$LAB/dcvd-keep.yaml" "$spool" 0 3s
users_spool "$spool"
gen y 1
read -r yowner ytarget < <(users_expected sectigo.com example.test "$csr/y0.csr")
if users_dcvd_start dcvd-keep "$LAB/dcvd-keep.yaml" "$spool"; then
	lab_check "5: b.csr is visible (withdraw_after 0, visible_timeout 3s)" \
		drop_wait "$S1" "$csr/y0.csr" b.csr
	lab_pause "knot-$S"
	sub "$S1" put "$csr/y0.csr" b2.csr
	ended() { [[ -e $spool/failed/b2.status || -e $spool/done/b2.status ]]; }
	lab_check "5: b2.csr (the same CSR, the secondary paused) ends" lab_until 20 ended
	lab_resume "knot-$S"
	b2=$(field "$spool/failed/b2.status" state)
	[[ -n $b2 ]] || b2="$(field "$spool/done/b2.status" state) in done/"
	sleep 1
	lab_check "5: after b2.csr ended ($b2), the primary still serves b.csr's record" \
		lab_serves "$P" "$LAB_PORT" "$yowner" CNAME "$ytarget"
	lab_check "5: ... and the zone holds it once (AXFR)" one_cname "$yowner" "$ytarget"
	lab_check "5: ... and the secondary serves it" \
		lab_until 10 lab_serves "$S" "$LAB_PORT" "$yowner" CNAME "$ytarget"
	lab_check "5: b.csr still says visible" visible b
	lab_stop dcvd-keep
else
	lab_fail "5: dcvd (visible_timeout 3s) did not start"
fi

# ===================================================================================
# --- 8: submitters ----------------------------------------------------------------------
spool=$LAB/spool-sub
config "$LAB/dcvd-sub.yaml" "$spool" 0 30s \
	"{domain: s1only.test, primary: bind, nameservers: [$P@$LAB_PORT, $S@$LAB_PORT], submitters: [$S1]}"
echo "max_jobs_per_submitter: 2" >>"$LAB/dcvd-sub.yaml"
users_spool "$spool"
gen p 2 s1only.test
gen z 1
gen m 10
gen n 3
if users_dcvd_start dcvd-sub "$LAB/dcvd-sub.yaml" "$spool"; then
	slog=$(lab_log dcvd-sub)
	uid1=${USERS_UID[$S1]}
	sub "$S1" put "$csr/p0.csr" p1ok.csr
	sub "$S2" put "$csr/p1.csr" p2no.csr
	lab_check "8: a CSR for s1only.test (submitters: [$S1]) from $S1 is visible" lab_until 20 visible p1ok
	users_expected sectigo.com s1only.test "$csr/p0.csr" >"$LAB/want.p0"
	lab_check "8: ... and served by the primary" serves_all "$LAB/want.p0"
	lab_check "8: the same kind from $S2 fails" lab_until 20 all_state failed "$spool/failed/p2no.status"
	lab_check "8: its error names the user $S2 and the zone s1only.test" \
		error_contains "$spool/failed/p2no.status" "$S2" s1only.test
	users_expected sectigo.com s1only.test "$csr/p1.csr" >"$LAB/want.p1"
	lab_check "8: its record is not published" serves_none "$LAB/want.p1"
	# received_names: the line saying p1ok's job was received names the user and uid.
	received_names() {
		local line
		line=$(grep -aE 'job p1ok~[0-9a-f]+: .*received' "$slog" | head -n 1)
		[[ $line == *"$S1"* && $line =~ (^|[^0-9])$uid1([^0-9]|$) ]] && return 0
		echo "  received line: '${line:-none}', want $S1 and uid $uid1 in it"
		return 1
	}
	lab_check "8: the received log line of p1ok names $S1 and uid $uid1" received_names
	status_names() {
		local text
		text=$(cat "$spool/done/p1ok.status")
		[[ $text == *"$S1"* && $text =~ (^|[^0-9])$uid1([^0-9]|$) ]] && return 0
		echo "  done/p1ok.status names not both $S1 and $uid1:"
		sed 's/^/  | /' "$spool/done/p1ok.status" | head -n 20
		return 1
	}
	lab_check "8: done/p1ok.status names $S1 and uid $uid1" status_names

	# Someone else's sidecar beside a CSR.
	sub "$S2" text x.yaml 'target: comodoca.com'
	sub "$S1" put "$csr/z0.csr" x.csr
	lab_check "8: x.csr of $S1 with a sidecar x.yaml of $S2 fails" \
		lab_until 20 all_state failed "$spool/failed/x.status"
	lab_check "8: its error names the sidecar x.yaml" error_contains "$spool/failed/x.status" x.yaml
	users_expected sectigo.com example.test "$csr/z0.csr" >"$LAB/want.z"
	lab_check "8: nothing is published for it (neither target)" serves_none "$LAB/want.z"

	# max_jobs_per_submitter: 2. The secondary paused, so that jobs stay in flight.
	lab_pause "knot-$S"
	python3 - "$spool" "$uid1" 13 >"$LAB/sampler.out" <<-'EOF' &
		import os, sys, time
		spool, uid, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
		names = ["m%d" % i for i in range(10)] + ["n%d" % i for i in range(3)]
		most = samples = 0
		end = time.monotonic() + 60
		while time.monotonic() < end:
		    n = 0
		    try:
		        for e in os.scandir(spool + "/active"):
		            if e.name.endswith(".csr"):
		                try:
		                    n += e.stat(follow_symlinks=False).st_uid == uid
		                except FileNotFoundError:
		                    pass
		    except FileNotFoundError:
		        pass
		    most, samples = max(most, n), samples + 1
		    if all(os.path.exists("%s/done/%s.status" % (spool, x)) for x in names):
		        break
		    time.sleep(0.005)
		print(most, samples)
	EOF
	sampler=$!
	USERS_PIDS+=("$sampler")
	ms=() ns=()
	for i in 0 1 2 3 4 5 6 7 8 9; do ms+=("$csr/m$i.csr"); done
	for i in 0 1 2; do ns+=("$csr/n$i.csr"); done
	sub "$S1" drop "${ms[@]}"
	sub "$S2" drop "${ns[@]}"
	# two_and_two: active/ holds 2 CSRs of s1 and 2 of s2 (each its own
	# limit: s2 is not held up behind the 8 of s1 that wait); 8 of s1 and
	# 1 of s2 wait in incoming/.
	two_and_two() {
		local a1=0 a2=0 w1=0 w2=0 f
		for f in "$spool"/active/m*.csr; do [[ -e $f ]] && a1=$((a1 + 1)); done
		for f in "$spool"/active/n*.csr; do [[ -e $f ]] && a2=$((a2 + 1)); done
		for f in "$spool"/incoming/m*.csr; do [[ -e $f ]] && w1=$((w1 + 1)); done
		for f in "$spool"/incoming/n*.csr; do [[ -e $f ]] && w2=$((w2 + 1)); done
		LIMIT_SEEN="active/: $a1 of $S1, $a2 of $S2; incoming/: $w1 of $S1, $w2 of $S2"
		((a1 == 2 && a2 == 2 && w1 == 8 && w2 == 1))
	}
	LIMIT_SEEN=
	lab_check "8: max_jobs_per_submitter 2, secondary paused: 2 of $S1's 10 and 2 of $S2's 3 in active/, the rest wait" \
		lab_until 10 two_and_two
	echo "  ($LIMIT_SEEN)"
	lab_resume "knot-$S"
	lab_check "8: all 13 (10 of $S1, 3 of $S2) end visible" \
		lab_until 40 visible m0 m1 m2 m3 m4 m5 m6 m7 m8 m9 n0 n1 n2
	users_wait "$sampler" || true
	read -r most samples <"$LAB/sampler.out" || most=99 samples=0
	lab_check "8: never more than 2 of $S1's CSRs in active/ (most seen: $most, $samples looks)" \
		test "$most" -le 2 -a "$samples" -ge 1
	lab_check "8: dcvd still runs" alive dcvd-sub
	lab_stop dcvd-sub
else
	lab_fail "8: dcvd with submitters: and max_jobs_per_submitter: did not start"
fi
lab_finish
