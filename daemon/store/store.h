/*
 * store.h -- durable job records (docs/design.md §5), in LMDB.
 *
 * Every job has a record. A record is on disk before the step that depends
 * on it: the records a job will publish are written before the first
 * UPDATE leaves, its "visible" state before its CSR moves to done/, and so
 * on. After kill -9 (or power loss) at any moment, dcv_store_load() gives
 * back every job as it last was.
 *
 * The records live in one LMDB environment, SPOOL/state/ (data.mdb and
 * lock.mdb, mode 0640), with two databases:
 *   jobs     id -> the record's text (dcv_job_record_emit(), below);
 *   holders  "zone/owner" (lower case) -> "TARGET ID", one value per
 *            record that holds that rr (dcv_job_record_holds()); LMDB
 *            keeps a key's values sorted (MDB_DUPSORT).
 * A batch's records, forgets and holder changes are one write transaction:
 * they are all on disk or none is. LMDB's commit is the flush (fdatasync
 * of data.mdb, then its meta page written with O_DSYNC); a batch of 10,000
 * records costs one commit.
 *
 * The environment is open only while a load or a batch runs, on the thread
 * that runs it (a write transaction begins and commits on one thread, and
 * the environment is closed there): between batches dcvd holds no file of
 * the spool open for writing, so the spool can be remounted read-only
 * under a running dcvd. Opened with MDB_NOTLS and MDB_NORDAHEAD, never
 * MDB_WRITEMAP (a full disk would be a SIGBUS, not an error); stale
 * readers (a killed `dcv status`) are cleared with mdb_reader_check() at
 * every open by dcvd.
 *
 * Faults (docs/decisions.md, "The job store on LMDB"):
 *   - MDB_MAP_FULL: the map (64 MiB at first; mapped pages count toward
 *     RSS only when touched) is grown -- doubled, at least to the data's
 *     size plus four times the batch -- up to 16 GiB, and the transaction
 *     retried once. Beyond the bound the batch fails (DCV_EIO).
 *   - ENOSPC, EDQUOT, EIO, EROFS in a commit: the transaction is aborted,
 *     nothing of it is on disk, the batch fails with DCV_EIO naming
 *     data.mdb and the reason; the engine retries it with backoff.
 *   - A spool that is read-only at start: dcv_store_open() fails (DCV_EIO,
 *     "...: Read-only file system") and dcvd does not start; one that turns
 *     read-only later fails each batch until it is writable again.
 *   - An environment that cannot be read (MDB_INVALID, MDB_CORRUPTED,
 *     MDB_PAGE_NOTFOUND, MDB_VERSION_MISMATCH, at open or anywhere in the
 *     load): dcv_store_open() fails with DCV_ESTATE naming the file, and
 *     dcvd does not start. A record whose text does not parse is reported
 *     and removed at load (its job is dropped; its CSR is taken again).
 *     Damage LMDB cannot see (pages of garbage under intact meta pages)
 *     may make it read past the end of data.mdb inside its map, which is
 *     SIGBUS: during a load (dcvd's start, dcv status) a guard takes it
 *     back to the load, which fails with DCV_ESTATE as well
 *     (store_guard.c); in a batch's commit it ends dcvd, whose next start
 *     then says so. The remedy is the same (move state/data.mdb aside).
 *   - A folder of the spool removed while dcvd runs (done/ or failed/ by
 *     an operator's rm -r) is made again by the next status file or move
 *     into it: the store notices that its open folder has no link left.
 *   - Job logs of the format before LMDB in state/ ("<16 hex>.log",
 *     "*.job"): dcv_store_open() and dcv_store_read() refuse with
 *     DCV_ESTATE naming them. Their records are not imported.
 *
 * A batch can also carry operator status files (done/NAME.status,
 * failed/NAME.status) and file moves (active/NAME.csr -> done/), done in
 * that order after the commit, so a status file never claims more than
 * the job record says. Status files are derived data: written to a
 * temporary name (or unnamed and linked) and put in place with no flush,
 * because a flush of many small files takes a syncfs(), which flushes the
 * whole file system and stalls the DNS server's own journal fsync on the
 * same disk. After a power loss a status file may be missing, empty or
 * older than its record; dcvd rebuilds it from the record at start
 * (dcv_store_batch_status_refresh()). Moves need no data flush: a rename
 * is made durable by the fsync of its folders, once per batch.
 *
 * All file I/O of batches runs on libuv's thread pool; the callback runs on
 * the loop. Ownership: a batch owns copies of everything added to it:
 * records and status files as their text, emitted when they are added.
 */
