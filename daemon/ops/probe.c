/*
 * probe.c -- one round of the CA-style visibility check (see probe.h).
 *
 * A round is a small state machine:
 *
 *   ZONES      waiting for the authoritative sets of the zones involved
 *   AUTH       one query per (authoritative address, query name), all at once
 *   RESOLVERS  per (resolver, certificate name) a walk over the candidates
 *   REPORT     the callback, from the loop
 *
 * Everything a round needs is copied into it, so a discovery running for
 * another round cannot pull addresses away underneath it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authset.h"
#include "probe_int.h"

/*
 * How old a server's SOA serial may be when a round relies on it. Short:
 * rounds of thousands of jobs share one query per server, and a change at
 * the server is noticed within this time.
 */
#define SERIAL_MAX_AGE_MS 40

const struct dcv_zone *dcv_config_zone_of(const struct dcv_config *cfg, const char *name)
{
	long z = dcv_zone_of(name, cfg->zone_names, cfg->n_zones);

	return z < 0 ? NULL : &cfg->zones[z];
}

static void round_free(struct round *r)
{
	probe_dnssec_free(r);
	for (size_t i = 0; i < r->n_zones; i++) {
		free(r->zones[i].addrs);
		free(r->zones[i].serials);
		free(r->zones[i].serial_known);
		free(r->zones[i].reqs);
	}
	free(r->zones);
	free(r->items);
	free(r);
}

/* Whether address a of zone z already appeared in an earlier place of the round. */
static bool addr_seen_before(const struct round *r, size_t z, size_t a)
{
	const char *text = r->zones[z].addrs[a].text;

	for (size_t y = 0; y <= z; y++) {
		size_t end = y == z ? a : r->zones[y].n;
		for (size_t b = 0; b < end; b++)
			if (strcmp(r->zones[y].addrs[b].text, text) == 0)
				return true;
	}
	return false;
}

/*
 * Distinct authoritative addresses of the round. Zones often share their
 * servers: counting per zone would report one server twice.
 */
static size_t count_auth_addrs(const struct round *r)
{
	size_t n = 0;

	for (size_t z = 0; z < r->n_zones; z++)
		for (size_t a = 0; a < r->zones[z].n; a++)
			n += !addr_seen_before(r, z, a);
	return n;
}

static void finish_stage(struct round *r);

static void report(struct round *r)
{
	struct dcv_probe_report rep;
	struct dcv_probe_obs *obs = NULL;
	struct dcv_probe_zsec *zsecs = NULL;

	r->state = ROUND_REPORT;
	memset(&rep, 0, sizeof(rep));
	obs = calloc(r->n_items ? r->n_items : 1, sizeof(*obs));
	zsecs = calloc(r->n_zones ? r->n_zones : 1, sizeof(*zsecs));
	if (obs == NULL || zsecs == NULL) {
		/* A report without its observations or DNSSEC states would be taken as whole. */
		rep.status = DCV_ENOMEM;
		snprintf(rep.why, sizeof(rep.why), "out of memory for the probe round's report");
		goto out;
	}
	for (size_t i = 0; i < r->n_items; i++) {
		const struct item *it = &r->items[i];
		obs[i] = it->obs;
		if (!it->obs.resolver && !it->fixed && it->zone < r->n_zones) {
			const struct zone_addrs *za = &r->zones[it->zone];
			obs[i].zone = za->zone->domain;
			obs[i].serial_known = za->serial_known != NULL && it->addr < za->n &&
			                      za->serial_known[it->addr];
			obs[i].serial = obs[i].serial_known ? za->serials[it->addr] : 0;
		}
	}
	rep.status = r->status;
	snprintf(rep.why, sizeof(rep.why), "%s", r->why);
	rep.auth_ok = r->status == DCV_OK && r->auth_ok;
	rep.resolvers_asked = r->p->cfg->n_resolvers > 0 && rep.auth_ok && !r->spec->expect_absent;
	rep.done = rep.auth_ok && (r->spec->expect_absent || r->resolvers_ok);
	rep.obs = obs;
	rep.n_obs = r->n_items;
	rep.n_auth_addrs = count_auth_addrs(r);
	rep.held = r->spec->held;
	rep.n_held = r->spec->held != NULL ? r->spec->n_held : 0;
	probe_dnssec_report(r, &rep, zsecs);
	rep.done &= !rep.failed;
out:
	r->p->pending--;
	r->cb(r->arg, &rep);
	free(zsecs);
	free(obs);
	round_free(r);
}

