#!/usr/bin/env bash
# dcvd_unit_sandbox.sh BUILD -- dcvd started by systemd from the installed
# dcvd.service, under the unit's own sandbox, and the spool's owner check
# seen through it: systemd boots in a throwaway namespace (lib_boot.sh; no
# host file is written), `cmake --install` puts dcvd, its unit, sysusers.d
# and tmpfiles.d files into that root, systemd-sysusers and systemd-tmpfiles
# make the accounts and the spool at boot, and submitters drop CSRs as
# themselves (setpriv) into /var/spool/dcvd/incoming. The lab's servers
# (BIND primary, Knot secondary, unbound) run on the host, as always.
#   1  the unit is active and its process runs sandboxed: user dcvd, no
#      capabilities, no new privileges, a seccomp filter, a mount namespace
#      of its own
#   2  a submitter listed in the zone's submitters: drops a CSR: visible,
#      the status names that submitter (user name and uid), the primary
#      serves the record (hashlib oracle)
#   3  a member of dcv-submit not listed for the zone drops one: failed,
#      the error names the user, the uid and the zone; nothing served
#   4  the same unit with PrivateUsers=yes (a drop-in), which the unit must
#      not have: the listed submitter's CSR now fails as uid 65534 -- the
#      owner check sees nobody, which is why the unit has no PrivateUsers=
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
# shellcheck source=tests/integration/lib_users.sh
source "$here/lib_users.sh"
# shellcheck source=tests/integration/lib_boot.sh
source "$here/lib_boot.sh"
dcvd_lab dcvd_unit_sandbox 34 "$build" example.test
lab_need cmake python3 systemd-sysusers
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
spool=/var/spool/dcvd
csr=$LAB/csr
mkdir -p "$csr"
"$GEN_CSRS" "$csr" 1 example.test 1 a >/dev/null
"$GEN_CSRS" "$csr" 1 example.test 1 b >/dev/null
"$GEN_CSRS" "$csr" 1 example.test 1 c >/dev/null
users_expected sectigo.com example.test "$csr/a0.csr" >"$LAB/want.a"
users_expected sectigo.com example.test "$csr/b0.csr" >"$LAB/want.b"

