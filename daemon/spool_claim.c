/*
 * spool_claim.c -- the thread-pool side of the spool (see spool.h): listing
 * incoming/ and claiming files.
 *
 * Every file is looked at with fstatat(AT_SYMLINK_NOFOLLOW) before it is
 * opened, so that a symlink is never followed and a FIFO or device is never
 * opened at all; the open itself still uses O_NOFOLLOW|O_NONBLOCK and the
 * descriptor is checked again, because the name may have been replaced in
 * between. After the rename into active/, the inode found there is compared
 * with the one read, for the same reason: what the job parses is exactly
 * what it owns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool_int.h"

static const char *const spool_exts[] = {"csr", "pem", "der", NULL};

/* CSR and sidecar are read with one limit. */
_Static_assert(DCV_SIDECAR_MAX_FILE == DCV_CSR_MAX_FILE, "one limit for spool files");

/* NAME's length when file is NAME.csr|.pem|.der (any case), else 0. */
static size_t cand_name_len(const char *file)
{
	const char *dot = strrchr(file, '.');

	if (dot == NULL || dot == file)
		return 0;
	for (size_t i = 0; spool_exts[i] != NULL; i++)
		if (strcasecmp(dot + 1, spool_exts[i]) == 0)
			return (size_t)(dot - file);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* By NAME, then by the whole file name: the files of one NAME come together. */
static int cmp_cand_file(const void *a, const void *b)
{
	const char *fa = *(char *const *)a, *fb = *(char *const *)b;
	size_t la = cand_name_len(fa), lb = cand_name_len(fb);
	int c = memcmp(fa, fb, la < lb ? la : lb);

	if (c != 0)
		return c;
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(fa, fb);
}

static bool name_active(const struct dcv_strv *active, const char *file, size_t len)
{
	char name[SPOOL_FILE_MAX + 1];
	const char *key = name;

	memcpy(name, file, len);
	name[len] = '\0';
	return active->n > 0 &&
	       bsearch(&key, active->v, active->n, sizeof(char *), cmp_str) != NULL;
}

void spool_list(const struct spool_ctx *ctx, struct dcv_strv *active_names,
                struct spool_listing *out)
{
	struct dcv_strv files = {NULL, 0, 0};
	const struct dirent *de = NULL;
	DIR *dir = NULL;
	int fd = -1;
	size_t len = 0, prev_len = 0;
	const char *prev = NULL;

	memset(out, 0, sizeof(*out));
	out->status = DCV_EIO;
	/* A fresh descriptor per scan: the directory stream keeps a position. */
	fd = openat(ctx->incoming_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		dcv_why_set(&out->why, "cannot list incoming/: %s", strerror(errno));
		goto out;
	}
	fd = -1;
	if (active_names->n > 1)
		qsort(active_names->v, active_names->n, sizeof(char *), cmp_str);
	out->status = DCV_ENOMEM;
	while ((errno = 0, de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len > SPOOL_FILE_MAX || cand_name_len(de->d_name) == 0)
			continue;
		if (name_active(active_names, de->d_name, cand_name_len(de->d_name))) {
			out->held++;
			continue;
		}
		if (dcv_strv_push(&files, de->d_name) < 0)
			goto out;
	}
	if (errno != 0) {
		out->status = DCV_EIO;
		dcv_why_set(&out->why, "cannot list incoming/: %s", strerror(errno));
		goto out;
	}
	if (files.n > 1)
		qsort(files.v, files.n, sizeof(char *), cmp_cand_file);
	out->cands = calloc(files.n ? files.n : 1, sizeof(*out->cands));
	if (out->cands == NULL)
		goto out;
	for (size_t i = 0; i < files.n; i++) {
		len = cand_name_len(files.v[i]);
		/* One file per NAME and scan: NAME.yaml and NAME.status must be unambiguous. */
		if (prev != NULL && len == prev_len && memcmp(prev, files.v[i], len) == 0) {
			out->held++;
			continue;
		}
		prev = files.v[i];
		prev_len = len;
		if (out->n == ctx->policy->max_claims) {
			out->deferred++;
			continue;
		}
		snprintf(out->cands[out->n].file, sizeof(out->cands[out->n].file), "%s",
		         files.v[i]);
		out->cands[out->n].name_len = len;
		out->n++;
	}
	out->status = DCV_OK;
out:
	if (out->status < 0) {
		free(out->cands);
		out->cands = NULL;
		out->n = 0;
	}
	if (out->status == DCV_ENOMEM)
		dcv_why_set(&out->why, "listing incoming/: out of memory");
	if (dir != NULL)
		closedir(dir);
	if (fd >= 0)
		close(fd);
	dcv_strv_free(&files);
}

/* Why a file that is not a regular file is refused. */
static const char *kind_refusal(mode_t mode)
{
	if (S_ISLNK(mode))
		return "a symbolic link, refused (never followed)";
	if (S_ISFIFO(mode))
		return "a FIFO, not a regular file";
	if (S_ISDIR(mode))
		return "a directory, not a regular file";
	if (S_ISSOCK(mode))
		return "a socket, not a regular file";
	if (S_ISCHR(mode))
		return "a character device, not a regular file";
	if (S_ISBLK(mode))
		return "a block device, not a regular file";
	return "not a regular file";
}

static int check_stat(const struct stat *st, const char *file, struct dcv_why *why)
{
	if (!S_ISREG(st->st_mode)) {
		dcv_why_set(why, "incoming/%s: %s", file, kind_refusal(st->st_mode));
		return DCV_EINVAL;
	}
	if (st->st_size > DCV_CSR_MAX_FILE) {
		dcv_why_set(why,
		            "incoming/%s: file of %lld bytes is larger than the limit of %d bytes",
		            file, (long long)st->st_size, DCV_CSR_MAX_FILE);
		return DCV_ETOOBIG;
	}
	return DCV_OK;
}

/*
 * Reads incoming/file whole (bounded). *gone when it is not there: nothing
 * to report. st receives what was read (device and inode).
 */
static int read_incoming(int dirfd, const char *file, unsigned char **buf, size_t *len,
                         struct stat *st, bool *gone, struct dcv_why *why)
{
	struct dcv_why inner;
	int fd = -1;
	int rc = DCV_EIO;

	*gone = false;
	if (fstatat(dirfd, file, st, AT_SYMLINK_NOFOLLOW) < 0) {
		*gone = errno == ENOENT;
		dcv_why_set(why, "incoming/%s: cannot look at it: %s", file, strerror(errno));
		goto out;
	}
	if ((rc = check_stat(st, file, why)) < 0)
		goto out;
	rc = DCV_EIO;
	fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ELOOP) {
		rc = DCV_EINVAL;
		dcv_why_set(why, "incoming/%s: %s", file, kind_refusal(S_IFLNK));
		goto out;
	}
	if (fd < 0) {
		*gone = errno == ENOENT;
		dcv_why_set(why, "incoming/%s: cannot open: %s", file, strerror(errno));
		goto out;
	}
	/* Replaced since the look? Judge what was opened. */
	if (fstat(fd, st) < 0) {
		dcv_why_set(why, "incoming/%s: cannot stat: %s", file, strerror(errno));
		goto out;
	}
	if ((rc = check_stat(st, file, why)) < 0)
		goto out;
	rc = dcv_read_fd(fd, DCV_CSR_MAX_FILE, buf, len, &inner);
	if (rc == DCV_ETOOBIG)
		dcv_why_set(why, "incoming/%s: grew over the limit of %d bytes while read", file,
		            DCV_CSR_MAX_FILE);
	else if (rc < 0)
		dcv_why_set(why, "incoming/%s: %s", file, inner.text);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* renameat2(RENAME_NOREPLACE), or link+unlink where the filesystem lacks it. */
static int move_noreplace(int from_fd, int to_fd, const char *file)
{
	if (renameat2(from_fd, file, to_fd, file, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(from_fd, file, to_fd, file, 0) < 0)
		return -1;
	return unlinkat(from_fd, file, 0);
}

/* Is active/file the inode that was read? */
static bool same_file(int dirfd, const char *file, const struct stat *read)
{
	struct stat st;

	return fstatat(dirfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == read->st_dev &&
	       st.st_ino == read->st_ino;
}

/* Sidecar, options, CSR, request, expected records: the first failure wins. */
static void parse_item(const struct spool_ctx *ctx, const unsigned char *csr_buf, size_t csr_len,
                       const char *sc_file, const unsigned char *sc_buf, size_t sc_len,
                       struct dcv_spool_item *item)
{
	struct dcv_opts opts = {NULL, ctx->policy->opts.target};
	struct dcv_opts_buf obuf;
	struct dcv_csr *csr = NULL;
	struct dcv_why inner;
	char sc_path[256 + 8 + 8]; /* "active/" + sc_file */
	int rc = DCV_OK;

	dcv_why_clear(&inner);
	if (sc_buf != NULL) {
		snprintf(sc_path, sizeof(sc_path), "active/%s", sc_file);
		if ((rc = dcv_sidecar_parse(sc_path, sc_buf, sc_len, &item->sidecar, &inner)) < 0)
			goto out;
		if (item->sidecar.unique[0] != '\0')
			opts.unique = item->sidecar.unique;
		if (item->sidecar.target[0] != '\0')
			opts.target = item->sidecar.target;
	}
	if ((rc = dcv_opts_check(&opts, &obuf, &inner)) < 0)
		goto out;
	if ((rc = dcv_csr_parse(csr_buf, csr_len, &csr, &inner)) < 0)
		goto out;
	rc = dcv_request_new(csr, ctx->policy->psl, &opts, &item->req, &inner);
	csr = NULL;
	if (rc < 0)
		goto out;
	rc = dcv_sidecar_check(&item->sidecar, item->req, &inner);
out:
	dcv_csr_free(csr);
	item->status = rc;
	if (rc < 0) {
		dcv_why_default(&inner, rc);
		dcv_why_set(&item->why, "active/%s: %s", item->file, inner.text);
	}
}

bool spool_claim(const struct spool_ctx *ctx, const struct spool_cand *cand,
                 struct dcv_spool_item *item, struct dcv_why *trouble)
{
	unsigned char *csr_buf = NULL, *sc_buf = NULL;
	size_t csr_len = 0, sc_len = 0;
	struct stat csr_st, sc_st;
	char sc_file[256 + 8]; /* item->name + ".yaml" */
	bool gone = false, report = true;
	int rc = DCV_OK;

	memset(item, 0, sizeof(*item));
	snprintf(item->name, sizeof(item->name), "%.*s", (int)cand->name_len, cand->file);
	snprintf(item->file, sizeof(item->file), "%s", cand->file);
	snprintf(item->ext, sizeof(item->ext), "%s", cand->file + cand->name_len + 1);
	dcv_ascii_lower(item->ext);
	snprintf(sc_file, sizeof(sc_file), "%s.yaml", item->name);
	item->where = DCV_SPOOL_INCOMING;

	rc = read_incoming(ctx->incoming_fd, item->file, &csr_buf, &csr_len, &csr_st, &gone,
	                   &item->why);
	if (gone)
		report = false;
	if (rc < 0) {
		/* The caller moves a refused file's sidecar along with it. */
		item->has_sidecar =
		    fstatat(ctx->incoming_fd, sc_file, &sc_st, AT_SYMLINK_NOFOLLOW) == 0;
		goto out;
	}
	rc = read_incoming(ctx->incoming_fd, sc_file, &sc_buf, &sc_len, &sc_st, &gone, &item->why);
	/* A missing sidecar is fine; any other sidecar trouble refuses the item. */
	item->has_sidecar = !gone;
	if (gone) {
		rc = DCV_OK;
		dcv_why_clear(&item->why);
	}
	if (rc < 0)
		goto out;

	if (move_noreplace(ctx->incoming_fd, ctx->active_fd, item->file) < 0) {
		/*
		 * Gone, or its name is taken in active/: leave it, report nothing.
		 * Any other failure is the spool's (read-only, full), not the
		 * file's: it must not fail the CSR; it stays for a later scan.
		 */
		if (errno != EEXIST && errno != ENOENT)
			dcv_why_set(trouble, "cannot move incoming/%s to active/: %s", item->file,
			            strerror(errno));
		report = false;
		goto out;
	}
	item->where = DCV_SPOOL_ACTIVE;
	item->has_sidecar = false;
	if (!same_file(ctx->active_fd, item->file, &csr_st)) {
		rc = DCV_EIO;
		dcv_why_set(&item->why, "active/%s: replaced while being claimed", item->file);
		goto out;
	}
	if (sc_buf != NULL) {
		if (move_noreplace(ctx->incoming_fd, ctx->active_fd, sc_file) < 0) {
			rc = DCV_EIO;
			dcv_why_set(
			    &item->why, "active/%s: cannot move its sidecar %s to active/: %s",
			    item->file, sc_file,
			    errno == EEXIST ? "active/ has one of that name" : strerror(errno));
			goto out;
		}
		item->has_sidecar = true;
		if (!same_file(ctx->active_fd, sc_file, &sc_st)) {
			rc = DCV_EIO;
			dcv_why_set(&item->why,
			            "active/%s: its sidecar %s was replaced while claimed",
			            item->file, sc_file);
			goto out;
		}
	}
	parse_item(ctx, csr_buf, csr_len, sc_file, sc_buf, sc_len, item);
	rc = item->status;
out:
	if (rc < 0)
		item->status = rc;
	free(csr_buf);
	free(sc_buf);
	if (!report)
		dcv_spool_item_free(item);
	return report;
}
