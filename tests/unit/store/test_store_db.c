/*
 * test_store_db.c -- the store's LMDB environment (store.h) on a real
 * filesystem: many batches of records and forgets over the same ids (the
 * last wins, a forgotten job never comes back, before and after a
 * restart) with the holders database checked after each against the
 * holders the records give; holders shared by jobs, dropped with the last
 * one; the holders database repaired from the records at load; damaged
 * records reported and removed; the old format's job logs and an
 * unreadable database refused; the map grown on MDB_MAP_FULL and its
 * bound; dcv status's reading (nothing created, nothing changed, refused
 * without write access to lock.mdb); and the timing of a 10,000-job
 * "visible" batch with its status files on one and on two threads.
 *
 * The databases are looked at and damaged through LMDB itself, as
 * mdb_dump and mdb_load would.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>
#include <uv.h>

#include "store.h"
#include "store_int.h"
#include "tubatch.h"
#include "tufiles.h"
#include "tustore.h"

#define NIDS 40
#define NONE (-1)

static int setup(void **state)
{
	return tu_dir_setup(state);
}

static int teardown(void **state)
{
	return tu_dir_teardown(state);
}

/*
 * The record of id number u at generation gen. Records of one generation
 * share their rrs (tu_rec_make() seeds them with the generation and the
 * id's length), so jobs hold the same rr now and then.
 */
static void mrec(struct dcv_job_record *rec, unsigned u, int64_t gen)
{
	char id[32];

	snprintf(id, sizeof(id), "m%03u~1", u);
	tu_rec_make(rec, id, (uint64_t)gen, 1 + (uint64_t)gen % 3, (uint64_t)gen % 2);
}

/* ---- the databases, through LMDB ---- */

static MDB_env *env_open(void)
{
	MDB_env *env = NULL;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 2), 0);
	assert_int_equal(mdb_env_open(env, tu_path("state"), MDB_NOTLS, 0640), 0);
	return env;
}

/* Sets key of db to val (NULL: deletes it). */
static void db_put(const char *db, const char *key, const void *val, size_t len)
{
	MDB_env *env = env_open();
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};

	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (val != NULL)
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	else
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Every (key, value) pair of db as lines "KEY VALUE", in LMDB's order; "" when empty. */
static char *db_lines(const char *db)
{
	struct dcv_strv lines = {NULL, 0, 0};
	MDB_env *env = env_open();
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_dbi dbi;
	MDB_val k, v;
	char *out = NULL;
	size_t len = 1;

	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT)
		dcv_strv_pushf(&lines, "%.*s %.*s\n", (int)k.mv_size, (char *)k.mv_data,
		               (int)v.mv_size, (char *)v.mv_data);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	for (size_t i = 0; i < lines.n; i++)
		len += strlen(lines.v[i]);
	out = calloc(1, len);
	assert_non_null(out);
	for (size_t i = 0; i < lines.n; i++)
		strcat(out, lines.v[i]);
	dcv_strv_free(&lines);
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What the holders database must say for the model's records, as db_lines() gives it. */
static char *holders_of(const int64_t *gens)
{
	struct dcv_strv lines = {NULL, 0, 0};
	struct dcv_job_record rec;
	char *holds = NULL, *p = NULL, *nl = NULL, *out = NULL;
	size_t len = 1;

	for (unsigned u = 0; u < NIDS; u++) {
		if (gens[u] == NONE)
			continue;
		mrec(&rec, u, gens[u]);
		assert_int_equal(store_holds_text(&rec, &holds), DCV_OK);
		for (p = holds; p != NULL && (nl = strchr(p, '\n')) != NULL; p = nl + 1)
			dcv_strv_pushf(&lines, "%.*s\n", (int)(nl - p), p);
		free(holds);
		dcv_job_record_free(&rec);
	}
	if (lines.n > 0)
		qsort(lines.v, lines.n, sizeof(*lines.v), cmp_str);
	for (size_t i = 0; i < lines.n; i++)
		len += strlen(lines.v[i]);
	out = calloc(1, len);
	assert_non_null(out);
	for (size_t i = 0; i < lines.n; i++)
		strcat(out, lines.v[i]);
	dcv_strv_free(&lines);
	return out;
}

