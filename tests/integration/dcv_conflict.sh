#!/usr/bin/env bash
# dcv_conflict.sh BUILD_DIR -- dcv and dcvd never overwrite a CNAME that is
# not theirs, against a BIND primary and a Knot primary (TSIG hmac-sha256).
# Every add carries the RFC 2136 prerequisite "no CNAME at this owner"; a
# server that finds one answers YXRRSET and applies nothing, and dcv asks it
# what the owner serves. Covers, on each server: (a) a foreign CNAME at the
# owner a CSR needs: publish exits 1 naming the foreign value, which stays;
# (b) the same CSR published twice: the second publish finds its own value
# and succeeds, one CNAME is served, the zone does not change; our target
# in upper case counts as ours; (c) one batch of CSRs where one owner is
# foreign and one record is already ours: the others are published, only the
# foreign one fails. Then dcvd with a burst holding the same three kinds:
# only the foreign one's job fails (failed/, the reason in its status), the
# others become visible, and its cleanup leaves the foreign CNAME alone.
# Expected owners and targets come from openssl's digests of the DER,
# checked against python's hashlib, never from dcv. Address block 21.
# shellcheck disable=SC2317 # the helpers below are called through lab_check
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=lib_dcv.sh
source "$here/lib_dcv.sh"
# shellcheck source=lib_dcvd.sh
source "$here/lib_dcvd.sh"
lab_init dcv_conflict 21
dcv_init "${1:?usage: dcv_conflict.sh BUILD_DIR}"
DCVD=$(cd "$1" && pwd)/dcvd
[[ -x $DCVD ]] || _lab_err "$DCVD is missing: build the dcvd target first"
lab_need python3 nsupdate

P=$LAB_PORT
BIND=$LAB_NET.1 # named, primary of bind.test
KNOT=$LAB_NET.2 # knotd, primary of knot.test
FOREIGN=foreign.example.net
FOREIGN2=other.value.example.org

lab_key dcv hmac-sha256
lab_bind_primary "$BIND" "$P" dcv bind.test --name bind
lab_knot_primary "$KNOT" "$P" dcv knot.test --name knot

CONF=$LAB/dcv.yaml
cat >"$CONF" <<EOF
key:
  - id: dcv
    file: $LAB/keys/dcv.key
remote:
  - id: bind
    address: $BIND@$P
    key: dcv
  - id: knot
    address: $KNOT@$P
    key: dcv
zone:
  - domain: bind.test
    primary: bind
    nameservers: [$BIND@$P]
  - domain: knot.test
    primary: knot
    nameservers: [$KNOT@$P]
EOF

# expect NAME ZONE -- DCV_OWNER and DCV_TARGET of $LAB/csr/NAME.csr at the
# apex of ZONE (placement zone) from openssl, which python's hashlib over
# the PEM's DER bytes must confirm.
expect() {
	local py
	dcv_expect "$1" "$2" || return 1
	py=$(dcvd_expected "$2" "$LAB/csr/$1.csr") || return 1
	[[ $py == "${DCV_OWNER,,} ${DCV_TARGET,,}" ]] ||
		_lab_err "openssl says '$DCV_OWNER $DCV_TARGET', hashlib '$py' for $1"
}

# cnames ADDR OWNER -- the CNAME values ADDR@P serves at OWNER (RD=0), one a
# line, lower case, without the trailing dot.
cnames() {
	dig +norec +time=2 +tries=1 +noall +answer -p "$P" @"$1" "$2" CNAME 2>/dev/null |
		awk -v o="${2,,}." 'tolower($1) == o && toupper($4) == "CNAME" {
			t = tolower($5); sub(/\.$/, "", t); print t }'
}

# serves_only ADDR OWNER VALUE -- ADDR serves exactly one CNAME at OWNER: VALUE.
serves_only() {
	local got
	got=$(cnames "$1" "$2")
	[[ $got == "${3,,}" ]] && return 0
	echo "  $1@$P serves at $2: '${got//$'\n'/, }', want exactly '${3,,}'"
	return 1
}

# foreign ADDR OWNER VALUE -- someone else puts CNAME VALUE at OWNER (nsupdate).
foreign() {
	printf 'update add %s. 300 CNAME %s.\n' "$2" "$3" | lab_nsupdate dcv "$1" "$P"
}

