/*
 * test_config_metrics.c -- the metrics_file: option: absent by default; an
 * absolute path is taken; a relative one is an error at its FILE:LINE:COL;
 * a name that does not end in .prom and a folder that is not there are
 * warned about (what `dcvd --check` prints), and a good one is not.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "testutil.h"
#include "tufiles.h"

static void test_default_none(void **state)
{
	struct dcv_config *cfg = tu_load_config_ok(tu_put_config("none.yaml", ""));

	(void)state;
	assert_null(cfg->metrics_file);
	dcv_config_free(cfg);
}

static void test_good_path(void **state)
{
	char top[600];
	const char *path = NULL;
	struct dcv_config *cfg = NULL;

	(void)state;
	snprintf(top, sizeof(top), "metrics_file: %s/dcvd.prom\n", tu_dir);
	path = tu_put_config("good.yaml", top);
	cfg = tu_load_config_ok(path);
	assert_non_null(cfg->metrics_file);
	assert_string_equal(cfg->metrics_file, tu_path("dcvd.prom"));
	assert_int_equal(tu_find(&cfg->warnings, path, NULL, "metrics_file"), -1);
	dcv_config_free(cfg);
}

static void test_warnings(void **state)
{
	char top[600];
	const char *path = NULL;
	struct dcv_config *cfg = NULL;

	(void)state;
	snprintf(top, sizeof(top), "ttl: 60\nmetrics_file: %s/dcvd.txt\n", tu_dir);
	path = tu_put_config("txt.yaml", top);
	cfg = tu_load_config_ok(path);
	tu_expect(&cfg->warnings, path, "2:15", "does not end in .prom");
	dcv_config_free(cfg);
	path = tu_put_config("nodir.yaml", "metrics_file: /nonexistent/dcvd/dcvd.prom\n");
	cfg = tu_load_config_ok(path);
	tu_expect(&cfg->warnings, path, "1:15",
	          "metrics_file: folder /nonexistent/dcvd is not a directory here: No such file");
	dcv_config_free(cfg);
}

static void test_relative_is_an_error(void **state)
{
	const char *path = tu_put_config("rel.yaml", "metrics_file: dcvd.prom\n");
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0};

	(void)state;
	assert_int_equal(dcv_config_load(path, &cfg, &errors), DCV_ECONFIG);
	assert_null(cfg);
	tu_expect(&errors, path, "1:15", "metrics_file: 'dcvd.prom' is not an absolute path");
	dcv_strv_free(&errors);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_none),
	    cmocka_unit_test(test_good_path),
	    cmocka_unit_test(test_warnings),
	    cmocka_unit_test(test_relative_is_an_error),
	};

	return cmocka_run_group_tests(tests, tu_dir_setup, tu_dir_teardown);
}
