/*
 * hook_out.c -- a hook's stdout and stderr, line by line, into the log under
 * its job: stdout lines as info, stderr lines as warnings, each "hook: LINE".
 *
 * The hook is the operator's program and may print anything, so the log is
 * protected from it: a line is cut at HOOK_LINE_MAX bytes, control bytes
 * become '?' (a terminal escape cannot reach the operator's terminal), and
 * at most HOOK_LINES_MAX lines per run are logged. Output beyond that is
 * still read -- a child blocked on a full pipe would only run into its time
 * limit -- but dropped, with one line saying so.
 */
#include <string.h>

#include "hook_int.h"

void hook_out_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct hook_out *o = handle->data;

	(void)suggested;
	*buf = uv_buf_init(o->rbuf, sizeof(o->rbuf));
}

static void emit(struct hook_out *o)
{
	struct hook_run *r = o->run;

	if (!o->cut && o->len > 0 && o->line[o->len - 1] == '\r')
		o->len--;
	for (size_t i = 0; i < o->len; i++) {
		unsigned char c = (unsigned char)o->line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			o->line[i] = '?';
	}
	o->line[o->len] = '\0';
	if (r->lines < HOOK_LINES_MAX) {
		r->lines++;
		dcv_log_job(o->level, r->job, "hook: %s%s", o->line, o->cut ? " [cut]" : "");
	} else if (!r->dropped) {
		r->dropped = true;
		dcv_log_job(DCV_LOG_WARNING, r->job, "hook: further output dropped");
	}
	o->len = 0;
	o->cut = false;
}

static void feed(struct hook_out *o, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl != NULL ? (size_t)(nl - p) : n;
		size_t room = HOOK_LINE_MAX - o->len;

		if (take > room) {
			o->cut = true;
			memcpy(o->line + o->len, p, room);
			o->len += room;
		} else {
			memcpy(o->line + o->len, p, take);
			o->len += take;
		}
		if (nl == NULL)
			break;
		emit(o);
		p += take + 1;
		n -= take + 1;
	}
}

void hook_out_stop(struct hook_out *o)
{
	if (!o->open)
		return;
	o->open = false;
	uv_read_stop((uv_stream_t *)&o->pipe);
	if (o->len > 0 || o->cut)
		emit(o);
}

void hook_out_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct hook_out *o = stream->data;

	if (nread > 0) {
		feed(o, buf->base, (size_t)nread);
		return;
	}
	if (nread == 0)
		return;
	if (nread != UV_EOF)
		dcv_log_job(DCV_LOG_WARNING, o->run->job, "hook %s: reading its %s: %s",
		            o->run->event, o->name, uv_strerror((int)nread));
	hook_out_stop(o);
	hook_output_done(o->run);
}
