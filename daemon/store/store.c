/*
 * store.c -- the durable job store (store.h): the folder table, plain
 * files, opening (with the refusal of the old format's job logs), loading,
 * closing. The other parts are listed in store_int.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

#define DIR_MODE 0750
#define FILE_MODE 0640

struct store_tuning store_tuning_defaults = {STORE_MAP_START, STORE_MAP_MAX, STORE_STATUS_THREADS};

static int dir_add(struct dcv_store *st, const char *rel, int fd, struct store_dir **out)
{
	struct store_dir **grown = NULL, *dir = NULL;
	size_t cap = 0;
	int rc = DCV_ENOMEM;

	if (st->n_dirs == st->cap_dirs) {
		cap = st->cap_dirs ? st->cap_dirs * 2 : 8;
		grown = realloc(st->dirs, cap * sizeof(*grown));
		if (grown == NULL)
			goto out;
		st->dirs = grown;
		st->cap_dirs = cap;
	}
	dir = calloc(1, sizeof(*dir));
	if (dir == NULL || (dir->rel = strdup(rel)) == NULL)
		goto out;
	dir->fd = fd;
	st->dirs[st->n_dirs++] = dir;
	*out = dir;
	dir = NULL;
	rc = DCV_OK;
out:
	free(dir);
	return rc;
}

static struct store_dir *dir_find(struct dcv_store *st, const char *rel)
{
	for (size_t i = 0; i < st->n_dirs; i++)
		if (strcmp(st->dirs[i]->rel, rel) == 0)
			return st->dirs[i];
	return NULL;
}

/* Makes SPOOL/rel (its parent exists) with exactly DIR_MODE, whatever the umask. */
static int dir_make(struct dcv_store *st, const char *rel, struct dcv_why *why)
{
	struct store_dir *parent = NULL;
	const char *slash = strrchr(rel, '/');
	char *parent_rel = NULL;
	int rc = DCV_EIO;

	if (mkdirat(st->dirs[STORE_DIR_SPOOL]->fd, rel, DIR_MODE) < 0) {
		if (errno == EEXIST)
			rc = DCV_OK;
		else
			dcv_why_set(why, "%s/%s: cannot create the folder: %s", st->spool, rel,
			            strerror(errno));
		goto out;
	}
	if (fchmodat(st->dirs[STORE_DIR_SPOOL]->fd, rel, DIR_MODE, 0) < 0) {
		dcv_why_set(why, "%s/%s: cannot set its mode: %s", st->spool, rel, strerror(errno));
		goto out;
	}
	/* The new entry lives in the parent folder: that one needs its fsync too. */
	rc = DCV_ENOMEM;
	parent_rel = slash != NULL ? strndup(rel, (size_t)(slash - rel)) : strdup("");
	if (parent_rel == NULL)
		goto out;
	rc = store_dir_get(st, parent_rel, false, &parent, why);
	if (rc == DCV_OK)
		parent->dirty = true;
out:
	free(parent_rel);
	return rc;
}

/* Whether dir's folder was removed (rm -r by hand) since it was opened: its link count is 0. */
static bool dir_removed(const struct store_dir *dir)
{
	struct stat sb;

	return dir->rel[0] != '\0' && fstat(dir->fd, &sb) == 0 && sb.st_nlink == 0;
}

int store_dir_get(struct dcv_store *st, const char *rel, bool create, struct store_dir **out,
                  struct dcv_why *why)
{
	struct store_dir *dir = dir_find(st, rel);
	int fd = -1, rc = DCV_OK;

	/* A removed folder is opened (and made) again: its old descriptor names nothing. */
	if (dir != NULL && !dir_removed(dir))
		goto out;
	if (create && (rc = dir_make(st, rel, why)) < 0)
		goto out;
	rc = DCV_EIO;
	fd = openat(st->dirs[STORE_DIR_SPOOL]->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		dcv_why_set(why, "%s/%s: cannot open the folder: %s", st->spool, rel,
		            strerror(errno));
		goto out;
	}
	if (dir != NULL) {
		close(dir->fd);
		dir->fd = fd;
		fd = -1;
		rc = DCV_OK;
		goto out;
	}
	rc = dir_add(st, rel, fd, &dir);
	if (rc == DCV_OK)
		fd = -1;
out:
	if (fd >= 0)
		close(fd);
	*out = rc == DCV_OK ? dir : NULL;
	return rc;
}

