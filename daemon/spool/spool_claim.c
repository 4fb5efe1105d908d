/*
 * spool_claim.c -- claiming one file (thread pool; see spool.h).
 *
 * Every file is looked at with fstatat(AT_SYMLINK_NOFOLLOW) before it is
 * opened, so that a symlink is never followed and a FIFO or device is never
 * opened at all; the open itself still uses O_NOFOLLOW|O_NONBLOCK and the
 * descriptor is checked again, because the name may have been replaced in
 * between. After the rename into active/, the inode found there is compared
 * with the one read, for the same reason: what the job parses is exactly
 * what it owns.
 *
 * incoming/ belongs to other users, so a claim also checks what only they
 * could have arranged: a name that must not be written anywhere (refused,
 * with a safe NAME), a sidecar of someone else beside the CSR, and -- once
 * the file is in active/, where no submitter can add a name -- a second
 * hard link through which its content could still be changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool_int.h"

/* CSR and sidecar are read with one limit. */
_Static_assert(DCV_SIDECAR_MAX_FILE == DCV_CSR_MAX_FILE, "one limit for spool files");

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

static int check_stat(const struct stat *st, const char *shown, struct dcv_why *why)
{
	if (!S_ISREG(st->st_mode)) {
		dcv_why_set(why, "incoming/%s: %s", shown, kind_refusal(st->st_mode));
		return DCV_EINVAL;
	}
	if (st->st_size > DCV_CSR_MAX_FILE) {
		dcv_why_set(why,
		            "incoming/%s: file of %lld bytes is larger than the limit of %d bytes",
		            shown, (long long)st->st_size, DCV_CSR_MAX_FILE);
		return DCV_ETOOBIG;
	}
	return DCV_OK;
}

