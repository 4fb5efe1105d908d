/*
 * test_torture_engine.c -- every allocation of the engine's pure tables
 * failed in turn (failalloc.h): the metrics registry and its text
 * (metrics.c), and the table of the jobs holding each record (holders.c).
 * Both promise that a call failing with DCV_ENOMEM changed nothing, so the
 * scenarios call it once more (only one allocation fails per run) and the
 * end state must be exactly the unarmed run's: a half-added series or
 * holder would show. ASan finds no leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "failalloc.h"
#include "metrics.h"
#include "testutil.h"

/* rc of a call that may fail once for want of memory: then it is made again. */
#define AGAIN(call) ((call) == DCV_ENOMEM ? (call) : DCV_OK)

static void run_metrics(void *state, struct fa_result *res)
{
	static const char *const servers[] = {"192.0.2.1@53", "[2001:db8::1]@53",
	                                      "198.51.100.7@5353", "bad\"server\n\x01"};
	static const char *const rcodes[] = {"NOERROR", "REFUSED", "timeout"};
	struct dcv_metrics m;
	char *text = NULL;
	size_t len = 0;

	dcv_metrics_init(&m, 1700000000.5, "1.2.3");
	res->rc = DCV_OK;
	for (size_t i = 0; i < 40 && res->rc == DCV_OK; i++) {
		const char *u[] = {servers[i % 4], i % 3 ? "add" : "delete", rcodes[i % 3]};
		const char *q[] = {servers[(i + 1) % 4], i % 2 ? "authoritative" : "resolver",
		                   dcv_metrics_query_outcome(i % 5 ? "CNAME x." : "NXDOMAIN")};

		res->rc = AGAIN(dcv_metrics_count(&m.updates, u, 3));
		if (res->rc == DCV_OK)
			res->rc = AGAIN(dcv_metrics_count(&m.queries, q, 3));
		dcv_metrics_job_moved(&m, i ? DCV_JOB_RECEIVED : DCV_JOB_STATE_COUNT,
		                      DCV_JOB_PUBLISHING);
		dcv_metrics_visible_after(&m, (double)i * 7.5);
	}
	if (res->rc == DCV_OK)
		res->rc = AGAIN(dcv_metrics_format(&m, &text, &len));
	if (res->rc == DCV_OK) {
		assert_int_equal(strlen(text), len);
		fa_printf(res, "%s", text);
	}
	free(text);
	dcv_metrics_free(&m);
}

static void test_metrics(void **state)
{
	fa_torture("metrics", run_metrics, NULL, DCV_OK, NULL, 0);
}

static void rr_of(struct dcv_job_record_rr *rr, size_t owner, size_t target)
{
	memset(rr, 0, sizeof(*rr));
	snprintf(rr->owner, sizeof(rr->owner), "_0123.n%zu.example.test.", owner);
	snprintf(rr->target, sizeof(rr->target), "t%zu.sectigo.com.", target);
	snprintf(rr->zone, sizeof(rr->zone), "example.test.");
	rr->ttl = 300;
}

static void run_holders(void *state, struct fa_result *res)
{
	struct dcv_holders *h = holders_new();
	struct dcv_job_record_rr rr;
	char id[32], by[64], target[300];

	if (h == NULL) {
		res->rc = DCV_ENOMEM;
		return;
	}
	res->rc = DCV_OK;
	/* 40 owners (the table grows), three jobs on each, one of them wanting another target. */
	for (size_t o = 0; o < 40 && res->rc == DCV_OK; o++)
		for (size_t j = 0; j < 4 && res->rc == DCV_OK; j++) {
			int rc;

			rr_of(&rr, o, j == 3 ? 1 : 0);
			snprintf(id, sizeof(id), "job%zu~%zu", j, o);
			rc = holders_take(h, &rr, id, by, sizeof(by), target, sizeof(target));
			if (rc == DCV_ENOMEM)
				rc = holders_take(h, &rr, id, by, sizeof(by), target,
				                  sizeof(target));
			if (j < 3 && rc != DCV_OK)
				res->rc = rc;
			else if (j == 3)
				fa_printf(res, "%d %s %s;", rc, by, target);
		}
	for (size_t o = 0; o < 40 && res->rc == DCV_OK; o += 3) {
		rr_of(&rr, o, 0);
		holders_release(h, &rr, "job0~0");
		snprintf(id, sizeof(id), "job1~%zu", o);
		holders_release(h, &rr, id);
		snprintf(id, sizeof(id), "job2~%zu", o);
		fa_printf(res, "%d", holders_others(h, &rr, id));
		holders_deleting(h, &rr, id);
		fa_printf(res, "%d%d ", holders_being_deleted(h, &rr, "x"),
		          holders_being_deleted(h, &rr, id));
		holders_release(h, &rr, id);
		fa_printf(res, "%d ", holders_others(h, &rr, "x"));
	}
	holders_free(h);
}

static void test_holders(void **state)
{
	fa_torture("holders", run_holders, NULL, DCV_OK, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_holders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
