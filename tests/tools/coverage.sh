#!/usr/bin/env bash
# coverage.sh prepare|reset|report BUILD SOURCE -- the counters of a coverage
# build (cmake -DDCV_COVERAGE=ON; the targets in tests/CMakeLists.txt).
#
#   prepare  every object's .gcda exists and every user may write it (mode
#            0666; a new one is empty, which libgcov takes as "no counts
#            yet"; one older than its .gcno belongs to an earlier build and
#            is emptied). ctest runs this first (test coverage-files, a
#            fixture of every test), so that dcvd run as another user
#            (tests/integration/lib_users.sh, setpriv in test_spool) adds
#            its counts to the same files instead of failing to write them.
#   reset    every .gcda emptied: the next runs count from zero.
#   report   gcovr over SOURCE/daemon: line and branch coverage per file and
#            per folder, the totals, and the goals of issue 11.
set -euo pipefail
what=${1:?coverage.sh prepare|reset|report BUILD SOURCE}
build=$(cd "${2:?BUILD}" && pwd)
src=$(cd "${3:?SOURCE}" && pwd)

# Every .gcno of the build whose source still exists, with its .gcda beside
# it. An object of a source file that was removed stays in the build folder
# (CMake leaves it): its .gcno and .gcda are removed here, or gcov would
# look for the source.
gcnos() {
	local gcno rel
	while IFS= read -r -d '' gcno; do
		# BUILD/DIR/CMakeFiles/TARGET.dir/PATH.c.gcno is SOURCE/DIR/PATH.c
		rel=$(sed -E 's#(^|/)CMakeFiles/[^/]+\.dir/#\1#; s#(^|/)__/#\1../#g; s#\.gcno$##' \
			<<<"${gcno#"$build"/}")
		if [[ -e $src/$rel ]]; then
			printf '%s\0' "$gcno"
		else
			rm -f "$gcno" "${gcno%.gcno}.gcda"
		fi
	done < <(find "$build" -name '*.gcno' -print0)
}

case $what in
prepare)
	gcnos | while IFS= read -r -d '' gcno; do
		gcda=${gcno%.gcno}.gcda
		[[ -e $gcda && ! $gcda -ot $gcno ]] || : >"$gcda"
		chmod 0666 "$gcda"
	done
	;;
reset)
	gcnos | while IFS= read -r -d '' gcno; do
		gcda=${gcno%.gcno}.gcda
		: >"$gcda"
		chmod 0666 "$gcda"
	done
	echo "coverage: counters of $build emptied"
	;;
report)
	command -v gcovr >/dev/null || { echo "coverage: gcovr is not installed (tests/deps.sh)" >&2 && exit 1; }
	gcnos >/dev/null
	# An empty .gcda (prepare made it, nothing ran) is no data file for gcov.
	find "$build" -name '*.gcda' -size 0 -delete
	json=$build/coverage.json
	gcovr --root "$src" --filter "$src/daemon/" --json-summary "$json" -j "$(nproc)" "$build" >/dev/null
	python3 - "$json" <<-'EOF'
		import collections, json, os, sys
		files = json.load(open(sys.argv[1]))["files"]
		def pct(c, t):
		    return "%5.1f%%" % (100.0 * c / t) if t else "    -"
		def row(name, lc, lt, bc, bt):
		    print("%-34s %8d %8d %s %8d %8d %s" % (name, lc, lt, pct(lc, lt), bc, bt, pct(bc, bt)))
		head = "%-34s %8s %8s %6s %8s %8s %6s" % ("file", "lines", "of", "", "branches", "of", "")
		print(head)
		print("-" * len(head))
		folders = collections.defaultdict(lambda: [0, 0, 0, 0])
		total = [0, 0, 0, 0]
		low = []
		for f in sorted(files, key=lambda f: f["filename"]):
		    v = [f["line_covered"], f["line_total"], f["branch_covered"], f["branch_total"]]
		    row(f["filename"], *v)
		    folder = os.path.dirname(f["filename"]) + "/"
		    for i in range(4):
		        folders[folder][i] += v[i]
		        total[i] += v[i]
		    if v[3] and 100.0 * v[2] / v[3] < 75:
		        low.append((100.0 * v[2] / v[3], f["filename"]))
		print("-" * len(head))
		for folder in sorted(folders):
		    row(folder, *folders[folder])
		row("total", *total)
		lines = 100.0 * total[0] / total[1] if total[1] else 0
		branches = 100.0 * total[2] / total[3] if total[3] else 0
		print()
		print("goals (issue 11): lines >= 92%%: %s (%.1f%%); branches >= 85%%: %s (%.1f%%); "
		      "no file under 75%% of its branches: %s" % (
		          "met" if lines >= 92 else "not met", lines,
		          "met" if branches >= 85 else "not met", branches,
		          "met" if not low else "not met (%d files, lowest %s)" % (len(low), ", ".join(
		              "%s %.1f%%" % (n, p) for p, n in sorted(low)[:5]))))
	EOF
	echo "coverage: $json; for an HTML report per line:" \
		"gcovr --root $src --filter $src/daemon/ --html-details OUT.html $build"
	;;
*)
	echo "coverage.sh: prepare, reset or report, not '$what'" >&2
	exit 2
	;;
esac