static void expect_holders(const int64_t *gens)
{
	char *want = holders_of(gens), *have = db_lines("holders");

	if (strcmp(want, have) != 0)
		fail_msg("holders database:\n%s\nthe records say:\n%s", have, want);
	free(want);
	free(have);
}

/* ---- the model: gens[u] is the generation of m<u>~1, or NONE ---- */

static void model_none(int64_t *gens)
{
	for (unsigned u = 0; u < NIDS; u++)
		gens[u] = NONE;
}

/* recs[0..n) are exactly the model's records. */
static void expect_model_recs(const struct dcv_job_record *recs, size_t n, const int64_t *gens)
{
	struct dcv_job_record want;
	size_t k = 0;

	for (unsigned u = 0; u < NIDS; u++) {
		if (gens[u] == NONE)
			continue;
		if (k >= n)
			fail_msg("m%03u~1 (generation %" PRId64 ") is missing", u, gens[u]);
		mrec(&want, u, gens[u]);
		if (strcmp(recs[k].id, want.id) != 0)
			fail_msg("found %s, expected m%03u~1 (generation %" PRId64 ")", recs[k].id,
			         u, gens[u]);
		tu_rec_equal(&recs[k], &want, true);
		dcv_job_record_free(&want);
		k++;
	}
	if (k != n)
		fail_msg("%zu records more than expected, the first %s", n - k, recs[k].id);
}

static void expect_model(struct dcv_store *st, const int64_t *gens)
{
	struct dcv_job_record *recs = NULL;
	size_t n = 0;

	recs = load_clean(st, &n);
	expect_model_recs(recs, n, gens);
	dcv_job_records_free(recs, n);
}

static void batch_rec(struct dcv_store_batch *b, unsigned u, int64_t gen, int64_t *gens)
{
	struct dcv_job_record rec;

	mrec(&rec, u, gen);
	assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
	dcv_job_record_free(&rec);
	gens[u] = gen;
}

static void batch_forget(struct dcv_store_batch *b, unsigned u, int64_t *gens)
{
	char id[32];

	snprintf(id, sizeof(id), "m%03u~1", u);
	assert_int_equal(dcv_store_batch_forget(b, id), DCV_OK);
	gens[u] = NONE;
}

static void commit_ok(uv_loop_t *loop, struct dcv_store_batch *b)
{
	struct dcv_why why;

	if (run_batch(loop, b, &why) != DCV_OK)
		fail_msg("%s", why.text);
}

/* ---- tests ---- */

/*
 * Sixty batches of records and forgets over forty ids, an id often twice in
 * a batch: after each the holders database says what the records say, and
 * every ten batches a new store (a restart) loads exactly the model.
 */
static void test_generations(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_store *st = NULL;
	int64_t gens[NIDS];
	uint64_t seed = 42;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	st = open_store(&loop);
	for (unsigned k = 1; k <= 60; k++) {
		b = dcv_store_batch_new(st);
		for (unsigned i = 0; i < 25; i++) {
			unsigned u = (unsigned)((seed = tu_mix(seed)) % NIDS);

			if (seed % 5 == 0)
				batch_forget(b, u, gens);
			else
				batch_rec(b, u, (int64_t)(seed >> 20) % 30, gens);
		}
		commit_ok(&loop, b);
		expect_holders(gens);
		if (k % 10 == 0) {
			dcv_store_close(st);
			st = open_store(&loop);
			expect_model(st, gens);
		}
	}
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.holders_fixed, 0);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Two jobs hold one rr: it stays while either holds it, and goes with the last one. */
static void test_holders_shared(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_job_record a, c;
	struct dcv_store *st = NULL;
	char *have = NULL, want[2048];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	/* Same generation and id length: the same rr, here in upper case too. */
	tu_rec_make(&a, "a~1", 5, 1, 1);
	tu_rec_make(&c, "c~1", 5, 1, 1);
	a.state = c.state = DCV_JOB_PUBLISHING;
	a.rrs[0].owner[1] = (char)(a.rrs[0].owner[1] - 'a' + 'A');
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_record(b, &a), DCV_OK);
	assert_int_equal(dcv_store_batch_record(b, &c), DCV_OK);
	commit_ok(&loop, b);
	have = db_lines("holders");
	snprintf(want, sizeof(want), "%s/_%s %s a~1\n%s/_%s %s c~1\n", c.rrs[0].zone,
	         c.rrs[0].owner + 1, c.rrs[0].target, c.rrs[0].zone, c.rrs[0].owner + 1,
	         c.rrs[0].target);
	assert_string_equal(have, want);
	free(have);
	/* a withdrawn: c alone holds it. */
	a.state = DCV_JOB_WITHDRAWN;
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_record(b, &a), DCV_OK);
	commit_ok(&loop, b);
	have = db_lines("holders");
	snprintf(want, sizeof(want), "%s/_%s %s c~1\n", c.rrs[0].zone, c.rrs[0].owner + 1,
	         c.rrs[0].target);
	assert_string_equal(have, want);
	free(have);
	/* c failed with cleanup still holds it; forgotten, nobody does. */
	c.state = DCV_JOB_FAILED;
	c.cleanup = true;
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_record(b, &c), DCV_OK);
	commit_ok(&loop, b);
	have = db_lines("holders");
	assert_string_equal(have, want);
	free(have);
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_forget(b, "c~1"), DCV_OK);
	commit_ok(&loop, b);
	have = db_lines("holders");
	assert_string_equal(have, "");
	free(have);
	dcv_job_record_free(&a);
	dcv_job_record_free(&c);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The holders database disagrees with the records: the load makes it agree (the records win). */
