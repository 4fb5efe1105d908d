/*
 * engine.c -- the engine's plumbing: configurations, the one scheduler
 * timer, the spool's callbacks, resuming at start, reload and stop. Store
 * writes are coalesced in engine_persist.c, the retention sweep is in
 * engine_sweep.c, metrics in engine_metrics.c; the job logic is in job.c,
 * the per-zone UPDATE batching in zbatch.c.
 */
#include <fcntl.h>
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "dcv/names.h"
#include "engine_int.h"
#include "log.h"
#include "retention.h"
#include "results.h"

#define STOP_LIMIT_MS 1800 /* SIGTERM to exit: the issue asks for 2 s */

#define JOB_OF(entry) ((struct dcv_job *)((char *)(entry)-offsetof(struct dcv_job, due)))

/* --- configurations -------------------------------------------------------- */

static void engine_abandon(struct dcv_engine *eng);

static struct cfgref *cfgref_new(struct dcv_engine *eng, struct dcv_config *cfg)
{
	struct cfgref *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->cfg = cfg;
	c->eng = eng;
	c->refs = 1;
	c->prober = dcv_prober_new(eng->io, cfg, NULL);
	if (c->prober == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

struct cfgref *cfgref_get(struct cfgref *c)
{
	c->refs++;
	return c;
}

void cfgref_put(struct cfgref *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	dcv_prober_free(c->prober);
	dcv_config_free(c->cfg);
	free(c);
}

/* --- counts ---------------------------------------------------------------- */

void engine_count(struct dcv_engine *eng, enum dcv_job_state from, enum dcv_job_state to)
{
	if (from < DCV_JOB_STATE_COUNT)
		eng->n_by_state[from]--;
	if (to < DCV_JOB_STATE_COUNT)
		eng->n_by_state[to]++;
	engine_metrics_moved(eng, from, to);
}

static size_t in_flight(const struct dcv_engine *eng)
{
	return eng->n_by_state[DCV_JOB_RECEIVED] + eng->n_by_state[DCV_JOB_PUBLISHING] +
	       eng->n_by_state[DCV_JOB_PUBLISHED];
}

void dcv_engine_status_line(const struct dcv_engine *eng, char *buf, size_t size)
{
	snprintf(buf, size,
	         "jobs: %zu in flight, %zu visible, %zu withdrawing, %zu withdrawn, %zu failed",
	         in_flight(eng), eng->n_by_state[DCV_JOB_VISIBLE],
	         eng->n_by_state[DCV_JOB_WITHDRAWING], eng->n_by_state[DCV_JOB_WITHDRAWN],
	         eng->n_by_state[DCV_JOB_FAILED]);
}

/* --- the scheduler ------------------------------------------------------------ */

static void on_tick(uv_timer_t *t);

static void rearm(struct dcv_engine *eng)
{
	struct dcv_sched_entry *first = dcv_sched_first(&eng->sched);
	uint64_t now = uv_now(eng->loop);

	if (first == NULL || eng->stopping) {
		uv_timer_stop(&eng->tick);
		return;
	}
	uv_timer_start(&eng->tick, on_tick, first->due > now ? first->due - now : 0, 0);
}

static void on_tick(uv_timer_t *t)
{
	struct dcv_engine *eng = t->data;
	struct dcv_sched_entry *e = NULL;
	uint64_t now = uv_now(eng->loop);

	while (!eng->stopping && (e = dcv_sched_pop_due(&eng->sched, now)) != NULL)
		job_due(JOB_OF(e));
	rearm(eng);
}

void engine_schedule(struct dcv_engine *eng, struct dcv_job *job, uint64_t delay_ms)
{
	uint64_t due = uv_now(eng->loop) + delay_ms;

	if (eng->stopping)
		return;
	/* A listed job has its place (job_list): this cannot fail for one. */
	if (dcv_sched_put(&eng->sched, &job->due, due) < 0) {
		log_err("job %s: out of memory for its timer", job->rec.id);
		return;
	}
	if (dcv_sched_first(&eng->sched) == &job->due)
		rearm(eng);
}

/*
 * NAME~<seconds><microseconds, 20 bits><random, 12 bits>: readable in logs,
 * unique across restarts too (a counter alone would repeat after a restart
 * within the same second and overwrite an older job's record), and ordered
 * by time also within one second, never repeating or going back within one
 * run: the newest record of a NAME is the one whose id sorts last, which is
 * how its status file is rebuilt at start (refresh_status below).
 */
void engine_job_id(struct dcv_engine *eng, const char *name, char *id, size_t size)
{
	struct timeval tv;
	uint64_t stamp = 0;
	uint32_t r = 0;

	gettimeofday(&tv, NULL);
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)eng->id_counter * 2654435761u;
	eng->id_counter++;
	stamp = (uint64_t)tv.tv_sec << 32 | (uint64_t)tv.tv_usec << 12 | (r & 0xfff);
	if (stamp <= eng->id_last)
		stamp = eng->id_last + 1;
	eng->id_last = stamp;
	/* The id is a file name too: a very long NAME is cut to fit (store.h). */
	snprintf(id, size, "%.*s~%llx%08x", DCV_JOB_ID_MAX - 17, name,
	         (unsigned long long)(stamp >> 32), (unsigned)(stamp & 0xffffffffu));
}

/* --- the spool ------------------------------------------------------------ */

/*
 * Jobs in flight per submitter, for max_jobs_per_submitter: counted like
 * max_jobs (received to published, and a CSR still on its way out of
 * active/). Without memory the bound is simply not applied this scan.
 */
static void submitters_busy(struct dcv_engine *eng, struct dcv_spool_policy *policy)
{
	struct dcv_spool_uid_busy *b = NULL;
	size_t n = 0, cap = 0;

	policy->per_uid_max = (size_t)eng->cfg->cfg->max_jobs_per_submitter;
	for (const struct dcv_job *j = eng->jobs; j != NULL; j = j->next) {
		size_t k = 0;
		if (!j->rec.has_uid || !(j->rec.state <= DCV_JOB_PUBLISHED ||
		                         (j->move_pending && !j->file_in_incoming)))
			continue;
		while (k < n && b[k].uid != (uid_t)j->rec.uid)
			k++;
		if (k == n) {
			if (n == cap) {
				size_t c = cap ? cap * 2 : 8;
				struct dcv_spool_uid_busy *grown = realloc(b, c * sizeof(*grown));
				if (grown == NULL)
					break;
				b = grown;
				cap = c;
			}
			b[n].uid = (uid_t)j->rec.uid;
			b[n++].busy = 0;
		}
		b[k].busy++;
	}
	policy->busy = b;
	policy->n_busy = n;
}

static void spool_policy(void *arg, struct dcv_spool_policy *policy)
{
	struct dcv_engine *eng = arg;
	const struct dcv_config *cfg = eng->cfg->cfg;
	size_t busy = in_flight(eng);

	/* A job's NAME is taken while its CSR is in active/ or on its way out of the spool. */
	for (const struct dcv_job *j = eng->jobs; j != NULL; j = j->next) {
		if (j->rec.state <= DCV_JOB_PUBLISHED || j->move_pending)
			dcv_strv_push(&policy->active_names, j->rec.name);
		/*
		 * A job that just ended (visible, failed) keeps its CSR in active/
		 * until the move to done/ or failed/ is committed: it still counts
		 * against max_jobs, or active/ would briefly hold more than that.
		 */
		if (j->rec.state > DCV_JOB_PUBLISHED && j->move_pending && !j->file_in_incoming)
			busy++;
	}
	policy->max_claims = busy >= cfg->max_jobs ? 0 : (size_t)(cfg->max_jobs - busy);
	submitters_busy(eng, policy);
	if (policy->max_claims == 0 && !eng->limit_logged) {
		log_warn("max_jobs (%llu) jobs in flight: new CSRs wait in incoming/",
		         (unsigned long long)cfg->max_jobs);
		eng->limit_logged = true;
	} else if (policy->max_claims > 0) {
		eng->limit_logged = false;
	}
	snprintf(policy->target, sizeof(policy->target), "%s", cfg->target);
	policy->opts.target = policy->target;
	policy->opts.unique = NULL;
	policy->psl = eng->psl;
}

static void spool_items(void *arg, struct dcv_spool_item *items, size_t n)
{
	struct dcv_engine *eng = arg;

	/* The array is the spool's; what each item holds is ours to free. */
	for (size_t i = 0; i < n; i++) {
		if (!eng->stopping)
			job_from_item(eng, &items[i]);
		dcv_spool_item_free(&items[i]);
	}
}

/* --- start: records back to jobs --------------------------------------------- */

static bool active_has(int dir, const char *file)
{
	struct stat st;

	return dir >= 0 && fstatat(dir, file, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * A CSR in active/ that no record claims was taken just before a crash and
 * nothing was published for it: it goes back to incoming/ to be taken again.
 */
static void return_orphans(struct dcv_engine *eng, int active, int incoming,
                           const struct dcv_job_record *recs, size_t n)
{
	DIR *d = NULL;
	struct dirent *de;
	int fd = active >= 0 ? dup(active) : -1;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		bool owned = false;
		char base[300];
		if (de->d_name[0] == '.')
			continue;
		snprintf(base, sizeof(base), "%s", de->d_name);
		char *dot = strrchr(base, '.');
		if (dot != NULL)
			*dot = '\0';
		for (size_t i = 0; i < n && !owned; i++)
			owned =
			    strcmp(recs[i].name, base) == 0 && recs[i].state != DCV_JOB_WITHDRAWN;
		if (owned)
			continue;
		if (renameat(active, de->d_name, incoming, de->d_name) == 0)
			log_notice("active/%s has no job record (taken just before a stop, or "
			           "its record was damaged): back to incoming/ to be taken again",
			           de->d_name);
	}
	closedir(d);
}

/*
 * Whether a record is older than keep (retention.h): the first sweep,
 * right after the start, deletes it with its files, so its status file is
 * not rebuilt. Its job still resumes (a finished job retires at once; a
 * failed one whose CSR is still in active/ moves it to failed/ first).
 */
static bool forgotten(const struct dcv_engine *eng, const struct dcv_job_record *rec, uint64_t now)
{
	return dcv_job_record_age(rec, now, eng->cfg->cfg->keep, NULL, NULL) == DCV_JOB_AGE_EXPIRED;
}

/*
 * The folder of the status file a record's job has, or NULL (none yet):
 * failed/ for a job that failed before it was visible, done/ for one that
 * was visible (also when it failed later: its files stayed in done/).
 */
static const char *status_dir_of(const struct dcv_job_record *rec)
{
	switch (rec->state) {
	case DCV_JOB_VISIBLE:
	case DCV_JOB_WITHDRAWING:
	case DCV_JOB_WITHDRAWN:
		return "done";
	case DCV_JOB_FAILED:
		return rec->visible != 0 ? "done" : "failed";
	default:
		return NULL;
	}
}

/*
 * Status files are not flushed (store.h): after a power loss one may be
 * missing, empty or older than its record. Each is rebuilt from the newest
 * record of its NAME that has one there (records of a NAME are next to
 * each other: ids are "NAME~..." and sorted); the store writes only the
 * files that differ.
 */
static void refresh_status(struct dcv_engine *eng, const struct dcv_job_record *recs, size_t n,
                           size_t i, uint64_t now)
{
	const char *dir = status_dir_of(&recs[i]);

	if (dir == NULL || forgotten(eng, &recs[i], now))
		return;
	for (size_t j = i + 1; j < n && strcmp(recs[j].name, recs[i].name) == 0; j++)
		if (recs[j].received >= recs[i].received && status_dir_of(&recs[j]) != NULL &&
		    strcmp(status_dir_of(&recs[j]), dir) == 0)
			return;
	for (size_t j = i; j-- > 0 && strcmp(recs[j].name, recs[i].name) == 0;)
		if (recs[j].received > recs[i].received && status_dir_of(&recs[j]) != NULL &&
		    strcmp(status_dir_of(&recs[j]), dir) == 0)
			return;
	if (eng->batch == NULL)
		eng->batch = dcv_store_batch_new(eng->store);
	if (eng->batch == NULL || dcv_store_batch_status_refresh(eng->batch, dir, &recs[i]) < 0)
		log_err("job %s: out of memory checking its status file %s/%s.status", recs[i].id,
		        dir, recs[i].name);
}

static void resume_all(struct dcv_engine *eng)
{
	struct dcv_job_record *recs = NULL;
	struct dcv_strv errors = {0};
	size_t n = 0;
	char path[4200];
	int active = -1, incoming = -1;
	uint64_t now = (uint64_t)time(NULL);

	dcv_store_load(eng->store, &recs, &n, &errors);
	eng->metrics.store_errors += errors.n;
	for (size_t i = 0; i < errors.n; i++)
		log_err("job state %s; that job is dropped: its CSR, if still in active/, is "
		        "taken again; records it had published stay until withdrawn by hand",
		        errors.v[i]);
	dcv_strv_free(&errors);
	snprintf(path, sizeof(path), "%s/active", eng->cfg->cfg->spool);
	active = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/incoming", eng->cfg->cfg->spool);
	incoming = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return_orphans(eng, active, incoming, recs, n);
	/* Who holds which record, from the records alone, before any job acts on it. */
	for (size_t i = 0; i < n; i++)
		if (dcv_job_record_holds(&recs[i]))
			job_take_holds(eng, &recs[i]);
	/* Before the jobs take their records over. */
	for (size_t i = 0; i < n; i++)
		refresh_status(eng, recs, n, i, now);
	for (size_t i = 0; i < n; i++) {
		char file[300];
		snprintf(file, sizeof(file), "%s.%s", recs[i].name, recs[i].ext);
		if (engine_result_due(&recs[i]) && now - recs[i].received < DCV_RESULTS_MAX_AGE_S)
			engine_deliver_result(eng, &recs[i], true);
		job_resume(eng, &recs[i], active_has(active, file), file);
	}
	dcv_job_records_free(recs, n);
	/* The status refreshes queued here, if no job's persist started a batch. */
	if (eng->batch != NULL && !eng->committing &&
	    !uv_is_active((uv_handle_t *)&eng->store_retry))
		uv_timer_start(&eng->store_retry, engine_on_store_kick, 0, 0);
	if (active >= 0)
		close(active);
	if (incoming >= 0)
		close(incoming);
}

/* --- lifecycle ------------------------------------------------------------------ */

int dcv_engine_new(uv_loop_t *loop, struct dcv_config *cfg, struct dcv_engine **out,
                   struct dcv_why *why)
{
	struct dcv_engine *eng = calloc(1, sizeof(*eng));
	int rc = DCV_ENOMEM;

	*out = NULL;
	dcv_why_clear(why);
	if (eng == NULL) {
		dcv_config_free(cfg);
		goto out;
	}
	eng->loop = loop;
	eng->events = (struct engine_job_events){job_record_done, job_wake};
	dcv_metrics_init(&eng->metrics, (double)time(NULL), DCV_VERSION);
	if ((eng->holders = holders_new()) == NULL) {
		dcv_config_free(cfg);
		dcv_why_set(why, "out of memory");
		free(eng);
		eng = NULL;
		goto out;
	}
	uv_timer_init(loop, &eng->tick);
	uv_timer_init(loop, &eng->store_retry);
	uv_timer_init(loop, &eng->stop_timer);
	eng->tick.data = eng->store_retry.data = eng->stop_timer.data = eng;
	eng->io = dcv_dnsio_new(loop, NULL);
	eng->cfg = eng->io ? cfgref_new(eng, cfg) : NULL;
	if (eng->cfg == NULL) {
		dcv_config_free(cfg);
		dcv_why_set(why, "out of memory");
		goto out;
	}
	if ((rc = dcv_psl_load(&eng->psl, why)) < 0 ||
	    (rc = dcv_spool_open(loop, cfg->spool, NULL, &eng->spool, why)) < 0 ||
	    (rc = dcv_store_open(loop, cfg->spool, &eng->store, why)) < 0)
		goto out;
	eng->hooks = dcv_hooks_new(loop, cfg->hook, cfg->hook_timeout * 1000, 4);
	if (eng->hooks == NULL) {
		rc = DCV_ENOMEM;
		goto out;
	}
	*out = eng;
	eng = NULL;
	rc = DCV_OK;
out:
	if (eng != NULL)
		engine_abandon(eng);
	/* Below, out of memory often says nothing: the caller prints why all the same. */
	return dcv_why_default(why, rc);
}

int dcv_engine_start(struct dcv_engine *eng)
{
	resume_all(eng);
	if (engine_sweep_start(eng) < 0)
		log_err("retention: out of memory: finished jobs are kept until a restart");
	engine_metrics_start(eng);
	return dcv_spool_start(eng->spool, spool_policy, spool_items, eng);
}

/* Whether one of rec's records is in zone domain. */
static bool holds_in_zone(const struct dcv_job_record *rec, const char *domain)
{
	for (size_t i = 0; i < rec->n_rrs; i++)
		if (strcasecmp(rec->rrs[i].zone, domain) == 0)
			return true;
	return false;
}

/*
 * What a reload cannot change while running, named and kept: the spool
 * (its folders and job store are open). And zones a reload removed while
 * jobs still hold records there: those jobs keep the configuration they
 * were planned with, so their records are still withdrawn; say so.
 */
static int reload_keep(struct dcv_engine *eng, struct dcv_config *cfg)
{
	const struct dcv_config *old = eng->cfg->cfg;
	char *spool = NULL;

	if (strcmp(cfg->spool, old->spool) != 0) {
		if ((spool = strdup(old->spool)) == NULL)
			return DCV_ENOMEM;
		log_warn("reload: spool: %s needs a restart; the running spool %s is kept",
		         cfg->spool, old->spool);
		free(cfg->spool);
		cfg->spool = spool;
	}
	for (size_t z = 0; z < old->n_zones; z++) {
		const char *domain = old->zones[z].domain;
		size_t held = 0;
		if (dcv_config_zone(cfg, domain) != NULL)
			continue;
		for (const struct dcv_job *j = eng->jobs; j != NULL; j = j->next)
			held += dcv_job_record_holds(&j->rec) && holds_in_zone(&j->rec, domain);
		if (held > 0)
			log_warn(
			    "reload: zone %s was removed, but %zu jobs hold records in it: they "
			    "keep its primaries and keys until their records are withdrawn",
			    domain, held);
	}
	return DCV_OK;
}

void dcv_engine_reload(struct dcv_engine *eng, struct dcv_config *cfg)
{
	struct cfgref *c = reload_keep(eng, cfg) == DCV_OK ? cfgref_new(eng, cfg) : NULL;

	if (c == NULL) {
		log_err("reload: out of memory; keeping the running configuration");
		dcv_config_free(cfg);
		return;
	}
	cfgref_put(eng->cfg);
	eng->cfg = c;
	dcv_hooks_configure(eng->hooks, cfg->hook, cfg->hook_timeout * 1000);
	engine_metrics_reload(eng, cfg);
	dcv_spool_kick(eng->spool);
}

/* --- stopping ----------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
	struct dcv_engine *eng = h->data;

	if (--eng->handles_open > 0)
		return;
	if (eng->stopped != NULL)
		eng->stopped(eng->stopped_arg);
	free(eng);
}

/* Frees what is left once every part has closed (or the time limit passed). */
static void finish_stop(struct dcv_engine *eng)
{
	struct dcv_job *job = eng->jobs;

	if (eng->finished)
		return;
	eng->finished = true;
	uv_timer_stop(&eng->stop_timer);
	eng->jobs = NULL;
	/* Jobs in line for a round are listed jobs: freed just below. */
	eng->round_head = eng->round_tail = NULL;
	while (job != NULL) {
		struct dcv_job *next = job->next;
		job->listed = false;
		eng->n_listed--;
		dcv_sched_remove(&eng->sched, &job->due);
		job_unref(job);
		job = next;
	}
	/*
	 * Persists that came while the last batch was being written at the
	 * stop: never committed (they resume from the records at the next
	 * start), but they hold their jobs.
	 */
	for (size_t i = 0; i < eng->n_conts; i++)
		job_unref(eng->conts[i].job);
	free(eng->conts);
	eng->conts = NULL;
	eng->n_conts = eng->cap_conts = 0;
	dcv_store_batch_free(eng->batch);
	eng->batch = NULL;
	dcv_sched_free(&eng->sched);
	cfgref_put(eng->cfg);
	eng->cfg = NULL;
	dcv_store_close(eng->store);
	dcv_psl_free(eng->psl);
	holders_free(eng->holders);
	eng->holders = NULL;
	engine_sweep_free(eng);
	dcv_metrics_free(&eng->metrics);
	eng->handles_open = 3;
	uv_close((uv_handle_t *)&eng->tick, on_handle_closed);
	uv_close((uv_handle_t *)&eng->store_retry, on_handle_closed);
	uv_close((uv_handle_t *)&eng->stop_timer, on_handle_closed);
}

void engine_release(struct dcv_engine *eng)
{
	if (--eng->closing == 0 && eng->stopping)
		finish_stop(eng);
}

static void release_cb(void *arg)
{
	engine_release(arg);
}

static void on_stop_limit(uv_timer_t *t)
{
	struct dcv_engine *eng = t->data;

	/* What did not finish resumes from the job records at the next start. */
	log_warn("stop: %zu parts still closing after %.1f s; exiting anyway", eng->closing,
	         STOP_LIMIT_MS / 1000.0);
	if (eng->stopped != NULL)
		eng->stopped(eng->stopped_arg);
	eng->stopped = NULL;
}

void dcv_engine_stop(struct dcv_engine *eng, void (*stopped)(void *arg), void *arg)
{
	if (eng->stopping)
		return;
	eng->stopping = true;
	eng->stopped = stopped;
	eng->stopped_arg = arg;
	eng->closing = 1; /* held until everything below is started */
	uv_timer_stop(&eng->tick);
	uv_timer_stop(&eng->store_retry);
	uv_timer_start(&eng->stop_timer, on_stop_limit, STOP_LIMIT_MS, 0);
	eng->closing++;
	dcv_spool_close(eng->spool, release_cb, eng);
	eng->closing++;
	dcv_hooks_close(eng->hooks, 500, release_cb, eng);
	/* One last write of what is pending: less to redo at the next start. */
	if (!eng->committing && eng->batch != NULL)
		engine_commit(eng);
	if (eng->committing)
		eng->closing++;
	if (engine_sweep_stop(eng))
		eng->closing++;
	zbatch_close_all(eng);
	zwatch_close_all(eng);
	engine_metrics_stop(eng);
	eng->closing++;
	dcv_dnsio_close(eng->io, release_cb, eng);
	engine_release(eng);
}

/* dcv_engine_new() failed half way: undo what exists (the loop finishes the closes). */
static void engine_abandon(struct dcv_engine *eng)
{
	eng->stopping = true;
	eng->closing = 1;
	if (eng->spool != NULL) {
		eng->closing++;
		dcv_spool_close(eng->spool, release_cb, eng);
	}
	if (eng->hooks != NULL) {
		eng->closing++;
		dcv_hooks_close(eng->hooks, 0, release_cb, eng);
	}
	if (eng->io != NULL) {
		eng->closing++;
		dcv_dnsio_close(eng->io, release_cb, eng);
	} else {
		cfgref_put(eng->cfg);
		eng->cfg = NULL;
	}
	engine_release(eng);
}