static void on_kick(uv_timer_t *t)
{
	struct dcv_prober *p = t->data;
	struct round *r = p->deferred;

	p->deferred = NULL;
	while (r != NULL) {
		struct round *next = r->next_deferred;
		if (r->finish_at_kick) {
			r->finish_at_kick = false;
			finish_stage(r);
		} else {
			report(r);
		}
		r = next;
	}
}

/* Reports from the loop, never from inside dcv_probe_round(). */
static void defer_report(struct round *r)
{
	r->next_deferred = r->p->deferred;
	r->p->deferred = r;
	uv_timer_start(&r->p->kick, on_kick, 0, 0);
}

struct item *probe_new_item(struct round *r)
{
	if (r->n_items == r->cap_items) {
		/*
		 * Items are about 1 KiB and most rounds ask 2 (one name, two
		 * servers); a burst has a round per job in flight.
		 */
		size_t cap = r->cap_items ? r->cap_items * 2 : 2;
		struct item *grown = realloc(r->items, cap * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		r->items = grown;
		r->cap_items = cap;
	}
	memset(&r->items[r->n_items], 0, sizeof(r->items[0]));
	r->items[r->n_items].round = r;
	return &r->items[r->n_items++];
}

static int qname_of(const struct round *r, const char *candidate, char *out, size_t size)
{
	if ((size_t)snprintf(out, size, "_%s.%s.", r->spec->md5_hex, candidate) >= size)
		return DCV_EINVAL;
	return DCV_OK;
}

/* --- memory of earlier rounds ---------------------------------------------- */

static uint64_t memo_key(const char *server, const char *qname)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (const char *p = server; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	h = (h ^ '|') * 1099511628211ULL;
	for (const char *p = qname; *p; p++)
		h = (h ^ (uint8_t)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p)) *
		    1099511628211ULL;
	return h;
}

static long memo_find(struct dcv_probe_memory *m, uint64_t key, bool create)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->memos[i].key == key)
			return (long)i;
	if (!create)
		return -1;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 4;
		struct dcv_probe_memo *grown = realloc(m->memos, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		m->memos = grown;
		m->cap = cap;
	}
	memset(&m->memos[m->n], 0, sizeof(m->memos[0]));
	m->memos[m->n].key = key;
	return (long)m->n++;
}

void dcv_probe_memory_reset(struct dcv_probe_memory *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->memos[i].seen);
	m->n = 0;
}

void dcv_probe_memory_free(struct dcv_probe_memory *m)
{
	dcv_probe_memory_reset(m);
	free(m->memos);
	m->memos = NULL;
	m->cap = 0;
}

int dcv_probe_memory_mark_ok(struct dcv_probe_memory *m, const char *server, const char *qname)
{
	long i = memo_find(m, memo_key(server, qname), true);

	if (i < 0)
		return DCV_ENOMEM;
	m->memos[i].ok = true;
	m->memos[i].sig_ok = false; /* a primary's confirmation has not checked any RRSIG */
	free(m->memos[i].seen);
	m->memos[i].seen = NULL;
	return DCV_OK;
}

/* Learns from an authoritative answer: right stays right, wrong is tied to a serial. */
static void probe_remember_item(struct item *it)
{
	struct round *r = it->round;
	struct dcv_probe_memo *m = NULL;
	const struct zone_addrs *za = &r->zones[it->zone];

	if (it->memo < 0)
		return;
	m = &r->spec->memory->memos[it->memo];
	m->ok = it->obs.ok;
	m->sig_ok = it->obs.ok && it->dnssec;
	/* The serials may be missing (no memory for them: ask_serials()). */
	m->serial_known = za->serial_known != NULL && za->serial_known[it->addr];
	m->serial = m->serial_known ? za->serials[it->addr] : 0;
	free(m->seen);
	m->seen = it->obs.ok ? NULL : strdup(it->obs.seen);
	/* A wrong answer is recalled with its text or not at all: then it is asked again. */
	if (!it->obs.ok && m->seen == NULL)
		m->serial_known = false;
}

