/*
 * hook_int.h -- the inside of hook, shared by hook.c (queue, processes,
 * time limits) and hook_out.c (the child's output, line by line, into the
 * log). Nothing outside these two files includes it.
 */
#ifndef DCV_HOOK_INT_H
#define DCV_HOOK_INT_H

#include <stdbool.h>

#include "hook.h"
#include "log.h"
#include "util.h"

/* Longer lines are logged cut to this many bytes, with " [cut]" after them. */
#define HOOK_LINE_MAX 1000
/* Lines logged per run (stdout and stderr together); the rest is read and dropped. */
#define HOOK_LINES_MAX 200

enum hook_phase {
	RUN_QUEUED, /* waiting for a slot */
	RUN_LIVE,   /* process running; timer: hook_timeout */
	RUN_TERM,   /* SIGTERM sent; timer: the SIGKILL delay */
	RUN_KILLED, /* SIGKILL sent; waiting for the exit */
	RUN_DRAIN,  /* process gone, output still open; timer: the drain window */
	RUN_ENDING, /* handles closing */
};

struct hook_run;

/* One of the child's output streams (stdout or stderr). */
struct hook_out {
	struct hook_run *run;
	uv_pipe_t pipe;
	const char *name;         /* "stdout", "stderr" (for messages) */
	enum dcv_log_level level; /* of its lines */
	bool open;                /* being read: no EOF, error or drain end yet */
	bool cut;                 /* the current line went over HOOK_LINE_MAX */
	size_t len;
	char line[HOOK_LINE_MAX + 1];
	char rbuf[4096];
};

struct hook_run {
	struct dcv_hooks *h;
	struct hook_run *prev, *next; /* the queue, then the live list */
	enum hook_phase phase;
	char *event, *job;   /* copies, for messages */
	struct dcv_strv env; /* "NAME=value" strings */
	char *path;          /* the program, fixed when the run starts */
	uint64_t started;    /* uv_now() at the start */
	uint64_t timeout_ms; /* the limit in force at the start; 0: none */

	unsigned handles; /* initialised and not yet through their close callback */
	uv_process_t proc;
	uv_timer_t timer;
	struct hook_out out[2];

	bool exited;
	int64_t exit_status;
	int term_signal;
	unsigned lines; /* output lines logged */
	bool dropped;   /* "further output dropped" logged */
};

/* hook_out.c: libuv callbacks of the output pipes (handle data: the struct hook_out). */
void hook_out_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
void hook_out_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
/* Stops reading and logs a last line without newline, if any. */
void hook_out_stop(struct hook_out *o);

/* hook.c: an output stream reached its end; the run ends once the process is gone too. */
void hook_output_done(struct hook_run *r);

#endif
