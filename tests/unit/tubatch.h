/*
 * tubatch.h -- helpers of the store tests (test_store.c, test_store_log.c):
 * a store on tu_dir, a batch committed and waited for on the loop, loads
 * that must be clean, files counted by suffix. Header-only (static inline)
 * like tufiles.h.
 */
#ifndef DCV_TUBATCH_H
#define DCV_TUBATCH_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "store.h"
#include "testutil.h"
#include "tufiles.h"
#include "tustore.h"

struct done {
	int calls;
	int status;
	struct dcv_why why;
	int faults;                   /* moves that failed on their own entry */
	struct dcv_store_fault fault; /* the last one */
};

static inline void on_fault(void *arg, const struct dcv_store_fault *f)
{
	struct done *d = arg;

	d->faults++;
	d->fault = *f;
}

static inline void on_done(void *arg, int status, const struct dcv_why *why)
{
	struct done *d = arg;

	d->calls++;
	d->status = status;
	d->why = *why;
}

/* Commits b and runs the loop until its callback ran; returns its status and the faults. */
static inline int run_batch_faults(uv_loop_t *loop, struct dcv_store_batch *b, struct dcv_why *why,
                                   struct done *out)
{
	struct done d;

	memset(&d, 0, sizeof(d));
	dcv_store_batch_on_fault(b, on_fault);
	assert_int_equal(dcv_store_batch_commit(b, on_done, &d), DCV_OK);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(d.calls, 1);
	if (why != NULL)
		*why = d.why;
	if (out != NULL)
		*out = d;
	return d.status;
}

static inline int run_batch(uv_loop_t *loop, struct dcv_store_batch *b, struct dcv_why *why)
{
	return run_batch_faults(loop, b, why, NULL);
}

static inline double ms_since(uint64_t start_ns)
{
	return (double)(uv_hrtime() - start_ns) / 1e6;
}

/* CPU time of the process (all its threads), ms: wall time says little on a busy machine. */
static inline double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static inline mode_t mode_of(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) < 0)
		fail_msg("%s: %s", path, strerror(errno));
	return sb.st_mode & 07777;
}

static inline bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* Files in folder (relative to tu_dir) whose name ends with suffix. */
static inline size_t count_suffix(const char *folder, const char *suffix)
{
	struct dirent *de = NULL;
	DIR *d = opendir(tu_path(folder));
	size_t n = 0, m = strlen(suffix);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len >= m && strcmp(de->d_name + len - m, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static inline unsigned char *slurp(const char *path, size_t *len)
{
	unsigned char *buf = NULL;
	struct dcv_why why;

	if (dcv_read_file(path, 1 << 24, &buf, len, &why) != DCV_OK)
		fail_msg("%s: %s", path, why.text);
	return buf;
}

static inline struct dcv_store *open_store(uv_loop_t *loop)
{
	struct dcv_store *st = NULL;
	struct dcv_why why;

	if (dcv_store_open(loop, tu_dir, &st, &why) != DCV_OK)
		fail_msg("open %s: %s", tu_dir, why.text);
	return st;
}

/* Loads and expects no complaint. */
static inline struct dcv_job_record *load_clean(struct dcv_store *st, size_t *n)
{
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record *recs = NULL;

	assert_int_equal(dcv_store_load(st, &recs, n, &errors), DCV_OK);
	tu_expect_n(&errors, 0);
	return recs;
}

/* How many records a new store loads from tu_dir. */
static inline size_t records_on_disk(uv_loop_t *loop)
{
	struct dcv_store *st = open_store(loop);
	struct dcv_job_record *recs = NULL;
	size_t n = 0;

	recs = load_clean(st, &n);
	dcv_job_records_free(recs, n);
	dcv_store_close(st);
	return n;
}

/*
 * Adds to b what dcvd's "visible" batch after a burst holds for jobs
 * job000000 .. job<n-1>: the record (id "jobNNNNNN~00ff"), the status file
 * in done/ and the move of the CSR from active/ to done/.
 */
static inline void add_visible_jobs(struct dcv_store_batch *b, size_t n)
{
	struct dcv_job_record rec;
	char id[32], from[64], to[64];

	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "job%06zu~00ff", i);
		tu_rec_make(&rec, id, i, 1 + i % 3, 1 + i % 2);
		rec.state = DCV_JOB_VISIBLE;
		snprintf(rec.ext, sizeof(rec.ext), "csr");
		snprintf(from, sizeof(from), "active/job%06zu.csr", i);
		snprintf(to, sizeof(to), "done/job%06zu.csr", i);
		assert_int_equal(dcv_store_batch_record(b, &rec), DCV_OK);
		assert_int_equal(dcv_store_batch_status(b, "done", &rec), DCV_OK);
		assert_int_equal(dcv_store_batch_move(b, from, to), DCV_OK);
		dcv_job_record_free(&rec);
	}
}

#endif
