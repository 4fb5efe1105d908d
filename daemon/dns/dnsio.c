/*
 * dnsio.c -- DNS exchanges on a libuv loop (see dnsio.h): the queue and the
 * life cycle of an exchange. UDP (channels, shared sockets) is in
 * dnsio_udp.c, TCP in dnsio_tcp.c.
 *
 * Life cycle. An exchange owns two timers from the start (the deadline and
 * the try timer), so that every exchange, even one that never left the
 * queue, ends through close callbacks: finishing closes every handle, and
 * the last close callback calls done (unless an accepted reply already did)
 * and frees the exchange. That is what keeps done out of
 * dcv_dnsio_exchange() and dcv_dnsio_cancel() and makes freeing safe: libuv
 * runs the callbacks of pending requests (connect, write) with UV_ECANCELED
 * before the handle's close callback. A UDP send goes through a shared
 * socket that outlives the exchange, so a send still queued holds the
 * exchange too (send_busy) until its callback has run.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsio_int.h"
#include "wire.h"

#define DEFAULT_MAX_INFLIGHT 4096
#define DEFAULT_UDP_SOCKETS 4
#define DEFAULT_IDLE_MS 10000
#define DEFAULT_UDP_WINDOW 128

static void on_timer(uv_timer_t *t);

uint64_t dnsio_random(struct dcv_dnsio *io)
{
	/* xorshift64*: jitter and the choice of socket need no secrecy (IDs do: dnsio_udp.c). */
	io->rng ^= io->rng >> 12;
	io->rng ^= io->rng << 25;
	io->rng ^= io->rng >> 27;
	return (io->rng * 2685821657736338717ull) >> 11;
}

uint64_t dnsio_jitter(struct dcv_dnsio *io, uint64_t ms)
{
	uint64_t v = ms - ms / 4 + dnsio_random(io) % (ms / 2 + 1);

	return v > 0 ? v : 1;
}

double dnsio_elapsed(const struct dcv_dnsio_xchg *x)
{
	return (double)(uv_now(x->io->loop) - x->started) / 1000.0;
}

/* The exchange is over and nothing refers to it any more: report if nobody has, then free. */
static void release(struct dcv_dnsio_xchg *x)
{
	struct dcv_dnsio *io = x->io;

	if (!x->delivered) {
		x->delivered = true;
		io->pending--;
		x->done(x->arg, x->status, NULL, 0, &x->why);
	}
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		io->all = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	if (x->holds_slot)
		io->inflight--;
	if (x->t != NULL)
		free(x->t->rbuf);
	free(x->t);
	free(x);
	if (io->closing)
		dnsio_maybe_free(io);
	else if ((io->qhead != NULL || io->unpark != NULL) && io->inflight < io->opts.max_inflight)
		uv_idle_start(&io->kick, dnsio_on_kick);
}

void dnsio_take_slot(struct dcv_dnsio_xchg *x)
{
	struct dcv_dnsio *io = x->io;

	x->holds_slot = true;
	io->inflight++;
	if (io->inflight > io->stats.peak_inflight)
		io->stats.peak_inflight = io->inflight;
}

void dnsio_maybe_release(struct dcv_dnsio_xchg *x)
{
	if (x->handles == 0 && !x->send_busy)
		release(x);
}

void dnsio_close_cb(uv_handle_t *h)
{
	struct dcv_dnsio_xchg *x = h->data;

	x->handles--;
	dnsio_maybe_release(x);
}

static void queue_remove(struct dcv_dnsio_xchg *x)
{
	struct dcv_dnsio *io = x->io;

	if (!x->queued)
		return;
	if (x->qprev != NULL)
		x->qprev->qnext = x->qnext;
	else
		io->qhead = x->qnext;
	if (x->qnext != NULL)
		x->qnext->qprev = x->qprev;
	else
		io->qtail = x->qprev;
	x->qprev = x->qnext = NULL;
	x->queued = false;
}

static void close_handles(struct dcv_dnsio_xchg *x)
{
	if (!uv_is_closing((uv_handle_t *)&x->deadline))
		uv_close((uv_handle_t *)&x->deadline, dnsio_close_cb);
	if (!uv_is_closing((uv_handle_t *)&x->timer))
		uv_close((uv_handle_t *)&x->timer, dnsio_close_cb);
	/* The ID (or the place in the parked list) is free for others at once. */
	dnsio_udp_detach(x);
	if (x->tcp_open) {
		x->tcp_open = false;
		uv_close((uv_handle_t *)&x->t->tcp, dnsio_tcp_close_cb);
	}
}

