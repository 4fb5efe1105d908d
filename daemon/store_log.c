/*
 * store_log.c -- the store's logs (store_int.h): writing one (a temporary
 * file, fdatasync, rename, fsync of state/: the log appears whole or not at
 * all), deleting files that hold nothing live, and compaction, which copies
 * the live entries of many small or mostly dead files into one new log.
 *
 * Entries are copied as the bytes that were read or written before: they
 * were checked then, and a byte copy cannot change a record.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobrec_int.h"
#include "store_int.h"

#define LOG_CHUNK (256 * 1024)

void store_log_name(uint64_t seq, char *out, size_t size)
{
	snprintf(out, size, "%016" PRIx64 ".log", seq);
}

bool store_log_name_parse(const char *name, uint64_t *seq)
{
	uint64_t v = 0;

	if (strlen(name) != 20 || strcmp(name + 16, ".log") != 0)
		return false;
	for (size_t i = 0; i < 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*seq = v;
	return true;
}

int store_log_begin(struct dcv_store *st, struct store_log *lw, struct dcv_why *why)
{
	struct store_dir *state = st->dirs[STORE_DIR_STATE];
	char path[PATH_MAX];

	memset(lw, 0, sizeof(*lw));
	lw->fd = -1;
	lw->seq = st->next_seq;
	store_log_name(lw->seq, lw->name, sizeof(lw->name));
	snprintf(lw->tmp, sizeof(lw->tmp), ".%s.tmp", lw->name);
	lw->buf = malloc(LOG_CHUNK);
	if (lw->buf == NULL) {
		dcv_why_set(why, "%s/state: out of memory for a log", st->spool);
		lw->tmp[0] = '\0';
		return DCV_ENOMEM;
	}
	lw->cap = LOG_CHUNK;
	lw->fd =
	    openat(state->fd, lw->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	/* The umask may have taken bits away, and a stale file keeps its old mode. */
	if (lw->fd < 0 || fchmod(lw->fd, 0640) < 0) {
		store_path(st, state, lw->tmp, path, sizeof(path));
		dcv_why_set(why, "%s: %s failed: %s", path, lw->fd < 0 ? "open" : "chmod",
		            strerror(errno));
		/* Nothing is left to abort: a temporary that open() made goes too. */
		if (lw->fd < 0)
			lw->tmp[0] = '\0';
		store_log_abort(st, lw);
		return DCV_EIO;
	}
	return DCV_OK;
}

