/*
 * names.h -- DNS name rules for DCV: what may be validated, and where the CA
 * looks (the Authorization Domain Name candidates).
 *
 * Pure, apart from loading the Public Suffix List once. Names handed in are
 * normalized already (lower-case ASCII, no trailing dot; see csr.h).
 */
#ifndef DCV_NAMES_H
#define DCV_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "dcv/err.h"
#include "dcv/strv.h"

struct dcv_psl;

#define DCV_NAME_MAX 253 /* presentation length without the trailing dot */
#define DCV_LABEL_MAX 63

/*
 * Loads the newest Public Suffix List on this system (the `publicsuffix`
 * package's data when it is newer than libpsl's built-in copy) -- the same
 * choice the `psl` command makes by default. Free with dcv_psl_free().
 * Errors: DCV_EIO with why.
 */
int dcv_psl_load(struct dcv_psl **out, struct dcv_why *why);
void dcv_psl_free(struct dcv_psl *psl);

/*
 * Checks that name may be validated by the DNS method: labels of 1..63
 * octets, at most 253 octets in all, letters/digits/hyphen only (A-labels
 * "xn--" included), '*' only as the whole leftmost label, and neither the
 * name nor (for a wildcard) its base a public suffix.
 * Returns DCV_OK or DCV_ENAME; why names the name and the reason.
 */
int dcv_name_check(const struct dcv_psl *psl, const char *name, struct dcv_why *why);

/* The name without a leading "*." (a pointer into name). */
const char *dcv_name_base(const char *name);

/*
 * Appends to out the ADN candidates of a checked name, in the order the CA
 * tries them: the base name, then each parent, ending with the registrable
 * domain. Errors: DCV_ENAME (no registrable domain), DCV_ENOMEM.
 */
int dcv_name_candidates(const struct dcv_psl *psl, const char *name, struct dcv_strv *out,
                        struct dcv_why *why);

/* true when name equals zone or lies below it (both normalized). */
bool dcv_name_in_zone(const char *name, const char *zone);

#endif
