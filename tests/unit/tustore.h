/*
 * tustore.h -- job records for the store tests: deterministic records made
 * from an id and a generation number (so that a record that mixes two
 * writes is recognisable), and a field-by-field comparison. Header-only
 * (static inline) like tufiles.h.
 */
#ifndef DCV_TUSTORE_H
#define DCV_TUSTORE_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "testutil.h"

/* A small deterministic generator (splitmix64). */
static inline uint64_t tu_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline void tu_hexfill(char *out, size_t digits, uint64_t seed)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < digits; i++)
		out[i] = hex[tu_mix(seed + i) & 15];
	out[digits] = '\0';
}

/*
 * Fills rec for (id, gen) with n_rrs records and n_names names; every field
 * depends on gen. rec's arrays are allocated (free with
 * dcv_job_record_free()).
 */
static inline void tu_rec_make(struct dcv_job_record *rec, const char *id, uint64_t gen,
                               size_t n_rrs, size_t n_names)
{
	static const char *const exts[] = {"csr", "pem", "der"};
	uint64_t seed = tu_mix(gen * 1000003u + strlen(id));

	memset(rec, 0, sizeof(*rec));
	snprintf(rec->id, sizeof(rec->id), "%s", id);
	snprintf(rec->name, sizeof(rec->name), "%.*s", (int)strcspn(id, "~"), id);
	snprintf(rec->ext, sizeof(rec->ext), "%s", exts[gen % 3]);
	rec->state = (enum dcv_job_state)(gen % DCV_JOB_STATE_COUNT);
	rec->cleanup = (gen & 1) != 0;
	tu_hexfill(rec->md5, 32, seed);
	tu_hexfill(rec->sha256, 64, seed + 100);
	rec->n_rrs = n_rrs;
	rec->rrs = n_rrs ? calloc(n_rrs, sizeof(*rec->rrs)) : NULL;
	for (size_t i = 0; i < n_rrs; i++) {
		struct dcv_job_record_rr *rr = &rec->rrs[i];

		snprintf(rr->owner, sizeof(rr->owner), "_%s.n%zu.g%" PRIu64 ".example.test.",
		         rec->md5, i, gen);
		snprintf(rr->target, sizeof(rr->target), "%.32s.%.32s.sectigo.com.", rec->sha256,
		         rec->sha256 + 32);
		snprintf(rr->zone, sizeof(rr->zone), "z%zu.example.test.", i % 3);
		rr->ttl = (uint32_t)(gen % 2 ? 300 + i : (i == 0 ? UINT32_MAX : i));
	}
	rec->n_names = n_names;
	rec->names = n_names ? calloc(n_names, sizeof(*rec->names)) : NULL;
	for (size_t i = 0; i < n_names; i++) {
		snprintf(rec->names[i].name, sizeof(rec->names[i].name),
		         "%sn%zu.g%" PRIu64 ".example.test", i % 4 == 1 ? "*." : "", i, gen);
		snprintf(rec->names[i].adn, sizeof(rec->names[i].adn),
		         "n%zu.g%" PRIu64 ".example.test", i, gen);
	}
	rec->received = 1700000000 + gen;
	rec->published = gen % 2 ? 1700000100 + gen : 0;
	rec->visible = gen % 3 ? 1700000200 + gen : 0;
	rec->withdraw_due = gen % 5 ? 1700600000 + gen : 0;
	rec->withdrawn = gen % 7 == 5 ? 1700700000 + gen : 0;
	rec->failed = gen % 7 == 6 ? DCV_JOB_TIME_MAX : 0;
	if (gen % 4 != 0)
		snprintf(rec->error, sizeof(rec->error), "gen %" PRIu64 ": \"quoted\" 'text'", gen);
}

/* Fails the test (saying which field) unless a and b are equal. */
static inline bool tu_rec_equal(const struct dcv_job_record *a, const struct dcv_job_record *b,
                                bool fail_on_difference)
{
	const char *diff = NULL;

	if (strcmp(a->id, b->id) != 0)
		diff = "id";
	else if (strcmp(a->name, b->name) != 0)
		diff = "name";
	else if (strcmp(a->ext, b->ext) != 0)
		diff = "ext";
	else if (a->state != b->state)
		diff = "state";
	else if (a->cleanup != b->cleanup)
		diff = "cleanup";
	else if (strcmp(a->md5, b->md5) != 0)
		diff = "md5";
	else if (strcmp(a->sha256, b->sha256) != 0)
		diff = "sha256";
	else if (a->n_rrs != b->n_rrs)
		diff = "n_rrs";
	else if (a->n_names != b->n_names)
		diff = "n_names";
	else if (a->received != b->received || a->published != b->published ||
	         a->visible != b->visible || a->withdraw_due != b->withdraw_due ||
	         a->withdrawn != b->withdrawn || a->failed != b->failed)
		diff = "a timestamp";
	else if (strcmp(a->error, b->error) != 0)
		diff = "error";
	for (size_t i = 0; diff == NULL && i < a->n_rrs; i++)
		if (strcmp(a->rrs[i].owner, b->rrs[i].owner) != 0 ||
		    strcmp(a->rrs[i].target, b->rrs[i].target) != 0 ||
		    strcmp(a->rrs[i].zone, b->rrs[i].zone) != 0 || a->rrs[i].ttl != b->rrs[i].ttl)
			diff = "an rr";
	for (size_t i = 0; diff == NULL && i < a->n_names; i++)
		if (strcmp(a->names[i].name, b->names[i].name) != 0 ||
		    strcmp(a->names[i].adn, b->names[i].adn) != 0)
			diff = "a name";
	if (diff != NULL && fail_on_difference)
		fail_msg("records %s / %s differ in %s", a->id, b->id, diff);
	return diff == NULL;
}

#endif
