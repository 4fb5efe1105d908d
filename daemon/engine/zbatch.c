/*
 * zbatch.c -- batching record operations per zone.
 *
 * Jobs queue their records here; a zone has at most one UPDATE in flight,
 * and everything queued meanwhile goes out in the next one. So a single CSR
 * is sent at once (latency), and a burst of thousands becomes a few large
 * UPDATEs (throughput): the batch size follows the load by itself.
 *
 * Outcomes: a record succeeded when every primary accepted and confirmed
 * it. A record whose owner already has another CNAME at some primary
 * (update.h: rec_status) fails alone with DCV_ECONFLICT, and so only its
 * job; the other records of the batch go on. Configuration errors
 * (BADSIG, REFUSED, ...) fail the records at once. Transient ones
 * (timeouts, SERVFAIL) put the records back in the queue after a backoff
 * -- until their job's deadline for adds; deletes are cleanup and are
 * retried until they succeed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "log.h"

#define RETRY_BASE_MS 500
#define RETRY_CAP_MS 30000
#define UPDATE_TIMEOUT_MS 30000

static void zbatch_send(struct zbatch *zb);
static void on_retry(uv_timer_t *t);
static void zbatch_maybe_free(struct zbatch *zb);

static struct zbatch *zbatch_find(struct dcv_engine *eng, const char *zone)
{
	struct zbatch *zb = NULL;

	for (zb = eng->zbatches; zb != NULL; zb = zb->next)
		if (strcmp(zb->zone, zone) == 0)
			return zb;
	zb = calloc(1, sizeof(*zb));
	if (zb == NULL)
		return NULL;
	zb->eng = eng;
	snprintf(zb->zone, sizeof(zb->zone), "%s", zone);
	uv_timer_init(eng->loop, &zb->retry);
	zb->retry.data = zb;
	zb->retry_open = true;
	zb->next = eng->zbatches;
	eng->zbatches = zb;
	return zb;
}

static int push(struct zbatch *zb, enum dcv_update_op op, struct dcv_job *job, size_t rr)
{
	if (zb->n_queue[op] == zb->cap_queue[op]) {
		size_t cap = zb->cap_queue[op] ? zb->cap_queue[op] * 2 : 64;
		struct zentry *grown = realloc(zb->queue[op], cap * sizeof(*grown));
		if (grown == NULL)
			return DCV_ENOMEM;
		zb->queue[op] = grown;
		zb->cap_queue[op] = cap;
	}
	job_ref(job);
	zb->queue[op][zb->n_queue[op]++] = (struct zentry){job, rr};
	return DCV_OK;
}

int zbatch_enqueue(struct dcv_engine *eng, struct dcv_job *job, size_t rr, enum dcv_update_op op)
{
	struct zbatch *zb = zbatch_find(eng, job->rec.rrs[rr].zone);
	int rc = zb ? push(zb, op, job, rr) : DCV_ENOMEM;

	/*
	 * Sent at the end of this loop turn, not now: the other jobs that arrive
	 * in the same turn (a store commit wakes thousands) join the same UPDATE.
	 */
	if (rc == DCV_OK && !zb->busy && !uv_is_active((uv_handle_t *)&zb->retry))
		uv_timer_start(&zb->retry, on_retry, 0, 0);
	return rc;
}

static bool transient(int status)
{
	return status == DCV_ETIMEOUT || status == DCV_ENET || status == DCV_ESERVFAIL ||
	       status == DCV_ENOTREADY || status == DCV_ETSIG || status == DCV_ECANCELED ||
	       status == DCV_EIO;
}

static void on_retry(uv_timer_t *t)
{
	zbatch_send(t->data);
}

/*
 * The first primary at which record i failed on its own (a conflict):
 * its status, and its why in *why. DCV_OK when it failed nowhere so.
 */
static int record_status(const struct dcv_update_outcome *outcomes, size_t n_outcomes, size_t i,
                         const char **why)
{
	int status = DCV_OK;

	for (size_t o = 0; o < n_outcomes && status == DCV_OK; o++) {
		if (outcomes[o].rec_status == NULL || outcomes[o].rec_status[i] == DCV_OK)
			continue;
		status = outcomes[o].rec_status[i];
		/*
		 * No text: memory ran out for it (update.h). The job's error says
		 * so rather than pass the bare status off as the whole reason.
		 */
		*why = outcomes[o].rec_why[i] != NULL ? outcomes[o].rec_why[i]
		       : status == DCV_ECONFLICT
		           ? "the owner name already holds another value (out of memory for which "
		             "primary and which CNAME)"
		           : "a primary refused the record (out of memory for its reason)";
	}
	return status;
}

