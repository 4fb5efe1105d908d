#!/usr/bin/env bash
# dcv_errors.sh BUILD_DIR -- how `dcv publish | check | withdraw` fail, with
# real servers: a wrong TSIG secret (BADSIG) and an unknown key name
# (BADKEY) at BIND and at Knot; a zone the server does not serve (NOTAUTH);
# a dead address (nothing listening) and a silent server (knotd stopped by
# SIGSTOP) within --timeout; a name in no configured zone; a NOERROR to an
# add the server did not apply (CNAME beside a TXT); an older record the
# CA's walk would find first; usage and configuration errors (exit 2,
# FILE:LINE:COL). Every failure must exit 1 (2 for usage) and name the
# file, and the key, zone, server or name at fault. Address block 5.
# shellcheck disable=SC2317 # the helpers below are called through lab_check
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=lib_dcv.sh
source "$here/lib_dcv.sh"
lab_init dcv_errors 5
dcv_init "${1:?usage: dcv_errors.sh BUILD_DIR}"

P=$LAB_PORT
BIND=$LAB_NET.1 # named, primary of example.test (key dcv, hmac-sha256)
KNOT=$LAB_NET.3 # knotd, primary of knot.test (key k512, hmac-sha512)
DEAD=$LAB_NET.9 # nothing listens here

lab_key dcv hmac-sha256
lab_key other hmac-sha256 # unknown to the servers; its secret is a wrong one for dcv
lab_key k512 hmac-sha512
lab_key w512 hmac-sha512 # the same for k512
LAB_UPDATE_POLICY=any # the TXT records below go in with the lab's keys
lab_bind_primary "$BIND" "$P" dcv example.test --name bind
lab_knot_primary "$KNOT" "$P" k512 knot.test --name knot

# config FILE BINDKEY KNOTKEY [DEADNS] < KEY_BLOCK -- zones example.test (BIND),
# knot.test (Knot), notbind.test and notknot.test (configured, not served),
# dead.test (primary and name server at DEAD). DEADNS=1 adds DEAD to the
# name servers of example.test.
config() {
	local file=$1 bindkey=$2 knotkey=$3 extra=""
	[[ ${4:-} == 1 ]] && extra=", $DEAD@$P"
	{
		echo "key:"
		cat
		cat <<-EOF
			remote:
			  - id: bind
			    address: $BIND@$P
			    key: $bindkey
			  - id: knot
			    address: $KNOT@$P
			    key: $knotkey
			  - id: dead
			    address: $DEAD@$P
			    key: $bindkey
			zone:
			  - domain: example.test
			    primary: bind
			    nameservers: [$BIND@$P$extra]
			  - domain: knot.test
			    primary: knot
			    nameservers: [$KNOT@$P]
			  - domain: notbind.test
			    primary: bind
			    nameservers: [$BIND@$P]
			  - domain: notknot.test
			    primary: knot
			    nameservers: [$KNOT@$P]
			  - domain: dead.test
			    primary: dead
			    nameservers: [$DEAD@$P]
		EOF
	} >"$file"
	chmod 0600 "$file"
}
good_keys() {
	printf '  - id: dcv\n    file: keys/dcv.key\n  - id: k512\n    file: keys/k512.knot.yaml\n'
}
good_keys | config "$LAB/good.yaml" dcv k512
good_keys | config "$LAB/deadns.yaml" dcv k512 1
printf '  - id: dcv\n    algorithm: hmac-sha256\n    secret: %s\n  - id: k512\n    algorithm: hmac-sha512\n    secret: %s\n' \
	"$LAB_SECRET_OTHER" "$LAB_SECRET_W512" | config "$LAB/wrongsecret.yaml" dcv k512
printf '  - id: other\n    file: keys/other.key\n  - id: w512\n    file: keys/w512.key\n' |
	config "$LAB/unknownkey.yaml" other w512
printf '  - id: dcv\n    file: keys/dcv.key\n  - id: k512\n    algorithm: hmac-sha512\n    secret: %s\n' \
	"$LAB_SECRET_W512" | config "$LAB/halfwrong.yaml" dcv k512
GOOD=$LAB/good.yaml

for n in ex:www.example.test ex2:two.example.test kn:www.knot.test nb:www.notbind.test \
	nk:www.notknot.test dd:www.dead.test no:www.nozone.test; do
	dcv_csr "${n%%:*}" "${n#*:}"
done
dcv_csr both www.example.test www.example.test www.knot.test
dcv_expect ex example.test
EXOWNER=$DCV_OWNER
dcv_expect kn knot.test
KNOWNER=$DCV_OWNER

