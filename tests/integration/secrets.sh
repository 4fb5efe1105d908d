#!/usr/bin/env bash
# secrets.sh BUILD_DIR -- the TSIG secret never shows, and what dcvd creates
# has the narrowest sensible mode.
#
# dcv and dcvd run with known secrets (the right one and a wrong one)
# through success and through every failure we can provoke: BADSIG (wrong
# secret), BADKEY (unknown key name), broken configurations and key files
# (bad algorithm, secret not base64, too long, a list, YAML syntax errors,
# unknown and duplicate fields, the secret in the algorithm field, broken
# BIND and keymgr key files, a key file too large), a key file the program
# may not read (run as nobody), a refused reload (SIGHUP) and hook runs
# (visible, withdrawn, failed). Then every output, log line, status file,
# job record and hook environment dump is searched for each secret, as
# base64 and as hex (and for a 16-character piece of either): never found.
# A positive control shows the search finds the secret where it belongs
# (the key file). The hook also lists its open files: none is the key file
# or the configuration.
#
# Modes: dcvd runs under umask 000 with a spool it creates: the spool 0710,
# incoming/ 3770, results/ 3730, active/ done/ failed/ state/ 0750 -- exactly the modes in
# systemd/dcvd.tmpfiles, which the test reads -- and every file it writes
# (job records, status files) 0640. Address block 18.
# shellcheck disable=SC2317 # the helpers below are called through lab_check
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=lib_dcv.sh
source "$here/lib_dcv.sh"
lab_init secrets 18
dcv_init "${1:?usage: secrets.sh BUILD_DIR}"
build=$(cd "$1" && pwd)
lab_need setpriv od base64 find

