/*
 * authset.c -- discovering and caching the authoritative addresses of zones.
 *
 * A fetch is a small state machine: NS query to the first primary, then
 * A and AAAA queries for every NS name without glue (to the primary, and
 * to the first resolver when the primary has no answer), then ready.
 * Every waiter of the zone gets the result; later callers within the TTL get
 * the cached set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authset.h"
#include "authset_read.h"
#include "query.h"

enum fetch_state {
	SET_EMPTY,
	SET_FETCH_NS,
	SET_FETCH_ADDRS,
	SET_READY,
};

struct waiter {
	dcv_authset_cb cb;
	void *arg;
};

struct authset {
	struct dcv_authsets *sets;
	const struct dcv_zone *zone;
	enum fetch_state state;
	int status;
	char why[512];
	uint64_t fetched;
	struct dcv_addr *addrs;
	size_t n_addrs;
	char (*ns)[DCV_NAME_TEXT_MAX]; /* NS names, for address queries */
	size_t n_ns;
	size_t pending;
	bool oom; /* a query or an answer of this fetch lacked memory: the set is not whole */
	struct waiter *waiters;
	size_t n_waiters;
};

/* The last SOA serial seen for a zone at one address, and who waits for the next. */
struct serial_entry {
	struct dcv_authsets *sets;
	struct serial_entry *next;
	const struct dcv_zone *zone;
	struct dcv_addr addr;
	uint8_t zone_wire[DCV_WIRE_NAME_MAX];
	size_t zone_len;
	uint32_t serial;
	int status;
	uint64_t fetched;
	bool fetching;
	struct serial_waiter {
		dcv_serial_cb cb;
		void *arg;
	} * waiters;
	size_t n_waiters;
};

struct dcv_authsets {
	struct serial_entry *serials;
	struct dcv_dnsio *io;
	uv_loop_t *loop;
	const struct dcv_config *cfg;
	uint64_t ttl_ms;
	uint64_t timeout_ms;
	uint64_t give_up_at;  /* loop ms, 0: none (dcv_authsets_give_up_at) */
	struct authset *sets; /* one per configured zone */
	size_t n_sets;
};

/* One query of a fetch. */
struct fetch_q {
	struct authset *set;
	uint16_t qtype;
	bool via_resolver;
	size_t ns; /* index into set->ns for address queries */
};

static void fetch_addrs(struct authset *set);

static int add_addr(struct authset *set, const uint8_t *rdata, uint16_t rdlength, uint16_t type)
{
	struct sockaddr_storage ss;
	struct dcv_addr *grown = NULL;

	memset(&ss, 0, sizeof(ss));
	if (type == DCV_TYPE_A && rdlength == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(53);
		memcpy(&in->sin_addr, rdata, 4);
	} else if (type == DCV_TYPE_AAAA && rdlength == 16) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(53);
		memcpy(&in6->sin6_addr, rdata, 16);
	} else {
		return DCV_OK;
	}
	for (size_t i = 0; i < set->n_addrs; i++)
		if (dcv_addr_equal(&set->addrs[i], (struct sockaddr *)&ss))
			return DCV_OK;
	grown = realloc(set->addrs, (set->n_addrs + 1) * sizeof(*grown));
	if (grown == NULL)
		return DCV_ENOMEM;
	set->addrs = grown;
	dcv_addr_from_sockaddr((struct sockaddr *)&ss, &set->addrs[set->n_addrs++]);
	return DCV_OK;
}

/*
 * How a fetch ends once its queries are done: out of memory, if any of
 * them was (a set missing addresses would be probed as if whole); else OK
 * with addresses, DCV_ENET when a query failed and none came.
 */
static int fetch_status(struct authset *set)
{
	if (set->oom) {
		snprintf(set->why, sizeof(set->why),
		         "zone %s: out of memory while finding its name servers",
		         set->zone->domain);
		return DCV_ENOMEM;
	}
	return set->n_addrs > 0 ? DCV_OK : set->why[0] ? DCV_ENET : DCV_OK;
}

