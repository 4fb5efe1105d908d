/*
 * store.c -- the durable job store (store.h): opening the spool's state/
 * folder, the folder table, and loading every record at start. Batches are
 * in store_batch.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

#define DIR_MODE 0750
#define FILE_MODE 0640

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

int store_dir_get(struct dcv_store *st, const char *rel, bool create, struct store_dir **out,
                  struct dcv_why *why)
{
	struct store_dir *dir = dir_find(st, rel);
	int fd = -1, rc = DCV_OK;

	if (dir != NULL)
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

int store_write_file(struct dcv_store *st, const struct store_dir *dir, const char *name,
                     const unsigned char *buf, size_t len, struct dcv_why *why)
{
	const char *what = "open";
	size_t done = 0;
	ssize_t n = 0;
	int fd = -1, rc = DCV_EIO;

	fd =
	    openat(dir->fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, FILE_MODE);
	if (fd < 0)
		goto out;
	/* The umask may have taken bits away, and a stale file keeps its old mode. */
	what = "chmod";
	if (fchmod(fd, FILE_MODE) < 0)
		goto out;
	what = "write";
	while (done < len) {
		n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		done += (size_t)n;
	}
	what = "close";
	n = close(fd);
	fd = -1;
	if (n < 0)
		goto out;
	rc = DCV_OK;
out:
	if (rc < 0)
		dcv_why_set(why, "%s%s%s/%s: %s failed: %s", st->spool, dir->rel[0] ? "/" : "",
		            dir->rel, name, what, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

int dcv_store_open(uv_loop_t *loop, const char *spool, struct dcv_store **out, struct dcv_why *why)
{
	struct dcv_store *st = NULL;
	struct store_dir *dir = NULL;
	int fd = -1, rc = DCV_ENOMEM;
	uint64_t fsyncs = 0;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->spool = strdup(spool)) == NULL)
		goto out;
	st->loop = loop;
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
	rc = store_dir_get(st, "state", true, &dir, why);
	if (rc < 0)
		goto out;
	/* A state/ made just now must survive a crash before the first batch. */
	rc = store_dirs_flush(st, &fsyncs, why);
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

