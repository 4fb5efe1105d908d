#!/usr/bin/env bash
# demo.sh -- the main job, end to end, on a fresh Debian 12 machine as root:
# build dcv and dcvd, start a throwaway BIND primary on loopback with a fresh
# TSIG key, run dcvd against it, submit a generated CSR with `dcv submit
# --wait` (which prints the job's NAME, then its status once the record is
# served), and show the CNAME the primary serves. Everything started here is
# stopped again on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tests/deps.sh
if [ ! -x build/dcvd ] || [ ! -x build/dcv ]; then
	echo "== building"
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j"$(nproc)" >/dev/null
fi

# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh
lab_init demo 250
ns=$LAB_NET.1

echo "== a throwaway BIND primary for example.test on $ns port $LAB_PORT, with a fresh TSIG key"
lab_key dcv hmac-sha256
lab_zone_file example.test "ns1=$ns"
lab_bind_primary "$ns" "$LAB_PORT" dcv example.test >/dev/null

spool=$LAB/spool
mkdir -p "$spool"
cat >"$LAB/dcvd.yaml" <<EOF
spool: $spool
withdraw_after: 0
key:
  - id: dcv
    file: $LAB/keys/dcv.key
remote:
  - id: bind
    address: $ns@$LAB_PORT
    key: dcv
zone:
  - domain: example.test
    primary: bind
    nameservers: [$ns@$LAB_PORT]
EOF
chmod 0640 "$LAB/keys/dcv.key"
echo "== dcvd --check"
build/dcvd -c "$LAB/dcvd.yaml" --check
lab_spawn dcvd "$root/build/dcvd" -c "$LAB/dcvd.yaml"
lab_until 10 test -d "$spool/incoming"

echo "== a CSR for www.example.test, example.test and *.example.test"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$LAB/key.pem" \
	-subj "/CN=www.example.test" \
	-addext "subjectAltName=DNS:www.example.test,DNS:example.test,DNS:*.example.test" \
	-out "$LAB/www.example.test.csr" 2>/dev/null
build/dcv records "$LAB/www.example.test.csr"

echo "== dcv submit --wait: the job's NAME, then its status once every server serves the record"
rc=0
build/dcv submit -c "$LAB/dcvd.yaml" --wait --timeout 20 "$LAB/www.example.test.csr" || rc=$?
if [ "$rc" != 0 ]; then
	echo "demo: dcv submit --wait exited $rc; dcvd said:" >&2
	tail -n 20 "$(lab_log dcvd)" >&2
	exit 1
fi
owner=$(build/dcv records "$LAB/www.example.test.csr" | awk 'NR == 2 { print $1 }')
echo "== what the primary serves: dig @$ns -p $LAB_PORT $owner CNAME"
dig +norec +noall +answer @"$ns" -p "$LAB_PORT" "$owner" CNAME
echo "== dcvd's log"
cat "$(lab_log dcvd)"
