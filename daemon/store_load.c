/*
 * store_load.c -- loading state/ at start (store.h): the record files of
 * the old format first, then every log in the order of its number; a later
 * entry of an id replaces an earlier one, a forget removes it.
 *
 * Most of the time goes into parsing (libyaml allocates a lot per
 * document), so two things keep a load of 50,000 jobs short. Entries are
 * parsed by a few threads. And only the newest entry of each id is parsed:
 * every entry begins with the same three lines and its id written the same
 * way (jobrec_int.h), so equal id lines mean the same id, and an older entry
 * with the id line of a newer, whole one can be skipped unread. When the
 * newer one is damaged, the older ones are parsed in turn until one is whole.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobrec_int.h"
#include "store_int.h"
#include "store_load.h"

/*
 * Parses entry i into *rec. Record files are read here (they are many
 * small files: the threads share that work too). why only when wanted.
 */
static int parse_entry(struct load *ld, struct lentry *e, struct dcv_job_record *rec,
                       bool with_position, struct dcv_why *why)
{
	struct lfile *f = &ld->files[e->file];
	struct dcv_store *st = ld->st;
	unsigned char *buf = NULL;
	struct dcv_why read_why;
	char path[PATH_MAX];
	size_t len = 0, id_len = strlen(f->name) - 4;
	uint64_t size = 0;
	int fd = -1, rc = DCV_OK;

	memset(rec, 0, sizeof(*rec));
	store_path(st, st->dirs[STORE_DIR_STATE], f->name, path, sizeof(path));
	if (f->is_log)
		return dcv_jobrec_entry_parse(path, with_position ? load_line_of(f, e->off) : 1,
		                              f->buf + e->off, e->len, rec, &e->forget, why);
	rc = load_open_file(st, ld->readonly, f->name, DCV_JOB_FILE_MAX, &fd, &size, why);
	if (rc < 0)
		return rc;
	rc = dcv_read_fd(fd, (size_t)size, &buf, &len, &read_why);
	close(fd);
	if (rc == DCV_ENOMEM)
		goto out;
	if (rc < 0) {
		rc = DCV_ESTATE;
		dcv_why_set(why, "%s: %s", path, read_why.text);
		goto out;
	}
	e->len = len;
	rc = dcv_job_record_parse(path, buf, len, rec, why);
	if (rc < 0)
		goto out;
	/* The file name is the id: two record files can never hold the same job. */
	if (strlen(rec->id) != id_len || memcmp(rec->id, f->name, id_len) != 0) {
		dcv_why_set(why, "%s: the record's id '%s' does not match its file name", path,
		            rec->id);
		dcv_job_record_free(rec);
		rc = DCV_ESTATE;
	}
out:
	free(buf);
	return rc;
}

/*
 * Thread k parses the candidates k, k + step, k + 2 step... (at start
 * nothing else runs yet).
 */
#define LOAD_THREADS_MAX 8

struct share {
	struct load *ld;
	size_t first;
	size_t step;
};

static void share_run(void *arg)
{
	struct share *sh = arg;
	struct load *ld = sh->ld;
	struct dcv_why why;

	for (size_t k = sh->first; k < ld->n_cand; k += sh->step) {
		struct lentry *e = &ld->entries[ld->cand[k]];

		e->rc = parse_entry(ld, e, &ld->recs[e->rec], false, &why);
		e->parsed = true;
	}
}

static void parse_candidates(struct load *ld)
{
	struct share shares[LOAD_THREADS_MAX];
	uv_thread_t threads[LOAD_THREADS_MAX];
	bool started[LOAD_THREADS_MAX];
	size_t n_threads = uv_available_parallelism();

	if (n_threads > LOAD_THREADS_MAX)
		n_threads = LOAD_THREADS_MAX;
	if (n_threads < 1 || ld->n_cand < 256)
		n_threads = 1;
	for (size_t k = 0; k < n_threads; k++) {
		shares[k] = (struct share){ld, k, n_threads};
		/* A thread that cannot start leaves its share to this one. */
		started[k] = k > 0 && uv_thread_create(&threads[k], share_run, &shares[k]) == 0;
	}
	for (size_t k = 0; k < n_threads; k++)
		if (!started[k])
			share_run(&shares[k]);
	for (size_t k = 1; k < n_threads; k++)
		if (started[k])
			uv_thread_join(&threads[k]);
}

