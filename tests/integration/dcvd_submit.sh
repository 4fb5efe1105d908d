#!/usr/bin/env bash
# dcvd_submit.sh BUILD -- `dcv submit --wait` as on a real host: dcvd runs as
# a system user of its own (dcvdt33-d), submitters (dcvdt33-s1, -s2) are
# members of the submit group only and give --spool (they cannot read the
# configuration). Real servers: BIND primary -> Knot secondary -> unbound.
#   1  success: exit 0, the NAME then the status (state: visible) on
#      stdout, no token in it; the record served (dig at the primary and
#      the resolver, against hashlib); the results folder removed
#   2  a job dcvd fails (its name is in no zone): exit 1, state: failed,
#      the reason on stderr
#   3  a file that is no CSR: exit 1, dcv's own message, nothing dropped
#   4  --timeout while dcvd is stopped: exit 3, the CSR stays queued and
#      the folder is removed; dcvd takes the job at its next start and says
#      nobody waits (no token in its log)
#   5  an older done/NAME.status of the same NAME (planted while dcvd is
#      stopped, the waiting dcv running as root, who could read done/) does
#      not fool it: it reports the new job, visible; the old status is
#      archived under its own job id
#   6  a second submitter learns nothing of the first one's jobs: results/
#      and done/ cannot be listed or read by it, nor a queued CSR or sidecar
#      in incoming/ (0600 and an ACL for dcvd's user), the first one's folder
#      cannot be removed by it; the folder's secret name is in no log or
#      file dcvd keeps, the sidecar carries only its hash (the token)
#   7  --unique and --expect travel in the sidecar: the record carries the
#      unique value; a wrong --expect is refused by dcv itself (exit 1)
#   8  a folder left in results/ (its dcv died) is removed by dcvd's sweep
#      at start once unchanged for a day (dcvd started two days ahead under
#      libfaketime), with one log line
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
dcvd_lab dcvd_submit 33 "$build" example.test
lab_need openssl python3 dpkg
users_init 33
S1=$USERS_S1 S2=$USERS_S2
csr=$LAB/csr out=$LAB/out
mkdir -p "$csr" "$out"
chmod 0755 "$csr" "$out"
spool=$LAB/spool cfg=$LAB/dcvd.yaml
dcvd_config "$cfg" "$spool" example.test
chmod 0644 "$cfg"
users_spool "$spool"
users_dcvd_start dcvd "$cfg" "$spool"
log=$(lab_log dcvd)

# mkcsr NAME CN -- $csr/NAME.csr for CN (P-256), readable by everyone.
mkcsr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=$2" -out "$csr/$1.csr" 2>/dev/null
	chmod 0644 "$csr/$1.csr"
}

# submit TAG USER ARG... -- dcv submit --spool as USER; stdout, stderr and the
# exit status in $out/TAG.{out,err,rc}.
submit() {
	local tag=$1 u=$2 rc=0
	shift 2
	users_as "$u" "$DCV" submit --spool "$spool" "$@" >"$out/$tag.out" 2>"$out/$tag.err" || rc=$?
	echo "$rc" >"$out/$tag.rc"
}

rc_is() { # TAG RC
	local got
	got=$(cat "$out/$1.rc")
	[[ $got == "$2" ]] && return 0
	echo "  exit $got, want $2; stderr:"
	sed 's/^/  | /' "$out/$1.err"
	return 1
}

# name_of TAG -- the first stdout line: the NAME.
name_of() { head -n 1 "$out/$1.out"; }

# doc_field TAG KEY -- KEY of the YAML document(s) after the NAME lines (the first).
doc_field() {
	python3 - "$out/$1.out" "$2" <<-'EOF'
		import sys, yaml
		text = open(sys.argv[1]).read()
		docs = [d for d in yaml.safe_load_all(text[text.index("---"):]) if isinstance(d, dict)]
		print(docs[0].get(sys.argv[2], "") if docs else "")
	EOF
}

