/*
 * spool.h -- the spool folders and how CSRs come in (DESIGN §3):
 *
 *   SPOOL/incoming/  NAME.csr | NAME.pem | NAME.der (+ optional NAME.yaml sidecar)
 *   SPOOL/active/    claimed jobs
 *   SPOOL/done/      NAME.<ext> + NAME.status once visible
 *   SPOOL/failed/    NAME.<ext> + NAME.status with the reason
 *   SPOOL/state/     job records (store.h)
 *
 * New files are found by inotify (uv_fs_event on incoming/), by a rescan
 * every rescan_ms as a safety net, and by a full scan at start. Scanning,
 * claiming, reading and parsing run on libuv's thread pool, in chunks, so
 * both cores work and the loop never blocks.
 *
 * Claiming a file: fstatat(AT_SYMLINK_NOFOLLOW), then (regular files only)
 * open(O_RDONLY|O_NOFOLLOW|O_NONBLOCK) and fstat again -- a symlink,
 * FIFO, directory, socket, device or a file over 64 KiB is reported as
 * refused (and left in incoming/ for the caller to move to failed/); the
 * sidecar NAME.yaml is checked and read the same way (a bad one refuses
 * the item, a missing one is fine); otherwise both are read whole, and
 * renamed into active/ with RENAME_NOREPLACE (CSR first; a name already
 * taken in active/ leaves the file in incoming/, unreported; a rename that
 * fails otherwise -- a read-only or full spool -- leaves it there too, is
 * logged, and brings the next scan forward, backing off up to rescan_ms;
 * the inode moved must be the inode read), then parsed: CSR, request,
 * sidecar (and the sidecar's expected records checked). Dot-files, names
 * over 247 bytes and names without one of the three extensions (any case)
 * are ignored (sidecars go with their CSR). A NAME that has an active
 * job, a second file of a NAME in the same scan (x.csr beside x.pem), or
 * more claims than the caller allows, stays in incoming/ for a later scan.
 * Candidates are taken in name order.
 *
 * Ownership: items handed to the callback belong to the callback (free
 * each with dcv_spool_item_free()). The array that carries them is the
 * spool's and lives only during the callback: copy an item (the struct, by
 * value) to keep it.
 *
 * Refused items stay in incoming/ and every later scan reports them again
 * (against max_claims) until the caller has moved them away: list their
 * NAMEs in active_names meanwhile.
 *
 * Claimed files are never deleted or copied: a file is in incoming/ or in
 * active/ at every moment. The rename into active/ is not fsynced (the job
 * record, written by the caller, is what must be durable); after a crash
 * or a dcv_spool_close() during a scan, active/ may hold files that no job
 * knows: the spool scans only incoming/, so the caller looks for those.
 */
#ifndef DCV_SPOOL_H
#define DCV_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dcv/dcv.h"
#include "dcv/err.h"
#include "sidecar.h"
#include "util.h"

enum dcv_spool_where {
	DCV_SPOOL_INCOMING, /* refused before the claim: still in incoming/ */
	DCV_SPOOL_ACTIVE,   /* claimed: in active/ */
};

/*
 * One file a scan dealt with. Refused (where INCOMING, status < 0): the file
 * or its sidecar is a symlink, not a regular file, over 64 KiB or
 * unreadable; why says which file and why ("incoming/x.csr: a FIFO, not a
 * regular file"); has_sidecar tells whether a NAME.yaml lies beside it in
 * incoming/ (of any type). Claimed (where ACTIVE): both files are in
 * active/; status < 0 when the CSR, the request or the sidecar is bad, why
 * then starts with the file ("active/x.csr: ..."). req is set when status
 * is DCV_OK, and also when only the sidecar's expected records differ
 * (DCV_EMISMATCH), so that the failure can still show the hashes.
 */
struct dcv_spool_item {
	char name[256];   /* NAME */
	char ext[8];      /* "csr", "pem", "der" (as found, lower case) */
	char file[264];   /* NAME.ext as found (original case) */
	bool has_sidecar; /* NAME.yaml came along (moved with the CSR) */
	enum dcv_spool_where where;
	int status;         /* DCV_OK: req is set */
	struct dcv_why why; /* the refusal, naming the file */
	struct dcv_request *req;
	struct dcv_sidecar sidecar;
};

/* Frees req and the sidecar's strings, not item itself. NULL-safe; twice is harmless. */
void dcv_spool_item_free(struct dcv_spool_item *item);