static void test_holders_repair(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_store *st = NULL;
	int64_t gens[NIDS];
	char *lines = NULL, *last = NULL, key[600];
	size_t missing = 0;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	st = open_store(&loop);
	b = dcv_store_batch_new(st);
	for (unsigned u = 0; u < 10; u++)
		batch_rec(b, u, 1 + u % 4 * 7, gens);
	commit_ok(&loop, b);
	dcv_store_close(st);
	expect_holders(gens);
	/* A pair no record holds beside a right one, a key missing, a key no record holds. */
	lines = db_lines("holders");
	last = strrchr(lines, '\n');
	*last = '\0';
	last = strrchr(lines, '\n');
	assert_non_null(last);
	snprintf(key, sizeof(key), "%.*s", (int)strcspn(lines, " "), lines);
	db_put("holders", key, "x.sectigo.com. m999~1", 21);
	snprintf(key, sizeof(key), "%.*s ", (int)strcspn(last + 1, " "), last + 1);
	/* The missing key's pairs are each one fix: the model's records share rrs. */
	for (char *p = strstr(lines, key); p != NULL; p = strstr(p + 1, key))
		missing++;
	key[strlen(key) - 1] = '\0';
	db_put("holders", key, NULL, 0);
	db_put("holders", "zz.test./_zz.zz.test.", "t.sectigo.com. zz~1", 19);
	free(lines);
	st = open_store(&loop);
	dcv_store_stats(st, &stats);
	assert_true(missing >= 1);
	assert_int_equal(stats.holders_fixed, 2 + missing);
	expect_model(st, gens);
	dcv_store_close(st);
	expect_holders(gens);
	/* The next start finds nothing to fix. */
	st = open_store(&loop);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.holders_fixed, 0);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Records that do not parse, or name another id: reported, removed; the rest loads. */
