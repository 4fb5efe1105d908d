# shellcheck shell=bash
# lib_faults.sh -- helpers for the fault-injection tests of dcvd
# (dcvd_fault_*.sh). Source it after lib.sh and lab_init:
#
#   source "$here/lib.sh"
#   source "$here/lib_faults.sh"
#   lab_init dcvd_fault_x 13
#   fault_init "$1" "$LAB/spool"        # the build folder; the spool
#   fault_lab 90s secondary              # or write $LAB/dcvd.yaml (spool: $SPOOL)
#   fault_start                          # dcvd under the lab, name "dcvd"
#   fault_stage a.csr "$LAB/a.csr"; fault_drop
#   lab_check "a is done" lab_until 20 fault_done_is 1
#
# "No job lost" is checked from the spool alone: every CSR dropped ends as
# done/NAME.csr + done/NAME.status (or failed/ where it must), nothing is
# left in incoming/ or active/. Expected records come from the CSR's DER
# bytes (PEM base64-decoded, hashed by python's hashlib), not from dcv.

# fault_init BUILD_DIR SPOOL -- sets DCVD, DCV, GEN_CSRS and SPOOL.
fault_init() {
	local build=${1:?fault_init BUILD_DIR SPOOL}
	SPOOL=${2:?fault_init BUILD_DIR SPOOL}
	DCVD=$build/dcvd DCV=$build/dcv GEN_CSRS=$build/tests/gen_csrs
	local p
	for p in "$DCVD" "$DCV" "$GEN_CSRS"; do
		[[ -x $p ]] || _lab_err "$p is missing: build it first" || return 1
	done
	lab_need dig python3 || return 1
	mkdir -p "$SPOOL"
}

# fault_lab VISIBLE_TIMEOUT [secondary] -- the lab most fault tests share:
# key dcv, zone example.test on a BIND primary "bind" at $p (and, with
# "secondary", a Knot secondary "knot" at $s that BIND notifies), and
# $LAB/dcvd.yaml for them with withdraw_after 0. Sets p and s.
fault_lab() {
	local timeout=${1:?fault_lab VISIBLE_TIMEOUT [secondary]} servers
	p=$LAB_NET.1 s=$LAB_NET.2
	lab_key dcv hmac-sha256 || return 1
	chmod 0640 "$LAB/keys/dcv.key"
	if [[ ${2:-} == secondary ]]; then
		lab_zone_file example.test "ns1=$p" "ns2=$s"
		lab_bind_primary "$p" "$LAB_PORT" dcv example.test --notify "$s@$LAB_PORT" \
			--name bind || return 1
		lab_knot_secondary "$s" "$LAB_PORT" "$p@$LAB_PORT" example.test --name knot || return 1
		servers="$p@$LAB_PORT, $s@$LAB_PORT"
	else
		lab_zone_file example.test "ns1=$p"
		lab_bind_primary "$p" "$LAB_PORT" dcv example.test --name bind || return 1
		servers="$p@$LAB_PORT"
	fi
	cat >"$LAB/dcvd.yaml" <<-EOF
		spool: $SPOOL
		withdraw_after: 0
		visible_timeout: $timeout
		key:
		  - id: dcv
		    file: $LAB/keys/dcv.key
		remote:
		  - id: bind
		    address: $p@$LAB_PORT
		    key: dcv
		zone:
		  - domain: example.test
		    primary: bind
		    nameservers: [$servers]
	EOF
}