# fast: the last run failed at once (configuration errors are not retried).
fast() { dcv_within 2000; }

# --- wrong secret: BADSIG ----------------------------------------------------------
dcv_run badsig-bind publish -c "$LAB/wrongsecret.yaml" --timeout 10 "$LAB/csr/ex.csr"
lab_check "BIND, wrong secret: publish exits 1" dcv_rc 1
lab_check "... BADSIG naming key, zone and server" \
	dcv_err_has "ex.csr: " "zone example.test" "$BIND@$P" "BADSIG" "key 'dcv'"
lab_check "... at once, not after the timeout ($DCV_MS ms)" fast
lab_check "... and nothing was added" dcv_rcode_is "$BIND" "$P" "$EXOWNER" NXDOMAIN
dcv_run badsig-knot publish -c "$LAB/wrongsecret.yaml" --timeout 10 "$LAB/csr/kn.csr"
lab_check "Knot, wrong secret: publish exits 1" dcv_rc 1
lab_check "... BADSIG naming key, zone and server" \
	dcv_err_has "kn.csr: " "zone knot.test" "$KNOT@$P" "BADSIG" "key 'k512'"
lab_check "... at once ($DCV_MS ms)" fast
lab_check "... and nothing was added" dcv_rcode_is "$KNOT" "$P" "$KNOWNER" NXDOMAIN
dcv_run badsig-wd withdraw -c "$LAB/wrongsecret.yaml" --timeout 10 "$LAB/csr/ex.csr"
lab_check "BIND, wrong secret: withdraw exits 1 with BADSIG" dcv_rc 1
lab_check "... naming key, zone and server" \
	dcv_err_has "ex.csr: " "zone example.test" "$BIND@$P" "BADSIG" "key 'dcv'"

# One request, two zones, the key right for one: what did get published is said.
dcv_run half publish -c "$LAB/halfwrong.yaml" --timeout 10 "$LAB/csr/both.csr"
dcv_expect both example.test
lab_check "two zones, wrong secret for one: publish exits 1" dcv_rc 1
lab_check "... BADSIG for knot.test" dcv_err_has "both.csr: " "zone knot.test" "$KNOT@$P" "BADSIG"
lab_check "... and says the record in example.test is published" \
	dcv_out_has "both.csr: published $DCV_OWNER\. 300 IN CNAME $DCV_TARGET\. \(zone example.test\)"
lab_check "... which it is" lab_serves "$BIND" "$P" "$DCV_OWNER" CNAME "$DCV_TARGET"
lab_check "... and only that one" dcv_out_lines "published" 1

# --- unknown key name: BADKEY ------------------------------------------------------
dcv_run badkey-bind publish -c "$LAB/unknownkey.yaml" --timeout 10 "$LAB/csr/ex.csr"
lab_check "BIND, unknown key: publish exits 1" dcv_rc 1
lab_check "... BADKEY naming key, zone and server" \
	dcv_err_has "ex.csr: " "zone example.test" "$BIND@$P" "BADKEY" "key 'other'"
lab_check "... at once ($DCV_MS ms)" fast
dcv_run badkey-knot publish -c "$LAB/unknownkey.yaml" --timeout 10 "$LAB/csr/kn.csr"
lab_check "Knot, unknown key: publish exits 1" dcv_rc 1
lab_check "... BADKEY naming key, zone and server" \
	dcv_err_has "kn.csr: " "zone knot.test" "$KNOT@$P" "BADKEY" "key 'w512'"
lab_check "... at once ($DCV_MS ms)" fast

# --- a zone the server does not serve: NOTAUTH -------------------------------------
dcv_run notauth-bind publish -c "$GOOD" --timeout 10 "$LAB/csr/nb.csr"
lab_check "BIND, zone it does not serve: publish exits 1" dcv_rc 1
lab_check "... NOTAUTH naming zone and server" \
	dcv_err_has "nb.csr: " "zone notbind.test" "$BIND@$P" "NOTAUTH"
lab_check "... at once ($DCV_MS ms)" fast
dcv_run notauth-knot publish -c "$GOOD" --timeout 10 "$LAB/csr/nk.csr"
lab_check "Knot, zone it does not serve: publish exits 1" dcv_rc 1
lab_check "... NOTAUTH naming zone and server" \
	dcv_err_has "nk.csr: " "zone notknot.test" "$KNOT@$P" "NOTAUTH"
lab_check "... at once ($DCV_MS ms)" fast

