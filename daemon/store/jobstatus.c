/*
 * jobstatus.c -- the operator's status file for a job record (store.h):
 * what a person or a script wants to know, not the record itself.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "yout.h"

/* The state an operator sees: where the job stands, not which step it is in. */
const char *dcv_job_status_state(const struct dcv_job_record *rec)
{
	switch (rec->state) {
	case DCV_JOB_VISIBLE:
		return "visible";
	case DCV_JOB_WITHDRAWING:
		/* The records stay served until the deletes are confirmed. */
		return rec->visible != 0 ? "visible" : "active";
	case DCV_JOB_WITHDRAWN:
		return "withdrawn";
	case DCV_JOB_FAILED:
		return "failed";
	default:
		return "active";
	}
}

static void emit_records(struct yout *y, const struct dcv_job_record *rec)
{
	char line[1024];

	yout_str(y, "records");
	yout_seq(y);
	for (size_t i = 0; i < rec->n_rrs; i++) {
		snprintf(line, sizeof(line), "%s %" PRIu32 " IN CNAME %s", rec->rrs[i].owner,
		         rec->rrs[i].ttl, rec->rrs[i].target);
		yout_str(y, line);
	}
	yout_end_seq(y);
}

/* dnssec: zone -> secure, insecure or signed, for the zones whose state the probe found. */
static void emit_dnssec(struct yout *y, const struct dcv_job_record *rec)
{
	bool any = false, seen = false;

	for (size_t i = 0; i < rec->n_rrs && !any; i++)
		any = rec->rrs[i].dnssec[0] != '\0';
	if (!any)
		return;
	yout_str(y, "dnssec");
	yout_map(y);
	for (size_t i = 0; i < rec->n_rrs; i++) {
		seen = rec->rrs[i].dnssec[0] == '\0';
		for (size_t j = 0; j < i && !seen; j++)
			seen = rec->rrs[j].dnssec[0] != '\0' &&
			       strcmp(rec->rrs[j].zone, rec->rrs[i].zone) == 0;
		if (!seen)
			yout_kv(y, rec->rrs[i].zone, rec->rrs[i].dnssec);
	}
	yout_end_map(y);
}

static void emit_zones(struct yout *y, const struct dcv_job_record *rec)
{
	bool seen = false;

	yout_str(y, "zones");
	yout_seq(y);
	/* Records are few per job and zones fewer: quadratic is fine. */
	for (size_t i = 0; i < rec->n_rrs; i++) {
		seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(rec->rrs[j].zone, rec->rrs[i].zone) == 0;
		if (!seen)
			yout_str(y, rec->rrs[i].zone);
	}
	yout_end_seq(y);
}

static int status_emit(const struct dcv_job_record *rec, bool with_token, unsigned char **buf,
                       size_t *len)
{
	static const char *const time_keys[] = {"received",     "published", "visible",
	                                        "withdraw_due", "withdrawn", "failed"};
	const uint64_t times[] = {rec->received,     rec->published, rec->visible,
	                          rec->withdraw_due, rec->withdrawn, rec->failed};
	char file[sizeof(rec->name) + sizeof(rec->ext) + 1], when[32];
	struct yout y;
	int rc = DCV_EINVAL;

	*buf = NULL;
	*len = 0;
	if (dcv_job_record_check(rec, NULL) < 0)
		goto out;
	snprintf(file, sizeof(file), "%s.%s", rec->name, rec->ext);
	yout_begin_mem(&y);
	yout_map(&y);
	yout_kv(&y, "state", dcv_job_status_state(rec));
	yout_kv(&y, "step", dcv_job_state_name(rec->state));
	yout_kv(&y, "job", rec->id);
	yout_kv(&y, "file", file);
	if (rec->error[0] != '\0')
		yout_kv(&y, "error", rec->error);
	if (rec->has_uid) {
		char who[sizeof(rec->submitter) + 32];

		snprintf(who, sizeof(who), "%s (uid %u)", rec->submitter[0] ? rec->submitter : "?",
		         (unsigned)rec->uid);
		yout_kv(&y, "submitter", who);
	}
	if (rec->md5[0] != '\0')
		yout_kv(&y, "md5", rec->md5);
	if (rec->sha256[0] != '\0')
		yout_kv(&y, "sha256", rec->sha256);
	emit_records(&y, rec);
	yout_str(&y, "names");
	yout_map(&y);
	for (size_t i = 0; i < rec->n_names; i++)
		yout_kv(&y, rec->names[i].name, rec->names[i].adn);
	yout_end_map(&y);
	emit_zones(&y, rec);
	emit_dnssec(&y, rec);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		if (times[i] == 0)
			continue;
		dcv_utc_text(times[i], when, sizeof(when));
		yout_kv(&y, time_keys[i], when);
	}
	/* Last, so that `dcv submit` can check it and leave it out of what it prints. */
	if (with_token && rec->token[0] != '\0')
		yout_kv(&y, "token", rec->token);
	yout_end_map(&y);
	rc = DCV_ENOMEM;
	if (yout_end(&y) < 0)
		goto out;
	*buf = y.mem;
	*len = y.mem_len;
	rc = DCV_OK;
out:
	return rc;
}

int dcv_job_status_emit(const struct dcv_job_record *rec, unsigned char **buf, size_t *len)
{
	return status_emit(rec, false, buf, len);
}

int dcv_job_status_emit_result(const struct dcv_job_record *rec, unsigned char **buf, size_t *len)
{
	return status_emit(rec, true, buf, len);
}
