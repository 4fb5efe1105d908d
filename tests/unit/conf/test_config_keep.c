/*
 * test_config_keep.c -- the keep: option: its default (30 days), its
 * durations, 0 (keep everything), bad values at their FILE:LINE:COL, and
 * the warning when keep is shorter than withdraw_after (which `dcvd
 * --check` prints, like every warning of the loader).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "testutil.h"
#include "tufiles.h"

static void test_keep_default(void **state)
{
	struct dcv_config *cfg = tu_load_config_ok(tu_put_config("default.yaml", ""));

	(void)state;
	assert_int_equal(cfg->keep, 30 * 86400);
	assert_int_equal(DCV_DEFAULT_KEEP, 30 * 86400);
	/* 30d is longer than the default withdraw_after (7d): no warning about it. */
	assert_int_equal(tu_find(&cfg->warnings, cfg->file, NULL, "keep"), -1);
	dcv_config_free(cfg);
}

static void test_keep_durations(void **state)
{
	static const struct {
		const char *text;
		uint64_t secs;
	} cases[] = {{"0", 0},           {"3s", 3},           {"90", 90},        {"45m", 45 * 60},
	             {"12h", 12 * 3600}, {"30d", 30 * 86400}, {"2w", 14 * 86400}};
	char top[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dcv_config *cfg = NULL;
		snprintf(top, sizeof(top), "withdraw_after: 0\nkeep: %s\n", cases[i].text);
		cfg = tu_load_config_ok(tu_put_config("durations.yaml", top));
		assert_int_equal(cfg->keep, cases[i].secs);
		/* withdraw_after 0 (records kept): nothing to warn about. */
		assert_int_equal(tu_find(&cfg->warnings, cfg->file, "2:7", "keep"), -1);
		dcv_config_free(cfg);
	}
}

static void test_keep_errors(void **state)
{
	const char *path = tu_put_config("bad.yaml", "ttl: 60\nkeep: 3x\n");
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0};

	(void)state;
	assert_int_equal(dcv_config_load(path, &cfg, &errors), DCV_ECONFIG);
	assert_null(cfg);
	tu_expect(&errors, path, "2:7", "keep: '3x' is not a duration");
	dcv_strv_free(&errors);
	path = tu_put_config("bad2.yaml", "keep: -1\n");
	assert_int_equal(dcv_config_load(path, &cfg, &errors), DCV_ECONFIG);
	tu_expect(&errors, path, "1:7", "keep: '-1' is not a duration");
	dcv_strv_free(&errors);
}

static void test_keep_shorter_than_withdraw_after(void **state)
{
	struct dcv_config *cfg = NULL;
	const char *path = NULL;

	(void)state;
	path = tu_put_config("short.yaml", "withdraw_after: 10s\nkeep: 3s\n");
	cfg = tu_load_config_ok(path);
	assert_int_equal(cfg->keep, 3);
	tu_expect(&cfg->warnings, path, "2:7",
	          "keep (3s) is shorter than withdraw_after (10s): keep counts from a job's "
	          "withdrawal");
	dcv_config_free(cfg);

	/* The default withdraw_after (7d) against a keep of a day, in the units it divides. */
	path = tu_put_config("day.yaml", "keep: 1d\n");
	cfg = tu_load_config_ok(path);
	tu_expect(&cfg->warnings, path, "1:7", "keep (1d) is shorter than withdraw_after (7d)");
	dcv_config_free(cfg);

	/* Equal, longer, or keep 0 (everything is kept): no warning. */
	static const char *const quiet[] = {"withdraw_after: 1h\nkeep: 60m\n",
	                                    "withdraw_after: 1h\nkeep: 2h\n",
	                                    "withdraw_after: 1h\nkeep: 0\n"};
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
		path = tu_put_config("quiet.yaml", quiet[i]);
		cfg = tu_load_config_ok(path);
		assert_int_equal(tu_find(&cfg->warnings, path, "2:7", "keep"), -1);
		dcv_config_free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keep_default),
	    cmocka_unit_test(test_keep_durations),
	    cmocka_unit_test(test_keep_errors),
	    cmocka_unit_test(test_keep_shorter_than_withdraw_after),
	};

	return cmocka_run_group_tests(tests, tu_dir_setup, tu_dir_teardown);
}
