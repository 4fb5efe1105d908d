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
 * An add never overwrites a CNAME: every added record carries the RFC 2136
 * prerequisite "RRset does not exist" (class NONE, type CNAME) at its
 * owner. A remote that finds a CNAME at any owner of a message answers
 * YXRRSET and applies nothing of it; then each owner of that message is
 * queried at that address (RD=0, as for confirming):
 *
 *   our target (case and trailing dot aside) -> confirmed: an identical add
 *             succeeds, as when dcvd re-adds what it published before a crash;
 *   another CNAME -> that record fails with DCV_ECONFLICT ("... already has
 *             CNAME x.; not overwritten"), the others go on;
 *   no CNAME (it went away meanwhile) -> sent again, with the prerequisite;
 *             YX_ABSENT_MAX (2) times in a row is a conflict as well
 *             ("prerequisite failed but no CNAME is served");
 *   no usable answer -> sent again after a backoff.
 *
 * The records left go out again until none is left, within the deadline.
 *
 * Ownership: records are copied. The callback runs once, from the loop,
 * with outcomes (their arrays and texts included) valid during the call;
 * the update frees itself after it.
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

/*
 * What one remote made of the update. status is about the remote as a
 * whole (its configuration, its reachability) and stays DCV_OK when single
 * records conflict there: those are told per record, so that a conflict
 * fails only the jobs of its records. A record is in place at this remote
 * when confirmed[i]; when not, rec_status[i] says whether it failed on its
 * own (DCV_ECONFLICT) or with the remote (DCV_OK there: see status).
 */
struct dcv_update_outcome {
	const struct dcv_remote *remote;
	const struct dcv_addr *server; /* last address used */
	int status;                    /* DCV_OK or why it failed */
	char why[512];                 /* names zone, server, key and the reason */
	size_t n_messages;             /* UPDATE messages this remote accepted */
	const bool *confirmed;         /* per record: confirmed at this remote */
	const int *rec_status;         /* per record: DCV_OK or DCV_ECONFLICT (adds only) */
	/*
	 * Per record: why it failed on its own, naming zone, remote, server,
	 * owner and the CNAME found; NULL when rec_status[i] is DCV_OK (and,
	 * when memory ran out for the text, also for a failed one: then
	 * dcv_strerror(rec_status[i]) is all there is to say).
	 */
	const char *const *rec_why;
};

typedef void (*dcv_update_cb)(void *arg, int status, const struct dcv_update_outcome *outcomes,
                              size_t n_outcomes);

struct dcv_update;

/*
 * Starts the update. status in the callback is DCV_OK when every remote
 * accepted and confirmed every record; otherwise the first failing
 * remote's status, or DCV_ECONFLICT when every remote did its part but
 * some record conflicts (see rec_status; the outcomes' status stay
 * DCV_OK then).
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