/* --- the serial that held the records, for the reasons of a wait ---------- */

/* The jobs of one UPDATE whose adds landed, waiting for the primary's serial. */
struct zheld {
	char zone[256];
	size_t n;
	struct dcv_job *jobs[];
};

static void zheld_on_serial(void *arg, int status, uint32_t serial)
{
	struct zheld *h = arg;

	for (size_t i = 0; i < h->n; i++) {
		struct dcv_job *job = h->jobs[i];
		size_t k = 0;
		while (k < job->n_held && strcmp(job->held[k].zone, h->zone) != 0)
			k++;
		if (status == DCV_OK && k < JOB_HELD_ZONES) {
			/* The zone's name lives in the job's own record, as long as the job. */
			for (size_t r = 0; r < job->rec.n_rrs && k == job->n_held; r++)
				if (strcmp(job->rec.rrs[r].zone, h->zone) == 0)
					job->held[job->n_held++].zone = job->rec.rrs[r].zone;
			if (k < job->n_held)
				job->held[k].serial = serial;
		}
		job_unref(job);
	}
	free(h);
}

/*
 * Asks the zone's primary for its serial now that the adds of jobs[] landed:
 * that serial holds them. One query per UPDATE, however many jobs it
 * carried; it goes out before the next UPDATE of the zone, so the serial is
 * the one the records arrived in unless another update raced it.
 */
static void zheld_ask(struct zbatch *zb, const struct zentry *flight, size_t n)
{
	struct dcv_engine *eng = zb->eng;
	const struct dcv_zone *zone = dcv_config_zone(eng->cfg->cfg, zb->zone);
	struct zheld *h = NULL;

	if (zone == NULL || n == 0 || eng->stopping)
		return;
	h = malloc(sizeof(*h) + n * sizeof(h->jobs[0]));
	if (h == NULL)
		return; /* the reasons go without the serial: nothing else depends on it */
	snprintf(h->zone, sizeof(h->zone), "%s", zb->zone);
	h->n = 0;
	for (size_t i = 0; i < n; i++) {
		/* One entry per job: a job's records in one zone travel together. */
		if (h->n > 0 && h->jobs[h->n - 1] == flight[i].job)
			continue;
		job_ref(flight[i].job);
		h->jobs[h->n++] = flight[i].job;
	}
	if (dcv_prober_primary_serial(eng->cfg->prober, zone, 0, zheld_on_serial, h) < 0)
		zheld_on_serial(h, DCV_ENOMEM, 0);
}