# --- a dead address: within --timeout ----------------------------------------------
dcv_run dead-pub publish -c "$GOOD" --timeout 3 "$LAB/csr/dd.csr"
lab_check "dead primary: publish exits 1" dcv_rc 1
lab_check "... within the timeout + 1 s ($DCV_MS ms of 3 s)" dcv_within 4000
lab_check "... naming zone and server" dcv_err_has "dd.csr: " "zone dead.test" "$DEAD@$P"
dcv_run dead-wd withdraw -c "$GOOD" --timeout 3 "$LAB/csr/dd.csr"
lab_check "dead primary: withdraw exits 1" dcv_rc 1
lab_check "... within the timeout + 1 s ($DCV_MS ms of 3 s)" dcv_within 4000
lab_check "... naming zone and server" dcv_err_has "dd.csr: " "zone dead.test" "$DEAD@$P"
dcv_run pub-ex publish -c "$GOOD" "$LAB/csr/ex.csr"
lab_check "publish to BIND with the right key exits 0" dcv_rc 0
dcv_run dead-check check -c "$LAB/deadns.yaml" --timeout 3 "$LAB/csr/ex.csr"
lab_check "dead name server: check exits 1" dcv_rc 1
lab_check "... within the timeout + 1 s ($DCV_MS ms of 3 s)" dcv_within 4000
lab_check "... naming the dead server" dcv_err_has "ex.csr: " "server $DEAD@$P"
lab_check "... and not BIND, which serves the record" dcv_err_lacks "server $BIND@$P"

# --- a silent server (SIGSTOP): within --timeout -----------------------------------
# Both runs happen while knotd sleeps; the checks come after the resume.
# knotns.yaml: knot.test without nameservers, so that dcv must ask its
# (silent) primary for the NS set first; the short --timeout must still end
# with the server named, not with an unfinished round.
awk '$0 ~ /- domain: knot.test$/ { zone = 1 }
	zone && $1 == "nameservers:" { zone = 0; next }
	{ print }' "$GOOD" >"$LAB/knotns.yaml"
lab_pause knot
dcv_run silent-pub publish -c "$GOOD" --timeout 3 "$LAB/csr/kn.csr"
pub_rc=$DCV_RC pub_ms=$DCV_MS
dcv_run silent-check check -c "$GOOD" --timeout 3 "$LAB/csr/kn.csr"
check_rc=$DCV_RC check_ms=$DCV_MS
dcv_run silent-ns check -c "$LAB/knotns.yaml" --timeout 1 "$LAB/csr/kn.csr"
lab_resume knot
lab_check "silent primary asked for the NS set: check exits 1" dcv_rc 1
lab_check "... within the timeout + 1 s ($DCV_MS ms of 1 s)" dcv_within 2000
lab_check "... naming it (no reply)" dcv_err_has "kn.csr: " "finding its name servers: $KNOT@$P: no reply"
DCV_TAG=silent-check DCV_RC=$check_rc DCV_MS=$check_ms
lab_check "silent name server: check exits 1" dcv_rc 1
lab_check "... within the timeout + 1 s ($DCV_MS ms of 3 s)" dcv_within 4000
lab_check "... naming it (timed out)" dcv_err_has "kn.csr: " "server $KNOT@$P" "timed out"
DCV_TAG=silent-pub DCV_RC=$pub_rc DCV_MS=$pub_ms
lab_check "silent primary: publish exits 1" dcv_rc 1
lab_check "... within the timeout + 1 s ($DCV_MS ms of 3 s)" dcv_within 4000
lab_check "... naming zone and server" dcv_err_has "kn.csr: " "zone knot.test" "$KNOT@$P"

# --- a name in no configured zone --------------------------------------------------
dcv_run nozone publish -c "$GOOD" "$LAB/csr/no.csr"
lab_check "name in no zone: publish exits 1" dcv_rc 1
lab_check "... naming the name" dcv_err_has "no.csr: " "www.nozone.test" "no configured zone"
lab_check "... at once ($DCV_MS ms)" fast
dcv_run nozone-check check -c "$GOOD" "$LAB/csr/no.csr"
lab_check "name in no zone: check exits 1 at once" dcv_rc 1
lab_check "... naming the name" dcv_err_has "no.csr: " "www.nozone.test"
dcv_run mixed publish -c "$GOOD" "$LAB/csr/no.csr" "$LAB/csr/ex2.csr"
lab_check "a bad file among good ones: publish exits 1" dcv_rc 1
lab_check "... and still publishes the good one" dcv_out_has "ex2.csr: published "
lab_check "... blaming only the bad one" dcv_err_lacks "ex2.csr"
dcv_expect ex2 example.test
lab_check "dig: bind serves the good one's record" lab_serves "$BIND" "$P" "$DCV_OWNER" CNAME "$DCV_TARGET"