void dnsio_finish(struct dcv_dnsio_xchg *x, int status, const struct dcv_why *why)
{
	if (x->finished)
		return;
	x->finished = true;
	x->status = status;
	if (why != &x->why)
		x->why = *why;
	queue_remove(x);
	close_handles(x);
}

void dnsio_fail(struct dcv_dnsio_xchg *x, int status, const char *what, int uverr)
{
	struct dcv_why why;

	dcv_why_set(&why, "%s: %s: %s", x->server.text, what, uv_strerror(uverr));
	dnsio_finish(x, status, &why);
}

static const char *tries(unsigned n)
{
	return n == 1 ? "try" : "tries";
}

void dnsio_give_up(struct dcv_dnsio_xchg *x)
{
	struct dcv_dnsio *io = x->io;
	struct dcv_why why;
	double s = dnsio_elapsed(x);

	if (x->rejected < 0) {
		dnsio_finish(x, x->rejected, &x->why);
		return;
	}
	if (x->net_error != 0) {
		dnsio_finish(x, DCV_ENET, &x->why);
		return;
	}
	if (x->udp_tries + x->tcp_tries == 0 && x->phase == P_PARKED && x->keep_id)
		dcv_why_set(&why,
		            "%s: not sent within %.1f s: its message ID (kept, the query is "
		            "signed) was in use on every UDP socket to this server",
		            x->server.text, s);
	else if (x->udp_tries + x->tcp_tries == 0 && x->phase == P_PARKED)
		dcv_why_set(&why,
		            "%s: not sent within %.1f s (%u queries to this server were awaiting "
		            "replies)",
		            x->server.text, s, io->opts.udp_window);
	else if (x->udp_tries + x->tcp_tries == 0)
		dcv_why_set(&why, "%s: not sent within %.1f s (%u exchanges were in flight)",
		            x->server.text, s, io->opts.max_inflight);
	else if (x->tcp_tries == 0)
		dcv_why_set(&why, "%s: no reply after %u %s (%.1f s)", x->server.text, x->udp_tries,
		            tries(x->udp_tries), s);
	else if (x->udp_tries == 0)
		dcv_why_set(&why, "%s: no reply over TCP after %u %s (%.1f s)", x->server.text,
		            x->tcp_tries, tries(x->tcp_tries), s);
	else
		dcv_why_set(&why, "%s: no reply after %u UDP %s and %u TCP %s (%.1f s)",
		            x->server.text, x->udp_tries, tries(x->udp_tries), x->tcp_tries,
		            tries(x->tcp_tries), s);
	io->stats.timeouts++;
	dnsio_finish(x, DCV_ETIMEOUT, &why);
}

void dnsio_net_error(struct dcv_dnsio_xchg *x, int uverr, const char *detail)
{
	x->net_error = uverr;
	x->io->stats.net_errors++;
	/* A rejection says more than a network error: it keeps its place. */
	if (x->rejected == 0)
		dcv_why_set(&x->why, "%s: %s", x->server.text,
		            detail ? detail : uv_strerror(uverr));
}

uint64_t dnsio_pause_ms(struct dcv_dnsio_xchg *x, unsigned tries_made)
{
	uint64_t ms = x->io->opts.udp_timeout_ms;

	for (unsigned i = 1; i < tries_made && ms < DNSIO_TRY_MS_MAX; i++)
		ms *= 2;
	return dnsio_jitter(x->io, ms / 4);
}

bool dnsio_matches(struct dcv_dnsio_xchg *x, const uint8_t *msg, size_t len)
{
	const uint8_t *q = x->wire + 2;

	return len >= DCV_WIRE_HEADER && DCV_WIRE_QR(msg) && DCV_WIRE_ID(msg) == DCV_WIRE_ID(q) &&
	       DCV_WIRE_OPCODE(msg) == DCV_WIRE_OPCODE(q) &&
	       dcv_wire_same_question(q, x->len, msg, len);
}

void dnsio_consider(struct dcv_dnsio_xchg *x, uint8_t *msg, size_t len)
{
	struct dcv_dnsio *io = x->io;
	int rc = 0;

	/* The ID dnsio chose for UDP is its own business: callers see theirs. */
	dcv_wire_put16(msg, x->caller_id);
	if (x->accept != NULL) {
		io->accepting = x;
		dcv_why_clear(&io->accept_why);
		rc = x->accept(x->arg, msg, len);
		io->accepting = NULL;
		/* The callback may have canceled the exchange or closed io. */
		if (x->finished)
			return;
		if (rc < 0) {
			io->stats.rejected++;
			x->rejected = rc;
			if (io->accept_why.text[0] != '\0')
				dcv_why_set(&x->why, "%s: %s", x->server.text, io->accept_why.text);
			else
				dcv_why_set(&x->why, "%s: reply rejected: %s", x->server.text,
				            dcv_strerror(rc));
			return;
		}
	}
	/*
	 * Accepted. Handles are closed first so that whatever done does (start
	 * exchanges, cancel, close io) finds this one over; msg stays valid
	 * because nothing is freed before the close callbacks.
	 */
	x->finished = true;
	x->delivered = true;
	x->status = DCV_OK;
	io->pending--;
	close_handles(x);
	dcv_why_clear(&x->why);
	x->done(x->arg, DCV_OK, msg, len, &x->why);
}

