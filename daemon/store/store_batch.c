/*
 * store_batch.c -- batches of record writes, forgets, status files and
 * moves, committed on libuv's thread pool one at a time (store.h).
 *
 * The cost of durability is the flush, not the write: a batch's records
 * and forgets are one LMDB transaction (store_db.c), one commit however
 * many records it holds. Only the records are flushed. Status files are
 * derived data: they are put in place without any flush (a syncfs() per
 * batch flushed the whole file system and stalled BIND's journal fsync on
 * the same disk), and dcvd rebuilds a lost or stale one from its record at
 * start (dcv_store_batch_status_refresh()). Moves of CSR files get no data
 * flush either: a rename needs only the fsync of its two folders, done
 * once per batch with the other folders.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobrec_int.h"
#include "retention.h"
#include "store_int.h"

/*
 * Records and status files are emitted when they are added, and a batch
 * keeps only the text: a record copy is about 2.6 KiB, its text a quarter
 * of that, and a burst keeps thousands of each queued while the batch
 * before them commits (the peak memory of a 10,000-CSR burst).
 */
struct rec_op {
	char *id;
	unsigned char *text; /* dcv_job_record_emit() */
	size_t len;
	char *holds; /* store_holds_text(); NULL: holds nothing */
	size_t seq;  /* call order within the batch: the last call for an id wins */
	bool skip;
};

struct forget_op {
	char id[DCV_JOB_ID_MAX + 1];
	size_t seq;
	bool skip;
};

struct status_op {
	char dir[NAME_MAX + 1];
	char *name;          /* NAME of NAME.status */
	unsigned char *text; /* dcv_job_status_emit() */
	size_t len;
	size_t seq;
	bool skip;
	bool refresh;                     /* written only when missing or different */
	bool arrival;                     /* the job's files arrive in dir in this batch */
	char *id;                         /* the job's id: whose NAME.status it is */
	char final[STORE_FILE_NAME_SIZE]; /* NAME or id, chosen on the pool thread */
};

struct move_op {
	char *from;
	char *to;
	char *alt_to; /* tried when to is taken; NULL: none */
	struct dcv_store_fault fault;
	bool faulted;
};

struct dcv_store_batch {
	struct dcv_store *st;
	uv_work_t work;
	struct dcv_store_batch *next; /* in the store's queue */
	dcv_store_cb cb;
	dcv_store_fault_cb fault_cb;
	void *arg;
	size_t seq;
	struct rec_op *recs;
	size_t n_recs, cap_recs;
	struct forget_op *forgets;
	size_t n_forgets, cap_forgets;
	struct status_op *statuses;
	size_t n_statuses, cap_statuses;
	struct move_op *moves;
	size_t n_moves, cap_moves;
	struct dcv_store_sweep *sweep; /* a sweep batch (retention.h): the caller's */
	/* results, written by the pool thread, read on the loop after it */
	int rc;
	struct dcv_why why;
	uint64_t commits, files_written, fsync_calls, map_grown, map_size;
};

/* Makes room for one more element of size bytes in *arr. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t new_cap = *cap ? *cap * 2 : 16;
	void *grown = NULL;

	if (n < *cap)
		return DCV_OK;
	grown = realloc(*arr, new_cap * size);
	if (grown == NULL)
		return DCV_ENOMEM;
	*arr = grown;
	*cap = new_cap;
	return DCV_OK;
}

/* rec's text by emit, and a copy of key (its id or NAME); nothing is left set on failure. */
static int text_of(int (*emit)(const struct dcv_job_record *, unsigned char **, size_t *),
                   const struct dcv_job_record *rec, const char *key, char **key_copy,
                   unsigned char **text, size_t *len)
{
	int rc = emit(rec, text, len);

	if (rc < 0)
		return rc;
	*key_copy = strdup(key);
	if (*key_copy == NULL) {
		free(*text);
		*text = NULL;
		return DCV_ENOMEM;
	}
	return DCV_OK;
}