int store_dirs_flush(struct dcv_store *st, uint64_t *fsyncs, struct dcv_why *why)
{
	int rc = DCV_OK;

	for (size_t i = 0; i < st->n_dirs; i++) {
		struct store_dir *dir = st->dirs[i];

		if (!dir->dirty)
			continue;
		(*fsyncs)++;
		if (fsync(dir->fd) < 0 && rc == DCV_OK) {
			rc = DCV_EIO;
			dcv_why_set(why, "%s%s%s: fsync of the folder failed: %s", st->spool,
			            dir->rel[0] ? "/" : "", dir->rel, strerror(errno));
			continue;
		}
		dir->dirty = false;
	}
	return rc;
}

void store_path(const struct dcv_store *st, const struct store_dir *dir, const char *name,
                char *out, size_t size)
{
	snprintf(out, size, "%s%s%s/%s", st->spool, dir->rel[0] ? "/" : "", dir->rel, name);
}

/* "SPOOL/REL/NAME: WHAT failed: strerror(errno)". */
static void say_failed(const struct dcv_store *st, const struct store_dir *dir, const char *name,
                       const char *what, struct dcv_why *why)
{
	dcv_why_set(why, "%s%s%s/%s: %s failed: %s", st->spool, dir->rel[0] ? "/" : "", dir->rel,
	            name, what, strerror(errno));
}

/* Sets the mode (the umask may have taken bits away) and writes buf; what failed in *what. */
static int fill_fd(int fd, const unsigned char *buf, size_t len, const char **what)
{
	*what = "chmod";
	if (fchmod(fd, FILE_MODE) < 0)
		return DCV_EIO;
	*what = "write";
	return dcv_write_all(fd, buf, len) ? DCV_OK : DCV_EIO;
}

int store_write_file(struct dcv_store *st, const struct store_dir *dir, const char *name,
                     const unsigned char *buf, size_t len, struct dcv_why *why)
{
	const char *what = "open";
	int fd = -1, rc = DCV_EIO;

	fd =
	    openat(dir->fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, FILE_MODE);
	/* A stale file keeps its old mode: fill_fd sets it. */
	if (fd < 0 || fill_fd(fd, buf, len, &what) < 0)
		goto out;
	what = "close";
	rc = close(fd) < 0 ? DCV_EIO : DCV_OK;
	fd = -1;
out:
	if (rc < 0)
		say_failed(st, dir, name, what, why);
	if (fd >= 0)
		close(fd);
	return rc;
}

int store_link_new_file(struct dcv_store *st, const struct store_dir *dir, const char *name,
                        const unsigned char *buf, size_t len, struct dcv_why *why)
{
	char proc[64];
	const char *what = "open";
	int fd = -1, err = 0, rc = STORE_LINK_NOT_DONE;

	if (atomic_load_explicit(&st->no_tmpfile, memory_order_relaxed))
		goto out;
	fd = openat(dir->fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, FILE_MODE);
	if (fd < 0) {
		/*
		 * Not on this file system or kernel: never again. Anything else
		 * (a full disk, a deleted folder) the rename way meets and names.
		 */
		if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
			atomic_store_explicit(&st->no_tmpfile, true, memory_order_relaxed);
		goto out;
	}
	if (fill_fd(fd, buf, len, &what) < 0) {
		rc = DCV_EIO;
		goto out;
	}
	/*
	 * linkat(AT_EMPTY_PATH) would need CAP_DAC_READ_SEARCH; the
	 * descriptor's /proc link does not.
	 */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dir->fd, name, AT_SYMLINK_FOLLOW) == 0) {
		rc = DCV_OK;
		goto out;
	}
	err = errno;
	if (err == EEXIST)
		goto out; /* replacing takes a rename: the caller's way */
	if (err == ENOENT && access(proc, F_OK) == 0) {
		/* The descriptor's link is there: it is the folder that is gone. */
		rc = DCV_EIO;
	} else if (err == ENOENT || err == EACCES || err == EPERM || err == EXDEV) {
		/* No /proc (a chroot, a sandbox) or no linkat: the rename way from now on. */
		atomic_store_explicit(&st->no_tmpfile, true, memory_order_relaxed);
	} else {
		rc = DCV_EIO;
	}
	what = "link";
	errno = err;
