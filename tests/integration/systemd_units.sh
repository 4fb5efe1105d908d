#!/usr/bin/env bash
# systemd_units.sh BUILD_DIR -- the systemd files, checked by systemd's own tools:
#  - systemd-analyze verify accepts the configured unit (only "dcvd is not
#    executable" is tolerated, and a copy pointing at a stub must be clean);
#  - systemd-analyze security --offline rates its exposure at most 1.5;
#  - both hold with the README's metrics drop-in (ReadWritePaths= for the
#    textfile folder) applied;
#  - `cmake --install` (into a DESTDIR) puts every file where systemd finds
#    it: systemctl --root enables the unit, systemd-sysusers and
#    systemd-tmpfiles --root list and apply the installed files;
#  - the accounts and folders they make have the intended owners and modes,
#    and the permissions work: a dcv-submit member can drop a CSR, dcvd can
#    read and claim it, others cannot look in (setpriv as those users).
# Needs root (systemd-tmpfiles sets owners, setpriv changes users) and the
# systemd package (systemd-analyze, systemd-sysusers, systemd-tmpfiles).
set -uo pipefail
build=${1:?build folder}
src=${DCV_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
limit=1.5
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

for t in systemd-analyze systemd-sysusers systemd-tmpfiles systemctl setpriv cmake; do
	if ! command -v "$t" >/dev/null; then
		echo "FAIL: $t is missing; install the Debian package systemd (util-linux for setpriv)"
		exit 1
	fi
done
if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL: run as root: systemd-tmpfiles sets owners and setpriv switches users"
	exit 1
fi
unit=$build/systemd/dcvd.service
[ -f "$unit" ] || { echo "FAIL: $unit is missing (configure_file in CMakeLists.txt)"; exit 1; }
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
sbindir=$(cache CMAKE_INSTALL_SBINDIR)
# GNUInstallDirs leaves DATADIR empty in the cache when it is DATAROOTDIR.
datadir=$(cache CMAKE_INSTALL_DATADIR)
[ -n "$datadir" ] || datadir=$(cache CMAKE_INSTALL_DATAROOTDIR)
[ -n "$prefix" ] && [ -n "$sbindir" ] && [ -n "$datadir" ] ||
	{ echo "FAIL: no install folders in $build/CMakeCache.txt"; exit 1; }
case $sbindir in /*) ;; *) sbindir=$prefix/$sbindir ;; esac
case $datadir in /*) ;; *) datadir=$prefix/$datadir ;; esac
dcvd=$sbindir/dcvd
echo "systemd_units: $(systemctl --version | head -1); prefix $prefix; dcvd at $dcvd"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
# Other users (setpriv below) must be able to reach the trees in here.
chmod 755 "$tmp"

# --- The configured unit ------------------------------------------------------
if grep -n '@[A-Za-z_]*@' "$unit"; then
	fail "$unit: CMake variables left unreplaced"
fi
for key in ExecStartPre ExecStart; do
	line=$(grep "^$key=" "$unit")
	[[ $line == "$key=$dcvd -c /etc/dcvd/dcvd.yaml"* ]] || fail "$key is '$line', want $dcvd -c /etc/dcvd/dcvd.yaml"
done
grep -qx "ExecStartPre=$dcvd -c /etc/dcvd/dcvd.yaml --check" "$unit" || fail "ExecStartPre does not run --check"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "ExecReload does not send SIGHUP to \$MAINPID"
[ "$(grep '^ReadWritePaths=' "$unit")" = "ReadWritePaths=/var/spool/dcvd" ] ||
	fail "ReadWritePaths: '$(grep '^ReadWritePaths=' "$unit")', want /var/spool/dcvd only"

# verify: dcvd itself may be missing (it is built and installed elsewhere),
# nothing else may be reported. --man=no: the man pages of Documentation=
# are not installed on this machine (tests/man/man.sh checks them, and
# that cmake --install puts them where man finds them).
out=$(systemd-analyze verify --man=no "$unit" 2>&1)
rest=$(echo "$out" | grep -v -x "dcvd.service: Command $dcvd is not executable: No such file or directory" | grep -v '^$')
if [ -n "$rest" ]; then
	fail "systemd-analyze verify $unit:"$'\n'"$rest"
else
	echo "verify: accepted ($(echo "$out" | grep -c 'is not executable') 'not executable' line(s) for the missing $dcvd)"
fi
# The same unit pointing at a stub dcvd must verify without a word.
mkdir -p "$tmp/stub" "$tmp/unit"
printf '#!/bin/sh\nexit 0\n' >"$tmp/stub/dcvd"
chmod 755 "$tmp/stub/dcvd"
sed "s|$dcvd|$tmp/stub/dcvd|g" "$unit" >"$tmp/unit/dcvd.service"
out=$(systemd-analyze verify --man=no "$tmp/unit/dcvd.service" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
	fail "systemd-analyze verify with a stub dcvd: exit $rc:"$'\n'"$out"
else
	echo "verify with a stub dcvd: clean"
fi

# security: the overall exposure, and what still counts against it.
out=$(systemd-analyze security --offline=true "$unit" 2>&1)
exposure=$(echo "$out" | sed -n 's/.*Overall exposure level for dcvd\.service: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ]; then
	fail "no overall exposure in the output of systemd-analyze security:"$'\n'"$out"
elif awk -v x="$exposure" -v l="$limit" 'BEGIN { exit !(x <= l) }'; then
	echo "security: overall exposure $exposure (limit $limit); still counted:"
	echo "$out" | grep '✗' | sed 's/^/  /'
else
	fail "security: overall exposure $exposure, over the limit $limit:"$'\n'"$(echo "$out" | grep '✗')"
fi

# The README's drop-in for metrics_file (the textfile collector's folder
# writable): systemd loads it (a drop-in folder beside the unit), the unit
# still verifies without a word, and the exposure stays within the limit.
dropin=$(sed -n '/^<!-- the metrics drop-in/,/^```$/p' "$src/README.md" | sed '1,2d;$d')
if [ "$dropin" != $'[Service]\nReadWritePaths=/var/lib/prometheus/node-exporter' ]; then
	fail "README: the metrics drop-in is '$dropin', want [Service] and ReadWritePaths= of the textfile folder only"
else
	mkdir -p "$tmp/unit/dcvd.service.d"
	echo "$dropin" >"$tmp/unit/dcvd.service.d/metrics.conf"
	out=$(systemd-analyze verify --man=no "$tmp/unit/dcvd.service" 2>&1)
	rc=$?
	[ "$rc" -eq 0 ] && [ -z "$out" ] || fail "verify with the metrics drop-in: exit $rc:"$'\n'"$out"
	# Proof that the drop-in is read at all: a second ExecStart= in one beside it is refused.
	echo $'[Service]\nExecStart=/bin/true' >"$tmp/unit/dcvd.service.d/zz-probe.conf"
	systemd-analyze verify --man=no "$tmp/unit/dcvd.service" >/dev/null 2>&1 &&
		fail "systemd-analyze verify ignores $tmp/unit/dcvd.service.d/: the drop-in was not checked"
	rm "$tmp/unit/dcvd.service.d/zz-probe.conf"
	out=$(systemd-analyze security --offline=true "$tmp/unit/dcvd.service" 2>&1)
	exposure=$(echo "$out" | sed -n 's/.*Overall exposure level for dcvd\.service: \([0-9.]*\).*/\1/p')
	if [ -n "$exposure" ] && awk -v x="$exposure" -v l="$limit" 'BEGIN { exit !(x <= l) }'; then
		echo "metrics drop-in: verified, exposure $exposure (limit $limit)"
	else
		fail "security with the metrics drop-in: exposure '$exposure', limit $limit:"$'\n'"$out"
	fi
	rm -r "$tmp/unit/dcvd.service.d"
fi

# sysusers: the file as written parses (dry run against this machine).
out=$(systemd-sysusers --dry-run "$src/systemd/dcvd.sysusers" 2>&1) ||
	fail "systemd-sysusers --dry-run $src/systemd/dcvd.sysusers:"$'\n'"$out"

# --- Install into a DESTDIR ---------------------------------------------------
# DESTDIR rather than --prefix alone: a destination that is absolute (prefix
# /usr puts the example into /etc) must not reach this machine's /etc.
root=$tmp/root
mkdir -p "$root/etc"
chmod 755 "$root"
confdir=$(sed -n 's|^Documentation=file:\(.*\)/dcvd.yaml.example$|\1|p' "$unit")
[ -n "$confdir" ] || fail "the unit's Documentation= does not name dcvd.yaml.example"
# An existing configuration must survive the install.
mkdir -p "$root$confdir"
echo "# the operator's own" >"$root$confdir/dcvd.yaml"
out=$(DESTDIR=$root cmake --install "$build" 2>&1) || fail "cmake --install $build:"$'\n'"$out"
echo "install: $(cd "$root" && find . -type f | sed 's|^\.||' | sort | tr '\n' ' ')"

[ -x "$root$prefix/bin/dcv" ] || fail "dcv is not at $prefix/bin/dcv"
cmp -s "$root$confdir/dcvd.yaml.example" "$src/conf/dcvd.yaml" ||
	fail "$confdir/dcvd.yaml.example is missing or differs from conf/dcvd.yaml"
[ "$(cat "$root$confdir/dcvd.yaml")" = "# the operator's own" ] || fail "the install replaced $confdir/dcvd.yaml"
# The examples: documentation, not executable.
for f in dcvd-hook.example dcv.key.example-bind dcv.key.example-knot bind-update-policy.example \
	knot-acl.example; do
	cmp -s "$root$datadir/doc/dcvd/examples/$f" "$src/conf/$f" ||
		fail "conf/$f is not installed as $datadir/doc/dcvd/examples/$f"
	[ -x "$root$datadir/doc/dcvd/examples/$f" ] && fail "$datadir/doc/dcvd/examples/$f is executable"
done
# Once there is a dcvd program, it must be where the unit runs it.
while read -r f; do
	[ "$f" = "$root$dcvd" ] || fail "dcvd installed as ${f#"$root"}, but the unit runs $dcvd"
done < <(find "$root" -type f -name dcvd)

# The unit: systemd finds it where it was installed and can enable it.
out=$(systemctl --root="$root" enable dcvd.service 2>&1) || fail "systemctl --root enable dcvd.service:"$'\n'"$out"
link=$root/etc/systemd/system/multi-user.target.wants/dcvd.service
target=$(readlink "$link")
if [ -z "$target" ]; then
	fail "systemctl --root enable made no multi-user.target.wants/dcvd.service"
else
	systemd-analyze unit-paths | grep -qx "$(dirname "$target")" ||
		fail "the unit went to $(dirname "$target"), which systemd does not search"
	cmp -s "$root$target" "$unit" || fail "the installed unit $target differs from $unit"
	echo "unit: $target, enabled"
fi

# sysusers.d and tmpfiles.d: the tools list the installed files as their own.
for tool in systemd-sysusers systemd-tmpfiles; do
	found=$($tool --root="$root" --cat-config 2>&1 | sed -n "s|^# $root||p")
	case $tool in systemd-sysusers) want=$src/systemd/dcvd.sysusers ;; *) want=$src/systemd/dcvd.tmpfiles ;; esac
	if [ "$(echo "$found" | grep -c .)" -ne 1 ]; then
		fail "$tool --root --cat-config finds '$found', want one dcvd.conf"
	else
		cmp -s "$root$found" "$want" || fail "$found differs from $want"
		echo "$tool: $found"
	fi
