#!/usr/bin/env bash
# demo.sh -- the main job, end to end, on a fresh Debian 12 machine as root:
# build dcv, make a sample CSR with openssl and show what the CA will check.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/deps.sh
if [ ! -x build/dcv ]; then
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j"$(nproc)" >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" \
	-subj "/CN=www.example.com" \
	-addext "subjectAltName=DNS:www.example.com,DNS:example.com,DNS:*.example.com" \
	-out "$tmp/example.csr" 2>/dev/null
echo "== dcv records example.csr"
build/dcv records "$tmp/example.csr"
echo "== dcv show example.csr"
build/dcv show "$tmp/example.csr"