out:
	if (rc < 0)
		say_failed(st, dir, name, what, why);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A store on spool with its folder table started: the spool and (made with create) state/. */
static int open_common(uv_loop_t *loop, const char *spool, bool create, struct dcv_store **out,
                       struct dcv_why *why)
{
	struct dcv_store *st = NULL;
	struct store_dir *dir = NULL;
	int fd = -1, rc = DCV_ENOMEM;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->spool = strdup(spool)) == NULL)
		goto out;
	st->loop = loop;
	st->tuning = store_tuning_defaults;
	rc = DCV_EIO;
	fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		dcv_why_set(why, "%s: cannot open the spool folder: %s", spool, strerror(errno));
		goto out;
	}
	rc = dir_add(st, "", fd, &dir);
	if (rc < 0)
		goto out;
	fd = -1;
	rc = store_dir_get(st, "state", create, &dir, why);
	if (rc < 0)
		goto out;
	*out = st;
	st = NULL;
out:
	if (fd >= 0)
		close(fd);
	store_free(st);
	return rc;
}

/* A job log ("<16 hex digits>.log") or record file ("*.job") of the format before LMDB. */
static const char *old_kind(const char *name)
{
	size_t n = strlen(name);

	if (n == 20 && strspn(name, "0123456789abcdef") == 16 && strcmp(name + 16, ".log") == 0)
		return "log";
	if (name[0] != '.' && n > 4 && strcmp(name + n - 4, ".job") == 0)
		return "record file";
	return NULL;
}

/*
 * Refuses a state/ that holds job records of the format before LMDB: they
 * are not imported, and a start without them would orphan the DNS records
 * they hold. DCV_ESTATE naming the first (and how many more), DCV_EIO.
 */
static int refuse_old_logs(struct dcv_store *st, struct dcv_why *why)
{
	char first[NAME_MAX + 1] = "", others[48] = "";
	const char *kind = NULL, *first_kind = NULL;
	struct dirent *de = NULL;
	size_t more = 0;
	DIR *d = NULL;
	int fd = openat(st->dirs[STORE_DIR_STATE]->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = DCV_EIO;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		dcv_why_set(why, "%s/state: cannot list the folder: %s", st->spool,
		            strerror(errno));
		goto out;
	}
	fd = -1;
	while ((de = readdir(d)) != NULL) {
		if ((kind = old_kind(de->d_name)) == NULL)
			continue;
		if (first_kind != NULL && strcmp(de->d_name, first) > 0) {
			more++;
			continue;
		}
		more += first_kind != NULL;
		first_kind = kind;
		snprintf(first, sizeof(first), "%s", de->d_name);
	}
	rc = DCV_OK;
	if (first_kind == NULL)
		goto out;
	rc = DCV_ESTATE;
	if (more > 0)
		snprintf(others, sizeof(others), " (and %zu more such files)", more);
	dcv_why_set(why,
	            "%s/state/%s: job %s of the format before LMDB; dcvd 0.x wrote it; withdraw "
	            "its records by hand or remove it: starting would orphan them%s",
	            st->spool, first, first_kind, others);
out:
	if (d != NULL)
		closedir(d);
	if (fd >= 0)
		close(fd);
	return rc;
}

int dcv_store_open(uv_loop_t *loop, const char *spool, struct dcv_store **out, struct dcv_why *why)
{
	struct dcv_store *st = NULL;
	struct stat sb;
	uint64_t fsyncs = 0;
	int rc = open_common(loop, spool, true, &st, why);

	*out = NULL;
	if (rc < 0 || (rc = refuse_old_logs(st, why)) < 0)
		goto out;
	/* New data.mdb and lock.mdb are entries of state/: its fsync makes them last. */
	if (fstatat(st->dirs[STORE_DIR_STATE]->fd, "data.mdb", &sb, AT_SYMLINK_NOFOLLOW) < 0)
		st->dirs[STORE_DIR_STATE]->dirty = true;
	/* A damaged environment stops dcvd here, before any job runs. */
	rc = store_db_load(st, true, &st->loaded, &st->n_loaded, &st->load_errors, why);
	if (rc < 0)
		goto out;
	st->has_loaded = true;
	/* state/ and its environment, made just now, must survive a crash before the first batch.
	 */
	rc = store_dirs_flush(st, &fsyncs, why);
	if (rc < 0)
		goto out;
	*out = st;
	st = NULL;
out:
	store_free(st);
	return rc;
}

