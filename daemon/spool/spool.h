/*
 * spool.h -- the spool folders and how CSRs come in (docs/design.md §3):
 *
 *   SPOOL/incoming/  NAME.csr | NAME.pem | NAME.der (+ optional NAME.yaml sidecar)
 *   SPOOL/active/    claimed jobs
 *   SPOOL/done/      NAME.<ext> + NAME.status once visible
 *   SPOOL/failed/    NAME.<ext> + NAME.status with the reason
 *   SPOOL/state/     job records (store.h)
 *   SPOOL/results/   submitters' results folders (results.h)
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
 * the item, a missing one is fine; one owned by another uid than the CSR
 * refuses it too: someone else's sidecar must not steer a CSR); otherwise
 * both are read whole, and renamed into active/ with RENAME_NOREPLACE (CSR
 * first; a name already taken in active/ leaves the file in incoming/,
 * unreported; a rename that fails otherwise -- a read-only or full spool --
 * leaves it there too, is logged, and brings the next scan forward, backing
 * off up to rescan_ms; the inode moved must be the inode read, and it must
 * have no other hard link, or its content could still be changed through
 * that name), then parsed: CSR, request, sidecar (and the sidecar's
 * expected records checked). Dot-files, names over DCV_SPOOL_FILE_MAX
 * bytes and names without one of the three extensions (any case) are
 * ignored (sidecars go with their CSR). A NAME that has an active job, a
 * second file of a NAME in the same scan (x.csr beside x.pem), or more
 * claims than the caller allows, stays in incoming/ for a later scan.
 * Candidates are taken in the order of their (safe) NAMEs.
 *
 * Unsafe names: incoming/ is written by other local users, so a name may
 * hold any byte but '/' and NUL. A NAME that is not printable UTF-8, or
 * holds '~' (dcvd's job ids and archived files are NAME~HEX) or a
 * backslash, is refused before the claim, and the item carries a safe NAME
 * made from it (see struct dcv_spool_item); everything dcvd writes or logs
 * uses that one, and only src/src_sidecar hold the raw bytes.
 *
 * Entries dcvd cannot move (a directory of another user: EACCES) would be
 * reported at every scan; after dcv_spool_ignore() they are skipped while
 * they stay the same entry.
 *
 * Ownership: items handed to the callback belong to the callback (free
 * each with dcv_spool_item_free()). The array that carries them is the
 * spool's and lives only during the callback: copy an item (the struct, by
 * value) to keep it.
 *
 * Refused items stay in incoming/ and every later scan reports them again
 * (against max_claims) until the caller has moved them away: list their
 * NAMEs (item->name, the safe one) in active_names meanwhile; one that
 * cannot be moved goes to dcv_spool_ignore().
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
#include <sys/types.h>

#include <uv.h>

#include "dcv/dcv.h"
#include "dcv/err.h"
#include "sidecar.h"
#include "util.h"

/*
 * NAME.ext at most this long (longer entries are ignored): NAME must fit a
 * job's status file name (".NAME.status.tmp" within 255 bytes:
 * DCV_JOB_NAME_MAX, 243, in store.h) and the extension takes 4.
 */
#define DCV_SPOOL_FILE_MAX 247

enum dcv_spool_where {
	DCV_SPOOL_INCOMING, /* refused before the claim: still in incoming/ */
	DCV_SPOOL_ACTIVE,   /* claimed: in active/ */
};

/*
 * An entry of incoming/ as the spool saw it (lstat): what
 * dcv_spool_ignore() matches. The inode number alone would not do: it is
 * reused once the entry is gone.
 */
struct dcv_spool_entry {
	dev_t dev;
	ino_t ino;
	mode_t mode; /* the S_IFMT bits only */
	int64_t ctime_sec;
	long ctime_nsec;
};

