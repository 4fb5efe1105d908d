#!/usr/bin/env bash
# package.sh BUILD_DIR -- the Debian package (cmake/package.cmake) end to
# end, on this machine, as root:
#   - cpack -G DEB from BUILD_DIR makes dcvd_<version>_<arch>.deb; its
#     control fields (Depends from dpkg-shlibdeps and systemd, conffiles) and
#     its contents (Debian's paths, examples not executable, no development
#     files) are read back with dpkg-deb;
#   - lintian reports no error and no warning (docs/decisions.md, "The
#     Debian package": what it prints and why);
#   - dpkg -i: the accounts and folders the postinst makes, checked against
#     systemd/dcvd.sysusers and systemd/dcvd.tmpfiles; the installed unit
#     names the installed dcvd; `dcvd --check` accepts the shipped
#     /etc/dcvd/dcvd.yaml as root and as the dcvd user (warning that no zone
#     is configured); `dcv records` on test CSRs prints the records their
#     openssl digests give (tests/data/gen-csrs.sh);
#   - a second dpkg -i (the upgrade path of the scripts) keeps an edited
#     conffile;
#   - dpkg --purge keeps a spool that still holds a file, and says so,
#     and removes everything else the package made.
# It leaves the machine as it found it: an /etc/dcvd it met is moved aside
# (/etc/dcvd.package-test-aside) and put back; the accounts dcvd,
# dcv-submit and the spool are removed only when this test created them
# (a spool it met gets back the empty folders the purge removed); and at
# the end a snapshot of every place the package touches is compared with
# the one taken before. Programs are run
# by their full path: a `cmake --install` may have put others in /usr/local.
set -uo pipefail
build=${1:?build folder}
src=$(cd "$(dirname "$0")/../.." && pwd)
data=${DCV_TEST_DATA:?DCV_TEST_DATA}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
skip() { echo "SKIP package: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i)"
for tool in cpack dpkg-deb dpkg-shlibdeps lintian setpriv; do
	command -v "$tool" >/dev/null || skip "no $tool here (tests/deps.sh installs it)"
done
# A dcvd package this machine already has (even only its conffiles) is not
# ours to purge.
if dpkg-query -W -f='${db:Status-Status}' dcvd 2>/dev/null | grep -qv '^not-installed$'; then
	skip "a dcvd package is installed here ($(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' dcvd)); the test would replace and purge it"
fi

tmp=$(mktemp -d)
spool=/var/spool/dcvd
accounts=(passwd:dcvd group:dcvd group:dcv-submit)

# snapshot -- every place the package's scripts change, as text.
snapshot() {
	local a
	for a in "${accounts[@]}"; do
		echo "$a: $(getent "${a%%:*}" "${a#*:}")"
	done
	find /etc/dcvd $spool /var/lib/systemd/deb-systemd-helper-enabled \
		/var/lib/systemd/deb-systemd-helper-masked /etc/systemd/system \
		-printf '%p %M %u %g %s\n' 2>/dev/null | sort
}
snapshot >"$tmp/before"
had=()
for a in "${accounts[@]}"; do
	getent "${a%%:*}" "${a#*:}" >/dev/null && had+=("$a")
done
had_account() { case " ${had[*]:-} " in *" $1 "*) return 0 ;; esac; return 1; }
had_spool=false
if [ -e $spool ]; then
	had_spool=true
	# The purge removes the spool's empty folders: put them back after it.
	find $spool -type d -printf '%m %u %g %p\n' >"$tmp/spool-dirs"
fi
gid_dcvd=$(getent group dcvd | cut -d: -f3)
# The /etc/dcvd met here waits beside it (same file system, and where an
# operator finds it should this test be killed before it puts it back).
aside=/etc/dcvd.package-test-aside
if [ -e $aside ]; then
	echo "FAIL: $aside exists: a killed run of this test left it; put it back as /etc/dcvd first"
	rm -rf "$tmp"
	exit 1
fi
if [ -e /etc/dcvd ]; then
	mv /etc/dcvd $aside
fi

# cleanup -- put the machine back as it was (once; also on any exit).
cleaned=false
cleanup() {
	$cleaned && return 0
	cleaned=true
	if dpkg-query -W -f='${db:Status-Status}' dcvd 2>/dev/null | grep -qv '^not-installed$'; then
		dpkg --purge dcvd </dev/null >"$tmp/purge-trap.log" 2>&1 || cat "$tmp/purge-trap.log"
	fi
	if $had_spool; then
		while read -r mode user group dir; do
			[ -d "$dir" ] || mkdir "$dir"
			chown "$user:$group" "$dir" && chmod "$mode" "$dir"
		done <"$tmp/spool-dirs"
	else
		rm -rf $spool
	fi
	had_account passwd:dcvd || ! getent passwd dcvd >/dev/null || userdel dcvd
	had_account group:dcv-submit || ! getent group dcv-submit >/dev/null || groupdel dcv-submit
	had_account group:dcvd || ! getent group dcvd >/dev/null || groupdel dcvd
	# userdel removes a user's group of the same name, even one it met.
	if had_account group:dcvd && ! getent group dcvd >/dev/null; then
		groupadd -g "$gid_dcvd" dcvd
	fi
	rm -rf /etc/dcvd
	if [ -e $aside ]; then
		mv $aside /etc/dcvd
	fi
}
trap 'cleanup; rm -rf "$tmp"' EXIT

# ---- build and read back -----------------------------------------------------
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")
arch=$(dpkg --print-architecture)
deb=$tmp/pkg/dcvd_${version}_${arch}.deb
(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg") >"$tmp/cpack.log" 2>&1 ||
	{ cat "$tmp/cpack.log"; echo "FAIL: cpack -G DEB"; exit 1; }
[ -f "$deb" ] || { echo "FAIL: no $(basename "$deb"): $(ls "$tmp/pkg")"; exit 1; }

# Depends: systemd, and the package of every library the programs need
# (their NEEDED entries, found by ldconfig, owned by dpkg -S), as
# dpkg-shlibdeps is to compute them.
dpkg-deb -f "$deb" Depends | sed 's/, */\n/g; s/ *([^)]*)//g' >"$tmp/depends"
grep -qx systemd "$tmp/depends" || fail "Depends lacks systemd: $(cat "$tmp/depends")"
dpkg-deb -x "$deb" "$tmp/x"
for prog in usr/bin/dcv usr/sbin/dcvd; do
	for soname in $(objdump -p "$tmp/x/$prog" | awk '$1 == "NEEDED" { print $2 }'); do
		lib=$(ldconfig -p | awk -v n="$soname" '$1 == n { print $NF; exit }')
		owner=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1)
		[ -n "$owner" ] || owner=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
		grep -qx "$owner" "$tmp/depends" ||
			fail "$prog needs $soname (package '$owner'), not in Depends: $(tr '\n' ' ' <"$tmp/depends")"
	done
done
dpkg-deb -c "$deb" | awk '{print $1, $6}' | sed 's|^\(\S*\) \./|\1 /|' >"$tmp/contents"
for f in /usr/bin/dcv /usr/sbin/dcvd /lib/systemd/system/dcvd.service /usr/lib/sysusers.d/dcvd.conf \
	/usr/lib/tmpfiles.d/dcvd.conf /etc/dcvd/dcvd.yaml /usr/share/man/man1/dcv.1.gz \
	/usr/share/man/man8/dcvd.8.gz /usr/share/man/man5/dcvd.yaml.5.gz /usr/share/doc/dcvd/copyright \
	/usr/share/doc/dcvd/changelog.gz /usr/share/doc/dcvd/examples/dcvd.yaml \
	/usr/share/doc/dcvd/examples/dcvd-hook.example; do
	grep -q " $f$" "$tmp/contents" || fail "the package lacks $f"
done
grep -E '^-[^ ]*x[^ ]* /usr/share/doc/' "$tmp/contents" && fail "executable files under /usr/share/doc"
grep -E '\.(a|h|pc)$' "$tmp/contents" && fail "development files in the daemon package"
grep -E ' /usr/local/' "$tmp/contents" && fail "files under /usr/local in the package"
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles >"$tmp/conffiles" 2>/dev/null
[ "$(cat "$tmp/conffiles")" = /etc/dcvd/dcvd.yaml ] ||
	fail "conffiles is not /etc/dcvd/dcvd.yaml: $(cat "$tmp/conffiles")"

# Files the package would take over (a `cmake --install --prefix /usr`):
# dpkg would replace them and the purge delete them.
while read -r mode path; do
	case $mode in d*) continue ;; esac
	[ -e "$path" ] && { echo "SKIP package: $path exists and is no package's; dpkg -i would replace it"; exit 77; }
