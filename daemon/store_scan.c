/*
 * store_scan.c -- the first half of a load (store_load.h): what state/
 * holds (logs by number, record files of the old format, leftovers of
 * writes a crash cut short), the logs read and cut into entries, and the
 * entries chained by their id lines so that only the newest of each needs
 * parsing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobrec_int.h"
#include "store_int.h"
#include "store_load.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int store_scan_names(struct dcv_store *st, struct dcv_why *why)
{
	struct dirent *de = NULL;
	uint64_t seq = 0;
	DIR *d = NULL;
	int fd = openat(st->dirs[STORE_DIR_STATE]->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		dcv_why_set(why, "%s/state: cannot list the folder: %s", st->spool,
		            strerror(errno));
		if (fd >= 0)
			close(fd);
		return DCV_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (store_log_name_parse(de->d_name, &seq)) {
			st->unknown_files = true;
			if (seq >= st->next_seq)
				st->next_seq = seq + 1;
		} else if (de->d_name[0] != '.' && ends_with(de->d_name, ".job")) {
			st->unknown_files = true;
		}
	}
	closedir(d);
	return DCV_OK;
}

/*
 * Status files of a batch that a crash cut short stay behind as dot-files
 * in done/ or failed/ (the spool ignores them): delete them, best effort.
 */
void load_clean_status_tmp(struct dcv_store *st, const char *rel)
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

