#!/usr/bin/env bash
# dcvd_poll.sh BUILD -- polling that backs off (issue 9, item 1):
#   a job waits on an authoritative server that never catches up (a stale
#   copy of the zone: a Knot primary loaded from the zone file, never
#   updated, standing in for a hosted secondary that lags). dcvd must not
#   ask it 100 times a second: after the first 10 s, at most 1 query per
#   second on average (poll_max 2s). Counted by a proxy in front of it
#   (tests/tools/hostile_dns.py in pass mode logs every query). And a
#   serial that moves is still seen within one poll_max: once the stale
#   server gets the record (nsupdate there), the job is visible within
#   poll_max plus a round.
# And the reasons (issue 9, item 3): the waiting notice and `dcv check` say
#   that the stale server sits at an older serial than the one the primary
#   held the record in (no transfer yet), both serials as dig shows them;
#   a server that answers REFUSED is named with REFUSED.
# Address block 25.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcv.sh
source "$here/lib_dcv.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
build=${1:?build folder}
lab_init dcvd_poll 25
lab_need dig python3
dcv_init "$build"
DCVD=$build/dcvd GEN_CSRS=$build/tests/gen_csrs
P=$LAB_NET.1 K=$LAB_NET.2 Q=$LAB_NET.3
lab_key dcv hmac-sha256
chmod 0640 "$LAB/keys/dcv.key"
lab_zone_file poll.test ns1="$P" ns2="$Q"
lab_bind_primary "$P" "$LAB_PORT" dcv poll.test
# The stale server: its own copy of the zone, updated by nobody but this test.
lab_knot_primary "$K" "$LAB_PORT" dcv poll.test --name stale
# A server that is not authoritative for poll.test: it answers REFUSED.
R=$LAB_NET.4
lab_zone_file other.test ns1="$R"
lab_knot_primary "$R" "$LAB_PORT" dcv other.test --name refuser
dcv_hostile proxy "$Q@$LAB_PORT" "$K@$LAB_PORT" "$LAB_NET.9"

spool=$LAB/spool
cat >"$LAB/dcvd.yaml" <<EOF
spool: $spool
withdraw_after: 0
visible_timeout: $(( ${DCV_POLL_WINDOW:-20} + 300 ))s # the job must outlast the window
poll_max: 2s
key:
  - id: dcv
    file: $LAB/keys/dcv.key
remote:
  - id: bind
    address: $P@$LAB_PORT
    key: dcv
  - id: stale
    address: $K@$LAB_PORT
    key: dcv
zone:
  - domain: poll.test
    primary: bind
    nameservers: [$P@$LAB_PORT, $Q@$LAB_PORT]
EOF
dcvd_start dcvd "$LAB/dcvd.yaml" "$spool"

mkdir -p "$LAB/csr"
"$GEN_CSRS" "$LAB/csr" 1 poll.test 1 p >/dev/null
dcv_expect p0 poll.test
owner=$DCV_OWNER target=$DCV_TARGET
queries() { grep -c 'query id=' "$(lab_log proxy)" || true; }
cp "$LAB/csr/p0.csr" "$LAB/p0-copy.csr" # for dcv check: the spool takes the original
dcvd_rename "$LAB/csr/p0.csr" "$spool/incoming"
lab_check "the primary serves the record" lab_until 10 lab_serves "$P" "$LAB_PORT" "$owner" CNAME "$target"
start=$SECONDS
at10=0
sleep 10
at10=$(queries)
window=${DCV_POLL_WINDOW:-20}
sleep "$window"
at_end=$(queries)
rate=$(awk -v a="$at10" -v b="$at_end" -v w="$window" 'BEGIN { printf "%.2f", (b - a) / w }')
echo "stale server: $at10 queries in the first 10 s, then $((at_end - at10)) in $window s: $rate/s (goal <= 1/s)"
lab_check "the stale server got queries at all (the proxy counts: $at10 in the first 10 s)" test "$at10" -gt 0
lab_check "after the first 10 s at most 1 query/s to the stale server ($rate/s)" \
	awk -v r="$rate" 'BEGIN { exit !(r <= 1.0) }'
lab_check "the job still waits (not visible, not failed)" \
	test ! -e "$spool/done/p0.status" -a ! -e "$spool/failed/p0.status"
lab_check "the wait is logged naming the stale server" \
	lab_until 30 grep -q "not yet visible everywhere: server $Q@$LAB_PORT" "$(lab_log dcvd)"

# The reason, against the serials dig reads at the two servers.
soa_serial() { dig +short +norec -p "$LAB_PORT" "@$1" poll.test SOA | awk '{ print $3 }'; }
stale_serial=$(soa_serial "$K") primary_serial=$(soa_serial "$P")
echo "serials: stale server $stale_serial, primary $primary_serial"
lab_check "the primary's serial moved past the stale one ($stale_serial -> $primary_serial)" \
	test "$primary_serial" -gt "$stale_serial"
reason="server $Q@$LAB_PORT asked ${owner%.}. for h0.poll.test: NXDOMAIN (at serial $stale_serial; the primary held the record at serial $primary_serial: no transfer yet"
lab_check "the notice says the stale server has not had the transfer, with both serials" \
	grep -qF "$reason" "$(lab_log dcvd)"

# dcv check says the same, and names a server that refuses with REFUSED.
sed -e "s/nameservers: .*/nameservers: [$P@$LAB_PORT, $Q@$LAB_PORT, $R@$LAB_PORT]/" \
	"$LAB/dcvd.yaml" >"$LAB/check.yaml"
dcv_run check check -c "$LAB/check.yaml" --timeout 2 "$LAB/p0-copy.csr"
lab_check "dcv check exits 1 while the stale server lags" dcv_rc 1
lab_check "... and gives the same reason" grep -qF "$reason" "$LAB/run/check.err"
lab_check "... and names the refusing server with REFUSED" \
	grep -qF "server $R@$LAB_PORT asked ${owner%.}. for h0.poll.test: REFUSED" "$LAB/run/check.err"

# The stale server catches up: its serial moves, and dcvd sees it within poll_max.
lab_nsupdate dcv "$K" "$LAB_PORT" <<EOF
zone poll.test
update add $owner 300 IN CNAME $target
send
EOF
caught=$SECONDS
lab_check "visible within poll_max (2 s) and a round of the stale server catching up" \
	lab_until 6 test -e "$spool/done/p0.status"
echo "visible $((SECONDS - caught)) s after the stale server caught up ($((SECONDS - start)) s in all)"
lab_finish
