/*
 * update.h -- RFC 2136 dynamic updates of DCV records to every primary of a
 * zone, signed with TSIG, and confirmed by query.
 *
 * One update = one zone, one operation (add or delete exact records), any
 * number of records: they are packed into as few UPDATE messages as the
 * size limit allows and sent to every remote listed in the zone's
 * `primary`, each remote's addresses tried in order (failover). Replies must
 * carry a valid TSIG when the remote has a key, except an error reply that
 * holds no TSIG at all (FORMERR, NOTIMP, REFUSED, NOTAUTH, NOTZONE: a server
 * that has not looked at the key cannot sign; Knot answers so for a zone it
 * does not serve), which fails the remote like a signed one and says it was
 * unsigned. Such unsigned errors, BADSIG and BADKEY included, can be forged
 * by anyone who sees the request, so one is acted on only when no signed
 * reply follows within 0.4 s. Replies that fail TSIG or cannot be read are
 * ignored (the exchange waits for a better one); the confirming queries
 * ignore replies that cannot be read. Outcomes per remote:
 *
 *   BADSIG, BADKEY, BADTIME (skew reported), NOTAUTH, REFUSED, NOTZONE,
 *   FORMERR   -> configuration problems: that remote fails at once;
 *   SERVFAIL, timeouts, network errors, Knot's "not ready"
 *             -> retried with backoff and jitter until the deadline.
 *
 * NOERROR is not trusted alone: afterwards every record is queried at the
 * address that accepted it (RD=0); an added record must be served with our
 * target (BIND answers NOERROR to a CNAME it silently drops beside other
 * data), a deleted one must be gone. Deletes name the exact record (owner,
 * CNAME, target), never the RRset.
 *
 * Ownership: records are copied. The callback runs once, from the loop,
 * with outcomes valid during the call; the update frees itself after it.
 */
#ifndef DCV_UPDATE_H
#define DCV_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dnsio.h"

struct dcv_record {
	char owner[DCV_WIRE_NAME_MAX + 2];  /* "_<md5>.<adn>." */
	char target[DCV_WIRE_NAME_MAX + 2]; /* "<h1>.<h2>[.<u>].sectigo.com." */
	uint32_t ttl;
};

enum dcv_update_op {
	DCV_UPDATE_ADD,
	DCV_UPDATE_DELETE,
};

struct dcv_update_opts {
	size_t max_message_size; /* 0: 65535 */
	uint64_t timeout_ms;     /* the whole update, all remotes; 0: 30 s */
};

struct dcv_update_outcome {
	const struct dcv_remote *remote;
	const struct dcv_addr *server; /* last address used */
	int status;                    /* DCV_OK or why it failed */
	char why[512];                 /* names zone, server, key and the reason */
	size_t n_messages;             /* UPDATE messages this remote accepted */
	const bool *confirmed;         /* per record: confirmed at this remote */
};

typedef void (*dcv_update_cb)(void *arg, int status, const struct dcv_update_outcome *outcomes,
                              size_t n_outcomes);

struct dcv_update;

/*
 * Starts the update. status in the callback is DCV_OK when every remote
 * accepted and confirmed, otherwise the first failing remote's status.
 * Returns DCV_OK, DCV_EINVAL (no records, no primaries, a record that does
 * not fit a message), DCV_ENOMEM -- then cb is not called.
 */
int dcv_update_start(struct dcv_dnsio *io, const struct dcv_zone *zone, enum dcv_update_op op,
                     const struct dcv_record *recs, size_t n_recs,
                     const struct dcv_update_opts *opts, dcv_update_cb cb, void *arg,
                     struct dcv_update **out);

/* Stops early: the callback runs with DCV_ECANCELED for unfinished remotes. */
void dcv_update_cancel(struct dcv_update *up);

#endif
