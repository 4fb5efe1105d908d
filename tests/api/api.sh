#!/usr/bin/env bash
# api.sh BUILD_DIR -- the public API of the core (include/dcv/, libdcvcore,
# dcv.pc) as another program sees it once installed:
#   - every public header compiles on its own, as C11 with -Wall -Wextra -Werror;
#   - `cmake --install` into a DESTDIR puts headers, library and dcv.pc there;
#   - tests/api/example.c builds with `pkg-config --cflags --libs --static dcv`
#     against that DESTDIR alone (no -I of the source tree) and prints the
#     same records as `dcv records` for the test CSRs.
set -euo pipefail
build=${1:?build folder}
src=$(cd "$(dirname "$0")/../.." && pwd)
data=${DCV_TEST_DATA:?DCV_TEST_DATA}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

for h in "$src"/include/dcv/*.h; do
	printf '#include <dcv/%s>\n' "$(basename "$h")" >"$tmp/one.c"
	cc -std=c11 -Wall -Wextra -Werror -I"$src/include" -c "$tmp/one.c" -o "$tmp/one.o" 2>"$tmp/err" ||
		fail "dcv/$(basename "$h") does not compile on its own: $(cat "$tmp/err")"
	# Outside comments: no third-party header and no third-party type.
	sed 's|/\*.*\*/||; /^[[:space:]]*\*/d; /^\/\*/d' "$h" |
		grep -Eq '#include <(openssl|ldns|uv|libpsl|yaml)|psl_ctx|ldns_|uv_[a-z]|X509|EVP_' &&
		fail "dcv/$(basename "$h") names a third-party type or header"
done

DESTDIR=$tmp/root cmake --install "$build" --component dcv-dev >/dev/null
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$build/CMakeCache.txt")
pc=$(find "$tmp/root" -name dcv.pc | head -1)
[ -n "$pc" ] || { echo "FAIL: no dcv.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$tmp/root
flags=$(pkg-config --cflags --libs --static dcv)
# A coverage build's library needs gcov's runtime, a sanitized one the sanitizers'.
grep -q '^DCV_COVERAGE:BOOL=ON' "$build/CMakeCache.txt" && flags="$flags --coverage"
grep -q '^DCV_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" && flags="$flags -fsanitize=address,undefined"
# shellcheck disable=SC2086 # word splitting of the flags is wanted
cc -std=c11 -Wall -Wextra -Werror "$src/tests/api/example.c" -o "$tmp/example" $flags ||
	{ echo "FAIL: the example does not build against the installed API ($flags)"; exit 1; }
case $flags in *"$src"*) fail "pkg-config points into the source tree: $flags" ;; esac

n=0
for csr in "$data"/good/*.pem; do
	[ -f "$csr" ] || continue
	want=$("$build/dcv" records "$csr" 2>/dev/null) || continue
	got=$("$tmp/example" "$csr") || fail "example failed on $csr"
	[ "$got" = "$want" ] || fail "example and dcv records differ for $csr:"$'\n'"$got"$'\n'"$want"
	n=$((n + 1))
	[ "$n" -lt 5 ] || break
done
[ "$n" -gt 0 ] || fail "no test CSR found in $data/good"
echo "api: headers alone, install with dcv.pc ($prefix), example on $n CSRs"
[ "$fails" -eq 0 ] || { echo "api: $fails failure(s)"; exit 1; }
echo "api: all checks passed"
