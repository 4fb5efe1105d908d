/*
 * fuzz_jobrec.c -- a job record file, as any bytes: dcv_job_record_parse();
 * a record that parses is emitted, parsed again, copied, and turned into
 * its status file.
 *
 * Oracles (store.h): a refused record leaves no arrays; an accepted one
 * passes dcv_job_record_check(), emits, and parses back to the same
 * record; emit(parse(emit(r))) is byte-identical to emit(r); the copy is
 * equal; the status file is made.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "store.h"

static void jobrec_str(const char *what, size_t i, const char *a, const char *b)
{
	FUZZ_CHECK(strcmp(a, b) == 0, "%s (%zu): '%s' became '%s'", what, i, a, b);
}

static void jobrec_same(const struct dcv_job_record *a, const struct dcv_job_record *b)
{
	jobrec_str("id", 0, a->id, b->id);
	jobrec_str("name", 0, a->name, b->name);
	jobrec_str("ext", 0, a->ext, b->ext);
	jobrec_str("md5", 0, a->md5, b->md5);
	jobrec_str("sha256", 0, a->sha256, b->sha256);
	jobrec_str("error", 0, a->error, b->error);
	FUZZ_CHECK(a->state == b->state && a->cleanup == b->cleanup, "state or cleanup changed");
	FUZZ_CHECK(a->received == b->received && a->published == b->published &&
	               a->visible == b->visible && a->withdraw_due == b->withdraw_due &&
	               a->withdrawn == b->withdrawn && a->failed == b->failed,
	           "a timestamp changed");
	FUZZ_CHECK(a->n_rrs == b->n_rrs && a->n_names == b->n_names,
	           "records %zu/%zu, names %zu/%zu", a->n_rrs, b->n_rrs, a->n_names, b->n_names);
	for (size_t i = 0; i < a->n_rrs; i++) {
		jobrec_str("owner", i, a->rrs[i].owner, b->rrs[i].owner);
		jobrec_str("target", i, a->rrs[i].target, b->rrs[i].target);
		jobrec_str("zone", i, a->rrs[i].zone, b->rrs[i].zone);
		FUZZ_CHECK(a->rrs[i].ttl == b->rrs[i].ttl, "ttl %zu changed", i);
	}
	for (size_t i = 0; i < a->n_names; i++) {
		jobrec_str("name", i, a->names[i].name, b->names[i].name);
		jobrec_str("adn", i, a->names[i].adn, b->names[i].adn);
	}
}

static void jobrec_empty(const struct dcv_job_record *rec, const char *what)
{
	FUZZ_CHECK(rec->rrs == NULL && rec->n_rrs == 0 && rec->names == NULL && rec->n_names == 0,
	           "%s leaves arrays behind", what);
}

int fuzz_jobrec_one(const uint8_t *data, size_t size)
{
	struct dcv_job_record rec, again, copy;
	struct dcv_why why = {""};
	unsigned char *text = NULL, *text2 = NULL, *status = NULL;
	size_t len = 0, len2 = 0, status_len = 0;
	int rc = dcv_job_record_parse("fuzz.job", data, size, &rec, &why);

	FUZZ_CHECK(rc == DCV_OK || rc == DCV_ESTATE || rc == DCV_ENOMEM, "parse: %d", rc);
	if (rc < 0) {
		FUZZ_CHECK(why.text[0] != '\0', "refused without a reason");
		jobrec_empty(&rec, "a refused record");
		return 0;
	}
	rc = dcv_job_record_check(&rec, &why);
	FUZZ_CHECK(rc == DCV_OK, "a parsed record fails the check: %s", why.text);
	rc = dcv_job_record_emit(&rec, &text, &len);
	FUZZ_CHECK(rc == DCV_OK, "a parsed record does not emit: %d", rc);
	rc = dcv_job_record_parse("fuzz.job", text, len, &again, &why);
	FUZZ_CHECK(rc == DCV_OK, "an emitted record does not parse: %s\n%.*s", why.text, (int)len,
	           (const char *)text);
	jobrec_same(&rec, &again);
	rc = dcv_job_record_emit(&again, &text2, &len2);
	FUZZ_CHECK(rc == DCV_OK && len == len2 && memcmp(text, text2, len) == 0,
	           "emit(parse(emit(r))) differs from emit(r)");
	rc = dcv_job_record_copy(&copy, &rec);
	FUZZ_CHECK(rc == DCV_OK, "copy: %d", rc);
	jobrec_same(&rec, &copy);
	rc = dcv_job_status_emit(&rec, &status, &status_len);
	FUZZ_CHECK(rc == DCV_OK && status_len > 0, "status_emit: %d", rc);
	free(status);
	free(text);
	free(text2);
	dcv_job_record_free(&copy);
	dcv_job_record_free(&again);
	dcv_job_record_free(&rec);
	jobrec_empty(&rec, "dcv_job_record_free");
	return 0;
}

DCV_FUZZ_ENTRY(fuzz_jobrec_one)
