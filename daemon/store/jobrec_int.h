/*
 * jobrec_int.h -- the field rules of dcv_job_record_check() (jobrec.c),
 * shared with the store, which names files after ids and NAMEs. Each
 * returns NULL when the value is fine, or a phrase ("must not contain
 * '/'") that follows the field's name in a message.
 */
#ifndef DCV_JOBREC_INT_H
#define DCV_JOBREC_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

bool dcv_jobrec_utf8_valid(const char *s);
/* id or NAME: used as part of a file name. */
const char *dcv_jobrec_file_part_problem(const char *s, size_t max);
const char *dcv_jobrec_ext_problem(const char *s);
/* Empty, or exactly want lower-case hex digits. */
const char *dcv_jobrec_hex_problem(const char *s, size_t want);
/* owner, target, zone, name, adn: letters, digits, '-', '_', '.', '*'. */
const char *dcv_jobrec_dns_problem(const char *s);

#endif