/* true when memory answers for the item, so it needs no query this round. */
static bool recall(struct item *it)
{
	struct round *r = it->round;
	const struct dcv_probe_memo *m = NULL;
	const struct zone_addrs *za = &r->zones[it->zone];

	if (it->memo < 0)
		return false;
	m = &r->spec->memory->memos[it->memo];
	/* In a signed zone, ok only counts once the RRSIG was checked (probe_dnssec.c). */
	if (m->ok && (m->sig_ok || !it->dnssec)) {
		it->obs.ok = true;
		snprintf(it->obs.seen, sizeof(it->obs.seen), "as expected (earlier round)");
		return true;
	}
	if (m->serial_known && za->serial_known != NULL && za->serial_known[it->addr] &&
	    m->serial == za->serials[it->addr]) {
		it->obs.ok = false;
		snprintf(it->obs.seen, sizeof(it->obs.seen), "%.250s", m->seen ? m->seen : "wrong");
		return true;
	}
	return false;
}

/* --- answers ------------------------------------------------------------- */

static void judge(struct item *it, int status, const uint8_t *msg, size_t len,
                  const struct dcv_why *why, struct dcv_answer *ans)
{
	const char *target = it->round->spec->target;
	bool ours = false;

	memset(ans, 0, sizeof(*ans));
	ans->seen = DCV_SEEN_RCODE;
	ans->rcode = -1;
	if (status < 0) {
		snprintf(it->obs.seen, sizeof(it->obs.seen), "%.250s",
		         status == DCV_ETIMEOUT ? "timed out" : why->text);
		it->obs.ok = false;
		return;
	}
	if (dcv_query_read_cname(msg, len, it->qwire, it->qlen, !it->obs.resolver, ans) < 0) {
		ans->seen = DCV_SEEN_RCODE;
		snprintf(it->obs.seen, sizeof(it->obs.seen), "malformed reply");
		it->obs.ok = false;
		return;
	}
	dcv_answer_describe(ans, it->obs.seen, sizeof(it->obs.seen));
	ours = ans->seen == DCV_SEEN_CNAME && strcasecmp(ans->cname, target) == 0;
	switch (it->expect) {
	case EXPECT_OURS:
		it->obs.ok = ours;
		break;
	case EXPECT_NOT_OTHER:
		/*
		 * A referral means the candidate lies below a zone cut, in a
		 * child zone that is not configured (www.dev.example.com with
		 * dev.example.com delegated elsewhere): the configured zone's
		 * servers cannot say anything about it, and waiting for them to
		 * would never end. The resolvers' walk still looks there the way
		 * the CA does.
		 */
		it->obs.ok = ours || ans->seen == DCV_SEEN_NXDOMAIN ||
		             ans->seen == DCV_SEEN_NODATA ||
		             (ans->seen == DCV_SEEN_REFERRAL && ans->delegation);
		if (ans->seen == DCV_SEEN_CNAME && !ours)
			snprintf(it->obs.seen, sizeof(it->obs.seen),
			         "CNAME %.240s, another record the CA would find first",
			         ans->cname);
		break;
	case EXPECT_ABSENT:
		it->obs.ok = !ours && (ans->seen == DCV_SEEN_NXDOMAIN ||
		                       ans->seen == DCV_SEEN_NODATA || ans->seen == DCV_SEEN_CNAME);
		break;
	}
}

/* A reply that cannot be read may be forged: wait for one that can. */
static int accept_answer(void *arg, const uint8_t *msg, size_t len)
{
	struct item *it = arg;
	struct dcv_answer ans;

	if (dcv_query_read_cname(msg, len, it->qwire, it->qlen, !it->obs.resolver, &ans) < 0) {
		dcv_dnsio_reject_why(it->round->p->io, "malformed reply");
		return DCV_EREPLY;
	}
	return DCV_OK;
}

