/*
 * hook.c -- the operator's hook (see hook.h): the queue, the processes and
 * their time limits. The output is read in hook_out.c.
 *
 * Life cycle of a run. Queued, it owns no handle. Started, it owns four --
 * the process, a timer and the two output pipes -- for the whole of its
 * life, and it ends only through their close callbacks: the last one frees
 * the run, gives its slot to the next queued run, or, when the hooks are
 * closing and it was the last run, finishes the close. A run ends when the
 * process has exited and both pipes have reached their end (or the drain
 * window after the exit has passed), so that every output line is logged
 * before the exit status.
 *
 * The timer does one job at a time: the time limit while the process
 * runs, then the SIGKILL delay after SIGTERM, then the drain window.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hook_int.h"

/* SIGKILL follows SIGTERM after this long (at the time limit and at shutdown). */
#define KILL_AFTER_MS 2000
/*
 * After the exit, output still open is read this long: a background process
 * started by the hook may hold the pipes open for ever, and must not keep
 * the slot.
 */
#define DRAIN_MS 1000

struct dcv_hooks {
	uv_loop_t *loop;
	char *path; /* NULL: no hook */
	uint64_t timeout_ms;
	size_t max_parallel;
	struct hook_run *qhead, *qtail; /* waiting, oldest first */
	size_t queued;
	struct hook_run *live; /* started, until their last close callback */
	size_t nlive;
	uv_timer_t grace; /* the shutdown grace */
	bool closing;
	void (*closed)(void *arg);
	void *arg;
};

static void start_queued(struct dcv_hooks *h);

static void run_free(struct hook_run *r)
{
	if (r == NULL)
		return;
	free(r->event);
	free(r->job);
	free(r->path);
	dcv_strv_free(&r->env);
	free(r);
}

/*
 * The environment, built from the event alone: the daemon's own variables
 * (and whatever secrets they hold) never reach the hook. A missing field is
 * an empty variable, so that a script under `set -u` still runs; DCV_ERROR
 * exists only for an event that has an error.
 */
static int env_build(struct dcv_strv *env, const struct dcv_hook_event *ev)
{
	const char *const vars[][2] = {
	    {"DCV_EVENT", ev->event},   {"DCV_JOB", ev->job},         {"DCV_FILE", ev->file},
	    {"DCV_NAMES", ev->names},   {"DCV_RECORDS", ev->records}, {"DCV_MD5", ev->md5},
	    {"DCV_SHA256", ev->sha256}, {"DCV_SPOOL", ev->spool},
	};
	int rc = DCV_OK;

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]) && rc == DCV_OK; i++)
		rc = dcv_strv_pushf(env, "%s=%s", vars[i][0], vars[i][1] ? vars[i][1] : "");
	if (rc == DCV_OK && ev->error != NULL)
		rc = dcv_strv_pushf(env, "DCV_ERROR=%s", ev->error);
	if (rc == DCV_OK)
		rc = dcv_strv_push(env, "PATH=/usr/local/bin:/usr/bin:/bin");
	if (rc == DCV_OK)
		rc = dcv_strv_push(env, "LANG=C.UTF-8");
	return rc;
}

static void list_unlink(struct hook_run **head, struct hook_run **tail, struct hook_run *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	else if (tail != NULL)
		*tail = r->prev;
	r->prev = r->next = NULL;
}

static void finish_close(uv_handle_t *handle)
{
	struct dcv_hooks *h = handle->data;
	void (*closed)(void *) = h->closed;
	void *arg = h->arg;

	free(h->path);
	free(h);
	if (closed != NULL)
		closed(arg);
}

static void maybe_finish_close(struct dcv_hooks *h)
{
	if (h->closing && h->nlive == 0 && !uv_is_closing((uv_handle_t *)&h->grace))
		uv_close((uv_handle_t *)&h->grace, finish_close);
}

