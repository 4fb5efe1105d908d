/*
 * hook.h -- the operator's program, run on job events (docs/design.md §3):
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
 *
 * Details the daemon's users may rely on:
 * - Environment: a NULL field gives an empty variable (DCV_ERROR is set only
 *   when error is not NULL). PATH and LANG have the fixed values above; a
 *   shell script may see variables its shell sets itself (dash: PWD).
 * - The hook leads its own process group (UV_PROCESS_DETACHED); SIGTERM and
 *   SIGKILL go to the whole group, so a script's children stop with it.
 *   Processes it leaves behind after a normal exit are not killed.
 * - uv_spawn uses execvp(): a file without "#!" is run by /bin/sh (glibc),
 *   and a path without '/' would be searched in PATH -- the configuration
 *   only accepts absolute paths.
 * - Output: stdout lines are logged as info, stderr lines as warnings, both
 *   "job JOB: hook: LINE"; a trailing CR is dropped, other control bytes
 *   show as '?', lines over 1000 bytes are cut (" [cut]" after them). At
 *   most 200 lines per run are logged, then one "hook: further output
 *   dropped"; the rest is still read, so the hook never blocks on a full
 *   pipe. Output still open 1 s after the hook exited (a background
 *   process holding it) is no longer read.
 * - Log lines at the end: info "hook EVENT finished after N s" for status
 *   0; warnings "hook EVENT failed: exit status N ..." and "hook EVENT
 *   killed by signal N (SIGTERM) ..."; "... sending SIGTERM" and "...
 *   sending SIGKILL" when the limits strike; an error "hook EVENT: PATH
 *   cannot be run: REASON" (no such file or directory, permission denied,
 *   ...) when it cannot be started.
 * - Nothing blocks the loop except uv_spawn() itself, which returns once
 *   the child has exec'd (or failed to).
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

/*
 * path NULL: no hook (every run is a no-op). path is copied; timeout_ms 0:
 * no time limit; max_parallel 0 counts as 1. NULL only when out of memory.
 */
struct dcv_hooks *dcv_hooks_new(uv_loop_t *loop, const char *path, uint64_t timeout_ms,
                                size_t max_parallel);

/*
 * A new program or time limit (configuration reload); runs already started
 * keep theirs, queued runs take the one in force when they start (path NULL
 * then: they are dropped, logged at debug). DCV_ENOMEM (nothing changed).
 */
int dcv_hooks_configure(struct dcv_hooks *h, const char *path, uint64_t timeout_ms);

/*
 * Starts (or queues) a run; the event is copied. DCV_ENOMEM only -- and
 * DCV_ECANCELED (logged) once dcv_hooks_close() was called. A hook that
 * cannot be started is logged, not returned: the run has started by then.
 */
int dcv_hooks_run(struct dcv_hooks *h, const struct dcv_hook_event *ev);

/* Hooks running or queued (a run counts until its handles are closed). NULL-safe. */
size_t dcv_hooks_pending(const struct dcv_hooks *h);

/*
 * Waits for running hooks up to grace_ms (then kills them), drops queued
 * ones with a log line, frees, then calls closed(arg).
 *
 * Killing is the same as at the time limit: SIGTERM to the hook's process
 * group, SIGKILL 2 s later, so the close takes at most grace_ms + 2 s (+ up
 * to 1 s for output held open by a background process). A hook past its
 * own time limit keeps that schedule. closed is always called from the
 * loop, after h is freed; h NULL: closed(arg) at once. A second call is
 * ignored. closed may be NULL.
 */
void dcv_hooks_close(struct dcv_hooks *h, uint64_t grace_ms, void (*closed)(void *arg), void *arg);

#endif