static void on_answer(void *arg, int status, const uint8_t *msg, size_t len,
                      const struct dcv_why *why)
{
	struct item *it = arg;
	struct round *r = it->round;
	struct dcv_answer ans;

	judge(it, status, msg, len, why, &ans);
	if (!it->obs.resolver && status == DCV_OK) {
		/* The RRSIG is checked before the answer is remembered as right. */
		probe_dnssec_judge_auth(it, msg, len);
		if (!it->forget)
			probe_remember_item(it);
	}
	if (it->obs.resolver && status == DCV_OK) {
		enum probe_verdict v = probe_dnssec_judge_resolver(it, msg, len, &ans);
		if (v == PROBE_RESENT)
			return;
		if (v == PROBE_STOP)
			goto done;
	}
	/*
	 * A resolver walk goes on to the next candidate while the name has no
	 * record there; the first CNAME found is the one the CA would take.
	 */
	if (it->obs.resolver && !it->obs.ok &&
	    (ans.seen == DCV_SEEN_NXDOMAIN || ans.seen == DCV_SEEN_NODATA) &&
	    it->cand + 1 < r->spec->names[it->name].n_candidates) {
		it->cand++;
		it->cd = false;
		if (probe_send_item(r, it, true) == DCV_OK)
			return;
	} else if (it->obs.resolver && !it->obs.ok && it->adn_cached) {
		/* Not a failure: the cached denial expires, and the resolver asks again. */
		snprintf(it->obs.seen, sizeof(it->obs.seen),
		         "NXDOMAIN at the ADN, validated from an NSEC the resolver has cached "
		         "(negative cache or aggressive NSEC, RFC 8198; TTL %u s): "
		         "waits for it to expire (last candidate: %.100s)",
		         (unsigned)it->adn_ttl, it->obs.qname);
	} else if (it->obs.resolver && !it->obs.ok &&
	           (ans.seen == DCV_SEEN_NXDOMAIN || ans.seen == DCV_SEEN_NODATA)) {
		snprintf(it->obs.seen, sizeof(it->obs.seen),
		         "no record at any candidate (last: %s)", it->obs.qname);
	}
done:
	if (--r->pending == 0)
		finish_stage(r);
}

/* The full query timeout, or what is left before give_up_at (at least 1 ms). */
uint64_t probe_query_timeout(const struct dcv_prober *p)
{
	uint64_t now = uv_now(p->loop);
	uint64_t left = p->give_up_at > now ? p->give_up_at - now : 1;

	return p->give_up_at != 0 && left < p->query_timeout_ms ? left : p->query_timeout_ms;
}

/* Sends an item's query; a resolver walk takes its name from the current candidate. */
int probe_send_item(struct round *r, struct item *it, bool rd)
{
	uint8_t buf[DCV_QUERY_MAX];
	size_t len = 0;
	int rc = DCV_OK;
	unsigned flags = rd ? DCV_QUERY_RD : 0;

	if (rd) {
		const struct dcv_probe_name *n = &r->spec->names[it->name];
		if ((rc = qname_of(r, n->candidates[it->cand], it->obs.qname,
		                   sizeof(it->obs.qname))) < 0)
			return rc;
		if (!it->cd)
			it->dnssec = probe_dnssec_secure(r, it->name, it->cand);
	}
	flags |= probe_dnssec_flags(it);
	if ((rc = dcv_wire_from_text(it->obs.qname, it->qwire, &it->qlen)) < 0 ||
	    (rc = dcv_query_build_flags(it->obs.qname, DCV_TYPE_CNAME, flags, buf, sizeof(buf),
	                                &len)) < 0)
		return rc;
	return dcv_dnsio_exchange(r->p->io, &it->server, buf, len, 0, probe_query_timeout(r->p),
	                          accept_answer, on_answer, it, NULL);
}