static void finish_fetch(struct authset *set, int status)
{
	struct waiter *waiters = set->waiters;
	size_t n = set->n_waiters;

	set->state = SET_READY;
	set->status = status;
	set->fetched = uv_now(set->sets->loop);
	if (status == DCV_OK && set->n_addrs == 0) {
		set->status = DCV_ENOZONE;
		snprintf(set->why, sizeof(set->why),
		         "zone %s: no address found for its NS names; configure its nameservers",
		         set->zone->domain);
	}
	set->waiters = NULL;
	set->n_waiters = 0;
	for (size_t i = 0; i < n; i++)
		waiters[i].cb(waiters[i].arg, set->status, set->addrs, set->n_addrs, set->why);
	free(waiters);
}

/* NS answer: the NS names, and the glue that came with them. */
int dcv_authset_read_ns(const char *zone_text, const uint8_t *msg, size_t len,
                        char (**ns)[DCV_NAME_TEXT_MAX], size_t *n_ns)
{
	uint8_t zone[DCV_WIRE_NAME_MAX], owner[DCV_WIRE_NAME_MAX], target[DCV_WIRE_NAME_MAX];
	size_t zone_len = 0, owner_len = 0, target_len = 0, off = 0, pos = 0;
	unsigned n = 0;
	struct dcv_wire_rr rr;

	if (dcv_wire_from_text(zone_text, zone, &zone_len) < 0 ||
	    dcv_wire_after_question(msg, len, &off) < 0)
		return DCV_EREPLY;
	n = DCV_WIRE_ANCOUNT(msg) + DCV_WIRE_NSCOUNT(msg) + DCV_WIRE_ARCOUNT(msg);
	for (unsigned i = 0; i < n; i++) {
		pos = off;
		if (dcv_wire_read_name(msg, len, &pos, owner, &owner_len) < 0 ||
		    dcv_wire_read_rr(msg, len, &off, &rr) < 0)
			return DCV_EREPLY;
		if (i < DCV_WIRE_ANCOUNT(msg) && rr.type == DCV_TYPE_NS && owner_len == zone_len &&
		    memcmp(owner, zone, zone_len) == 0) {
			void *grown = NULL;
			pos = rr.rdata;
			if (dcv_wire_read_name(msg, len, &pos, target, &target_len) < 0)
				return DCV_EREPLY;
			grown = realloc(*ns, (*n_ns + 1) * sizeof(**ns));
			if (grown == NULL)
				return DCV_ENOMEM;
			*ns = grown;
			dcv_name_text(target, target_len, (*ns)[(*n_ns)++]);
		}
	}
	return DCV_OK;
}

int dcv_authset_read_addrs(const uint8_t *msg, size_t len, dcv_authset_addr_cb add, void *arg)
{
	uint8_t want[DCV_WIRE_NAME_MAX], owner[DCV_WIRE_NAME_MAX];
	size_t want_len = 0, owner_len = 0, off = DCV_WIRE_HEADER, pos = 0;
	struct dcv_wire_rr rr;
	int rc = DCV_OK;

	if (len < DCV_WIRE_HEADER || DCV_WIRE_QDCOUNT(msg) != 1 ||
	    dcv_wire_read_name(msg, len, &off, want, &want_len) < 0 ||
	    dcv_wire_after_question(msg, len, &off) < 0)
		return DCV_EREPLY;
	for (unsigned i = 0; i < DCV_WIRE_ANCOUNT(msg) && rc == DCV_OK; i++) {
		pos = off;
		if (dcv_wire_read_name(msg, len, &pos, owner, &owner_len) < 0 ||
		    dcv_wire_read_rr(msg, len, &off, &rr) < 0)
			return DCV_EREPLY;
		if (owner_len != want_len || memcmp(owner, want, want_len) != 0)
			continue;
		if (rr.type == DCV_TYPE_CNAME) {
			pos = rr.rdata;
			if (dcv_wire_read_name(msg, len, &pos, want, &want_len) < 0)
				return DCV_EREPLY;
		} else if (rr.type == DCV_TYPE_A || rr.type == DCV_TYPE_AAAA) {
			rc = add(arg, msg + rr.rdata, rr.rdlength, rr.type);
		}
	}
	return rc;
}

