#!/usr/bin/env bash
# all.sh -- on a fresh Debian 12 machine as root: install what is missing,
# build with -Werror, run every test through ctest, then build a second tree
# with AddressSanitizer and UBSan (build-asan) and run every test there too,
# then install dcv and dcvd (from the plain tree).
#
# The sanitized suite is the same ctest suite: the integration tests start
# dcv and dcvd from the build folder they are given, so there they run the
# sanitized programs. Any report halts the program (a non-zero exit fails
# the test); a report in the log of a daemon the lab ran fails the test at
# the lab's exit (tests/integration/lib.sh). The two suites run one after
# the other: their integration tests use the same loopback addresses.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/deps.sh
jobs=$(nproc)
started=$SECONDS

cmake -S . -B build -DDCV_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
plain=$((SECONDS - started))

cmake -S . -B build-asan -DDCV_WERROR=ON -DDCV_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-asan -j"$jobs"
(
	cd build-asan
	export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	ctest --output-on-failure -j"$jobs"
)
sanitized=$((SECONDS - started - plain))

cmake --install build
echo "all.sh: build, tests, sanitized build and tests, install done" \
	"(plain ${plain} s, sanitized ${sanitized} s)"
