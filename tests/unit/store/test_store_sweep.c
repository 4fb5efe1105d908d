/*
 * test_store_sweep.c -- the retention sweep (retention.h) on a real store:
 * the files of jobs older than keep in done/ and failed/ go with their
 * records, those that hold records or are young stay (files, records and
 * holders); a NAME.* that another job owns is never touched; a file that
 * cannot be deleted (a directory not empty, EACCES as nobody) or a status
 * file that cannot be read keeps its job's record until it can; stale dot-files
 * in incoming/ go, nothing else there; keep 0 deletes no job; a sweep
 * waits for the batches committed before it.
 *
 * Oracles: lstat(2) for the files, mdb_dump(1) for the two databases.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "retention.h"
#include "store.h"
#include "tubatch.h"
#include "tufiles.h"
#include "tustore.h"

#define KEEP 50

static uint64_t now;

static int setup(void **state)
{
	now = (uint64_t)time(NULL);
	return tu_dir_setup(state);
}

static int teardown(void **state)
{
	return tu_dir_teardown(state);
}

/* The keys of a database as mdb_dump prints them (-p: printable), one line. */
static const char *db_keys(const char *db)
{
	return tu_run_line(
	    "mdb_dump -p -s %s '%s/state' | sed -e '1,/^HEADER=END/d' -e '/^DATA=END/,$d' | "
	    "sed -n '1~2p' | sed 's/^ //' | tr '\\n' ' ' | sed 's/ $//'; echo",
	    db, tu_dir);
}

/* A record of state, its times set relative to now (0: unset). */
static void job(struct dcv_job_record *rec, const char *id, enum dcv_job_state state,
                int64_t ago_withdrawn, int64_t ago_failed)
{
	tu_rec_make(rec, id, 2, 1, 1);
	snprintf(rec->ext, sizeof(rec->ext), "csr");
	rec->state = state;
	rec->cleanup = false;
	rec->received = now - 1000;
	rec->published = now - 999;
	rec->visible = state == DCV_JOB_FAILED ? 0 : now - 998;
	rec->withdraw_due = 0;
	rec->withdrawn = ago_withdrawn >= 0 ? now - (uint64_t)ago_withdrawn : 0;
	rec->failed = ago_failed >= 0 ? now - (uint64_t)ago_failed : 0;
	/* Distinct rrs per job: the holders database says who holds what. */
	snprintf(rec->rrs[0].owner, sizeof(rec->rrs[0].owner), "_%.8s.%.*s.example.test.", rec->md5,
	         (int)strcspn(id, "~"), id);
}

/* What dcvd's engine writes when a job arrives in dir: record, status, CSR and sidecar. */
static void arrive(uv_loop_t *loop, struct dcv_store *st, const struct dcv_job_record *rec,
                   const char *dir, bool sidecar)
{
	struct dcv_store_batch *b = dcv_store_batch_new(st);
	char from[100], to[600], alt[600];
	struct dcv_why why;

	snprintf(from, sizeof(from), "active/%.64s.csr", rec->name);
	tu_put(from, 0640, "csr");
	assert_int_equal(dcv_store_batch_record(b, rec), DCV_OK);
	assert_int_equal(dcv_store_batch_status_arrive(b, dir, rec), DCV_OK);
	snprintf(to, sizeof(to), "%s/%s.csr", dir, rec->name);
	snprintf(alt, sizeof(alt), "%s/%s.csr", dir, rec->id);
	assert_int_equal(dcv_store_batch_move_tagged(b, from, to, alt, NULL), DCV_OK);
	if (sidecar) {
		snprintf(from, sizeof(from), "active/%.64s.yaml", rec->name);
		tu_put(from, 0640, "target: sectigo.com\n");
		snprintf(to, sizeof(to), "%s/%s.yaml", dir, rec->name);
		snprintf(alt, sizeof(alt), "%s/%s.yaml", dir, rec->id);
		assert_int_equal(dcv_store_batch_move_tagged(b, from, to, alt, NULL), DCV_OK);
	}
	if (run_batch(loop, b, &why) != DCV_OK)
		fail_msg("%s: %s", rec->id, why.text);
}

