/*
 * engine_replay_shared.c -- the faked wall clock, durations and the run
 * step of the engine's replay programs (engine_replay_shared.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "engine_replay_shared.h"
#include "replay.h"
#include "testutil.h"

int64_t er_clock_step_ms;

/* Milliseconds of wall time since WALL_T0. */
static int64_t wall_ms(void)
{
	return (int64_t)(uv_now(replay_loop()) - LOOP_T0) + er_clock_step_ms;
}

/* The engine's wall clock. */
time_t time(time_t *t)
{
	time_t now = (time_t)(WALL_T0 + wall_ms() / 1000);

	if (t != NULL)
		*t = now;
	return now;
}

/* The same for ldns, which signs the replayed replies' TSIG with it. */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	uint64_t ms = (uint64_t)wall_ms();

	(void)tz;
	tv->tv_sec = (time_t)(WALL_T0 + ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return 0;
}

uint64_t er_duration(const char *text)
{
	char *end = NULL;
	unsigned long long v = strtoull(text, &end, 10);

	if (end == text)
		fail_msg("what duration is \"%s\"?", text);
	if (strcmp(end, "ms") == 0 || *end == '\0')
		return v;
	if (strcmp(end, "s") == 0)
		return v * 1000;
	if (strcmp(end, "m") == 0)
		return v * 60000;
	if (strcmp(end, "h") == 0)
		return v * 3600000;
	if (strcmp(end, "d") == 0)
		return v * 86400000;
	fail_msg("what duration is \"%s\"?", text);
	return 0;
}

void er_run_step_parse(const char *line, struct er_run_step *out)
{
	const char *w = strstr(line, " within "), *has = NULL;
	char duration[32] = "";

	memset(out, 0, sizeof(*out));
	if (strncmp(line, "run until ", 10) != 0) {
		assert_int_equal(sscanf(line, "run %31s", duration), 1);
		out->ms = er_duration(duration);
		return;
	}
	out->until = true;
	out->ms = 3600000;
	if (w != NULL) {
		assert_int_equal(sscanf(w, " within %31s", duration), 1);
		out->ms = er_duration(duration);
	}
	sscanf(line, "run until %15s", out->what);
	if (strcmp(out->what, "job") == 0) {
		assert_int_equal(sscanf(line, "run until job %255s %255s", out->a, out->b), 2);
	} else if (strcmp(out->what, "sent") == 0) {
		out->n = 1;
		assert_true(sscanf(line, "run until sent %255s %255s %255s %zu", out->a, out->b,
		                   out->c, &out->n) >= 3);
	} else if (strcmp(out->what, "file") == 0) {
		has = strstr(line, " has ");
		assert_int_equal(sscanf(line, "run until file %255s", out->a), 1);
		assert_non_null(has);
		snprintf(out->b, sizeof(out->b), "%.*s",
		         (int)(w != NULL ? (size_t)(w - has - 5) : strlen(has + 5)), has + 5);
	} else {
		fail_msg("run until what? \"%s\"", line);
	}
}