/* Sends every item from index first on; the ones that cannot go fail at once. */
static void send_all(struct round *r, size_t first, bool rd)
{
	r->pending = 1; /* held while sending */
	for (size_t i = first; i < r->n_items; i++) {
		struct item *it = &r->items[i];
		if (it->fixed || (!rd && recall(it)))
			continue;
		int rc = probe_send_item(r, it, rd);
		if (rc == DCV_OK) {
			r->pending++;
		} else {
			it->obs.ok = false;
			snprintf(it->obs.seen, sizeof(it->obs.seen), "not asked: %s",
			         dcv_strerror(rc));
		}
	}
	/* Everything answered from memory or failed to go: finish from the loop. */
	if (--r->pending == 0) {
		r->finish_at_kick = true;
		defer_report(r);
	}
}

static void start_resolvers(struct round *r)
{
	const struct dcv_config *cfg = r->p->cfg;
	size_t first = r->n_items;

	r->state = ROUND_RESOLVERS;
	/* Every walk item exists before the first is sent: pointers stay put. */
	for (size_t res = 0; res < cfg->n_resolvers; res++) {
		for (size_t n = 0; n < r->spec->n_names; n++) {
			struct item *it = probe_new_item(r);
			if (it == NULL) {
				r->status = DCV_ENOMEM;
				defer_report(r);
				return;
			}
			it->name = n;
			it->server = cfg->resolvers[res];
			it->resolver = res;
			it->expect = EXPECT_OURS;
			it->obs.name = r->spec->names[n].name;
			it->obs.resolver = true;
			snprintf(it->obs.server, sizeof(it->obs.server), "%s", it->server.text);
		}
	}
	send_all(r, first, true);
}

static void finish_stage(struct round *r)
{
	bool all_ok = true;

	for (size_t i = 0; i < r->n_items; i++)
		all_ok &= r->items[i].obs.ok;
	if (r->state == ROUND_AUTH) {
		r->auth_ok = all_ok;
		if (all_ok && !r->spec->expect_absent && r->p->cfg->n_resolvers > 0) {
			start_resolvers(r);
			return;
		}
		r->resolvers_ok = all_ok;
	} else {
		r->resolvers_ok = all_ok;
	}
	report(r);
}

/* --- building the authoritative stage ------------------------------------ */

static const struct zone_addrs *zone_entry(const struct round *r, const struct dcv_zone *zone)
{
	for (size_t i = 0; i < r->n_zones; i++)
		if (r->zones[i].zone == zone)
			return &r->zones[i];
	return NULL;
}

static bool have_item(const struct round *r, const struct dcv_addr *server, const char *qname)
{
	for (size_t i = 0; i < r->n_items; i++)
		if (strcmp(r->items[i].obs.qname, qname) == 0 &&
		    strcmp(r->items[i].server.text, server->text) == 0)
			return true;
	return false;
}

static int add_auth_items(struct round *r, size_t name, size_t cand, enum expect expect)
{
	const struct dcv_probe_name *n = &r->spec->names[name];
	const struct dcv_zone *zone = dcv_config_zone_of(r->p->cfg, n->candidates[cand]);
	const struct zone_addrs *za = zone ? zone_entry(r, zone) : NULL;
	char qname[260];

	if (za == NULL || qname_of(r, n->candidates[cand], qname, sizeof(qname)) < 0)
		return DCV_OK;
	/* Longer candidates: the zone's first address speaks for all (see probe.h). */
	for (size_t a = 0; a < (expect == EXPECT_NOT_OTHER ? 1 : za->n); a++) {
		struct item *it = NULL;
		if (have_item(r, &za->addrs[a], qname))
			continue;
		it = probe_new_item(r);
		if (it == NULL)
			return DCV_ENOMEM;
		it->name = name;
		it->zone = (size_t)(za - r->zones);
		it->addr = a;
		it->memo = r->spec->memory ? memo_find(r->spec->memory,
		                                       memo_key(za->addrs[a].text, qname), true)
		                           : -1;
		it->server = za->addrs[a];
		it->expect = expect;
		it->dnssec = expect == EXPECT_OURS && !za->bogus &&
		             (za->sec == DCV_ZSEC_SECURE || za->sec == DCV_ZSEC_SIGNED);
		it->obs.name = n->name;
		snprintf(it->obs.qname, sizeof(it->obs.qname), "%s", qname);
		snprintf(it->obs.server, sizeof(it->obs.server), "%s", it->server.text);
	}
	return DCV_OK;
}

