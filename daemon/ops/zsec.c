/*
 * zsec.c -- the security of configured zones and their DNSKEY sets (zsec.h).
 *
 * One entry per configured zone: EMPTY, then ASKING (one DNSKEY question,
 * and for a SERVFAIL one more with CD=1), then READY with the result,
 * which every waiter gets; later callers within the TTL get it at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "zsec.h"

enum zsec_state {
	ZSEC_EMPTY,
	ZSEC_ASKING,
	ZSEC_READY,
};

struct zsec_waiter {
	dcv_zsec_cb cb;
	void *arg;
};

struct zsec_entry {
	struct dcv_zsecs *z;
	const struct dcv_zone *zone;
	enum zsec_state state;
	bool cd;             /* the question in flight has CD=1 */
	uint64_t timeout_ms; /* of the questions of this lookup */
	struct dcv_addr server;
	size_t server_i; /* which of the candidates (zsec_server) is asked */
	char ede[200];   /* the SERVFAIL's Extended DNS Error, described */
	struct dcv_zsec_info info;
	ldns_rr_list *keys;
	struct zsec_waiter *waiters;
	size_t n_waiters, cap_waiters;
};

struct dcv_zsecs {
	struct dcv_dnsio *io;
	uv_loop_t *loop;
	const struct dcv_config *cfg;
	uint64_t ttl_ms;
	struct zsec_entry *entries; /* one per configured zone */
	size_t n;
};

static void zsec_finish(struct zsec_entry *e)
{
	struct zsec_waiter *waiters = e->waiters;
	size_t n = e->n_waiters;

	e->state = ZSEC_READY;
	e->info.keys = e->keys;
	e->info.fetched_ms = uv_now(e->z->loop);
	e->waiters = NULL;
	e->n_waiters = e->cap_waiters = 0;
	/* A waiter may ask again from its callback: the list is ours now. */
	for (size_t i = 0; i < n; i++)
		waiters[i].cb(waiters[i].arg, &e->info);
	free(waiters);
}

static int zsec_ask(struct zsec_entry *e);

/*
 * The i-th server to ask for the zone's DNSKEY: the resolvers in order, or
 * without resolvers every address of every primary (the failover order of
 * the UPDATEs), so that one silent address does not leave the zone's state
 * unknown. False past the last.
 */
static bool zsec_server(const struct zsec_entry *e, size_t i, struct dcv_addr *out)
{
	const struct dcv_config *cfg = e->z->cfg;

	if (cfg->n_resolvers > 0) {
		if (i >= cfg->n_resolvers)
			return false;
		*out = cfg->resolvers[i];
		return true;
	}
	for (size_t p = 0; p < e->zone->n_primaries; p++) {
		if (i < e->zone->primaries[p]->n_addrs) {
			*out = e->zone->primaries[p]->addrs[i];
			return true;
		}
		i -= e->zone->primaries[p]->n_addrs;
	}
	return false;
}

/* The DNSKEY RRset of the zone in a reply (cloned), or NULL when there is none. */
static ldns_rr_list *zsec_keys_of(const struct zsec_entry *e, const uint8_t *msg, size_t len)
{
	ldns_rr_list *keys = NULL, *sigs = NULL;

	if (dcv_dnssec_answer_rrset(msg, len, e->zone->domain, DCV_TYPE_DNSKEY, &keys, &sigs) < 0)
		return NULL;
	ldns_rr_list_deep_free(sigs);
	if (ldns_rr_list_rr_count(keys) == 0) {
		ldns_rr_list_deep_free(keys);
		keys = NULL;
	}
	return keys;
}

static void zsec_on_answer(void *arg, int status, const uint8_t *msg, size_t len,
                           const struct dcv_why *why)
{
	struct zsec_entry *e = arg;
	struct dcv_zsec_info *info = &e->info;
	const char *who = e->z->cfg->n_resolvers > 0 ? "resolver" : "server";
	ldns_rr_list *keys = NULL;
	int rcode = -1;

	/* No answer from this one (silent, unreachable): the next one, if any. */
	if ((status == DCV_ETIMEOUT || status == DCV_ENET) &&
	    zsec_server(e, e->server_i + 1, &(struct dcv_addr){0})) {
		e->server_i++;
		if (zsec_ask(e) == DCV_OK)
			return;
	}
	if (status < 0) {
		info->state = DCV_ZSEC_UNKNOWN;
		snprintf(info->why, sizeof(info->why),
		         "DNSSEC: zone %s: its DNSKEY could not be asked (%s%s): %.250s",
		         e->zone->domain, e->cd ? "CD=1 after a SERVFAIL, " : "", who, why->text);
		goto done;
	}
	rcode = DCV_WIRE_RCODE(msg);
	keys = zsec_keys_of(e, msg, len);
	if (e->z->cfg->n_resolvers == 0) {
		info->state =
		    rcode == DCV_RCODE_NOERROR && keys ? DCV_ZSEC_SIGNED : DCV_ZSEC_INSECURE;
	} else if (e->cd) {
		/* The resolver has the keys but cannot validate them: the chain is broken. */
		info->state = DCV_ZSEC_INSECURE;
		if (keys != NULL) {
			info->state = DCV_ZSEC_SECURE;
			info->bogus = true;
			snprintf(info->why, sizeof(info->why),
			         "DNSSEC: zone %s is bogus: resolver %s answers SERVFAIL for its "
			         "DNSKEY, which it has (CD=1)%s",
			         e->zone->domain, e->server.text, e->ede);
		}
	} else if (rcode == DCV_RCODE_SERVFAIL) {
		dcv_query_describe_ede(msg, len, e->ede, sizeof(e->ede));
		e->cd = true;
		ldns_rr_list_deep_free(keys);
		if (zsec_ask(e) == DCV_OK)
			return;
		info->state = DCV_ZSEC_UNKNOWN;
		snprintf(info->why, sizeof(info->why),
		         "DNSSEC: zone %s: resolver %s answers SERVFAIL for its DNSKEY%s",
		         e->zone->domain, e->server.text, e->ede);
		goto done;
	} else {
		bool ad = (msg[3] & 0x20) != 0;
		info->state =
		    rcode == DCV_RCODE_NOERROR && ad && keys ? DCV_ZSEC_SECURE : DCV_ZSEC_INSECURE;
	}
	if (info->state == DCV_ZSEC_SECURE || info->state == DCV_ZSEC_SIGNED) {
		e->keys = keys;
		keys = NULL;
	}
done:
	ldns_rr_list_deep_free(keys);
	zsec_finish(e);
}

