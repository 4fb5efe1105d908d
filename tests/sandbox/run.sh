#!/usr/bin/env bash
# run.sh BUILD_DIR [--watchdog] -- dcvd.service's sandbox at work. Not a ctest
# test: it needs root on a disposable machine (a VM or CI runner) and takes
# about 10 s (45 s more with --watchdog).
#
# It boots systemd as PID 1 of new mount/pid/uts/ipc/cgroup namespaces, on an
# overlay of this machine's root (so nothing here is changed), with the build
# installed into it (DESTDIR), the users and folders made by the installed
# sysusers.d and tmpfiles.d files, and probe.c (built here) as dcvd. Then it
# starts dcvd.service, reads what the probe found (every check must be "ok"),
# reloads, optionally stops the probe to see the watchdog restart it, and
# stops the unit. The network namespace is this machine's: the probe talks to
# a UDP/TCP responder on 127.0.0.1 and ::1. A drop-in only drops the unit's
# default dependencies (nothing else of the machine is started) and passes
# the responder's port.
set -uo pipefail

# --- Inside the new namespaces (PID 1): build the root, exec systemd ----------
if [ "${1:-}" = --inner ]; then
	set -e
	r=$SANDBOX_TMP/root
	mount -t tmpfs tmpfs "$SANDBOX_TMP/upper"
	mkdir "$SANDBOX_TMP/upper/u" "$SANDBOX_TMP/upper/w"
	mount -t overlay overlay \
		-o "lowerdir=/,upperdir=$SANDBOX_TMP/upper/u,workdir=$SANDBOX_TMP/upper/w" "$r"
	mount -t proc proc "$r/proc"
	mount -t sysfs sysfs "$r/sys"
	mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup"
	mount -t tmpfs -o mode=755 tmpfs "$r/run"
	mkdir -m 1777 "$r/run/lock"
	# A small /dev of its own, with one block device PrivateDevices= must hide.
	mount -t tmpfs -o mode=755 tmpfs "$r/dev"
	for d in null zero full random urandom tty console; do
		touch "$r/dev/$d"
		mount --bind "/dev/${d/console/null}" "$r/dev/$d"
	done
	mkdir "$r/dev/pts" "$r/dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts"
	ln -s pts/ptmx "$r/dev/ptmx"
	mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
	mknod -m 600 "$r/dev/probe-blk" b 7 0

	DESTDIR=$r cmake --install "$SANDBOX_BUILD" >/dev/null
	install -D -m 755 "$SANDBOX_TMP/probe" "$r$SANDBOX_DCVD"
	mkdir -p "$r/usr/local/libexec" "$r/home/sub" "$r/etc/sysusers.d"
	cat >"$r/usr/local/libexec/dcvd-hook" <<'EOF'
#!/bin/sh
# The probe's hook: it runs, and leaves a trace of who it ran as.
{ echo "hook event=$DCV_EVENT"; id; } >"$DCV_SPOOL/done/hook.out"
EOF
	chmod 755 "$r/usr/local/libexec/dcvd-hook"
	systemd-sysusers --root="$r" >/dev/null 2>&1
	printf 'u sub - "CSR submitter" /home/sub /bin/sh\nm sub dcv-submit\n' >"$r/etc/sysusers.d/sub.conf"
	systemd-sysusers --root="$r" >/dev/null 2>&1
	systemd-tmpfiles --create --root="$r" >/dev/null
	cp "$SANDBOX_SRC/conf/dcvd.yaml" "$r/etc/dcvd/dcvd.yaml"
	echo 'key "dcv" { algorithm hmac-sha256; secret "c2VjcmV0"; };' >"$r/etc/dcvd/dcv.key"
	chroot "$r" chgrp dcvd /etc/dcvd/dcv.key
	chmod 0640 "$r/etc/dcvd/dcv.key"
	# A CSR as a submitter drops it: its own, group dcv-submit, 0640.
	echo csr >"$r/var/spool/dcvd/incoming/a.csr"
	chroot "$r" chown sub:dcv-submit /var/spool/dcvd/incoming/a.csr
	chmod 0640 "$r/var/spool/dcvd/incoming/a.csr"
	mkdir -p "$r/etc/systemd/system/dcvd.service.d"
	printf '[Unit]\nDefaultDependencies=no\nAfter=systemd-journald.socket\n[Service]\nEnvironment=PROBE_PORT=%s\n' \
		"$SANDBOX_PORT" >"$r/etc/systemd/system/dcvd.service.d/sandbox.conf"
	printf '[Unit]\nDescription=dcvd sandbox\nWants=systemd-journald.socket systemd-journald.service\n' \
		>"$r/etc/systemd/system/sandbox.target"
	# pivot_root, not chroot: the kernel refuses user namespaces
	# (PrivateUsers=) to a chrooted process.
	mkdir -p "$r/oldroot"
	cd "$r"
	pivot_root . oldroot
	cd /
	umount -l /oldroot
	exec /usr/bin/env -i container=dcvd-sandbox /lib/systemd/systemd --unit=sandbox.target \
		--log-target=journal
