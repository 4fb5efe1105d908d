/*
 * test_store_log.c -- the store's logs (store.h) on a real filesystem:
 * many generations of the same ids in one log and across logs (the last
 * wins), forgets (a forgotten job never comes back while the files that
 * held it are deleted one by one), compaction (files deleted, live records
 * kept, the load after it equal to the load before), migration from the
 * record files of the format before logs, damaged logs (each damaged entry
 * reported at its FILE:LINE:COL, the rest kept; a damaged entry that a
 * newer one replaces is never read), reading without changing anything
 * (dcv status), a batch's log read by python3's yaml module, and timings:
 * a 10,000-job "visible" batch with its status files on one and on two
 * threads, and a load of 50,000 records after many generations.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "jobrec_int.h"
#include "store.h"
#include "store_int.h"
#include "tubatch.h"
#include "tufiles.h"
#include "tustore.h"

#define NIDS 300
#define NONE (-1)

static int setup(void **state)
{
	return tu_dir_setup(state);
}

static int teardown(void **state)
{
	return tu_dir_teardown(state);
}

/* The record of id number u at generation gen: every field depends on both. */
static void mrec(struct dcv_job_record *rec, unsigned u, int64_t gen)
{
	char id[32];

	snprintf(id, sizeof(id), "m%03u~1", u);
	tu_rec_make(rec, id, (uint64_t)gen, 1 + (uint64_t)gen % 3, (uint64_t)gen % 2);
}

/* ---- text of logs made by hand ---- */

struct text {
	unsigned char *buf;
	size_t len;
};

static void add_bytes(struct text *t, const void *p, size_t n)
{
	t->buf = realloc(t->buf, t->len + n);
	assert_non_null(t->buf);
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

static void add_rec(struct text *t, unsigned u, int64_t gen)
{
	struct dcv_job_record rec;
	unsigned char *buf = NULL;
	size_t len = 0;

	mrec(&rec, u, gen);
	assert_int_equal(dcv_job_record_emit(&rec, &buf, &len), DCV_OK);
	add_bytes(t, buf, len);
	free(buf);
	dcv_job_record_free(&rec);
}

static void add_forget(struct text *t, unsigned u)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	char id[32];

	snprintf(id, sizeof(id), "m%03u~1", u);
	assert_int_equal(dcv_jobrec_forget_emit(id, &buf, &len), DCV_OK);
	add_bytes(t, buf, len);
	free(buf);
}

static unsigned long lines_in(const struct text *t)
{
	unsigned long n = 0;

	for (size_t i = 0; i < t->len; i++)
		n += t->buf[i] == '\n';
	return n;
}

static const char *log_rel(uint64_t seq)
{
	static char rel[64];
	char name[32];

	store_log_name(seq, name, sizeof(name));
	snprintf(rel, sizeof(rel), "state/%s", name);
	return rel;
}

