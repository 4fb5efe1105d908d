/*
 * spool_ignore.c -- the entries of incoming/ that dcv_spool_ignore() named
 * (see spool.h): added from the loop, matched and forgotten by the listing
 * on the thread pool.
 *
 * An entry is matched by name and by what lstat says of it: device, inode,
 * type and ctime. The inode number alone would not do -- once an entry is
 * gone its number is free for the next file -- and ctime changes with every
 * rename, chmod, chown or write, so a replaced or changed entry is never
 * taken for the one remembered. Whatever does not match is forgotten and
 * treated as a new entry; at worst that reports an entry once more.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spool_int.h"

/* One remembered entry the listing saw by name: what to look at without the lock. */
struct check {
	size_t file;                  /* index in files */
	struct dcv_spool_entry entry; /* as remembered */
	uint64_t seq;                 /* of the remembered entry */
	bool same;                    /* lstat still sees that entry */
};

int spool_ignore_init(struct spool_ignore *ig)
{
	memset(ig, 0, sizeof(*ig));
	return uv_mutex_init(&ig->lock) == 0 ? DCV_OK : DCV_ENOMEM;
}

void spool_ignore_fini(struct spool_ignore *ig)
{
	for (size_t i = 0; i < ig->n; i++)
		free(ig->v[i].src);
	free(ig->v);
	uv_mutex_destroy(&ig->lock);
}

void spool_entry_from_stat(struct dcv_spool_entry *e, const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->mode = st->st_mode & S_IFMT;
	e->ctime_sec = (int64_t)st->st_ctim.tv_sec;
	e->ctime_nsec = st->st_ctim.tv_nsec;
}

static bool same_entry(const struct dcv_spool_entry *a, const struct dcv_spool_entry *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->mode == b->mode &&
	       a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

/* Index of src in ig->v, or of where it would go (*found false). Lock held. */
static size_t find(const struct spool_ignore *ig, const char *src, bool *found)
{
	size_t lo = 0, hi = ig->n;

	*found = false;
	while (lo < hi && !*found) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(src, ig->v[mid].src);

		if (c == 0) {
			*found = true;
			lo = mid;
		} else if (c < 0) {
			hi = mid;
		} else {
			lo = mid + 1;
		}
	}
	return lo;
}

int spool_ignore_add(struct spool_ignore *ig, const char *src, const struct dcv_spool_entry *e)
{
	struct spool_ignored *grown = NULL;
	char *copy = strdup(src);
	bool found = false;
	size_t at = 0, cap = 0;
	int rc = DCV_ENOMEM;

	/* Allocated before the lock: the listing on the pool waits as little as can be. */
	if (copy == NULL)
		goto out_unlocked;
	uv_mutex_lock(&ig->lock);
	at = find(ig, src, &found);
	if (found) {
		/* The same name seen again as another entry: remember the new one. */
		free(ig->v[at].src);
	} else {
		if (ig->n >= SPOOL_IGNORE_MAX) {
			rc = DCV_ELIMIT;
			goto out;
		}
		if (ig->n == ig->cap) {
			cap = ig->cap ? ig->cap * 2 : 16;
			if ((grown = realloc(ig->v, cap * sizeof(*grown))) == NULL)
				goto out;
			ig->v = grown;
			ig->cap = cap;
		}
		memmove(&ig->v[at + 1], &ig->v[at], (ig->n - at) * sizeof(*ig->v));
		ig->n++;
	}
	ig->v[at].src = copy;
	ig->v[at].entry = *e;
	ig->v[at].seq = ++ig->seq;
	ig->v[at].keep = false;
	copy = NULL;
	rc = DCV_OK;
out:
	uv_mutex_unlock(&ig->lock);
out_unlocked:
	free(copy);
	return rc;
}

/*
 * Keeps what the listing saw unchanged and what was added since it began
 * (it may not have seen that yet); forgets the rest. Lock held.
 */
static void sweep(struct spool_ignore *ig, const struct check *checks, size_t n_checks,
                  const struct dcv_strv *files, uint64_t began)
{
	size_t kept = 0;
	bool found = false;

	for (size_t i = 0; i < n_checks; i++) {
		size_t at = 0;

		if (!checks[i].same)
			continue;
		at = find(ig, files->v[checks[i].file], &found);
		if (found && ig->v[at].seq == checks[i].seq)
			ig->v[at].keep = true;
	}
	for (size_t i = 0; i < ig->n; i++) {
		if (ig->v[i].keep || ig->v[i].seq > began) {
			ig->v[i].keep = false;
			ig->v[kept++] = ig->v[i];
		} else {
			free(ig->v[i].src);
		}
	}
	ig->n = kept;
}

int spool_ignore_filter(struct spool_ignore *ig, int dirfd, struct dcv_strv *files, size_t *ignored)
{
	struct check *checks = NULL;
	size_t n_checks = 0, kept = 0, c = 0;
	uint64_t began = 0;
	struct stat st;
	bool found = false;
	int rc = DCV_OK;

	*ignored = 0;
	/* Under the lock only lookups: dcv_spool_ignore() on the loop waits for nothing slow. */
	uv_mutex_lock(&ig->lock);
	began = ig->seq;
	if (ig->n > 0 && files->n > 0) {
		checks = calloc(ig->n < files->n ? ig->n : files->n, sizeof(*checks));
		if (checks == NULL) {
			uv_mutex_unlock(&ig->lock);
			rc = DCV_ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; checks != NULL && i < files->n; i++) {
		size_t at = find(ig, files->v[i], &found);

		if (!found)
			continue;
		checks[n_checks].file = i;
		checks[n_checks].entry = ig->v[at].entry;
		checks[n_checks].seq = ig->v[at].seq;
		n_checks++;
	}
	uv_mutex_unlock(&ig->lock);

	for (size_t i = 0; i < n_checks; i++) {
		struct dcv_spool_entry now;

		if (fstatat(dirfd, files->v[checks[i].file], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		spool_entry_from_stat(&now, &st);
		checks[i].same = same_entry(&now, &checks[i].entry);
	}

	uv_mutex_lock(&ig->lock);
	if (ig->n > 0)
		sweep(ig, checks, n_checks, files, began);
	uv_mutex_unlock(&ig->lock);

	/* checks are in the order of files: drop the files still ignored. */
	for (size_t i = 0; i < files->n; i++) {
		bool drop = false;

		if (c < n_checks && checks[c].file == i)
			drop = checks[c++].same;
		if (drop) {
			free(files->v[i]);
			(*ignored)++;
		} else {
			files->v[kept++] = files->v[i];
		}
	}
	files->n = kept;
out:
	free(checks);
	return rc;
}
