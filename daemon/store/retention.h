/*
 * retention.h -- keep: how long a finished job stays (docs/decisions.md,
 * "Retention"). A job's files in done/ and failed/ and its record in the
 * store are deleted together once the job is older than keep; dcvd does
 * the ageing itself, not systemd-tmpfiles, because only the records say
 * which jobs still hold DNS records.
 *
 * The age rule (dcv_job_record_age(), pure): only a job that holds no
 * record ages -- a withdrawn one, or a failed one whose cleanup is done.
 * Its age counts from the latest time its record holds (withdrawn, or the
 * end of a failed job's cleanup, which job.c writes into withdrawn, or
 * failed), never from a file's mtime, which a user can change. A job that
 * holds records (visible -- with withdraw_after 0 for ever --,
 * withdrawing, a failed job's cleanup) or is still in flight is never
 * deleted; keep 0 deletes nothing.
 *
 * The sweep (dcv_store_batch_sweep()) is a store batch: it runs on the
 * thread pool, in the store's queue of batches, so never beside another
 * batch, and its deletions of records are one write transaction begun and
 * committed on that thread, like every batch's. It also removes dot-files
 * that a submitter left in incoming/ (it died between creating .NAME and
 * renaming it) once their mtime is older than dot_age.
 */
#ifndef DCV_RETENTION_H
#define DCV_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

enum dcv_job_age {
	DCV_JOB_AGE_EXPIRED,  /* delete it: finished, holds nothing, older than keep */
	DCV_JOB_AGE_YOUNG,    /* finished and holds nothing, not older than keep yet */
	DCV_JOB_AGE_HOLDS,    /* holds records: never deleted while it does */
	DCV_JOB_AGE_ACTIVE,   /* in flight (received): nothing published, not finished */
	DCV_JOB_AGE_KEEP_ALL, /* keep is 0: everything is kept */
	DCV_JOB_AGE_UNDATED,  /* finished, but its record holds no time to age from */
};

/*
 * Whether the job of rec is deleted at time now (unix s) under keep
 * (seconds; 0 keeps everything), and why (*why: a static phrase for logs).
 * *expires (optional) gets the first second at which the job will be
 * deleted if nothing changes -- for a young job; 0 otherwise (expired
 * already, or never by this rule as the record stands).
 */
enum dcv_job_age dcv_job_record_age(const struct dcv_job_record *rec, uint64_t now, uint64_t keep,
                                    uint64_t *expires, const char **why);

/* Log lines of one sweep kept for the loop; more are counted, not kept. */
#define DCV_SWEEP_MESSAGES_MAX 20

/*
 * One sweep: what the caller asks, and what the pool thread found (read it
 * in the batch's callback, not before). The caller owns it and keeps it
 * alive until that callback; dcv_store_sweep_clear() frees its messages.
 */
struct dcv_store_sweep {
	uint64_t now;     /* unix s */
	uint64_t keep;    /* seconds; 0: no job is deleted (dot-files still are) */
	uint64_t dot_age; /* seconds: dot-files in incoming/ older than this go */
	/* results */
	size_t deleted;                               /* jobs deleted: files and record */
	size_t deleted_by_state[DCV_JOB_STATE_COUNT]; /* of those, by their state */
	size_t files;                                 /* their files deleted */
	size_t holding;                               /* kept: they hold records */
	size_t young;                                 /* kept: finished, not old enough */
	size_t dotfiles;                              /* stale dot-files removed */
	size_t errors;                                /* files that could not be deleted */
	uint64_t next_expiry;     /* earliest second a kept job expires; 0: none */
	struct dcv_strv notes;    /* info: "removed stale SPOOL/incoming/.x (...)" */
	struct dcv_strv problems; /* errors: "SPOOL/done/x.csr: Permission denied; ..." */
	size_t messages_dropped;  /* beyond DCV_SWEEP_MESSAGES_MAX of either kind */
};

void dcv_store_sweep_clear(struct dcv_store_sweep *sw);

/*
 * Makes b (new, empty) a sweep batch: when it runs, for every job record
 * the age rule calls expired, it deletes the job's files in done/ and
 * failed/ -- its status, CSR and sidecar under NAME while NAME.status is
 * that job's, and under its id (NAME~HEX.*, the names an older job's files
 * were archived to) -- the status file last, then removes the record (and
 * its holders: it holds none) in one write transaction. A job whose files
 * could not all be deleted keeps its record, and so its place in the next
 * sweep; so does one whose NAME.status is there but cannot be read (whose
 * NAME.* are is then not known). Then it removes the stale dot-files of
 * incoming/: regular files only, by name, with unlinkat() on the folder
 * (never following a link).
 *
 * Errors of one file (EACCES, EPERM, a directory that is not empty...) are
 * counted and named in sw->problems; the sweep goes on. A vanished file is
 * not an error (a note for a dot-file). Errors of the spool (EROFS, EIO)
 * stop the file deletions of this sweep; a store that cannot be opened or
 * committed fails the batch (DCV_EIO with why), and nothing is deleted
 * from it. DCV_EINVAL when b already holds other work.
 */
int dcv_store_batch_sweep(struct dcv_store_batch *b, struct dcv_store_sweep *sw);

#endif