P=$LAB_PORT
BIND=$LAB_NET.1
lab_key dcv hmac-sha256
lab_key other hmac-sha256 # a secret BIND does not know under the name dcv
SECRET=$LAB_SECRET_DCV OTHER=$LAB_SECRET_OTHER
hex() { base64 -d <<<"$1" | od -An -tx1 -v | tr -d ' \n'; }
SECRET_HEX=$(hex "$SECRET") OTHER_HEX=$(hex "$OTHER")
[[ ${#SECRET_HEX} == 64 && ${#OTHER_HEX} == 64 ]] || lab_fail "cannot decode the secrets"
lab_zone_file example.test ns1="$BIND"
lab_bind_primary "$BIND" "$P" dcv example.test --name bind

# Everything the programs write goes below $OUT (their outputs) or the spool.
OUT=$LAB/out
mkdir -p "$OUT" "$LAB/conf"
body=$(
	cat <<-EOF
		remote:
		  - id: bind
		    address: $BIND@$P
		    key: dcv
		zone:
		  - domain: example.test
		    primary: bind
		    nameservers: [$BIND@$P]
	EOF
)
# conf NAME KEY-SECTION -- $LAB/conf/NAME.yaml (mode 0600): KEY-SECTION, then the rest.
conf() {
	printf '%s\n%s\n' "$2" "$body" >"$LAB/conf/$1.yaml"
	chmod 0600 "$LAB/conf/$1.yaml"
}
# keyfile NAME TEXT -- $LAB/conf/NAME.key (mode 0600).
keyfile() {
	printf '%s\n' "$2" >"$LAB/conf/$1.key"
	chmod 0600 "$LAB/conf/$1.key"
}
inline() { # ID ALGORITHM SECRET
	printf 'key:\n  - id: %s\n    algorithm: %s\n    secret: %s' "$1" "$2" "$3"
}
fromfile() { printf 'key:\n  - id: dcv\n    file: %s' "$1"; }

conf good "$(inline dcv hmac-sha256 "$SECRET")"
cp "$LAB/keys/dcv.key" "$LAB/conf/dcv.key"
conf goodfile "$(fromfile dcv.key)"
conf badsig "$(inline dcv hmac-sha256 "$OTHER")"
conf badkey "$(inline nokey hmac-sha256 "$SECRET")"
sed -i "s/key: dcv/key: nokey/" "$LAB/conf/badkey.yaml"
# Broken configurations, each with the secret in it.
conf alg "$(inline dcv hmac-sha257 "$SECRET")"
conf notb64 "$(inline dcv hmac-sha256 "$SECRET!")"
conf toolong "$(inline dcv hmac-sha256 "$SECRET$SECRET$SECRET$SECRET$SECRET$SECRET$SECRET$SECRET$SECRET")"
conf space "$(inline dcv hmac-sha256 "\"${SECRET:0:10} ${SECRET:10}\"")"
conf list "$(inline dcv hmac-sha256 "[$SECRET]")"
conf algsecret "$(inline dcv "$SECRET" "$SECRET")"
conf syntax "$(inline dcv hmac-sha256 "$SECRET")"$'\n'"  [unclosed: $SECRET"
conf unknown "$(printf 'key:\n  - id: dcv\n    algorithm: hmac-sha256\n    secrets: %s' "$SECRET")"
conf twice "$(inline dcv hmac-sha256 "$SECRET")"$'\n'"    secret: $SECRET"
conf dupkey "$(inline dcv hmac-sha256 "$SECRET")"$'\n'"$(inline dcv hmac-sha256 "$SECRET" | tail -n +2)"
keyfile open "$(printf 'key "dcv" {\n\talgorithm hmac-sha256;\n\tsecret "%s";' "$SECRET")"
conf kopen "$(fromfile open.key)"
keyfile kb64 "$(printf 'key "dcv" { algorithm hmac-sha256; secret "%s!!"; };' "$SECRET")"
conf kb64 "$(fromfile kb64.key)"
keyfile kalg "$(printf 'key "dcv" { algorithm "%s"; secret "%s"; };' "$SECRET" "$SECRET")"
conf kalg "$(fromfile kalg.key)"
keyfile kjunk "$(printf 'key "dcv" { algorithm hmac-sha256; secret "%s"; %s; };' "$SECRET" "$SECRET")"
conf kjunk "$(fromfile kjunk.key)"
keyfile kyaml "$(printf '# hmac-sha256:dcv:%s\nkey:\n  - id: dcv\n    algorithm: hmac-sha256\n    secret: %s\n   bad: [%s' "$SECRET" "$SECRET" "$SECRET")"
conf kyaml "$(fromfile kyaml.key)"
for _ in $(seq 3000); do printf 'key "dcv" { algorithm hmac-sha256; secret "%s"; };\n' "$SECRET"; done >"$LAB/conf/big.key"
conf kbig "$(fromfile big.key)"
broken=(alg notb64 toolong space list algsecret syntax unknown twice dupkey kopen kb64 kalg kjunk
	kyaml kbig)

# --- dcv -------------------------------------------------------------------------------
dcv_csr web www.example.test
CSR=$LAB/csr/web.csr
run() { # TAG EXPECTED-STATUS ARG... -- dcv ARG..., outputs kept in $OUT
	local tag=$1 want=$2
	shift 2
	dcv_run "$tag" "$@"
	cp "$LAB/run/$tag.out" "$OUT/dcv-$tag.out"
	cp "$LAB/run/$tag.err" "$OUT/dcv-$tag.err"
	lab_check "dcv $tag exits $want" dcv_rc "$want"
}
run publish 0 publish -c "$LAB/conf/good.yaml" --timeout 20 "$CSR"
run check 0 check -c "$LAB/conf/goodfile.yaml" --timeout 20 "$CSR"
run withdraw 0 withdraw -c "$LAB/conf/goodfile.yaml" --timeout 20 "$CSR"
run badsig 1 publish -c "$LAB/conf/badsig.yaml" --timeout 5 "$CSR"
lab_check "... says BADSIG" dcv_err_has "BADSIG"
run badkey 1 publish -c "$LAB/conf/badkey.yaml" --timeout 5 "$CSR"
lab_check "... says BADKEY" dcv_err_has "BADKEY"
for name in "${broken[@]}"; do
	run "broken-$name" 2 publish -c "$LAB/conf/$name.yaml" "$CSR"
	lab_check "... names the file" dcv_err_has "$name\.(yaml|key)"
done

# A key file dcv may not read: run as nobody, everything else readable.
pub=$LAB/pub
mkdir -p "$pub"
chmod 0711 "$LAB"
cp "$CSR" "$LAB/conf/dcv.key" "$pub/"
printf '%s\n%s\n' "$(fromfile dcv.key)" "$body" >"$pub/nobody.yaml"
chmod 0755 "$pub" && chmod 0644 "$pub/web.csr" "$pub/nobody.yaml" && chmod 0600 "$pub/dcv.key"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
DCV_TAG=unreadable DCV_RC=0
nobody "$DCV" publish -c "$pub/nobody.yaml" "$pub/web.csr" >"$LAB/run/unreadable.out" \
	2>"$LAB/run/unreadable.err" || DCV_RC=$?
cp "$LAB/run/unreadable.out" "$LAB/run/unreadable.err" "$OUT/"
lab_check "dcv with an unreadable key file exits 2" dcv_rc 2
lab_check "... saying why" dcv_err_has "dcv.key" "[Pp]ermission denied"

# --- dcvd --check ------------------------------------------------------------------------
check() { # NAME EXPECTED-STATUS [nobody]
	local rc=0
	${3:+nobody} "$build/dcvd" -c "$LAB/conf/$1.yaml" --check >"$OUT/check-$1.out" 2>&1 || rc=$?
	[[ $rc == "$2" ]] && return 0
	echo "  dcvd --check $1 exited $rc, want $2:"
	sed 's/^/  | /' "$OUT/check-$1.out"
	return 1
}
lab_check "dcvd --check: good configuration" check good 0
for name in "${broken[@]}"; do
	lab_check "dcvd --check: $name refused" check "$name" 2
done
cp "$pub/nobody.yaml" "$LAB/conf/nobody.yaml"
sed -i "s|file: dcv.key|file: $pub/dcv.key|" "$LAB/conf/nobody.yaml"
chmod 0644 "$LAB/conf/nobody.yaml"
chmod 0755 "$LAB/conf"
lab_check "dcvd --check as nobody: key file unreadable, refused" check nobody 2 nobody
lab_check "... saying why" grep -q "Permission denied" "$OUT/check-nobody.out"

# --- dcvd through success, withdrawal, a refused reload and a failure -------------------
spool=$LAB/spool
hookdir=$LAB/hook
mkdir -p "$hookdir"
cat >"$LAB/hook.sh" <<EOF
#!/bin/sh
# Everything the hook can see: its environment and its open files.
env >"$hookdir/\$DCV_EVENT.\$DCV_JOB.env"
for fd in /proc/\$\$/fd/*; do readlink "\$fd"; done >"$hookdir/\$DCV_EVENT.\$DCV_JOB.fds"
exit 0
EOF
chmod 0755 "$LAB/hook.sh"
daemon() { # KEY-SECTION -- dcvd.yaml with this key section
	printf 'spool: %s\nwithdraw_after: 2s\nvisible_timeout: 20s\nhook: %s\n%s\n%s\n' \
		"$spool" "$LAB/hook.sh" "$1" "$body" >"$LAB/conf/dcvd.yaml"
	chmod 0600 "$LAB/conf/dcvd.yaml"
}
daemon "$(fromfile dcv.key)"
drop() { # FILE NAME
	cp "$1" "$LAB/.drop.tmp" && chmod 0640 "$LAB/.drop.tmp"
	mv "$LAB/.drop.tmp" "$spool/incoming/$2"
}
hooked() { compgen -G "$hookdir/$1.*.env" >/dev/null; }
old_umask=$(umask)
umask 000 # dcvd must set its modes itself
lab_spawn dcvd "$build/dcvd" -c "$LAB/conf/dcvd.yaml" -v
umask "$old_umask"
lab_until 10 test -d "$spool/incoming" || lab_fail "dcvd did not create its spool"
drop "$CSR" web.csr
lab_check "dcvd: web.csr visible" lab_until 20 test -e "$spool/done/web.status"
lab_check "... the hook ran for visible" lab_until 10 hooked visible
lab_check "... withdrawn after 2 s, the hook ran" lab_until 20 hooked withdrawn

# A broken configuration holding the secret, then a valid one with the wrong secret.
cp "$LAB/conf/dcvd.yaml" "$LAB/conf/dcvd.good"
daemon "$(inline dcv hmac-sha256 "$SECRET")"$'\n'"  [unclosed: $SECRET"
kill -HUP "$(lab_pid dcvd)"
lab_check "dcvd: a broken configuration is refused on SIGHUP" \
	lab_until 10 grep -q "refused; keeping the running configuration" "$(lab_log dcvd)"
daemon "$(inline dcv hmac-sha256 "$OTHER")"
kill -HUP "$(lab_pid dcvd)"
lab_check "... the wrong secret is loaded" lab_until 10 bash -c "[ \$(grep -c 'reload: .* loaded' '$(lab_log dcvd)') -ge 1 ]"
dcv_csr two api.example.test
drop "$LAB/csr/two.csr" two.csr
lab_check "dcvd: with the wrong secret, two.csr fails" lab_until 20 test -e "$spool/failed/two.status"
lab_check "... saying BADSIG" grep -q BADSIG "$spool/failed/two.status"
lab_check "... the hook ran for failed" lab_until 10 hooked failed
lab_check "... with DCV_ERROR" lab_until 5 grep -q '^DCV_ERROR=.*BADSIG' "$hookdir"/failed.*.env
lab_stop dcvd
cp "$(lab_log dcvd)" "$OUT/dcvd.log"
"$DCV" status -c "$LAB/conf/dcvd.good" >"$OUT/status.out" 2>&1 || true
lab_check "dcv status reports the jobs" grep -q "BADSIG" "$OUT/status.out"

# --- the search ------------------------------------------------------------------------
# leaks SECRET HEX -- no file below $OUT, the spool or the hook dumps holds the secret.
leaks_in() { # DIR SECRET HEX -- true when no file below DIR holds the secret
	local hits
	hits=$(grep -rlIiF -e "$3" -e "${3:0:16}" "$1" 2>/dev/null || true)
	hits+=$(grep -rlIF -e "$2" -e "${2:0:16}" -e "${2:16:16}" "$1" 2>/dev/null || true)
	[[ -z $hits ]] && return 0
	echo "  the secret is in: $hits"
	return 1
}
leaks() { leaks_in "$OUT" "$@" && leaks_in "$spool" "$@" && leaks_in "$hookdir" "$@"; }
found_in() { ! leaks_in "$@" >/dev/null; }
mkdir -p "$LAB/control"
tr a-f A-F <<<"x${SECRET_HEX}x" >"$LAB/control/hex"
lab_check "positive controls: the search finds the secret in the key files" \
	found_in "$LAB/conf" "$SECRET" "$SECRET_HEX"
lab_check "... and its hex form, in upper case, in a file made for that" \
	found_in "$LAB/control" "$SECRET" "$SECRET_HEX"
count=$(find "$OUT" "$spool" "$hookdir" -type f | wc -l)
lab_check "the right secret is nowhere in $count outputs, logs, records, status files, hook dumps" \
	leaks "$SECRET" "$SECRET_HEX"
lab_check "nor the wrong one" leaks "$OTHER" "$OTHER_HEX"
lab_check "the hook dumps exist" test "$(find "$hookdir" -name '*.env' | wc -l)" -ge 3
lab_check "the hook had neither the key file nor the configuration open" \
	lab_not grep -qE 'dcv\.key|dcvd\.yaml|/conf/' "$hookdir"/*.fds

# --- modes -------------------------------------------------------------------------------
# The folder modes systemd/dcvd.tmpfiles gives, for the folders dcvd makes.
tmpfiles_mode() { # SUFFIX ("" for the spool itself)
	awk -v p="/var/spool/dcvd$1" '$1 == "d" && $2 == p { print $3 }' "$src/systemd/dcvd.tmpfiles" |
		sed 's/^0//'
}
mode_is() { # PATH MODE
	local got
	got=$(stat -c %a "$1")
	[[ $got == "$2" ]] && return 0
	echo "  $1: mode $got, want $2"
	return 1
}
for sub in "" /incoming /results /active /done /failed /state; do
	want=$(tmpfiles_mode "$sub")
	lab_check "spool$sub: mode $want, as in dcvd.tmpfiles" mode_is "$spool$sub" "${want:-missing}"
done
files_0640() {
	local bad
	bad=$(find "$spool/state" "$spool/done" "$spool/failed" -type f \( -name '*.mdb' -o \
		-name '*.status' \) ! -perm 0640 -printf '%m %p\n')
	[[ -z $bad ]] && return 0
	echo "  not 0640: $bad"
	return 1
}
lab_check "the job database (state/*.mdb) and status files are 0640 (under umask 000)" files_0640
lab_check "... and there are some: the database and status files" \
	test "$(find "$spool/state" -name 'data.mdb' | wc -l)" -eq 1 -a \
	"$(find "$spool" -name '*.status' | wc -l)" -ge 2
lab_check "nothing dcvd made is world-readable or -writable" \
	test -z "$(find "$spool" ! -name '*.csr' -perm /0007 -printf '%m %p\n')"

lab_finish
