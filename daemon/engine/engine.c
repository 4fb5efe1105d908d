/*
 * engine.c -- the engine's plumbing: configurations, the one scheduler
 * timer, store writes coalesced into batches, the spool's callbacks,
 * resuming at start, reload and stop. The job logic is in job.c, the
 * per-zone UPDATE batching in zbatch.c.
 */
#include <fcntl.h>
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dcv/names.h"
#include "engine_int.h"
#include "log.h"
#include "retention.h"
#include "results.h"

#define STORE_RETRY_BASE_MS 1000
#define STORE_RETRY_CAP_MS 30000
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

	if (eng->stopping || dcv_sched_put(&eng->sched, &job->due, due) < 0)
		return;
	if (dcv_sched_first(&eng->sched) == &job->due)
		rearm(eng);
}

/* --- store writes, coalesced ------------------------------------------------- */

static void commit(struct dcv_engine *eng);
static void on_store_kick(uv_timer_t *t);
static void on_store_fault(void *arg, const struct dcv_store_fault *f);

/*
 * Where a job's files come from: active/NAME.ext once claimed, or the entry
 * in incoming/ as it is named there (a refused entry keeps its raw name
 * until it moves: spool.h gives it a safe one for failed/).
 */
static void move_from(const struct dcv_job *job, const char *ext_or_yaml, char *buf, size_t size)
{
	const char *src = job->src != NULL ? job->src : job->file;
	const char *dot = strrchr(src, '.');
	int base = dot != NULL ? (int)(dot - src) : (int)strlen(src);

	if (ext_or_yaml == NULL)
		snprintf(buf, size, "%s/%s", job->file_in_incoming ? "incoming" : "active", src);
	else
		snprintf(buf, size, "%s/%.*s.%s", job->file_in_incoming ? "incoming" : "active",
		         base, src, ext_or_yaml);
}

static int add_to_batch(struct dcv_engine *eng, struct dcv_job *job, const char *status_dir,
                        bool move)
{
	const struct dcv_job_record *rec = &job->rec;
	char from[600], to[600], alt[600];
	int rc = DCV_OK;

	if (eng->batch == NULL && (eng->batch = dcv_store_batch_new(eng->store)) == NULL)
		return DCV_ENOMEM;
	dcv_store_batch_on_fault(eng->batch, on_store_fault);
	rc = dcv_store_batch_record(eng->batch, rec);
	move = move && !job->move_faulted;
	/* The status of a job whose files arrive takes NAME.status; an older job's moves aside. */
	if (rc == DCV_OK && status_dir != NULL)
		rc = move ? dcv_store_batch_status_arrive(eng->batch, status_dir, rec)
		          : dcv_store_batch_status(eng->batch, status_dir, rec);
	if (rc == DCV_OK && move && status_dir != NULL) {
		move_from(job, NULL, from, sizeof(from));
		snprintf(to, sizeof(to), "%s/%s", status_dir, job->file);
		snprintf(alt, sizeof(alt), "%s/%s.%s", status_dir, rec->id, rec->ext);
		rc = dcv_store_batch_move_tagged(eng->batch, from, to, alt, job);
		if (rc == DCV_OK && job->has_sidecar) {
			move_from(job, "yaml", from, sizeof(from));
			snprintf(to, sizeof(to), "%s/%s.yaml", status_dir, rec->name);
			snprintf(alt, sizeof(alt), "%s/%s.yaml", status_dir, rec->id);
			rc = dcv_store_batch_move_tagged(eng->batch, from, to, alt, job);
		}
	}
	return rc;
}

/*
 * A move that failed on its own entry, not the spool's: the job goes on
 * without it. An entry that vanished (its submitter removed it before the
 * move) is simply done. One that cannot be moved (a directory another user
 * owns: renaming it needs write access inside it) stays in incoming/; it
 * was reported once, by its status file and these lines, and the spool
 * ignores it from now on while it is the same entry.
 */
