/*
 * test_torture_engine_replay.c -- allocations of the daemon's engine failed
 * in turn (failalloc.h) along some scenarios of tests/unit/engine/replay/
 * (test_engine_replay runs them with their expect steps): the real engine,
 * spool and store in a temporary folder, the DNS scripted and the clocks
 * faked by the replay library, whose own allocations never fail. Here the
 * steps run (drop, start, run, run until -- without its deadline --, stop,
 * clock, slow pool, reload, remove) and the expect steps are left out: what
 * counts is the end, the spool's folders and its status files. With an
 * allocation failing, the end must be the unarmed run's, or out of memory
 * must have been said -- in the log or in a status file, as the job's
 * error --, never a different end in silence; the engine must stop when
 * told, with nothing left pending, and ASan must find no crash or leak.
 * A scenario makes a few thousand allocations and each run opens a store
 * (in /dev/shm when it can, where its fsyncs cost nothing), so allocations
 * are sampled: fa_torture_sampled, at most 60 runs each (some 2 s, some
 * 25 s under ASan). FA_EVERY=1 fails every one of them (some 40 s plain):
 * run it after a change to the engine -- the sample once missed a failed
 * growth of the scheduler's heap that lost a job's withdrawal in silence.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dcv/strv.h"
#include "engine.h"
#include "engine_int.h"
#include "engine_replay_shared.h"
#include "failalloc.h"
#include "log.h"
#include "replay.h"
#include "testutil.h"

static struct {
	char dir[64], spool[128], log[128];
	char source[4096];
	struct dcv_engine *eng;
	bool stopped;
} et;

static int et_saved_stderr = -1;

/* The test's stderr back (the engine's log went to a file). */
static void et_restore_stderr(void)
{
	if (et_saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(et_saved_stderr, STDERR_FILENO);
	close(et_saved_stderr);
	et_saved_stderr = -1;
}

/* A file's text into buf (cut at size), "" when it cannot be read; plain stdio, paused. */
static void et_read(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f == NULL)
		return;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static const char *et_job_state(const char *name)
{
	for (const struct dcv_job *j = et.eng ? et.eng->jobs : NULL; j != NULL; j = j->next)
		if (strcmp(j->rec.name, name) == 0)
			return dcv_job_state_name(j->rec.state);
	return "gone";
}

static bool et_cond_true(void *arg)
{
	const struct er_run_step *c = arg;
	static char text[65536];
	char path[4200];

	if (strcmp(c->what, "job") == 0)
		return strcmp(et_job_state(c->a), c->b) == 0;
	if (strcmp(c->what, "sent") == 0)
		return replay_queries(c->a, c->b, c->c) >= c->n;
	snprintf(path, sizeof(path), "%s/%s", et.spool, c->a);
	et_read(path, text, sizeof(text));
	return strstr(text, c->b) != NULL;
}

static void et_stopped(void *arg)
{
	(void)arg;
	et.stopped = true;
}

static bool et_is_stopped(void *arg)
{
	(void)arg;
	return et.stopped;
}

static bool et_is_idle(void *arg)
{
	(void)arg;
	return replay_pending() == 0;
}

/* The configuration of block name with @SPOOL@ replaced (loaded with failures paused). */
static struct dcv_config *et_config(const char *name)
{
	const char *section = replay_section(name);
	char path[256];
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0};
	FILE *f = NULL;

	assert_non_null(section);
	snprintf(path, sizeof(path), "%s/dcvd.yaml", et.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (const char *s = section, *at = NULL;; s = at + 7) {
		if ((at = strstr(s, "@SPOOL@")) == NULL) {
			fputs(s, f);
			break;
		}
		fwrite(s, 1, (size_t)(at - s), f);
		fputs(et.spool, f);
	}
	fclose(f);
	fa_pause(true);
	if (dcv_config_load(path, &cfg, &errors) < 0)
		fail_msg("config: %s", errors.n ? errors.v[0] : "?");
	dcv_strv_free(&errors);
	fa_pause(false);
	return cfg;
}

/* Whether text says out of memory: DCV_ENOMEM's words, or ENOMEM's (strerror). */
static bool et_oom_text(const char *text)
{
	return strstr(text, dcv_strerror(DCV_ENOMEM)) != NULL ||
	       strstr(text, strerror(ENOMEM)) != NULL;
}

/* Whether the engine said it ran out of memory, in its log. */
static bool et_said_oom(void)
{
	static char text[1 << 20];

	et_read(et.log, text, sizeof(text));
	return et_oom_text(text);
}

static void et_start(const char *block, struct fa_result *res)
{
	struct dcv_why why = {""};

	if (et.eng != NULL)
		return;
	if (dcv_engine_new(replay_loop(), et_config(block), &et.eng, &why) < 0) {
		/* "Errors: DCV_EIO with why": an allocation that failed must say so. */
		if (!et_oom_text(why.text)) {
			et_restore_stderr();
			fail_msg("dcv_engine_new: %s (allocation %zu failing: %d)", why.text,
			         fa_count(), fa_fired());
		}
		et.eng = NULL;
		res->rc = DCV_ENOMEM;
		return;
	}
	if (dcv_engine_start(et.eng) < 0)
		res->rc = DCV_ENOMEM;
	et.stopped = false;
}

static void et_stop(void)
{
	if (et.eng == NULL)
		return;
	et.stopped = false;
	dcv_engine_stop(et.eng, et_stopped, NULL);
	replay_run_until(uv_now(replay_loop()) + 10000, et_is_stopped, NULL);
	if (!et.stopped) {
		et_restore_stderr();
		fail_msg("the engine did not stop within 10 s");
	}
	et.eng = NULL;
	replay_run_until(uv_now(replay_loop()) + 60000, et_is_idle, NULL);
	if (replay_pending() > 0) {
		et_restore_stderr();
		fail_msg("%zu events or timers left a minute after the engine stopped",
		         replay_pending());
	}
}

static void et_drop(const char *line)
{
	char file[256] = "", as[16] = "", name[256] = "", from[4600], to[4400];
	static char data[65536];
	FILE *f = NULL;

	assert_true(sscanf(line, "drop %255s %15s %255s", file, as, name) >= 1);
	snprintf(from, sizeof(from), "%s/%s", et.source, file);
	if (strchr(name, '/') != NULL)
		snprintf(to, sizeof(to), "%s/%s", et.spool, name);
	else
		snprintf(to, sizeof(to), "%s/incoming/%s", et.spool, name[0] ? name : file);
	et_read(from, data, sizeof(data));
	f = fopen(to, "w");
	if (f == NULL)
		fail_msg("drop: cannot write %s: %s", to, strerror(errno));
	fputs(data, f);
	fclose(f);
	if (strchr(name, '/') != NULL)
		return;
	snprintf(to, sizeof(to), "%s/incoming", et.spool);
	replay_fs_event(to, name[0] ? name : file);
}

static void et_run(const char *line)
{
	struct er_run_step c;
	uint64_t start = uv_now(replay_loop());

	er_run_step_parse(line, &c);
	/* Not reaching a condition is no failure here: the end state tells. */
	replay_run_until(start + c.ms, c.until ? et_cond_true : NULL, &c);
}

static void et_step(const char *line, struct fa_result *res)
{
	if (strncmp(line, "drop ", 5) == 0)
		et_drop(line);
	else if (strcmp(line, "start engine") == 0)
		et_start("config", res);
	else if (strcmp(line, "start engine with reload") == 0)
		et_start("reload", res);
	else if (strcmp(line, "stop engine") == 0)
		et_stop();
	else if (strncmp(line, "run ", 4) == 0)
		et_run(line);
	else if (strcmp(line, "forget queries") == 0)
		replay_forget_queries();
	else if (strcmp(line, "reload engine") == 0 && et.eng != NULL)
		dcv_engine_reload(et.eng, et_config("reload"));
	else if (strncmp(line, "remove ", 7) == 0) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s", et.spool, line + 7);
		unlink(path);
	} else if (strncmp(line, "slow pool ", 10) == 0)
		replay_work_delay(er_duration(line + 10));
	else if (strncmp(line, "clock ", 6) == 0 && (line[6] == '+' || line[6] == '-'))
		er_clock_step_ms += (line[6] == '-' ? -1 : 1) * (int64_t)er_duration(line + 7);
	else if (strncmp(line, "expect ", 7) != 0 && strncmp(line, "tsig ", 5) != 0 &&
	         strcmp(line, "reload engine") != 0) {
		et_restore_stderr();
		fail_msg("what step is \"%s\"?", line);
	}
}

