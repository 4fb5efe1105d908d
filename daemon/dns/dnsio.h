/*
 * dnsio.h -- the only code that touches sockets: DNS exchanges on a libuv
 * loop.
 *
 * One exchange = one query sent to one server address and one reply
 * accepted. UDP first, retried with exponential backoff and jitter; TCP when
 * the query is over 512 bytes, when the caller asks, or when a UDP reply
 * comes back truncated (TCP: one connection per try).
 * A reply is accepted only when it comes from the address and port asked,
 * carries the query's ID, has QR set and the query's opcode, and repeats
 * the query's question section; the caller's accept callback may reject it
 * further (TSIG), in which case the exchange keeps waiting for a better
 * reply. Every length is checked; nothing is read beyond what was received.
 *
 * UDP sockets are shared. Each server address (family, address and port)
 * has a channel of at most udp_sockets UDP sockets, opened as exchanges
 * need them. Each is bound to a port the kernel picks at random and
 * connected to the server, so that the kernel drops datagrams from anyone
 * else (dnsio checks the source again) and reports the server's ICMP
 * errors; a server never sees the ports used towards another one. The
 * exchanges on one socket are told apart by the message ID, which dnsio
 * owns for UDP: it writes into the query a random ID (from the CSPRNG) that
 * no other exchange holds on the chosen socket, keeps it for all the tries,
 * and matches replies by socket and ID. The caller's ID is put back into
 * the reply before the accept and done callbacks see it (and TCP after
 * truncation sends the same query with dnsio's ID), so callers see the ID
 * they wrote. A reply whose ID no exchange holds on its socket is dropped
 * (counted in dropped and stale).
 *
 * The exception is a query whose last record is a TSIG (RFC 8945): its ID
 * is kept. Callers sign before dnsio sees the message; the MAC covers the
 * header with that ID, which the TSIG record repeats as "original ID".
 * RFC 8945 lets a verifier restore the original ID into a changed header,
 * but keeping the caller's ID is the rule that is correct with any server,
 * and costs nothing for the few signed messages. Such a query goes to a
 * socket of the channel on which its ID is free; while none has it free
 * (other exchanges to the same server hold that ID on every socket) it
 * waits, counted in parked, and goes out as soon as one frees it. Callers
 * that sign must therefore still write a random ID (update.c uses
 * dcv_query_id()). The same wait would apply to any query if every ID of
 * every socket of a channel were taken (only with a udp_window far beyond
 * 65536 per socket).
 *
 * Datagrams go out in batches (libuv's sendmmsg) and are read in batches
 * (recvmmsg), so many queries to one server would leave within one loop
 * turn and overflow its receive buffer (BIND with the kernel's default
 * dropped about half of a burst of 4096). So at most udp_window UDP queries
 * per server address await a reply at a time; the other exchanges to it
 * wait in order (counted in parked) and go out as replies or timeouts make
 * room.
 *
 * A channel without exchanges for idle_ms is closed. Channel sockets hold
 * no reference on the loop (uv_unref), so an io with nothing pending does
 * not keep uv_run() going; pending exchanges do (their timers).
 *
 * Many exchanges run at once: max_inflight of them (over all servers)
 * awaiting a reply; beyond that they queue in order of dcv_dnsio_exchange()
 * calls. Waiting for room in a server's window takes no such slot, so a
 * slow server cannot hold up the others. Nothing blocks the loop. The done
 * callback runs exactly once per exchange, never from inside
 * dcv_dnsio_exchange() itself.
 *
 * Ownership: the query bytes are copied. The reply passed to a callback is
 * valid only during the call. Handles are freed in their close callbacks;
 * dcv_dnsio_close() cancels what is left and calls back when all is closed.
 *
 * Timing. UDP try n waits udp_timeout_ms * 2^(n-1), each wait varied by a
 * random +-25% so that many exchanges do not retry in lockstep; a reply to
 * any earlier try of the exchange is still taken. An ICMP error (refused,
 * host or network unreachable) ends the current try at once of every
 * exchange waiting for a reply on the socket it arrives on (a shared
 * connected socket cannot tell which datagram caused it, and the server
 * refused them all alike); a failed send ends the current try of its own
 * exchange (of all on the socket if it reports a refusal). The next try
 * follows after a pause of udp_timeout_ms * 2^(n-1) / 4 (jittered), so a
 * refusing server is reported within a fraction of the full schedule. A
 * UDP socket that cannot even be connected (no route) ends the exchange
 * with DCV_ENET at once. TCP tries (tcp_tries of them) each get
 * tcp_timeout_ms for connect, write and read; a refused, reset or cut-short
 * connection is retried after the same pause (n counting TCP tries), a
 * timed-out one at once. An exchange's timeout_ms runs from the call to
 * dcv_dnsio_exchange(), time spent queued included: it is the caller's
 * deadline, and it ends the exchange even mid-try.
 *
 * When the time or the tries run out, done reports, in this order of
 * preference: the last code the accept callback returned (the server did
 * answer), DCV_ENET if any try failed with a network error (why: "IP@PORT:
 * connection refused"), else DCV_ETIMEOUT (why: "IP@PORT: no reply after
 * 4 tries (7.5 s)").
 */
#ifndef DCV_DNSIO_H
#define DCV_DNSIO_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "addr.h"
#include "dcv/err.h"

struct dcv_dnsio;
struct dcv_dnsio_xchg;

