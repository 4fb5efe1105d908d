/*
 * probe_serials.c -- the prober's SOA serials for others (probe.h): the
 * primary's serial for the reasons, and every address's serial of a zone
 * for the engine's zone watchers. Shared with the rounds' own serials
 * through the authsets.
 */
#include <stdlib.h>
#include <string.h>

#include "authset.h"
#include "probe_int.h"

/* --- the serial at the primary, for the reasons ----------------------------- */

/*
 * A configured zone has a primary and a remote an address: the loader
 * refuses anything else (cfgpeers.c), so primaries[0]->addrs[0] exists.
 */
int dcv_prober_primary_serial(struct dcv_prober *p, const struct dcv_zone *zone,
                              uint64_t max_age_ms, dcv_prober_serial_cb cb, void *arg)
{
	return dcv_authsets_serial(p->sets, zone, &zone->primaries[0]->addrs[0], max_age_ms, cb,
	                           arg);
}

/* --- serials of a whole zone, for the engine's watchers -------------------- */

struct serials_req {
	struct dcv_prober *p;
	uint64_t max_age_ms;
	dcv_prober_serials_cb cb;
	void *arg;
	const struct dcv_zone *zone;
	struct dcv_addr *addrs;
	uint32_t *serials;
	bool *known;
	size_t n;
	size_t waiting;
	int status;
	struct serials_one {
		struct serials_req *req;
		size_t i;
	} * ones;
};

static void serials_release(struct serials_req *q)
{
	if (--q->waiting > 0)
		return;
	q->cb(q->arg, q->status, q->n, q->addrs, q->serials, q->known);
	free(q->addrs);
	free(q->serials);
	free(q->known);
	free(q->ones);
	free(q);
}

static void on_one_serial(void *arg, int status, uint32_t serial)
{
	struct serials_one *one = arg;

	one->req->known[one->i] = status == DCV_OK;
	one->req->serials[one->i] = serial;
	serials_release(one->req);
}

static void on_serials_set(void *arg, int status, const struct dcv_addr *addrs, size_t n,
                           const char *why)
{
	struct serials_req *q = arg;

	(void)why;
	if (status < 0) {
		q->status = status;
		serials_release(q);
		return;
	}
	q->addrs = malloc((n ? n : 1) * sizeof(*q->addrs));
	q->serials = calloc(n ? n : 1, sizeof(*q->serials));
	q->known = calloc(n ? n : 1, sizeof(*q->known));
	q->ones = calloc(n ? n : 1, sizeof(*q->ones));
	if (q->addrs == NULL || q->serials == NULL || q->known == NULL || q->ones == NULL) {
		q->status = DCV_ENOMEM;
		serials_release(q);
		return;
	}
	memcpy(q->addrs, addrs, n * sizeof(*addrs));
	q->n = n;
	for (size_t i = 0; i < n; i++) {
		q->ones[i] = (struct serials_one){q, i};
		q->waiting++;
		/* Not asked is not "did not answer" (known false): the whole call fails. */
		if (dcv_authsets_serial(q->p->sets, q->zone, &q->addrs[i], q->max_age_ms,
		                        on_one_serial, &q->ones[i]) < 0) {
			q->waiting--;
			q->status = DCV_ENOMEM;
		}
	}
	serials_release(q);
}

int dcv_prober_serials(struct dcv_prober *p, const struct dcv_zone *zone, uint64_t max_age_ms,
                       dcv_prober_serials_cb cb, void *arg)
{
	struct serials_req *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return DCV_ENOMEM;
	*q = (struct serials_req){
	    .p = p, .max_age_ms = max_age_ms, .cb = cb, .arg = arg, .zone = zone, .waiting = 1};
	if (dcv_authsets_get(p->sets, zone, on_serials_set, q) < 0) {
		free(q);
		return DCV_ENOMEM;
	}
	return DCV_OK;
}
