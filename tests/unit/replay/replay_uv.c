/*
 * replay_uv.c -- the rest of libuv that the engine's stack uses, faked on
 * replay.c's clock: the thread pool (uv_queue_work, uv_cancel), file
 * events (uv_fs_event_*) and processes with their output pipes (uv_spawn,
 * uv_pipe_init, uv_read_start/stop, uv_kill, uv_process_kill: a hook that
 * does what replay_hook() said, no program run, no real pid signalled). They keep libuv's promises
 * that callers rely on: after_work_cb runs once, on the loop, never from inside uv_queue_work(); a
 * request canceled before it ran gets after_work_cb with UV_ECANCELED, one that ran already cannot
 * be canceled (UV_EBUSY); a file event's callback never runs after uv_fs_event_stop() or
 * uv_close(). The work itself runs on the loop thread when its turn comes
 * (at the time it was queued, or replay_work_delay() later: a slow disk):
 * the pool's threads only ever run work that the loop handed over, and
 * nothing here waits for them.
 */
#include <signal.h>
#include <stdio.h>
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

/* A hook program's part: what the scenario said it does (replay_hook). */
struct rp_script {
	char event[64];
	struct replay_hook does;
	char say[256];
};

/* A spawned process: its handle, its exit callback and the pipes of its output. */
struct rp_proc {
	uv_process_t *h;
	uv_exit_cb exit_cb;
	uv_pipe_t *out[2];
	struct rp_script script;
	int sig; /* the signal that ends it */
	bool exited;
};

struct rp_pipe {
	uv_pipe_t *h;
	uv_alloc_cb alloc_cb;
	uv_read_cb read_cb;
	bool reading;
};

