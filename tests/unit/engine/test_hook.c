/*
 * test_hook.c -- the hook runner on a real loop, with real child processes:
 * small /bin/sh hooks written to a temporary folder at test time.
 *
 * The log is captured by pointing file descriptor 2 at a file in the
 * temporary folder for the whole test (log.c writes to stderr, unbuffered,
 * in its plain format because JOURNAL_STREAM is unset), and the tests read
 * that file back. When a test fails, its teardown puts stderr back and
 * copies the captured text, cmocka's message included, to the real stderr.
 *
 * Waiting is polling with a deadline: the loop runs one turn at a time
 * (a 20 ms tick keeps each turn short) until a condition holds. The hooks
 * themselves are the witnesses of what happened to them: they write their
 * environment, start and end times into files.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "hook.h"
#include "log.h"
#include "tufiles.h"

#define CANARY "canary-3f9a1c-must-not-leak"
/* hook.h: longer output lines are cut to this many bytes. */
#define HOOK_LINE_TEST 1000

static uv_loop_t loop;
static uv_timer_t tick;
static struct dcv_hooks *hooks;
static bool closed, passed;
static int saved_stderr = -1;
static char *logtext;

/* ---- time, loop, log capture ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

static void on_closed(void *arg)
{
	*(bool *)arg = true;
}

static bool is_idle(void *arg)
{
	(void)arg;
	return dcv_hooks_pending(hooks) == 0;
}

static bool is_closed(void *arg)
{
	(void)arg;
	return closed;
}

/* Runs the loop until cond holds; false when max_ms passed first. */
static bool run_until(bool (*cond)(void *), void *arg, uint64_t max_ms)
{
	uint64_t end = now_ms() + max_ms;

	while (!cond(arg)) {
		if (now_ms() >= end)
			return false;
		uv_run(&loop, UV_RUN_ONCE);
	}
	return true;
}

/* The captured log so far (re-read on each call). */
static const char *log_read(void)
{
	unsigned char *buf = NULL;
	size_t len = 0;

	assert_int_equal(dcv_read_file(tu_path("log.txt"), 16 << 20, &buf, &len, NULL), DCV_OK);
	free(logtext);
	logtext = (char *)buf;
	return logtext;
}

/*
 * Calls fn on the message of every log line (the part after "test_hook: ",
 * e.g. "info: job j1: hook: hello"), with its index; stops when fn says so.
 */
static long log_scan(bool (*fn)(const char *msg, size_t len, const void *arg), const void *arg,
                     long *count)
{
	const char *p = log_read();
	long idx = 0, found = -1;

	*count = 0;
	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		const char *msg = strstr(p, " test_hook: ");
		size_t len = 0;

		if (eol == NULL)
			eol = p + strlen(p);
		if (msg != NULL && msg < eol) {
			msg += strlen(" test_hook: ");
			len = (size_t)(eol - msg);
			if (fn(msg, len, arg)) {
				if (found < 0)
					found = idx;
				(*count)++;
			}
			idx++;
		}
		p = *eol != '\0' ? eol + 1 : eol;
	}
	return found;
}

static bool msg_equals(const char *msg, size_t len, const void *arg)
{
	return len == strlen(arg) && memcmp(msg, arg, len) == 0;
}

static bool msg_contains(const char *msg, size_t len, const void *arg)
{
	const char *hit = strstr(msg, arg);

	return hit != NULL && hit + strlen(arg) <= msg + len;
}

/* Lines whose message is exactly msg. */
static long log_exact(const char *msg)
{
	long n = 0;

	log_scan(msg_equals, msg, &n);
	return n;
}

/* Lines whose message contains text. */
static long log_count(const char *text)
{
	long n = 0;

	log_scan(msg_contains, text, &n);
	return n;
}

/* Index of the first line containing text, or -1. */
static long log_first(const char *text)
{
	long n = 0;

	return log_scan(msg_contains, text, &n);
}

