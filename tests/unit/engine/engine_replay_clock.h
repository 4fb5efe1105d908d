/*
 * engine_replay_clock.h -- the wall clock of the engine's replay tests
 * (test_engine_replay, test_torture_engine_replay): time() and
 * gettimeofday() are faked on the replay library's loop clock, so that the
 * engine's timestamps and ldns's TSIG times move with the scripted time.
 * The wall clock starts at WALL_T0 when the loop clock is at LOOP_T0, plus
 * er_clock_step_ms, which a scenario's "clock +D" / "clock -D" steps move
 * (an operator setting the clock) and each scenario sets back to 0.
 */
#ifndef DCV_ENGINE_REPLAY_CLOCK_H
#define DCV_ENGINE_REPLAY_CLOCK_H

#include <stdint.h>

#define WALL_T0 1800000000 /* 2027-01-15T08:00:00Z */
#define LOOP_T0 1000000    /* replay.h: the fake loop clock's start */

extern int64_t er_clock_step_ms;

#endif
