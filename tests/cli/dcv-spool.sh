#!/usr/bin/env bash
# dcv-spool.sh DCV DCVD DATA -- `dcv status`, `dcv submit` and dcvd's own
# options against spools prepared here, without any DNS server: usage
# errors, a configuration or spool that is missing or out of reach, status
# files that are odd, and `dcv submit --wait` with this script in dcvd's
# place (it writes the result a submitter waits for, or a wrong one, or
# none). Each case checks the exit status and the exact message, which
# names the file, job or folder and the reason.
#
# dcvd runs once, for a few seconds, with its primary on a closed port, to
# leave real job records (two in flight, one failed) for `dcv status`; it
# reports to a notify socket here (READY, WATCHDOG, RELOADING, STOPPING).
# The unprivileged cases run as uid 65534 (setpriv) and need root; without
# root they are not run, and the script says so. Fake servers (silent, or
# refusing everything) are python3; CSRs are made with openssl, a damaged
# record with mdb_dump and mdb_load (lmdb-utils): all in tests/deps.sh.
set -uo pipefail
dcv=${1:?dcv binary} dcvd=${2:?dcvd binary} data=${3:?data folder}
fails=0
tmp=$(mktemp -d)
bg_pids=()
# shellcheck disable=SC2317 # the trap's
cleanup() {
	local p
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
chmod 0755 "$tmp"
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
root=0
[ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && root=1
# shellcheck disable=SC2317 # called through run
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# run WANT_RC CMD... -- runs CMD with stdout in $tmp/out and stderr in $tmp/err.
run() {
	local want=$1 rc
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" -eq "$want" ] || fail "'$*': exit $rc, want $want; stderr: $(cat "$tmp/err")"
}
# says TEXT -- stderr of the last run holds TEXT (fixed string).
says() { grep -qF -- "$1" "$tmp/err" || fail "stderr does not say '$1': $(cat "$tmp/err")"; }
prints() { grep -qF -- "$1" "$tmp/out" || fail "stdout does not say '$1': $(cat "$tmp/out")"; }

key=$tmp/dcv.key
printf 'key "dcv" {\n\talgorithm hmac-sha256;\n\tsecret "%s";\n};\n' \
	"$(head -c 32 /dev/urandom | base64)" >"$key"
chmod 0644 "$key" # read by uid 65534 too: this one signs nothing
# config FILE SPOOL -- a configuration whose primary and servers are a closed port.
config() {
	cat >"$1" <<EOF
spool: $2
key:
  - id: dcv
    file: $key
remote:
  - id: bind
    address: 127.0.0.1@9
    key: dcv
zone:
  - domain: example.test
    primary: bind
    nameservers: [127.0.0.1@9]
  - domain: test
    primary: bind
    nameservers: [127.0.0.1@9]
resolver: [127.0.0.1@9]
EOF
	chmod 0644 "$1"
}

# --- dcvd's options ---------------------------------------------------------
run 0 "$dcvd" --help
prints "dcvd -c CONFIG"
run 0 "$dcvd" --version
grep -Eq '^dcvd [0-9]+\.[0-9]+' "$tmp/out" || fail "dcvd --version: $(cat "$tmp/out")"
for args in "" "--bogus" "-c" "-c x extra" "-v"; do
	# shellcheck disable=SC2086
	run 2 "$dcvd" $args
	says "dcvd -c CONFIG"
done

# --check: the configuration read, nothing started; a missing one: exit 2, named.
config "$tmp/k.yaml" "$tmp/k"
run 0 "$dcvd" --check -c "$tmp/k.yaml"
prints "configuration OK"
[ -e "$tmp/k" ] && fail "dcvd --check made the spool"
run 2 "$dcvd" -c "$tmp/none.yaml"
says "dcvd: $tmp/none.yaml: cannot open: No such file or directory"
# A spool that cannot be made (a file is in the way): said, exit 1.
touch "$tmp/k"
run 1 "$dcvd" -c "$tmp/k.yaml"
says "$tmp/k"
says "Not a directory"
rm -f "$tmp/k"

# --- dcv status: usage and configuration -------------------------------------
config "$tmp/a.yaml" "$tmp/a"
for args in "" "--json" "-c" "-c $tmp/a.yaml --json --json" "-c $tmp/a.yaml -c $tmp/a.yaml" \
	"-c $tmp/a.yaml --yaml"; do
	# shellcheck disable=SC2086
	run 2 "$dcv" status $args
	says "usage: dcv status -c CONFIG [--json]"
done
run 2 "$dcv" status -c "$tmp/none.yaml"
says "dcv: $tmp/none.yaml: cannot open: No such file or directory"
# The spool named there does not exist: said so.
run 1 "$dcv" status -c "$tmp/a.yaml"
says "dcv: $tmp/a: cannot open the spool folder: No such file or directory"
[ -s "$tmp/out" ] && fail "status of a missing spool printed: $(cat "$tmp/out")"
# A spool dcvd never ran in: no job, nothing created.
mkdir -p "$tmp/a/state" "$tmp/a/incoming" "$tmp/a/done" "$tmp/a/failed" "$tmp/a/active"
touch "$tmp/a/incoming/x.csr" "$tmp/a/incoming/y.csr" "$tmp/a/incoming/.z.tmp"
run 0 "$dcv" status -c "$tmp/a.yaml"
prints "spool $tmp/a: 0 jobs, 2 files waiting in incoming/"
prints "no job in flight"
[ -e "$tmp/a/state/lock.mdb" ] && fail "dcv status created state/lock.mdb"
run 0 "$dcv" status -c "$tmp/a.yaml" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["jobs"]==[] and d["incoming"]==2 and d["source"]=="records", d' "$tmp/out" ||
	fail "status --json of an empty spool: $(cat "$tmp/out")"
# Standard output that cannot be written: said, exit 1.
if [ -w /dev/full ]; then
	"$dcv" status -c "$tmp/a.yaml" >/dev/full 2>"$tmp/err"
	[ $? -eq 1 ] || fail "status >/dev/full: want exit 1"
	says "dcv: writing the status: No space left on device"
fi

# --- dcv status on dcvd's records ---------------------------------------------
spool=$tmp/s
config "$tmp/s.yaml" "$spool"
# The notify socket: every datagram dcvd sends, one line each, until it is told to stop.
python3 - "$tmp/notify" "$tmp/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "w", buffering=1) as out:
    while True:
        m = s.recv(4096).decode()
        out.write(m.replace("\n", " ") + "\n")
        if m.startswith("STOPPING=1"):
            break
PY
bg_pids+=($!)
for _ in $(seq 50); do [ -S "$tmp/notify" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$tmp/notify WATCHDOG_USEC=200000 "$dcvd" -c "$tmp/s.yaml" >"$tmp/dcvd.log" 2>&1 &
dcvd_pid=$!
bg_pids+=("$dcvd_pid")
for _ in $(seq 50); do [ -d "$spool/incoming" ] && break; sleep 0.1; done
# rsa.pem: two names, one record at example.test; two0.csr: two records in
# the zone test (a.test and b.test are names of their own); ec.pem: in no
# zone (fails).
openssl req -new -key "$data/keys/ec" -subj /CN=a.test -addext subjectAltName=DNS:a.test,DNS:b.test \
	-out "$tmp/two0.csr" 2>"$tmp/err" || fail "openssl req: $(cat "$tmp/err")"
run 0 "$dcv" submit -c "$tmp/s.yaml" "$data/good/rsa.pem" "$data/good/ec.pem" "$tmp/two0.csr"
for _ in $(seq 50); do
	[ -n "$(ls "$spool/failed/"*.status 2>/dev/null)" ] && [ "$(ls "$spool/active" 2>/dev/null | wc -l)" -eq 2 ] && break
	sleep 0.1
done
# A burst of SIGHUPs (some come during a reload and ask for one more, some
# merge): every reload that starts ends, loaded (or refused) and READY=1 again.
for _ in $(seq 20); do kill -HUP "$dcvd_pid"; done
sleep 1
# A configuration that does not load: refused with its reason, the running one kept.
cp "$tmp/s.yaml" "$tmp/s.yaml.good"
printf 'spool: %s\nbogus_key: 1\n' "$spool" >"$tmp/s.yaml"
kill -HUP "$dcvd_pid"
for _ in $(seq 50); do grep -q 'refused; keeping' "$tmp/dcvd.log" && break; sleep 0.1; done
grep -q "dcvd: error: reload: $tmp/s.yaml refused; keeping the running configuration" "$tmp/dcvd.log" &&
	grep -q "dcvd: error: reload: $tmp/s.yaml:2:1: .*bogus_key" "$tmp/dcvd.log" ||
	fail "reload of a bad configuration: $(grep reload "$tmp/dcvd.log" | tail -3)"
mv "$tmp/s.yaml.good" "$tmp/s.yaml"
sleep 0.3
kill "$dcvd_pid"
wait "$dcvd_pid" 2>/dev/null
wait "${bg_pids[-2]}" 2>/dev/null
grep -qx 'READY=1' "$tmp/notify.log" || fail "no READY=1: $(cat "$tmp/notify.log")"
grep -qx 'STOPPING=1' "$tmp/notify.log" || fail "no STOPPING=1: $(cat "$tmp/notify.log")"
reloads=$(($(grep -cx 'RELOADING=1' "$tmp/notify.log") - 1)) # the last: refused
[ "$reloads" -ge 1 ] && [ "$(grep -cx 'READY=1' "$tmp/notify.log")" -eq $((reloads + 2)) ] &&
	[ "$(grep -c "reload: $tmp/s.yaml loaded" "$tmp/dcvd.log")" -eq "$reloads" ] ||
	fail "SIGHUPs: $reloads reloads started; notify: $(sort "$tmp/notify.log" | uniq -c); log: $(grep reload "$tmp/dcvd.log")"
# WATCHDOG_USEC 0.2 s: a WATCHDOG=1 every 0.1 s over more than a second.
[ "$(grep -cx 'WATCHDOG=1' "$tmp/notify.log")" -ge 5 ] || fail "too few WATCHDOG=1: $(sort "$tmp/notify.log" | uniq -c)"
run 0 "$dcv" status -c "$tmp/s.yaml"
prints "spool $spool: 3 jobs, 0 files waiting in incoming/"
grep -Eq '^oldest job in flight: (rsa|two0)-[0-9a-f]{16}~[0-9a-f]+ \(publishing\), received ' "$tmp/out" ||
	fail "no oldest job in flight: $(cat "$tmp/out")"
grep -Eq "^failed +ec-[0-9a-f]{16}~[0-9a-f]+  ec-[0-9a-f]{16}\.pem  received .*  error: name 'mail.example.com' lies in no configured zone$" "$tmp/out" ||
	fail "no failed line: $(cat "$tmp/out")"
run 0 "$dcv" status -c "$tmp/s.yaml" --json
python3 - "$tmp/out" "$data/good/rsa.expect" <<'PY' || fail "status --json of dcvd's records: $(cat "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["source"] == "records" and d["counts"]["publishing"] == 2 and d["counts"]["failed"] == 1, d
rsa = [j for j in d["jobs"] if j["name"].startswith("rsa-")][0]
assert rsa["zones"] == ["example.test"], rsa["zones"]
md5 = [l.split()[1] for l in open(sys.argv[2]) if l.startswith("md5 ")][0]
# www.example.test and example.test: one record, at the ADN both share.
assert [r["owner"] for r in rsa["records"]] == ["_%s.example.test." % md5], rsa["records"]
assert [n["name"] for n in rsa["names"]] == ["www.example.test", "example.test"], rsa["names"]
assert all(r["dnssec"] is None and r["ttl"] == 300 for r in rsa["records"]), rsa["records"]
assert rsa["submitter"] == "root" and rsa["uid"] == 0, rsa
two = [j for j in d["jobs"] if j["name"].startswith("two0-")][0]
assert two["zones"] == ["test"] and [r["zone"] for r in two["records"]] == ["test", "test"], two
assert sorted(r["owner"].split(".", 1)[1] for r in two["records"]) == ["a.test.", "b.test."], two
assert d["oldest_in_flight"] in (rsa["job"], two["job"]), d["oldest_in_flight"]
ec = [j for j in d["jobs"] if j["name"].startswith("ec-")][0]
assert ec["state"] == "failed" and "lies in no configured zone" in ec["error"], ec
assert ec["times"]["failed"] is not None and ec["records"] == [], ec
PY

# A damaged record (mdb_dump, one value replaced, mdb_load into a copy of
# the spool): listed with its file, job and reason, and left where it is.
cp -a "$spool" "$tmp/d"
config "$tmp/d.yaml" "$tmp/d"
mdb_dump -a -p "$spool/state" >"$tmp/dump" || fail "mdb_dump of $spool/state"
python3 - "$tmp/dump" <<'PY'
import sys
lines, prev = open(sys.argv[1]).read().split("\n"), ""
for i, l in enumerate(lines):
    if prev.startswith(" ec-") and l.startswith(" dcv-job"):
        lines[i] = " dcv-job 1\\0astate exploded\\0a"
    prev = l
open(sys.argv[1], "w").write("\n".join(lines))
PY
rm -f "$tmp/d/state/"*
mdb_load -f "$tmp/dump" "$tmp/d/state" 2>/dev/null || fail "mdb_load into $tmp/d/state"
run 0 "$dcv" status -c "$tmp/d.yaml"
grep -Eq "^damaged  $tmp/d/state/data.mdb \(job ec-[0-9a-f]{16}~[0-9a-f]+\):2:1: expected 'id' \(damaged record\)$" "$tmp/out" ||
	fail "the damaged record is not listed: $(cat "$tmp/out")"
prints "spool $tmp/d: 2 jobs, 0 files waiting in incoming/"
run 0 "$dcv" status -c "$tmp/d.yaml" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["damaged"]) == 1 and "(damaged record)" in d["damaged"][0] and len(d["jobs"]) == 2, d' "$tmp/out" ||
	fail "status --json of a damaged record: $(cat "$tmp/out")"
mdb_dump -s jobs -p "$tmp/d/state" | grep -q '^ ec-' || fail "dcv status moved the damaged record"

if [ $root -eq 1 ]; then
	# A member of the spool's group reads the status files; in flight is not listed.
	chmod 0755 "$spool"
	setpriv --reuid=65534 --regid=65534 --groups=0 "$dcv" status -c "$tmp/s.yaml" >"$tmp/out" 2>"$tmp/err" ||
		fail "status from the status files: exit $?"
	says "dcv: $spool/state/data.mdb: cannot open the job database: Permission denied; reading the status files in done/ and failed/ instead"
	prints "spool $spool: 1 jobs"
	prints "no job in flight"
	grep -q "^failed .*error: name 'mail.example.com' lies in no configured zone" "$tmp/out" ||
		fail "no failed line from the status files: $(cat "$tmp/out")"
	# --json: what the status file holds, the same as dcvd's record says (read as root above).
	"$dcv" status -c "$tmp/s.yaml" --json >"$tmp/records.json" 2>/dev/null
	setpriv --reuid=65534 --regid=65534 --groups=0 "$dcv" status -c "$tmp/s.yaml" --json >"$tmp/out" 2>"$tmp/err" ||
		fail "status --json from the status files: exit $?"
	python3 - "$tmp/out" "$tmp/records.json" <<'PY' || fail "status --json from the status files: $(cat "$tmp/out")"
import json, sys
got = json.load(open(sys.argv[1]))
rec = [j for j in json.load(open(sys.argv[2]))["jobs"] if j["state"] == "failed"][0]
assert got["source"] == "status files" and len(got["jobs"]) == 1, got
job = got["jobs"][0]
for k in ("job", "file", "state", "step", "error", "md5", "sha256"):
    assert job[k] == rec[k], (k, job[k], rec[k])
assert job["times"] == rec["times"], (job["times"], rec["times"])
PY
	# Without the group, not even the folder: said, exit 1.
	run 1 nobody "$dcv" status -c "$tmp/s.yaml"
	says "dcv: $spool/state: cannot open the folder: Permission denied"
fi

# --- dcv status on odd status files -----------------------------------------
# lock.mdb missing: dcv would create it; the status files are read instead.
o=$tmp/o
config "$tmp/o.yaml" "$o"
mkdir -p "$o/state" "$o/incoming" "$o/done" "$o/failed" "$o/active"
: >"$o/state/data.mdb"
st() { # FOLDER NAME TEXT
	printf '%s' "$3" >"$o/$1/$2"
}
# shellcheck disable=SC1010 # "done" is the folder's name
{
st done ok.status $'state: visible\nstep: visible\njob: ok~1\nfile: ok.pem\nreceived: \'2026-01-02T03:04:05Z\'\nvisible: \'2026-01-02T03:05:05Z\'\npublished: 2026-01-02T03:04:55Z\nwithdraw_due: 2026-01-03T03:05:05Z\nwithdrawn: 2026-01-02T03:04:05Zjunk\n'
st failed bad.status $'state: failed\nstep: failed\njob: bad~2\nfile: bad.der\nerror: "it \\"broke\\"\\n"\nreceived: 2026-01-02T03:04:05Z\n'
st failed noext.status $'step: failed\njob: noext~3\nfile: noext\n'
st failed notime.status $'step: failed\njob: notime~4\nfile: notime.csr\nreceived: yesterday\n'
st failed list.status $'- a\n- b\n'
st failed broken.status $'step: [unclosed\n'
st failed nostep.status $'job: nostep~5\nfile: nostep.pem\n'
st failed oddstep.status $'step: exploded\njob: oddstep~6\n'
st failed a.status $'step: failed\njob: a~7\nfile: a.pem\n'
st failed .hidden.status $'step: failed\njob: hidden~8\n'
st failed x.stat $'step: failed\njob: x~9\n'
st failed failed.status.tmp $'step: failed\njob: tmp~10\n'
mkdir "$o/failed/dir.status"
}
for i in $(seq 70); do st "done" "many$i.status" "step: withdrawn"$'\n'"job: many$i~$i"$'\n'"file: many$i.pem"$'\n'; done
run 0 "$dcv" status -c "$tmp/o.yaml" --json
says "dcv: $o/state/lock.mdb is missing (dcvd makes it); reading now would create it as this user; reading the status files in done/ and failed/ instead"
python3 - "$tmp/out" <<'PY' || fail "status --json from odd status files: $(cat "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["source"] == "status files", d["source"]
jobs = {j["job"]: j for j in d["jobs"]}
want = {"ok~1", "bad~2", "noext~3", "notime~4", "a~7"} | {"many%d~%d" % (i, i) for i in range(1, 71)}
assert set(jobs) == want, sorted(set(jobs) ^ want)
assert d["counts"]["withdrawn"] == 70 and d["counts"]["failed"] == 4 and d["counts"]["visible"] == 1, d["counts"]
assert jobs["ok~1"]["times"]["received"] == "2026-01-02T03:04:05Z", jobs["ok~1"]
assert jobs["ok~1"]["times"]["visible"] == "2026-01-02T03:05:05Z", jobs["ok~1"]
assert jobs["ok~1"]["times"]["published"] == "2026-01-02T03:04:55Z", jobs["ok~1"]
assert jobs["ok~1"]["times"]["withdraw_due"] == "2026-01-03T03:05:05Z", jobs["ok~1"]
assert jobs["ok~1"]["times"]["withdrawn"] is None, jobs["ok~1"]  # not a time: trailing text
assert jobs["ok~1"]["file"] == "ok.pem" and jobs["ok~1"]["name"] == "ok", jobs["ok~1"]
assert jobs["bad~2"]["error"] == 'it "broke"\n' and jobs["bad~2"]["file"] == "bad.der", jobs["bad~2"]
assert jobs["noext~3"]["name"] == "" and jobs["noext~3"]["file"] == ".", jobs["noext~3"]
assert jobs["notime~4"]["times"]["received"] is None, jobs["notime~4"]
assert jobs["a~7"]["error"] is None and jobs["a~7"]["uid"] is None, jobs["a~7"]
assert d["damaged"] == [] and d["oldest_in_flight"] is None, d
PY
run 0 "$dcv" status -c "$tmp/o.yaml"
prints "spool $o: 75 jobs, 0 files waiting in incoming/"
grep -qF 'failed      bad~2  bad.der  received 2026-01-02T03:04:05Z  error: it "broke"' "$tmp/out" ||
	fail "the failed line of bad~2: $(cat "$tmp/out")"
grep -q 'many' "$tmp/out" && fail "withdrawn jobs listed: $(grep many "$tmp/out" | head -3)"
# The age of the oldest job in flight, in the unit that suits it (a status
# file whose step is one in flight is odd, but it is read as it says).
g=$tmp/g
config "$tmp/g.yaml" "$g"
mkdir -p "$g/state" "$g/done" # no failed/: nothing to read there
: >"$g/state/data.mdb"
for age in "30:30 s" "300:5 min" "10800:3 h" "259200:3 days"; do
	when=$(date -u -d "@$(($(date +%s) - ${age%%:*}))" +%Y-%m-%dT%H:%M:%SZ)
	printf 'step: withdrawing\njob: w~1\nfile: w.pem\nreceived: %s\n' "$when" >"$g/done/w.status"
	printf 'step: received\njob: r~2\nfile: r.pem\nreceived: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$g/done/r.status"
	run 0 "$dcv" status -c "$tmp/g.yaml"
	grep -Eq "^oldest job in flight: w~1 \(withdrawing\), received $when, (${age#*:}|$((${age%%:*} + 1)) s) ago$" "$tmp/out" ||
		fail "age ${age#*:}: $(cat "$tmp/out")"
	grep -q '^withdrawing w~1  w.pem  received' "$tmp/out" && grep -Eq '^received +r~2  r.pem' "$tmp/out" ||
		fail "the jobs in flight are not listed: $(cat "$tmp/out")"
done

# A damaged job database: dcv says which file and why, and lists nothing.
printf 'not an LMDB file, just text long enough to be read as one: %0400d\n' 0 >"$o/state/data.mdb"
: >"$o/state/lock.mdb"
run 1 "$dcv" status -c "$tmp/o.yaml"
says "dcv: $o/state/data.mdb: "
[ -s "$tmp/out" ] && fail "status of a damaged database printed: $(cat "$tmp/out")"

# --- dcv submit: usage ---------------------------------------------------------
f=$data/good/rsa.pem
for args in "$f" "-c $tmp/a.yaml --spool $tmp/a $f" "--spool $tmp/a --timeout 5 $f" \
	"--spool $tmp/a --wait --timeout x $f" "--spool $tmp/a --wait --timeout -1 $f" \
	"--spool $tmp/a --wait --timeout 31536001 $f" "--spool $tmp/a --wait --timeout 99999999999999999999999 $f" "--spool $tmp/a --wait --timeout 5s $f" \
	"--spool $tmp/a --unique a-b $f" "--spool $tmp/a" "--spool $tmp/a --bogus $f"; do
	# shellcheck disable=SC2086
	run 2 "$dcv" submit $args
	says "Try 'dcv --help'."
done
run 2 "$dcv" submit --spool "$tmp/a" --wait --timeout 5s "$f"
says "dcv: --timeout '5s': not a number of seconds from 0 (no limit) to 31536000"
run 2 "$dcv" submit --spool "$tmp/a" --timeout 5 "$f"
says "dcv: --timeout needs --wait"
run 2 "$dcv" submit -c "$tmp/a.yaml" --spool "$tmp/a" "$f"
says "dcv: submit needs one of -c CONFIG and --spool DIR"
run 2 "$dcv" submit --spool "$tmp/a"
says "dcv: no FILE given"
run 0 "$dcv" submit --help
prints "dcv submit"
run 2 "$dcv" submit -c "$tmp/none.yaml" "$f"
says "dcv: $tmp/none.yaml: cannot open: No such file or directory"

# --- dcv submit: the spool out of reach (nothing dropped, exit 2) ---------------
run 2 "$dcv" submit --spool "$tmp/nospool" "$f"
says "dcv: $tmp/nospool: No such file or directory"
mkdir -p "$tmp/b"
run 2 "$dcv" submit --spool "$tmp/b" "$f"
says "dcv: $tmp/b/incoming: No such file or directory"
mkdir -p "$tmp/b/incoming"
run 2 "$dcv" submit --spool "$tmp/b" --wait "$f"
says "dcv: $tmp/b/results: No such file or directory"
[ "$(ls -A "$tmp/b/incoming")" = "" ] || fail "dropped although the results folder is missing"
if [ $root -eq 1 ]; then
	chmod 0755 "$tmp/b" "$tmp/b/incoming"
	mkdir -p "$tmp/b/results" && chmod 0755 "$tmp/b/results"
	run 2 nobody "$dcv" submit --spool "$tmp/b" --wait "$f"
	says "dcv: $tmp/b/results: cannot make a results folder: Permission denied (submitters must be members of dcv-submit)"
	[ "$(ls -A "$tmp/b/results")" = "" ] || fail "a results folder was left"
	run 1 nobody "$dcv" submit --spool "$tmp/b" "$f"
	says "dcv: $f: not submitted: $tmp/b/incoming/."
	says "Permission denied"
	chmod 0700 "$tmp/b/incoming"
	run 2 nobody "$dcv" submit --spool "$tmp/b" "$f"
	says "dcv: $tmp/b/incoming: Permission denied (submitters must be members of dcv-submit)"
fi

# --- dcv submit: files refused here ----------------------------------------------
c=$tmp/c
mkdir -p "$c/incoming" "$c/results"
chmod 03730 "$c/results"
run 1 "$dcv" submit --spool "$c" "$data/bad/empty.csr" "$f" "$tmp/nofile.csr"
says "dcv: $data/bad/empty.csr: "
says "dcv: $tmp/nofile.csr: cannot open: No such file or directory"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "want one NAME: $(cat "$tmp/out")"
name=$(cat "$tmp/out")
[ -s "$c/incoming/$name.pem" ] && cmp -s "$c/incoming/$name.pem" "$f" || fail "$name.pem not in incoming/"
rm -f "$c/incoming/"*
md5=$(awk '$1=="md5"{print $2}' "$data/good/rsa.expect")
run 1 "$dcv" submit --spool "$c" --expect "_$md5.www.example.test. CNAME wrong.sectigo.com." "$f"
says "dcv: $f: "
[ "$(ls -A "$c/incoming")" = "" ] || fail "a file whose --expect is wrong was dropped"
# The right --expect lines (dcv records is the oracle here: cli-dcv checks it): dropped, in the sidecar.
mapfile -t expect_lines < <("$dcv" records "$f")
run 0 "$dcv" submit --spool "$c" --expect "${expect_lines[0]}" "$f"
name=$(cat "$tmp/out")
grep -qxF -- "- ${expect_lines[0]}" "$c/incoming/$name.yaml" || grep -qxF -- "- '${expect_lines[0]}'" "$c/incoming/$name.yaml" ||
	fail "the --expect line is not in the sidecar: $(cat "$c/incoming/$name.yaml")"
rm -f "$c/incoming/"*
# The mixed IP SAN: its warning, and dropped all the same.
run 0 "$dcv" submit --spool "$c" --unique Ab12 --target comodoca.com "$data/good/mixed.pem"
says "dcv: $data/good/mixed.pem: warning: IP address 192.0.2.7 cannot be validated"
name=$(cat "$tmp/out")
grep -qx 'unique_value: Ab12' "$c/incoming/$name.yaml" && grep -qx 'target: comodoca.com' "$c/incoming/$name.yaml" ||
	fail "sidecar of $name: $(cat "$c/incoming/$name.yaml")"
rm -f "$c/incoming/"*

# Standard output that cannot be written: the NAME is lost, so that is said (exit 1).
if [ -w /dev/full ]; then
	"$dcv" submit --spool "$c" "$f" >/dev/full 2>"$tmp/err"
	[ $? -eq 1 ] || fail "submit >/dev/full: want exit 1"
	says "dcv: cannot write to standard output"
	rm -f "$c/incoming/"*
fi

# --- dcv submit --wait, with this script as dcvd -----------------------------------
# answer MODE -- waits for one sidecar in $c/incoming and the one results
# folder, then acts on it as MODE says; the name of the folder is never
# printed by dcv, so it is found by listing results/ (root may).
answer() {
	local mode=$1 sc="" dir="" nm tok i
	for i in $(seq 100); do
		sc=$(ls "$c/incoming/"*.yaml 2>/dev/null | head -1)
		dir=$(ls -d "$c/results/"*/ 2>/dev/null | head -1)
		[ -n "$sc" ] && [ -n "$dir" ] && break
		sleep 0.05
	done
	nm=$(basename "$sc" .yaml)
	tok=$(sed -n 's/^token: //p' "$sc")
	case $mode in
	visible) printf 'state: visible\njob: %s~1\nfile: %s.pem\ntoken: %s\n' "$nm" "$nm" "$tok" >"$dir/.t" && mv "$dir/.t" "$dir/$nm.status" ;;
	failed) printf 'state: failed\nerror: no zone\ntoken: %s\n' "$tok" >"$dir/.t" && mv "$dir/.t" "$dir/$nm.status" ;;
	nostate) printf 'job: x\ntoken: %s\n' "$tok" >"$dir/.t" && mv "$dir/.t" "$dir/$nm.status" ;;
	wrongtoken) printf 'state: visible\ntoken: %s\n' "00000000000000000000000000000000" >"$dir/$nm.status" ;;
	symlink) ln -s /etc/passwd "$dir/$nm.status" ;;
	fifo) mkfifo "$dir/$nm.status" ;;
	huge) { printf 'state: visible\nerror: '; head -c $((16 * 1024 * 1024)) /dev/zero | tr '\0' x; printf '\ntoken: %s\n' "$tok"; } >"$dir/$nm.status" ;;
	folder) mkdir "$dir/$nm.status" ;;
	remove) rm -rf "$dir" ;;
	esac
	echo "$dir" >"$tmp/answered"
}
wait_case() { # MODE WANT_RC DCV-ARGS...
	local mode=$1 want=$2
	shift 2
	rm -f "$c/incoming/"* "$tmp/answered"
	answer "$mode" &
	bg_pids+=($!)
	run "$want" "$dcv" submit --spool "$c" --wait "$@" "$f"
	wait "${bg_pids[-1]}"
	[ -z "$(ls -A "$c/results")" ] || fail "$mode: the results folder was left: $(ls -A "$c/results")"
	name=$(head -1 "$tmp/out")
}
wait_case visible 0 --timeout 20
grep -qx "state: visible" "$tmp/out" && grep -qx "job: $name~1" "$tmp/out" || fail "visible: $(cat "$tmp/out")"
grep -q token "$tmp/out" && fail "the token was printed"
[ "$(stat -c %a "$(cat "$tmp/answered")" 2>/dev/null)" = "" ] || fail "the results folder is still there"
wait_case failed 1 --timeout 20
says "dcv: $f: job $name failed: no zone"
wait_case nostate 1
says "dcv: $f: job $name ended without a state"
wait_case wrongtoken 3 --timeout 1
says "dcv: the results folder: a status for $name without this run's token; ignored"
says "dcv: $f: job $name: no result (timed out after 1 s); it stays in the spool and dcvd still works on it"
wait_case symlink 3 --timeout 1
says "no result (timed out after 1 s)"
wait_case fifo 3 --timeout 1
says "no result (timed out after 1 s)"
wait_case huge 3 --timeout 1
says "no result (timed out after 1 s)"
# A folder at the status's name: ignored, and the results folder cannot be removed (said).
rm -f "$c/incoming/"*
answer folder &
bg_pids+=($!)
run 3 "$dcv" submit --spool "$c" --wait --timeout 1 "$f"
wait "${bg_pids[-1]}"
says "dcv: cannot remove the results folder: Directory not empty (dcvd removes it after a day)"
rm -rf "${c:?}/results/"*
# Two files, one answered: the other alone is late (exit 3), the first one printed.
rm -f "$c/incoming/"*
answer visible &
bg_pids+=($!)
run 3 "$dcv" submit --spool "$c" --wait --timeout 2 "$f" "$data/good/ec.pem"
wait "${bg_pids[-1]}"
[ "$(grep -c 'no result (timed out after 2 s)' "$tmp/err")" -eq 1 ] || fail "two files, one answered: $(cat "$tmp/err")"
grep -qx "state: visible" "$tmp/out" || fail "two files, one answered: no result printed: $(cat "$tmp/out")"
[ -z "$(ls -A "$c/results")" ] || fail "two files: the results folder was left"
wait_case remove 3 --timeout 20
says "dcv: $f: job $name: no result (the results folder was removed after "
# A signal: the wait ends, the folder goes, exit 3.
rm -f "$c/incoming/"*
"$dcv" submit --spool "$c" --wait "$f" >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do [ -n "$(ls -A "$c/results")" ] && [ -s "$tmp/out" ] && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid"
rc=$?
[ $rc -eq 3 ] || fail "SIGTERM: exit $rc, want 3"
says "no result (interrupted after "
[ -z "$(ls -A "$c/results")" ] || fail "SIGTERM: the results folder was left"
# A signal before the drops are done: what is not in the spool yet stays out. dcv
# blocks reading "-" (a pipe that stays empty for a second) when the signal comes.
rm -f "$c/incoming/"*
(sleep 1) | "$dcv" submit --spool "$c" --wait - "$f" >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do [ -n "$(ls -A "$c/results")" ] && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid"
rc=$?
# 1 when dcv was reading "-" (then empty); 3 when the signal came before it began.
if grep -qF "dcv: -: empty file" "$tmp/err"; then
	[ $rc -eq 1 ] || fail "SIGTERM while reading '-': exit $rc, want 1"
