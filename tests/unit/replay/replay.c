/*
 * replay.c -- the fake clock of replay.h and the state of the whole
 * library: one queue of events (replies, timeouts, cancellations, close
 * callbacks, deferred calls) and one table of timers; replay_run() takes
 * whichever is due first (ties in the order they were made), moves the
 * clock there and runs it. libuv's clock, timers and uv_close() are faked
 * here; the scenario file is read in replay_script.c, the fake dnsio is
 * replay_dnsio.c, the replies it delivers are built in replay_reply.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "replay.h"
#include "replay_int.h"

struct replay_state replay_state = {.now = REPLAY_T0};

void replay_die(int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "replay: %s:%d: ", replay_state.path ? replay_state.path : "-", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *replay_grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 16;
	p = realloc(p, *cap * size);
	if (p == NULL)
		replay_die(0, "out of memory");
	return p;
}

/* Same DNS name: case and a trailing dot aside. */
bool replay_same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	la -= la > 1 && a[la - 1] == '.';
	lb -= lb > 1 && b[lb - 1] == '.';
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* --- events and the clock --------------------------------------------------- */

void replay_push(struct rp_event ev)
{
	replay_state.events = replay_grow(replay_state.events, &replay_state.cap_events,
	                                  replay_state.n_events, sizeof(*replay_state.events));
	ev.seq = replay_state.seq++;
	if (ev.x != NULL)
		ev.x->refs++;
	replay_state.events[replay_state.n_events++] = ev;
}

uv_loop_t *replay_loop(void)
{
	return &replay_state.loop;
}

uint64_t uv_now(const uv_loop_t *loop)
{
	(void)loop;
	return replay_state.now;
}

void uv_update_time(uv_loop_t *loop)
{
	(void)loop;
}

static struct rp_timer *rp_timer(const uv_timer_t *t)
{
	for (size_t i = 0; i < replay_state.n_timers; i++)
		if (replay_state.timers[i].t == t)
			return &replay_state.timers[i];
	return NULL;
}

int uv_timer_init(uv_loop_t *loop, uv_timer_t *t)
{
	struct rp_timer *rt = rp_timer(t);

	t->loop = loop;
	t->type = UV_TIMER;
	t->flags = 0;
	if (rt == NULL) {
		replay_state.timers =
		    replay_grow(replay_state.timers, &replay_state.cap_timers,
		                replay_state.n_timers, sizeof(*replay_state.timers));
		rt = &replay_state.timers[replay_state.n_timers++];
	}
	*rt = (struct rp_timer){.t = t};
	return 0;
}

int uv_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
{
	struct rp_timer *rt = rp_timer(t);

	if (rt == NULL)
		replay_die(0, "uv_timer_start on a timer that was not initialized (or is closed)");
	rt->active = true;
	rt->cb = cb;
	rt->due = replay_state.now + timeout;
	rt->repeat = repeat;
	rt->seq = replay_state.seq++;
	return 0;
}

int uv_timer_stop(uv_timer_t *t)
{
	struct rp_timer *rt = rp_timer(t);

	if (rt != NULL)
		rt->active = false;
	return 0;
}

int uv_is_active(const uv_handle_t *h)
{
	const struct rp_timer *rt = h->type == UV_TIMER ? rp_timer((const uv_timer_t *)h) : NULL;

	if (h->type != UV_TIMER)
		return replay_uv_active(h);
	return rt != NULL && rt->active;
}

void uv_close(uv_handle_t *h, uv_close_cb cb)
{
	struct rp_timer *rt = h->type == UV_TIMER ? rp_timer((uv_timer_t *)h) : NULL;

	if (h->flags & RP_HANDLE_CLOSING)
		replay_die(0, "uv_close of a handle closed already (libuv asserts)");
	if (rt != NULL)
		*rt = replay_state.timers[--replay_state.n_timers];
	else if (!replay_uv_forget(h))
		replay_die(0, "uv_close of a handle replay does not know (timers, file events)");
	h->flags |= RP_HANDLE_CLOSING;
	replay_push((struct rp_event){
	    .kind = EV_CLOSE, .at = replay_state.now, .handle = h, .close_cb = cb});
}

int uv_is_closing(const uv_handle_t *h)
{
	return (h->flags & (RP_HANDLE_CLOSING | RP_HANDLE_CLOSED)) != 0;
}

void replay_defer(uint64_t delay_ms, void (*fn)(void *arg), void *arg)
{
	replay_push((struct rp_event){
	    .kind = EV_CALL, .at = replay_state.now + delay_ms, .fn = fn, .arg = arg});
}

bool replay_undefer(void (*fn)(void *arg), void *arg)
{
	for (size_t i = 0; i < replay_state.n_events; i++)
		if (replay_state.events[i].kind == EV_CALL && replay_state.events[i].fn == fn &&
		    replay_state.events[i].arg == arg) {
			replay_state.events[i] = replay_state.events[--replay_state.n_events];
			return true;
		}
	return false;
}

