/*
 * test_jobage.c -- the age rule of retention (retention.h): a job record,
 * the time and keep give delete or keep, and why. Each case is written out
 * by hand from the rule's words: only a job that holds no record ages;
 * from withdrawn, or from failed once the cleanup is done; a visible job
 * with withdraw_after 0 never goes; keep 0 keeps everything.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "retention.h"
#include "testutil.h"

#define T0 1700000000ULL
#define DAY 86400ULL
#define KEEP (30 * DAY)

/* A record of one rr, received at T0. */
static void rec_make(struct dcv_job_record *rec, struct dcv_job_record_rr *rr,
                     enum dcv_job_state state)
{
	memset(rec, 0, sizeof(*rec));
	memset(rr, 0, sizeof(*rr));
	snprintf(rec->id, sizeof(rec->id), "web~65f0a1b2deadbeef");
	snprintf(rec->name, sizeof(rec->name), "web");
	snprintf(rec->ext, sizeof(rec->ext), "csr");
	snprintf(rr->owner, sizeof(rr->owner), "_0123.example.test.");
	snprintf(rr->target, sizeof(rr->target), "a.b.sectigo.com.");
	snprintf(rr->zone, sizeof(rr->zone), "example.test.");
	rr->ttl = 300;
	rec->rrs = rr;
	rec->n_rrs = 1;
	rec->state = state;
	rec->received = T0;
}

static enum dcv_job_age age_of(const struct dcv_job_record *rec, uint64_t now, uint64_t keep,
                               uint64_t *expires, const char **why)
{
	const char *w = NULL;
	uint64_t e = 99;
	enum dcv_job_age age = dcv_job_record_age(rec, now, keep, &e, &w);

	assert_non_null(w);
	assert_true(strlen(w) > 0);
	if (expires != NULL)
		*expires = e;
	if (why != NULL)
		*why = w;
	/* The optional outputs are optional. */
	assert_int_equal(dcv_job_record_age(rec, now, keep, NULL, NULL), age);
	return age;
}

static void test_withdrawn(void **state)
{
	struct dcv_job_record rec;
	struct dcv_job_record_rr rr;
	uint64_t withdrawn = T0 + 7 * DAY + 60, expires = 0;
	const char *why = NULL;

	(void)state;
	rec_make(&rec, &rr, DCV_JOB_WITHDRAWN);
	rec.published = T0 + 1;
	rec.visible = T0 + 2;
	rec.withdraw_due = T0 + 7 * DAY;
	rec.withdrawn = withdrawn;
	/* A minute after its withdrawal: kept, until withdrawn + keep has passed. */
	assert_int_equal(age_of(&rec, withdrawn + 60, KEEP, &expires, &why), DCV_JOB_AGE_YOUNG);
	assert_int_equal(expires, withdrawn + KEEP + 1);
	assert_non_null(strstr(why, "not longer ago than keep"));
	/* Exactly keep old is not older than keep. */
	assert_int_equal(age_of(&rec, withdrawn + KEEP, KEEP, NULL, NULL), DCV_JOB_AGE_YOUNG);
	assert_int_equal(age_of(&rec, withdrawn + KEEP + 1, KEEP, &expires, &why),
	                 DCV_JOB_AGE_EXPIRED);
	assert_int_equal(expires, 0);
	assert_string_equal(why, "withdrawn longer ago than keep");
	/* Its age counts from withdrawn, not from received: 30 days after received is young. */
	assert_int_equal(age_of(&rec, T0 + KEEP + 1, KEEP, NULL, NULL), DCV_JOB_AGE_YOUNG);
	/* Seconds work as well as days (the integration test's keep: 3s). */
	assert_int_equal(age_of(&rec, withdrawn + 3, 3, NULL, NULL), DCV_JOB_AGE_YOUNG);
	assert_int_equal(age_of(&rec, withdrawn + 4, 3, NULL, NULL), DCV_JOB_AGE_EXPIRED);
}

static void test_keep_zero(void **state)
{
	struct dcv_job_record rec;
	struct dcv_job_record_rr rr;
	uint64_t expires = 99;
	const char *why = NULL;

	(void)state;
	rec_make(&rec, &rr, DCV_JOB_WITHDRAWN);
	rec.withdrawn = T0 + 10;
	assert_int_equal(age_of(&rec, T0 + 1000 * DAY, 0, &expires, &why), DCV_JOB_AGE_KEEP_ALL);
	assert_int_equal(expires, 0);
	assert_non_null(strstr(why, "keep is 0"));
}

static void test_holds(void **state)
{
	static const enum dcv_job_state holding[] = {DCV_JOB_PUBLISHING, DCV_JOB_PUBLISHED,
	                                             DCV_JOB_VISIBLE, DCV_JOB_WITHDRAWING};
	struct dcv_job_record rec;
	struct dcv_job_record_rr rr;
	uint64_t expires = 99;
	const char *why = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(holding) / sizeof(holding[0]); i++) {
		rec_make(&rec, &rr, holding[i]);
		rec.published = T0 + 1;
		assert_int_equal(age_of(&rec, T0 + 3650 * DAY, KEEP, &expires, &why),
		                 DCV_JOB_AGE_HOLDS);
		assert_int_equal(expires, 0);
		assert_string_equal(why, "it holds records");
	}
	/* Visible with withdraw_after 0 (withdraw_due 0): its records stay, and so does it. */
	rec_make(&rec, &rr, DCV_JOB_VISIBLE);
	rec.visible = T0 + 2;
	rec.withdraw_due = 0;
	assert_int_equal(age_of(&rec, T0 + 10000 * DAY, 1, NULL, NULL), DCV_JOB_AGE_HOLDS);
	/* Visible and long past its withdrawal time, but not withdrawn yet: still holds. */
	rec.withdraw_due = T0 + DAY;
	assert_int_equal(age_of(&rec, T0 + 100 * DAY, KEEP, NULL, NULL), DCV_JOB_AGE_HOLDS);
}

