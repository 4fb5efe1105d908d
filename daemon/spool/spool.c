/*
 * spool.c -- the loop side of the spool (see spool.h): folders, watching,
 * scans and their thread-pool jobs, closing. What runs on the pool is in
 * spool_claim.c.
 *
 * A scan is: the policy (asked on the loop), one pool job that lists
 * incoming/, then one pool job per chunk of candidates, each chunk's items
 * delivered from its after-work callback. At most one scan exists at a
 * time; a kick during a scan only notes that another scan is due when it
 * ends, so a burst of inotify events costs two scans, not thousands. A
 * scan's memory (policy, listing, chunks) belongs to the scan and is freed
 * when its last job has come back, which is also what closing waits for.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "results.h"
#include "spool_int.h"

#define SPOOL_RESCAN_MS_DEFAULT 30000
#define SPOOL_CHUNK_DEFAULT 64

const char *const spool_dir_names[SPOOL_DIRS] = {"incoming", "active", "done", "failed"};
/* incoming/: setgid (new files get the folder's group) and sticky (see spool.h). */
static const mode_t spool_dir_modes[SPOOL_DIRS] = {03770, 0750, 0750, 0750};
#define SPOOL_SUBMIT_GROUP "dcv-submit"

struct spool_scan;

static void on_soon(uv_timer_t *t);
static void on_rescan(uv_timer_t *t);

struct spool_chunk {
	uv_work_t work;
	struct spool_scan *scan;
	const struct spool_cand *cands;
	size_t n;
	struct dcv_spool_item *items; /* filled on the pool */
	size_t n_items;
	bool pending;           /* queued, after-work not yet run */
	size_t n_trouble;       /* files left in incoming/ because the spool failed */
	struct dcv_why trouble; /* the first of them */
};

struct spool_scan {
	uv_work_t list_work;
	bool list_pending;
	struct dcv_spool *sp;
	struct dcv_spool_policy policy;
	struct spool_ctx ctx;
	struct spool_listing listing;
	struct spool_chunk *chunks;
	size_t n_chunks;
	size_t outstanding; /* pool jobs whose after-work has not run */
	size_t n_trouble;   /* files the spool failed to claim in this scan */
	struct dcv_why trouble;
};

struct dcv_spool {
	uv_loop_t *loop;
	char *path;
	char *incoming_path;
	struct dcv_spool_opts opts;
	int dir_fd[SPOOL_DIRS];
	uv_fs_event_t watch;
	uv_timer_t rescan;
	uv_timer_t soon; /* 0 ms: a scan in the loop's next turn */
	unsigned handles_open;
	bool started, watching, closing;
	bool again;              /* kicked while a scan ran */
	unsigned claim_failures; /* scans in a row that failed to claim files */
	struct spool_scan *scan;
	dcv_spool_policy_cb policy_cb;
	dcv_spool_items_cb items_cb;
	void *arg;
	void (*closed)(void *arg);
	void *closed_arg;
	struct dcv_spool_stats stats;
	struct spool_ignore ignore;
	bool ignore_init;
	bool ignore_full_logged;     /* the set is full and that was said */
	struct dcv_results *results; /* SPOOL/results/ (results.h); counted in handles_open */
};

void dcv_spool_item_free(struct dcv_spool_item *item)
{
	if (item == NULL)
		return;
	dcv_request_free(item->req);
	item->req = NULL;
	dcv_sidecar_free(&item->sidecar);
}

/*
 * Opens (creating it when missing, then with exactly mode) a folder below
 * at; *created tells which.
 */
static int dir_open(int at, const char *name, const char *shown, mode_t mode, bool *created,
                    struct dcv_why *why)
{
	bool setid_lost = false;
	int fd = dcv_dir_open(at, name, mode, created, &setid_lost);

	if (fd < 0)
		dcv_why_set(why, "spool folder %s: %s", shown, strerror(errno));
	else if (setid_lost)
		log_warn("spool %s: made without its setgid bit (refused here, as dcvd.service's "
		         "RestrictSUIDSGID= does): new files do not get the folder's group; let "
		         "systemd-tmpfiles make the spool (dcvd.tmpfiles)",
		         shown);
	return fd;
}

