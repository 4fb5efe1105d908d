/*
 * dnsio_int.h -- the inside of dnsio, shared by dnsio.c (queue, life cycle),
 * dnsio_udp.c (channels, shared UDP sockets, UDP tries) and dnsio_tcp.c.
 * Nothing outside these files includes it.
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
	P_PARKED,  /* UDP: waiting for room in the channel's window or a free ID */
};

struct dnsio_chan;

/*
 * One connected UDP socket of a channel and the exchanges holding an ID on
 * it, in a hash table keyed by ID (chained through x->id_next; at most
 * 65536 entries, one per ID). Freed in the close callback of its handle.
 */
struct dnsio_sock {
	struct dnsio_chan *ch;
	uv_udp_t udp;
	bool closing;
	bool counted;   /* in io->sockets (opened successfully) */
	unsigned count; /* exchanges holding an ID here */
	unsigned bits;  /* the table has 2^bits buckets */
	struct dcv_dnsio_xchg **buckets;
};

/*
 * The UDP sockets to one server address. Lives in io->chans until it is
 * closed (idle, or io closing), then until the close callbacks of its
 * sockets have run.
 */
struct dnsio_chan {
	struct dcv_dnsio *io;
	struct dnsio_chan *hnext; /* io->chans[hash] */
	struct dnsio_chan *unext; /* io->unpark, while unpark is set */
	struct dcv_addr server;
	unsigned hash;
	unsigned users;      /* exchanges holding an ID here, or parked */
	unsigned placed;     /* exchanges holding an ID here (at most opts.udp_window) */
	uint64_t idle_since; /* uv_now() when users last fell to 0 */
	bool closing, unpark;
	unsigned handles;                     /* socket handles initialised and not yet closed */
	struct dcv_dnsio_xchg *phead, *ptail; /* parked exchanges, in order */
	struct dnsio_sock **socks;            /* io->opts.udp_sockets slots, NULL until opened */
};

/* The TCP side of an exchange, allocated at its first TCP try. */
struct dnsio_tcp {
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_write_t write_req;
	/* The reply being read: length prefix, then exactly that many bytes. */
	uint8_t lenbuf[2];
	size_t lhave;
	uint8_t *rbuf;
	size_t rcap, rneed, rhave;
};

struct dcv_dnsio_xchg {
	struct dcv_dnsio *io;
	struct dcv_dnsio_xchg *prev, *next;   /* io->all */
	struct dcv_dnsio_xchg *qprev, *qnext; /* io->qhead..qtail while queued */
	bool queued;

	struct dcv_addr server;
	uint8_t *wire; /* 2-byte TCP length, then the query (len bytes): in wire_buf */
	size_t len;
	unsigned flags;
	uint64_t started; /* uv_now() at dcv_dnsio_exchange() */
	dcv_dnsio_accept_cb accept;
	dcv_dnsio_done_cb done;
	void *arg;

	uint16_t caller_id; /* the ID the caller wrote, put back into replies */
	bool keep_id;       /* signed with TSIG: UDP keeps the caller's ID */

	enum dnsio_state state;
	enum dnsio_phase phase;
	unsigned udp_tries, tcp_tries;
	uint64_t try_ms;      /* nominal timeout of the current UDP try */
	uint64_t retry_delay; /* TCP: pause before the next connection */

	/* UDP: the channel (set while holding an ID or parked), the socket. */
	struct dnsio_chan *ch;
	struct dnsio_sock *sock;
	struct dcv_dnsio_xchg *id_next;       /* sock->buckets chain */
	uint16_t id;                          /* the ID in wire while in that chain */
	struct dcv_dnsio_xchg *pprev, *pnext; /* ch->phead..ptail while parked */
	struct dcv_dnsio_xchg *fail_next;     /* a socket's error being handed out */

	/*
	 * Freed when both are over: handles initialised and not yet through
	 * their close callback, and a UDP send still queued in libuv (it
	 * points into wire; the shared socket outlives the exchange).
	 */
	unsigned handles;
	bool send_busy;
	bool tcp_open, holds_slot;
	bool finished;  /* outcome decided, handles closing */
	bool delivered; /* done called */
	int status;

	int rejected;  /* last code of the accept callback, 0 if none */
	int net_error; /* last libuv error of a try, 0 if none */
	/*
	 * Until the exchange is finished, the reason to report if it fails:
	 * the last rejection if there was one (it is preferred), else the last
	 * network error. Then what done reports.
	 */
	struct dcv_why why;