/* After the last close callback of a started run: free it, pass its slot on. */
static void run_release(struct hook_run *r)
{
	struct dcv_hooks *h = r->h;

	list_unlink(&h->live, NULL, r);
	h->nlive--;
	run_free(r);
	if (h->closing)
		maybe_finish_close(h);
	else
		start_queued(h);
}

/* Close callback of the process and the timer (data: the run). */
static void run_closed(uv_handle_t *handle)
{
	struct hook_run *r = handle->data;

	if (--r->handles == 0)
		run_release(r);
}

/* Close callback of an output pipe (data: its struct hook_out). */
static void out_closed(uv_handle_t *handle)
{
	struct hook_out *o = handle->data;

	if (--o->run->handles == 0)
		run_release(o->run);
}

static void log_exit(struct hook_run *r)
{
	double secs = (double)(uv_now(r->h->loop) - r->started) / 1000.0;
	const char *abbrev = NULL;

	if (r->term_signal != 0) {
		abbrev = sigabbrev_np(r->term_signal);
		dcv_log_job(DCV_LOG_WARNING, r->job,
		            "hook %s killed by signal %d (SIG%s) after %.1f s", r->event,
		            r->term_signal, abbrev != NULL ? abbrev : "?", secs);
	} else if (r->exit_status != 0) {
		dcv_log_job(DCV_LOG_WARNING, r->job,
		            "hook %s failed: exit status %lld after %.1f s", r->event,
		            (long long)r->exit_status, secs);
	} else {
		dcv_log_job(DCV_LOG_INFO, r->job, "hook %s finished after %.1f s", r->event, secs);
	}
}

/* The end of a started run: last output lines, the exit status, then every handle closes. */
static void run_end(struct hook_run *r)
{
	if (r->phase == RUN_ENDING)
		return;
	r->phase = RUN_ENDING;
	for (int i = 0; i < 2; i++)
		hook_out_stop(&r->out[i]);
	if (r->exited)
		log_exit(r);
	uv_close((uv_handle_t *)&r->timer, run_closed);
	uv_close((uv_handle_t *)&r->proc, run_closed);
	for (int i = 0; i < 2; i++)
		uv_close((uv_handle_t *)&r->out[i].pipe, out_closed);
}

void hook_output_done(struct hook_run *r)
{
	if (r->exited && !r->out[0].open && !r->out[1].open)
		run_end(r);
}

/*
 * The hook leads a process group of its own (UV_PROCESS_DETACHED), and the
 * signal goes to the whole group: a script's children (curl, sleep) stop
 * with it instead of living on and holding its output open. Only called
 * before the exit was seen, while the pid cannot have been reused.
 */
static void run_signal(struct hook_run *r, int sig)
{
	if (uv_kill(-r->proc.pid, sig) != 0)
		uv_process_kill(&r->proc, sig);
}

static void on_timer(uv_timer_t *t);

static void send_term(struct hook_run *r, const char *why)
{
	dcv_log_job(DCV_LOG_WARNING, r->job, "hook %s (pid %d) %s: sending SIGTERM", r->event,
	            r->proc.pid, why);
	run_signal(r, SIGTERM);
	r->phase = RUN_TERM;
	uv_timer_start(&r->timer, on_timer, KILL_AFTER_MS, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct hook_run *r = t->data;
	char why[96];

	switch (r->phase) {
	case RUN_LIVE:
		snprintf(why, sizeof(why),
		         "still running after its time limit of %.1f s (hook_timeout)",
		         (double)r->timeout_ms / 1000.0);
		send_term(r, why);
		break;
	case RUN_TERM:
		dcv_log_job(DCV_LOG_WARNING, r->job,
		            "hook %s (pid %d) still running %d s after SIGTERM: sending SIGKILL",
		            r->event, r->proc.pid, KILL_AFTER_MS / 1000);
		run_signal(r, SIGKILL);
		r->phase = RUN_KILLED;
		break;
	case RUN_DRAIN:
		dcv_log_job(DCV_LOG_WARNING, r->job,
		            "hook %s: output still open %d s after its exit (a background "
		            "process?); no longer read",
		            r->event, DRAIN_MS / 1000);
		run_end(r);
		break;
	default:
		break;
	}
}

static void on_proc_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
	struct hook_run *r = proc->data;

	r->exited = true;
	r->exit_status = exit_status;
	r->term_signal = term_signal;
	uv_timer_stop(&r->timer);
	if (!r->out[0].open && !r->out[1].open) {
		run_end(r);
		return;
	}
	r->phase = RUN_DRAIN;
	uv_timer_start(&r->timer, on_timer, DRAIN_MS, 0);
}

