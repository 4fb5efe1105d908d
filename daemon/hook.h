/*
 * hook.h -- the operator's program, run on job events (DESIGN §3):
 * `hook: /path` in the configuration runs it with no shell (uv_spawn),
 * stdin from /dev/null, its stdout and stderr read and logged line by line
 * (prefixed with the job), with the environment:
 *
 *   DCV_EVENT    visible | failed | withdrawn
 *   DCV_JOB      the job id; DCV_FILE the spool file name (NAME.csr)
 *   DCV_NAMES    certificate names, space-separated
 *   DCV_RECORDS  the records as zone-file lines, newline-separated
 *   DCV_MD5, DCV_SHA256, DCV_ERROR (failed only), DCV_SPOOL
 *   PATH=/usr/local/bin:/usr/bin:/bin, LANG=C.UTF-8; nothing else inherited
 *
 * After hook_timeout it gets SIGTERM, 2 s later SIGKILL. Its exit status
 * and any failure to start it are logged; nothing else depends on them. At
 * most max_parallel hooks run at once; the others wait in order.
 */
#ifndef DCV_HOOK_H
#define DCV_HOOK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dcv/err.h"

struct dcv_hook_event {
	const char *event;   /* "visible", "failed", "withdrawn" */
	const char *job;     /* job id */
	const char *file;    /* NAME.ext */
	const char *names;   /* space-separated */
	const char *records; /* newline-separated */
	const char *md5;
	const char *sha256;
	const char *error; /* or NULL */
	const char *spool;
};

struct dcv_hooks;

/* path NULL: no hook (every run is a no-op). */
struct dcv_hooks *dcv_hooks_new(uv_loop_t *loop, const char *path, uint64_t timeout_ms,
                                size_t max_parallel);

/* A new program or time limit (configuration reload); runs already started keep theirs. */
int dcv_hooks_configure(struct dcv_hooks *h, const char *path, uint64_t timeout_ms);

/* Starts (or queues) a run; the event is copied. DCV_ENOMEM only. */
int dcv_hooks_run(struct dcv_hooks *h, const struct dcv_hook_event *ev);

/* Hooks running or queued. */
size_t dcv_hooks_pending(const struct dcv_hooks *h);

/*
 * Waits for running hooks up to grace_ms (then kills them), drops queued
 * ones with a log line, frees, then calls closed(arg).
 */
void dcv_hooks_close(struct dcv_hooks *h, uint64_t grace_ms, void (*closed)(void *arg), void *arg);

#endif
