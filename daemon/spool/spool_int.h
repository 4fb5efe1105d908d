/*
 * spool_int.h -- what the parts of the spool share. Not part of the API.
 *
 *   spool.c         the loop side: folders, watching, scans, chunks, closing
 *   spool_list.c    listing incoming/ (thread pool)
 *   spool_claim.c   claiming and parsing one file (thread pool)
 *   spool_name.c    which names are candidates, safe NAMEs, owners' names
 *   spool_ignore.c  the entries dcv_spool_ignore() named (loop and pool)
 */
#ifndef DCV_SPOOL_INT_H
#define DCV_SPOOL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <uv.h>

#include "spool.h"
#include "store.h"

#define SPOOL_FILE_MAX DCV_SPOOL_FILE_MAX
_Static_assert(SPOOL_FILE_MAX == DCV_JOB_NAME_MAX + 4, "NAME.ext: a job's NAME and .ext");

/* Room for a name quoted with dcv_escape() (4 bytes per byte at most). */
#define SPOOL_SHOWN_MAX (4 * (SPOOL_FILE_MAX + 8) + 1)

/* At most this many entries are remembered by dcv_spool_ignore() (see spool.h). */
#define SPOOL_IGNORE_MAX 65536

enum spool_dir {
	SPOOL_DIR_INCOMING,
	SPOOL_DIR_ACTIVE,
	SPOOL_DIR_DONE,
	SPOOL_DIR_FAILED,
	SPOOL_DIRS
};

/* The folder names, indexed by enum spool_dir. */
extern const char *const spool_dir_names[SPOOL_DIRS];

/* Why a raw NAME is unsafe; the first that applies, in this order. */
enum spool_unsafe {
	SPOOL_NAME_SAFE,
	SPOOL_NAME_UNPRINTABLE, /* not printable UTF-8 */
	SPOOL_NAME_BACKSLASH,   /* holds '\\' */
	SPOOL_NAME_TILDE,       /* holds '~' (job ids and archived files are NAME~HEX) */
};

/* NAME's length when file is NAME.csr|.pem|.der (any case), else 0. */
size_t spool_cand_name_len(const char *file);

/* Whether the raw NAME (len bytes) is safe, and if not, why. */
enum spool_unsafe spool_name_check(const char *name, size_t len);

/*
 * The safe NAME of a raw one (see struct dcv_spool_item): at most
 * DCV_JOB_NAME_MAX bytes and a NUL into out. Escaping is one-to-one, so
 * two raw NAMEs get one safe NAME only when cut (and the hash differs
 * then but by chance) or when one of them was already safe.
 */
void spool_safe_name(const char *name, size_t len, char out[DCV_JOB_NAME_MAX + 1]);

/* name quoted for a message (dcv_escape) into buf of SPOOL_SHOWN_MAX; returns buf. */
const char *spool_shown(const char *name, char *buf);

/*
 * The user name of uid into out (getpwuid_r: may block, thread pool only),
 * or "#<uid>" when there is none, or it does not fit, or is not printable.
 */
void spool_owner_name(uid_t uid, char *out, size_t size);

/* A file the listing chose. */
struct spool_cand {
	char src[SPOOL_FILE_MAX + 1];    /* NAME.ext as in incoming/ (raw) */
	size_t src_name_len;             /* NAME's bytes in src */
	char name[DCV_JOB_NAME_MAX + 1]; /* the safe NAME */
	enum spool_unsafe unsafe;
};

/*
 * The entries dcv_spool_ignore() named, sorted by src; shared by the loop
 * (adding) and the listing on the pool (matching, forgetting) under lock.
 * seq tells an entry added after a listing began, which that listing must
 * not forget for not having seen it.
 */
struct spool_ignored {
	char *src;
	struct dcv_spool_entry entry;
	uint64_t seq;
	bool keep; /* scratch of one sweep */
};

struct spool_ignore {
	uv_mutex_t lock;
	struct spool_ignored *v;
	size_t n, cap;
	uint64_t seq;
};

/* DCV_OK, or DCV_ENOMEM when the mutex cannot be made. */
int spool_ignore_init(struct spool_ignore *ig);
void spool_ignore_fini(struct spool_ignore *ig);

/* The entry as lstat saw it. */
void spool_entry_from_stat(struct dcv_spool_entry *e, const struct stat *st);

/*
 * Remembers (or renews) src as entry (loop). DCV_OK, DCV_ELIMIT when
 * SPOOL_IGNORE_MAX entries are remembered already (not remembered),
 * DCV_ENOMEM.
 */
int spool_ignore_add(struct spool_ignore *ig, const char *src, const struct dcv_spool_entry *e);

/*
 * From a complete listing (pool): files holds every candidate name of
 * incoming/. Removes (and frees) those that are remembered and still the
 * same entry in dirfd, counting them in *ignored; forgets the remembered
 * entries whose name is not in files or is another entry now. The lock is
 * not held while stat() runs, so that a slow filesystem never blocks the
 * loop's dcv_spool_ignore(). DCV_OK or DCV_ENOMEM (files untouched).
 */
int spool_ignore_filter(struct spool_ignore *ig, int dirfd, struct dcv_strv *files,
                        size_t *ignored);

/* What the workers of one scan read; fixed before the first job is queued. */
struct spool_ctx {
	int incoming_fd;
	int active_fd;
	const struct dcv_spool_policy *policy;
	struct spool_ignore *ignore; /* the spool's, outlives the scan */
};

/* The listing's result (thread pool). */
struct spool_listing {
	struct spool_cand *cands; /* sorted by safe NAME, at most max_claims, one per NAME */
	size_t n;
	size_t deferred; /* over max_claims */
	size_t held;     /* NAME active, or a second file of a NAME */
	size_t ignored;  /* skipped as dcv_spool_ignore() asked */
	int status;      /* DCV_OK or DCV_EIO/DCV_ENOMEM with why */
	struct dcv_why why;
};

/*
 * Lists incoming/ (thread pool): skips dot-files, long names, other
 * extensions, the entries to ignore, NAMEs (safe ones) in the policy's
 * active_names (sorted in place here) and all but the first file of a
 * NAME; keeps the first max_claims.
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
