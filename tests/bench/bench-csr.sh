#!/usr/bin/env bash
# bench-csr.sh [BUILD] -- CSRs parsed, verified, hashed and turned into
# records per second: one `dcv records` process over 10,000 files, against
# the shell pipeline people use today (two openssl pipelines per file),
# measured on a few hundred files and scaled. Prints figures and ratios;
# never fails on a slow machine.
set -euo pipefail
build=${1:-build}
dcv=$build/dcv gen=$build/tests/gen_csrs
n=${DCV_BENCH_N:-10000} n_shell=${DCV_BENCH_SHELL_N:-300}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

now() { date +%s.%N; }

# One `dcv records` over n files of a key mix, pinned to one core: prints "seconds lines".
run_dcv() { # MIX
	rm -rf "$tmp/csr" && mkdir "$tmp/csr"
	"$gen" "$tmp/csr" "$n" bench.example.test 1 r "$1"
	cat "$tmp"/csr/*.csr >/dev/null # warm the page cache
	local t0 t1
	t0=$(now)
	taskset -c 0 "$dcv" records "$tmp"/csr/*.csr >"$tmp/out" 2>/dev/null
	t1=$(now)
	echo "$t0 $t1 $(wc -l <"$tmp/out")"
}
read -r a0 a1 alines < <(run_dcv rsa,ec)
read -r b0 b1 blines < <(run_dcv rsa,ec,ed)

# The shell way, on the last set of files.
files=("$tmp"/csr/*.csr)
t2=$(now)
for f in "${files[@]:0:$n_shell}"; do
	openssl req -in "$f" -outform DER | openssl md5 >/dev/null
	openssl req -in "$f" -outform DER | openssl sha256 >/dev/null
done
t3=$(now)

python3 - "$n" "$a0" "$a1" "$alines" "$b0" "$b1" "$blines" "$n_shell" "$t2" "$t3" <<'PY'
import sys
n, a0, a1, al, b0, b1, bl, ns, t2, t3 = (float(x) for x in sys.argv[1:])
a = n / (a1 - a0)
b = n / (b1 - b0)
shell = ns / (t3 - t2)
print("CSR throughput: parse + verify signature + hash + records (dcv pinned to one core)")
print(f"  dcv records, RSA-2048 + P-256 keys          {int(n):6d} CSRs in {a1 - a0:6.3f} s = {a:7.0f} CSRs/s ({int(al)} records)")
print(f"  dcv records, RSA + P-256 + Ed25519 thirds   {int(n):6d} CSRs in {b1 - b0:6.3f} s = {b:7.0f} CSRs/s ({int(bl)} records)")
print(f"  openssl req | openssl md5/sha256 per file   {int(ns):6d} CSRs in {t3 - t2:6.3f} s = {shell:7.0f} CSRs/s (scaled to {int(n)}: {n / shell:.0f} s)")
print(f"  ratio dcv / shell pipeline: {a / shell:.0f}x (RSA + P-256), {b / shell:.0f}x (with Ed25519)")
print(f"  goal >= 10,000 CSRs/s on one core: {'met' if a >= 10000 else 'NOT met'}")
PY