#ifndef DCV_STORE_H
#define DCV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dcv/err.h"
#include "util.h"

enum dcv_job_state {
	DCV_JOB_RECEIVED,    /* claimed, CSR parsed, nothing published */
	DCV_JOB_PUBLISHING,  /* records chosen and persisted; UPDATEs may be out */
	DCV_JOB_PUBLISHED,   /* every primary accepted and serves them */
	DCV_JOB_VISIBLE,     /* every authoritative address and resolver serves them */
	DCV_JOB_WITHDRAWING, /* deletes may be out */
	DCV_JOB_WITHDRAWN,   /* gone from every authoritative address */
	DCV_JOB_FAILED,      /* see error; cleanup says whether records remain */
	DCV_JOB_STATE_COUNT
};

/* "received", "publishing", ... as written in records; parse: DCV_OK or DCV_EINVAL. */
const char *dcv_job_state_name(enum dcv_job_state s);
int dcv_job_state_parse(const char *text, enum dcv_job_state *out);

struct dcv_job_record_rr {
	char owner[256];  /* "_<md5>.<adn>." */
	char target[256]; /* CNAME data */
	char zone[256];   /* zone it was published in */
	uint32_t ttl;
	char dnssec[12]; /* the zone as the probe found it: "secure", "insecure", "signed"; ""
	                    unknown */
};

struct dcv_job_record_name {
	char name[256]; /* as in the certificate */
	char adn[256];  /* where its record is */
};

struct dcv_job_record {
	char id[320];   /* unique: "<NAME>~<hex>" */
	char name[256]; /* spool base name, NAME of NAME.csr */
	char ext[8];    /* "csr", "pem" or "der" */
	enum dcv_job_state state;
	bool cleanup; /* failed after publishing: records still to delete */
	char md5[33];
	char sha256[65];
	struct dcv_job_record_rr *rrs;
	size_t n_rrs;
	struct dcv_job_record_name *names;
	size_t n_names;
	uint64_t received, published, visible, withdraw_due, withdrawn,
	    failed; /* unix s, 0 = not yet */
	char error[512];
	/* Who dropped the CSR (the owner of the file claimed); has_uid false: not known. */
	bool has_uid;
	uint32_t uid;
	char submitter[64]; /* the user name at the claim ("" when unknown) */
	/*
	 * The results token of `dcv submit --wait` (its sidecar's token:), ""
	 * when none: DCV_JOB_TOKEN_LEN lower-case hex digits, the hash of the
	 * secret name of the submitter's folder in SPOOL/results/ (results.h).
	 * Never logged, never in done/ or failed/ status files, nor in `dcv
	 * status`.
	 */
	char token[33];
};

#define DCV_JOB_TOKEN_LEN 32

/*
 * Limits a record must keep. The id and the name become file names (the
 * longest being ".<NAME>.status.tmp" and "<id>.status"), which must fit in
 * NAME_MAX (255) bytes; so a NAME for which "<NAME>~<hex>" is too long must
 * be refused before a record is made for it.
 */
#define DCV_JOB_ID_MAX 246                  /* bytes of id */
#define DCV_JOB_NAME_MAX 243                /* bytes of name */
#define DCV_JOB_MAX_ITEMS 4096              /* entries of rrs, of names */
#define DCV_JOB_TIME_MAX 253402300799ULL    /* 9999-12-31T23:59:59Z */
#define DCV_JOB_FILE_MAX (16 * 1024 * 1024) /* bytes of a record's text */

/* Frees the arrays (not rec itself) and leaves them empty. NULL-safe. */
void dcv_job_record_free(struct dcv_job_record *rec);
/* Frees n records and the array itself. NULL-safe. */
void dcv_job_records_free(struct dcv_job_record *recs, size_t n);
/*
 * Deep copy. dst is taken as uninitialised (its old arrays are not freed);
 * on DCV_ENOMEM it is left with no arrays.
 */
int dcv_job_record_copy(struct dcv_job_record *dst, const struct dcv_job_record *src);
/*
 * Whether rec holds its rrs (they may be served because of it): publishing,
 * published, visible, withdrawing, or failed with cleanup. The engine's
 * holder table (holders.c) and the store's holders database use this rule.
 */
bool dcv_job_record_holds(const struct dcv_job_record *rec);

