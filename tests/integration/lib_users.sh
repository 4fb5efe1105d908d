# shellcheck shell=bash
# lib_users.sh -- dcvd as on a real host: the daemon runs as a system user of
# its own, and other users drop CSRs into a shared incoming/. Source it after
# lib.sh and lib_dcvd.sh, once lab_init (or dcvd_lab) has run:
#
#   source "$here/lib.sh"
#   source "$here/lib_dcvd.sh"
#   source "$here/lib_users.sh"
#   dcvd_lab mytest 22 "$build" example.test
#   users_init 22                      # accounts dcvdt22-d, -s1, -s2, group dcvdt22-sub
#   users_spool "$LAB/spool"           # SPOOL 0710, incoming/ 3770, results/ 3730 daemon:group
#   users_dcvd_start dcvd "$LAB/dcvd.yaml" "$LAB/spool"   # dcvd as dcvdt22-d
#   users_as "$USERS_S1" "$USERS_PY" "$USERS_SUBMIT" "$LAB/spool/incoming" put "$LAB/a.csr" a.csr
#
# The accounts, as systemd/dcvd.sysusers makes dcvd and dcv-submit: the
# daemon user USERS_D (dcvdtINDEX-d) and the submitters USERS_S1 and
# USERS_S2 (dcvdtINDEX-s1, -s2), each a system user with a group of its own
# and no home, all three members of the group USERS_GROUP (dcvdtINDEX-sub).
# The test's INDEX is in every name, so tests running in parallel never
# share an account; the names start with "dcvdt", which no real account
# has. useradd and userdel still take the same /etc/passwd lock, so the
# changes are made one test at a time (flock). Accounts left behind by a
# test that was killed before its exit trap are recognised by their comment
# and made anew; an account of the same name that is not one of ours is
# never touched (the test fails instead). On exit the accounts are removed,
# after dcvd and every process started here as one of them is stopped.
#
# A test that needs these accounts fails (never skips) when it cannot have
# them: not root, or setpriv, useradd, groupadd, userdel, groupdel missing.
#
# Expected records still come from the CSR's DER bytes hashed by python's
# hashlib (users_expected), never from dcv.

USERS_MARK="dcvd integration test account (tests/integration/lib_users.sh)"
USERS_LOCK=/run/lock/dcvdt-accounts.lock
declare -gA USERS_UID=() USERS_GID=()
declare -ga USERS_SERVERS=() # lab servers started as USERS_D (stopped before userdel)
declare -ga USERS_PIDS=()    # background processes started with users_bg
USERS_CREATED=0

_users_fail() {
	echo "lab: users: $* -- this test needs real accounts and fails without them (it does not skip)" >&2
	return 1
}

