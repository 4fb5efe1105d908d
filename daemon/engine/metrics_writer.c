/*
 * metrics_writer.c -- metrics_file written atomically from the thread pool
 * (metrics.h): the text is formatted on the loop thread, and one write at
 * a time goes to the pool: temporary file, fsync, rename. Changes while a
 * write runs are written right after it, at most once a coalescing period.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcv/err.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

struct metrics_write {
	uv_work_t work;
	struct dcv_metrics_writer *w;
	char *path;
	char *text;
	size_t len;
	int err;            /* errno of the step that failed, 0: written */
	const char *failed; /* that step */
};

struct dcv_metrics_writer {
	uv_loop_t *loop;
	const struct dcv_metrics *m;
	char *path;
	uv_timer_t period; /* the regular write */
	uv_timer_t soon;   /* the write after a change */
	bool writing;      /* a write is in the pool */
	bool dirty;        /* a change came while it was there */
	bool failing;      /* the last write failed (logged once) */
	uint64_t last_ms;  /* loop time the last write started */
	bool closing;
	struct metrics_write *last; /* the file of the close, while an earlier write runs */
	size_t handles_open;
	void (*closed)(void *arg);
	void *closed_arg;
};

/* The temporary file: ".NAME.tmp" beside NAME, never ending in .prom. */
static int metrics_tmp_path(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	int dir_len = slash != NULL ? (int)(slash - path) + 1 : 0;
	int n = snprintf(buf, size, "%.*s.%s.tmp", dir_len, path, path + dir_len);

	return n < 0 || (size_t)n >= size ? DCV_EINVAL : DCV_OK;
}

/* In the pool: the whole file, flushed, then renamed over the old one. */
static void metrics_write_work(uv_work_t *req)
{
	struct metrics_write *wr = req->data;
	char tmp[4200];
	int fd = -1;

	if (metrics_tmp_path(wr->path, tmp, sizeof(tmp)) < 0) {
		wr->err = ENAMETOOLONG;
		wr->failed = "name";
		return;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		wr->err = errno;
		wr->failed = "create";
		return;
	}
	/* The mode is for node_exporter's user, whatever the daemon's umask. */
	if (fchmod(fd, 0644) < 0) {
		wr->err = errno;
		wr->failed = "chmod";
		goto out;
	}
	if (!dcv_write_all(fd, wr->text, wr->len)) {
		wr->err = errno;
		wr->failed = "write";
		goto out;
	}
	if (fsync(fd) < 0) {
		wr->err = errno;
		wr->failed = "fsync";
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		wr->err = errno;
		wr->failed = "close";
		goto out;
	}
	fd = -1;
	if (rename(tmp, wr->path) < 0) {
		wr->err = errno;
		wr->failed = "rename";
	}
out:
	if (fd >= 0)
		close(fd);
	if (wr->err != 0)
		unlink(tmp);
}

static void metrics_maybe_closed(struct dcv_metrics_writer *w);
static void metrics_on_soon(uv_timer_t *t);
static void metrics_write_done(uv_work_t *req, int status);

/* The next file, formatted now from the registry; NULL without memory (said once). */
static struct metrics_write *metrics_prepare(struct dcv_metrics_writer *w)
{
	struct metrics_write *wr = calloc(1, sizeof(*wr));

	if (wr == NULL || (wr->path = strdup(w->path)) == NULL ||
	    dcv_metrics_format(w->m, &wr->text, &wr->len) < 0) {
		if (!w->failing)
			log_err("metrics_file %s: out of memory for the metrics", w->path);
		w->failing = true;
		if (wr != NULL) {
			free(wr->path);
			free(wr);
		}
		return NULL;
	}
	wr->w = w;
	wr->work.data = wr;
	return wr;
}

/* Hands a prepared file to the thread pool (nothing else is written meanwhile). */
static void metrics_queue(struct dcv_metrics_writer *w, struct metrics_write *wr)
{
	w->writing = true;
	w->last_ms = uv_now(w->loop);
	/* uv_queue_work fails only without a work callback: that would be our bug. */
	if (uv_queue_work(w->loop, &wr->work, metrics_write_work, metrics_write_done) < 0)
		abort();
}