/* A slot in recs for one more parse. */
static int rec_slot(struct load *ld, int32_t *slot)
{
	struct dcv_job_record *grown = NULL;
	size_t cap = 0;

	if (ld->n_recs == ld->cap_recs) {
		cap = ld->cap_recs ? ld->cap_recs * 2 : 64;
		grown = realloc(ld->recs, cap * sizeof(*grown));
		if (grown == NULL)
			return DCV_ENOMEM;
		ld->recs = grown;
		ld->cap_recs = cap;
	}
	memset(&ld->recs[ld->n_recs], 0, sizeof(ld->recs[0]));
	*slot = (int32_t)ld->n_recs++;
	return DCV_OK;
}

static int pick_candidates(struct load *ld)
{
	int rc = DCV_ENOMEM;

	ld->cand = malloc((ld->n_entries ? ld->n_entries : 1) * sizeof(*ld->cand));
	if (ld->cand == NULL)
		return rc;
	for (size_t i = 0; i < ld->n_entries; i++) {
		if (!ld->entries[i].newest)
			continue;
		rc = rec_slot(ld, &ld->entries[i].rec);
		if (rc < 0)
			return rc;
		ld->cand[ld->n_cand++] = i;
	}
	return DCV_OK;
}

/*
 * After the threads: an entry that failed is parsed again here for its
 * message (damage is rare, messages are large; memory that ran short in a
 * thread may be there now); for a damaged one, the older entries of its id
 * line are tried in turn.
 */
static int retry_failures(struct load *ld)
{
	struct dcv_why why;
	int32_t j = -1;
	int rc = DCV_OK;

	for (size_t k = 0; k < ld->n_cand; k++) {
		struct lentry *e = &ld->entries[ld->cand[k]];

		for (;;) {
			if (e->rc == DCV_OK)
				break;
			dcv_job_record_free(&ld->recs[e->rec]);
			e->rc = parse_entry(ld, e, &ld->recs[e->rec], true, &why);
			if (e->rc == DCV_ENOMEM)
				return DCV_ENOMEM;
			if (e->rc == DCV_OK)
				break;
			if (e->rc == LOAD_GONE) {
				ld->vanished = true;
				break;
			}
			rc = load_damage(ld, e, &why);
			if (rc < 0)
				return rc;
			j = e->older;
			if (j < 0)
				break;
			e = &ld->entries[j];
			rc = rec_slot(ld, &e->rec);
			if (rc < 0)
				return rc;
			e->rc = DCV_ENOMEM; /* not parsed yet: the loop's parse decides */
			e->parsed = true;
		}
	}
	return DCV_OK;
}

/* Puts the whole entries into the index, oldest first: the newest of each id stays. */
static int apply(struct load *ld)
{
	struct dcv_store *st = ld->st;
	int rc = DCV_OK;

	for (size_t i = 0; i < ld->n_files; i++) {
		struct lfile *f = &ld->files[i];

		if (f->unreadable)
			continue;
		rc = store_file_add(st, f->seq, f->name, f->is_log ? f->len : 0, &f->idx);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < ld->n_entries; i++) {
		struct lentry *e = &ld->entries[i];
		struct lfile *f = &ld->files[e->file];

		if (!e->parsed || e->rc != DCV_OK)
			continue;
		if (!f->is_log) {
			/* A record file's size is known once read. */
			st->files[f->idx].size = e->len;
			st->total_bytes += e->len;
		}
		rc = store_index_put(st, ld->recs[e->rec].id, f->idx, e->forget, e->off,
		                     (uint32_t)e->len);
		if (rc < 0)
			return rc;
	}
	return DCV_OK;
}

/* Marks the entries that are the newest of their id. */
static void mark_live(struct load *ld)
{
	const struct store_entry *se = NULL;

	for (size_t i = 0; i < ld->n_entries; i++) {
		struct lentry *e = &ld->entries[i];

		if (!e->parsed || e->rc != DCV_OK)
			continue;
		se = store_index_get(ld->st, ld->recs[e->rec].id);
		e->live = se != NULL && se->file == ld->files[e->file].idx && se->off == e->off;
	}
}

static int record_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dcv_job_record *)a)->id,
	              ((const struct dcv_job_record *)b)->id);
}

/* Moves the live records to the front of recs (sorted by id); frees the others. */
static int gather(struct load *ld, size_t *n)
{
	bool *keep = calloc(ld->n_recs ? ld->n_recs : 1, sizeof(*keep));
	size_t count = 0;

	if (keep == NULL)
		return DCV_ENOMEM;
	for (size_t i = 0; i < ld->n_entries; i++) {
		const struct lentry *e = &ld->entries[i];

		if (e->rec >= 0)
			keep[e->rec] = e->live && !e->forget;
	}
	for (size_t k = 0; k < ld->n_recs; k++) {
		if (!keep[k]) {
			dcv_job_record_free(&ld->recs[k]);
			continue;
		}
		if (k != count) {
			ld->recs[count] = ld->recs[k];
			memset(&ld->recs[k], 0, sizeof(ld->recs[0]));
		}
		count++;
	}
	free(keep);
	if (count > 1)
		qsort(ld->recs, count, sizeof(*ld->recs), record_cmp);
	*n = count;
	return DCV_OK;
}

