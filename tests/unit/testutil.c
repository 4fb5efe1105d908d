/* testutil.c -- helpers for the cmocka tests. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static unsigned tu_skips;

const char *tu_data_dir(void)
{
	const char *dir = getenv("DCV_TEST_DATA");

	if (dir == NULL || dir[0] == '\0')
		fail_msg("DCV_TEST_DATA is not set (run through ctest)");
	return dir;
}

void tu_run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

const char *tu_run_line(const char *fmt, ...)
{
	static char line[4096];
	char cmd[4096];
	va_list ap;
	FILE *p = NULL;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	line[0] = '\0';
	if (fgets(line, sizeof(line), p) == NULL)
		line[0] = '\0';
	pclose(p);
	line[strcspn(line, "\n")] = '\0';
	return line;
}

void tu_skip_at(const char *file, int line, const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* One line all.sh finds in ctest's record of the output. */
	print_message("SKIP %s:%d: %s\n", file, line, why);
	tu_skips++;
	_skip(file, line);
}

int tu_run_group(const char *group, const struct CMUnitTest *tests, size_t n,
                 CMFixtureFunction setup, CMFixtureFunction teardown)
{
	const char *only = getenv("TU_ONLY");
	int failed = 0;

	if (only != NULL && only[0] != '\0')
		cmocka_set_test_filter(only);
	failed = _cmocka_run_group_tests(group, tests, n, setup, teardown);
	if (failed != 0)
		return 1;
	if (tu_skips > 0) {
		print_message("%u test%s skipped: exit status 77 (ctest shows Skipped)\n", tu_skips,
		              tu_skips == 1 ? "" : "s");
		return 77;
	}
	return 0;
}

bool tu_rerun_as_nobody(const char *test)
{
	char self[PATH_MAX];
	ssize_t len = 0;
	pid_t pid = 0;
	int status = 0;

	if (geteuid() != 0)
		return false;
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		fail_msg("readlink /proc/self/exe: %s", strerror(errno));
	self[len] = '\0';
	print_message("%s: root reads every file: running it again as uid 65534 (setpriv)\n", test);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("TU_ONLY", test, 1);
		execlp("setpriv", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		       "--", self, (char *)NULL);
		fprintf(stderr, "cannot run setpriv: %s\n", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		tu_skip("%s skipped as uid 65534", test);
	if (WIFEXITED(status))
		fail_msg("%s as uid 65534 (setpriv): exit status %d", test, WEXITSTATUS(status));
	fail_msg("%s as uid 65534 (setpriv): killed by signal %d", test, WTERMSIG(status));
	return false;
}

size_t tu_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de = NULL;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

#ifdef DCV_GCOV_DUMP
void __gcov_dump(void);
#endif

void tu_child_exit(int code)
{
#ifdef DCV_GCOV_DUMP
	__gcov_dump();
#endif
	_exit(code);
}