static int add_addr_cb(void *arg, const uint8_t *rdata, uint16_t rdlength, uint16_t type)
{
	return add_addr(arg, rdata, rdlength, type);
}

static void on_fetch(void *arg, int status, const uint8_t *msg, size_t len,
                     const struct dcv_why *why)
{
	struct fetch_q *q = arg;
	struct authset *set = q->set;
	int rc = DCV_OK;

	if (status < 0 && set->why[0] == '\0')
		snprintf(set->why, sizeof(set->why), "zone %s: finding its name servers: %.200s",
		         set->zone->domain, why->text);
	if (status == DCV_OK && q->qtype == DCV_TYPE_NS) {
		rc = dcv_authset_read_ns(set->zone->domain, msg, len, &set->ns, &set->n_ns);
	} else if (status == DCV_OK) {
		/* Address answers: the A/AAAA of that NS name (or its CNAME's target) only. */
		rc = dcv_authset_read_addrs(msg, len, add_addr_cb, set);
	}
	if (rc == DCV_ENOMEM)
		set->oom = true;
	else if (rc < 0 && set->why[0] == '\0')
		snprintf(set->why, sizeof(set->why),
		         "zone %s: bad answer while finding its name "
		         "servers",
		         set->zone->domain);
	if (--set->pending == 0) {
		if (set->state == SET_FETCH_NS && set->n_ns > 0 && !set->oom)
			fetch_addrs(set);
		else
			finish_fetch(set, fetch_status(set));
	}
	free(q);
}

/* A reply whose records cannot all be read may be forged: wait for one that can. */
static int accept_fetch(void *arg, const uint8_t *msg, size_t len)
{
	struct fetch_q *q = arg;
	size_t off = 0;
	struct dcv_wire_rr rr;
	unsigned n = 0;
	int rc = dcv_wire_after_question(msg, len, &off);

	if (rc == DCV_OK)
		n = DCV_WIRE_ANCOUNT(msg) + DCV_WIRE_NSCOUNT(msg) + DCV_WIRE_ARCOUNT(msg);
	for (unsigned i = 0; i < n && rc == DCV_OK; i++)
		rc = dcv_wire_read_rr(msg, len, &off, &rr);
	if (rc < 0)
		dcv_dnsio_reject_why(q->set->sets->io, "malformed reply");
	return rc;
}

/* timeout_ms, or what is left before give_up_at when that is less (at least 1 ms). */
static uint64_t query_timeout(const struct dcv_authsets *sets, uint64_t timeout_ms)
{
	uint64_t now = uv_now(sets->loop);
	uint64_t left = sets->give_up_at > now ? sets->give_up_at - now : 1;

	return sets->give_up_at != 0 && left < timeout_ms ? left : timeout_ms;
}

static int ask(struct authset *set, const struct dcv_addr *server, const char *qname,
               uint16_t qtype, bool rd)
{
	uint8_t buf[DCV_WIRE_NAME_MAX + 16];
	size_t len = 0;
	struct fetch_q *q = calloc(1, sizeof(*q));
	int rc = DCV_ENOMEM;

	if (q == NULL)
		goto out;
	q->set = set;
	q->qtype = qtype;
	q->via_resolver = rd;
	rc = dcv_query_build(qname, qtype, rd, buf, sizeof(buf), &len);
	if (rc == DCV_OK)
		rc = dcv_dnsio_exchange(set->sets->io, server, buf, len, 0,
		                        query_timeout(set->sets, set->sets->timeout_ms),
		                        accept_fetch, on_fetch, q, NULL);
	if (rc == DCV_OK) {
		set->pending++;
		q = NULL;
	}
out:
	if (rc == DCV_ENOMEM)
		set->oom = true;
	free(q);
	return rc;
}