done <"$tmp/contents"

# ---- lintian -------------------------------------------------------------------
lintian --allow-root --fail-on error,warning "$deb" >"$tmp/lintian" 2>&1 ||
	fail "lintian: $(cat "$tmp/lintian")"
grep -E '^[EW]: ' "$tmp/lintian" && fail "lintian reports errors or warnings"
echo "lintian printed: $(grep -c . "$tmp/lintian") line(s)"
cat "$tmp/lintian"

# ---- install -----------------------------------------------------------------
dpkg -i "$deb" </dev/null >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "dpkg -i"; exit 1; }
[ "$(dpkg-query -W -f='${db:Status-Status}' dcvd)" = installed ] || fail "dcvd is not installed after dpkg -i"
dpkg-query -W -f='${Conffiles}\n' dcvd | grep -q '^ /etc/dcvd/dcvd.yaml ' ||
	fail "dpkg does not list /etc/dcvd/dcvd.yaml as a conffile"
systemctl is-enabled dcvd.service >/dev/null 2>&1 && fail "dcvd.service is enabled by the install"

# The accounts, as dcvd.sysusers asks.
getent passwd dcvd | grep -q ":$spool:/usr/sbin/nologin$" || fail "user dcvd: $(getent passwd dcvd)"
getent group dcvd >/dev/null || fail "no group dcvd"
id -nG dcvd | tr ' ' '\n' | grep -qx dcv-submit || fail "dcvd is not in dcv-submit: $(id -nG dcvd)"
# The folders, as the tmpfiles.d file says (mode, owner, group). The
# postinst applies dcvd.conf by name, so systemd-tmpfiles takes the copy of
# the highest priority, as at boot: the package's, unless one in /etc, /run
# or /usr/local (a `cmake --install`) shadows it. That copy is the oracle;
# the package's own must be systemd/dcvd.tmpfiles.
cmp -s /usr/lib/tmpfiles.d/dcvd.conf "$src/systemd/dcvd.tmpfiles" ||
	fail "/usr/lib/tmpfiles.d/dcvd.conf is not systemd/dcvd.tmpfiles"
