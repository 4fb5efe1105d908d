#!/usr/bin/env bash
# tsig_bind.sh BUILD_DIR -- dcvd's TSIG against the real oracle, BIND's named:
# for keys of all six algorithms made by tsig-keygen, named must accept our
# signed queries and we must accept its signed replies; a wrong secret must
# come back as BADSIG, an unknown key name as BADKEY, and a clock 1000 s
# behind as BADTIME with the skew reported.
set -uo pipefail
build=${1:?build folder}
tool=$build/tests/tsig_query
port=5361 zone=example.test
# named (unlike knotd and unbound) listens only on addresses configured on an
# interface: 127.0.0.61 is used when it is on lo, 127.0.0.1 otherwise.
addr=127.0.0.61
if ! ip -o -4 addr show 2>/dev/null | grep -q " $addr/"; then
	addr=127.0.0.1
fi
echo "tsig_bind: named on $addr@$port"
algs="hmac-md5 hmac-sha1 hmac-sha224 hmac-sha256 hmac-sha384 hmac-sha512"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

[ -x "$tool" ] || { echo "FAIL: $tool is missing (build the tsig_query target)"; exit 1; }
tmp=$(mktemp -d)
named_pid=
cleanup() {
	if [ -n "$named_pid" ]; then
		kill "$named_pid" 2>/dev/null
		wait "$named_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Keys: one per algorithm, plus a second sha256 key under the same name (another secret).
for alg in $algs; do
	tsig-keygen -a "$alg" "k-$alg.$zone" >"$tmp/$alg.key" || { echo "FAIL: tsig-keygen -a $alg"; exit 1; }
done
tsig-keygen -a hmac-sha256 "k-hmac-sha256.$zone" >"$tmp/wrong-secret.key" || exit 1
cmp -s "$tmp/hmac-sha256.key" "$tmp/wrong-secret.key" && { echo "FAIL: tsig-keygen repeated a secret"; exit 1; }

cat >"$tmp/$zone.zone" <<EOF
\$TTL 300
@	SOA	ns.$zone. hostmaster.$zone. 1 3600 600 86400 300
@	NS	ns
ns	A	$addr
EOF
{
	cat <<EOF
options {
	directory "$tmp";
	listen-on port $port { $addr; };
	listen-on-v6 { none; };
	recursion no;
	pid-file none;
	session-keyfile "$tmp/session.key";
	dnssec-validation no;
};
controls { };
zone "$zone" { type primary; file "$zone.zone"; };
EOF
	for alg in $algs; do echo "include \"$tmp/$alg.key\";"; done
} >"$tmp/named.conf"

named -c "$tmp/named.conf" -g -u root >"$tmp/named.log" 2>&1 &
named_pid=$!

# Wait until named answers for the zone (poll with a deadline).
deadline=$((SECONDS + 30))
until dig +norec +time=1 +tries=1 -p "$port" @"$addr" "$zone" SOA 2>/dev/null | grep -q 'status: NOERROR'; do
	if ! kill -0 "$named_pid" 2>/dev/null; then
		echo "FAIL: named exited:"; cat "$tmp/named.log"; named_pid=; exit 1
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "FAIL: named does not answer on $addr@$port after 30 s:"; tail -20 "$tmp/named.log"; exit 1
	fi
	sleep 0.1
done

# run NAME EXPECTED_EXIT ARGS... -- runs the tool, keeps its output in $out.
run() {
	local what=$1 want=$2 got
	shift 2
	out=$("$tool" "$addr@$port" "$zone" "$@" 2>&1)
	got=$?
	echo "$out" >>"$tmp/all.out"
	echo "$what: $(echo "$out" | head -1)"
	[ "$got" = "$want" ] || fail "$what: exit $got, want $want: $out"
}
field() { echo "$out" | head -1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# The oracle itself: dig with the same key file signs, named verifies, dig verifies.
dig +norec -p "$port" @"$addr" -k "$tmp/hmac-sha512.key" "$zone" SOA >"$tmp/dig.out" 2>&1
if ! grep -q 'status: NOERROR' "$tmp/dig.out" || ! grep -q 'TSIG.*NOERROR' "$tmp/dig.out"; then
	fail "dig -k with hmac-sha512 fails, the setup is wrong: $(cat "$tmp/dig.out")"
fi

# Every algorithm, both ways: named accepts our query (NOERROR with the SOA)
# and our code accepts named's signed reply.
for alg in $algs; do
	run "$alg" 0 "$tmp/$alg.key"
	[ "$(field result)" = OK ] || fail "$alg: result $(field result): $out"
	[ "$(field rcode)" = 0 ] || fail "$alg: rcode $(field rcode) (named refused our TSIG?): $out"
	[ "$(field ancount)" = 1 ] || fail "$alg: $(field ancount) answers, want the SOA: $out"
	[ "$(field tsig_error)" = 0 ] || fail "$alg: TSIG error $(field tsig_error): $out"
done

# A wrong secret: named answers NOTAUTH with BADSIG, unsigned.
run "wrong secret" 1 "$tmp/wrong-secret.key"
[ "$(field result)" = EBADSIG ] || fail "wrong secret: result $(field result), want EBADSIG: $out"
[ "$(field rcode)" = 9 ] || fail "wrong secret: rcode $(field rcode), want 9 (NOTAUTH): $out"
[ "$(field tsig_error)" = 16 ] || fail "wrong secret: TSIG error $(field tsig_error), want 16: $out"
echo "$out" | grep -q "k-hmac-sha256.$zone" || fail "wrong secret: the message does not name the key: $out"

# An unknown key name: BADKEY.
run "unknown key" 1 "$tmp/hmac-sha256.key" --key-name "nokey.$zone"
[ "$(field result)" = EBADKEY ] || fail "unknown key: result $(field result), want EBADKEY: $out"
[ "$(field tsig_error)" = 17 ] || fail "unknown key: TSIG error $(field tsig_error), want 17: $out"
echo "$out" | grep -q "nokey.$zone" || fail "unknown key: the message does not name the key: $out"

# Our clock 1000 s behind: BADTIME, signed, with the server's clock ~1000 s ahead of ours.
for alg in hmac-sha256 hmac-md5; do
	run "clock -1000 s ($alg)" 1 "$tmp/$alg.key" --time-offset -1000
	[ "$(field result)" = EBADTIME ] || fail "clock -1000 s ($alg): result $(field result), want EBADTIME: $out"
	[ "$(field tsig_error)" = 18 ] || fail "clock -1000 s ($alg): TSIG error $(field tsig_error), want 18: $out"
	skew=$(field skew)
	if [ -z "$skew" ] || [ "$skew" -lt 995 ] || [ "$skew" -gt 1005 ]; then
		fail "clock -1000 s ($alg): skew '$skew', want about 1000: $out"
	fi
done
# Within the fudge nothing is wrong.
run "clock -200 s" 0 "$tmp/hmac-sha384.key" --time-offset -200

# Nothing secret in what the tool printed.
for f in "$tmp"/*.key; do
	secret=$(sed -n 's/.*secret "\(.*\)".*/\1/p' "$f")
	[ -n "$secret" ] || fail "$f: no secret in the key file?"
	! grep -qF -- "$secret" "$tmp/all.out" || fail "the secret of $f was printed"
done

if [ "$fails" -gt 0 ]; then
	echo "tsig_bind: $fails failure(s); named log:"
	tail -30 "$tmp/named.log"
	exit 1
fi
echo "tsig_bind: all checks passed"
