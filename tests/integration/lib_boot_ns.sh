#!/usr/bin/env bash
# lib_boot_ns.sh BASE PREPARE TARGET -- run by lib_boot.sh as process 1 of new
# PID, mount, UTS, IPC and cgroup namespaces: makes a root for systemd and
# execs systemd in it, so that a unit runs under its own sandbox on a host
# whose process 1 is not systemd (a container, CI).
#
# The root is this machine's / under an overlay whose upper layer is a tmpfs
# at BASE: whatever systemd and the units write (tmpfiles, sysusers, the
# journal, the spool) lands in the tmpfs and vanishes with the namespace;
# the host's files are never written. Nothing here is mounted in the host's
# mount namespace (propagation private), /proc/sys is read-only (so
# systemd-sysctl skips), /sys is read-only (so udev and friends skip), and
# $container is set, as systemd-nspawn does it. PREPARE (a bash script) runs
# with the root as $1 before systemd starts; TARGET is the unit systemd
# boots into.
set -euo pipefail
base=${1:?lib_boot_ns.sh BASE PREPARE TARGET} prepare=${2:?} target=${3:?}
root=$base/root

mount --make-rprivate /
mount -t tmpfs -o mode=0755 dcvboot "$base"
mkdir -p "$base/upper" "$base/work" "$root"
mount -t overlay dcvboot -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$root"

mount -t proc proc "$root/proc"
mount --bind "$root/proc/sys" "$root/proc/sys"
mount -o remount,bind,ro "$root/proc/sys"
mount -t sysfs -o ro sysfs "$root/sys"
# This process is the root of its cgroup namespace: systemd sees its own
# subtree of the host's cgroup2 hierarchy as the whole.
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"

# A /dev with the usual character devices of the host, a console that is a
# file (systemd's boot messages, for the test's log) and private pts and shm.
mount -t tmpfs -o mode=0755 dcvboot "$root/dev"
for d in null zero full random urandom tty; do
	touch "$root/dev/$d"
	mount --bind "/dev/$d" "$root/dev/$d"
done
touch "$root/dev/console"
mount --bind "$base/../console" "$root/dev/console"
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777 dcvboot "$root/dev/shm"
mount -t tmpfs -o mode=0755 dcvboot "$root/run"
mount -t tmpfs -o mode=1777 dcvboot "$root/tmp"

echo dcvboot >"$root/etc/hostname"
# Boot only what the test asks for: none of the image's own services
# (named, knot, unbound would take the lab's ports), no getty, no timers.
rm -f "$root"/etc/systemd/system/*.target.wants/* "$root"/etc/systemd/system/*.service.wants/*
bash "$prepare" "$root"
# The root becomes / by pivot_root, not chroot: the kernel refuses a
# chrooted process a user namespace, and units with PrivateUsers= need one.
cd "$root"
mkdir -p .dcvboot-old
pivot_root . .dcvboot-old
umount -l /.dcvboot-old
rmdir /.dcvboot-old
# Should unshare (this process's parent, lab server "boot") die, so does
# everything here: the kernel kills process 1 of a PID namespace's
# children with it.
exec setpriv --pdeathsig KILL -- /usr/bin/env -i container=dcvboot /lib/systemd/systemd \
	--unit="$target" --log-target=console --log-level=info
