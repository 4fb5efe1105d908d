#!/usr/bin/env bash
# dcv_knot.sh BUILD_DIR -- `dcv publish | check | withdraw` against a Knot
# primary (TSIG hmac-sha512) that notifies a Knot secondary, with unbound
# as the resolver. The servers run on port 53 so that the configuration can
# leave out `nameservers:` and dcv finds the authoritative servers from the
# zone's NS set and glue (NS discovery). The key comes inline (`secret:`),
# from keymgr's file and from tsig-keygen's file. withdraw waits for a
# paused secondary. Address block 3.
# shellcheck disable=SC2317 # the helpers below are called through lab_check
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=lib_dcv.sh
source "$here/lib_dcv.sh"
lab_init dcv_knot 3
dcv_init "${1:?usage: dcv_knot.sh BUILD_DIR}"
lab_need kdig

P=53               # NS glue carries no port: discovery means port 53
KNOT1=$LAB_NET.1   # knotd, primary of knot.test
KNOT2=$LAB_NET.2   # knotd, its secondary
UNBOUND=$LAB_NET.4 # unbound, stub to both

lab_key k512 hmac-sha512
lab_zone_file knot.test ns1="$KNOT1" ns2="$KNOT2"
lab_knot_primary "$KNOT1" "$P" k512 knot.test --notify "$KNOT2@$P" --name knot1
lab_knot_secondary "$KNOT2" "$P" "$KNOT1@$P" knot.test --name knot2
lab_unbound "$UNBOUND" "$P" knot.test="$KNOT1@$P,$KNOT2@$P" --name unbound

config() { # FILE KEY_LINES...
	local file=$1
	shift
	{
		echo "key:"
		echo "  - id: k512"
		printf '    %s\n' "$@"
		cat <<-EOF
			remote:
			  - id: knot1
			    address: $KNOT1@$P
			    key: k512
			zone:
			  - domain: knot.test
			    primary: knot1
			resolver: [$UNBOUND@$P]
		EOF
	} >"$file"
	chmod 0600 "$file"
}
config "$LAB/inline.yaml" "algorithm: hmac-sha512" "secret: $LAB_SECRET_K512"
config "$LAB/keymgr.yaml" "file: keys/k512.knot.yaml"
config "$LAB/bind.yaml" "file: keys/k512.key"

dcv_csr wild knot.test knot.test '*.knot.test' www.knot.test
CSR=$LAB/csr/wild.csr
dcv_expect wild knot.test
OWNER=$DCV_OWNER TARGET=$DCV_TARGET MD5=$DCV_MD5

# --- publish with the inline secret --------------------------------------------------
dcv_run pub publish -c "$LAB/inline.yaml" "$CSR"
lab_check "publish (hmac-sha512, inline secret) exits 0" dcv_rc 0
lab_check "... says nothing on stderr" test ! -s "$LAB/run/pub.err"
lab_check "one record for knot.test, *.knot.test and www.knot.test" \
	dcv_out_lines ": published " 1
lab_check "... at the apex" dcv_out_has "published $OWNER\. 300 IN CNAME $TARGET\. \(zone knot.test\)"
lab_check "kdig: the knot primary serves it" dcv_kdig_serves "$KNOT1" "$P" "$OWNER" "$TARGET"
lab_check "dig agrees" lab_serves "$KNOT1" "$P" "$OWNER" CNAME "$TARGET"
lab_check "no record at _md5.www.knot.test" dcv_rcode_is "$KNOT1" "$P" "_$MD5.www.knot.test" NXDOMAIN

# --- check, with the servers found from the NS set -----------------------------------
dcv_run check check -c "$LAB/inline.yaml" "$CSR"
lab_check "check (NS discovery) exits 0" dcv_rc 0
lab_check "... found both servers of the NS set" \
	dcv_out_has "wild.csr: visible: 3 names served by 2 authoritative addresses and 1 resolver"
lab_check "kdig: the secondary serves it" dcv_kdig_serves "$KNOT2" "$P" "$OWNER" "$TARGET"
lab_check "unbound resolves it" lab_resolves "$UNBOUND" "$P" "$OWNER" CNAME "$TARGET"

# --- withdraw with the key from keymgr's file ----------------------------------------
dcv_run wd withdraw -c "$LAB/keymgr.yaml" "$CSR"
lab_check "withdraw (keymgr key file) exits 0" dcv_rc 0
lab_check "... gone from 2 authoritative addresses" \
	dcv_out_has "withdrawn $OWNER\. CNAME $TARGET\. \(zone knot.test\), gone from 2 authoritative addresses"
lab_check "the primary says NXDOMAIN" dcv_rcode_is "$KNOT1" "$P" "$OWNER" NXDOMAIN
lab_check "the secondary says NXDOMAIN" dcv_rcode_is "$KNOT2" "$P" "$OWNER" NXDOMAIN

# --- publish and withdraw with the key from tsig-keygen's file -----------------------
dcv_csr again again.knot.test
dcv_expect again knot.test
dcv_run pub2 publish -c "$LAB/bind.yaml" "$LAB/csr/again.csr"
lab_check "publish (tsig-keygen key file) exits 0" dcv_rc 0
lab_check "kdig: the primary serves it" dcv_kdig_serves "$KNOT1" "$P" "$DCV_OWNER" "$DCV_TARGET"
# Discovery must have found the secondary: with it paused, check cannot succeed.
lab_pause knot2
dcv_run paused check -c "$LAB/bind.yaml" --timeout 2 "$LAB/csr/again.csr"
lab_resume knot2
lab_check "check with the discovered secondary paused exits 1" dcv_rc 1
lab_check "... naming it" dcv_err_has "again.csr" "$KNOT2@$P" "timed out"
lab_check "... within 3 s ($DCV_MS ms)" dcv_within 3000
dcv_run check2 check -c "$LAB/bind.yaml" "$LAB/csr/again.csr"
lab_check "check after the resume exits 0" dcv_rc 0
# withdraw waits until the record is gone from every server: with the
# secondary paused it cannot finish before the resume.
lab_pause knot2
"$DCV" withdraw -c "$LAB/bind.yaml" --timeout 20 "$LAB/csr/again.csr" >"$LAB/run/wd2.out" \
	2>"$LAB/run/wd2.err" &
wd_pid=$!
_lab_now
wd_started=$_LAB_NOW
exited() { ! kill -0 "$wd_pid" 2>/dev/null; }
lab_check "withdraw keeps waiting while the secondary is paused (2 s)" lab_not lab_until 2 exited
lab_check "the primary says NXDOMAIN meanwhile" dcv_rcode_is "$KNOT1" "$P" "$DCV_OWNER" NXDOMAIN
lab_resume knot2
lab_until 15 exited || true
_lab_now
wd_rc=0
wait "$wd_pid" || wd_rc=$?
DCV_TAG=wd2 DCV_RC=$wd_rc DCV_MS=$((_LAB_NOW - wd_started))
lab_check "withdraw (tsig-keygen key file) exits 0 after the resume" dcv_rc 0
lab_check "the secondary says NXDOMAIN" dcv_rcode_is "$KNOT2" "$P" "$DCV_OWNER" NXDOMAIN

lab_finish
