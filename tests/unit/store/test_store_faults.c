/*
 * test_store_faults.c -- the job store's failures that store.h promises to
 * name (docs/decisions.md, "The job store on LMDB"): a spool, state/ or
 * data.mdb dcvd may not write (run as uid 65534, since root may write
 * anything), a reader without write access to lock.mdb, a data.mdb damaged
 * under a running store, damaged records whose keys are no ids, a batch
 * over a damaged record; and what is not refused: names that only look like
 * job logs of the old format, leftovers of status files that are not
 * regular files. Each failure must give its code and a message naming the
 * file and the reason, and lose nothing: the records are read back through
 * LMDB (mdb_dump's view) or a new store's load afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>
#include <uv.h>

#include "retention.h"
#include "store.h"
#include "store_int.h"
#include "tubatch.h"
#include "tufiles.h"
#include "tustore.h"

static int setup(void **state)
{
	return tu_dir_setup(state);
}

static int teardown(void **state)
{
	/* Whatever a test left read-only, the teardown must be able to remove. */
	if (tu_dir[0] != '\0')
		tu_run("chmod -R u+rwX '%s'", tu_dir);
	return tu_dir_teardown(state);
}

/* One batch writing the records f000~1 .. f<n-1>~1 at generation gen. */
static int write_recs(uv_loop_t *loop, struct dcv_store *st, unsigned n, uint64_t gen,
                      struct dcv_why *why)
{
	struct dcv_store_batch *b = dcv_store_batch_new(st);
	char id[32];

	for (unsigned u = 0; u < n; u++) {
		struct dcv_job_record rec;

		snprintf(id, sizeof(id), "f%03u~1", u);
		tu_rec_make(&rec, id, gen, 1, 1);
		assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
		dcv_job_record_free(&rec);
	}
	return run_batch(loop, b, why);
}

/* The records a new store loads from tu_dir must be f000~1 .. f<n-1>~1 of generation gen. */
static void expect_recs(uv_loop_t *loop, unsigned n, uint64_t gen)
{
	struct dcv_store *st = open_store(loop);
	struct dcv_job_record *recs = NULL;
	size_t got = 0;
	char id[32];

	recs = load_clean(st, &got);
	assert_int_equal(got, n);
	for (unsigned u = 0; u < n; u++) {
		struct dcv_job_record want;

		snprintf(id, sizeof(id), "f%03u~1", u);
		tu_rec_make(&want, id, gen, 1, 1);
		/* The load gives them in key order, which is this order. */
		tu_rec_equal(&recs[u], &want, true);
		dcv_job_record_free(&want);
	}
	dcv_job_records_free(recs, got);
	dcv_store_close(st);
}

/*
 * Sets key of database db to val (len bytes), through LMDB, as mdb_load
 * would; val NULL deletes the key, key NULL empties the database.
 */
static void db_set(const char *db, const void *key, size_t key_len, const void *val, size_t len)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = {key_len, (void *)key}, v = {len, (void *)val};

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 2), 0);
	assert_int_equal(mdb_env_open(env, tu_path("state"), MDB_NOTLS, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (key == NULL)
		assert_int_equal(mdb_drop(txn, dbi, 0), 0);
	else if (val == NULL)
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	else
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void jobs_put(const void *key, size_t key_len, const void *val, size_t len)
{
	db_set("jobs", key, key_len, val, len);
}

/* The holders database as its pairs "KEY=VALUE" joined by '|' (newlines as '/n'); static buffer. */
static const char *holders_dump(void)
{
	static char out[16384];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_dbi dbi;
	MDB_val k, v;
	size_t at = 0;

	out[0] = '\0';
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 2), 0);
	assert_int_equal(mdb_env_open(env, tu_path("state"), MDB_NOTLS | MDB_RDONLY, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "holders", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%.*s=", at ? "|" : "",
		                       (int)k.mv_size, (const char *)k.mv_data);
		for (size_t i = 0; i < v.mv_size && at + 3 < sizeof(out); i++) {
			char c = ((const char *)v.mv_data)[i];
			if (c == '\n') {
				out[at++] = '/';
				out[at++] = 'n';
			} else {
				out[at++] = c;
			}
		}
		out[at] = '\0';
		assert_true(at + 300 < sizeof(out));
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return out;
}

/* The number of keys in the jobs database, through LMDB. */
static size_t jobs_count(void)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_stat ms;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 2), 0);
	assert_int_equal(mdb_env_open(env, tu_path("state"), MDB_NOTLS | MDB_RDONLY, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "jobs", 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &ms), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return ms.ms_entries;
}

/*
 * As a user who may not write (uid 65534; root writes anyway): a spool
 * where state/ cannot be made, a state/ where the environment cannot be
 * made, a data.mdb that cannot be opened for writing -- at start and under
 * a running store --, and a reader without write access to lock.mdb.
 */
