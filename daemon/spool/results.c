/*
 * results.c -- SPOOL/results/ (see results.h): the submitter's copy of a
 * job's status, and the sweep of folders nobody waits on any more.
 *
 * Everything that touches results/ runs on libuv's thread pool: a folder
 * there belongs to a submitter, who may have made it slow (a FUSE mount is
 * not possible there, but a folder of a million files is). The loop only
 * queues work and logs what came back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "results.h"

bool dcv_results_token_ok(const char *s)
{
	return s != NULL && strlen(s) == DCV_JOB_TOKEN_LEN &&
	       strspn(s, "0123456789abcdef") == DCV_JOB_TOKEN_LEN;
}

int dcv_results_token_new(char out[DCV_JOB_TOKEN_LEN + 1], struct dcv_why *why)
{
	unsigned char raw[DCV_JOB_TOKEN_LEN / 2];
	size_t got = 0;
	ssize_t n = 0;

	while (got < sizeof(raw)) {
		n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			dcv_why_set(why, "no random bytes for a token: %s", strerror(errno));
			return DCV_EIO;
		}
		got += (size_t)n;
	}
	dcv_hex(raw, sizeof(raw), out);
	out[DCV_JOB_TOKEN_LEN] = '\0';
	return DCV_OK;
}

int dcv_results_token_of(const char *secret, char out[DCV_JOB_TOKEN_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!dcv_results_token_ok(secret) ||
	    EVP_Digest(secret, DCV_JOB_TOKEN_LEN, md, &n, EVP_sha256(), NULL) != 1 ||
	    n < DCV_JOB_TOKEN_LEN / 2)
		return DCV_EINVAL;
	dcv_hex(md, DCV_JOB_TOKEN_LEN / 2, out);
	out[DCV_JOB_TOKEN_LEN] = '\0';
	return DCV_OK;
}

/*
 * The folder of token in results_fd, opened (O_NOFOLLOW|O_DIRECTORY): the
 * entry whose name is a secret that hashes to token. -1 with errno ENOENT
 * when there is none.
 */
