/*
 * jobrec.c -- job records in memory: states, copies, and the rules a record
 * keeps. Its text is in jobrec_text.c, the status file in jobstatus.c,
 * the store in store*.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "jobrec_int.h"

static const char *const state_names[DCV_JOB_STATE_COUNT] = {
    [DCV_JOB_RECEIVED] = "received",       [DCV_JOB_PUBLISHING] = "publishing",
    [DCV_JOB_PUBLISHED] = "published",     [DCV_JOB_VISIBLE] = "visible",
    [DCV_JOB_WITHDRAWING] = "withdrawing", [DCV_JOB_WITHDRAWN] = "withdrawn",
    [DCV_JOB_FAILED] = "failed",
};

const char *dcv_job_state_name(enum dcv_job_state s)
{
	if ((unsigned)s >= DCV_JOB_STATE_COUNT)
		return "unknown";
	return state_names[s];
}

int dcv_job_state_parse(const char *text, enum dcv_job_state *out)
{
	for (int i = 0; i < DCV_JOB_STATE_COUNT; i++) {
		if (text != NULL && strcmp(text, state_names[i]) == 0) {
			*out = (enum dcv_job_state)i;
			return DCV_OK;
		}
	}
	return DCV_EINVAL;
}

void dcv_job_record_free(struct dcv_job_record *rec)
{
	if (rec == NULL)
		return;
	free(rec->rrs);
	free(rec->names);
	rec->rrs = NULL;
	rec->n_rrs = 0;
	rec->names = NULL;
	rec->n_names = 0;
}

void dcv_job_records_free(struct dcv_job_record *recs, size_t n)
{
	if (recs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		dcv_job_record_free(&recs[i]);
	free(recs);
}

int dcv_job_record_copy(struct dcv_job_record *dst, const struct dcv_job_record *src)
{
	struct dcv_job_record_rr *rrs = NULL;
	struct dcv_job_record_name *names = NULL;
	int rc = DCV_ENOMEM;

	if (src->n_rrs > 0) {
		rrs = malloc(src->n_rrs * sizeof(*rrs));
		if (rrs == NULL)
			goto out;
		memcpy(rrs, src->rrs, src->n_rrs * sizeof(*rrs));
	}
	if (src->n_names > 0) {
		names = malloc(src->n_names * sizeof(*names));
		if (names == NULL)
			goto out;
		memcpy(names, src->names, src->n_names * sizeof(*names));
	}
	rc = DCV_OK;
out:
	*dst = *src;
	dst->rrs = rrs;
	dst->n_rrs = rrs != NULL ? src->n_rrs : 0;
	dst->names = names;
	dst->n_names = names != NULL ? src->n_names : 0;
	if (rc < 0) {
		free(rrs);
		free(names);
		dst->rrs = NULL;
		dst->n_rrs = 0;
		dst->names = NULL;
		dst->n_names = 0;
	}
	return rc;
}

/*
 * The rules of dcv_job_record_check(), one per kind of field. Each returns
 * NULL when the value is fine, or what is wrong with it; parsing reports the
 * same text at the value's position, so a record that can be written can
 * always be read back and the other way round.
 */
static bool has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/*
 * Free text ends up in the status files, which are YAML and so UTF-8:
 * libyaml's emitter refuses other bytes and its reader refuses surrogates,
 * so a string that is not valid UTF-8 could be written but never read back.
 */
