/*
 * test_store.c -- the durable job store on a real libuv loop and a real
 * filesystem: a 10,000-record batch (timed; one commit), the order of its
 * flushes and file operations seen by strace(1) (one commit per batch,
 * durable before the status files and moves that depend on it), order of
 * batches, last call wins, status files (linked new, or renamed over the
 * old) and moves, status refreshes (a missing, emptied or older status
 * file rewritten, an equal one left), failures (a commit that fails
 * leaves no status file and no move), leftovers of a crash cleaned at
 * load, a timed load of 50,000 records, modes, and crash safety: a child
 * committing batches is killed with SIGKILL 50 times and every record must
 * come back whole, old or new, never lost, each batch all or nothing.
 *
 * The child processes are this program run again (/proc/self/exe) with
 * --batch-child or --crash-child, so that strace and kill see a process
 * that does only store work.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "store.h"
#include "store_int.h"
#include "testutil.h"
#include "tubatch.h"
#include "tufiles.h"
#include "tustore.h"

static char self_exe[PATH_MAX];

static int setup(void **state)
{
	return tu_dir_setup(state);
}

static int teardown(void **state)
{
	return tu_dir_teardown(state);
}

static void test_open_errors(void **state)
{
	struct dcv_store *st = NULL;
	char missing[600];
	struct dcv_why why;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	snprintf(missing, sizeof(missing), "%s/nope", tu_dir);
	assert_int_equal(dcv_store_open(&loop, missing, &st, &why), DCV_EIO);
	assert_null(st);
	assert_non_null(strstr(why.text, missing));
	assert_non_null(strstr(why.text, "No such file or directory"));
	/* Only state/ is made, never the spool itself. */
	assert_false(exists(missing));

	/* A file where state/ should be. */
	tu_put("state", 0640, "x");
	assert_int_equal(dcv_store_open(&loop, tu_dir, &st, &why), DCV_EIO);
	assert_non_null(strstr(why.text, tu_path("state")));
	unlink(tu_path("state"));
	dcv_store_close(NULL);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Files 0640 and folders 0750 whatever the umask. */