static int write_all(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n = 0;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int flush_buf(struct dcv_store *st, struct store_log *lw, struct dcv_why *why)
{
	char path[PATH_MAX];

	if (lw->len > 0 && write_all(lw->fd, lw->buf, lw->len) < 0) {
		store_path(st, st->dirs[STORE_DIR_STATE], lw->tmp, path, sizeof(path));
		dcv_why_set(why, "%s: write failed: %s", path, strerror(errno));
		return DCV_EIO;
	}
	lw->len = 0;
	return DCV_OK;
}

int store_log_append(struct dcv_store *st, struct store_log *lw, const unsigned char *buf,
                     size_t len, uint64_t *off, struct dcv_why *why)
{
	char path[PATH_MAX];
	int rc = DCV_OK;

	*off = lw->size;
	if (lw->len + len > lw->cap && (rc = flush_buf(st, lw, why)) < 0)
		return rc;
	if (len > lw->cap) {
		if (write_all(lw->fd, buf, len) < 0) {
			store_path(st, st->dirs[STORE_DIR_STATE], lw->tmp, path, sizeof(path));
			dcv_why_set(why, "%s: write failed: %s", path, strerror(errno));
			return DCV_EIO;
		}
	} else {
		memcpy(lw->buf + lw->len, buf, len);
		lw->len += len;
	}
	lw->size += len;
	return DCV_OK;
}

int store_log_finish(struct dcv_store *st, struct store_log *lw, uint32_t *idx,
                     uint64_t *fdatasyncs, uint64_t *fsyncs, struct dcv_why *why)
{
	struct store_dir *state = st->dirs[STORE_DIR_STATE];
	const char *what = "fdatasync";
	char path[PATH_MAX];
	int rc = flush_buf(st, lw, why);

	*idx = UINT32_MAX;
	if (rc < 0)
		goto out;
	rc = DCV_EIO;
	(*fdatasyncs)++;
	/* The data must be on disk before the name says the log is there. */
	if (fdatasync(lw->fd) < 0)
		goto fail;
	what = "close";
	if (close(lw->fd) < 0) {
		lw->fd = -1;
		goto fail;
	}
	lw->fd = -1;
	if (renameat(state->fd, lw->tmp, state->fd, lw->name) < 0) {
		store_path(st, state, lw->name, path, sizeof(path));
		dcv_why_set(why, "%s: rename into place failed: %s", path, strerror(errno));
		goto out;
	}
	state->dirty = true;
	st->next_seq = lw->seq + 1;
	free(lw->buf);
	lw->buf = NULL;
	lw->tmp[0] = '\0';
	rc = store_file_add(st, lw->seq, lw->name, lw->size, idx);
	if (rc < 0) {
		/* In place but not in the table: never delete a file on that table's word. */
		st->unknown_files = true;
		st->index_broken = true;
		dcv_why_set(why, "%s/state: out of memory", st->spool);
		goto out;
	}
	rc = store_dirs_flush(st, fsyncs, why);
	goto out;
fail:
	store_path(st, state, lw->tmp, path, sizeof(path));
	dcv_why_set(why, "%s: %s failed: %s", path, what, strerror(errno));
out:
	if (rc < 0 && lw->tmp[0] != '\0')
		store_log_abort(st, lw);
	return rc;
}

void store_log_abort(struct dcv_store *st, struct store_log *lw)
{
	if (lw->fd >= 0)
		close(lw->fd);
	lw->fd = -1;
	if (lw->tmp[0] != '\0')
		unlinkat(st->dirs[STORE_DIR_STATE]->fd, lw->tmp, 0);
	lw->tmp[0] = '\0';
	free(lw->buf);
	lw->buf = NULL;
}

size_t store_delete_doomed(struct dcv_store *st)
{
	struct store_dir *state = st->dirs[STORE_DIR_STATE];
	size_t deleted = 0;

	/* A folder with an unflushed change may still lack the entries that replaced these. */
	if (!st->doomed_any || state->dirty || st->index_broken)
		return 0;
	st->doomed_any = false;
	for (size_t i = 0; i < st->n_files; i++) {
		struct store_file *f = &st->files[i];

		if (!f->doomed || f->gone)
			continue;
		if (unlinkat(state->fd, f->name, 0) < 0 && errno != ENOENT) {
			/* Tried again after the next batch. */
			st->doomed_any = true;
			continue;
		}
		state->dirty = true;
		store_file_gone(st, (uint32_t)i);
		deleted++;
	}
	return deleted;
}

/* ---- compaction ---- */

struct pick {
	struct dcv_store *st;
	struct store_entry **v;
	size_t n, cap;
	bool oom;
};

static void pick_entry(void *arg, struct store_entry *e)
{
	struct pick *p = arg;
	struct store_entry **grown = NULL;

	if (p->oom || !store_file_compactable(p->st, e->file))
		return;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 1024;
		grown = realloc(p->v, p->cap * sizeof(*grown));
		if (grown == NULL) {
			p->oom = true;
			return;
		}
		p->v = grown;
	}
	p->v[p->n++] = e;
}

