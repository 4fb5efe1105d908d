/*
 * results.h -- SPOOL/results/: how a submitter learns the outcome of its own
 * jobs, and nobody else's (docs/decisions.md, "dcv submit --wait").
 *
 *   SPOOL/results/           3730 dcvd:dcv-submit: members of the group may
 *                            create entries and pass through, not list;
 *                            sticky: nobody removes another's entry
 *   SPOOL/results/<secret>/  made by `dcv submit --wait` (its own, 2770,
 *                            group dcv-submit from the setgid bit)
 *   .../<secret>/NAME.status the job's status file (jobstatus.c, with the
 *                            token as its last key), written by dcvd when
 *                            the job is visible or failed
 *
 * The secret (DCV_JOB_TOKEN_LEN lower-case hex digits, 128 bits from
 * getrandom) is the capability: a submitter who does not know it cannot
 * find the folder (results/ cannot be listed by the group) nor read in it.
 * It never leaves the waiting dcv: the sidecar (sidecar.h), which other
 * members of the group can read while it waits in incoming/, carries the
 * token, the first 128 bits of SHA-256(secret) in hex, and dcvd, the owner
 * of results/, finds the folder by listing results/ and hashing the names.
 * The token travels on in the job record (store.h) and comes back in the
 * status copy, where dcv checks it. Neither is logged, written into done/
 * or failed/, or shown by `dcv status`, and no message below names them.
 *
 * dcvd writes into results/<secret>/ only when that entry is a directory (it
 * is opened O_NOFOLLOW|O_DIRECTORY: a planted symlink is never followed)
 * owned by the uid that submitted the job (the CSR's owner), and only
 * through a temporary file created O_EXCL|O_NOFOLLOW in it and renamed into
 * place. Folders whose submitter went away are removed once they have not
 * changed for a day (DCV_RESULTS_MAX_AGE_S): at start and every hour, on
 * the thread pool; a waiting `dcv submit` renews its folder's times every
 * hour so that its folder stays.
 */
#ifndef DCV_RESULTS_H
#define DCV_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <uv.h>

#include "dcv/err.h"
#include "store.h"
#include "util.h"

#define DCV_RESULTS_DIR "results"
#define DCV_RESULTS_MODE 03730
#define DCV_RESULTS_MAX_AGE_S 86400
#define DCV_RESULTS_SWEEP_MS (3600 * 1000)

/* Whether s is a token: exactly DCV_JOB_TOKEN_LEN lower-case hex digits. */
bool dcv_results_token_ok(const char *s);

/*
 * A fresh secret from getrandom() (128 bits) into out. DCV_OK, or DCV_EIO
 * (why says so) when the kernel gives no randomness.
 */
int dcv_results_token_new(char out[DCV_JOB_TOKEN_LEN + 1], struct dcv_why *why);

/* The token of a secret (see above). DCV_OK, or DCV_EINVAL when secret is not one. */
int dcv_results_token_of(const char *secret, char out[DCV_JOB_TOKEN_LEN + 1]);

/*
 * Puts text as results_fd/<secret>/<name>.status, where secret is the
 * entry of results_fd whose token is token (blocking: thread pool; the
 * listing of results/ costs a hash per waiting folder).
 * DCV_ENOENT-like outcomes are not errors of dcvd, so they come back as:
 *   DCV_OK        written
 *   DCV_ECANCELED no such folder (the submitter stopped waiting, or never
 *                 waited): nothing written
 *   DCV_EPERM     the entry is not a directory, is a symlink, or is owned by
 *                 another uid than uid: nothing written
 *   DCV_EIO       a write failed (full disk, say); the temporary is removed
 *   DCV_EINVAL    token or name unusable
 * why never names the token ("the submitter's results folder: ...").
 */
int dcv_results_put(int results_fd, const char *token, uid_t uid, const char *name,
                    const unsigned char *text, size_t len, struct dcv_why *why);

/* What one sweep did. */
struct dcv_results_swept {
	size_t removed; /* entries of results/ removed */
	size_t kept;    /* entries too young */
	size_t failed;  /* entries that could not be removed (why: the first) */
	struct dcv_why why;
};

/*
 * Removes every entry of results_fd whose last change (the later of mtime
 * and ctime) is more than max_age_s before now: a folder with the files in
 * it (one level; a subfolder only when empty), anything else by unlink.
 * Never follows a symlink. Blocking: thread pool, or before the loop runs.
 */
void dcv_results_sweep(int results_fd, time_t now, uint64_t max_age_s,
                       struct dcv_results_swept *out);

struct dcv_results;

/*
 * Opens SPOOL/results/ below spool_fd, creating it with DCV_RESULTS_MODE
 * when missing (whatever the umask); warns (log) when an existing one has
 * another mode, or its group is not group (when such a group exists).
 * Blocking, before the loop runs. DCV_EIO with why naming the folder,
 * DCV_ENOMEM.
 */
int dcv_results_open(uv_loop_t *loop, int spool_fd, const char *spool_path, const char *group,
                     struct dcv_results **out, struct dcv_why *why);

/* Sweeps now (on the pool) and then every DCV_RESULTS_SWEEP_MS. */
void dcv_results_start(struct dcv_results *r);

/*
 * From the loop: puts a job's status (text, len: taken over, freed here)
 * into its submitter's folder on the pool, and logs the outcome naming the
 * job (job_id), never the token. quiet: a missing folder is not logged (a
 * re-delivery at start, when the submitter has long read its result).
 * Silently drops everything while closing, or on a token that is not one.
 */
void dcv_results_deliver(struct dcv_results *r, const char *job_id, const char *token, uid_t uid,
                         const char *name, unsigned char *text, size_t len, bool quiet);

/*
 * Stops the sweeps; calls closed(arg) once the timer is closed and no pool
 * job runs (r is freed just before). Jobs not yet started are canceled.
 */
void dcv_results_close(struct dcv_results *r, void (*closed)(void *arg), void *arg);

#endif