/*
 * A status file's lines as the end is compared: the times and the job id
 * left out (a step retried after a failed allocation may come a second
 * later, and the id holds the time), and the submitter's name too: without
 * memory for getpwuid_r() it is "#uid" (spool_int.h), the uid stays.
 */
static void et_status_lines(struct fa_result *res, const char *text)
{
	static const char *const skip[] = {"received:",  "published:", "visible:", "withdraw_due:",
	                                   "withdrawn:", "failed:",    "job:"};

	for (const char *line = text; *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		bool keep = true;
		const char *uid = NULL;

		for (size_t k = 0; k < sizeof(skip) / sizeof(skip[0]); k++)
			keep = keep && strncmp(line, skip[k], strlen(skip[k])) != 0;
		if (keep && strncmp(line, "submitter:", 10) == 0 &&
		    (uid = strstr(line, "(uid ")) != NULL && uid < line + len)
			fa_printf(res, "submitter: %.*s|", (int)strcspn(uid, ")") + 1, uid);
		else if (keep)
			fa_printf(res, "%.*s|", (int)len, line);
		line += len + (end != NULL);
	}
}

/* A folder entry's name with a job id's "~HEX" made "~ID". */
static void et_entry_name(struct fa_result *res, const char *name)
{
	const char *tilde = strchr(name, '~');
	size_t hex = tilde != NULL ? strspn(tilde + 1, "0123456789abcdef") : 0;

	if (tilde == NULL || hex == 0)
		fa_printf(res, " %s", name);
	else
		fa_printf(res, " %.*s~ID%s", (int)(tilde - name), name, tilde + 1 + hex);
}

