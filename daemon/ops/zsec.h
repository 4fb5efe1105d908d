/*
 * zsec.h -- which configured zones count as secure (issue 12), asked the
 * way the CA's validating resolvers see them, and their DNSKEY sets.
 *
 * With resolvers configured, they are asked in order, until one answers,
 * for the zone's DNSKEY (RD, DO): AD set: secure. SERVFAIL: asked again
 * with CD=1, and a DNSKEY in that answer means the chain is broken
 * (bogus: the CA's lookup fails); a CD=1 answer without one leaves the
 * zone insecure, and a CD=1 question that fails again leaves it unknown.
 * Any other answer: insecure. With no resolver, the zone's primaries are
 * asked (RD=0, DO), each address in failover order until one answers: a
 * DNSKEY at the apex makes the zone `signed`, whose signatures are checked
 * all the same. A question no server answers (time-out, network error)
 * leaves the zone unknown, with the last reason, and is asked again by
 * the next caller.
 *
 * A result is kept for ttl_ms (the probe's authset_ttl), so that a zone
 * costs one DNSKEY query per resolver lookup, not one per job or round.
 * dcv_zsecs_stale() drops it early (an RRSIG by a key the cached set does
 * not have: a key rollover since).
 *
 * Internal to the prober. Ownership: the info handed to a callback,
 * keys included, is valid during the call only.
 */
#ifndef DCV_ZSEC_H
#define DCV_ZSEC_H

#include <stdbool.h>
#include <stdint.h>

#include <ldns/ldns.h>

#include "config.h"
#include "dnsio.h"
#include "dnssec.h"

struct dcv_zsec_info {
	enum dcv_zsec state;
	bool bogus;               /* secure zone whose chain is broken: the job fails */
	const ldns_rr_list *keys; /* DNSKEY set of secure and signed zones */
	uint64_t fetched_ms;      /* loop time of the answer */
	char why[400];            /* unknown or bogus: what was seen, naming the server */
};

typedef void (*dcv_zsec_cb)(void *arg, const struct dcv_zsec_info *info);

struct dcv_zsecs;

struct dcv_zsecs *dcv_zsecs_new(struct dcv_dnsio *io, const struct dcv_config *cfg,
                                uint64_t ttl_ms);

/*
 * Calls cb with what is known of zone: at once (possibly from inside this
 * call) when it is cached, otherwise when the question ends. timeout_ms
 * bounds a question started for this call. DCV_ENOMEM (no callback).
 */
int dcv_zsecs_get(struct dcv_zsecs *z, const struct dcv_zone *zone, uint64_t timeout_ms,
                  dcv_zsec_cb cb, void *arg);

/* Forgets the cached result of zone: the next caller asks again. */
void dcv_zsecs_stale(struct dcv_zsecs *z, const struct dcv_zone *zone);

/* Close dnsio first (its queries then end and report). NULL-safe. */
void dcv_zsecs_free(struct dcv_zsecs *z);

#endif
