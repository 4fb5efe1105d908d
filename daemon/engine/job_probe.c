/*
 * job_probe.c -- a job's probe rounds: whether the CA's check would succeed
 * (published -> visible), whether its records are gone (withdrawing,
 * failed with cleanup), what it waits for meanwhile (the notices, the
 * reasons), and the engine's line of jobs waiting for a round: at most
 * MAX_ROUNDS_IN_FLIGHT run at once, each round's end starts the next in
 * line, so a burst of thousands does not hold thousands of rounds' queries.
 */
#include <stdio.h>
#include <string.h>

#include "engine_int.h"
#include "log.h"

#define PROBE_FALLBACK_MS 1000 /* besides the zone watcher (zwatch.c) */
#define PROBE_CAP_MS 10000
#define RETRY_BASE_MS 1000     /* deletes that failed: sent again after this, doubling */
#define WITHDRAW_CAP_MS 300000 /* deletes retry this slowly at worst, forever */
#define MAX_ROUNDS_IN_FLIGHT 512

/* --- the line of jobs waiting for a round ------------------------------------- */

/* At the end of the line; the job counts as in a round already (WAIT_PROBE). */
static void rounds_enqueue(struct dcv_engine *eng, struct dcv_job *job)
{
	job->wait = WAIT_PROBE;
	job->round_next = NULL;
	if (eng->round_tail != NULL)
		eng->round_tail->round_next = job;
	else
		eng->round_head = job;
	eng->round_tail = job;
}

/* A round ended: the first job in line gets its round. */
static void rounds_start_next(struct dcv_engine *eng)
{
	struct dcv_job *next = eng->round_head;

	if (next == NULL)
		return;
	eng->round_head = next->round_next;
	if (eng->round_head == NULL)
		eng->round_tail = NULL;
	next->wait = WAIT_NONE;
	job_probe(next);
}

/* --- probing ------------------------------------------------------------- */

/* Keeps the last round's disagreements: they are the message if time runs out. */
static void job_remember_round(struct dcv_job *job, const struct dcv_probe_report *rep)
{
	dcv_probe_disagreements(rep, 20, &job->last);
}

static void last_text(const struct dcv_job *job, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < job->last.n && off + 4 < size; i++)
		off +=
		    (size_t)snprintf(buf + off, size - off, "%s%s", i ? "; " : "", job->last.v[i]);
	if (buf[0] == '\0')
		snprintf(buf, size, "no answer yet");
}

/*
 * A job that waits long for a server (a lagging secondary, a server that
 * does not answer) says what it waits for, long before visible_timeout
 * fails it: after WAIT_LOG_FIRST_MS, then each time the wait has doubled,
 * so that a long wait costs a handful of lines.
 */
static void log_waiting(struct dcv_job *job)
{
	uint64_t now = uv_now(job->eng->loop), waited = now - job->published_ms;
	char text[400];

	if (job->rec.state != DCV_JOB_PUBLISHED || now < job->wait_log_ms)
		return;
	job->wait_log_ms = now + waited;
	last_text(job, text, sizeof(text));
	dcv_log_job(DCV_LOG_NOTICE, job->rec.id,
	            "published %.1f s ago, not yet visible everywhere: %s", (double)waited / 1000.0,
	            text);
}

/* The zones' DNSSEC states the round found, into the record (the status file's dnssec:). */
static void job_note_dnssec(struct dcv_job *job, const struct dcv_probe_report *rep)
{
	for (size_t i = 0; i < job->rec.n_rrs; i++)
		for (size_t z = 0; z < rep->n_zsecs; z++)
			if (dcv_config_zone(job->cfg->cfg, job->rec.rrs[i].zone) ==
			    dcv_config_zone(job->cfg->cfg, rep->zsecs[z].zone))
				snprintf(job->rec.rrs[i].dnssec, sizeof(job->rec.rrs[i].dnssec),
				         "%s", rep->zsecs[z].state);
}

/*
 * The slowest the job's own timer asks: PROBE_CAP_MS, or its zone's
 * poll_max when that is longer -- a provider that rate-limits its
 * servers is asked about once per poll_max, by the watcher and the jobs.
 */
static uint64_t job_probe_cap_ms(const struct dcv_job *job)
{
	const struct dcv_config *cfg = job->cfg->cfg;
	const struct dcv_zone *z =
	    job->rec.n_rrs > 0 ? dcv_config_zone(cfg, job->rec.rrs[0].zone) : NULL;
	uint64_t s = z != NULL && z->poll_max > 0 ? z->poll_max : cfg->poll_max;

	return s * 1000 > PROBE_CAP_MS ? s * 1000 : PROBE_CAP_MS;
}

