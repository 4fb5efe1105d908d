/*
 * store_sweep.c -- the retention sweep (retention.h), on a batch's pool
 * thread: the files of expired jobs in done/ and failed/, then their
 * records in one write transaction (store_db_prune()), then the dot-files
 * a submitter left in incoming/.
 *
 * Files go first and the record last: a job whose files cannot all be
 * deleted keeps its record, which brings it back at the next sweep; the
 * other order would leave files no record names, for ever. Within a job
 * the status file goes last, as it says whose NAME.* files are.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "retention.h"
#include "store_int.h"

struct sweep {
	struct dcv_store *st;
	struct dcv_store_sweep *sw;
	bool halted; /* an error of the spool itself: no more deletions this sweep */
	uint64_t fsyncs;
};

/* The extensions of a job's files; the status file last. */
static const char *const sweep_exts[] = {"csr", "pem", "der", "yaml", "status"};
#define SWEEP_N_EXTS (sizeof(sweep_exts) / sizeof(sweep_exts[0]))

void dcv_store_sweep_clear(struct dcv_store_sweep *sw)
{
	dcv_strv_free(&sw->notes);
	dcv_strv_free(&sw->problems);
	sw->messages_dropped = 0;
}

static void sweep_say(struct sweep *s, struct dcv_strv *to, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sweep_say(struct sweep *s, struct dcv_strv *to, const char *fmt, ...)
{
	char text[1200];
	va_list ap;

	if (to->n >= DCV_SWEEP_MESSAGES_MAX) {
		s->sw->messages_dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (dcv_strv_push(to, text) < 0)
		s->sw->messages_dropped++;
}

/* Errors that are the spool's, not one file's: every other deletion would meet them too. */
static bool sweep_spool_wide(int err)
{
	return err == EROFS || err == EIO || err == ENOSPC || err == ENOMEM;
}

/* "SPOOL/REL/FILE", the name escaped. */
static void sweep_path(const struct sweep *s, const struct store_dir *dir, const char *file,
                       char *out, size_t size)
{
	char name[4 * STORE_FILE_NAME_SIZE];

	dcv_escape(name, sizeof(name), file, strlen(file));
	snprintf(out, size, "%s/%s/%s", s->st->spool, dir->rel, name);
}

/*
 * Deletes dir/file, never following a link (unlinkat removes the entry
 * itself); an empty directory a refused submission brought is removed
 * too. true when it is gone or was never there.
 */
static bool sweep_unlink(struct sweep *s, struct store_dir *dir, const char *file)
{
	char path[4 * STORE_FILE_NAME_SIZE + 600];
	int err = 0;

	if (unlinkat(dir->fd, file, 0) == 0 ||
	    ((err = errno) == EISDIR && unlinkat(dir->fd, file, AT_REMOVEDIR) == 0)) {
		dir->dirty = true;
		s->sw->files++;
		return true;
	}
	if (err == EISDIR)
		err = errno;
	if (err == ENOENT)
		return true;
	sweep_path(s, dir, file, path, sizeof(path));
	s->sw->errors++;
	s->halted |= sweep_spool_wide(err);
	sweep_say(s, &s->sw->problems, "%s: cannot delete it: %s; the job's record is kept%s", path,
	          strerror(err),
	          s->halted ? " (no more deletions in this sweep)" : " for the next sweep");
	return false;
}

/* The job's files under base (its NAME or its id) in dir; the status last, if all went. */
static bool sweep_files_as(struct sweep *s, struct store_dir *dir, const char *base)
{
	char file[STORE_FILE_NAME_SIZE];
	bool gone = true;

	for (size_t i = 0; i < SWEEP_N_EXTS && !s->halted; i++) {
		if (i == SWEEP_N_EXTS - 1 && !gone)
			break;
		snprintf(file, sizeof(file), "%s.%s", base, sweep_exts[i]);
		gone &= sweep_unlink(s, dir, file);
	}
	return gone && !s->halted;
}

/*
 * Whether dir/file (a NAME.status) says it is the status of job id: 1 yes;
 * 0 no (missing, a link or another job's: NAME.* are not this job's);
 * -1 it is there but cannot be read, so whose NAME.* are is not known: an
 * error, and the job keeps its record rather than leave its files behind.
 */
static int sweep_owns(struct sweep *s, const struct store_dir *dir, const char *file,
                      const char *id)
{
	char owner[DCV_JOB_ID_MAX + 1], path[4 * STORE_FILE_NAME_SIZE + 600];
	int fd = -1, err = 0;

	if (store_status_job_of(dir, file, owner, sizeof(owner)))
		return strcmp(owner, id) == 0;
	fd = openat(dir->fd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	err = errno;
	if (err == ENOENT || err == ELOOP)
		return 0;
	sweep_path(s, dir, file, path, sizeof(path));
	s->sw->errors++;
	s->halted |= sweep_spool_wide(err);
	sweep_say(s, &s->sw->problems,
	          "%s: cannot read it to see whose files it names: %s; the job's record is kept",
	          path, strerror(err));
	return -1;
}

/* Every file of rec's job in done/ and failed/; true when none is left. */
static bool sweep_job_files(struct sweep *s, const struct dcv_job_record *rec)
{
	static const char *const dirs[] = {"done", "failed"};
	char file[STORE_FILE_NAME_SIZE];
	struct store_dir *dir = NULL;
	struct dcv_why why;
	struct stat sb;
	bool gone = true;
	int owns = 0;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && gone; i++) {
		if (store_dir_get(s->st, dirs[i], false, &dir, &why) < 0) {
			/* A folder that is not there holds nothing of the job. */
			if (fstatat(s->st->dirs[STORE_DIR_SPOOL]->fd, dirs[i], &sb,
			            AT_SYMLINK_NOFOLLOW) != 0 &&
			    errno == ENOENT)
				continue;
			s->sw->errors++;
			sweep_say(s, &s->sw->problems, "%s; the records of the jobs there are kept",
			          why.text);
			return false;
		}
		/* NAME.* are the job's while NAME.status says so (store_archive.c). */
		snprintf(file, sizeof(file), "%s.status", rec->name);
		if ((owns = sweep_owns(s, dir, file, rec->id)) < 0)
			return false;
		if (owns > 0)
			gone &= sweep_files_as(s, dir, rec->name);
		/* ID.*: its files archived when a newer job of NAME came, or moved there. */
		gone &= sweep_files_as(s, dir, rec->id);
	}
	return gone;
}

/* store_db_prune()'s question, for each record: expired, and its files gone? */
static bool sweep_expire(void *arg, const struct dcv_job_record *rec)
{
	struct sweep *s = arg;
	struct dcv_store_sweep *sw = s->sw;
	uint64_t expires = 0;
	enum dcv_job_age age = dcv_job_record_age(rec, sw->now, sw->keep, &expires, NULL);

	if (age == DCV_JOB_AGE_HOLDS)
		sw->holding++;
	if (age == DCV_JOB_AGE_YOUNG) {
		sw->young++;
		if (sw->next_expiry == 0 || expires < sw->next_expiry)
			sw->next_expiry = expires;
	}
	if (age != DCV_JOB_AGE_EXPIRED || s->halted || !sweep_job_files(s, rec))
		return false;
	sw->deleted_by_state[rec->state]++;
	return true;
}

/* The deletions last as long as the records' removal: the folders are flushed first. */
static int sweep_flush(void *arg, struct dcv_why *why)
{
	struct sweep *s = arg;

	return store_dirs_flush(s->st, &s->fsyncs, why);
}

/* Whether a dot-file's mtime is older than the sweep's dot_age. */
static bool sweep_dot_stale(const struct dcv_store_sweep *sw, const struct stat *sb)
{
	return sb->st_mtime >= 0 && (uint64_t)sb->st_mtime < sw->now &&
	       sw->now - (uint64_t)sb->st_mtime > sw->dot_age;
}

/*
 * Dot-files in incoming/ older than dot_age: a submitter wrote .NAME and
 * died before renaming it. Regular files only, named in incoming/ itself;
 * unlinkat() on the folder's descriptor removes the entry, never what a
 * link points to. The spool never reads dot-files, so none is in use by dcvd.
 */
static void sweep_dotfiles(struct sweep *s)
{
	struct dcv_store_sweep *sw = s->sw;
	char path[4 * STORE_FILE_NAME_SIZE + 600];
	struct store_dir *dir = NULL;
	struct dirent *de = NULL;
	struct dcv_why why;
	struct stat sb;
	DIR *d = NULL;
	int fd = -1, err = 0;

	if (store_dir_get(s->st, "incoming", false, &dir, &why) < 0) {
		if (fstatat(s->st->dirs[STORE_DIR_SPOOL]->fd, "incoming", &sb,
		            AT_SYMLINK_NOFOLLOW) != 0 &&
		    errno == ENOENT)
			return;
		sw->errors++;
		sweep_say(s, &sw->problems, "%s", why.text);
		return;
	}
	fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		sw->errors++;
		sweep_say(s, &sw->problems, "%s/incoming: cannot list it: %s", s->st->spool,
		          strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	while (!s->halted && (errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sweep_path(s, dir, de->d_name, path, sizeof(path));
		if (fstatat(dir->fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT) {
				sw->errors++;
				sweep_say(s, &sw->problems, "%s: cannot look at it: %s", path,
				          strerror(errno));
			}
			continue;
		}
		if (!S_ISREG(sb.st_mode) || !sweep_dot_stale(sw, &sb))
			continue;
		if (unlinkat(dir->fd, de->d_name, 0) == 0) {
			sw->dotfiles++;
			dir->dirty = true;
			sweep_say(s, &sw->notes,
			          "removed %s: a dot-file unchanged for %llu s (a submitter that "
			          "stopped before renaming it)",
			          path, (unsigned long long)(sw->now - (uint64_t)sb.st_mtime));
			continue;
		}
		err = errno;
		if (err == ENOENT) {
			sweep_say(s, &sw->notes,
			          "%s vanished before it could be removed (renamed?)", path);
			continue;
		}
		sw->errors++;
		s->halted |= sweep_spool_wide(err);
		sweep_say(s, &sw->problems, "%s: cannot remove the stale dot-file: %s", path,
		          strerror(err));
	}
	closedir(d);
}

int store_sweep_run(struct dcv_store *st, struct dcv_store_sweep *sw, struct dcv_why *why)
{
	struct sweep s = {st, sw, false, 0};
	size_t removed = 0;
	int rc = DCV_OK;

	if (sw->keep > 0) {
		rc = store_db_prune(st, sweep_expire, sweep_flush, &s, &removed, why);
		sw->deleted = removed;
		/* Files went but the records stayed: they come back at the next sweep. */
		if (removed == 0)
			memset(sw->deleted_by_state, 0, sizeof(sw->deleted_by_state));
	}
	if (rc == DCV_OK)
		sweep_dotfiles(&s);
	return rc;
}
