/*
 * spool_int.h -- what spool.c (the loop side: watching, scans, chunks,
 * closing) and spool_claim.c (the thread-pool side: listing incoming/,
 * claiming and parsing files) share. Not part of the API.
 */
#ifndef DCV_SPOOL_INT_H
#define DCV_SPOOL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "spool.h"
#include "store.h"

/* Longer names are ignored: NAME.yaml and the caller's NAME.status must still fit NAME_MAX. */
/*
 * NAME.ext at most this long: NAME must fit a job's status file name
 * (".NAME.status.tmp" within 255 bytes, DCV_JOB_NAME_MAX in store.h).
 */
#define SPOOL_FILE_MAX (DCV_JOB_NAME_MAX + 4)

enum spool_dir {
	SPOOL_DIR_INCOMING,
	SPOOL_DIR_ACTIVE,
	SPOOL_DIR_DONE,
	SPOOL_DIR_FAILED,
	SPOOL_DIRS
};

/* The folder names, indexed by enum spool_dir. */
extern const char *const spool_dir_names[SPOOL_DIRS];

/* A file the listing chose: NAME.ext, NAME being the first name_len bytes. */
struct spool_cand {
	char file[SPOOL_FILE_MAX + 1];
	size_t name_len;
};

/* What the workers of one scan read; fixed before the first job is queued. */
struct spool_ctx {
	int incoming_fd;
	int active_fd;
	const struct dcv_spool_policy *policy;
};

/* The listing's result (thread pool). */
struct spool_listing {
	struct spool_cand *cands; /* sorted, at most max_claims, one per NAME */
	size_t n;
	size_t deferred; /* over max_claims */
	size_t held;     /* NAME active, or a second file of a NAME */
	int status;      /* DCV_OK or DCV_EIO/DCV_ENOMEM with why */
	struct dcv_why why;
};

/*
 * Lists incoming/ (thread pool): skips dot-files, long names, other
 * extensions, NAMEs in the policy's active_names (sorted in place here)
 * and all but the first file of a NAME; keeps the first max_claims.
 */
void spool_list(const struct spool_ctx *ctx, struct dcv_strv *active_names,
                struct spool_listing *out);

/*
 * Claims one candidate (thread pool): fills item and returns true, or
 * returns false when nothing is to be reported: the file is no longer there
 * to claim (gone, or its name taken in active/), or the spool itself failed
 * to take it (the rename into active/ failed: a read-only or full
 * filesystem, say) -- then trouble says so, the file stays in incoming/ and
 * a later scan tries again. trouble is left alone otherwise.
 */
bool spool_claim(const struct spool_ctx *ctx, const struct spool_cand *cand,
                 struct dcv_spool_item *item, struct dcv_why *trouble);

#endif