struct dcv_store_batch *dcv_store_batch_new(struct dcv_store *st)
{
	struct dcv_store_batch *b = calloc(1, sizeof(*b));

	if (b != NULL) {
		b->st = st;
		b->work.data = b;
	}
	return b;
}

void dcv_store_batch_free(struct dcv_store_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n_recs; i++) {
		free(b->recs[i].id);
		free(b->recs[i].text);
		free(b->recs[i].holds);
	}
	for (size_t i = 0; i < b->n_statuses; i++) {
		free(b->statuses[i].name);
		free(b->statuses[i].text);
		free(b->statuses[i].id);
	}
	for (size_t i = 0; i < b->n_moves; i++) {
		free(b->moves[i].from);
		free(b->moves[i].to);
		free(b->moves[i].alt_to);
	}
	free(b->recs);
	free(b->forgets);
	free(b->statuses);
	free(b->moves);
	free(b);
}

int dcv_store_batch_record(struct dcv_store_batch *b, const struct dcv_job_record *rec)
{
	struct rec_op *op = NULL;
	int rc = DCV_EINVAL;

	if (dcv_job_record_check(rec, NULL) < 0)
		goto out;
	rc = grow((void **)&b->recs, &b->cap_recs, b->n_recs, sizeof(*b->recs));
	if (rc < 0)
		goto out;
	op = &b->recs[b->n_recs];
	rc = text_of(dcv_job_record_emit, rec, rec->id, &op->id, &op->text, &op->len);
	if (rc < 0)
		goto out;
	/* What it holds, from the record at hand: the pool thread need not parse it back. */
	rc = store_holds_text(rec, &op->holds);
	if (rc < 0) {
		free(op->id);
		free(op->text);
		goto out;
	}
	op->seq = b->seq++;
	op->skip = false;
	b->n_recs++;
out:
	return rc;
}

int dcv_store_batch_forget(struct dcv_store_batch *b, const char *id)
{
	struct forget_op *op = NULL;
	int rc = DCV_EINVAL;

	if (dcv_jobrec_file_part_problem(id, DCV_JOB_ID_MAX) != NULL)
		goto out;
	rc = grow((void **)&b->forgets, &b->cap_forgets, b->n_forgets, sizeof(*b->forgets));
	if (rc < 0)
		goto out;
	op = &b->forgets[b->n_forgets++];
	snprintf(op->id, sizeof(op->id), "%s", id);
	op->seq = b->seq++;
	op->skip = false;
out:
	return rc;
}

/* One path component: not empty, not "." or "..", no '/'. */
static bool component_ok(const char *s, size_t n)
{
	return n > 0 && n <= NAME_MAX && !(n == 1 && s[0] == '.') &&
	       !(n == 2 && s[0] == '.' && s[1] == '.') && memchr(s, '/', n) == NULL;
}

/* A path below the spool: components separated by single slashes, none "." or "..". */
static bool spool_path_ok(const char *path)
{
	const char *p = path, *slash = NULL;

	if (strlen(path) >= PATH_MAX)
		return false;
	for (;;) {
		slash = strchr(p, '/');
		if (!component_ok(p, slash != NULL ? (size_t)(slash - p) : strlen(p)))
			return false;
		if (slash == NULL)
			return true;
		p = slash + 1;
	}
}

