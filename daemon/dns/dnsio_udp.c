/*
 * dnsio_udp.c -- the UDP half of an exchange (see dnsio.h): channels of
 * shared connected sockets per server address, message IDs, replies matched
 * by socket and ID, tries and their failures.
 *
 * An exchange's UDP life: dnsio_udp_start() places it -- a socket of the
 * server's channel and an ID that no other exchange holds there -- or parks
 * it in the channel until one is free. A placed exchange keeps its socket
 * and ID for all its tries, so a late reply to an earlier try still counts;
 * dnsio_udp_detach() gives both up when it ends or moves to TCP.
 *
 * Sockets are read with recvmmsg into the one buffer of io: libuv hands
 * over every datagram of a batch before it reads again, and each is done
 * with before the next (the reply handed to a callback is valid only during
 * the call). A socket closed in the middle of a batch (its channel or io
 * closing from a done callback) ignores the rest of the batch.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "dnsio_int.h"
#include "query.h"
#include "wire.h"

#define ID_SPACE 65536u
#define TABLE_BITS_MIN 4
#define TABLE_BITS_MAX 16
/* Random probes for a free ID before walking the table (only when nearly full). */
#define ID_PROBES 32
/* Asked for each socket; the kernel caps it at net.core.rmem_max. */
#define RECV_BUFFER (1 << 20)

static void udp_send_try(struct dcv_dnsio_xchg *x);

/* ---- message IDs ---- */

/* IDs are what keeps off-path attackers from forging replies: the CSPRNG, in batches. */
void dnsio_fill_ids(struct dcv_dnsio *io)
{
	if (RAND_bytes((unsigned char *)io->ids, sizeof(io->ids)) != 1)
		for (unsigned i = 0; i < DNSIO_ID_POOL; i++)
			io->ids[i] = (uint16_t)(dnsio_random(io) >> 20);
	io->nids = DNSIO_ID_POOL;
}

static uint16_t random_id(struct dcv_dnsio *io)
{
	if (io->nids == 0)
		dnsio_fill_ids(io);
	return io->ids[--io->nids];
}

static unsigned id_bucket(const struct dnsio_sock *s, uint16_t id)
{
	/* 40503 is odd: the product permutes the IDs and mixes them into the top bits. */
	return (((unsigned)id * 40503u) & 0xffffu) >> (16 - s->bits);
}

static struct dcv_dnsio_xchg *id_find(const struct dnsio_sock *s, uint16_t id)
{
	struct dcv_dnsio_xchg *x = s->buckets[id_bucket(s, id)];

	while (x != NULL && x->id != id)
		x = x->id_next;
	return x;
}

/* Doubles the buckets when they are fewer than the entries; without memory, chains grow. */
static void id_grow(struct dnsio_sock *s)
{
	unsigned n = 1u << s->bits;
	struct dcv_dnsio_xchg **old = s->buckets, *x, *next;

	if (s->bits >= TABLE_BITS_MAX || s->count < n)
		return;
	s->buckets = calloc((size_t)n * 2, sizeof(*s->buckets));
	if (s->buckets == NULL) {
		s->buckets = old;
		return;
	}
	s->bits++;
	for (unsigned i = 0; i < n; i++)
		for (x = old[i]; x != NULL; x = next) {
			unsigned b = id_bucket(s, x->id);
			next = x->id_next;
			x->id_next = s->buckets[b];
			s->buckets[b] = x;
		}
	free(old);
}

static void id_add(struct dnsio_sock *s, struct dcv_dnsio_xchg *x)
{
	unsigned b;

	id_grow(s);
	x->id = DCV_WIRE_ID(x->wire + 2);
	b = id_bucket(s, x->id);
	x->id_next = s->buckets[b];
	s->buckets[b] = x;
	x->sock = s;
	s->count++;
	s->ch->placed++;
}

static void id_remove(struct dcv_dnsio_xchg *x)
{
	struct dnsio_sock *s = x->sock;
	struct dcv_dnsio_xchg **pp = &s->buckets[id_bucket(s, x->id)];

	while (*pp != x)
		pp = &(*pp)->id_next;
	*pp = x->id_next;
	x->id_next = NULL;
	x->sock = NULL;
	s->count--;
	s->ch->placed--;
}

/* A random ID nobody holds on s (s->count is below ID_SPACE). */
static uint16_t free_id(struct dcv_dnsio *io, const struct dnsio_sock *s)
{
	uint16_t id = 0;

	for (unsigned i = 0; i < ID_PROBES; i++) {
		id = random_id(io);
		if (id_find(s, id) == NULL)
			return id;
	}
	while (id_find(s, id) != NULL)
		id++;
	return id;
}

