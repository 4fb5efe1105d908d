/*
 * engine_persist.c -- the engine's store writes, coalesced: every job that
 * must be durable before its next step joins the batch in the making
 * (engine_persist), one commit at a time goes to the store, and when it is
 * on disk each waiting job continues (or, when a record was refused, fails
 * there). A batch that fails as a whole is retried with backoff; a fault
 * of one entry's move fails that job alone. A job that ends hands its
 * status to a waiting `dcv submit` (results.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"
#include "log.h"
#include "results.h"

#define STORE_RETRY_BASE_MS 1000
#define STORE_RETRY_CAP_MS 30000

/* --- store writes, coalesced ------------------------------------------------- */

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
                    void (*fn)(struct dcv_job *job))
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
		uv_timer_start(&eng->store_retry, engine_on_store_kick, 0, 0);
}

/*
 * What `dcv submit --wait` waits for (results.h): a job that is visible, or
 * failed before it was. Its status, token included, goes into the
 * submitter's folder in SPOOL/results/ once, after the commit that recorded it; at start
 * again for the jobs that ended within the sweep's age, since a crash may
 * have come between the commit and the delivery.
 */
bool engine_result_due(const struct dcv_job_record *rec)
{
	return rec->token[0] != '\0' && rec->has_uid &&
	       (rec->state == DCV_JOB_VISIBLE ||
	        (rec->state == DCV_JOB_FAILED && rec->visible == 0));
}

void engine_deliver_result(struct dcv_engine *eng, const struct dcv_job_record *rec, bool quiet)
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
			uv_timer_start(&eng->store_retry, engine_on_store_kick, delay, 0);
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
		if (!job->result_sent && engine_result_due(&job->rec)) {
			job->result_sent = true;
			engine_deliver_result(eng, &job->rec, false);
		}
		if (!eng->stopping)
			conts[i].fn(job);
		job_unref(job);
	}
	free(conts);
	/* Jobs left the spool: files held back by max_jobs or by their NAME may go now. */
	if (!eng->stopping)
		dcv_spool_kick(eng->spool);
	if (eng->stopping)
		engine_release(eng);
	else if (eng->batch != NULL)
		engine_commit(eng);
}

void engine_commit(struct dcv_engine *eng)
{
	struct dcv_store_batch *b = eng->batch;

	if (eng->committing || b == NULL)
		return;
	eng->batch = NULL;
	eng->committing = true;
	eng->flight_conts = eng->conts;
	eng->n_flight_conts = eng->n_conts;
	eng->conts = NULL;
	eng->n_conts = eng->cap_conts = 0;
	/* store.h: commit returns DCV_OK; every outcome, failures too, comes to on_committed. */
	(void)dcv_store_batch_commit(b, on_committed, eng);
}

void engine_on_store_kick(uv_timer_t *t)
{
	engine_commit(t->data);
}