static int results_find(int results_fd, const char *token)
{
	char seen[DCV_JOB_TOKEN_LEN + 1];
	struct dirent *de = NULL;
	DIR *d = NULL;
	int lfd = openat(results_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1, err = 0;

	if (lfd < 0 || (d = fdopendir(lfd)) == NULL) {
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	errno = ENOENT;
	while (fd < 0 && (de = readdir(d)) != NULL) {
		if (dcv_results_token_of(de->d_name, seen) < 0 || strcmp(seen, token) != 0)
			continue;
		fd = openat(lfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			break;
	}
	err = fd < 0 && de == NULL ? ENOENT : errno;
	closedir(d);
	errno = err;
	return fd;
}

int dcv_results_put(int results_fd, const char *token, uid_t uid, const char *name,
                    const unsigned char *text, size_t len, struct dcv_why *why)
{
	char tmp[300], final[300];
	struct stat st;
	int dfd = -1, fd = -1, rc = DCV_EINVAL;

	if (!dcv_results_token_ok(token) || name[0] == '\0' || name[0] == '.' ||
	    strchr(name, '/') != NULL || strlen(name) > DCV_JOB_NAME_MAX) {
		dcv_why_set(why, "the submitter's results folder: unusable token or name");
		goto out;
	}
	snprintf(tmp, sizeof(tmp), ".%s.status.tmp", name);
	snprintf(final, sizeof(final), "%s.status", name);
	dfd = results_find(results_fd, token);
	if (dfd < 0) {
		rc = errno == ENOENT                                         ? DCV_ECANCELED
		     : errno == ELOOP || errno == ENOTDIR || errno == EACCES ? DCV_EPERM
		                                                             : DCV_EIO;
		dcv_why_set(why, "the submitter's results folder: %s", strerror(errno));
		goto out;
	}
	rc = DCV_EIO;
	if (fstat(dfd, &st) < 0) {
		dcv_why_set(why, "the submitter's results folder: %s", strerror(errno));
		goto out;
	}
	/* Only the submitter's own folder: nobody steers dcvd's writes into another's. */
	if (st.st_uid != uid) {
		rc = DCV_EPERM;
		dcv_why_set(why,
		            "the submitter's results folder belongs to uid %lu, not to the "
		            "submitter (uid %lu)",
		            (unsigned long)st.st_uid, (unsigned long)uid);
		goto out;
	}
	/* A leftover temporary (a crash, or the owner's doing) is in the way of O_EXCL. */
	for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno == EEXIST && attempt == 0)
			unlinkat(dfd, tmp, 0);
	}
	if (fd < 0) {
		rc = errno == EACCES ? DCV_EPERM : DCV_EIO;
		dcv_why_set(why, "the submitter's results folder: cannot create %s: %s", tmp,
		            strerror(errno));
		goto out;
	}
	/*
	 * Readable by all who may enter the folder: its owner (the submitter)
	 * and its group; the group may not be the submitter's when the folder
	 * lost its setgid bit, and the folder's own mode is the gate.
	 */
	if (fchmod(fd, 0644) < 0 || !dcv_write_all(fd, text, len) || close(fd) < 0) {
		fd = -1;
		dcv_why_set(why, "the submitter's results folder: writing %s: %s", tmp,
		            strerror(errno));
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	fd = -1;
	/* rename() replaces whatever is at final (a file, a symlink) and follows nothing. */
	if (renameat(dfd, tmp, dfd, final) < 0) {
		dcv_why_set(why, "the submitter's results folder: rename into place: %s",
		            strerror(errno));
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	rc = DCV_OK;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* Removes what a folder holds (one level; empty subfolders too); false on the first failure. */
static bool results_empty_dir(int dfd, struct dcv_why *why)
{
	struct dirent *de = NULL;
	struct stat st;
	DIR *d = fdopendir(dfd);
	bool ok = true;

	if (d == NULL) {
		dcv_why_set(why, "%s", strerror(errno));
		close(dfd);
		return false;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (unlinkat(dfd, de->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 &&
		    errno != ENOENT && ok) {
			dcv_why_set(why, "%s", strerror(errno));
			ok = false;
		}
	}
	closedir(d);
	return ok;
}

void dcv_results_sweep(int results_fd, time_t now, uint64_t max_age_s,
                       struct dcv_results_swept *out)
{
	struct dirent *de = NULL;
	struct stat st;
	struct dcv_why why;
	DIR *d = NULL;
	int lfd = -1, dfd = -1;
	time_t changed = 0;

	memset(out, 0, sizeof(*out));
	/* A listing of its own: the caller's descriptor keeps its position and stays open. */
	if ((lfd = openat(results_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(lfd)) == NULL) {
		out->failed = 1;
		dcv_why_set(&out->why, "cannot list it: %s", strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(lfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		changed = st.st_mtime > st.st_ctime ? st.st_mtime : st.st_ctime;
		if (now < changed || (uint64_t)(now - changed) <= max_age_s) {
			out->kept++;
			continue;
		}
		dcv_why_clear(&why);
		if (S_ISDIR(st.st_mode)) {
			dfd = openat(lfd, de->d_name,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (dfd < 0)
				dcv_why_set(&why, "%s", strerror(errno));
			else if (results_empty_dir(dfd, &why) &&
			         unlinkat(lfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
				dcv_why_set(&why, "%s", strerror(errno));
		} else if (unlinkat(lfd, de->d_name, 0) < 0 && errno != ENOENT) {
			dcv_why_set(&why, "%s", strerror(errno));
		}
		if (why.text[0] == '\0') {
			out->removed++;
		} else if (out->failed++ == 0) {
			/* Entry names are tokens: the reason only. */
			dcv_why_set(&out->why, "%s", why.text);
		}
	}
	closedir(d);
}

/* ---- the loop side ---- */

enum results_kind { RESULTS_PUT, RESULTS_SWEEP };

struct results_work {
	uv_work_t work;
	struct dcv_results *r;
	struct results_work *prev, *next;
	enum results_kind kind;
	/* put */
	char job_id[DCV_JOB_ID_MAX + 1];
	char token[DCV_JOB_TOKEN_LEN + 1];
	char name[DCV_JOB_NAME_MAX + 1];
	uid_t uid;
	unsigned char *text;
	size_t len;
	bool quiet;
	int rc;
	struct dcv_why why;
	/* sweep */
	struct dcv_results_swept swept;
};

struct dcv_results {
	uv_loop_t *loop;
	int fd;
	char *path; /* SPOOL/results, for messages */
	uv_timer_t sweep_timer;
	bool timer_open, closing, sweeping;
	struct results_work *works; /* queued or running */
	void (*closed)(void *arg);
	void *closed_arg;
};

static void results_free(struct dcv_results *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->path);
	free(r);
}

/* Says so when results/ lets others list it, or lacks what submitters need. */
static void results_check_mode(int fd, const char *shown, const char *group)
{
	const struct group *gr = NULL;
	struct stat st;
	mode_t mode = 0;

	if (fstat(fd, &st) < 0) {
		log_warn("spool %s: cannot check its mode: %s", shown, strerror(errno));
		return;
	}
	mode = st.st_mode & 07777;
	if (mode != DCV_RESULTS_MODE)
		log_warn("spool %s: mode %o, expected 3730 (see dcvd.tmpfiles)%s%s%s", shown,
		         (unsigned)mode,
		         (mode & 0044) ? "; others can list it, and so find every submitter's "
		                         "results folder"
		                       : "",
		         (mode & 0030) != 0030 ? "; the group cannot make results folders" : "",
		         (mode & S_ISVTX) ? "" : "; submitters can remove each other's folders");
	/* getgrnam() is not reentrant, which is fine before the loop runs. */
	if ((gr = getgrnam(group)) != NULL && gr->gr_gid != st.st_gid)
		log_warn("spool %s: group gid %lu, expected %s (gid %lu; see dcvd.tmpfiles); "
		         "its members cannot wait for results",
		         shown, (unsigned long)st.st_gid, group, (unsigned long)gr->gr_gid);
}

int dcv_results_open(uv_loop_t *loop, int spool_fd, const char *spool_path, const char *group,
                     struct dcv_results **out, struct dcv_why *why)
{
	struct dcv_results *r = calloc(1, sizeof(*r));
	bool created = false, setid_lost = false;
	int rc = DCV_ENOMEM;

	*out = NULL;
	if (r == NULL)
		goto fail;
	r->fd = -1;
	r->loop = loop;
	if (asprintf(&r->path, "%s/%s", spool_path, DCV_RESULTS_DIR) < 0) {
		r->path = NULL;
		goto fail;
	}
	rc = DCV_EIO;
	r->fd = dcv_dir_open(spool_fd, DCV_RESULTS_DIR, DCV_RESULTS_MODE, &created, &setid_lost);
	if (r->fd < 0)
		goto fail_errno;
	if (setid_lost)
		log_warn("spool %s: made without its setgid bit (refused here, as dcvd.service's "
		         "RestrictSUIDSGID= does); let systemd-tmpfiles make the spool "
		         "(dcvd.tmpfiles)",
		         r->path);
	results_check_mode(r->fd, r->path, group);
	uv_timer_init(loop, &r->sweep_timer);
	r->sweep_timer.data = r;
	r->timer_open = true;
	*out = r;
	return DCV_OK;
fail_errno:
	dcv_why_set(why, "spool folder %s: %s", r->path, strerror(errno));
fail:
	if (rc == DCV_ENOMEM)
		dcv_why_set(why, "spool %s: out of memory", spool_path);
	if (r != NULL)
		results_free(r);
	return rc;
}

static void results_maybe_finish(struct dcv_results *r)
{
	void (*closed)(void *) = r->closed;
	void *arg = r->closed_arg;

	if (!r->closing || r->timer_open || r->works != NULL)
		return;
	results_free(r);
	if (closed != NULL)
		closed(arg);
}

static void results_work_run(uv_work_t *w)
{
	struct results_work *rw = w->data;

	if (rw->kind == RESULTS_SWEEP)
		dcv_results_sweep(rw->r->fd, time(NULL), DCV_RESULTS_MAX_AGE_S, &rw->swept);
	else
		rw->rc = dcv_results_put(rw->r->fd, rw->token, rw->uid, rw->name, rw->text, rw->len,
		                         &rw->why);
}

static void results_log(const struct dcv_results *r, const struct results_work *rw)
{
	if (rw->kind == RESULTS_SWEEP) {
		/* Counts only: the entries' names are secrets. */
		if (rw->swept.failed > 0)
			log_warn(
			    "spool %s: removed %zu results folders left for over a day; %zu could "
			    "not be removed: %s",
			    r->path, rw->swept.removed, rw->swept.failed, rw->swept.why.text);
		else if (rw->swept.removed > 0)
			log_info("spool %s: removed %zu results folders left for over a day",
			         r->path, rw->swept.removed);
		return;
	}
	switch (rw->rc) {
	case DCV_OK:
		dcv_log_job(DCV_LOG_DEBUG, rw->job_id, "status given to its submitter");
		break;
	case DCV_ECANCELED:
		if (!rw->quiet)
			dcv_log_job(DCV_LOG_INFO, rw->job_id,
			            "its submitter no longer waits for the result (no results "
			            "folder); the status stays in the spool");
		break;
	default:
		dcv_log_job(DCV_LOG_WARNING, rw->job_id, "status not given to its submitter: %s",
		            rw->why.text);
		break;
	}
}

static void results_work_done(uv_work_t *w, int status)
{
	struct results_work *rw = w->data;
	struct dcv_results *r = rw->r;

	if (rw->prev != NULL)
		rw->prev->next = rw->next;
	else
		r->works = rw->next;
	if (rw->next != NULL)
		rw->next->prev = rw->prev;
	if (rw->kind == RESULTS_SWEEP)
		r->sweeping = false;
	if (status == 0)
		results_log(r, rw);
	free(rw->text);
	free(rw);
	results_maybe_finish(r);
}

/* Queues rw (taking it); frees it when the pool refuses. */
static void results_queue(struct dcv_results *r, struct results_work *rw)
{
	rw->r = r;
	rw->work.data = rw;
	if (uv_queue_work(r->loop, &rw->work, results_work_run, results_work_done) < 0) {
		free(rw->text);
		free(rw);
		return;
	}
	rw->next = r->works;
	if (r->works != NULL)
		r->works->prev = rw;
	r->works = rw;
	if (rw->kind == RESULTS_SWEEP)
		r->sweeping = true;
}

static void results_on_sweep(uv_timer_t *t)
{
	struct dcv_results *r = t->data;
	struct results_work *rw = NULL;

	/* One sweep at a time: a slow one is not doubled by the next hour's. */
	if (r->closing || r->sweeping || (rw = calloc(1, sizeof(*rw))) == NULL)
		return;
	rw->kind = RESULTS_SWEEP;
	results_queue(r, rw);
}

void dcv_results_start(struct dcv_results *r)
{
	uv_timer_start(&r->sweep_timer, results_on_sweep, 0, DCV_RESULTS_SWEEP_MS);
}

void dcv_results_deliver(struct dcv_results *r, const char *job_id, const char *token, uid_t uid,
                         const char *name, unsigned char *text, size_t len, bool quiet)
{
	struct results_work *rw = NULL;

	if (r == NULL || r->closing || !dcv_results_token_ok(token) ||
	    (rw = calloc(1, sizeof(*rw))) == NULL) {
		free(text);
		return;
	}
	rw->kind = RESULTS_PUT;
	snprintf(rw->job_id, sizeof(rw->job_id), "%s", job_id);
	memcpy(rw->token, token, sizeof(rw->token));
	snprintf(rw->name, sizeof(rw->name), "%s", name);
	rw->uid = uid;
	rw->text = text;
	rw->len = len;
	rw->quiet = quiet;
	results_queue(r, rw);
}

static void results_timer_closed(uv_handle_t *h)
{
	struct dcv_results *r = h->data;

	r->timer_open = false;
	results_maybe_finish(r);
}

void dcv_results_close(struct dcv_results *r, void (*closed)(void *arg), void *arg)
{
	if (r->closing)
		return;
	r->closing = true;
	r->closed = closed;
	r->closed_arg = arg;
	/* Jobs not started are dropped (UV_ECANCELED: their after-work still runs). */
	for (struct results_work *rw = r->works; rw != NULL; rw = rw->next)
		uv_cancel((uv_req_t *)&rw->work);
	uv_close((uv_handle_t *)&r->sweep_timer, results_timer_closed);
}