static void on_store_fault(void *arg, const struct dcv_store_fault *f)
{
	struct dcv_engine *eng = arg;
	struct dcv_job *job = f->tag;

	if (job == NULL)
		return;
	job->move_faulted = true;
	eng->metrics.store_errors += !f->vanished;
	if (f->vanished) {
		dcv_log_job(DCV_LOG_INFO, job->rec.id, "%s", f->why.text);
		return;
	}
	if (job->file_in_incoming) {
		/* The job's "failed:" line named the entry: one line per entry, not two. */
		dcv_log_job(
		    DCV_LOG_WARNING, job->rec.id,
		    "cannot move it to failed/ (%s); left in incoming/ and ignored while it "
		    "stays the same entry",
		    strerror(f->err));
		dcv_spool_ignore(eng->spool, job->src != NULL ? job->src : job->file, &job->entry);
		return;
	}
	dcv_log_job(DCV_LOG_ERR, job->rec.id, "%s; the file stays where it is", f->why.text);
}

/*
 * A record the store refuses (a text it cannot hold): the job fails with a
 * record it can hold -- the error escaped, the names and records dropped
 * only if they were the trouble -- rather than living without one.
 */
static int persist_clean(struct dcv_engine *eng, struct dcv_job *job, const char *status_dir,
                         bool move)
{
	struct dcv_why why = {""};
	char error[sizeof(job->rec.error)];
	int rc = DCV_EINVAL;

	if (dcv_job_record_check(&job->rec, &why) == DCV_OK)
		return add_to_batch(eng, job, status_dir, move);
	dcv_escape(error, sizeof(error), why.text, strlen(why.text));
	dcv_log_job(DCV_LOG_ERR, job->rec.id, "job record refused: %s; the job fails", error);
	eng->metrics.store_errors++;
	snprintf(job->rec.error, sizeof(job->rec.error), "job record refused: %.400s", error);
	job->rec.submitter[0] = '\0';
	if (job->rec.state != DCV_JOB_FAILED) {
		engine_count(eng, job->rec.state, DCV_JOB_FAILED);
		job->rec.state = DCV_JOB_FAILED;
		job->rec.failed = (uint64_t)time(NULL);
	}
	if (dcv_job_record_check(&job->rec, NULL) < 0 && !job->rec.cleanup) {
		job->rec.n_rrs = 0;
		job->rec.n_names = 0;
	}
	if (dcv_job_record_check(&job->rec, NULL) == DCV_OK)
		rc = add_to_batch(eng, job, job->rec.visible ? status_dir : "failed", move);
	return rc;
}

void engine_persist(struct dcv_engine *eng, struct dcv_job *job, const char *status_dir, bool move,
                    void (*fn)(struct dcv_job *job, int status))
{
	enum dcv_job_state before = job->rec.state;
	struct store_cont *c = NULL;
	int rc = DCV_OK;

	if (eng->n_conts == eng->cap_conts) {
		size_t cap = eng->cap_conts ? eng->cap_conts * 2 : 256;
		struct store_cont *grown = realloc(eng->conts, cap * sizeof(*grown));
		if (grown == NULL) {
			dcv_log_job(DCV_LOG_ERR, job->rec.id, "out of memory persisting the job");
			return;
		}
		eng->conts = grown;
		eng->cap_conts = cap;
	}
	if ((rc = persist_clean(eng, job, status_dir, move)) < 0) {
		/*
		 * Out of memory (or a record nothing can clean): the job cannot
		 * live without its record. What it published stays, named here.
		 */
		dcv_log_job(DCV_LOG_ERR, job->rec.id, "cannot persist the job: %s; dropped",
		            dcv_strerror(rc));
		job_drop(job);
		return;
	}
	/* A record the store refused made the job fail: it goes on as a failed job. */
	if (job->rec.state == DCV_JOB_FAILED && before != DCV_JOB_FAILED)
		fn = job_after_failed;
	c = &eng->conts[eng->n_conts++];
	c->job = job;
	c->fn = fn;
	c->status_dir = status_dir;
	c->move = move;
	job->move_pending |= move;
	job_ref(job);
	job->wait = WAIT_STORE;
	/* At the end of this loop turn: what else arrives in it joins the same batch. */
	if (!eng->committing && !uv_is_active((uv_handle_t *)&eng->store_retry))
		uv_timer_start(&eng->store_retry, on_store_kick, 0, 0);
}

/*
 * What `dcv submit --wait` waits for (results.h): a job that is visible, or
 * failed before it was. Its status, token included, goes into the
 * submitter's folder in SPOOL/results/ once, after the commit that recorded it; at start
 * again for the jobs that ended within the sweep's age, since a crash may
 * have come between the commit and the delivery.
 */
