#!/usr/bin/env bash
# deps.sh -- install the Debian 12 packages dcvd needs to build and test,
# only those missing (apt-get update once, then one apt-get install).
set -euo pipefail
pkgs=(
	# build
	cmake gcc make pkg-config
	libldns-dev libuv1-dev libssl-dev libyaml-dev libpsl-dev publicsuffix libsystemd-dev liblmdb-dev
	# tests: cmocka, the oracles and the real DNS servers
	libcmocka-dev openssl psl python3 python3-yaml
	bind9 bind9-dnsutils knot knot-dnsutils unbound iproute2 systemd faketime
	# the job store's tools (mdb_stat, mdb_dump) for tests and operators
	lmdb-utils
	# getfacl: the ACL dcv submit gives a queued CSR (it-dcvd_submit)
	acl
	# it-dcvd_dnssec_expired: ldns-signzone signs a copy of a zone with past validity
	ldnsutils
	# it-dcvd_metrics: promtool check metrics (Debian has promtool only in prometheus)
	prometheus
	# tests that are skipped without them (tests/all.sh fails on such a skip):
	# test_store's flush count (strace), it-hook_example (shellcheck)
	strace shellcheck
	# the coverage target (cmake -DDCV_COVERAGE=ON)
	gcovr
	# the test man: mandoc -Tlint on man/*, man -M on the installed pages
	mandoc man-db
	# the Debian package (cpack -G DEB runs dpkg-shlibdeps) and the test
	# package (lintian; cpack writes the archive as root:root itself, no fakeroot)
	dpkg-dev lintian
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: run as root to install: ${missing[*]}" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
