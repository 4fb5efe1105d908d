/*
 * test_results.c -- SPOOL/results/ (results.h): tokens, dcvd's write into a
 * submitter's folder and what it refuses, the sweep. The oracle is the file
 * system (lstat, readlink, file contents), never the module itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "log.h"
#include "results.h"
#include "testutil.h"

/* A folder's secret name, and its token: sha256 -n of the secret's 32 bytes, first 32 digits. */
#define SECRET "00112233445566778899aabbccddeeff"
static char TOKEN[DCV_JOB_TOKEN_LEN + 1];

struct fix {
	char dir[64];
	int fd; /* the results folder */
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/dcv-results-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->fd = open(f->dir, O_RDONLY | O_DIRECTORY);
	*state = f;
	return f->fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	close(f->fd);
	tu_run("rm -rf '%s'", f->dir);
	free(f);
	return 0;
}

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (fp == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void test_tokens(void **state)
{
	char a[DCV_JOB_TOKEN_LEN + 1], b[DCV_JOB_TOKEN_LEN + 1];
	struct dcv_why why = {""};

	(void)state;
	assert_true(dcv_results_token_ok(SECRET));
	/* The token is the secret's SHA-256, cut: openssl, not this module, says which. */
	assert_string_equal(
	    TOKEN, tu_run_line("printf %%s %s | openssl dgst -sha256 -r | cut -c1-32", SECRET));
	assert_int_equal(dcv_results_token_of("../x", a), DCV_EINVAL);
	assert_false(dcv_results_token_ok("00112233445566778899AABBCCDDEEFF"));
	assert_false(dcv_results_token_ok("00112233445566778899aabbccddeef"));
	assert_false(dcv_results_token_ok("../112233445566778899aabbccddeeff"));
	assert_false(dcv_results_token_ok(""));
	assert_false(dcv_results_token_ok(NULL));
	assert_int_equal(dcv_results_token_new(a, &why), DCV_OK);
	assert_int_equal(dcv_results_token_new(b, &why), DCV_OK);
	assert_true(dcv_results_token_ok(a));
	assert_true(dcv_results_token_ok(b));
	assert_string_not_equal(a, b);
}

static void test_put(void **state)
{
	struct fix *f = *state;
	struct dcv_why why = {""};
	char path[256], other[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->dir, SECRET);
	/* No folder: the submitter stopped waiting. Nothing is made. */
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), "job1", (const unsigned char *)"x\n", 2, &why),
	    DCV_ECANCELED);
	assert_int_equal(tu_count_entries(f->dir), 0);
	/* A folder named by the token itself (what a reader of the sidecar knows) is not it. */
	snprintf(other, sizeof(other), "%s/%s", f->dir, TOKEN);
	assert_int_equal(mkdir(other, 0770), 0);
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), "job1", (const unsigned char *)"x\n", 2, &why),
	    DCV_ECANCELED);
	assert_int_equal(tu_count_entries(other), 0);
	assert_int_equal(mkdir(path, 0770), 0);
	assert_int_equal(dcv_results_put(f->fd, TOKEN, getuid(), "job1",
	                                 (const unsigned char *)"state: visible\n", 15, &why),
	                 DCV_OK);
	assert_int_equal(tu_count_entries(other), 0);
	snprintf(path, sizeof(path), "%s/%s/job1.status", f->dir, SECRET);
	assert_string_equal(slurp(path), "state: visible\n");
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* Again: replaced, and no temporary left. */
	assert_int_equal(dcv_results_put(f->fd, TOKEN, getuid(), "job1",
	                                 (const unsigned char *)"state: failed\n", 14, &why),
	                 DCV_OK);
	assert_string_equal(slurp(path), "state: failed\n");
	snprintf(path, sizeof(path), "%s/%s", f->dir, SECRET);
	assert_int_equal(tu_count_entries(path), 1);
	/* Bad tokens and names never reach the file system. */
	assert_int_equal(
	    dcv_results_put(f->fd, "..", getuid(), "job1", (const unsigned char *)"x", 1, &why),
	    DCV_EINVAL);
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), "../job1", (const unsigned char *)"x", 1, &why),
	    DCV_EINVAL);
	assert_null(strstr(why.text, TOKEN));
	assert_null(strstr(why.text, SECRET));
}

