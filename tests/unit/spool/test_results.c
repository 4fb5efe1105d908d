/*
 * test_results.c -- SPOOL/results/ (results.h): tokens, dcvd's write into a
 * submitter's folder and what it refuses, the sweep. The oracle is the file
 * system (lstat, readlink, file contents), never the module itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