# fault_start [NAME [PREFIX_CMD...]] -- starts dcvd -c $LAB/dcvd.yaml -v as
# lab server NAME (default dcvd), optionally under PREFIX_CMD (faketime
# ...), and waits until its log says it started.
fault_start() {
	local name=${1:-dcvd}
	(($#)) && shift
	lab_spawn "$name" "$@" "$DCVD" -c "$LAB/dcvd.yaml" -v || return 1
	lab_until 10 grep -q "dcvd: info: started" "$(lab_log "$name")" ||
		_lab_err "$name did not start: $(tail -n 5 "$(lab_log "$name")")" || return 1
}

# fault_stage NAME FILE -- copies FILE to SPOOL/.stage/NAME (same filesystem
# as incoming/, so that fault_drop is a rename).
fault_stage() {
	mkdir -p "$SPOOL/.stage"
	cp "${2:?fault_stage NAME FILE}" "$SPOOL/.stage/${1:?fault_stage NAME FILE}"
}

# fault_drop -- renames everything staged into incoming/ at once (a burst).
# One rename(2) per file and nothing else: mv would stat its targets after
# the rename and fail on those that dcvd has claimed in between.
fault_drop() {
	python3 - "$SPOOL/.stage" "$SPOOL/incoming" <<-'EOF'
		import os, sys
		names = sorted(os.listdir(sys.argv[1]))
		if not names:
		    sys.exit("lab: nothing staged")
		for n in names:
		    os.rename(os.path.join(sys.argv[1], n), os.path.join(sys.argv[2], n))
	EOF
}

# fault_count DIR [GLOB] -- prints how many files SPOOL/DIR holds (matching
# GLOB, default *.status).
fault_count() {
	local dir=$SPOOL/${1:?fault_count DIR [GLOB]} glob=${2:-*.status}
	local -a f=()
	[[ -d $dir ]] && mapfile -t f < <(find "$dir" -maxdepth 1 -name "$glob" -printf '%f\n')
	echo "${#f[@]}"
}

# fault_done_is N -- true when done/ holds exactly N status files.
fault_done_is() {
	(($(fault_count 'done') == ${1:?fault_done_is N}))
}

# fault_empty DIR -- true when SPOOL/DIR holds no file but dot-files.
fault_empty() {
	local left
	left=$(find "$SPOOL/${1:?fault_empty DIR}" -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f ')
	[[ -z $left ]] && return 0
	echo "  $1/ still holds: ${left:0:300}"
	return 1
}

# fault_field FILE KEY -- prints KEY of the YAML status FILE.
fault_field() {
	python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get(sys.argv[2]))' \
		"${1:?fault_field FILE KEY}" "${2:?fault_field FILE KEY}"
}

# fault_states DIR STATE -- true when every status file in SPOOL/DIR says
# state: STATE (and there is at least one).
fault_states() {
	python3 - "$SPOOL/${1:?fault_states DIR STATE}" "${2:?fault_states DIR STATE}" <<-'EOF'
		import glob, sys, yaml
		files = glob.glob(sys.argv[1] + "/*.status")
		bad = [f for f in files if yaml.safe_load(open(f)).get("state") != sys.argv[2]]
		for f in bad[:5]:
		    print("  " + f + ": state " + str(yaml.safe_load(open(f)).get("state")))
		sys.exit(1 if bad or not files else 0)
	EOF
}

# fault_log_has [NAME:]ERE... -- true when one line of dcvd's log (or of
# server NAME's) matches every extended regular expression given. On
# failure prints the last lines of that log (fault_log_match: quietly, for
# lab_until).
fault_log_has() {
	fault_log_match "$@" && return 0
	local name=dcvd
	[[ ${1:-} == *: ]] && name=${1%:}
	echo "  no line of $name's log matches every one of: $*; its last lines:"
	tail -n 8 "$(lab_log "$name")" | sed 's/^/  | /'
	return 1
}

fault_log_match() {
	local name=dcvd lines pat
	if [[ ${1:-} == *: ]]; then
		name=${1%:}
		shift
	fi
	lines=$(cat "$(lab_log "$name")")
	for pat in "$@"; do
		lines=$(grep -E -- "$pat" <<<"$lines") || return 1
	done
	[[ -n $lines ]]
}

# fault_log_count ERE -- prints how many lines of dcvd's log match ERE.
fault_log_count() {
	grep -cE -- "${1:?fault_log_count ERE}" "$(lab_log dcvd)" || true
}

# fault_alive [NAME] -- true while dcvd (or NAME) runs.
fault_alive() {
	local pid
	pid=$(lab_pid "${1:-dcvd}") && kill -0 "$pid" 2>/dev/null
}

# fault_expect ADN FILE... -- prints "_<md5>.ADN. <sha256 split>.sectigo.com."
# for each PEM CSR FILE, sorted: the record dcvd must publish for a CSR
# whose names all lie at or below ADN.
fault_expect() {
	python3 - "${1:?fault_expect ADN FILE...}" "${@:2}" <<-'EOF'
		import base64, hashlib, sys
		adn = sys.argv[1].rstrip(".")
		out = []
		for path in sys.argv[2:]:
		    text = open(path).read()
		    body = text.split("-----BEGIN CERTIFICATE REQUEST-----")[1]
		    body = body.split("-----END CERTIFICATE REQUEST-----")[0]
		    der = base64.b64decode("".join(body.split()))
		    md5 = hashlib.md5(der).hexdigest()
		    sha = hashlib.sha256(der).hexdigest()
		    out.append(f"_{md5}.{adn}. {sha[:32]}.{sha[32:]}.sectigo.com.")
		print("\n".join(sorted(out)))
	EOF
}

# fault_unserved ADDR FILE -- prints how many "OWNER TARGET" lines of FILE
# (fault_expect's) ADDR@LAB_PORT does not serve as a CNAME, one query each.
fault_unserved() {
	local owner target missing=0
	while read -r owner target; do
		lab_serves "$1" "$LAB_PORT" "$owner" CNAME "$target" || missing=$((missing + 1))
	done <"${2:?fault_unserved ADDR FILE}"
	echo "$missing"
}

# fault_axfr ADDR PORT ZONE SOURCE -- prints the zone's CNAME records whose
# owner starts with "_" as "OWNER TARGET" lines, sorted, lower case, from an
# AXFR of ADDR@PORT sent from address SOURCE (one the server allows to
# transfer). Duplicates stay: the caller compares.
fault_axfr() {
	local out
	out=$(dig +time=3 +tries=1 -b "${4:?fault_axfr ADDR PORT ZONE SOURCE}" -p "$2" @"$1" \
		"$3" AXFR 2>&1) || _lab_err "AXFR of $3 from $1@$2 failed: $out" || return 1
	grep -q 'XFR size' <<<"$out" || _lab_err "AXFR of $3 from $1@$2: $out" || return 1
	awk 'toupper($4) == "CNAME" && $1 ~ /^_/ { print tolower($1), tolower($5) }' <<<"$out" | sort
}
