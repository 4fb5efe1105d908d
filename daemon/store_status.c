/*
 * store_status.c -- a batch's status files (store_int.h): the operator's
 * view, one file per job as the spool layout wants, so each costs a file
 * creation and a rename. Each is written to a temporary name; one syncfs()
 * puts all of their data on disk; then each is renamed into place, so a
 * status file is whole or the old one.
 *
 * With tuning.status_threads == 2 a second thread takes half of the files
 * (emitting and writing, then renaming): see the measurements in the
 * report of test_store_log.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

/*
 * Checked records keep "<NAME>.status.tmp" within NAME_MAX; the buffers
 * are sized for what the compiler can see.
 */
#define FILE_NAME_SIZE 384

/* The share of one thread. */
struct half {
	struct dcv_store *st;
	const struct store_status_job *jobs;
	size_t first, end;
	size_t written; /* temporaries created, from first on */
	size_t renamed; /* of those, renamed into place */
	bool renaming;
	int rc;
	struct dcv_why why;
};

static void names_of(const struct store_status_job *job, char *tmp, size_t tmp_size, char *final,
                     size_t final_size)
{
	snprintf(tmp, tmp_size, ".%s.status.tmp", job->rec->name);
	snprintf(final, final_size, "%s.status", job->rec->name);
}

static void half_write(struct half *h)
{
	unsigned char *buf = NULL;
	char tmp[FILE_NAME_SIZE], final[FILE_NAME_SIZE], path[PATH_MAX];
	size_t len = 0;

	for (size_t i = h->first; i < h->end && h->rc == DCV_OK; i++) {
		const struct store_status_job *job = &h->jobs[i];

		names_of(job, tmp, sizeof(tmp), final, sizeof(final));
		h->rc = dcv_job_status_emit(job->rec, &buf, &len);
		if (h->rc < 0) {
			store_path(h->st, job->dir, final, path, sizeof(path));
			dcv_why_set(&h->why, "%s: cannot write the status: %s", path,
			            dcv_strerror(h->rc));
			break;
		}
		h->rc = store_write_file(h->st, job->dir, tmp, buf, len, &h->why);
		free(buf);
		buf = NULL;
		/* A file that open() created but write() failed on is removed too. */
		h->written++;
	}
}

static void half_rename(struct half *h)
{
	char tmp[FILE_NAME_SIZE], final[FILE_NAME_SIZE], path[PATH_MAX];

	for (size_t i = h->first; i < h->first + h->written; i++) {
		const struct store_status_job *job = &h->jobs[i];

		names_of(job, tmp, sizeof(tmp), final, sizeof(final));
		if (renameat(job->dir->fd, tmp, job->dir->fd, final) < 0) {
			store_path(h->st, job->dir, final, path, sizeof(path));
			dcv_why_set(&h->why, "%s: rename into place failed: %s", path,
			            strerror(errno));
			h->rc = DCV_EIO;
			break;
		}
		h->renamed++;
	}
}

static void half_run(void *arg)
{
	struct half *h = arg;

	if (h->renaming)
		half_rename(h);
	else
		half_write(h);
}

/* Runs both halves, the second on its own thread when there are two. */
static void run_halves(struct half *halves, size_t n_halves)
{
	uv_thread_t helper;
	bool started = false;

	if (n_halves == 2)
		started = uv_thread_create(&helper, half_run, &halves[1]) == 0;
	half_run(&halves[0]);
	if (started)
		uv_thread_join(&helper);
	else if (n_halves == 2)
		half_run(&halves[1]);
}

/* Removes the temporaries that were written and not renamed. */
static void remove_leftovers(struct half *halves, size_t n_halves)
{
	char tmp[FILE_NAME_SIZE], final[FILE_NAME_SIZE];

	for (size_t k = 0; k < n_halves; k++) {
		struct half *h = &halves[k];

		for (size_t i = h->first + h->renamed; i < h->first + h->written; i++) {
			names_of(&h->jobs[i], tmp, sizeof(tmp), final, sizeof(final));
			unlinkat(h->jobs[i].dir->fd, tmp, 0);
		}
	}
}

/* The first failure of the halves, in file order. */
static int first_failure(const struct half *halves, size_t n_halves, struct dcv_why *why)
{
	for (size_t k = 0; k < n_halves; k++) {
		if (halves[k].rc < 0) {
			*why = halves[k].why;
			return halves[k].rc;
		}
	}
	return DCV_OK;
}

int store_status_write(struct dcv_store *st, const struct store_status_job *jobs, size_t n,
                       uint64_t *renamed, uint64_t *syncfs_calls, struct dcv_why *why)
{
	struct half halves[2];
	size_t n_halves = st->tuning.status_threads >= 2 && n >= 64 ? 2 : 1;
	char path[PATH_MAX];
	int rc = DCV_OK;

	if (n == 0)
		return DCV_OK;
	for (size_t k = 0; k < n_halves; k++) {
		memset(&halves[k], 0, sizeof(halves[k]));
		halves[k].st = st;
		halves[k].jobs = jobs;
		halves[k].first = n * k / n_halves;
		halves[k].end = n * (k + 1) / n_halves;
	}
	run_halves(halves, n_halves);
	rc = first_failure(halves, n_halves, why);
	if (rc < 0)
		goto out;
	(*syncfs_calls)++;
	/* The data of every temporary file is on disk before any of them gets its real name. */
	if (syncfs(jobs[0].dir->fd) < 0) {
		store_path(st, jobs[0].dir, "", path, sizeof(path));
		dcv_why_set(why, "%s: syncfs failed: %s", path, strerror(errno));
		rc = DCV_EIO;
		goto out;
	}
	for (size_t k = 0; k < n_halves; k++)
		halves[k].renaming = true;
	run_halves(halves, n_halves);
	rc = first_failure(halves, n_halves, why);
out:
	for (size_t k = 0; k < n_halves; k++) {
		*renamed += halves[k].renamed;
		for (size_t i = halves[k].first; i < halves[k].first + halves[k].renamed; i++)
			jobs[i].dir->dirty = true;
	}
	remove_leftovers(halves, n_halves);
	return rc;
}
