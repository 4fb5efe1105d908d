/*
 * zwatch.c -- jobs waiting for servers to catch up, woken when they do.
 *
 * A job whose record is not yet served everywhere waits on the watcher of
 * its zone instead of polling on its own. While anything waits, the watcher
 * asks for the SOA serial of every authoritative address of the zone (one
 * query per address, however many jobs wait); when a serial moves -- a
 * secondary finished a transfer -- every waiting job gets a probe round at
 * once, and the round's memory asks only what can have changed. So a burst
 * of 10,000 jobs costs a few queries per server per poll, and a single job
 * is seen visible within a poll of the transfer.
 *
 * The poll is fast (WATCH_POLL_MS) for WATCH_FAST_MS after a change -- a
 * job starts waiting after its UPDATE, or a serial moved -- and then backs off
 * exponentially, with jitter, to the zone's poll_max while nothing moves:
 * a hosted secondary that lags for minutes, or never catches up, is asked
 * about once per poll_max, not 100 times a second (providers rate-limit
 * that). One serials request per zone is out at a time. A serial that moves
 * is still seen within one poll_max. Each job also keeps a slow timer of
 * its own in case no serial ever moves.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "log.h"

#define WATCH_POLL_MS 10
#define WATCH_MAX_ADDRS 32
#define WATCH_POLL_MAX_MS 2000 /* without a zone in the configuration (a reload dropped it) */
/*
 * How long the poll stays fast after a change before it backs off: a Knot
 * secondary was seen to start its refresh half a second after the NOTIFY,
 * and that transfer should still be seen within a fast poll.
 */
#define WATCH_FAST_MS 1500

struct zwatch {
	struct dcv_engine *eng;
	struct zwatch *next;
	char zone[256];
	struct dcv_job *head; /* waiting jobs, through job->wnext/wprev */
	size_t n;
	uv_timer_t timer;
	uint64_t
	    interval;   /* ms until the next poll: WATCH_POLL_MS after a change, then backing off */
	unsigned quiet; /* polls in a row that saw no serial move, after the fast window */
	uint64_t changed_at; /* loop ms of the last change */
	bool asking;         /* a serials request is out */
	bool have;           /* serials below are from an earlier poll */
	size_t n_addrs;
	uint32_t serials[WATCH_MAX_ADDRS];
	bool known[WATCH_MAX_ADDRS];
	char addrs[WATCH_MAX_ADDRS][64];
	bool closing;
};

static void on_poll(uv_timer_t *t);

/* The zone's poll_max in ms (its own, else the configuration's). */
static uint64_t poll_cap(const struct zwatch *w)
{
	const struct dcv_config *cfg = w->eng->cfg->cfg;
	const struct dcv_zone *zone = dcv_config_zone(cfg, w->zone);
	uint64_t s = zone != NULL && zone->poll_max > 0 ? zone->poll_max : cfg->poll_max;

	return s > 0 ? s * 1000 : WATCH_POLL_MAX_MS;
}

/* The next poll after one that saw nothing move: doubled, with jitter, up to the cap. */
static void back_off(struct zwatch *w)
{
	if (uv_now(w->eng->loop) - w->changed_at < WATCH_FAST_MS) {
		w->interval = WATCH_POLL_MS;
		return;
	}
	w->interval = dcv_backoff_ms(++w->quiet, WATCH_POLL_MS, poll_cap(w));
}

/* A change: poll fast again, now rather than at the end of a long wait. */
static void hurry(struct zwatch *w)
{
	w->changed_at = uv_now(w->eng->loop);
	w->quiet = 0;
	w->interval = WATCH_POLL_MS;
	if (!w->asking && w->n > 0)
		uv_timer_start(&w->timer, on_poll, WATCH_POLL_MS, 0);
}

static struct zwatch *zwatch_find(struct dcv_engine *eng, const char *zone)
{
	struct zwatch *w = NULL;

	for (w = eng->zwatches; w != NULL; w = w->next)
		if (strcmp(w->zone, zone) == 0)
			return w;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->eng = eng;
	snprintf(w->zone, sizeof(w->zone), "%s", zone);
	uv_timer_init(eng->loop, &w->timer);
	w->timer.data = w;
	w->next = eng->zwatches;
	eng->zwatches = w;
	return w;
}

