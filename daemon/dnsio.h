/*
 * dnsio.h -- the only code that touches sockets: DNS exchanges on a libuv
 * loop.
 *
 * One exchange = one query sent to one server address and one reply
 * accepted. UDP first (a fresh, connected socket per exchange, so the
 * kernel picks a random source port and drops datagrams from elsewhere),
 * retried with exponential backoff and jitter; TCP when the query is over
 * 512 bytes, when the caller asks, or when a UDP reply comes back truncated.
 * A reply is accepted only when it comes from the address and port asked,
 * carries the query's ID, has QR set, and repeats the query's question
 * section; the caller's accept callback may reject it further (TSIG), in
 * which case the exchange keeps waiting for a better reply. Every length is
 * checked; nothing is read beyond what was received.
 *
 * Many exchanges run at once; beyond max_inflight they queue. Nothing
 * blocks the loop. The done callback runs exactly once per exchange, never
 * from inside dcv_dnsio_exchange() itself.
 *
 * Ownership: the query bytes are copied. The reply passed to a callback is
 * valid only during the call. Handles are freed in their close callbacks;
 * dcv_dnsio_close() cancels what is left and calls back when all is closed.
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
	unsigned max_inflight;   /* default 256 */
	unsigned udp_timeout_ms; /* first UDP try; doubled per retry (default 500) */
	unsigned udp_tries;      /* default 4 */
	unsigned tcp_timeout_ms; /* connect + write + read (default 5000) */
};

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
 * unreachable, reset; why says which), DCV_ECANCELED, DCV_ENOMEM, or the
 * last code the accept callback returned. why is never NULL.
 */
typedef void (*dcv_dnsio_done_cb)(void *arg, int status, const uint8_t *msg, size_t len,
                                  const struct dcv_why *why);

/* NULL on allocation failure. opts may be NULL for the defaults. */
struct dcv_dnsio *dcv_dnsio_new(uv_loop_t *loop, const struct dcv_dnsio_opts *opts);

/*
 * Starts an exchange. timeout_ms bounds the whole exchange (all tries,
 * TCP included); 0 uses the tries and timeouts of the options alone.
 * accept may be NULL (accept every matching reply). On success *xchg (if
 * not NULL) can cancel it until done is called. Returns DCV_OK, or
 * DCV_EINVAL (query shorter than a header or longer than 65535 bytes,
 * io closing), DCV_ENOMEM -- then done is not called.
 */
int dcv_dnsio_exchange(struct dcv_dnsio *io, const struct dcv_addr *server, const uint8_t *query,
                       size_t len, unsigned flags, uint64_t timeout_ms, dcv_dnsio_accept_cb accept,
                       dcv_dnsio_done_cb done, void *arg, struct dcv_dnsio_xchg **xchg);

/* Ends an exchange early: done is called with DCV_ECANCELED (later, from the loop). */
void dcv_dnsio_cancel(struct dcv_dnsio_xchg *xchg);

/* Exchanges started and not yet done (queued ones included). */
size_t dcv_dnsio_pending(const struct dcv_dnsio *io);

/*
 * Cancels every exchange, closes every handle, frees io, then calls
 * closed(arg) from the loop. io must not be used afterwards.
 */
void dcv_dnsio_close(struct dcv_dnsio *io, void (*closed)(void *arg), void *arg);

#endif