else
	[ $rc -eq 3 ] || fail "SIGTERM before the drops: exit $rc, want 3"
	says "dcv: -: not submitted (interrupted)"
fi
says "dcv: $f: not submitted (interrupted)"
[ -z "$(ls -A "$c/incoming")" ] || fail "SIGTERM during the drops: dropped all the same: $(ls -A "$c/incoming")"
[ -z "$(ls -A "$c/results")" ] || fail "SIGTERM during the drops: the results folder was left"

# --- dcv records and show: options and standard output -----------------------------
run 0 "$dcv" records --help
prints "usage: dcv records"
run 0 "$dcv" help
prints "usage: dcv records"
run 0 "$dcv" version
grep -Eq '^dcv [0-9]+\.[0-9]+' "$tmp/out" || fail "dcv version: $(cat "$tmp/out")"
run 2 "$dcv" records --ttl 2147483648 "$f"
says "dcv: --ttl '2147483648': not a number of seconds from 0 to 2147483647"
if [ -w /dev/full ]; then
	"$dcv" records "$f" >/dev/full 2>"$tmp/err"
	[ $? -eq 1 ] || fail "records >/dev/full: want exit 1"
	says "dcv: cannot write to standard output"
	"$dcv" show "$f" >/dev/full 2>"$tmp/err"
	[ $? -eq 1 ] || fail "show >/dev/full: want exit 1"
	says "dcv: $f: cannot write the output"
