# shellcheck shell=bash
# lib_dnssec.sh -- the signed lab of the DNSSEC tests (issue 12), on top of
# lib.sh and lib_dcvd.sh. Source it after them; ctest skips lib*.sh.
#
#   dnssec_lab NAME INDEX BUILD ZONE [knot|bind] [--anchor good|wrong|none]
#
# starts P ($LAB_NET.1): a primary that signs ZONE and every UPDATE (Knot
# `dnssec-signing: on`, or BIND `dnssec-policy default`); S ($LAB_NET.2): a
# Knot secondary of it (NOTIFY, IXFR), so it serves the signed copy; and,
# unless the anchor is none, R ($LAB_NET.3): a validating unbound whose
# trust anchor is ZONE's KSK as P serves it (good) or a key P never had
# (wrong: the chain is broken, as with a wrong DS at the parent).

# dnssec_anchor_file ZONE good|wrong -- writes $LAB/trust-anchors.
dnssec_anchor_file() {
	local zone=${1:?} which=${2:?} k
	if [[ $which == good ]]; then
		dig +norec +noall +answer -p "$LAB_PORT" @"$P" "$zone" DNSKEY |
			awk '$4 == "DNSKEY" && $5 == 257' >"$LAB/trust-anchors"
	else
		lab_need dnssec-keygen || return 1
		k=$(dnssec-keygen -q -a ECDSAP256SHA256 -f KSK -K "$LAB" "$zone") || return 1
		grep -v '^;' "$LAB/$k.key" >"$LAB/trust-anchors"
	fi
	[[ -s $LAB/trust-anchors ]] || _lab_err "no trust anchor for $zone" || return 1
}

dnssec_lab() {
	local name=${1:?dnssec_lab NAME INDEX BUILD ZONE [knot|bind] [--anchor good|wrong|none]}
	local index=${2:?} build=${3:?} zone=${4:?} signer=${5:-knot} anchor=good
	[[ ${6:-} != --anchor ]] || anchor=${7:?--anchor good|wrong|none}
	lab_init "$name" "$index"
	lab_need dig python3
	DCVD=$build/dcvd DCV=$build/dcv GEN_CSRS=$build/tests/gen_csrs
	[[ -x $DCVD && -x $DCV && -x $GEN_CSRS ]] ||
		_lab_err "build dcvd, dcv and tests/gen_csrs first (in $build)" || return 1
	P=$LAB_NET.1 S=$LAB_NET.2 R=$LAB_NET.3
	lab_key dcv hmac-sha256
	chmod 0640 "$LAB/keys/dcv.key"
	lab_zone_file "$zone" "ns1=$P" "ns2=$S"
	# A negative TTL of 30 s (not 3): a denial the resolver caches outlives a check.
	sed -i 's/ hostmaster 1 5 2 600 3$/ hostmaster 1 5 2 600 30/' "$LAB/zones/$zone.zone"
	if [[ $signer == bind ]]; then
		lab_bind_primary "$P" "$LAB_PORT" dcv "$zone" --notify "$S@$LAB_PORT" --signed
	else
		lab_knot_primary "$P" "$LAB_PORT" dcv "$zone" --notify "$S@$LAB_PORT" --signed
	fi
	# The zone is signed once its apex has a DNSKEY (BIND signs a moment after loading).
	lab_until 10 lab_serves "$P" "$LAB_PORT" "$zone" DNSKEY ||
		_lab_err "$signer did not sign $zone" || return 1
	lab_knot_secondary "$S" "$LAB_PORT" "$P@$LAB_PORT" "$zone"
	lab_until 10 lab_serves "$S" "$LAB_PORT" "$zone" DNSKEY ||
		_lab_err "the secondary has no signed copy of $zone" || return 1
	[[ $anchor == none ]] && return 0
	dnssec_anchor_file "$zone" "$anchor" || return 1
	lab_unbound "$R" "$LAB_PORT" "$zone=$P@$LAB_PORT,$S@$LAB_PORT" --validate
}

# dnssec_flags REC ADDR OWNER TYPE -- the header flags of the answer (DO set), e.g. "qr rd ra ad".
dnssec_flags() {
	local rd=+norec
	[[ $1 == rec ]] && rd=+rec
	dig "$rd" +dnssec +time=2 +tries=1 -p "$LAB_PORT" @"$2" "$3" "$4" |
		sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p'
}