static void metrics_write_done(uv_work_t *req, int status)
{
	struct metrics_write *wr = req->data;
	struct dcv_metrics_writer *w = wr->w;

	if (status < 0 && wr->err == 0) {
		wr->err = ECANCELED;
		wr->failed = "queue";
	}
	if (wr->err != 0 && !w->failing)
		log_err("metrics_file %s: cannot %s it: %s; trying again at each write", wr->path,
		        wr->failed, strerror(wr->err));
	else if (wr->err == 0 && w->failing)
		log_notice("metrics_file %s: written again", wr->path);
	w->failing = wr->err != 0;
	w->writing = false;
	free(wr->path);
	free(wr->text);
	free(wr);
	if (w->last != NULL) {
		metrics_queue(w, w->last);
		w->last = NULL;
	} else if (w->dirty && !w->closing) {
		/* Changes during the write: the next one, a coalescing period after the last. */
		uint64_t next = w->last_ms + DCV_METRICS_COALESCE_MS, now = uv_now(w->loop);
		uv_timer_start(&w->soon, metrics_on_soon, next > now ? next - now : 0, 0);
	}
	w->dirty = false;
	metrics_maybe_closed(w);
}

static void metrics_start_write(struct dcv_metrics_writer *w)
{
	struct metrics_write *wr = NULL;

	if (w->writing) {
		w->dirty = true;
		return;
	}
	uv_timer_stop(&w->soon);
	if ((wr = metrics_prepare(w)) != NULL)
		metrics_queue(w, wr);
}

static void metrics_on_period(uv_timer_t *t)
{
	metrics_start_write(t->data);
}

static void metrics_on_soon(uv_timer_t *t)
{
	metrics_start_write(t->data);
}

struct dcv_metrics_writer *dcv_metrics_writer_new(uv_loop_t *loop, const char *path,
                                                  const struct dcv_metrics *m)
{
	struct dcv_metrics_writer *w = calloc(1, sizeof(*w));

	if (w == NULL || (w->path = strdup(path)) == NULL) {
		free(w);
		return NULL;
	}
	w->loop = loop;
	w->m = m;
	uv_timer_init(loop, &w->period);
	uv_timer_init(loop, &w->soon);
	w->period.data = w->soon.data = w;
	w->handles_open = 2;
	/* The first file at once, then regularly. */
	uv_timer_start(&w->period, metrics_on_period, 0, DCV_METRICS_PERIOD_MS);
	return w;
}

void dcv_metrics_writer_touch(struct dcv_metrics_writer *w)
{
	uint64_t next = 0, now = 0;

	if (w == NULL || w->closing)
		return;
	if (w->writing) {
		w->dirty = true;
		return;
	}
	if (uv_is_active((uv_handle_t *)&w->soon))
		return;
	now = uv_now(w->loop);
	next = w->last_ms + DCV_METRICS_COALESCE_MS;
	/* Not at once: what else changes in this loop turn goes into the same file. */
	uv_timer_start(&w->soon, metrics_on_soon, w->last_ms != 0 && next > now ? next - now : 0,
	               0);
}

int dcv_metrics_writer_path(struct dcv_metrics_writer *w, const char *path)
{
	char *copy = NULL;

	if (strcmp(w->path, path) == 0)
		return DCV_OK;
	if ((copy = strdup(path)) == NULL)
		return DCV_ENOMEM;
	free(w->path);
	w->path = copy;
	dcv_metrics_writer_touch(w);
	return DCV_OK;
}

static void metrics_on_closed(uv_handle_t *h)
{
	struct dcv_metrics_writer *w = h->data;

	w->handles_open--;
	metrics_maybe_closed(w);
}

static void metrics_maybe_closed(struct dcv_metrics_writer *w)
{
	if (!w->closing || w->writing || w->last != NULL || w->handles_open > 0)
		return;
	if (w->closed != NULL)
		w->closed(w->closed_arg);
	free(w->path);
	free(w);
}

void dcv_metrics_writer_close(struct dcv_metrics_writer *w, void (*closed)(void *arg), void *arg)
{
	struct metrics_write *wr = NULL;

	if (w->closing)
		return;
	w->closed = closed;
	w->closed_arg = arg;
	/*
	 * The last file, formatted now, as things are at the close: the
	 * registry is not read again (the engine may be gone when it is written).
	 */
	if ((wr = metrics_prepare(w)) != NULL) {
		if (w->writing)
			w->last = wr;
		else
			metrics_queue(w, wr);
	}
	w->closing = true;
	uv_timer_stop(&w->soon);
	uv_close((uv_handle_t *)&w->period, metrics_on_closed);
	uv_close((uv_handle_t *)&w->soon, metrics_on_closed);
}
