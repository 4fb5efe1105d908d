/*
 * engine_replay_shared.h -- what the engine's two replay programs
 * (test_engine_replay, test_torture_engine_replay) share, so that a
 * scenario reads the same in both:
 *
 *   - the wall clock: time() and gettimeofday() are faked on the replay
 *     library's loop clock, so that the engine's timestamps and ldns's
 *     TSIG times move with the scripted time. It starts at WALL_T0 when
 *     the loop clock is at LOOP_T0, plus er_clock_step_ms, which a
 *     scenario's "clock +D" / "clock -D" steps move (an operator setting
 *     the clock) and each scenario sets back to 0;
 *   - durations ("500ms", "30s", "5m", "2h", "3d"; a bare number: ms);
 *   - the run step: "run DURATION", or "run until job NAME STATE", "run
 *     until sent SERVER TYPE QNAME [N]", "run until file PATH has TEXT",
 *     each with an optional "within DURATION" (1 h when absent).
 *
 * Neither allocates: the torture program calls them while its
 * allocations are being failed. Malformed text fails the test (cmocka).
 * Evaluating a condition is each program's own (the torture program reads
 * files without allocating).
 */
#ifndef DCV_ENGINE_REPLAY_SHARED_H
#define DCV_ENGINE_REPLAY_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WALL_T0 1800000000 /* 2027-01-15T08:00:00Z */
#define LOOP_T0 1000000    /* replay.h: the fake loop clock's start */

extern int64_t er_clock_step_ms;

/* Milliseconds of text; fails the test if it is not a duration. */
uint64_t er_duration(const char *text);

/* A run step, parsed. */
struct er_run_step {
	bool until;    /* false: run for ms and stop */
	uint64_t ms;   /* how long to run, or (until) the longest to wait */
	char what[16]; /* until: "job", "sent" or "file" */
	char a[256];   /* job: NAME; sent: SERVER; file: PATH under the spool */
	char b[256];   /* job: STATE; sent: TYPE; file: TEXT it must hold */
	char c[256];   /* sent: QNAME */
	size_t n;      /* sent: at least this many (1) */
};

void er_run_step_parse(const char *line, struct er_run_step *out);

#endif
