#!/usr/bin/env bash
# dcv-cli.sh DCV DATA -- the `dcv records` and `dcv show` commands as a user
# runs them, against the oracle files of gen-csrs.sh.
set -uo pipefail
dcv=${1:?dcv binary} data=${2:?data folder}
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Expected `dcv records` lines for a .expect file: one per distinct base name.
expected_records() { # EXPECT [TTL] [UNIQUE] [TARGET]
	local md5 sha ttl=${2:-300} uniq=${3:-} target=${4:-sectigo.com} seen=" " name base
	md5=$(awk '$1=="md5"{print $2}' "$1")
	sha=$(awk '$1=="sha256"{print $2}' "$1")
	[ -n "$uniq" ] && uniq=".${uniq,,}"
	while read -r _ name _ ; do
		base=${name#\*.}
		case $seen in *" $base "*) continue ;; esac
		seen="$seen$base "
		echo "_$md5.$base. $ttl IN CNAME ${sha:0:32}.${sha:32:32}$uniq.$target."
	done < <(grep '^name ' "$1")
}

for exp in "$data"/good/*.expect; do
	stem=${exp%.expect}
	file=$(ls "$stem".* | grep -v '\.expect$')
	"$dcv" records "$file" >"$tmp/out" 2>"$tmp/err" || fail "records $file exited $?: $(cat "$tmp/err")"
	expected_records "$exp" >"$tmp/want"
	cmp -s "$tmp/out" "$tmp/want" || fail "records $file: got $(cat "$tmp/out") want $(cat "$tmp/want")"
	"$dcv" records --ttl 3600 --unique AbC123 --target comodoca.com "$file" >"$tmp/out" 2>/dev/null
	expected_records "$exp" 3600 AbC123 comodoca.com >"$tmp/want"
	cmp -s "$tmp/out" "$tmp/want" || fail "records options $file: got $(cat "$tmp/out")"
	# show: the same hashes and records, as YAML that python reads back.
	"$dcv" show "$file" >"$tmp/show.yaml" 2>"$tmp/err" || fail "show $file exited $?"
	python3 - "$tmp/show.yaml" "$exp" "$tmp/want" "$file" <<'PY' || fail "show $file"
import sys, yaml
doc = list(yaml.safe_load_all(open(sys.argv[1])))
assert len(doc) == 1, doc
d = doc[0]
exp = {}
names = []
for line in open(sys.argv[2]):
    f = line.split()
    if f[0] == 'name':
        names.append((f[1], f[2] == 'true', f[3:]))
    else:
        exp[f[0]] = f[1]
assert d['file'] == sys.argv[4], d['file']
for k in ('md5', 'sha1', 'sha256'):
    assert d[k] == exp[k], (k, d[k], exp[k])
assert [(n['name'], n['wildcard'], n['candidates']) for n in d['names']] == names, d['names']
want = [l.replace(' 3600 ', ' 300 ').replace('.abc123.comodoca.com.', '.sectigo.com.')
        for l in open(sys.argv[3]).read().splitlines()]
assert d['records'] == want, (d['records'], want)
assert d['http']['path'] == '/.well-known/pki-validation/%s.txt' % exp['md5'].upper()
assert d['http']['content'] == '%s\nsectigo.com\n' % exp['sha256'], d['http']['content']
for n, wild, _ in names:
    url = 'http://%s%s' % (n, d['http']['path'])
    assert (url in d['http']['urls']) == (not wild), url
assert 'admin@%s' % names[0][2][-1] in d['email']
assert any('deprecated' in w for w in d['warnings'])
PY
done

# Every bad input: exit 1, exactly one line "dcv: FILE: reason".
while IFS=$'\t' read -r name reason; do
	file=$data/bad/$name
	timeout 10 "$dcv" records "$file" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 1 ] || fail "$name: exit $rc, want 1"
	[ -s "$tmp/out" ] && fail "$name: printed records: $(cat "$tmp/out")"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$name: want one line on stderr, got: $(cat "$tmp/err")"
	grep -qF "dcv: $file: " "$tmp/err" || fail "$name: stderr does not start with 'dcv: FILE: ': $(cat "$tmp/err")"
	grep -qF -- "$reason" "$tmp/err" || fail "$name: stderr does not say '$reason': $(cat "$tmp/err")"
done <"$data/bad/bad.tsv"

# Good and bad together: the good one still printed, exit 1.
"$dcv" records "$data/bad/empty.csr" "$data/good/rsa.pem" "$data/bad/nope" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "mixed: want exit 1"
expected_records "$data/good/rsa.expect" | cmp -s - "$tmp/out" || fail "mixed: good file not printed"
[ "$(wc -l <"$tmp/err")" -eq 2 ] || fail "mixed: want two error lines: $(cat "$tmp/err")"
grep -q "nope: cannot open: No such file or directory" "$tmp/err" || fail "missing file message: $(cat "$tmp/err")"

# A warning (IP SAN skipped) goes to stderr, not into the records.
"$dcv" records "$data/good/mixed.pem" 2>"$tmp/err" >/dev/null
grep -q "warning: IP address 192.0.2.7 cannot be validated" "$tmp/err" || fail "no IP warning"

# Standard input, legacy form.
"$dcv" records - <"$data/good/ec.pem" | cmp -s - <(expected_records "$data/good/ec.expect") || fail "stdin"
md5=$(awk '$1=="md5"{print $2}' "$data/good/ec.expect")
sha1=$(awk '$1=="sha1"{print $2}' "$data/good/ec.expect")
[ "$("$dcv" records --legacy "$data/good/ec.pem")" = "$md5.mail.example.com. 300 IN CNAME $sha1.comodoca.com." ] || fail "legacy"

# Usage errors exit 2.
for args in "records" "records --ttl x f" "records --ttl -1 f" "records --unique a-b f" \
	"records --target example.com f" "records --bogus f" "frobnicate" ""; do
	# shellcheck disable=SC2086
	"$dcv" $args >/dev/null 2>&1
	rc=$?
	[ $rc -eq 2 ] || fail "'dcv $args': exit $rc, want 2"
done
"$dcv" --help | grep -q "usage: dcv records" || fail "--help"
"$dcv" --version | grep -Eq '^dcv [0-9]+\.[0-9]+' || fail "--version"

# Many files in one run: several documents in one YAML stream.
"$dcv" show "$data"/good/*.pem >"$tmp/all.yaml" 2>/dev/null || fail "show many"
python3 -c "import sys,yaml; n=len(list(yaml.safe_load_all(open(sys.argv[1])))); sys.exit(0 if n==$(ls "$data"/good/*.pem | wc -l) else 1)" "$tmp/all.yaml" || fail "show many: document count"

[ $fails -eq 0 ] && echo "cli-dcv: all passed"
exit $((fails > 0))