/* The end: every entry of the spool's folders, and the status files' text. */
static void et_digest(struct fa_result *res)
{
	static const char *const dirs[] = {"incoming", "active", "done", "failed"};
	static char text[8192];

	for (size_t d = 0; d < 4; d++) {
		char path[4200];
		struct dirent **ents = NULL;
		int n = 0;

		snprintf(path, sizeof(path), "%s/%s", et.spool, dirs[d]);
		n = scandir(path, &ents, NULL, alphasort);
		fa_printf(res, "%s:", dirs[d]);
		for (int i = 0; i < n; i++) {
			const char *e = ents[i]->d_name;
			size_t len = strlen(e);

			if (e[0] != '.') {
				et_entry_name(res, e);
				if (len > 7 && strcmp(e + len - 7, ".status") == 0) {
					snprintf(path, sizeof(path), "%s/%s/%s", et.spool, dirs[d],
					         e);
					et_read(path, text, sizeof(text));
					fa_printf(res, "{");
					et_status_lines(res, text);
					fa_printf(res, "}");
				}
			}
			free(ents[i]);
		}
		free(ents);
		fa_printf(res, "\n");
	}
}

/* nftw() callback: removes what it is given (no rm -rf: a fork of an ASan process is slow). */
static int et_remove(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void run_engine(void *state, struct fa_result *res)
{
	const char *path = state;
	const char *slash = strrchr(path, '/');
	const char *const *lines = NULL;
	static char steps[64][512];
	size_t n = 0;
	int fd = -1;

	fa_pause(true);
	memset(&et, 0, sizeof(et));
	er_clock_step_ms = 0;
	snprintf(et.source, sizeof(et.source), "%.*s", (int)(slash - path), path);
	/* In memory when it can be: each run's store fsyncs, which costs nothing there. */
	snprintf(et.dir, sizeof(et.dir), "%s/dcv-torture-XXXXXX",
	         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	assert_non_null(mkdtemp(et.dir));
	snprintf(et.spool, sizeof(et.spool), "%s/spool", et.dir);
	snprintf(et.log, sizeof(et.log), "%s/log.txt", et.dir);
	replay_free();
	replay_load(path);
	lines = replay_lines(NULL, &n);
	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++)
		snprintf(steps[i], sizeof(steps[i]), "%s", lines[i]);
	dcv_log_init("dcvd", DCV_LOG_DEBUG);
	fflush(stderr);
	et_saved_stderr = dup(STDERR_FILENO);
	fd = open(et.log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	assert_true(et_saved_stderr >= 0 && fd >= 0 && dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	fa_pause(false);

	res->rc = DCV_OK;
	for (size_t i = 0; i < n && res->rc == DCV_OK; i++)
		et_step(steps[i], res);
	et_stop();
	/* An engine that could not be made closes its handles, and frees itself, on the loop. */
	replay_run_until(uv_now(replay_loop()) + 60000, et_is_idle, NULL);
	if (replay_pending() > 0)
		fail_msg("%zu events or timers left at the end", replay_pending());

	fa_pause(true);
	et_restore_stderr();
	if (res->rc == DCV_OK && fa_fired() && et_said_oom())
		res->rc = DCV_ENOMEM;
	et_digest(res);
	/* Out of memory in a job's error counts as said, too. */
	if (res->rc == DCV_OK && fa_fired() && et_oom_text(res->digest))
		res->rc = DCV_ENOMEM;
	replay_free();
	if (getenv("FA_DUMP") == NULL)
		assert_int_equal(nftw(et.dir, et_remove, 16, FTW_DEPTH | FTW_PHYS), 0);
	fa_pause(false);
}

static void run_scenario(void **state)
{
	const char *path = *state;
	static const int accept[] = {DCV_ENOMEM};

	fa_torture_sampled(strrchr(path, '/') + 1, run_engine, (void *)path, DCV_OK, accept, 1,
	                   getenv("FA_EVERY") != NULL ? 0 : 60);
}

int main(void)
{
	/*
	 * A job's whole life, two jobs sharing a record, a conflict with
	 * another value, a primary that refuses.
	 */
	static const char *const chosen[] = {"lifecycle", "shared.rpl", "conflict", "refused"};
	int rc = 0;

	for (size_t i = 0; i < sizeof(chosen) / sizeof(chosen[0]); i++)
		rc |= replay_main_dir("torture_engine_replay", "tests/unit/engine/replay",
		                      chosen[i], run_scenario, NULL, NULL);
	return rc;
}