fi

# --- Outside ---------------------------------------------------------------------
build=$(cd "${1:?build folder}" && pwd)
watchdog=${2:-}
src=$(cd "$(dirname "$0")/../.." && pwd)
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (namespaces, mounts)"; exit 1; }
for t in unshare nsenter pivot_root python3 cc pkg-config cmake systemd-sysusers systemd-tmpfiles; do
	command -v "$t" >/dev/null || { echo "run.sh: $t is missing"; exit 1; }
done
unit=$build/systemd/dcvd.service
[ -f "$unit" ] || { echo "run.sh: $unit is missing (configure the build first)"; exit 1; }
dcvd=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$unit")
cgroot=$(findmnt -n -t cgroup2 -o TARGET | head -1)
[ -n "$cgroot" ] || { echo "run.sh: no cgroup2 file system mounted"; exit 1; }

tmp=$(mktemp -d)
cg=$cgroot/dcvd-sandbox-$$
responder_pid='' unshare_pid='' init_pid=''
cleanup() {
	[ -n "$init_pid" ] && kill -KILL "$init_pid" 2>/dev/null
	[ -n "$unshare_pid" ] && wait "$unshare_pid" 2>/dev/null
	[ -n "$responder_pid" ] && kill "$responder_pid" 2>/dev/null && wait "$responder_pid" 2>/dev/null
	# systemd made cgroups below ours: remove them deepest first, once
	# the killed processes are gone.
	local until=$((SECONDS + 10))
	while [ -d "$cg" ] && ! find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null; do
		[ "$SECONDS" -lt "$until" ] || { echo "run.sh: cannot remove $cg"; break; }
		sleep 0.2
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mkdir "$tmp/root" "$tmp/upper"

# shellcheck disable=SC2046 # the flags are words
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Werror -o "$tmp/probe" \
	"$src/tests/sandbox/probe.c" $(pkg-config --cflags --libs libuv libsystemd) ||
	{ echo "run.sh: cannot build probe.c"; exit 1; }

# The responder: UDP echo and TCP accept on 127.0.0.1 and ::1, one port.
: >"$tmp/responder.out"
python3 -u - >"$tmp/responder.out" 2>&1 <<'EOF' &
import socket, threading
def udp(s):
    while True:
        data, peer = s.recvfrom(512)
        s.sendto(data, peer)
def tcp(s):
    while True:
        s.accept()[0].close()
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4.bind(("127.0.0.1", 0))
port = u4.getsockname()[1]
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.bind(("::1", port))
t4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t4.bind(("127.0.0.1", port)); t4.listen(8)
t6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); t6.bind(("::1", port)); t6.listen(8)
for f, s in ((udp, u4), (udp, u6), (tcp, t4), (tcp, t6)):
    threading.Thread(target=f, args=(s,), daemon=True).start()