same_serial() { # ADDR ZONE SERIAL
	local now
	now=$(lab_serial "$1" "$P" "$2") || return 1
	[[ $now == "$3" ]] && return 0
	echo "  serial of $2 at $1 is $now, was $3"
	return 1
}

# suite KIND ADDR ZONE -- the dcv publish cases against the primary ADDR of ZONE.
suite() {
	local kind=$1 addr=$2 zone=$3 owner target serial
	local cb_owner cb_target c1_owner c1_target c2_owner c2_target cx_owner

	# --- (a) a foreign CNAME at the owner ------------------------------------
	dcv_csr "$kind-a" "www.$zone"
	expect "$kind-a" "$zone"
	owner=$DCV_OWNER target=$DCV_TARGET
	foreign "$addr" "$owner" "$FOREIGN" || lab_fail "$kind: nsupdate could not add the foreign CNAME"
	lab_check "$kind (a): the foreign CNAME is in place" serves_only "$addr" "$owner" "$FOREIGN"
	serial=$(lab_serial "$addr" "$P" "$zone")
	dcv_run "$kind-a" publish -c "$CONF" "$LAB/csr/$kind-a.csr"
	lab_check "$kind (a): publish over a foreign CNAME exits 1" dcv_rc 1
	lab_check "... says: zone, server, owner, the foreign value, not overwritten" \
		dcv_err_has "^dcv: $LAB/csr/$kind-a\.csr: zone $zone: primary $kind \($addr@$P\): " \
		"$owner\. already has CNAME $FOREIGN\.; not overwritten$"
	lab_check "... publishes nothing" dcv_out_lines ": published " 0
	lab_check "dig: $kind still serves only the foreign value" serves_only "$addr" "$owner" "$FOREIGN"
	lab_check "... and the zone did not change (serial $serial)" same_serial "$addr" "$zone" "$serial"

	# --- (b) the same CSR twice ----------------------------------------------
	dcv_csr "$kind-b" "b.$zone"
	expect "$kind-b" "$zone"
	owner=$DCV_OWNER target=$DCV_TARGET
	dcv_run "$kind-b1" publish -c "$CONF" "$LAB/csr/$kind-b.csr"
	lab_check "$kind (b): first publish exits 0" dcv_rc 0
	lab_check "... published" dcv_out_has "published $owner\. 300 IN CNAME $target\. \(zone $zone\)"
	serial=$(lab_serial "$addr" "$P" "$zone")
	dcv_run "$kind-b2" publish -c "$CONF" "$LAB/csr/$kind-b.csr"
	lab_check "$kind (b): the same CSR again exits 0 (our own value is success)" dcv_rc 0
	lab_check "... says published" \
		dcv_out_has "published $owner\. 300 IN CNAME $target\. \(zone $zone\)"
	lab_check "... and nothing on stderr" test ! -s "$LAB/run/$kind-b2.err"
	lab_check "dig: $kind serves exactly one CNAME, ours" serves_only "$addr" "$owner" "$target"
	lab_check "... and the zone did not change (serial $serial)" same_serial "$addr" "$zone" "$serial"
	cb_owner=$owner cb_target=$target

	# Someone else already put our own target there, in upper case.
	dcv_csr "$kind-u" "u.$zone"
	expect "$kind-u" "$zone"
	owner=$DCV_OWNER target=$DCV_TARGET
	foreign "$addr" "$owner" "${target^^}" || lab_fail "$kind: nsupdate could not add the record"
	dcv_run "$kind-u" publish -c "$CONF" "$LAB/csr/$kind-u.csr"
	lab_check "$kind: our target in upper case counts as ours: publish exits 0" dcv_rc 0
	lab_check "dig: $kind serves exactly one CNAME, ours" serves_only "$addr" "$owner" "$target"

	# --- (c) one batch: two new, one ours already, one foreign ---------------
	dcv_csr "$kind-c1" "c1.$zone"
	expect "$kind-c1" "$zone"
	c1_owner=$DCV_OWNER c1_target=$DCV_TARGET
	dcv_csr "$kind-c2" "c2.$zone"
	expect "$kind-c2" "$zone"
	c2_owner=$DCV_OWNER c2_target=$DCV_TARGET
	dcv_csr "$kind-cx" "cx.$zone"
	expect "$kind-cx" "$zone"
	cx_owner=$DCV_OWNER
	foreign "$addr" "$cx_owner" "$FOREIGN2" || lab_fail "$kind: nsupdate could not add the foreign CNAME"
	dcv_run "$kind-c" publish -c "$CONF" "$LAB/csr/$kind-c1.csr" "$LAB/csr/$kind-cx.csr" \
		"$LAB/csr/$kind-b.csr" "$LAB/csr/$kind-c2.csr"
	lab_check "$kind (c): a batch with one foreign owner exits 1" dcv_rc 1
	lab_check "... publishes the other three" dcv_out_lines ": published " 3
	lab_check "... c1" dcv_out_has "^$LAB/csr/$kind-c1\.csr: published $c1_owner\. 300 IN CNAME $c1_target\."
	lab_check "... c2" dcv_out_has "^$LAB/csr/$kind-c2\.csr: published $c2_owner\. 300 IN CNAME $c2_target\."
	lab_check "... b (ours already)" dcv_out_has "^$LAB/csr/$kind-b\.csr: published $cb_owner\. "
	lab_check "... fails only cx, naming the foreign value" \
		dcv_err_has "^dcv: $LAB/csr/$kind-cx\.csr: .*$cx_owner\. already has CNAME $FOREIGN2\.; not overwritten$"
	lab_check "... one line on stderr" test "$(wc -l <"$LAB/run/$kind-c.err")" = 1
	lab_check "dig: $kind serves c1" serves_only "$addr" "$c1_owner" "$c1_target"
	lab_check "dig: $kind serves c2" serves_only "$addr" "$c2_owner" "$c2_target"
	lab_check "dig: $kind still serves b, once" serves_only "$addr" "$cb_owner" "$cb_target"
	lab_check "dig: $kind still serves only the foreign value at cx" \
		serves_only "$addr" "$cx_owner" "$FOREIGN2"
}

