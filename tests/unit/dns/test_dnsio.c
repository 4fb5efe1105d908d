/*
 * test_dnsio.c -- DNS exchanges against a fake responder on the same loop.
 *
 * The responder listens on 127.0.0.1 (or ::1), UDP and TCP on one
 * kernel-chosen port, and answers as each test tells it: good replies,
 * replies that must be ignored before the good one, truncated ones, replies
 * from another port, TCP replies dripped byte by byte, connections cut short,
 * or nothing. Its replies carry a marker (the last octet of the A record)
 * so a test sees which reply the exchange accepted. It notes the ID, the
 * query index and the source port of every query, so the tests of shared
 * sockets can count ports and check IDs on the wire. Time windows are wide
 * enough for valgrind, narrow enough to catch a wrong schedule.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "dnsio.h"
#include "testutil.h"
#include "tsig.h"
#include "wire.h"

enum { M_UDP = 1, M_TCP = 2, M_UDP2 = 3, M_BAD = 9 };

enum udp_mode {
	U_NORMAL,
	U_WRONG_ID_FIRST,
	U_WRONG_Q_FIRST,
	U_QR0_FIRST,
	U_JUNK_FIRST, /* 11 bytes, then a wrong opcode, then the good reply */
	U_WRONG_Q_ONLY,
	U_OTHER_PORT,
	U_TC,
	U_TWO, /* two good replies, markers M_UDP then M_UDP2 */
	U_SILENT,
};

enum tcp_mode {
	T_NORMAL,
	T_WRONG_ID_FIRST,
	T_SHORT_CLOSE, /* length prefix 100 bytes too large, then close */
	T_SILENT,
	T_CLOSE,       /* closes as soon as the query is in: not a byte of reply */
	T_RESET,       /* the same with a reset (RST): a read error, not EOF */
	T_EMPTY_FIRST, /* a message of length 0, then the reply */
	T_ONE_BYTE,    /* one byte of the length prefix, then close */
};

#define MAX_SEEN 4096

struct conn;

struct responder {
	uv_loop_t *loop;
	uv_udp_t udp, other;
	uv_tcp_t tcp;
	bool have_udp, have_other, have_tcp;
	unsigned open; /* handles not yet closed */
	struct dcv_addr addr;
	enum udp_mode udp_mode;
	enum tcp_mode tcp_mode;
	size_t tcp_chunk;   /* bytes per write; 0: the whole reply at once */
	unsigned tcp_gap;   /* ms between writes; 0: all in the same loop turn */
	unsigned udp_seen;  /* queries received over UDP */
	unsigned tcp_seen;  /* queries received over TCP */
	unsigned tcp_conns; /* connections accepted */
	/* Per query received, in order: its ID, its index i ("q<i>..."), its source port. */
	uint16_t ids[MAX_SEEN];
	unsigned idx[MAX_SEEN];
	unsigned ports[MAX_SEEN];
	size_t nids;
	unsigned port_of[MAX_SEEN]; /* per index: the source port of its last UDP query */
	struct dcv_addr other_addr; /* the address of the other port (never answers itself) */
	struct conn *conns;
};

struct conn {
	struct responder *r;
	struct conn *next;
	uv_tcp_t h;
	uv_timer_t drip;
	unsigned open;
	bool closing;
	uint8_t in[65600];
	size_t inlen;
	uint8_t *out;
	size_t outlen, outoff;
	bool close_after;
};

struct out_req {
	union {
		uv_udp_send_t udp;
		uv_write_t tcp;
	} req;
	struct conn *conn;
	bool last;
	size_t len;
	uint8_t data[];
};

/* ---- messages ---- */

/* A query for name/A with the given ID; pad > 0 adds an EDNS padding option. */
static size_t make_query(uint8_t *out, uint16_t id, const char *name, size_t pad)
{
	uint8_t wname[DCV_WIRE_NAME_MAX];
	size_t n = 0, off;

	assert_int_equal(dcv_wire_from_text(name, wname, &n), DCV_OK);
	memset(out, 0, DCV_WIRE_HEADER);
	dcv_wire_put16(out, id);
	dcv_wire_put16(out + 4, 1);
	memcpy(out + DCV_WIRE_HEADER, wname, n);
	off = DCV_WIRE_HEADER + n;
	dcv_wire_put16(out + off, 1);
	dcv_wire_put16(out + off + 2, 1);
	off += 4;
	if (pad > 0) {
		dcv_wire_put16(out + 10, 1);
		out[off] = 0;
		dcv_wire_put16(out + off + 1, 41);
		dcv_wire_put16(out + off + 3, 1232);
		memset(out + off + 5, 0, 4);
		dcv_wire_put16(out + off + 9, (uint16_t)(4 + pad));
		dcv_wire_put16(out + off + 11, 12);
		dcv_wire_put16(out + off + 13, (uint16_t)pad);
		memset(out + off + 15, 0, pad);
		off += 15 + pad;
	}
	return off;
}

enum variant { V_GOOD, V_WRONG_ID, V_WRONG_Q, V_QR0, V_OPCODE, V_TC };

/* The reply to q: header and question copied, one A record 192.0.2.<marker>. */
static size_t make_reply(const uint8_t *q, size_t qlen, uint8_t *out, uint8_t marker,
                         enum variant v)
{
	static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2};
	size_t end = 0;

	assert_int_equal(dcv_wire_after_question(q, qlen, &end), DCV_OK);
	memcpy(out, q, end);
	out[2] = (uint8_t)(out[2] | 0x84); /* QR, AA */
	out[3] = 0;
	dcv_wire_put16(out + 6, 1);
	dcv_wire_put16(out + 8, 0);
	dcv_wire_put16(out + 10, 0);
	memcpy(out + end, rr, sizeof(rr));
	out[end + sizeof(rr)] = marker;
	end += sizeof(rr) + 1;
	switch (v) {
	case V_GOOD:
		break;
	case V_WRONG_ID:
		dcv_wire_put16(out, (uint16_t)(DCV_WIRE_ID(q) ^ 0x5a5a));
		break;
	case V_WRONG_Q:
		out[DCV_WIRE_HEADER + 1] = out[DCV_WIRE_HEADER + 1] == 'z' ? 'y' : 'z';
		break;
	case V_QR0:
		out[2] &= 0x7f;
		break;
	case V_OPCODE:
		out[2] = (uint8_t)((out[2] & 0x87) | (5 << 3));
		break;
	case V_TC:
		out[2] |= 0x02;
		dcv_wire_put16(out + 6, 0);
		end -= sizeof(rr) + 1;
		break;
	}
	return end;
}

/* ---- the responder: UDP ---- */

static void resp_handle_closed(uv_handle_t *h)
{
	struct responder *r = h->data;

	r->open--;
}

static void out_sent_udp(uv_udp_send_t *req, int status)
{
	free(req);
}

static void udp_send_to(uv_udp_t *h, const struct sockaddr *to, const uint8_t *msg, size_t len)
{
	struct out_req *o = malloc(sizeof(*o) + len);
	uv_buf_t buf;

	assert_non_null(o);
	memcpy(o->data, msg, len);
	buf = uv_buf_init((char *)o->data, (unsigned)len);
	if (uv_udp_send(&o->req.udp, h, &buf, 1, to, out_sent_udp) != 0)
		free(o);
}

static void resp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static uint8_t udp_in[65536];

	buf->base = (char *)udp_in;
	buf->len = sizeof(udp_in);
}

/* The index i of a query for "q<i>.example.test" (UINT_MAX for another name). */
static unsigned query_index(const uint8_t *m, size_t len)
{
	unsigned i = 0, l = len > DCV_WIRE_HEADER ? m[DCV_WIRE_HEADER] : 0;

	if (l < 2 || len < DCV_WIRE_HEADER + 1 + l || m[DCV_WIRE_HEADER + 1] != 'q')
		return UINT_MAX;
	for (unsigned k = 2; k <= l; k++) {
		uint8_t c = m[DCV_WIRE_HEADER + k];
		if (c < '0' || c > '9')
			return UINT_MAX;
		i = i * 10 + (unsigned)(c - '0');
	}
	return i;
}