static int zsec_ask(struct zsec_entry *e)
{
	const struct dcv_config *cfg = e->z->cfg;
	unsigned flags =
	    DCV_QUERY_DO | (cfg->n_resolvers > 0 ? DCV_QUERY_RD : 0) | (e->cd ? DCV_QUERY_CD : 0);
	uint8_t buf[DCV_QUERY_MAX];
	size_t len = 0;
	int rc = DCV_OK;

	if (!zsec_server(e, e->server_i, &e->server))
		return DCV_EINVAL;
	rc = dcv_query_build_flags(e->zone->domain, DCV_TYPE_DNSKEY, flags, buf, sizeof(buf), &len);
	if (rc == DCV_OK)
		rc = dcv_dnsio_exchange(e->z->io, &e->server, buf, len, 0, e->timeout_ms, NULL,
		                        zsec_on_answer, e, NULL);
	return rc;
}

struct dcv_zsecs *dcv_zsecs_new(struct dcv_dnsio *io, const struct dcv_config *cfg, uint64_t ttl_ms)
{
	struct dcv_zsecs *z = calloc(1, sizeof(*z));

	if (z == NULL)
		return NULL;
	z->entries = calloc(cfg->n_zones ? cfg->n_zones : 1, sizeof(*z->entries));
	if (z->entries == NULL) {
		free(z);
		return NULL;
	}
	z->io = io;
	z->loop = dcv_dnsio_loop(io);
	z->cfg = cfg;
	z->ttl_ms = ttl_ms;
	z->n = cfg->n_zones;
	for (size_t i = 0; i < z->n; i++) {
		z->entries[i].z = z;
		z->entries[i].zone = &cfg->zones[i];
	}
	return z;
}

int dcv_zsecs_get(struct dcv_zsecs *z, const struct dcv_zone *zone, uint64_t timeout_ms,
                  dcv_zsec_cb cb, void *arg)
{
	struct zsec_entry *e = &z->entries[zone - z->cfg->zones];
	struct zsec_waiter *grown = NULL;
	int rc = DCV_OK;

	/* Unknown and bogus are asked again: the next answer may differ, and the chain be fixed. */
	if (e->state == ZSEC_READY && e->info.state != DCV_ZSEC_UNKNOWN && !e->info.bogus &&
	    uv_now(z->loop) - e->info.fetched_ms < z->ttl_ms) {
		cb(arg, &e->info);
		return DCV_OK;
	}
	if (e->n_waiters == e->cap_waiters) {
		/* A burst has a round per job waiting here. */
		size_t cap = e->cap_waiters ? 2 * e->cap_waiters : 4;
		if ((grown = realloc(e->waiters, cap * sizeof(*grown))) == NULL)
			return DCV_ENOMEM;
		e->waiters = grown;
		e->cap_waiters = cap;
	}
	e->waiters[e->n_waiters++] = (struct zsec_waiter){cb, arg};
	if (e->state == ZSEC_ASKING)
		return DCV_OK;
	ldns_rr_list_deep_free(e->keys);
	e->keys = NULL;
	memset(&e->info, 0, sizeof(e->info));
	e->cd = false;
	e->server_i = 0;
	e->timeout_ms = timeout_ms;
	e->state = ZSEC_ASKING;
	rc = zsec_ask(e);
	if (rc < 0) {
		e->info.state = DCV_ZSEC_UNKNOWN;
		snprintf(e->info.why, sizeof(e->info.why),
		         "DNSSEC: zone %s: its DNSKEY could not be asked: %s", zone->domain,
		         dcv_strerror(rc));
		zsec_finish(e);
	}
	return DCV_OK;
}

void dcv_zsecs_stale(struct dcv_zsecs *z, const struct dcv_zone *zone)
{
	struct zsec_entry *e = &z->entries[zone - z->cfg->zones];

	if (e->state == ZSEC_READY)
		e->state = ZSEC_EMPTY;
}

void dcv_zsecs_free(struct dcv_zsecs *z)
{
	if (z == NULL)
		return;
	for (size_t i = 0; i < z->n; i++) {
		ldns_rr_list_deep_free(z->entries[i].keys);
		free(z->entries[i].waiters);
	}
	free(z->entries);
	free(z);
}
