/*
 * store_status.c -- a batch's status files (store_int.h): the operator's
 * view, one file per job as the spool layout wants, so each costs a file
 * creation. A reader sees a whole file, the old or the new one: a new
 * file is written unnamed and linked into place (store_link_new_file());
 * one that replaces another, or where that cannot work, is written to a
 * temporary name and renamed into place. The link costs the folder one
 * entry, the temporary three changes (its entry, and the rename's removal
 * and entry); in a 10,000-CSR burst the status files were the largest
 * part of dcvd's system time.
 *
 * Nothing here is flushed: status files are derived from the job records,
 * which are durable before the status files are written. A flush of the
 * status files (one syncfs() per batch before) flushed the whole file
 * system and stalled the DNS server's own journal fsync on the same disk.
 * After a power loss a status file may be missing, empty or old; dcvd
 * rebuilds it from its record at start (the refresh jobs below).
 *
 * With tuning.status_threads == 2 a second thread takes half of the files:
 * see the measurements in the report of test_store_log.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	size_t renamed; /* files put in place */
	int rc;
	struct dcv_why why;
};

/* Whether dir/name holds exactly len bytes of buf (a refresh need not write it). */
static bool same_content(const struct store_dir *dir, const char *name, const unsigned char *buf,
                         size_t len)
{
	unsigned char *old = NULL;
	size_t old_len = 0;
	struct stat sb;
	bool same = false;
	int fd = openat(dir->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == len &&
	    dcv_read_fd(fd, len, &old, &old_len, NULL) == DCV_OK)
		same = old_len == len && memcmp(old, buf, len) == 0;
	close(fd);
	free(old);
	return same;
}

/* Puts one status file in place: linked when it is new, else a temporary renamed over it. */
static int put_one(struct half *h, const struct store_status_job *job)
{
	char tmp[FILE_NAME_SIZE], final[FILE_NAME_SIZE], path[PATH_MAX];
	int rc = DCV_OK;

	snprintf(tmp, sizeof(tmp), ".%s.status.tmp", job->name);
	snprintf(final, sizeof(final), "%s.status", job->name);
	if (job->refresh && same_content(job->dir, final, job->text, job->len))
		goto out;
	/* Most status files are new (a job's first, in done/ or failed/): no temporary then. */
	if (!job->refresh) {
		rc = store_link_new_file(h->st, job->dir, final, job->text, job->len, &h->why);
		if (rc == DCV_OK)
			h->renamed++;
		if (rc != STORE_LINK_NOT_DONE)
			goto out;
		rc = DCV_OK;
	}
	rc = store_write_file(h->st, job->dir, tmp, job->text, job->len, &h->why);
	if (rc == DCV_OK && renameat(job->dir->fd, tmp, job->dir->fd, final) < 0) {
		store_path(h->st, job->dir, final, path, sizeof(path));
		dcv_why_set(&h->why, "%s: rename into place failed: %s", path, strerror(errno));
		rc = DCV_EIO;
	}
	/* A file that open() created but write() or rename() failed on is removed too. */
	if (rc < 0)
		unlinkat(job->dir->fd, tmp, 0);
	else
		h->renamed++;
out:
	return rc;
}

static void half_run(void *arg)
{
	struct half *h = arg;

	for (size_t i = h->first; i < h->end && h->rc == DCV_OK; i++)
		h->rc = put_one(h, &h->jobs[i]);
}

int store_status_write(struct dcv_store *st, const struct store_status_job *jobs, size_t n,
                       uint64_t *renamed, struct dcv_why *why)
{
	struct half halves[2];
	size_t n_halves = st->tuning.status_threads >= 2 && n >= 64 ? 2 : 1;
	uv_thread_t helper;
	bool started = false;
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
	/* The second half on its own thread; if it cannot start, on this one. */
	if (n_halves == 2)
		started = uv_thread_create(&helper, half_run, &halves[1]) == 0;
	half_run(&halves[0]);
	if (started)
		uv_thread_join(&helper);
	else if (n_halves == 2)
		half_run(&halves[1]);
	/* The first failure, in file order. */
	for (size_t k = 0; k < n_halves; k++) {
		*renamed += halves[k].renamed;
		if (halves[k].rc < 0 && rc == DCV_OK) {
			rc = halves[k].rc;
			*why = halves[k].why;
		}
	}
	return rc;
}