bool dcv_jobrec_utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp = 0, min = 0;
	size_t more = 0;

	while (*s != '\0') {
		if (*s < 0x80) {
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0) {
			cp = *s & 0x1f;
			more = 1;
			min = 0x80;
		} else if ((*s & 0xf0) == 0xe0) {
			cp = *s & 0x0f;
			more = 2;
			min = 0x800;
		} else if ((*s & 0xf8) == 0xf0) {
			cp = *s & 0x07;
			more = 3;
			min = 0x10000;
		} else {
			return false;
		}
		for (s++; more > 0; more--, s++) {
			if ((*s & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (*s & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

const char *dcv_jobrec_file_part_problem(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0)
		return "must not be empty";
	if (n > max)
		return "is too long to name a file";
	if (s[0] == '.')
		return "must not start with '.'";
	if (strchr(s, '/') != NULL)
		return "must not contain '/'";
	if (has_control(s))
		return "must not contain control characters";
	if (!dcv_jobrec_utf8_valid(s))
		return "is not valid UTF-8";
	return NULL;
}

const char *dcv_jobrec_ext_problem(const char *s)
{
	if (strcmp(s, "csr") == 0 || strcmp(s, "pem") == 0 || strcmp(s, "der") == 0)
		return NULL;
	return "must be csr, pem or der";
}

const char *dcv_jobrec_hex_problem(const char *s, size_t want)
{
	size_t n = strlen(s);

	if (n == 0)
		return NULL;
	if (n != want)
		return want == 32 ? "must be 32 hex digits" : "must be 64 hex digits";
	if (strspn(s, "0123456789abcdef") != n)
		return "must be lower-case hex digits";
	return NULL;
}

const char *dcv_jobrec_dns_problem(const char *s)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                              "0123456789-_.*";

	/*
	 * Names reach a record only after the CSR checks (LDH, A-labels, a
	 * leading "*."), so anything else is damage -- and these characters
	 * need no quoting in zone-file lines or in YAML keys of the status file.
	 */
	if (s[0] == '\0')
		return "must not be empty";
	if (strspn(s, allowed) != strlen(s))
		return "must hold only letters, digits, '-', '_', '.' and '*'";
	return NULL;
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

#define TERMINATED(field) terminated((field), sizeof(field))

static int rr_check(const struct dcv_job_record_rr *rr, size_t i, struct dcv_why *why)
{
	const char *p = NULL;

	if (!TERMINATED(rr->owner) || !TERMINATED(rr->target) || !TERMINATED(rr->zone)) {
		dcv_why_set(why, "records[%zu]: a field is not NUL-terminated", i);
		return DCV_EINVAL;
	}
	if ((p = dcv_jobrec_dns_problem(rr->owner)) != NULL)
		dcv_why_set(why, "records[%zu].owner %s", i, p);
	else if ((p = dcv_jobrec_dns_problem(rr->target)) != NULL)
		dcv_why_set(why, "records[%zu].target %s", i, p);
	else if ((p = dcv_jobrec_dns_problem(rr->zone)) != NULL)
		dcv_why_set(why, "records[%zu].zone %s", i, p);
	else if (!TERMINATED(rr->dnssec) ||
	         (rr->dnssec[0] != '\0' && strcmp(rr->dnssec, "secure") != 0 &&
	          strcmp(rr->dnssec, "insecure") != 0 && strcmp(rr->dnssec, "signed") != 0))
		dcv_why_set(why, "records[%zu].dnssec %s", i,
		            p = "is not secure, insecure or signed");
	return p != NULL ? DCV_EINVAL : DCV_OK;
}

static int names_check(const struct dcv_job_record *rec, struct dcv_why *why)
{
	const struct dcv_job_record_name *nm = NULL;
	const char *p = NULL;

	for (size_t i = 0; i < rec->n_names; i++) {
		nm = &rec->names[i];
		if (!TERMINATED(nm->name) || !TERMINATED(nm->adn)) {
			dcv_why_set(why, "names[%zu]: a field is not NUL-terminated", i);
			return DCV_EINVAL;
		}
		if ((p = dcv_jobrec_dns_problem(nm->name)) != NULL ||
		    (p = dcv_jobrec_dns_problem(nm->adn)) != NULL) {
			dcv_why_set(why, "names[%zu]: %s %s", i,
			            dcv_jobrec_dns_problem(nm->name) ? "name" : "adn", p);
			return DCV_EINVAL;
		}
	}
	/* Names are few (a CSR holds at most a few thousand): quadratic is fine. */
	for (size_t i = 0; i < rec->n_names; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(rec->names[i].name, rec->names[j].name) == 0) {
				dcv_why_set(why, "names[%zu]: '%s' is listed twice", i,
				            rec->names[i].name);
				return DCV_EINVAL;
			}
	return DCV_OK;
}

int dcv_job_record_check(const struct dcv_job_record *rec, struct dcv_why *why)
{
	const uint64_t times[] = {rec->received,     rec->published, rec->visible,
	                          rec->withdraw_due, rec->withdrawn, rec->failed};
	const char *p = NULL;
	int rc = DCV_EINVAL;

	if (!TERMINATED(rec->id) || !TERMINATED(rec->name) || !TERMINATED(rec->ext) ||
	    !TERMINATED(rec->md5) || !TERMINATED(rec->sha256) || !TERMINATED(rec->error) ||
	    !TERMINATED(rec->token)) {
		dcv_why_set(why, "a field of the record is not NUL-terminated");
		goto out;
	}
	if ((p = dcv_jobrec_file_part_problem(rec->id, DCV_JOB_ID_MAX)) != NULL) {
		dcv_why_set(why, "id %s", p);
		goto out;
	}
	if ((p = dcv_jobrec_file_part_problem(rec->name, DCV_JOB_NAME_MAX)) != NULL) {
		dcv_why_set(why, "job %s: name %s", rec->id, p);
		goto out;
	}
	if ((p = dcv_jobrec_ext_problem(rec->ext)) != NULL) {
		dcv_why_set(why, "job %s: ext %s", rec->id, p);
		goto out;
	}
	if ((unsigned)rec->state >= DCV_JOB_STATE_COUNT) {
		dcv_why_set(why, "job %s: unknown state %d", rec->id, (int)rec->state);
		goto out;
	}
	if ((p = dcv_jobrec_hex_problem(rec->md5, 32)) != NULL ||
	    (p = dcv_jobrec_hex_problem(rec->sha256, 64)) != NULL) {
		dcv_why_set(why, "job %s: %s %s", rec->id,
		            dcv_jobrec_hex_problem(rec->md5, 32) ? "md5" : "sha256", p);
		goto out;
	}
	/* The token is a secret: its problem is named, never its text. */
	if ((p = dcv_jobrec_hex_problem(rec->token, DCV_JOB_TOKEN_LEN)) != NULL) {
		dcv_why_set(why, "job %s: token %s", rec->id, p);
		goto out;
	}
	if (rec->n_rrs > DCV_JOB_MAX_ITEMS || rec->n_names > DCV_JOB_MAX_ITEMS) {
		dcv_why_set(why, "job %s: more than %d records or names", rec->id,
		            DCV_JOB_MAX_ITEMS);
		goto out;
	}
	if ((rec->n_rrs > 0 && rec->rrs == NULL) || (rec->n_names > 0 && rec->names == NULL)) {
		dcv_why_set(why, "job %s: records or names counted but missing", rec->id);
		goto out;
	}
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		if (times[i] > DCV_JOB_TIME_MAX) {
			dcv_why_set(why, "job %s: a timestamp lies after the year 9999", rec->id);
			goto out;
		}
	}
	if (!dcv_jobrec_utf8_valid(rec->error)) {
		dcv_why_set(why, "job %s: error is not valid UTF-8", rec->id);
		goto out;
	}
	if (!TERMINATED(rec->submitter) ||
	    !dcv_utf8_printable(rec->submitter, strlen(rec->submitter))) {
		dcv_why_set(why, "job %s: submitter is not printable UTF-8", rec->id);
		goto out;
	}
	for (size_t i = 0; i < rec->n_rrs; i++)
		if (rr_check(&rec->rrs[i], i, why) < 0)
			goto out;
	if (names_check(rec, why) < 0)
		goto out;
	rc = DCV_OK;
out:
	return rc;
}

bool dcv_job_record_holds(const struct dcv_job_record *rec)
{
	switch (rec->state) {
	case DCV_JOB_PUBLISHING:
	case DCV_JOB_PUBLISHED:
	case DCV_JOB_VISIBLE:
	case DCV_JOB_WITHDRAWING:
		return true;
	case DCV_JOB_FAILED:
		return rec->cleanup;
	default:
		return false;
	}
}