/* The last record of the message is a TSIG (then the ID is signed). */
bool dnsio_has_tsig(const uint8_t *msg, size_t len)
{
	struct dcv_wire_rr rr = {0};
	size_t off = 0, total;

	if (len < DCV_WIRE_HEADER || DCV_WIRE_ARCOUNT(msg) == 0 ||
	    dcv_wire_after_question(msg, len, &off) < 0)
		return false;
	total = (size_t)DCV_WIRE_ANCOUNT(msg) + DCV_WIRE_NSCOUNT(msg) + DCV_WIRE_ARCOUNT(msg);
	for (size_t i = 0; i < total; i++)
		if (dcv_wire_read_rr(msg, len, &off, &rr) < 0)
			return false;
	return rr.type == DCV_TYPE_TSIG;
}

/* ---- channels and their sockets ---- */

static unsigned addr_hash(const struct dcv_addr *a)
{
	const uint8_t *p;
	size_t n;
	unsigned h = 2166136261u;

	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&a->ss;
		p = (const uint8_t *)&in6->sin6_addr;
		n = sizeof(in6->sin6_addr);
		h = (h ^ in6->sin6_port) * 16777619u;
	} else {
		const struct sockaddr_in *in = (const void *)&a->ss;
		p = (const uint8_t *)&in->sin_addr;
		n = sizeof(in->sin_addr);
		h = (h ^ in->sin_port) * 16777619u;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u; /* FNV-1a */
	return h;
}

static void chan_free(struct dnsio_chan *ch)
{
	struct dcv_dnsio *io = ch->io;

	free(ch->socks);
	free(ch);
	io->chans_alive--;
	if (io->closing)
		dnsio_maybe_free(io);
}

static void sock_closed(uv_handle_t *h)
{
	struct dnsio_sock *s = h->data;
	struct dnsio_chan *ch = s->ch;

	free(s->buckets);
	free(s);
	if (--ch->handles == 0 && ch->closing)
		chan_free(ch);
}

/* Queued sends are canceled (their callbacks run) before sock_closed. */
static void sock_close(struct dnsio_sock *s)
{
	if (s->counted)
		s->ch->io->sockets--;
	s->counted = false;
	s->closing = true;
	uv_close((uv_handle_t *)&s->udp, sock_closed);
}

static void chan_close(struct dnsio_chan *ch)
{
	struct dcv_dnsio *io = ch->io;
	struct dnsio_chan **pp = &io->chans[ch->hash % DNSIO_CHAN_BUCKETS];

	while (*pp != ch)
		pp = &(*pp)->hnext;
	*pp = ch->hnext;
	io->nchans--;
	if (ch->unpark) {
		for (pp = &io->unpark; *pp != ch; pp = &(*pp)->unext)
			;
		*pp = ch->unext;
		ch->unpark = false;
	}
	ch->closing = true;
	for (unsigned i = 0; i < io->opts.udp_sockets; i++)
		if (ch->socks[i] != NULL) {
			sock_close(ch->socks[i]);
			ch->socks[i] = NULL;
		}
	if (ch->handles == 0)
		chan_free(ch);
}

void dnsio_chans_close(struct dcv_dnsio *io)
{
	for (unsigned b = 0; b < DNSIO_CHAN_BUCKETS; b++)
		while (io->chans[b] != NULL)
			chan_close(io->chans[b]);
}

void dnsio_sweep(uv_timer_t *t)
{
	struct dcv_dnsio *io = t->data;
	uint64_t now = uv_now(io->loop);

	for (unsigned b = 0; b < DNSIO_CHAN_BUCKETS; b++)
		for (struct dnsio_chan **pp = &io->chans[b]; *pp != NULL;) {
			struct dnsio_chan *ch = *pp;
			if (ch->users == 0 && now - ch->idle_since >= io->opts.idle_ms)
				chan_close(ch); /* *pp is the next one now */
			else
				pp = &ch->hnext;
		}
	if (io->nchans == 0)
		uv_timer_stop(&io->sweep);
}

static struct dnsio_chan *chan_get(struct dcv_dnsio *io, const struct dcv_addr *server)
{
	unsigned h = addr_hash(server);
	struct dnsio_chan *ch = io->chans[h % DNSIO_CHAN_BUCKETS];
	uint64_t every = io->opts.idle_ms / 2 > 0 ? io->opts.idle_ms / 2 : 1;

