#!/usr/bin/env bash
# gen-csrs.sh OUTDIR -- make test CSRs and their expected values with tools
# nobody here wrote: the openssl CLI (keys, requests, DER, digests) and the
# psl CLI (registrable domains). The unit and CLI tests compare dcv against
# the files written here:
#   OUTDIR/good/NAME.{pem,der,...}  + NAME.expect
#       md5 HEX / sha1 HEX / sha256 HEX / name NAME WILDCARD CAND...
#   OUTDIR/bad/NAME + a line "NAME<TAB>reason substring" in OUTDIR/bad.tsv
set -euo pipefail

out=${1:?usage: gen-csrs.sh OUTDIR}
rm -rf "$out"
mkdir -p "$out/good" "$out/bad" "$out/keys"
good=$out/good bad=$out/bad keys=$out/keys

key() { # key NAME TYPE
	case $2 in
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$keys/$1" 2>/dev/null ;;
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$keys/$1" ;;
	ed25519) openssl genpkey -algorithm ED25519 -out "$keys/$1" ;;
	esac
}
key rsa rsa
key ec ec
key ed ed25519
# Keys the fast path leaves to OpenSSL's complete decoder.
openssl genpkey -algorithm ED448 -out "$keys/ed448"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:brainpoolP256r1 -out "$keys/bp"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$keys/p384"

# csr OUT KEY SUBJECT [SAN]
csr() {
	local args=(-new -key "$keys/$2" -subj "$3" -out "$1")
	[ -n "${4:-}" ] && args+=(-addext "subjectAltName=$4")
	openssl req "${args[@]}"
}

