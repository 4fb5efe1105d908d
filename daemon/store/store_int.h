/*
 * store_int.h -- what the parts of the store (store.h) share:
 *   store.c          folders, plain files, opening and closing the store;
 *   store_db.c       the LMDB environment: batch transactions, loads;
 *   store_batch.c    batches: queued on the loop, run on the thread pool;
 *   store_status.c   status files; store_archive.c their names.
 * Errors are the negative DCV_E* codes with a why naming the file.
 */
#ifndef DCV_STORE_INT_H
#define DCV_STORE_INT_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* A spool folder opened once and kept: every file operation is relative to fd. */
struct store_dir {
	char *rel; /* path relative to the spool: "" (the spool), "state", "done"... */
	int fd;
	bool dirty; /* changed since its last fsync() */
};

/* Knobs (tests set them to make the map grow or the status threads run). */
struct store_tuning {
	size_t map_start;        /* the map of a new environment, and its floor */
	size_t map_max;          /* MDB_MAP_FULL grows the map up to this */
	unsigned status_threads; /* 1 or 2: threads writing and renaming status files */
};

#define STORE_MAP_START ((size_t)64 << 20)
#define STORE_MAP_MAX (sizeof(size_t) > 4 ? (size_t)16 << 30 : (size_t)1 << 30)
#define STORE_STATUS_THREADS 1
/* What a new store starts with (tests change it before they open one). */
extern struct store_tuning store_tuning_defaults;

struct dcv_store {
	uv_loop_t *loop;
	char *spool;
	struct store_dir **dirs; /* [0] the spool, [1] state/; entries never move */
	size_t n_dirs;
	size_t cap_dirs;
	size_t map_size; /* of the environment when last open; 0: not known yet */
	/* what dcv_store_open() loaded, until dcv_store_load() takes it */
	struct dcv_job_record *loaded;
	size_t n_loaded;
	struct dcv_strv load_errors;
	bool has_loaded;
	struct store_tuning tuning;
	atomic_bool
	    no_tmpfile; /* store_link_new_file() cannot work here (status threads read it) */
	/* the batches */
	struct dcv_store_batch *running; /* on the pool now */
	struct dcv_store_batch *head;    /* committed, waiting */
	struct dcv_store_batch *tail;
	bool in_callback;
	bool closing;
	struct dcv_store_stats stats;
};

enum { STORE_DIR_SPOOL = 0, STORE_DIR_STATE = 1 };

/*
 * The folder rel (relative to the spool), opened on first use. With create,
 * a missing last component is made (mode 0750) and its parent marked dirty.
 * DCV_EIO with why naming the folder, DCV_ENOMEM.
 */
int store_dir_get(struct dcv_store *st, const char *rel, bool create, struct store_dir **out,
                  struct dcv_why *why);

/* fsync() of every dirty folder, each once; counts into *fsyncs. First failure in why. */
int store_dirs_flush(struct dcv_store *st, uint64_t *fsyncs, struct dcv_why *why);

/*
 * Writes len bytes to dir/name, created or truncated, mode exactly 0640
 * (whatever the umask), closed. DCV_EIO with why naming the file.
 */
int store_write_file(struct dcv_store *st, const struct store_dir *dir, const char *name,
                     const unsigned char *buf, size_t len, struct dcv_why *why);

/*
 * Puts a new file dir/name in place whole, without a temporary name: the
 * bytes go into an unnamed file (O_TMPFILE, mode exactly 0640) that is then
 * linked under name, so a reader sees the whole file or none, and the
 * folder gets one entry instead of a temporary's entry and a rename.
 * DCV_OK when linked; STORE_LINK_NOT_DONE when name exists, when the
 * system cannot do it (no O_TMPFILE on this file system, no /proc or no
 * linkat: remembered, not tried again) or when the unnamed file cannot be
 * made (a full disk, a deleted folder: the caller's temporary meets the
 * same and names it), so the caller writes a temporary and renames it;
 * DCV_EIO with why naming the file when writing or linking failed.
 */
#define STORE_LINK_NOT_DONE 1
int store_link_new_file(struct dcv_store *st, const struct store_dir *dir, const char *name,
                        const unsigned char *buf, size_t len, struct dcv_why *why);

/* "SPOOL/REL/NAME" of a file in dir. */
void store_path(const struct dcv_store *st, const struct store_dir *dir, const char *name,
                char *out, size_t size);

void store_free(struct dcv_store *st);

/* ---- store_db.c ---- */

/* One record write (text set) or forget (text NULL) of a batch, as the transaction gets it. */
struct store_op {
	const char *id;
	const unsigned char *text; /* dcv_job_record_emit() */
	size_t len;
	const char *holds; /* store_holds_text() of the record; NULL: holds nothing */
};