static void on_timer(uv_timer_t *t)
{
	struct dcv_dnsio_xchg *x = t->data;

	if (x->finished)
		return;
	if (x->state == X_UDP) {
		dnsio_udp_timer(x);
	} else if (x->state == X_TCP) {
		dnsio_tcp_timer(x);
	}
}

void dnsio_timer_start(struct dcv_dnsio_xchg *x, uint64_t ms)
{
	uv_timer_start(&x->timer, on_timer, ms, 0);
}

static void on_deadline(uv_timer_t *t)
{
	struct dcv_dnsio_xchg *x = t->data;

	if (!x->finished)
		dnsio_give_up(x);
}

/* ---- the queue and the API ---- */

/* UDP takes its slot once it has a place in its channel (dnsio_udp.c). */
static void start(struct dcv_dnsio_xchg *x)
{
	if (x->len > DNSIO_UDP_QUERY_MAX || (x->flags & DCV_DNSIO_TCP)) {
		dnsio_take_slot(x);
		dnsio_tcp_start(x);
	} else {
		dnsio_udp_start(x);
	}
}

void dnsio_on_kick(uv_idle_t *h)
{
	struct dcv_dnsio *io = h->data;
	struct dcv_dnsio_xchg *x;

	dnsio_unpark(io);
	while (io->qhead != NULL && io->inflight < io->opts.max_inflight && !io->closing) {
		x = io->qhead;
		queue_remove(x);
		start(x);
	}
	/* A slot freed (release) or an ID freed (chan_wake) starts it again. */
	if (io->closing || io->inflight >= io->opts.max_inflight ||
	    (io->qhead == NULL && io->unpark == NULL))
		uv_idle_stop(h);
}

void dnsio_maybe_free(struct dcv_dnsio *io)
{
	void (*closed)(void *) = io->closed;
	void *arg = io->closed_arg;

	if (!io->closing || !io->kick_closed || !io->sweep_closed || io->all != NULL ||
	    io->chans_alive > 0)
		return;
	free(io->rbuf);
	free(io);
	if (closed != NULL)
		closed(arg);
}

static void kick_closed(uv_handle_t *h)
{
	struct dcv_dnsio *io = h->data;

	io->kick_closed = true;
	dnsio_maybe_free(io);
}

static void sweep_closed(uv_handle_t *h)
{
	struct dcv_dnsio *io = h->data;

	io->sweep_closed = true;
	dnsio_maybe_free(io);
}

struct dcv_dnsio *dcv_dnsio_new(uv_loop_t *loop, const struct dcv_dnsio_opts *opts)
{
	struct dcv_dnsio *io = calloc(1, sizeof(*io));

	if (io == NULL)
		return NULL;
	/* Only the pages that datagrams fill are ever touched. */
	io->rbuf = malloc((size_t)DNSIO_RECV_BATCH * DNSIO_RECV_CHUNK);
	if (io->rbuf == NULL) {
		free(io);
		return NULL;
	}
	io->loop = loop;
	if (opts != NULL)
		io->opts = *opts;
	if (io->opts.max_inflight == 0)
		io->opts.max_inflight = DEFAULT_MAX_INFLIGHT;
	if (io->opts.udp_timeout_ms == 0)
		io->opts.udp_timeout_ms = 500;
	if (io->opts.udp_tries == 0)
		io->opts.udp_tries = 4;
	if (io->opts.tcp_timeout_ms == 0)
		io->opts.tcp_timeout_ms = 5000;
	if (io->opts.tcp_tries == 0)
		io->opts.tcp_tries = 2;
	if (io->opts.udp_sockets == 0)
		io->opts.udp_sockets = DEFAULT_UDP_SOCKETS;
	if (io->opts.idle_ms == 0)
		io->opts.idle_ms = DEFAULT_IDLE_MS;
	if (io->opts.udp_window == 0)
		io->opts.udp_window = DEFAULT_UDP_WINDOW;
	io->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)io) | 1;
	/* The first call of the CSPRNG is slow: not inside a loop turn that starts timers. */
	dnsio_fill_ids(io);
	uv_idle_init(loop, &io->kick);
	io->kick.data = io;
	/* Idle channels are no reason to keep the loop running. */
	uv_timer_init(loop, &io->sweep);
	io->sweep.data = io;
	uv_unref((uv_handle_t *)&io->sweep);
	return io;
}

