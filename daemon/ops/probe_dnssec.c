/*
 * probe_dnssec.c -- the DNSSEC part of a probe round (issue 12; probe.h).
 *
 * Before the authoritative stage, every zone of a publishing round gets
 * its security from zsec.h (secure, insecure, signed; or bogus, or not
 * known). Then:
 *
 *   - authoritative, secure or signed zone: the ADN's CNAME is asked with
 *     DO; a served CNAME of ours must carry an RRSIG that validates with
 *     the zone's DNSKEY set now and for DCV_DNSSEC_MARGIN_S more. Missing,
 *     not validating, expired or expiring: fatal (the CA's lookup fails,
 *     and waiting does not mend a signature). A server without the record
 *     (NXDOMAIN, an old serial) is only waiting, as before.
 *   - resolvers, candidates in a secure zone: asked with DO; the CNAME and
 *     the denials the walk meets before it must have AD. A SERVFAIL is
 *     asked again with CD=1: in a secure zone an answer then holding the
 *     record (or the denial) means it does not validate: fatal, with the
 *     Extended DNS Error of the SERVFAIL when there was one. A validated NXDOMAIN at the
 *     ADN with an NSEC is a cached denial (aggressive NSEC, RFC 8198): a
 *     reason to wait, named with its TTL.
 *
 * An RRSIG by a key the cached DNSKEY set lacks may follow a key rollover:
 * when the set is older than KEYS_FRESH_MS it is asked again and the item
 * waits; with a fresh set it is fatal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "probe_int.h"

#define KEYS_FRESH_MS 10000

static void on_zone_sec(void *arg, const struct dcv_zsec_info *info)
{
	struct zone_addrs *za = arg;

	za->sec_asked = true;
	za->sec = info->state;
	za->bogus = info->bogus;
	za->keys_ms = info->fetched_ms;
	snprintf(za->sec_why, sizeof(za->sec_why), "%s", info->why);
	ldns_rr_list_deep_free(za->keys);
	za->keys = info->keys != NULL ? ldns_rr_list_clone(info->keys) : NULL;
	probe_zones_release(za->round);
}

void probe_dnssec_zones(struct round *r)
{
	for (size_t i = 0; i < r->n_zones; i++) {
		r->zones_waiting++;
		if (dcv_zsecs_get(r->p->zsecs, r->zones[i].zone, probe_query_timeout(r->p),
		                  on_zone_sec, &r->zones[i]) < 0) {
			r->zones_waiting--;
			r->status = DCV_ENOMEM;
			snprintf(r->why, sizeof(r->why), "%s", dcv_strerror(DCV_ENOMEM));
		}
	}
}

int probe_dnssec_zone_items(struct round *r)
{
	const struct dcv_config *cfg = r->p->cfg;

	for (size_t z = 0; z < r->n_zones; z++) {
		struct zone_addrs *za = &r->zones[z];
		struct item *it = NULL;

		if (!za->sec_asked || (za->sec != DCV_ZSEC_UNKNOWN && !za->bogus))
			continue;
		if ((it = probe_new_item(r)) == NULL)
			return DCV_ENOMEM;
		it->fixed = true;
		it->zone = z;
		it->addr = (size_t)-1;
		it->memo = -1;
		it->obs.name = r->spec->n_names > 0 ? r->spec->names[0].name : "";
		it->obs.fatal = za->bogus;
		it->obs.resolver = cfg->n_resolvers > 0;
		snprintf(it->obs.qname, sizeof(it->obs.qname), "%s. DNSKEY", za->zone->domain);
		snprintf(it->obs.server, sizeof(it->obs.server), "%s",
		         cfg->n_resolvers > 0 ? cfg->resolvers[0].text
		                              : za->zone->primaries[0]->addrs[0].text);
		snprintf(it->obs.seen, sizeof(it->obs.seen), "%.299s", za->sec_why);
	}
	return DCV_OK;
}

unsigned probe_dnssec_flags(const struct item *it)
{
	return it->dnssec || it->cd ? DCV_QUERY_DO | (it->cd ? DCV_QUERY_CD : 0) : 0;
}

bool probe_dnssec_secure(const struct round *r, size_t n, size_t cand)
{
	const struct dcv_probe_name *pn = &r->spec->names[n];
	const struct dcv_zone *zone = dcv_config_zone_of(r->p->cfg, pn->candidates[cand]);

	for (size_t z = 0; zone != NULL && z < r->n_zones; z++)
		if (r->zones[z].zone == zone)
			return r->zones[z].sec == DCV_ZSEC_SECURE && !r->zones[z].bogus;
	return false;
}

void probe_dnssec_judge_auth(struct item *it, const uint8_t *msg, size_t len)
{
	struct round *r = it->round;
	struct zone_addrs *za = &r->zones[it->zone];
	enum dcv_sigcheck c = DCV_SIG_MISSING;
	char why[240];

	if (!it->dnssec || !it->obs.ok || it->expect != EXPECT_OURS)
		return;
	c = dcv_dnssec_check_answer(msg, len, it->obs.qname, DCV_TYPE_CNAME, za->keys, time(NULL),
	                            DCV_DNSSEC_MARGIN_S, why, sizeof(why));
	if (c == DCV_SIG_OK)
		return;
	it->obs.ok = false;
	if (c == DCV_SIG_NOKEY && uv_now(r->p->loop) - za->keys_ms > KEYS_FRESH_MS) {
		/* A key rollover since the set was fetched: ask for it again, then judge. */
		dcv_zsecs_stale(r->p->zsecs, za->zone);
		it->forget = true;
		snprintf(it->obs.seen, sizeof(it->obs.seen),
		         "DNSSEC: %.200s; asking for the zone's DNSKEY set again", why);
		return;
	}
	it->obs.fatal = true;
	snprintf(it->obs.seen, sizeof(it->obs.seen), "DNSSEC: our CNAME is served, but %.240s",
	         why);
}