# The root, before systemd starts: the build installed as a package would
# be (the unit from `cmake --install`, not a copy made here), two submitter
# accounts, dcvd's configuration and key, the CSRs, and the boot target.
sanitized=0
grep -q '^DCV_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" && sanitized=1
cat >"$LAB/prepare.sh" <<EOF
set -euo pipefail
root=\$1
DESTDIR=\$root cmake --install '$build' >/dev/null
mkdir -p "\$root/etc/sysusers.d" "\$root/etc/dcvd" "\$root/srv/csr" "\$root/etc/systemd/system/dcvd.service.d"
cat >"\$root/etc/sysusers.d/dcvboot-test.conf" <<'END'
u dcvboot-s1 - "dcvd test submitter, listed"
u dcvboot-s2 - "dcvd test submitter, not listed"
m dcvboot-s1 dcv-submit
m dcvboot-s2 dcv-submit
END
systemd-sysusers --root="\$root" >/dev/null
cp '$csr'/*.csr "\$root/srv/csr/"
chmod 0755 "\$root/srv/csr"
chmod 0644 "\$root"/srv/csr/*.csr
cp '$LAB/keys/dcv.key' "\$root/etc/dcvd/dcv.key"
chroot "\$root" chown root:dcvd /etc/dcvd/dcv.key
chmod 0640 "\$root/etc/dcvd/dcv.key"
cat >"\$root/etc/dcvd/dcvd.yaml" <<'END'
spool: $spool
withdraw_after: 0
visible_timeout: 40s
key:
  - id: dcv
    file: /etc/dcvd/dcv.key
remote:
  - id: bind
    address: $P@$LAB_PORT
    key: dcv
zone:
  - domain: example.test
    primary: bind
    nameservers: [$P@$LAB_PORT, $S@$LAB_PORT]
    submitters: [dcvboot-s1]
resolver: [$R@$LAB_PORT]
END
chroot "\$root" chown root:dcvd /etc/dcvd/dcvd.yaml
chmod 0640 "\$root/etc/dcvd/dcvd.yaml"
# LeakSanitizer stops the world with ptrace, which the unit's system call
# filter refuses: a sanitized dcvd checks everything else.
if [ $sanitized = 1 ]; then
	printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >"\$root/etc/systemd/system/dcvd.service.d/sanitizer.conf"
fi
cat >"\$root/etc/systemd/system/dcvboot.target" <<'END'
[Unit]
Description=dcvd under its own unit (tests/integration/dcvd_unit_sandbox.sh)
Requires=basic.target
Wants=dcvd.service
After=basic.target dcvd.service
AllowIsolate=yes
END
EOF
boot_start "$LAB/prepare.sh" dcvboot.target
# The journal of the booted system goes into $LAB at exit, where the lab
# looks for sanitizer reports and prints logs after a failure.
lab_atexit "boot_journal dcvd >'$LAB/dcvd.journal' 2>&1"

# inside_state NAME -- the state: of NAME's status file in done/ or failed/.
inside_state() {
	local f
	for f in "$spool/done/$1.status" "$spool/failed/$1.status"; do
		boot_run test -f "$f" || continue
		boot_run cat "$f" | python3 -c 'import sys, yaml; print(yaml.safe_load(sys.stdin).get("state", ""))'
		return 0
	done
	return 1
}
# field NAME KEY -- KEY of NAME's status file (done/ or failed/).
field() {
	local f
	for f in "$spool/done/$1.status" "$spool/failed/$1.status"; do
		boot_run test -f "$f" || continue
		boot_run cat "$f" | python3 -c '
import sys, yaml
v = yaml.safe_load(sys.stdin).get(sys.argv[1])
print("" if v is None else v)' "$2"
		return 0
	done
}
settled() { # NAME
	local s
	s=$(inside_state "$1") && [[ $s == visible || $s == failed ]]
}
# drop USER SRC NAME -- SRC copied into incoming/ as USER under a dot-name
# (which dcvd ignores) and renamed to NAME, with the umask a submitter has.
drop() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	boot_run setpriv --reuid="$1" --regid="$1" --init-groups -- sh -c \
		'umask 027 && cp "$1" "$2/.$3" && mv "$2/.$3" "$2/$3"' sh "$2" "$spool/incoming" "$3"
}
unit_active() {
	[[ $(boot_run systemctl is-active dcvd 2>/dev/null) == active ]]
}
uid_of() {
	boot_run id -u "$1"
}

# --- 1: the unit runs, sandboxed ------------------------------------------------
if ! lab_until 20 unit_active; then
	fail "dcvd.service is not active: $(boot_run systemctl is-active dcvd 2>&1)"
	{
		boot_run systemctl status --no-pager dcvd 2>&1 | head -30
		boot_journal dcvd | tail -n 30
		echo "the spool, as systemd-tmpfiles left it:"
		boot_run ls -la "$spool"
		boot_journal systemd-tmpfiles-setup | tail -n 10
	} | sed 's/^/  | /' || true
	exit 1
fi
pid=$(boot_run systemctl show -P MainPID dcvd)
status=$(boot_run cat "/proc/$pid/status")
want_uid=$(uid_of dcvd)
awk '$1 == "Uid:" { print $2 }' <<<"$status" | grep -qx "$want_uid" ||
	fail "dcvd runs as uid $(awk '$1 == "Uid:" { print $2 }' <<<"$status"), not dcvd ($want_uid)"
grep -qx $'NoNewPrivs:\t1' <<<"$status" || fail "dcvd may gain privileges (NoNewPrivs is not 1)"
grep -qx $'Seccomp:\t2' <<<"$status" || fail "dcvd has no seccomp filter"
grep -qx $'CapBnd:\t0000000000000000' <<<"$status" || fail "dcvd's capability bounding set is not empty"
[[ $(boot_run readlink "/proc/$pid/ns/mnt") != "$(boot_run readlink /proc/1/ns/mnt)" ]] ||
	fail "dcvd shares systemd's mount namespace: no ProtectSystem=, PrivateTmp= and the like"
echo "1: dcvd.service active, pid $pid: uid dcvd, no capabilities, NoNewPrivs, seccomp, own mounts"

# --- 2: a listed submitter ------------------------------------------------------
drop dcvboot-s1 /srv/csr/a0.csr a0.csr
if lab_until 30 settled a0 && [[ $(inside_state a0) == visible ]]; then
	s1_uid=$(uid_of dcvboot-s1)
	[[ $(field a0 submitter) == "dcvboot-s1 (uid $s1_uid)" ]] ||
		fail "a0: submitter is '$(field a0 submitter)', want 'dcvboot-s1 (uid $s1_uid)'"
	read -r owner target <"$LAB/want.a"
	lab_serves "$P" "$LAB_PORT" "$owner" CNAME "$target" ||
		fail "the primary does not serve $owner CNAME $target"
	echo "2: dcvboot-s1 (listed) -> visible, submitter dcvboot-s1 (uid $s1_uid), served"
else
	fail "a0 (dropped by the listed submitter) is '$(inside_state a0 || echo missing)': $(field a0 error)"
fi

# --- 3: a member of dcv-submit the zone does not list ----------------------------
drop dcvboot-s2 /srv/csr/b0.csr b0.csr
s2_uid=$(uid_of dcvboot-s2)
if lab_until 30 settled b0 && [[ $(inside_state b0) == failed ]]; then
	err=$(field b0 error)
	[[ $err == *"submitter dcvboot-s2 (uid $s2_uid) may not submit names in zone example.test"* ]] ||
		fail "b0: the error does not name dcvboot-s2, its uid and the zone: '$err'"
	read -r owner target <"$LAB/want.b"
	! lab_serves "$P" "$LAB_PORT" "$owner" CNAME || fail "the refused CSR's $owner is served"
	echo "3: dcvboot-s2 (not listed) -> failed: $err"
else
	fail "b0 (dropped by an unlisted submitter) is '$(inside_state b0 || echo missing)', want failed"
fi

# --- 4: what PrivateUsers=yes would do ----------------------------------------------
boot_run sh -c 'printf "[Service]\nPrivateUsers=yes\n" >/etc/systemd/system/dcvd.service.d/private-users.conf'
boot_run systemctl daemon-reload
boot_run systemctl restart dcvd || fail "dcvd does not restart with PrivateUsers=yes"
drop dcvboot-s1 /srv/csr/c0.csr c0.csr
if lab_until 30 settled c0; then
	err=$(field c0 error)
	if [[ $(inside_state c0) == failed && $err == *"uid 65534"*"may not submit names in zone example.test"* ]]; then
		echo "4: with PrivateUsers=yes the listed submitter's CSR fails as uid 65534: $err"
	else
		fail "c0 under PrivateUsers=yes is '$(inside_state c0)' ($err): the owner check did not see nobody"
	fi
else
	fail "c0 (under PrivateUsers=yes) never settled"
fi

((fails == 0)) || {
	echo "dcvd_unit_sandbox: $fails check(s) failed; dcvd's journal:"
	boot_journal dcvd | tail -n 40 | sed 's/^/  | /'
	exit 1
}
echo "dcvd_unit_sandbox: all checks passed"
