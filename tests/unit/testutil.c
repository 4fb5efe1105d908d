/* testutil.c -- helpers for the cmocka tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

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