fi

# --- dcv publish and check against a server that never answers ----------------------
# UDP: read and dropped; TCP: accepted and never answered.
python3 - "$tmp/silent.port" <<'PY' &
import socket, sys, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
port = u.getsockname()[1]
t = socket.socket()
t.bind(("127.0.0.1", port))
t.listen(64)
open(sys.argv[1] + ".tmp", "w").write(str(port))
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
u.settimeout(0.2)
end = time.time() + 60
while time.time() < end:
    try:
        u.recv(4096)
    except OSError:
        pass
PY
bg_pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/silent.port" ] && break; sleep 0.1; done
port=$(cat "$tmp/silent.port")
config "$tmp/silent.yaml" "$tmp/unused"
sed -i "s/127.0.0.1@9/127.0.0.1@$port/g" "$tmp/silent.yaml"
run 2 "$dcv" publish -c "$tmp/silent.yaml" --timeout 0 "$f"
says "dcv: --timeout '0': seconds, more than 0 and at most 86400"
run 2 "$dcv" publish -c "$tmp/silent.yaml" --timeout 1x "$f"
says "dcv: --timeout '1x': seconds, more than 0 and at most 86400"
# A file that cannot be read fails alone; the warning of another is said; the silent primary named.
run 1 "$dcv" publish -c "$tmp/silent.yaml" --timeout 2 "$tmp/nofile.csr" "$data/good/mixed.pem"
says "dcv: $tmp/nofile.csr: cannot open: No such file or directory"
says "dcv: $data/good/mixed.pem: warning: IP address 192.0.2.7 cannot be validated"
says "dcv: $data/good/mixed.pem: zone example.test: primary bind (127.0.0.1@$port): no success within"
# 25 names, each unanswered: 20 lines, then how many more, then the verdict.
openssl req -new -key "$data/keys/ec" -subj /CN=n1.example.test \
	-addext "subjectAltName=$(seq -s, -f 'DNS:n%g.example.test' 1 25)" -out "$tmp/many.csr" 2>"$tmp/err" ||
	fail "openssl req: $(cat "$tmp/err")"