/* The SERVFAIL's Extended DNS Error, kept for the message. */
static void probe_keep_ede(struct item *it, const uint8_t *msg, size_t len)
{
	dcv_query_describe_ede(msg, len, it->ede, sizeof(it->ede));
}

/* The answer to the CD=1 question after a SERVFAIL. */
static enum probe_verdict probe_after_cd(struct item *it, const struct dcv_answer *ans)
{
	const char *target = it->round->spec->target;
	bool ours = ans->seen == DCV_SEEN_CNAME && strcasecmp(ans->cname, target) == 0;
	bool denial = ans->seen == DCV_SEEN_NXDOMAIN || ans->seen == DCV_SEEN_NODATA;
	char seen[80];

	it->obs.ok = false;
	dcv_answer_describe(ans, seen, sizeof(seen));
	/*
	 * Only in a secure zone: elsewhere validation cannot be what failed, and
	 * a resolver whose servers did not answer may still hold an older copy.
	 */
	if ((ours || denial) && it->dnssec) {
		it->obs.fatal = true;
		snprintf(it->obs.seen, sizeof(it->obs.seen),
		         "DNSSEC: SERVFAIL, but with CD=1 the answer is %.60s: it does not "
		         "validate%.150s",
		         seen, it->ede);
	} else {
		snprintf(it->obs.seen, sizeof(it->obs.seen), "SERVFAIL (with CD=1: %.60s)%.150s",
		         seen, it->ede);
	}
	return PROBE_STOP;
}

enum probe_verdict probe_dnssec_judge_resolver(struct item *it, const uint8_t *msg, size_t len,
                                               const struct dcv_answer *ans)
{
	struct round *r = it->round;
	const struct dcv_probe_name *pn = &r->spec->names[it->name];
	bool denial = ans->seen == DCV_SEEN_NXDOMAIN || ans->seen == DCV_SEEN_NODATA;

	if (msg == NULL)
		return PROBE_GO_ON;
	if (it->cd)
		return probe_after_cd(it, ans);
	if (ans->seen == DCV_SEEN_RCODE && ans->rcode == DCV_RCODE_SERVFAIL) {
		/* The CA's lookup fails alike; whether it is DNSSEC, CD=1 tells. */
		probe_keep_ede(it, msg, len);
		it->cd = true;
		if (probe_send_item(r, it, true) == DCV_OK)
			return PROBE_RESENT;
		it->cd = false;
		return PROBE_GO_ON;
	}
	if (!it->dnssec)
		return PROBE_GO_ON;
	if ((it->obs.ok || denial) && !ans->ad) {
		snprintf(it->obs.seen, sizeof(it->obs.seen),
		         "DNSSEC: %s without AD: the resolver did not validate it",
		         it->obs.ok                       ? "our CNAME"
		         : ans->seen == DCV_SEEN_NXDOMAIN ? "NXDOMAIN"
		                                          : "NODATA");
		it->obs.ok = false;
		return PROBE_STOP;
	}
	if (it->cand == pn->adn && ans->seen == DCV_SEEN_NXDOMAIN && ans->nsec) {
		it->adn_cached = true;
		it->adn_ttl = ans->nsec_ttl;
	}
	return PROBE_GO_ON;
}

void probe_dnssec_report(const struct round *r, struct dcv_probe_report *rep,
                         struct dcv_probe_zsec *zsecs)
{
	for (size_t z = 0; zsecs != NULL && z < r->n_zones; z++) {
		const struct zone_addrs *za = &r->zones[z];
		if (!za->sec_asked || za->sec == DCV_ZSEC_UNKNOWN)
			continue;
		zsecs[rep->n_zsecs].zone = za->zone->domain;
		zsecs[rep->n_zsecs++].state = dcv_zsec_name(za->sec);
	}
	rep->zsecs = zsecs;
	for (size_t i = 0; i < r->n_items && !rep->failed; i++) {
		const struct dcv_probe_obs *o = &r->items[i].obs;
		if (!o->fatal)
			continue;
		rep->failed = true;
		snprintf(rep->why, sizeof(rep->why), "%s %.63s asked %.120s for %.80s: %.200s",
		         o->resolver ? "resolver" : "server", o->server, o->qname, o->name,
		         o->seen);
	}
}

void probe_dnssec_free(struct round *r)
{
	for (size_t i = 0; i < r->n_zones; i++)
		ldns_rr_list_deep_free(r->zones[i].keys);
}