void zwatch_forget(struct dcv_job *job)
{
	struct zwatch *w = job->watch;

	if (w == NULL)
		return;
	if (job->wprev != NULL)
		job->wprev->wnext = job->wnext;
	else
		w->head = job->wnext;
	if (job->wnext != NULL)
		job->wnext->wprev = job->wprev;
	job->wnext = job->wprev = NULL;
	job->watch = NULL;
	w->n--;
	job_unref(job);
}

int zwatch_wait(struct dcv_engine *eng, struct dcv_job *job, bool fresh)
{
	struct zwatch *w = NULL;

	if (job->rec.n_rrs == 0 || eng->stopping)
		return DCV_EINVAL;
	w = zwatch_find(eng, job->rec.rrs[0].zone);
	if (w == NULL)
		return DCV_ENOMEM;
	zwatch_forget(job);
	job_ref(job);
	job->watch = w;
	job->wprev = NULL;
	job->wnext = w->head;
	if (w->head != NULL)
		w->head->wprev = job;
	w->head = job;
	w->n++;
	if (fresh)
		hurry(w);
	else if (!uv_is_active((uv_handle_t *)&w->timer) && !w->asking)
		uv_timer_start(&w->timer, on_poll, w->interval ? w->interval : WATCH_POLL_MS, 0);
	return DCV_OK;
}

/* Every waiting job gets its round now. */
static void wake_all(struct zwatch *w)
{
	while (w->head != NULL) {
		struct dcv_job *job = w->head;
		job_ref(job);
		zwatch_forget(job);
		w->eng->events.wake(job);
		job_unref(job);
	}
}

static void on_serials(void *arg, int status, size_t n, const struct dcv_addr *addrs,
                       const uint32_t *serials, const bool *known)
{
	struct zwatch *w = arg;
	bool moved = !w->have || n != w->n_addrs;

	w->asking = false;
	if (w->closing) {
		free(w);
		return;
	}
	if (status < 0 || n > WATCH_MAX_ADDRS) {
		/* The jobs' own slow timers carry on; the watcher tries again later. */
		moved = false;
	} else {
		for (size_t i = 0; i < n && !moved; i++)
			moved = strcmp(w->addrs[i], addrs[i].text) != 0 ||
			        known[i] != w->known[i] || serials[i] != w->serials[i];
		for (size_t i = 0; i < n; i++) {
			snprintf(w->addrs[i], sizeof(w->addrs[i]), "%s", addrs[i].text);
			w->serials[i] = serials[i];
			w->known[i] = known[i];
		}
		w->n_addrs = n;
		w->have = true;
	}
	if (moved) {
		w->changed_at = uv_now(w->eng->loop);
		w->quiet = 0;
		w->interval = WATCH_POLL_MS;
		wake_all(w);
	} else {
		back_off(w);
	}
	if (w->n > 0 && !w->eng->stopping)
		uv_timer_start(&w->timer, on_poll, w->interval, 0);
}

static void on_poll(uv_timer_t *t)
{
	struct zwatch *w = t->data;
	struct dcv_engine *eng = w->eng;
	const struct dcv_zone *zone = NULL;

	if (w->n == 0 || eng->stopping) {
		w->have = false; /* jobs waiting later compare with fresh serials */
		w->quiet = 0;
		w->interval = WATCH_POLL_MS;
		return;
	}
	if (w->asking)
		return; /* on_serials arms the next poll */
	zone = dcv_config_zone(eng->cfg->cfg, w->zone);
	if (zone == NULL)
		return;
	w->asking = true;
	/* Serials a round asked for within half a poll are as good as new. */
	if (dcv_prober_serials(eng->cfg->prober, zone, w->interval / 2, on_serials, w) < 0) {
		w->asking = false;
		back_off(w);
		uv_timer_start(&w->timer, on_poll, w->interval, 0);
	}
}

static void on_closed(uv_handle_t *h)
{
	struct zwatch *w = h->data;
	struct dcv_engine *eng = w->eng;

	/* A serials request still out frees w when it comes back. */
	if (w->asking)
		w->closing = true;
	else
		free(w);
	engine_release(eng);
}

void zwatch_close_all(struct dcv_engine *eng)
{
	struct zwatch *w = eng->zwatches;

	eng->zwatches = NULL;
	while (w != NULL) {
		struct zwatch *next = w->next;
		while (w->head != NULL)
			zwatch_forget(w->head);
		uv_timer_stop(&w->timer);
		eng->closing++;
		uv_close((uv_handle_t *)&w->timer, on_closed);
		w = next;
	}
}