static void fetch_addrs(struct authset *set)
{
	const struct dcv_addr *primary = &set->zone->primaries[0]->addrs[0];
	const struct dcv_config *cfg = set->sets->cfg;

	set->state = SET_FETCH_ADDRS;
	set->pending = 1;
	/* Glue answered some names already; ask for every name anyway: cheap and complete. */
	for (size_t i = 0; i < set->n_ns; i++) {
		ask(set, primary, set->ns[i], DCV_TYPE_A, false);
		ask(set, primary, set->ns[i], DCV_TYPE_AAAA, false);
		if (cfg->n_resolvers > 0) {
			ask(set, &cfg->resolvers[0], set->ns[i], DCV_TYPE_A, true);
			ask(set, &cfg->resolvers[0], set->ns[i], DCV_TYPE_AAAA, true);
		}
	}
	if (--set->pending == 0)
		finish_fetch(set, set->oom           ? fetch_status(set)
		                  : set->n_addrs > 0 ? DCV_OK
		                                     : DCV_ENET);
}

static void start_fetch(struct authset *set)
{
	int rc = DCV_OK;

	free(set->addrs);
	free(set->ns);
	set->addrs = NULL;
	set->ns = NULL;
	set->n_addrs = set->n_ns = 0;
	set->why[0] = '\0';
	set->oom = false;
	set->state = SET_FETCH_NS;
	set->pending = 1;
	rc = ask(set, &set->zone->primaries[0]->addrs[0], set->zone->domain, DCV_TYPE_NS, false);
	if (--set->pending > 0)
		return;
	/* The NS query could not be sent: the fetch ends with why. */
	if (rc == DCV_ENOMEM)
		rc = fetch_status(set);
	else
		snprintf(set->why, sizeof(set->why), "zone %s: finding its name servers: %s",
		         set->zone->domain, dcv_strerror(rc));
	finish_fetch(set, rc);
}

struct dcv_authsets *dcv_authsets_new(struct dcv_dnsio *io, const struct dcv_config *cfg,
                                      uint64_t ttl_ms, uint64_t timeout_ms)
{
	struct dcv_authsets *sets = calloc(1, sizeof(*sets));

	if (sets == NULL)
		return NULL;
	sets->sets = calloc(cfg->n_zones ? cfg->n_zones : 1, sizeof(*sets->sets));
	if (sets->sets == NULL) {
		free(sets);
		return NULL;
	}
	sets->io = io;
	sets->loop = dcv_dnsio_loop(io);
	sets->cfg = cfg;
	sets->ttl_ms = ttl_ms;
	sets->timeout_ms = timeout_ms;
	sets->n_sets = cfg->n_zones;
	for (size_t i = 0; i < cfg->n_zones; i++) {
		sets->sets[i].sets = sets;
		sets->sets[i].zone = &cfg->zones[i];
	}
	return sets;
}

void dcv_authsets_give_up_at(struct dcv_authsets *sets, uint64_t at)
{
	sets->give_up_at = at;
}

int dcv_authsets_get(struct dcv_authsets *sets, const struct dcv_zone *zone, dcv_authset_cb cb,
                     void *arg)
{
	struct authset *set = &sets->sets[zone - sets->cfg->zones];
	struct waiter *grown = NULL;

	if (zone->n_nameservers > 0) {
		cb(arg, DCV_OK, zone->nameservers, zone->n_nameservers, "");
		return DCV_OK;
	}
	if (set->state == SET_READY && uv_now(sets->loop) - set->fetched < sets->ttl_ms &&
	    set->status == DCV_OK) {
		cb(arg, DCV_OK, set->addrs, set->n_addrs, "");
		return DCV_OK;
	}
	grown = realloc(set->waiters, (set->n_waiters + 1) * sizeof(*grown));
	if (grown == NULL)
		return DCV_ENOMEM;
	set->waiters = grown;
	set->waiters[set->n_waiters++] = (struct waiter){cb, arg};
	if (set->state == SET_EMPTY || set->state == SET_READY)
		start_fetch(set);
	return DCV_OK;
}

