/*
 * show.h -- the `dcv show` document: everything about one CSR as YAML.
 *
 * Keys: file, md5, sha1, sha256, key, names (name, wildcard, candidates),
 * records, [legacy_records], http (path, content, urls), email, warnings.
 */
#ifndef DCV_SHOW_H
#define DCV_SHOW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dcv/dcv.h"

/*
 * Writes one YAML document ("---" first) to out. Returns 0, DCV_ENAME when
 * a record owner cannot exist (why names it), DCV_EIO when writing failed.
 */
int dcv_show_emit(FILE *out, const char *file, const struct dcv_request *req, uint32_t ttl,
                  bool legacy, struct dcv_why *why);

/*
 * Appends the `dcv records` lines of req to lines: one per distinct name,
 * wildcard removed; legacy selects the retired Comodo form.
 */
int dcv_records_lines(const struct dcv_request *req, uint32_t ttl, bool legacy,
                      struct dcv_strv *lines, struct dcv_why *why);

#endif
