#!/usr/bin/env bash
# dcvd_burst.sh BUILD -- 1,500 CSRs dropped at once into one dcvd with real
# servers (BIND primary -> Knot secondary by NOTIFY/IXFR -> unbound): big
# enough for what only a burst does, each checked to have happened:
#   - more jobs probe at once than dcvd runs rounds for (512): the others
#     wait in line for a round;
#   - UPDATEs of more than 64 records: their confirmation queries go out 64
#     at a time;
#   - 1,500 status files put into done/ in a few store batches, linked into
#     place (no temporary left, mode 0640).
# Then every job must end visible exactly once (dcvd_check_complete: status
# files, the primary's zone by AXFR, the secondary and the resolver by one
# batch of queries each, `dcv status`), with no error in dcvd's log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build folder}" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
dcvd_lab dcvd_burst 20 "$build" burst.test

N=1500
spool=$LAB/spool cfg=$LAB/dcvd.yaml
mkdir -p "$LAB/csr"
"$GEN_CSRS" "$LAB/csr" "$N" burst.test 1 b >/dev/null
dcvd_config "$cfg" "$spool" burst.test </dev/null
dcvd_start dcvd "$cfg" "$spool"
log=$(lab_log dcvd)
dcvd_stage "$spool" "$LAB/csr"/*.csr
dcvd_release "$spool"
dcvd_check_complete burst "$spool" "$cfg" burst.test "$LAB/csr"/*.csr

# The largest UPDATE of the burst, from dcvd's debug lines.
largest_update() {
	awk '/: UPDATE add of [0-9]+ records/ {
			for (i = 1; i <= NF; i++) if ($i == "of") n = $(i + 1)
			if (n + 0 > max) max = n + 0
		} END { print max + 0 }' "$log"
}
lab_check "jobs waited in line for a probe round ($(grep -c 'waits in line: 512 probe rounds run' "$log") times)" \
	grep -q 'waits in line: 512 probe rounds run' "$log"
lab_check "an UPDATE carried more than 64 records (the largest: $(largest_update))" \
	test "$(largest_update)" -gt 64
dcvd_n "$spool/done" '.*.tmp'
lab_check "no temporary status file in done/" test "$DCVD_N" = 0
lab_check "every status file has mode 0640" \
	test "$(find "$spool/done" -name '*.status' ! -perm 0640 | wc -l)" = 0
lab_check "no error in dcvd's log" lab_not grep -E ': error: ' "$log"
lab_stop dcvd
lab_finish
