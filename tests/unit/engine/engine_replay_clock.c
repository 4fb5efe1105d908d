/*
 * engine_replay_clock.c -- the faked wall clock (engine_replay_clock.h).
 */
#include <sys/time.h>
#include <time.h>

#include "engine_replay_clock.h"
#include "replay.h"

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
