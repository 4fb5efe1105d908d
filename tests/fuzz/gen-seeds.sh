#!/usr/bin/env bash
# gen-seeds.sh FUZZ_BUILD_DIR [CORPUS_DIR] -- writes the seed corpora of the
# fuzz targets (default: tests/fuzz/corpus/<target>/ beside this script),
# replacing what is there. The seeds come from the project's own test data
# and tools: the CSRs of tests/data/gen-csrs.sh (openssl), the example
# configuration and key files in conf/, key files from tsig-keygen and
# keymgr, sidecars as sidecar.h documents them, and the replies and job
# records that FUZZ_BUILD_DIR/tests/fuzz/fuzz_gen_seeds makes (ldns, the
# record emitter). The committed corpora were made with this script; run it
# again only to refresh them (secrets and CSR keys are new each time).
set -euo pipefail

build=${1:?usage: gen-seeds.sh FUZZ_BUILD_DIR [CORPUS_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
corpus=${2:-$here/corpus}
gen=$build/tests/fuzz/fuzz_gen_seeds
[ -x "$gen" ] || { echo "no $gen: build with -DDCV_FUZZ=ON first" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in csr config sidecar keyfile jobrec reply; do
	rm -rf "${corpus:?}/fuzz_$t"
	mkdir -p "$corpus/fuzz_$t"
done

# --- fuzz_csr: the test CSRs, PEM and DER; the refused ones under 8 KB --------
"$src/tests/data/gen-csrs.sh" "$tmp/csrs" >/dev/null
for f in "$tmp"/csrs/good/*; do
	case $f in
	*.expect) continue ;;
	*.der) cp "$f" "$corpus/fuzz_csr/good-$(basename "$f")" ;;
	*)
		b=$(basename "${f%.*}")
		cp "$f" "$corpus/fuzz_csr/good-$b.pem"
		openssl req -in "$f" -outform DER -out "$corpus/fuzz_csr/good-$b.der"
		;;
	esac
done
for f in "$tmp"/csrs/bad/*; do
	if [ ! -f "$f" ] || [ "$(stat -c %s "$f")" -gt 8192 ]; then
		continue
	fi
	case $f in *.tsv) continue ;; esac
	cp "$f" "$corpus/fuzz_csr/bad-$(basename "$f")"
done

# --- fuzz_keyfile: the examples, tsig-keygen, keymgr ----------------------------
k=$corpus/fuzz_keyfile
cp "$src/conf/dcv.key.example-bind" "$k/example-bind"
cp "$src/conf/dcv.key.example-knot" "$k/example-knot"
tsig-keygen -a hmac-sha256 dcv >"$k/tsig-keygen-sha256"
tsig-keygen -a hmac-md5 Old.Key.Example. >"$k/tsig-keygen-md5"
{
	echo '# two keys, the one wanted second'
	tsig-keygen -a hmac-sha512 other
	echo '// a C++ comment'
	echo '/* a C comment */'
	tsig-keygen -a hmac-sha1 DCV.
} >"$k/tsig-keygen-two"
keymgr -t dcv hmac-sha256 >"$k/keymgr-sha256"
keymgr -t knot.example hmac-sha384 >"$k/keymgr-sha384"
{ keymgr -t one hmac-sha224; keymgr -t dcv hmac-sha256 | sed 1d | sed 1d; } >"$k/keymgr-two"

# --- fuzz_config: the example configuration and variants --------------------------
c=$corpus/fuzz_config
cp "$src/conf/dcvd.yaml" "$c/example"
# Key files in fuzz_config's folder: dcv.key (tsig-keygen), knot.key (keymgr), two.key.
sed -e 's|file: /etc/dcvd/dcv.key|file: dcv.key|' "$src/conf/dcvd.yaml" >"$c/example-relative-key"
secret=$(sed -n 's/.*secret "\(.*\)";.*/\1/p' "$k/tsig-keygen-sha256")
cat >"$c/inline-secret" <<EOF
spool: /var/spool/dcvd
ttl: 60
target: comodoca.com
placement: fqdn
withdraw_after: 0
visible_timeout: 2h
hook: /bin/true
hook_timeout: 5s
max_jobs: 10
max_names: 100
max_message_size: 512
key:
  - id: Dcv.Example.
    algorithm: hmac-sha256
    secret: $secret
  - id: legacy
    algorithm: hmac-md5.sig-alg.reg.int.
    allow_md5: true
    secret: $secret
remote:
  - id: primary
    address: [127.0.0.1@5300, "::1@5300"]
    key: dcv.example
  - id: unsigned
    address: 192.0.2.7
zone:
  - domain: Example.COM.
    primary: [primary, unsigned]
  - domain: sub.example.com
    primary: primary
    nameservers: 192.0.2.53@53
resolver: 127.0.0.1
EOF
cat >"$c/key-files" <<'EOF'
key:
  - id: dcv
    file: knot.key
  - id: two
    algorithm: hmac-sha1
    file: two.key
  - id: absent
    file: /nonexistent/dcv.key
remote:
  - {id: a, address: [192.0.2.1], key: dcv}
  - {id: b, address: 192.0.2.2@53, key: two}
zone:
  - {domain: example.org, primary: [a, b]}
EOF
cat >"$c/errors" <<'EOF'
spool: relative/path
ttl: -1
target: example.com
placement: nowhere
withdraw_after: 7x
max_message_size: 100000
unknown: 1
key:
  - id: dcv
    algorithm: hmac-md5
    secret: "not base64!"
  - id: dcv
    secret: c2VjcmV0
    file: dcv.key
remote:
  - id: r
    address: [not-an-address, 300.1.1.1@99999]
    key: missing
zone:
  - domain: example.com
    primary: [nope]
  - domain: example.com
    primary: []
resolver: [&a 127.0.0.1, *a]
EOF
printf 'zone:\n  - domain: example.com\n    primary: [p]\nremote:\n  - id: p\n    address: 192.0.2.1\n' \
	>"$c/minimal"
printf -- '---\nttl: 300\n---\nttl: 600\n' >"$c/two-documents"
printf '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n' >"$c/deep"

# --- fuzz_sidecar: sidecar.h's example and variants for fuzz_sidecar's request --------
s=$corpus/fuzz_sidecar
md5=0123456789abcdef0123456789abcdef
tgt=00112233445566778899aabbccddeeff.00112233445566778899aabbccddeeff
cat >"$s/full" <<EOF
unique_value: 1F96729172445E721043   # the CA's unique value
target: ComodoCA.com.
expect:
  - "_$md5.www.example.com. 300 IN CNAME $tgt.1f96729172445e721043.comodoca.com."
  - _$md5.example.com IN 60 cname $tgt.1F96729172445E721043.COMODOCA.COM
  - '_$md5.mail.example.co.uk CNAME $tgt.1f96729172445e721043.comodoca.com'
EOF
printf 'expect: _%s.example.com. CNAME %s.sectigo.com.\n' "$md5" "$tgt" >"$s/single"
printf 'expect:\n  - _%s.example.net. CNAME %s.sectigo.com.\n' "$md5" "$tgt" >"$s/mismatch-owner"
printf 'expect: [_%s.example.com. 300 CNAME x.sectigo.com.]\n' "$md5" >"$s/mismatch-target"
printf 'unique_value: ab-c\ntarget: example.com\nexpect:\n  - foo A 192.0.2.1\nother: 1\n' \
	>"$s/errors"
printf '# just a comment\nexpect: []\n' >"$s/empty-list"

# --- fuzz_jobrec and fuzz_reply: made by code ------------------------------------
"$gen" jobrec "$corpus/fuzz_jobrec"
"$gen" reply "$corpus/fuzz_reply"

for t in csr config sidecar keyfile jobrec reply; do
	echo "fuzz_$t: $(find "$corpus/fuzz_$t" -type f | wc -l) seeds," \
		"$(du -sb "$corpus/fuzz_$t" | cut -f1) bytes"
done