/*
 * One file a scan dealt with. Refused (where INCOMING, status < 0): the
 * NAME is unsafe (DCV_EINVAL; see below), the file or its sidecar is a
 * symlink, not a regular file, over 64 KiB or unreadable, or the sidecar
 * belongs to another uid than the CSR (DCV_EPERM); why says which file and
 * why ("incoming/x.csr: a FIFO, not a regular file"); has_sidecar tells
 * whether a NAME.yaml lies beside it in incoming/ (of any type). Claimed
 * (where ACTIVE): both files are in active/; status < 0 when the CSR, the
 * request or the sidecar is bad, or one of them has more than one hard
 * link (DCV_EPERM); why then starts with the CSR ("active/x.csr: ...").
 * req is set when status is DCV_OK, and also when only the sidecar's
 * expected records differ (DCV_EMISMATCH), so that the failure can still
 * show the hashes. File names quoted in why went through dcv_escape().
 *
 * Names: src is the entry's name exactly as it is in incoming/ (raw bytes)
 * and src_sidecar its raw NAME.yaml: the only fields to use for paths in
 * incoming/. name and file are what dcvd uses everywhere else (job, status
 * file, active/, done/, failed/): for a safe NAME they are NAME and src
 * (original case). An unsafe NAME -- not printable UTF-8 (dcv_utf8_printable),
 * or holding '~' or '\' -- is refused with DCV_EINVAL, and name is made
 * from it by writing every byte outside printable UTF-8, and every '~',
 * '\' and '%', as %XX (upper-case hex): "b\x01" becomes "b%01"; one
 * longer than DCV_JOB_NAME_MAX that way is cut (at an escape boundary) to
 * DCV_JOB_NAME_MAX - 10 bytes and ends in "%+" and 8 hex digits of a hash
 * of the raw NAME, so that long names stay apart. file is then
 * "<name>.<ext>" (ext lower case). The caller moves incoming/<src> to
 * failed/<file> and incoming/<src_sidecar> to failed/<name>.yaml. A safe
 * name may look like an escaped one ("b%01.csr" is a fine name): both get
 * NAME "b%01", and the one-file-per-NAME rule keeps them apart in time.
 *
 * Owner: owner_uid and owner_gid are those of the CSR as opened (fstat) or,
 * when it was refused before it was opened, as first seen (lstat);
 * owner_name is the user's name (getpwuid_r) or "#<uid>" when there is
 * none. entry is the CSR's entry as first seen (lstat): hand it to
 * dcv_spool_ignore() when the entry cannot be moved. When not even lstat
 * worked (why says so), entry is zero, the uid and gid are -1 and
 * owner_name is empty.
 */