done

# --- Limits and identity the unit must keep ------------------------------------
# A core dump holds the TSIG secrets; the memory and task bounds stop a
# runaway; PrivateUsers= would map every submitter to nobody and defeat the
# owner checks (submitters:, sidecar owner, max_jobs_per_submitter).
for want in 'LimitCORE=0' 'MemoryMax=' 'TasksMax='; do
	grep -q "^$want" "$unit" || fail "$unit has no $want line"
done
grep -q '^PrivateUsers=yes' "$unit" && fail "$unit has PrivateUsers=yes: submitters' uids would all show as nobody"

# --- Apply them as systemd would at boot -------------------------------------
out=$(systemd-sysusers --root="$root" 2>&1) || fail "systemd-sysusers --root:"$'\n'"$out"
out=$(systemd-tmpfiles --create --root="$root" 2>&1) || fail "systemd-tmpfiles --create --root:"$'\n'"$out"

pw() { awk -F: -v n="$1" -v f="$2" '$1 == n { print $f }' "$root/etc/passwd"; }
gid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$root/etc/group"; }
dcvd_uid=$(pw dcvd 3)
dcvd_gid=$(gid_of dcvd)
submit_gid=$(gid_of dcv-submit)
if [ -z "$dcvd_uid" ] || [ -z "$dcvd_gid" ] || [ -z "$submit_gid" ]; then
	fail "sysusers made no user dcvd, group dcvd or group dcv-submit:"$'\n'"$(cat "$root/etc/passwd" "$root/etc/group")"
	echo "systemd_units: $fails failure(s)"
	exit 1
