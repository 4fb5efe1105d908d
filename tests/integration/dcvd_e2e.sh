#!/usr/bin/env bash
# dcvd_e2e.sh BUILD -- the daemon end to end with real servers: BIND primary
# -> Knot secondary (NOTIFY/IXFR) -> unbound. Good CSRs end in done/ with
# their record served by every server and the resolver; every kind of bad
# input ends in failed/ with its reason while dcvd keeps running; a name in
# no zone fails saying so; withdraw_after deletes the records everywhere;
# the hook runs; `dcv status` reports. Expected owners and targets come from
# python's hashlib over each CSR's DER bytes (dcvd_expected, lib_dcvd.sh)
# and openssl's digest of the same bytes, never from dcv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
data=${DCV_TEST_DATA:?DCV_TEST_DATA}
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
lab_init dcvd_e2e 7
lab_need dig openssl python3

p=$LAB_NET.1 s=$LAB_NET.2 r=$LAB_NET.3
lab_key dcv hmac-sha256
lab_zone_file example.test "ns1=$p" "ns2=$s"
lab_bind_primary "$p" "$LAB_PORT" dcv example.test --notify "$s@$LAB_PORT"
lab_knot_secondary "$s" "$LAB_PORT" "$p@$LAB_PORT" example.test
lab_unbound "$r" "$LAB_PORT" "example.test=$p@$LAB_PORT,$s@$LAB_PORT"

spool=$LAB/spool
mkdir -p "$spool"
cat >"$LAB/hook.sh" <<EOF
#!/bin/sh
echo "\$DCV_EVENT \$DCV_FILE \$DCV_NAMES" >>"$LAB/hook.log"
EOF
chmod 0755 "$LAB/hook.sh"
chmod 0640 "$LAB/keys/dcv.key"
cat >"$LAB/dcvd.yaml" <<EOF
spool: $spool
# long enough that the checks below see the record served, also on a busy machine
withdraw_after: 15s
visible_timeout: 30s
hook: $LAB/hook.sh
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
    nameservers: [$p@$LAB_PORT, $s@$LAB_PORT]
resolver: [$r@$LAB_PORT]
EOF
lab_check "dcvd --check accepts the configuration" "$build/dcvd" -c "$LAB/dcvd.yaml" --check
lab_spawn dcvd "$build/dcvd" -c "$LAB/dcvd.yaml" -v
lab_until 10 test -d "$spool/incoming" || lab_fail "dcvd did not create its spool"

# drop NAME FILE: put FILE into incoming/ by rename() from the same filesystem.
drop() {
	cp -a "$2" "$spool/.$1.tmp"
	python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$spool/.$1.tmp" \
		"$spool/incoming/$1"
}
status_field() { # FILE KEY
	python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get(sys.argv[2]))' "$1" "$2"
}

# --- good CSRs ----------------------------------------------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$LAB/k.pem" \
	-subj "/CN=www.example.test" \
	-addext "subjectAltName=DNS:www.example.test,DNS:example.test,DNS:*.example.test" \
	-out "$LAB/one.csr" 2>/dev/null
"$build/tests/gen_csrs" "$LAB" 20 example.test 2 many
drop one.csr "$LAB/one.csr"
for f in "$LAB"/many*.csr; do drop "$(basename "$f")" "$f"; done
lab_check "one.csr is visible: done/one.status" lab_until 20 test -e "$spool/done/one.status"
lab_check "20 more CSRs visible" lab_until 30 bash -c "[ \$(ls $spool/done/*.status 2>/dev/null | wc -l) -ge 21 ]"
lab_check "the status says visible" test "$(status_field "$spool/done/one.status" state)" = visible
lab_check "the CSR moved to done/" lab_until 10 test -e "$spool/done/one.csr"
lab_check "nothing left in active/" test -z "$(ls -A "$spool/active")"
# The oracles: python's hashlib (dcvd_expected) and openssl, over the DER.
read -r owner target < <(dcvd_expected example.test "$LAB/one.csr")
openssl req -in "$LAB/one.csr" -outform DER -out "$LAB/one.der"
md5=$(openssl dgst -md5 -r "$LAB/one.der" | cut -d' ' -f1)
sha256=$(openssl dgst -sha256 -r "$LAB/one.der" | cut -d' ' -f1)
lab_check "the oracles agree: owner _<md5>.example.test, target <sha256 in two halves>.sectigo.com" \
	test "$owner $target" = "_$md5.example.test ${sha256:0:32}.${sha256:32}.sectigo.com"