static int add_status(struct dcv_store_batch *b, const char *dir, const struct dcv_job_record *rec,
                      bool refresh, bool arrival)
{
	struct status_op *op = NULL;
	int rc = DCV_EINVAL;

	if (!component_ok(dir, strlen(dir)) || dcv_job_record_check(rec, NULL) < 0)
		goto out;
	rc = grow((void **)&b->statuses, &b->cap_statuses, b->n_statuses, sizeof(*b->statuses));
	if (rc < 0)
		goto out;
	op = &b->statuses[b->n_statuses];
	rc = text_of(dcv_job_status_emit, rec, rec->name, &op->name, &op->text, &op->len);
	if (rc < 0)
		goto out;
	if ((op->id = strdup(rec->id)) == NULL) {
		free(op->name);
		free(op->text);
		rc = DCV_ENOMEM;
		goto out;
	}
	op->arrival = arrival;
	snprintf(op->dir, sizeof(op->dir), "%s", dir);
	op->seq = b->seq++;
	op->skip = false;
	op->refresh = refresh;
	b->n_statuses++;
out:
	return rc;
}

int dcv_store_batch_status(struct dcv_store_batch *b, const char *dir,
                           const struct dcv_job_record *rec)
{
	return add_status(b, dir, rec, false, false);
}

int dcv_store_batch_status_arrive(struct dcv_store_batch *b, const char *dir,
                                  const struct dcv_job_record *rec)
{
	return add_status(b, dir, rec, false, true);
}

int dcv_store_batch_status_refresh(struct dcv_store_batch *b, const char *dir,
                                   const struct dcv_job_record *rec)
{
	return add_status(b, dir, rec, true, false);
}

int dcv_store_batch_move(struct dcv_store_batch *b, const char *from, const char *to)
{
	return dcv_store_batch_move_tagged(b, from, to, NULL, NULL);
}

int dcv_store_batch_move_tagged(struct dcv_store_batch *b, const char *from, const char *to,
                                const char *alt_to, void *tag)
{
	struct move_op *op = NULL;
	int rc = DCV_EINVAL;

	if (!spool_path_ok(from) || !spool_path_ok(to) ||
	    (alt_to != NULL && !spool_path_ok(alt_to)))
		goto out;
	rc = grow((void **)&b->moves, &b->cap_moves, b->n_moves, sizeof(*b->moves));
	if (rc < 0)
		goto out;
	op = &b->moves[b->n_moves];
	memset(op, 0, sizeof(*op));
	op->from = strdup(from);
	op->to = strdup(to);
	op->alt_to = alt_to != NULL ? strdup(alt_to) : NULL;
	op->fault.tag = tag;
	if (op->from == NULL || op->to == NULL || (alt_to != NULL && op->alt_to == NULL)) {
		free(op->from);
		free(op->to);
		free(op->alt_to);
		rc = DCV_ENOMEM;
		goto out;
	}
	b->n_moves++;
	rc = DCV_OK;
out:
	return rc;
}

int dcv_store_batch_sweep(struct dcv_store_batch *b, struct dcv_store_sweep *sw)
{
	if (b->n_recs + b->n_forgets + b->n_statuses + b->n_moves > 0 || b->sweep != NULL)
		return DCV_EINVAL;
	b->sweep = sw;
	return DCV_OK;
}

void dcv_store_batch_on_fault(struct dcv_store_batch *b, dcv_store_fault_cb cb)
{
	b->fault_cb = cb;
}

/* ---- on the pool thread ---- */

/* A key for "the last call wins": (a, b) names the file, seq orders the calls. */
struct op_key {
	const char *a;
	const char *b;
	size_t seq;
	bool *skip;
};

static int key_cmp(const void *x, const void *y)
{
	const struct op_key *p = x, *q = y;
	int c = strcmp(p->a, q->a);

	if (c == 0)
		c = strcmp(p->b, q->b);
	if (c == 0)
		c = p->seq < q->seq ? -1 : p->seq > q->seq;
	return c;
}

/* Marks every op but the last one of each file as skipped. */
static int keep_last(struct op_key *keys, size_t n)
{
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t i = 0; i + 1 < n; i++)
		if (strcmp(keys[i].a, keys[i + 1].a) == 0 && strcmp(keys[i].b, keys[i + 1].b) == 0)
			*keys[i].skip = true;
	return DCV_OK;
}

/*
 * Sorting here rather than looking up at each add keeps the loop thread's
 * share of a 10,000-record batch to copying.
 */