static void job_on_round(void *arg, const struct dcv_probe_report *rep)
{
	struct dcv_job *job = arg;
	struct dcv_engine *eng = job->eng;
	/* Besides the zone watcher's wake-up, a slow timer of the job's own. */
	uint64_t cap = job_probe_cap_ms(job);
	uint64_t delay = dcv_backoff_ms(job->attempt++, PROBE_FALLBACK_MS, cap);

	eng->rounds_in_flight--;
	job->wait = WAIT_NONE;
	if (eng->stopping)
		goto out;
	engine_metrics_probe(eng, rep);
	rounds_start_next(eng);
	if (job->rec.state == DCV_JOB_PUBLISHED && rep->status == DCV_OK && rep->failed) {
		/* DNSSEC: the CA's lookup fails, and waiting does not mend it. */
		job_note_dnssec(job, rep);
		job_fail(job, "%s", rep->why);
		goto out;
	}
	if (job->rec.state == DCV_JOB_PUBLISHED && rep->status == DCV_OK && rep->done) {
		job_note_dnssec(job, rep);
		dcv_log_job(DCV_LOG_NOTICE, job->rec.id,
		            "visible at %zu authoritative addresses and %zu resolvers after %.3f s",
		            rep->n_auth_addrs, job->cfg->cfg->n_resolvers,
		            (double)(uv_now(eng->loop) - job->received_ms) / 1000.0);
		dcv_metrics_visible_after(&eng->metrics,
		                          (double)(uv_now(eng->loop) - job->received_ms) / 1000.0);
		job->rec.visible = job_now_s();
		job->rec.withdraw_due = job->cfg->cfg->withdraw_after
		                            ? job->rec.visible + job->cfg->cfg->withdraw_after
		                            : 0;
		job_set_state(job, DCV_JOB_VISIBLE);
		engine_persist(eng, job, "done", true, job_after_visible);
		goto out;
	}
	if (rep->status == DCV_OK && rep->done &&
	    (job->rec.state == DCV_JOB_WITHDRAWING || job->rec.state == DCV_JOB_FAILED)) {
		if (job->rec.state == DCV_JOB_WITHDRAWING) {
			job->rec.withdrawn = job_now_s();
			job_set_state(job, DCV_JOB_WITHDRAWN);
		}
		job_deletes_settled(job);
		goto out;
	}
	job_remember_round(job, rep);
	log_waiting(job);
	if (job->rec.state == DCV_JOB_PUBLISHED && uv_now(eng->loop) >= job->deadline) {
		char text[400];
		last_text(job, text, sizeof(text));
		job_fail(job, "not visible everywhere within visible_timeout (%llu s): %s",
		         (unsigned long long)job->cfg->cfg->visible_timeout, text);
		goto out;
	}
	if (job->rec.state != DCV_JOB_PUBLISHED && job->update_status != DCV_OK) {
		/*
		 * Deletes failed and the records are still out there (a primary
		 * down): keep trying, backing off to WITHDRAW_CAP_MS, for ever --
		 * the job holds no max_jobs slot meanwhile.
		 */
		job->deletes_due = true;
		engine_schedule(eng, job,
		                dcv_backoff_ms(job->attempt, RETRY_BASE_MS, WITHDRAW_CAP_MS));
	} else {
		/* Woken by the zone's watcher as soon as a server's serial moves. */
		zwatch_wait(eng, job, job->fresh_change);
		job->fresh_change = false;
		engine_schedule(eng, job, delay > cap ? cap : delay);
	}
out:
	job_unref(job);
}

void job_probe(struct dcv_job *job)
{
	struct dcv_engine *eng = job->eng;

	zwatch_forget(job);
	dcv_sched_remove(&eng->sched, &job->due);
	if (eng->rounds_in_flight >= MAX_ROUNDS_IN_FLIGHT) {
		/*
		 * Many jobs at once: in line for a round (job_on_round starts the
		 * first) rather than rounds without bound, each holding its
		 * queries' memory while they wait for the UDP window.
		 */
		dcv_log_job(DCV_LOG_DEBUG, job->rec.id, "waits in line: %d probe rounds run",
		            MAX_ROUNDS_IN_FLIGHT);
		rounds_enqueue(eng, job);
		return;
	}
	job->spec.expect_absent =
	    job->rec.state == DCV_JOB_WITHDRAWING || job->rec.state == DCV_JOB_FAILED;
	/* The serials that held the records explain a wait for them, not for their removal. */
	job->spec.held = job->held;
	job->spec.n_held = job->spec.expect_absent ? 0 : job->n_held;
	job_ref(job);
	job->wait = WAIT_PROBE;
	if (dcv_probe_round(job->cfg->prober, &job->spec, job_on_round, job) < 0) {
		job->wait = WAIT_NONE;
		job_unref(job);
		engine_schedule(eng, job, 1000);
		return;
	}
	eng->rounds_in_flight++;
}
