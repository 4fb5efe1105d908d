/*
 * test_engine_replay.c -- dcvd's engine (engine.c, job.c, job_probe.c,
 * zbatch.c, zwatch.c, engine_persist.c, engine_sweep.c, holders.c) on a
 * real spool and store in a temporary folder, its DNS scripted and its
 * clocks faked by the replay library (replay.h): minutes of polling and
 * backoff run in milliseconds, the same way every time. Every
 * tests/unit/engine/replay/NAME.rpl is one test. Besides the server entries
 * (replay.h) and a configuration (config ... end, where @SPOOL@ stands
 * for the spool's path, in the steps too), a scenario is a script of
 * steps, run in order:
 *
 *   drop FILE [as NAME] [by UID]  copies replay/FILE (a CSR) into incoming/NAME
 *                               (default FILE) and makes incoming/'s file event;
 *                               a NAME with a '/' is a path under the spool; by
 *                               UID: the file belongs to that user (its submitter)
 *   start engine [with reload]  dcv_engine_new() and dcv_engine_start() (with the
 *                               configuration of the reload block)
 *   start engine fails TEXT     dcv_engine_new() must fail, its why holding TEXT;
 *                               what it had opened closes (nothing pending)
 *   stop engine                 dcv_engine_stop(), run until it says stopped and
 *                               every handle it had is closed (nothing pending)
 *   reload engine               dcv_engine_reload() with the block reload ... end
 *   slow pool DURATION          thread-pool work takes that long from now on
 *   remove PATH                 deletes PATH under the spool (a lost status file)
 *   elsewhere DIR               the spool's (empty) folder DIR becomes a symbolic
 *                               link to a new folder on another file system
 *                               (/dev/shm): renames into it fail with EXDEV
 *   mkdir PATH                  makes the folder PATH under the spool (0700,
 *                               its times the faked wall clock's)
 *   clock +|-DURATION           the wall clock steps (NTP), the loop's does not
 *   store map SIZE|default      stores opened from now on get a map of SIZE
 *                               (4k, 16k, 1m) that cannot grow (store_int.h's
 *                               tuning): the next batch that needs more fails
 *   store map max SIZE          the running store's map may grow to SIZE again
 *   fill store                  while no engine runs: state/data.mdb's map
 *                               filled up with records of a database "filler"
 *                               that dcvd does not read (other data took it)
 *   hook EVENT exit N [after DURATION] [say TEXT]
 *   hook EVENT hang [ignoreterm] | hook EVENT missing
 *                               what the hook program (hook: in the
 *                               configuration, faked by replay_uv.c) does when
 *                               run for EVENT (visible, failed, withdrawn): a
 *                               line of output, its exit status N after
 *                               DURATION (0), or it never exits (SIGTERM ends
 *                               it unless ignoreterm), or it cannot be run
 *   damage record NAME [TEXT]   the newest record of NAME in state/data.mdb
 *                               becomes TEXT ("damaged"), written with LMDB
 *                               while no engine runs (a disk that lost it)
 *   run DURATION                fake time moves on (500ms, 30s, 5m, 2h, 3d)
 *   run until job NAME STATE [within DURATION]
 *   run until sent SERVER TYPE QNAME [N] [within DURATION]
 *                               until N (1) such queries went out
 *   run until file PATH has TEXT [within DURATION]
 *                               the condition is checked after every event; it
 *                               must come true within DURATION (default 1h)
 *   expect job NAME STATE|gone  the newest live job of NAME (spool name)
 *   expect jobs N               live jobs (listed in the engine)
 *   expect file PATH [has|lacks TEXT]   PATH under the spool
 *   expect nofile PATH
 *   save PATH                   keeps PATH's text (under the spool) ...
 *   expect same PATH            ... which PATH must hold again
 *   expect count DIR N          entries in the spool's folder DIR
 *   expect log TEXT             a line of the log so far holds TEXT
 *   expect logs [<=|>=]N TEXT   so many lines of the log hold TEXT
 *   expect nolog TEXT
 *   expect queries SERVER TYPE QNAME [<=|>=]N   since the start or the last
 *   forget queries              (which starts the count again)
 *
 * Wall-clock time (time(), which the engine uses for its records and
 * withdraw_after, and gettimeofday(), which ldns signs the replies with)
 * is faked too (engine_replay_shared.c, which also reads durations and
 * the run step, and which test_torture_engine_replay
 * shares): it starts at 2027-01-15 08:00 UTC and moves with the fake loop
 * clock. The log (stderr) goes to a file, shown when a scenario
 * fails. At its end a scenario stops a running engine, and every entry
 * must have been used and no query unexpected.
 *
 * This file is the step interpreter; engine_replay_spool.c holds the steps
 * that act on the spool's files and the store behind the engine's back,
 * engine_replay_int.h what the two share.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dcv/strv.h"
#include "engine.h"
#include "engine_int.h"
#include "engine_replay_int.h"
#include "log.h"
#include "replay.h"
#include "store_int.h"
#include "testutil.h"

struct er_state er_state = {.saved_stderr = -1};

/* --- the engine's jobs ------------------------------------------------------- */