/* Starts a dequeued run; failures are logged and end the run through its close callbacks. */
static void run_start(struct dcv_hooks *h, struct hook_run *r)
{
	uv_process_options_t opts;
	uv_stdio_container_t stdio[3];
	char *args[2] = {NULL, NULL};
	char **envp = NULL;
	int rc = 0;

	r->path = strdup(h->path);
	envp = calloc(r->env.n + 1, sizeof(*envp));
	if (r->path == NULL || envp == NULL) {
		dcv_log_job(DCV_LOG_ERR, r->job, "hook %s not run: out of memory", r->event);
		run_free(r);
		goto out;
	}
	memcpy(envp, r->env.v, r->env.n * sizeof(*envp));
	r->phase = RUN_LIVE;
	r->prev = NULL;
	r->next = h->live;
	if (h->live != NULL)
		h->live->prev = r;
	h->live = r;
	h->nlive++;

	uv_timer_init(h->loop, &r->timer);
	r->timer.data = r;
	r->handles++;
	for (int i = 0; i < 2; i++) {
		uv_pipe_init(h->loop, &r->out[i].pipe, 0);
		r->out[i].pipe.data = &r->out[i];
		r->out[i].run = r;
		r->handles++;
	}
	r->out[0].name = "stdout";
	r->out[0].level = DCV_LOG_INFO;
	r->out[1].name = "stderr";
	r->out[1].level = DCV_LOG_WARNING;

	/* No shell: argv[0] is the path, and nothing else is passed. */
	args[0] = r->path;
	memset(&opts, 0, sizeof(opts));
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE; /* /dev/null */
	for (int i = 0; i < 2; i++) {
		stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
		stdio[i + 1].data.stream = (uv_stream_t *)&r->out[i].pipe;
	}
	opts.exit_cb = on_proc_exit;
	opts.file = r->path;
	opts.args = args;
	opts.env = envp;
	opts.flags = UV_PROCESS_DETACHED;
	opts.stdio_count = 3;
	opts.stdio = stdio;
	/* uv_spawn initialises the handle also when it fails: it must be closed either way. */
	rc = uv_spawn(h->loop, &r->proc, &opts);
	r->proc.data = r;
	r->handles++;
	if (rc < 0) {
		dcv_log_job(DCV_LOG_ERR, r->job, "hook %s: %s cannot be run: %s", r->event, r->path,
		            uv_strerror(rc));
		run_end(r);
		goto out;
	}
	dcv_log_job(DCV_LOG_DEBUG, r->job, "hook %s: started %s (pid %d)", r->event, r->path,
	            r->proc.pid);
	for (int i = 0; i < 2; i++) {
		r->out[i].open = uv_read_start((uv_stream_t *)&r->out[i].pipe, hook_out_alloc,
		                               hook_out_read) == 0;
	}
	/* The loop's clock may be stale (and uv_spawn took time): the limit counts from now. */
	uv_update_time(h->loop);
	r->started = uv_now(h->loop);
	r->timeout_ms = h->timeout_ms;
	if (r->timeout_ms > 0)
		uv_timer_start(&r->timer, on_timer, r->timeout_ms, 0);
out:
	free(envp);
}