fi
[ "$dcvd_uid" -lt 1000 ] || fail "dcvd has uid $dcvd_uid, not a system user"
[ "$(pw dcvd 4)" = "$dcvd_gid" ] || fail "dcvd's primary group is $(pw dcvd 4), want dcvd ($dcvd_gid)"
[ "$(pw dcvd 6)" = /var/spool/dcvd ] || fail "dcvd's home is $(pw dcvd 6), want /var/spool/dcvd"
[ "$(pw dcvd 7)" = /usr/sbin/nologin ] || fail "dcvd's shell is $(pw dcvd 7), want /usr/sbin/nologin"
members=$(awk -F: '$1 == "dcv-submit" { print $4 }' "$root/etc/group")
[[ ",$members," == *,dcvd,* ]] || fail "dcvd is not a member of dcv-submit (members: '$members')"
echo "sysusers: dcvd uid $dcvd_uid gid $dcvd_gid, dcv-submit gid $submit_gid (members $members)"

# path mode uid gid
spool=/var/spool/dcvd
while read -r path mode uid gid; do
	got=$(stat -c '%a %u %g' "$root$path" 2>/dev/null)
	[ "$got" = "$mode $uid $gid" ] || fail "$path: '$got', want mode $mode owner $uid group $gid"
done <<EOF
$spool 710 $dcvd_uid $submit_gid
$spool/incoming 3770 $dcvd_uid $submit_gid
$spool/results 3730 $dcvd_uid $submit_gid
$spool/active 750 $dcvd_uid $dcvd_gid
$spool/done 750 $dcvd_uid $dcvd_gid
$spool/failed 750 $dcvd_uid $dcvd_gid
$spool/state 750 $dcvd_uid $dcvd_gid
/etc/dcvd 750 0 $dcvd_gid
EOF
echo "tmpfiles: $(cd "$root" && stat -c '%n %a %u:%g' ."$spool" ."$spool"/* ./etc/dcvd | sed 's|^\.||' | tr '\n' ';')"