static int dedupe(struct dcv_store_batch *b)
{
	struct op_key *keys = NULL;
	size_t n = b->n_recs + b->n_forgets, k = 0;
	int rc = DCV_ENOMEM;

	if (n < b->n_statuses)
		n = b->n_statuses;
	if (n == 0)
		return DCV_OK;
	keys = malloc(n * sizeof(*keys));
	if (keys == NULL)
		goto out;
	for (size_t i = 0; i < b->n_recs; i++)
		keys[k++] = (struct op_key){b->recs[i].id, "", b->recs[i].seq, &b->recs[i].skip};
	for (size_t i = 0; i < b->n_forgets; i++)
		keys[k++] =
		    (struct op_key){b->forgets[i].id, "", b->forgets[i].seq, &b->forgets[i].skip};
	keep_last(keys, k);
	k = 0;
	for (size_t i = 0; i < b->n_statuses; i++)
		keys[k++] = (struct op_key){b->statuses[i].dir, b->statuses[i].name,
		                            b->statuses[i].seq, &b->statuses[i].skip};
	keep_last(keys, k);
	rc = DCV_OK;
out:
	free(keys);
	return rc;
}

static void fail(struct dcv_store_batch *b, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct dcv_store_batch *b, int rc, const char *fmt, ...)
{
	va_list ap;

	if (b->rc != DCV_OK)
		return;
	b->rc = rc;
	va_start(ap, fmt);
	vsnprintf(b->why.text, sizeof(b->why.text), fmt, ap);
	va_end(ap);
}

/*
 * Step 1: the records and forgets (the last call of each id) as one
 * transaction, with the holders they change.
 */
static void write_records(struct dcv_store_batch *b)
{
	struct store_op *ops = NULL;
	size_t n = 0;

	ops = calloc(b->n_recs + b->n_forgets, sizeof(*ops));
	if (ops == NULL) {
		fail(b, DCV_ENOMEM, "%s/state: out of memory for a batch", b->st->spool);
		return;
	}
	for (size_t i = 0; i < b->n_recs; i++)
		if (!b->recs[i].skip)
			ops[n++] = (struct store_op){b->recs[i].id, b->recs[i].text, b->recs[i].len,
			                             b->recs[i].holds};
	for (size_t i = 0; i < b->n_forgets; i++)
		if (!b->forgets[i].skip)
			ops[n++] = (struct store_op){b->forgets[i].id, NULL, 0, NULL};
	b->rc = store_db_commit(b->st, ops, n, &b->map_grown, &b->why);
	b->commits += b->rc == DCV_OK;
	free(ops);
}

/*
 * Step 2: the status files, after the records they describe are durable;
 * not flushed (store_status.c says why).
 */
static void write_statuses(struct dcv_store_batch *b)
{
	struct store_status_job *jobs = NULL;
	size_t n = 0;
	int rc = DCV_OK;

	jobs = calloc(b->n_statuses ? b->n_statuses : 1, sizeof(*jobs));
	if (jobs == NULL) {
		fail(b, DCV_ENOMEM, "%s: out of memory for a batch", b->st->spool);
		return;
	}
	/* Folders are opened here: the status threads only use them. */
	for (size_t i = 0; i < b->n_statuses && rc == DCV_OK; i++) {
		if (b->statuses[i].skip)
			continue;
		rc = store_dir_get(b->st, b->statuses[i].dir, true, &jobs[n].dir, &b->why);
		if (rc < 0)
			break;
		store_status_place(b->st, jobs[n].dir, b->statuses[i].name, b->statuses[i].id,
		                   b->statuses[i].arrival, b->statuses[i].final,
		                   sizeof(b->statuses[i].final));
		jobs[n].refresh = b->statuses[i].refresh;
		jobs[n].name = b->statuses[i].final;
		jobs[n].text = b->statuses[i].text;
		jobs[n++].len = b->statuses[i].len;
	}
	if (rc < 0)
		b->rc = rc;
	else
		b->rc = store_status_write(b->st, jobs, n, &b->files_written, &b->why);
	free(jobs);
}