static void test_not_writable(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	char want[700];
	uv_loop_t loop;
	size_t n = 0;

	if (tu_rerun_as_nobody("test_not_writable"))
		return;
	assert_int_equal(uv_loop_init(&loop), 0);
	/* The spool read-only: state/ cannot be made. */
	assert_int_equal(chmod(tu_dir, 0555), 0);
	assert_int_equal(dcv_store_open(&loop, tu_dir, &st, &why), DCV_EIO);
	assert_null(st);
	snprintf(want, sizeof(want), "%s: cannot create the folder: Permission denied",
	         tu_path("state"));
	assert_string_equal(why.text, want);
	assert_false(exists(tu_path("state")));
	/* state/ read-only: LMDB cannot make its files. */
	assert_int_equal(chmod(tu_dir, 0750), 0);
	assert_int_equal(mkdir(tu_path("state"), 0550), 0);
	assert_int_equal(dcv_store_open(&loop, tu_dir, &st, &why), DCV_EIO);
	snprintf(want, sizeof(want), "%s: cannot open the job database: Permission denied",
	         tu_path("state/data.mdb"));
	assert_string_equal(why.text, want);
	assert_int_equal(tu_count_entries(tu_path("state")), 0);

	/* Writable: ten records. Then data.mdb read-only: no start, and nothing lost. */
	assert_int_equal(chmod(tu_path("state"), 0750), 0);
	st = open_store(&loop);
	assert_int_equal(write_recs(&loop, st, 10, 1, &why), DCV_OK);
	dcv_store_close(st);
	assert_int_equal(chmod(tu_path("state/data.mdb"), 0440), 0);
	assert_int_equal(dcv_store_open(&loop, tu_dir, &st, &why), DCV_EIO);
	assert_string_equal(why.text, want);
	assert_int_equal(chmod(tu_path("state/data.mdb"), 0640), 0);
	expect_recs(&loop, 10, 1);

	/* Read-only under a running store: the batch fails, naming the file; later it works. */
	st = open_store(&loop);
	assert_int_equal(chmod(tu_path("state/data.mdb"), 0440), 0);
	assert_int_equal(write_recs(&loop, st, 12, 2, &why), DCV_EIO);
	assert_string_equal(why.text, want);
	assert_int_equal(chmod(tu_path("state/data.mdb"), 0640), 0);
	expect_recs(&loop, 10, 1);
	assert_int_equal(write_recs(&loop, st, 12, 3, &why), DCV_OK);
	dcv_store_close(st);
	expect_recs(&loop, 12, 3);

	/* A reader who may not write lock.mdb: DCV_EPERM, naming data.mdb and the reason. */
	assert_int_equal(chmod(tu_path("state/lock.mdb"), 0440), 0);
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_EPERM);
	assert_null(recs);
	tu_expect_n(&errors, 1);
	assert_string_equal(errors.v[0], want);
	dcv_strv_free(&errors);
	/* state/ that may not be entered: the folder is named. */
	assert_int_equal(chmod(tu_path("state/lock.mdb"), 0640), 0);
	assert_int_equal(chmod(tu_path("state"), 0), 0);
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_EIO);
	tu_expect_n(&errors, 1);
	snprintf(want, sizeof(want), "%s: cannot open the folder: Permission denied",
	         tu_path("state"));
	assert_string_equal(errors.v[0], want);
	dcv_strv_free(&errors);
	/* state/ readable but not searchable: it cannot be listed. */
	assert_int_equal(chmod(tu_path("state"), 0640), 0);
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_EIO);
	tu_expect_n(&errors, 1);
	snprintf(want, sizeof(want), "%s: cannot list the folder: Permission denied",
	         tu_path("state"));
	assert_string_equal(errors.v[0], want);
	dcv_strv_free(&errors);
	assert_int_equal(chmod(tu_path("state"), 0750), 0);
	expect_recs(&loop, 12, 3);

	/*
	 * A move into done/deep/ where done/ may be written but not read: the
	 * new folder is made, but done/ (to flush it) cannot be opened: named.
	 */
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	assert_int_equal(mkdir(tu_path("done"), 0300), 0);
	tu_put("active/m.csr", 0640, "csr");
	st = open_store(&loop);
	{
		struct dcv_store_batch *b = dcv_store_batch_new(st);

		assert_int_equal(dcv_store_batch_move(b, "active/m.csr", "done/deep/m.csr"),
		                 DCV_OK);
		assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
	}
	snprintf(want, sizeof(want), "%s: cannot open the folder: Permission denied",
	         tu_path("done"));
	assert_string_equal(why.text, want);
	assert_true(exists(tu_path("active/m.csr")));
	dcv_store_close(st);
	/* done/ that cannot be listed: its leftover temporary status file stays, the load works. */
	assert_int_equal(chmod(tu_path("done"), 0750), 0);
	tu_put("done/.x.status.tmp", 0640, "half");
	assert_int_equal(chmod(tu_path("done"), 0640), 0);
	st = open_store(&loop);
	recs = load_clean(st, &n);
	assert_int_equal(n, 12);
	dcv_job_records_free(recs, n);
	dcv_store_close(st);
	assert_int_equal(chmod(tu_path("done"), 0750), 0);
	assert_true(exists(tu_path("done/.x.status.tmp")));

	/* done/ not writable: neither an unnamed file nor the temporary one can be made there. */
	assert_int_equal(chmod(tu_path("done"), 0550), 0);
	st = open_store(&loop);
	{
		struct dcv_store_batch *b = dcv_store_batch_new(st);
		struct dcv_job_record rec;

		tu_rec_make(&rec, "ro~1", 17, 1, 1);
		assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
		assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
		dcv_job_record_free(&rec);
	}
	snprintf(want, sizeof(want), "%s: open failed: Permission denied",
	         tu_path("done/.ro.status.tmp"));
	assert_string_equal(why.text, want);
	assert_false(atomic_load(&st->no_tmpfile));
	dcv_store_close(st);
	assert_int_equal(chmod(tu_path("done"), 0750), 0);
	/* deep/ and .x.status.tmp from before; nothing of ro~1. */
	assert_int_equal(tu_count_entries(tu_path("done")), 2);
	assert_false(exists(tu_path("done/ro.status")));
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Names that only look like the old format's job logs do not stop a start. */
static void test_old_names_lookalikes(void **state)
{
	static const char *const harmless[] = {
	    "0123456789abcdeg.log", /* not 16 hex digits */
	    "0123456789abcdef.txt", "abc.log", ".hidden.job", ".job", "job"};
	struct dcv_store *st = NULL;
	struct dcv_why why;
	char want[700];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mkdir(tu_path("state"), 0750), 0);
	for (size_t i = 0; i < sizeof(harmless) / sizeof(harmless[0]); i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "state/%s", harmless[i]);
		tu_put(rel, 0640, "x");
	}
	st = open_store(&loop);
	dcv_store_close(st);
	/* A real one among them: refused, by name. */
	tu_put("state/x.job", 0640, "x");
	assert_int_equal(dcv_store_open(&loop, tu_dir, &st, &why), DCV_ESTATE);
	snprintf(want, sizeof(want), "%s: job record file of the format before LMDB",
	         tu_path("state/x.job"));
	assert_non_null(strstr(why.text, want));
	assert_null(strstr(why.text, "more such files"));
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * Leftovers of status files a crash cut short (.NAME.status.tmp in done/
 * and failed/) go at load; what only looks like one stays.
 */