static void test_damaged_records(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record rec, *recs = NULL;
	struct dcv_store_batch *b = NULL;
	struct dcv_store *st = NULL;
	unsigned char *text = NULL;
	int64_t gens[NIDS];
	char prefix[700];
	uv_loop_t loop;
	size_t n = 0, len = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	st = open_store(&loop);
	b = dcv_store_batch_new(st);
	for (unsigned u = 0; u < 5; u++)
		batch_rec(b, u, u + 1, gens);
	commit_ok(&loop, b);
	dcv_store_close(st);
	db_put("jobs", "bad~1", "garbage", 7);
	mrec(&rec, 7, 3);
	assert_int_equal(dcv_job_record_emit(&rec, &text, &len), DCV_OK);
	db_put("jobs", "wrong~1", text, len);
	db_put("jobs", "cut~1", text, len - 3);
	free(text);
	dcv_job_record_free(&rec);
	/* dcv status only reports them. */
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_OK);
	expect_model_recs(recs, n, gens);
	dcv_job_records_free(recs, n);
	tu_expect_n(&errors, 3);
	for (size_t i = 0; i < errors.n; i++)
		assert_non_null(strstr(errors.v[i], "(damaged record)"));
	dcv_strv_free(&errors);
	/* dcvd removes them. */
	st = open_store(&loop);
	assert_int_equal(dcv_store_load(st, &recs, &n, &errors), DCV_OK);
	expect_model_recs(recs, n, gens);
	dcv_job_records_free(recs, n);
	tu_dump("load reported", &errors);
	tu_expect_n(&errors, 3);
	snprintf(prefix, sizeof(prefix), "%s/state/data.mdb (job bad~1):1:1: expected 'dcv-job 1'",
	         tu_dir);
	assert_non_null(strstr(errors.v[0], prefix));
	snprintf(prefix, sizeof(prefix), "%s/state/data.mdb (job cut~1):", tu_dir);
	assert_non_null(strstr(errors.v[1], prefix));
	assert_non_null(strstr(errors.v[1], "cut short"));
	snprintf(prefix, sizeof(prefix),
	         "%s/state/data.mdb (job wrong~1): the record's id is m007~1", tu_dir);
	assert_non_null(strstr(errors.v[2], prefix));
	for (size_t i = 0; i < errors.n; i++)
		assert_non_null(strstr(errors.v[i], "(damaged record: removed)"));
	dcv_strv_free(&errors);
	dcv_store_close(st);
	st = open_store(&loop);
	expect_model(st, gens);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Job logs of the format before LMDB: not imported, and no start over them. */
static void test_old_logs_refused(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL;
	struct dcv_store *st = NULL;
	struct dcv_why why;
	char want[700];
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(mkdir(tu_path("state"), 0750), 0);
	tu_put("state/0000000000000002.log", 0640, "---\nversion: 1\n...\n");
	tu_put("state/0000000000000001.log", 0640, "---\nversion: 1\n...\n");
	tu_put("state/web~1.job", 0640, "---\nversion: 1\n...\n");
	tu_put("state/.hidden.job", 0640, "x");
	tu_put("state/notes.log", 0640, "x");
	assert_int_equal(dcv_store_open(&loop, tu_dir, &st, &why), DCV_ESTATE);
	assert_null(st);
	snprintf(want, sizeof(want),
	         "%s/state/0000000000000001.log: job log of the format before LMDB; dcvd 0.x wrote "
	         "it; withdraw its records by hand or remove it: starting would orphan them (and 2 "
	         "more such files)",
	         tu_dir);
	assert_string_equal(why.text, want);
	/* No environment was made beside them. */
	assert_false(exists(tu_path("state/data.mdb")));
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_ESTATE);
	tu_expect_n(&errors, 1);
	assert_string_equal(errors.v[0], want);
	dcv_strv_free(&errors);
	unlink(tu_path("state/0000000000000001.log"));
	unlink(tu_path("state/0000000000000002.log"));
	assert_int_equal(dcv_store_open(&loop, tu_dir, &st, &why), DCV_ESTATE);
	assert_non_null(strstr(why.text, "state/web~1.job: job record file of the format before"));
	unlink(tu_path("state/web~1.job"));
	st = open_store(&loop);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A data.mdb LMDB cannot read: no start, and the message names the file. */
static void test_unreadable_refused(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL;
	struct dcv_store_batch *b = NULL;
	struct dcv_store *st = NULL;
	int64_t gens[NIDS];
	struct dcv_why why;
	char want[700];
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	st = open_store(&loop);
	b = dcv_store_batch_new(st);
	batch_rec(b, 1, 1, gens);
	commit_ok(&loop, b);
	dcv_store_close(st);
	/* Both meta pages garbage. */
	tu_run("head -c 8192 /dev/urandom | dd of='%s' conv=notrunc status=none",
	       tu_path("state/data.mdb"));
	assert_int_equal(dcv_store_open(&loop, tu_dir, &st, &why), DCV_ESTATE);
	assert_null(st);
	snprintf(want, sizeof(want), "%s/state/data.mdb: cannot open the job database: ", tu_dir);
	assert_non_null(strstr(why.text, want));
	assert_non_null(strstr(why.text, "dcvd does not start on it"));
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_ESTATE);
	tu_expect_n(&errors, 1);
	dcv_strv_free(&errors);
	/* Moved aside, as the message says: an empty start. */
	assert_int_equal(rename(tu_path("state/data.mdb"), tu_path("data.mdb.damaged")), 0);
	model_none(gens);
	st = open_store(&loop);
	expect_model(st, gens);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* MDB_MAP_FULL grows the map (the batch retried), up to the bound; beyond it the batch fails. */
