#!/usr/bin/env bash
# run.sh WORK_DIR [--ref REF] [--no-baseline] [--jobs N] [MUTATION...] -- the
# mutation check: do the tests fail when the code is broken on purpose?
#
# Each tests/mutations/NAME.patch is one deliberate bug: a small unified diff
# of one daemon/ file, after comment lines saying what it breaks and
#
#   # tests: CTEST_NAME...
#
# the ctest tests that must catch it. This script copies the source tree to
# WORK_DIR/src (never touching the working tree: the files git knows, as they
# are in the working tree, or the commit REF with --ref), builds it in
# WORK_DIR/build, runs every listed test once unmutated (they must pass:
# otherwise a failure would prove nothing), then for each mutation in turn:
# applies it to the copy, rebuilds (only what changed), runs its tests,
# takes it out again. A mutation is caught when every one of its tests
# fails. The table at the end says, per mutation, which tests caught it;
# the exit status is 1 when any mutation survived (some listed test still
# passed), did not apply or did not build, or the baseline failed.
#
# Builds and logs stay in WORK_DIR (WORK_DIR/logs/NAME.*), so a second run
# rebuilds little. The integration tests use their lab's loopback addresses
# and test accounts (tests/integration/lib.sh): do not run the same tests in
# another build folder at the same time. Runs as root, like the tests.
# MUTATION limits the run to those names; --jobs N runs N tests at a time
# (default 1; the build uses nproc).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
usage="usage: run.sh WORK_DIR [--ref REF] [--no-baseline] [--jobs N] [MUTATION...]"
work=${1:?$usage}
shift
ref='' baseline=1 jobs=1
declare -a only=()
while (($#)); do
	case $1 in
	--ref) ref=${2:?$usage} && shift ;;
	--no-baseline) baseline=0 ;;
	--jobs) jobs=${2:?$usage} && shift ;;
	-*) echo "$usage" >&2 && exit 2 ;;
	*) only+=("$1") ;;
	esac
	shift
done
mkdir -p "$work"
work=$(cd "$work" && pwd)
case $work/ in
"$top"/daemon/* | "$top"/include/* | "$top"/tests/*)
	echo "run.sh: WORK_DIR $work is inside the source tree's own folders" >&2
	exit 2
	;;
esac
src=$work/src build=$work/build logs=$work/logs
mkdir -p "$logs"

# The mutations: NAME.patch files, or the NAMEs asked for.
declare -a muts=()
if ((${#only[@]})); then
	for m in "${only[@]}"; do
		[[ -f $here/$m.patch ]] || { echo "run.sh: no mutation $here/$m.patch" >&2 && exit 2; }
		muts+=("$m")
	done
else
	for f in "$here"/*.patch; do
		m=${f##*/}
		muts+=("${m%.patch}")
	done
fi

# tests_of NAME -- the tests a mutation lists, one per line.
tests_of() {
	sed -n 's/^# tests: *//p' "$here/$1.patch" | tr ' ' '\n' | grep .
}
# file_of NAME -- the file the mutation changes.
file_of() {
	sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' "$here/$1.patch" | head -n 1
}

# --- the copy and its build ------------------------------------------------------
echo "run.sh: copying $top${ref:+ at $ref} to $src"
rm -rf "$src"
mkdir -p "$src"
if [[ -n $ref ]]; then
	git -C "$top" archive "$ref" | tar -x -C "$src"
else
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
		tar --null -T - -cf -) | tar -x -C "$src"
fi
build() { # LOG
	cmake --build "$build" -j"$(nproc)" >>"$1" 2>&1
}
echo "run.sh: building in $build (log $logs/build.log)"
: >"$logs/build.log"
if ! cmake -S "$src" -B "$build" -DDCV_TESTS=ON -DDCV_WERROR=OFF -DDCV_SANITIZE=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >>"$logs/build.log" 2>&1 || ! build "$logs/build.log"; then
	tail -n 30 "$logs/build.log" >&2
	echo "run.sh: the unmutated copy does not build" >&2
	exit 1
fi

# run_tests TAG TEST... -- the tests in the build, once each; sets FAILED to
# the space-separated names of those that did not pass (a skip is not a pass).
run_tests() {
	local tag=$1 re
	shift
	printf -v re '%s|' "$@"
	re="^(${re%|})\$"
	rm -f "$logs/$tag.xml"
	(cd "$build" && ctest -R "$re" -j"$jobs" --output-junit "$logs/$tag.xml") \
		>"$logs/$tag.log" 2>&1 || true
	FAILED=$(python3 - "$logs/$tag.xml" "$@" <<-'EOF'
		import sys, xml.etree.ElementTree as ET
		want = sys.argv[2:]
		status = {c.get("name"): (c.get("status"), c.find("failure") is not None)
		          for c in ET.parse(sys.argv[1]).getroot().iter("testcase")}
		print(" ".join(t for t in want if status.get(t, ("missing", True)) != ("run", False)))
	EOF
	) || FAILED="$*"
}

# --- the baseline -----------------------------------------------------------------
declare -a all=()
mapfile -t all < <(for m in "${muts[@]}"; do tests_of "$m"; done | sort -u)
if ((baseline)); then
	echo "run.sh: baseline: ${all[*]}"
	run_tests baseline "${all[@]}"
	if [[ -n $FAILED ]]; then
		echo "run.sh: these tests fail without any mutation: $FAILED ($logs/baseline.log)" >&2
		exit 1
	fi
fi

# --- each mutation ------------------------------------------------------------------
declare -a rows=()
bad=0
for m in "${muts[@]}"; do
	file=$(file_of "$m")
	mapfile -t ts < <(tests_of "$m")
	started=$SECONDS
	if ((${#ts[@]} == 0)) || [[ -z $file ]]; then
		rows+=("$m|${file:-?}|-|NO TESTS OR FILE LISTED|0")
		bad=1
		continue
	fi
	echo "run.sh: $m ($file): ${ts[*]}"
	if ! patch -d "$src" -p1 -s -f --dry-run <"$here/$m.patch" >"$logs/$m.patch.log" 2>&1; then
		rows+=("$m|$file|${ts[*]}|DOES NOT APPLY|0")
		bad=1
		continue
	fi
	patch -d "$src" -p1 -s -f <"$here/$m.patch"
	: >"$logs/$m.build.log"
	if build "$logs/$m.build.log"; then
		run_tests "$m" "${ts[@]}"
		caught=() missed=()
		for t in "${ts[@]}"; do
			if [[ " $FAILED " == *" $t "* ]]; then caught+=("$t"); else missed+=("$t"); fi
		done
		if ((${#missed[@]} == 0)); then
			verdict="caught by ${caught[*]}"
		else
			verdict="SURVIVED ${missed[*]}${caught[*]:+ (caught by ${caught[*]})}"
			bad=1
		fi
	else
		verdict="DOES NOT BUILD ($logs/$m.build.log)"
		bad=1
	fi
	patch -d "$src" -p1 -s -f -R <"$here/$m.patch"
	rows+=("$m|$file|${ts[*]}|$verdict|$((SECONDS - started))")
done
# Leave the build unmutated.
build "$logs/build.log" || bad=1

# --- the table ---------------------------------------------------------------------
echo
printf '%s\n' "mutation|file|tests that must fail|result|s" "${rows[@]}" | column -t -s '|'
if ((bad)); then
	echo "run.sh: not every mutation was caught (logs in $logs)"
	exit 1
fi
echo "run.sh: every mutation was caught"
