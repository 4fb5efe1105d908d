# shellcheck shell=bash
# lib_dcv.sh -- helpers for the integration tests of `dcv publish | check |
# withdraw` (dcv_*.sh). Source it after lib.sh and lab_init:
#
#   source "$here/lib.sh"
#   source "$here/lib_dcv.sh"
#   lab_init dcv_x 9
#   dcv_init "$1"                       # the build folder: dcv is $1/dcv
#   dcv_csr web www.example.test example.test
#   dcv_expect web example.test         # DCV_OWNER, DCV_TARGET from openssl
#   dcv_run pub publish -c "$LAB/dcv.yaml" "$LAB/csr/web.csr"
#   lab_check "publish exits 0" dcv_rc 0
#
# The expected records come from openssl (digests of the request's DER
# bytes), never from dcv itself.

# dcv_init BUILD_DIR -- sets DCV to the dcv program and checks the tools.
dcv_init() {
	local build=${1:?dcv_init BUILD_DIR}
	DCV=$build/dcv
	[[ -x $DCV ]] || _lab_err "$DCV is missing: build the dcv target first" || return 1
	lab_need openssl || return 1
	mkdir -p "$LAB/csr" "$LAB/run"
}

# dcv_csr NAME CN [SAN...] -- $LAB/csr/NAME.csr: a new P-256 key and a
# request with subject CN and the SAN dNSNames given (none: no SAN
# extension).
dcv_csr() {
	local name=${1:?dcv_csr NAME CN [SAN...]} cn=${2:?dcv_csr NAME CN [SAN...]} san=""
	shift 2
	local -a args=(-new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
		-keyout "$LAB/csr/$name.key" -subj "/CN=$cn" -out "$LAB/csr/$name.csr")
	if (($#)); then
		printf -v san 'DNS:%s,' "$@"
		args+=(-addext "subjectAltName=${san%,}")
	fi
	openssl req "${args[@]}" 2>"$LAB/csr/$name.err" ||
		_lab_err "openssl req for $name failed: $(cat "$LAB/csr/$name.err")" || return 1
}

# dcv_expect NAME ADN -- sets DCV_OWNER (_<md5>.ADN, no trailing dot) and
# DCV_TARGET (<sha256 0:32>.<sha256 32:64>.sectigo.com) for $LAB/csr/NAME.csr,
# hashing the DER bytes with openssl.
dcv_expect() {
	local name=${1:?dcv_expect NAME ADN} adn=${2:?dcv_expect NAME ADN} der md5 sha
	der=$LAB/csr/$name.der
	openssl req -in "$LAB/csr/$name.csr" -outform DER -out "$der" 2>/dev/null ||
		_lab_err "openssl cannot read $LAB/csr/$name.csr" || return 1
	md5=$(openssl dgst -md5 -r "$der" | cut -d' ' -f1)
	sha=$(openssl dgst -sha256 -r "$der" | cut -d' ' -f1)
	[[ ${#md5} == 32 && ${#sha} == 64 ]] || _lab_err "no digests for $name" || return 1
	# shellcheck disable=SC2034 # read by the tests that source this file
	DCV_MD5=$md5 DCV_OWNER=_$md5.$adn DCV_TARGET=${sha:0:32}.${sha:32:32}.sectigo.com
}

# dcv_run TAG ARG... -- runs dcv ARG... with stdout in $LAB/run/TAG.out and
# stderr in $LAB/run/TAG.err; sets DCV_RC (exit status), DCV_MS (run time)
# and DCV_TAG. Never fails itself.
dcv_run() {
	local tag=${1:?dcv_run TAG ARG...} start
	shift
	DCV_TAG=$tag
	_lab_now
	start=$_LAB_NOW
	DCV_RC=0
	"$DCV" "$@" >"$LAB/run/$tag.out" 2>"$LAB/run/$tag.err" || DCV_RC=$?
	_lab_now
	DCV_MS=$((_LAB_NOW - start))
}

# Prints the last run's output, indented, after a failed check.
_dcv_show() {
	echo "  dcv exit status $DCV_RC after $DCV_MS ms; stdout:"
	sed 's/^/  | /' "$LAB/run/$DCV_TAG.out"
	echo "  stderr:"
	sed 's/^/  | /' "$LAB/run/$DCV_TAG.err"
}

# dcv_rc STATUS -- true when the last run exited with STATUS.
dcv_rc() {
	[[ $DCV_RC == "${1:?dcv_rc STATUS}" ]] && return 0
	_dcv_show
	return 1
}

# dcv_within MS -- true when the last run took at most MS milliseconds.
dcv_within() {
	((DCV_MS <= ${1:?dcv_within MS})) && return 0
	_dcv_show
	return 1
}

# dcv_err_has PATTERN... -- true when some line of the last run's stderr
# matches every extended regular expression given (all on the same line).
dcv_err_has() {
	_dcv_grep err "$@"
}

# dcv_err_lacks PATTERN -- true when no line of the last run's stderr
# matches the extended regular expression PATTERN.
dcv_err_lacks() {
	local hit
	hit=$(grep -E -- "${1:?dcv_err_lacks PATTERN}" "$LAB/run/$DCV_TAG.err") || return 0
	echo "  stderr has: $hit"
	return 1
}

# dcv_out_has PATTERN... -- the same for stdout.
dcv_out_has() {
	_dcv_grep out "$@"
}

_dcv_grep() { # out|err PATTERN...
	local file=$LAB/run/$DCV_TAG.$1 lines
	shift
	lines=$(cat "$file")
	local pat
	for pat in "$@"; do
		lines=$(grep -E -- "$pat" <<<"$lines") || break
	done
	[[ -n $lines ]] && return 0
	echo "  no line matching all of: $*"
	_dcv_show
	return 1
}

# dcv_out_lines PATTERN N -- true when exactly N lines of stdout match PATTERN.
dcv_out_lines() {
	local n
	n=$(grep -cE -- "${1:?dcv_out_lines PATTERN N}" "$LAB/run/$DCV_TAG.out" || true)
	[[ $n == "${2:?dcv_out_lines PATTERN N}" ]] && return 0
	echo "  $n lines match '$1', want $2"
	_dcv_show
	return 1
}

# dcv_rcode_is ADDR PORT OWNER RCODE -- true when ADDR@PORT (RD=0) answers
# RCODE for OWNER CNAME.
dcv_rcode_is() {
	local got
	got=$(lab_rcode "$1" "$2" "$3" CNAME)
	[[ $got == "$4" ]] && return 0
	echo "  $1@$2 says $got for $3 CNAME, want $4"
	return 1
}

# dcv_kdig_serves ADDR PORT OWNER TARGET -- kdig (RD=0) gets exactly TARGET.
dcv_kdig_serves() {
	local got
	got=$(kdig @"$1" -p "$2" +norec +short +timeout=1 +retry=0 "$3" CNAME 2>&1)
	[[ ${got,,} == "${4,,}." ]] && return 0
	echo "  kdig @$1 -p $2 $3 CNAME: '$got', want '$4.'"
	return 1
}

# dcv_hostile NAME LISTEN@PORT UPSTREAM@PORT ALT -- tests/tools/hostile_dns.py
# as lab server NAME, forwarding to UPSTREAM, in mode pass (the mode file is
# $LAB/mode: write another mode into it to switch); waits until it listens.
dcv_hostile() {
	local name=${1:?dcv_hostile NAME LISTEN UPSTREAM ALT}
	echo pass >"$LAB/mode"
	lab_spawn "$name" python3 "$(dirname "${BASH_SOURCE[0]}")/../tools/hostile_dns.py" \
		"$2" "$3" "$4" "$LAB/mode" "$LAB/$name.ready"
	lab_until 10 test -s "$LAB/$name.ready" || _lab_err "hostile_dns.py ($name) did not start"
}
