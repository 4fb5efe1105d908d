/*
 * holders.c -- which jobs hold each DCV record (engine_int.h).
 *
 * The same CSR dropped twice (its PEM and its DER, a resubmission) gives two
 * jobs with the same record: one owner name, one target. The record must
 * stay while any of them relies on it and be deleted exactly once, by the
 * last one. A job whose owner is held with another target (the same CSR
 * with another unique value or target base) must not replace it: a CNAME
 * is a singleton.
 *
 * Holders are kept by job id, not by job object: a job that is visible
 * with withdraw_after 0 leaves the engine's list but still holds its
 * record. At start the table is derived from the job records; those win.
 * One table for the engine, on the loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine_int.h"

#define HOLDERS_BUCKETS_MIN 1024

struct holder {
	char *id;
};

struct hold_entry {
	struct hold_entry *next;
	uint32_t hash;
	char *key; /* "zone\0owner" as one string: zone, then '/', then owner */
	char target[256];
	struct holder *holders;
	size_t n, cap;
	/*
	 * Id of the job whose delete of it is out ("" when none). Kept in the
	 * entry, not allocated: marking it cannot fail, and a lost mark would
	 * let another job's add race the delete, which removes the record.
	 */
	char deleting[DCV_JOB_ID_MAX + 1];
};

struct dcv_holders {
	struct hold_entry **buckets;
	size_t n_buckets;
	size_t n_entries;
};

static uint32_t hash_of(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
		h = (h ^ (unsigned char)c) * 16777619u;
	}
	return h;
}

static void key_of(const struct dcv_job_record_rr *rr, char *key, size_t size)
{
	snprintf(key, size, "%s/%s", rr->zone, rr->owner);
}

struct dcv_holders *holders_new(void)
{
	struct dcv_holders *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->n_buckets = HOLDERS_BUCKETS_MIN;
	h->buckets = calloc(h->n_buckets, sizeof(*h->buckets));
	if (h->buckets == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

static void entry_free(struct hold_entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->holders[i].id);
	free(e->holders);
	free(e->key);
	free(e);
}

void holders_free(struct dcv_holders *h)
{
	if (h == NULL)
		return;
	for (size_t b = 0; b < h->n_buckets; b++) {
		struct hold_entry *e = h->buckets[b], *next = NULL;
		for (; e != NULL; e = next) {
			next = e->next;
			entry_free(e);
		}
	}
	free(h->buckets);
	free(h);
}

static struct hold_entry **find(struct dcv_holders *h, const char *key, uint32_t hash)
{
	struct hold_entry **p = &h->buckets[hash % h->n_buckets];

	for (; *p != NULL; p = &(*p)->next)
		if ((*p)->hash == hash && strcasecmp((*p)->key, key) == 0)
			break;
	return p;
}

static void grow_table(struct dcv_holders *h)
{
	size_t n = h->n_buckets * 2;
	struct hold_entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < h->n_buckets; i++) {
		struct hold_entry *e = h->buckets[i], *next = NULL;
		for (; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash % n];
			b[e->hash % n] = e;
		}
	}
	free(h->buckets);
	h->buckets = b;
	h->n_buckets = n;
}

static int entry_index(const struct hold_entry *e, const char *id)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->holders[i].id, id) == 0)
			return (int)i;
	return -1;
}

int holders_take(struct dcv_holders *h, const struct dcv_job_record_rr *rr, const char *id,
                 char *held_by, size_t held_by_size, char *held_target, size_t target_size)
{
	char key[600];
	uint32_t hash = 0;
	struct hold_entry **p = NULL, *e = NULL;
	int rc = DCV_ENOMEM;

	key_of(rr, key, sizeof(key));
	hash = hash_of(key);
	p = find(h, key, hash);
	e = *p;
	if (e != NULL && strcasecmp(e->target, rr->target) != 0 && e->n > 0) {
		snprintf(held_by, held_by_size, "%s", e->holders[0].id);
		snprintf(held_target, target_size, "%s", e->target);
		rc = DCV_ECONFLICT;
		goto out;
	}
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL || (e->key = strdup(key)) == NULL) {
			free(e);
			goto out;
		}
		e->hash = hash;
		e->next = h->buckets[hash % h->n_buckets];
		h->buckets[hash % h->n_buckets] = e;
		if (++h->n_entries > h->n_buckets)
			grow_table(h);
	}
	snprintf(e->target, sizeof(e->target), "%s", rr->target);
	if (entry_index(e, id) >= 0) {
		rc = DCV_OK;
		goto out;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 2;
		struct holder *grown = realloc(e->holders, cap * sizeof(*grown));
		if (grown == NULL)
			goto out;
		e->holders = grown;
		e->cap = cap;
	}
	if ((e->holders[e->n].id = strdup(id)) == NULL)
		goto out;
	e->n++;
	rc = DCV_OK;
out:
	return rc;
}

static struct hold_entry *lookup(struct dcv_holders *h, const struct dcv_job_record_rr *rr)
{
	char key[600];

	key_of(rr, key, sizeof(key));
	return *find(h, key, hash_of(key));
}

bool holders_others(struct dcv_holders *h, const struct dcv_job_record_rr *rr, const char *id)
{
	const struct hold_entry *e = lookup(h, rr);

	return e != NULL && e->n > (entry_index(e, id) >= 0 ? 1u : 0u);
}

bool holders_being_deleted(struct dcv_holders *h, const struct dcv_job_record_rr *rr,
                           const char *id)
{
	const struct hold_entry *e = lookup(h, rr);

	return e != NULL && e->deleting[0] != '\0' && strcmp(e->deleting, id) != 0;
}

void holders_deleting(struct dcv_holders *h, const struct dcv_job_record_rr *rr, const char *id)
{
	struct hold_entry *e = lookup(h, rr);

	if (e == NULL)
		return;
	/* Ids are at most DCV_JOB_ID_MAX bytes (dcv_job_record_check): never cut. */
	snprintf(e->deleting, sizeof(e->deleting), "%s", id);
}

void holders_release(struct dcv_holders *h, const struct dcv_job_record_rr *rr, const char *id)
{
	char key[600];
	struct hold_entry **p = NULL, *e = NULL;
	int i = -1;

	key_of(rr, key, sizeof(key));
	p = find(h, key, hash_of(key));
	if ((e = *p) == NULL)
		return;
	if ((i = entry_index(e, id)) >= 0) {
		free(e->holders[i].id);
		e->holders[i] = e->holders[--e->n];
	}
	if (strcmp(e->deleting, id) == 0)
		e->deleting[0] = '\0';
	if (e->n == 0 && e->deleting[0] == '\0') {
		*p = e->next;
		entry_free(e);
		h->n_entries--;
	}
}
