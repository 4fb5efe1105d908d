#!/usr/bin/env bash
# dcvd_chaos.sh BUILD -- two submitters drop a random mix into a running
# dcvd's incoming/ for a while, then everything must have come out right.
# dcvd runs as a system user of its own, the submitters as two others
# (lib_users.sh), with real servers (BIND primary -> Knot secondary ->
# unbound). For DCV_CHAOS_SECONDS (default 60) each submitter, seeded from
# DCV_CHAOS_SEED (default: random; always printed, so a failing run can be
# repeated), drops good CSRs (PEM as .csr or .pem, DER as .der), bad files
# (random bytes, truncated PEM, over 64 KiB), directories, FIFOs, sockets,
# symlinks and hard links to good CSRs, good CSRs under odd names (control
# bytes, bytes that are not UTF-8, '~'), duplicates (a CSR again under
# another name) and resubmissions (a CSR again with target: comodoca.com in a
# sidecar), and removes some of its own entries at random moments, often a
# few ms after making them. Then, once dcvd is quiet (active/ empty, no job
# in flight, incoming/ unchanged), it checks:
#   - every good CSR (and duplicate) that was not removed before dcvd took
#     it is visible in done/ and its record (hashlib over the DER bytes) is
#     in the primary's zone;
#   - the zone's DCV records (one AXFR) are exactly those of the status
#     files in done/ that say visible: none missing, none orphaned; each
#     visible status file's records are its CSR's;
#   - every other entry is in failed/ (odd names: under a safe name, the
#     error showing the escaped one), or still in incoming/ and reported in
#     dcvd's log, and no entry is reported again and again;
#   - nothing is stuck in active/ or in flight (`dcv status`), no file name
#     in done/ or failed/ holds a control byte, dcvd's log holds no raw
#     control byte, no "cannot save" loop;
#   - dcvd's peak RSS (VmHWM) stays under 64 MiB (not checked in a
#     sanitized build).
# Expected records come from python's hashlib over the DER bytes, never
# from dcv.
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