# --- The permissions at work ---------------------------------------------------
# dcvd with the groups initgroups would give it; a submitter in dcv-submit
# (umask 027, so its files are 0640); somebody else.
dcvd_groups=$(awk -F: '{ n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == "dcvd") print $3 }' \
	"$root/etc/group" | paste -sd, -)
as_dcvd() { setpriv --reuid="$dcvd_uid" --regid="$dcvd_gid" --groups="${dcvd_groups:-$dcvd_gid}" -- "$@"; }
as_submitter() { setpriv --reuid=60001 --regid=60001 --groups="$submit_gid" -- "$@"; }
as_other() { setpriv --reuid=60002 --regid=60002 --clear-groups -- "$@"; }
as_submitter2() { setpriv --reuid=60003 --regid=60003 --groups="$submit_gid" -- "$@"; }
S=$root$spool
printf 'key "dcv" { algorithm hmac-sha256; secret "c2VjcmV0"; };\n' >"$root/etc/dcvd/dcv.key"
chgrp "$dcvd_gid" "$root/etc/dcvd/dcv.key"
chmod 0640 "$root/etc/dcvd/dcv.key"

as_submitter sh -c "umask 027 && echo csr >'$S/incoming/.a.csr.tmp' && mv '$S/incoming/.a.csr.tmp' '$S/incoming/a.csr'" ||
	fail "a dcv-submit member cannot drop a file into incoming/"