static unsigned sockaddr_port(const struct sockaddr *sa)
{
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
}

static void note_query(struct responder *r, const uint8_t *q, size_t len,
                       const struct sockaddr *from)
{
	unsigned i = query_index(q, len);

	if (from != NULL && i < MAX_SEEN)
		r->port_of[i] = sockaddr_port(from);
	if (r->nids < MAX_SEEN) {
		r->ids[r->nids] = DCV_WIRE_ID(q);
		r->idx[r->nids] = i;
		r->ports[r->nids] = sockaddr_port(from);
		r->nids++;
	}
}

static void resp_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                          const struct sockaddr *from, unsigned flags)
{
	struct responder *r = h->data;
	const uint8_t *q = (const uint8_t *)buf->base;
	uint8_t out[1024];
	size_t n;

	if (nread < DCV_WIRE_HEADER || from == NULL)
		return;
	r->udp_seen++;
	note_query(r, q, (size_t)nread, from);
	switch (r->udp_mode) {
	case U_WRONG_ID_FIRST:
	case U_WRONG_Q_FIRST:
	case U_QR0_FIRST:
		n = make_reply(q, (size_t)nread, out, M_BAD,
		               r->udp_mode == U_WRONG_ID_FIRST  ? V_WRONG_ID
		               : r->udp_mode == U_WRONG_Q_FIRST ? V_WRONG_Q
		                                                : V_QR0);
		udp_send_to(h, from, out, n);
		break;
	case U_JUNK_FIRST:
		n = make_reply(q, (size_t)nread, out, M_BAD, V_GOOD);
		udp_send_to(h, from, out, DCV_WIRE_HEADER - 1);
		n = make_reply(q, (size_t)nread, out, M_BAD, V_OPCODE);
		udp_send_to(h, from, out, n);
		break;
	case U_WRONG_Q_ONLY:
		n = make_reply(q, (size_t)nread, out, M_BAD, V_WRONG_Q);
		udp_send_to(h, from, out, n);
		return;
	case U_OTHER_PORT:
		n = make_reply(q, (size_t)nread, out, M_UDP, V_GOOD);
		udp_send_to(&r->other, from, out, n);
		return;
	case U_TC:
		n = make_reply(q, (size_t)nread, out, M_UDP, V_TC);
		udp_send_to(h, from, out, n);
		return;
	case U_TWO:
		n = make_reply(q, (size_t)nread, out, M_UDP, V_GOOD);
		udp_send_to(h, from, out, n);
		n = make_reply(q, (size_t)nread, out, M_UDP2, V_GOOD);
		udp_send_to(h, from, out, n);
		return;
	case U_SILENT:
		return;
	case U_NORMAL:
		break;
	}
	n = make_reply(q, (size_t)nread, out, M_UDP, V_GOOD);
	udp_send_to(h, from, out, n);
}

/* ---- the responder: TCP ---- */

static void conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct responder *r = c->r;

	if (--c->open > 0)
		return;
	for (struct conn **p = &r->conns; *p != NULL; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	free(c->out);
	free(c);
	r->open--;
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->h, conn_handle_closed);
	uv_close((uv_handle_t *)&c->drip, conn_handle_closed);
}

static void conn_written(uv_write_t *req, int status)
{
	struct out_req *o = (struct out_req *)req;

	if (o->last && o->conn->close_after)
		conn_close(o->conn);
	free(o);
}

static void conn_write(struct conn *c, const uint8_t *p, size_t n, bool last)
{
	struct out_req *o = malloc(sizeof(*o) + n);
	uv_buf_t buf;

	assert_non_null(o);
	memcpy(o->data, p, n);
	o->conn = c;
	o->last = last;
	buf = uv_buf_init((char *)o->data, (unsigned)n);
	if (uv_write(&o->req.tcp, (uv_stream_t *)&c->h, &buf, 1, conn_written) != 0)
		free(o);
}

/* Writes the next chunk of c->out; with a gap, the timer writes the rest. */
static void conn_drip(uv_timer_t *t)
{
	struct conn *c = t->data;
	size_t chunk = c->r->tcp_chunk ? c->r->tcp_chunk : c->outlen;

	while (c->outoff < c->outlen && !c->closing) {
		size_t n = c->outlen - c->outoff < chunk ? c->outlen - c->outoff : chunk;
		conn_write(c, c->out + c->outoff, n, c->outoff + n == c->outlen);
		c->outoff += n;
		if (c->r->tcp_gap > 0 && c->outoff < c->outlen) {
			uv_timer_start(&c->drip, conn_drip, c->r->tcp_gap, 0);
			return;
		}
	}
}

static void conn_queue(struct conn *c, const uint8_t *msg, size_t len, size_t claimed)
{
	uint8_t *p = realloc(c->out, c->outlen + 2 + len);

	assert_non_null(p);
	c->out = p;
	dcv_wire_put16(p + c->outlen, (uint16_t)claimed);
	memcpy(p + c->outlen + 2, msg, len);
	c->outlen += 2 + len;
}

static void conn_query(struct conn *c, const uint8_t *q, size_t len)
{
	struct responder *r = c->r;
	uint8_t out[70000];
	size_t n;

	r->tcp_seen++;
	note_query(r, q, len, NULL);
	switch (r->tcp_mode) {
	case T_SILENT:
		return;
	case T_CLOSE:
		conn_close(c);
		return;
	case T_RESET:
		if (!c->closing) {
			c->closing = true;
			uv_tcp_close_reset(&c->h, conn_handle_closed);
			uv_close((uv_handle_t *)&c->drip, conn_handle_closed);
		}
		return;
	case T_EMPTY_FIRST:
		conn_queue(c, out, 0, 0);
		break;
	case T_ONE_BYTE:
		conn_write(c, (const uint8_t[]){0}, 1, true);
		c->close_after = true;
		return;
	case T_WRONG_ID_FIRST:
		n = make_reply(q, len, out, M_BAD, V_WRONG_ID);
		conn_queue(c, out, n, n);
		break;
	case T_SHORT_CLOSE:
		n = make_reply(q, len, out, M_TCP, V_GOOD);
		conn_queue(c, out, n, n + 100);
		c->close_after = true;
		conn_drip(&c->drip);
		return;
	case T_NORMAL:
		break;
	}
	n = make_reply(q, len, out, M_TCP, V_GOOD);
	conn_queue(c, out, n, n);
	conn_drip(&c->drip);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	buf->base = (char *)c->in + c->inlen;
	buf->len = sizeof(c->in) - c->inlen;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	size_t need;

	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->inlen += (size_t)nread;
	while (c->inlen >= 2 && c->inlen >= 2 + (need = dcv_wire_u16(c->in))) {
		if (need >= DCV_WIRE_HEADER)
			conn_query(c, c->in + 2, need);
		memmove(c->in, c->in + 2 + need, c->inlen - 2 - need);
		c->inlen -= 2 + need;
	}
}

static void resp_connection(uv_stream_t *server, int status)
{
	struct responder *r = server->data;
	struct conn *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->r = r;
	uv_tcp_init(r->loop, &c->h);
	uv_timer_init(r->loop, &c->drip);
	c->h.data = c;
	c->drip.data = c;
	c->open = 2;
	c->next = r->conns;
	r->conns = c;
	r->open++;
	if (uv_accept(server, (uv_stream_t *)&c->h) != 0) {
		conn_close(c);
		return;
	}
	r->tcp_conns++;
	uv_tcp_nodelay(&c->h, 1);
	uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read);
}

/* ---- the responder: set-up ---- */

static void fill_sockaddr(int family, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((unsigned short)port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)port);
		in6->sin6_addr = in6addr_loopback;
		*len = sizeof(*in6);
	}
}

/*
 * Binds UDP and TCP to one free port of the loopback address (the kernel
 * picks the UDP port; TCP takes the same number, retried if taken).
 * Returns false when the family is not available.
 */
