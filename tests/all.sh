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
#
# A suite that runs nothing fails: the tests are configured on explicitly
# (-DDCV_TESTS=ON, whatever an old build folder's cache says) and ctest
# runs with --no-tests=error. A skipped test fails the run too: a test that
# cannot run here exits 77 and ctest reports it as skipped (not as passed);
# after each suite check_skips reads ctest's JUnit report and fails on every
# skip that tests/skips-allowed does not list with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/deps.sh
jobs=$(nproc)
started=$SECONDS

# check_skips JUNIT -- fail unless every test ctest skipped (and every
# cmocka test inside it: its "[  SKIPPED ] NAME" lines) is allowed by a line
# "CTEST_NAME CASE reason" of tests/skips-allowed (CASE * allows any).
check_skips() {
	python3 - "$1" tests/skips-allowed <<-'EOF'
		import re, sys, xml.etree.ElementTree as ET
		allowed = set()
		for line in open(sys.argv[2]):
		    words = line.split("#", 1)[0].split()
		    if len(words) >= 3:
		        allowed.add((words[0], words[1]))
		bad = []
		for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
		    if case.get("status") == "run":
		        continue
		    name, out = case.get("name"), case.findtext("system-out") or ""
		    subs = sorted(set(re.findall(r"^\[  SKIPPED \] (\S+)$", out, re.M))) or ["-"]
		    whys = re.findall(r"^SKIP .*$", out, re.M)
		    for sub in subs:
		        if (name, sub) not in allowed and (name, "*") not in allowed:
		            bad.append("%s %s%s" % (name, sub, (": " + "; ".join(whys)) if whys else ""))
		for b in bad:
		    print("all.sh: skipped, and not in tests/skips-allowed:", b)
		sys.exit(1 if bad else 0)
	EOF
}

# run_suite BUILD -- every test of BUILD, then its skips checked.
run_suite() {
	rm -f "$PWD/$1/ctest-junit.xml"
	(cd "$1" && ctest --output-on-failure --no-tests=error -j"$jobs" --output-junit "$PWD/ctest-junit.xml")
	check_skips "$1/ctest-junit.xml"
}

cmake -S . -B build -DDCV_WERROR=ON -DDCV_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
run_suite build
plain=$((SECONDS - started))

cmake -S . -B build-asan -DDCV_WERROR=ON -DDCV_TESTS=ON -DDCV_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-asan -j"$jobs"
(
	export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	run_suite build-asan
)
sanitized=$((SECONDS - started - plain))

cmake --install build
echo "all.sh: build, tests, sanitized build and tests, install done" \
	"(plain ${plain} s, sanitized ${sanitized} s)"