	while (ch != NULL && (ch->hash != h ||
	                      !dcv_addr_equal(&ch->server, (const struct sockaddr *)&server->ss)))
		ch = ch->hnext;
	if (ch != NULL)
		return ch;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return NULL;
	ch->socks = calloc(io->opts.udp_sockets, sizeof(*ch->socks));
	if (ch->socks == NULL) {
		free(ch);
		return NULL;
	}
	ch->io = io;
	ch->server = *server;
	ch->hash = h;
	ch->idle_since = uv_now(io->loop);
	ch->hnext = io->chans[h % DNSIO_CHAN_BUCKETS];
	io->chans[h % DNSIO_CHAN_BUCKETS] = ch;
	io->nchans++;
	io->chans_alive++;
	if (!uv_is_active((uv_handle_t *)&io->sweep))
		uv_timer_start(&io->sweep, dnsio_sweep, every, every);
	return ch;
}

/* Parked exchanges of ch may fit now: the kick tries them from the loop. */
static void chan_wake(struct dnsio_chan *ch)
{
	struct dcv_dnsio *io = ch->io;

	if (ch->phead == NULL || ch->unpark || ch->closing || io->closing)
		return;
	ch->unpark = true;
	ch->unext = io->unpark;
	io->unpark = ch;
	uv_idle_start(&io->kick, dnsio_on_kick);
}

/* ---- receiving ---- */

static void sock_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct dnsio_sock *s = h->data;

	buf->base = (char *)s->ch->io->rbuf;
	buf->len = (size_t)DNSIO_RECV_BATCH * DNSIO_RECV_CHUNK;
}

/* An error of the current try (ICMP, failed send): end it, pause, retry. */
static void try_failed(struct dcv_dnsio_xchg *x, int uverr)
{
	if (x->finished || x->state != X_UDP || x->phase != P_WAIT)
		return;
	dnsio_net_error(x, uverr, NULL);
	if (x->udp_tries >= x->io->opts.udp_tries) {
		dnsio_give_up(x);
		return;
	}
	x->phase = P_PAUSE;
	dnsio_timer_start(x, dnsio_pause_ms(x, x->udp_tries));
}

/*
 * An error reported on the socket (ICMP refused or unreachable): a shared
 * connected socket cannot tell which datagram it answers, and the server or
 * the path fails them all alike, so every exchange waiting for a reply here
 * loses its try. They are collected first: failing one changes the table.
 */
static void sock_error(struct dnsio_sock *s, int uverr)
{
	struct dcv_dnsio_xchg *list = NULL, *x;

	for (unsigned b = 0; b < (1u << s->bits); b++)
		for (x = s->buckets[b]; x != NULL; x = x->id_next)
			if (x->phase == P_WAIT) {
				x->fail_next = list;
				list = x;
			}
	while (list != NULL) {
		x = list;
		list = x->fail_next;
		x->fail_next = NULL;
		try_failed(x, uverr);
	}
}

static void sock_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                      unsigned flags)
{
	struct dnsio_sock *s = h->data;
	struct dcv_dnsio *io = s->ch->io;
	uint8_t *msg = (uint8_t *)buf->base;
	size_t len = nread > 0 ? (size_t)nread : 0;
	struct dcv_dnsio_xchg *x;

	if (s->closing)
		return;
	if (nread < 0) {
		sock_error(s, (int)nread);
		return;
	}
	if (from == NULL)
		return; /* nothing (more) to read, or the end of a batch */
	if ((flags & UV_UDP_PARTIAL) || len < DCV_WIRE_HEADER ||
	    !dcv_addr_equal(&s->ch->server, from)) {
		io->stats.dropped++;
		return;
	}
	x = id_find(s, DCV_WIRE_ID(msg));
	if (x == NULL) {
		io->stats.dropped++;
		io->stats.stale++;
		return;
	}
	if (!dnsio_matches(x, msg, len)) {
		io->stats.dropped++;
		return;
	}
	if (DCV_WIRE_TC(msg)) {
		/* Truncated: the same query again over TCP, UDP is done. */
		io->stats.truncated++;
		dnsio_udp_detach(x);
		uv_timer_stop(&x->timer);
		dnsio_tcp_start(x);
		return;
	}
	dnsio_consider(x, msg, len);
}

/* ---- placing exchanges, sending ---- */

