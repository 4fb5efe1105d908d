/*
 * dnsio_tcp.c -- the TCP half of an exchange (RFC 7766): one connection per
 * try, the query behind its 2-byte length, the reply read as a 2-byte
 * length and then exactly that many bytes (at most 65535), however the
 * bytes are split across reads.
 *
 * The read buffers handed to libuv are the exact remainder of the length
 * prefix or of the message, so a read never takes bytes of the next message
 * and nothing needs to be moved around.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsio_int.h"
#include "wire.h"

/*
 * The current try is over (err 0: it timed out; otherwise a network error,
 * detail optional). Either give up or close this connection; its close
 * callback starts the pause before the next one.
 */
static void tcp_end_try(struct dcv_dnsio_xchg *x, int err, const char *detail)
{
	struct dcv_dnsio *io = x->io;

	if (x->finished || x->phase != P_WAIT)
		return;
	uv_timer_stop(&x->timer);
	if (err != 0)
		dnsio_net_error(x, err, detail);
	if (x->tcp_tries >= io->opts.tcp_tries) {
		dnsio_give_up(x);
		return;
	}
	/* A timed-out try has waited long enough; an error gets a pause. */
	x->retry_delay = err != 0 ? dnsio_pause_ms(x, x->tcp_tries) : 0;
	x->phase = P_CLOSING;
	x->tcp_open = false;
	uv_close((uv_handle_t *)&x->t->tcp, dnsio_tcp_close_cb);
}

void dnsio_tcp_close_cb(uv_handle_t *h)
{
	struct dcv_dnsio_xchg *x = h->data;

	if (!x->finished && x->phase == P_CLOSING) {
		x->phase = P_PAUSE;
		dnsio_timer_start(x, x->retry_delay);
	}
	dnsio_close_cb(h);
}

void dnsio_tcp_timer(struct dcv_dnsio_xchg *x)
{
	if (x->phase == P_PAUSE)
		dnsio_tcp_start(x);
	else
		tcp_end_try(x, 0, NULL);
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct dcv_dnsio_xchg *x = h->data;
	struct dnsio_tcp *t = x->t;

	if (t->lhave < 2) {
		buf->base = (char *)t->lenbuf + t->lhave;
		buf->len = 2 - t->lhave;
	} else {
		buf->base = (char *)t->rbuf + t->rhave;
		buf->len = t->rneed - t->rhave;
	}
}

/* The length prefix is complete: make room for the message. */
static int tcp_got_length(struct dcv_dnsio_xchg *x)
{
	struct dnsio_tcp *t = x->t;
	uint8_t *p;

	t->rneed = dcv_wire_u16(t->lenbuf);
	t->rhave = 0;
	if (t->rneed == 0) {
		/* An empty message: nothing to read, nothing to match. */
		x->io->stats.dropped++;
		t->lhave = 0;
		return DCV_OK;
	}
	if (t->rneed > t->rcap) {
		p = realloc(t->rbuf, t->rneed);
		if (p == NULL)
			return DCV_ENOMEM;
		t->rbuf = p;
		t->rcap = t->rneed;
	}
	return DCV_OK;
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct dcv_dnsio_xchg *x = s->data;
	struct dnsio_tcp *t = x->t;
	char detail[128];
	struct dcv_why why;

	if (x->finished || x->phase != P_WAIT || nread == 0)
		return;
	if (nread == UV_EOF) {
		if (t->lhave == 0)
			snprintf(detail, sizeof(detail), "connection closed before a usable reply");
		else
			snprintf(detail, sizeof(detail),
			         "connection closed in the middle of a reply (%zu of %zu bytes)",
			         t->lhave < 2 ? t->lhave : 2 + t->rhave,
			         t->lhave < 2 ? (size_t)2 : 2 + t->rneed);
		tcp_end_try(x, (int)nread, detail);
		return;
	}
	if (nread < 0) {
		tcp_end_try(x, (int)nread, NULL);
		return;
	}
	if (t->lhave < 2) {
		t->lhave += (size_t)nread;
		if (t->lhave == 2 && tcp_got_length(x) < 0) {
			dcv_why_set(&why, "%s: no memory for a %zu-byte reply", x->server.text,
			            t->rneed);
			dnsio_finish(x, DCV_ENOMEM, &why);
		}
		return;
	}
	t->rhave += (size_t)nread;
	if (t->rhave < t->rneed)
		return;
	/* A whole message; the next one (if the server sends more) starts afresh. */
	t->lhave = 0;
	if (!dnsio_matches(x, t->rbuf, t->rneed)) {
		x->io->stats.dropped++;
		return;
	}
	dnsio_consider(x, t->rbuf, t->rneed);
}

static void tcp_written(uv_write_t *req, int status)
{
	struct dcv_dnsio_xchg *x = req->data;

	if (status < 0 && status != UV_ECANCELED)
		tcp_end_try(x, status, NULL);
}

static void tcp_connected(uv_connect_t *req, int status)
{
	struct dcv_dnsio_xchg *x = req->data;
	uv_buf_t buf = uv_buf_init((char *)x->wire, (unsigned)(x->len + 2));
	int rc;

	/* UV_ECANCELED: the handle is closing, this try is already over. */
	if (status == UV_ECANCELED || x->finished || x->phase != P_WAIT)
		return;
	if (status < 0) {
		tcp_end_try(x, status, NULL);
		return;
	}
	x->t->write_req.data = x;
	rc = uv_write(&x->t->write_req, (uv_stream_t *)&x->t->tcp, &buf, 1, tcp_written);
	if (rc == 0)
		rc = uv_read_start((uv_stream_t *)&x->t->tcp, tcp_alloc, tcp_read);
	if (rc < 0)
		tcp_end_try(x, rc, NULL);
}

void dnsio_tcp_start(struct dcv_dnsio_xchg *x)
{
	struct dcv_dnsio *io = x->io;
	struct dnsio_tcp *t = x->t;
	struct dcv_why why;
	int rc;

	if (t == NULL) {
		t = x->t = calloc(1, sizeof(*t));
		if (t == NULL) {
			dcv_why_set(&why, "%s: no memory for a TCP connection", x->server.text);
			dnsio_finish(x, DCV_ENOMEM, &why);
			return;
		}
	}
	x->state = X_TCP;
	x->phase = P_WAIT;
	x->tcp_tries++;
	io->stats.tcp_tries++;
	t->lhave = 0;
	t->rhave = 0;
	t->rneed = 0;
	uv_tcp_init(io->loop, &t->tcp);
	t->tcp.data = x;
	x->handles++;
	x->tcp_open = true;
	dnsio_timer_start(x, io->opts.tcp_timeout_ms);
	t->connect_req.data = x;
	rc = uv_tcp_connect(&t->connect_req, &t->tcp, (const struct sockaddr *)&x->server.ss,
	                    tcp_connected);
	if (rc < 0)
		tcp_end_try(x, rc, NULL);
}