int dcv_store_load(struct dcv_store *st, struct dcv_job_record **recs, size_t *n,
                   struct dcv_strv *errors)
{
	struct dcv_why why;
	int rc = DCV_OK;

	*recs = NULL;
	*n = 0;
	if (st->has_loaded) {
		/* What the open loaded, handed over once. */
		*recs = st->loaded;
		*n = st->n_loaded;
		for (size_t i = 0; i < st->load_errors.n && rc == DCV_OK; i++)
			rc = dcv_strv_push(errors, st->load_errors.v[i]);
		st->loaded = NULL;
		st->n_loaded = 0;
		st->has_loaded = false;
		dcv_strv_free(&st->load_errors);
	} else {
		dcv_why_clear(&why);
		rc = store_db_load(st, true, recs, n, errors, &why);
		if (rc < 0 && rc != DCV_ENOMEM && dcv_strv_push(errors, why.text) < 0)
			rc = DCV_ENOMEM;
	}
	store_clean_status_tmp(st, "done");
	store_clean_status_tmp(st, "failed");
	return rc;
}

int dcv_store_read(const char *spool, struct dcv_job_record **recs, size_t *n,
                   struct dcv_strv *errors)
{
	struct dcv_store *st = NULL;
	struct dcv_why why;
	struct stat sb;
	int rc = DCV_OK, state = -1;

	*recs = NULL;
	*n = 0;
	dcv_why_clear(&why);
	rc = open_common(NULL, spool, false, &st, &why);
	if (rc < 0 || (rc = refuse_old_logs(st, &why)) < 0)
		goto out;
	state = st->dirs[STORE_DIR_STATE]->fd;
	/* dcvd has not started here yet: nothing to read, nothing to create. */
	if (fstatat(state, "data.mdb", &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		goto out;
	/* Opening would create lock.mdb, owned by whoever runs this: never. */
	if (fstatat(state, "lock.mdb", &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
		rc = DCV_EPERM;
		dcv_why_set(
		    &why,
		    "%s/state/lock.mdb is missing (dcvd makes it); reading now would create "
		    "it as this user",
		    spool);
		goto out;
	}
	rc = store_db_load(st, false, recs, n, errors, &why);
out:
	if (rc < 0 && rc != DCV_ENOMEM && dcv_strv_push(errors, why.text) < 0)
		rc = DCV_ENOMEM;
	store_free(st);
	return rc;
}

/*
 * Status files of a batch that a crash cut short stay behind as dot-files
 * in done/ or failed/ (the spool ignores them): delete them, best effort.
 */
void store_clean_status_tmp(struct dcv_store *st, const char *rel)
{
	static const char suffix[] = ".status.tmp";
	struct store_dir *dir = NULL;
	struct dirent *de = NULL;
	struct stat sb;
	size_t len = 0;
	DIR *d = NULL;
	int fd = -1;

	if (store_dir_get(st, rel, false, &dir, NULL) < 0)
		return;
	fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL)
		goto out;
	fd = -1;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] != '.' || len < sizeof(suffix) ||
		    strcmp(de->d_name + len - (sizeof(suffix) - 1), suffix) != 0)
			continue;
		if (fstatat(dir->fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode) && unlinkat(dir->fd, de->d_name, 0) == 0)
			dir->dirty = true;
	}
out:
	if (d != NULL)
		closedir(d);
	if (fd >= 0)
		close(fd);
}

void store_free(struct dcv_store *st)
{
	if (st == NULL)
		return;
	dcv_job_records_free(st->loaded, st->n_loaded);
	dcv_strv_free(&st->load_errors);
	for (size_t i = 0; i < st->n_dirs; i++) {
		close(st->dirs[i]->fd);
		free(st->dirs[i]->rel);
		free(st->dirs[i]);
	}
	free(st->dirs);
	free(st->spool);
	free(st);
}

void dcv_store_close(struct dcv_store *st)
{
	if (st == NULL)
		return;
	st->closing = true;
	/* Queued batches still run; the last one's completion frees the store. */
	if (st->running == NULL && st->head == NULL && !st->in_callback)
		store_free(st);
}

void dcv_store_stats(const struct dcv_store *st, struct dcv_store_stats *out)
{
	*out = st->stats;
}