	uv_timer_t deadline, timer;
	uv_udp_send_t send_req;
	struct dnsio_tcp *t; /* NULL until the first TCP try */
	uint8_t wire_buf[];
};

/* The classic UDP limit (RFC 1035 §4.2.1): larger queries go over TCP. */
#define DNSIO_UDP_QUERY_MAX 512
/* Doubling stops here so that many tries cannot overflow the timer. */
#define DNSIO_TRY_MS_MAX (3600u * 1000u)
#define DNSIO_CHAN_BUCKETS 256
/* Datagrams read per recvmmsg (libuv takes one 64 KiB chunk per datagram, at most 20). */
#define DNSIO_RECV_BATCH 16
#define DNSIO_RECV_CHUNK (64 * 1024)
#define DNSIO_ID_POOL 256

struct dcv_dnsio {
	uv_loop_t *loop;
	struct dcv_dnsio_opts opts;
	uv_idle_t kick;   /* starts queued exchanges and unparks from the loop */
	uv_timer_t sweep; /* closes idle channels */
	struct dcv_dnsio_xchg *all;
	struct dcv_dnsio_xchg *qhead, *qtail;
	size_t pending;
	unsigned inflight;
	bool closing, kick_closed, sweep_closed;
	struct dnsio_chan *chans[DNSIO_CHAN_BUCKETS];
	struct dnsio_chan *unpark; /* channels whose parked exchanges may now fit */
	size_t nchans;             /* in chans */
	size_t chans_alive;        /* allocated: in chans or closing */
	size_t sockets;            /* open now */
	void (*closed)(void *arg);
	void *closed_arg;
	struct dcv_dnsio_xchg *accepting; /* inside its accept callback */
	struct dcv_why accept_why;
	uint64_t rng;
	uint16_t ids[DNSIO_ID_POOL]; /* random IDs from the CSPRNG, used from the end */
	unsigned nids;
	struct dcv_dnsio_stats stats;
	uint8_t *rbuf; /* every UDP read: DNSIO_RECV_BATCH chunks */
};

/* dnsio.c */
uint64_t dnsio_random(struct dcv_dnsio *io);
uint64_t dnsio_jitter(struct dcv_dnsio *io, uint64_t ms);
double dnsio_elapsed(const struct dcv_dnsio_xchg *x);
void dnsio_close_cb(uv_handle_t *h);
void dnsio_maybe_release(struct dcv_dnsio_xchg *x);
void dnsio_take_slot(struct dcv_dnsio_xchg *x);
void dnsio_finish(struct dcv_dnsio_xchg *x, int status, const struct dcv_why *why);
void dnsio_fail(struct dcv_dnsio_xchg *x, int status, const char *what, int uverr);
void dnsio_give_up(struct dcv_dnsio_xchg *x);
void dnsio_net_error(struct dcv_dnsio_xchg *x, int uverr, const char *detail);
uint64_t dnsio_pause_ms(struct dcv_dnsio_xchg *x, unsigned tries_made);
bool dnsio_matches(struct dcv_dnsio_xchg *x, const uint8_t *msg, size_t len);
void dnsio_consider(struct dcv_dnsio_xchg *x, uint8_t *msg, size_t len);
void dnsio_timer_start(struct dcv_dnsio_xchg *x, uint64_t ms);
void dnsio_on_kick(uv_idle_t *h);
void dnsio_maybe_free(struct dcv_dnsio *io);

/* dnsio_udp.c */
void dnsio_fill_ids(struct dcv_dnsio *io);
bool dnsio_has_tsig(const uint8_t *msg, size_t len);
void dnsio_udp_start(struct dcv_dnsio_xchg *x);
void dnsio_udp_timer(struct dcv_dnsio_xchg *x);
void dnsio_udp_detach(struct dcv_dnsio_xchg *x);
void dnsio_unpark(struct dcv_dnsio *io);
void dnsio_chans_close(struct dcv_dnsio *io);
void dnsio_sweep(uv_timer_t *t);

/* dnsio_tcp.c */
void dnsio_tcp_start(struct dcv_dnsio_xchg *x);
void dnsio_tcp_timer(struct dcv_dnsio_xchg *x);
void dnsio_tcp_close_cb(uv_handle_t *h);

#endif