static void start_auth(struct round *r)
{
	const struct dcv_probe_spec *spec = r->spec;
	int rc = DCV_OK;

	r->state = ROUND_AUTH;
	for (size_t n = 0; n < spec->n_names && rc == DCV_OK; n++) {
		size_t adn = spec->names[n].adn;
		if (spec->expect_absent) {
			rc = add_auth_items(r, n, adn, EXPECT_ABSENT);
			continue;
		}
		for (size_t c = 0; c <= adn && rc == DCV_OK; c++)
			rc = add_auth_items(r, n, c, c == adn ? EXPECT_OURS : EXPECT_NOT_OTHER);
	}
	if (rc == DCV_OK)
		rc = probe_dnssec_zone_items(r);
	if (rc < 0) {
		r->status = rc;
		snprintf(r->why, sizeof(r->why), "%s", dcv_strerror(rc));
		defer_report(r);
		return;
	}
	send_all(r, 0, false);
}

/* One zone's set is in (or one hold released): go on once none is missing. */
void probe_zones_release(struct round *r)
{
	if (--r->zones_waiting > 0)
		return;
	if (r->status < 0)
		defer_report(r);
	else
		start_auth(r);
}

static void on_serial(void *arg, int status, uint32_t serial)
{
	struct serial_req *req = arg;
	struct zone_addrs *za = req->za;

	za->serial_known[req->addr] = status == DCV_OK;
	za->serials[req->addr] = serial;
	probe_zones_release(za->round);
}

/*
 * Only rounds with a memory use serials; a serial that cannot be had only
 * means asking again, so failures here are not errors.
 */
static void ask_serials(struct zone_addrs *za)
{
	struct round *r = za->round;

	if (r->spec->memory == NULL)
		return;
	za->serials = calloc(za->n ? za->n : 1, sizeof(*za->serials));
	za->serial_known = calloc(za->n ? za->n : 1, sizeof(*za->serial_known));
	za->reqs = calloc(za->n ? za->n : 1, sizeof(*za->reqs));
	if (za->serials == NULL || za->serial_known == NULL || za->reqs == NULL) {
		/* Not one without the others: the round then asks without serials. */
		free(za->serials);
		free(za->serial_known);
		free(za->reqs);
		za->serials = NULL;
		za->serial_known = NULL;
		za->reqs = NULL;
		return;
	}
	for (size_t a = 0; a < za->n; a++) {
		za->reqs[a] = (struct serial_req){za, a};
		r->zones_waiting++;
		if (dcv_authsets_serial(r->p->sets, za->zone, &za->addrs[a], SERIAL_MAX_AGE_MS,
		                        on_serial, &za->reqs[a]) < 0)
			r->zones_waiting--;
	}
}

static void on_zone_set(void *arg, int status, const struct dcv_addr *addrs, size_t n,
                        const char *why)
{
	struct zone_addrs *za = arg;
	struct round *r = za->round;

	if (status < 0 && r->status == DCV_OK) {
		r->status = status;
		snprintf(r->why, sizeof(r->why), "%s", why);
	} else if (status == DCV_OK) {
		za->addrs = malloc((n ? n : 1) * sizeof(*addrs));
		if (za->addrs == NULL) {
			r->status = DCV_ENOMEM;
			snprintf(r->why, sizeof(r->why), "%s", dcv_strerror(DCV_ENOMEM));
		} else {
			memcpy(za->addrs, addrs, n * sizeof(*addrs));
			za->n = n;
			ask_serials(za);
		}
	}
	probe_zones_release(r);
}