/* The newest live job of spool name NAME (the engine's list has the newest first). */
static const struct dcv_job *er_job(const char *name)
{
	for (const struct dcv_job *j = er_state.eng ? er_state.eng->jobs : NULL; j != NULL;
	     j = j->next)
		if (strcmp(j->rec.name, name) == 0)
			return j;
	return NULL;
}

static const char *er_job_state(const char *name)
{
	const struct dcv_job *j = er_job(name);

	return j != NULL ? dcv_job_state_name(j->rec.state) : "gone";
}

static void er_restore_stderr(void)
{
	if (er_state.saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(er_state.saved_stderr, STDERR_FILENO);
	close(er_state.saved_stderr);
	er_state.saved_stderr = -1;
}

/* --- conditions for run until ------------------------------------------------ */

static bool er_cond_true(void *arg)
{
	const struct er_run_step *c = arg;
	char *text = NULL;
	bool yes = false;

	if (strcmp(c->what, "job") == 0)
		return strcmp(er_job_state(c->a), c->b) == 0;
	if (strcmp(c->what, "sent") == 0)
		return replay_queries(c->a, c->b, c->c) >= c->n;
	text = er_spool_file(c->a);
	yes = text != NULL && strstr(text, c->b) != NULL;
	free(text);
	return yes;
}

static void er_stopped(void *arg)
{
	(void)arg;
	er_state.stopped = true;
}

static bool er_is_idle(void *arg)
{
	(void)arg;
	return replay_pending() == 0;
}

static bool er_is_stopped(void *arg)
{
	(void)arg;
	return er_state.stopped;
}

/* --- the steps -------------------------------------------------------------------- */

/* The configuration of block name (config, reload), @SPOOL@ replaced; fails the test if bad. */
static struct dcv_config *er_config(const char *name)
{
	const char *section = replay_section(name);
	char path[256], *yaml = NULL, *at = NULL, *s = NULL;
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0};
	FILE *f = NULL;

	assert_non_null(section);
	yaml = strdup(section);
	snprintf(path, sizeof(path), "%s/dcvd.yaml", er_state.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	/* @SPOOL@ -> the spool's path, wherever it appears. */
	for (s = yaml; (at = strstr(s, "@SPOOL@")) != NULL; s = at + 7) {
		fwrite(s, 1, (size_t)(at - s), f);
		fputs(er_state.spool, f);
	}
	fputs(s, f);
	fclose(f);
	free(yaml);
	if (dcv_config_load(path, &cfg, &errors) < 0)
		fail_msg("config: %s", errors.n ? errors.v[0] : "?");
	dcv_strv_free(&errors);
	return cfg;
}

static void er_start(const char *block)
{
	struct dcv_why why = {""};

	assert_null(er_state.eng);
	if (dcv_engine_new(replay_loop(), er_config(block), &er_state.eng, &why) < 0)
		fail_msg("dcv_engine_new: %s", why.text);
	assert_int_equal(dcv_engine_start(er_state.eng), DCV_OK);
	er_state.stopped = false;
}

static void er_start_fails(const char *text)
{
	struct dcv_why why = {""};
	struct dcv_engine *eng = NULL;

	assert_null(er_state.eng);
	if (dcv_engine_new(replay_loop(), er_config("config"), &eng, &why) >= 0)
		fail_msg("dcv_engine_new did not fail (expected: %s)", text);
	assert_null(eng);
	if (strstr(why.text, text) == NULL)
		fail_msg("dcv_engine_new failed with \"%s\", expected \"%s\"", why.text, text);
	/* The same line as dcvd's, so that expect log can look at it too. */
	fprintf(stderr, "dcv_engine_new: %s\n", why.text);
	replay_run_until(uv_now(replay_loop()) + 60000, er_is_idle, NULL);
	if (replay_pending() > 0)
		fail_msg("%zu events or timers left after the failed start", replay_pending());
}

static void er_stop(void)
{
	assert_non_null(er_state.eng);
	er_state.stopped = false;
	dcv_engine_stop(er_state.eng, er_stopped, NULL);
	replay_run_until(uv_now(replay_loop()) + 10000, er_is_stopped, NULL);
	if (!er_state.stopped)
		fail_msg("the engine did not stop within 10 s");
	er_state.eng = NULL;
	/* The last close callbacks (the engine frees itself in one); then nothing may be left. */
	replay_run_until(uv_now(replay_loop()) + 60000, er_is_idle, NULL);
	if (replay_pending() > 0)
		fail_msg("%zu events or timers left a minute after the engine stopped",
		         replay_pending());
}

static void er_run(const char *line)
{
	struct er_run_step c;
	uint64_t start = uv_now(replay_loop());

	er_run_step_parse(line, &c);
	if (!c.until) {
		replay_run_until(start + c.ms, NULL, NULL);
		return;
	}
	replay_run_until(start + c.ms, er_cond_true, &c);
	if (!er_cond_true(&c))
		fail_msg("\"%s\": not so after %llu ms; unexpected queries:\n%s", line,
		         (unsigned long long)(uv_now(replay_loop()) - start), replay_unexpected());
}

static void er_expect_file(const char *line)
{
	char rel[256] = "", how[8] = "";
	char *text = NULL;
	const char *needle = NULL;

	sscanf(line, "expect file %255s %7s", rel, how);
	text = er_spool_file(rel);
	if (text == NULL)
		fail_msg("%s: no such file in the spool", rel);
	if (how[0] != '\0') {
		needle = strstr(line, how) + strlen(how) + 1;
		if (strcmp(how, "has") == 0 && strstr(text, needle) == NULL)
			fail_msg("%s lacks \"%s\":\n%s", rel, needle, text);
		if (strcmp(how, "lacks") == 0 && strstr(text, needle) != NULL)
			fail_msg("%s holds \"%s\":\n%s", rel, needle, text);
	}
	free(text);
}

static void er_expect(const char *line)
{
	char what[16] = "", a[256] = "", b[256] = "", c[256] = "";
	size_t n = 0;

	sscanf(line, "expect %15s", what);
	if (strcmp(what, "job") == 0) {
		assert_int_equal(sscanf(line, "expect job %255s %255s", a, b), 2);
		if (strcmp(er_job_state(a), b) != 0)
			fail_msg("job %s is %s, expected %s", a, er_job_state(a), b);
	} else if (strcmp(what, "jobs") == 0) {
		size_t live = 0;
		assert_int_equal(sscanf(line, "expect jobs %zu", &n), 1);
		for (const struct dcv_job *j = er_state.eng ? er_state.eng->jobs : NULL; j;
		     j = j->next)
			live++;
		assert_int_equal(live, n);
	} else if (strcmp(what, "file") == 0) {
		er_expect_file(line);
	} else if (strcmp(what, "same") == 0) {
		char *now = er_spool_file(line + strlen("expect same "));

		if (er_state.saved == NULL || now == NULL || strcmp(er_state.saved, now) != 0)
			fail_msg("%s is not as saved:\n---- saved ----\n%s---- now ----\n%s",
			         line + strlen("expect same "),
			         er_state.saved ? er_state.saved : "(nothing)\n",
			         now ? now : "(no such file)\n");
		free(now);
	} else if (strcmp(what, "nofile") == 0) {
		char *text = NULL;
		sscanf(line, "expect nofile %255s", a);
		text = er_spool_file(a);
		if (text != NULL)
			fail_msg("%s is there:\n%s", a, text);
	} else if (strcmp(what, "count") == 0) {
		char dir[4400];
		assert_int_equal(sscanf(line, "expect count %255s %zu", a, &n), 2);
		snprintf(dir, sizeof(dir), "%s/%s", er_state.spool, a);
		if (tu_count_entries(dir) != n)
			fail_msg("%s holds %zu entries, expected %zu", a, tu_count_entries(dir), n);
	} else if (strcmp(what, "logs") == 0) {
		char cmp[16] = "", *log = er_slurp(er_state.log);
		const char *needle = NULL;
		size_t got = 0;
		assert_int_equal(sscanf(line, "expect logs %15s", cmp), 1);
		needle = strstr(line, cmp) + strlen(cmp) + 1;
		for (const char *p = log; p != NULL && (p = strstr(p, needle)) != NULL; p++)
			got++;
		free(log);
		n = strtoul(cmp + strspn(cmp, "<>="), NULL, 10);
		if (strncmp(cmp, "<=", 2) == 0   ? got > n
		    : strncmp(cmp, ">=", 2) == 0 ? got < n
		                                 : got != n)
			fail_msg("%zu log lines hold \"%s\", expected %s", got, needle, cmp);
	} else if (strcmp(what, "log") == 0 || strcmp(what, "nolog") == 0) {
		char *log = er_slurp(er_state.log);
		const char *needle = line + strlen("expect ") + strlen(what) + 1;
		bool found = log != NULL && strstr(log, needle) != NULL;
		free(log);
		if (found != (strcmp(what, "log") == 0))
			fail_msg("the log %s \"%s\"", found ? "holds" : "lacks", needle);
	} else if (strcmp(what, "queries") == 0) {
		char cmp[16] = "";
		size_t got = 0;
		assert_int_equal(
		    sscanf(line, "expect queries %255s %255s %255s %15s", a, b, c, cmp), 4);
		got = replay_queries(a, b, c);
		n = strtoul(cmp + strspn(cmp, "<>="), NULL, 10);
		if (strncmp(cmp, "<=", 2) == 0   ? got > n
		    : strncmp(cmp, ">=", 2) == 0 ? got < n
		                                 : got != n)
			fail_msg("%zu queries to %s for %s %s, expected %s", got, a, b, c, cmp);
	} else {
		fail_msg("expect what? \"%s\"", line);
	}
}

static void er_hook(const char *line)
{
	struct replay_hook does = {0};
	char event[64] = "", what[16] = "", after[32] = "";
	const char *say = strstr(line, " say ");

	assert_true(sscanf(line, "hook %63s %15s", event, what) == 2);
	if (strcmp(what, "exit") == 0) {
		assert_int_equal(sscanf(line, "hook %*s exit %d", &does.exit_status), 1);
		if (sscanf(line, "hook %*s exit %*d after %31s", after) == 1)
			does.after_ms = er_duration(after);
		does.say = say != NULL ? say + 5 : NULL;
	} else if (strcmp(what, "hang") == 0) {
		does.hang = true;
		does.ignore_term = strstr(line, " ignoreterm") != NULL;
	} else if (strcmp(what, "missing") == 0) {
		does.missing = true;
	} else {
		fail_msg("what hook is \"%s\"?", line);
	}
	replay_hook(event, &does);
}

static void er_step(const char *line)
{
	if (strncmp(line, "drop ", 5) == 0)
		er_drop(line);
	else if (strcmp(line, "start engine") == 0)
		er_start("config");
	else if (strcmp(line, "start engine with reload") == 0)
		er_start("reload");
	else if (strncmp(line, "start engine fails ", 19) == 0)
		er_start_fails(line + 19);
	else if (strcmp(line, "stop engine") == 0)
		er_stop();
	else if (strncmp(line, "run ", 4) == 0)
		er_run(line);
	else if (strncmp(line, "expect ", 7) == 0)
		er_expect(line);
	else if (strcmp(line, "forget queries") == 0)
		replay_forget_queries();
	else if (strcmp(line, "reload engine") == 0)
		dcv_engine_reload(er_state.eng, er_config("reload"));
	else if (strncmp(line, "remove ", 7) == 0)
		er_remove(line + 7);
	else if (strncmp(line, "elsewhere ", 10) == 0)
		er_elsewhere(line + 10);
	else if (strncmp(line, "mkdir ", 6) == 0)
		er_mkdir(line + 6);
	else if (strncmp(line, "save ", 5) == 0) {
		free(er_state.saved);
		if ((er_state.saved = er_spool_file(line + 5)) == NULL)
			fail_msg("save %s: no such file in the spool", line + 5);
	} else if (strncmp(line, "slow pool ", 10) == 0)
		replay_work_delay(er_duration(line + 10));
	else if (strncmp(line, "clock ", 6) == 0 && (line[6] == '+' || line[6] == '-'))
		er_clock_step_ms += (line[6] == '-' ? -1 : 1) * (int64_t)er_duration(line + 7);
	else if (strncmp(line, "store map ", 10) == 0)
		er_store_map(line + 10);
	else if (strncmp(line, "hook ", 5) == 0)
		er_hook(line);
	else if (strcmp(line, "fill store") == 0)
		er_fill();
	else if (strncmp(line, "damage record ", 14) == 0)
		er_damage(line);
	else if (strncmp(line, "tsig ", 5) != 0 && strncmp(line, "zonekey ", 8) != 0)
		fail_msg("what step is \"%s\"?", line);
}

/* --- one scenario ----------------------------------------------------------------- */

static int er_setup(void **state)
{
	const char *path = *state;
	const char *slash = strrchr(path, '/');
	int fd = -1;

	snprintf(er_state.source, sizeof(er_state.source), "%.*s", (int)(slash - path), path);
	snprintf(er_state.dir, sizeof(er_state.dir), "/tmp/dcv-engrep-XXXXXX");
	if (mkdtemp(er_state.dir) == NULL)
		return -1;
	snprintf(er_state.spool, sizeof(er_state.spool), "%s/spool", er_state.dir);
	snprintf(er_state.log, sizeof(er_state.log), "%s/log.txt", er_state.dir);
	er_state.eng = NULL;
	er_state.passed = false;
	er_clock_step_ms = 0;
	replay_free(); /* what a failed scenario before this one left */
	dcv_log_init("dcvd", DCV_LOG_DEBUG);
	fflush(stderr);
	er_state.saved_stderr = dup(STDERR_FILENO);
	fd = open(er_state.log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (er_state.saved_stderr < 0 || fd < 0 || dup2(fd, STDERR_FILENO) < 0)
		return -1;
	close(fd);
	return 0;
}

static int er_teardown(void **state)
{
	char *log = NULL;

	er_restore_stderr();
	/* A scenario's small map ends with it. */
	store_tuning_defaults.map_start = STORE_MAP_START;
	store_tuning_defaults.map_max = STORE_MAP_MAX;
	/* A failed scenario's log, cmocka's message at its end, or any with DCV_ENGREP_LOG set. */
	if ((!er_state.passed || getenv("DCV_ENGREP_LOG") != NULL) &&
	    (log = er_slurp(er_state.log)) != NULL)
		fprintf(stderr, "---- %s: log ----\n%s---- end ----\n", (char *)*state, log);
	free(log);
	free(er_state.saved);
	er_state.saved = NULL;
	tu_run("rm -rf '%s'", er_state.dir);
	if (er_state.elsewhere[0] != '\0')
		tu_run("rm -rf '%s'", er_state.elsewhere);
	er_state.elsewhere[0] = '\0';
	return 0;
}

static void er_scenario(void **state)
{
	const char *const *lines = NULL;
	char **steps = NULL;
	size_t n = 0;

	replay_load(*state);
	lines = replay_lines(NULL, &n);
	/* Copied: the steps ask replay_lines() and replay_section() again. */
	steps = calloc(n ? n : 1, sizeof(*steps));
	for (size_t i = 0; i < n; i++) {
		/* @SPOOL@ in a step (a log line that names the spool) is its path too, each time.
		 */
		char *at = NULL;
		steps[i] = strdup(lines[i]);
		while (steps[i] != NULL && (at = strstr(steps[i], "@SPOOL@")) != NULL) {
			char *was = steps[i];
			if (asprintf(&steps[i], "%.*s%s%s", (int)(at - was), was, er_state.spool,
			             at + 7) < 0)
				fail_msg("out of memory");
			free(was);
		}
		assert_non_null(steps[i]);
	}
	for (size_t i = 0; i < n; i++) {
		if (strncmp(steps[i], "expect ", 7) != 0 && strncmp(steps[i], "tsig ", 5) != 0 &&
		    strncmp(steps[i], "zonekey ", 8) != 0) {
			char note[300];
			int len = snprintf(note, sizeof(note), "step: %.280s\n", steps[i]);
			if (write(STDERR_FILENO, note, (size_t)len) < 0)
				fail_msg("cannot write the log");
		}
		er_step(steps[i]);
	}
	if (er_state.eng != NULL)
		er_stop();
	replay_check_script();
	for (size_t i = 0; i < n; i++)
		free(steps[i]);
	free(steps);
	replay_free();
	er_state.passed = true;
}

int main(void)
{
	/* DCV_ENGREP_ONLY=PREFIX runs the scenarios whose file name starts with it. */
	const char *only = getenv("DCV_ENGREP_ONLY");

	return replay_main_dir("engine_replay", "tests/unit/engine/replay", only ? only : "",
	                       er_scenario, er_setup, er_teardown);
}