/*
 * What a record must satisfy to be written (and what parsing enforces):
 * id and name not empty, within the limits above, without '/', control
 * characters or a leading '.'; ext "csr", "pem" or "der"; a known state;
 * md5 and sha256 empty (not known) or exactly 32 / 64 lower-case hex
 * digits; token empty or exactly DCV_JOB_TOKEN_LEN lower-case hex digits;
 * at most DCV_JOB_MAX_ITEMS rrs and names; owner, target, zone,
 * name and adn not empty, made of letters, digits, '-', '_', '.' and '*'
 * only (what the CSR checks let through); no name twice; error and
 * submitter valid UTF-8 without control characters; timestamps <=
 * DCV_JOB_TIME_MAX; every string NUL-terminated inside its array. DCV_EINVAL with why naming the
 * field.
 */
int dcv_job_record_check(const struct dcv_job_record *rec, struct dcv_why *why);

/*
 * The text of a record, and back (jobrec_text.c): one line per field,
 * "KEY VALUE", in this order --
 *   dcv-job 1 / id / name / ext / state / cleanup (true, false) / md5 /
 *   sha256 / received / published / visible / withdraw_due / withdrawn /
 *   failed (unix s, 0 = not yet) / uid and submitter and error and token
 *   (each only when set) / "rr OWNER TARGET ZONE TTL" per rr / "dnsname NAME ADN" per
 *   name / end
 * -- so that a text cut anywhere is refused rather than read as a shorter,
 * valid record. Free text (id, name, submitter, error) doubles a
 * backslash and writes a newline as backslash-n and other control bytes as
 * backslash-x and two hex digits, so every value is one line. Emit:
 * DCV_EINVAL (record fails dcv_job_record_check(); no detail), DCV_ENOMEM;
 * the caller frees *buf.
 *
 * Parse is strict: a key out of its place or misspelt, a number not in
 * plain decimal (no sign, no leading zero) or out of range, a boolean other
 * than true/false, an unknown state, a raw control byte, an unknown escape,
 * a value too long for its field, text after "end", anything
 * dcv_job_record_check() refuses. It returns DCV_ESTATE with why =
 * "FILE:LINE:COL: what" (the first problem; "FILE: what" for the check's),
 * or DCV_ENOMEM; out is then left with no arrays. Any byte string is safe
 * input. emit(parse(emit(r))) is byte-identical to emit(r).
 */
int dcv_job_record_emit(const struct dcv_job_record *rec, unsigned char **buf, size_t *len);
int dcv_job_record_parse(const char *file, const unsigned char *buf, size_t len,
                         struct dcv_job_record *out, struct dcv_why *why);

/*
 * The operator's status file for a record (YAML, for people and scripts):
 *   state     active, visible, failed or withdrawn: received, publishing
 *             and published are active; withdrawing is still visible when
 *             the record was visible (the visible timestamp is set),
 *             otherwise active
 *   step      the record's state name
 *   job, file the job id and NAME.ext
 *   error     when set
 *   md5, sha256 when known
 *   records   zone-file lines "OWNER TTL IN CNAME TARGET"
 *   names     mapping name -> adn
 *   zones     the distinct zones of the records, in order
 *   received, published, visible, withdraw_due, withdrawn, failed: the
 *             timestamps that are set, as ISO 8601 UTC strings
 *             ("2026-03-01T12:00:00Z")
 * DCV_EINVAL when the record fails dcv_job_record_check(), DCV_ENOMEM.
 */
int dcv_job_status_emit(const struct dcv_job_record *rec, unsigned char **buf, size_t *len);
/*
 * The same for the submitter's copy (SPOOL/results/<token>/NAME.status):
 * with the record's token as the last key, "token: <hex>", when it has one.
 */
int dcv_job_status_emit_result(const struct dcv_job_record *rec, unsigned char **buf, size_t *len);
/* The state a status file shows (state:): active, visible, withdrawn or failed. */
const char *dcv_job_status_state(const struct dcv_job_record *rec);

struct dcv_store;

/*
 * Opens SPOOL/state (creating it, mode 0750, and syncing SPOOL so that the
 * new folder lasts) and its LMDB environment (created when missing), and
 * loads every record (see dcv_store_load(), which hands them over). SPOOL
 * itself must exist. Blocking: call before the loop runs. DCV_ESTATE when
 * state/ holds job logs of the old format or the environment cannot be
 * read (why names the file and says what to do), DCV_EIO with why naming
 * the folder or file (a read-only spool among them), DCV_ENOMEM.
 */
