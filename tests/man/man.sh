#!/usr/bin/env bash
# man.sh BUILD_DIR -- the manual pages in man/:
#   - each is clean under `mandoc -Tlint -Wwarning` (no warning, no error);
#   - `cmake --install BUILD_DIR --component man` into a DESTDIR puts each
#     man/NAME.N at PREFIX/MANDIR/manN/NAME.N, where `man -M` finds it,
#     and man(1) renders it with its NAME section.
# MANDIR is the build's CMAKE_INSTALL_MANDIR (GNUInstallDirs' share/man
# unless the cache says otherwise).
set -euo pipefail
build=${1:?build folder}
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

command -v mandoc >/dev/null || { echo "man: mandoc is not installed (tests/deps.sh)"; exit 1; }
command -v man >/dev/null || { echo "man: man (man-db) is not installed (tests/deps.sh)"; exit 1; }

pages=()
for p in "$src"/man/*.[1-9]; do
	[ -f "$p" ] && pages+=("$p")
done
[ "${#pages[@]}" -gt 0 ] || { echo "FAIL: no page in $src/man"; exit 1; }

for p in "${pages[@]}"; do
	if ! out=$(mandoc -Tlint -Wwarning "$p" 2>&1) || [ -n "$out" ]; then
		fail "${p#"$src"/}: mandoc -Tlint -Wwarning:"$'\n'"$out"
	fi
done

DESTDIR=$tmp/root cmake --install "$build" --component man >/dev/null
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$build/CMakeCache.txt")
mandir=$(sed -n 's/^CMAKE_INSTALL_MANDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
mandir=${mandir:-share/man}
case $mandir in /*) ;; *) mandir=$prefix/$mandir ;; esac
root=$tmp/root$mandir
[ -d "$root" ] || { echo "FAIL: nothing installed in $mandir (looked in $root)"; exit 1; }

for p in "${pages[@]}"; do
	file=${p##*/} sect=${p##*.} name=${file%.*}
	want=$root/man$sect/$file
	if ! cmp -s "$p" "$want"; then
		fail "$file is not installed as $mandir/man$sect/$file"
		continue
	fi
	# man-db's man: -M restricts the search to the installed tree alone.
	got=$(man -M "$root" -w "$sect" "$name" 2>&1) || true
	[ "$got" = "$want" ] || fail "man -M $mandir -w $sect $name: '$got', not $want"
	text=$(MANWIDTH=80 man -M "$root" "$sect" "$name" 2>/dev/null) || true
	if ! grep -q "^NAME" <<<"$text" || ! grep -qF "$name" <<<"$text"; then
		fail "man -M $mandir $sect $name does not render the page"
	fi
done
extra=$(find "$root" -type f | wc -l)
[ "$extra" -eq "${#pages[@]}" ] || fail "$extra files installed under $mandir for ${#pages[@]} pages"

[ "$fails" -eq 0 ] || { echo "man: $fails failure(s)"; exit 1; }
echo "man: ${#pages[@]} pages lint clean, installed in $mandir and found by man -M"
