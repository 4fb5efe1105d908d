/*
 * jobrec_int.h -- the field rules of dcv_job_record_check(), shared by the
 * check and the parser so that both refuse exactly the same values. Each
 * returns NULL when the value is fine, or a phrase ("must not contain '/'")
 * that follows the field's name in a message.
 */
#ifndef DCV_JOBREC_INT_H
#define DCV_JOBREC_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

/* The end of every record file (store.h: a cut file is never valid). */
#define DCV_JOBREC_END "\n...\n"

bool dcv_jobrec_utf8_valid(const char *s);
/* id or NAME: used as part of a file name. */
const char *dcv_jobrec_file_part_problem(const char *s, size_t max);
const char *dcv_jobrec_ext_problem(const char *s);
/* Empty, or exactly want lower-case hex digits. */
const char *dcv_jobrec_hex_problem(const char *s, size_t want);
/* owner, target, zone, name, adn: letters, digits, '-', '_', '.', '*'. */
const char *dcv_jobrec_dns_problem(const char *s);

/*
 * The entries of the store's logs (store.h) are record documents as
 * dcv_job_record_emit() writes them, and forget entries:
 *
 *   ---
 *   version: 1
 *   id: ID
 *   forget: true
 *   ...
 *
 * Both begin with "---\nversion: 1\nid: " and the id written the same way,
 * so equal id lines mean the same id (the store's loader uses that to parse
 * only the newest entry of each id). Forget emit: DCV_EINVAL for an id that
 * could not name a record, DCV_ENOMEM; the caller frees *buf.
 */
#define DCV_JOBREC_ENTRY_START "---\nversion: 1\nid: "
int dcv_jobrec_forget_emit(const char *id, unsigned char **buf, size_t *len);
/*
 * Parses one entry: a record (as strictly as dcv_job_record_parse()) or a
 * forget entry (*forget set; out holds only the id). first_line is the line
 * of buf[0] in file, so that messages read "FILE:LINE:COL: what" with the
 * file's line. DCV_ESTATE with why, DCV_ENOMEM; out is left with no arrays.
 */
int dcv_jobrec_entry_parse(const char *file, unsigned long first_line, const unsigned char *buf,
                           size_t len, struct dcv_job_record *out, bool *forget,
                           struct dcv_why *why);

#endif