/* Splits "dir/name" (or "name": the spool itself) and opens dir. */
static int move_end(struct dcv_store_batch *b, const char *path, bool create,
                    struct store_dir **dir, const char **name)
{
	const char *slash = strrchr(path, '/');
	char rel[PATH_MAX];

	*name = slash != NULL ? slash + 1 : path;
	snprintf(rel, sizeof(rel), "%.*s", slash != NULL ? (int)(slash - path) : 0, path);
	return store_dir_get(b->st, rel, create, dir, create ? &b->why : NULL);
}

/* Errors that are the spool's, not one entry's: the batch fails and is retried whole. */
static bool spool_wide(int err)
{
	return err == EROFS || err == ENOSPC || err == EDQUOT || err == EIO || err == ENOMEM;
}

/* dcv_rename_noreplace(), as 0 or the errno. */
static int rename_noreplace(int from_fd, const char *from, int to_fd, const char *to)
{
	return dcv_rename_noreplace(from_fd, from, to_fd, to) == 0 ? 0 : errno;
}

static void move_fault(struct dcv_store_batch *b, struct move_op *op, int err, bool vanished)
{
	char from[300], to[300];

	dcv_escape(from, sizeof(from), op->from, strlen(op->from));
	dcv_escape(to, sizeof(to), op->to, strlen(op->to));
	op->faulted = true;
	op->fault.err = err;
	op->fault.vanished = vanished;
	op->fault.status = vanished ? DCV_OK : DCV_EIO;
	if (vanished)
		dcv_why_set(&op->fault.why,
		            "%s/%s is gone (removed by its submitter?); nothing to move",
		            b->st->spool, from);
	else
		dcv_why_set(&op->fault.why, "move %s/%s -> %s/%s: %s", b->st->spool, from,
		            b->st->spool, to, strerror(err));
}

