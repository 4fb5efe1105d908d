#!/usr/bin/env bash
# dcvd_metrics.sh BUILD -- metrics_file and `dcv status --json`:
#   - dcvd writes the Prometheus textfile; promtool accepts it; its values
#     match the truth: one job visible (done/ and the servers say so), two
#     spool entries refused (failed/ says so), an UPDATE answered NOERROR by
#     the primary (which serves the record), answers counted for the
#     secondary and the resolver; no temporary file is left; a reload with
#     another metrics_file writes that one; at a stop the last file says
#     dcvd_up 0;
#   - `dcv status --json` is one JSON object (Python's json reads it) with
#     the counts of the plain `dcv status`, the failed jobs it lists, and
#     per job what its status file says; the records are those computed from
#     the CSR's bytes by python (dcvd_expected), not by dcv. One refused
#     file's name holds a control byte and a byte that is not UTF-8.
# Address block 31.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
dcvd_lab dcvd_metrics 31 "${1:?build folder}" example.test
lab_need promtool
spool=$LAB/spool textfile=$LAB/textfile prom=$LAB/textfile/dcvd.prom
mkdir -p "$textfile"
dcvd_config "$LAB/dcvd.yaml" "$spool" example.test <<<"metrics_file: $prom"
dcvd_start dcvd "$LAB/dcvd.yaml" "$spool"

# metric KEY -- the value of the sample KEY (name and labels as written), or "absent".
metric() {
	awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "absent" : v) }' "$prom"
}
# metric_is KEY VALUE -- the sample KEY has VALUE.
metric_is() {
	[[ $(metric "$1") == "$2" ]]
}
# exit_is CODE COMMAND... -- COMMAND exits with CODE.
exit_is() {
	local want=$1 rc=0
	shift
	"$@" >/dev/null 2>&1 || rc=$?
	((rc == want))
}
# metric_at_least KEY N
metric_at_least() {
	local v
	v=$(metric "$1")
	[[ $v =~ ^[0-9]+$ ]] && ((v >= $2))
}

lab_check "the metrics file is written at the start" lab_until 5 test -s "$prom"
lab_check "promtool accepts it" promtool check metrics <"$prom"
lab_check "it says dcvd is up" metric_is dcvd_up 1

# One good CSR, two entries the spool refuses (one with odd bytes in its name).
mkdir -p "$LAB/csr"
"$GEN_CSRS" "$LAB/csr" 1 example.test 1 one >/dev/null
read -r owner target < <(dcvd_expected example.test "$LAB/csr/one0.csr")
dcvd_drop "$spool" "$LAB/csr/one0.csr"
echo "not a CSR" >"$LAB/junk"
dcvd_drop "$spool" "$LAB/junk" junk.csr
dcvd_drop "$spool" "$LAB/junk" $'odd\001\377.csr'
lab_check "one0.csr is visible" lab_until 20 grep -q '^state: visible' "$spool/done/one0.status"
lab_check "the primary serves its record" lab_serves "$P" "$LAB_PORT" "$owner" CNAME "$target"
lab_check "the secondary serves it" lab_serves "$S" "$LAB_PORT" "$owner" CNAME "$target"
lab_check "the resolver serves it" lab_resolves "$R" "$LAB_PORT" "$owner" CNAME "$target"
lab_check "both refused entries are in failed/" lab_until 10 dcvd_at_least 2 "$spool/failed" '*.status'
dcvd_n "$spool/failed" '*.status'
lab_check "exactly two" test "$DCVD_N" = 2

# Within the coalescing second after the last change, the file shows it
# (the counts change before the status files are written: wait for both).
lab_check "the file shows the job visible" lab_until 5 metric_is 'dcvd_jobs{state="visible"}' 1
lab_check "and the two failed" lab_until 5 metric_is 'dcvd_jobs{state="failed"}' 2
lab_check "promtool accepts the file with jobs in it" promtool check metrics <"$prom"
lab_check "one job finished visible" metric_is 'dcvd_jobs_finished_total{result="visible"}' 1
lab_check "two failed (the refused entries)" metric_is 'dcvd_jobs_finished_total{result="failed"}' 2
lab_check "two spool entries refused" metric_is dcvd_spool_refused_total 2
lab_check "no store error" metric_is dcvd_store_errors_total 0
lab_check "no job in flight" metric_is 'dcvd_jobs{state="published"}' 0
lab_check "one received->visible time observed" metric_is dcvd_job_visible_seconds_count 1
lab_check "it took under 30 s" metric_is 'dcvd_job_visible_seconds_bucket{le="30"}' 1
lab_check "an UPDATE add answered NOERROR by the primary" \
	metric_at_least "dcvd_updates_total{server=\"$P@$LAB_PORT\",op=\"add\",rcode=\"NOERROR\"}" 1