/*
 * The rrs rec holds as text: one line "zone/owner TARGET ID" per rr (zone
 * and owner lower case), sorted, no line twice; *out NULL when rec holds
 * nothing (dcv_job_record_holds()). DCV_ENOMEM.
 */
int store_holds_text(const struct dcv_job_record *rec, char **out);

/*
 * One write transaction: ops (in order), and the holders they change.
 * MDB_MAP_FULL grows the map and retries once (store.h). Counts a growth
 * into *grown. DCV_EIO or DCV_ESTATE with why naming data.mdb, DCV_ENOMEM.
 */
int store_db_commit(struct dcv_store *st, const struct store_op *ops, size_t n, uint64_t *grown,
                    struct dcv_why *why);

/*
 * Reads every record, sorted by id. Read-write (fix): damaged records are
 * removed and the holders database made to agree with the records, in one
 * transaction; read-only: MDB_RDONLY, nothing changes. Damaged records go
 * to errors (store.h). DCV_EPERM (a reader without write access to
 * lock.mdb), DCV_ESTATE, DCV_EIO (why), DCV_ENOMEM.
 */
int store_db_load(struct dcv_store *st, bool fix, struct dcv_job_record **recs, size_t *n,
                  struct dcv_strv *errors, struct dcv_why *why);

/* ---- store_guard.c: SIGBUS inside the map during a load ---- */

/*
 * Arms this thread's guard: a SIGBUS on this thread goes back to jump
 * (siglongjmp; the caller sigsetjmp'ed it with savemask 0) until
 * store_guard_disarm(), which does nothing on a thread that is not armed.
 */
void store_guard_arm(sigjmp_buf *jump);
void store_guard_disarm(void);

/*
 * Whether a record expires (store_sweep.c decides, and deletes its files
 * first); before_commit runs after the last of them, before the commit.
 */
typedef bool (*store_expire_fn)(void *arg, const struct dcv_job_record *rec);
typedef int (*store_before_commit_fn)(void *arg, struct dcv_why *why);

/*
 * One write transaction over every record: each record that parses and
 * that expire() says expires is removed, with the holders it has (one
 * that expires holds none; they would be removed all the same). Committed
 * only when something is removed, after before_commit() succeeded (else
 * nothing is removed); *removed counts what was. Damaged records are left
 * to the load. DCV_EIO or DCV_ESTATE with why naming data.mdb (or what
 * before_commit() says), DCV_ENOMEM.
 */
int store_db_prune(struct dcv_store *st, store_expire_fn expire,
                   store_before_commit_fn before_commit, void *arg, size_t *removed,
                   struct dcv_why *why);

/* ---- store_sweep.c ---- */

struct dcv_store_sweep;
/* The sweep of a batch (retention.h), on the pool thread: DCV_OK or the batch's failure. */
int store_sweep_run(struct dcv_store *st, struct dcv_store_sweep *sw, struct dcv_why *why);

/* ---- store_status.c ---- */

struct store_status_job {
	struct store_dir *dir;     /* resolved by the caller */
	const char *name;          /* NAME of NAME.status */
	const unsigned char *text; /* dcv_job_status_emit() of the record */
	size_t len;
	bool refresh; /* write only when the file is missing or says something else */
};

/*
 * Writes each status file to <dir>/.<NAME>.status.tmp and renames it into
 * place, without any flush (the records are the durable truth); on
 * tuning.status_threads threads. A failure stops its thread's share, its
 * temporary is removed, and the first failure is in why; *renamed counts
 * the files put in place.
 */
int store_status_write(struct dcv_store *st, const struct store_status_job *jobs, size_t n,
                       uint64_t *renamed, struct dcv_why *why);

/* Buffers for a file name in a spool folder (checked names keep within NAME_MAX). */
#define STORE_FILE_NAME_SIZE 384

/*
 * The base name (NAME or the job id) under which a status file of job id
 * goes in dir, archiving an older job's NAME.* files first when arrival
 * (store_archive.c; store.h says the rule). Never fails: when in doubt the
 * id, which replaces nothing of another job.
 */
void store_status_place(struct dcv_store *st, struct store_dir *dir, const char *name,
                        const char *id, bool arrival, char *out, size_t size);

/*
 * Whose job the status file dir/file is (its `job:` value into id);
 * false when missing, unreadable, not a regular file (never followed) or
 * not a status file of ours (store_archive.c).
 */
bool store_status_job_of(const struct store_dir *dir, const char *file, char *id, size_t size);

/* Deletes the ".*.status.tmp" leftovers in SPOOL/rel (a crash cut them short), best effort. */
void store_clean_status_tmp(struct dcv_store *st, const char *rel);

#endif
