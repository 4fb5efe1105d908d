/*
 * store_index.c -- the store's bookkeeping of its files (store_int.h): for
 * every id the newest entry (a hash table), and for every file of state/
 * how many of its entries are still the newest of their id. A file with
 * none is dead: nothing it holds would survive a load, so it can go once
 * the entries that replaced its own are durable.
 *
 * Forgets are the subtle part. A forget entry masks the id's entries in
 * older files; dropping it while such a file exists would bring the job
 * back at the next load. So a forget counts as live -- its file stays --
 * until its file is the oldest one: then nothing older is left to mask.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static uint32_t hash_id(const char *id)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

static struct store_entry **bucket_of(const struct dcv_store *st, uint32_t hash)
{
	return &st->buckets[hash & (st->n_buckets - 1)];
}

void store_index_clear(struct dcv_store *st)
{
	struct store_entry *e = NULL, *next = NULL;

	for (size_t i = 0; i < st->n_buckets; i++)
		for (e = st->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(st->buckets);
	st->buckets = NULL;
	st->n_buckets = 0;
	st->n_entries = 0;
	for (size_t i = 0; i < st->n_files; i++)
		free(st->files[i].name);
	free(st->files);
	st->files = NULL;
	st->n_files = 0;
	st->cap_files = 0;
	st->n_present = 0;
	st->total_bytes = 0;
	st->live_bytes = 0;
	st->doomed_any = false;
}

/* Doubles the bucket array; a table that cannot grow still works, only slower. */
static void grow_buckets(struct dcv_store *st)
{
	size_t n = st->n_buckets ? st->n_buckets * 2 : 1024;
	struct store_entry **buckets = calloc(n, sizeof(*buckets));
	struct store_entry *e = NULL, *next = NULL;

	if (buckets == NULL)
		return;
	for (size_t i = 0; i < st->n_buckets; i++)
		for (e = st->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = buckets[e->hash & (n - 1)];
			buckets[e->hash & (n - 1)] = e;
		}
	free(st->buckets);
	st->buckets = buckets;
	st->n_buckets = n;
}

int store_file_add(struct dcv_store *st, uint64_t seq, const char *name, uint64_t size,
                   uint32_t *idx)
{
	struct store_file *grown = NULL, *f = NULL;
	size_t cap = 0;
	char *copy = strdup(name);

	if (copy == NULL)
		return DCV_ENOMEM;
	if (st->n_files == st->cap_files) {
		cap = st->cap_files ? st->cap_files * 2 : 64;
		grown = realloc(st->files, cap * sizeof(*grown));
		if (grown == NULL) {
			free(copy);
			return DCV_ENOMEM;
		}
		st->files = grown;
		st->cap_files = cap;
	}
	f = &st->files[st->n_files];
	memset(f, 0, sizeof(*f));
	f->seq = seq;
	f->name = copy;
	f->size = size;
	st->n_present++;
	st->total_bytes += size;
	*idx = (uint32_t)st->n_files++;
	return DCV_OK;
}

void store_file_gone(struct dcv_store *st, uint32_t idx)
{
	struct store_file *f = &st->files[idx];

	if (f->gone)
		return;
	f->gone = true;
	f->doomed = false;
	st->n_present--;
	st->total_bytes -= f->size;
}

struct store_entry *store_index_get(const struct dcv_store *st, const char *id)
{
	uint32_t h = hash_id(id);

