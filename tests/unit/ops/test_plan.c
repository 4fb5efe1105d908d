/*
 * test_plan.c -- from a request and a configuration to records, zones and
 * the probe spec (plan.c): placement, the zone each record goes to, the
 * limits, and the spec the probe walks. The records' owners and targets are
 * checked against hashes written here, not computed by the code under test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dcv/dcv.h"
#include "dcv/names.h"
#include "dcv/strv.h"
#include "plan.h"
#include "testutil.h"

#define MD5 "0123456789abcdef0123456789abcdef"
#define SHA256 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define TARGET "00112233445566778899aabbccddeeff.00112233445566778899aabbccddeeff.sectigo.com."

static struct dcv_psl *plan_psl;

static int plan_setup(void **state)
{
	(void)state;
	return dcv_psl_load(&plan_psl, NULL);
}

static int plan_teardown(void **state)
{
	(void)state;
	dcv_psl_free(plan_psl);
	return 0;
}

/* A configuration from YAML text (the zones below, and what extra says). */
static struct dcv_config *plan_config(const char *extra)
{
	char path[] = "/tmp/dcv-plan-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0};

	assert_non_null(f);
	fprintf(f,
	        "%s\nremote:\n  - id: p\n    address: 192.0.2.1@53\n"
	        "zone:\n  - domain: example.test\n    primary: p\n"
	        "  - domain: dev.example.test\n    primary: p\n",
	        extra);
	fclose(f);
	if (dcv_config_load(path, &cfg, &errors) < 0)
		fail_msg("config: %s", errors.n ? errors.v[0] : "?");
	unlink(path);
	dcv_strv_free(&errors);
	return cfg;
}

/* A request as if parsed from a CSR with the hashes above and these names. */
static struct dcv_request *plan_request(const char *const *names, size_t n)
{
	struct dcv_csr *csr = calloc(1, sizeof(*csr));
	struct dcv_opts opts = {NULL, NULL};
	struct dcv_opts_buf buf;
	struct dcv_request *req = NULL;
	struct dcv_why why;

	assert_non_null(csr);
	snprintf(csr->md5_hex, sizeof(csr->md5_hex), "%s", MD5);
	snprintf(csr->sha1_hex, sizeof(csr->sha1_hex), "%040d", 0);
	snprintf(csr->sha256_hex, sizeof(csr->sha256_hex), "%s", SHA256);
	csr->names = calloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		csr->names[i] = strdup(names[i]);
	csr->n_names = n;
	assert_int_equal(dcv_opts_check(&opts, &buf, NULL), 0);
	if (dcv_request_new(csr, plan_psl, &opts, &req, &why) != 0)
		fail_msg("%s", why.text);
	return req;
}

/* The default placement: one record at the shortest candidate in a zone. */
static void test_zone_placement(void **state)
{
	const char *names[] = {"example.test", "www.example.test", "*.example.test"};
	struct dcv_config *cfg = plan_config("");
	struct dcv_request *req = plan_request(names, 3);
	struct dcv_plan plan;
	struct dcv_why why;

	(void)state;
	assert_int_equal(dcv_plan_make(cfg, req, &plan, &why), DCV_OK);
	assert_int_equal(plan.n_records, 1);
	assert_string_equal(plan.records[0].owner, "_" MD5 ".example.test.");
	assert_string_equal(plan.records[0].target, TARGET);
	assert_int_equal(plan.records[0].ttl, cfg->ttl);
	assert_string_equal(plan.zones[0]->domain, "example.test");
	/* The spec: every name, its candidates, our record at the ADN. */
	assert_int_equal(plan.spec.n_names, 3);
	assert_string_equal(plan.spec.md5_hex, MD5);
	assert_string_equal(plan.spec.target, TARGET);
	for (size_t i = 0; i < 3; i++) {
		const struct dcv_probe_name *pn = &plan.spec.names[i];
		assert_string_equal(pn->candidates[pn->adn], "example.test");
	}
	assert_string_equal(plan.spec.names[1].candidates[0], "www.example.test");
	dcv_plan_free(&plan);
	dcv_request_free(req);
	dcv_config_free(cfg);
}

