#!/usr/bin/env bash
# limits.sh BUILD_DIR -- the configured bounds, reached: each enforced, each
# named in the message.
#
#   max_names         a CSR with more names fails saying so (dcv and dcvd);
#                     one with exactly that many is fine;
#   max_message_size  512 bytes: the records go in several UPDATE messages,
#                     none over 512 bytes TSIG included (measured on the
#                     wire by tests/tools/hostile_dns.py in pass mode in
#                     front of BIND); the default sends one; a record that
#                     fits in no message fails saying so (dcv and dcvd);
#   max_jobs          2: with the primary paused, dcvd claims 2 of 5 CSRs,
#                     says why the rest wait, and takes them once it can;
#   hook_timeout      1 s: a hook that sleeps is sent SIGTERM after 1 s and
#                     the log names the limit.
#
# Address block 19.
# shellcheck disable=SC2317 # the helpers below are called through lab_check
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=lib_dcv.sh
source "$here/lib_dcv.sh"
lab_init limits 19
dcv_init "${1:?usage: limits.sh BUILD_DIR}"
build=$(cd "$1" && pwd)
lab_need python3

P=$LAB_PORT
BIND=$LAB_NET.1
WIRE=$LAB_NET.2 # hostile_dns.py in pass mode: forwards and logs every query's size
lab_key dcv hmac-sha256
lab_zone_file example.test ns1="$BIND"
lab_bind_primary "$BIND" "$P" dcv example.test --name bind
dcv_hostile wire "$WIRE@$P" "$BIND@$P" "$LAB_NET.3" || lab_fail "the wire logger did not start"
WIRELOG=$(lab_log wire)

# A key with a name of 188 octets: its TSIG record takes 300 bytes. BIND need not
# know it: what is refused is refused before anything is sent.
x60=$(printf 'x%.0s' {1..60})
LONGKEY=k1$x60.k2$x60.k3$x60
tsig-keygen -a hmac-sha256 "$LONGKEY" >"$LAB/keys/long.key"
# conf FILE [LINE...] -- a configuration with the lines given on top (KEYFILE: the key).
conf() {
	local file=$1
	shift
	{
		printf '%s\n' "$@"
		cat <<-EOF
			key:
			  - id: dcv
			    file: ${KEYFILE:-keys/dcv.key}
			remote:
			  - id: bind
			    address: $WIRE@$P
			    key: dcv
			zone:
			  - domain: example.test
			    primary: bind
			    nameservers: [$BIND@$P]
		EOF
	} >"$file"
}
conf "$LAB/names.yaml" "max_names: 3"
conf "$LAB/small.yaml" "placement: fqdn" "max_message_size: 512"
conf "$LAB/default.yaml" "placement: fqdn"
KEYFILE=keys/long.key conf "$LAB/longkey.yaml" "placement: fqdn" "max_message_size: 512"

mark() { MARK=$(wc -l <"$WIRELOG"); }
# updates MIN MAX LIMIT -- since the mark, MIN..MAX UPDATE messages (opcode 5) went
# through the wire, none longer than LIMIT bytes.
updates() {
	local n longest
	read -r n longest < <(tail -n +"$((MARK + 1))" "$WIRELOG" |
		awk '/ query / && / opcode=5 / { n++; sub("len=", "", $5); if ($5 > m) m = $5 } END { print n + 0, m + 0 }')
	((n >= $1 && n <= $2 && longest <= $3)) && return 0
	echo "  $n UPDATE messages (want $1..$2), the longest $longest bytes (limit $3)"
	return 1
}

# --- max_names ---------------------------------------------------------------------
dcv_csr four www.example.test a.example.test b.example.test c.example.test
dcv_csr three www.example.test a.example.test b.example.test
dcv_run names4 publish -c "$LAB/names.yaml" --timeout 10 "$LAB/csr/four.csr"
lab_check "max_names 3, a CSR with 4 names: dcv publish exits 1" dcv_rc 1
lab_check "... saying so" dcv_err_has "four.csr: " "4 names, more than max_names \(3\)"
lab_check "... at once ($DCV_MS ms)" dcv_within 2000
dcv_run names3 publish -c "$LAB/names.yaml" --timeout 10 "$LAB/csr/three.csr"
lab_check "... a CSR with 3 names: exits 0" dcv_rc 0

# --- max_message_size ----------------------------------------------------------------
# Eight names, placement fqdn: eight records of ~140 bytes each.
dcv_csr eight n1.example.test n2.example.test n3.example.test n4.example.test n5.example.test \
	n6.example.test n7.example.test n8.example.test