suite bind "$BIND" bind.test
suite knot "$KNOT" knot.test

# BIND says in its log why it applied nothing: the prerequisite was sent.
lab_check "bind logged the failed prerequisite (YXRRSET)" \
	grep -q "'rrset does not exist' prerequisite not satisfied (YXRRSET)" "$(lab_log bind)"

# --- a fake primary: what goes over the wire, and the paths real servers rarely take
# fake_primary.py (below) answers UPDATEs as its mode file says and queries
# from the CNAMEs it holds (AA; NXDOMAIN for others). It logs every UPDATE
# as "update adds=N guarded=M deletes=D prereqs=P rcode=R": guarded counts
# the adds that carry the prerequisite RFC 2136 2.4.3 asks for (class NONE,
# type CNAME, TTL 0, RDLENGTH 0 at the same owner). Modes: apply (NOERROR,
# applied), yx-absent (always YXRRSET, nothing held: a server whose
# prerequisite check and answers disagree), yx-once (YXRRSET to the first
# UPDATE after the mode was set, as if a foreign CNAME went away right
# after; then apply).
FAKE=$LAB_NET.3
cat >"$LAB/fake_primary.py" <<'PYEOF'
import socket, struct, sys

listen, mode_file, ready = sys.argv[1], sys.argv[2], sys.argv[3]
held = {}  # owner (lower case, no dot) -> target as sent
state = {"mode": None, "yx_done": False}

def name(m, off):
    labels, end = [], None
    while True:
        c = m[off]
        if c & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((c & 0x3F) << 8) | m[off + 1]
            continue
        off += 1
        if c == 0:
            break
        labels.append(m[off:off + c].decode("ascii", "replace"))
        off += c
    return ".".join(labels).lower(), (off if end is None else end)

def rr(m, off):
    owner, off = name(m, off)
    rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", m[off:off + 10])
    off += 10
    target = name(m, off)[0] if rtype == 5 and rdlen else None
    return (owner, rtype, rclass, ttl, rdlen, target), off + rdlen

