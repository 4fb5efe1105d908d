/*
 * engine_replay_int.h -- shared by the files of test_engine_replay (one
 * cmocka program): the scenario's state, and the helpers and steps of
 * engine_replay_spool.c that test_engine_replay.c's steps call.
 */
#ifndef DCV_ENGINE_REPLAY_INT_H
#define DCV_ENGINE_REPLAY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine_replay_shared.h"

struct er_state {
	char dir[64];      /* the scenario's temporary folder */
	char spool[128];   /* dir/spool */
	char log[128];     /* dir/log.txt */
	char source[4096]; /* the scenario file's folder */
	struct dcv_engine *eng;
	bool stopped;
	bool passed; /* the scenario ran to its end: its log is not shown */
	int saved_stderr;
	char *saved;        /* "save FILE": its text then, for "expect same FILE" */
	char elsewhere[64]; /* "elsewhere DIR": its folder in /dev/shm, removed at the end */
};
extern struct er_state er_state;

/* The whole of a file (malloc'd, NUL-terminated), or NULL when it cannot be read. */
char *er_slurp(const char *path);
/* The same for rel under the spool. */
char *er_spool_file(const char *rel);

/* The steps of the same names (test_engine_replay.c's header); each fails the test if it cannot. */
void er_drop(const char *line);
void er_remove(const char *rel);
void er_mkdir(const char *rel);
void er_elsewhere(const char *rel);
void er_store_map(const char *arg);
void er_fill(void);
void er_damage(const char *line);

#endif