static int lfile_cmp(const void *a, const void *b)
{
	const struct lfile *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * The files of state/ that hold entries, old record files first (seq 0),
 * then the logs by number. Deletes leftover temporary files on the way.
 */
int load_list(struct load *ld)
{
	struct dcv_store *st = ld->st;
	struct store_dir *state = st->dirs[STORE_DIR_STATE];
	struct dirent *de = NULL;
	struct lfile *grown = NULL;
	struct stat sb;
	size_t cap = 0;
	uint64_t seq = 0;
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
			if (!ld->readonly &&
			    fstatat(state->fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(sb.st_mode) && unlinkat(state->fd, de->d_name, 0) == 0)
				state->dirty = true;
			continue;
		}
		if (store_log_name_parse(de->d_name, &seq)) {
			if (seq >= st->next_seq)
				st->next_seq = seq + 1;
		} else if (de->d_name[0] != '.' && ends_with(de->d_name, ".job")) {
			seq = 0;
		} else {
			continue;
		}
		rc = DCV_ENOMEM;
		if (ld->n_files == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(ld->files, cap * sizeof(*grown));
			if (grown == NULL)
				goto out;
			ld->files = grown;
		}
		memset(&ld->files[ld->n_files], 0, sizeof(ld->files[0]));
		ld->files[ld->n_files].seq = seq;
		ld->files[ld->n_files].is_log = seq != 0;
		ld->files[ld->n_files].idx = UINT32_MAX;
		snprintf(ld->files[ld->n_files].name, sizeof(ld->files[0].name), "%s", de->d_name);
		ld->n_files++;
	}
	if (ld->n_files > 1)
		qsort(ld->files, ld->n_files, sizeof(*ld->files), lfile_cmp);
	rc = DCV_OK;
	goto out;
fail:
	rc = DCV_EIO;
	if (dcv_strv_pushf(ld->errors, "%s/state: cannot list the folder: %s", st->spool,
	                   strerror(errno)) < 0)
		rc = DCV_ENOMEM;
out:
	if (d != NULL)
		closedir(d);
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * Opens state/<name> for reading: a regular file, not a link, at most max
 * bytes. DCV_ESTATE (damaged) with why; LOAD_GONE when a reading beside a
 * running dcvd finds it deleted meanwhile.
 */
int load_open_file(struct dcv_store *st, bool readonly, const char *name, uint64_t max, int *out,
                   uint64_t *size, struct dcv_why *why)
{
	char path[PATH_MAX];
	struct stat sb;
	int fd = -1;

	*out = -1;
	store_path(st, st->dirs[STORE_DIR_STATE], name, path, sizeof(path));
	fd = openat(st->dirs[STORE_DIR_STATE]->fd, name,
	            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT && readonly)
		return LOAD_GONE;
	if (fd < 0) {
		dcv_why_set(why, "%s: %s", path,
		            errno == ELOOP ? "is a symbolic link, not a record" : strerror(errno));
		return DCV_ESTATE;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		dcv_why_set(why, "%s: is not a regular file", path);
		close(fd);
		return DCV_ESTATE;
	}
	if ((uint64_t)sb.st_size > max) {
		dcv_why_set(why, "%s: larger than the limit of %" PRIu64 " bytes", path, max);
		close(fd);
		return DCV_ESTATE;
	}
	*size = (uint64_t)sb.st_size;
	*out = fd;
	return DCV_OK;
}

/* Reads a log whole; a log that cannot be read is damaged as a whole (why). */
int load_read_log(struct load *ld, struct lfile *f, struct dcv_why *why)
{
	struct dcv_why read_why;
	uint64_t size = 0;
	int fd = -1,
	    rc = load_open_file(ld->st, ld->readonly, f->name, SIZE_MAX / 2, &fd, &size, why);
	char path[PATH_MAX];

	if (rc < 0)
		return rc;
	/* The size from fstat bounds the buffer. */
	rc = dcv_read_fd(fd, (size_t)size, &f->buf, &f->len, &read_why);
	close(fd);
	if (rc == DCV_ENOMEM)
		return rc;
	if (rc < 0) {
		store_path(ld->st, ld->st->dirs[STORE_DIR_STATE], f->name, path, sizeof(path));
		dcv_why_set(why, "%s: %s", path, read_why.text);
		return DCV_ESTATE;
	}
	return DCV_OK;
}

static uint32_t hash_bytes(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/*
 * The id line of an entry: what follows "---\nversion: 1\nid: " up to the
 * end of the line (and of any indented continuation line). None (NULL) for
 * an entry that does not begin that way: it is always parsed.
 */
static void take_hint(struct lentry *e, const unsigned char *buf)
{
	static const char start[] = DCV_JOBREC_ENTRY_START;
	const unsigned char *p = buf + e->off, *end = p + e->len, *nl = NULL;

	e->hint = NULL;
	if (e->len < sizeof(start) - 1 || memcmp(p, start, sizeof(start) - 1) != 0)
		return;
	p += sizeof(start) - 1;
	for (const unsigned char *q = p;; q = nl + 1) {
		nl = memchr(q, '\n', (size_t)(end - q));
		if (nl == NULL)
			return;
		if (nl + 1 < end && nl[1] != ' ' && nl[1] != '\t')
			break;
	}
	e->hint = p;
	e->hint_len = (size_t)(nl - p);
	e->hint_hash = hash_bytes(p, e->hint_len);
}

int load_add_entry(struct load *ld, uint32_t file, uint64_t off, uint64_t len)
{
	struct lentry *grown = NULL, *e = NULL;
	size_t cap = 0;

	if (ld->n_entries == ld->cap_entries) {
		cap = ld->cap_entries ? ld->cap_entries * 2 : 1024;
		grown = realloc(ld->entries, cap * sizeof(*grown));
		if (grown == NULL)
			return DCV_ENOMEM;
		ld->entries = grown;
		ld->cap_entries = cap;
	}
	e = &ld->entries[ld->n_entries++];
	memset(e, 0, sizeof(*e));
	e->file = file;
	e->off = off;
	e->len = len;
	e->older = -1;
	e->rec = -1;
	if (ld->files[file].is_log)
		take_hint(e, ld->files[file].buf);
	return DCV_OK;
}

/* Cuts a log into entries: each ends with the end marker; a last piece without one is cut. */
int load_split_log(struct load *ld, uint32_t file)
{
	static const char end[] = DCV_JOBREC_END;
	const struct lfile *f = &ld->files[file];
	const unsigned char *m = NULL;
	size_t pos = 0, stop = 0;
	int rc = DCV_OK;

	while (pos < f->len && rc == DCV_OK) {
		/* The marker's newline may be the last byte of the previous entry. */
		m = memmem(f->buf + pos, f->len - pos, end, sizeof(end) - 1);
		stop = m != NULL ? (size_t)(m - f->buf) + sizeof(end) - 1 : f->len;
		rc = load_add_entry(ld, file, pos, stop - pos);
		pos = stop;
	}
	return rc;
}

/* Links each hinted entry to the next older one with the same id line; marks the newest. */
int load_chain_hints(struct load *ld)
{
	size_t n = 1024, mask = 0, h = 0;
	int32_t *slots = NULL;

	while (n < ld->n_entries * 2)
		n *= 2;
	mask = n - 1;
	slots = malloc(n * sizeof(*slots));
	if (slots == NULL)
		return DCV_ENOMEM;
	memset(slots, 0xff, n * sizeof(*slots));
	for (size_t i = 0; i < ld->n_entries; i++) {
		struct lentry *e = &ld->entries[i], *o = NULL;

		e->newest = true;
		if (e->hint == NULL)
			continue;
		for (h = e->hint_hash & mask; slots[h] >= 0; h = (h + 1) & mask) {
			o = &ld->entries[slots[h]];
			if (o->hint_hash == e->hint_hash && o->hint_len == e->hint_len &&
			    memcmp(o->hint, e->hint, e->hint_len) == 0)
				break;
		}
		if (slots[h] >= 0) {
			e->older = slots[h];
			ld->entries[slots[h]].newest = false;
		}
		slots[h] = (int32_t)i;
	}
	free(slots);
	return DCV_OK;
}

/* The line of byte off in a log, for messages. */
unsigned long load_line_of(const struct lfile *f, uint64_t off)
{
	unsigned long line = 1;
	const unsigned char *p = f->buf, *end = f->buf + off, *nl = NULL;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		line++;
		p = nl + 1;
	}
	return line;
}