static void rp_run_event(struct rp_event ev)
{
	switch (ev.kind) {
	case EV_REPLY:
		replay_xchg_deliver(ev.x, ev.reply);
		break;
	case EV_TIMEOUT:
		replay_xchg_end(ev.x, ev.x->last_reject ? ev.x->last_reject : DCV_ETIMEOUT, NULL,
		                0);
		break;
	case EV_DONE:
		replay_xchg_end(ev.x, ev.status, NULL, 0);
		break;
	case EV_CLOSE:
		/* Marked before the callback, which may free the handle. */
		ev.handle->flags |= RP_HANDLE_CLOSED;
		if (ev.close_cb != NULL)
			ev.close_cb(ev.handle);
		break;
	case EV_CALL:
		ev.fn(ev.arg);
		break;
	case EV_IO_CLOSED:
		if (ev.io->closed != NULL)
			ev.io->closed(ev.io->closed_arg);
		free(ev.io);
		break;
	}
	if (ev.x != NULL)
		replay_xchg_release(ev.x);
}

uint64_t replay_run(bool (*stop)(void *arg), void *arg)
{
	return replay_run_until(UINT64_MAX, stop, arg);
}

uint64_t replay_run_until(uint64_t at, bool (*stop)(void *arg), void *arg)
{
	uint64_t start = replay_state.now;

	while (stop == NULL || !stop(arg)) {
		long ev = -1, tm = -1;
		for (size_t i = 0; i < replay_state.n_events; i++)
			if (ev < 0 || replay_state.events[i].at < replay_state.events[ev].at ||
			    (replay_state.events[i].at == replay_state.events[ev].at &&
			     replay_state.events[i].seq < replay_state.events[ev].seq))
				ev = (long)i;
		for (size_t i = 0; i < replay_state.n_timers; i++)
			if (replay_state.timers[i].active &&
			    (tm < 0 || replay_state.timers[i].due < replay_state.timers[tm].due ||
			     (replay_state.timers[i].due == replay_state.timers[tm].due &&
			      replay_state.timers[i].seq < replay_state.timers[tm].seq)))
				tm = (long)i;
		if (ev < 0 && tm < 0) {
			if (at != UINT64_MAX)
				replay_state.now = at;
			break;
		}
		/* Nothing more is due by at: the clock stops there. */
		if ((ev < 0 || replay_state.events[ev].at > at) &&
		    (tm < 0 || replay_state.timers[tm].due > at)) {
			replay_state.now = at;
			break;
		}
		if (tm >= 0 &&
		    (ev < 0 || replay_state.timers[tm].due < replay_state.events[ev].at ||
		     (replay_state.timers[tm].due == replay_state.events[ev].at &&
		      replay_state.timers[tm].seq < replay_state.events[ev].seq))) {
			struct rp_timer *t = &replay_state.timers[tm];
			uv_timer_t *handle = t->t;
			uv_timer_cb cb = t->cb;
			replay_state.now = t->due;
			if (t->repeat > 0) {
				t->due = replay_state.now + t->repeat;
				t->seq = replay_state.seq++;
			} else {
				t->active = false;
			}
			cb(handle);
		} else {
			struct rp_event e = replay_state.events[ev];
			replay_state.events[ev] = replay_state.events[--replay_state.n_events];
			if (e.at > replay_state.now)
				replay_state.now = e.at;
			rp_run_event(e);
		}
	}
	return replay_state.now - start;
}

size_t replay_pending(void)
{
	size_t n = replay_state.n_events;

	for (size_t i = 0; i < replay_state.n_timers; i++)
		n += replay_state.timers[i].active;
	return n;
}

void replay_free(void)
{
	for (size_t i = 0; i < replay_state.n_entries; i++) {
		for (size_t r = 0; r < replay_state.entries[i].n_replies; r++) {
			free(replay_state.entries[i].replies[r].answers);
			free(replay_state.entries[i].replies[r].authority);
		}
		free(replay_state.entries[i].has);
		free(replay_state.entries[i].lacks);
	}
	for (size_t i = 0; i < replay_state.n_lines; i++) {
		free(replay_state.lines[i]);
		free(replay_state.raw[i]);
	}
	free(replay_state.lines);
	free(replay_state.raw);
	free(replay_state.line_no);
	free(replay_state.entries);
	free(replay_state.log);
	free(replay_state.unexpected);
	free(replay_state.section);
	free(replay_state.picked);
	for (size_t i = 0; i < replay_state.n_keys; i++) {
		ldns_key_deep_free(replay_state.keys[i].key);
		ldns_rr_free(replay_state.keys[i].dnskey);
	}
	while (replay_state.n_events > 0) {
		struct rp_event e = replay_state.events[--replay_state.n_events];
		if (e.x != NULL)
			replay_xchg_release(e.x);
	}
	free(replay_state.events);
	free(replay_state.timers);
	replay_uv_free();
	memset(&replay_state, 0, sizeof(replay_state));
	replay_state.now = REPLAY_T0;
}