/* Runs one sweep batch. */
static int sweep(uv_loop_t *loop, struct dcv_store *st, uint64_t keep, struct dcv_store_sweep *sw)
{
	struct dcv_store_batch *b = dcv_store_batch_new(st);
	struct dcv_why why;

	memset(sw, 0, sizeof(*sw));
	sw->now = now;
	sw->keep = keep;
	sw->dot_age = 86400;
	assert_int_equal(dcv_store_batch_sweep(b, sw), DCV_OK);
	return run_batch(loop, b, &why);
}

static bool there(const char *rel)
{
	return exists(tu_path(rel));
}

static void test_sweep_jobs(void **state)
{
	struct dcv_job_record old, young, vis, cln, fl, twin1, twin2, other;
	struct dcv_store_sweep sw;
	struct dcv_store *st = NULL;
	struct dcv_store_stats stats;
	struct dcv_job_record *recs = NULL;
	size_t n = 0;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	/* Withdrawn longer ago than keep: goes, with its sidecar. */
	job(&old, "old~1", DCV_JOB_WITHDRAWN, KEEP + 50, -1);
	arrive(&loop, st, &old, "done", true);
	/* Withdrawn 10 s ago: stays, and is the next to expire. */
	job(&young, "young~1", DCV_JOB_WITHDRAWN, 10, -1);
	arrive(&loop, st, &young, "done", false);
	/* Visible with withdraw_after 0, received long ago: holds its records, stays. */
	job(&vis, "vis~1", DCV_JOB_VISIBLE, -1, -1);
	vis.received = vis.published = vis.visible = 1000;
	arrive(&loop, st, &vis, "done", false);
	/* Failed long ago, its cleanup not done: holds, stays. */
	job(&cln, "cln~1", DCV_JOB_FAILED, -1, KEEP * 10);
	cln.cleanup = true;
	arrive(&loop, st, &cln, "failed", false);
	/* Failed long ago before publishing: goes, from failed/. */
	job(&fl, "fl~1", DCV_JOB_FAILED, -1, KEEP + 1);
	arrive(&loop, st, &fl, "failed", true);
	/* Two jobs of one NAME: the older, expired, was archived under its id when the newer came.
	 */
	job(&twin1, "twin~1", DCV_JOB_WITHDRAWN, KEEP + 5, -1);
	arrive(&loop, st, &twin1, "done", true);
	job(&twin2, "twin~2", DCV_JOB_VISIBLE, -1, -1);
	twin2.withdraw_due = now + 3600;
	arrive(&loop, st, &twin2, "done", true);
	assert_true(there("done/twin~1.status") && there("done/twin~1.csr") &&
	            there("done/twin~1.yaml") && there("done/twin.status"));
	/* An expired job whose NAME.* another job (one dcvd forgot) owns: only its own go. */
	job(&other, "g~1", DCV_JOB_WITHDRAWN, KEEP + 5, -1);
	arrive(&loop, st, &other, "done", false);
	assert_int_equal(rename(tu_path("done/g.status"), tu_path("done/g~1.status")), 0);
	tu_put("done/g.status", 0640, "state: visible\njob: g~0\n");
	assert_string_equal(db_keys("jobs"), "cln~1 fl~1 g~1 old~1 twin~1 twin~2 vis~1 young~1");

	assert_int_equal(sweep(&loop, st, KEEP, &sw), DCV_OK);
	assert_int_equal(sw.deleted, 4);
	assert_int_equal(sw.deleted_by_state[DCV_JOB_WITHDRAWN], 3);
	assert_int_equal(sw.deleted_by_state[DCV_JOB_FAILED], 1);
	/* old: csr, yaml, status; fl: the same; twin~1: the same; g~1: its status. */
	assert_int_equal(sw.files, 10);
	assert_int_equal(sw.holding, 3); /* vis, cln, twin~2 */
	assert_int_equal(sw.young, 1);
	assert_int_equal(sw.next_expiry, young.withdrawn + KEEP + 1);
	assert_int_equal(sw.errors, 0);
	tu_expect_n(&sw.problems, 0);
	dcv_store_sweep_clear(&sw);

	assert_string_equal(db_keys("jobs"), "cln~1 twin~2 vis~1 young~1");
	assert_false(there("done/old.csr") || there("done/old.yaml") || there("done/old.status"));
	assert_false(there("failed/fl.csr") || there("failed/fl.yaml") ||
	             there("failed/fl.status"));
	assert_false(there("done/twin~1.csr") || there("done/twin~1.yaml") ||
	             there("done/twin~1.status"));
	assert_false(there("done/g~1.status"));
	/* What is not the expired jobs' stays. */
	assert_true(there("done/young.csr") && there("done/young.status"));
	assert_true(there("done/vis.csr") && there("done/vis.status"));
	assert_true(there("failed/cln.csr") && there("failed/cln.status"));
	assert_true(there("done/twin.csr") && there("done/twin.yaml") && there("done/twin.status"));
	assert_true(there("done/g.csr") && there("done/g.status"));
	/* The holders: the jobs that hold records, as before; the store agrees at load. */
	assert_non_null(strstr(db_keys("holders"), "vis.example.test."));
	assert_non_null(strstr(db_keys("holders"), "cln.example.test."));
	assert_non_null(strstr(db_keys("holders"), "twin.example.test."));
	assert_null(strstr(db_keys("holders"), "old.example.test."));
	dcv_store_close(st);
	st = open_store(&loop);
	recs = load_clean(st, &n);
	assert_int_equal(n, 4);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.holders_fixed, 0);
	dcv_job_records_free(recs, n);

	/* Nothing more is old enough: a second sweep deletes nothing and commits nothing. */
	assert_int_equal(sweep(&loop, st, KEEP, &sw), DCV_OK);
	assert_int_equal(sw.deleted, 0);
	assert_int_equal(sw.files, 0);
	dcv_store_sweep_clear(&sw);
	/* keep 0: nothing is deleted, however old. */
	now += 100000;
	assert_int_equal(sweep(&loop, st, 0, &sw), DCV_OK);
	assert_int_equal(sw.deleted, 0);
	assert_string_equal(db_keys("jobs"), "cln~1 twin~2 vis~1 young~1");
	dcv_store_sweep_clear(&sw);
	/* Later, the young one's time has come. */
	assert_int_equal(sweep(&loop, st, KEEP, &sw), DCV_OK);
	assert_int_equal(sw.deleted, 1);
	assert_string_equal(db_keys("jobs"), "cln~1 twin~2 vis~1");
	assert_false(there("done/young.csr"));
	dcv_store_sweep_clear(&sw);
	now -= 100000;

	dcv_job_record_free(&old);
	dcv_job_record_free(&young);
	dcv_job_record_free(&vis);
	dcv_job_record_free(&cln);
	dcv_job_record_free(&fl);
	dcv_job_record_free(&twin1);
	dcv_job_record_free(&twin2);
	dcv_job_record_free(&other);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_sweep_errors(void **state)
{
	struct dcv_job_record stuck, fine;
	struct dcv_store_batch *b = NULL;
	struct dcv_store_sweep sw;
	struct dcv_store *st = NULL;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	job(&stuck, "stuck~1", DCV_JOB_WITHDRAWN, KEEP + 5, -1);
	arrive(&loop, st, &stuck, "done", false);
	job(&fine, "fine~1", DCV_JOB_WITHDRAWN, KEEP + 5, -1);
	arrive(&loop, st, &fine, "done", false);
	/* A directory that is not empty where the job's sidecar would be: it cannot go. */
	assert_int_equal(mkdir(tu_path("done/stuck.yaml"), 0750), 0);
	tu_put("done/stuck.yaml/inside", 0640, "x");
	/* An empty one (a refused entry that was a directory) goes like a file. */
	assert_int_equal(mkdir(tu_path("done/fine~1.der"), 0750), 0);

	assert_int_equal(sweep(&loop, st, KEEP, &sw), DCV_OK);
	assert_int_equal(sw.deleted, 1);
	assert_int_equal(sw.errors, 1);
	tu_expect_n(&sw.problems, 1);
	assert_non_null(strstr(sw.problems.v[0], tu_path("done/stuck.yaml")));
	assert_non_null(strstr(sw.problems.v[0], "Directory not empty"));
	assert_non_null(strstr(sw.problems.v[0], "record is kept"));
	dcv_store_sweep_clear(&sw);
	/* The job keeps its record and its status file (which says whose NAME.* are). */
	assert_string_equal(db_keys("jobs"), "stuck~1");
	assert_true(there("done/stuck.status"));
	assert_false(there("done/stuck.csr"));
	assert_false(there("done/fine.csr") || there("done/fine~1.der"));
	/* Once the obstacle is gone, the next sweep finishes the job. */
	tu_run("rm -r '%s'", tu_path("done/stuck.yaml"));
	assert_int_equal(sweep(&loop, st, KEEP, &sw), DCV_OK);
	assert_int_equal(sw.deleted, 1);
	assert_int_equal(sw.errors, 0);
	assert_string_equal(db_keys("jobs"), "");
	assert_false(there("done/stuck.status"));
	dcv_store_sweep_clear(&sw);

	/* A sweep batch holds nothing else. */
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_forget(b, "x~1"), DCV_OK);
	assert_int_equal(dcv_store_batch_sweep(b, &sw), DCV_EINVAL);
	dcv_store_batch_free(b);
	dcv_job_record_free(&stuck);
	dcv_job_record_free(&fine);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * In a child as nobody (no capabilities): one sweep must report exactly one
 * problem containing want. 0 when it did; otherwise says what it got.
 */
