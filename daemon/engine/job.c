/*
 * job.c -- one job's state machine (engine.h draws it).
 *
 * Every transition goes through job_set_state(), which logs it; every
 * transition that something depends on is persisted first (engine_persist
 * with a continuation), so that after kill -9 the job resumes from the last
 * state that was on disk and nothing is done twice in a harmful way: adding
 * an identical record is a no-op, deleting a missing one too.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dcv/names.h"
#include "engine_int.h"
#include "log.h"
#include "plan.h"

uint64_t job_now_s(void)
{
	return (uint64_t)time(NULL);
}

/* --- lifetime ------------------------------------------------------------ */

struct dcv_job *job_new(struct dcv_engine *eng)
{
	struct dcv_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->eng = eng;
	job->refs = 1; /* the engine's list */
	dcv_sched_entry_init(&job->due);
	job->received_ms = uv_now(eng->loop);
	return job;
}

/*
 * What the reason of a failed UPDATE says when there was no memory for its
 * text: a job then fails saying that, not a bare "REFUSED by the server"
 * that hides the lost detail. Never freed.
 */
static char update_why_oom[] = "out of memory for the reason of the failed UPDATE";

static void clear_update_why(struct dcv_job *job)
{
	if (job->update_why != update_why_oom)
		free(job->update_why);
	job->update_why = NULL;
}