	if (st->n_buckets == 0)
		return NULL;
	for (struct store_entry *e = *bucket_of(st, h); e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static void doom_if_dead(struct dcv_store *st, uint32_t idx)
{
	struct store_file *f = &st->files[idx];

	if (f->n_live == 0 && !f->gone && !f->doomed) {
		f->doomed = true;
		st->doomed_any = true;
	}
}

/* The entry no longer counts in its file. */
static void unlive(struct dcv_store *st, const struct store_entry *e)
{
	struct store_file *f = &st->files[e->file];

	f->n_live--;
	f->n_forgets -= e->forget;
	f->live_bytes -= e->len;
	st->live_bytes -= e->len;
}

int store_index_put(struct dcv_store *st, const char *id, uint32_t file, bool forget, uint64_t off,
                    uint32_t len)
{
	struct store_entry *e = store_index_get(st, id), **bucket = NULL;
	struct store_file *f = &st->files[file];
	uint32_t old_file = file;
	size_t n = 0;

	if (e == NULL) {
		n = strlen(id);
		e = malloc(sizeof(*e) + n + 1);
		if (e == NULL)
			return DCV_ENOMEM;
		memcpy(e->id, id, n + 1);
		e->hash = hash_id(id);
		if (st->n_entries >= st->n_buckets)
			grow_buckets(st);
		if (st->n_buckets == 0) {
			free(e);
			return DCV_ENOMEM;
		}
		bucket = bucket_of(st, e->hash);
		e->next = *bucket;
		*bucket = e;
		st->n_entries++;
	} else {
		unlive(st, e);
		old_file = e->file;
	}
	e->file = file;
	e->forget = forget;
	e->off = off;
	e->len = len;
	f->n_live++;
	f->n_forgets += forget;
	f->live_bytes += len;
	st->live_bytes += len;
	if (old_file != file)
		doom_if_dead(st, old_file);
	return DCV_OK;
}

void store_index_each(struct dcv_store *st, void (*fn)(void *arg, struct store_entry *e), void *arg)
{
	for (size_t i = 0; i < st->n_buckets; i++)
		for (struct store_entry *e = st->buckets[i]; e != NULL; e = e->next)
			fn(arg, e);
}

/* Removes the forget entries of file idx from the index. */
static void drop_forgets(struct dcv_store *st, uint32_t idx)
{
	struct store_entry **link = NULL, *e = NULL;

	for (size_t i = 0; i < st->n_buckets; i++) {
		link = &st->buckets[i];
		while ((e = *link) != NULL) {
			if (e->file == idx && e->forget) {
				unlive(st, e);
				*link = e->next;
				st->n_entries--;
				free(e);
				continue;
			}
			link = &e->next;
		}
	}
}

void store_files_settle(struct dcv_store *st)
{
	struct store_file *oldest = NULL;
	size_t oldest_idx = 0;

	for (size_t i = 0; i < st->n_files; i++) {
		struct store_file *f = &st->files[i];

		if (f->gone)
			continue;
		if (oldest == NULL || f->seq < oldest->seq) {
			oldest = f;
			oldest_idx = i;
		}
	}
	/* A state/ that no load has read may hold older files than any we know. */
	if (oldest != NULL && !st->unknown_files && oldest->n_forgets > 0)
		drop_forgets(st, (uint32_t)oldest_idx);
	for (size_t i = 0; i < st->n_files; i++)
		doom_if_dead(st, (uint32_t)i);
}

struct renumber {
	const uint32_t *map;
};

static void renumber_entry(void *arg, struct store_entry *e)
{
	const struct renumber *r = arg;

	e->file = r->map[e->file];
}

void store_files_pack(struct dcv_store *st)
{
	struct renumber r = {NULL};
	uint32_t *map = NULL;
	size_t k = 0;

	if (st->n_files - st->n_present < 64 || st->n_files - st->n_present < st->n_present)
		return;
	map = malloc(st->n_files * sizeof(*map));
	if (map == NULL)
		return;
	for (size_t i = 0; i < st->n_files; i++) {
		if (st->files[i].gone) {
			free(st->files[i].name);
			continue;
		}
		map[i] = (uint32_t)k;
		st->files[k++] = st->files[i];
	}
	st->n_files = k;
	r.map = map;
	store_index_each(st, renumber_entry, &r);
	free(map);
}

bool store_file_compactable(const struct dcv_store *st, uint32_t idx)
{
	const struct store_file *f = &st->files[idx];

	if (f->gone || f->doomed)
		return false;
	/* Record files of the old format always; logs that are small or mostly dead. */
	return f->seq == 0 || f->size < st->tuning.big_file || f->live_bytes * 2 < f->size;
}

bool store_compaction_due(const struct dcv_store *st)
{
	size_t n = 0;
	bool waste = false, old_format = false;

	if (st->index_broken)
		return false;
	for (size_t i = 0; i < st->n_files && !old_format; i++)
		old_format = !st->files[i].gone && st->files[i].seq == 0;
	/* Record files of the old format are rewritten at once: many small files load slowly. */
	if (!old_format && st->n_present <= st->tuning.max_files &&
	    st->total_bytes <= 2 * st->live_bytes + st->tuning.slack_bytes)
		return false;
	/* Worth it only when the files it would rewrite are several, or hold dead entries. */
	for (size_t i = 0; i < st->n_files; i++) {
		if (!store_file_compactable(st, (uint32_t)i))
			continue;
		n++;
		waste |= st->files[i].live_bytes < st->files[i].size;
	}
	return n >= 2 || waste;
}