static void test_modes(void **state)
{
	static const mode_t masks[] = {077, 0};
	struct dcv_store_batch *b = NULL;
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record rec, *recs = NULL;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	uv_loop_t loop;
	mode_t old = 0;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	for (size_t i = 0; i < 2; i++) {
		old = umask(masks[i]);
		tu_run("rm -rf '%s/state' '%s/done' '%s/active'", tu_dir, tu_dir, tu_dir);
		st = open_store(&loop);
		assert_int_equal(mode_of(tu_path("state")), 0750);
		mkdir(tu_path("active"), 0750);
		tu_put("active/m.csr", 0600, "csr");
		tu_rec_make(&rec, "m~1", 3, 1, 1);
		b = dcv_store_batch_new(st);
		assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
		assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
		assert_int_equal(dcv_store_batch_move(b, "active/m.csr", "done/m.csr"), DCV_OK);
		if (run_batch(&loop, b, &why) != DCV_OK)
			fail_msg("%s", why.text);
		assert_int_equal(mode_of(tu_path("state/data.mdb")), 0640);
		assert_int_equal(mode_of(tu_path("state/lock.mdb")), 0640);
		assert_int_equal(mode_of(tu_path("done")), 0750);
		assert_int_equal(mode_of(tu_path("done/m.status")), 0640);
		assert_int_equal(dcv_store_load(st, &recs, &n, &errors), DCV_OK);
		assert_int_equal(n, 1);
		tu_expect_n(&errors, 0);
		dcv_job_records_free(recs, n);
		dcv_strv_free(&errors);
		dcv_job_record_free(&rec);
		dcv_store_close(st);
		umask(old);
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- child processes ---- */

#define FIX 100         /* records every crash-test batch rewrites */
#define MAX_GEN 100000u /* generations the crash test can reach */
#define BASE_TIME 1700000000u

static void big_id(char *out, size_t size, size_t i)
{
	snprintf(out, size, "job%06zu~00ff", i);
}

static void fix_id(char *out, size_t size, unsigned i)
{
	snprintf(out, size, "fix-%02u~1", i);
}

static void new_id(char *out, size_t size, uint64_t k)
{
	snprintf(out, size, "new-%06" PRIu64 "~1", k);
}

static void fix_record(struct dcv_job_record *rec, unsigned i, uint64_t gen)
{
	char id[32];

	fix_id(id, sizeof(id), i);
	tu_rec_make(rec, id, gen, gen % 4, 1 + gen % 3);
}

static void new_record(struct dcv_job_record *rec, uint64_t k)
{
	char id[32];

	new_id(id, sizeof(id), k);
	tu_rec_make(rec, id, k, 1, 1);
}

/* Adds n records big_id(first..first+n) to b; false on failure (no cmocka in children). */
static bool add_big(struct dcv_store_batch *b, size_t first, size_t n)
{
	struct dcv_job_record rec;
	char id[32];
	int rc = DCV_OK;

	for (size_t i = first; i < first + n && rc == DCV_OK; i++) {
		big_id(id, sizeof(id), i);
		tu_rec_make(&rec, id, i, 1 + i % 3, 1 + i % 2);
		rc = dcv_store_batch_record(b, &rec);
		dcv_job_record_free(&rec);
	}
	return rc == DCV_OK;
}

/*
 * --batch-child SPOOL N: two batches of N records, each with a status file
 * and a move, for strace to see their flushes and file operations.
 */
static int batch_child(const char *spool, size_t n)
{
	struct dcv_store_batch *b = NULL;
	struct done d = {0, -1, {""}, 0, {NULL, 0, false, 0, {""}}};
	struct dcv_job_record rec;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	uv_loop_t loop;

	if (uv_loop_init(&loop) != 0 || dcv_store_open(&loop, spool, &st, &why) != DCV_OK)
		return 2;
	for (int k = 0; k < 2 && (k == 0 || d.status == DCV_OK); k++) {
		b = dcv_store_batch_new(st);
		tu_rec_make(&rec, k ? "traced~2" : "traced~1", 3, 1, 1);
		snprintf(rec.name, sizeof(rec.name), "%s", k ? "traced2" : "traced1");
		if (b == NULL || !add_big(b, k * n, n) || dcv_store_batch_record(b, &rec) < 0 ||
		    dcv_store_batch_status(b, "done", &rec) < 0 ||
		    dcv_store_batch_move(b, k ? "active/t2.csr" : "active/t1.csr",
		                         k ? "done/t2.csr" : "done/t1.csr") < 0 ||
		    dcv_store_batch_commit(b, on_done, &d) != DCV_OK)
			return 3;
		dcv_job_record_free(&rec);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	dcv_store_close(st);
	uv_loop_close(&loop);
	if (d.status != DCV_OK)
		fprintf(stderr, "batch: %s\n", d.why.text);
	return d.status == DCV_OK ? 0 : 1;
}

/* What crash-test batch gen does: every fix record, one new record, forget an old one. */
static bool crash_ops(struct dcv_store_batch *b, uint64_t gen)
{
	struct dcv_job_record rec;
	char id[32];
	int rc = DCV_OK;

	for (unsigned i = 0; i < FIX && rc == DCV_OK; i++) {
		fix_record(&rec, i, gen);
		rc = dcv_store_batch_record(b, &rec);
		/* One status file too: it must never get ahead of its record. */
		if (i == 0 && rc == DCV_OK)
			rc = dcv_store_batch_status(b, "done", &rec);
		dcv_job_record_free(&rec);
	}
	new_record(&rec, gen);
	if (rc == DCV_OK)
		rc = dcv_store_batch_record(b, &rec);
	dcv_job_record_free(&rec);
	if (gen >= 3) {
		new_id(id, sizeof(id), gen - 3);
		if (rc == DCV_OK)
			rc = dcv_store_batch_forget(b, id);
	}
	return rc == DCV_OK;
}

struct crash_child {
	struct dcv_store *st;
	uint64_t gen;
};

static void crash_commit(struct crash_child *c);

static void crash_done(void *arg, int status, const struct dcv_why *why)
{
	struct crash_child *c = arg;
	char line[32];
	int n = 0;

	if (status != DCV_OK) {
		fprintf(stderr, "crash child: batch %" PRIu64 ": %s\n", c->gen, why->text);
		_exit(1);
	}
	/* The parent learns which generations are complete (durable) from these lines. */
	n = snprintf(line, sizeof(line), "%" PRIu64 "\n", c->gen);
	if (write(STDOUT_FILENO, line, (size_t)n) != n)
		_exit(1);
	c->gen++;
	crash_commit(c);
}

static void crash_commit(struct crash_child *c)
{
	struct dcv_store_batch *b = dcv_store_batch_new(c->st);

	if (b == NULL || !crash_ops(b, c->gen) || dcv_store_batch_commit(b, crash_done, c) != 0)
		_exit(3);
}

/* --crash-child SPOOL GEN: commits batches GEN, GEN+1, ... until killed. */
static int crash_child(const char *spool, uint64_t gen)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL;
	struct crash_child c = {NULL, gen};
	struct dcv_why why;
	uv_loop_t loop;
	size_t n = 0;

	if (uv_loop_init(&loop) != 0 || dcv_store_open(&loop, spool, &c.st, &why) != DCV_OK)
		return 2;
	/* Start like dcvd does: load first (a kill may land here too). */
	if (dcv_store_load(c.st, &recs, &n, &errors) != DCV_OK || errors.n > 0)
		return 4;
	dcv_job_records_free(recs, n);
	crash_commit(&c);
	uv_run(&loop, UV_RUN_DEFAULT);
	return 5;
}

/* ---- tests on the loop ---- */

/* Every big_id record in recs[0..n) equals what add_big() made. */
static void expect_big(const struct dcv_job_record *recs, size_t n, size_t want)
{
	struct dcv_job_record rec;
	char id[32];

	assert_int_equal(n, want);
	for (size_t i = 0; i < n; i++) {
		big_id(id, sizeof(id), i);
		tu_rec_make(&rec, id, i, 1 + i % 3, 1 + i % 2);
		tu_rec_equal(&recs[i], &rec, true);
		dcv_job_record_free(&rec);
	}
}

static void test_batch_10000(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_job_record *recs = NULL;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	uint64_t start = 0;
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	b = dcv_store_batch_new(st);
	start = uv_hrtime();
	assert_true(add_big(b, 0, 10000));
	print_message("batch of 10,000 records: %.1f ms to queue on the loop, ", ms_since(start));
	start = uv_hrtime();
	if (run_batch(&loop, b, &why) != DCV_OK)
		fail_msg("%s", why.text);
	print_message("%.1f ms to commit (one transaction)\n", ms_since(start));
	dcv_store_stats(st, &stats);
	/* One commit for the batch (this test counted 10,000 state/<id>.job files once). */
	assert_int_equal(stats.batches, 1);
	assert_int_equal(stats.commits, 1);
	assert_int_equal(stats.files_written, 0);
	assert_int_equal(stats.fsync_calls, 0);
	assert_int_equal(count_suffix("state", ""), 4); /* ., .., data.mdb, lock.mdb */
	recs = load_clean(st, &n);
	expect_big(recs, n, 10000);
	dcv_job_records_free(recs, n);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * Like dcvd's "visible" batch after a burst: 10,000 jobs, each with its
 * record, its status file in done/ and the move of its CSR from active/.
 */
static void test_visible_10000(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record *recs = NULL;
	struct dcv_store *st = NULL;
	char from[64];
	struct dcv_why why;
	uint64_t start = 0;
	double cpu = 0;
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	for (size_t i = 0; i < 10000; i++) {
		snprintf(from, sizeof(from), "active/job%06zu.csr", i);
		tu_put(from, 0640, "-----BEGIN CERTIFICATE REQUEST-----\n");
	}
	b = dcv_store_batch_new(st);
	add_visible_jobs(b, 10000);
	/* The CSRs came long before: the batch's flush should not be theirs. */
	sync();
	start = uv_hrtime();
	cpu = cpu_ms();
	if (run_batch(&loop, b, &why) != DCV_OK)
		fail_msg("%s", why.text);
	print_message("visible batch of 10,000 jobs (record, status file, move): %.0f ms to "
	              "commit (%.0f ms CPU)\n",
	              ms_since(start), cpu_ms() - cpu);
	assert_int_equal(count_suffix("done", ".status"), 10000);
	assert_int_equal(count_suffix("done", ".csr"), 10000);
	assert_int_equal(count_suffix("active", ".csr"), 0);
	recs = load_clean(st, &n);
	assert_int_equal(n, 10000);
	assert_int_equal(recs[9999].state, DCV_JOB_VISIBLE);
	dcv_job_records_free(recs, n);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * strace(1) watches a child that opens a new store and commits two batches
 * of 10,000 records, each with a status file and a move: each batch is one
 * commit (one fdatasync of data.mdb, then its meta page written through
 * LMDB's O_DSYNC descriptor), no syncfs, and every status file and move of
 * a batch comes after its commit is on disk.
 */
static void test_batch_strace(void **state)
{
	char out[600], spool[600];
	const char *seccomp = "";
	int fdatasyncs = 0, syncfs_calls = 0, early = 0;

	if (system("command -v strace >/dev/null 2>&1") != 0) {
		print_message("strace is not installed: flush order by strace skipped\n");
		skip();
	}
	snprintf(spool, sizeof(spool), "%s", tu_path("traced"));
	snprintf(out, sizeof(out), "%s", tu_path("strace.out"));
	assert_int_equal(mkdir(spool, 0750), 0);
	assert_int_equal(mkdir(tu_path("traced/active"), 0750), 0);
	tu_put("traced/active/t1.csr", 0640, "x");
	tu_put("traced/active/t2.csr", 0640, "x");
	/*
	 * With a seccomp filter strace stops only at the calls it counts (much
	 * faster); older versions lack the option. LeakSanitizer cannot run
	 * under ptrace: the ASan build's child does without it.
	 */
	if (system("strace --seccomp-bpf -f -e trace=none true >/dev/null 2>&1") == 0)
		seccomp = "--seccomp-bpf";
	tu_run("ASAN_OPTIONS=detect_leaks=0 strace %s -f -y -o '%s' -e "
	       "trace=fsync,fdatasync,syncfs,pwrite64,pwritev,write,writev,linkat,renameat,"
	       "renameat2 '%s' --batch-child '%s' 10000",
	       seccomp, out, self_exe, spool);
	fdatasyncs = atoi(tu_run_line("grep -c 'fdatasync(.*data.mdb' '%s' || true", out));
	syncfs_calls = atoi(tu_run_line("grep -c 'syncfs(' '%s' || true", out));
	/*
	 * A commit writes its pages, fdatasync()s them, then writes the meta
	 * page that makes them current: a write after an fdatasync ends a
	 * commit. Count the status links and moves that come while a commit
	 * is still open (or before any).
	 */
	early = atoi(tu_run_line(
	    "awk '/(pwrite64|pwritev|writev?)\\([0-9]+<[^>]*data.mdb>/ { done = synced; synced = 0 "
	    "} "
	    "/fdatasync\\([0-9]+<[^>]*data.mdb>/ { synced = 1 } "
	    "/(linkat|renameat2?)\\(/ && /done/ { if (!done) n++ } END { print n + 0 }' '%s'",
	    out));
	print_message("strace: %d fdatasync of data.mdb, %d syncfs for 2 batches of 10,001 records "
	              "(and the new environment's first commit); %d file operations before their "
	              "commit\n",
	              fdatasyncs, syncfs_calls, early);
	/* The open's load made the new databases: one commit; then one per batch. */
	assert_int_equal(fdatasyncs, 3);
	assert_int_equal(syncfs_calls, 0);
	assert_int_equal(early, 0);
	assert_true(exists(tu_path("traced/done/traced1.status")));
	assert_true(exists(tu_path("traced/done/t2.csr")));
}

/* Batches committed together run one after the other, in order. */
struct order_log {
	int v[8];
	int n;
};

struct ordered {
	struct order_log *log;
	int id;
	struct dcv_store *st;
	struct ordered *then; /* committed from this one's callback */
};

static void on_ordered(void *arg, int status, const struct dcv_why *why)
{
	struct ordered *o = arg;
	struct dcv_job_record rec;
	struct dcv_store_batch *b = NULL;

	assert_int_equal(status, DCV_OK);
	o->log->v[o->log->n++] = o->id;
	if (o->then != NULL) {
		b = dcv_store_batch_new(o->st);
		tu_rec_make(&rec, "same~1", 99, 1, 1);
		assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
		dcv_job_record_free(&rec);
		assert_int_equal(dcv_store_batch_commit(b, on_ordered, o->then), DCV_OK);
	}
}

static void test_order(void **state)
{
	struct order_log log = {{0}, 0};
	struct ordered o[5];
	struct dcv_job_record rec, *recs = NULL;
	struct dcv_store *st = NULL;
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	for (int i = 0; i < 5; i++)
		o[i] = (struct ordered){&log, i, st, i == 3 ? &o[4] : NULL};
	for (int i = 0; i < 4; i++) {
		struct dcv_store_batch *b = dcv_store_batch_new(st);

		/* Big and small batches alternate: a small one must not overtake. */
		if (i % 2 == 0)
			assert_true(add_big(b, 0, 500));
		tu_rec_make(&rec, "same~1", (uint64_t)i + 1, 1, 1);
		assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
		dcv_job_record_free(&rec);
		assert_int_equal(dcv_store_batch_commit(b, on_ordered, &o[i]), DCV_OK);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(log.n, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(log.v[i], i);
	recs = load_clean(st, &n);
	assert_int_equal(n, 501);
	tu_rec_make(&rec, "same~1", 99, 1, 1);
	tu_rec_equal(&recs[500], &rec, true);
	dcv_job_record_free(&rec);
	dcv_job_records_free(recs, n);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Within a batch the last call for an id (or a status file) wins. */
static void test_last_call_wins(void **state)
{
	struct dcv_job_record a, b1, b2, c, *recs = NULL;
	struct dcv_store_batch *b = NULL;
	struct dcv_store *st = NULL;
	unsigned char *text = NULL, *want = NULL;
	size_t n = 0, len = 0, want_len = 0;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	tu_rec_make(&a, "a~1", 1, 1, 1);
	tu_rec_make(&b1, "b~1", 1, 1, 1);
	tu_rec_make(&b2, "b~1", 2, 2, 2);
	tu_rec_make(&c, "c~1", 1, 1, 1);
	/* a is on disk before: record then forget in one batch removes it. */
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_record(b, &a), DCV_OK);
	assert_int_equal(run_batch(&loop, b, NULL), DCV_OK);
	/* (Before logs this looked for state/a~1.job.) */
	recs = load_clean(st, &n);
	assert_int_equal(n, 1);
	tu_rec_equal(&recs[0], &a, true);
	dcv_job_records_free(recs, n);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_record(b, &a), DCV_OK);
	assert_int_equal(dcv_store_batch_forget(b, "a~1"), DCV_OK);
	assert_int_equal(dcv_store_batch_record(b, &b1), DCV_OK);
	assert_int_equal(dcv_store_batch_record(b, &b2), DCV_OK);
	assert_int_equal(dcv_store_batch_forget(b, "c~1"), DCV_OK);
	assert_int_equal(dcv_store_batch_record(b, &c), DCV_OK);
	assert_int_equal(dcv_store_batch_forget(b, "never~1"), DCV_OK);
	assert_int_equal(dcv_store_batch_status(b, "done", &b1), DCV_OK);
	assert_int_equal(dcv_store_batch_status(b, "done", &b2), DCV_OK);
	assert_int_equal(run_batch(&loop, b, NULL), DCV_OK);
	recs = load_clean(st, &n);
	assert_int_equal(n, 2);
	tu_rec_equal(&recs[0], &b2, true);
	tu_rec_equal(&recs[1], &c, true);
	text = slurp(tu_path("done/b.status"), &len);
	assert_int_equal(dcv_job_status_emit(&b2, &want, &want_len), DCV_OK);
	assert_int_equal(len, want_len);
	assert_memory_equal(text, want, len);
	assert_int_equal(count_suffix("done", ".tmp"), 0);
	assert_int_equal(count_suffix("state", ".tmp"), 0);
	free(text);
	free(want);
	dcv_job_records_free(recs, n);
	dcv_job_record_free(&a);
	dcv_job_record_free(&b1);
	dcv_job_record_free(&b2);
	dcv_job_record_free(&c);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_bad_arguments(void **state)
{
	static const char *const bad_paths[] = {"",      "/etc/passwd", "../x", "a/../b", "a//b",
	                                        "a/./b", "a/",          "./a",  "..",     "."};
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record rec;
	struct dcv_store *st = NULL;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	b = dcv_store_batch_new(st);
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		assert_int_equal(dcv_store_batch_move(b, bad_paths[i], "done/x"), DCV_EINVAL);
		assert_int_equal(dcv_store_batch_move(b, "active/x", bad_paths[i]), DCV_EINVAL);
	}
	assert_int_equal(dcv_store_batch_forget(b, ""), DCV_EINVAL);
	assert_int_equal(dcv_store_batch_forget(b, "../x"), DCV_EINVAL);
	assert_int_equal(dcv_store_batch_forget(b, ".x"), DCV_EINVAL);
	tu_rec_make(&rec, "ok~1", 1, 1, 1);
	assert_int_equal(dcv_store_batch_status(b, "a/b", &rec), DCV_EINVAL);
	assert_int_equal(dcv_store_batch_status(b, "..", &rec), DCV_EINVAL);
	assert_int_equal(dcv_store_batch_status(b, "", &rec), DCV_EINVAL);
	strcpy(rec.ext, "exe");
	assert_int_equal(dcv_store_batch_record(b, &rec), DCV_EINVAL);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_EINVAL);
	dcv_job_record_free(&rec);
	/* Never committed: dropped, nothing written. */
	dcv_store_batch_free(b);
	dcv_store_batch_free(NULL);
	assert_int_equal(count_suffix("state", ".job"), 0);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* active/NAME.csr -> done/ with its status file; moves that repeat, moves that cannot be. */
static void test_status_and_moves(void **state)
{
	struct done d;
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record rec;
	struct dcv_store *st = NULL;
	unsigned char *text = NULL, *want = NULL;
	size_t len = 0, want_len = 0;
	struct dcv_why why;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	tu_put("active/web.csr", 0640, "-----BEGIN CERTIFICATE REQUEST-----\n");
	tu_rec_make(&rec, "web~1", 3, 2, 2);
	rec.state = DCV_JOB_VISIBLE;
	for (int round = 0; round < 2; round++) {
		/* The second round repeats the move: source gone, destination there. */
		b = dcv_store_batch_new(st);
		assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
		assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
		assert_int_equal(dcv_store_batch_move(b, "active/web.csr", "done/web.csr"), DCV_OK);
		if (run_batch(&loop, b, &why) != DCV_OK)
			fail_msg("round %d: %s", round, why.text);
		assert_false(exists(tu_path("active/web.csr")));
		text = slurp(tu_path("done/web.csr"), &len);
		assert_int_equal(len, 36);
		free(text);
		text = slurp(tu_path("done/web.status"), &len);
		assert_int_equal(dcv_job_status_emit(&rec, &want, &want_len), DCV_OK);
		assert_int_equal(len, want_len);
		assert_memory_equal(text, want, len);
		assert_non_null(strstr((char *)text, "state: visible\n"));
		free(text);
		free(want);
		assert_int_equal(count_suffix("done", ".tmp"), 0);
	}
	/*
	 * Neither source nor destination: the entry vanished (a submitter
	 * removed it). That is the entry's fault, not the batch's: the batch
	 * succeeds and the move reports vanished, naming the file.
	 */
	b = dcv_store_batch_new(st);
	assert_int_equal(
	    dcv_store_batch_move_tagged(b, "active/gone.csr", "done/gone.csr", NULL, &d), DCV_OK);
	assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
	assert_int_equal(run_batch_faults(&loop, b, &why, &d), DCV_OK);
	assert_int_equal(d.faults, 1);
	assert_true(d.fault.vanished);
	assert_ptr_equal(d.fault.tag, &d);
	assert_non_null(strstr(d.fault.why.text, tu_path("active/gone.csr")));
	/*
	 * A move that fails on its own entry (here: a non-empty directory in
	 * the way of a directory) is a fault too; the batch's other moves go on.
	 */
	assert_int_equal(mkdir(tu_path("active/d.csr"), 0750), 0);
	tu_put("active/ok.csr", 0640, "x");
	assert_int_equal(mkdir(tu_path("done/d.csr"), 0750), 0);
	tu_put("done/d.csr/inside", 0640, "x");
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_move_tagged(b, "active/d.csr", "done/d.csr", NULL, &d),
	                 DCV_OK);
	assert_int_equal(dcv_store_batch_move(b, "active/ok.csr", "done/ok.csr"), DCV_OK);
	assert_int_equal(run_batch_faults(&loop, b, &why, &d), DCV_OK);
	assert_int_equal(d.faults, 1);
	assert_false(d.fault.vanished);
	assert_int_equal(d.fault.status, DCV_EIO);
	assert_int_equal(d.fault.err, EEXIST);
	assert_true(exists(tu_path("done/ok.csr")));
	assert_true(exists(tu_path("active/d.csr")));
	/* A destination that is taken is never replaced: the alternative name is used. */
	tu_put("active/taken.csr", 0640, "new");
	tu_put("done/taken.csr", 0640, "old");
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_move_tagged(b, "active/taken.csr", "done/taken.csr",
	                                             "done/taken~1.csr", NULL),
	                 DCV_OK);
	assert_int_equal(run_batch_faults(&loop, b, &why, &d), DCV_OK);
	assert_int_equal(d.faults, 0);
	text = slurp(tu_path("done/taken.csr"), &len);
	assert_int_equal(len, 3);
	assert_memory_equal(text, "old", 3);
	free(text);
	assert_true(exists(tu_path("done/taken~1.csr")));
	/* A source folder that does not exist is a missing source like any other. */
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_move(b, "nowhere/web.csr", "done/web.csr"), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	/* Into a folder that does not exist yet: it is made (0750). */
	tu_put("active/f.csr", 0640, "x");
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_move(b, "active/f.csr", "failed/f.csr"), DCV_OK);
	rec.state = DCV_JOB_FAILED;
	assert_int_equal(dcv_store_batch_status(b, "failed", &rec), DCV_OK);
	if (run_batch(&loop, b, &why) != DCV_OK)
		fail_msg("%s", why.text);
	assert_true(exists(tu_path("failed/f.csr")));
	assert_true(exists(tu_path("failed/web.status")));
	assert_int_equal(mode_of(tu_path("failed")), 0750);
	dcv_job_record_free(&rec);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The job: value of a status file (the test's own reading: a line scan). */
static bool status_job_is(const char *rel, const char *id)
{
	size_t len = 0;
	unsigned char *text = slurp(tu_path(rel), &len);
	char want[300];
	bool is = false;

	snprintf(want, sizeof(want), "\njob: %s\n", id);
	is = text != NULL && strstr((char *)text, want) != NULL;
	free(text);
	return is;
}

/*
 * NAME submitted twice: the newer job takes done/NAME.*, the older job's
 * files move aside under its id, and its later writes go there.
 */
static void test_archive_names(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record old, young;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	tu_rec_make(&old, "web~1", 1, 1, 1);
	tu_rec_make(&young, "web~2", 1, 1, 1);
	old.state = young.state = DCV_JOB_VISIBLE;
	snprintf(young.ext, sizeof(young.ext), "pem");
	tu_put("active/web.csr", 0640, "old");
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status_arrive(b, "done", &old), DCV_OK);
	assert_int_equal(dcv_store_batch_move_tagged(b, "active/web.csr", "done/web.csr",
	                                             "done/web~1.csr", NULL),
	                 DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	assert_true(status_job_is("done/web.status", "web~1"));
	/* The newer job arrives: web~1's files move aside. */
	tu_put("active/web.pem", 0640, "young");
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status_arrive(b, "done", &young), DCV_OK);
	assert_int_equal(dcv_store_batch_move_tagged(b, "active/web.pem", "done/web.pem",
	                                             "done/web~2.pem", NULL),
	                 DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	assert_true(status_job_is("done/web.status", "web~2"));
	assert_true(status_job_is("done/web~1.status", "web~1"));
	assert_true(exists(tu_path("done/web~1.csr")));
	assert_false(exists(tu_path("done/web.csr")));
	assert_true(exists(tu_path("done/web.pem")));
	/* The older job's later write (withdrawn) goes to its own file. */
	old.state = DCV_JOB_WITHDRAWN;
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &old), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	assert_true(status_job_is("done/web.status", "web~2"));
	assert_true(status_job_is("done/web~1.status", "web~1"));
	dcv_job_record_free(&old);
	dcv_job_record_free(&young);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* What NAME.status in done/ holds is exactly rec's status text. */
static void expect_status(const char *name, const struct dcv_job_record *rec)
{
	unsigned char *text = NULL, *want = NULL;
	size_t len = 0, want_len = 0;
	char rel[64];

	snprintf(rel, sizeof(rel), "done/%s.status", name);
	text = slurp(tu_path(rel), &len);
	assert_int_equal(dcv_job_status_emit(rec, &want, &want_len), DCV_OK);
	assert_int_equal(len, want_len);
	assert_memory_equal(text, want, len);
	free(text);
	free(want);
}

/*
 * The two ways a status file is put in place: a new one is linked from an
 * unnamed file (O_TMPFILE), one that replaces another is written to a
 * temporary and renamed (a link cannot replace), and so is every one where
 * the link cannot work (the store then remembers not to try again). Each
 * way leaves the whole new text, mode 0640, and no temporary behind.
 */
static void test_status_ways(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record rec;
	struct dcv_store *st = NULL;
	struct stat before, after;
	struct dcv_why why;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	tu_rec_make(&rec, "w~1", 3, 1, 1);
	for (int way = 0; way < 2; way++) {
		/* way 1: as where the file system or /proc cannot link. */
		atomic_store(&st->no_tmpfile, way == 1);
		rec.state = DCV_JOB_PUBLISHED;
		snprintf(rec.name, sizeof(rec.name), "w%d", way);
		b = dcv_store_batch_new(st);
		assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
		if (run_batch(&loop, b, &why) != DCV_OK)
			fail_msg("way %d, new: %s", way, why.text);
		expect_status(rec.name, &rec);
		assert_int_equal(mode_of(tu_path(way ? "done/w1.status" : "done/w0.status")), 0640);
		assert_int_equal(stat(tu_path(way ? "done/w1.status" : "done/w0.status"), &before),
		                 0);
		/* The same NAME again, saying something else: replaced whole. */
		rec.state = DCV_JOB_VISIBLE;
		b = dcv_store_batch_new(st);
		assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
		if (run_batch(&loop, b, &why) != DCV_OK)
			fail_msg("way %d, replacing: %s", way, why.text);
		expect_status(rec.name, &rec);
		assert_int_equal(stat(tu_path(way ? "done/w1.status" : "done/w0.status"), &after),
		                 0);
		assert_int_not_equal(after.st_ino, before.st_ino);
		assert_int_equal(count_suffix("done", ".tmp"), 0);
		/* Once it cannot link, the store does not try again. */
		if (way == 1)
			assert_true(atomic_load(&st->no_tmpfile));
		else if (atomic_load(&st->no_tmpfile))
			print_message("%s cannot link unnamed files: both ways were the rename\n",
			              tu_dir);
	}
	/*
	 * done/ deleted under the open store (its folder is held open): it is
	 * made again and the status file written there, and the store does not
	 * take the folder that was gone for a system that cannot link.
	 */
	atomic_store(&st->no_tmpfile, false);
	tu_run("rm -rf '%s/done'", tu_dir);
	snprintf(rec.name, sizeof(rec.name), "gone");
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	if (run_batch(&loop, b, &why) != DCV_OK)
		fail_msg("done/ deleted: %s", why.text);
	expect_status(rec.name, &rec);
	assert_int_equal(mode_of(tu_path("done")), 0750);
	assert_false(atomic_load(&st->no_tmpfile));
	dcv_job_record_free(&rec);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * Status files are not flushed, so at start dcvd hands the store each
 * record's status again as a refresh: written when the file is missing or
 * says anything else (emptied, older), left alone (same inode) when equal.
 */
static void test_status_refresh(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_job_record rec[4];
	struct dcv_store *st = NULL;
	unsigned char *text = NULL, *want = NULL;
	size_t len = 0, want_len = 0;
	char id[16], path[64];
	struct dcv_why why;
	struct stat before, after;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	b = dcv_store_batch_new(st);
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "r%d~1", i);
		tu_rec_make(&rec[i], id, 3, 1, 1);
		rec[i].state = DCV_JOB_VISIBLE;
		assert_int_equal(dcv_store_batch_record(b, &rec[i]), DCV_OK);
		assert_int_equal(dcv_store_batch_status(b, "done", &rec[i]), DCV_OK);
	}
	if (run_batch(&loop, b, &why) != DCV_OK)
		fail_msg("%s", why.text);
	dcv_store_stats(st, &stats);
	/* One commit and four status files, which are not flushed. */
	assert_int_equal(stats.files_written, 4);
	assert_int_equal(stats.commits, 1);
	/* r0 lost, r1 emptied, r2 older than its record, r3 as it should be. */
	assert_int_equal(unlink(tu_path("done/r0.status")), 0);
	tu_put("done/r1.status", 0640, "");
	tu_put("done/r2.status", 0640, "state: active\nstep: publishing\n");
	assert_int_equal(stat(tu_path("done/r3.status"), &before), 0);
	b = dcv_store_batch_new(st);
	for (int i = 0; i < 4; i++)
		assert_int_equal(dcv_store_batch_status_refresh(b, "done", &rec[i]), DCV_OK);
	if (run_batch(&loop, b, &why) != DCV_OK)
		fail_msg("%s", why.text);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.files_written, 4 + 3);
	assert_int_equal(stats.commits, 1);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "done/r%d.status", i);
		text = slurp(tu_path(path), &len);
		assert_int_equal(dcv_job_status_emit(&rec[i], &want, &want_len), DCV_OK);
		assert_int_equal(len, want_len);
		assert_memory_equal(text, want, len);
		free(text);
		free(want);
		dcv_job_record_free(&rec[i]);
	}
	assert_int_equal(stat(tu_path("done/r3.status"), &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(count_suffix("done", ".tmp"), 0);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A failing step stops the batch; what completed stays, temporaries do not. */
static void test_failures(void **state)
{
	struct dcv_job_record a, x, c, *recs = NULL;
	struct dcv_store_batch *b = NULL;
	struct dcv_store *st = NULL;
	struct dcv_store_stats stats;
	struct dcv_why why;
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	tu_rec_make(&a, "a~1", 1, 1, 1);
	tu_rec_make(&x, "x~1", 1, 1, 1);
	tu_rec_make(&c, "c~1", 1, 1, 1);

	/*
	 * The commit fails (a folder sits where data.mdb was): nothing of the
	 * batch is in place, neither its records nor its status file nor its
	 * move, which depend on them.
	 */
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_record(b, &a), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	assert_int_equal(rename(tu_path("state/data.mdb"), tu_path("data.mdb.aside")), 0);
	assert_int_equal(mkdir(tu_path("state/data.mdb"), 0750), 0);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	tu_put("active/c.csr", 0640, "c");
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_record(b, &x), DCV_OK);
	assert_int_equal(dcv_store_batch_record(b, &c), DCV_OK);
	assert_int_equal(dcv_store_batch_status(b, "done", &c), DCV_OK);
	assert_int_equal(dcv_store_batch_move(b, "active/c.csr", "done/c.csr"), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
	assert_non_null(strstr(why.text, tu_path("state/data.mdb")));
	assert_non_null(strstr(why.text, "Is a directory"));
	assert_false(exists(tu_path("done/c.status")));
	assert_true(exists(tu_path("active/c.csr")));
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.commits, 1);
	assert_int_equal(rmdir(tu_path("state/data.mdb")), 0);
	assert_int_equal(rename(tu_path("data.mdb.aside"), tu_path("state/data.mdb")), 0);
	recs = load_clean(st, &n);
	assert_int_equal(n, 1);
	tu_rec_equal(&recs[0], &a, true);
	dcv_job_records_free(recs, n);

	/* The status folder cannot be made: the record stays, the move is not done. */
	tu_put("failed", 0640, "a file, not a folder");
	tu_put("active/x.csr", 0640, "x");
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_record(b, &x), DCV_OK);
	assert_int_equal(dcv_store_batch_status(b, "failed", &x), DCV_OK);
	assert_int_equal(dcv_store_batch_move(b, "active/x.csr", "done/x.csr"), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
	assert_non_null(strstr(why.text, tu_path("failed")));
	assert_non_null(strstr(why.text, "Not a directory"));
	assert_true(exists(tu_path("active/x.csr")));
	recs = load_clean(st, &n);
	assert_int_equal(n, 2);
	tu_rec_equal(&recs[0], &a, true);
	tu_rec_equal(&recs[1], &x, true);
	dcv_job_records_free(recs, n);
	dcv_job_record_free(&a);
	dcv_job_record_free(&x);
	dcv_job_record_free(&c);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * What a crash cut short: status files of a batch stay behind as dot-files
 * in done/ and failed/; a load deletes them and nothing else.
 */
static void test_leftovers(void **state)
{
	struct dcv_job_record *recs = NULL;
	struct dcv_store *st = NULL;
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	tu_put("state/README", 0640, "not a record");
	assert_int_equal(mkdir(tu_path("done"), 0750), 0);
	assert_int_equal(mkdir(tu_path("failed"), 0750), 0);
	tu_put("done/.web.status.tmp", 0640, "half a status");
	tu_put("failed/.x.status.tmp", 0640, "half a status");
	tu_put("done/.web.csr", 0640, "not ours");
	tu_put("done/web.status.tmp", 0640, "not a dot-file");
	recs = load_clean(st, &n);
	assert_int_equal(n, 0);
	assert_false(exists(tu_path("done/.web.status.tmp")));
	assert_false(exists(tu_path("failed/.x.status.tmp")));
	assert_true(exists(tu_path("done/.web.csr")));
	assert_true(exists(tu_path("done/web.status.tmp")));
	assert_true(exists(tu_path("state/README")));
	dcv_job_records_free(recs, n);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_load_50000(void **state)
{
	struct dcv_job_record *recs = NULL;
	struct dcv_store_batch *b = NULL;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	uint64_t start = 0;
	uv_loop_t loop;
	double cpu = 0;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	start = uv_hrtime();
	for (size_t i = 0; i < 5; i++) {
		b = dcv_store_batch_new(st);
		assert_true(add_big(b, i * 10000, 10000));
		if (run_batch(&loop, b, &why) != DCV_OK)
			fail_msg("%s", why.text);
	}
	print_message("50,000 records written in 5 batches: %.0f ms\n", ms_since(start));
	dcv_store_close(st);
	/* The files are in the page cache, as after a restart of dcvd (not a reboot). */
	st = open_store(&loop);
	start = uv_hrtime();
	cpu = cpu_ms();
	recs = load_clean(st, &n);
	print_message("load of 50,000 records: %.0f ms (%.1f us per record; %.0f ms CPU)\n",
	              ms_since(start), ms_since(start) * 1000 / 50000, cpu_ms() - cpu);
	expect_big(recs, n, 50000);
	dcv_job_records_free(recs, n);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* dcv_store_close() with batches pending, and from inside a callback. */
struct closer {
	struct dcv_store *st;
	int calls;
};

static void on_close_in_callback(void *arg, int status, const struct dcv_why *why)
{
	struct closer *c = arg;

	assert_int_equal(status, DCV_OK);
	c->calls++;
	dcv_store_close(c->st);
}

static void test_close(void **state)
{
	struct done d1 = {0, -1, {""}, 0, {NULL, 0, false, 0, {""}}}, d2 = d1;
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record rec;
	struct closer c = {NULL, 0};
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	c.st = open_store(&loop);
	tu_rec_make(&rec, "close~1", 1, 1, 1);
	b = dcv_store_batch_new(c.st);
	assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
	assert_int_equal(dcv_store_batch_commit(b, on_done, &d1), DCV_OK);
	b = dcv_store_batch_new(c.st);
	assert_int_equal(dcv_store_batch_forget(b, "close~1"), DCV_OK);
	assert_int_equal(dcv_store_batch_commit(b, on_done, &d2), DCV_OK);
	dcv_store_close(c.st); /* both still run, then the store goes */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(d1.calls, 1);
	assert_int_equal(d2.calls, 1);
	assert_int_equal(d1.status, DCV_OK);
	assert_int_equal(d2.status, DCV_OK);
	/* (Before logs these looked for state/close~1.job.) */
	assert_int_equal(records_on_disk(&loop), 0);

	c.st = open_store(&loop);
	b = dcv_store_batch_new(c.st);
	assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
	assert_int_equal(dcv_store_batch_commit(b, on_close_in_callback, &c), DCV_OK);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(c.calls, 1);
	assert_int_equal(records_on_disk(&loop), 1);
	dcv_job_record_free(&rec);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- crash safety ---- */

#define NONE UINT64_MAX

/* What state/ holds, as generations: fix[i] for fix-i, new_gen[k] for new-k. */
struct model {
	uint64_t fix[FIX];
	uint64_t status;        /* generation of done/fix-00.status */
	unsigned char *has_new; /* [MAX_GEN] */
};

static void model_init(struct model *m)
{
	for (unsigned i = 0; i < FIX; i++)
		m->fix[i] = NONE;
	m->status = NONE;
	m->has_new = calloc(MAX_GEN, 1);
	assert_non_null(m->has_new);
}

static void model_copy(struct model *dst, const struct model *src)
{
	memcpy(dst->fix, src->fix, sizeof(dst->fix));
	dst->status = src->status;
	memcpy(dst->has_new, src->has_new, MAX_GEN);
}

/* What batch gen does (crash_ops()), applied to the model. */
static void model_apply(struct model *m, uint64_t gen)
{
	assert_true(gen < MAX_GEN);
	for (unsigned i = 0; i < FIX; i++)
		m->fix[i] = gen;
	m->status = gen;
	m->has_new[gen] = 1;
	if (gen >= 3)
		m->has_new[gen - 3] = 0;
}

/*
 * Reads state/ back into a model: every record must be one that some batch
 * wrote, whole (equal, field by field, to what tu_rec_make() makes for its
 * generation).
 */
static void model_load(struct dcv_store *st, struct model *m)
{
	struct dcv_job_record *recs = NULL, want;
	unsigned i = 0;
	uint64_t k = 0, gen = 0;
	size_t n = 0;

	for (i = 0; i < FIX; i++)
		m->fix[i] = NONE;
	memset(m->has_new, 0, MAX_GEN);
	recs = load_clean(st, &n);
	for (size_t r = 0; r < n; r++) {
		gen = recs[r].received - BASE_TIME;
		if (sscanf(recs[r].id, "fix-%u~1", &i) == 1 && i < FIX) {
			fix_record(&want, i, gen);
			m->fix[i] = gen;
		} else if (sscanf(recs[r].id, "new-%" SCNu64 "~1", &k) == 1 && k == gen &&
		           k < MAX_GEN) {
			new_record(&want, k);
			m->has_new[k] = 1;
		} else {
			fail_msg("unexpected record %s", recs[r].id);
		}
		tu_rec_equal(&recs[r], &want, true);
		dcv_job_record_free(&want);
	}
	dcv_job_records_free(recs, n);
}

/*
 * done/fix-00.status is whole, written by batch done_gen or next_gen, and
 * not ahead of the record fix-00 (at record_gen). Returns its generation.
 */
static uint64_t expect_status_whole(uint64_t done_gen, uint64_t next_gen, uint64_t record_gen)
{
	const uint64_t gens[] = {done_gen, next_gen};
	struct dcv_job_record rec;
	unsigned char *text = NULL, *want = NULL;
	size_t len = 0, want_len = 0;
	uint64_t found = NONE;

	text = slurp(tu_path("done/fix-00.status"), &len);
	for (size_t i = 0; i < 2 && found == NONE; i++) {
		fix_record(&rec, 0, gens[i]);
		assert_int_equal(dcv_job_status_emit(&rec, &want, &want_len), DCV_OK);
		if (want_len == len && memcmp(want, text, len) == 0)
			found = gens[i];
		free(want);
		dcv_job_record_free(&rec);
	}
	if (found == NONE) {
		print_message("%.*s\n", (int)len, text);
		fail_msg("done/fix-00.status (above, %zu bytes) is neither generation %" PRIu64
		         " nor %" PRIu64,
		         len, done_gen, next_gen);
	}
	if (found > record_gen)
		fail_msg("done/fix-00.status (generation %" PRIu64
		         ") is ahead of its record (%" PRIu64 ")",
		         found, record_gen);
	free(text);
	return found;
}

/* Starts --crash-child; its stdout (the generations it completed) is *out. */
static pid_t spawn_crash_child(uint64_t gen, int *out)
{
	char gen_text[32];
	int fds[2];
	pid_t pid = 0;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	snprintf(gen_text, sizeof(gen_text), "%" PRIu64, gen);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execl(self_exe, self_exe, "--crash-child", tu_dir, gen_text, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	*out = fds[0];
	return pid;
}

/* Reads completed generations from fd until the deadline (or EOF when wait_eof). */
static void read_generations(int fd, uint64_t deadline_ns, bool wait_eof, uint64_t *last,
                             char *partial, size_t *plen)
{
	struct pollfd p = {fd, POLLIN, 0};
	char buf[4096];
	ssize_t got = 0;

	for (;;) {
		int64_t left = (int64_t)(deadline_ns - uv_hrtime()) / 1000000;

		if (!wait_eof && left <= 0)
			return;
		if (poll(&p, 1, wait_eof ? 10000 : (int)left) <= 0) {
			if (wait_eof)
				fail_msg("the killed child's pipe stays open");
			return;
		}
		got = read(fd, buf, sizeof(buf));
		if (got <= 0)
			return;
		for (ssize_t i = 0; i < got; i++) {
			if (buf[i] != '\n') {
				if (*plen < 31)
					partial[(*plen)++] = buf[i];
				continue;
			}
			partial[*plen] = '\0';
			*last = strtoull(partial, NULL, 10);
			*plen = 0;
		}
	}
}

static void test_crash_safety(void **state)
{
	struct model before, done, next, found;
	struct dcv_store_batch *b = NULL;
	struct dcv_store *st = NULL;
	unsigned batches = 0, gen_before = 0;
	uint64_t seed = tu_mix((uint64_t)time(NULL)), start = 1, last = 0;
	char partial[32];
	size_t plen = 0;
	uv_loop_t loop;
	int status = 0, fd = -1;
	pid_t pid = 0;

	print_message("crash test seed %" PRIu64 "\n", seed);
	assert_int_equal(uv_loop_init(&loop), 0);
	model_init(&before);
	model_init(&done);
	model_init(&next);
	model_init(&found);
	/* Generation 0 written here, complete. */
	st = open_store(&loop);
	b = dcv_store_batch_new(st);
	assert_true(crash_ops(b, 0));
	assert_int_equal(run_batch(&loop, b, NULL), DCV_OK);
	model_apply(&before, 0);
	dcv_store_close(st);

	for (int kill_no = 0; kill_no < 50; kill_no++) {
		seed = tu_mix(seed);
		last = start - 1;
		plen = 0;
		pid = spawn_crash_child(start, &fd);
		/* Anywhere from before the child opened the store to a dozen batches in. */
		read_generations(fd, uv_hrtime() + (seed % 250) * 1000000, false, &last, partial,
		                 &plen);
		/*
		 * On a slow or busy machine (a sanitized build: the child starts
		 * several times slower) the random windows may all end before a
		 * batch completes; the last kill then waits for one, so that
		 * "none lost" is always checked against completed batches.
		 */
		for (uint64_t until = uv_hrtime() + UINT64_C(20000000000);
		     kill_no == 49 && batches == 0 && last < start && uv_hrtime() < until;)
			read_generations(fd, uv_hrtime() + 20000000, false, &last, partial, &plen);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		read_generations(fd, 0, true, &last, partial, &plen);
		close(fd);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("the crash child ended on its own (status %d)", status);

		/* Batches up to last are complete; last + 1 may be anywhere in between. */
		model_copy(&done, &before);
		for (uint64_t g = start; g <= last; g++)
			model_apply(&done, g);
		model_copy(&next, &done);
		model_apply(&next, last + 1);
		st = open_store(&loop);
		model_load(st, &found);
		dcv_store_close(st);

		gen_before = 0;
		for (unsigned i = 0; i < FIX; i++) {
			if (found.fix[i] == NONE)
				fail_msg("kill %d: fix-%02u~1 was lost", kill_no, i);
			if (found.fix[i] != done.fix[i] && found.fix[i] != next.fix[i])
				fail_msg("kill %d: fix-%02u~1 is at generation %" PRIu64
				         ", expected %" PRIu64 " or %" PRIu64,
				         kill_no, i, found.fix[i], done.fix[i], next.fix[i]);
			gen_before += found.fix[i] == done.fix[i];
		}
		/* One transaction per batch: its records are in place all together or not at all.
		 */
		if (gen_before > 0 && gen_before < FIX)
			fail_msg("kill %d: %u fix records at generation %" PRIu64
			         ", %u at %" PRIu64,
			         kill_no, gen_before, done.fix[0], FIX - gen_before, next.fix[0]);
		found.status = expect_status_whole(done.status, next.status, found.fix[0]);
		for (uint64_t k = 0; k < MAX_GEN && k <= last + 1; k++)
			if (found.has_new[k] != done.has_new[k] &&
			    found.has_new[k] != next.has_new[k])
				fail_msg("kill %d: new-%06" PRIu64 "~1 is %s", kill_no, k,
				         found.has_new[k] ? "back" : "lost");
		batches += (unsigned)(last + 1 - start);
		model_copy(&before, &found);
		start = last + 2;
	}
	/* Completed batches must have been seen, or "none lost" would say little. */
	assert_true(batches > 0);
	print_message("crash test: 50 kills, %u batches completed; every record whole, every "
	              "batch all in place or not at all, none lost, none forgotten came back, the "
	              "status file never ahead of its record\n",
	              batches);
	free(before.has_new);
	free(done.has_new);
	free(next.has_new);
	free(found.has_new);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_10000, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_strace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_visible_10000, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_last_call_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_and_moves, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_archive_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_refresh, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leftovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_50000, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_safety, setup, teardown),
	};
	ssize_t n = 0;

	if (argc == 4 && strcmp(argv[1], "--batch-child") == 0)
		return batch_child(argv[2], strtoul(argv[3], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "--crash-child") == 0)
		return crash_child(argv[2], strtoull(argv[3], NULL, 10));
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return 1;
	self_exe[n] = '\0';
	/* DCV_TEST_FILTER=test_visible_10000 runs one test (for measuring). */
	if (getenv("DCV_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("DCV_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