/*
 * incoming/ is where other users write: say so when its mode or group lets
 * them do more than drop their own files, or keeps dcvd from reading them.
 * Only a warning: the operator may have reasons (and dcvd cannot chmod a
 * folder it does not own).
 */
static void check_incoming(int fd, const char *shown, bool created, const char *group)
{
	char what[160] = "", found_name[64];
	const struct group *gr = NULL;
	struct stat st;
	mode_t mode = 0;
	gid_t want = 0;

	if (fstat(fd, &st) < 0) {
		log_warn("spool %s: cannot check its mode: %s", shown, strerror(errno));
		goto out;
	}
	mode = st.st_mode & 07777;
	if (!created && mode != 03770) {
		if (!(mode & S_ISVTX))
			snprintf(what, sizeof(what), "; submitters can remove each other's files");
		if (!(mode & S_ISGID))
			snprintf(what + strlen(what), sizeof(what) - strlen(what),
			         "; new files do not get the folder's group");
		if ((mode & 0030) != 0030)
			snprintf(what + strlen(what), sizeof(what) - strlen(what),
			         "; the group cannot drop files");
		if (mode & 0007)
			snprintf(what + strlen(what), sizeof(what) - strlen(what),
			         "; others can reach it");
		log_warn("spool %s: mode %o, expected 3770 (setgid and sticky: see "
		         "dcvd.tmpfiles)%s",
		         shown, (unsigned)mode, what);
	}
	/*
	 * Only where the group exists: tests and other setups may use another.
	 * getgrnam() is not reentrant, which is fine before the loop runs.
	 */
	if ((gr = getgrnam(group)) == NULL || gr->gr_gid == st.st_gid)
		goto out;
	want = gr->gr_gid;
	gr = getgrgid(st.st_gid);
	snprintf(found_name, sizeof(found_name), "%s", gr != NULL ? gr->gr_name : "?");
	log_warn("spool %s: group %s (gid %lu), expected %s (gid %lu; see dcvd.tmpfiles); "
	         "its members cannot drop files there",
	         shown, found_name, (unsigned long)st.st_gid, group, (unsigned long)want);
out:
	return;
}

static void spool_free(struct dcv_spool *sp)
{
	for (int i = 0; i < SPOOL_DIRS; i++)
		if (sp->dir_fd[i] >= 0)
			close(sp->dir_fd[i]);
	free(sp->path);
	free(sp->incoming_path);
	if (sp->ignore_init)
		spool_ignore_fini(&sp->ignore);
	free(sp);
}

int dcv_spool_open(uv_loop_t *loop, const char *path, const struct dcv_spool_opts *opts,
                   struct dcv_spool **out, struct dcv_why *why)
{
	struct dcv_spool *sp = NULL;
	char shown[4096];
	bool created = false;
	int root = -1;
	int rc = DCV_ENOMEM;

	*out = NULL;
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		goto out;
	for (int i = 0; i < SPOOL_DIRS; i++)
		sp->dir_fd[i] = -1;
	sp->loop = loop;
	if (opts != NULL)
		sp->opts = *opts;
	if (sp->opts.rescan_ms == 0)
		sp->opts.rescan_ms = SPOOL_RESCAN_MS_DEFAULT;
	if (sp->opts.chunk == 0)
		sp->opts.chunk = SPOOL_CHUNK_DEFAULT;
	if (spool_ignore_init(&sp->ignore) < 0)
		goto out;
	sp->ignore_init = true;
	sp->path = strdup(path);
	if (sp->path == NULL || asprintf(&sp->incoming_path, "%s/incoming", path) < 0) {
		sp->incoming_path = NULL;
		goto out;
	}
	rc = DCV_EIO;
	/* The group may only pass through (to incoming/), as dcvd.tmpfiles makes it. */
	if ((root = dir_open(AT_FDCWD, path, path, 0710, &created, why)) < 0)
		goto out;
	for (int i = 0; i < SPOOL_DIRS; i++) {
		snprintf(shown, sizeof(shown), "%s/%s", path, spool_dir_names[i]);
		sp->dir_fd[i] =
		    dir_open(root, spool_dir_names[i], shown, spool_dir_modes[i], &created, why);
		if (sp->dir_fd[i] < 0)
			goto out;
		if (i == SPOOL_DIR_INCOMING)
			check_incoming(sp->dir_fd[i], shown, created,
			               sp->opts.submit_group != NULL ? sp->opts.submit_group
			                                             : SPOOL_SUBMIT_GROUP);
	}
	if ((rc = dcv_results_open(loop, root, path,
	                           sp->opts.submit_group != NULL ? sp->opts.submit_group
	                                                         : SPOOL_SUBMIT_GROUP,
	                           &sp->results, why)) < 0)
		goto out;
	rc = DCV_EIO;
	/* Neither init can fail on Linux; the handles exist from here on, closed by close. */
	uv_timer_init(loop, &sp->rescan);
	uv_timer_init(loop, &sp->soon);
	uv_fs_event_init(loop, &sp->watch);
	sp->rescan.data = sp->soon.data = sp->watch.data = sp;
	sp->handles_open = 4; /* the three, and the results */
	*out = sp;
	sp = NULL;
	rc = DCV_OK;
out:
	if (root >= 0)
		close(root);
	if (sp != NULL)
		spool_free(sp);
	if (rc == DCV_ENOMEM)
		dcv_why_set(why, "spool %s: out of memory", path);
	return rc;
}