# users_init INDEX -- create the accounts (see above) and register their
# removal on exit. Sets USERS_D, USERS_S1, USERS_S2, USERS_GROUP, USERS_UID
# and USERS_GID (name -> number; USERS_GID[user] is the user's own group,
# USERS_GID[$USERS_GROUP] the shared one), USERS_SUBMIT (the drop tool) and
# USERS_PY (a python3 the accounts can run: root's may be out of their reach).
users_init() {
	local index=${1:?users_init INDEX} u
	[[ -n ${LAB:-} && -d $LAB ]] || _lab_err "users_init: run lab_init first" || return 1
	USERS_D=dcvdt$index-d USERS_S1=dcvdt$index-s1 USERS_S2=dcvdt$index-s2
	USERS_GROUP=dcvdt$index-sub
	((EUID == 0)) || _users_fail "not root (uid $EUID): cannot create the accounts" || return 1
	for u in setpriv useradd groupadd userdel groupdel usermod getent flock python3; do
		command -v "$u" >/dev/null 2>&1 || _users_fail "$u is not installed" || return 1
	done
	[[ -d ${USERS_LOCK%/*} ]] || USERS_LOCK=${TMPDIR:-/tmp}/dcvdt-accounts.lock
	lab_atexit users_cleanup
	USERS_CREATED=1
	_users_locked _users_create || return 1
	for u in "$USERS_D" "$USERS_S1" "$USERS_S2"; do
		USERS_UID[$u]=$(id -u "$u") && USERS_GID[$u]=$(id -g "$u") ||
			_users_fail "account $u was not created" || return 1
	done
	USERS_GID[$USERS_GROUP]=$(getent group "$USERS_GROUP" | cut -d: -f3)
	[[ -n ${USERS_GID[$USERS_GROUP]} ]] || _users_fail "group $USERS_GROUP was not created" || return 1
	USERS_SUBMIT=$LAB/users_submit.py
	_users_submit_tool >"$USERS_SUBMIT" && chmod 0644 "$USERS_SUBMIT"
	users_as "$USERS_S1" true || _users_fail "setpriv cannot run a command as $USERS_S1" || return 1
	# root's python3 may live where other users cannot reach (pyenv under /root).
	USERS_PY=
	for u in "$(command -v python3)" /usr/bin/python3 /usr/local/bin/python3; do
		if [[ -x $u ]] && users_as "$USERS_S1" "$u" -c 'import socket' 2>/dev/null; then
			USERS_PY=$u
			break
		fi
	done
	[[ -n $USERS_PY ]] || _users_fail "no python3 that $USERS_S1 can run" || return 1
	echo "lab: users: daemon $USERS_D (uid ${USERS_UID[$USERS_D]}), submitters $USERS_S1" \
		"(uid ${USERS_UID[$USERS_S1]}) and $USERS_S2 (uid ${USERS_UID[$USERS_S2]}), group" \
		"$USERS_GROUP (gid ${USERS_GID[$USERS_GROUP]})"
}

# Runs COMMAND... holding the accounts lock (60 s at most to get it).
_users_locked() {
	local rc=0
	{
		flock -w 60 9 || _users_fail "could not lock $USERS_LOCK in 60 s" || return 1
		"$@" || rc=$?
	} 9>>"$USERS_LOCK"
	return "$rc"
}

# True when account or group NAME does not exist or is a leftover of ours.
_users_ours() { # user|group NAME
	local entry
	if [[ $1 == user ]]; then
		entry=$(getent passwd "$2") || return 0
		[[ $(cut -d: -f5 <<<"$entry") == "$USERS_MARK" ]]
	else
		entry=$(getent group "$2") || return 0
		# Ours: no member but our own accounts.
		local m
		for m in $(cut -d: -f4 <<<"$entry" | tr ',' ' '); do
			[[ $m == "$USERS_D" || $m == "$USERS_S1" || $m == "$USERS_S2" ]] || return 1
		done
	fi
}

_users_create() {
	local u out
	for u in "$USERS_D" "$USERS_S1" "$USERS_S2"; do
		_users_ours user "$u" || _users_fail "an account $u exists that this test did not make" || return 1
	done
	_users_ours group "$USERS_GROUP" ||
		_users_fail "a group $USERS_GROUP exists that this test did not make" || return 1
	# Leftovers of a run killed before its exit trap.
	_users_remove 2>/dev/null
	out=$(groupadd --system "$USERS_GROUP" 2>&1) ||
		_users_fail "groupadd --system $USERS_GROUP failed: $out" || return 1
	for u in "$USERS_D" "$USERS_S1" "$USERS_S2"; do
		out=$(useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment "$USERS_MARK" --groups "$USERS_GROUP" "$u" 2>&1) ||
			_users_fail "useradd --system $u failed: $out" || return 1
	done
}

_users_remove() {
	local u
	for u in "$USERS_D" "$USERS_S1" "$USERS_S2"; do
		if getent passwd "$u" >/dev/null && _users_ours user "$u"; then
			userdel "$u" || userdel -f "$u"
		fi
		# userdel removes the user's own group too; not when it has members.
		getent group "$u" >/dev/null && groupdel "$u"
	done
	if getent group "$USERS_GROUP" >/dev/null && _users_ours group "$USERS_GROUP"; then
		groupdel "$USERS_GROUP"
	fi
	return 0
}

# On exit (lab_atexit; before the lab stops its servers): stop what runs as
# our accounts, then remove them.
users_cleanup() {
	local pid
	((USERS_CREATED)) || return 0
	((${#USERS_SERVERS[@]} == 0)) || _lab_kill "${USERS_SERVERS[@]}"
	for pid in "${USERS_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	_users_locked _users_remove
	USERS_CREATED=0
	local left
	left=$(getent passwd "$USERS_D" "$USERS_S1" "$USERS_S2" | cut -d: -f1 | tr '\n' ' ')
	[[ -z $left ]] || echo "lab: users: could not remove the accounts $left" >&2
}

# users_as USER COMMAND... -- run COMMAND as USER: its uid, its own group,
# its supplementary groups (USERS_GROUP), like a login would.
users_as() {
	local u=${1:?users_as USER COMMAND...}
	shift
	setpriv --reuid="${USERS_UID[$u]:?no account $u}" --regid="${USERS_GID[$u]}" --init-groups \
		-- "$@"
}

# users_bg USER COMMAND... -- users_as in the background; stopped on exit
# unless users_wait waited for it. Sets USERS_BG to its pid.
users_bg() {
	users_as "$@" &
	USERS_BG=$!
	USERS_PIDS+=("$USERS_BG")
}

# users_wait PID -- wait for a process of users_bg (or any background process
# listed in USERS_PIDS); returns its exit status. Once reaped, its pid is
# dropped from the list, so that the exit trap never signals a stranger
# that got the same pid.
users_wait() {
	local pid=${1:?users_wait PID} rc=0 i
	wait "$pid" || rc=$?
	for i in "${!USERS_PIDS[@]}"; do
		[[ ${USERS_PIDS[$i]} != "$pid" ]] || unset "USERS_PIDS[$i]"
	done
	return "$rc"
}

# users_spool SPOOL -- SPOOL as dcvd.tmpfiles makes it, for our accounts:
# SPOOL 0710 daemon:group, SPOOL/incoming 3770 daemon:group (setgid: every
# entry gets the group, so the daemon can read a 0640 file; sticky: a
# submitter can remove or rename only its own entries), SPOOL/results 3730
# daemon:group (dcv submit --wait: the group makes folders there but cannot
# list it). dcvd makes the other folders. Also lets the daemon user reach
# what it must read: $LAB (0711, search only), the key files (group of the
# daemon user, 0640).
users_spool() {
	local spool=${1:?users_spool SPOOL} d=$USERS_D g=$USERS_GROUP f
	chmod 0711 "$LAB"
	chmod 0755 "$LAB/keys"
	for f in "$LAB"/keys/*.key; do
		[[ -e $f ]] || continue
		chgrp "${USERS_GID[$d]}" "$f" && chmod 0640 "$f"
	done
	mkdir -p "$spool/incoming" "$spool/results"
	chown "$d:$g" "$spool" "$spool/incoming" "$spool/results"
	chmod 0710 "$spool"
	chmod 3770 "$spool/incoming"
	chmod 3730 "$spool/results"
}

# users_daemon_can CONFIG -- fail, saying what, unless the daemon user can
# run $DCVD and read CONFIG and the key files (every folder on the way
# must let it search).
users_daemon_can() {
	local cfg=${1:?users_daemon_can CONFIG} f
	users_as "$USERS_D" test -x "$DCVD" ||
		_users_fail "$USERS_D cannot run $DCVD (a folder on the way is not searchable?)" || return 1
	users_as "$USERS_D" test -r "$cfg" || _users_fail "$USERS_D cannot read $cfg" || return 1
	for f in "$LAB"/keys/*.key; do
		[[ -e $f ]] || continue
		users_as "$USERS_D" test -r "$f" || _users_fail "$USERS_D cannot read $f" || return 1
	done
}

# users_dcvd_start NAME CONFIG SPOOL -- dcvd_start, as the daemon user: runs
# dcvd -c CONFIG -v as lab server NAME under setpriv (uid, group,
# supplementary groups of USERS_D; --pdeathsig again, since a change of
# uid clears the one lab_spawn set) and waits until its log says it
# started. Checks that the process runs as USERS_D.
users_dcvd_start() {
	local name=${1:?users_dcvd_start NAME CONFIG SPOOL} cfg=${2:?} spool=${3:?} before pid uid
	users_daemon_can "$cfg" || return 1
	before=$(_dcvd_starts "$name")
	lab_spawn "$name" setpriv --reuid="${USERS_UID[$USERS_D]}" --regid="${USERS_GID[$USERS_D]}" \
		--init-groups --pdeathsig TERM -- "$DCVD" -c "$cfg" -v || return 1
	USERS_SERVERS+=("$name")
	_users_wait_started "$name" "$before" || return 1
	pid=$(lab_pid "$name")
	uid=$(awk '$1 == "Uid:" { print $2 }' "/proc/$pid/status")
	[[ $uid == "${USERS_UID[$USERS_D]}" ]] ||
		_lab_err "$name runs as uid $uid, not as $USERS_D (${USERS_UID[$USERS_D]})" || return 1
	[[ -d $spool/incoming ]] || _lab_err "$name made no spool $spool"
}

# users_dcvd_restart NAME -- stop dcvd NAME, start it again as before and
# wait until its log says it started.
users_dcvd_restart() {
	local name=${1:?users_dcvd_restart NAME} before
	before=$(_dcvd_starts "$name")
	lab_restart "$name" || return 1
	_users_wait_started "$name" "$before"
}

_users_wait_started() { # NAME BEFORE
	lab_until 10 _dcvd_started "$1" "$2" && return 0
	_lab_err "$1 did not start in 10 s; its log:"
	tail -n 20 "$(lab_log "$1")" | sed 's/^/  | /' >&2
	return 1
}

# users_expected TARGET ADN FILE... -- print "OWNER TARGET" (lower case, no
# trailing dot) per CSR FILE (PEM or DER): _<md5>.ADN and <sha256
# 0:32>.<sha256 32:64>.TARGET from the DER bytes (hashlib), sorted.
users_expected() {
	python3 - "${1:?users_expected TARGET ADN FILE...}" "${2:?}" "${@:3}" <<-'EOF'
		import base64, hashlib, re, sys
		target, adn, out = sys.argv[1].lower().rstrip("."), sys.argv[2].lower().rstrip("."), []
		for path in sys.argv[3:]:
		    raw = open(path, "rb").read()
		    m = re.search(rb"-----BEGIN CERTIFICATE REQUEST-----(.*?)-----END", raw, re.S)
		    der = base64.b64decode(b"".join(m.group(1).split())) if m else raw
		    md5, sha = hashlib.md5(der).hexdigest(), hashlib.sha256(der).hexdigest()
		    out.append("_%s.%s %s.%s.%s" % (md5, adn, sha[:32], sha[32:], target))
		print("\n".join(sorted(out)))
	EOF
}

# The drop tool, run as a submitter: $USERS_PY $USERS_SUBMIT INCOMING OP ARG...
# Names are taken as raw bytes (any byte but '/' and NUL). Every entry is
# made under a dot-name in INCOMING (ignored by dcvd) and renamed into
# place, so dcvd never sees a half-written file.
#   put SRC NAME...       copy SRC to each NAME (mode 0640), one rename each
#   drop SRC...           each SRC under its own name: all written, then renamed
#   text NAME TEXT        a file NAME holding TEXT (a sidecar, say)
#   mkdir NAME            a directory (mode 0755: the daemon cannot write it)
#   fifo NAME | socket NAME | symlink TARGET NAME
#   hardlink SRC NAME     SRC copied to .NAME.src, NAME linked to it (2 links)
#   rm NAME               remove NAME (file or directory)
#   flap COUNT NAME...    COUNT times: create NAME (a file, symlink or FIFO,
#                         in turn) and remove it again a few ms later
_users_submit_tool() {
	cat <<-'EOF'
		import os, socket, sys, time
		inc = os.fsencode(sys.argv[1])
		op, args = sys.argv[2], [os.fsencode(a) for a in sys.argv[3:]]
		def path(name):
		    return os.path.join(inc, name)
		def tmp(name):
		    return path(b".%s.%d.tmp" % (name.replace(b".", b"_")[:64], os.getpid()))
		def write(name, data):
		    t = tmp(name)
		    fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
		    os.write(fd, data)
		    os.close(fd)
		    os.rename(t, path(name))
		if op == "put":
		    data = open(args[0], "rb").read()
		    for name in args[1:]:
		        write(name, data)
		elif op == "drop":
		    todo = []
		    for src in args:
		        name = os.path.basename(src)
		        t = tmp(name)
		        fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
		        os.write(fd, open(src, "rb").read())
		        os.close(fd)
		        todo.append((t, path(name)))
		    for t, p in todo:
		        os.rename(t, p)
		elif op == "text":
		    write(args[0], args[1])
		elif op == "mkdir":
		    t = tmp(args[0])
		    os.mkdir(t, 0o755)
		    os.rename(t, path(args[0]))
		elif op == "fifo":
		    t = tmp(args[0])
		    os.mkfifo(t, 0o640)
		    os.rename(t, path(args[0]))
		elif op == "socket":
		    t = tmp(args[0])
		    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		    s.bind(t)
		    os.rename(t, path(args[0]))
		    s.close()
		elif op == "symlink":
		    t = tmp(args[1])
		    os.symlink(args[0], t)
		    os.rename(t, path(args[1]))
		elif op == "hardlink":
		    src = path(b"." + args[1] + b".src")
		    fd = os.open(src, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
		    os.write(fd, open(args[0], "rb").read())
		    os.close(fd)
		    os.link(src, path(args[1]))
		elif op == "rm":
		    p = path(args[0])
		    if os.path.isdir(p) and not os.path.islink(p):
		        os.rmdir(p)
		    else:
		        os.unlink(p)
		elif op == "flap":
		    count, names = int(args[0]), args[1:]
		    for i in range(count):
		        name = names[i % len(names)]
		        p = path(name)
		        try:
		            kind = i % 3
		            if kind == 0:
		                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
		                os.write(fd, b"flap %d\n" % i)
		                os.close(fd)
		            elif kind == 1:
		                os.symlink(b"/etc/hostname", p)
		            else:
		                os.mkfifo(p, 0o640)
		        except FileExistsError:
		            continue  # still there from before: dcvd has not moved it
		        time.sleep(0.002 + 0.001 * (i % 5))
		        try:
		            os.unlink(p)
		        except FileNotFoundError:
		            pass  # dcvd took it first
		else:
		    sys.exit("users_submit.py: unknown op " + op)
	EOF
}