static void test_failed(void **state)
{
	struct dcv_job_record rec;
	struct dcv_job_record_rr rr;
	uint64_t failed = T0 + 100, cleaned = T0 + 20 * DAY, expires = 0;
	const char *why = NULL;

	(void)state;
	/* Failed after publishing: its cleanup is still to do -- it holds, whatever its age. */
	rec_make(&rec, &rr, DCV_JOB_FAILED);
	rec.published = T0 + 1;
	rec.failed = failed;
	rec.cleanup = true;
	assert_int_equal(age_of(&rec, failed + 365 * DAY, KEEP, &expires, &why), DCV_JOB_AGE_HOLDS);
	/* Cleanup done (job.c writes its end into withdrawn): the age counts from then. */
	rec.cleanup = false;
	rec.withdrawn = cleaned;
	assert_int_equal(age_of(&rec, failed + KEEP + 1, KEEP, &expires, NULL), DCV_JOB_AGE_YOUNG);
	assert_int_equal(expires, cleaned + KEEP + 1);
	assert_int_equal(age_of(&rec, cleaned + KEEP + 1, KEEP, NULL, &why), DCV_JOB_AGE_EXPIRED);
	assert_string_equal(why, "failed and cleaned up longer ago than keep");
	/* A record of before that field (cleanup done, no withdrawn): from failed. */
	rec.withdrawn = 0;
	assert_int_equal(age_of(&rec, failed + KEEP, KEEP, NULL, NULL), DCV_JOB_AGE_YOUNG);
	assert_int_equal(age_of(&rec, failed + KEEP + 1, KEEP, NULL, NULL), DCV_JOB_AGE_EXPIRED);
	/* Failed before anything was published (refused CSR): from failed. */
	rec_make(&rec, &rr, DCV_JOB_FAILED);
	rec.n_rrs = 0;
	rec.failed = failed;
	assert_int_equal(age_of(&rec, failed + 2, 1, NULL, NULL), DCV_JOB_AGE_EXPIRED);
	assert_int_equal(age_of(&rec, failed + 1, 1, NULL, NULL), DCV_JOB_AGE_YOUNG);
	/* Failed after visible (withdrawal trouble) with withdraw_due later than failed: the later.
	 */
	rec_make(&rec, &rr, DCV_JOB_FAILED);
	rec.visible = T0 + 5;
	rec.failed = T0 + 10;
	rec.withdraw_due = T0 + 50;
	assert_int_equal(age_of(&rec, T0 + 50 + 10, 9, NULL, NULL), DCV_JOB_AGE_EXPIRED);
	assert_int_equal(age_of(&rec, T0 + 50 + 9, 9, NULL, NULL), DCV_JOB_AGE_YOUNG);
}

static void test_in_flight_and_odd(void **state)
{
	struct dcv_job_record rec;
	struct dcv_job_record_rr rr;
	uint64_t expires = 99;
	const char *why = NULL;

	(void)state;
	/* Received: holds nothing yet, but is not finished. */
	rec_make(&rec, &rr, DCV_JOB_RECEIVED);
	assert_int_equal(age_of(&rec, T0 + 1000 * DAY, 1, &expires, &why), DCV_JOB_AGE_ACTIVE);
	assert_int_equal(expires, 0);
	assert_string_equal(why, "it is not finished");
	/* Finished without any time: nothing to age from, kept. */
	rec_make(&rec, &rr, DCV_JOB_WITHDRAWN);
	rec.received = 0;
	assert_int_equal(age_of(&rec, T0, 1, &expires, &why), DCV_JOB_AGE_UNDATED);
	assert_int_equal(expires, 0);
	/* A clock set back (times in the future): young, never deleted early. */
	rec_make(&rec, &rr, DCV_JOB_WITHDRAWN);
	rec.withdrawn = T0 + 100;
	assert_int_equal(age_of(&rec, T0, 10, &expires, NULL), DCV_JOB_AGE_YOUNG);
	assert_int_equal(expires, T0 + 100 + 10 + 1);
	/* The largest keep and the latest time a record can hold do not overflow. */
	rec.withdrawn = DCV_JOB_TIME_MAX;
	assert_int_equal(age_of(&rec, T0, UINT64_C(4294967295), &expires, NULL), DCV_JOB_AGE_YOUNG);
	assert_int_equal(expires, DCV_JOB_TIME_MAX + UINT64_C(4294967295) + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_withdrawn),
	    cmocka_unit_test(test_keep_zero),
	    cmocka_unit_test(test_holds),
	    cmocka_unit_test(test_failed),
	    cmocka_unit_test(test_in_flight_and_odd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