static void zbatch_on_update(void *arg, int status, const struct dcv_update_outcome *outcomes,
                             size_t n_outcomes)
{
	struct zbatch *zb = arg;
	struct dcv_engine *eng = zb->eng;
	struct zentry *flight = zb->flight;
	size_t n = zb->n_flight;
	enum dcv_update_op op = zb->flight_op;
	const char *why = "";
	int worst = DCV_OK;
	bool retry = false;

	/*
	 * busy stays set while the jobs hear of their records: whatever they
	 * queue meanwhile goes into the next UPDATE, sent at the end.
	 */
	zb->flight = NULL;
	zb->n_flight = 0;
	zb->flight_up = NULL;
	cfgref_put(zb->flight_cfg);
	zb->flight_cfg = NULL;
	engine_metrics_update(eng, op, outcomes, n_outcomes);
	for (size_t o = 0; o < n_outcomes; o++) {
		if (outcomes[o].status == DCV_OK)
			continue;
		if (worst == DCV_OK || (transient(worst) && !transient(outcomes[o].status))) {
			worst = outcomes[o].status;
			why = outcomes[o].why;
		}
		/* The outcome names the zone, the primary and the reason itself (update.h). */
		log_warn("%s", outcomes[o].why);
	}
	retry = worst != DCV_OK && transient(worst) && !eng->stopping && !zb->closing;
	if (op == DCV_UPDATE_ADD && worst == DCV_OK && !zb->closing)
		zheld_ask(zb, flight, n);
	for (size_t i = 0; i < n; i++) {
		struct dcv_job *job = flight[i].job;
		const char *rec_why = "";
		int rec_status = record_status(outcomes, n_outcomes, i, &rec_why);
		bool ok = true;
		/* A record is done when every primary confirmed it, whatever else failed. */
		for (size_t o = 0; o < n_outcomes; o++)
			ok &= outcomes[o].confirmed != NULL && outcomes[o].confirmed[i];
		/* The primaries' confirmations count for the probe: no need to ask them again. */
		for (size_t o = 0; ok && o < n_outcomes; o++)
			dcv_probe_memory_mark_ok(&job->memory, outcomes[o].server->text,
			                         job->rec.rrs[flight[i].rr].owner);
		if (ok) {
			eng->events.record_done(job, op, flight[i].rr, DCV_OK, "");
		} else if (rec_status != DCV_OK) {
			/* Final whatever else happened: sending it again meets the same CNAME. */
			eng->events.record_done(job, op, flight[i].rr, rec_status, rec_why);
		} else if (eng->stopping || zb->closing) {
			eng->events.record_done(job, op, flight[i].rr, DCV_ECANCELED, "");
		} else if (retry &&
		           (op == DCV_UPDATE_DELETE || uv_now(eng->loop) < job->deadline)) {
			if (push(zb, op, job, flight[i].rr) < 0)
				eng->events.record_done(job, op, flight[i].rr, DCV_ENOMEM,
				                        "out of memory");
		} else {
			eng->events.record_done(job, op, flight[i].rr, worst, why);
		}
		job_unref(job);
	}
	free(flight);
	(void)status;
	zb->busy = false;
	if (zb->closing) {
		zbatch_maybe_free(zb);
		return;
	}
	/* Every record ended for good (its job's deadline passed): nothing to retry. */
	if (retry && zb->n_queue[0] + zb->n_queue[1] == 0)
		return;
	if (retry) {
		uint64_t delay = dcv_backoff_ms(zb->failures++, RETRY_BASE_MS, RETRY_CAP_MS);
		log_info("zone %s: retrying %zu records in %.1f s", zb->zone,
		         zb->n_queue[0] + zb->n_queue[1], (double)delay / 1000.0);
		uv_timer_start(&zb->retry, on_retry, delay, 0);
		return;
	}
	zb->failures = 0;
	if (!eng->stopping)
		zbatch_send(zb);
}

/* Fails every queued entry of op at once (the zone is gone from the configuration). */
static void fail_queue(struct zbatch *zb, enum dcv_update_op op, int status, const char *why)
{
	struct zentry *q = zb->queue[op];
	size_t n = zb->n_queue[op];

	zb->queue[op] = NULL;
	zb->n_queue[op] = zb->cap_queue[op] = 0;
	for (size_t i = 0; i < n; i++) {
		zb->eng->events.record_done(q[i].job, op, q[i].rr, status, why);
		job_unref(q[i].job);
	}
	free(q);
}

/*
 * The configuration an UPDATE of the zone goes out with: the running one,
 * or -- for a zone a reload removed while jobs still hold records in it --
 * the one a queued job was planned with, so that those records can still be
 * withdrawn (the reload said so). NULL when no configuration has the zone.
 */
static struct cfgref *zone_cfg(struct zbatch *zb, enum dcv_update_op op)
{
	struct dcv_engine *eng = zb->eng;

	if (dcv_config_zone(eng->cfg->cfg, zb->zone) != NULL)
		return eng->cfg;
	for (size_t i = 0; i < zb->n_queue[op]; i++) {
		struct cfgref *c = zb->queue[op][i].job->cfg;
		if (c != NULL && dcv_config_zone(c->cfg, zb->zone) != NULL)
			return c;
	}
	return NULL;
}