static bool responder_start(struct responder *r, uv_loop_t *loop, int family, bool with_tcp)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int ufd = -1, tfd = -1, one = 1, big = 4 << 20;

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	for (int attempt = 0; attempt < 20; attempt++) {
		ufd = socket(family, SOCK_DGRAM, 0);
		fill_sockaddr(family, 0, &ss, &len);
		/* Room for bursts (the kernel caps it at rmem_max). */
		if (ufd >= 0)
			setsockopt(ufd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		if (ufd < 0 || bind(ufd, (struct sockaddr *)&ss, len) != 0) {
			if (ufd >= 0)
				close(ufd);
			return false;
		}
		len = sizeof(ss);
		assert_int_equal(getsockname(ufd, (struct sockaddr *)&ss, &len), 0);
		dcv_addr_from_sockaddr((struct sockaddr *)&ss, &r->addr);
		if (!with_tcp)
			break;
		tfd = socket(family, SOCK_STREAM, 0);
		assert_true(tfd >= 0);
		setsockopt(tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(tfd, (struct sockaddr *)&ss, len) == 0 && listen(tfd, 128) == 0)
			break;
		close(tfd);
		close(ufd);
		tfd = ufd = -1;
	}
	assert_true(ufd >= 0);
	uv_udp_init(loop, &r->udp);
	r->udp.data = r;
	r->have_udp = true;
	r->open++;
	assert_int_equal(uv_udp_open(&r->udp, ufd), 0);
	assert_int_equal(uv_udp_recv_start(&r->udp, resp_alloc, resp_udp_recv), 0);
	uv_udp_init(loop, &r->other);
	r->other.data = r;
	r->have_other = true;
	r->open++;
	fill_sockaddr(family, 0, &ss, &len);
	assert_int_equal(uv_udp_bind(&r->other, (struct sockaddr *)&ss, 0), 0);
	len = sizeof(ss);
	assert_int_equal(uv_udp_getsockname(&r->other, (struct sockaddr *)&ss, (int *)&len), 0);
	dcv_addr_from_sockaddr((struct sockaddr *)&ss, &r->other_addr);
	if (with_tcp) {
		assert_true(tfd >= 0);
		uv_tcp_init(loop, &r->tcp);
		r->tcp.data = r;
		r->have_tcp = true;
		r->open++;
		assert_int_equal(uv_tcp_open(&r->tcp, tfd), 0);
		assert_int_equal(uv_listen((uv_stream_t *)&r->tcp, 128, resp_connection), 0);
	}
	return true;
}

static void responder_stop(struct responder *r)
{
	if (r->have_udp)
		uv_close((uv_handle_t *)&r->udp, resp_handle_closed);
	if (r->have_other)
		uv_close((uv_handle_t *)&r->other, resp_handle_closed);
	if (r->have_tcp)
		uv_close((uv_handle_t *)&r->tcp, resp_handle_closed);
	r->have_udp = r->have_other = r->have_tcp = false;
	for (struct conn *c = r->conns; c != NULL; c = c->next)
		conn_close(c);
}

/* ---- the test fixture ---- */

struct t;

struct result {
	struct t *t;
	unsigned index;
	uint16_t id;
	int calls;
	int status;
	int marker;
	bool msg_ok; /* msg non-NULL exactly when status is DCV_OK */
	uint64_t started, ended;
	char why[512];
	int accepts;  /* accept callback calls */
	int reject_n; /* reject this many replies first */
	int reject_code;
};

struct t {
	uv_loop_t loop;
	uv_timer_t guard;
	struct responder r;
	struct dcv_dnsio *io;
	bool in_call;     /* inside dcv_dnsio_exchange() or dcv_dnsio_cancel() */
	bool sync_done;   /* done was called from inside one of them */
	unsigned n_done;  /* done calls */
	bool closed;      /* the closed callback ran */
	int closed_calls; /* ... and how often */
	unsigned done_at_close;
	bool close_in_done;
	/* How start_ex() builds queries: one ID for all (else 1000 + i), signed. */
	bool fixed_id;
	uint16_t the_id;
	bool sign;
	struct dcv_tsig_key key;
	const struct dcv_addr *to; /* where start_ex() sends (NULL: the responder) */
	struct result res[2048];
};

static void on_guard(uv_timer_t *t)
{
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	uv_timer_init(&t->loop, &t->guard);
	*state = t;
	return 0;
}

/* Runs the loop until cond holds or ms pass; true if cond held. */
static bool run_until(struct t *t, bool (*cond)(struct t *t), unsigned ms)
{
	uint64_t end;

	uv_update_time(&t->loop);
	end = uv_now(&t->loop) + ms;
	uv_timer_start(&t->guard, on_guard, ms, 0);
	while (!cond(t) && uv_now(&t->loop) < end)
		uv_run(&t->loop, UV_RUN_ONCE);
	uv_timer_stop(&t->guard);
	return cond(t);
}

static bool cond_closed(struct t *t)
{
	return t->io == NULL && t->r.open == 0;
}

static bool cond_io_closed(struct t *t)
{
	return t->io == NULL;
}

static bool cond_responder_closed(struct t *t)
{
	return t->r.open == 0;
}

static void on_closed(void *arg)
{
	struct t *t = arg;

	t->closed = true;
	t->closed_calls++;
	t->done_at_close = t->n_done;
	t->io = NULL;
}

static void walk_cb(uv_handle_t *h, void *arg)
{
	fprintf(stderr, "left open: handle type %s\n", uv_handle_type_name(h->type));
}

static int teardown(void **state)
{
	struct t *t = *state;

	if (t->io != NULL)
		dcv_dnsio_close(t->io, on_closed, t);
	responder_stop(&t->r);
	assert_true(run_until(t, cond_closed, 3000));
	uv_close((uv_handle_t *)&t->guard, NULL);
	uv_run(&t->loop, UV_RUN_NOWAIT);
	if (uv_loop_close(&t->loop) != 0) {
		uv_walk(&t->loop, walk_cb, NULL);
		fail_msg("handles left open on the loop");
	}
	free(t);
	return 0;
}

static void new_io(struct t *t, unsigned max_inflight, unsigned udp_ms, unsigned udp_tries,
                   unsigned tcp_ms, unsigned tcp_tries)
{
	struct dcv_dnsio_opts o = {.max_inflight = max_inflight,
	                           .udp_timeout_ms = udp_ms,
	                           .udp_tries = udp_tries,
	                           .tcp_timeout_ms = tcp_ms,
	                           .tcp_tries = tcp_tries};

	t->io = dcv_dnsio_new(&t->loop, &o);
	assert_non_null(t->io);
}

/* As new_io(), with the channel options too (0: the default). */
static void new_io_chan(struct t *t, unsigned max_inflight, unsigned udp_ms, unsigned udp_tries,
                        unsigned udp_sockets, unsigned idle_ms, unsigned udp_window)
{
	struct dcv_dnsio_opts o = {.max_inflight = max_inflight,
	                           .udp_timeout_ms = udp_ms,
	                           .udp_tries = udp_tries,
	                           .tcp_timeout_ms = 1000,
	                           .tcp_tries = 1,
	                           .udp_sockets = udp_sockets,
	                           .idle_ms = idle_ms,
	                           .udp_window = udp_window};

	t->io = dcv_dnsio_new(&t->loop, &o);
	assert_non_null(t->io);
}

static void on_done(void *arg, int status, const uint8_t *msg, size_t len,
                    const struct dcv_why *why)
{
	struct result *res = arg;
	struct t *t = res->t;

	if (t->in_call)
		t->sync_done = true;
	res->calls++;
	res->status = status;
	res->msg_ok = (status == DCV_OK) == (msg != NULL) && why != NULL;
	res->marker = -1;
	if (msg != NULL && len >= 4) {
		res->marker = msg[len - 1];
		/* The caller's own ID, whatever went over the wire; its own question. */
		if (DCV_WIRE_ID(msg) != res->id || query_index(msg, len) != res->index)
			res->msg_ok = false;
	}
	res->ended = uv_now(&t->loop);
	snprintf(res->why, sizeof(res->why), "%s", why ? why->text : "(null)");
	t->n_done++;
	if (t->close_in_done) {
		t->close_in_done = false;
		dcv_dnsio_close(t->io, on_closed, t);
	}
}