int dcv_store_open(uv_loop_t *loop, const char *spool, struct dcv_store **out, struct dcv_why *why);
/*
 * Closes the store; NULL-safe. Meant for after the last batch completed: if
 * batches are still queued or running they still run (and call back), and
 * the store is freed after the last one.
 */
void dcv_store_close(struct dcv_store *st);

/*
 * Every record (blocking; at start, never while a batch runs): the ones
 * dcv_store_open() loaded, or read again on a later call. Records that do
 * not parse, or whose id differs from their key, are removed from the
 * database and reported in errors as "SPOOL/state/data.mdb (job ID):LINE:COL:
 * reason (damaged record: removed)". The holders database is checked
 * against the records, which win: a difference is fixed in the same
 * transaction, logged (a warning per pair, at most 10) and counted in
 * dcv_store_stats().holders_fixed. Leftover ".*.status.tmp" files in done/
 * and failed/ (writes a crash cut short) are deleted.
 *
 * *recs (sorted by id, *n of them) belongs to the caller: free it with
 * dcv_job_records_free(). DCV_OK (even with damaged records), DCV_ESTATE,
 * DCV_EIO (errors says why), DCV_ENOMEM.
 */
int dcv_store_load(struct dcv_store *st, struct dcv_job_record **recs, size_t *n,
                   struct dcv_strv *errors);

/*
 * Reads the records of SPOOL/state like dcv_store_load() but changes
 * nothing (for `dcv status`, which may run beside dcvd): a read-only
 * transaction (MDB_RDONLY); damaged records are only reported. A reader
 * must write lock.mdb (its reader slot): DCV_EPERM (errors says why) when
 * it may not (EACCES: not root nor dcvd), and when lock.mdb is missing,
 * because opening would create it with this user as its owner. No data.mdb
 * yet: no records. DCV_ESTATE for job logs of the old format or an
 * environment that cannot be read, DCV_EIO when the spool or state/ cannot
 * be read, DCV_ENOMEM.
 */
int dcv_store_read(const char *spool, struct dcv_job_record **recs, size_t *n,
                   struct dcv_strv *errors);

/* Counters of what the store did (loop thread; updated when a batch calls back). */
struct dcv_store_stats {
	uint64_t batches; /* batches completed (successful or not) */
	uint64_t commits; /* write transactions committed by batches: one per batch with records */
	uint64_t files_written; /* status files put in place */
	uint64_t fsync_calls;   /* of folders */
	uint64_t map_grown;     /* times MDB_MAP_FULL grew the map */
	uint64_t map_size;      /* bytes of the map, after the last load or batch */
	uint64_t holders_fixed; /* holders pairs fixed at the last load */
};
void dcv_store_stats(const struct dcv_store *st, struct dcv_store_stats *out);

struct dcv_store_batch;

/* A new, empty batch; NULL when out of memory. */
struct dcv_store_batch *dcv_store_batch_new(struct dcv_store *st);
/*
 * Queues a record write (copied). DCV_EINVAL when the record fails
 * dcv_job_record_check() (why is not available here: check first when the
 * detail matters), DCV_ENOMEM. Within one batch the last call for an id
 * wins: a record replaces an earlier record or forget of the same id.
 */
int dcv_store_batch_record(struct dcv_store_batch *b, const struct dcv_job_record *rec);
/*
 * Queues removal of a record (final jobs pruned later); a record that is
 * not there is not an error. Replaces an earlier record of the same id in
 * this batch. DCV_EINVAL for an id that could not name a record.
 */
int dcv_store_batch_forget(struct dcv_store_batch *b, const char *id);
/*
 * Queues a status file SPOOL/<dir>/<NAME>.status for rec (dir "done" or
 * "failed": one folder name, created 0750 if missing). A later status for
 * the same dir and NAME replaces it. DCV_EINVAL, DCV_ENOMEM.
 */
int dcv_store_batch_status(struct dcv_store_batch *b, const char *dir,
                           const struct dcv_job_record *rec);
/*
 * Like dcv_store_batch_status(), for rebuilding status files at start:
 * the file is written only when it is missing or its bytes differ from
 * what rec gives (a power loss can lose, empty or age a status file, as
 * they are not flushed). Otherwise the same: the later of a status and a
 * refresh for the same dir and NAME wins.
 */
int dcv_store_batch_status_refresh(struct dcv_store_batch *b, const char *dir,
                                   const struct dcv_job_record *rec);