static void test_status_leftovers(void **state)
{
	struct dcv_job_record *recs = NULL;
	struct dcv_store *st = NULL;
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mkdir(tu_path("done"), 0750), 0);
	assert_int_equal(mkdir(tu_path("failed"), 0750), 0);
	tu_put("done/.a.status.tmp", 0640, "state: act");
	tu_put("failed/.b.status.tmp", 0640, "");
	assert_int_equal(mkdir(tu_path("done/.dir.status.tmp"), 0750), 0);
	tu_put("done/c.status.tmp", 0640, "not a dot-file");
	tu_put("done/.status.tmp", 0640, "no NAME");
	tu_put("done/.d.status.tmpx", 0640, "another suffix");
	st = open_store(&loop);
	recs = load_clean(st, &n);
	assert_int_equal(n, 0);
	dcv_job_records_free(recs, n);
	assert_false(exists(tu_path("done/.a.status.tmp")));
	assert_false(exists(tu_path("failed/.b.status.tmp")));
	assert_true(exists(tu_path("done/.dir.status.tmp")));
	assert_true(exists(tu_path("done/c.status.tmp")));
	assert_true(exists(tu_path("done/.status.tmp")));
	assert_true(exists(tu_path("done/.d.status.tmpx")));
	assert_int_equal(tu_count_entries(tu_path("done")), 4);
	assert_int_equal(tu_count_entries(tu_path("failed")), 0);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * A second load reads the environment again; one damaged meanwhile fails
 * with DCV_ESTATE and the message in errors, naming data.mdb.
 */