static int on_accept(void *arg, const uint8_t *msg, size_t len)
{
	struct result *res = arg;

	res->accepts++;
	if (res->reject_n-- > 0) {
		dcv_dnsio_reject_why(res->t->io, "test rejection %d (marker %u)", res->accepts,
		                     msg[len - 1]);
		return res->reject_code;
	}
	return 0;
}

/* Starts exchange i (query "q<i>.example.test", ID 1000 + i). */
static int start_ex(struct t *t, unsigned i, unsigned flags, uint64_t timeout_ms, size_t pad,
                    bool with_accept, struct dcv_dnsio_xchg **xchg)
{
	uint8_t q[2048];
	char name[64];
	struct result *res = &t->res[i];
	size_t n;
	int rc;

	snprintf(name, sizeof(name), "q%u.example.test", i);
	res->t = t;
	res->index = i;
	res->id = t->fixed_id ? t->the_id : (uint16_t)(1000 + i);
	n = make_query(q, res->id, name, pad);
	if (t->sign) {
		struct dcv_why why;
		assert_int_equal(
		    dcv_tsig_sign(&t->key, q, &n, sizeof(q), (uint64_t)time(NULL), NULL, &why),
		    DCV_OK);
	}
	uv_update_time(&t->loop);
	res->started = uv_now(&t->loop);
	t->in_call = true;
	rc = dcv_dnsio_exchange(t->io, t->to != NULL ? t->to : &t->r.addr, q, n, flags, timeout_ms,
	                        with_accept ? on_accept : NULL, on_done, res, xchg);
	t->in_call = false;
	return rc;
}

static unsigned want_done, want_udp, want_tcp;

static bool cond_done(struct t *t)
{
	return t->n_done >= want_done;
}

static bool cond_seen(struct t *t)
{
	return t->r.udp_seen >= want_udp && t->r.tcp_seen >= want_tcp;
}

/* Runs until the responder has seen this many queries; fails after ms. */
static void wait_seen(struct t *t, unsigned udp, unsigned tcp, unsigned ms)
{
	want_udp = udp;
	want_tcp = tcp;
	if (!run_until(t, cond_seen, ms))
		fail_msg("responder saw %u UDP and %u TCP queries, expected %u and %u",
		         t->r.udp_seen, t->r.tcp_seen, udp, tcp);
}

/* Runs until n exchanges are done; fails after ms. */
static void wait_done(struct t *t, unsigned n, unsigned ms)
{
	want_done = n;
	if (!run_until(t, cond_done, ms))
		fail_msg("only %u of %u exchanges done after %u ms", t->n_done, n, ms);
	assert_false(t->sync_done);
}

static void check_ok(struct result *res, int marker)
{
	if (res->calls != 1 || res->status != DCV_OK || !res->msg_ok || res->marker != marker)
		fail_msg("exchange %u: calls %d status %d (%s) marker %d, expected OK marker %d",
		         res->index, res->calls, res->status, res->why, res->marker, marker);
}

static void check_status(struct result *res, int status, const char *why_part)
{
	if (res->calls != 1 || res->status != status || !res->msg_ok ||
	    strstr(res->why, why_part) == NULL)
		fail_msg("exchange %u: calls %d status %d why '%s', expected status %d with '%s'",
		         res->index, res->calls, res->status, res->why, status, why_part);
}

static struct dcv_dnsio_stats stats(struct t *t)
{
	struct dcv_dnsio_stats s;

	dcv_dnsio_get_stats(t->io, &s);
	return s;
}

static uint64_t took(const struct result *res)
{
	return res->ended - res->started;
}

/* ---- UDP ---- */

