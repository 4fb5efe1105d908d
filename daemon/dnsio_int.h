/*
 * dnsio_int.h -- the inside of dnsio, shared by dnsio.c (queue, life cycle,
 * UDP) and dnsio_tcp.c. Nothing outside these two files includes it.
 */
#ifndef DCV_DNSIO_INT_H
#define DCV_DNSIO_INT_H

#include <stdbool.h>

#include "dnsio.h"

enum dnsio_state {
	X_QUEUED, /* waiting for a slot */
	X_UDP,
	X_TCP,
};

/* What the try timer is timing. */
enum dnsio_phase {
	P_WAIT,    /* a try: query sent or connection under way */
	P_PAUSE,   /* the pause after a failed try */
	P_CLOSING, /* TCP: the failed connection is closing; the pause starts after */
};

struct dcv_dnsio_xchg {
	struct dcv_dnsio *io;
	struct dcv_dnsio_xchg *prev, *next;   /* io->all */
	struct dcv_dnsio_xchg *qprev, *qnext; /* io->qhead..qtail while queued */
	bool queued;

	struct dcv_addr server;
	uint8_t *wire; /* 2-byte TCP length, then the query (len bytes) */
	size_t len;
	unsigned flags;
	uint64_t started; /* uv_now() at dcv_dnsio_exchange() */
	dcv_dnsio_accept_cb accept;
	dcv_dnsio_done_cb done;
	void *arg;

	enum dnsio_state state;
	enum dnsio_phase phase;
	unsigned udp_tries, tcp_tries;
	uint64_t try_ms;      /* nominal timeout of the current UDP try */
	uint64_t retry_delay; /* TCP: pause before the next connection */

	unsigned handles; /* initialised and not yet through their close callback */
	bool udp_open, tcp_open, send_busy, holds_slot;
	bool finished;  /* outcome decided, handles closing */
	bool delivered; /* done called */
	int status;
	struct dcv_why why; /* for done */

	int rejected;  /* last code of the accept callback, 0 if none */
	int net_error; /* last libuv error of a try, 0 if none */
	struct dcv_why reject_why, net_why;

	uv_timer_t deadline, timer;
	uv_udp_t udp;
	uv_udp_send_t send_req;
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_write_t write_req;

	/* TCP reply being read: length prefix, then exactly that many bytes. */
	uint8_t lenbuf[2];
	size_t lhave;
	uint8_t *rbuf;
	size_t rcap, rneed, rhave;
};

struct dcv_dnsio {
	uv_loop_t *loop;
	struct dcv_dnsio_opts opts;
	uv_idle_t kick; /* starts queued exchanges from the loop */
	struct dcv_dnsio_xchg *all;
	struct dcv_dnsio_xchg *qhead, *qtail;
	size_t pending;
	unsigned inflight;
	bool closing, kick_closed;
	void (*closed)(void *arg);
	void *closed_arg;
	struct dcv_dnsio_xchg *accepting; /* inside its accept callback */
	struct dcv_why accept_why;
	uint64_t rng;
	struct dcv_dnsio_stats stats;
	uint8_t rbuf[65536]; /* every UDP read */
};

/* dnsio.c */
uint64_t dnsio_jitter(struct dcv_dnsio *io, uint64_t ms);
double dnsio_elapsed(const struct dcv_dnsio_xchg *x);
void dnsio_close_cb(uv_handle_t *h);
void dnsio_finish(struct dcv_dnsio_xchg *x, int status, const struct dcv_why *why);
void dnsio_fail(struct dcv_dnsio_xchg *x, int status, const char *what, int uverr);
void dnsio_give_up(struct dcv_dnsio_xchg *x);
void dnsio_net_error(struct dcv_dnsio_xchg *x, int uverr, const char *detail);
uint64_t dnsio_pause_ms(struct dcv_dnsio_xchg *x, unsigned tries_made);
bool dnsio_matches(struct dcv_dnsio_xchg *x, const uint8_t *msg, size_t len);
void dnsio_consider(struct dcv_dnsio_xchg *x, const uint8_t *msg, size_t len);
void dnsio_timer_start(struct dcv_dnsio_xchg *x, uint64_t ms);
void dnsio_on_kick(uv_idle_t *h);
void dnsio_maybe_free(struct dcv_dnsio *io);

/* dnsio_tcp.c */
void dnsio_tcp_start(struct dcv_dnsio_xchg *x);
void dnsio_tcp_timer(struct dcv_dnsio_xchg *x);
void dnsio_tcp_close_cb(uv_handle_t *h);

#endif
