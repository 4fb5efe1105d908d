/*
 * replay_uv.c -- the rest of libuv that the engine's stack uses, faked on
 * replay.c's clock: the thread pool (uv_queue_work, uv_cancel) and file
 * events (uv_fs_event_*). They keep libuv's promises that callers rely
 * on: after_work_cb runs once, on the loop, never from inside
 * uv_queue_work(); a request canceled before it ran gets after_work_cb
 * with UV_ECANCELED, one that ran already cannot be canceled (UV_EBUSY);
 * a file event's callback never runs after uv_fs_event_stop() or
 * uv_close(). The work itself runs on the loop thread when its turn comes
 * (at the time it was queued, or replay_work_delay() later: a slow disk):
 * the pool's threads only ever run work that the loop handed over, and
 * nothing here waits for them.
 */
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "replay_int.h"

struct rp_watch {
	uv_fs_event_t *h;
	uv_fs_event_cb cb;
	char path[4096];
	bool active;
};

struct rp_fired {
	uv_fs_event_t *h;
	char name[256];
};

static struct {
	struct rp_watch *v;
	size_t n, cap;
	uint64_t work_ms; /* how long the pool takes over each work request */
} rpu;

/* --- the thread pool ------------------------------------------------------ */

static void rpu_work_run(void *arg)
{
	uv_work_t *req = arg;

	req->work_cb(req);
	if (req->after_work_cb != NULL)
		req->after_work_cb(req, 0);
}

static void rpu_work_canceled(void *arg)
{
	uv_work_t *req = arg;

	if (req->after_work_cb != NULL)
		req->after_work_cb(req, UV_ECANCELED);
}

int uv_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work_cb,
                  uv_after_work_cb after_work_cb)
{
	if (work_cb == NULL)
		return UV_EINVAL;
	req->type = UV_WORK;
	req->loop = loop;
	req->work_cb = work_cb;
	req->after_work_cb = after_work_cb;
	replay_defer(rpu.work_ms, rpu_work_run, req);
	return 0;
}

void replay_work_delay(uint64_t ms)
{
	rpu.work_ms = ms;
}

int uv_cancel(uv_req_t *req)
{
	if (req->type != UV_WORK)
		return UV_EINVAL;
	if (!replay_undefer(rpu_work_run, req))
		return UV_EBUSY; /* it ran: its after_work_cb has run or is running */
	replay_defer(0, rpu_work_canceled, req);
	return 0;
}

/* --- file events ------------------------------------------------------------ */

static struct rp_watch *rpu_watch(const uv_handle_t *h)
{
	for (size_t i = 0; i < rpu.n; i++)
		if ((const uv_handle_t *)rpu.v[i].h == h)
			return &rpu.v[i];
	return NULL;
}

int uv_fs_event_init(uv_loop_t *loop, uv_fs_event_t *h)
{
	struct rp_watch *w = rpu_watch((uv_handle_t *)h);

	h->loop = loop;
	h->type = UV_FS_EVENT;
	h->flags = 0;
	if (w == NULL) {
		if (rpu.n == rpu.cap) {
			rpu.cap = rpu.cap ? rpu.cap * 2 : 8;
			rpu.v = realloc(rpu.v, rpu.cap * sizeof(*rpu.v));
			if (rpu.v == NULL)
				abort();
		}
		w = &rpu.v[rpu.n++];
	}
	memset(w, 0, sizeof(*w));
	w->h = h;
	return 0;
}

int uv_fs_event_start(uv_fs_event_t *h, uv_fs_event_cb cb, const char *path, unsigned flags)
{
	struct rp_watch *w = rpu_watch((uv_handle_t *)h);

	(void)flags;
	if (w == NULL || cb == NULL || path == NULL || strlen(path) >= sizeof(w->path))
		return UV_EINVAL;
	if (w->active)
		return 0; /* libuv: starting an active watcher is a no-op */
	w->cb = cb;
	strcpy(w->path, path);
	w->active = true;
	return 0;
}

int uv_fs_event_stop(uv_fs_event_t *h)
{
	struct rp_watch *w = rpu_watch((uv_handle_t *)h);

	if (w != NULL)
		w->active = false;
	return 0;
}

bool replay_uv_forget(uv_handle_t *h)
{
	struct rp_watch *w = rpu_watch(h);

	if (w == NULL)
		return false;
	*w = rpu.v[--rpu.n];
	return true;
}

int replay_uv_active(const uv_handle_t *h)
{
	const struct rp_watch *w = rpu_watch(h);

	return w != NULL && w->active;
}

static void rpu_fire(void *arg)
{
	struct rp_fired *f = arg;
	struct rp_watch *w = rpu_watch((uv_handle_t *)f->h);

	/* Stopped or closed meanwhile: the event is lost, as inotify's would be. */
	if (w != NULL && w->active)
		w->cb(f->h, f->name, UV_RENAME, 0);
	free(f);
}

size_t replay_fs_event(const char *path, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < rpu.n; i++) {
		struct rp_fired *f = NULL;
		if (!rpu.v[i].active || strcmp(rpu.v[i].path, path) != 0)
			continue;
		f = calloc(1, sizeof(*f));
		if (f == NULL)
			abort();
		f->h = rpu.v[i].h;
		strncpy(f->name, name, sizeof(f->name) - 1);
		replay_defer(0, rpu_fire, f);
		n++;
	}
	return n;
}

void replay_uv_free(void)
{
	free(rpu.v);
	/* Also the delay: the next scenario starts with a fast pool. */
	memset(&rpu, 0, sizeof(rpu));
}