void store_free(struct dcv_store *st)
{
	if (st == NULL)
		return;
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

/* ---- loading ---- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Reads and parses state/<name>; DCV_ESTATE (damaged) with why, DCV_ENOMEM. */
static int load_one(struct dcv_store *st, const char *name, struct dcv_job_record *rec,
                    struct dcv_why *why)
{
	unsigned char *buf = NULL;
	size_t len = 0, id_len = strlen(name) - 4;
	char path[PATH_MAX];
	struct dcv_why read_why;
	struct stat sb;
	int fd = -1, rc = DCV_ESTATE;

	memset(rec, 0, sizeof(*rec));
	snprintf(path, sizeof(path), "%s/state/%s", st->spool, name);
	fd = openat(st->dirs[STORE_DIR_STATE]->fd, name,
	            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		dcv_why_set(why, "%s: %s", path,
		            errno == ELOOP ? "is a symbolic link, not a record" : strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		dcv_why_set(why, "%s: is not a regular file", path);
		goto out;
	}
	if (sb.st_size > DCV_JOB_FILE_MAX) {
		dcv_why_set(why, "%s: larger than the limit of %d bytes", path, DCV_JOB_FILE_MAX);
		goto out;
	}
	/* The size from fstat bounds the buffer: no 16 MiB allocation per small file. */
	rc = dcv_read_fd(fd, (size_t)sb.st_size, &buf, &len, &read_why);
	if (rc == DCV_ENOMEM)
		goto out;
	if (rc < 0) {
		rc = DCV_ESTATE;
		dcv_why_set(why, "%s: %s", path, read_why.text);
		goto out;
	}
	rc = dcv_job_record_parse(path, buf, len, rec, why);
	if (rc < 0)
		goto out;
	/* The file name is the id: two files can never hold the same job. */
	if (strlen(rec->id) != id_len || memcmp(rec->id, name, id_len) != 0) {
		dcv_why_set(why, "%s: the record's id '%s' does not match its file name", path,
		            rec->id);
		dcv_job_record_free(rec);
		rc = DCV_ESTATE;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/*
 * Moves state/<name> into state/damaged/ without replacing an earlier
 * damaged file: "<name>", then "<name>.1", "<name>.2"... Fills moved_to.
 */
static int move_damaged(struct dcv_store *st, const char *name, char *moved_to, size_t size,
                        struct dcv_why *why)
{
	struct store_dir *damaged = NULL, *state = st->dirs[STORE_DIR_STATE];
	char target[NAME_MAX + 1];
	int rc = store_dir_get(st, "state/damaged", true, &damaged, why);

	if (rc < 0)
		return rc;
	rc = DCV_EIO;
	for (unsigned i = 0; i < 1000; i++) {
		if (i == 0)
			snprintf(target, sizeof(target), "%s", name);
		else if (snprintf(target, sizeof(target), "%s.%u", name, i) >= (int)sizeof(target))
			break;
		if (renameat2(state->fd, name, damaged->fd, target, RENAME_NOREPLACE) == 0) {
			state->dirty = true;
			damaged->dirty = true;
			snprintf(moved_to, size, "%s/state/damaged/%s", st->spool, target);
			return DCV_OK;
		}
		if (errno != EEXIST)
			break;
	}
	dcv_why_set(why, "cannot move it to %s/state/damaged/: %s", st->spool, strerror(errno));
	return rc;
}

/*
 * Status files of a batch that a crash cut short stay behind as dot-files
 * in done/ or failed/ (the spool ignores them): delete them, best effort.
 */
static void clean_status_tmp(struct dcv_store *st, const char *rel)
{
	struct store_dir *dir = NULL;
	struct dirent *de = NULL;
	struct stat sb;
	DIR *d = NULL;
	int fd = -1;

	if (store_dir_get(st, rel, false, &dir, NULL) < 0)
		return;
	fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL)
		goto out;
	fd = -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || !ends_with(de->d_name, ".status.tmp"))
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

/* Names of the records in state/; deletes leftover temporary files on the way. */
static int list_state(struct dcv_store *st, struct dcv_strv *names, struct dcv_strv *errors)
{
	struct store_dir *state = st->dirs[STORE_DIR_STATE];
	struct dirent *de = NULL;
	struct stat sb;
	DIR *d = NULL;
	int fd = -1, rc = DCV_EIO;

	fd = openat(state->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL)
		goto fail;
	fd = -1;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				goto fail;
			break;
		}
		if (ends_with(de->d_name, ".tmp")) {
			/* An unfinished write: its batch never called back, so nobody relies on it.
			 */
			if (fstatat(state->fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(sb.st_mode) && unlinkat(state->fd, de->d_name, 0) == 0)
				state->dirty = true;
			continue;
		}
		if (de->d_name[0] == '.' || !ends_with(de->d_name, ".job"))
			continue;
		rc = dcv_strv_push(names, de->d_name);
		if (rc < 0)
			goto out;
	}
	rc = DCV_OK;
	goto out;
fail:
	rc = DCV_EIO;
	if (dcv_strv_pushf(errors, "%s/state: cannot list the folder: %s", st->spool,
	                   strerror(errno)) < 0)
		rc = DCV_ENOMEM;
out:
	if (d != NULL)
		closedir(d);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int record_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dcv_job_record *)a)->id,
	              ((const struct dcv_job_record *)b)->id);
}

/*
 * Reading and parsing are spread over a few threads: at start nothing else
 * runs yet, and 50,000 records are mostly parser work (libyaml allocates a
 * lot per document). Thread k takes records k, k + step, k + 2 step...
 */
#define LOAD_THREADS_MAX 8

struct load_share {
	struct dcv_store *st;
	const struct dcv_strv *names;
	struct dcv_job_record *out; /* out[i] for names->v[i] */
	int *rcs;
	size_t first;
	size_t step;
};

static void load_share_run(void *arg)
{
	struct load_share *share = arg;
	struct dcv_why why;

	for (size_t i = share->first; i < share->names->n; i += share->step)
		share->rcs[i] = load_one(share->st, share->names->v[i], &share->out[i], &why);
}