const char *dcv_spool_path(const struct dcv_spool *sp)
{
	return sp->path;
}

int dcv_spool_file_path(const struct dcv_spool *sp, const char *dir, const char *file, char *buf,
                        size_t size)
{
	int n = snprintf(buf, size, "%s/%s/%s", sp->path, dir, file);

	return n < 0 || (size_t)n >= size ? DCV_EINVAL : DCV_OK;
}

void dcv_spool_stats(const struct dcv_spool *sp, struct dcv_spool_stats *out)
{
	*out = sp->stats;
	out->busy = sp->scan != NULL || uv_is_active((const uv_handle_t *)&sp->soon);
}

/* The end of closing: every handle closed and no scan left. */
static void maybe_finish(struct dcv_spool *sp)
{
	void (*closed)(void *) = sp->closed;
	void *arg = sp->closed_arg;

	if (!sp->closing || sp->handles_open > 0 || sp->scan != NULL)
		return;
	spool_free(sp);
	if (closed != NULL)
		closed(arg);
}

/*
 * The spool failed to claim files (read-only, full): say so, and scan again
 * soon rather than at the next rescan, backing off up to rescan_ms.
 */
static void claim_trouble(struct dcv_spool *sp, const struct spool_scan *scan)
{
	uint64_t delay = 0;

	if (scan->n_trouble == 0) {
		if (sp->claim_failures > 0 && scan->listing.n > 0) {
			log_notice("spool %s: claiming files in incoming/ works again", sp->path);
			sp->claim_failures = 0;
		}
		return;
	}
	delay = dcv_backoff_ms(sp->claim_failures++, 1000, sp->opts.rescan_ms);
	log_err("spool %s: %zu files left in incoming/: %s; trying again in %.1f s", sp->path,
	        scan->n_trouble, scan->trouble.text, (double)delay / 1000.0);
	uv_timer_start(&sp->rescan, on_rescan, delay, sp->opts.rescan_ms);
}

static void scan_end(struct spool_scan *scan)
{
	struct dcv_spool *sp = scan->sp;

	if (!sp->closing)
		claim_trouble(sp, scan);
	sp->scan = NULL;
	sp->stats.scans++;
	dcv_strv_free(&scan->policy.active_names);
	free(scan->policy.busy);
	scan->policy.busy = NULL;
	free(scan->listing.cands);
	free(scan->chunks);
	free(scan);
	if (sp->closing) {
		maybe_finish(sp);
	} else if (sp->again) {
		sp->again = false;
		uv_timer_start(&sp->soon, on_soon, 0, 0);
	}
}

static void chunk_work(uv_work_t *w)
{
	struct spool_chunk *c = w->data;

	/* Without memory the files simply stay in incoming/ for a later scan. */
	c->items = calloc(c->n, sizeof(*c->items));
	if (c->items == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		struct dcv_why trouble = {""};
		if (spool_claim(&c->scan->ctx, &c->cands[i], &c->items[c->n_items], &trouble))
			c->n_items++;
		if (trouble.text[0] != '\0' && c->n_trouble++ == 0)
			c->trouble = trouble;
	}
}