static void put_log(uint64_t seq, struct text *t)
{
	tu_put_bytes(log_rel(seq), 0640, t->buf, t->len);
	free(t->buf);
	t->buf = NULL;
	t->len = 0;
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

/* The same from a new store, as after a restart. */
static void expect_model_fresh(uv_loop_t *loop, const int64_t *gens)
{
	struct dcv_store *st = open_store(loop);

	expect_model(st, gens);
	dcv_store_close(st);
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

/* Generations of the same ids in one log made by hand, then across logs of batches. */
static void test_generations(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_store *st = NULL;
	struct text t = {NULL, 0};
	int64_t gens[NIDS];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	assert_int_equal(mkdir(tu_path("state"), 0750), 0);
	for (int64_t g = 1; g <= 5; g++)
		for (unsigned u = 0; u < 10; u++) {
			add_rec(&t, u, g * 10 + u);
			gens[u] = g * 10 + u;
		}
	add_forget(&t, 3);
	add_forget(&t, 4);
	add_rec(&t, 4, 77);
	gens[3] = NONE;
	gens[4] = 77;
	/* One YAML stream of 53 documents to python3 too. */
	assert_string_equal(
	    tu_run_line("python3 -c 'import sys, yaml; print(len(list(yaml.safe_load_all("
	                "open(sys.argv[1])))))' '%s'",
	                tu_put_bytes(log_rel(1), 0640, t.buf, t.len)),
	    "53");
	put_log(1, &t);
	add_rec(&t, 0, 100);
	add_forget(&t, 1);
	put_log(2, &t);
	gens[0] = 100;
	gens[1] = NONE;
	st = open_store(&loop);
	expect_model(st, gens);

	/* Twenty batches rewrite the same ten ids: dead logs go, one batch later. */
	for (int64_t k = 0; k < 20; k++) {
		b = dcv_store_batch_new(st);
		for (unsigned u = 0; u < 10; u++)
			batch_rec(b, u, 1000 + k * 10 + u, gens);
		commit_ok(&loop, b);
		assert_true(count_suffix("state", ".log") <= 3);
	}
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.files_deleted, 20);
	assert_int_equal(stats.entry_files, 2);
	assert_int_equal(count_suffix("state", ".log"), 2);
	expect_model(st, gens);
	dcv_store_close(st);
	expect_model_fresh(&loop, gens);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * A forget keeps its log while an older log holds the id: deleting it
 * first would bring the job back. The files go in order, a batch apart.
 */
static void test_forgets(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_store *st = NULL;
	int64_t gens[NIDS];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	st = open_store(&loop);
	/* 1: x and y (ids 1 and 2). */
	b = dcv_store_batch_new(st);
	batch_rec(b, 1, 1, gens);
	batch_rec(b, 2, 1, gens);
	commit_ok(&loop, b);
	/* 2: forget x; log 1 still holds y, and x. */
	b = dcv_store_batch_new(st);
	batch_forget(b, 1, gens);
	commit_ok(&loop, b);
	assert_int_equal(count_suffix("state", ".log"), 2);
	expect_model_fresh(&loop, gens);
	/* A forget of an id that has no entry, or of one recorded in the same batch: no log. */
	b = dcv_store_batch_new(st);
	assert_int_equal(dcv_store_batch_forget(b, "never~1"), DCV_OK);
	batch_rec(b, 7, 1, gens);
	batch_forget(b, 7, gens);
	commit_ok(&loop, b);
	assert_int_equal(count_suffix("state", ".log"), 2);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.files_written, 2);
	/* 3: y again; log 1 holds nothing live (x's forget masks its x). */
	b = dcv_store_batch_new(st);
	batch_rec(b, 2, 2, gens);
	commit_ok(&loop, b);
	assert_int_equal(count_suffix("state", ".log"), 3);
	/* 4: z; log 1 is deleted, then log 2 (x's forget) is the oldest and masks nothing. */
	b = dcv_store_batch_new(st);
	batch_rec(b, 3, 1, gens);
	commit_ok(&loop, b);
	assert_false(exists(tu_path(log_rel(1))));
	assert_true(exists(tu_path(log_rel(2))));
	expect_model_fresh(&loop, gens);
	/* 5: z again; log 2 goes. 6: w; log 4 (the old z) goes. */
	b = dcv_store_batch_new(st);
	batch_rec(b, 3, 2, gens);
	commit_ok(&loop, b);
	assert_false(exists(tu_path(log_rel(2))));
	b = dcv_store_batch_new(st);
	batch_rec(b, 4, 1, gens);
	commit_ok(&loop, b);
	assert_false(exists(tu_path(log_rel(4))));
	assert_int_equal(count_suffix("state", ".log"), 3);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.files_deleted, 3);
	expect_model(st, gens);
	/* x back under the same id after its forget: a new job, the newest entry. */
	b = dcv_store_batch_new(st);
	batch_rec(b, 1, 9, gens);
	commit_ok(&loop, b);
	dcv_store_close(st);
	expect_model_fresh(&loop, gens);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Thirty batches of overlapping ids and forgets with compaction at 4 files. */
static void test_compaction(void **state)
{
	struct dcv_job_record *before = NULL, *after = NULL, extra;
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_store *st = NULL;
	size_t n_before = 0, n_after = 0;
	uint64_t compactions = 0;
	int64_t gens[NIDS];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	st = open_store(&loop);
	st->tuning.max_files = 4;
	st->tuning.slack_bytes = 0;
	for (unsigned k = 0; k < 30; k++) {
		b = dcv_store_batch_new(st);
		for (unsigned j = 0; j < 40; j++)
			batch_rec(b, (k * 37 + j * 11) % 200, k * 1000 + j, gens);
		for (unsigned j = 0; k % 3 == 2 && j < 5; j++)
			batch_forget(b, (k * 13 + j * 7) % 200, gens);
		/* The compaction this batch makes due runs in the same turn of the loop. */
		commit_ok(&loop, b);
		dcv_store_stats(st, &stats);
		assert_int_equal(stats.compaction_failures, 0);
		assert_int_equal(count_suffix("state", ".log"), stats.entry_files);
		assert_true(stats.entry_files <= 5);
		if (k % 5 == 4)
			expect_model(st, gens);
	}
	dcv_store_stats(st, &stats);
	print_message("30 batches: %" PRIu64 " compactions, %" PRIu64 " files deleted, %" PRIu64
	              " files of %" PRIu64 " bytes for %" PRIu64 " live bytes\n",
	              stats.compactions, stats.files_deleted, stats.entry_files, stats.entry_bytes,
	              stats.live_bytes);
	assert_true(stats.compactions >= 5);
	assert_true(stats.entry_bytes <= 2 * stats.live_bytes + 64 * 1024);
	expect_model_fresh(&loop, gens);

	/* The load after a compaction equals the load before it (plus the batch that led to it). */
	before = load_clean(st, &n_before);
	compactions = stats.compactions;
	st->tuning.max_files = 0;
	b = dcv_store_batch_new(st);
	tu_rec_make(&extra, "zz-extra~1", 5, 1, 1);
	assert_int_equal(dcv_store_batch_record(b, &extra), DCV_OK);
	commit_ok(&loop, b);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.compactions, compactions + 1);
	assert_int_equal(count_suffix("state", ".log"), 1);
	after = load_clean(st, &n_after);
	assert_int_equal(n_after, n_before + 1);
	for (size_t i = 0; i < n_before; i++)
		tu_rec_equal(&after[i], &before[i], true);
	tu_rec_equal(&after[n_before], &extra, true);
	dcv_job_records_free(before, n_before);
	dcv_job_records_free(after, n_after);
	dcv_job_record_free(&extra);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Record files of the format before logs: read, then rewritten into a log and deleted. */
static void test_migration(void **state)
{
	struct dcv_job_record rec;
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_store *st = NULL;
	struct text t = {NULL, 0};
	unsigned char *buf = NULL;
	char rel[64];
	size_t len = 0;
	int64_t gens[NIDS];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	assert_int_equal(mkdir(tu_path("state"), 0750), 0);
	for (unsigned u = 0; u < NIDS - 1; u++) {
		mrec(&rec, u, u);
		assert_int_equal(dcv_job_record_emit(&rec, &buf, &len), DCV_OK);
		snprintf(rel, sizeof(rel), "state/m%03u~1.job", u);
		tu_put_bytes(rel, 0640, buf, len);
		free(buf);
		dcv_job_record_free(&rec);
		gens[u] = u;
	}
	/* A log written after them replaces some and forgets others. */
	for (unsigned u = 0; u < 50; u++) {
		add_rec(&t, u, 1000 + u);
		gens[u] = 1000 + u;
	}
	for (unsigned u = 50; u < 60; u++) {
		add_forget(&t, u);
		gens[u] = NONE;
	}
	put_log(1, &t);
	st = open_store(&loop);
	expect_model(st, gens);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.entry_files, NIDS);

	/* Record files of the old format make the first batch compact. */
	b = dcv_store_batch_new(st);
	batch_rec(b, NIDS - 1, 5, gens);
	commit_ok(&loop, b);
	dcv_store_stats(st, &stats);
	assert_int_equal(stats.compactions, 1);
	assert_int_equal(count_suffix("state", ".job"), 0);
	assert_int_equal(count_suffix("state", ".log"), 1);
	assert_int_equal(stats.entry_files, 1);
	expect_model(st, gens);
	dcv_store_close(st);
	expect_model_fresh(&loop, gens);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * Only the newest entry of an id line is parsed: a damaged entry that a
 * whole, newer one replaces costs nothing and says nothing.
 */
static void test_superseded_unread(void **state)
{
	static const char bad[] = "---\nversion: 1\nid: m005~1\nstate: flying\n...\n";
	struct dcv_store *st = NULL;
	struct text t = {NULL, 0};
	int64_t gens[NIDS];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	assert_int_equal(mkdir(tu_path("state"), 0750), 0);
	add_bytes(&t, bad, strlen(bad));
	add_rec(&t, 6, 1);
	put_log(1, &t);
	add_rec(&t, 5, 2);
	put_log(2, &t);
	gens[5] = 2;
	gens[6] = 1;
	st = open_store(&loop);
	expect_model(st, gens);
	assert_true(exists(tu_path(log_rel(1))));
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Finds the message that starts with prefix, or fails. */
static const char *message_starting(const struct dcv_strv *errors, const char *prefix)
{
	for (size_t i = 0; i < errors->n; i++)
		if (strncmp(errors->v[i], prefix, strlen(prefix)) == 0)
			return errors->v[i];
	tu_dump("errors", errors);
	fail_msg("no message starting with %s", prefix);
	return NULL;
}

static void expect_in(const char *msg, const char *what)
{
	if (strstr(msg, what) == NULL)
		fail_msg("'%s' does not say '%s'", msg, what);
}

/*
 * Log 2 holds a whole entry, a damaged one, a whole one, and a last one cut
 * short; log 1 older versions of the damaged two. Returns the line where the
 * damaged entry begins in log 2.
 */
static unsigned long damaged_logs(int64_t *gens)
{
	static const char bad[] = "---\nversion: 1\nid: m001~1\nstate: flying\n...\n";
	struct text t = {NULL, 0};
	unsigned long bad_line = 0;

	model_none(gens);
	assert_int_equal(mkdir(tu_path("state"), 0750), 0);
	add_rec(&t, 1, 1);
	add_rec(&t, 3, 1);
	put_log(1, &t);
	add_rec(&t, 0, 2);
	bad_line = lines_in(&t) + 1;
	add_bytes(&t, bad, strlen(bad));
	add_rec(&t, 2, 2);
	add_rec(&t, 3, 2);
	t.len -= 4;
	put_log(2, &t);
	gens[0] = 2;
	gens[1] = 1; /* its newest entry is damaged: the one before it counts */
	gens[2] = 2;
	gens[3] = 1; /* its newest entry is cut short */
	tu_put("state/.0000000000000002.log.tmp", 0640, "a write cut short");
	return bad_line;
}

static void test_damaged_log(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL;
	struct dcv_store *st = NULL;
	unsigned long bad_line = 0;
	char prefix[700], want[900];
	const char *msg = NULL;
	int64_t gens[NIDS];
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	bad_line = damaged_logs(gens);
	st = open_store(&loop);
	assert_int_equal(dcv_store_load(st, &recs, &n, &errors), DCV_OK);
	tu_dump("load reported", &errors);
	expect_model_recs(recs, n, gens);
	dcv_job_records_free(recs, n);
	tu_expect_n(&errors, 3);
	/* Each damaged entry at its position in the log, the first problem first. */
	snprintf(prefix, sizeof(prefix),
	         "%s/state/0000000000000002.log:%lu:1: record: 'name' is "
	         "missing",
	         tu_dir, bad_line + 1);
	expect_in(message_starting(&errors, prefix), "(damaged entry: skipped)");
	/* sed(1) agrees on where the damaged entry is. */
	assert_string_equal(tu_run_line("sed -n '%lup' '%s/state/damaged/0000000000000002.log'",
	                                bad_line + 3, tu_dir),
	                    "state: flying");
	snprintf(prefix, sizeof(prefix), "%s/state/0000000000000002.log:", tu_dir);
	msg = message_starting(&errors, prefix);
	for (size_t i = 0; i < errors.n; i++)
		if (strstr(errors.v[i], "cut short") != NULL)
			msg = errors.v[i];
	expect_in(msg, "the record is cut short");
	/* The log: what was kept, and where it went. */
	snprintf(prefix, sizeof(prefix), "%s/state/0000000000000002.log: 2 damaged entries skipped",
	         tu_dir);
	msg = message_starting(&errors, prefix);
	snprintf(want, sizeof(want),
	         "its 2 live whole entries were rewritten to %s/state/0000000000000003.log (moved "
	         "to %s/state/damaged/0000000000000002.log)",
	         tu_dir, tu_dir);
	expect_in(msg, want);
	assert_false(exists(tu_path(log_rel(2))));
	assert_true(exists(tu_path("state/damaged/0000000000000002.log")));
	assert_false(exists(tu_path("state/.0000000000000002.log.tmp")));
	dcv_strv_free(&errors);
	/* Nothing left to complain about, nothing lost. */
	expect_model(st, gens);
	dcv_store_close(st);
	expect_model_fresh(&loop, gens);

	/* Logs that cannot be read at all, and one with nothing whole in it. */
	assert_int_equal(mkdir(tu_path("state/0000000000000007.log"), 0750), 0);
	assert_int_equal(symlink("0000000000000003.log", tu_path("state/0000000000000008.log")), 0);
	tu_put("state/0000000000000009.log", 0640, "garbage\n");
	st = open_store(&loop);
	assert_int_equal(dcv_store_load(st, &recs, &n, &errors), DCV_OK);
	tu_dump("load reported", &errors);
	expect_model_recs(recs, n, gens);
	dcv_job_records_free(recs, n);
	tu_expect_n(&errors, 4);
	snprintf(prefix, sizeof(prefix), "%s/state/0000000000000007.log: is not a regular file",
	         tu_dir);
	expect_in(message_starting(&errors, prefix), "(moved to ");
	snprintf(prefix, sizeof(prefix), "%s/state/0000000000000008.log: is a symbolic link",
	         tu_dir);
	expect_in(message_starting(&errors, prefix), "(moved to ");
	snprintf(prefix, sizeof(prefix), "%s/state/0000000000000009.log:2:1: the record is cut",
	         tu_dir);
	message_starting(&errors, prefix);
	snprintf(prefix, sizeof(prefix), "%s/state/0000000000000009.log: 1 damaged entry skipped (",
	         tu_dir);
	expect_in(message_starting(&errors, prefix), "damaged/0000000000000009.log)");
	assert_int_equal(count_suffix("state", ".log"), 2);
	dcv_strv_free(&errors);
	dcv_store_close(st);
	expect_model_fresh(&loop, gens);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* dcv_store_read() (dcv status) reports damage and changes nothing. */
static void test_read_only(void **state)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL;
	char prefix[700];
	int64_t gens[NIDS];
	size_t n = 0;

	damaged_logs(gens);
	tu_put("state/bad~1.job", 0640, "garbage");
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_OK);
	expect_model_recs(recs, n, gens);
	dcv_job_records_free(recs, n);
	tu_dump("read reported", &errors);
	tu_expect_n(&errors, 4);
	for (size_t i = 0; i < errors.n; i++)
		assert_null(strstr(errors.v[i], "moved"));
	snprintf(prefix, sizeof(prefix), "%s/state/0000000000000002.log: 2 damaged entries",
	         tu_dir);
	message_starting(&errors, prefix);
	snprintf(prefix, sizeof(prefix), "%s/state/bad~1.job:1:", tu_dir);
	message_starting(&errors, prefix);
	assert_true(exists(tu_path(log_rel(2))));
	assert_true(exists(tu_path("state/bad~1.job")));
	assert_true(exists(tu_path("state/.0000000000000002.log.tmp")));
	assert_false(exists(tu_path("state/damaged")));
	assert_int_equal(count_suffix("state", ".log"), 2);
	dcv_strv_free(&errors);
	/* A spool without state/ is an error, and state/ is not made. */
	tu_run("rm -rf '%s/state'", tu_dir);
	assert_int_equal(dcv_store_read(tu_dir, &recs, &n, &errors), DCV_EIO);
	tu_expect_n(&errors, 1);
	assert_false(exists(tu_path("state")));
	dcv_strv_free(&errors);
}

/* A batch's log as python3's yaml module reads it: records and forgets in order. */
static void test_log_python(void **state)
{
	struct dcv_store_batch *b = NULL;
	struct dcv_store *st = NULL;
	int64_t gens[NIDS];
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	model_none(gens);
	st = open_store(&loop);
	b = dcv_store_batch_new(st);
	batch_rec(b, 1, 1, gens);
	batch_rec(b, 2, 1, gens);
	commit_ok(&loop, b);
	b = dcv_store_batch_new(st);
	batch_rec(b, 3, 4, gens);
	batch_forget(b, 1, gens);
	batch_rec(b, 2, 5, gens);
	commit_ok(&loop, b);
	assert_string_equal(
	    tu_run_line("python3 -c 'import sys, yaml; print(\" \".join(d[\"id\"] + (\"/forget\" "
	                "if d.get(\"forget\") else \"/\" + str(d[\"received\"] - 1700000000)) for "
	                "d in yaml.safe_load_all(open(sys.argv[1]))))' '%s'",
	                tu_path(log_rel(2))),
	    "m003~1/4 m002~1/5 m001~1/forget");
	dcv_store_close(st);
	expect_model_fresh(&loop, gens);
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

/* 50,000 jobs through five generations each, then a load as at a restart. */
static void test_load_generations(void **state)
{
	struct dcv_job_record *recs = NULL, want;
	struct dcv_store_batch *b = NULL;
	struct dcv_store_stats stats;
	struct dcv_store *st = NULL;
	char id[32];
	uint64_t start = 0;
	double cpu_start = 0;
	uv_loop_t loop;
	size_t n = 0;

	assert_int_equal(uv_loop_init(&loop), 0);
	st = open_store(&loop);
	start = uv_hrtime();
	/* Ten batches of 10,000 jobs; each job again three and five batches later. */
	for (size_t k = 0; k < 10; k++) {
		b = dcv_store_batch_new(st);
		for (size_t i = 0; i < 10000; i++) {
			size_t job = (k % 5) * 10000 + i;

			snprintf(id, sizeof(id), "job%06zu~00ff", job);
			tu_rec_make(&want, id, job + k * 100000, 1 + job % 3, 1 + job % 2);
			assert_int_equal(dcv_store_batch_record(b, &want), DCV_OK);
			dcv_job_record_free(&want);
		}
		commit_ok(&loop, b);
	}
	dcv_store_stats(st, &stats);
	print_message("50,000 jobs, 100,000 records in 10 batches: %.0f ms; %" PRIu64
	              " compactions, %" PRIu64 " files of %" PRIu64 " bytes\n",
	              ms_since(start), stats.compactions, stats.entry_files, stats.entry_bytes);
	dcv_store_close(st);
	st = open_store(&loop);
	start = uv_hrtime();
	cpu_start = cpu_ms();
	recs = load_clean(st, &n);
	print_message("load of 50,000 records from %zu logs: %.0f ms (%.0f ms CPU)\n",
	              count_suffix("state", ".log"), ms_since(start), cpu_ms() - cpu_start);
	assert_int_equal(n, 50000);
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "job%06zu~00ff", i);
		tu_rec_make(&want, id, i + (i / 10000 + 5) * 100000, 1 + i % 3, 1 + i % 2);
		tu_rec_equal(&recs[i], &want, true);
		dcv_job_record_free(&want);
	}
	dcv_job_records_free(recs, n);
	dcv_store_close(st);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_generations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forgets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_superseded_unread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_python, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_visible_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_generations, setup, teardown),
	};

	/* DCV_TEST_FILTER=test_visible_threads runs one test (for measuring). */
	if (getenv("DCV_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("DCV_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