/*
 * Opens slot i of ch: bound to a random port, connected to the server.
 * On failure *status and *what say how the exchange ends (what NULL: the
 * connect failed, a network error).
 */
static int sock_open(struct dnsio_chan *ch, unsigned i, int *status, const char **what)
{
	struct dcv_dnsio *io = ch->io;
	struct dnsio_sock *s = calloc(1, sizeof(*s));
	struct sockaddr_storage any;
	int family = ch->server.ss.ss_family, big = RECV_BUFFER, rc = UV_ENOMEM;

	*status = DCV_ENOMEM;
	*what = "cannot open a UDP socket";
	if (s == NULL)
		goto out;
	s->bits = TABLE_BITS_MIN;
	s->buckets = calloc(1u << TABLE_BITS_MIN, sizeof(*s->buckets));
	if (s->buckets == NULL)
		goto out;
	*status = DCV_EIO;
	rc = uv_udp_init_ex(io->loop, &s->udp, (unsigned)family | UV_UDP_RECVMMSG);
	if (rc < 0)
		goto out;
	s->ch = ch;
	s->udp.data = s;
	ch->handles++;
	uv_unref((uv_handle_t *)&s->udp);
	memset(&any, 0, sizeof(any));
	any.ss_family = (sa_family_t)family;
	rc = uv_udp_bind(&s->udp, (const struct sockaddr *)&any, 0);
	if (rc == 0) {
		/* Room for a burst of replies; a failure only leaves the default. */
		(void)uv_recv_buffer_size((uv_handle_t *)&s->udp, &big);
		rc = uv_udp_connect(&s->udp, (const struct sockaddr *)&ch->server.ss);
		if (rc < 0) {
			*status = DCV_ENET;
			*what = NULL;
		}
	}
	if (rc == 0) {
		rc = uv_udp_recv_start(&s->udp, sock_alloc, sock_recv);
		*what = "cannot read from a UDP socket";
	}
	if (rc < 0) {
		s->closing = true;
		uv_close((uv_handle_t *)&s->udp, sock_closed);
		s = NULL;
		goto out;
	}
	s->counted = true;
	io->sockets++;
	io->stats.udp_sockets++;
	ch->socks[i] = s;
	s = NULL;
out:
	if (s != NULL)
		free(s->buckets);
	free(s);
	return rc;
}

/*
 * Finds x a socket of its channel and an ID free there (x's own if it is
 * signed), starting at a random socket and opening a slot not yet open.
 * Returns 1 when placed, 0 when no socket can take it now, -1 when the
 * exchange has failed (no socket could be opened and no open one fits).
 */
static int place(struct dcv_dnsio_xchg *x)
{
	struct dcv_dnsio *io = x->io;
	struct dnsio_chan *ch = x->ch;
	unsigned n = io->opts.udp_sockets, first = (unsigned)(dnsio_random(io) % n);
	int rc = 0, status = DCV_OK;
	const char *what = NULL;

	if (ch->placed >= io->opts.udp_window)
		return 0;
	for (unsigned k = 0; k < n; k++) {
		unsigned i = (first + k) % n;
		struct dnsio_sock *s = ch->socks[i];
		if (s == NULL) {
			/* One failure is enough to tell: the others would fail alike. */
			if (rc < 0 || (rc = sock_open(ch, i, &status, &what)) < 0)
				continue;
			s = ch->socks[i];
		}
		if (s->count >= ID_SPACE || (x->keep_id && id_find(s, x->caller_id) != NULL))
			continue;
		if (!x->keep_id)
			dcv_wire_put16(x->wire + 2, free_id(io, s));
		id_add(s, x);
		return 1;
	}
	if (rc == 0)
		return 0;
	if (what != NULL) {
		dnsio_fail(x, status, what, rc);
	} else {
		dnsio_net_error(x, rc, NULL);
		dnsio_finish(x, DCV_ENET, &x->why);
	}
	return -1;
}

static void park(struct dcv_dnsio_xchg *x)
{
	struct dnsio_chan *ch = x->ch;

	x->phase = P_PARKED;
	x->pnext = NULL;
	x->pprev = ch->ptail;
	if (ch->ptail != NULL)
		ch->ptail->pnext = x;
	else
		ch->phead = x;
	ch->ptail = x;
}