static void zbatch_send(struct zbatch *zb)
{
	struct dcv_engine *eng = zb->eng;
	enum dcv_update_op op =
	    zb->n_queue[DCV_UPDATE_ADD] > 0 ? DCV_UPDATE_ADD : DCV_UPDATE_DELETE;
	struct cfgref *cref = zone_cfg(zb, op);
	const struct dcv_config *cfg = cref != NULL ? cref->cfg : eng->cfg->cfg;
	const struct dcv_zone *zone = cref != NULL ? dcv_config_zone(cfg, zb->zone) : NULL;
	struct dcv_update_opts opts = {cfg->max_message_size, UPDATE_TIMEOUT_MS};
	struct dcv_record *recs = NULL;
	char why[400];
	int rc = DCV_ENOMEM;

	if (zb->busy || eng->stopping || zb->n_queue[op] == 0)
		return;
	if (zone == NULL) {
		snprintf(why, sizeof(why), "zone %s is no longer in the configuration", zb->zone);
		log_err("%s: %zu queued records cannot be sent", why,
		        zb->n_queue[DCV_UPDATE_ADD] + zb->n_queue[DCV_UPDATE_DELETE]);
		fail_queue(zb, DCV_UPDATE_ADD, DCV_ENOZONE, why);
		fail_queue(zb, DCV_UPDATE_DELETE, DCV_ENOZONE, why);
		return;
	}
	recs = calloc(zb->n_queue[op], sizeof(*recs));
	if (recs == NULL)
		goto out;
	for (size_t i = 0; i < zb->n_queue[op]; i++) {
		const struct dcv_job_record_rr *rr =
		    &zb->queue[op][i].job->rec.rrs[zb->queue[op][i].rr];
		snprintf(recs[i].owner, sizeof(recs[i].owner), "%s", rr->owner);
		snprintf(recs[i].target, sizeof(recs[i].target), "%s", rr->target);
		recs[i].ttl = rr->ttl;
	}
	zb->flight = zb->queue[op];
	zb->n_flight = zb->n_queue[op];
	zb->flight_op = op;
	zb->queue[op] = NULL;
	zb->n_queue[op] = zb->cap_queue[op] = 0;
	zb->busy = true;
	zb->flight_cfg = cfgref_get(cref);
	log_debug("zone %s: UPDATE %s of %zu records", zb->zone,
	          op == DCV_UPDATE_ADD ? "add" : "delete", zb->n_flight);
	rc = dcv_update_start(eng->io, zone, op, recs, zb->n_flight, &opts, zbatch_on_update, zb,
	                      &zb->flight_up);
	if (rc < 0) {
		/* Cannot start (a record too big for a message, no memory): fail these records. */
		struct zentry *flight = zb->flight;
		size_t n = zb->n_flight;
		zb->flight = NULL;
		zb->n_flight = 0;
		zb->busy = false;
		cfgref_put(zb->flight_cfg);
		zb->flight_cfg = NULL;
		snprintf(why, sizeof(why),
		         "zone %s: a record does not fit in an UPDATE message of max_message_size "
		         "(%llu bytes, TSIG included)",
		         zb->zone, (unsigned long long)cfg->max_message_size);
		for (size_t i = 0; i < n; i++) {
			eng->events.record_done(flight[i].job, op, flight[i].rr, rc,
			                        rc == DCV_EINVAL ? why : "out of memory");
			job_unref(flight[i].job);
		}
		free(flight);
	}
out:
	free(recs);
	if (rc == DCV_ENOMEM)
		log_err("zone %s: out of memory building an UPDATE", zb->zone);
}

/* A closing batch goes when its timer is closed and no update is in flight. */
static void zbatch_maybe_free(struct zbatch *zb)
{
	struct dcv_engine *eng = zb->eng;

	if (zb->retry_open || zb->busy)
		return;
	free(zb);
	engine_release(eng);
}

static void on_zbatch_closed(uv_handle_t *h)
{
	struct zbatch *zb = h->data;

	zb->retry_open = false;
	zbatch_maybe_free(zb);
}

/* At stop: drops queued entries (their jobs resume from their records) and closes timers. */
void zbatch_close_all(struct dcv_engine *eng)
{
	struct zbatch *zb = eng->zbatches;

	eng->zbatches = NULL;
	while (zb != NULL) {
		struct zbatch *next = zb->next;
		for (int op = 0; op < 2; op++) {
			for (size_t i = 0; i < zb->n_queue[op]; i++)
				job_unref(zb->queue[op][i].job);
			free(zb->queue[op]);
			zb->queue[op] = NULL;
			zb->n_queue[op] = 0;
		}
		zb->closing = true;
		eng->closing++;
		uv_close((uv_handle_t *)&zb->retry, on_zbatch_closed);
		/*
		 * Ended here, not by the closing dnsio's cancellations alone: an
		 * update waiting on a timer (a retry, the next confirmation round)
		 * has no exchange to cancel and would send on a freed dnsio.
		 * zbatch_on_update() runs from inside and releases the jobs.
		 */
		if (zb->flight_up != NULL)
			dcv_update_cancel(zb->flight_up);
		zb = next;
	}
}