static void test_udp_normal(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io(t, 0, 200, 3, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	assert_int_equal(dcv_dnsio_pending(t->io), 1);
	wait_done(t, 1, 2000);
	check_ok(&t->res[0], M_UDP);
	assert_string_equal(t->res[0].why, "");
	assert_int_equal(dcv_dnsio_pending(t->io), 0);
	assert_int_equal(t->r.udp_seen, 1);
	assert_int_equal(t->r.tcp_seen, 0);
	assert_int_equal(stats(t).dropped, 0);
}

/* A reply that must be ignored arrives first; the good one after it wins. */
static void bad_first(struct t *t, enum udp_mode mode, unsigned drops)
{
	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = mode;
	new_io(t, 0, 500, 2, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 2000);
	check_ok(&t->res[0], M_UDP);
	assert_int_equal(t->r.udp_seen, 1);
	assert_int_equal(stats(t).dropped, drops);
}

static void test_wrong_id_first(void **state)
{
	bad_first(*state, U_WRONG_ID_FIRST, 1);
}

static void test_wrong_question_first(void **state)
{
	bad_first(*state, U_WRONG_Q_FIRST, 1);
}

static void test_qr0_first(void **state)
{
	bad_first(*state, U_QR0_FIRST, 1);
}

static void test_short_and_opcode_first(void **state)
{
	bad_first(*state, U_JUNK_FIRST, 2);
}

/* Only wrong replies: every one dropped, the exchange times out. */
static void test_wrong_question_only(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_WRONG_Q_ONLY;
	new_io(t, 0, 40, 2, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	check_status(&t->res[0], DCV_ETIMEOUT, "no reply after 2 tries");
	assert_int_equal(t->r.udp_seen, 2);
	assert_int_equal(stats(t).dropped, 2);
}

/*
 * Replies from another port of the server's address are never taken (the
 * connected socket does not even let them in): the exchange times out.
 */
static void test_other_port(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_OTHER_PORT;
	new_io(t, 0, 40, 2, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	check_status(&t->res[0], DCV_ETIMEOUT, "no reply after 2 tries");
	assert_int_equal(t->r.udp_seen, 2);
}

static void test_silent_timeout(void **state)
{
	struct t *t = *state;
	char expect[128];

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_SILENT;
	new_io(t, 0, 40, 3, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	snprintf(expect, sizeof(expect), "%s: no reply after 3 tries (0.", t->r.addr.text);
	check_status(&t->res[0], DCV_ETIMEOUT, expect);
	assert_int_equal(t->r.udp_seen, 3);
	assert_int_equal(stats(t).udp_tries, 3);
	assert_int_equal(stats(t).timeouts, 1);
	/* 40 + 80 + 160 ms, each +-25%: 210..350 ms, plus loop latency. */
	if (took(&t->res[0]) < 205 || took(&t->res[0]) > 700)
		fail_msg("timed out after %llu ms, expected about 280",
		         (unsigned long long)took(&t->res[0]));
}

/* Exchanges started together do not time out together: +-25% jitter. */
static void test_jitter(void **state)
{
	struct t *t = *state;
	uint64_t lo = UINT64_MAX, hi = 0;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_SILENT;
	new_io(t, 0, 100, 1, 1000, 1);
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 40, 3000);
	for (unsigned i = 0; i < 40; i++) {
		check_status(&t->res[i], DCV_ETIMEOUT, "no reply after 1 try");
		lo = took(&t->res[i]) < lo ? took(&t->res[i]) : lo;
		hi = took(&t->res[i]) > hi ? took(&t->res[i]) : hi;
	}
	if (lo < 75 || hi > 400 || hi - lo < 15)
		fail_msg("timeouts between %llu and %llu ms, expected spread over 75..125 ms",
		         (unsigned long long)lo, (unsigned long long)hi);
}

/* Nothing listens: ICMP port unreachable ends each try at once. */
static void test_refused(void **state)
{
	struct t *t = *state;
	struct sockaddr_storage ss;
	socklen_t len;
	char expect[128];
	int fd;

	/* A port that was free a moment ago and is closed now. */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	fill_sockaddr(AF_INET, 0, &ss, &len);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	len = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	close(fd);
	dcv_addr_from_sockaddr((struct sockaddr *)&ss, &t->r.addr);
	new_io(t, 0, 200, 3, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	snprintf(expect, sizeof(expect), "%s: connection refused", t->r.addr.text);
	check_status(&t->res[0], DCV_ENET, expect);
	assert_string_equal(t->res[0].why, expect);
	assert_int_equal(stats(t).udp_tries, 3);
	assert_true(stats(t).net_errors >= 3);
	/*
	 * Pauses of 50 and 100 ms (+-25%): 112..188 ms; waiting out the tries
	 * would take 1.4 s, pauses as long as the tries at least 450 ms.
	 */
	if (took(&t->res[0]) < 110 || took(&t->res[0]) > 400)
		fail_msg("refusal took %llu ms", (unsigned long long)took(&t->res[0]));
}

/* connect() itself fails (broadcast without SO_BROADCAST): no retry, no packet. */
static void test_connect_error(void **state)
{
	struct t *t = *state;
	struct dcv_why why;

	assert_int_equal(dcv_addr_parse("255.255.255.255@53", &t->r.addr, &why), DCV_OK);
	new_io(t, 0, 200, 3, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 1000);
	check_status(&t->res[0], DCV_ENET, "255.255.255.255@53: permission denied");
	assert_int_equal(stats(t).udp_tries, 0);
}

/* ---- TCP ---- */

static void test_tc_switches_to_tcp(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_TC;
	new_io(t, 0, 500, 2, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 2000);
	check_ok(&t->res[0], M_TCP);
	assert_int_equal(t->r.udp_seen, 1);
	assert_int_equal(t->r.tcp_seen, 1);
	assert_int_equal(stats(t).truncated, 1);
	assert_int_equal(stats(t).tcp_tries, 1);
}

static void tcp_chunked(struct t *t, size_t chunk, unsigned gap)
{
	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.tcp_chunk = chunk;
	t->r.tcp_gap = gap;
	new_io(t, 0, 500, 2, 2000, 1);
	assert_int_equal(start_ex(t, 0, DCV_DNSIO_TCP, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	check_ok(&t->res[0], M_TCP);
	assert_int_equal(t->r.udp_seen, 0);
	assert_int_equal(t->r.tcp_seen, 1);
}

static void test_tcp_one_write(void **state)
{
	tcp_chunked(*state, 0, 0);
}

static void test_tcp_several_writes(void **state)
{
	tcp_chunked(*state, 7, 0);
}

static void test_tcp_spaced_writes(void **state)
{
	tcp_chunked(*state, 5, 2);
}

static void test_tcp_one_byte_writes(void **state)
{
	tcp_chunked(*state, 1, 1);
}

/* Two messages on the connection, dripped or in one write (read together). */
static void tcp_wrong_id_first(struct t *t, size_t chunk, unsigned gap)
{
	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.tcp_mode = T_WRONG_ID_FIRST;
	t->r.tcp_chunk = chunk;
	t->r.tcp_gap = gap;
	new_io(t, 0, 500, 2, 2000, 1);
	assert_int_equal(start_ex(t, 0, DCV_DNSIO_TCP, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	check_ok(&t->res[0], M_TCP);
	assert_int_equal(stats(t).dropped, 1);
}

static void test_tcp_wrong_id_first(void **state)
{
	tcp_wrong_id_first(*state, 3, 1);
}

static void test_tcp_two_messages_one_write(void **state)
{
	tcp_wrong_id_first(*state, 0, 0);
}

/* The length prefix promises more than comes before the close. */
static void test_tcp_short_then_close(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.tcp_mode = T_SHORT_CLOSE;
	t->r.tcp_chunk = 4;
	new_io(t, 0, 40, 2, 1000, 2);
	assert_int_equal(start_ex(t, 0, DCV_DNSIO_TCP, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	check_status(&t->res[0], DCV_ENET, "connection closed in the middle of a reply");
	assert_int_equal(t->r.tcp_conns, 2);
	assert_int_equal(t->r.tcp_seen, 2);
}

/* A server that closes (or resets) the connection before a byte of reply; tries again. */
static void tcp_closes(struct t *t, enum tcp_mode mode, const char *why)
{
	char expect[160];

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.tcp_mode = mode;
	new_io(t, 0, 40, 2, 1000, 2);
	assert_int_equal(start_ex(t, 0, DCV_DNSIO_TCP, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	snprintf(expect, sizeof(expect), "%s: %s", t->r.addr.text, why);
	check_status(&t->res[0], DCV_ENET, expect);
	assert_int_equal(t->r.tcp_conns, 2);
	assert_int_equal(stats(t).tcp_tries, 2);
}

static void test_tcp_close_at_once(void **state)
{
	tcp_closes(*state, T_CLOSE, "connection closed before a usable reply");
}

static void test_tcp_reset(void **state)
{
	tcp_closes(*state, T_RESET, "connection reset by peer");
}

static void test_tcp_close_in_length(void **state)
{
	tcp_closes(*state, T_ONE_BYTE, "connection closed in the middle of a reply (1 of 2 bytes)");
}

/* Canceled while the TCP connection is still being made: done once, ECANCELED. */
static void test_tcp_cancel_connecting(void **state)
{
	struct t *t = *state;
	struct dcv_dnsio_xchg *x = NULL;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io(t, 0, 500, 2, 1000, 1);
	assert_int_equal(start_ex(t, 0, DCV_DNSIO_TCP, 0, 0, false, &x), DCV_OK);
	t->in_call = true;
	dcv_dnsio_cancel(x);
	t->in_call = false;
	wait_done(t, 1, 1000);
	check_status(&t->res[0], DCV_ECANCELED, "canceled");
	assert_int_equal(t->r.tcp_seen, 0);
}

/* A message of length 0 before the reply is dropped; the reply is taken. */
static void test_tcp_empty_message_first(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.tcp_mode = T_EMPTY_FIRST;
	new_io(t, 0, 500, 2, 2000, 1);
	assert_int_equal(start_ex(t, 0, DCV_DNSIO_TCP, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	check_ok(&t->res[0], M_TCP);
	assert_int_equal(stats(t).dropped, 1);
}

/* TC over UDP, then no reply over TCP either: the timeout counts both. */
static void test_tc_then_tcp_silent(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_TC;
	t->r.tcp_mode = T_SILENT;
	new_io(t, 0, 200, 2, 100, 2);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	check_status(&t->res[0], DCV_ETIMEOUT, "no reply after 1 UDP try and 2 TCP tries");
}

/* Arguments dcv_dnsio_exchange() refuses; the defaults of options left 0 or absent. */
static void test_bad_arguments(void **state)
{
	struct t *t = *state;
	struct dcv_dnsio_stats st;
	struct dcv_addr unix_addr = {0};
	uint8_t q[64];
	size_t n = make_query(q, 7, "x.example.test", 0);

	t->io = dcv_dnsio_new(&t->loop, NULL);
	assert_non_null(t->io);
	assert_ptr_equal(dcv_dnsio_loop(t->io), &t->loop);
	assert_true(responder_start(&t->r, &t->loop, AF_INET, false));
	unix_addr.ss.ss_family = AF_UNIX;
	assert_int_equal(dcv_dnsio_exchange(t->io, &t->r.addr, q, n, 0, 0, NULL, NULL, NULL, NULL),
	                 DCV_EINVAL);
	assert_int_equal(
	    dcv_dnsio_exchange(t->io, &t->r.addr, q, 11, 0, 0, NULL, on_done, &t->res[0], NULL),
	    DCV_EINVAL);
	assert_int_equal(
	    dcv_dnsio_exchange(t->io, &unix_addr, q, n, 0, 0, NULL, on_done, &t->res[0], NULL),
	    DCV_EINVAL);
	assert_int_equal(
	    dcv_dnsio_exchange(NULL, &t->r.addr, q, n, 0, 0, NULL, on_done, &t->res[0], NULL),
	    DCV_EINVAL);
	/* Outside an accept callback there is no reply to reject: nothing happens. */
	dcv_dnsio_reject_why(t->io, "not now");
	dcv_dnsio_reject_why(NULL, "not now");
	dcv_dnsio_get_stats(t->io, &st);
	assert_int_equal(st.started, 0);
	/* Closed: refused too; a second close does nothing. */
	dcv_dnsio_close(t->io, on_closed, t);
	dcv_dnsio_close(t->io, on_closed, t);
	assert_int_equal(
	    dcv_dnsio_exchange(t->io, &t->r.addr, q, n, 0, 0, NULL, on_done, &t->res[0], NULL),
	    DCV_EINVAL);
	assert_true(run_until(t, cond_io_closed, 1000));
	assert_int_equal(t->closed_calls, 1);
	assert_int_equal(t->n_done, 0);
}

/* TC over UDP, but nothing listens on TCP. */
static void test_tcp_refused(void **state)
{
	struct t *t = *state;
	char expect[128];

	assert_true(responder_start(&t->r, &t->loop, AF_INET, false));
	t->r.udp_mode = U_TC;
	new_io(t, 0, 40, 2, 1000, 2);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	snprintf(expect, sizeof(expect), "%s: connection refused", t->r.addr.text);
	check_status(&t->res[0], DCV_ENET, expect);
	assert_int_equal(stats(t).tcp_tries, 2);
	assert_int_equal(stats(t).truncated, 1);
}

static void test_tcp_silent(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.tcp_mode = T_SILENT;
	new_io(t, 0, 40, 2, 100, 2);
	assert_int_equal(start_ex(t, 0, DCV_DNSIO_TCP, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 3000);
	check_status(&t->res[0], DCV_ETIMEOUT, "no reply over TCP after 2 tries");
	assert_int_equal(t->r.tcp_seen, 2);
	if (took(&t->res[0]) < 195 || took(&t->res[0]) > 700)
		fail_msg("TCP timed out after %llu ms, expected about 200",
		         (unsigned long long)took(&t->res[0]));
}

static void test_large_query_tcp(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io(t, 0, 500, 2, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 0, 600, false, NULL), DCV_OK);
	wait_done(t, 1, 2000);
	check_ok(&t->res[0], M_TCP);
	assert_int_equal(t->r.udp_seen, 0);
	assert_int_equal(t->r.tcp_seen, 1);
}

/* ---- the accept callback ---- */

static void test_accept_second(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_TWO;
	new_io(t, 0, 500, 2, 1000, 1);
	t->res[0].reject_n = 1;
	t->res[0].reject_code = DCV_ETSIG;
	assert_int_equal(start_ex(t, 0, 0, 0, 0, true, NULL), DCV_OK);
	wait_done(t, 1, 2000);
	check_ok(&t->res[0], M_UDP2);
	assert_int_equal(t->res[0].accepts, 2);
	assert_int_equal(stats(t).rejected, 1);
	assert_int_equal(t->r.udp_seen, 1);
}

/* Every reply rejected: done reports the callback's code and detail. */
static void test_accept_rejects_all(void **state)
{
	struct t *t = *state;
	char expect[128];

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io(t, 0, 40, 2, 1000, 1);
	t->res[0].reject_n = 100;
	t->res[0].reject_code = DCV_EBADSIG;
	assert_int_equal(start_ex(t, 0, 0, 0, 0, true, NULL), DCV_OK);
	wait_done(t, 1, 2000);
	snprintf(expect, sizeof(expect), "%s: test rejection 2 (marker 1)", t->r.addr.text);
	check_status(&t->res[0], DCV_EBADSIG, expect);
	assert_string_equal(t->res[0].why, expect);
	assert_int_equal(t->res[0].accepts, 2);
	assert_int_equal(t->r.udp_seen, 2);
}

/* ---- many at once, queue order ---- */

static void test_many(void **state)
{
	struct t *t = *state;
	const unsigned n = 2000;
	struct dcv_dnsio_stats s;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io(t, 64, 2000, 2, 2000, 1);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	assert_int_equal(dcv_dnsio_pending(t->io), n);
	wait_done(t, n, 8000);
	for (unsigned i = 0; i < n; i++)
		check_ok(&t->res[i], M_UDP);
	s = stats(t);
	assert_int_equal(s.started, n);
	assert_int_equal(s.peak_inflight, 64);
	assert_int_equal(dcv_dnsio_pending(t->io), 0);
	assert_int_equal(t->r.udp_seen, n);
}

static void test_fifo(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io(t, 1, 500, 2, 1000, 1);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 8, 3000);
	assert_int_equal(t->r.nids, 8);
	/* The IDs on the wire are dnsio's now: the order shows in the names. */
	for (unsigned i = 0; i < 8; i++) {
		check_ok(&t->res[i], M_UDP);
		assert_int_equal(t->r.idx[i], i);
	}
}

/* ---- deadlines, cancel, close ---- */

static void test_deadline(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_SILENT;
	new_io(t, 1, 1000, 4, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 300, 0, false, NULL), DCV_OK);
	/* Queued behind the first, never sent. */
	assert_int_equal(start_ex(t, 1, 0, 100, 0, false, NULL), DCV_OK);
	wait_done(t, 2, 3000);
	check_status(&t->res[1], DCV_ETIMEOUT, "not sent within 0.1 s");
	check_status(&t->res[0], DCV_ETIMEOUT, "no reply after 1 try (0.3 s)");
	if (took(&t->res[0]) < 295 || took(&t->res[0]) > 600)
		fail_msg("deadline after %llu ms, expected 300",
		         (unsigned long long)took(&t->res[0]));
	assert_int_equal(t->r.udp_seen, 1);
}

static void test_cancel(void **state)
{
	struct t *t = *state;
	struct dcv_dnsio_xchg *x[3];

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_SILENT;
	new_io(t, 2, 1000, 2, 1000, 1);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, &x[i]), DCV_OK);
	t->in_call = true;
	dcv_dnsio_cancel(x[2]); /* still queued */
	t->in_call = false;
	wait_done(t, 1, 1000);
	check_status(&t->res[2], DCV_ECANCELED, "canceled");
	/* Let the first two send, then cancel one of them. */
	wait_seen(t, 2, 0, 1000);
	t->in_call = true;
	dcv_dnsio_cancel(x[0]);
	t->in_call = false;
	assert_int_equal(t->res[0].calls, 0);
	wait_done(t, 2, 1000);
	check_status(&t->res[0], DCV_ECANCELED, "canceled");
	assert_int_equal(t->res[1].calls, 0);
	assert_int_equal(dcv_dnsio_pending(t->io), 1);
	assert_int_equal(t->r.udp_seen, 2);
}

static void test_close_pending(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_SILENT;
	t->r.tcp_mode = T_SILENT;
	new_io(t, 3, 1000, 2, 1000, 1);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(start_ex(t, i, i == 1 ? DCV_DNSIO_TCP : 0, 0, 0, false, NULL),
		                 DCV_OK);
	wait_seen(t, 2, 1, 1000);
	t->in_call = true;
	dcv_dnsio_close(t->io, on_closed, t);
	t->in_call = false;
	assert_false(t->closed);
	assert_int_equal(t->n_done, 0);
	assert_true(run_until(t, cond_io_closed, 2000));
	assert_false(t->sync_done);
	assert_int_equal(t->closed_calls, 1);
	assert_int_equal(t->done_at_close, 6);
	for (unsigned i = 0; i < 6; i++)
		check_status(&t->res[i], DCV_ECANCELED, "canceled");
}

static void test_close_from_done(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io(t, 1, 1000, 2, 1000, 1);
	t->close_in_done = true;
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	assert_true(run_until(t, cond_io_closed, 2000));
	assert_false(t->sync_done);
	assert_int_equal(t->closed_calls, 1);
	assert_int_equal(t->done_at_close, 4);
	check_ok(&t->res[0], M_UDP);
	for (unsigned i = 1; i < 4; i++)
		check_status(&t->res[i], DCV_ECANCELED, "canceled");
}

static void test_invalid(void **state)
{
	struct t *t = *state;
	static uint8_t big[65536];
	uint8_t q[64];
	size_t n;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io(t, 0, 100, 1, 100, 1);
	n = make_query(q, 1, "a.example.test", 0);
	assert_int_equal(dcv_dnsio_exchange(t->io, &t->r.addr, q, DCV_WIRE_HEADER - 1, 0, 0, NULL,
	                                    on_done, &t->res[0], NULL),
	                 DCV_EINVAL);
	memcpy(big, q, n);
	assert_int_equal(dcv_dnsio_exchange(t->io, &t->r.addr, big, sizeof(big), 0, 0, NULL,
	                                    on_done, &t->res[0], NULL),
	                 DCV_EINVAL);
	assert_int_equal(
	    dcv_dnsio_exchange(t->io, &t->r.addr, q, n, 0, 0, NULL, NULL, &t->res[0], NULL),
	    DCV_EINVAL);
	assert_int_equal(dcv_dnsio_pending(t->io), 0);
	assert_int_equal(stats(t).started, 0);
}

/* ---- IPv6 ---- */

static void test_ipv6(void **state)
{
	struct t *t = *state;

	if (!responder_start(&t->r, &t->loop, AF_INET6, true))
		tu_skip("no IPv6 loopback here: cannot bind a socket to [::1]:0 (%s)",
		        strerror(errno));
	assert_non_null(strstr(t->r.addr.text, "::1@"));
	new_io(t, 0, 500, 2, 1000, 1);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 2000);
	check_ok(&t->res[0], M_UDP);
	t->r.udp_mode = U_TC;
	assert_int_equal(start_ex(t, 1, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 2, 2000);
	check_ok(&t->res[1], M_TCP);
	assert_int_equal(t->r.tcp_seen, 1);
}

/* ---- shared UDP sockets: channels, IDs ---- */

/* Distinct source ports among the first n queries the responder saw. */
static unsigned distinct_ports(const struct responder *r, size_t n)
{
	unsigned count = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < i && r->ports[j] != r->ports[i])
			j++;
		count += j == i;
	}
	return count;
}

/*
 * n exchanges at once to one server (a window of n: all on the wire
 * together), every caller using the same ID: they share at most udp_sockets
 * sockets, and no two hold the same ID on one.
 */
static void shared(struct t *t, unsigned n, unsigned sockets)
{
	unsigned want = sockets ? sockets : 4;
	struct dcv_dnsio_stats st;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io_chan(t, 0, 2000, 2, sockets, 0, n);
	t->fixed_id = true;
	t->the_id = 7;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, n, 8000);
	/* check_ok: ID 7 given back, the reply to the exchange's own question. */
	for (unsigned i = 0; i < n; i++)
		check_ok(&t->res[i], M_UDP);
	st = stats(t);
	/*
	 * A burst of n datagrams may overflow the responder's socket buffer
	 * (it runs on this loop, it cannot read while dnsio sends): some
	 * exchanges may need a second try.
	 */
	assert_int_equal(t->r.udp_seen, st.udp_tries);
	assert_int_equal(st.peak_inflight, n); /* all in flight together ... */
	if (distinct_ports(&t->r, n) > want || st.udp_sockets > want || st.sockets > want)
		fail_msg("%u source ports, %llu sockets opened, %zu open; at most %u expected",
		         distinct_ports(&t->r, n), (unsigned long long)st.udp_sockets, st.sockets,
		         want);
	assert_int_equal(st.channels, 1);
	/* ... so the (port, ID) pairs of different exchanges must be distinct. */
	for (unsigned i = 0; i < t->r.nids; i++)
		for (unsigned j = 0; j < i; j++)
			if (t->r.ports[i] == t->r.ports[j] && t->r.ids[i] == t->r.ids[j] &&
			    t->r.idx[i] != t->r.idx[j])
				fail_msg("queries %u and %u both went out with ID %u from port %u",
				         t->r.idx[i], t->r.idx[j], t->r.ids[i], t->r.ports[i]);
	assert_int_equal(st.dropped, 0);
}

static void test_shared_sockets(void **state)
{
	shared(*state, 1000, 0);
}

static void test_shared_two_sockets(void **state)
{
	shared(*state, 600, 2);
}

/*
 * At most udp_window queries to one server await a reply; the others wait
 * their turn, in order, and go as replies (or timeouts) make room.
 */
static void test_window(void **state)
{
	struct t *t = *state;
	struct dcv_dnsio_stats st;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_SILENT;
	new_io_chan(t, 0, 200, 2, 4, 0, 10);
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	wait_seen(t, 10, 0, 1000);
	st = stats(t);
	assert_int_equal(st.udp_tries, 10);
	assert_int_equal(st.parked, 90);
	assert_int_equal(st.peak_inflight, 10); /* waiting in the window is not in flight */
	/* The first ten (they arrive interleaved: four sockets). */
	for (unsigned i = 0; i < 10; i++)
		assert_true(t->r.idx[i] < 10);
	assert_int_equal(distinct_ports(&t->r, 10) <= 4, 1);
	/* Answered from now on: the first ten on their second try, then the rest. */
	t->r.udp_mode = U_NORMAL;
	wait_done(t, 100, 5000);
	for (unsigned i = 0; i < 100; i++)
		check_ok(&t->res[i], M_UDP);
	assert_int_equal(t->r.udp_seen, 110);
	/*
	 * In order, ten at a time: when exchange i goes out, 0..i-1 have gone
	 * and at most nine of them still await a reply, so the responder has
	 * seen at least i - 9 others before it.
	 */
	for (unsigned k = 0, seen = 0; k < t->r.nids; k++) {
		bool first = true;
		for (unsigned j = 0; j < k && first; j++)
			first = t->r.idx[j] != t->r.idx[k];
		if (!first)
			continue;
		if (t->r.idx[k] > seen + 9)
			fail_msg("exchange %u went out when only %u had been seen", t->r.idx[k],
			         seen);
		seen++;
	}
}

/*
 * Exchanges waiting for room in the window of a silent server hold no
 * slot of max_inflight: exchanges to another server pass them.
 */
static void test_window_no_starvation(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io_chan(t, 20, 1000, 1, 4, 0, 10);
	t->to = &t->r.other_addr;
	for (unsigned i = 0; i < 50; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	t->to = NULL;
	for (unsigned i = 50; i < 55; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	/* The silent server's first tries end after 750 ms at the earliest. */
	wait_done(t, 5, 600);
	for (unsigned i = 50; i < 55; i++)
		check_ok(&t->res[i], M_UDP);
	assert_int_equal(t->n_done, 5);
	assert_int_equal(stats(t).parked, 40);
	assert_int_equal(stats(t).inflight, 10);
}

static void sign_with_test_key(struct t *t)
{
	struct dcv_why why;

	assert_int_equal(dcv_tsig_key_set(&t->key, "dnsio-test.", DCV_HMAC_SHA256,
	                                  "ZG5zaW8tdGVzdC1zZWNyZXQtMzItYnl0ZXMtbG9uZyE=", &why),
	                 DCV_OK);
	t->sign = true;
	t->fixed_id = true;
	t->the_id = 7;
}

/*
 * Signed queries keep their ID: six with ID 7 and four sockets, so four go
 * (one per socket) and two wait until an ID 7 is free again.
 */
static void test_signed_keeps_id(void **state)
{
	struct t *t = *state;
	struct dcv_dnsio_stats st;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_SILENT;
	new_io_chan(t, 0, 300, 1, 4, 0, 0);
	sign_with_test_key(t);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	wait_seen(t, 4, 0, 1000);
	st = stats(t);
	assert_int_equal(st.parked, 2);
	assert_int_equal(st.udp_tries, 4);
	assert_int_equal(distinct_ports(&t->r, 4), 4);
	/* The first four time out; then the two waiting ones go and are answered. */
	t->r.udp_mode = U_NORMAL;
	wait_done(t, 6, 3000);
	for (unsigned i = 0; i < 4; i++)
		check_status(&t->res[i], DCV_ETIMEOUT, "no reply after 1 try");
	check_ok(&t->res[4], M_UDP);
	check_ok(&t->res[5], M_UDP);
	assert_int_equal(t->r.udp_seen, 6);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(t->r.ids[i], 7);
	/* Unsigned queries with the same ID get IDs of dnsio's. */
	t->sign = false;
	for (unsigned i = 6; i < 10; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 10, 3000);
	assert_int_equal(stats(t).parked, 2);
	for (unsigned i = 6; i < 10; i++)
		check_ok(&t->res[i], M_UDP);
}

/* A signed query whose ID stays taken on every socket reports why it never went out. */
static void test_signed_parked_deadline(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_SILENT;
	new_io_chan(t, 0, 1000, 1, 1, 0, 0);
	sign_with_test_key(t);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	assert_int_equal(start_ex(t, 1, 0, 100, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 2000);
	check_status(&t->res[1], DCV_ETIMEOUT,
	             "not sent within 0.1 s: its message ID (kept, the query is signed) was in "
	             "use on every UDP socket to this server");
	assert_int_equal(t->res[0].calls, 0);
	assert_int_equal(t->r.udp_seen, 1);
}

static bool cond_dropped(struct t *t)
{
	return stats(t).dropped >= 1;
}

/* The second reply comes when its exchange is over: its ID is no one's, it is dropped. */
static void test_stale_reply_dropped(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_TWO;
	new_io_chan(t, 0, 500, 2, 1, 0, 0);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 2000);
	check_ok(&t->res[0], M_UDP);
	assert_true(run_until(t, cond_dropped, 2000));
	assert_int_equal(stats(t).dropped, 1);
	assert_int_equal(stats(t).stale, 1);
	/* The socket goes on working. */
	t->r.udp_mode = U_NORMAL;
	assert_int_equal(start_ex(t, 1, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 2, 2000);
	check_ok(&t->res[1], M_UDP);
	assert_int_equal(stats(t).udp_sockets, 1);
}

static bool cond_res100(struct t *t)
{
	return t->res[100].calls > 0;
}

/*
 * 100 exchanges wait on four sockets; the server's port closes; one more
 * query draws an ICMP port unreachable on its socket. Exactly the exchanges
 * waiting on that socket fail, at once; those on the others wait on.
 */
static void test_refused_shared(void **state)
{
	struct t *t = *state;
	char expect[128];
	unsigned port = 0, on_port = 0;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	t->r.udp_mode = U_SILENT;
	new_io_chan(t, 0, 5000, 1, 4, 0, 0);
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(start_ex(t, i, 0, 0, 0, false, NULL), DCV_OK);
	wait_seen(t, 100, 0, 2000);
	assert_int_equal(distinct_ports(&t->r, 100), 4);
	uv_close((uv_handle_t *)&t->r.udp, resp_handle_closed);
	t->r.have_udp = false;
	assert_int_equal(start_ex(t, 100, 0, 0, 0, false, NULL), DCV_OK);
	assert_true(run_until(t, cond_res100, 2000));
	snprintf(expect, sizeof(expect), "%s: connection refused", t->r.addr.text);
	check_status(&t->res[100], DCV_ENET, expect);
	for (unsigned i = 0; i < 100 && port == 0; i++)
		if (t->res[i].calls > 0)
			port = t->r.port_of[i];
	if (port == 0)
		fail_msg("no exchange sharing the refused socket failed");
	for (unsigned i = 0; i < 100; i++)
		on_port += t->r.port_of[i] == port;
	wait_done(t, on_port + 1, 1000);
	for (unsigned i = 0; i < 100; i++) {
		if (t->r.port_of[i] == port)
			check_status(&t->res[i], DCV_ENET, expect);
		else if (t->res[i].calls != 0)
			fail_msg("exchange %u on port %u ended (%s), only port %u was refused", i,
			         t->r.port_of[i], t->res[i].why, port);
	}
	assert_int_equal(t->n_done, on_port + 1);
	/* The others wait on for their 5 s try: closing io cancels them. */
	assert_int_equal(dcv_dnsio_pending(t->io), 100 - on_port);
}

static bool cond_no_channel(struct t *t)
{
	return stats(t).channels == 0;
}

/* A channel unused for idle_ms closes its sockets; the next exchange opens anew. */
static void test_idle_close(void **state)
{
	struct t *t = *state;
	struct dcv_dnsio_stats st;
	uint64_t done_at, closed_at;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io_chan(t, 0, 500, 2, 4, 150, 0);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 2000);
	check_ok(&t->res[0], M_UDP);
	done_at = t->res[0].ended;
	st = stats(t);
	assert_int_equal(st.channels, 1);
	assert_int_equal(st.sockets, 1);
	assert_true(run_until(t, cond_no_channel, 3000));
	closed_at = uv_now(&t->loop);
	assert_int_equal(stats(t).sockets, 0);
	/* Sweeps every idle_ms / 2: closed 150..225 ms after the last use, plus latency. */
	if (closed_at - done_at < 145 || closed_at - done_at > 1500)
		fail_msg("channel closed %llu ms after its last use, expected 150..225",
		         (unsigned long long)(closed_at - done_at));
	assert_int_equal(start_ex(t, 1, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 2, 2000);
	check_ok(&t->res[1], M_UDP);
	st = stats(t);
	assert_int_equal(st.channels, 1);
	assert_int_equal(st.udp_sockets, 2);
}

/* An idle channel does not keep the loop running (its handles are unreferenced). */
static void test_idle_no_loop_ref(void **state)
{
	struct t *t = *state;
	uint64_t t0;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io_chan(t, 0, 500, 2, 4, 0, 0);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 1, 2000);
	check_ok(&t->res[0], M_UDP);
	responder_stop(&t->r);
	assert_true(run_until(t, cond_responder_closed, 1000));
	assert_int_equal(stats(t).channels, 1);
	t0 = uv_hrtime();
	uv_run(&t->loop, UV_RUN_DEFAULT);
	if (uv_hrtime() - t0 > 1000000000u)
		fail_msg("uv_run() waited %.1f s for an idle channel",
		         (double)(uv_hrtime() - t0) / 1e9);
	assert_int_equal(stats(t).channels, 1);
}

/* One channel per server address (address and port). */
static void test_channel_per_server(void **state)
{
	struct t *t = *state;

	assert_true(responder_start(&t->r, &t->loop, AF_INET, true));
	new_io_chan(t, 0, 50, 1, 4, 0, 0);
	assert_int_equal(start_ex(t, 0, 0, 0, 0, false, NULL), DCV_OK);
	t->to = &t->r.other_addr;
	assert_int_equal(start_ex(t, 1, 0, 0, 0, false, NULL), DCV_OK);
	t->to = NULL;
	assert_int_equal(start_ex(t, 2, 0, 0, 0, false, NULL), DCV_OK);
	wait_done(t, 3, 2000);
	check_ok(&t->res[0], M_UDP);
	check_ok(&t->res[2], M_UDP);
	check_status(&t->res[1], DCV_ETIMEOUT, t->r.other_addr.text);
	assert_int_equal(stats(t).channels, 2);
	assert_int_equal(t->r.udp_seen, 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_udp_normal),
	    T(test_wrong_id_first),
	    T(test_wrong_question_first),
	    T(test_qr0_first),
	    T(test_short_and_opcode_first),
	    T(test_wrong_question_only),
	    T(test_other_port),
	    T(test_silent_timeout),
	    T(test_jitter),
	    T(test_refused),
	    T(test_connect_error),
	    T(test_tc_switches_to_tcp),
	    T(test_tcp_one_write),
	    T(test_tcp_several_writes),
	    T(test_tcp_spaced_writes),
	    T(test_tcp_one_byte_writes),
	    T(test_tcp_wrong_id_first),
	    T(test_tcp_two_messages_one_write),
	    T(test_tcp_short_then_close),
	    T(test_tcp_close_at_once),
	    T(test_tcp_reset),
	    T(test_tcp_close_in_length),
	    T(test_tcp_cancel_connecting),
	    T(test_tcp_empty_message_first),
	    T(test_tc_then_tcp_silent),
	    T(test_bad_arguments),
	    T(test_tcp_refused),
	    T(test_tcp_silent),
	    T(test_large_query_tcp),
	    T(test_accept_second),
	    T(test_accept_rejects_all),
	    T(test_many),
	    T(test_fifo),
	    T(test_deadline),
	    T(test_cancel),
	    T(test_close_pending),
	    T(test_close_from_done),
	    T(test_invalid),
	    T(test_ipv6),
	    T(test_shared_sockets),
	    T(test_shared_two_sockets),
	    T(test_window),
	    T(test_window_no_starvation),
	    T(test_signed_keeps_id),
	    T(test_signed_parked_deadline),
	    T(test_stale_reply_dropped),
	    T(test_refused_shared),
	    T(test_idle_close),
	    T(test_idle_no_loop_ref),
	    T(test_channel_per_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