/* The zones of every candidate the authoritative stage will ask about. */
static int collect_zones(struct round *r)
{
	const struct dcv_probe_spec *spec = r->spec;
	size_t cap = 0;

	for (size_t n = 0; n < spec->n_names; n++)
		cap += spec->names[n].adn + 1;
	r->zones = calloc(cap ? cap : 1, sizeof(*r->zones));
	if (r->zones == NULL)
		return DCV_ENOMEM;
	for (size_t n = 0; n < spec->n_names; n++) {
		const struct dcv_probe_name *pn = &spec->names[n];
		for (size_t c = 0; c <= pn->adn && c < pn->n_candidates; c++) {
			const struct dcv_zone *zone =
			    dcv_config_zone_of(r->p->cfg, pn->candidates[c]);
			if (c == pn->adn && zone == NULL) {
				snprintf(r->why, sizeof(r->why),
				         "name '%s' lies in no configured zone", pn->candidates[c]);
				return DCV_ENOZONE;
			}
			if (zone == NULL || zone_entry(r, zone) != NULL)
				continue;
			r->zones[r->n_zones].zone = zone;
			r->zones[r->n_zones++].round = r;
		}
	}
	return DCV_OK;
}

int dcv_probe_round(struct dcv_prober *p, const struct dcv_probe_spec *spec, dcv_probe_cb cb,
                    void *arg)
{
	struct round *r = calloc(1, sizeof(*r));
	int rc = DCV_ENOMEM;

	if (r == NULL)
		return rc;
	r->p = p;
	r->spec = spec;
	r->cb = cb;
	r->arg = arg;
	r->state = ROUND_ZONES;
	p->pending++;
	rc = collect_zones(r);
	if (rc == DCV_ENOMEM) {
		p->pending--;
		round_free(r);
		return rc;
	}
	if (rc < 0) {
		r->status = rc;
		defer_report(r);
		return DCV_OK;
	}
	/* Held while asking, so that cached sets answering at once cannot start early. */
	r->zones_waiting = 1;
	for (size_t i = 0; i < r->n_zones; i++) {
		r->zones_waiting++;
		if (dcv_authsets_get(p->sets, r->zones[i].zone, on_zone_set, &r->zones[i]) < 0) {
			r->zones_waiting--;
			r->status = DCV_ENOMEM;
		}
	}
	/* Publishing rounds want each zone's security too (withdrawals do not). */
	if (!spec->expect_absent)
		probe_dnssec_zones(r);
	probe_zones_release(r);
	return DCV_OK;
}

struct dcv_prober *dcv_prober_new(struct dcv_dnsio *io, const struct dcv_config *cfg,
                                  const struct dcv_prober_opts *opts)
{
	struct dcv_prober *p = calloc(1, sizeof(*p));
	uint64_t ttl = opts && opts->authset_ttl_ms ? opts->authset_ttl_ms : 300000;

	if (p == NULL)
		return NULL;
	p->io = io;
	p->loop = dcv_dnsio_loop(io);
	p->cfg = cfg;
	p->query_timeout_ms = opts && opts->query_timeout_ms ? opts->query_timeout_ms : 3000;
	p->give_up_at = opts ? opts->give_up_at : 0;
	p->sets = dcv_authsets_new(io, cfg, ttl, p->query_timeout_ms);
	p->zsecs = dcv_zsecs_new(io, cfg, ttl);
	if (p->sets == NULL || p->zsecs == NULL) {
		dcv_authsets_free(p->sets);
		dcv_zsecs_free(p->zsecs);
		free(p);
		return NULL;
	}
	/* Finding the name servers counts against the same deadline as the probe queries. */
	dcv_authsets_give_up_at(p->sets, p->give_up_at);
	uv_timer_init(p->loop, &p->kick);
	p->kick.data = p;
	return p;
}

size_t dcv_prober_pending(const struct dcv_prober *p)
{
	return p->pending;
}

static void on_kick_closed(uv_handle_t *h)
{
	struct dcv_prober *p = h->data;

	dcv_authsets_free(p->sets);
	dcv_zsecs_free(p->zsecs);
	free(p);
}

void dcv_prober_free(struct dcv_prober *p)
{
	if (p == NULL)
		return;
	/*
	 * Closing dnsio ended every query, so a round still here only waits for
	 * the kick to report it; its caller is shutting down and gets no report.
	 */
	while (p->deferred != NULL) {
		struct round *r = p->deferred;
		p->deferred = r->next_deferred;
		p->pending--;
		round_free(r);
	}
	/* The timer's memory is the prober's: free both once libuv lets go of it. */
	uv_close((uv_handle_t *)&p->kick, on_kick_closed);
}