field_is() { # TAG KEY VALUE
	local got
	got=$(doc_field "$1" "$2")
	[[ $got == "$3" ]] && return 0
	echo "  $2: '$got', want '$3'"
	return 1
}

# serves_expected TARGET ADN FILE -- primary and resolver serve the record hashlib computes.
serves_expected() {
	local owner target
	read -r owner target < <(users_expected "$1" "$2" "$3")
	lab_serves "$P" "$LAB_PORT" "$owner" CNAME "$target" &&
		lab_resolves "$R" "$LAB_PORT" "$owner" CNAME "$target" && return 0
	echo "  $owner CNAME $target is not served by the primary and the resolver"
	return 1
}

results_empty() {
	local n
	n=$(find "$spool/results" -mindepth 1 | wc -l)
	[[ $n == 0 ]] && return 0
	echo "  results/ holds $n entries"
	return 1
}

# no_secret_in FILE... -- the waiting folder's secret name is in none of them.
no_secret_in() {
	local t
	t=$(cat "$out/secret" 2>/dev/null) || return 1
	[[ ${#t} == 32 ]] || {
		echo "  no secret seen"
		return 1
	}
	! grep -rqF -- "$t" "$@"
}

# token_of SECRET -- what the sidecar carries: sha256 of the secret, first 32 digits (openssl).
token_of() { printf %s "$1" | openssl dgst -sha256 -r | cut -c1-32; }

# --- 1: success --------------------------------------------------------------------------
mkcsr ok www.example.test
submit ok "$S1" --wait --timeout 30 "$csr/ok.csr"
lab_check "1: exit 0" rc_is ok 0
lab_check "1: the NAME first, a safe one made from the file name" \
	grep -qxE 'ok-[0-9a-f]{16}' <(name_of ok)
ok_printed() { field_is ok state visible && field_is ok file "$(name_of ok).csr"; }
lab_check "1: the status printed: state visible, for that NAME" ok_printed
lab_check "1: no token in what it printed" lab_not grep -q '^token:' "$out/ok.out"
lab_check "1: the record is served by the primary and the resolver (dig)" \
	serves_expected sectigo.com example.test "$csr/ok.csr"
lab_check "1: done/NAME.status says visible too" \
	grep -qx 'state: visible' "$spool/done/$(name_of ok).status"
lab_check "1: its results folder is gone" results_empty

# --- 2: a job dcvd fails ---------------------------------------------------------------
mkcsr nozone www.nozone.test
submit nozone "$S1" --wait --timeout 30 "$csr/nozone.csr"
lab_check "2: exit 1" rc_is nozone 1
lab_check "2: state failed, printed" field_is nozone state failed
lab_check "2: stderr names the job and why" \
	grep -qE "^dcv: .*/nozone.csr: job nozone-[0-9a-f]{16} failed: .*nozone.test" "$out/nozone.err"

# --- 3: not a CSR --------------------------------------------------------------------------
printf 'hello\n' >"$csr/garbage.csr"
chmod 0644 "$csr/garbage.csr"
before=$(find "$spool/incoming" "$spool/failed" -type f | wc -l)
submit garbage "$S1" --wait --timeout 5 "$csr/garbage.csr"
lab_check "3: exit 1" rc_is garbage 1
lab_check "3: dcv's own message naming the file" \
	grep -q "^dcv: $csr/garbage.csr: .*neither a PEM certificate request nor DER" "$out/garbage.err"
nothing_dropped() {
	[[ ! -s $out/garbage.out && $(find "$spool/incoming" "$spool/failed" -type f | wc -l) == "$before" ]]
}
lab_check "3: nothing printed, nothing dropped" nothing_dropped

# --- 4: --timeout while dcvd is stopped ------------------------------------------------
lab_stop dcvd
mkcsr late www.example.test
mkcsr late2 mail.example.test
submit late "$S1" --wait --timeout 2 "$csr/late.csr"
lab_check "4: exit 3" rc_is late 3
lab_check "4: stderr says it had no result in time" \
	grep -qE "late.csr: job late-[0-9a-f]{16}: no result \(timed out after 2 s\)" "$out/late.err"
lab_check "4: the CSR stays queued in incoming/" test -e "$spool/incoming/$(name_of late).csr"
lab_check "4: its results folder is gone" results_empty
# While it waits there, nobody but dcvd and its submitter can read it: mode
# 0600 and an ACL entry for dcvd's user (the group holds the other submitters).
lab_check "6: $S2 cannot read $S1's queued CSR in incoming/" \
	lab_not users_as "$S2" cat "$spool/incoming/$(name_of late).csr"
lab_check "6: ... nor its sidecar" lab_not users_as "$S2" cat "$spool/incoming/$(name_of late).yaml"
lab_check "6: dcvd's user can read both" \
	users_as "$USERS_D" cat "$spool/incoming/$(name_of late).csr" "$spool/incoming/$(name_of late).yaml"
acl_of() { getfacl -cp "$spool/incoming/$(name_of late).csr" 2>/dev/null | grep -v '^$' | tr '\n' ' '; }
acl_right() { [[ $(acl_of) == "user::rw- user:$USERS_D:r-- group::--- mask::r-- other::--- " ]] || { echo "  acl: $(acl_of)"; return 1; }; }
lab_check "6: the queued CSR's ACL: its owner, dcvd's user reading, nobody else" acl_right

# --- 5: an older done/NAME.status of the same NAME -------------------------------------
# Run as root (who could read done/), dcvd still stopped: the NAME is known
# as soon as it is printed, and the old status goes in place before dcvd runs.
"$DCV" submit --spool "$spool" --wait --timeout 40 "$csr/late2.csr" >"$out/old.out" 2>"$out/old.err" &
waiter=$!
lab_until 5 test -s "$out/old.out" || lab_fail "5: no NAME printed"
old=$(head -n 1 "$out/old.out")
cat >"$spool/done/$old.status" <<EOF
---
state: failed
step: failed
job: $old~1234abcd
file: $old.csr
error: an older job of this NAME
EOF
chown "$USERS_D" "$spool/done/$old.status"
# The secret: the one folder in results/ now (root may list it).
find "$spool/results" -mindepth 1 -maxdepth 1 -printf '%f\n' >"$out/secret"
token=$(token_of "$(cat "$out/secret")")
lab_check "5: the sidecar carries the token (the secret's hash), not the secret" \
	grep -qx "token: '\\?$token'\\?" "$spool/incoming/$old.yaml"
folder_mode() { [[ $(stat -c "%a %U %G" "$spool/results/$(cat "$out/secret")") == "2770 root $USERS_GROUP" ]]; }
lab_check "5: the waiting dcv's folder: 2770, its owner root, group the submit group" folder_mode

# --- 6: a second submitter ------------------------------------------------------------------
lab_check "6: $S2 cannot list results/" lab_not users_as "$S2" ls "$spool/results"
lab_check "6: $S2 cannot remove the waiting folder (sticky)" \
	lab_not users_as "$S2" rmdir "$spool/results/$(cat "$out/secret")"
lab_check "6: $S2 cannot list done/" lab_not users_as "$S2" ls "$spool/done"
lab_check "6: $S2 cannot read $S1's done/NAME.status" \
	lab_not users_as "$S2" cat "$spool/done/$(name_of ok).status"
lab_check "6: $S2 cannot list failed/" lab_not users_as "$S2" ls "$spool/failed"
users_as "$S2" ls "$spool/done" 2>"$out/s2.err" || true
lab_check "6: ... with 'Permission denied'" grep -q 'Permission denied' "$out/s2.err"

sleep 1
still_waiting() { kill -0 "$waiter" && ! grep -q "^---" "$out/old.out"; }
lab_check "5: the old status does not end the wait" still_waiting
users_dcvd_restart dcvd
old_rc=0
wait "$waiter" || old_rc=$?
echo "$old_rc" >"$out/old.rc"
lab_check "5: exit 0 once dcvd has run the new job" rc_is old 0
new_job_printed() { field_is old state visible && [[ $(doc_field old job) != "$old~1234abcd" ]]; }
lab_check "5: it printed the new job (visible, another job id)" new_job_printed
lab_check "5: the old status is archived under its own job id" \
	grep -q 'an older job of this NAME' "$spool/done/$old~1234abcd.status"
lab_check "5: the record of the new job is served (dig)" \
	serves_expected sectigo.com example.test "$csr/late2.csr"
lab_check "4: the queued job ran at the next start, visible" \
	lab_until 30 grep -qx 'state: visible' "$spool/done/$(name_of late).status"
lab_check "4: dcvd says nobody waits for it" \
	grep -q "job $(name_of late)~.*no longer waits for the result" "$log"
lab_check "6: the secret is in no log, nothing dcvd keeps and nothing dcv printed" \
	no_secret_in "$log" "$spool/done" "$spool/failed" "$spool/state" "$out/old.out" "$out/old.err"
lab_check "6: the token is in no log line and not in done/NAME.status" \
	lab_not grep -qF -- "$token" "$log" "$spool/done/$old.status"
lab_check "6: every results folder is gone" results_empty

# --- 7: --unique and --expect -------------------------------------------------------------
mkcsr uniq api.example.test
submit uniq "$S1" --unique Ab12cd --wait --timeout 30 "$csr/uniq.csr"
lab_check "7: --unique: exit 0" rc_is uniq 0
lab_check "7: --unique: the record carries the unique value (dig)" \
	serves_expected ab12cd.sectigo.com example.test "$csr/uniq.csr"
read -r owner target < <(users_expected sectigo.com example.test "$csr/uniq.csr")
submit badexp "$S1" --expect "$owner. CNAME $target.wrong." "$csr/uniq.csr"
lab_check "7: a wrong --expect: exit 1, refused by dcv" rc_is badexp 1
lab_check "7: ... saying the CA's record differs" grep -q "differs from the computed record" \
	"$out/badexp.err"
lab_check "7: ... nothing printed" test ! -s "$out/badexp.out"

# --- 8: the sweep of folders left behind ------------------------------------------------
lab_stop dcvd
left=0123456789abcdef0123456789abcdef
users_as "$S1" mkdir -m 2770 "$spool/results/$left"
users_as "$S1" touch "$spool/results/$left/x.status"
# libfaketime preloaded by env, which execs dcvd (so the lab stops dcvd
# itself); ASan is told the preload order is fine (faketime wraps no malloc).
libfaketime=$(dpkg -L libfaketime 2>/dev/null | grep -m 1 '/libfaketimeMT\.so\.1$' || true)
[[ -n $libfaketime ]] || lab_fail "8: libfaketimeMT.so.1 not found (package libfaketime)"
asan_order="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
lab_spawn dcvd-later setpriv --reuid="${USERS_UID[$USERS_D]}" --regid="${USERS_GID[$USERS_D]}" \
	--init-groups --pdeathsig TERM -- env "$asan_order" "LD_PRELOAD=$libfaketime" FAKETIME=+2d \
	FAKETIME_DONT_FAKE_MONOTONIC=1 "$DCVD" -c "$cfg" -v
USERS_SERVERS+=(dcvd-later)
lab_check "8: dcvd two days later removes the folder left behind" \
	lab_until 10 test ! -e "$spool/results/$left"
lab_check "8: ... and says so in one line, without the folder's name" \
	lab_until 5 grep -q "results: removed 1 results folders left for over a day$" "$(lab_log dcvd-later)"
lab_check "8: ... the name is in no log line" lab_not grep -qF "$left" "$(lab_log dcvd-later)"
lab_stop dcvd-later

lab_finish
