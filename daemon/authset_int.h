/*
 * authset_int.h -- the NS answer reader of authset.c as a pure function of
 * the message bytes, for the fuzz targets and tests. Nothing but
 * authset.c and tests include it.
 */
#ifndef DCV_AUTHSET_INT_H
#define DCV_AUTHSET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "query.h"

/*
 * Appends to *ns (grown with realloc, *n_ns entries; the caller frees *ns)
 * the target of every NS record in the answer section whose owner is zone
 * (presentation form, any case), in presentation form (dcv_name_text).
 * Any bytes are safe input. DCV_EREPLY when the message is malformed (what
 * was appended before stays), DCV_ENOMEM.
 */
int dcv_authset_read_ns(const char *zone, const uint8_t *msg, size_t len,
                        char (**ns)[DCV_NAME_TEXT_MAX], size_t *n_ns);

#endif
