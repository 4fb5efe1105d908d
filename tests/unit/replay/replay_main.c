/*
 * replay_main.c -- what every replay test program does the same way: one
 * cmocka test per scenario file, and the configuration of a scenario.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dcv/strv.h"
#include "replay.h"
#include "testutil.h"

struct dcv_config *replay_config(void)
{
	const char *yaml = replay_section("config");
	char path[] = "/tmp/dcv-replay-XXXXXX";
	int fd = mkstemp(path);
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0};

	assert_non_null(yaml);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	if (dcv_config_load(path, &cfg, &errors) < 0)
		fail_msg("config: %s", errors.n ? errors.v[0] : "?");
	unlink(path);
	dcv_strv_free(&errors);
	return cfg;
}

void replay_check_script(void)
{
	char unused[1024];

	if (replay_unexpected()[0] != '\0')
		fail_msg("queries no entry expected:\n%s", replay_unexpected());
	if (replay_unused(unused, sizeof(unused)) > 0)
		fail_msg("entries never used: %s", unused);
}

int replay_main(const char *group, const char *prefix, void (*run)(void **state))
{
	return replay_main_dir(group, "tests/unit/ops/replay", prefix, run, NULL, NULL);
}

int replay_main_dir(const char *group, const char *sub, const char *prefix,
                    void (*run)(void **state), int (*setup)(void **state),
                    int (*teardown)(void **state))
{
	const char *src = getenv("DCV_SOURCE_DIR");
	char dir[4096];
	struct dirent **names = NULL;
	struct CMUnitTest *tests = NULL;
	int n = 0, rc = 1;
	size_t k = 0;

	snprintf(dir, sizeof(dir), "%s/%s", src ? src : ".", sub);
	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s: cannot read the scenarios\n", group, dir);
		return 1;
	}
	tests = calloc((size_t)n, sizeof(*tests));
	for (int i = 0; tests != NULL && i < n; i++) {
		const char *f = names[i]->d_name;
		size_t len = strlen(f);
		if (strncmp(f, prefix, strlen(prefix)) == 0 && len > 4 &&
		    strcmp(f + len - 4, ".rpl") == 0) {
			char *path = malloc(strlen(dir) + len + 2);
			sprintf(path, "%s/%s", dir, f);
			tests[k++] = (struct CMUnitTest){.name = f,
			                                 .test_func = run,
			                                 .setup_func = setup,
			                                 .teardown_func = teardown,
			                                 .initial_state = path};
		}
	}
	if (k == 0)
		fprintf(stderr, "%s: no %s*.rpl in %s\n", group, prefix, dir);
	else
		rc = tu_run_group(group, tests, k, NULL, NULL);
	for (size_t i = 0; i < k; i++)
		free(tests[i].initial_state);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(tests);
	return rc;
}