static void chunk_done(uv_work_t *w, int status)
{
	struct spool_chunk *c = w->data;
	struct spool_scan *scan = c->scan;
	struct dcv_spool *sp = scan->sp;

	c->pending = false;
	sp->stats.skipped += c->n - c->n_items;
	if (c->n_trouble > 0 && scan->n_trouble == 0)
		scan->trouble = c->trouble;
	scan->n_trouble += c->n_trouble;
	if (!sp->closing && status == 0 && c->n_items > 0) {
		for (size_t i = 0; i < c->n_items; i++) {
			if (c->items[i].where == DCV_SPOOL_ACTIVE)
				sp->stats.claimed++;
			else
				sp->stats.refused++;
		}
		sp->items_cb(sp->arg, c->items, c->n_items);
	} else {
		for (size_t i = 0; i < c->n_items; i++)
			dcv_spool_item_free(&c->items[i]);
	}
	free(c->items);
	c->items = NULL;
	if (--scan->outstanding == 0)
		scan_end(scan);
}

static void list_work(uv_work_t *w)
{
	struct spool_scan *scan = w->data;

	spool_list(&scan->ctx, &scan->policy.active_names, &scan->listing);
}

static void list_done(uv_work_t *w, int status)
{
	struct spool_scan *scan = w->data;
	struct dcv_spool *sp = scan->sp;
	struct spool_listing *l = &scan->listing;
	size_t per = sp->opts.chunk;

	scan->list_pending = false;
	scan->outstanding--;
	dcv_strv_free(&scan->policy.active_names);
	free(scan->policy.busy);
	scan->policy.busy = NULL;
	if (sp->closing || status != 0)
		goto end;
	if (l->status < 0) {
		log_warn("spool %s: %s", sp->path, l->why.text);
		goto end;
	}
	sp->stats.deferred = l->deferred;
	sp->stats.held = l->held;
	sp->stats.ignored = l->ignored;
	if (l->n == 0)
		goto end;
	scan->n_chunks = (l->n + per - 1) / per;
	scan->chunks = calloc(scan->n_chunks, sizeof(*scan->chunks));
	if (scan->chunks == NULL) {
		log_err("spool %s: out of memory for a scan", sp->path);
		goto end;
	}
	/* All chunks at once: the pool's threads take them in parallel. */
	for (size_t i = 0; i < scan->n_chunks; i++) {
		struct spool_chunk *c = &scan->chunks[i];

		c->scan = scan;
		c->cands = l->cands + i * per;
		c->n = i + 1 < scan->n_chunks ? per : l->n - i * per;
		c->work.data = c;
		if (uv_queue_work(sp->loop, &c->work, chunk_work, chunk_done) == 0) {
			c->pending = true;
			scan->outstanding++;
		}
	}
end:
	if (scan->outstanding == 0)
		scan_end(scan);
}

static void scan_begin(struct dcv_spool *sp)
{
	struct spool_scan *scan = NULL;
	struct dcv_spool_policy *p = NULL;

	scan = calloc(1, sizeof(*scan));
	if (scan == NULL) {
		/* The next rescan tries again. */
		log_err("spool %s: out of memory for a scan", sp->path);
		return;
	}
	scan->sp = sp;
	p = &scan->policy;
	/* Set first, so that a kick from inside the policy callback is coalesced. */
	sp->scan = scan;
	sp->policy_cb(sp->arg, p);
	if (sp->closing)
		goto end;
	if (p->opts.target != NULL && p->opts.target != p->target) {
		snprintf(p->target, sizeof(p->target), "%s", p->opts.target);
		p->opts.target = p->target;
	}
	p->opts.unique = NULL;
	if (p->psl == NULL) {
		log_err("spool %s: no Public Suffix List given, scan skipped", sp->path);
		goto end;
	}
	scan->ctx.incoming_fd = sp->dir_fd[SPOOL_DIR_INCOMING];
	scan->ctx.active_fd = sp->dir_fd[SPOOL_DIR_ACTIVE];
	scan->ctx.policy = p;
	scan->ctx.ignore = &sp->ignore;
	scan->list_work.data = scan;
	if (uv_queue_work(sp->loop, &scan->list_work, list_work, list_done) == 0) {
		scan->list_pending = true;
		scan->outstanding = 1;
		return;
	}
end:
	scan_end(scan);
}

static void on_soon(uv_timer_t *t)
{
	scan_begin(t->data);
}

