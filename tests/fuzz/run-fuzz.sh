#!/usr/bin/env bash
# run-fuzz.sh FUZZ_BUILD_DIR TARGET [SECONDS] [WORKDIR] -- runs one fuzz
# target (csr, config, sidecar, keyfile, jobrec, reply; with or without
# the fuzz_ prefix) for SECONDS (default 600) on one core.
#
# New inputs go to WORKDIR/fuzz_TARGET/corpus (the committed seeds in
# tests/fuzz/corpus/ are read, never written), crashes, leaks and timeouts
# to WORKDIR/fuzz_TARGET/artifacts/, the log to WORKDIR/fuzz_TARGET.log,
# whose last lines are libFuzzer's final statistics (executions, exec/s).
# WORKDIR defaults to /tmp/dcv-fuzz. Exit status: libFuzzer's (0 = nothing
# found). Extra libFuzzer options may follow in FUZZ_ARGS.
set -euo pipefail

build=${1:?usage: run-fuzz.sh FUZZ_BUILD_DIR TARGET [SECONDS] [WORKDIR]}
target=fuzz_${2#fuzz_}
seconds=${3:-600}
work=${4:-/tmp/dcv-fuzz}
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/fuzz/$target
[ -x "$bin" ] || { echo "no $bin: build with -DDCV_FUZZ=ON first" >&2; exit 1; }

# Longer inputs than these only slow the search down: CSRs with a 4096-bit
# key and whole configurations need the most room.
case $target in
fuzz_csr | fuzz_config) max_len=8192 ;;
*) max_len=4096 ;;
esac

mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
# shellcheck disable=SC2086 # FUZZ_ARGS is a list of options
"$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$work/$target/artifacts/" ${FUZZ_ARGS:-} \
	"$work/$target/corpus" "$here/corpus/$target" </dev/null >"$work/$target.log" 2>&1