struct dcv_spool_item {
	char name[256];                           /* NAME (safe: see above) */
	char ext[8];                              /* "csr", "pem", "der" (lower case) */
	char file[264];                           /* NAME.ext (see above) */
	char src[DCV_SPOOL_FILE_MAX + 1];         /* the entry's name in incoming/, raw */
	char src_sidecar[DCV_SPOOL_FILE_MAX + 2]; /* its raw NAME.yaml in incoming/ */
	bool has_sidecar;                         /* NAME.yaml came along (moved with the CSR) */
	enum dcv_spool_where where;
	int status;         /* DCV_OK: req is set */
	struct dcv_why why; /* the refusal, naming the file */
	uid_t owner_uid;
	gid_t owner_gid;
	char owner_name[64];
	struct dcv_spool_entry entry;
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
/* Jobs in flight of one submitter (uid), for max_jobs_per_submitter. */
struct dcv_spool_uid_busy {
	uid_t uid;
	size_t busy;
};

struct dcv_spool_policy {
	struct dcv_strv active_names;
	size_t max_claims;
	/*
	 * At most per_uid_max claims in flight per owner uid (0: no bound):
	 * busy lists the uids that have jobs in flight (any order; the spool
	 * frees the array). The listing looks at each candidate's owner
	 * (lstat) and defers the files of a uid at its bound, so that one
	 * submitter cannot take every max_jobs slot while others wait.
	 */
	size_t per_uid_max;
	struct dcv_spool_uid_busy *busy;
	size_t n_busy;
	struct dcv_opts opts; /* target: the config's; unique: NULL */
	char target[32];      /* storage for opts.target */
	const struct dcv_psl *psl;
};

typedef void (*dcv_spool_policy_cb)(void *arg, struct dcv_spool_policy *policy);
/* Items of one chunk, from the loop; called several times per scan. */
typedef void (*dcv_spool_items_cb)(void *arg, struct dcv_spool_item *items, size_t n);

struct dcv_spool_opts {
	uint64_t rescan_ms;       /* default 30000 */
	size_t chunk;             /* files per thread-pool job (default 64) */
	bool no_watch;            /* no inotify, rescans only (network filesystems; tests) */
	const char *submit_group; /* incoming/'s expected group (default "dcv-submit"; tests) */
};

struct dcv_spool;

/*
 * Creates the folders that are missing (incoming/ 3770: setgid, so that
 * every new file gets the folder's group, which dcvd is a member of, and
 * sticky, so that submitters cannot remove or replace each other's files;
 * results/ 3730, see results.h; the others 0750; SPOOL itself 0710 when
 * its parent exists, so that the group can reach incoming/ and results/
 * and nothing else, as in dcvd.tmpfiles) -- blocking, call before the loop
 * runs -- and returns the spool. A folder it creates gets exactly that
 * mode whatever the umask; existing ones are left as the operator made
 * them, but an incoming/ whose mode is not 3770 (results/: 3730)
 * is logged as a warning (naming what submitters can then do), and so is
 * one (existing or created) whose group is not submit_group when a group
 * of that name exists. Each folder is opened once; all later file I/O is
 * relative to those descriptors. DCV_EIO with why naming the folder,
 * DCV_ENOMEM. Close the spool with dcv_spool_close() (also when never
 * started) and run the loop until closed().
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

/*
 * The spool's results/ (results.h), for dcv_results_deliver(); NULL while
 * closing. Opened by dcv_spool_open(), swept from dcv_spool_start() on,
 * closed by dcv_spool_close().
 */
struct dcv_results;
struct dcv_results *dcv_spool_results(struct dcv_spool *sp);

/* The spool's path. */
const char *dcv_spool_path(const struct dcv_spool *sp);
/* "SPOOL/<dir>/<file>" into buf (for messages); DCV_EINVAL when it does not fit. */
int dcv_spool_file_path(const struct dcv_spool *sp, const char *dir, const char *file, char *buf,
                        size_t size);

/*
 * From the loop: incoming/<src>, seen as entry, was reported and cannot be
 * moved (a directory owned by another user: EACCES); do not report it
 * again while it is the same entry. Every scan then skips a name of the
 * set whose entry still has that dev, inode, type and ctime (counted in
 * stats.ignored), and forgets it once the name is gone or is another entry
 * (an inode number is reused; a replaced or changed entry has another
 * ctime), which is then treated as any other. At most 65536 entries are
 * remembered (some 20 MiB at the longest names): beyond that a warning is
 * logged once and further ones are reported again at every scan (each
 * still counting against max_claims) until some are gone. An unknown
 * src (empty, with '/', too long) is a no-op.
 */
void dcv_spool_ignore(struct dcv_spool *sp, const char *src, const struct dcv_spool_entry *entry);

/* Counters, for the caller's decisions (kick again?) and for tests. */
struct dcv_spool_stats {
	uint64_t scans;   /* scans completed */
	bool busy;        /* a scan runs or is due */
	size_t deferred;  /* last scan: files left in incoming/ over max_claims */
	size_t held;      /* last scan: files left because their NAME is active (or taken) */
	size_t ignored;   /* last scan: entries skipped as dcv_spool_ignore() asked */
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
