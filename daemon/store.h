/*
 * store.h -- durable job records (DESIGN §5).
 *
 * Every job has a record in SPOOL/state/<id>.job (YAML). A record is on disk
 * before the step that depends on it: the records a job will publish are
 * written before the first UPDATE leaves, its "visible" state before its
 * CSR moves to done/, and so on. After kill -9 (or power loss) at any
 * moment, dcvd_store_load() gives back every job as it last was.
 *
 * Writes come in batches so that a burst of 10,000 jobs costs a handful of
 * flushes, not 10,000: for a batch the worker thread writes every file to
 * a temporary name, calls syncfs() once, renames them into place, then
 * fsyncs each directory it touched once. A batch can also carry operator
 * status files (done/NAME.status, failed/NAME.status) and file moves
 * (active/NAME.csr -> done/), done in that order after the records, so a
 * status file never claims more than the job record says.
 *
 * All file I/O runs on libuv's thread pool; the callback runs on the loop.
 * Ownership: a batch owns copies of everything added to it.
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

/* "received", "publishing", ... as written in records and logs. */
const char *dcv_job_state_name(enum dcv_job_state s);
int dcv_job_state_parse(const char *text, enum dcv_job_state *out);

struct dcv_job_record_rr {
	char owner[256];  /* "_<md5>.<adn>." */
	char target[256]; /* CNAME data */
	char zone[256];   /* zone it was published in */
	uint32_t ttl;
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
};

void dcv_job_record_free(struct dcv_job_record *rec); /* frees arrays, not rec itself */
int dcv_job_record_copy(struct dcv_job_record *dst, const struct dcv_job_record *src);

/* YAML text of a record, and back. DCV_ESTATE with why on a damaged record. */
int dcv_job_record_emit(const struct dcv_job_record *rec, unsigned char **buf, size_t *len);
int dcv_job_record_parse(const char *file, const unsigned char *buf, size_t len,
                         struct dcv_job_record *out, struct dcv_why *why);

/*
 * The operator's status file for a record: state (active, visible, failed,
 * withdrawn), step (the record's state), error, md5, sha256, records (zone
 * file lines), names (name -> adn), timestamps (ISO 8601 UTC).
 */
int dcv_job_status_emit(const struct dcv_job_record *rec, unsigned char **buf, size_t *len);

struct dcv_store;

/*
 * Opens SPOOL/state (creating it, mode 0750). Blocking: call before the loop
 * runs. DCV_EIO with why.
 */
int dcv_store_open(uv_loop_t *loop, const char *spool, struct dcv_store **out, struct dcv_why *why);
void dcv_store_close(struct dcv_store *st); /* after the last batch completed */

/*
 * Loads every record in state/ (blocking; at start). A damaged record is
 * moved to state/damaged/ and reported in errors ("FILE: reason"), never
 * silently dropped; the other records still load.
 */
int dcv_store_load(struct dcv_store *st, struct dcv_job_record **recs, size_t *n,
                   struct dcv_strv *errors);

struct dcv_store_batch;

struct dcv_store_batch *dcv_store_batch_new(struct dcv_store *st);
/* Queues a record write (copied). */
int dcv_store_batch_record(struct dcv_store_batch *b, const struct dcv_job_record *rec);
/* Queues removal of a record (final jobs pruned later). */
int dcv_store_batch_forget(struct dcv_store_batch *b, const char *id);
/* Queues a status file SPOOL/<dir>/<NAME>.status for rec (dir "done" or "failed"). */
int dcv_store_batch_status(struct dcv_store_batch *b, const char *dir,
                           const struct dcv_job_record *rec);
/* Queues rename(SPOOL/<from>, SPOOL/<to>) (paths relative to the spool). */
int dcv_store_batch_move(struct dcv_store_batch *b, const char *from, const char *to);

/*
 * Runs the batch on the thread pool: records (tmp, syncfs, rename, fsync
 * state/), then status files the same way, then moves, then fsync of every
 * directory touched. status DCV_OK or the first failure (why says which
 * file and errno). The batch is freed after the callback. A failed batch
 * leaves every earlier, completed step in place.
 */
typedef void (*dcv_store_cb)(void *arg, int status, const struct dcv_why *why);
int dcv_store_batch_commit(struct dcv_store_batch *b, dcv_store_cb cb, void *arg);

/* Drops a batch that was never committed. */
void dcv_store_batch_free(struct dcv_store_batch *b);

#endif