run 1 "$dcv" check -c "$tmp/silent.yaml" --timeout 2 "$tmp/many.csr"
[ "$(grep -c "^dcv: $tmp/many.csr: server 127.0.0.1@$port asked .*: timed out$" "$tmp/err")" -eq 20 ] ||
	fail "check: want 20 lines of timed out queries: $(cat "$tmp/err")"
grep -Eq "^dcv: $tmp/many.csr: \.\.\. and [0-9]+ more$" "$tmp/err" || fail "check: no '... and N more': $(cat "$tmp/err")"
says "dcv: $tmp/many.csr: still not visible everywhere after 2 s"
# A file that fails at once is not reported again at the deadline; a timeout under a second is said as given.
run 1 "$dcv" check -c "$tmp/silent.yaml" --timeout 0.25 "$tmp/nofile.csr" "$f"
[ "$(grep -c "^dcv: $tmp/nofile.csr: " "$tmp/err")" -eq 1 ] || fail "check: the missing file said more than once: $(cat "$tmp/err")"
grep -Eq "^dcv: $f: (not done within the timeout of 0.25 s \(probing\)|still not visible everywhere after 0.25 s)$" "$tmp/err" ||
	fail "check --timeout 0.25: $(cat "$tmp/err")"
# Nothing to publish: the file's reason alone, exit 1.
run 1 "$dcv" publish -c "$tmp/silent.yaml" --timeout 2 "$tmp/nofile.csr"
[ "$(grep -vc 'warning: .*dcv.key' "$tmp/err")" -eq 1 ] || fail "publish of nothing: $(cat "$tmp/err")"
says "dcv: $tmp/nofile.csr: cannot open: No such file or directory"
# One file in two zones: each zone's failure is said.
openssl req -new -key "$data/keys/ec" -subj /CN=a.test -addext subjectAltName=DNS:a.test,DNS:www.example.test \
	-out "$tmp/zones2.csr" 2>"$tmp/err" || fail "openssl req: $(cat "$tmp/err")"
