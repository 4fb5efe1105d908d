/*
 * jobage.c -- the age rule of retention (retention.h): a pure function of
 * a job record, the time and keep.
 */
#include <stddef.h>

#include "retention.h"

/* The latest time the record holds: the moment the job last changed what it holds. */
static uint64_t jobage_latest(const struct dcv_job_record *rec)
{
	const uint64_t times[] = {rec->received,     rec->published, rec->visible,
	                          rec->withdraw_due, rec->withdrawn, rec->failed};
	uint64_t latest = 0;

	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		if (times[i] > latest)
			latest = times[i];
	return latest;
}

enum dcv_job_age dcv_job_record_age(const struct dcv_job_record *rec, uint64_t now, uint64_t keep,
                                    uint64_t *expires, const char **why)
{
	enum dcv_job_age age = DCV_JOB_AGE_KEEP_ALL;
	const char *reason = "keep is 0: every job is kept";
	uint64_t since = 0, when = 0;

	if (keep == 0)
		goto out;
	if (dcv_job_record_holds(rec)) {
		age = DCV_JOB_AGE_HOLDS;
		reason = "it holds records";
		goto out;
	}
	/* Holding nothing and finished: withdrawn, or failed with its cleanup done. */
	if (rec->state != DCV_JOB_WITHDRAWN && rec->state != DCV_JOB_FAILED) {
		age = DCV_JOB_AGE_ACTIVE;
		reason = "it is not finished";
		goto out;
	}
	/*
	 * From the latest of its times: withdrawn (or the end of a failed
	 * job's cleanup) or failed, whichever came last. Taking the latest of
	 * all never starts the age before the job let go of its records.
	 */
	since = jobage_latest(rec);
	if (since == 0) {
		age = DCV_JOB_AGE_UNDATED;
		reason = "its record holds no time to age from";
		goto out;
	}
	/* Older than keep: more than keep seconds since (a clock set back only waits longer). */
	if (now > since && now - since > keep) {
		age = DCV_JOB_AGE_EXPIRED;
		reason = rec->state == DCV_JOB_WITHDRAWN
		             ? "withdrawn longer ago than keep"
		             : "failed and cleaned up longer ago than keep";
		goto out;
	}
	age = DCV_JOB_AGE_YOUNG;
	reason = "finished, but not longer ago than keep";
	when = since + keep + 1;
out:
	if (expires != NULL)
		*expires = when;
	if (why != NULL)
		*why = reason;
	return age;
}