static bool result_due(const struct dcv_job_record *rec)
{
	return rec->token[0] != '\0' && rec->has_uid &&
	       (rec->state == DCV_JOB_VISIBLE ||
	        (rec->state == DCV_JOB_FAILED && rec->visible == 0));
}

static void deliver_result(struct dcv_engine *eng, const struct dcv_job_record *rec, bool quiet)
{
	unsigned char *text = NULL;
	size_t len = 0;

	if (dcv_job_status_emit_result(rec, &text, &len) < 0) {
		dcv_log_job(DCV_LOG_ERR, rec->id, "out of memory giving its submitter the status");
		return;
	}
	dcv_results_deliver(dcv_spool_results(eng->spool), rec->id, rec->token, (uid_t)rec->uid,
	                    rec->name, text, len, quiet);
}

static void on_committed(void *arg, int status, const struct dcv_why *why)
{
	struct dcv_engine *eng = arg;
	struct store_cont *conts = eng->flight_conts;
	size_t n = eng->n_flight_conts;

	eng->committing = false;
	eng->flight_conts = NULL;
	eng->n_flight_conts = 0;
	if (status < 0) {
		uint64_t delay =
		    dcv_backoff_ms(eng->store_failures++, STORE_RETRY_BASE_MS, STORE_RETRY_CAP_MS);
		eng->metrics.store_errors++;
		log_err("spool %s: cannot save %zu job states: %s; nothing is lost, retrying in "
		        "%.1f s",
		        eng->cfg->cfg->spool, n, why->text, (double)delay / 1000.0);
		/* The same jobs, as they are now, go into the next batch. */
		for (size_t i = 0; i < n; i++) {
			struct store_cont *c = &conts[i];
			if (!eng->stopping)
				engine_persist(eng, c->job, c->status_dir,
				               c->move && !c->job->move_faulted, c->fn);
			job_unref(c->job);
		}
		free(conts);
		if (eng->stopping)
			engine_release(eng);
		else
			uv_timer_start(&eng->store_retry, on_store_kick, delay, 0);
		return;
	}
	if (eng->store_failures > 0)
		log_notice("spool %s: saving job states works again", eng->cfg->cfg->spool);
	eng->store_failures = 0;
	for (size_t i = 0; i < n; i++) {
		struct dcv_job *job = conts[i].job;
		job->wait = WAIT_NONE;
		if (conts[i].move)
			job->move_pending = false;
		if (!job->result_sent && result_due(&job->rec)) {
			job->result_sent = true;
			deliver_result(eng, &job->rec, false);
		}
		if (!eng->stopping)
			conts[i].fn(job, DCV_OK);
		job_unref(job);
	}
	free(conts);
	/* Jobs left the spool: files held back by max_jobs or by their NAME may go now. */
	if (!eng->stopping)
		dcv_spool_kick(eng->spool);
	if (eng->stopping)
		engine_release(eng);
	else if (eng->batch != NULL)
		commit(eng);
}

static void commit(struct dcv_engine *eng)
{
	struct dcv_store_batch *b = eng->batch;
	int rc;

	if (eng->committing || b == NULL)
		return;
	eng->batch = NULL;
	eng->committing = true;
	eng->flight_conts = eng->conts;
	eng->n_flight_conts = eng->n_conts;
	eng->conts = NULL;
	eng->n_conts = eng->cap_conts = 0;
	rc = dcv_store_batch_commit(b, on_committed, eng);
	if (rc < 0) {
		struct dcv_why why;
		dcv_why_set(&why, "%s", dcv_strerror(rc));
		dcv_store_batch_free(b);
		on_committed(eng, rc, &why);
	}
}

static void on_store_kick(uv_timer_t *t)
{
	commit(t->data);
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
		if (result_due(&recs[i]) && now - recs[i].received < DCV_RESULTS_MAX_AGE_S)
			deliver_result(eng, &recs[i], true);
		job_resume(eng, &recs[i], active_has(active, file), file);
	}
	dcv_job_records_free(recs, n);
	/* The status refreshes queued here, if no job's persist started a batch. */
	if (eng->batch != NULL && !eng->committing &&
	    !uv_is_active((uv_handle_t *)&eng->store_retry))
		uv_timer_start(&eng->store_retry, on_store_kick, 0, 0);
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
	if (eng == NULL) {
		dcv_config_free(cfg);
		goto out;
	}
	eng->loop = loop;
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
	return rc;
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
		commit(eng);
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