static void on_serial(void *arg, int status, const uint8_t *msg, size_t len,
                      const struct dcv_why *why)
{
	struct serial_entry *e = arg;
	struct serial_waiter *waiters = e->waiters;
	size_t n = e->n_waiters;

	(void)why;
	e->fetching = false;
	e->fetched = uv_now(e->sets->loop);
	e->status = status;
	if (status == DCV_OK)
		e->status =
		    dcv_query_read_soa_serial(msg, len, e->zone_wire, e->zone_len, &e->serial);
	e->waiters = NULL;
	e->n_waiters = 0;
	for (size_t i = 0; i < n; i++)
		waiters[i].cb(waiters[i].arg, e->status, e->serial);
	free(waiters);
}

static struct serial_entry *serial_entry(struct dcv_authsets *sets, const struct dcv_zone *zone,
                                         const struct dcv_addr *addr)
{
	struct serial_entry *e = NULL;

	for (e = sets->serials; e != NULL; e = e->next)
		if (e->zone == zone && strcmp(e->addr.text, addr->text) == 0)
			return e;
	e = calloc(1, sizeof(*e));
	if (e == NULL || dcv_wire_from_text(zone->domain, e->zone_wire, &e->zone_len) < 0) {
		free(e);
		return NULL;
	}
	e->sets = sets;
	e->zone = zone;
	e->addr = *addr;
	e->status = DCV_ETIMEOUT; /* nothing known yet */
	e->next = sets->serials;
	sets->serials = e;
	return e;
}

/*
 * A serial is only a hint for skipping queries: a round waits for it this
 * long at most, then asks its questions anyway -- and those, with their full
 * timeout, are what name a silent server.
 */
#define SERIAL_TIMEOUT_MS 500

static uint64_t serial_timeout(const struct dcv_authsets *sets)
{
	return query_timeout(sets, sets->timeout_ms < SERIAL_TIMEOUT_MS ? sets->timeout_ms
	                                                                : SERIAL_TIMEOUT_MS);
}

int dcv_authsets_serial(struct dcv_authsets *sets, const struct dcv_zone *zone,
                        const struct dcv_addr *addr, uint64_t max_age_ms, dcv_serial_cb cb,
                        void *arg)
{
	struct serial_entry *e = serial_entry(sets, zone, addr);
	struct serial_waiter *grown = NULL;
	uint8_t buf[DCV_WIRE_NAME_MAX + 16];
	size_t len = 0;
	int rc = DCV_ENOMEM;

	if (e == NULL)
		goto out;
	if (!e->fetching && e->fetched != 0 && uv_now(sets->loop) - e->fetched <= max_age_ms) {
		cb(arg, e->status, e->serial);
		rc = DCV_OK;
		goto out;
	}
	grown = realloc(e->waiters, (e->n_waiters + 1) * sizeof(*grown));
	if (grown == NULL)
		goto out;
	e->waiters = grown;
	e->waiters[e->n_waiters++] = (struct serial_waiter){cb, arg};
	rc = DCV_OK;
	if (e->fetching)
		goto out;
	rc = dcv_query_build(zone->domain, DCV_TYPE_SOA, false, buf, sizeof(buf), &len);
	if (rc == DCV_OK)
		rc = dcv_dnsio_exchange(sets->io, addr, buf, len, 0, serial_timeout(sets), NULL,
		                        on_serial, e, NULL);
	if (rc < 0) {
		e->n_waiters--;
		goto out;
	}
	e->fetching = true;
out:
	return rc;
}

void dcv_authsets_free(struct dcv_authsets *sets)
{
	if (sets == NULL)
		return;
	while (sets->serials != NULL) {
		struct serial_entry *next = sets->serials->next;
		free(sets->serials->waiters);
		free(sets->serials);
		sets->serials = next;
	}
	for (size_t i = 0; i < sets->n_sets; i++) {
		free(sets->sets[i].addrs);
		free(sets->sets[i].ns);
		free(sets->sets[i].waiters);
	}
	free(sets->sets);
	free(sets);
}