/* Sets why the job's UPDATEs failed. */
static void set_update_why(struct dcv_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_update_why(struct dcv_job *job, const char *fmt, ...)
{
	va_list ap;

	clear_update_why(job);
	va_start(ap, fmt);
	if (vasprintf(&job->update_why, fmt, ap) < 0)
		job->update_why = update_why_oom;
	va_end(ap);
}

void job_ref(struct dcv_job *job)
{
	job->refs++;
}

static void job_free(struct dcv_job *job)
{
	for (size_t i = 0; job->cands != NULL && i < job->rec.n_names; i++)
		dcv_strv_free(&job->cands[i]);
	free(job->cands);
	free(job->pnames);
	dcv_probe_memory_free(&job->memory);
	dcv_strv_free(&job->last);
	clear_update_why(job);
	free(job->src);
	dcv_job_record_free(&job->rec);
	if (job->cfg != NULL)
		cfgref_put(job->cfg);
	free(job);
}

void job_unref(struct dcv_job *job)
{
	if (--job->refs == 0)
		job_free(job);
}

/* Takes a final job off the engine's list; it goes once nothing uses it. */
static void job_retire(struct dcv_job *job)
{
	struct dcv_engine *eng = job->eng;

	if (!job->listed)
		return;
	zwatch_forget(job);
	dcv_sched_remove(&eng->sched, &job->due);
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		eng->jobs = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	job->listed = false;
	eng->n_listed--;
	job_unref(job);
}

void job_drop(struct dcv_job *job)
{
	zwatch_forget(job);
	if (job->listed)
		engine_count(job->eng, job->rec.state, DCV_JOB_STATE_COUNT);
	job_retire(job);
}

/* Lists the job, with its place in the scheduler reserved; DCV_ENOMEM (then not listed). */
static int job_list(struct dcv_job *job)
{
	struct dcv_engine *eng = job->eng;

	if (dcv_sched_reserve(&eng->sched, eng->n_listed + 1) < 0)
		return DCV_ENOMEM;
	eng->n_listed++;
	job->next = eng->jobs;
	if (eng->jobs != NULL)
		eng->jobs->prev = job;
	eng->jobs = job;
	job->listed = true;
	return DCV_OK;
}

void job_set_state(struct dcv_job *job, enum dcv_job_state state)
{
	enum dcv_job_state from = job->rec.state;

	if (job->listed)
		engine_count(job->eng, from, state);
	job->rec.state = state;
	if (from != state)
		dcv_log_job(DCV_LOG_INFO, job->rec.id, "%s -> %s", dcv_job_state_name(from),
		            dcv_job_state_name(state));
}

/* --- the probe spec, from the record alone (it survives restarts) --------- */

int job_build_spec(struct dcv_job *job)
{
	const struct dcv_job_record *rec = &job->rec;
	int rc = DCV_ENOMEM;

	job->pnames = calloc(rec->n_names ? rec->n_names : 1, sizeof(*job->pnames));
	job->cands = calloc(rec->n_names ? rec->n_names : 1, sizeof(*job->cands));
	if (job->pnames == NULL || job->cands == NULL)
		goto out;
	for (size_t i = 0; i < rec->n_names; i++) {
		struct dcv_probe_name *pn = &job->pnames[i];
		struct dcv_strv *c = &job->cands[i];
		bool found = false;

		/* Candidates come from the name and the PSL, as the CA computes them. */
		if (dcv_name_candidates(job->eng->psl, rec->names[i].name, c, NULL) < 0) {
			dcv_strv_free(c);
			if ((rc = dcv_strv_push(c, rec->names[i].adn)) < 0)
				goto out;
		}
		for (size_t k = 0; k < c->n && !found; k++) {
			if (strcmp(c->v[k], rec->names[i].adn) == 0) {
				pn->adn = k;
				found = true;
			}
		}
		if (!found) {
			/* The PSL changed under a resumed job: ask at its ADN only. */
			dcv_strv_free(c);
			if ((rc = dcv_strv_push(c, rec->names[i].adn)) < 0)
				goto out;
			pn->adn = 0;
		}
		pn->name = rec->names[i].name;
		pn->candidates = c->v;
		pn->n_candidates = c->n;
	}
	job->spec.memory = &job->memory;
	job->spec.md5_hex = rec->md5;
	job->spec.target = rec->n_rrs ? rec->rrs[0].target : "";
	job->spec.names = job->pnames;
	job->spec.n_names = rec->n_names;
	rc = DCV_OK;
out:
	return rc;
}

/* --- holds on records (holders.c) ------------------------------------------ */

void job_release_holds(struct dcv_job *job)
{
	for (size_t i = 0; i < job->rec.n_rrs; i++)
		holders_release(job->eng->holders, &job->rec.rrs[i], job->rec.id);
}

void job_take_holds(struct dcv_engine *eng, const struct dcv_job_record *rec)
{
	char by[DCV_JOB_ID_MAX + 1], target[256];

	for (size_t i = 0; i < rec->n_rrs; i++)
		if (holders_take(eng->holders, &rec->rrs[i], rec->id, by, sizeof(by), target,
		                 sizeof(target)) == DCV_ECONFLICT)
			/* Records from before holders existed may disagree: both stay held. */
			log_warn("job %s: record %s is also held by job %s with target %s", rec->id,
			         rec->rrs[i].owner, by, target);
}

/*
 * Takes the job's records for it, or says which job holds one of its owners
 * with another target: a CNAME holds one value, and replacing it would
 * silently break the other job's order.
 */
static int take_holds(struct dcv_job *job, struct dcv_why *why)
{
	char by[DCV_JOB_ID_MAX + 1], target[256];
	int rc = DCV_OK;

	for (size_t i = 0; i < job->rec.n_rrs && rc == DCV_OK; i++) {
		const struct dcv_job_record_rr *rr = &job->rec.rrs[i];
		rc = holders_take(job->eng->holders, rr, job->rec.id, by, sizeof(by), target,
		                  sizeof(target));
		if (rc == DCV_ECONFLICT)
			dcv_why_set(
			    why,
			    "record %s is held by job %s with target %s; this job's target is "
			    "%s: not overwritten (a CNAME holds one value; withdraw the other job "
			    "first)",
			    rr->owner, by, target, rr->target);
		else if (rc < 0)
			dcv_why_set(why, "out of memory taking record %s", rr->owner);
	}
	if (rc < 0)
		job_release_holds(job);
	return rc;
}

/* --- failing ------------------------------------------------------------- */

static void send_deletes(struct dcv_job *job);
static void hook(struct dcv_job *job, const char *event);

/* engine_int.h says what failing does. */
void job_fail(struct dcv_job *job, const char *fmt, ...)
{
	va_list ap;
	enum dcv_job_state was = job->rec.state;

	char text[sizeof(job->rec.error)];

	if (job->rec.state == DCV_JOB_FAILED)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* Texts quote input (names, file names, servers' words): stored and shown escaped. */
	dcv_escape(job->rec.error, sizeof(job->rec.error), text, strlen(text));
	dcv_log_job(DCV_LOG_ERR, job->rec.id, "failed: %s", job->rec.error);
	job->rec.cleanup = was == DCV_JOB_PUBLISHING || was == DCV_JOB_PUBLISHED;
	if (!job->rec.cleanup)
		job_release_holds(job);
	job->rec.failed = job_now_s();
	job_set_state(job, DCV_JOB_FAILED);
	zwatch_forget(job);
	dcv_sched_remove(&job->eng->sched, &job->due);
	/* A job failed after VISIBLE (withdrawal trouble) keeps its files in done/. */
	engine_persist(job->eng, job, was == DCV_JOB_VISIBLE ? NULL : "failed",
	               was != DCV_JOB_VISIBLE, job_after_failed);
}

void job_after_failed(struct dcv_job *job)
{
	hook(job, "failed");
	if (job->rec.cleanup && job->updates_pending == 0)
		send_deletes(job);
	else if (!job->rec.cleanup)
		job_retire(job);
}

/* --- hook ---------------------------------------------------------------- */

static void hook(struct dcv_job *job, const char *event)
{
	const struct dcv_job_record *rec = &job->rec;
	char file[300], *names = NULL, *records = NULL;
	size_t nl = 1, rl = 1;
	struct dcv_hook_event ev;

	for (size_t i = 0; i < rec->n_names; i++)
		nl += strlen(rec->names[i].name) + 1;
	for (size_t i = 0; i < rec->n_rrs; i++)
		rl += strlen(rec->rrs[i].owner) + strlen(rec->rrs[i].target) + 32;
	names = calloc(1, nl);
	records = calloc(1, rl);
	if (names == NULL || records == NULL)
		goto out;
	for (size_t i = 0; i < rec->n_names; i++) {
		strcat(names, i ? " " : "");
		strcat(names, rec->names[i].name);
	}
	for (size_t i = 0; i < rec->n_rrs; i++)
		snprintf(records + strlen(records), rl - strlen(records), "%s%s %u IN CNAME %s",
		         i ? "\n" : "", rec->rrs[i].owner, rec->rrs[i].ttl, rec->rrs[i].target);
	snprintf(file, sizeof(file), "%s.%s", rec->name, rec->ext);
	ev = (struct dcv_hook_event){event,
	                             rec->id,
	                             file,
	                             names,
	                             records,
	                             rec->md5,
	                             rec->sha256,
	                             rec->error[0] ? rec->error : NULL,
	                             job->eng->cfg->cfg->spool};
	dcv_hooks_run(job->eng->hooks, &ev);
out:
	free(names);
	free(records);
}

/* --- publishing ----------------------------------------------------------- */

static void send_adds(struct dcv_job *job)
{
	/*
	 * The last holder of the same record is deleting it right now: adding
	 * it before that delete lands would lose it. Wait for the delete.
	 */
	for (size_t i = 0; i < job->rec.n_rrs; i++) {
		if (holders_being_deleted(job->eng->holders, &job->rec.rrs[i], job->rec.id)) {
			dcv_log_job(
			    DCV_LOG_INFO, job->rec.id,
			    "record %s is being deleted by its last holder: adding it after",
			    job->rec.rrs[i].owner);
			/* What visible_timeout's failure says if the delete outlasts it. */
			set_update_why(job, "record %s was still being deleted by another job",
			               job->rec.rrs[i].owner);
			job->wait = WAIT_NONE;
			engine_schedule(job->eng, job, 500);
			return;
		}
	}
	/* What the probe learned before no longer holds once records change. */
	dcv_probe_memory_reset(&job->memory);
	job->wait = WAIT_UPDATE;
	job->update_status = DCV_OK;
	clear_update_why(job);
	/*
	 * Held while queueing: a batch that cannot even start its UPDATE (a
	 * record over max_message_size) reports the record from inside
	 * zbatch_enqueue(), before the count would otherwise include it.
	 */
	job->updates_pending++;
	for (size_t i = 0; i < job->rec.n_rrs; i++) {
		if (zbatch_enqueue(job->eng, job, i, DCV_UPDATE_ADD) < 0) {
			if (job->update_status == DCV_OK) {
				job->update_status = DCV_ENOMEM;
				set_update_why(job, "out of memory queueing record %s",
				               job->rec.rrs[i].owner);
			}
			break;
		}
		job->updates_pending++;
	}
	job_record_done(job, DCV_UPDATE_ADD, 0, DCV_OK, "");
}

static void after_publishing(struct dcv_job *job)
{
	send_adds(job);
}

/*
 * A zone that lists submitters: takes records only for CSRs whose file
 * belongs to one of them (the owner of the file claimed, from its fstat).
 */
static int check_submitter(struct dcv_job *job, struct dcv_why *why)
{
	const struct dcv_job_record *rec = &job->rec;

	for (size_t i = 0; i < rec->n_rrs; i++) {
		const struct dcv_zone *z = dcv_config_zone(job->cfg->cfg, rec->rrs[i].zone);
		if (z == NULL || (rec->has_uid && dcv_zone_may_submit(z, (uid_t)rec->uid)))
			continue;
		dcv_zone_refusal(z, (uid_t)rec->uid, rec->submitter[0] ? rec->submitter : NULL,
		                 why);
		return DCV_EPERM;
	}
	return DCV_OK;
}

/* RECEIVED -> PUBLISHING: the records are chosen and on disk before any UPDATE. */
static void job_plan(struct dcv_job *job, const struct dcv_request *req)
{
	struct dcv_why text = {""};
	struct dcv_plan plan;
	struct dcv_why why = {""};
	int rc = dcv_plan_make(job->cfg->cfg, req, &plan, &why);

	if (rc < 0) {
		/* Out of memory comes without why: a failed job always says why. */
		dcv_why_default(&why, rc);
		job_fail(job, "%s", why.text);
		return;
	}
	job->rec.rrs = calloc(plan.n_records, sizeof(*job->rec.rrs));
	job->rec.names = calloc(req->n_names, sizeof(*job->rec.names));
	if (job->rec.rrs == NULL || job->rec.names == NULL) {
		dcv_plan_free(&plan);
		job_fail(job, "out of memory");
		return;
	}
	for (size_t i = 0; i < plan.n_records; i++) {
		struct dcv_job_record_rr *rr = &job->rec.rrs[i];
		snprintf(rr->owner, sizeof(rr->owner), "%.255s", plan.records[i].owner);
		snprintf(rr->target, sizeof(rr->target), "%.255s", plan.records[i].target);
		snprintf(rr->zone, sizeof(rr->zone), "%s", plan.zones[i]->domain);
		rr->ttl = plan.records[i].ttl;
	}
	job->rec.n_rrs = plan.n_records;
	for (size_t n = 0; n < req->n_names; n++) {
		snprintf(job->rec.names[n].name, sizeof(job->rec.names[n].name), "%s",
		         req->names[n].name);
		snprintf(job->rec.names[n].adn, sizeof(job->rec.names[n].adn), "%s",
		         plan.place.owners[plan.place.name_owner[n]].adn);
	}
	job->rec.n_names = req->n_names;
	dcv_plan_free(&plan);
	if (job_build_spec(job) < 0) {
		job_fail(job, "out of memory");
		return;
	}
	if (check_submitter(job, &text) < 0 || take_holds(job, &text) < 0) {
		job_fail(job, "%s", text.text);
		return;
	}
	job_set_state(job, DCV_JOB_PUBLISHING);
	engine_persist(job->eng, job, NULL, false, after_publishing);
}

/* --- visible, withdrawal ----------------------------------------------------- */

static void schedule_withdrawal(struct dcv_job *job)
{
	if (job->rec.withdraw_due == 0) {
		job_retire(job);
		return;
	}
	job->attempt = 0;
	engine_schedule(
	    job->eng, job,
	    (job->rec.withdraw_due > job_now_s() ? job->rec.withdraw_due - job_now_s() : 0) * 1000);
}

void job_after_visible(struct dcv_job *job)
{
	hook(job, "visible");
	schedule_withdrawal(job);
}

static void after_withdrawn(struct dcv_job *job)
{
	if (job->rec.state == DCV_JOB_WITHDRAWN)
		hook(job, "withdrawn");
	dcv_log_job(DCV_LOG_INFO, job->rec.id,
	            "records deleted and gone from every authoritative "
	            "address");
	job_retire(job);
}

/* Another job holds the same record (the same CSR dropped twice): keep it. */
bool job_record_shared(const struct dcv_job *job, size_t rr)
{
	return holders_others(job->eng->holders, &job->rec.rrs[rr], job->rec.id);
}

/*
 * Every record of the job is gone from every authoritative address, or
 * handed to the jobs that still hold it: WITHDRAWN (or a failed job's
 * cleanup done), persisted, and the holds let go.
 */
void job_deletes_settled(struct dcv_job *job)
{
	if (job->rec.state == DCV_JOB_WITHDRAWING) {
		job->rec.withdrawn = job_now_s();
		job_set_state(job, DCV_JOB_WITHDRAWN);
	}
	/* A failed job's cleanup ends: withdrawn says when, and retention ages it from then. */
	if (job->rec.state == DCV_JOB_FAILED && job->rec.cleanup)
		job->rec.withdrawn = job_now_s();
	job->rec.cleanup = false;
	job_release_holds(job);
	engine_persist(job->eng, job, job->rec.state == DCV_JOB_WITHDRAWN ? "done" : "failed",
	               false, after_withdrawn);
}

static void send_deletes(struct dcv_job *job)
{
	size_t queued = 0;
	bool own = false; /* a record of its own to delete */

	dcv_probe_memory_reset(&job->memory);
	job->deletes_due = false;
	job->wait = WAIT_UPDATE;
	job->update_status = DCV_OK;
	clear_update_why(job);
	job->updates_pending++; /* held while queueing, as in send_adds() */
	for (size_t i = 0; i < job->rec.n_rrs; i++) {
		const struct dcv_job_record_rr *rr = &job->rec.rrs[i];
		if (job_record_shared(job, i)) {
			/* Handed over: the last holder deletes it. */
			dcv_log_job(DCV_LOG_INFO, job->rec.id,
			            "record %s kept: another job still holds it", rr->owner);
			holders_release(job->eng->holders, rr, job->rec.id);
			continue;
		}
		own = true;
		holders_deleting(job->eng->holders, rr, job->rec.id);
		if (zbatch_enqueue(job->eng, job, i, DCV_UPDATE_DELETE) < 0)
			break;
		job->updates_pending++;
		queued++;
	}
	if (queued == 0 && !own) {
		/* Nothing of its own to delete: every record stays with its other holders. */
		job->updates_pending--;
		job->wait = WAIT_NONE;
		job_deletes_settled(job);
		return;
	}
	/* Nothing queued (or all reported already): on to the job_probe, as job_record_done() goes.
	 */
	job_record_done(job, DCV_UPDATE_DELETE, 0, DCV_OK, "");
}

static void after_withdrawing(struct dcv_job *job)
{
	send_deletes(job);
}

/* --- events from the zone batches and the scheduler -------------------------- */

void job_record_done(struct dcv_job *job, enum dcv_update_op op, size_t rr, int status,
                     const char *why)
{
	if (status != DCV_OK && job->update_status == DCV_OK) {
		job->update_status = status;
		set_update_why(job, "%s", why);
	}
	if (--job->updates_pending > 0 || job->eng->stopping)
		return;
	job->wait = WAIT_NONE;
	/* Deletes that failed keep the count: they are sent again backing off (job_probe.c). */
	if (job->update_status == DCV_OK)
		job->attempt = 0;
	job->fresh_change = true;
	if (op == DCV_UPDATE_ADD && job->rec.state != DCV_JOB_PUBLISHING) {
		/* It failed meanwhile: now that its adds are settled, take them back. */
		if (job->rec.state == DCV_JOB_FAILED && job->rec.cleanup)
			send_deletes(job);
		return;
	}
	if (job->update_status != DCV_OK) {
		if (op == DCV_UPDATE_ADD)
			job_fail(job, "%s",
			         job->update_why ? job->update_why
			                         : dcv_strerror(job->update_status));
		else
			/*
			 * Deletes are cleanup. A primary that refused the add never
			 * had the record and refuses its delete as well: look
			 * whether it is gone from every authoritative address; if
			 * not, job_on_round retries the deletes slowly.
			 */
			job_probe(job);
		return;
	}
	(void)rr;
	if (op == DCV_UPDATE_ADD) {
		job->rec.published = job_now_s();
		job->published_ms = uv_now(job->eng->loop);
		job->wait_log_ms = job->published_ms + WAIT_LOG_FIRST_MS;
		job_set_state(job, DCV_JOB_PUBLISHED);
	}
	job_probe(job);
}

void job_wake(struct dcv_job *job)
{
	if (job->wait != WAIT_NONE || job->eng->stopping)
		return;
	if (job->rec.state == DCV_JOB_PUBLISHED || job->rec.state == DCV_JOB_WITHDRAWING ||
	    (job->rec.state == DCV_JOB_FAILED && job->rec.cleanup && !job->deletes_due))
		job_probe(job);
}

void job_due(struct dcv_job *job)
{
	struct dcv_engine *eng = job->eng;

	if (job->wait != WAIT_NONE || eng->stopping)
		return;
	switch (job->rec.state) {
	case DCV_JOB_PUBLISHING:
		if (uv_now(eng->loop) >= job->deadline)
			job_fail(job, "records not published within visible_timeout: %s",
			         job->update_why != NULL && job->update_why[0] ? job->update_why
			                                                       : "no answer");
		else
			send_adds(job);
		break;
	case DCV_JOB_PUBLISHED:
		job_probe(job);
		break;
	case DCV_JOB_VISIBLE:
		if (job->rec.withdraw_due != 0 && job_now_s() >= job->rec.withdraw_due) {
			job_set_state(job, DCV_JOB_WITHDRAWING);
			engine_persist(eng, job, NULL, false, after_withdrawing);
		} else if (job->rec.withdraw_due != 0) {
			engine_schedule(eng, job, (job->rec.withdraw_due - job_now_s()) * 1000);
		}
		break;
	case DCV_JOB_WITHDRAWING:
	case DCV_JOB_FAILED:
		if (job->updates_pending == 0 && job->deletes_due)
			send_deletes(job);
		else
			job_probe(job);
		break;
	default:
		break;
	}
}

/* --- how jobs begin: a spool item, or a record at start ------------------- */

void job_from_item(struct dcv_engine *eng, struct dcv_spool_item *item)
{
	struct dcv_job *job = job_new(eng);
	const struct dcv_request *req = item->req;

	if (job == NULL) {
		log_err("%s: out of memory; left for a later scan", item->file);
		return;
	}
	snprintf(job->rec.name, sizeof(job->rec.name), "%s", item->name);
	snprintf(job->rec.ext, sizeof(job->rec.ext), "%s", item->ext);
	snprintf(job->file, sizeof(job->file), "%s", item->file);
	job->file_in_incoming = item->where == DCV_SPOOL_INCOMING;
	if (job->file_in_incoming && strcmp(item->src, item->file) != 0 &&
	    (job->src = strdup(item->src)) == NULL) {
		log_err("%s: out of memory; left for a later scan", item->file);
		job_free(job);
		return;
	}
	job->entry = item->entry;
	job->rec.has_uid = true;
	job->rec.uid = (uint32_t)item->owner_uid;
	/* A user name is printable in practice; one that is not is left out. */
	if (dcv_utf8_printable(item->owner_name, strlen(item->owner_name)))
		snprintf(job->rec.submitter, sizeof(job->rec.submitter), "%s", item->owner_name);
	/* dcv submit --wait: where its status goes when the job ends (results.h). */
	memcpy(job->rec.token, item->sidecar.token, sizeof(job->rec.token));
	engine_job_id(eng, item->name, job->rec.id, sizeof(job->rec.id));
	job->rec.state = DCV_JOB_RECEIVED;
	job->rec.received = job_now_s();
	job->has_sidecar = item->has_sidecar;
	job->cfg = cfgref_get(eng->cfg);
	job->deadline = uv_now(eng->loop) + job->cfg->cfg->visible_timeout * 1000;
	if (job_list(job) < 0) {
		log_err("%s: out of memory; left for a later scan", item->file);
		job_free(job);
		return;
	}
	engine_count(eng, DCV_JOB_STATE_COUNT, DCV_JOB_RECEIVED);
	if (req != NULL) {
		snprintf(job->rec.md5, sizeof(job->rec.md5), "%s", req->csr->md5_hex);
		snprintf(job->rec.sha256, sizeof(job->rec.sha256), "%s", req->csr->sha256_hex);
	}
	dcv_log_job(DCV_LOG_INFO, job->rec.id, "received %s from %s (uid %u)", item->file,
	            job->rec.submitter[0] ? job->rec.submitter : "?", (unsigned)job->rec.uid);
	if (item->status < 0 || req == NULL) {
		eng->metrics.spool_refused++;
		/* Refused before the claim: the file is still in incoming/. */
		if (item->where == DCV_SPOOL_INCOMING) {
			job->rec.state = DCV_JOB_FAILED;
			engine_count(eng, DCV_JOB_RECEIVED, DCV_JOB_FAILED);
			dcv_escape(job->rec.error, sizeof(job->rec.error), item->why.text,
			           strlen(item->why.text));
			job->rec.failed = job_now_s();
			dcv_log_job(DCV_LOG_ERR, job->rec.id, "failed: %s", job->rec.error);
			engine_persist(eng, job, "failed", true, job_after_failed);
			return;
		}
		job_fail(job, "%s", item->why.text);
		return;
	}
	for (size_t i = 0; i < req->n_warnings; i++)
		dcv_log_job(DCV_LOG_WARNING, job->rec.id, "%s", req->warnings[i]);
	job_plan(job, req);
}

void job_resume(struct dcv_engine *eng, struct dcv_job_record *rec, bool csr_in_active,
                const char *file)
{
	struct dcv_job *job = job_new(eng);

	if (job == NULL) {
		log_err("job %s: out of memory at resume", rec->id);
		return;
	}
	job->rec = *rec;
	memset(rec, 0, sizeof(*rec));
	/* An ended job's result was given (or is given again by resume_all()). */
	job->result_sent = job->rec.state >= DCV_JOB_VISIBLE;
	/* Its time since received (logs, metrics) counts from the record, not from this start. */
	if (job->rec.received != 0 && job->rec.received <= job_now_s())
		job->received_ms -= job->received_ms > (job_now_s() - job->rec.received) * 1000
		                        ? (job_now_s() - job->rec.received) * 1000
		                        : job->received_ms;
	snprintf(job->file, sizeof(job->file), "%s", file);
	job->cfg = cfgref_get(eng->cfg);
	job->deadline = uv_now(eng->loop) + job->cfg->cfg->visible_timeout * 1000;
	if (job_list(job) < 0) {
		log_err("job %s: out of memory at resume; it resumes at the next start",
		        job->rec.id);
		job_free(job);
		return;
	}
	engine_count(eng, DCV_JOB_STATE_COUNT, job->rec.state);
	if (job_build_spec(job) < 0) {
		log_err("job %s: out of memory at resume", job->rec.id);
		return;
	}
	dcv_log_job(DCV_LOG_INFO, job->rec.id, "resumed in state %s",
	            dcv_job_state_name(job->rec.state));
	switch (job->rec.state) {
	case DCV_JOB_RECEIVED:
	case DCV_JOB_PUBLISHING:
	case DCV_JOB_PUBLISHED:
		/* Adding an identical record again is harmless; it proves the primary has it. */
		job->rec.state = DCV_JOB_PUBLISHING;
		send_adds(job);
		break;
	case DCV_JOB_VISIBLE:
		/*
		 * The move to done/ (and the hook) may not have happened before the
		 * crash; otherwise only the withdrawal is left to wait for.
		 */
		if (csr_in_active)
			engine_persist(eng, job, "done", true, job_after_visible);
		else
			schedule_withdrawal(job);
		break;
	case DCV_JOB_WITHDRAWING:
		send_deletes(job);
		break;
	case DCV_JOB_FAILED:
		if (csr_in_active)
			engine_persist(eng, job, "failed", true, job_after_failed);
		else if (job->rec.cleanup)
			send_deletes(job);
		else
			job_retire(job);
		break;
	default:
		job_retire(job);
		break;
	}
}