static void test_map_grows(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_store *st = NULL;
	int64_t gens[NIDS];
	struct dcv_why why;
	char id[32];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	/* A new environment gets the smallest map LMDB makes (1 MiB). */
	store_tuning_defaults.map_start = 64 * 1024;
	st = open_store(&loop);
	store_tuning_defaults.map_start = STORE_MAP_START;
	b = dcv_store_batch_new(st);
	batch_rec(b, 1, 1, gens);
	commit_ok(&loop, b);
	/* 3,000 records (some 2 MiB) into a map of 1 MiB. */
	b = dcv_store_batch_new(st);
	for (size_t i = 0; i < 3000; i++) {
		struct dcv_job_record rec;

		snprintf(id, sizeof(id), "big%06zu~1", i);
		tu_rec_make(&rec, id, i, 2, 2);
		assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
		dcv_job_record_free(&rec);
	}
	commit_ok(&loop, b);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.map_grown, 1);
	assert_true(stats.map_size >= 2 * 1024 * 1024);
	assert_int_equal(records_on_disk(&loop), 3001);
	/* A bound below what the next batch needs: it fails, and nothing of it is there. */
	st->tuning.map_max = stats.map_size;
	b = dcv_store_batch_new(st);
	for (size_t i = 0; i < 10000; i++) {
		struct dcv_job_record rec;

		snprintf(id, sizeof(id), "more%06zu~1", i);
		tu_rec_make(&rec, id, i, 2, 2);
		assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
		dcv_job_record_free(&rec);
	}
	assert_int_equal(run_batch(&loop, b, &why), DCV_EIO);
	print_message("beyond the bound: %s\n", why.text);
	assert_non_null(strstr(why.text, tu_path("state/data.mdb")));
	assert_non_null(strstr(why.text, "MDB_MAP_FULL"));
	assert_int_equal(records_on_disk(&loop), 3001);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * dcv status's reading: no state/ is an error and is not made; no
 * data.mdb yet is no records; a missing lock.mdb is not created (its
 * owner would be whoever runs dcv status); records are read and nothing
 * is changed; without write access to lock.mdb, DCV_EPERM.
 */
