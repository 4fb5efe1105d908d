/*
 * engine_sweep.c -- retention (retention.h): the sweep at start and then
 * at least once an hour, sooner when keep is shorter or a finished job's
 * time comes first. The sweep itself is a store batch on the thread pool
 * (store_sweep.c); the loop only queues it, logs what it found (one line
 * per sweep, and one per file it could not delete or dot-file it removed)
 * and takes the deleted jobs off the counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"
#include "log.h"
#include "retention.h"

#define SWEEP_EVERY_MAX_S 3600    /* at least once an hour */
#define SWEEP_DOT_AGE_S 86400     /* dot-files in incoming/ unchanged for a day */
#define SWEEP_AFTER_FAILURE_S 300 /* a sweep the store refused: again in five minutes, or keep */

struct engine_sweep {
	struct dcv_engine *eng;
	uv_timer_t timer;
	struct dcv_store_sweep sw; /* the running sweep's; the pool thread writes it */
	bool running;
	bool stopped;
};

static void sweep_run(uv_timer_t *t);

/* "30d", "12h", "90s": a duration as the configuration says it. */
static void sweep_duration(uint64_t s, char *buf, size_t size)
{
	if (s > 0 && s % 86400 == 0)
		snprintf(buf, size, "%llud", (unsigned long long)(s / 86400));
	else if (s > 0 && s % 3600 == 0)
		snprintf(buf, size, "%lluh", (unsigned long long)(s / 3600));
	else if (s > 0 && s % 60 == 0)
		snprintf(buf, size, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, size, "%llus", (unsigned long long)s);
}

/* Seconds to the next sweep: an hour, keep if shorter, or when the next finished job expires. */
static uint64_t sweep_next_s(const struct dcv_store_sweep *sw, int status)
{
	uint64_t next = status < 0 ? SWEEP_AFTER_FAILURE_S : SWEEP_EVERY_MAX_S;

	if (sw->keep > 0 && sw->keep < next)
		next = sw->keep;
	if (status < 0)
		return next;
	if (sw->next_expiry > sw->now && sw->next_expiry - sw->now < next)
		next = sw->next_expiry - sw->now;
	return next > 0 ? next : 1;
}

static void sweep_report(struct engine_sweep *es, int status, const struct dcv_why *why,
                         uint64_t next_s)
{
	const struct dcv_store_sweep *sw = &es->sw;
	char keep[32], jobs[200];

	for (size_t i = 0; i < sw->notes.n; i++)
		log_info("retention: %s", sw->notes.v[i]);
	for (size_t i = 0; i < sw->problems.n; i++)
		log_err("retention: %s", sw->problems.v[i]);
	if (sw->messages_dropped > 0)
		log_err("retention: %zu more lines of this sweep not shown", sw->messages_dropped);
	sweep_duration(sw->keep, keep, sizeof(keep));
	if (sw->keep == 0)
		snprintf(jobs, sizeof(jobs), "keep is 0: no job deleted");
	else
		snprintf(jobs, sizeof(jobs),
		         "deleted %zu finished jobs older than keep (%s) with %zu files; kept %zu "
		         "that hold records and %zu finished less than keep ago",
		         sw->deleted, keep, sw->files, sw->holding, sw->young);
	if (status < 0)
		log_err("retention: sweep failed: %s; no job record deleted (%zu files of expired "
		        "jobs were; their records stay for the next sweep); %zu errors; next sweep "
		        "in %llu s",
		        why->text, sw->files, sw->errors + 1, (unsigned long long)next_s);
	else
		dcv_log(
		    sw->errors > 0 ? DCV_LOG_WARNING : DCV_LOG_INFO,
		    "retention: sweep: %s; removed %zu stale dot-files from incoming/; %zu errors",
		    jobs, sw->dotfiles, sw->errors);
}

static void sweep_done(void *arg, int status, const struct dcv_why *why)
{
	struct engine_sweep *es = arg;
	struct dcv_engine *eng = es->eng;
	uint64_t next = sweep_next_s(&es->sw, status);

	es->running = false;
	sweep_report(es, status, why, next);
	/* Deleted jobs are no longer jobs of any state (the STATUS= line, the metrics). */
	for (size_t s = 0; status == DCV_OK && s < DCV_JOB_STATE_COUNT; s++)
		for (size_t k = 0; k < es->sw.deleted_by_state[s] && eng->n_by_state[s] > 0; k++)
			engine_count(eng, (enum dcv_job_state)s, DCV_JOB_STATE_COUNT);
	dcv_store_sweep_clear(&es->sw);
	if (es->stopped) {
		engine_release(eng);
		return;
	}
	uv_timer_start(&es->timer, sweep_run, next * 1000, 0);
}

static void sweep_run(uv_timer_t *t)
{
	struct engine_sweep *es = t->data;
	struct dcv_engine *eng = es->eng;
	struct dcv_store_batch *b = NULL;

	if (es->running || es->stopped || eng->stopping)
		return;
	memset(&es->sw, 0, sizeof(es->sw));
	es->sw.now = (uint64_t)time(NULL);
	es->sw.keep = eng->cfg->cfg->keep;
	es->sw.dot_age = SWEEP_DOT_AGE_S;
	b = dcv_store_batch_new(eng->store);
	if (b == NULL || dcv_store_batch_sweep(b, &es->sw) < 0) {
		dcv_store_batch_free(b);
		log_err("retention: out of memory for a sweep; next try in %d s",
		        SWEEP_AFTER_FAILURE_S);
		uv_timer_start(&es->timer, sweep_run, SWEEP_AFTER_FAILURE_S * 1000, 0);
		return;
	}
	/* In the store's queue: after the batches committed before, never beside one. */
	es->running = true;
	dcv_store_batch_commit(b, sweep_done, es);
}

int engine_sweep_start(struct dcv_engine *eng)
{
	struct engine_sweep *es = calloc(1, sizeof(*es));

	if (es == NULL)
		return DCV_ENOMEM;
	es->eng = eng;
	uv_timer_init(eng->loop, &es->timer);
	es->timer.data = es;
	eng->sweep = es;
	/* Due now, behind the start's own batch (its timer started first). */
	uv_timer_start(&es->timer, sweep_run, 0, 0);
	return DCV_OK;
}

bool engine_sweep_stop(struct dcv_engine *eng)
{
	struct engine_sweep *es = eng->sweep;

	if (es == NULL)
		return false;
	es->stopped = true;
	uv_timer_stop(&es->timer);
	return es->running;
}

static void sweep_closed(uv_handle_t *h)
{
	free(h->data);
}

void engine_sweep_free(struct dcv_engine *eng)
{
	struct engine_sweep *es = eng->sweep;

	if (es == NULL)
		return;
	eng->sweep = NULL;
	dcv_store_sweep_clear(&es->sw);
	uv_close((uv_handle_t *)&es->timer, sweep_closed);
}