def wire(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".") if l) + b"\0"

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
host, port = listen.rsplit("@", 1)
sock.bind((host, int(port)))
open(ready, "w").close()
while True:
    m, peer = sock.recvfrom(65535)
    mode = open(mode_file).read().strip()
    if mode != state["mode"]:
        state["mode"], state["yx_done"] = mode, False
    qid, flags, qd, an, ns, ar = struct.unpack("!6H", m[:12])
    qname, off = name(m, 12)
    qtype = struct.unpack("!H", m[off:off + 2])[0]
    question = m[12:off + 4]
    off += 4
    if (flags >> 11) & 0xF == 5:
        pre, upd = [], []
        for _ in range(an):
            r, off = rr(m, off)
            pre.append(r)
        for _ in range(ns):
            r, off = rr(m, off)
            upd.append(r)
        adds = [r for r in upd if r[2] == 1 and r[1] == 5]
        dels = [r for r in upd if r[2] == 254]
        guarded = sum(1 for a in adds if any(p[0] == a[0] and p[1] == 5 and p[2] == 254
                                             and p[3] == 0 and p[4] == 0 for p in pre))
        rcode = 0
        if mode == "yx-absent" or (mode == "yx-once" and not state["yx_done"]):
            rcode, state["yx_done"] = 7, True
        else:
            for a in adds:
                held[a[0]] = a[5]
            for d in dels:
                if held.get(d[0], "") == d[5]:
                    del held[d[0]]
        print("update adds=%d guarded=%d deletes=%d prereqs=%d rcode=%d"
              % (len(adds), guarded, len(dels), len(pre), rcode), flush=True)
        reply = struct.pack("!6H", qid, 0x8000 | (5 << 11) | rcode, 1, 0, 0, 0) + question
    elif qname in held and qtype == 5:
        target = wire(held[qname])
        reply = (struct.pack("!6H", qid, 0x8400, 1, 1, 0, 0) + question + wire(qname)
                 + struct.pack("!HHIH", 5, 1, 300, len(target)) + target)
    else:
        reply = struct.pack("!6H", qid, 0x8403, 1, 0, 0, 0) + question
    sock.sendto(reply, peer)
PYEOF
echo apply >"$LAB/fake.mode"
lab_spawn fake python3 "$LAB/fake_primary.py" "$FAKE@$P" "$LAB/fake.mode" "$LAB/fake.ready"
lab_until 10 test -e "$LAB/fake.ready" || _lab_err "fake_primary.py did not start"
FCONF=$LAB/fake.yaml
printf '%s\n' "remote:" "  - id: fake" "    address: $FAKE@$P" "zone:" "  - domain: fake.test" \
	"    primary: fake" "    nameservers: [$FAKE@$P]" >"$FCONF"
FLOG=$(lab_log fake)

# The fake's UPDATE lines after the first N, as "adds guarded deletes rcode".
updates_since() { # N
	grep '^update ' "$FLOG" | tail -n +"$(($1 + 1))" |
		sed 's/^update adds=\([0-9]*\) guarded=\([0-9]*\) deletes=\([0-9]*\) prereqs=[0-9]* rcode=\([0-9]*\)$/\1 \2 \3 \4/'
}
n_updates() { grep -c '^update ' "$FLOG" || true; }
updates_are() { # N WANT -- the UPDATEs after the first N are WANT (lines, as updates_since)
	local got
	got=$(updates_since "$1")
	[[ $got == "$2" ]] && return 0
	echo "  UPDATEs: '${got//$'\n'/; }', want '${2//$'\n'/; }'"
	return 1
}

# Three records in one message: each carries its prerequisite; a delete none.
dcv_csr f1 f1.fake.test
dcv_csr f2 f2.fake.test
dcv_csr f3 f3.fake.test
expect f1 fake.test
before=$(n_updates)
dcv_run fpub publish -c "$FCONF" "$LAB/csr/f1.csr" "$LAB/csr/f2.csr" "$LAB/csr/f3.csr"
lab_check "fake: publish of three CSRs exits 0" dcv_rc 0
lab_check "... one UPDATE, each of its three adds with the prerequisite" \
	updates_are "$before" "3 3 0 0"
lab_check "fake: serves f1" serves_only "$FAKE" "$DCV_OWNER" "$DCV_TARGET"
before=$(n_updates)
dcv_run fwd withdraw -c "$FCONF" --timeout 10 "$LAB/csr/f1.csr"
lab_check "fake: withdraw exits 0" dcv_rc 0
lab_check "... its delete carries no prerequisite" updates_are "$before" "0 0 1 0"

# The foreign CNAME went away between the YXRRSET and the query: sent again.
dcv_csr f4 f4.fake.test
expect f4 fake.test
echo yx-once >"$LAB/fake.mode"
before=$(n_updates)
dcv_run fonce publish -c "$FCONF" "$LAB/csr/f4.csr" "$LAB/csr/f1.csr"
lab_check "fake: YXRRSET, then no CNAME at the owners: publish exits 0" dcv_rc 0
lab_check "... both records sent again, with their prerequisites" \
	updates_are "$before" $'2 2 0 7\n2 2 0 0'