/* Someone else's folder: dcvd must not write where the submitter does not own. */
static void test_put_owner(void **state)
{
	struct fix *f = *state;
	struct dcv_why why = {""};
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", f->dir, SECRET);
	assert_int_equal(mkdir(path, 0770), 0);
	assert_int_equal(dcv_results_put(f->fd, TOKEN, getuid() + 1, "job1",
	                                 (const unsigned char *)"x\n", 2, &why),
	                 DCV_EPERM);
	assert_non_null(strstr(why.text, "belongs to uid"));
	assert_null(strstr(why.text, TOKEN));
	assert_int_equal(tu_count_entries(path), 0);
}

/* Planted symlinks: the folder itself, the final name, the temporary name. */
static void test_put_symlinks(void **state)
{
	struct fix *f = *state;
	struct dcv_why why = {""};
	char path[256], target[256], link[320], got[256];
	ssize_t n = 0;

	/* results/<token> -> a folder elsewhere: never followed. */
	snprintf(target, sizeof(target), "%s/elsewhere", f->dir);
	assert_int_equal(mkdir(target, 0770), 0);
	snprintf(path, sizeof(path), "%s/%s", f->dir, SECRET);
	assert_int_equal(symlink("elsewhere", path), 0);
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), "job1", (const unsigned char *)"x\n", 2, &why),
	    DCV_EPERM);
	assert_int_equal(tu_count_entries(target), 0);
	assert_int_equal(unlink(path), 0);
	/* A file where the folder should be. */
	tu_run("touch '%s'", path);
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), "job1", (const unsigned char *)"x\n", 2, &why),
	    DCV_EPERM);
	assert_int_equal(unlink(path), 0);
	/* In a real folder: the final name and the temporary point at a victim file. */
	assert_int_equal(mkdir(path, 0770), 0);
	snprintf(target, sizeof(target), "%s/victim", f->dir);
	tu_run("printf 'keep\\n' > '%s'", target);
	snprintf(link, sizeof(link), "%s/job1.status", path);
	assert_int_equal(symlink(target, link), 0);
	snprintf(link, sizeof(link), "%s/.job1.status.tmp", path);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(dcv_results_put(f->fd, TOKEN, getuid(), "job1",
	                                 (const unsigned char *)"mine\n", 5, &why),
	                 DCV_OK);
	assert_string_equal(slurp(target), "keep\n");
	snprintf(link, sizeof(link), "%s/job1.status", path);
	n = readlink(link, got, sizeof(got));
	assert_true(n < 0 && errno == EINVAL); /* a regular file now, not the symlink */
	assert_string_equal(slurp(link), "mine\n");
	assert_int_equal(tu_count_entries(path), 1);
}

static void set_age(const char *path, time_t seconds_ago)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - seconds_ago;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/*
 * The sweep looks at the later of mtime and ctime, and ctime cannot be set
 * back: so the test sweeps "two days from now" and keeps young entries by
 * a max age of three days.
 */
static void test_sweep(void **state)
{
	struct fix *f = *state;
	struct dcv_results_swept sw;
	char old[256], file[256], sub[256], victim[256], link[256];

	snprintf(old, sizeof(old), "%s/aaaa", f->dir);
	assert_int_equal(mkdir(old, 0770), 0);
	snprintf(file, sizeof(file), "%s/aaaa/x.status", f->dir);
	tu_run("touch '%s'", file);
	snprintf(sub, sizeof(sub), "%s/aaaa/emptysub", f->dir);
	assert_int_equal(mkdir(sub, 0770), 0);
	/* A symlink to a folder of files: removed itself, what it points at stays. */
	snprintf(victim, sizeof(victim), "/tmp/dcv-results-victim-%d", (int)getpid());
	tu_run("rm -rf '%s' && mkdir '%s' && touch '%s/keep'", victim, victim, victim);
	snprintf(link, sizeof(link), "%s/bbbb", f->dir);
	assert_int_equal(symlink(victim, link), 0);
	set_age(old, 3 * 86400);

	dcv_results_sweep(f->fd, time(NULL), 3 * 86400, &sw);
	assert_int_equal(sw.removed, 0);
	assert_int_equal(sw.kept, 2);
	assert_int_equal(tu_count_entries(f->dir), 2);

	dcv_results_sweep(f->fd, time(NULL) + 2 * 86400, DCV_RESULTS_MAX_AGE_S, &sw);
	assert_int_equal(sw.removed, 2);
	assert_int_equal(sw.failed, 0);
	assert_int_equal(tu_count_entries(f->dir), 0);
	assert_int_equal(tu_count_entries(victim), 1);
	tu_run("rm -rf '%s'", victim);
}