int dcv_dnsio_exchange(struct dcv_dnsio *io, const struct dcv_addr *server, const uint8_t *query,
                       size_t len, unsigned flags, uint64_t timeout_ms, dcv_dnsio_accept_cb accept,
                       dcv_dnsio_done_cb done, void *arg, struct dcv_dnsio_xchg **xchg)
{
	struct dcv_dnsio_xchg *x = NULL;
	int rc = DCV_EINVAL;

	if (io == NULL || io->closing || server == NULL || query == NULL || done == NULL ||
	    len < DCV_WIRE_HEADER || len > 65535 ||
	    (server->ss.ss_family != AF_INET && server->ss.ss_family != AF_INET6))
		goto out;
	rc = DCV_ENOMEM;
	x = calloc(1, sizeof(*x) + len + 2);
	if (x == NULL)
		goto out;
	/* The TCP length prefix sits before the query; UDP sends from wire + 2. */
	x->wire = x->wire_buf;
	dcv_wire_put16(x->wire, (uint16_t)len);
	memcpy(x->wire + 2, query, len);
	x->io = io;
	x->server = *server;
	x->len = len;
	x->flags = flags;
	x->caller_id = DCV_WIRE_ID(query);
	x->keep_id = dnsio_has_tsig(query, len);
	x->started = uv_now(io->loop);
	x->accept = accept;
	x->done = done;
	x->arg = arg;
	x->state = X_QUEUED;
	uv_timer_init(io->loop, &x->deadline);
	uv_timer_init(io->loop, &x->timer);
	x->deadline.data = x;
	x->timer.data = x;
	x->handles = 2;
	if (timeout_ms > 0)
		uv_timer_start(&x->deadline, on_deadline, timeout_ms, 0);
	x->next = io->all;
	if (io->all != NULL)
		io->all->prev = x;
	io->all = x;
	x->queued = true;
	x->qprev = io->qtail;
	if (io->qtail != NULL)
		io->qtail->qnext = x;
	else
		io->qhead = x;
	io->qtail = x;
	io->pending++;
	io->stats.started++;
	if (io->inflight < io->opts.max_inflight)
		uv_idle_start(&io->kick, dnsio_on_kick);
	if (xchg != NULL)
		*xchg = x;
	x = NULL;
	rc = DCV_OK;
out:
	free(x);
	return rc;
}

void dcv_dnsio_cancel(struct dcv_dnsio_xchg *x)
{
	struct dcv_why why;

	if (x == NULL || x->delivered)
		return;
	dcv_why_set(&why, "%s: canceled", x->server.text);
	if (x->finished) {
		/* Over but not yet reported: report the cancel, as promised. */
		x->status = DCV_ECANCELED;
		x->why = why;
		return;
	}
	dnsio_finish(x, DCV_ECANCELED, &why);
}

uv_loop_t *dcv_dnsio_loop(const struct dcv_dnsio *io)
{
	return io->loop;
}

size_t dcv_dnsio_pending(const struct dcv_dnsio *io)
{
	return io->pending;
}

void dcv_dnsio_reject_why(struct dcv_dnsio *io, const char *fmt, ...)
{
	va_list ap;

	if (io == NULL || io->accepting == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(io->accept_why.text, sizeof(io->accept_why.text), fmt, ap);
	va_end(ap);
}

void dcv_dnsio_get_stats(const struct dcv_dnsio *io, struct dcv_dnsio_stats *out)
{
	*out = io->stats;
	out->inflight = io->inflight;
	out->channels = io->nchans;
	out->sockets = io->sockets;
}

void dcv_dnsio_close(struct dcv_dnsio *io, void (*closed)(void *arg), void *arg)
{
	if (io == NULL || io->closing)
		return;
	io->closing = true;
	io->closed = closed;
	io->closed_arg = arg;
	for (struct dcv_dnsio_xchg *x = io->all; x != NULL; x = x->next)
		dcv_dnsio_cancel(x);
	/* Every exchange has let go of its channel: close them all. */
	dnsio_chans_close(io);
	uv_close((uv_handle_t *)&io->kick, kick_closed);
	uv_close((uv_handle_t *)&io->sweep, sweep_closed);
}