void dcv_spool_kick(struct dcv_spool *sp)
{
	if (!sp->started || sp->closing)
		return;
	if (sp->scan != NULL)
		sp->again = true;
	else if (!uv_is_active((uv_handle_t *)&sp->soon))
		uv_timer_start(&sp->soon, on_soon, 0, 0);
}

void dcv_spool_ignore(struct dcv_spool *sp, const char *src, const struct dcv_spool_entry *entry)
{
	char shown[SPOOL_SHOWN_MAX];
	size_t len = strlen(src);
	int rc = DCV_OK;

	/* Not a name the spool reported: nothing could ever match it. */
	if (len == 0 || len > SPOOL_FILE_MAX || strchr(src, '/') != NULL)
		goto out;
	rc = spool_ignore_add(&sp->ignore, src, entry);
	if (rc == DCV_OK) {
		sp->ignore_full_logged = false;
	} else if (rc == DCV_ELIMIT && !sp->ignore_full_logged) {
		/* Once per time the set fills: every later one would say the same. */
		sp->ignore_full_logged = true;
		log_warn("spool %s: %d entries of incoming/ that dcvd cannot move are remembered "
		         "already; incoming/%s and any more are reported again at every scan "
		         "until some are removed",
		         sp->path, SPOOL_IGNORE_MAX, spool_shown(src, shown));
	} else if (rc == DCV_ENOMEM) {
		log_err("spool %s: out of memory remembering incoming/%s; it is reported again",
		        sp->path, spool_shown(src, shown));
	}
out:
	return;
}

static void on_rescan(uv_timer_t *t)
{
	dcv_spool_kick(t->data);
}

static void on_watch(uv_fs_event_t *h, const char *filename, int events, int status)
{
	dcv_spool_kick(h->data);
}

int dcv_spool_start(struct dcv_spool *sp, dcv_spool_policy_cb policy, dcv_spool_items_cb items,
                    void *arg)
{
	int r = 0;

	if (sp->started || sp->closing || policy == NULL || items == NULL)
		return DCV_EINVAL;
	sp->started = true;
	sp->policy_cb = policy;
	sp->items_cb = items;
	sp->arg = arg;
	if (!sp->opts.no_watch) {
		r = uv_fs_event_start(&sp->watch, on_watch, sp->incoming_path, 0);
		if (r < 0)
			log_warn(
			    "spool %s: cannot watch incoming/ (%s); new files are found by the "
			    "rescan every %llu ms",
			    sp->path, uv_strerror(r), (unsigned long long)sp->opts.rescan_ms);
		sp->watching = r == 0;
	}
	uv_timer_start(&sp->rescan, on_rescan, sp->opts.rescan_ms, sp->opts.rescan_ms);
	uv_timer_start(&sp->soon, on_soon, 0, 0);
	dcv_results_start(sp->results);
	return DCV_OK;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct dcv_spool *sp = h->data;

	sp->handles_open--;
	maybe_finish(sp);
}

static void on_results_closed(void *arg)
{
	struct dcv_spool *sp = arg;

	sp->results = NULL;
	sp->handles_open--;
	maybe_finish(sp);
}

struct dcv_results *dcv_spool_results(struct dcv_spool *sp)
{
	return sp->closing ? NULL : sp->results;
}

void dcv_spool_close(struct dcv_spool *sp, void (*closed)(void *arg), void *arg)
{
	struct spool_scan *scan = sp->scan;

	if (sp->closing)
		return;
	sp->closing = true;
	sp->closed = closed;
	sp->closed_arg = arg;
	uv_close((uv_handle_t *)&sp->watch, on_handle_closed);
	uv_close((uv_handle_t *)&sp->rescan, on_handle_closed);
	uv_close((uv_handle_t *)&sp->soon, on_handle_closed);
	dcv_results_close(sp->results, on_results_closed, sp);
	/* Jobs not started yet are dropped (UV_ECANCELED); running ones are awaited. */
	if (scan != NULL && scan->list_pending)
		uv_cancel((uv_req_t *)&scan->list_work);
	for (size_t i = 0; scan != NULL && i < scan->n_chunks; i++)
		if (scan->chunks[i].pending)
			uv_cancel((uv_req_t *)&scan->chunks[i].work);
}