run 1 "$dcv" publish -c "$tmp/silent.yaml" --timeout 1 "$tmp/zones2.csr"
says "dcv: $tmp/zones2.csr: zone example.test: primary bind (127.0.0.1@$port): no success within"
says "dcv: $tmp/zones2.csr: zone test: primary bind (127.0.0.1@$port): no success within"
run 1 "$dcv" withdraw -c "$tmp/silent.yaml" --timeout 0.5 "$f"
says "dcv: $f: zone example.test: primary bind (127.0.0.1@$port): no success within 0.5 s"

# No resolver in the configuration: nobody to wait for after the authoritative servers.
grep -v '^resolver:' "$tmp/silent.yaml" >"$tmp/nores.yaml"
run 1 "$dcv" check -c "$tmp/nores.yaml" --timeout 1 "$f" "$tmp/zones2.csr"
grep -q 'resolvers not asked yet' "$tmp/err" && fail "check without resolvers waits for them: $(cat "$tmp/err")"
says "dcv: $f: still not visible everywhere after 1 s"
says "dcv: $tmp/zones2.csr: still not visible everywhere after 1 s"

# A server that refuses everything (an UPDATE's zone section copied back, RCODE 5, no TSIG).
python3 - "$tmp/refuse.port" <<'PY' &
import os, socket, struct, sys, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
open(sys.argv[1] + ".tmp", "w").write(str(u.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
u.settimeout(0.2)
end = time.time() + 60
while time.time() < end:
    try:
        m, a = u.recvfrom(65535)
    except OSError:
        continue
    qid, flags = struct.unpack("!HH", m[:4])
    p = 12
    while m[p] != 0:
        p += m[p] + 1
    u.sendto(struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x7800) | 5, 1, 0, 0, 0) + m[12:p + 5], a)
PY
bg_pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/refuse.port" ] && break; sleep 0.1; done
rport=$(cat "$tmp/refuse.port")
config "$tmp/refuse.yaml" "$tmp/unused"
sed -i "s/127.0.0.1@9/127.0.0.1@$rport/g" "$tmp/refuse.yaml"
run 1 "$dcv" publish -c "$tmp/refuse.yaml" --timeout 2 "$tmp/zones2.csr"
for z in example.test test; do
	says "dcv: $tmp/zones2.csr: zone $z: primary bind (127.0.0.1@$rport): REFUSED: the server will not let key 'dcv' update zone $z (not a primary for it, or its update policy forbids it) (the reply carried no TSIG)"
done
run 1 "$dcv" check -c "$tmp/refuse.yaml" --timeout 1 "$tmp/zones2.csr"
says "dcv: $tmp/zones2.csr: server 127.0.0.1@$rport asked "
says ".a.test. for a.test: REFUSED"
says "dcv: $tmp/zones2.csr: still not visible everywhere after 1 s"

[ $root -eq 1 ] || echo "cli-dcv-spool: not root: the cases as uid 65534 were not run"
[ $fails -eq 0 ] && echo "cli-dcv-spool: all passed"
exit $((fails > 0))