/* Names dcvd never passes, and a temporary or final name that is in the way. */
static void test_put_in_the_way(void **state)
{
	struct fix *f = *state;
	struct dcv_why why = {""};
	char path[256], name[DCV_JOB_NAME_MAX + 2];

	snprintf(path, sizeof(path), "%s/%s", f->dir, SECRET);
	assert_int_equal(mkdir(path, 0770), 0);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), name, (const unsigned char *)"x", 1, &why),
	    DCV_EINVAL);
	assert_string_equal(why.text, "the submitter's results folder: unusable token or name");
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), "", (const unsigned char *)"x", 1, &why),
	    DCV_EINVAL);
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), ".job", (const unsigned char *)"x", 1, &why),
	    DCV_EINVAL);
	assert_int_equal(tu_count_entries(path), 0);
	/* A folder at the temporary's name: it is not removed, and nothing is written. */
	snprintf(path, sizeof(path), "%s/%s/.job1.status.tmp", f->dir, SECRET);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), "job1", (const unsigned char *)"x", 1, &why),
	    DCV_EIO);
	assert_string_equal(why.text, "the submitter's results folder: cannot create "
	                              ".job1.status.tmp: File exists");
	assert_int_equal(rmdir(path), 0);
	/* A folder with something in it at the final name: rename fails, the temporary goes. */
	snprintf(path, sizeof(path), "%s/%s/job1.status", f->dir, SECRET);
	assert_int_equal(mkdir(path, 0700), 0);
	tu_run("touch '%s/keep'", path);
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), "job1", (const unsigned char *)"x", 1, &why),
	    DCV_EIO);
	assert_string_equal(why.text,
	                    "the submitter's results folder: rename into place: Is a directory");
	snprintf(path, sizeof(path), "%s/%s", f->dir, SECRET);
	assert_int_equal(tu_count_entries(path), 1);
	assert_null(strstr(why.text, SECRET));
}

/* A write that fails (RLIMIT_FSIZE: EFBIG, as a full disk would fail it): said, no temporary left.
 */
static void test_put_write_fails(void **state)
{
	struct fix *f = *state;
	static unsigned char big[8192];
	struct dcv_why why = {""};
	struct rlimit old, small;
	void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", f->dir, SECRET);
	assert_int_equal(mkdir(path, 0770), 0);
	memset(big, 'x', sizeof(big));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(dcv_results_put(f->fd, TOKEN, getuid(), "job1", big, sizeof(big), &why),
	                 DCV_EIO);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_xfsz);
	assert_string_equal(
	    why.text, "the submitter's results folder: writing .job1.status.tmp: File too large");
	assert_int_equal(tu_count_entries(path), 0);
}