static void start_queued(struct dcv_hooks *h)
{
	struct hook_run *r = NULL;

	while (!h->closing && h->qhead != NULL && h->nlive < h->max_parallel) {
		r = h->qhead;
		list_unlink(&h->qhead, &h->qtail, r);
		h->queued--;
		if (h->path == NULL) {
			/* The hook was configured away while this run waited. */
			dcv_log_job(DCV_LOG_DEBUG, r->job, "hook %s not run: no hook configured",
			            r->event);
			run_free(r);
			continue;
		}
		run_start(h, r);
	}
}

struct dcv_hooks *dcv_hooks_new(uv_loop_t *loop, const char *path, uint64_t timeout_ms,
                                size_t max_parallel)
{
	struct dcv_hooks *h = calloc(1, sizeof(*h));

	if (h == NULL)
		goto out;
	h->loop = loop;
	h->max_parallel = max_parallel > 0 ? max_parallel : 1;
	if (dcv_hooks_configure(h, path, timeout_ms) < 0) {
		free(h);
		h = NULL;
		goto out;
	}
	uv_timer_init(loop, &h->grace);
	h->grace.data = h;
out:
	return h;
}

int dcv_hooks_configure(struct dcv_hooks *h, const char *path, uint64_t timeout_ms)
{
	char *copy = NULL;
	int rc = DCV_ENOMEM;

	if (path != NULL && (copy = strdup(path)) == NULL)
		goto out;
	free(h->path);
	h->path = copy;
	h->timeout_ms = timeout_ms;
	rc = DCV_OK;
out:
	return rc;
}

int dcv_hooks_run(struct dcv_hooks *h, const struct dcv_hook_event *ev)
{
	struct hook_run *r = NULL;
	int rc = DCV_OK;

	if (h->closing) {
		dcv_log_job(DCV_LOG_WARNING, ev->job, "hook %s not run: dcvd is stopping",
		            ev->event ? ev->event : "");
		rc = DCV_ECANCELED;
		goto out;
	}
	if (h->path == NULL)
		goto out;
	rc = DCV_ENOMEM;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto out;
	r->h = h;
	r->phase = RUN_QUEUED;
	r->event = strdup(ev->event ? ev->event : "");
	r->job = strdup(ev->job ? ev->job : "");
	if (r->event == NULL || r->job == NULL || env_build(&r->env, ev) < 0) {
		run_free(r);
		goto out;
	}
	r->prev = h->qtail;
	if (h->qtail != NULL)
		h->qtail->next = r;
	else
		h->qhead = r;
	h->qtail = r;
	h->queued++;
	rc = DCV_OK;
	start_queued(h);
out:
	return rc;
}

size_t dcv_hooks_pending(const struct dcv_hooks *h)
{
	return h != NULL ? h->nlive + h->queued : 0;
}

/* The grace is over: every run still running gets SIGTERM, then SIGKILL. */
static void on_grace(uv_timer_t *t)
{
	struct dcv_hooks *h = t->data;

	for (struct hook_run *r = h->live; r != NULL; r = r->next)
		if (r->phase == RUN_LIVE)
			send_term(r, "still running at shutdown");
}

void dcv_hooks_close(struct dcv_hooks *h, uint64_t grace_ms, void (*closed)(void *arg), void *arg)
{
	struct hook_run *r = NULL;

	if (h == NULL) {
		if (closed != NULL)
			closed(arg);
		return;
	}
	if (h->closing)
		return;
	h->closing = true;
	h->closed = closed;
	h->arg = arg;
	while ((r = h->qhead) != NULL) {
		list_unlink(&h->qhead, &h->qtail, r);
		h->queued--;
		dcv_log_job(DCV_LOG_WARNING, r->job, "hook %s not run: dcvd is stopping", r->event);
		run_free(r);
	}
	if (h->nlive > 0) {
		uv_update_time(h->loop);
		uv_timer_start(&h->grace, on_grace, grace_ms, 0);
	}
	maybe_finish_close(h);
}