lab_check "no UPDATE outcome other than NOERROR" \
	test -z "$(grep '^dcvd_updates_total{' "$prom" | grep -v 'rcode="NOERROR"' || true)"
lab_check "the secondary's answer counted" \
	metric_at_least "dcvd_queries_total{server=\"$S@$LAB_PORT\",role=\"authoritative\",outcome=\"answer\"}" 1
lab_check "the resolver's answer counted" \
	metric_at_least "dcvd_queries_total{server=\"$R@$LAB_PORT\",role=\"resolver\",outcome=\"answer\"}" 1
lab_check "the labels name servers only, never a job or a name" \
	test -z "$(grep -E 'one0|junk|odd|example' "$prom" || true)"
lab_check "the file is world-readable (node_exporter's user)" test "$(stat -c %a "$prom")" = 644
# (A write may be under way right now: the folder is checked after the stop.)

# --- dcv status --json ---------------------------------------------------------------
"$DCV" status -c "$LAB/dcvd.yaml" >"$LAB/status.txt"
"$DCV" status -c "$LAB/dcvd.yaml" --json >"$LAB/status.json"
lab_check "dcv status --json is one JSON object" \
	python3 -c 'import json, sys; assert isinstance(json.load(sys.stdin), dict)' <"$LAB/status.json"
lab_check "the option goes before -c too" \
	cmp "$LAB/status.json" <("$DCV" status --json -c "$LAB/dcvd.yaml")
lab_check "an unknown option is a usage error (exit 2)" \
	exit_is 2 "$DCV" status -c "$LAB/dcvd.yaml" --yaml
# The oracles: the plain output's counts and lines, the status files (YAML), python's hashes.
lab_check "--json agrees with the plain output, the status files and the CSR's bytes" python3 - \
	"$LAB/status.json" "$LAB/status.txt" "$spool" "$owner" "$target" <<'EOF'
import json, os, re, sys, yaml
js = json.load(open(sys.argv[1]))
plain = open(sys.argv[2]).read().splitlines()
spool, owner, target = sys.argv[3:6]
assert js["spool"] == spool, js["spool"]
assert js["source"] == "records", js["source"]
counts = dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+)", plain[1]))
assert js["counts"] == counts, (js["counts"], counts)
assert re.match(r"spool .*: %d jobs, %d files waiting" % (len(js["jobs"]), js["incoming"]), plain[0]), plain[0]
listed = set(line.split()[1] for line in plain[3:] if line.startswith("failed"))
assert listed == set(j["job"] for j in js["jobs"] if j["step"] == "failed"), listed
assert len(js["jobs"]) == 3, js["jobs"]
for j in js["jobs"]:
    folder = "done" if j["step"] == "visible" else "failed"
    st = yaml.safe_load(open(os.path.join(spool, folder, j["name"] + ".status")))
    for key in ("job", "file", "state", "step"):
        assert j[key] == st[key], (key, j[key], st[key])
    assert j["error"] == st.get("error"), (j["error"], st.get("error"))
    assert j["zones"] == (st.get("zones") or []), (j["zones"], st.get("zones"))
    for key in ("received", "visible", "failed"):
        want = st.get(key)
        want = want.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(want, "strftime") else want
        assert j["times"][key] == want, (key, j["times"][key], want)
one = [j for j in js["jobs"] if j["step"] == "visible"]
assert len(one) == 1 and one[0]["file"] == "one0.csr", one
assert [(r["owner"], r["target"]) for r in one[0]["records"]] == [(owner + ".", target + ".")], one[0]["records"]
assert one[0]["zones"] == ["example.test"], one[0]["zones"]
odd = [j for j in js["jobs"] if j["name"].startswith("odd")]
assert len(odd) == 1 and odd[0]["error"], js["jobs"]
print("odd name in JSON:", json.dumps(odd[0]["name"]), "error:", odd[0]["error"])
EOF

# --- a reload moves the file -------------------------------------------------------------
old=$prom prom=$textfile/moved.prom
dcvd_config "$LAB/dcvd.yaml" "$spool" example.test <<<"metrics_file: $prom"
kill -HUP "$(lab_pid dcvd)"
lab_check "after a reload with another metrics_file, that file is written" lab_until 5 test -s "$prom"
lab_check "with the same counts" metric_is 'dcvd_jobs{state="visible"}' 1

# --- the stop -------------------------------------------------------------------------
lab_stop dcvd
lab_check "the last file says dcvd_up 0" metric_is dcvd_up 0
lab_check "promtool accepts the last file" promtool check metrics <"$prom"
prom=$old
lab_check "the file before the reload was left as it was (dcvd_up 1)" metric_is dcvd_up 1
lab_check "no temporary file is left in the folder" test "$(ls -A "$textfile" | tr '\n' ' ')" = "dcvd.prom moved.prom "
lab_finish