/* As uid 65534: a results folder dcvd may not list, a submitter's folder it may not write. */
static void test_put_denied(void **state)
{
	struct fix *f = *state;
	struct dcv_results_swept sw;
	struct dcv_why why = {""};
	char path[256];

	if (tu_rerun_as_nobody("test_put_denied"))
		return;
	snprintf(path, sizeof(path), "%s/%s", f->dir, SECRET);
	assert_int_equal(mkdir(path, 0500), 0);
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), "job1", (const unsigned char *)"x", 1, &why),
	    DCV_EPERM);
	assert_string_equal(why.text, "the submitter's results folder: cannot create "
	                              ".job1.status.tmp: Permission denied");
	assert_int_equal(tu_count_entries(path), 0);
	/* results/ itself unreadable: no folder can be found, and the sweep says why. */
	assert_int_equal(chmod(f->dir, 0300), 0);
	assert_int_equal(
	    dcv_results_put(f->fd, TOKEN, getuid(), "job1", (const unsigned char *)"x", 1, &why),
	    DCV_EPERM);
	assert_string_equal(why.text, "the submitter's results folder: Permission denied");
	dcv_results_sweep(f->fd, time(NULL) + 2 * 86400, DCV_RESULTS_MAX_AGE_S, &sw);
	assert_int_equal(sw.failed, 1);
	assert_int_equal(sw.removed, 0);
	assert_string_equal(sw.why.text, "cannot list it: Permission denied");
	assert_int_equal(chmod(f->dir, 0700), 0);
	assert_int_equal(chmod(path, 0700), 0);
}

/* What the sweep cannot remove is counted, with the first reason; the rest goes. */
static void test_sweep_failures(void **state)
{
	struct fix *f = *state;
	struct dcv_results_swept sw;
	char path[256];

	/* A subfolder with files in it: one level only, so the folder stays. */
	snprintf(path, sizeof(path), "%s/deep", f->dir);
	assert_int_equal(mkdir(path, 0770), 0);
	tu_run("mkdir '%s/sub' && touch '%s/sub/file' '%s/other'", path, path, path);
	snprintf(path, sizeof(path), "%s/plain", f->dir);
	tu_run("touch '%s'", path);
	dcv_results_sweep(f->fd, time(NULL) + 2 * 86400, DCV_RESULTS_MAX_AGE_S, &sw);
	assert_int_equal(sw.failed, 1);
	assert_int_equal(sw.removed, 1);
	assert_string_equal(sw.why.text, "Directory not empty");
	assert_int_equal(tu_count_entries(f->dir), 1);
	snprintf(path, sizeof(path), "%s/deep", f->dir);
	assert_int_equal(tu_count_entries(path), 1); /* sub, with its file; "other" went */
}

/* As uid 65534: entries of results/ that this user cannot open or remove. */
static void test_sweep_denied(void **state)
{
	struct fix *f = *state;
	struct dcv_results_swept sw;
	char path[256];

	if (tu_rerun_as_nobody("test_sweep_denied"))
		return;
	snprintf(path, sizeof(path), "%s/closed", f->dir);
	assert_int_equal(mkdir(path, 0770), 0);
	tu_run("touch '%s/a' && chmod 000 '%s'", path, path);
	snprintf(path, sizeof(path), "%s/locked", f->dir);
	assert_int_equal(mkdir(path, 0770), 0);
	tu_run("touch '%s/a' && chmod 500 '%s'", path, path);
	dcv_results_sweep(f->fd, time(NULL) + 2 * 86400, DCV_RESULTS_MAX_AGE_S, &sw);
	assert_int_equal(sw.failed, 2);
	assert_int_equal(sw.removed, 0);
	assert_string_equal(sw.why.text, "Permission denied");
	assert_int_equal(tu_count_entries(f->dir), 2);
	/* results/ itself read-only: a plain file in it stays too. */
	tu_run(
	    "chmod 700 '%s/closed' '%s/locked' && rm -rf '%s/closed' '%s/locked' && touch '%s/f' "
	    "&& chmod 500 '%s'",
	    f->dir, f->dir, f->dir, f->dir, f->dir, f->dir);
	dcv_results_sweep(f->fd, time(NULL) + 2 * 86400, DCV_RESULTS_MAX_AGE_S, &sw);
	assert_int_equal(sw.failed, 1);
	assert_string_equal(sw.why.text, "Permission denied");
	assert_int_equal(chmod(f->dir, 0700), 0);
}

/* ---- the loop side: dcv_results_open, _deliver, _start, _close ---- */

static int saved_stderr = -1;
static char logpath[128];

