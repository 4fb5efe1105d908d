/*
 * store_load.h -- what loading (store_load.c) and its handling of damage
 * (store_repair.c) share: the files and entries of one load.
 */
#ifndef DCV_STORE_LOAD_H
#define DCV_STORE_LOAD_H

#include <limits.h>

#include "store_int.h"

/* A file of state/ that holds entries. */
struct lfile {
	uint64_t seq; /* 0 for a record file of the old format */
	char name[NAME_MAX + 1];
	bool is_log;
	uint32_t idx;       /* in the store's file table; UINT32_MAX when not there */
	unsigned char *buf; /* a log's bytes */
	size_t len;
	bool unreadable;       /* damaged as a whole (or a damaged record file): no entries count */
	size_t n_bad;          /* damaged entries of a log */
	uint32_t rewritten_to; /* a damaged log's whole entries went to this log; or UINT32_MAX */
	bool moved;
	char problem[600]; /* why a damaged log stayed where it is */
	char moved_to[PATH_MAX];
};

/* An entry of a file: a record or a forget. */
struct lentry {
	uint32_t file; /* index into the load's files */
	uint64_t off;
	uint64_t len;
	const unsigned char *hint; /* the id line; NULL: none */
	size_t hint_len;
	uint32_t hint_hash;
	int32_t older; /* the next older entry with the same id line, or -1 */
	int32_t rec;   /* slot in recs when parsed, or -1 */
	int rc;        /* of the parse */
	bool newest;   /* no newer entry has its id line */
	bool parsed;
	bool forget;
	bool live; /* the newest entry of its id */
};

/* A file that a reading beside a running dcvd found deleted meanwhile: read again. */
#define LOAD_GONE 1

struct load {
	struct dcv_store *st;
	bool readonly;
	bool vanished; /* LOAD_GONE happened */
	struct dcv_strv *errors;
	struct lfile *files;
	size_t n_files;
	struct lentry *entries;
	size_t n_entries, cap_entries;
	size_t *cand; /* entries to parse first: the newest of each id line */
	size_t n_cand;
	struct dcv_job_record *recs;
	size_t n_recs, cap_recs;
};

/* ---- store_scan.c ---- */

/* Deletes the ".*.status.tmp" leftovers in SPOOL/rel, best effort. */
void load_clean_status_tmp(struct dcv_store *st, const char *rel);
/*
 * The files of state/ that hold entries into ld->files, record files first
 * (seq 0), then the logs by number; deletes "*.tmp" leftovers (unless
 * read-only). DCV_EIO (reported in ld->errors), DCV_ENOMEM.
 */
int load_list(struct load *ld);
/*
 * Opens state/<name> for reading: a regular file, not a link, at most max
 * bytes. DCV_ESTATE (damaged) with why; LOAD_GONE when a read-only load
 * finds it deleted meanwhile.
 */
int load_open_file(struct dcv_store *st, bool readonly, const char *name, uint64_t max, int *out,
                   uint64_t *size, struct dcv_why *why);
/* Reads a log whole; DCV_ESTATE (with why) when it cannot be read at all, LOAD_GONE. */
int load_read_log(struct load *ld, struct lfile *f, struct dcv_why *why);
/* One more entry of file (a log's entries get their id line). DCV_ENOMEM. */
int load_add_entry(struct load *ld, uint32_t file, uint64_t off, uint64_t len);
/* Cuts a log into entries at the end markers; a last piece without one is an entry too. */
int load_split_log(struct load *ld, uint32_t file);
/* Links each entry to the next older one with its id line; marks the newest. DCV_ENOMEM. */
int load_chain_hints(struct load *ld);
/* The line of byte off in a log, for messages. */
unsigned long load_line_of(const struct lfile *f, uint64_t off);

/* ---- store_repair.c ---- */

/*
 * Entry e does not parse (why): a record file is moved to state/damaged/
 * and reported; a log's damaged entry is reported and counted (the log is
 * dealt with by load_repair()). Read-only loads only report.
 */
int load_damage(struct load *ld, struct lentry *e, const struct dcv_why *why);
/* A log that cannot be read at all (why): moved and reported like a damaged record file. */
int load_damaged_file(struct load *ld, struct lfile *f, const struct dcv_why *why);
/*
 * The damaged logs' live entries are rewritten into a new log, then the
 * logs are moved to state/damaged/. A failure leaves the log in place (and
 * is reported by load_report()). DCV_ENOMEM only.
 */
int load_repair(struct load *ld);
/* One message per damaged log: what was kept, where it went. */
int load_report(struct load *ld);
void load_free(struct load *ld);

#endif