static void do_move(struct dcv_store_batch *b, struct move_op *op)
{
	struct store_dir *from_dir = NULL, *to_dir = NULL, *alt_dir = NULL;
	const char *from_name = NULL, *to_name = NULL, *alt_name = NULL;
	struct stat sb;
	int rc = DCV_OK, err = ENOENT;

	rc = move_end(b, op->to, true, &to_dir, &to_name);
	if (rc == DCV_OK && op->alt_to != NULL)
		rc = move_end(b, op->alt_to, true, &alt_dir, &alt_name);
	if (rc < 0) {
		b->rc = rc;
		return;
	}
	/* A source folder that is missing is a source that is gone; no memory is no answer. */
	rc = move_end(b, op->from, false, &from_dir, &from_name);
	if (rc == DCV_ENOMEM) {
		fail(b, DCV_ENOMEM, "%s: out of memory for a batch", b->st->spool);
		return;
	}
	if (rc == DCV_OK) {
		err = rename_noreplace(from_dir->fd, from_name, to_dir->fd, to_name);
		if (err == EEXIST && alt_dir != NULL) {
			err = rename_noreplace(from_dir->fd, from_name, alt_dir->fd, alt_name);
			to_dir = alt_dir;
		}
	}
	/*
	 * Gone from the source but at a destination: a previous run made
	 * this move, maybe without its fsync. The folders get one now.
	 */
	if (err == ENOENT &&
	    (fstatat(to_dir->fd, to_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 ||
	     (alt_dir != NULL && fstatat(alt_dir->fd, alt_name, &sb, AT_SYMLINK_NOFOLLOW) == 0)))
		err = 0;
	if (err == 0) {
		to_dir->dirty = true;
		if (alt_dir != NULL)
			alt_dir->dirty = true;
		if (from_dir != NULL)
			from_dir->dirty = true;
	} else if (err == ENOENT) {
		move_fault(b, op, err, true);
	} else if (spool_wide(err)) {
		fail(b, DCV_EIO, "move %s/%s -> %s/%s: %s", b->st->spool, op->from, b->st->spool,
		     op->to, strerror(err));
	} else {
		move_fault(b, op, err, false);
	}
}

static void batch_work(uv_work_t *req)
{
	struct dcv_store_batch *b = req->data;
	struct dcv_store *st = b->st;
	struct dcv_why why;

	if (dedupe(b) < 0)
		fail(b, DCV_ENOMEM, "%s: out of memory for a batch", st->spool);
	if (b->rc == DCV_OK && b->n_recs + b->n_forgets > 0)
		write_records(b);
	if (b->rc == DCV_OK && b->n_statuses > 0)
		write_statuses(b);
	for (size_t i = 0; i < b->n_moves && b->rc == DCV_OK; i++)
		do_move(b, &b->moves[i]);
	/* Its own batch: never beside another one, its transaction begun and committed here. */
	if (b->rc == DCV_OK && b->sweep != NULL)
		b->rc = store_sweep_run(st, b->sweep, &b->why);
	/* Also after a failure: the steps that completed are flushed. */
	if (store_dirs_flush(st, &b->fsync_calls, &why) < 0 && b->rc == DCV_OK) {
		b->rc = DCV_EIO;
		b->why = why;
	}
	b->map_size = st->map_size;
}

static void batch_done(uv_work_t *req, int status);

static void start_next(struct dcv_store *st)
{
	struct dcv_store_batch *b = NULL;

	if (st->running != NULL || st->head == NULL)
		return;
	b = st->head;
	st->head = b->next;
	if (st->head == NULL)
		st->tail = NULL;
	b->next = NULL;
	st->running = b;
	/* uv_queue_work fails only without a work callback: that would be our bug. */
	if (uv_queue_work(st->loop, &b->work, batch_work, batch_done) < 0)
		abort();
}

static void batch_done(uv_work_t *req, int status)
{
	struct dcv_store_batch *b = req->data;
	struct dcv_store *st = b->st;

	if (status < 0 && b->rc == DCV_OK)
		fail(b, DCV_ECANCELED, "%s: batch canceled: %s", st->spool, uv_strerror(status));
	st->running = NULL;
	st->stats.batches++;
	st->stats.commits += b->commits;
	st->stats.files_written += b->files_written;
	st->stats.fsync_calls += b->fsync_calls;
	st->stats.map_grown += b->map_grown;
	st->stats.map_size = b->map_size;
	/* The next batch may start writing while this callback runs. */
	start_next(st);
	st->in_callback = true;
	for (size_t i = 0; b->fault_cb != NULL && i < b->n_moves; i++)
		if (b->moves[i].faulted)
			b->fault_cb(b->arg, &b->moves[i].fault);
	if (b->cb != NULL)
		b->cb(b->arg, b->rc, &b->why);
	st->in_callback = false;
	dcv_store_batch_free(b);
	if (st->closing && st->running == NULL && st->head == NULL)
		store_free(st);
}

int dcv_store_batch_commit(struct dcv_store_batch *b, dcv_store_cb cb, void *arg)
{
	struct dcv_store *st = b->st;

	/* What the open loaded is out of date once a batch runs: a later load reads again. */
	if (st->has_loaded) {
		dcv_job_records_free(st->loaded, st->n_loaded);
		dcv_strv_free(&st->load_errors);
		st->loaded = NULL;
		st->n_loaded = 0;
		st->has_loaded = false;
	}
	b->cb = cb;
	b->arg = arg;
	b->rc = DCV_OK;
	dcv_why_clear(&b->why);
	if (st->tail != NULL)
		st->tail->next = b;
	else
		st->head = b;
	st->tail = b;
	start_next(st);
	return DCV_OK;
}
