/*
 * test_torture_ops.c -- every allocation of the pure parts of ops/ failed
 * in turn (failalloc.h): the plan of a request under a configuration, in
 * both placements (plan.c, place.c), and the UPDATE messages of its
 * records (update_msg.c: only our own allocations fail; ldns's are out of
 * --wrap's reach). Each gives its full result or DCV_ENOMEM with nothing
 * returned, and ASan finds no leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dcv/dcv.h"
#include "dcv/names.h"
#include "failalloc.h"
#include "plan.h"
#include "testutil.h"
#include "tufiles.h"
#include "update_int.h"

static struct dcv_psl *psl;
static struct dcv_request *req;

static int setup(void **state)
{
	char path[600];
	struct dcv_opts opts = {"U1", NULL};
	struct dcv_opts_buf ob;
	struct dcv_why why;

	if (dcv_psl_load(&psl, NULL) != DCV_OK || dcv_opts_check(&opts, &ob, NULL) != DCV_OK)
		return -1;
	snprintf(path, sizeof(path), "%s/good/mixed.pem", tu_data_dir());
	if (dcv_request_load(path, psl, &opts, &req, &why) != DCV_OK)
		return -1;
	return tu_dir_setup(state);
}

static int teardown(void **state)
{
	dcv_request_free(req);
	dcv_psl_free(psl);
	return tu_dir_teardown(state);
}

static struct dcv_config *config(const char *placement)
{
	char top[128];

	snprintf(top, sizeof(top), "placement: %s\nttl: 120\n", placement);
	return tu_load_config_ok(tu_put_config("dcvd.yaml", top));
}

static void run_plan(void *state, struct fa_result *res)
{
	const struct dcv_config *cfg = state;
	struct dcv_plan plan;
	struct dcv_why why = {{0}};

	memset(&plan, 0xa5, sizeof(plan));
	res->rc = dcv_plan_make(cfg, req, &plan, &why);
	if (res->rc < 0) {
		assert_null(plan.records);
		assert_null(plan.zones);
		assert_null(plan.probe_names);
		assert_null(plan.place.owners);
		assert_int_equal(plan.n_records, 0);
		return;
	}
	for (size_t i = 0; i < plan.n_records; i++)
		fa_printf(res, "%s %u %s -> %s @%s\n", plan.records[i].owner, plan.records[i].ttl,
		          "CNAME", plan.records[i].target, plan.zones[i]->domain);
	for (size_t i = 0; i < plan.spec.n_names; i++)
		fa_printf(res, "%s:%zu ", plan.spec.names[i].name, plan.spec.names[i].adn);
	dcv_plan_free(&plan);
}

static void test_plan(void **state)
{
	struct dcv_config *zone = config("zone"), *fqdn = config("fqdn");

	fa_torture("plan, zone placement", run_plan, zone, DCV_OK, NULL, 0);
	fa_torture("plan, fqdn placement", run_plan, fqdn, DCV_OK, NULL, 0);
	dcv_config_free(zone);
	dcv_config_free(fqdn);
}

struct msg_case {
	const struct dcv_config *cfg;
	struct dcv_record recs[12];
	size_t limit;
	enum dcv_update_op op;
};

static void run_messages(void *state, struct fa_result *res)
{
	struct msg_case *mc = state;
	struct dcv_update up;

	memset(&up, 0, sizeof(up));
	up.zone = &mc->cfg->zones[0];
	up.op = mc->op;
	up.recs = mc->recs;
	up.n_recs = 12;
	res->rc = upd_build_messages(&up, mc->limit);
	for (size_t i = 0; i < up.n_msgs && res->rc == DCV_OK; i++)
		fa_printf(res, "%zu+%zu:%zu ", up.msgs[i].first, up.msgs[i].n_recs, up.msgs[i].len);
	/* What was built belongs to up, freed as upd_unref() frees it. */
	for (size_t i = 0; i < up.n_msgs; i++)
		upd_msg_free(&up.msgs[i]);
	free(up.msgs);
}

static void test_messages(void **state)
{
	static struct msg_case mc;

	mc.cfg = config("zone");
	for (size_t i = 0; i < 12; i++) {
		snprintf(mc.recs[i].owner, sizeof(mc.recs[i].owner), "_%s.n%zu.example.test.",
		         req->csr->md5_hex, i);
		snprintf(mc.recs[i].target, sizeof(mc.recs[i].target), "%s", req->target);
		mc.recs[i].ttl = 300;
	}
	mc.limit = 512;
	mc.op = DCV_UPDATE_ADD;
	fa_torture("update messages, add", run_messages, &mc, DCV_OK, NULL, 0);
	mc.op = DCV_UPDATE_DELETE;
	fa_torture("update messages, delete", run_messages, &mc, DCV_OK, NULL, 0);
	dcv_config_free((struct dcv_config *)mc.cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plan),
	    cmocka_unit_test(test_messages),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