/* lstat of incoming/file. *gone when it is not there: nothing to report. */
static int look(int dirfd, const char *file, struct stat *st, bool *gone, struct dcv_why *why)
{
	char shown[SPOOL_SHOWN_MAX];
	int rc = DCV_OK;

	*gone = false;
	if (fstatat(dirfd, file, st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = DCV_EIO;
		*gone = errno == ENOENT;
		dcv_why_set(why, "incoming/%s: cannot look at it: %s", spool_shown(file, shown),
		            strerror(errno));
	}
	return rc;
}

/*
 * Reads incoming/file whole (bounded), st being what look() saw; st then
 * receives what was opened (device, inode, owner). *gone when it is not
 * there: nothing to report.
 */
static int read_incoming(int dirfd, const char *file, unsigned char **buf, size_t *len,
                         struct stat *st, bool *gone, struct dcv_why *why)
{
	char shown[SPOOL_SHOWN_MAX];
	struct dcv_why inner;
	int fd = -1;
	int rc = DCV_EIO;

	*gone = false;
	spool_shown(file, shown);
	if ((rc = check_stat(st, shown, why)) < 0)
		goto out;
	rc = DCV_EIO;
	fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ELOOP) {
		rc = DCV_EINVAL;
		dcv_why_set(why, "incoming/%s: %s", shown, kind_refusal(S_IFLNK));
		goto out;
	}
	if (fd < 0) {
		*gone = errno == ENOENT;
		dcv_why_set(why, "incoming/%s: cannot open: %s", shown, strerror(errno));
		goto out;
	}
	/* Replaced since the look? Judge what was opened. */
	if (fstat(fd, st) < 0) {
		dcv_why_set(why, "incoming/%s: cannot stat: %s", shown, strerror(errno));
		goto out;
	}
	if ((rc = check_stat(st, shown, why)) < 0)
		goto out;
	rc = dcv_read_fd(fd, DCV_CSR_MAX_FILE, buf, len, &inner);
	if (rc == DCV_ETOOBIG)
		dcv_why_set(why, "incoming/%s: grew over the limit of %d bytes while read", shown,
		            DCV_CSR_MAX_FILE);
	else if (rc < 0)
		dcv_why_set(why, "incoming/%s: %s", shown, inner.text);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Is active/file the inode that was read? *now receives what is there. */
static bool same_file(int dirfd, const char *file, const struct stat *read, struct stat *now)
{
	return fstatat(dirfd, file, now, AT_SYMLINK_NOFOLLOW) == 0 && now->st_dev == read->st_dev &&
	       now->st_ino == read->st_ino;
}

/* Sidecar, options, CSR, request, expected records: the first failure wins. */
static void parse_item(const struct spool_ctx *ctx, const unsigned char *csr_buf, size_t csr_len,
                       const unsigned char *sc_buf, size_t sc_len, struct dcv_spool_item *item)
{
	struct dcv_opts opts = {NULL, ctx->policy->opts.target};
	struct dcv_opts_buf obuf;
	struct dcv_csr *csr = NULL;
	struct dcv_why inner;
	char shown[SPOOL_SHOWN_MAX], sc_path[SPOOL_SHOWN_MAX + 8];
	int rc = DCV_OK;

	dcv_why_clear(&inner);
	if (sc_buf != NULL) {
		snprintf(sc_path, sizeof(sc_path), "active/%s",
		         spool_shown(item->src_sidecar, shown));
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
		dcv_why_set(&item->why, "active/%s: %s", spool_shown(item->file, shown),
		            inner.text);
	}
}

/* The item's names from the candidate (see struct dcv_spool_item). */
static void item_names(struct dcv_spool_item *item, const struct spool_cand *cand)
{
	snprintf(item->src, sizeof(item->src), "%s", cand->src);
	snprintf(item->src_sidecar, sizeof(item->src_sidecar), "%.*s.yaml", (int)cand->src_name_len,
	         cand->src);
	snprintf(item->name, sizeof(item->name), "%s", cand->name);
	snprintf(item->ext, sizeof(item->ext), "%s", cand->src + cand->src_name_len + 1);
	dcv_ascii_lower(item->ext);
	/* A safe NAME keeps its file name as found; only a made-up NAME gets ours. */
	if (cand->unsafe == SPOOL_NAME_SAFE)
		snprintf(item->file, sizeof(item->file), "%s", cand->src);
	else
		snprintf(item->file, sizeof(item->file), "%s.%s", item->name, item->ext);
}

static void refuse_name(struct dcv_spool_item *item, enum spool_unsafe unsafe)
{
	char shown[SPOOL_SHOWN_MAX];
	bool escaped = dcv_escape(shown, sizeof(shown), item->src, strlen(item->src));
	const char *what = unsafe == SPOOL_NAME_UNPRINTABLE ? "is not printable UTF-8"
	                   : unsafe == SPOOL_NAME_BACKSLASH
	                       ? "contains a backslash"
	                       : "contains '~' (reserved: dcvd's job ids and archived files "
	                         "are NAME~HEX)";

	dcv_why_set(&item->why, "incoming/%s: the name %s%s; its files go to failed/ as %s", shown,
	            what, escaped ? " (shown escaped)" : "", item->file);
}

/* "uid 1000 (alice)", or "uid 1000" when the uid has no name. */
static void owner_text(char *buf, size_t size, uid_t uid, const char *name)
{
	if (name[0] == '#')
		snprintf(buf, size, "uid %lu", (unsigned long)uid);
	else
		snprintf(buf, size, "uid %lu (%s)", (unsigned long)uid, name);
}

static void refuse_owner(struct dcv_spool_item *item, const struct stat *sc_st)
{
	char sc_name[64], shown[SPOOL_SHOWN_MAX], sc_owner[96], csr_owner[96];

	spool_owner_name(sc_st->st_uid, sc_name, sizeof(sc_name));
	spool_owner_name(item->owner_uid, item->owner_name, sizeof(item->owner_name));
	owner_text(sc_owner, sizeof(sc_owner), sc_st->st_uid, sc_name);
	owner_text(csr_owner, sizeof(csr_owner), item->owner_uid, item->owner_name);
	dcv_why_set(&item->why, "incoming/%s: owned by %s, not by the CSR's owner %s; refused",
	            spool_shown(item->src_sidecar, shown), sc_owner, csr_owner);
}

/* Only the name in active/ may remain: another could still change the content. */
static int check_links(struct dcv_spool_item *item, const struct stat *csr, const struct stat *sc)
{
	char shown[SPOOL_SHOWN_MAX], sc_shown[SPOOL_SHOWN_MAX];
	const char *why = "refused (its content could be changed through the other name)";

	spool_shown(item->file, shown);
	if (csr->st_nlink > 1) {
		dcv_why_set(&item->why, "active/%s: has %lu hard links; %s", shown,
		            (unsigned long)csr->st_nlink, why);
		return DCV_EPERM;
	}
	if (sc != NULL && sc->st_nlink > 1) {
		dcv_why_set(&item->why, "active/%s: its sidecar %s has %lu hard links; %s", shown,
		            spool_shown(item->src_sidecar, sc_shown), (unsigned long)sc->st_nlink,
		            why);
		return DCV_EPERM;
	}
	return DCV_OK;
}

static void set_owner(struct dcv_spool_item *item, const struct stat *st)
{
	item->owner_uid = st->st_uid;
	item->owner_gid = st->st_gid;
}

bool spool_claim(const struct spool_ctx *ctx, const struct spool_cand *cand,
                 struct dcv_spool_item *item, struct dcv_why *trouble)
{
	unsigned char *csr_buf = NULL, *sc_buf = NULL;
	size_t csr_len = 0, sc_len = 0;
	struct stat csr_st, sc_st, csr_now, sc_now;
	char shown[SPOOL_SHOWN_MAX];
	bool gone = false, report = true;
	int rc = DCV_OK;

	memset(item, 0, sizeof(*item));
	item_names(item, cand);
	item->where = DCV_SPOOL_INCOMING;
	/* Not even lstat worked: nobody's (uid 0 would name root). */
	item->owner_uid = (uid_t)-1;
	item->owner_gid = (gid_t)-1;

	if ((rc = look(ctx->incoming_fd, item->src, &csr_st, &gone, &item->why)) == DCV_OK) {
		spool_entry_from_stat(&item->entry, &csr_st);
		set_owner(item, &csr_st);
		if (cand->unsafe != SPOOL_NAME_SAFE) {
			rc = DCV_EINVAL;
			refuse_name(item, cand->unsafe);
		} else {
			rc = read_incoming(ctx->incoming_fd, item->src, &csr_buf, &csr_len, &csr_st,
			                   &gone, &item->why);
		}
	}
	if (gone)
		report = false;
	if (rc < 0) {
		/* The caller moves a refused file's sidecar along with it. */
		item->has_sidecar =
		    fstatat(ctx->incoming_fd, item->src_sidecar, &sc_st, AT_SYMLINK_NOFOLLOW) == 0;
		goto out;
	}
	/* The owner of what was read, not of what was first seen. */
	set_owner(item, &csr_st);
	rc = look(ctx->incoming_fd, item->src_sidecar, &sc_st, &gone, &item->why);
	if (rc == DCV_OK)
		rc = read_incoming(ctx->incoming_fd, item->src_sidecar, &sc_buf, &sc_len, &sc_st,
		                   &gone, &item->why);
	/* A missing sidecar is fine; any other sidecar trouble refuses the item. */
	item->has_sidecar = !gone;
	if (gone) {
		rc = DCV_OK;
		dcv_why_clear(&item->why);
	}
	if (rc < 0)
		goto out;
	/* Someone else's sidecar would steer this CSR (its target, its unique value). */
	if (sc_buf != NULL && sc_st.st_uid != csr_st.st_uid) {
		rc = DCV_EPERM;
		refuse_owner(item, &sc_st);
		goto out;
	}

	if (dcv_rename_noreplace(ctx->incoming_fd, item->src, ctx->active_fd, item->src) < 0) {
		/*
		 * Gone, or its name is taken in active/: leave it, report nothing.
		 * Any other failure is the spool's (read-only, full), not the
		 * file's: it must not fail the CSR; it stays for a later scan.
		 */
		if (errno != EEXIST && errno != ENOENT)
			dcv_why_set(trouble, "cannot move incoming/%s to active/: %s",
			            spool_shown(item->src, shown), strerror(errno));
		report = false;
		goto out;
	}
	item->where = DCV_SPOOL_ACTIVE;
	item->has_sidecar = false;
	if (!same_file(ctx->active_fd, item->src, &csr_st, &csr_now)) {
		rc = DCV_EIO;
		dcv_why_set(&item->why, "active/%s: replaced while being claimed",
		            spool_shown(item->file, shown));
		goto out;
	}
	if (sc_buf != NULL) {
		char sc_shown[SPOOL_SHOWN_MAX];

		spool_shown(item->src_sidecar, sc_shown);
		if (dcv_rename_noreplace(ctx->incoming_fd, item->src_sidecar, ctx->active_fd,
		                         item->src_sidecar) < 0) {
			rc = DCV_EIO;
			dcv_why_set(
			    &item->why, "active/%s: cannot move its sidecar %s to active/: %s",
			    spool_shown(item->file, shown), sc_shown,
			    errno == EEXIST ? "active/ has one of that name" : strerror(errno));
			goto out;
		}
		item->has_sidecar = true;
		if (!same_file(ctx->active_fd, item->src_sidecar, &sc_st, &sc_now)) {
			rc = DCV_EIO;
			dcv_why_set(&item->why,
			            "active/%s: its sidecar %s was replaced while claimed",
			            spool_shown(item->file, shown), sc_shown);
			goto out;
		}
	}
	/* Both are in active/ now: no submitter can add a name, so the count is final. */
	if ((rc = check_links(item, &csr_now, sc_buf != NULL ? &sc_now : NULL)) < 0)
		goto out;
	parse_item(ctx, csr_buf, csr_len, sc_buf, sc_len, item);
	rc = item->status;
out:
	if (rc < 0)
		item->status = rc;
	free(csr_buf);
	free(sc_buf);
	if (!report)
		dcv_spool_item_free(item);
	else if (item->owner_name[0] == '\0' && item->owner_uid != (uid_t)-1)
		spool_owner_name(item->owner_uid, item->owner_name, sizeof(item->owner_name));
	return report;
}
