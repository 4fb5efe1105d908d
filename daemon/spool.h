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
 * Claiming a file: open(O_RDONLY|O_NOFOLLOW|O_NONBLOCK), fstat -- a symlink,
 * FIFO, directory, socket, device or a file over 64 KiB is reported as
 * refused (and left in incoming/ for the caller to move to failed/);
 * otherwise it is read whole, and renamed into active/ with
 * RENAME_NOREPLACE (its sidecar too), then parsed: CSR, request, sidecar
 * (and the sidecar's expected records checked). Dot-files and names without
 * one of the three extensions are ignored (sidecars go with their CSR). A
 * NAME that has an active job, or more claims than the caller allows, stays
 * in incoming/ for a later scan.
 *
 * Ownership: items handed to the callback belong to the callback (free
 * each with dcv_spool_item_free()).
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

void dcv_spool_item_free(struct dcv_spool_item *item);

/*
 * What the caller allows for the next scan, asked on the loop just before
 * it starts: the NAMEs with an active job, how many new claims at most, and
 * the options (default target, psl) for requests.
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
};

struct dcv_spool;

/*
 * Creates the folders that are missing (incoming/ 2770 so a group may drop
 * files, the others 0750) -- blocking, call before the loop runs -- and
 * returns the spool. DCV_EIO with why naming the folder.
 */
int dcv_spool_open(uv_loop_t *loop, const char *path, const struct dcv_spool_opts *opts,
                   struct dcv_spool **out, struct dcv_why *why);

/* Starts watching and the first full scan. */
int dcv_spool_start(struct dcv_spool *sp, dcv_spool_policy_cb policy, dcv_spool_items_cb items,
                    void *arg);

/* Asks for a scan soon (coalesced with one already running or due). */
void dcv_spool_kick(struct dcv_spool *sp);

/* The spool's path, and "SPOOL/<dir>/<file>" into buf. */
const char *dcv_spool_path(const struct dcv_spool *sp);

/* Stops watching; calls closed(arg) once handles are closed and no scan runs. */
void dcv_spool_close(struct dcv_spool *sp, void (*closed)(void *arg), void *arg);

#endif
