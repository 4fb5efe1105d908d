# shellcheck shell=bash
# lib_boot.sh -- systemd as process 1 of a throwaway namespace, for tests
# that must run a unit under its own sandbox on a host (a container, CI)
# whose process 1 is not systemd. Source it after lib.sh:
#
#   boot_start PREPARE TARGET   boot; PREPARE (a bash script) fills the root
#                               ($1) first; waits until systemd is running
#   boot_run COMMAND...         run COMMAND inside (every namespace, its root)
#   boot_journal UNIT           the unit's journal, for messages
#
# The root is / under an overlay with a tmpfs upper layer, set up by
# lib_boot_ns.sh inside a private mount namespace: nothing the booted
# system writes reaches the host's files. The network namespace is the
# host's, so units reach the lab's servers on 127.53.INDEX.x. The booted
# system is killed (SIGKILL to its process 1, which ends every process in
# its PID namespace) when the test exits; its cgroup is removed after.
# Needs root, util-linux (unshare, nsenter) and the systemd package.

_BOOT_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BOOT_PID=""

# The cgroup2 hierarchy systemd gets a subtree of: where the host mounts
# one (/sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid
# one), else one mounted in $LAB for this test.
_boot_cgroup_root() {
	local mnt type rest
	while read -r _ mnt type rest; do
		[[ $type == cgroup2 ]] && echo "$mnt" && return 0
	done </proc/mounts
	mkdir -p "$LAB/cgroup2"
	mount -t cgroup2 dcvboot "$LAB/cgroup2" || return 1
	lab_atexit "umount '$LAB/cgroup2'"
	echo "$LAB/cgroup2"
}

# boot_start PREPARE TARGET -- boot systemd into TARGET (a unit PREPARE
# should write into $1/etc/systemd/system) and wait up to 30 s until it
# says it is running (or degraded, which the test's own checks explain).
boot_start() {
	local prepare=${1:?boot_start PREPARE TARGET} target=${2:?} cg state="" i
	lab_need unshare nsenter systemctl || return 1
	cg=$(_boot_cgroup_root) || _lab_err "boot: no cgroup2 hierarchy to give systemd" || return 1
	BOOT_CGROUP=$cg/dcvboot-${LAB_NET##*.}-$$
	mkdir -p "$LAB/boot/base" "$BOOT_CGROUP"
	: >"$LAB/boot/console"
	lab_atexit "boot_stop"
	# The shell moves itself into the cgroup, then becomes unshare, whose
	# child becomes process 1 of the namespaces and dies with it
	# (lib_boot_ns.sh sets its parent-death signal; unshare's --kill-child
	# fails in util-linux 2.38: "sigprocmask unblock failed").
	# shellcheck disable=SC2016 # expanded by the inner shell
	lab_spawn boot sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$BOOT_CGROUP" \
		unshare --pid --mount --uts --ipc --cgroup --fork \
		"$_BOOT_HERE/lib_boot_ns.sh" "$LAB/boot/base" "$prepare" "$target" || return 1
	for ((i = 0; i < 300; i++)); do
		BOOT_PID=$(_boot_init_pid)
		if [[ -n $BOOT_PID ]]; then
			state=$(boot_run systemctl is-system-running 2>/dev/null) || true
			[[ $state == running || $state == degraded ]] && return 0
		fi
		sleep 0.1
	done
	_lab_err "boot: systemd is not running after 30 s (state '${state:-none}'); its console:"
	tail -n 30 "$LAB/boot/console" | sed 's/^/  | /' >&2
	return 1
}

# The host's PID of the namespaces' process 1 (the child of unshare, which
# is lab server "boot"), once it is systemd; empty before.
_boot_init_pid() {
	local unshare child
	unshare=$(lab_pid boot 2>/dev/null) || return 0
	child=$(cat "/proc/$unshare/task/$unshare/children" 2>/dev/null) || return 0
	child=${child%% *}
	[[ -n $child && $(cat "/proc/$child/comm" 2>/dev/null) == systemd ]] && echo "$child"
	return 0
}

# boot_run COMMAND... -- COMMAND in every namespace of the booted system,
# with its root and working folder.
boot_run() {
	[[ -n $BOOT_PID ]] || _lab_err "boot_run: nothing booted" || return 1
	nsenter -t "$BOOT_PID" -a -r -w "$@"
}

# boot_journal UNIT -- the unit's journal in the booted system.
boot_journal() {
	boot_run journalctl --no-pager -o cat -u "${1:?boot_journal UNIT}" 2>&1
}

# Kills the booted system (lab_atexit); then its cgroup can go.
boot_stop() {
	local pid=$BOOT_PID i
	[[ -n $pid ]] || pid=$(_boot_init_pid)
	[[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		[[ -n $pid && -e /proc/$pid ]] || break
		sleep 0.1
	done
	[[ -z ${BOOT_CGROUP:-} || ! -d $BOOT_CGROUP ]] ||
		find "$BOOT_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null
	BOOT_PID=""
}