/*
 * What the caller allows for the next scan, asked on the loop just before
 * it starts: the NAMEs with an active job, how many new claims at most, and
 * the options (default target, psl) for requests.
 *
 * The callback gets the policy zeroed and fills it: max_claims 0 claims
 * nothing (intake paused). Refused items count as claims, so that thousands
 * of bad files cannot keep a scan busy. The spool owns active_names (it
 * frees the vector), copies opts.target into target when it points
 * elsewhere, and ignores opts.unique (each sidecar gives its own). psl is
 * required; it is shared read-only by the pool threads and must stay valid
 * until closed() (the daemon loads it once).
 */
struct dcv_spool_policy {
	struct dcv_strv active_names;
	size_t max_claims;
	struct dcv_opts opts; /* target: the config's; unique: NULL */
	char target[32];      /* storage for opts.target */
	const struct psl_ctx_st *psl;
};

typedef void (*dcv_spool_policy_cb)(void *arg, struct dcv_spool_policy *policy);
/* Items of one chunk, from the loop; called several times per scan. */
typedef void (*dcv_spool_items_cb)(void *arg, struct dcv_spool_item *items, size_t n);

struct dcv_spool_opts {
	uint64_t rescan_ms; /* default 30000 */
	size_t chunk;       /* files per thread-pool job (default 64) */
	bool no_watch;      /* no inotify, rescans only (network filesystems; tests) */
};

struct dcv_spool;

/*
 * Creates the folders that are missing (incoming/ 2770 so a group may drop
 * files, the others 0750; SPOOL itself 0710 when its parent exists, so that
 * the group can reach incoming/ and nothing else, as in dcvd.tmpfiles) --
 * blocking, call before the loop runs -- and returns the spool. A folder
 * it creates gets exactly that mode whatever the umask; existing ones are
 * left as the operator made them. Each folder is opened once; all later
 * file I/O is relative to those descriptors. DCV_EIO with why naming the
 * folder, DCV_ENOMEM. Close the spool with dcv_spool_close() (also when
 * never started) and run the loop until closed().
 */
int dcv_spool_open(uv_loop_t *loop, const char *path, const struct dcv_spool_opts *opts,
                   struct dcv_spool **out, struct dcv_why *why);

/*
 * Starts watching and the first full scan (in the loop's next turn, so the
 * callbacks never run inside this call). DCV_EINVAL when started twice or
 * without callbacks. When inotify cannot watch incoming/ (e.g. the
 * inotify watch limit is reached), a warning is logged and the rescans
 * carry on alone.
 */
int dcv_spool_start(struct dcv_spool *sp, dcv_spool_policy_cb policy, dcv_spool_items_cb items,
                    void *arg);

/*
 * Asks for a scan soon (coalesced with one already running or due). Call it
 * when the policy would now allow more (a job ended, max_claims deferred
 * files). A no-op before start and while closing.
 */
void dcv_spool_kick(struct dcv_spool *sp);

/* The spool's path. */
const char *dcv_spool_path(const struct dcv_spool *sp);
/* "SPOOL/<dir>/<file>" into buf (for messages); DCV_EINVAL when it does not fit. */
int dcv_spool_file_path(const struct dcv_spool *sp, const char *dir, const char *file, char *buf,
                        size_t size);

/* Counters, for the caller's decisions (kick again?) and for tests. */
struct dcv_spool_stats {
	uint64_t scans;   /* scans completed */
	bool busy;        /* a scan runs or is due */
	size_t deferred;  /* last scan: files left in incoming/ over max_claims */
	size_t held;      /* last scan: files left because their NAME is active (or taken) */
	uint64_t claimed; /* items delivered with where ACTIVE */
	uint64_t refused; /* items delivered with where INCOMING */
	uint64_t skipped; /* files gone, NAME taken in active/ or unmovable, while claimed */
};
void dcv_spool_stats(const struct dcv_spool *sp, struct dcv_spool_stats *out);

/*
 * Stops watching; calls closed(arg) once handles are closed and no scan
 * runs (the spool is freed just before; closed may be NULL). Thread-pool jobs not yet started are
 * canceled (their files stay in incoming/); items of jobs that ran are
 * freed, not delivered (their files are in active/). Also for a spool that
 * was never started; callable from the callbacks.
 */
void dcv_spool_close(struct dcv_spool *sp, void (*closed)(void *arg), void *arg);

#endif