cmp -s /usr/lib/sysusers.d/dcvd.conf "$src/systemd/dcvd.sysusers" ||
	fail "/usr/lib/sysusers.d/dcvd.conf is not systemd/dcvd.sysusers"
for tmpfiles in /etc /run /usr/local/lib /usr/lib; do
	tmpfiles=$tmpfiles/tmpfiles.d/dcvd.conf
	[ -f "$tmpfiles" ] && break
done
[ "$tmpfiles" = /usr/lib/tmpfiles.d/dcvd.conf ] || echo "note: $tmpfiles shadows the package's tmpfiles.d file"
while read -r type path mode user group _; do
	[ "$type" = d ] || continue
	got=$(stat -c '%a %U %G' "$path" 2>/dev/null)
	[ "$got" = "${mode#0} $user $group" ] || fail "$path is '$got', $tmpfiles says $mode $user $group"
done < <(grep -v '^#' "$tmpfiles")

# The unit names the programs the package installed.
unit=/lib/systemd/system/dcvd.service
grep -q '^ExecStart=/usr/sbin/dcvd -c /etc/dcvd/dcvd.yaml$' $unit || fail "$unit: $(grep ^ExecStart= $unit)"
doc=$(sed -n 's|^Documentation=file:||p' $unit)
[ -f "$doc" ] || fail "$unit: Documentation=file:$doc is not installed"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --man=no $unit >"$tmp/verify" 2>&1 || fail "systemd-analyze verify: $(cat "$tmp/verify")"
fi
[ -x /usr/share/doc/dcvd/examples/dcvd-hook.example ] && fail "the hook example is executable"
gzip -dc /usr/share/man/man8/dcvd.8.gz | cmp -s - "$src/man/dcvd.8" || fail "dcvd.8.gz is not man/dcvd.8"