[ "$(stat -c '%a %g' "$S/incoming/a.csr" 2>/dev/null)" = "640 $submit_gid" ] ||
	fail "a dropped file is '$(stat -c '%a %g' "$S/incoming/a.csr" 2>/dev/null)', want 640 with group dcv-submit (setgid incoming/)"
# The sticky bit: another submitter can neither remove nor replace a's file.
as_submitter2 rm -f "$S/incoming/a.csr" 2>/dev/null
[ -f "$S/incoming/a.csr" ] || fail "another dcv-submit member removed a submitter's file (incoming/ not sticky)"
as_submitter2 sh -c "echo x >'$S/incoming/.b' && mv -f '$S/incoming/.b' '$S/incoming/a.csr'" 2>/dev/null
[ "$(cat "$S/incoming/a.csr" 2>/dev/null)" = csr ] || fail "another dcv-submit member replaced a submitter's file"
rm -f "$S/incoming/.b"
as_submitter ls "$S" >/dev/null 2>&1 && fail "a dcv-submit member can list the spool"
as_submitter ls "$S/done" >/dev/null 2>&1 && fail "a dcv-submit member can look into done/"
as_submitter touch "$S/x" 2>/dev/null && fail "a dcv-submit member can create files in the spool itself"
as_dcvd cat "$S/incoming/a.csr" >/dev/null || fail "dcvd cannot read a 0640 file dropped by a dcv-submit member"
as_dcvd mv "$S/incoming/a.csr" "$S/active/a.csr" || fail "dcvd cannot move a dropped file into active/"
as_dcvd sh -c "echo x >'$S/state/j1'" || fail "dcvd cannot write into state/"
as_dcvd cat "$root/etc/dcvd/dcv.key" >/dev/null || fail "dcvd cannot read a key file 0640 root:dcvd in /etc/dcvd"
as_dcvd touch "$root/etc/dcvd/x" 2>/dev/null && fail "dcvd can write into /etc/dcvd"
as_submitter cat "$root/etc/dcvd/dcv.key" >/dev/null 2>&1 && fail "a dcv-submit member can read the TSIG key"
# results/ (dcv submit --wait): a member makes its own folder and dcvd can
# write into it; another member can neither list results/ nor remove it.
as_submitter sh -c "mkdir '$S/results/s3cr3t' && chmod 2770 '$S/results/s3cr3t'" ||
	fail "a dcv-submit member cannot make a folder in results/"
[ "$(stat -c '%g' "$S/results/s3cr3t" 2>/dev/null)" = "$submit_gid" ] ||
	fail "a results folder does not get the group dcv-submit (setgid results/)"
as_dcvd sh -c "echo s >'$S/results/s3cr3t/j.status'" || fail "dcvd cannot write into a submitter's results folder"
as_submitter cat "$S/results/s3cr3t/j.status" >/dev/null || fail "a submitter cannot read what dcvd put in its folder"
as_submitter2 ls "$S/results" >/dev/null 2>&1 && fail "a dcv-submit member can list results/"
as_submitter2 rm -rf "$S/results/s3cr3t" 2>/dev/null
[ -d "$S/results/s3cr3t" ] || fail "another dcv-submit member removed a submitter's results folder (results/ not sticky)"
as_other ls "$S/results" >/dev/null 2>&1 && fail "another user can look into results/"
as_other ls "$S/incoming" >/dev/null 2>&1 && fail "another user can look into incoming/"
as_other ls "$root/etc/dcvd" >/dev/null 2>&1 && fail "another user can list /etc/dcvd"

if [ "$fails" -gt 0 ]; then
	echo "systemd_units: $fails failure(s)"
	exit 1
fi
echo "systemd_units: all checks passed; overall exposure $exposure (limit $limit)"