static int load_state(struct dcv_store *st, bool readonly, struct dcv_job_record **recs, size_t *n,
                      struct dcv_strv *errors, bool *vanished)
{
	struct load ld = {.st = st, .readonly = readonly, .errors = errors};
	struct dcv_why why;
	uint64_t fsyncs = 0;
	int rc = DCV_OK;

	*recs = NULL;
	*n = 0;
	store_index_clear(st);
	/* Until this load succeeds, the files of state/ are not (all) in the index. */
	st->unknown_files = true;
	if (!readonly) {
		load_clean_status_tmp(st, "done");
		load_clean_status_tmp(st, "failed");
	}
	rc = load_list(&ld);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < ld.n_files && rc == DCV_OK; i++) {
		struct lfile *f = &ld.files[i];

		if (!f->is_log) {
			rc = load_add_entry(&ld, (uint32_t)i, 0, 0);
			continue;
		}
		rc = load_read_log(&ld, f, &why);
		if (rc == LOAD_GONE) {
			ld.vanished = true;
			f->unreadable = true;
			rc = DCV_OK;
		} else if (rc == DCV_ESTATE)
			rc = load_damaged_file(&ld, f, &why);
		else if (rc == DCV_OK)
			rc = load_split_log(&ld, (uint32_t)i);
	}
	if (rc < 0)
		goto out;
	rc = load_chain_hints(&ld);
	if (rc == DCV_OK)
		rc = pick_candidates(&ld);
	if (rc < 0)
		goto out;
	parse_candidates(&ld);
	rc = retry_failures(&ld);
	if (rc == DCV_OK)
		rc = apply(&ld);
	if (rc == DCV_OK)
		mark_live(&ld);
	if (rc == DCV_OK && !readonly)
		rc = load_repair(&ld);
	if (rc == DCV_OK)
		rc = load_report(&ld);
	if (rc < 0)
		goto out;
	/* Everything read is what the files say: nothing unknown remains. */
	st->unknown_files = false;
	st->index_broken = false;
	store_files_settle(st);
	if (!readonly) {
		/*
		 * Dead files are deleted by the first batch; what replaced their
		 * entries must be durable first (a crash may have left a log
		 * renamed but its folder not flushed).
		 */
		if (st->doomed_any)
			st->dirs[STORE_DIR_STATE]->dirty = true;
		/* Deleted leftovers and moved files should stay that way. */
		if (store_dirs_flush(st, &fsyncs, &why) < 0 &&
		    dcv_strv_push(errors, why.text) < 0) {
			rc = DCV_ENOMEM;
			goto out;
		}
	}
	rc = gather(&ld, n);
	if (rc < 0)
		goto out;
	st->stats.entry_files = st->n_present;
	st->stats.entry_bytes = st->total_bytes;
	st->stats.live_bytes = st->live_bytes;
	*recs = ld.recs;
	ld.recs = NULL;
	ld.n_recs = 0;
	*vanished = ld.vanished;
out:
	if (rc < 0)
		store_index_clear(st);
	load_free(&ld);
	return rc;
}

int dcv_store_load(struct dcv_store *st, struct dcv_job_record **recs, size_t *n,
                   struct dcv_strv *errors)
{
	bool vanished = false;

	return load_state(st, false, recs, n, errors, &vanished);
}

int dcv_store_read(const char *spool, struct dcv_job_record **recs, size_t *n,
                   struct dcv_strv *errors)
{
	struct dcv_store *st = NULL;
	struct dcv_why why;
	bool vanished = false;
	int rc = store_open_read(spool, &st, &why);

	*recs = NULL;
	*n = 0;
	if (rc == DCV_EIO && dcv_strv_push(errors, why.text) < 0)
		rc = DCV_ENOMEM;
	/*
	 * A running dcvd deletes logs whose entries went into newer ones: a
	 * file that vanished between listing and reading means reading again.
	 */
	for (int attempt = 0; rc == DCV_OK && attempt < 5; attempt++) {
		size_t n_errors = errors->n;

		rc = load_state(st, true, recs, n, errors, &vanished);
		if (rc < 0 || !vanished)
			break;
		dcv_job_records_free(*recs, *n);
		*recs = NULL;
		*n = 0;
		while (errors->n > n_errors)
			free(errors->v[--errors->n]);
	}
	store_free(st);
	return rc;
}