mark
dcv_run small publish -c "$LAB/small.yaml" --timeout 20 "$LAB/csr/eight.csr"
lab_check "max_message_size 512, 8 records: dcv publish exits 0" dcv_rc 0
lab_check "... publishes all 8" dcv_out_lines ": published " 8
lab_check "... in 3 to 8 UPDATE messages of at most 512 bytes" updates 3 8 512
mark
dcv_run default withdraw -c "$LAB/default.yaml" --timeout 20 "$LAB/csr/eight.csr"
lab_check "the default max_message_size: withdraw exits 0" dcv_rc 0
lab_check "... in one UPDATE message" updates 1 1 65535
# A name of 140 octets: its record (~270 bytes) and the long key's TSIG do not fit in 512.
l63=$(printf 'a%.0s' {1..63})
# Its only name (no CN): one record, the long one.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$LAB/csr/long.key" \
	-subj "/O=dcvd test" -addext "subjectAltName=DNS:$l63.$l63.example.test" \
	-out "$LAB/csr/long.csr" 2>/dev/null || lab_fail "openssl req for long.csr failed"
dcv_run long publish -c "$LAB/longkey.yaml" --timeout 10 "$LAB/csr/long.csr"
lab_check "a record that fits in no 512-byte message: dcv publish exits 1" dcv_rc 1
lab_check "... saying so" dcv_err_has "long.csr: " "zone example.test" \
	"does not fit in an UPDATE message of max_message_size \(512 bytes"
lab_check "... at once ($DCV_MS ms)" dcv_within 2000

# --- dcvd: max_jobs, max_names, max_message_size, hook_timeout --------------------------
spool=$LAB/spool
cat >"$LAB/hook.sh" <<'EOF'
#!/bin/sh
# The first good CSR's hook outstays hook_timeout.
[ "$DCV_FILE" = g1.csr ] && [ "$DCV_EVENT" = visible ] && exec sleep 30
exit 0
EOF
chmod 0755 "$LAB/hook.sh"
dcvd_conf() {
	conf "$LAB/dcvd.yaml" "spool: $spool" "withdraw_after: 0" "visible_timeout: 60s" \
		"hook: $LAB/hook.sh" "hook_timeout: 1s" "max_jobs: 2" "max_names: 3" "placement: fqdn" \
		"max_message_size: 512"
}
dcvd_conf
lab_spawn dcvd "$build/dcvd" -c "$LAB/dcvd.yaml" -v
lab_until 10 test -d "$spool/incoming" || lab_fail "dcvd did not create its spool"
DLOG=$(lab_log dcvd)
drop() { # NAME
	cp "$LAB/csr/$1.csr" "$spool/.$1.tmp" && mv "$spool/.$1.tmp" "$spool/incoming/$1.csr"
}
count() { find "$spool/$1" -name "${2:-*.csr}" | wc -l; }
count_is() { # FOLDER [PATTERN] N
	local n=${*: -1}
	set -- "${@:1:$#-1}"
	[[ $(count "$@") == "$n" ]]
}
for i in 1 2 3 4 5; do dcv_csr "g$i" "g$i.example.test"; done

lab_pause bind
mark
for i in 1 2 3 4 5; do drop "g$i"; done
lab_check "max_jobs 2: dcvd says why the other CSRs wait" \
	lab_until 10 grep -q "max_jobs (2) jobs in flight: new CSRs wait in incoming/" "$DLOG"
lab_check "... 2 claimed" lab_until 5 count_is active 2
sleep 1 # a claim beyond the limit would show by now; nothing else can
lab_check "... still 2 in active/ and 3 waiting in incoming/" \
	test "$(count active) $(count incoming)" = "2 3"
lab_resume bind
lab_check "... all 5 visible once the primary answers" lab_until 40 count_is done '*.status' 5
lab_check "... their UPDATE messages at most 512 bytes" updates 1 100 512

lab_check "hook_timeout 1s: the sleeping hook gets SIGTERM, naming the limit" lab_until 10 grep -q \
	"job g1~[^ ]*: hook visible (pid [0-9]*) still running after its time limit of 1.0 s (hook_timeout): sending SIGTERM" \
	"$DLOG"
lab_check "... and dies of it" lab_until 5 grep -q "g1~[^ ]*: hook visible killed by signal 15 (SIGTERM)" \
	"$DLOG"

drop four
lab_check "dcvd: a CSR with 4 names fails (max_names 3)" lab_until 10 test -e "$spool/failed/four.status"
lab_check "... saying so" grep -q "4 names, more than max_names (3)" "$spool/failed/four.status"
# The long key, for a record that fits in no message (BIND does not know it: no matter).
KEYFILE=keys/long.key dcvd_conf
kill -HUP "$(lab_pid dcvd)"
lab_until 10 grep -q "reload: .* loaded" "$DLOG" || lab_fail "dcvd did not reload"
drop long
lab_check "dcvd: a record too big for max_message_size fails" lab_until 10 test -e "$spool/failed/long.status"
lab_check "... saying so" grep -q "does not fit in an UPDATE message of max_message_size (512 bytes" \
	"$spool/failed/long.status"
lab_stop dcvd

lab_finish
