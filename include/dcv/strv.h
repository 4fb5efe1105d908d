/*
 * strv.h -- a growable vector of owned strings, the list type of the public
 * API (names, candidates, approvers, warnings).
 *
 * Ownership: a dcv_strv owns its strings; dcv_strv_free() releases them and
 * leaves an empty, reusable vector. Start from a zeroed struct. Errors are
 * DCV_E* codes (dcv/err.h).
 */
#ifndef DCV_STRV_H
#define DCV_STRV_H

#include <stdbool.h>
#include <stddef.h>

struct dcv_strv {
	char **v;
	size_t n;
	size_t cap;
};

/* Appends a copy of s. DCV_ENOMEM on failure (vector unchanged). */
int dcv_strv_push(struct dcv_strv *sv, const char *s);
/* Appends a formatted string. */
int dcv_strv_pushf(struct dcv_strv *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a copy of s unless an equal string is already there. */
int dcv_strv_push_unique(struct dcv_strv *sv, const char *s);
bool dcv_strv_contains(const struct dcv_strv *sv, const char *s);
void dcv_strv_free(struct dcv_strv *sv);

#endif