static void test_load_again(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	char want[700];
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(write_recs(&loop, st, 5, 4, &why), DCV_OK);
	/* After a batch, each load reads the environment again. */
	for (int i = 0; i < 2; i++) {
		recs = load_clean(st, &n);
		assert_int_equal(n, 5);
		dcv_job_records_free(recs, n);
	}
	tu_run("cp '%s' '%s'", tu_path("state/data.mdb"), tu_path("data.mdb.good"));
	tu_run("head -c 8192 /dev/urandom | dd of='%s' conv=notrunc status=none",
	       tu_path("state/data.mdb"));
	assert_int_equal(dcv_store_load(st, &recs, &n, &errors), DCV_ESTATE);
	assert_null(recs);
	tu_expect_n(&errors, 1);
	snprintf(want, sizeof(want),
	         "%s: cannot open the job database: ", tu_path("state/data.mdb"));
	assert_non_null(strstr(errors.v[0], want));
	assert_non_null(strstr(errors.v[0], "dcvd does not start on it"));
	dcv_strv_free(&errors);
	dcv_store_close(st);
	assert_int_equal(rename(tu_path("data.mdb.good"), tu_path("state/data.mdb")), 0);
	expect_recs(&loop, 5, 4);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * Damaged records whose keys are no job ids (a NUL byte in the key, a key
 * longer than any id) or name another job: reported and removed at load,
 * and so not reported again at the next.
 */
static void test_damaged_keys(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL, rec;
	struct dcv_store *st = NULL;
	unsigned char *text = NULL;
	char long_key[DCV_JOB_ID_MAX + 40];
	struct dcv_why why;
	uv_loop_t loop;
	size_t n = 0, len = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(write_recs(&loop, st, 3, 5, &why), DCV_OK);
	dcv_store_close(st);
	tu_rec_make(&rec, "f001~1", 5, 1, 1);
	assert_int_equal(dcv_job_record_emit(&rec, &text, &len), DCV_OK);
	dcv_job_record_free(&rec);
	jobs_put("nul\0key", 7, "garbage", 7);
	memset(long_key, 'k', sizeof(long_key));
	jobs_put(long_key, sizeof(long_key), "garbage", 7);
	/* f001~1's record under a key one byte longer, and under another key of its length. */
	jobs_put("f001~10", 7, text, len);
	jobs_put("f009~1", 6, text, len);
	free(text);
	assert_int_equal(jobs_count(), 7);

	st = open_store(&loop);
	assert_int_equal(dcv_store_load(st, &recs, &n, &errors), DCV_OK);
	assert_int_equal(n, 3);
	dcv_job_records_free(recs, n);
	tu_dump("first load", &errors);
	tu_expect_n(&errors, 4);
	for (size_t i = 0; i < errors.n; i++)
		assert_non_null(strstr(errors.v[i], "(damaged record: removed)"));
	assert_non_null(strstr(errors.v[0], "(job f001~10): the record's id is f001~1"));
	assert_non_null(strstr(errors.v[1], "(job f009~1): the record's id is f001~1"));
	assert_non_null(strstr(errors.v[2], "(job kkkk"));
	assert_non_null(strstr(errors.v[3], "(job nul\\x00key)"));
	dcv_strv_free(&errors);
	dcv_store_close(st);
	/* Removed, as said: the next load finds only the three records. */
	assert_int_equal(jobs_count(), 3);
	expect_recs(&loop, 3, 5);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * A batch over a damaged record (its text does not parse, so what it held
 * is not known) replaces it or forgets it; the holders are those of the
 * records, as the next load's check finds (nothing to fix).
 */
static void test_batch_over_damage(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(write_recs(&loop, st, 4, 6, &why), DCV_OK);
	jobs_put("f001~1", 6, "dcv-job 1\nid f001~1\n", 20);
	jobs_put("f003~1", 6, "garbage", 7);
	assert_int_equal(write_recs(&loop, st, 2, 7, &why), DCV_OK);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_forget(b, "f003~1"), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	dcv_store_close(st);
	assert_int_equal(jobs_count(), 3);
	/* f000, f001 of generation 7; f002 of 6. */
	st = open_store(&loop);
	{
		struct dcv_job_record *recs = NULL, want;
		size_t n = 0;

		recs = load_clean(st, &n);
		assert_int_equal(n, 3);
		tu_rec_make(&want, "f001~1", 7, 1, 1);
		tu_rec_equal(&recs[1], &want, true);
		dcv_job_record_free(&want);
		tu_rec_make(&want, "f002~1", 6, 1, 1);
		tu_rec_equal(&recs[2], &want, true);
		dcv_job_record_free(&want);
		dcv_job_records_free(recs, n);
	}
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.holders_fixed, 0);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * A file system that refuses to grow a file (RLIMIT_FSIZE: writes past the
 * limit fail with EFBIG, as on a full disk they fail with ENOSPC): a commit
 * that cannot write its pages fails the batch, naming data.mdb and the
 * reason, and leaves nothing of itself -- no record, no status file, no
 * move; a status file that cannot be written fails its batch naming it and
 * leaves no temporary file. With the limit lifted the same work succeeds.
 */
static void test_file_too_large(void **state)
{
	struct rlimit old, small;
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record rec;
	struct dcv_store *st = NULL;
	struct stat sb;
	struct dcv_why why;
	char want[700];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	st = open_store(&loop);
	assert_int_equal(write_recs(&loop, st, 5, 8, &why), DCV_OK);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	tu_put("active/f004.csr", 0640, "csr");
	assert_int_equal(stat(tu_path("state/data.mdb"), &sb), 0);

	/* data.mdb may not grow: 2,000 more records do not fit in it. */
	small = old;
	small.rlim_cur = (rlim_t)sb.st_size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	b = dcv_store_batch_new(st);
	for (unsigned u = 0; u < 2000; u++) {
		char id[32];

		snprintf(id, sizeof(id), "g%04u~1", u);
		tu_rec_make(&rec, id, 9, 2, 2);
		assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
		dcv_job_record_free(&rec);
	}
	tu_rec_make(&rec, "f004~1", 9, 1, 1);
	assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(dcv_store_batch_move(b, "active/f004.csr", "done/f004.csr"), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	snprintf(want, sizeof(want), "%s: cannot commit 2001 job records",
	         tu_path("state/data.mdb"));
	assert_non_null(strstr(why.text, want));
	assert_non_null(strstr(why.text, "File too large"));
	assert_false(exists(tu_path("done/f004.status")));
	assert_false(exists(tu_path("done/f004.csr")));
	assert_true(exists(tu_path("active/f004.csr")));
	dcv_store_close(st);
	expect_recs(&loop, 5, 8);

	/* A status file that cannot be written: named, no temporary file left, the move not made.
	 */
	st = open_store(&loop);
	small.rlim_cur = 10;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(dcv_store_batch_move(b, "active/f004.csr", "done/f004.csr"), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	print_message("status file too large: %s\n", why.text);
	assert_non_null(strstr(why.text, tu_path("done/")));
	assert_non_null(strstr(why.text, "f004.status"));
	assert_non_null(strstr(why.text, "write failed: File too large"));
	assert_int_equal(tu_count_entries(tu_path("done")), 0);
	assert_true(exists(tu_path("active/f004.csr")));

	/* The limit lifted: the same work is done. */
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(dcv_store_batch_move(b, "active/f004.csr", "done/f004.csr"), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	assert_true(exists(tu_path("done/f004.status")) && exists(tu_path("done/f004.csr")));
	dcv_job_record_free(&rec);
	dcv_store_close(st);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * A status file replaced (the rename way: written to .NAME.status.tmp,
 * renamed over) that cannot be written: the batch names the file, the old
 * status stays as it was, and no temporary file is left.
 */
static void test_replace_too_large(void **state)
{
	struct rlimit old, small;
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record rec;
	struct dcv_store *st = NULL;
	unsigned char *before = NULL, *after = NULL;
	size_t len = 0, len2 = 0;
	struct dcv_why why;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	st = open_store(&loop);
	tu_rec_make(&rec, "r~1", 10, 1, 1);
	rec.state = DCV_JOB_PUBLISHED;
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	before = slurp(tu_path("done/r.status"), &len);
	rec.state = DCV_JOB_VISIBLE;
	small = old;
	small.rlim_cur = 10;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	print_message("replacing: %s\n", why.text);
	assert_non_null(strstr(why.text, tu_path("done/")));
	assert_non_null(strstr(why.text, "write failed: File too large"));
	after = slurp(tu_path("done/r.status"), &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(before, after, len);
	assert_int_equal(tu_count_entries(tu_path("done")), 1);
	free(before);
	free(after);
	dcv_job_record_free(&rec);
	dcv_store_close(st);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Moves into more folders than the store's first table holds, one of them two levels down. */
static void test_many_folders(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store *st = NULL;
	char from[64], to[64];
	struct dcv_why why;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	assert_int_equal(mkdir(tu_path("done"), 0750), 0);
	b = dcv_store_batch_new(st);
	for (int i = 0; i < 12; i++) {
		snprintf(from, sizeof(from), "active/a%02d.csr", i);
		tu_put(from, 0640, "csr");
		snprintf(to, sizeof(to), i < 11 ? "m%02d/a.csr" : "done/deep/a.csr", i);
		assert_int_equal(dcv_store_batch_move(b, from, to), DCV_OK);
	}
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	for (int i = 0; i < 11; i++) {
		snprintf(to, sizeof(to), "m%02d", i);
		assert_int_equal(mode_of(tu_path(to)), 0750);
		snprintf(to, sizeof(to), "m%02d/a.csr", i);
		assert_true(exists(tu_path(to)));
	}
	assert_int_equal(mode_of(tu_path("done/deep")), 0750);
	assert_true(exists(tu_path("done/deep/a.csr")));
	assert_int_equal(tu_count_entries(tu_path("active")), 0);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * Status files blocked by folders: a folder where the temporary file of a
 * replacement would go, and a folder where the status file goes. Each
 * fails its batch naming the file and the reason; what was there stays.
 */
static void test_status_blocked(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record rec;
	struct dcv_store *st = NULL;
	unsigned char *before = NULL, *after = NULL;
	size_t len = 0, len2 = 0;
	struct dcv_why why;
	char want[700];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	tu_rec_make(&rec, "s~1", 11, 1, 1);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	before = slurp(tu_path("done/s.status"), &len);
	assert_int_equal(mkdir(tu_path("done/.s.status.tmp"), 0750), 0);
	rec.state = DCV_JOB_VISIBLE;
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
	snprintf(want, sizeof(want), "%s: open failed: Is a directory",
	         tu_path("done/.s.status.tmp"));
	assert_string_equal(why.text, want);
	after = slurp(tu_path("done/s.status"), &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(before, after, len);
	free(after);
	assert_int_equal(rmdir(tu_path("done/.s.status.tmp")), 0);

	/* done/t.status a folder: the file cannot be renamed over it. */
	dcv_job_record_free(&rec);
	tu_rec_make(&rec, "t~1", 11, 1, 1);
	assert_int_equal(mkdir(tu_path("done/t.status"), 0750), 0);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
	snprintf(want, sizeof(want), "%s: rename into place failed: Is a directory",
	         tu_path("done/t.status"));
	assert_string_equal(why.text, want);
	assert_int_equal(tu_count_entries(tu_path("done")), 2);
	assert_int_equal(tu_count_entries(tu_path("done/t.status")), 0);
	free(before);
	dcv_job_record_free(&rec);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A visible record id with one rr (owner from id) listed twice. */
static void held(struct dcv_job_record *rec, const char *id)
{
	tu_rec_make(rec, id, 12, 2, 1);
	rec->state = DCV_JOB_VISIBLE;
	rec->cleanup = false;
	snprintf(rec->rrs[0].owner, sizeof(rec->rrs[0].owner), "_%.8s.%.*s.example.test.", rec->md5,
	         (int)strcspn(id, "~"), id);
	rec->rrs[1] = rec->rrs[0];
}

static int write_one(uv_loop_t *loop, struct dcv_store *st, const struct dcv_job_record *rec,
                     bool forget)
{
	struct dcv_store_batch *b = dcv_store_batch_new(st);
	struct dcv_why why;

	if (forget)
		assert_int_equal(dcv_store_batch_forget(b, rec->id), DCV_OK);
	else
		assert_int_equal(dcv_store_batch_record(b, rec), DCV_OK);
	return run_batch(loop, b, &why);
}

/*
 * A holders database made without MDB_DUPSORT (one value per key, the
 * format of builds before it) holding one stale value; the load drops it
 * and fills the new one from the records.
 */
static void holders_old_format(const char *key, const char *val)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = {strlen(key), (void *)key}, v = {strlen(val), (void *)val};

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 2), 0);
	assert_int_equal(mdb_env_open(env, tu_path("state"), MDB_NOTLS, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "holders", 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	assert_int_equal(mdb_dbi_open(txn, "holders", MDB_CREATE, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/*
 * The holders database: an rr a record lists twice is held once; a batch
 * copes with a pair that is missing, a record whose old text is damaged
 * (what it held is added, not doubled); a load deletes pairs no record
 * holds (a damaged key among them), puts back a wiped holders database,
 * counting every pair it fixed, and replaces one of the format before
 * MDB_DUPSORT.
 */
static void test_holders_damage(void **state)
{
	static const char nul_key[] = "x.test./_a\0b";
	struct dcv_job_record rec, many[12];
	struct dcv_store_stats stats;
	char *before = NULL;
	struct dcv_store *st = NULL;
	char key[600], want[1200];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	held(&rec, "h~1");
	snprintf(key, sizeof(key), "%s/%s", rec.rrs[0].zone, rec.rrs[0].owner);
	snprintf(want, sizeof(want), "%s=%s h~1", key, rec.rrs[0].target);
	assert_int_equal(write_one(&loop, st, &rec, false), DCV_OK);
	assert_string_equal(holders_dump(), want);

	/* The pair missing when the record goes: nothing to drop, no error. */
	db_set("holders", key, strlen(key), NULL, 0);
	assert_int_equal(write_one(&loop, st, &rec, true), DCV_OK);
	assert_string_equal(holders_dump(), "");

	/* The old text damaged: the record written again holds its rr once. */
	assert_int_equal(write_one(&loop, st, &rec, false), DCV_OK);
	jobs_put("h~1", 3, "garbage", 7);
	assert_int_equal(write_one(&loop, st, &rec, false), DCV_OK);
	assert_string_equal(holders_dump(), want);

	/* Twelve more holders, then the holders database wiped: the load puts all thirteen back. */
	for (int i = 0; i < 12; i++) {
		char id[16];

		snprintf(id, sizeof(id), "k%02d~1", i);
		held(&many[i], id);
		assert_int_equal(write_one(&loop, st, &many[i], false), DCV_OK);
	}
	dcv_store_close(st);
	before = strdup(holders_dump());
	assert_non_null(before);
	assert_non_null(strstr(before, " h~1"));
	assert_non_null(strstr(before, " k11~1"));
	db_set("holders", NULL, 0, NULL, 0);
	assert_string_equal(holders_dump(), "");
	st = open_store(&loop);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.holders_fixed, 13);
	assert_string_equal(holders_dump(), before);
	dcv_store_close(st);

	/* Pairs no record holds: a stranger beside h~1, a key with a NUL byte, a space. */
	snprintf(want, sizeof(want), "%s m999~1", rec.rrs[0].target);
	db_set("holders", key, strlen(key), want, strlen(want));
	db_set("holders", nul_key, sizeof(nul_key) - 1, "t. z~1", 6);
	db_set("holders", "a b", 3, "t. z~1", 6);
	st = open_store(&loop);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.holders_fixed, 3);
	assert_string_equal(holders_dump(), before);
	dcv_store_close(st);

	/* The format before MDB_DUPSORT: dropped, and every pair put back. */
	snprintf(want, sizeof(want), "%s h~1\n", rec.rrs[0].target);
	holders_old_format(key, want);
	st = open_store(&loop);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.holders_fixed, 13);
	assert_string_equal(holders_dump(), before);
	free(before);
	dcv_store_close(st);
	for (int i = 0; i < 12; i++)
		dcv_job_record_free(&many[i]);
	dcv_job_record_free(&rec);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * What a batch refuses up front (DCV_EINVAL: paths with empty, "." or ".."
 * components or too long, a second sweep), a move in the spool itself, a
 * move already made to its alternative name, and the names status files
 * take: under the job's id when NAME.status names a job whose id could not
 * name a file, or when only the job's archived ID.status is left.
 */
static void test_batch_edges(void **state)
{
	static const char *const bad[] = {"a/./b", "a/../b", "a//b", "/abs", "", "a/", "..", "."};
	struct dcv_store_batch *b = NULL;
	struct dcv_store_sweep sw1, sw2;
	struct dcv_job_record rec;
	struct dcv_store *st = NULL;
	char *long_path = NULL, long_name[NAME_MAX + 2];
	struct dcv_why why;
	struct done d;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	b = dcv_store_batch_new(st);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dcv_store_batch_move(b, bad[i], "x"), DCV_EINVAL);
		assert_int_equal(dcv_store_batch_move(b, "x", bad[i]), DCV_EINVAL);
		assert_int_equal(dcv_store_batch_move_tagged(b, "x", "y", bad[i], NULL),
		                 DCV_EINVAL);
	}
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(dcv_store_batch_move(b, "x", long_name), DCV_EINVAL);
	long_name[NAME_MAX] = '\0';
	assert_int_equal(dcv_store_batch_move(b, "x", long_name), DCV_OK);
	long_path = malloc(PATH_MAX + 1);
	assert_non_null(long_path);
	for (size_t i = 0; i < PATH_MAX; i++)
		long_path[i] = i % 100 == 99 ? '/' : 'p';
	long_path[PATH_MAX] = '\0';
	assert_int_equal(dcv_store_batch_move(b, "x", long_path), DCV_EINVAL);
	free(long_path);
	dcv_store_batch_free(b);
	/* A sweep batch takes one sweep. */
	memset(&sw1, 0, sizeof(sw1));
	memset(&sw2, 0, sizeof(sw2));
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_sweep(b, &sw1), DCV_OK);
	assert_int_equal(dcv_store_batch_sweep(b, &sw2), DCV_EINVAL);
	dcv_store_batch_free(b);

	/* In the spool itself; and a source gone that is at its alternative name already. */
	tu_put("x.csr", 0640, "csr");
	assert_int_equal(mkdir(tu_path("done"), 0750), 0);
	tu_put("done/a~1.csr", 0640, "moved before");
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_move(b, "x.csr", "y.csr"), DCV_OK);
	assert_int_equal(
	    dcv_store_batch_move_tagged(b, "active/a.csr", "done/a.csr", "done/a~1.csr", NULL),
	    DCV_OK);
	assert_int_equal(run_batch_faults(&loop, b, &why, &d), DCV_OK);
	assert_int_equal(d.faults, 0);
	assert_true(exists(tu_path("y.csr")) && !exists(tu_path("x.csr")));
	assert_false(exists(tu_path("done/a.csr")));

	/* done/n.status names a job "bad/id": the arriving n~2 writes under its id. */
	tu_put("done/n.status", 0640, "state: visible\njob: bad/id\n");
	tu_rec_make(&rec, "n~2", 13, 1, 1);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status_arrive(b, "done", &rec), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	assert_true(exists(tu_path("done/n~2.status")));
	assert_string_equal(tu_run_line("cat '%s'", tu_path("done/n.status")), "state: visible");
	dcv_job_record_free(&rec);
	/* Only p~1.status is left (p.status lost): p~1's later status goes there, not to p.status.
	 */
	tu_put("done/p~1.status", 0640, "state: visible\njob: p~1\n");
	tu_rec_make(&rec, "p~1", 13, 1, 1);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	assert_false(exists(tu_path("done/p.status")));
	assert_string_equal(tu_run_line("grep '^job:' '%s'", tu_path("done/p~1.status")),
	                    "job: p~1");
	assert_string_equal(tu_run_line("grep -c '^' '%s'", tu_path("done/p~1.status")),
	                    tu_run_line("grep -c '^' '%s'", tu_path("done/n~2.status")));
	dcv_job_record_free(&rec);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * The map at its bound after one growth: the batch is retried once in the
 * grown map and, still too large, fails naming data.mdb, the map and the
 * bound; nothing of it is there.
 */
static void test_map_bound_after_growth(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	char want[700];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	store_tuning_defaults.map_start = 64 * 1024;
	st = open_store(&loop);
	store_tuning_defaults.map_start = STORE_MAP_START;
	assert_int_equal(write_recs(&loop, st, 5, 14, &why), DCV_OK);
	dcv_store_stats(st, &stats);
	/* Room for one growth of 1 MiB, not for 5,000 records. */
	st->tuning.map_max = stats.map_size + 1024 * 1024;
	b = dcv_store_batch_new(st);
	for (unsigned u = 0; u < 5000; u++) {
		struct dcv_job_record rec;
		char id[32];

		snprintf(id, sizeof(id), "big%05u~1", u);
		tu_rec_make(&rec, id, u, 2, 2);
		assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
		dcv_job_record_free(&rec);
	}
	assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.map_grown, 1);
	snprintf(want, sizeof(want),
	         "%s: cannot commit 5000 job records (map of %zu MiB, at most %zu MiB)",
	         tu_path("state/data.mdb"), (size_t)(st->tuning.map_max >> 20),
	         (size_t)(st->tuning.map_max >> 20));
	assert_non_null(strstr(why.text, want));
	assert_non_null(strstr(why.text, "MDB_MAP_FULL"));
	dcv_store_close(st);
	expect_recs(&loop, 5, 14);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * Zeroed data pages (the meta pages intact; what a file system may show
 * after a power loss): the load fails with DCV_ESTATE naming data.mdb and
 * what LMDB found, and dcvd does not start. Pages of other garbage (all
 * 0xff) make LMDB read past the end of the file inside its map, SIGBUS,
 * which the load's guard (store_guard.c) turns into DCV_ESTATE naming
 * data.mdb too -- for dcvd's load and for dcv status's.
 */
static void test_damaged_pages(void **state)
{
	struct dcv_store *st = NULL;
	struct dcv_why why;
	struct stat sb;
	uv_loop_t loop;
	int rc = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(write_recs(&loop, st, 300, 15, &why), DCV_OK);
	dcv_store_close(st);
	assert_int_equal(stat(tu_path("state/data.mdb"), &sb), 0);
	assert_true(sb.st_size > 16 * 4096);
	/* Every page after the two meta pages. */
	tu_run("head -c %lld /dev/zero | dd of='%s' bs=4096 seek=2 conv=notrunc status=none",
	       (long long)sb.st_size - 2 * 4096, tu_path("state/data.mdb"));
	rc = dcv_store_open(&loop, tu_dir, &st, &why);
	assert_int_equal(rc, DCV_ESTATE);
	assert_null(st);
	assert_non_null(strstr(why.text, tu_path("state/data.mdb")));
	assert_non_null(strstr(why.text, "cannot read the job records: MDB_CORRUPTED"));
	assert_non_null(strstr(why.text, "dcvd does not start on it"));
	/* dcv status says so too. */
	{
		struct dcv_strv errors = {NULL, 0, 0};
		struct dcv_job_record *recs = NULL;
		size_t n = 0;

		assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_ESTATE);
		tu_expect_n(&errors, 1);
		assert_non_null(strstr(errors.v[0], "MDB_CORRUPTED"));
		dcv_strv_free(&errors);
	}

	/* Pages of 0xff: page numbers past the end of the file. */
	tu_run("rm -f '%s' '%s'", tu_path("state/data.mdb"), tu_path("state/lock.mdb"));
	st = open_store(&loop);
	assert_int_equal(write_recs(&loop, st, 300, 15, &why), DCV_OK);
	dcv_store_close(st);
	assert_int_equal(stat(tu_path("state/data.mdb"), &sb), 0);
	tu_run("head -c %lld /dev/zero | tr '\\000' '\\377' | "
	       "dd of='%s' bs=4096 seek=2 conv=notrunc status=none",
	       (long long)sb.st_size - 2 * 4096, tu_path("state/data.mdb"));
	for (int round = 0; round < 2; round++) {
		rc = dcv_store_open(&loop, tu_dir, &st, &why);
		assert_int_equal(rc, DCV_ESTATE);
		assert_null(st);
		assert_non_null(strstr(why.text, tu_path("state/data.mdb")));
		assert_non_null(strstr(why.text, "went past the end of the file"));
		assert_non_null(strstr(why.text, "dcvd does not start on it"));
	}
	{
		struct dcv_strv errors = {NULL, 0, 0};
		struct dcv_job_record *recs = NULL;
		size_t n = 0;

		assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_ESTATE);
		tu_expect_n(&errors, 1);
		assert_non_null(strstr(errors.v[0], "went past the end of the file"));
		dcv_strv_free(&errors);
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Reads the byte past the end of a one-page file through a two-page map: SIGBUS. */
static void *guard_fault(void *arg)
{
	const char *path = arg;
	long page = sysconf(_SC_PAGESIZE);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	volatile char *map = NULL;

	if (fd < 0 || ftruncate(fd, page) < 0)
		_exit(3);
	map = mmap(NULL, 2 * (size_t)page, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		_exit(3);
	return (void *)(intptr_t)map[page];
}

/* The SIGBUS action a child had before the guard: exits 7. */
static void guard_previous_action(int sig)
{
	(void)sig;
	tu_child_exit(7);
}

/* Arms, disarms and disarms once more (nothing armed: nothing happens), on a thread of its own. */
static void *guard_nested(void *arg)
{
	store_guard_arm(arg);
	store_guard_disarm();
	store_guard_disarm();
	return NULL;
}

/*
 * The guard takes back only the SIGBUS of the thread whose load it
 * guards: one in another thread at the same time (here a read past a
 * file's end in a second thread) goes to the action there was before, and
 * one on the guarded thread jumps back, also after a second thread armed
 * and disarmed a guard of its own meanwhile.
 */
static void test_guard_only_its_thread(void **state)
{
	const char *path = tu_path("short-file");
	sigjmp_buf jump;
	pthread_t t;
	int status = 0;
	pid_t pid = 0;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The action before the guard's: it must get the fault. */
		signal(SIGBUS, guard_previous_action);
		if (sigsetjmp(jump, 0) != 0)
			tu_child_exit(4); /* taken back: wrong, the fault was not this thread's */
		store_guard_arm(&jump);
		if (pthread_create(&t, NULL, guard_fault, (void *)path) == 0)
			pthread_join(t, NULL);
		tu_child_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 7)
		fail_msg("a SIGBUS of another thread: child status %d, want the previous action's "
		         "exit 7",
		         status);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL);
		if (sigsetjmp(jump, 0) != 0) {
			store_guard_disarm();
			tu_child_exit(0); /* taken back, as a load is */
		}
		store_guard_arm(&jump);
		if (pthread_create(&t, NULL, guard_nested, &jump) == 0)
			pthread_join(t, NULL);
		guard_fault((void *)path);
		tu_child_exit(6);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("a SIGBUS of the guarded thread: child status %d, want exit 0", status);
}

/*
 * An environment without databases (made, but dcvd's first load never
 * committed): a reader finds no records, not an error.
 */
static void test_reader_no_databases(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL;
	MDB_env *env = NULL;
	size_t n = 7;

	(void)state;
	assert_int_equal(mkdir(tu_path("state"), 0750), 0);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, tu_path("state"), 0, 0640), 0);
	mdb_env_close(env);
	if (dcv_store_read(tu_dir, &recs, &n, &errors) != DCV_OK)
		fail_msg("read: %s", errors.n > 0 ? errors.v[0] : "?");
	assert_int_equal(n, 0);
	tu_expect_n(&errors, 0);
	dcv_job_records_free(recs, n);
}

/*
 * done/ removed under a running store (an operator's rm -r): the next
 * status file makes it again, 0750, instead of failing on the folder that
 * is gone (every later batch did, until dcvd was restarted).
 */
static void test_folder_removed(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record rec;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	assert_int_equal(mkdir(tu_path("active"), 0750), 0);
	tu_rec_make(&rec, "rm~1", 16, 1, 1);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(run_batch(&loop, b, &why), DCV_OK);
	tu_run("rm -r '%s'", tu_path("done"));
	tu_put("active/rm.csr", 0640, "csr");
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
	assert_int_equal(dcv_store_batch_move(b, "active/rm.csr", "done/rm.csr"), DCV_OK);
	if (run_batch(&loop, b, &why) != DCV_OK)
		fail_msg("after rm -r done/: %s", why.text);
	assert_int_equal(mode_of(tu_path("done")), 0750);
	assert_true(exists(tu_path("done/rm.status")) && exists(tu_path("done/rm.csr")));
	assert_int_equal(tu_count_entries(tu_path("done")), 2);
	dcv_job_record_free(&rec);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_not_writable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_old_names_lookalikes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_leftovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_over_damage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_folders, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_blocked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_holders_damage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_edges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_map_bound_after_growth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_pages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_folder_removed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reader_no_databases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guard_only_its_thread, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
