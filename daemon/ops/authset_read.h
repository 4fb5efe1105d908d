/*
 * authset_read.h -- the NS and address answer readers of authset.c as pure
 * functions of the message bytes, for the fuzz targets and tests. Nothing but
 * authset.c and tests include it.
 */
#ifndef DCV_AUTHSET_READ_H
#define DCV_AUTHSET_READ_H

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

/*
 * Calls add(arg, rdata, rdlength, type) for every A and AAAA record in the
 * answer section that answers the question: owned by the question's name,
 * or by the target of a CNAME owned by it (followed in the order the
 * chain stands in the answer). Records of other owners are skipped: a
 * server may not hand out addresses for names nobody asked about. Any
 * bytes are safe input. DCV_EREPLY when the message is malformed (what
 * was added before stays), or what add returned when it failed.
 */
typedef int (*dcv_authset_addr_cb)(void *arg, const uint8_t *rdata, uint16_t rdlength,
                                   uint16_t type);
int dcv_authset_read_addrs(const uint8_t *msg, size_t len, dcv_authset_addr_cb add, void *arg);

#endif