static void load_all(struct dcv_store *st, const struct dcv_strv *names, struct dcv_job_record *out,
                     int *rcs)
{
	struct load_share shares[LOAD_THREADS_MAX];
	uv_thread_t threads[LOAD_THREADS_MAX];
	bool started[LOAD_THREADS_MAX];
	size_t n_threads = uv_available_parallelism();

	if (n_threads > LOAD_THREADS_MAX)
		n_threads = LOAD_THREADS_MAX;
	if (n_threads < 1 || names->n < 256)
		n_threads = 1;
	for (size_t k = 0; k < n_threads; k++) {
		shares[k] = (struct load_share){st, names, out, rcs, k, n_threads};
		/* A thread that cannot start leaves its share to this one. */
		started[k] =
		    k > 0 && uv_thread_create(&threads[k], load_share_run, &shares[k]) == 0;
	}
	for (size_t k = 0; k < n_threads; k++)
		if (!started[k])
			load_share_run(&shares[k]);
	for (size_t k = 1; k < n_threads; k++)
		if (started[k])
			uv_thread_join(&threads[k]);
}

/* Moves state/<name> out of the way and says so in errors (why: what is wrong). */
static int report_damaged(struct dcv_store *st, const char *name, const struct dcv_why *why,
                          struct dcv_strv *errors)
{
	char moved_to[PATH_MAX];
	struct dcv_why move_why;

	if (move_damaged(st, name, moved_to, sizeof(moved_to), &move_why) == 0)
		return dcv_strv_pushf(errors, "%s (moved to %s)", why->text, moved_to);
	return dcv_strv_pushf(errors, "%s (%s)", why->text, move_why.text);
}

int dcv_store_load(struct dcv_store *st, struct dcv_job_record **recs, size_t *n,
                   struct dcv_strv *errors)
{
	struct dcv_strv names = {NULL, 0, 0};
	struct dcv_job_record *out = NULL;
	struct dcv_why why;
	size_t count = 0;
	uint64_t fsyncs = 0;
	int *rcs = NULL;
	int rc = DCV_OK;

	*recs = NULL;
	*n = 0;
	clean_status_tmp(st, "done");
	clean_status_tmp(st, "failed");
	rc = list_state(st, &names, errors);
	if (rc < 0 || names.n == 0)
		goto done;
	rc = DCV_ENOMEM;
	out = calloc(names.n, sizeof(*out));
	rcs = calloc(names.n, sizeof(*rcs));
	if (out == NULL || rcs == NULL)
		goto out;
	load_all(st, &names, out, rcs);
	/* Gather the records at the front; every slot behind count is left empty. */
	for (size_t i = 0; i < names.n; i++) {
		if (rcs[i] == DCV_OK) {
			if (count != i) {
				out[count] = out[i];
				memset(&out[i], 0, sizeof(out[i]));
			}
			count++;
			continue;
		}
		/*
		 * Read it again here for the message (damage is rare, messages
		 * are large); memory that ran short in a thread may be there now.
		 */
		rc = load_one(st, names.v[i], &out[count], &why);
		if (rc == DCV_OK) {
			count++;
			continue;
		}
		if (rc == DCV_ENOMEM)
			goto out;
		/* Damaged: out of the way, and said out loud. */
		rc = report_damaged(st, names.v[i], &why, errors);
		if (rc < 0)
			goto out;
	}
	if (count > 1)
		qsort(out, count, sizeof(*out), record_cmp);
	rc = DCV_OK;
done:
	/* Deleted leftovers and moved records should stay that way. */
	if (store_dirs_flush(st, &fsyncs, &why) < 0 && dcv_strv_push(errors, why.text) < 0)
		rc = DCV_ENOMEM;
	if (rc < 0)
		goto out;
	*recs = out;
	*n = count;
	out = NULL;
	rc = DCV_OK;
out:
	/* Every slot is a record or empty. */
	dcv_job_records_free(out, names.n);
	free(rcs);
	dcv_strv_free(&names);
	return rc;
}