static struct {
	struct rp_watch *v;
	size_t n, cap;
	uint64_t work_ms; /* how long the pool takes over each work request */
	struct rp_script *scripts;
	size_t n_scripts;
	struct rp_proc **procs; /* pointers: deferred events hold them */
	size_t n_procs;
	struct rp_pipe **pipes;
	size_t n_pipes;
	int next_pid;
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

static bool rpu_forget_proc_or_pipe(uv_handle_t *h);
static int rpu_proc_or_pipe_active(const uv_handle_t *h);

bool replay_uv_forget(uv_handle_t *h)
{
	struct rp_watch *w = rpu_watch(h);

	if (w == NULL)
		return rpu_forget_proc_or_pipe(h);
	*w = rpu.v[--rpu.n];
	return true;
}

int replay_uv_active(const uv_handle_t *h)
{
	const struct rp_watch *w = rpu_watch(h);

	if (w == NULL)
		return rpu_proc_or_pipe_active(h);
	return w->active;
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

/* --- processes (a hook) and their output pipes --------------------------------- */

static void *rpu_grow(void *v, size_t n, size_t size)
{
	/* Arrays of pointers, grown one at a time: a scenario spawns a few. */
	void *grown = realloc(v, (n + 1) * size);

	if (grown == NULL)
		abort();
	return grown;
}

static struct rp_pipe *rpu_pipe(const uv_handle_t *h)
{
	for (size_t i = 0; i < rpu.n_pipes; i++)
		if ((const uv_handle_t *)rpu.pipes[i]->h == h)
			return rpu.pipes[i];
	return NULL;
}

static struct rp_proc *rpu_proc(const uv_handle_t *h)
{
	for (size_t i = 0; i < rpu.n_procs; i++)
		if ((const uv_handle_t *)rpu.procs[i]->h == h)
			return rpu.procs[i];
	return NULL;
}

void replay_hook(const char *event, const struct replay_hook *does)
{
	struct rp_script *sc = NULL;

	rpu.scripts = rpu_grow(rpu.scripts, rpu.n_scripts, sizeof(*rpu.scripts));
	sc = &rpu.scripts[rpu.n_scripts++];
	memset(sc, 0, sizeof(*sc));
	snprintf(sc->event, sizeof(sc->event), "%s", event);
	sc->does = *does;
	snprintf(sc->say, sizeof(sc->say), "%s", does->say != NULL ? does->say : "");
	sc->does.say = NULL;
}

int uv_pipe_init(uv_loop_t *loop, uv_pipe_t *h, int ipc)
{
	struct rp_pipe *p = calloc(1, sizeof(*p));

	if (p == NULL || ipc)
		abort();
	h->loop = loop;
	h->type = UV_NAMED_PIPE;
	h->flags = 0;
	p->h = h;
	rpu.pipes = rpu_grow(rpu.pipes, rpu.n_pipes, sizeof(*rpu.pipes));
	rpu.pipes[rpu.n_pipes++] = p;
	return 0;
}

int uv_read_start(uv_stream_t *stream, uv_alloc_cb alloc_cb, uv_read_cb read_cb)
{
	struct rp_pipe *p = rpu_pipe((uv_handle_t *)stream);

	if (p == NULL || alloc_cb == NULL || read_cb == NULL)
		return UV_EINVAL;
	p->alloc_cb = alloc_cb;
	p->read_cb = read_cb;
	p->reading = true;
	return 0;
}

int uv_read_stop(uv_stream_t *stream)
{
	struct rp_pipe *p = rpu_pipe((uv_handle_t *)stream);

	if (p != NULL)
		p->reading = false;
	return 0;
}

/* The pipe's data (text, len > 0) or its end (len 0), if it is still read. */
static void rpu_pipe_deliver(uv_pipe_t *h, const char *text, size_t len)
{
	struct rp_pipe *p = rpu_pipe((uv_handle_t *)h);
	uv_buf_t buf = uv_buf_init(NULL, 0);

	if (p == NULL || !p->reading)
		return;
	if (len == 0) {
		p->read_cb((uv_stream_t *)h, UV_EOF, &buf);
		return;
	}
	p->alloc_cb((uv_handle_t *)h, len, &buf);
	if (buf.len < len)
		len = buf.len;
	memcpy(buf.base, text, len);
	p->read_cb((uv_stream_t *)h, (ssize_t)len, &buf);
}

static void rpu_proc_say(void *arg)
{
	struct rp_proc *pr = arg;
	char line[260];
	int n = snprintf(line, sizeof(line), "%s\n", pr->script.say);

	rpu_pipe_deliver(pr->out[0], line, (size_t)n);
}

/* The end: both pipes reach their end, then the exit (the handle may be closed in it). */
static void rpu_proc_end(struct rp_proc *pr, int64_t status, int sig)
{
	uv_process_t *h = pr->h;
	uv_exit_cb exit_cb = pr->exit_cb;

	pr->exited = true;
	for (int i = 0; i < 2; i++)
		rpu_pipe_deliver(pr->out[i], "", 0);
	if (exit_cb != NULL)
		exit_cb(h, status, sig);
}

static void rpu_proc_exit(void *arg)
{
	struct rp_proc *pr = arg;

	rpu_proc_end(pr, pr->script.does.exit_status, 0);
}

static void rpu_proc_killed(void *arg)
{
	struct rp_proc *pr = arg;

	rpu_proc_end(pr, 0, pr->sig);
}

int uv_spawn(uv_loop_t *loop, uv_process_t *h, const uv_process_options_t *opts)
{
	struct rp_proc *pr = calloc(1, sizeof(*pr));
	const char *event = "";

	if (pr == NULL)
		abort();
	h->loop = loop;
	h->type = UV_PROCESS;
	h->flags = 0;
	h->pid = 0;
	pr->h = h;
	pr->exit_cb = opts->exit_cb;
	rpu.procs = rpu_grow(rpu.procs, rpu.n_procs, sizeof(*rpu.procs));
	rpu.procs[rpu.n_procs++] = pr;
	for (char **e = opts->env; e != NULL && *e != NULL; e++)
		if (strncmp(*e, "DCV_EVENT=", 10) == 0)
			event = *e + 10;
	for (size_t i = 0; i < rpu.n_scripts && pr->script.event[0] == '\0'; i++)
		if (strcmp(rpu.scripts[i].event, event) == 0)
			pr->script = rpu.scripts[i];
	if (pr->script.event[0] == '\0') {
		fprintf(stderr,
		        "replay: a hook was run for event \"%s\", which no hook line scripts\n",
		        event);
		abort();
	}
	for (int i = 0; i < 2 && i + 1 < opts->stdio_count; i++)
		if (opts->stdio[i + 1].flags & UV_CREATE_PIPE)
			pr->out[i] = (uv_pipe_t *)opts->stdio[i + 1].data.stream;
	if (pr->script.does.missing) {
		pr->exited = true;
		return UV_ENOENT;
	}
	/* No pid a real process could have (pid_max is at most 2^22). */
	h->pid = 0x40000000 + rpu.next_pid++;
	if (pr->script.say[0] != '\0')
		replay_defer(0, rpu_proc_say, pr);
	if (!pr->script.does.hang)
		replay_defer(pr->script.does.after_ms, rpu_proc_exit, pr);
	return 0;
}

/* A signal to a live fake process: SIGTERM (unless ignored) and SIGKILL end it now. */
static int rpu_signal(struct rp_proc *pr, int sig)
{
	if (pr == NULL || pr->exited)
		return UV_ESRCH;
	if (sig == 0 || (sig == SIGTERM && pr->script.does.ignore_term))
		return 0;
	replay_undefer(rpu_proc_say, pr);
	replay_undefer(rpu_proc_exit, pr);
	/* A second signal before the first was delivered: the first one ends it. */
	if (!replay_undefer(rpu_proc_killed, pr))
		pr->sig = sig;
	replay_defer(0, rpu_proc_killed, pr);
	return 0;
}

int uv_kill(int pid, int signum)
{
	int want = pid < 0 ? -pid : pid; /* a process group: its leader's */

	for (size_t i = 0; i < rpu.n_procs; i++)
		if (rpu.procs[i]->h->pid == want && want != 0)
			return rpu_signal(rpu.procs[i], signum);
	return UV_ESRCH;
}

int uv_process_kill(uv_process_t *h, int signum)
{
	return rpu_signal(rpu_proc((uv_handle_t *)h), signum);
}

static bool rpu_forget_proc_or_pipe(uv_handle_t *h)
{
	for (size_t i = 0; i < rpu.n_procs; i++) {
		struct rp_proc *pr = rpu.procs[i];
		if ((uv_handle_t *)pr->h != h)
			continue;
		replay_undefer(rpu_proc_say, pr);
		replay_undefer(rpu_proc_exit, pr);
		replay_undefer(rpu_proc_killed, pr);
		rpu.procs[i] = rpu.procs[--rpu.n_procs];
		free(pr);
		return true;
	}
	for (size_t i = 0; i < rpu.n_pipes; i++) {
		struct rp_pipe *p = rpu.pipes[i];
		if ((uv_handle_t *)p->h != h)
			continue;
		/* A process whose pipe closes writes no more into it. */
		for (size_t k = 0; k < rpu.n_procs; k++)
			for (int o = 0; o < 2; o++)
				if (rpu.procs[k]->out[o] == p->h)
					rpu.procs[k]->out[o] = NULL;
		rpu.pipes[i] = rpu.pipes[--rpu.n_pipes];
		free(p);
		return true;
	}
	return false;
}

static int rpu_proc_or_pipe_active(const uv_handle_t *h)
{
	const struct rp_proc *pr = rpu_proc(h);
	const struct rp_pipe *p = pr == NULL ? rpu_pipe(h) : NULL;

	return pr != NULL ? !pr->exited : p != NULL && p->reading;
}

void replay_uv_free(void)
{
	for (size_t i = 0; i < rpu.n_procs; i++)
		free(rpu.procs[i]);
	for (size_t i = 0; i < rpu.n_pipes; i++)
		free(rpu.pipes[i]);
	free(rpu.procs);
	free(rpu.pipes);
	free(rpu.scripts);
	free(rpu.v);
	/* Also the delay: the next scenario starts with a fast pool. */
	memset(&rpu, 0, sizeof(rpu));
}