static int sweep_as_nobody(const char *want)
{
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("nogroup");
	struct dcv_store_sweep sw;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	uv_loop_t loop;
	int status = 0, rc = 0;
	pid_t pid = (fflush(NULL), fork());

	assert_true(pid >= 0);
	if (pid == 0) {
		if (pw == NULL || gr == NULL || setgroups(0, NULL) < 0 || setgid(gr->gr_gid) < 0 ||
		    setuid(pw->pw_uid) < 0 || uv_loop_init(&loop) != 0)
			_exit(2);
		if (dcv_store_open(&loop, tu_dir, &st, &why) != DCV_OK) {
			fprintf(stderr, "open as nobody: %s\n", why.text);
			_exit(3);
		}
		rc = sweep(&loop, st, KEEP, &sw);
		/* exit(), not _exit(): a coverage build writes this process's counts too. */
		if (rc == DCV_OK && sw.deleted == 0 && sw.errors == 1 && sw.problems.n == 1 &&
		    strstr(sw.problems.v[0], want) != NULL)
			exit(0);
		fprintf(stderr, "sweep as nobody: %d, deleted %zu, errors %zu: %s\n", rc,
		        sw.deleted, sw.errors, sw.problems.n ? sw.problems.v[0] : "(no problem)");
		exit(1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * EACCES, as a dcvd without the right would meet it: a file of an expired
 * job that cannot be deleted, and a NAME.status that cannot be read (whose
 * NAME.* are is then not known): each is named with its reason, the job
 * keeps its record and its files; root's next sweep deletes them.
 */
static void test_sweep_permission(void **state)
{
	struct dcv_job_record rec;
	struct dcv_store_sweep sw;
	struct dcv_store *st = NULL;
	char want[600];
	uv_loop_t loop;

	(void)state;
	if (geteuid() != 0)
		tu_skip("not root: cannot sweep as another user");
	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	job(&rec, "acc~1", DCV_JOB_WITHDRAWN, KEEP + 5, -1);
	arrive(&loop, st, &rec, "done", false);
	dcv_store_close(st);
	/* The spool and the store are nobody's; done/ and its files root's, readable. */
	tu_run("chown -R nobody:nogroup '%s' && chown -R root:root '%s' && chmod 0755 '%s' && "
	       "chmod 0644 '%s'/*",
	       tu_dir, tu_path("done"), tu_path("done"), tu_path("done"));
	snprintf(want, sizeof(want),
	         "%s: cannot delete it: Permission denied; the job's record is kept",
	         tu_path("done/acc.csr"));
	assert_int_equal(sweep_as_nobody(want), 0);
	assert_string_equal(db_keys("jobs"), "acc~1");
	assert_true(there("done/acc.csr") && there("done/acc.status"));
	/* Its status unreadable: whose done/acc.* are is not known; nothing is deleted. */
	assert_int_equal(chmod(tu_path("done/acc.status"), 0600), 0);
	snprintf(want, sizeof(want),
	         "%s: cannot read it to see whose files it names: Permission denied",
	         tu_path("done/acc.status"));
	assert_int_equal(sweep_as_nobody(want), 0);
	assert_string_equal(db_keys("jobs"), "acc~1");
	assert_true(there("done/acc.csr") && there("done/acc.status"));
	/* Root may: the next sweep deletes both and the record. */
	st = open_store(&loop);
	assert_int_equal(sweep(&loop, st, KEEP, &sw), DCV_OK);
	assert_int_equal(sw.deleted, 1);
	assert_int_equal(sw.errors, 0);
	dcv_store_sweep_clear(&sw);
	assert_string_equal(db_keys("jobs"), "");
	assert_false(there("done/acc.csr") || there("done/acc.status"));
	dcv_job_record_free(&rec);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void age_file(const char *rel, uint64_t secs);

/* A stale dot-file that dcvd may not remove (incoming/ is not its own) is named, and stays. */
static void test_sweep_dot_permission(void **state)
{
	struct dcv_store *st = NULL;
	char want[600];
	uv_loop_t loop;

	(void)state;
	if (geteuid() != 0)
		tu_skip("not root: cannot sweep as another user");
	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	dcv_store_close(st);
	assert_int_equal(mkdir(tu_path("incoming"), 0755), 0);
	tu_put("incoming/.stuck.csr", 0640, "half");
	age_file("incoming/.stuck.csr", 2 * 86400);
	tu_run("chown -R nobody:nogroup '%s' && chown root:root '%s'", tu_dir, tu_path("incoming"));
	snprintf(want, sizeof(want), "%s: cannot remove the stale dot-file: Permission denied",
	         tu_path("incoming/.stuck.csr"));
	assert_int_equal(sweep_as_nobody(want), 0);
	assert_true(there("incoming/.stuck.csr"));
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Sets the mtime (and atime) of a file or link itself to secs ago. */
static void age_file(const char *rel, uint64_t secs)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = (time_t)(now - secs);
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, tu_path(rel), ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_sweep_dotfiles(void **state)
{
	struct dcv_store_sweep sw;
	struct dcv_store *st = NULL;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("incoming"), 0770), 0);
	assert_int_equal(mkdir(tu_path("elsewhere"), 0750), 0);
	tu_put("incoming/.stale.csr", 0640, "half a CSR");
	age_file("incoming/.stale.csr", 2 * 86400);
	tu_put("incoming/.fresh.csr", 0640, "half a CSR");
	age_file("incoming/.fresh.csr", 86400 - 60);
	/* Old, but not dot-files, not regular files, or not in incoming/ itself: they stay. */
	tu_put("incoming/old.csr", 0640, "a CSR waiting for max_jobs");
	age_file("incoming/old.csr", 3 * 86400);
	assert_int_equal(mkdir(tu_path("incoming/.dir"), 0750), 0);
	tu_put("incoming/.dir/.inner", 0640, "x");
	age_file("incoming/.dir/.inner", 3 * 86400);
	age_file("incoming/.dir", 3 * 86400);
	tu_put("elsewhere/target", 0640, "not the spool's");
	age_file("elsewhere/target", 3 * 86400);
	assert_int_equal(symlink(tu_path("elsewhere/target"), tu_path("incoming/.link")), 0);
	age_file("incoming/.link", 3 * 86400);

	assert_int_equal(sweep(&loop, st, 0, &sw), DCV_OK);
	assert_int_equal(sw.dotfiles, 1);
	assert_int_equal(sw.errors, 0);
	tu_expect_n(&sw.notes, 1);
	assert_non_null(strstr(sw.notes.v[0], tu_path("incoming/.stale.csr")));
	assert_non_null(strstr(sw.notes.v[0], "removed"));
	dcv_store_sweep_clear(&sw);
	assert_false(there("incoming/.stale.csr"));
	assert_true(there("incoming/.fresh.csr"));
	assert_true(there("incoming/old.csr"));
	assert_true(there("incoming/.dir/.inner"));
	assert_true(there("incoming/.link"));
	assert_true(there("elsewhere/target"));
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_sweep_waits_for_batches(void **state)
{
	struct dcv_store_batch *b = NULL, *s = NULL;
	struct dcv_job_record rec;
	struct dcv_store_sweep sw;
	struct dcv_store *st = NULL;
	struct done d1, d2;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	/* A batch writes an expired record; the sweep is committed before the loop runs. */
	job(&rec, "late~1", DCV_JOB_WITHDRAWN, KEEP + 5, -1);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
	memset(&sw, 0, sizeof(sw));
	sw.now = now;
	sw.keep = KEEP;
	sw.dot_age = 86400;
	s = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_sweep(s, &sw), DCV_OK);
	memset(&d1, 0, sizeof(d1));
	memset(&d2, 0, sizeof(d2));
	assert_int_equal(dcv_store_batch_commit(b, on_done, &d1), DCV_OK);
	assert_int_equal(dcv_store_batch_commit(s, on_done, &d2), DCV_OK);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(d1.calls, 1);
	assert_int_equal(d2.calls, 1);
	assert_int_equal(d1.status, DCV_OK);
	assert_int_equal(d2.status, DCV_OK);
	/* One after the other: the sweep saw the record and deleted it. */
	assert_int_equal(sw.deleted, 1);
	assert_string_equal(db_keys("jobs"), "");
	dcv_store_sweep_clear(&sw);
	dcv_job_record_free(&rec);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * Folders that are not folders: done/ a file keeps the records of the
 * expired jobs (their files are not known to be gone), named with the
 * reason; incoming/ a file is named too. A NAME.status that is a folder
 * says no job: NAME.* are left, the job's own ID.* go with its record.
 */
static void test_sweep_not_folders(void **state)
{
	struct dcv_job_record a, b;
	struct dcv_store_sweep sw;
	struct dcv_store *st = NULL;
	char want[600];
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	job(&a, "nf~1", DCV_JOB_WITHDRAWN, KEEP + 5, -1);
	arrive(&loop, st, &a, "failed", false);
	dcv_store_close(st);
	tu_put("done", 0640, "not a folder");
	tu_put("incoming", 0640, "not a folder either");
	st = open_store(&loop);
	assert_int_equal(sweep(&loop, st, KEEP, &sw), DCV_OK);
	assert_int_equal(sw.deleted, 0);
	assert_int_equal(sw.errors, 2);
	tu_expect_n(&sw.problems, 2);
	snprintf(want, sizeof(want),
	         "%s: cannot open the folder: Not a directory; the records of the jobs there are "
	         "kept",
	         tu_path("done"));
	assert_string_equal(sw.problems.v[0], want);
	snprintf(want, sizeof(want), "%s: cannot open the folder: Not a directory",
	         tu_path("incoming"));
	assert_string_equal(sw.problems.v[1], want);
	dcv_store_sweep_clear(&sw);
	assert_string_equal(db_keys("jobs"), "nf~1");
	assert_true(there("failed/nf.csr") && there("failed/nf.status"));
	dcv_store_close(st);

	/* done/ back as a folder whose b.status is a folder: b.* stay, b~1.* and the record go. */
	assert_int_equal(unlink(tu_path("done")), 0);
	assert_int_equal(unlink(tu_path("incoming")), 0);
	st = open_store(&loop);
	job(&b, "b~1", DCV_JOB_WITHDRAWN, KEEP + 5, -1);
	arrive(&loop, st, &b, "done", false);
	assert_int_equal(rename(tu_path("done/b.status"), tu_path("done/b~1.status")), 0);
	assert_int_equal(mkdir(tu_path("done/b.status"), 0750), 0);
	assert_int_equal(sweep(&loop, st, KEEP, &sw), DCV_OK);
	assert_int_equal(sw.deleted, 2);
	assert_int_equal(sw.errors, 0);
	dcv_store_sweep_clear(&sw);
	assert_string_equal(db_keys("jobs"), "");
	assert_false(there("done/b~1.status") || there("failed/nf.csr"));
	assert_true(there("done/b.csr") && there("done/b.status"));
	dcv_job_record_free(&a);
	dcv_job_record_free(&b);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * Messages beyond DCV_SWEEP_MESSAGES_MAX are counted, not kept; a dot-file
 * dated in the future is not stale; of two young jobs the earlier expiry
 * is the next.
 */
static void test_sweep_many_messages(void **state)
{
	struct dcv_job_record y1, y2;
	struct dcv_store_sweep sw;
	struct dcv_store *st = NULL;
	char rel[64];
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	assert_int_equal(mkdir(tu_path("incoming"), 0770), 0);
	for (int i = 0; i < DCV_SWEEP_MESSAGES_MAX + 3; i++) {
		snprintf(rel, sizeof(rel), "incoming/.stale%02d.csr", i);
		tu_put(rel, 0640, "half");
		age_file(rel, 2 * 86400);
	}
	tu_put("incoming/.future.csr", 0640, "half");
	{
		struct timespec ts[2] = {{(time_t)now + 3600, 0}, {(time_t)now + 3600, 0}};
		assert_int_equal(utimensat(AT_FDCWD, tu_path("incoming/.future.csr"), ts, 0), 0);
	}
	job(&y1, "y1~1", DCV_JOB_WITHDRAWN, 10, -1);
	arrive(&loop, st, &y1, "done", false);
	job(&y2, "y2~1", DCV_JOB_WITHDRAWN, 20, -1);
	arrive(&loop, st, &y2, "done", false);
	assert_int_equal(sweep(&loop, st, KEEP, &sw), DCV_OK);
	assert_int_equal(sw.dotfiles, DCV_SWEEP_MESSAGES_MAX + 3);
	tu_expect_n(&sw.notes, DCV_SWEEP_MESSAGES_MAX);
	assert_int_equal(sw.messages_dropped, 3);
	assert_int_equal(tu_count_entries(tu_path("incoming")), 1);
	assert_true(there("incoming/.future.csr"));
	assert_int_equal(sw.young, 2);
	assert_int_equal(sw.next_expiry, y2.withdrawn + KEEP + 1);
	dcv_store_sweep_clear(&sw);
	dcv_job_record_free(&y1);
	dcv_job_record_free(&y2);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A store that cannot be read fails the sweep: no record, no file and no dot-file is deleted. */
static void test_sweep_store_unreadable(void **state)
{
	struct dcv_job_record a;
	struct dcv_store_batch *b = NULL;
	struct dcv_store_sweep sw;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	assert_int_equal(mkdir(tu_path("incoming"), 0770), 0);
	tu_put("incoming/.stale.csr", 0640, "half");
	age_file("incoming/.stale.csr", 2 * 86400);
	job(&a, "u~1", DCV_JOB_WITHDRAWN, KEEP + 5, -1);
	arrive(&loop, st, &a, "done", false);
	tu_run("cp '%s' '%s'", tu_path("state/data.mdb"), tu_path("data.mdb.good"));
	tu_run("head -c 8192 /dev/urandom | dd of='%s' conv=notrunc status=none",
	       tu_path("state/data.mdb"));
	b = dcv_store_batch_new(st);
	memset(&sw, 0, sizeof(sw));
	sw.now = now;
	sw.keep = KEEP;
	sw.dot_age = 86400;
	assert_int_equal(dcv_store_batch_sweep(b, &sw), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_ESTATE);
	assert_non_null(strstr(why.text, tu_path("state/data.mdb")));
	assert_non_null(strstr(why.text, "cannot open the job database"));
	assert_int_equal(sw.deleted, 0);
	assert_int_equal(sw.dotfiles, 0);
	dcv_store_sweep_clear(&sw);
	assert_true(there("incoming/.stale.csr") && there("done/u.csr") && there("done/u.status"));
	/* The file back: the record and the files were all kept. */
	assert_int_equal(rename(tu_path("data.mdb.good"), tu_path("state/data.mdb")), 0);
	assert_string_equal(db_keys("jobs"), "u~1");
	dcv_job_record_free(&a);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sweep_jobs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_not_folders, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_many_messages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_store_unreadable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_permission, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_dot_permission, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_dotfiles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_waits_for_batches, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
