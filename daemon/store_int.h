/*
 * store_int.h -- what the store's files share: the store itself, its table
 * of open spool folders, the table of the files in state/ that hold job
 * entries, and the index of every id's newest entry.
 *
 *   store.c        opening, folders, closing
 *   store_index.c  the index, the file table, when a file is dead, when to compact
 *   store_log.c    writing a log, deleting dead files, compaction
 *   store_load.c   loading (and the read-only reading of `dcv status`)
 *   store_batch.c  batches on the thread pool
 *   store_status.c status files (on one or two threads)
 *
 * Threads: the folder table, the file table and the index are used by one
 * thread at a time -- the caller of dcv_store_open()/dcv_store_load()
 * before the loop runs, then the pool thread running the one batch in
 * flight (batches never overlap; a status step's helper thread gets its
 * folders resolved beforehand), then dcv_store_close() after the last
 * batch. The queue and the counters in stats belong to the loop thread.
 */
#ifndef DCV_STORE_INT_H
#define DCV_STORE_INT_H

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

/*
 * A file of state/ that holds entries: a log "<16 hex digits>.log" (one
 * batch's records and forgets), or a record file "<id>.job" of the format
 * before logs (read, and rewritten into a log at the first compaction).
 */
struct store_file {
	uint64_t seq;        /* logs: the number in the name; record files: 0, older than any log */
	char *name;          /* in state/ */
	uint64_t size;       /* bytes */
	size_t n_live;       /* entries that are their id's newest: records and forgets */
	size_t n_forgets;    /* of n_live, forgets */
	uint64_t live_bytes; /* of the n_live entries */
	bool doomed;         /* nothing live: delete it in a later batch */
	bool gone;           /* deleted or moved away; the slot stays until the table is packed */
};

/* The newest entry of an id: which file, where in it, record or forget. */
struct store_entry {
	struct store_entry *next; /* in its bucket */
	uint64_t off;
	uint32_t len;
	uint32_t file; /* index into the file table */
	uint32_t hash;
	bool forget;
	char id[]; /* NUL-terminated */
};

/* Knobs (tests set them to make compaction or the status threads happen). */
struct store_tuning {
	size_t max_files;        /* compact when more files than this hold entries */
	uint64_t slack_bytes;    /* and when the files' bytes exceed 2 x live bytes + this */
	uint64_t big_file;       /* a file this large and at least half live is not rewritten */
	unsigned status_threads; /* 1 or 2: threads writing and renaming status files */
};

#define STORE_MAX_FILES 256
#define STORE_SLACK_BYTES (1u << 20)
#define STORE_BIG_FILE (1u << 20)
#define STORE_STATUS_THREADS 1

struct dcv_store {
	uv_loop_t *loop;
	char *spool;
	struct store_dir **dirs; /* [0] the spool, [1] state/; entries never move */
	size_t n_dirs;
	size_t cap_dirs;
	/* the entries on disk */
	struct store_file *files; /* slots; gone ones stay until store_files_pack() */
	size_t n_files, cap_files;
	size_t n_present;     /* files not gone */
	uint64_t total_bytes; /* of the files present */
	uint64_t live_bytes;  /* of the live entries */
	struct store_entry **buckets;
	size_t n_buckets, n_entries;
	uint64_t next_seq;  /* of the next log */
	bool unknown_files; /* state/ held entry files before, and no load indexed them */
	bool index_broken;  /* memory ran out updating the index: delete and compact nothing */
	bool doomed_any;    /* some file is doomed */
	struct store_tuning tuning;
	atomic_bool
	    no_tmpfile; /* store_link_new_file() cannot work here (status threads read it) */
	/* the batches */
	struct dcv_store_batch *running; /* on the pool now */
	struct dcv_store_batch *head;    /* committed, waiting */
	struct dcv_store_batch *tail;
	bool compact_queued;
	bool in_callback;
	bool closing;
	struct dcv_store_stats stats;
};

enum { STORE_DIR_SPOOL = 0, STORE_DIR_STATE = 1 };

