/*
 * store_int.h -- what store.c (opening, loading) and store_batch.c
 * (batches on the thread pool) share: the store itself and its table of
 * open spool folders.
 *
 * Threads: the folder table is used by one thread at a time -- the caller
 * of dcv_store_open()/dcv_store_load() before the loop runs, then the pool
 * thread running the one batch in flight (batches never overlap), then
 * dcv_store_close() after the last batch. The queue and the counters
 * belong to the loop thread.
 */
#ifndef DCV_STORE_INT_H
#define DCV_STORE_INT_H

#include <stdbool.h>

#include "store.h"

/* A spool folder opened once and kept: every file operation is relative to fd. */
struct store_dir {
	char *rel; /* path relative to the spool: "" (the spool), "state", "done"... */
	int fd;
	bool dirty; /* changed since its last fsync() */
};

struct dcv_store {
	uv_loop_t *loop;
	char *spool;
	struct store_dir **dirs; /* [0] the spool, [1] state/; entries never move */
	size_t n_dirs;
	size_t cap_dirs;
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

void store_free(struct dcv_store *st);

#endif