static void unlink_parked(struct dcv_dnsio_xchg *x)
{
	struct dnsio_chan *ch = x->ch;

	if (x->pprev != NULL)
		x->pprev->pnext = x->pnext;
	else
		ch->phead = x->pnext;
	if (x->pnext != NULL)
		x->pnext->pprev = x->pprev;
	else
		ch->ptail = x->pprev;
	x->pprev = x->pnext = NULL;
	x->phase = P_WAIT;
}

void dnsio_udp_start(struct dcv_dnsio_xchg *x)
{
	struct dcv_dnsio *io = x->io;
	struct dcv_why why;
	int rc;

	x->state = X_UDP;
	x->phase = P_WAIT;
	x->ch = chan_get(io, &x->server);
	if (x->ch == NULL) {
		dcv_why_set(&why, "%s: no memory for a UDP channel", x->server.text);
		dnsio_finish(x, DCV_ENOMEM, &why);
		return;
	}
	x->ch->users++;
	/* Behind those already waiting, if any: they go first. */
	rc = x->ch->phead == NULL ? place(x) : 0;
	if (rc > 0) {
		dnsio_take_slot(x);
		udp_send_try(x);
	} else if (rc == 0) {
		/* Waiting here is not being in flight: it takes no slot. */
		io->stats.parked++;
		park(x);
		chan_wake(x->ch);
	}
}

void dnsio_unpark(struct dcv_dnsio *io)
{
	struct dnsio_chan *ch;
	struct dcv_dnsio_xchg *x, *next;

	/* Without a free slot, release() starts the kick again when one frees. */
	while ((ch = io->unpark) != NULL && io->inflight < io->opts.max_inflight) {
		io->unpark = ch->unext;
		ch->unext = NULL;
		ch->unpark = false;
		/*
		 * In order, as long as the window has room; one that cannot go
		 * (its signed ID is taken everywhere) stays and lets the next
		 * one pass. A failure unlinks x itself (dnsio_udp_detach).
		 */
		for (x = ch->phead; x != NULL && ch->placed < io->opts.udp_window; x = next) {
			if (io->inflight >= io->opts.max_inflight) {
				chan_wake(ch);
				break;
			}
			next = x->pnext;
			if (place(x) > 0) {
				unlink_parked(x);
				dnsio_take_slot(x);
				udp_send_try(x);
			}
		}
	}
}

void dnsio_udp_detach(struct dcv_dnsio_xchg *x)
{
	struct dnsio_chan *ch = x->ch;

	if (ch == NULL)
		return;
	if (x->sock != NULL) {
		id_remove(x);
		chan_wake(ch);
	} else if (x->phase == P_PARKED) {
		unlink_parked(x);
	}
	x->ch = NULL;
	if (--ch->users == 0)
		ch->idle_since = uv_now(x->io->loop);
}

static void udp_sent(uv_udp_send_t *req, int status)
{
	struct dcv_dnsio_xchg *x = req->data;
	struct dnsio_sock *s = req->handle->data;

	x->send_busy = false;
	if (status == UV_ECONNREFUSED && !s->closing)
		sock_error(s, status); /* an earlier refusal, reported by this send */
	else if (status < 0 && status != UV_ECANCELED)
		try_failed(x, status);
	dnsio_maybe_release(x);
}

static void udp_send_try(struct dcv_dnsio_xchg *x)
{
	struct dcv_dnsio *io = x->io;
	uv_buf_t buf = uv_buf_init((char *)x->wire + 2, (unsigned)x->len);
	int rc;

	if (x->udp_tries++ == 0)
		x->try_ms = io->opts.udp_timeout_ms;
	else if (x->try_ms < DNSIO_TRY_MS_MAX)
		x->try_ms *= 2;
	io->stats.udp_tries++;
	x->phase = P_WAIT;
	dnsio_timer_start(x, dnsio_jitter(io, x->try_ms));
	/*
	 * A datagram still queued in the socket (EAGAIN, ENOBUFS: libuv waits
	 * for the socket to become writable) goes out when it can; a second
	 * copy behind it would add nothing.
	 */
	if (x->send_busy)
		return;
	x->send_req.data = x;
	rc = uv_udp_send(&x->send_req, &x->sock->udp, &buf, 1, NULL, udp_sent);
	if (rc < 0)
		try_failed(x, rc);
	else
		x->send_busy = true;
}

void dnsio_udp_timer(struct dcv_dnsio_xchg *x)
{
	if (x->phase == P_PARKED)
		return;
	if (x->phase == P_PAUSE || x->udp_tries < x->io->opts.udp_tries)
		udp_send_try(x);
	else
		dnsio_give_up(x);
}