print("port", port)
threading.Event().wait()
EOF
responder_pid=$!
deadline=$((SECONDS + 10))
until port=$(sed -n 's/^port //p' "$tmp/responder.out") && [ -n "$port" ]; do
	[ "$SECONDS" -lt "$deadline" ] && kill -0 "$responder_pid" 2>/dev/null ||
		{ echo "run.sh: the responder did not start: $(cat "$tmp/responder.out")"; exit 1; }
	sleep 0.1
done

mkdir "$cg"
(
	echo "$BASHPID" >"$cg/cgroup.procs"
	export SANDBOX_TMP=$tmp SANDBOX_BUILD=$build SANDBOX_SRC=$src SANDBOX_PORT=$port SANDBOX_DCVD=$dcvd
	exec unshare --mount --pid --fork --uts --ipc --cgroup --propagation private "$0" --inner
) >"$tmp/boot.log" 2>&1 &
unshare_pid=$!

# systemd is the one child of unshare; wait until it runs.
deadline=$((SECONDS + 30))
in_sandbox() { nsenter -t "$init_pid" --mount --pid --uts --ipc --cgroup --root --wd=/ "$@"; }
state=
while :; do
	if [ -z "$init_pid" ]; then
		init_pid=$(pgrep -P "$unshare_pid" 2>/dev/null | head -1)
		[ -n "$init_pid" ] && [ "$(cat "/proc/$init_pid/comm" 2>/dev/null)" != systemd ] && init_pid=
	fi
	[ -n "$init_pid" ] && state=$(in_sandbox systemctl is-system-running 2>/dev/null)
	case $state in running | degraded) break ;; esac
	if ! kill -0 "$unshare_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
		echo "run.sh: systemd did not come up (state '$state'):"
		tail -20 "$tmp/boot.log"
		exit 1
	fi
	sleep 0.2
done
echo "run.sh: systemd $state in the sandbox (PID $init_pid here); dcvd is the probe at $dcvd"

show() { in_sandbox systemctl show dcvd.service -p "$1" --value; }
# wait_for PROPERTY PATTERN SECONDS
wait_for() {
	local until=$((SECONDS + $3))
	# shellcheck disable=SC2053 # PATTERN is a glob
	until [[ $(show "$1") == $2 ]]; do
		[ "$SECONDS" -lt "$until" ] || return 1
		sleep 0.2
	done
}

in_sandbox systemctl start dcvd.service || fail "systemctl start dcvd.service"
wait_for StatusText 'probe done*' 30 || fail "the probe did not finish: $(show StatusText)"
in_sandbox cat /var/spool/dcvd/state/probe.txt | sed 's/^/  /'
n=$(in_sandbox grep -c '^FAIL' /var/spool/dcvd/state/probe.txt)
[ "$n" = 0 ] || fail "$n probe check(s) failed"
in_sandbox grep -q 'uid=.*(dcvd)' /var/spool/dcvd/done/hook.out 2>/dev/null || fail "the hook left no trace"

in_sandbox systemctl reload dcvd.service || fail "systemctl reload dcvd.service"
[ "$(show StatusText)" = reloaded ] || fail "after reload the status is '$(show StatusText)'"

if [ "$watchdog" = --watchdog ]; then
	pid=$(show MainPID)
	in_sandbox kill -STOP "$pid"
	if wait_for NRestarts '[1-9]*' 60 && wait_for ActiveState active 30; then
		echo "run.sh: a stopped dcvd was killed by the watchdog and restarted"
	else
		fail "no restart after the watchdog timeout (NRestarts $(show NRestarts))"
	fi
fi

in_sandbox systemctl stop dcvd.service || fail "systemctl stop dcvd.service"
[ "$(show Result)" = success ] || fail "stopping: result $(show Result)"
in_sandbox grep -q '^stopping' /var/spool/dcvd/state/probe.txt || fail "the probe never saw SIGTERM"

if [ "$fails" -gt 0 ]; then
	echo "run.sh: $fails failure(s); the unit's journal:"
	in_sandbox journalctl -u dcvd.service --no-pager -o cat | tail -40
	exit 1
fi
echo "run.sh: dcvd.service's sandbox lets dcvd do its work and refuses the rest"