/* The name of log seq: 16 lower-case hex digits and ".log" (size >= 21). */
void store_log_name(uint64_t seq, char *out, size_t size);
/* Whether name is a log's name; *seq gets its number. */
bool store_log_name_parse(const char *name, uint64_t *seq);

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
/* A store for reading only (dcv_store_read()): state/ must exist; nothing is created. */
int store_open_read(const char *spool, struct dcv_store **out, struct dcv_why *why);

/* ---- store_index.c ---- */

/* Empties the index and the file table. */
void store_index_clear(struct dcv_store *st);
/* Adds a file present in state/ (name copied); *idx gets its slot. DCV_ENOMEM. */
int store_file_add(struct dcv_store *st, uint64_t seq, const char *name, uint64_t size,
                   uint32_t *idx);
/* The file is gone from state/ (deleted or moved away). */
void store_file_gone(struct dcv_store *st, uint32_t idx);
struct store_entry *store_index_get(const struct dcv_store *st, const char *id);
/*
 * Makes (file, off, len) the newest entry of id: the entry it replaces no
 * longer counts as live in its file, and a file left with nothing live is
 * doomed. DCV_ENOMEM (then nothing changed).
 */
int store_index_put(struct dcv_store *st, const char *id, uint32_t file, bool forget, uint64_t off,
                    uint32_t len);
/* Calls fn for every entry (it may not add or remove entries). */
void store_index_each(struct dcv_store *st, void (*fn)(void *arg, struct store_entry *e),
                      void *arg);
/*
 * After a step made everything so far durable: forgets in the oldest file
 * mask nothing older any more and are dropped; files with nothing live are
 * doomed.
 */
void store_files_settle(struct dcv_store *st);
/* Drops the slots of gone files when they are many (indexes in entries are renumbered). */
void store_files_pack(struct dcv_store *st);
/* Whether the files should be compacted (store.h: too many, or too large for what is live). */
bool store_compaction_due(const struct dcv_store *st);
/* Whether file idx is to be rewritten by a compaction. */
bool store_file_compactable(const struct dcv_store *st, uint32_t idx);

/* ---- store_log.c ---- */

/* A log being written: state/.<name>.tmp, then renamed to state/<name>. */
struct store_log {
	uint64_t seq;
	char name[32];
	char tmp[40];
	int fd;
	unsigned char *buf; /* written out in chunks */
	size_t len, cap;
	uint64_t size; /* bytes appended so far */
};

/* Opens a new log's temporary file. DCV_EIO with why, DCV_ENOMEM (then nothing is left to abort).
 */
int store_log_begin(struct dcv_store *st, struct store_log *lw, struct dcv_why *why);
/* Appends an entry; *off gets where it starts in the log. */
int store_log_append(struct dcv_store *st, struct store_log *lw, const unsigned char *buf,
                     size_t len, uint64_t *off, struct dcv_why *why);
/*
 * Makes the log durable and visible: fdatasync, rename into place, fsync
 * of state/ (and of every other dirty folder). The log is in the file
 * table (*idx) once renamed, also when the fsync then fails; *idx is
 * UINT32_MAX when it is not. The temporary file is removed on failure.
 */
int store_log_finish(struct dcv_store *st, struct store_log *lw, uint32_t *idx,
                     uint64_t *fdatasyncs, uint64_t *fsyncs, struct dcv_why *why);
/* Closes and removes the temporary file of a log that will not be finished. NULL-safe fd. */
void store_log_abort(struct dcv_store *st, struct store_log *lw);
/*
 * Deletes the doomed files (only when state/ has no unflushed change: the
 * entries that replaced theirs are durable). Marks state/ dirty; the
 * caller's next flush makes the deletions last, then store_files_settle().
 * Returns how many were deleted.
 */
size_t store_delete_doomed(struct dcv_store *st);
/*
 * Rewrites the live entries of the compactable files into a new log and
 * deletes those files. DCV_OK also when there was nothing to do.
 */
int store_compact(struct dcv_store *st, uint64_t *fdatasyncs, uint64_t *fsyncs, uint64_t *deleted,
                  struct dcv_why *why);

/* ---- store_load.c ---- */

/* Scans state/ at open: the next log number, and whether entry files exist. DCV_EIO. */
int store_scan_names(struct dcv_store *st, struct dcv_why *why);

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

#endif
