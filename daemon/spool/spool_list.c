/*
 * spool_list.c -- listing incoming/ (thread pool; see spool.h).
 *
 * The listing decides which entries a scan claims, and in which order. It
 * works on safe NAMEs, the ones jobs get (spool_name.c): the caller's
 * active_names are safe NAMEs, and two raw names with one safe NAME
 * ("b\x01.csr" and "b%01.csr") must not make two jobs of one NAME at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool_int.h"

/* One listed entry: its raw name and, when that is unsafe, its safe NAME. */
struct lent {
	const char *src;
	size_t src_name_len;
	char *safe; /* NULL: the raw NAME is safe and is the NAME */
	enum spool_unsafe unsafe;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *lent_name(const struct lent *l, size_t *len)
{
	*len = l->safe != NULL ? strlen(l->safe) : l->src_name_len;
	return l->safe != NULL ? l->safe : l->src;
}

/* By NAME, then by the raw name: the files of one NAME come together. */
static int cmp_lent(const void *a, const void *b)
{
	const struct lent *x = a, *y = b;
	size_t lx = 0, ly = 0;
	const char *nx = lent_name(x, &lx), *ny = lent_name(y, &ly);
	int c = memcmp(nx, ny, lx < ly ? lx : ly);

	if (c != 0)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->src, y->src);
}

/* The claims of one uid: in flight before the scan, and admitted by it. */
struct uid_count {
	uid_t uid;
	size_t n;
};

/*
 * Whether the candidate's owner is below max_jobs_per_submitter; counts it
 * when so. Owners are few: a linear search over them is fine. An entry
 * that cannot be looked at is admitted (the claim reports it).
 */
static bool owner_admits(const struct spool_ctx *ctx, const char *src, struct uid_count **counts,
                         size_t *n_counts)
{
	const struct dcv_spool_policy *pol = ctx->policy;
	struct uid_count *c = NULL, *grown = NULL;
	struct stat st;

	if (pol->per_uid_max == 0 || fstatat(ctx->incoming_fd, src, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return true;
	for (size_t i = 0; i < *n_counts && c == NULL; i++)
		if ((*counts)[i].uid == st.st_uid)
			c = &(*counts)[i];
	if (c == NULL) {
		if ((grown = realloc(*counts, (*n_counts + 1) * sizeof(*grown))) == NULL)
			return true;
		*counts = grown;
		c = &grown[(*n_counts)++];
		c->uid = st.st_uid;
		c->n = 0;
		for (size_t i = 0; i < pol->n_busy; i++)
			if (pol->busy[i].uid == st.st_uid)
				c->n += pol->busy[i].busy;
	}
	if (c->n >= pol->per_uid_max)
		return false;
	c->n++;
	return true;
}

static bool same_name(const struct lent *x, const struct lent *y)
{
	size_t lx = 0, ly = 0;
	const char *nx = lent_name(x, &lx), *ny = lent_name(y, &ly);

	return lx == ly && memcmp(nx, ny, lx) == 0;
}

static bool name_active(const struct dcv_strv *active, const struct lent *l)
{
	char name[SPOOL_FILE_MAX + 1];
	const char *key = name;
	size_t len = 0;
	const char *n = lent_name(l, &len);

	memcpy(name, n, len);
	name[len] = '\0';
	return active->n > 0 &&
	       bsearch(&key, active->v, active->n, sizeof(char *), cmp_str) != NULL;
}

/* Reads incoming/ whole: the candidate names, raw. */
static int read_names(const struct spool_ctx *ctx, struct dcv_strv *files, struct dcv_why *why)
{
	const struct dirent *de = NULL;
	DIR *dir = NULL;
	int fd = -1;
	int rc = DCV_EIO;

	/* A fresh descriptor per scan: the directory stream keeps a position. */
	fd = openat(ctx->incoming_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		dcv_why_set(why, "cannot list incoming/: %s", strerror(errno));
		goto out;
	}
	fd = -1;
	while ((errno = 0, de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) > SPOOL_FILE_MAX ||
		    spool_cand_name_len(de->d_name) == 0)
			continue;
		if (dcv_strv_push(files, de->d_name) < 0) {
			rc = DCV_ENOMEM;
			goto out;
		}
	}
	if (errno != 0) {
		dcv_why_set(why, "cannot list incoming/: %s", strerror(errno));
		goto out;
	}
	rc = DCV_OK;
out:
	if (dir != NULL)
		closedir(dir);
	if (fd >= 0)
		close(fd);
	return rc;
}

void spool_list(const struct spool_ctx *ctx, struct dcv_strv *active_names,
                struct spool_listing *out)
{
	struct dcv_strv files = {NULL, 0, 0};
	struct lent *ents = NULL;
	const struct lent *prev = NULL;
	struct uid_count *counts = NULL;
	size_t want = 0, n_counts = 0;

	memset(out, 0, sizeof(*out));
	if ((out->status = read_names(ctx, &files, &out->why)) < 0)
		goto out;
	out->status = DCV_ENOMEM;
	/* Only a complete listing may make the ignore set forget names it did not see. */
	if (spool_ignore_filter(ctx->ignore, ctx->incoming_fd, &files, &out->ignored) < 0)
		goto out;
	if (active_names->n > 1)
		qsort(active_names->v, active_names->n, sizeof(char *), cmp_str);
	ents = calloc(files.n ? files.n : 1, sizeof(*ents));
	if (ents == NULL)
		goto out;
	for (size_t i = 0; i < files.n; i++) {
		struct lent *l = &ents[i];

		l->src = files.v[i];
		l->src_name_len = spool_cand_name_len(l->src);
		l->unsafe = spool_name_check(l->src, l->src_name_len);
		if (l->unsafe == SPOOL_NAME_SAFE)
			continue;
		if ((l->safe = malloc(DCV_JOB_NAME_MAX + 1)) == NULL)
			goto out;
		spool_safe_name(l->src, l->src_name_len, l->safe);
	}
	if (files.n > 1)
		qsort(ents, files.n, sizeof(*ents), cmp_lent);
	want = files.n < ctx->policy->max_claims ? files.n : ctx->policy->max_claims;
	out->cands = calloc(want ? want : 1, sizeof(*out->cands));
	if (out->cands == NULL)
		goto out;
	for (size_t i = 0; i < files.n; i++) {
		const struct lent *l = &ents[i];
		struct spool_cand *c = &out->cands[out->n];
		size_t len = 0;
		const char *name = NULL;

		/* One file per NAME and scan: NAME.yaml and NAME.status must be unambiguous. */
		if (name_active(active_names, l) || (prev != NULL && same_name(prev, l))) {
			prev = l;
			out->held++;
			continue;
		}
		prev = l;
		if (out->n == want || !owner_admits(ctx, l->src, &counts, &n_counts)) {
			out->deferred++;
			continue;
		}
		name = lent_name(l, &len);
		snprintf(c->src, sizeof(c->src), "%s", l->src);
		c->src_name_len = l->src_name_len;
		snprintf(c->name, sizeof(c->name), "%.*s", (int)len, name);
		c->unsafe = l->unsafe;
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
	for (size_t i = 0; ents != NULL && i < files.n; i++)
		free(ents[i].safe);
	free(ents);
	free(counts);
	dcv_strv_free(&files);
}