# expect FILE NAME... : hashes from openssl over the DER, candidates from psl.
expect() {
	local file=$1 base reg cands cur wild
	shift
	local der
	der=$(mktemp)
	openssl req -in "$file" -inform "$(case $file in *.der) echo DER ;; *) echo PEM ;; esac)" \
		-outform DER -out "$der"
	{
		echo "md5 $(openssl dgst -md5 -r "$der" | cut -d' ' -f1)"
		echo "sha1 $(openssl dgst -sha1 -r "$der" | cut -d' ' -f1)"
		echo "sha256 $(openssl dgst -sha256 -r "$der" | cut -d' ' -f1)"
		for name in "$@"; do
			base=${name#\*.}
			wild=false
			[ "$base" != "$name" ] && wild=true
			reg=$(psl --print-reg-domain -b "$base")
			cands=$base cur=$base
			while [ "$cur" != "$reg" ]; do
				cur=${cur#*.}
				cands="$cands $cur"
			done
			echo "name $name $wild $cands"
		done
	} >"${file%.*}.expect"
	rm -f "$der"
}

# --- good requests ---------------------------------------------------------
csr "$good/rsa.pem" rsa "/CN=www.example.test" "DNS:www.example.test,DNS:example.test"
expect "$good/rsa.pem" www.example.test example.test

csr "$good/ec.pem" ec "/O=Example/CN=mail.example.com" "DNS:mail.example.com"
expect "$good/ec.pem" mail.example.com

csr "$good/ed25519.pem" ed "/CN=a.b.c.example.org"
expect "$good/ed25519.pem" a.b.c.example.org

# Wildcard, upper case, duplicates, trailing dot, an IP SAN beside DNS names.
csr "$good/mixed.pem" rsa "/CN=WWW.Example.TEST" \
	"DNS:www.example.test,DNS:*.Example.test,DNS:example.test.,DNS:EXAMPLE.test,IP:192.0.2.7,DNS:xn--bcher-kva.example.test"
expect "$good/mixed.pem" www.example.test '*.example.test' example.test xn--bcher-kva.example.test

# Multi-label public suffix and a PSL exception rule.
csr "$good/couk.pem" ec "/CN=shop.example.co.uk" "DNS:shop.example.co.uk,DNS:*.deep.example.co.uk"
expect "$good/couk.pem" shop.example.co.uk '*.deep.example.co.uk'
csr "$good/kawasaki.pem" ec "/CN=www.city.kawasaki.jp"
expect "$good/kawasaki.pem" www.city.kawasaki.jp

# Other algorithms: RSA-PSS signature, Ed448, brainpool (complete decoder), P-384 (fast).
openssl req -new -key "$keys/rsa" -subj "/CN=pss.example.test" -sigopt rsa_padding_mode:pss \
	-sigopt rsa_pss_saltlen:32 -sha256 -out "$good/pss.pem"
expect "$good/pss.pem" pss.example.test
csr "$good/ed448.pem" ed448 "/CN=ed448.example.test"
expect "$good/ed448.pem" ed448.example.test
csr "$good/brainpool.pem" bp "/CN=bp.example.test"
expect "$good/brainpool.pem" bp.example.test
openssl req -new -key "$keys/p384" -subj "/CN=p384.example.test" -sha384 -out "$good/p384.pem"
expect "$good/p384.pem" p384.example.test

# Encodings: NEW CERTIFICATE REQUEST, text before the block, CRLF, DER.
sed -e 's/BEGIN CERTIFICATE REQUEST/BEGIN NEW CERTIFICATE REQUEST/' \
	-e 's/END CERTIFICATE REQUEST/END NEW CERTIFICATE REQUEST/' "$good/rsa.pem" >"$good/newhdr.pem"
cp "$good/rsa.expect" "$good/newhdr.expect"
{ printf 'Certificate request for www.example.test\nSubject: CN=www.example.test\n\n'; cat "$good/ec.pem"; } >"$good/prefixed.pem"
cp "$good/ec.expect" "$good/prefixed.expect"
sed 's/$/\r/' "$good/ed25519.pem" >"$good/crlf.pem"
cp "$good/ed25519.expect" "$good/crlf.expect"
openssl req -in "$good/mixed.pem" -outform DER -out "$good/mixed.der"
cp "$good/mixed.expect" "$good/mixed-der.expect"
mv "$good/mixed.der" "$good/mixed-der.der"
# A private key before the request in one file (some tools write both).
cat "$keys/ec" "$good/ec.pem" >"$good/keyfirst.pem"
cp "$good/ec.expect" "$good/keyfirst.expect"

# --- bad inputs --------------------------------------------------------------
printf '' >"$bad/bad.tsv"
refuse() { printf '%s\t%s\n' "$1" "$2" >>"$bad/bad.tsv"; }

: >"$bad/empty.csr"
refuse empty.csr "empty file"
head -c 3000 /dev/urandom | tr '\060' '\061' >"$bad/random.csr"
refuse random.csr "neither a PEM certificate request nor DER"
head -n 6 "$good/rsa.pem" >"$bad/truncated.csr"
refuse truncated.csr "damaged PEM block"
openssl req -x509 -new -key "$keys/ec" -subj "/CN=cert.example.test" -days 1 -out "$bad/cert.csr"
refuse cert.csr "is a certificate, not a certificate signing request"
cp "$keys/rsa" "$bad/key.csr"
refuse key.csr "is a private key, not a certificate signing request"
openssl req -in "$good/ec.pem" -outform DER -out "$bad/cert.der.tmp"
openssl x509 -in "$bad/cert.csr" -outform DER -out "$bad/cert.der"
rm -f "$bad/cert.der.tmp"
refuse cert.der "is a certificate, not a certificate signing request"
# Broken signature: flip the last byte of the DER (inside the signature).
openssl req -in "$good/rsa.pem" -outform DER -out "$bad/badsig.der"
python3 - "$bad/badsig.der" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[-1] ^= 0x01
open(p, 'wb').write(bytes(b))
PY
refuse badsig.der "signature does not verify"
# The same as PEM, with a changed subject byte instead (still a valid request shape).
python3 - "$good/ec.pem" "$bad/badsig.pem" <<'PY'
import base64, sys
src, dst = sys.argv[1], sys.argv[2]
lines = [l for l in open(src).read().splitlines() if not l.startswith('-----')]
der = bytearray(base64.b64decode(''.join(lines)))
i = der.find(b'mail.example.com')
der[i] = ord('n')
b64 = base64.b64encode(bytes(der)).decode()
with open(dst, 'w') as f:
    f.write('-----BEGIN CERTIFICATE REQUEST-----\n')
    for k in range(0, len(b64), 64):
        f.write(b64[k:k + 64] + '\n')
    f.write('-----END CERTIFICATE REQUEST-----\n')
PY
refuse badsig.pem "signature does not verify"
csr "$bad/iponly.csr" ec "/CN=192.0.2.1" "IP:192.0.2.1,IP:2001:db8::1"
refuse iponly.csr "only IP addresses"
csr "$bad/couk.csr" ec "/CN=co.uk"
refuse couk.csr "name 'co.uk' is a public suffix"
csr "$bad/wildcom.csr" ec "/CN=*.com"
refuse wildcom.csr "wildcard on the public suffix 'com'"
csr "$bad/midwild.csr" ec "/CN=www.*.example.test"
refuse midwild.csr "'*' is allowed only as the whole leftmost label"
csr "$bad/doublewild.csr" ec "/CN=*.*.example.test"
refuse doublewild.csr "'*' is allowed only as the whole leftmost label"
csr "$bad/underscore.csr" ec "/CN=a_b.example.test"
refuse underscore.csr "underscore is not allowed"
label64=$(printf 'a%.0s' $(seq 64))
csr "$bad/label64.csr" ec "/CN=ok.example.test" "DNS:$label64.example.test"
refuse label64.csr "is 64 octets long; the limit is 63"
label63=$(printf 'b%.0s' $(seq 63))
long="$label63.$label63.$label63.$label63.test" # 4*63 + 4 dots + 4 = 260 octets
csr "$bad/long.csr" ec "/CN=ok.example.test" "DNS:$long"
refuse long.csr "octets long; the limit is 253"
csr "$bad/nonames.csr" ec "/O=No Names Ltd/C=DE"
refuse nonames.csr "no DNS name"
csr "$bad/space.csr" ec "/CN=Example Corp" "DNS:www.example.test"
refuse space.csr "character ' ' is not allowed"
cat "$good/rsa.pem" "$good/ec.pem" >"$bad/two.csr"
refuse two.csr "holds 2 certificate requests"
head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'A' >"$bad/huge.csr"
refuse huge.csr "larger than the limit of 65536 bytes"
mkdir -p "$bad/adir.csr"
refuse adir.csr "is a directory"
echo "generated $(ls "$good"/*.expect | wc -l) good and $(wc -l <"$bad/bad.tsv") bad inputs in $out"