lab_check "the status file's md5 and sha256 are openssl's" \
	test "$(status_field "$spool/done/one.status" md5) $(status_field "$spool/done/one.status" sha256)" = "$md5 $sha256"
lab_check "dcv records prints that one record at the zone apex (placement zone)" \
	test "$("$build/dcv" records "$LAB/one.csr" | awk 'NR > 1 { print $1, $5 }')" = "$owner. $target."
lab_check "the primary serves it" lab_serves "$p" "$LAB_PORT" "$owner" CNAME "$target"
lab_check "the secondary serves it" lab_serves "$s" "$LAB_PORT" "$owner" CNAME "$target"
lab_check "the resolver serves it" lab_resolves "$r" "$LAB_PORT" "$owner" CNAME "$target"
lab_check "the hook ran for visible" lab_until 10 grep -q "^visible one.csr www.example.test" "$LAB/hook.log"
dcvd_expected example.test "$LAB"/many*.csr >"$LAB/many.want"
dcvd_axfr_cnames "$p" "$LAB_PORT" example.test "$s" >"$LAB/zone.cnames"
lab_check "the primary's zone holds the record of each of the 20 CSRs ($(wc -l <"$LAB/zone.cnames") CNAMEs)" \
	test -z "$(comm -23 "$LAB/many.want" "$LAB/zone.cnames")"

# --- dcv status ------------------------------------------------------------------
"$build/dcv" status -c "$LAB/dcvd.yaml" >"$LAB/status.out"
lab_check "dcv status counts visible jobs" grep -Eq "visible (2[1-9]|[3-9][0-9])" "$LAB/status.out"

# --- bad inputs ---------------------------------------------------------------
expect_failed=()
while IFS=$'\t' read -r name reason; do
	[ "$name" = adir.csr ] && continue
	drop "bad-$name" "$data/bad/$name"
	expect_failed+=("bad-$name|$reason")
done <"$data/bad/bad.tsv"
ln -s "$LAB/one.csr" "$spool/incoming/symlink.csr"
mkfifo "$spool/incoming/fifo.csr"
mkdir "$spool/incoming/dir.csr"
head -c $((1024 * 1024)) /dev/zero >"$spool/.big"
python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$spool/.big" "$spool/incoming/big.csr"
openssl req -new -key "$LAB/k.pem" -subj "/CN=www.elsewhere.test" -out "$LAB/nozone.csr" 2>/dev/null
drop nozone.csr "$LAB/nozone.csr"
expect_failed+=("symlink.csr|symbolic link" "fifo.csr|FIFO" "dir.csr|directory"
	"big.csr|larger than the limit of 65536 bytes" "nozone.csr|lies in no configured zone")
for e in "${expect_failed[@]}"; do
	name=${e%%|*} reason=${e#*|}
	stem=${name%.*}
	if lab_until 20 test -e "$spool/failed/$stem.status"; then
		err=$(status_field "$spool/failed/$stem.status" error)
		case $err in
		*"$reason"*) lab_ok "failed/$stem.status says: $err" ;;
		*) lab_fail "failed/$stem.status says '$err', want '$reason'" ;;
		esac
	else
		lab_fail "$name: no failed/$stem.status"
	fi
	lab_check "$name moved out of incoming/" test ! -e "$spool/incoming/$name"
done
lab_check "dcvd still runs after the bad inputs" kill -0 "$(lab_pid dcvd)"
lab_check "the hook ran for failed" grep -q "^failed nozone.csr" "$LAB/hook.log"
"$build/dcv" status -c "$LAB/dcvd.yaml" >"$LAB/status.out"
lab_check "dcv status lists failures with reasons" grep -q "lies in no configured zone" "$LAB/status.out"

# --- withdrawal ------------------------------------------------------------------
lab_check "withdrawn after withdraw_after: the status says so" \
	lab_until 30 bash -c "python3 -c 'import sys,yaml; sys.exit(yaml.safe_load(open(\"$spool/done/one.status\"))[\"state\"] != \"withdrawn\")'"
lab_check "the primary no longer serves it" lab_not lab_serves "$p" "$LAB_PORT" "$owner" CNAME
lab_check "the secondary no longer serves it" lab_until 5 lab_not lab_serves "$s" "$LAB_PORT" "$owner" CNAME
lab_check "the hook ran for withdrawn" lab_until 10 grep -q "^withdrawn one.csr" "$LAB/hook.log"
lab_finish