/*
 * Like dcv_store_batch_status(), for the status a job writes as its files
 * arrive in dir (the move to done/ or failed/ in the same batch). A
 * NAME.status there that belongs to another job (its `job:` differs) is
 * that older job's: its files are renamed after its id first --
 * NAME.status, NAME.csr|pem|der|yaml to ID.status, ID.<ext> -- so that
 * <dir>/NAME.status is always the newest job of NAME and nothing is
 * replaced. A status that is not an arrival (a later state of a job that
 * arrived earlier, a refresh) goes to NAME.status only while that file is
 * the job's own or missing, and to ID.status once a newer job took NAME.
 */
int dcv_store_batch_status_arrive(struct dcv_store_batch *b, const char *dir,
                                  const struct dcv_job_record *rec);

/*
 * Queues rename(SPOOL/<from>, SPOOL/<to>) (paths relative to the spool,
 * without "." or ".." components; the folder of <to> is created 0750 if
 * missing). The move never replaces anything (RENAME_NOREPLACE): when <to>
 * is taken, alt_to (if not NULL) is tried; a move that still cannot be
 * made is a fault of that move. A source that is gone while <to> or alt_to
 * exists counts as done (a previous run made the move); a source that is
 * gone with neither there vanished (a submitter removed it): a fault with
 * vanished set, not an error of the batch.
 *
 * Faults belong to one entry, not to the batch: a move that fails because
 * of its own entry (EACCES on another user's directory, EPERM, EISDIR,
 * ENOTDIR, EEXIST on both names, ELOOP, ENAMETOOLONG, EXDEV, EBUSY,
 * EINVAL) is reported with its tag to the batch's fault callback and the
 * batch goes on. Failures of the spool itself -- EROFS, ENOSPC, EDQUOT,
 * EIO, ENOMEM, a destination folder that cannot be made -- fail the batch
 * as before (it is retried whole; moves already made count as done).
 * DCV_EINVAL for a bad path, DCV_ENOMEM.
 */
int dcv_store_batch_move(struct dcv_store_batch *b, const char *from, const char *to);
int dcv_store_batch_move_tagged(struct dcv_store_batch *b, const char *from, const char *to,
                                const char *alt_to, void *tag);

/* One move that failed on its own entry (see dcv_store_batch_move()). */
struct dcv_store_fault {
	void *tag;          /* as given to dcv_store_batch_move_tagged() (NULL otherwise) */
	int status;         /* DCV_EIO; DCV_OK when only vanished */
	bool vanished;      /* source and destination both absent: the entry is gone */
	int err;            /* the errno of the rename (ENOENT when vanished) */
	struct dcv_why why; /* "move SPOOL/a -> SPOOL/b: reason" (names escaped) */
};

/*
 * Called on the loop for each fault of the batch, before the batch's own
 * callback, with the arg given to dcv_store_batch_commit(). Optional.
 */
typedef void (*dcv_store_fault_cb)(void *arg, const struct dcv_store_fault *fault);
void dcv_store_batch_on_fault(struct dcv_store_batch *b, dcv_store_fault_cb cb);

/*
 * Runs the batch on the thread pool, in this order:
 *   1. the records and the forgets, and the holders they change, as one
 *      write transaction, committed (durable) -- a batch with neither
 *      opens no transaction;
 *   2. each status file, put in place with no flush of any kind;
 *   3. the moves, in the order queued;
 *   4. fsync() of every folder changed since its last fsync by a move or
 *      a folder creation, each once.
 * So a status file never claims more than the record says. Steps that have
 * nothing to do are skipped.
 *
 * Batches run one at a time, in the order committed (a later commit waits
 * in a queue). The callback runs on the loop with DCV_OK or the first
 * failure (DCV_EIO or DCV_ESTATE; why names the file and the reason;
 * DCV_ENOMEM); the batch is freed after the callback returns. A failed
 * batch stops at the failure, removes its own temporary files, and leaves
 * every earlier, completed step in place (and flushed); a failed
 * transaction leaves nothing of itself. commit returns DCV_OK: every
 * outcome comes through cb, which is never called from inside commit.
 */
typedef void (*dcv_store_cb)(void *arg, int status, const struct dcv_why *why);
int dcv_store_batch_commit(struct dcv_store_batch *b, dcv_store_cb cb, void *arg);

/* Drops a batch that was never committed. */
void dcv_store_batch_free(struct dcv_store_batch *b);

#endif
