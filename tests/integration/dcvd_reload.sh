#!/usr/bin/env bash
# dcvd_reload.sh BUILD -- what a reload cannot take away:
#   - a changed spool: needs a restart, is named in a warning, and the
#     running spool is kept (a CSR dropped there after the reload is done);
#   - a zone removed while a job holds a record in it: the reload says so,
#     and the job still withdraws its record with the configuration it was
#     planned with (the record is gone from the primary afterwards).
# Address block 26.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/integration/lib_dcv.sh
source "$here/lib_dcv.sh"
# shellcheck source=tests/integration/lib_dcvd.sh
source "$here/lib_dcvd.sh"
dcvd_lab dcvd_reload 26 "${1:?build folder}" keep.test gone.test
spool=$LAB/spool

# Records withdrawn soon after they are visible, so that the test sees it.
export DCVD_WITHDRAW_AFTER=12s
dcvd_config "$LAB/dcvd.yaml" "$spool" keep.test gone.test </dev/null
dcvd_start dcvd "$LAB/dcvd.yaml" "$spool"
mkdir -p "$LAB/csr"
"$GEN_CSRS" "$LAB/csr" 1 gone.test 1 g >/dev/null
"$GEN_CSRS" "$LAB/csr" 1 keep.test 1 k >/dev/null
dcv_expect g0 gone.test
g_owner=$DCV_OWNER g_target=$DCV_TARGET
dcvd_rename "$LAB/csr/g0.csr" "$spool/incoming"
lab_check "g0.csr (zone gone.test) is visible" lab_until 20 test -e "$spool/done/g0.status"
lab_check "the primary serves its record" lab_serves "$P" "$LAB_PORT" "$g_owner" CNAME "$g_target"

# The reload: another spool, and gone.test removed.
dcvd_config "$LAB/dcvd.yaml" "$LAB/elsewhere" keep.test </dev/null
kill -HUP "$(lab_pid dcvd)"
log=$(lab_log dcvd)
lab_check "the reload names the spool it cannot change" \
	lab_until 10 grep -q "reload: spool: $LAB/elsewhere needs a restart; the running spool $spool is kept" "$log"
lab_check "the reload names the removed zone that a job still holds" \
	lab_until 10 grep -q "reload: zone gone.test was removed, but 1 jobs hold records in it" "$log"
lab_check "no folder was made for the new spool" test ! -e "$LAB/elsewhere"

dcv_expect k0 keep.test
dcvd_rename "$LAB/csr/k0.csr" "$spool/incoming"
lab_check "k0.csr dropped into the running spool after the reload is visible" \
	lab_until 20 test -e "$spool/done/k0.status"
lab_check "g0's job withdraws its record in the removed zone" \
	lab_until 40 grep -q '^state: withdrawn' "$spool/done/g0.status"
lab_check "the primary no longer serves it" lab_not lab_serves "$P" "$LAB_PORT" "$g_owner" CNAME "$g_target"
lab_finish