struct dcv_dnsio_opts {
	unsigned max_inflight;   /* exchanges awaiting replies, all servers (default 4096) */
	unsigned udp_timeout_ms; /* first UDP try; doubled per retry (default 500) */
	unsigned udp_tries;      /* default 4 */
	unsigned tcp_timeout_ms; /* connect + write + read (default 5000) */
	unsigned tcp_tries;      /* TCP connections per exchange (default 2) */
	unsigned udp_sockets;    /* UDP sockets per server address (default 4) */
	unsigned idle_ms;        /* a channel unused this long is closed (default 10000) */
	unsigned udp_window;     /* UDP queries awaiting a reply per server address (default 128) */
};
/* A field left 0 takes its default. */

#define DCV_DNSIO_TCP 1u /* use TCP from the start */

/*
 * Called with each reply that passed the checks above; return 0 to accept
 * it (the exchange ends), or a negative DCV_E* code to ignore it and keep
 * waiting (the last such code is what done reports if nothing better
 * arrives before the time runs out).
 */
typedef int (*dcv_dnsio_accept_cb)(void *arg, const uint8_t *msg, size_t len);

/*
 * status DCV_OK: msg/len is the accepted reply. Otherwise msg is NULL and
 * status is DCV_ETIMEOUT (no acceptable reply in time), DCV_ENET (refused,
 * unreachable, reset; why says which), DCV_ECANCELED, DCV_ENOMEM, DCV_EIO
 * (no local socket could be opened, e.g. out of file descriptors), or the
 * last code the accept callback returned. why is never NULL; it names the
 * server ("192.0.2.1@53: ...") unless status is DCV_OK (then it is empty).
 */
typedef void (*dcv_dnsio_done_cb)(void *arg, int status, const uint8_t *msg, size_t len,
                                  const struct dcv_why *why);

/* NULL on allocation failure. opts may be NULL for the defaults. */
struct dcv_dnsio *dcv_dnsio_new(uv_loop_t *loop, const struct dcv_dnsio_opts *opts);

/*
 * Starts an exchange. timeout_ms bounds the whole exchange (all tries,
 * TCP included); 0 uses the tries and timeouts of the options alone.
 * accept may be NULL (accept every matching reply). On success *xchg (if
 * not NULL) can cancel it until done is called. The exchange waits in
 * the queue and starts from the loop. Returns DCV_OK, or DCV_EINVAL (query
 * shorter than a header or longer than 65535 bytes, server not IPv4/IPv6,
 * done NULL, io closing), DCV_ENOMEM -- then done is not called.
 */
int dcv_dnsio_exchange(struct dcv_dnsio *io, const struct dcv_addr *server, const uint8_t *query,
                       size_t len, unsigned flags, uint64_t timeout_ms, dcv_dnsio_accept_cb accept,
                       dcv_dnsio_done_cb done, void *arg, struct dcv_dnsio_xchg **xchg);

/* Ends an exchange early: done is called with DCV_ECANCELED (later, from the loop). */
void dcv_dnsio_cancel(struct dcv_dnsio_xchg *xchg);

/* The loop io runs on. */
uv_loop_t *dcv_dnsio_loop(const struct dcv_dnsio *io);

/* Exchanges started and not yet done (queued ones included). */
size_t dcv_dnsio_pending(const struct dcv_dnsio *io);

/*
 * For use inside an accept callback only (a no-op elsewhere): the detail of
 * the rejection about to be returned, e.g. "reply has no TSIG". done's why
 * then reads "IP@PORT: <detail>" if that rejection is what it reports;
 * without it, "IP@PORT: reply rejected: <dcv_strerror(code)>".
 */
void dcv_dnsio_reject_why(struct dcv_dnsio *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Counters since dcv_dnsio_new(), for tests and debug logs. */
struct dcv_dnsio_stats {
	uint64_t started;    /* exchanges accepted by dcv_dnsio_exchange() */
	uint64_t udp_tries;  /* UDP tries (one datagram each) */
	uint64_t tcp_tries;  /* TCP connections attempted */
	uint64_t truncated;  /* UDP replies with TC set (each led to TCP) */
	uint64_t dropped;    /* replies ignored: wrong source, ID, opcode, question, QR, size */
	uint64_t stale;      /* of these, UDP replies with an ID no exchange holds (late, forged) */
	uint64_t rejected;   /* replies the accept callback refused */
	uint64_t net_errors; /* tries ended by ICMP errors, refused or reset connections */
	uint64_t timeouts;   /* exchanges that ended with DCV_ETIMEOUT */
	uint64_t parked;     /* UDP exchanges that waited for room in the window or a free ID */
	uint64_t udp_sockets; /* UDP sockets opened */
	size_t inflight;      /* exchanges awaiting a reply now (not queued, not parked) */
	size_t peak_inflight; /* the most ever at once (never above max_inflight) */
	size_t channels;      /* server addresses with a channel now */
	size_t sockets;       /* UDP sockets open now */
};
void dcv_dnsio_get_stats(const struct dcv_dnsio *io, struct dcv_dnsio_stats *out);

/*
 * Cancels every exchange, closes every handle, frees io, then calls
 * closed(arg) from the loop (closed may be NULL): every done callback has
 * run by then. io must not be used afterwards; calling this from a done or
 * accept callback is fine.
 */
void dcv_dnsio_close(struct dcv_dnsio *io, void (*closed)(void *arg), void *arg);

#endif