# --- NOERROR is not trusted: a CNAME cannot stand beside other data ----------------
# BIND and Knot both answer NOERROR to the add and keep the TXT record alone.
dcv_csr busy busy.example.test
dcv_expect busy example.test
lab_nsupdate dcv "$BIND" "$P" <<<"update add $DCV_OWNER. 30 TXT occupied" >/dev/null
dcv_run busy-bind publish -c "$GOOD" --timeout 10 "$LAB/csr/busy.csr"
lab_check "BIND, owner holds a TXT record: publish exits 1" dcv_rc 1
lab_check "... saying a CNAME cannot stand beside other records" \
	dcv_err_has "busy.csr: " "zone example.test" "$BIND@$P" "NODATA" "cannot stand beside"
dcv_csr kbusy busy.knot.test
dcv_expect kbusy knot.test
lab_nsupdate k512 "$KNOT" "$P" <<<"update add $DCV_OWNER. 30 TXT occupied" >/dev/null
dcv_run busy-knot publish -c "$GOOD" --timeout 10 "$LAB/csr/kbusy.csr"
lab_check "Knot, owner holds a TXT record: publish exits 1" dcv_rc 1
lab_check "... saying a CNAME cannot stand beside other records" \
	dcv_err_has "kbusy.csr: " "zone knot.test" "$KNOT@$P" "NODATA" "cannot stand beside"

# --- another record the CA would find first ----------------------------------------
# An older record at _md5.shadow.example.test (placement fqdn, another unique
# value) is what the CA's walk finds before ours at the apex.
dcv_csr shadow shadow.example.test
dcv_expect shadow example.test
{ echo "placement: fqdn"; cat "$GOOD"; } >"$LAB/fqdn.yaml"
dcv_run shadow-old publish -c "$LAB/fqdn.yaml" --unique old1 "$LAB/csr/shadow.csr"
lab_check "publish at _md5.shadow.example.test (fqdn, unique old1) exits 0" dcv_rc 0
dcv_run shadow-new publish -c "$GOOD" "$LAB/csr/shadow.csr"
lab_check "publish at the apex exits 0" dcv_rc 0
dcv_run shadow-check check -c "$GOOD" --timeout 2 "$LAB/csr/shadow.csr"
lab_check "check exits 1: the CA would find the older record first" dcv_rc 1
lab_check "... naming it and the server" \
	dcv_err_has "shadow.csr: " "server $BIND@$P" "_$DCV_MD5.shadow.example.test" \
	"\.old1\.sectigo\.com\., another record the CA would find first"

# --- usage and configuration errors: exit 2 ----------------------------------------
dcv_run nocfg publish "$LAB/csr/ex.csr"
lab_check "no -c: exit 2" dcv_rc 2
lab_check "... saying so" dcv_err_has "needs -c CONFIG"
dcv_run nofile check -c "$GOOD"
lab_check "no FILE: exit 2" dcv_rc 2
dcv_run badtimeout withdraw -c "$GOOD" --timeout 0 "$LAB/csr/ex.csr"
lab_check "--timeout 0: exit 2" dcv_rc 2
lab_check "... saying what is accepted" dcv_err_has "--timeout '0': .*more than 0"
dcv_run badopt publish -c "$GOOD" --bogus "$LAB/csr/ex.csr"
lab_check "unknown option: exit 2" dcv_rc 2
dcv_run nocfgfile publish -c "$LAB/missing.yaml" "$LAB/csr/ex.csr"
lab_check "missing configuration file: exit 2" dcv_rc 2
lab_check "... naming it" dcv_err_has "missing.yaml"
printf 'ttl: 300\nkey:\n\t- id: dcv\n' >"$LAB/broken.yaml" # a tab on line 3
dcv_run broken publish -c "$LAB/broken.yaml" "$LAB/csr/ex.csr"
lab_check "broken YAML: exit 2" dcv_rc 2
lab_check "... with FILE:LINE:COL of the tab" dcv_err_has "broken.yaml:3:1: YAML syntax error"
printf 'ttl: 300\ntll: 5\nkey:\n  - id: x\n    file: nokey.key\n' >"$LAB/wrong.yaml"
dcv_run wrong check -c "$LAB/wrong.yaml" "$LAB/csr/ex.csr"
lab_check "unknown setting and missing key file: exit 2" dcv_rc 2
lab_check "... FILE:LINE:COL of the unknown setting" dcv_err_has "wrong.yaml:2:1: .*unknown key 'tll'"
lab_check "... and of the key file" dcv_err_has "wrong.yaml:5:11: .*nokey.key"
lab_check "... nothing on stdout" test ! -s "$LAB/run/wrong.out"

lab_finish
