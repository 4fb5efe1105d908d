#!/usr/bin/env bash
# dcvd_dnssec_bind.sh BUILD -- dcvd_dnssec.sh with BIND 9.18 as the signer
# (dnssec-policy default on a dynamic zone: it signs each UPDATE in place).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DNSSEC_SIGNER=bind exec "$here/dcvd_dnssec.sh" "$@"