static void test_read(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL;
	struct dcv_store_batch *b = NULL;
	struct dcv_store *st = NULL;
	unsigned char *before = NULL, *after = NULL;
	size_t n = 0, len = 0, len2 = 0;
	int64_t gens[NIDS];
	uv_loop_t loop;
	int status = 0;
	pid_t pid = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_EIO);
	tu_expect_n(&errors, 1);
	assert_false(exists(tu_path("state")));
	dcv_strv_free(&errors);
	assert_int_equal(mkdir(tu_path("state"), 0750), 0);
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_OK);
	assert_int_equal(n, 0);
	tu_expect_n(&errors, 0);
	assert_false(exists(tu_path("state/data.mdb")));
	assert_false(exists(tu_path("state/lock.mdb")));

	st = open_store(&loop);
	b = dcv_store_batch_new(st);
	for (unsigned u = 0; u < 8; u++)
		batch_rec(b, u, u, gens);
	commit_ok(&loop, b);
	dcv_store_close(st);
	before = slurp(tu_path("state/data.mdb"), &len);
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_OK);
	tu_expect_n(&errors, 0);
	expect_model_recs(recs, n, gens);
	dcv_job_records_free(recs, n);
	after = slurp(tu_path("state/data.mdb"), &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(before, after, len);
	free(before);
	free(after);

	assert_int_equal(unlink(tu_path("state/lock.mdb")), 0);
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_EPERM);
	tu_expect_n(&errors, 1);
	assert_non_null(strstr(errors.v[0], "lock.mdb is missing"));
	assert_false(exists(tu_path("state/lock.mdb")));
	dcv_strv_free(&errors);
	st = open_store(&loop);
	dcv_store_close(st);

	/* A member of the spool's group who is not its owner: may read data.mdb, not lock.mdb. */
	if (geteuid() != 0) {
		print_message("not root: the reader without write access is not tried\n");
		goto out;
	}
	tu_run("chgrp -R nogroup '%s' && chmod 0750 '%s'", tu_dir, tu_dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct passwd *pw = getpwnam("nobody");
		struct group *gr = getgrnam("nogroup");
		int rc = 0;

		if (pw == NULL || gr == NULL || setgroups(0, NULL) < 0 || setgid(gr->gr_gid) < 0 ||
		    setuid(pw->pw_uid) < 0)
			_exit(2);
		rc = dcv_store_read(tu_dir, &recs, &n, &errors);
		if (rc == DCV_EPERM && errors.n == 1 && strstr(errors.v[0], "Permission denied"))
			_exit(0);
		fprintf(stderr, "read as nobody: %d, %s\n", rc, errors.n ? errors.v[0] : "");
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
out:
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- timings ---- */

/* One "visible" batch of 10,000 jobs into spool (made fresh); returns its wall ms. */
static double visible_round(uv_loop_t *loop, const char *spool, unsigned threads, double *cpu)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store *st = NULL;
	char rel[128];
	struct dcv_why why;
	uint64_t start = 0;
	double cpu_start = 0, ms = 0;

	snprintf(rel, sizeof(rel), "%s/active", spool);
	assert_int_equal(mkdir(tu_path(spool), 0750), 0);
	assert_int_equal(mkdir(tu_path(rel), 0750), 0);
	for (size_t i = 0; i < 10000; i++) {
		snprintf(rel, sizeof(rel), "%s/active/job%06zu.csr", spool, i);
		tu_put(rel, 0640, "-----BEGIN CERTIFICATE REQUEST-----\n");
	}
	if (dcv_store_open(loop, tu_path(spool), &st, &why) != DCV_OK)
		fail_msg("%s", why.text);
	st->tuning.status_threads = threads;
	b = dcv_store_batch_new(st);
	add_visible_jobs(b, 10000);
	/* What is on the disk now should not count in the batch's time. */
	sync();
	start = uv_hrtime();
	cpu_start = cpu_ms();
	commit_ok(loop, b);
	ms = ms_since(start);
	*cpu = cpu_ms() - cpu_start;
	snprintf(rel, sizeof(rel), "%s/done", spool);
	assert_int_equal(count_suffix(rel, ".status"), 10000);
	assert_int_equal(count_suffix(rel, ".csr"), 10000);
	/*
	 * Kept until the teardown: ext4 without a journal looks at recently
	 * deleted inodes when it allocates one, so deleting here would slow
	 * down the next round's files.
	 */
	dcv_store_close(st);
	return ms;
}

/*
 * The daemon's "visible" batch of a burst: record, status file, move of the
 * CSR, 10,000 times; status files on one thread and on two, in turns (which
 * goes first alternates). DCV_STORE_BENCH_ROUNDS sets the number of turns
 * (default 1).
 */
static void test_visible_threads(void **state)
{
	const char *env = getenv("DCV_STORE_BENCH_ROUNDS");
	unsigned rounds = env != NULL ? (unsigned)atoi(env) : 1;
	double ms = 0, cpu = 0;
	char spool[32];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned k = 0; k < 2; k++) {
			unsigned threads = 1 + (k + r) % 2;

			snprintf(spool, sizeof(spool), "spool-%u-%u", r, threads);
			ms = visible_round(&loop, spool, threads, &cpu);
			print_message("visible batch of 10,000 jobs (record, status file, move), "
			              "status files on %u thread%s: %.0f ms (%.0f ms CPU)\n",
			              threads, threads > 1 ? "s" : "", ms, cpu);
		}
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_generations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_holders_shared, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_holders_repair, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_old_logs_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_map_grows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_visible_threads, setup, teardown),
	};

	/* DCV_TEST_FILTER=test_visible_threads runs one test (for measuring). */
	if (getenv("DCV_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("DCV_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