#define expect_exact(msg, n)                                                                       \
	do {                                                                                       \
		if (log_exact(msg) != (n))                                                         \
			fail_msg("expected %d log line(s) '%s'", (n), (msg));                      \
	} while (0)
#define expect_count(text, n)                                                                      \
	do {                                                                                       \
		long got_ = log_count(text);                                                       \
		if (got_ != (n))                                                                   \
			fail_msg("%ld log line(s) containing '%s', expected %d", got_, (text),     \
			         (n));                                                             \
	} while (0)

static int setup(void **state)
{
	int fd = -1;

	if (tu_dir_setup(state) != 0)
		return -1;
	closed = passed = false;
	hooks = NULL;
	dcv_log_init("test_hook", DCV_LOG_INFO);
	if (uv_loop_init(&loop) != 0)
		return -1;
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_tick, 20, 20);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	fd = open(tu_path("log.txt"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (saved_stderr < 0 || fd < 0 || dup2(fd, STDERR_FILENO) < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unsigned char *buf = NULL;
	size_t len = 0;

	/* A failed test may leave hooks running: stop them (SIGTERM now, SIGKILL 2 s later). */
	if (hooks != NULL && !closed) {
		dcv_hooks_close(hooks, 0, on_closed, &closed);
		run_until(is_closed, NULL, 10000);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		passed = false;
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	if (!passed && dcv_read_file(tu_path("log.txt"), 16 << 20, &buf, &len, NULL) == 0) {
		fprintf(stderr, "---- captured log ----\n%s---- end ----\n", (char *)buf);
		free(buf);
	}
	free(logtext);
	logtext = NULL;
	tu_dir_teardown(state);
	return 0;
}

/* Closes the hooks with this grace and waits for closed; returns how long it took (ms). */
static uint64_t close_hooks(uint64_t grace_ms)
{
	uint64_t t0 = now_ms();

	dcv_hooks_close(hooks, grace_ms, on_closed, &closed);
	assert_true(run_until(is_closed, NULL, grace_ms + 10000));
	return now_ms() - t0;
}

static void wait_idle(uint64_t max_ms)
{
	if (!run_until(is_idle, NULL, max_ms))
		fail_msg("hooks still pending after %llu ms", (unsigned long long)max_ms);
}

/* A hook script in the temporary folder: "#!/bin/sh" and body. */
static const char *script(const char *name, const char *body)
{
	char text[4096];

	snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
	return tu_put(name, 0755, text);
}

static struct dcv_hook_event event(const char *name, const char *job)
{
	struct dcv_hook_event ev = {
	    .event = name,
	    .job = job,
	    .file = "www.csr",
	    .names = "example.com www.example.com",
	    .records = "_0123.example.com. 300 IN CNAME aa.bb.sectigo.com.\n"
	               "_0123.www.example.com. 300 IN CNAME aa.bb.sectigo.com.",
	    .md5 = "0123456789abcdef0123456789abcdef",
	    .sha256 = "aa11bb22",
	    .error = NULL,
	    .spool = "/var/spool/dcvd",
	};
	return ev;
}

static void run_event(const char *name, const char *job)
{
	struct dcv_hook_event ev = event(name, job);

	assert_int_equal(dcv_hooks_run(hooks, &ev), DCV_OK);
}

/* ---- environment ---- */

/* Reads NUL-separated "NAME=value" entries (env -0) into sv. */
static void read_env(const char *path, struct dcv_strv *sv)
{
	unsigned char *buf = NULL;
	size_t len = 0, off = 0;

	assert_int_equal(dcv_read_file(path, 1 << 20, &buf, &len, NULL), DCV_OK);
	while (off < len) {
		assert_int_equal(dcv_strv_push(sv, (char *)buf + off), DCV_OK);
		off += strlen((char *)buf + off) + 1;
	}
	free(buf);
}

/* Every expected entry present, nothing else but the PWD that dash sets itself. */
static void check_env(const struct dcv_strv *got, const char *const *want, size_t nwant)
{
	char pwd[1024], pwdvar[1100];

	assert_non_null(getcwd(pwd, sizeof(pwd)));
	snprintf(pwdvar, sizeof(pwdvar), "PWD=%s", pwd);
	for (size_t i = 0; i < nwant; i++)
		if (!dcv_strv_contains(got, want[i])) {
			tu_dump("hook environment", got);
			fail_msg("hook environment lacks '%s'", want[i]);
		}
	for (size_t i = 0; i < got->n; i++) {
		bool ok = strcmp(got->v[i], pwdvar) == 0;

		for (size_t j = 0; j < nwant && !ok; j++)
			ok = strcmp(got->v[i], want[j]) == 0;
		if (!ok || strstr(got->v[i], CANARY) != NULL) {
			tu_dump("hook environment", got);
			fail_msg("unexpected variable in the hook environment: '%s'", got->v[i]);
		}
	}
}

static void test_environment(void **state)
{
	char body[1024], path_var[4096];
	struct dcv_strv env = {0};
	struct dcv_hook_event ev = event("failed", "job-env");
	const char *hook = NULL;
	const char *const want_failed[] = {
	    "DCV_EVENT=failed",
	    "DCV_JOB=job-env",
	    "DCV_FILE=www.csr",
	    "DCV_NAMES=example.com www.example.com",
	    ("DCV_RECORDS=_0123.example.com. 300 IN CNAME aa.bb.sectigo.com.\n"
	     "_0123.www.example.com. 300 IN CNAME aa.bb.sectigo.com."),
	    "DCV_MD5=0123456789abcdef0123456789abcdef",
	    "DCV_SHA256=aa11bb22",
	    "DCV_ERROR=no answer from 192.0.2.1@53 after 3 tries",
	    "DCV_SPOOL=/var/spool/dcvd",
	    "PATH=/usr/local/bin:/usr/bin:/bin",
	    "LANG=C.UTF-8",
	};
	const char *const want_visible[] = {
	    "DCV_EVENT=visible",
	    "DCV_JOB=job-env2",
	    "DCV_FILE=www.csr",
	    "DCV_NAMES=",
	    ("DCV_RECORDS=_0123.example.com. 300 IN CNAME aa.bb.sectigo.com.\n"
	     "_0123.www.example.com. 300 IN CNAME aa.bb.sectigo.com."),
	    "DCV_MD5=0123456789abcdef0123456789abcdef",
	    "DCV_SHA256=aa11bb22",
	    "DCV_SPOOL=/var/spool/dcvd",
	    "PATH=/usr/local/bin:/usr/bin:/bin",
	    "LANG=C.UTF-8",
	};

	/* What the daemon's environment holds must not reach the hook. */
	setenv("DCV_SECRET_CANARY", CANARY, 1);
	setenv("DCV_EVENT", "inherited-" CANARY, 1);
	setenv("LANG", "de_DE.UTF-8", 1);
	snprintf(path_var, sizeof(path_var), "/opt/%s/bin:%s", CANARY,
	         getenv("PATH") ? getenv("PATH") : "/usr/bin");
	setenv("PATH", path_var, 1);

	snprintf(body, sizeof(body), "exec /usr/bin/env -0 > \"%s/env-$DCV_JOB\"", tu_dir);
	hook = script("env.sh", body);
	hooks = dcv_hooks_new(&loop, hook, 10000, 2);
	assert_non_null(hooks);
	ev.error = "no answer from 192.0.2.1@53 after 3 tries";
	assert_int_equal(dcv_hooks_run(hooks, &ev), DCV_OK);
	ev = event("visible", "job-env2");
	ev.names = NULL;
	assert_int_equal(dcv_hooks_run(hooks, &ev), DCV_OK);
	wait_idle(10000);

	read_env(tu_path("env-job-env"), &env);
	check_env(&env, want_failed, sizeof(want_failed) / sizeof(want_failed[0]));
	dcv_strv_free(&env);
	read_env(tu_path("env-job-env2"), &env);
	check_env(&env, want_visible, sizeof(want_visible) / sizeof(want_visible[0]));
	dcv_strv_free(&env);
	expect_count("info: job job-env: hook failed finished after ", 1);
	expect_count("info: job job-env2: hook visible finished after ", 1);
	expect_count(CANARY, 0);
	close_hooks(1000);
	unsetenv("DCV_SECRET_CANARY");
	unsetenv("DCV_EVENT");
	passed = true;
}

/* ---- output ---- */

static void test_output_lines(void **state)
{
	char cut[HOOK_LINE_TEST + 64];
	const char *hook = script("out.sh", "echo 'hello out'\n"
	                                    "echo 'oops err' >&2\n"
	                                    "printf 'crlf line\\r\\n'\n"
	                                    "printf 'ctl \\033[31m red\\tend\\n'\n"
	                                    "head -c 1500 /dev/zero | tr '\\0' x; echo\n"
	                                    "head -c 1000 /dev/zero | tr '\\0' y; echo\n"
	                                    "echo '' \n"
	                                    "printf 'no newline at end'\n");

	hooks = dcv_hooks_new(&loop, hook, 10000, 1);
	assert_non_null(hooks);
	run_event("visible", "j-out");
	wait_idle(10000);

	expect_exact("info: job j-out: hook: hello out", 1);
	expect_exact("warning: job j-out: hook: oops err", 1);
	expect_exact("info: job j-out: hook: crlf line", 1);
	/* The hook module turns ESC into ?; the log shows the tab as \x09 (log.c escapes lines). */
	expect_exact("info: job j-out: hook: ctl ?[31m red\\x09end", 1);
	/* 1500 bytes: cut at 1000, marked; exactly 1000: whole, unmarked. */
	snprintf(cut, sizeof(cut), "info: job j-out: hook: %s [cut]", "");
	memset(cut + strlen("info: job j-out: hook: "), 'x', HOOK_LINE_TEST);
	strcpy(cut + strlen("info: job j-out: hook: ") + HOOK_LINE_TEST, " [cut]");
	expect_exact(cut, 1);
	memset(cut + strlen("info: job j-out: hook: "), 'y', HOOK_LINE_TEST);
	cut[strlen("info: job j-out: hook: ") + HOOK_LINE_TEST] = '\0';
	expect_exact(cut, 1);
	expect_exact("info: job j-out: hook: ", 1);
	expect_exact("info: job j-out: hook: no newline at end", 1);
	expect_count("job j-out: hook: ", 8);
	/* The exit status comes after every output line. */
	expect_count("info: job j-out: hook visible finished after ", 1);
	assert_true(log_first("hook visible finished") > log_first("hook: no newline at end"));
	close_hooks(1000);
	passed = true;
}

static void test_output_flood(void **state)
{
	/* 300 + 100 lines, then 2 MB without newline: more than any pipe buffer holds. */
	const char *hook = script(
	    "flood.sh", "i=0\n"
	                "while [ $i -lt 300 ]; do echo \"line $i\"; i=$((i + 1)); done\n"
	                "i=0\n"
	                "while [ $i -lt 100 ]; do echo \"eline $i\" >&2; i=$((i + 1)); done\n"
	                "head -c 2000000 /dev/zero\n"
	                "exit 0");

	hooks = dcv_hooks_new(&loop, hook, 20000, 1);
	assert_non_null(hooks);
	run_event("visible", "j-flood");
	wait_idle(20000);

	expect_count("job j-flood: hook: ", 201);
	expect_exact("info: job j-flood: hook: line 0", 1);
	expect_exact("info: job j-flood: hook: line 199", 1);
	expect_exact("info: job j-flood: hook: line 200", 0);
	expect_count("hook: eline", 0);
	expect_exact("warning: job j-flood: hook: further output dropped", 1);
	/* The hook was never blocked on a full pipe: it finished, nobody killed it. */
	expect_count("info: job j-flood: hook visible finished after ", 1);
	expect_count("SIGTERM", 0);
	close_hooks(1000);
	passed = true;
}

/*
 * A background process started by the hook keeps its stdout open after the
 * hook exited: the run ends anyway, 1 s later, and frees its slot.
 */
static void test_output_held_open(void **state)
{
	char body[512];
	const char *hook = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	long child = 0;
	uint64_t t0 = 0, took = 0;

	snprintf(body, sizeof(body), "sleep 20 &\necho $! > \"%s/bg.pid\"\necho bye", tu_dir);
	hook = script("bg.sh", body);
	hooks = dcv_hooks_new(&loop, hook, 10000, 1);
	assert_non_null(hooks);
	t0 = now_ms();
	run_event("visible", "j-bg");
	wait_idle(10000);
	took = now_ms() - t0;
	assert_int_equal(dcv_read_file(tu_path("bg.pid"), 64, &buf, &len, NULL), DCV_OK);
	child = strtol((char *)buf, NULL, 10);
	free(buf);
	assert_true(child > 1);
	kill((pid_t)child, SIGKILL);

	assert_true(took >= 900);
	assert_true(took < 5000);
	expect_exact("info: job j-bg: hook: bye", 1);
	expect_count("hook visible: output still open 1 s after its exit", 1);
	expect_count("info: job j-bg: hook visible finished after ", 1);
	assert_true(log_first("output still open") < log_first("finished"));
	close_hooks(1000);
	passed = true;
}

/* ---- limits and exit status ---- */

/* True once /proc/PID is gone or a zombie (a container's init may not reap). */
static bool process_gone(void *arg)
{
	char path[64], line[512];
	FILE *f = NULL;
	bool gone = true;
	const char *state = NULL;

	snprintf(path, sizeof(path), "/proc/%ld/stat", *(long *)arg);
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	if (fgets(line, sizeof(line), f) != NULL && (state = strrchr(line, ')')) != NULL)
		gone = state[1] == ' ' && state[2] == 'Z';
	fclose(f);
	return gone;
}

static void test_timeout_sigterm(void **state)
{
	char body[512];
	const char *hook = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	long child = 0;
	uint64_t t0 = 0, took = 0;

	/* A background child too: the whole process group gets the signal. */
	snprintf(body, sizeof(body),
	         "sleep 30 &\necho $! > '%s/bg.pid'\necho started\nsleep 30\necho not reached",
	         tu_dir);
	hook = script("slow.sh", body);
	hooks = dcv_hooks_new(&loop, hook, 300, 1);
	assert_non_null(hooks);
	t0 = now_ms();
	run_event("visible", "j-slow");
	wait_idle(10000);
	took = now_ms() - t0;

	assert_true(took >= 250);
	assert_true(took < 2000); /* SIGTERM sufficed */
	expect_exact("info: job j-slow: hook: started", 1);
	expect_count("hook: not reached", 0);
	expect_count("still running after its time limit of 0.3 s (hook_timeout): sending SIGTERM",
	             1);
	expect_count("warning: job j-slow: hook visible killed by signal 15 (SIGTERM) after", 1);
	expect_count("SIGKILL", 0);
	expect_count("finished", 0);
	assert_int_equal(dcv_read_file(tu_path("bg.pid"), 64, &buf, &len, NULL), DCV_OK);
	child = strtol((char *)buf, NULL, 10);
	free(buf);
	assert_true(child > 1);
	if (!run_until(process_gone, &child, 5000))
		fail_msg("the hook's background child %ld outlived it", child);
	close_hooks(1000);
	passed = true;
}

static void test_timeout_sigkill(void **state)
{
	const char *hook = script("stubborn.sh", "trap 'echo got TERM' TERM\n"
	                                         "echo ready\n"
	                                         "while :; do sleep 0.05; done");
	uint64_t t0 = 0, took = 0;

	hooks = dcv_hooks_new(&loop, hook, 300, 1);
	assert_non_null(hooks);
	t0 = now_ms();
	run_event("withdrawn", "j-stub");
	wait_idle(15000);
	took = now_ms() - t0;

	/* 0.3 s limit, then 2 s until SIGKILL (less a little: the loop time is cached). */
	assert_true(took >= 2250);
	assert_true(took < 6000);
	expect_exact("info: job j-stub: hook: ready", 1);
	expect_exact("info: job j-stub: hook: got TERM", 1);
	expect_count("sending SIGTERM", 1);
	expect_count("still running 2 s after SIGTERM: sending SIGKILL", 1);
	expect_count("warning: job j-stub: hook withdrawn killed by signal 9 (SIGKILL) after", 1);
	assert_true(log_first("sending SIGTERM") < log_first("sending SIGKILL"));
	close_hooks(1000);
	passed = true;
}

static void test_exit_status(void **state)
{
	const char *bad = script("bad.sh", "echo 'CA said no' >&2\nexit 3");
	const char *good = script("good.sh", "exit 0");

	hooks = dcv_hooks_new(&loop, bad, 10000, 1);
	assert_non_null(hooks);
	run_event("visible", "j-bad");
	wait_idle(10000);
	expect_exact("warning: job j-bad: hook: CA said no", 1);
	expect_count("warning: job j-bad: hook visible failed: exit status 3 after ", 1);
	expect_count("finished", 0);

	assert_int_equal(dcv_hooks_configure(hooks, good, 10000), DCV_OK);
	run_event("visible", "j-good");
	wait_idle(10000);
	expect_count("info: job j-good: hook visible finished after ", 1);
	expect_count("job j-good: hook: ", 0);
	close_hooks(1000);
	passed = true;
}

static void test_cannot_run(void **state)
{
	const char *missing = tu_path("no-such-hook");
	const char *noexec = tu_put("noexec.sh", 0644, "#!/bin/sh\nexit 0\n");
	const char *good = script("good.sh", "echo still fine");
	char want[1024];

	hooks = dcv_hooks_new(&loop, missing, 10000, 1);
	assert_non_null(hooks);
	run_event("visible", "j-missing");
	wait_idle(5000);
	snprintf(want, sizeof(want),
	         "error: job j-missing: hook visible: %s cannot be run: no such file or directory",
	         missing);
	expect_exact(want, 1);

	assert_int_equal(dcv_hooks_configure(hooks, noexec, 10000), DCV_OK);
	run_event("failed", "j-noexec");
	wait_idle(5000);
	snprintf(want, sizeof(want),
	         "error: job j-noexec: hook failed: %s cannot be run: permission denied", noexec);
	expect_exact(want, 1);

	/* A folder is no program either. */
	assert_int_equal(dcv_hooks_configure(hooks, tu_dir, 10000), DCV_OK);
	run_event("visible", "j-dir");
	wait_idle(5000);
	expect_count("error: job j-dir: hook visible: ", 1);
	expect_count("finished", 0);
	expect_count("killed", 0);

	/* Nothing was damaged: the next hook runs. */
	assert_int_equal(dcv_hooks_configure(hooks, good, 10000), DCV_OK);
	run_event("visible", "j-after");
	wait_idle(5000);
	expect_exact("info: job j-after: hook: still fine", 1);
	expect_count("info: job j-after: hook visible finished after ", 1);
	close_hooks(1000);
	passed = true;
}

/* ---- parallelism, order, configuration, close ---- */

static void test_parallel_fifo(void **state)
{
	enum { RUNS = 6, PARALLEL = 2 };
	char body[512], job[16], want[64];
	long long start[RUNS], end[RUNS];
	int most = 0;
	const char *hook = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;

	snprintf(body, sizeof(body),
	         "s=$(date +%%s%%N)\nsleep 0.2\ne=$(date +%%s%%N)\n"
	         "echo \"$s $e\" > \"%s/t-$DCV_JOB\"",
	         tu_dir);
	hook = script("timed.sh", body);
	hooks = dcv_hooks_new(&loop, hook, 10000, PARALLEL);
	assert_non_null(hooks);
	dcv_log_init("test_hook", DCV_LOG_DEBUG); /* for the "started" lines */
	for (int i = 0; i < RUNS; i++) {
		snprintf(job, sizeof(job), "p%d", i);
		run_event("visible", job);
	}
	assert_int_equal(dcv_hooks_pending(hooks), RUNS);
	wait_idle(20000);
	assert_int_equal(dcv_hooks_pending(hooks), 0);

	for (int i = 0; i < RUNS; i++) {
		snprintf(job, sizeof(job), "t-p%d", i);
		assert_int_equal(dcv_read_file(tu_path(job), 256, &buf, &len, NULL), DCV_OK);
		assert_int_equal(sscanf((char *)buf, "%lld %lld", &start[i], &end[i]), 2);
		free(buf);
	}
	/* At each start, how many runs are under way (the hooks' own clocks). */
	for (int i = 0; i < RUNS; i++) {
		int n = 0;

		for (int j = 0; j < RUNS; j++)
			n += start[j] <= start[i] && start[i] < end[j];
		most = n > most ? n : most;
	}
	assert_int_equal(most, PARALLEL);
	/* First in, first started: the start lines come in submission order. */
	for (int i = 0; i + 1 < RUNS; i++) {
		char next[64];

		snprintf(want, sizeof(want), "job p%d: hook visible: started ", i);
		snprintf(next, sizeof(next), "job p%d: hook visible: started ", i + 1);
		assert_true(log_first(want) >= 0);
		assert_true(log_first(want) < log_first(next));
	}
	expect_count("hook visible finished after ", RUNS);
	close_hooks(1000);
	passed = true;
}

static void test_no_path_and_configure(void **state)
{
	char body[512];
	const char *a = NULL, *b = NULL;

	snprintf(body, sizeof(body), "echo A > \"%s/ran-$DCV_JOB\"", tu_dir);
	a = script("a.sh", body);
	snprintf(body, sizeof(body), "echo B > \"%s/ran-$DCV_JOB\"", tu_dir);
	b = script("b.sh", body);

	/* No hook: runs are no-ops. */
	hooks = dcv_hooks_new(&loop, NULL, 10000, 1);
	assert_non_null(hooks);
	run_event("visible", "n1");
	assert_int_equal(dcv_hooks_pending(hooks), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	expect_count("hook", 0);

	/* A reload brings one; another changes it; a third removes it. */
	assert_int_equal(dcv_hooks_configure(hooks, a, 10000), DCV_OK);
	run_event("visible", "n2");
	wait_idle(5000);
	assert_string_equal(tu_run_line("cat '%s/ran-n2'", tu_dir), "A");
	assert_int_equal(dcv_hooks_configure(hooks, b, 10000), DCV_OK);
	run_event("visible", "n3");
	wait_idle(5000);
	assert_string_equal(tu_run_line("cat '%s/ran-n3'", tu_dir), "B");
	assert_int_equal(dcv_hooks_configure(hooks, NULL, 10000), DCV_OK);
	run_event("visible", "n4");
	assert_int_equal(dcv_hooks_pending(hooks), 0);
	assert_int_equal(access(tu_path("ran-n4"), F_OK), -1);

	/* A new time limit applies to the next run. */
	a = script("sleepy.sh", "sleep 30");
	assert_int_equal(dcv_hooks_configure(hooks, a, 200), DCV_OK);
	run_event("visible", "n5");
	wait_idle(5000);
	expect_count("job n5: hook visible killed by signal 15 (SIGTERM)", 1);
	expect_count("job n1:", 0);
	expect_count("job n4:", 0);
	close_hooks(1000);

	/* NULL hooks: closed is called at once. */
	closed = false;
	dcv_hooks_close(NULL, 0, on_closed, &closed);
	assert_true(closed);
	passed = true;
}

static void test_close_waits(void **state)
{
	const char *hook = script("short.sh", "sleep 0.3\necho done");
	struct dcv_hook_event ev = event("visible", "late");
	uint64_t took = 0;

	hooks = dcv_hooks_new(&loop, hook, 10000, 1);
	assert_non_null(hooks);
	run_event("visible", "c1");
	run_event("visible", "c2");
	run_event("visible", "c3");
	assert_int_equal(dcv_hooks_pending(hooks), 3);
	dcv_hooks_close(hooks, 10000, on_closed, &closed);
	/* Queued runs are dropped at once, with a line each; new ones are refused. */
	assert_int_equal(dcv_hooks_pending(hooks), 1);
	assert_int_equal(dcv_hooks_run(hooks, &ev), DCV_ECANCELED);
	took = now_ms();
	assert_true(run_until(is_closed, NULL, 10000));
	took = now_ms() - took;
	assert_true(took < 5000);
	expect_exact("info: job c1: hook: done", 1);
	expect_count("info: job c1: hook visible finished after ", 1);
	expect_exact("warning: job c2: hook visible not run: dcvd is stopping", 1);
	expect_exact("warning: job c3: hook visible not run: dcvd is stopping", 1);
	expect_exact("warning: job late: hook visible not run: dcvd is stopping", 1);
	expect_count("SIGTERM", 0);
	passed = true;
}

static bool has_begun(void *arg)
{
	(void)arg;
	return log_count("hook: begun") > 0;
}

static void test_close_kills(void **state)
{
	const char *hook = script("long.sh", "echo begun\nsleep 30");
	uint64_t took = 0;

	hooks = dcv_hooks_new(&loop, hook, 60000, 1);
	assert_non_null(hooks);
	run_event("visible", "k1");
	assert_true(run_until(has_begun, NULL, 5000));
	took = close_hooks(300);
	assert_true(took >= 250);
	assert_true(took < 2000);
	expect_exact("info: job k1: hook: begun", 1);
	expect_count("still running at shutdown: sending SIGTERM", 1);
	expect_count("warning: job k1: hook visible killed by signal 15 (SIGTERM)", 1);
	expect_count("SIGKILL", 0);
	passed = true;
}

/*
 * A run queued behind a running one is dropped when a reload removes the
 * hook before its turn (the hook never runs for it); with hook_timeout 0
 * a run has no time limit.
 */
static void test_configured_away(void **state)
{
	char body[512];
	const char *hook = NULL;

	snprintf(body, sizeof(body), "echo x > \"%s/ran-$DCV_JOB\"\nsleep 0.4", tu_dir);
	hook = script("slow.sh", body);
	hooks = dcv_hooks_new(&loop, hook, 0, 1);
	assert_non_null(hooks);
	run_event("visible", "q1");
	run_event("visible", "q2");
	assert_int_equal(dcv_hooks_pending(hooks), 2);
	assert_int_equal(dcv_hooks_configure(hooks, NULL, 0), DCV_OK);
	wait_idle(5000);
	assert_int_equal(access(tu_path("ran-q1"), F_OK), 0);
	assert_int_equal(access(tu_path("ran-q2"), F_OK), -1);
	expect_count("job q1: hook visible finished after ", 1);
	expect_count("job q2:", 0);
	expect_count("SIGTERM", 0);
	close_hooks(1000);
	passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_flood, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_held_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_sigterm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_sigkill, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exit_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cannot_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parallel_fifo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_path_and_configure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_configured_away, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_waits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_kills, setup, teardown),
	};

	unsetenv("JOURNAL_STREAM");
	dcv_log_init("test_hook", DCV_LOG_INFO);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