/* placement: fqdn puts each name's record at the name (wildcard removed). */
static void test_fqdn_placement(void **state)
{
	const char *names[] = {"example.test", "www.example.test", "*.example.test"};
	struct dcv_config *cfg = plan_config("placement: fqdn");
	struct dcv_request *req = plan_request(names, 3);
	struct dcv_plan plan;
	struct dcv_why why;
	bool apex = false, www = false;

	(void)state;
	assert_int_equal(dcv_plan_make(cfg, req, &plan, &why), DCV_OK);
	assert_int_equal(plan.n_records, 2);
	for (size_t i = 0; i < plan.n_records; i++) {
		apex |= strcmp(plan.records[i].owner, "_" MD5 ".example.test.") == 0;
		www |= strcmp(plan.records[i].owner, "_" MD5 ".www.example.test.") == 0;
	}
	assert_true(apex && www);
	dcv_plan_free(&plan);
	dcv_request_free(req);
	dcv_config_free(cfg);
}

/*
 * Zones inside zones: a record goes to the longest configured zone that
 * holds its owner. With the default placement, api.dev.example.test's
 * record sits at the shortest candidate, example.test, in the parent
 * zone (it covers the name all the same); with fqdn, at the name itself,
 * which lies in dev.example.test.
 */
static void test_nested_zones(void **state)
{
	const char *names[] = {"api.dev.example.test"};
	struct dcv_config *cfg = plan_config("");
	struct dcv_config *fqdn = plan_config("placement: fqdn");
	struct dcv_request *req = plan_request(names, 1);
	struct dcv_plan plan;
	struct dcv_why why;

	(void)state;
	assert_int_equal(dcv_plan_make(cfg, req, &plan, &why), DCV_OK);
	assert_int_equal(plan.n_records, 1);
	assert_string_equal(plan.zones[0]->domain, "example.test");
	assert_string_equal(plan.records[0].owner, "_" MD5 ".example.test.");
	dcv_plan_free(&plan);
	assert_int_equal(dcv_plan_make(fqdn, req, &plan, &why), DCV_OK);
	assert_int_equal(plan.n_records, 1);
	assert_string_equal(plan.zones[0]->domain, "dev.example.test");
	assert_string_equal(plan.records[0].owner, "_" MD5 ".api.dev.example.test.");
	dcv_plan_free(&plan);
	dcv_request_free(req);
	dcv_config_free(cfg);
	dcv_config_free(fqdn);
}

/* A name outside every zone: DCV_ENOZONE, naming it; nothing left allocated. */
static void test_no_zone(void **state)
{
	const char *names[] = {"www.example.test", "www.other.test"};
	struct dcv_config *cfg = plan_config("");
	struct dcv_request *req = plan_request(names, 2);
	struct dcv_plan plan;
	struct dcv_why why;

	(void)state;
	assert_int_equal(dcv_plan_make(cfg, req, &plan, &why), DCV_ENOZONE);
	assert_non_null(strstr(why.text, "www.other.test"));
	assert_int_equal(plan.n_records, 0);
	assert_null(plan.records);
	dcv_request_free(req);
	dcv_config_free(cfg);
}

/* More names than max_names: DCV_ELIMIT, saying both numbers. */
static void test_max_names(void **state)
{
	const char *names[] = {"a.example.test", "b.example.test", "c.example.test"};
	struct dcv_config *cfg = plan_config("max_names: 2");
	struct dcv_request *req = plan_request(names, 3);
	struct dcv_plan plan;
	struct dcv_why why;

	(void)state;
	assert_int_equal(dcv_plan_make(cfg, req, &plan, &why), DCV_ELIMIT);
	assert_non_null(strstr(why.text, "3 names, more than max_names (2)"));
	dcv_request_free(req);
	dcv_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zone_placement), cmocka_unit_test(test_fqdn_placement),
	    cmocka_unit_test(test_nested_zones),   cmocka_unit_test(test_no_zone),
	    cmocka_unit_test(test_max_names),
	};

	return cmocka_run_group_tests(tests, plan_setup, plan_teardown);
}