secs=${DCV_CHAOS_SECONDS:-60}
seed=${DCV_CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
if [[ ! $secs =~ ^[0-9]+$ ]] || ((secs < 1 || secs > 600)); then
	echo "DCV_CHAOS_SECONDS must be 1..600, not '$secs'" >&2
	exit 2
fi
echo "chaos: seed $seed, $secs s (again: DCV_CHAOS_SEED=$seed DCV_CHAOS_SECONDS=$secs)"

dcvd_lab dcvd_chaos 23 "$build" chaos.test
lab_need python3
users_init 23
S1=$USERS_S1 S2=$USERS_S2
spool=$LAB/spool cfg=$LAB/dcvd.yaml

# Plenty of good CSRs for each submitter (about 6 good drops a second each).
n=$((secs * 8 + 50))
for i in 1 2; do
	mkdir -p "$LAB/pool$i"
	"$GEN_CSRS" "$LAB/pool$i" "$n" chaos.test 1 "p$i-" >/dev/null
	chmod 0755 "$LAB/pool$i"
	chmod 0644 "$LAB/pool$i"/*.csr
done
dcvd_config "$cfg" "$spool" chaos.test </dev/null
chmod 0644 "$cfg"
users_spool "$spool"
users_dcvd_start dcvd "$cfg" "$spool"
log=$(lab_log dcvd)

# --- the submitters ---------------------------------------------------------------
# chaos.py INCOMING POOL SEED WHO SECONDS: one submitter; prints what it did
# as a JSON list (names as hex: they may hold any byte).
cat >"$LAB/chaos.py" <<'EOF'
import base64, json, os, random, re, socket, sys, time

inc, pool_dir, seed, who, secs = sys.argv[1:6]
inc, secs = os.fsencode(inc), float(secs)
rng = random.Random("%s-%s" % (seed, who))
pool = sorted(os.path.join(pool_dir, f) for f in os.listdir(pool_dir) if f.endswith(".csr"))
rng.shuffle(pool)
every = list(pool)
KINDS = [("good", 40), ("dup", 6), ("resub", 5), ("random", 4), ("trunc", 4), ("big", 1),
         ("dir", 3), ("fifo", 3), ("socket", 3), ("symlink", 3), ("hardlink", 3), ("odd", 6),
         ("delete", 12)]
ODD = [b"\x01", b"\xff", b"~1", b"\x1b[31m", b"\n", b"\x7f", b"\t"]
entries, goods = [], []
seq = 0
t0 = time.monotonic()


def path(name):
    return os.path.join(inc, name)


def tmp():
    return path(b".s%s-%05d.tmp" % (who.encode(), seq))


def put(name, data):
    t = tmp()
    fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    os.write(fd, data)
    os.close(fd)
    os.rename(t, path(name))


def der(pem):
    m = re.search(rb"-----BEGIN CERTIFICATE REQUEST-----(.*?)-----END", pem, re.S)
    return base64.b64decode(b"".join(m.group(1).split()))


def csr_bytes(src, ext):
    pem = open(src, "rb").read()
    return der(pem) if ext == "der" else pem


def name_of(kind, ext="csr"):
    return ("s%s-%05d-%s.%s" % (who, seq, kind, ext)).encode()


def record(name, kind, **kw):
    e = dict(name=name.hex(), kind=kind, deleted=False, t=round(time.monotonic() - t0, 3), **kw)
    entries.append(e)
    return e


def delete(e):
    if e["deleted"] or e.get("gone") or e["kind"] == "error":
        return
    name = bytes.fromhex(e["name"])
    try:
        if e["kind"] == "dir":
            os.rmdir(path(name))
        else:
            os.unlink(path(name))
    except FileNotFoundError:
        e["gone"] = True  # dcvd took it
        return
    e["deleted"] = True
    e["deleted_t"] = round(time.monotonic() - t0, 3)
    if e.get("sidecar"):
        try:
            os.unlink(path(bytes.fromhex(e["sidecar"])))
        except FileNotFoundError:
            pass


def claimed(e):
    try:
        os.lstat(path(bytes.fromhex(e["name"])))
        return False
    except FileNotFoundError:
        return True


def act(kind):
    if kind == "good":
        if not pool:
            return None
        src, ext = pool.pop(), rng.choice(["csr", "pem", "der"])
        name = name_of("good", ext)
        put(name, csr_bytes(src, ext))
        e = record(name, "good", src=src, ext=ext)
        goods.append(e)
        if rng.random() < 0.15:
            # Often too late (dcvd takes a file within a ms or so): a race.
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0, 0.01))
            delete(e)
        return e
    if kind == "dup":
        live = [g for g in goods if not g["deleted"]]
        if not live:
            return None
        g, ext = rng.choice(live), rng.choice(["csr", "pem", "der"])
        name = name_of("dup", ext)
        put(name, csr_bytes(g["src"], ext))
        return record(name, "dup", src=g["src"], ext=ext, of=g["name"])
    if kind == "resub":
        now = time.monotonic() - t0
        live = [g for g in goods if not g["deleted"] and not g.get("resubmitted") and g["t"] < now - 3]
        live = [g for g in live if claimed(g)]
        if not live:
            return None
        g = rng.choice(live)
        g["resubmitted"] = True
        name = name_of("resub")
        side = name[:-4] + b".yaml"
        put(side, b"target: comodoca.com\n")
        put(name, open(g["src"], "rb").read())
        return record(name, "resub", src=g["src"], ext="csr", of=g["name"], sidecar=side.hex())
    if kind == "random":
        name = name_of("random")
        put(name, rng.randbytes(rng.randint(0, 3000)))
        return record(name, "random")
    if kind == "trunc":
        pem = open(rng.choice(every), "rb").read()
        name = name_of("trunc")
        put(name, pem[: rng.randint(10, len(pem) - 30)])
        return record(name, "trunc")
    if kind == "big":
        name = name_of("big")
        put(name, b"A" * (65536 + rng.randint(1, 5000)))
        return record(name, "big")
    if kind == "dir":
        name, t = name_of("dir"), tmp()
        os.mkdir(t, 0o755)
        os.rename(t, path(name))
        return record(name, "dir")
    if kind == "fifo":
        name, t = name_of("fifo"), tmp()
        os.mkfifo(t, 0o640)
        os.rename(t, path(name))
        return record(name, "fifo")
    if kind == "socket":
        name, t = name_of("socket"), tmp()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(t)
        os.rename(t, path(name))
        s.close()
        return record(name, "socket")
    if kind == "symlink":
        name, t = name_of("symlink"), tmp()
        os.symlink(rng.choice(every), t)
        os.rename(t, path(name))
        return record(name, "symlink")
    if kind == "hardlink":
        name, src = name_of("hardlink"), path(b".s%s-%05d.src" % (who.encode(), seq))
        fd = os.open(src, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.write(fd, open(rng.choice(every), "rb").read())
        os.close(fd)
        os.link(src, path(name))
        return record(name, "hardlink")
    if kind == "odd":
        if not pool:
            return None
        src = pool.pop()
        name = ("s%s-%05d-odd" % (who, seq)).encode() + rng.choice(ODD) + b".csr"
        put(name, open(src, "rb").read())
        return record(name, "odd", src=src, ext="csr")
    if kind == "delete":
        mine = [e for e in entries[-30:] if not e["deleted"] and not e.get("gone") and e["kind"] != "error"]
        if mine:
            delete(mine[-1] if rng.random() < 0.5 else rng.choice(mine))
        return None
    raise ValueError(kind)


names, weights = zip(*KINDS)
while time.monotonic() - t0 < secs:
    kind = rng.choices(names, weights)[0]
    try:
        act(kind)
    except OSError as ex:
        record(b"", "error", what="%s: %s" % (kind, ex))
    seq += 1
    time.sleep(rng.uniform(0.005, 0.12))
json.dump(entries, sys.stdout)
EOF
chmod 0644 "$LAB/chaos.py"
users_bg "$S1" "$USERS_PY" "$LAB/chaos.py" "$spool/incoming" "$LAB/pool1" "$seed" 1 "$secs" \
	>"$LAB/chaos1.json"
pid1=$USERS_BG
users_bg "$S2" "$USERS_PY" "$LAB/chaos.py" "$spool/incoming" "$LAB/pool2" "$seed" 2 "$secs" \
	>"$LAB/chaos2.json"
pid2=$USERS_BG
rc1=0 rc2=0
users_wait "$pid1" || rc1=$?
users_wait "$pid2" || rc2=$?
lab_check "the submitters ran for $secs s (exit status $rc1 and $rc2)" test "$rc1" = 0 -a "$rc2" = 0

# --- quiescence -----------------------------------------------------------------------
# quiet: active/ is empty, `dcv status` has no job in flight, and incoming/
# lists the same entries as at the last look (a second ago at least).
last_incoming=
quiet() {
	local now
	dcvd_n "$spool/active" '*'
	((DCVD_N == 0)) || return 1
	"$DCV" status -c "$cfg" >"$LAB/status.out" 2>&1 || true
	grep -q '^no job in flight$' "$LAB/status.out" || return 1
	now=$(find "$spool/incoming" -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%i %f\n' | sort | md5sum)
	[[ $now == "$last_incoming" ]] && return 0
	last_incoming=$now
	sleep 1
	return 1
}
lab_check "dcvd is quiet: active/ empty, no job in flight, incoming/ unchanged" lab_until 60 quiet
echo "  (quiet after $((LAB_ELAPSED_MS / 1000)) s; $(sed -n 1p "$LAB/status.out"))"

# --- checks -------------------------------------------------------------------------------
out=$(dig -b "$S" +time=5 +tries=1 +noall +answer +stats -p "$LAB_PORT" @"$P" chaos.test AXFR 2>&1) || true
printf '%s\n' "$out" >"$LAB/axfr.out"
lab_check "an AXFR of chaos.test from the primary" grep -q 'XFR size' "$LAB/axfr.out"

cat >"$LAB/verify.py" <<'EOF'
import base64, glob, hashlib, json, os, re, sys
import yaml

spool, logpath, axfrpath = sys.argv[1:4]
loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
entries = []
for m in sys.argv[4:]:
    entries += json.load(open(m))
log = open(logpath, "rb").read().split(b"\n")


def printable_len(b, i):
    # as dcv_utf8_printable_len: a printable UTF-8 sequence, or 0
    c = b[i]
    if c < 0x80:
        return 1 if c >= 0x20 and c != 0x7F else 0
    if 0xC2 <= c <= 0xDF:
        n, cp = 2, c & 0x1F
    elif 0xE0 <= c <= 0xEF:
        n, cp = 3, c & 0x0F
    elif 0xF0 <= c <= 0xF4:
        n, cp = 4, c & 0x07
    else:
        return 0
    if len(b) - i < n:
        return 0
    for k in range(1, n):
        if b[i + k] & 0xC0 != 0x80:
            return 0
        cp = cp << 6 | (b[i + k] & 0x3F)
    if (n == 3 and cp < 0x800) or (n == 4 and cp < 0x10000) or cp > 0x10FFFF \
            or 0xD800 <= cp <= 0xDFFF or 0x80 <= cp <= 0x9F:
        return 0
    return n


def printable(b):
    i = 0
    while i < len(b):
        n = printable_len(b, i)
        if n == 0:
            return False
        i += n
    return True


def escape(b):
    # as dcv_escape: \xNN for every byte that is not printable UTF-8, \\ for a backslash
    out, i = [], 0
    while i < len(b):
        n = 0 if b[i] == 0x5C else printable_len(b, i)
        if n:
            out.append(b[i:i + n].decode())
            i += n
        else:
            out.append("\\\\" if b[i] == 0x5C else "\\x%02x" % b[i])
            i += 1
    return "".join(out)


def der_of(raw):
    m = re.search(rb"-----BEGIN CERTIFICATE REQUEST-----(.*?)-----END", raw, re.S)
    return base64.b64decode(b"".join(m.group(1).split())) if m else raw


def oracle(raw, target="sectigo.com"):
    d = der_of(raw)
    md5, sha = hashlib.md5(d).hexdigest(), hashlib.sha256(d).hexdigest()
    return md5, "_%s.chaos.test" % md5, "%s.%s.%s" % (sha[:32], sha[32:], target)


def load(path):
    try:
        with open(path, "rb") as f:
            d = yaml.load(f, Loader=loader)
        return d if isinstance(d, dict) else {}
    except Exception:
        return {}


status = {}
for folder in ("done", "failed"):
    for p in glob.glob(os.path.join(spool, folder, "*.status")):
        status[(folder, os.path.basename(p)[: -len(".status")])] = load(p)
incoming = {os.fsencode(n) for n in os.listdir(os.path.join(spool, "incoming"))}
incoming = {n for n in incoming if not n.startswith(b".")}
active = [n for n in os.listdir(os.path.join(spool, "active")) if not n.startswith(".")]
axfr = set()
for line in open(axfrpath):
    f = line.split()
    if len(f) >= 5 and f[3].upper() == "CNAME" and f[0].startswith("_"):
        axfr.add((f[0].lower().rstrip("."), f[4].lower().rstrip(".")))


# How often each entry of incoming/ (escaped as dcvd escapes) was reported:
# the jobs named by the log lines that name it, and each such line that
# names no job.
naming = {}
for i, l in enumerate(log):
    if b"incoming/" in l:
        job = re.search(rb"job (\S+~[0-9a-f]+): ", l)
        for m in set(re.findall(rb"incoming/([^\s:/]+)", l)):
            naming.setdefault(m, set()).add(job.group(1) if job else i)


def reports(name):
    return len(naming.get(escape(name).encode(), ()))


results = []


def report(ok, desc, bad=()):
    results.append((ok, desc, list(bad)))


kinds = {}
for e in entries:
    kinds.setdefault(e["kind"], []).append(e)
errors = kinds.get("error", [])
report(not errors, "the submitters' own operations all worked (%d did not)" % len(errors),
       [e["what"] for e in errors])
summary = ", ".join("%s %d" % (k, len(v)) for k, v in sorted(kinds.items()))
deleted = sum(1 for e in entries if e["deleted"])
print("  entries: %d (%s); removed before dcvd took them: %d" % (len(entries), summary, deleted))

# Good CSRs and duplicates that stayed: visible in done/, record in the zone.
goods = [e for e in entries if e["kind"] in ("good", "dup") and not e["deleted"]]
bad, missing = [], []
for e in goods:
    name = bytes.fromhex(e["name"]).decode()
    stem, ext = name.rsplit(".", 1)
    st = status.get(("done", stem))
    raw = open(e["src"], "rb").read()
    md5, owner, target = oracle(raw)
    dropped = der_of(raw) if ext == "der" else raw
    if st is None:
        where = "failed/: %s" % status[("failed", stem)].get("error") if ("failed", stem) in status \
            else "still in incoming/" if name.encode() in incoming else "no status file"
        bad.append("%s: not in done/ (%s)" % (name, where))
    elif st.get("state") != "visible" or st.get("md5") != md5:
        bad.append("%s: done/%s.status says state %s, md5 %s (want visible, %s)"
                   % (name, stem, st.get("state"), st.get("md5"), md5))
    else:
        try:
            same = open(os.path.join(spool, "done", name), "rb").read() == dropped
        except OSError:
            same = False
        if not same:
            bad.append("%s: done/%s is missing or not the file dropped" % (name, name))
    if (owner, target) not in axfr:
        missing.append("%s: %s CNAME %s" % (name, owner, target))
report(not bad and goods, "every good CSR and duplicate that stayed (%d) is visible in done/, the CSR beside it" % len(goods), bad)
report(not missing, "their records are in the primary's zone (AXFR)", missing)

# The zone holds exactly the records of the visible jobs.
want, wrong = set(), []
for (folder, stem), st in status.items():
    if folder != "done" or st.get("state") != "visible":
        continue
    recs = set()
    for r in st.get("records") or []:
        f = str(r).split()
        if len(f) >= 5 and f[3].upper() == "CNAME":
            recs.add((f[0].lower().rstrip("."), f[4].lower().rstrip(".")))
    want |= recs
    csr = os.path.join(spool, "done", str(st.get("file")))
    try:
        md5, owner, target = oracle(open(csr, "rb").read())
        ok = recs and all(o == owner and (t == target or t == target.replace("sectigo.com", "comodoca.com"))
                          for o, t in recs)
    except (OSError, AttributeError, ValueError):
        ok = False
    if not ok:
        wrong.append("done/%s.status: records %s do not fit done/%s" % (stem, sorted(recs), st.get("file")))
nvis = sum(1 for (f, s), st in status.items() if f == "done" and st.get("state") == "visible")
report(not wrong, "the records of every visible status file (%d) are its CSR's (hashlib)" % nvis, wrong)
report(want == axfr, "the zone's DCV records (%d, one AXFR) are exactly those of the visible jobs (%d): "
       "%d missing, %d orphaned" % (len(axfr), len(want), len(want - axfr), len(axfr - want)),
       ["missing: %s CNAME %s" % r for r in sorted(want - axfr)[:5]]
       + ["orphaned: %s CNAME %s" % r for r in sorted(axfr - want)[:5]])

# Everything else: failed/, or still in incoming/ and reported.
def failed_for(e):
    name = bytes.fromhex(e["name"])
    if e["kind"] == "odd":
        esc = escape(name)
        return [st for (f, s), st in status.items()
                if f == "failed" and st.get("state") == "failed" and esc in str(st.get("error"))]
    st = status.get(("failed", name.decode().rsplit(".", 1)[0]))
    return [st] if st and st.get("state") == "failed" else []


groups = [("bad files (random bytes, truncated PEM, over 64 KiB)", ("random", "trunc", "big")),
          ("resubmissions with another target", ("resub",)),
          ("FIFOs, sockets, symlinks, hard links", ("fifo", "socket", "symlink", "hardlink")),
          ("directories", ("dir",)),
          ("good CSRs under odd names", ("odd",))]
often = []
for desc, ks in groups:
    these = [e for e in entries if e["kind"] in ks and not e["deleted"]]
    bad = []
    for e in these:
        name = bytes.fromhex(e["name"])
        n = reports(name)
        if n > 1:
            often.append("incoming/%s: reported %d times" % (escape(name), n))
        if name in incoming:
            if n == 0:
                bad.append("%s: still in incoming/, never reported" % escape(name))
        elif not failed_for(e):
            where = "in done/" if ("done", name.decode(errors="replace").rsplit(".", 1)[0]) in status \
                else "nowhere"
            bad.append("%s (%s): no failed status saying failed (%s)" % (escape(name), e["kind"], where))
    report(not bad, "%s (%d): in failed/, or still in incoming/ and reported" % (desc, len(these)), bad)
report(not often, "no entry reported again and again (by more than one job)", often)

odd_done = [e for e in kinds.get("odd", []) if not e["deleted"]
            and any(escape(bytes.fromhex(e["name"])) in str(st.get("file")) for (f, s), st in status.items() if f == "done")]
report(not odd_done, "no odd name made it to done/", [escape(bytes.fromhex(e["name"])) for e in odd_done])

known = {bytes.fromhex(e["name"]) for e in entries if not e["deleted"] and e["kind"] != "error"}
known |= {bytes.fromhex(e["sidecar"]) for e in entries if e.get("sidecar") and not e["deleted"]}
strays = [escape(n) for n in incoming if n not in known]
unreported = [escape(n) for n in incoming if n in known and not n.endswith(b".yaml") and reports(n) == 0]
report(not strays and not unreported, "every entry left in incoming/ (%d) was dropped and is reported" % len(incoming),
       ["not dropped by a submitter: " + s for s in strays] + ["never reported: " + s for s in unreported])
report(not active, "nothing left in active/", active[:5])

unsafe = []
for folder in ("done", "failed"):
    for n in os.listdir(os.fsencode(os.path.join(spool, folder))):
        if not printable(n):
            unsafe.append("%s/%s" % (folder, escape(n)))
report(not unsafe, "every file name in done/ and failed/ is printable UTF-8", unsafe[:5])
raw = [l for l in log if re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", l)]
report(not raw, "no raw control byte in dcvd's log (%d lines)" % len(log), [repr(l[:120]) for l in raw[:3]])

for ok, desc, bad in results:
    print("%s\t%s" % ("ok" if ok else "FAIL", desc))
    for b in bad[:8]:
        print("  \t" + b)
    if len(bad) > 8:
        print("  \t... and %d more" % (len(bad) - 8))
EOF
python3 "$LAB/verify.py" "$spool" "$log" "$LAB/axfr.out" "$LAB/chaos1.json" "$LAB/chaos2.json" \
	>"$LAB/verify.out" 2>&1 || lab_fail "the checker failed: $(tail -n 3 "$LAB/verify.out")"
while IFS=$'\t' read -r what desc; do
	case $what in
	ok) lab_ok "$desc" ;;
	FAIL) lab_fail "$desc" ;;
	*) echo "$what$desc" ;;
	esac
done <"$LAB/verify.out"

lab_check "dcv status: no job in flight" grep -q '^no job in flight$' "$LAB/status.out"
lab_check "no 'cannot save' in dcvd's log ($(grep -ca 'cannot save' "$log" || true) lines)" \
	lab_not grep -qa 'cannot save' "$log"
pid=$(lab_pid dcvd)
lab_check "dcvd still runs" kill -0 "$pid"
hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
# Not `ldd | grep -q`: under pipefail grep's early exit can kill the writer
# with SIGPIPE, fail the pipeline, and check a sanitized build's RSS.
if [[ $(ldd "$DCVD" 2>/dev/null) == *libasan* ]]; then
	lab_ok "peak RSS ${hwm:-?} kB: not bounded in a sanitized (ASan) build"
else
	lab_check "dcvd's peak RSS (VmHWM) ${hwm:-?} kB is under 64 MiB" test "${hwm:-999999}" -lt 65536
fi
lab_stop dcvd
echo "chaos: seed $seed, $secs s"
lab_finish