lab_check "... both published" dcv_out_lines ": published " 2
lab_check "fake: serves f4" serves_only "$FAKE" "$DCV_OWNER" "$DCV_TARGET"

# YXRRSET while no CNAME is served, again and again: no loop until the deadline.
dcv_csr f5 f5.fake.test
expect f5 fake.test
echo yx-absent >"$LAB/fake.mode"
before=$(n_updates)
dcv_run fabsent publish -c "$FCONF" --timeout 20 "$LAB/csr/f5.csr"
lab_check "fake: YXRRSET but never a CNAME: publish exits 1" dcv_rc 1
lab_check "... at once, not at the deadline (within 5 s: $DCV_MS ms)" dcv_within 5000
lab_check "... saying so" dcv_err_has "^dcv: $LAB/csr/f5\.csr: zone fake.test: primary fake " \
	"$DCV_OWNER\.: prerequisite failed but no CNAME is served .*; not overwritten$"
lab_check "... after sending it twice" updates_are "$before" $'1 1 0 7\n1 1 0 7'

# --- dcvd: a burst where one owner is foreign -------------------------------------
spool=$LAB/spool
mkdir -p "$spool"
chmod 0640 "$LAB/keys/dcv.key"
{
	echo "spool: $spool"
	echo "withdraw_after: 0"
	echo "visible_timeout: 30s"
	sed -n '/^key:/,$p' "$CONF"
} >"$LAB/dcvd.yaml"
dcvd_start dcvd "$LAB/dcvd.yaml" "$spool"
declare -a burst=()
for kind in bind knot; do
	[[ $kind == bind ]] && addr=$BIND || addr=$KNOT
	dcv_csr "$kind-d1" "d1.$kind.test"
	dcv_csr "$kind-dx" "dx.$kind.test"
	expect "$kind-dx" "$kind.test"
	foreign "$addr" "$DCV_OWNER" "$FOREIGN" || lab_fail "$kind: nsupdate could not add the foreign CNAME"
	cp "$LAB/csr/$kind-b.csr" "$LAB/csr/$kind-d0.csr" # published by dcv above: ours already
	burst+=("$LAB/csr/$kind-d0.csr" "$LAB/csr/$kind-d1.csr" "$LAB/csr/$kind-dx.csr")
done
dcvd_stage "$spool" "${burst[@]}"
dcvd_release "$spool"
for kind in bind knot; do
	[[ $kind == bind ]] && addr=$BIND || addr=$KNOT
	lab_check "dcvd, $kind: the foreign owner's job fails" \
		lab_until 20 test -e "$spool/failed/$kind-dx.status"
	err=$(dcvd_field "$spool/failed/$kind-dx.status" error 2>/dev/null || true)
	expect "$kind-dx" "$kind.test"
	case $err in
	*"$DCV_OWNER. already has CNAME $FOREIGN.; not overwritten"*) lab_ok "... its status says: $err" ;;
	*) lab_fail "... its status says '$err', want '$DCV_OWNER. already has CNAME $FOREIGN.; not overwritten'" ;;
	esac
	for d in d0 d1; do
		lab_check "dcvd, $kind: $d is visible" lab_until 20 test -e "$spool/done/$kind-$d.status"
		expect "$kind-$d" "$kind.test"
		lab_check "dig: $kind serves $d, once" serves_only "$addr" "$DCV_OWNER" "$DCV_TARGET"
	done
	expect "$kind-dx" "$kind.test"
	# The failed job's cleanup deletes its own exact record, which never got in.
	lab_check "dcvd, $kind: the cleanup of dx is over" lab_until 10 grep -q \
		"job $kind-dx~[^:]*: records deleted and gone from every authoritative address" \
		"$(lab_log dcvd)"
	lab_check "dig: $kind still serves only the foreign value at dx" \
		serves_only "$addr" "$DCV_OWNER" "$FOREIGN"
done
lab_check "dcvd: nothing else failed" test "$(find "$spool/failed" -name '*.status' | wc -l)" = 2
lab_check "dcvd: 4 jobs done" dcvd_states_are visible 4 "$spool/done"

lab_finish