static int by_place(const void *a, const void *b)
{
	const struct store_entry *x = *(struct store_entry *const *)a;
	const struct store_entry *y = *(struct store_entry *const *)b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Copies the picked entries into lw; offs[i] gets where entry i went. */
static int copy_entries(struct dcv_store *st, struct store_log *lw, struct pick *p, uint64_t *offs,
                        struct dcv_why *why)
{
	static const char end[] = DCV_JOBREC_END;
	struct store_dir *state = st->dirs[STORE_DIR_STATE];
	unsigned char *buf = NULL;
	char path[PATH_MAX];
	size_t cap = 0;
	uint32_t open_file = UINT32_MAX;
	ssize_t got = 0;
	int fd = -1, rc = DCV_OK;

	for (size_t i = 0; i < p->n && rc == DCV_OK; i++) {
		struct store_entry *e = p->v[i];

		if (e->file != open_file) {
			if (fd >= 0)
				close(fd);
			open_file = e->file;
			fd = openat(state->fd, st->files[e->file].name,
			            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
			if (fd < 0)
				goto fail;
		}
		if (e->len > cap) {
			unsigned char *grown = realloc(buf, e->len);

			if (grown == NULL) {
				dcv_why_set(why, "%s/state: out of memory compacting", st->spool);
				rc = DCV_ENOMEM;
				break;
			}
			buf = grown;
			cap = e->len;
		}
		got = pread(fd, buf, e->len, (off_t)e->off);
		if (got < 0)
			goto fail;
		/* Entries were whole when read or written: anything else was changed under us. */
		if ((size_t)got != e->len || e->len < sizeof(end) - 1 ||
		    memcmp(buf + e->len - (sizeof(end) - 1), end, sizeof(end) - 1) != 0) {
			store_path(st, state, st->files[e->file].name, path, sizeof(path));
			dcv_why_set(why,
			            "%s: changed on disk: the entry at byte %" PRIu64 " is gone",
			            path, e->off);
			rc = DCV_EIO;
			break;
		}
		rc = store_log_append(st, lw, buf, e->len, &offs[i], why);
	}
	goto out;
fail:
	store_path(st, state, st->files[open_file].name, path, sizeof(path));
	dcv_why_set(why, "%s: cannot read it to compact: %s", path, strerror(errno));
	rc = DCV_EIO;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int store_compact(struct dcv_store *st, uint64_t *fdatasyncs, uint64_t *fsyncs, uint64_t *deleted,
                  struct dcv_why *why)
{
	struct pick p = {st, NULL, 0, 0, false};
	struct store_log lw = {.fd = -1};
	uint64_t *offs = NULL;
	uint32_t idx = UINT32_MAX;
	int rc = DCV_ENOMEM;

	if (st->index_broken)
		return DCV_OK;
	store_index_each(st, pick_entry, &p);
	if (p.oom || (p.n > 0 && (offs = malloc(p.n * sizeof(*offs))) == NULL)) {
		dcv_why_set(why, "%s/state: out of memory compacting", st->spool);
		goto out;
	}
	if (p.n > 0) {
		qsort(p.v, p.n, sizeof(*p.v), by_place);
		rc = store_log_begin(st, &lw, why);
		if (rc == DCV_OK)
			rc = copy_entries(st, &lw, &p, offs, why);
		if (rc == DCV_OK)
			rc = store_log_finish(st, &lw, &idx, fdatasyncs, fsyncs, why);
		else
			store_log_abort(st, &lw);
		if (idx == UINT32_MAX)
			goto out;
		/*
		 * Every copy is now the newest entry of its id: the sources hold
		 * nothing live. (After a failed fsync too: the log is in place;
		 * state/ stays dirty, and nothing is deleted before it is flushed.)
		 */
		for (size_t i = 0; i < p.n; i++)
			if (store_index_put(st, p.v[i]->id, idx, p.v[i]->forget, offs[i],
			                    p.v[i]->len) < 0)
				break;
		if (rc < 0)
			goto out;
	}
	*deleted += store_delete_doomed(st);
	rc = store_dirs_flush(st, fsyncs, why);
	if (rc == DCV_OK)
		store_files_settle(st);
	store_files_pack(st);
out:
	free(offs);
	free(p.v);
	return rc;
}
