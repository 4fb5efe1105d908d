/*
 * sidecar.h -- the optional NAME.yaml dropped beside NAME.csr in the spool:
 *
 *   unique_value: 1f96729172445e721043   # the CA's unique value
 *   target: comodoca.com                 # target base domain, if not the config's
 *   expect:                              # records the CA returned, as text
 *     - "_47cb...d091.mail.example.com. CNAME
 * 5b06...bef17.da45...745d.1f96729172445e721043.comodoca.com."
 *   token: 0f1e2d3c4b5a69788796a5b4c3d2e1f0   # dcv submit --wait (results.h)
 *
 * Parsed from a buffer (the daemon reads spool files itself, safely).
 * Ownership: dcv_sidecar_free() releases the strings (the struct itself is
 * the caller's).
 */
#ifndef DCV_SIDECAR_H
#define DCV_SIDECAR_H

#include <stdbool.h>
#include <stddef.h>

#include "dcv/dcv.h"
#include "dcv/err.h"
#include "util.h"

#define DCV_SIDECAR_MAX_FILE (64 * 1024)

struct dcv_sidecar {
	char unique[DCV_UNIQUE_MAX + 1]; /* "" when absent */
	char target[32];                 /* "" when absent */
	struct dcv_strv expect;
	/*
	 * "" when absent, else DCV_SIDECAR_TOKEN_LEN lower-case hex digits: the
	 * hash of the secret name of the folder in SPOOL/results/ where dcvd
	 * puts the job's status for `dcv submit --wait` (results.h). Never in a
	 * message.
	 */
	char token[33];
};

#define DCV_SIDECAR_TOKEN_LEN 32

/*
 * Parses a sidecar. name is used in messages. Unknown keys, wrong types, a
 * bad unique value or target, an expect entry that is not a CNAME record,
 * or a token that is not 32 lower-case hex digits (its text is not quoted)
 * are errors: DCV_EINVAL with why "NAME:LINE:COL: what is wrong" (the first
 * problem, then "(and N more problems)"); DCV_ENOMEM. A buffer over
 * DCV_SIDECAR_MAX_FILE is refused. Every key is optional; expect takes a
 * list or a single string. The unique value keeps its case (the HTTP file
 * needs it), the target is normalized as dcv_opts_check() does, expect
 * strings are kept as written. On failure *out is empty (nothing to free).
 */
int dcv_sidecar_parse(const char *name, const unsigned char *buf, size_t len,
                      struct dcv_sidecar *out, struct dcv_why *why);

void dcv_sidecar_free(struct dcv_sidecar *sc);

/*
 * Checks every expected record against the request: its owner must be
 * "_<md5>." in front of one of the request's names or ADN candidates, and
 * its target must be req->target (compared case-insensitively, trailing dot
 * optional, TTL and class optional). DCV_EMISMATCH with why naming both
 * the expected and the computed record on the first difference ("the CA's
 * record '...' differs from the computed record '_<md5>.<adn>. CNAME
 * <target>' (the owner|target differs)"); the computed record's ADN is the
 * expected one when only the target differs, else the candidate the CA's
 * owner points into, else the request's first name. DCV_OK when nothing
 * is expected.
 */
int dcv_sidecar_check(const struct dcv_sidecar *sc, const struct dcv_request *req,
                      struct dcv_why *why);

#endif