/* log.c writes to stderr: it goes to a file for the test, read back with log_text(). */
static void log_capture(const char *dir)
{
	int fd = -1;

	snprintf(logpath, sizeof(logpath), "%s.log", dir);
	dcv_log_init("test_results", DCV_LOG_DEBUG);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	assert_true(saved_stderr >= 0 && fd >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

/* The log so far (and stderr back when done). */
static char *log_text(bool done)
{
	char *text = slurp(logpath);

	if (done) {
		fflush(stderr);
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		unlink(logpath);
	}
	return text;
}

static void on_closed(void *arg)
{
	*(bool *)arg = true;
}

static void test_open_and_deliver(void **state)
{
	struct fix *f = *state;
	struct dcv_results *r = NULL;
	struct dcv_why why = {""};
	char spool[128], path[256], *text = NULL;
	struct stat st;
	uv_loop_t loop;
	bool closed = false;
	int spool_fd = -1;

	snprintf(spool, sizeof(spool), "%s/spool", f->dir);
	assert_int_equal(mkdir(spool, 0755), 0);
	spool_fd = open(spool, O_RDONLY | O_DIRECTORY);
	assert_true(spool_fd >= 0);
	assert_int_equal(uv_loop_init(&loop), 0);
	log_capture(f->dir);
	/* A file where results/ should be: the folder is named, with the reason. */
	tu_run("touch '%s/results'", spool);
	assert_int_equal(dcv_results_open(&loop, spool_fd, spool, "root", &r, &why), DCV_EIO);
	assert_null(r);
	snprintf(path, sizeof(path), "spool folder %s/results: Not a directory", spool);
	assert_string_equal(why.text, path);
	tu_run("rm '%s/results'", spool);
	/* Made with its mode whatever the umask; no warning then. */
	assert_int_equal(dcv_results_open(&loop, spool_fd, spool, "root", &r, &why), DCV_OK);
	snprintf(path, sizeof(path), "%s/results", spool);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, DCV_RESULTS_MODE);
	dcv_results_start(r);
	/* Delivered into the submitter's folder; a missing folder is said unless quiet. */
	snprintf(path, sizeof(path), "%s/results/%s", spool, SECRET);
	assert_int_equal(mkdir(path, 0770), 0);
	dcv_results_deliver(r, "job~1", TOKEN, getuid(), "job1", (unsigned char *)strdup("one\n"),
	                    4, false);
	dcv_results_deliver(r, "job~2", "00000000000000000000000000000000", getuid(), "job2",
	                    (unsigned char *)strdup("two\n"), 4, false);
	dcv_results_deliver(r, "job~3", "00000000000000000000000000000000", getuid(), "job3",
	                    (unsigned char *)strdup("three\n"), 6, true);
	dcv_results_deliver(r, "job~4", TOKEN, getuid() + 1, "job4",
	                    (unsigned char *)strdup("four\n"), 5, false);
	/* Not a token: dropped at once, nothing queued. */
	dcv_results_deliver(r, "job~5", "../x", getuid(), "job5", (unsigned char *)strdup("x"), 1,
	                    false);
	dcv_results_close(r, on_closed, &closed);
	dcv_results_close(r, on_closed, &closed); /* twice: the second does nothing */
	/* After the close: dropped. */
	dcv_results_deliver(r, "job~6", TOKEN, getuid(), "job6", (unsigned char *)strdup("x"), 1,
	                    false);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	text = log_text(false);
	/* Quiet, dropped or after the close: never logged. */
	assert_null(strstr(text, "job~3"));
	assert_null(strstr(text, "job~5"));
	assert_null(strstr(text, "job~6"));
	assert_null(strstr(text, TOKEN));
	assert_null(strstr(text, SECRET));
	assert_null(strstr(text, "mode"));
	/*
	 * Which of the first four ran before the close is the pool's business;
	 * what ran is whole: job1.status holds all of its text or is not
	 * there, no temporary is left, and nothing is written for another uid.
	 */
	snprintf(path, sizeof(path), "%s/results/%s/job1.status", spool, SECRET);
	text = slurp(path);
	assert_true(text == NULL || strcmp(text, "one\n") == 0);
	snprintf(path, sizeof(path), "%s/results/%s", spool, SECRET);
	assert_true(tu_count_entries(path) <= 1);
	snprintf(path, sizeof(path), "%s/results/%s/job6.status", spool, SECRET);
	assert_null(slurp(path));
	log_text(true);
	close(spool_fd);
}

/* Every delivery runs when nothing closes early; an existing results/ with another mode is said. */
static void test_deliver_logged(void **state)
{
	struct fix *f = *state;
	struct dcv_results *r = NULL;
	struct dcv_why why = {""};
	char spool[128], path[256], want[512], *text = NULL;
	struct stat st;
	uv_loop_t loop;
	bool closed = false;
	int spool_fd = -1;

	snprintf(spool, sizeof(spool), "%s/spool", f->dir);
	tu_run("mkdir -p '%s/results' && chmod 0755 '%s/results'", spool, spool);
	spool_fd = open(spool, O_RDONLY | O_DIRECTORY);
	assert_true(spool_fd >= 0);
	assert_int_equal(uv_loop_init(&loop), 0);
	log_capture(f->dir);
	/* dcv-submit: no such group here, or another gid; "root" is gid 0 on every host. */
	tu_run("chgrp 1 '%s/results' 2>/dev/null || true", spool);
	assert_int_equal(dcv_results_open(&loop, spool_fd, spool, "root", &r, &why), DCV_OK);
	snprintf(path, sizeof(path), "%s/results/%s", spool, SECRET);
	assert_int_equal(mkdir(path, 0770), 0);
	dcv_results_deliver(r, "job~1", TOKEN, getuid(), "job1", (unsigned char *)strdup("one\n"),
	                    4, false);
	dcv_results_deliver(r, "job~2", "00000000000000000000000000000000", getuid(), "job2",
	                    (unsigned char *)strdup("two\n"), 4, false);
	dcv_results_deliver(r, "job~3", "00000000000000000000000000000000", getuid(), "job3",
	                    (unsigned char *)strdup("three\n"), 6, true);
	dcv_results_deliver(r, "job~4", TOKEN, getuid() + 1, "job4",
	                    (unsigned char *)strdup("four\n"), 5, false);
	/* Until all four are done (the pool runs them in any order). */
	for (int i = 0; i < 500; i++) {
		text = log_text(false);
		if (text != NULL && strstr(text, "job~4") != NULL &&
		    strstr(text, "job~2") != NULL && strstr(text, "job~1") != NULL)
			break;
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	dcv_results_close(r, on_closed, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	text = log_text(false);
	snprintf(want, sizeof(want),
	         "spool %s/results: mode 755, expected 3730 (see dcvd.tmpfiles); others can list "
	         "it, and so find every submitter's results folder; the group cannot make results "
	         "folders; submitters can remove each other's folders",
	         spool);
	assert_non_null(strstr(text, want));
	snprintf(path, sizeof(path), "%s/results", spool);
	if (stat(path, &st) == 0 && st.st_gid == 1) {
		snprintf(want, sizeof(want),
		         "spool %s/results: group gid 1, expected root (gid 0; see dcvd.tmpfiles); "
		         "its members cannot wait for results",
		         spool);
		assert_non_null(strstr(text, want));
	}
	assert_non_null(strstr(text, "job job~1: status given to its submitter"));
	assert_non_null(strstr(text, "job job~2: its submitter no longer waits for the result (no "
	                             "results folder); the status stays in the spool"));
	assert_null(strstr(text, "job~3"));
	assert_non_null(strstr(text,
	                       "job job~4: status not given to its submitter: the submitter's "
	                       "results folder belongs to uid"));
	assert_null(strstr(text, TOKEN));
	assert_null(strstr(text, SECRET));
	snprintf(path, sizeof(path), "%s/results/%s/job1.status", spool, SECRET);
	assert_string_equal(slurp(path), "one\n");
	log_text(true);
	close(spool_fd);
}

int main(void)
{
	if (dcv_results_token_of(SECRET, TOKEN) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tokens),
	    cmocka_unit_test_setup_teardown(test_put, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_symlinks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_in_the_way, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_denied, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_write_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_denied, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_and_deliver, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_logged, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