# The shipped configuration passes --check as installed, as root and as dcvd.
/usr/sbin/dcvd -c /etc/dcvd/dcvd.yaml --check >"$tmp/out" 2>"$tmp/err" ||
	fail "dcvd --check as root: $(cat "$tmp/out" "$tmp/err")"
grep -qx 'configuration OK' "$tmp/out" || fail "dcvd --check as root printed: $(cat "$tmp/out")"
grep -q 'no zone is configured' "$tmp/err" || fail "dcvd --check did not warn of no zone: $(cat "$tmp/err")"
setpriv --reuid=dcvd --regid=dcvd --init-groups /usr/sbin/dcvd -c /etc/dcvd/dcvd.yaml --check \
	>"$tmp/out" 2>"$tmp/err" || fail "dcvd --check as dcvd: $(cat "$tmp/out" "$tmp/err")"
/usr/sbin/dcvd --version | grep -qF "$version" || fail "/usr/sbin/dcvd --version: $(/usr/sbin/dcvd --version)"

# dcv records against the openssl digests of gen-csrs.sh.
for name in rsa ec; do
	exp=$data/good/$name.expect
	md5=$(awk '$1=="md5"{print $2}' "$exp")
	sha=$(awk '$1=="sha256"{print $2}' "$exp")
	awk '$1=="name"{print $2}' "$exp" | sed 's/^\*\.//' | awk '!seen[$0]++' |
		while read -r base; do
			echo "_$md5.$base. 300 IN CNAME ${sha:0:32}.${sha:32:32}.sectigo.com."
		done >"$tmp/want"
	/usr/bin/dcv records "$data/good/$name.pem" >"$tmp/got" 2>"$tmp/err" ||
		fail "dcv records $name.pem: $(cat "$tmp/err")"
	cmp -s "$tmp/got" "$tmp/want" || fail "dcv records $name.pem: got $(cat "$tmp/got") want $(cat "$tmp/want")"
done

# ---- reinstall: an edited conffile is kept -------------------------------------
echo '# edited by the package test' >>/etc/dcvd/dcvd.yaml
dpkg -i "$deb" </dev/null >"$tmp/install2.log" 2>&1 || fail "second dpkg -i: $(cat "$tmp/install2.log")"
tail -1 /etc/dcvd/dcvd.yaml | grep -q 'edited by the package test' || fail "the reinstall replaced the edited conffile"

# ---- purge ---------------------------------------------------------------------
# A spool that holds a file is kept (its job records are what dcvd published).
if ! $had_spool; then
	echo 'state: withdrawn' >$spool/done/kept.status
fi
dpkg --purge dcvd </dev/null >"$tmp/purge.log" 2>&1 || fail "dpkg --purge: $(cat "$tmp/purge.log")"
[ "$(dpkg-query -W -f='${db:Status-Status}' dcvd 2>/dev/null)" = installed ] && fail "dcvd still installed"
while read -r mode path; do
	case $mode in d*) continue ;; esac
	[ -e "$path" ] && fail "$path is left after the purge"
done <"$tmp/contents"
[ -e /etc/dcvd ] && fail "/etc/dcvd is left after the purge: $(ls -la /etc/dcvd)"
left=$(find /var/lib/systemd/deb-systemd-helper-enabled -name 'dcvd*' 2>/dev/null)
[ -z "$left" ] || fail "deb-systemd-helper state is left: $left"
if ! $had_spool; then
	[ -f $spool/done/kept.status ] || fail "the purge removed a spool that held a file"
	grep -q "$spool is kept" "$tmp/purge.log" || fail "the purge did not say it kept $spool: $(cat "$tmp/purge.log")"
	left=$(find $spool -type d -empty)
	[ -z "$left" ] || fail "the purge left the spool's empty folders: $left"
fi

# ---- as found --------------------------------------------------------------------
cleanup
snapshot >"$tmp/after"
diff "$tmp/before" "$tmp/after" >"$tmp/diff" || fail "the machine is not as the test found it: $(cat "$tmp/diff")"
echo "package: $fails failure(s)"
[ $fails -eq 0 ]
