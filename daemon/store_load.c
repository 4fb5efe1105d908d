/*
 * store_load.c -- loading state/ at start (store.h): the record files of
 * the old format first, then every log in the order of its number; a later
 * entry of an id replaces an earlier one, a forget removes it.
 *
 * Most of the time goes into parsing (libyaml allocates a lot per
 * document), so two things keep a load of 50,000 jobs short. Entries are
 * parsed by a few threads. And only the newest entry of each id is parsed:
 * every entry begins with the same three lines and its id written the same
 * way (jobrec_int.h), so equal id lines mean the same id, and an older entry
 * with the id line of a newer, whole one can be skipped unread. When the
 * newer one is damaged, the older ones are parsed in turn until one is whole.
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
static int list_state(struct load *ld)
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
 * bytes. DCV_ESTATE (damaged) with why, DCV_EIO.
 */
static int open_entry_file(struct dcv_store *st, const char *name, uint64_t max, int *out,
                           uint64_t *size, struct dcv_why *why)
{
	char path[PATH_MAX];
	struct stat sb;
	int fd = -1;

	*out = -1;
	store_path(st, st->dirs[STORE_DIR_STATE], name, path, sizeof(path));
	fd = openat(st->dirs[STORE_DIR_STATE]->fd, name,
	            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
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
static int read_log(struct load *ld, struct lfile *f, struct dcv_why *why)
{
	struct dcv_why read_why;
	uint64_t size = 0;
	int fd = -1, rc = open_entry_file(ld->st, f->name, SIZE_MAX / 2, &fd, &size, why);
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

static int add_entry(struct load *ld, uint32_t file, uint64_t off, uint64_t len)
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
static int split_log(struct load *ld, uint32_t file)
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
		rc = add_entry(ld, file, pos, stop - pos);
		pos = stop;
	}
	return rc;
}

/* Links each hinted entry to the next older one with the same id line; marks the newest. */
static int chain_hints(struct load *ld)
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
static unsigned long line_of(const struct lfile *f, uint64_t off)
{
	unsigned long line = 1;
	const unsigned char *p = f->buf, *end = f->buf + off, *nl = NULL;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		line++;
		p = nl + 1;
	}
	return line;
}

/*
 * Parses entry i into *rec. Record files are read here (they are many
 * small files: the threads share that work too). why only when wanted.
 */
static int parse_entry(struct load *ld, struct lentry *e, struct dcv_job_record *rec,
                       bool with_position, struct dcv_why *why)
{
	struct lfile *f = &ld->files[e->file];
	struct dcv_store *st = ld->st;
	unsigned char *buf = NULL;
	struct dcv_why read_why;
	char path[PATH_MAX];
	size_t len = 0, id_len = strlen(f->name) - 4;
	uint64_t size = 0;
	int fd = -1, rc = DCV_OK;

	memset(rec, 0, sizeof(*rec));
	store_path(st, st->dirs[STORE_DIR_STATE], f->name, path, sizeof(path));
	if (f->is_log)
		return dcv_jobrec_entry_parse(path, with_position ? line_of(f, e->off) : 1,
		                              f->buf + e->off, e->len, rec, &e->forget, why);
	rc = open_entry_file(st, f->name, DCV_JOB_FILE_MAX, &fd, &size, why);
	if (rc < 0)
		return rc;
	rc = dcv_read_fd(fd, (size_t)size, &buf, &len, &read_why);
	close(fd);
	if (rc == DCV_ENOMEM)
		goto out;
	if (rc < 0) {
		rc = DCV_ESTATE;
		dcv_why_set(why, "%s: %s", path, read_why.text);
		goto out;
	}
	e->len = len;
	rc = dcv_job_record_parse(path, buf, len, rec, why);
	if (rc < 0)
		goto out;
	/* The file name is the id: two record files can never hold the same job. */
	if (strlen(rec->id) != id_len || memcmp(rec->id, f->name, id_len) != 0) {
		dcv_why_set(why, "%s: the record's id '%s' does not match its file name", path,
		            rec->id);
		dcv_job_record_free(rec);
		rc = DCV_ESTATE;
	}
out:
	free(buf);
	return rc;
}

/*
 * Thread k parses the candidates k, k + step, k + 2 step... (at start
 * nothing else runs yet).
 */
#define LOAD_THREADS_MAX 8

struct share {
	struct load *ld;
	size_t first;
	size_t step;
};

static void share_run(void *arg)
{
	struct share *sh = arg;
	struct load *ld = sh->ld;
	struct dcv_why why;

	for (size_t k = sh->first; k < ld->n_cand; k += sh->step) {
		struct lentry *e = &ld->entries[ld->cand[k]];

		e->rc = parse_entry(ld, e, &ld->recs[e->rec], false, &why);
		e->parsed = true;
	}
}

static void parse_candidates(struct load *ld)
{
	struct share shares[LOAD_THREADS_MAX];
	uv_thread_t threads[LOAD_THREADS_MAX];
	bool started[LOAD_THREADS_MAX];
	size_t n_threads = uv_available_parallelism();

	if (n_threads > LOAD_THREADS_MAX)
		n_threads = LOAD_THREADS_MAX;
	if (n_threads < 1 || ld->n_cand < 256)
		n_threads = 1;
	for (size_t k = 0; k < n_threads; k++) {
		shares[k] = (struct share){ld, k, n_threads};
		/* A thread that cannot start leaves its share to this one. */
		started[k] = k > 0 && uv_thread_create(&threads[k], share_run, &shares[k]) == 0;
	}
	for (size_t k = 0; k < n_threads; k++)
		if (!started[k])
			share_run(&shares[k]);
	for (size_t k = 1; k < n_threads; k++)
		if (started[k])
			uv_thread_join(&threads[k]);
}

/* A slot in recs for one more parse. */
static int rec_slot(struct load *ld, int32_t *slot)
{
	struct dcv_job_record *grown = NULL;
	size_t cap = 0;

	if (ld->n_recs == ld->cap_recs) {
		cap = ld->cap_recs ? ld->cap_recs * 2 : 64;
		grown = realloc(ld->recs, cap * sizeof(*grown));
		if (grown == NULL)
			return DCV_ENOMEM;
		ld->recs = grown;
		ld->cap_recs = cap;
	}
	memset(&ld->recs[ld->n_recs], 0, sizeof(ld->recs[0]));
	*slot = (int32_t)ld->n_recs++;
	return DCV_OK;
}

static int pick_candidates(struct load *ld)
{
	int rc = DCV_ENOMEM;

	ld->cand = malloc((ld->n_entries ? ld->n_entries : 1) * sizeof(*ld->cand));
	if (ld->cand == NULL)
		return rc;
	for (size_t i = 0; i < ld->n_entries; i++) {
		if (!ld->entries[i].newest)
			continue;
		rc = rec_slot(ld, &ld->entries[i].rec);
		if (rc < 0)
			return rc;
		ld->cand[ld->n_cand++] = i;
	}
	return DCV_OK;
}

/*
 * After the threads: an entry that failed is parsed again here for its
 * message (damage is rare, messages are large; memory that ran short in a
 * thread may be there now); for a damaged one, the older entries of its id
 * line are tried in turn.
 */
static int retry_failures(struct load *ld)
{
	struct dcv_why why;
	int32_t j = -1;
	int rc = DCV_OK;

	for (size_t k = 0; k < ld->n_cand; k++) {
		struct lentry *e = &ld->entries[ld->cand[k]];

		for (;;) {
			if (e->rc == DCV_OK)
				break;
			dcv_job_record_free(&ld->recs[e->rec]);
			e->rc = parse_entry(ld, e, &ld->recs[e->rec], true, &why);
			if (e->rc == DCV_ENOMEM)
				return DCV_ENOMEM;
			if (e->rc == DCV_OK)
				break;
			rc = load_damage(ld, e, &why);
			if (rc < 0)
				return rc;
			j = e->older;
			if (j < 0)
				break;
			e = &ld->entries[j];
			rc = rec_slot(ld, &e->rec);
			if (rc < 0)
				return rc;
			e->rc = DCV_ENOMEM; /* not parsed yet: the loop's parse decides */
			e->parsed = true;
		}
	}
	return DCV_OK;
}

/* Puts the whole entries into the index, oldest first: the newest of each id stays. */
static int apply(struct load *ld)
{
	struct dcv_store *st = ld->st;
	int rc = DCV_OK;

	for (size_t i = 0; i < ld->n_files; i++) {
		struct lfile *f = &ld->files[i];

		if (f->unreadable)
			continue;
		rc = store_file_add(st, f->seq, f->name, f->is_log ? f->len : 0, &f->idx);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < ld->n_entries; i++) {
		struct lentry *e = &ld->entries[i];
		struct lfile *f = &ld->files[e->file];

		if (!e->parsed || e->rc != DCV_OK)
			continue;
		if (!f->is_log) {
			/* A record file's size is known once read. */
			st->files[f->idx].size = e->len;
			st->total_bytes += e->len;
		}
		rc = store_index_put(st, ld->recs[e->rec].id, f->idx, e->forget, e->off,
		                     (uint32_t)e->len);
		if (rc < 0)
			return rc;
	}
	return DCV_OK;
}

/* Marks the entries that are the newest of their id. */
static void mark_live(struct load *ld)
{
	const struct store_entry *se = NULL;

	for (size_t i = 0; i < ld->n_entries; i++) {
		struct lentry *e = &ld->entries[i];

		if (!e->parsed || e->rc != DCV_OK)
			continue;
		se = store_index_get(ld->st, ld->recs[e->rec].id);
		e->live = se != NULL && se->file == ld->files[e->file].idx && se->off == e->off;
	}
}

static int record_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dcv_job_record *)a)->id,
	              ((const struct dcv_job_record *)b)->id);
}

/* Moves the live records to the front of recs (sorted by id); frees the others. */
static int gather(struct load *ld, size_t *n)
{
	bool *keep = calloc(ld->n_recs ? ld->n_recs : 1, sizeof(*keep));
	size_t count = 0;

	if (keep == NULL)
		return DCV_ENOMEM;
	for (size_t i = 0; i < ld->n_entries; i++) {
		const struct lentry *e = &ld->entries[i];

		if (e->rec >= 0)
			keep[e->rec] = e->live && !e->forget;
	}
	for (size_t k = 0; k < ld->n_recs; k++) {
		if (!keep[k]) {
			dcv_job_record_free(&ld->recs[k]);
			continue;
		}
		if (k != count) {
			ld->recs[count] = ld->recs[k];
			memset(&ld->recs[k], 0, sizeof(ld->recs[0]));
		}
		count++;
	}
	free(keep);
	if (count > 1)
		qsort(ld->recs, count, sizeof(*ld->recs), record_cmp);
	*n = count;
	return DCV_OK;
}

static int load_state(struct dcv_store *st, bool readonly, struct dcv_job_record **recs, size_t *n,
                      struct dcv_strv *errors)
{
	struct load ld = {.st = st, .readonly = readonly, .errors = errors};
	struct dcv_why why;
	uint64_t fsyncs = 0;
	int rc = DCV_OK;

	*recs = NULL;
	*n = 0;
	store_index_clear(st);
	/* Until this load succeeds, the files of state/ are not (all) in the index. */
	st->unknown_files = true;
	if (!readonly) {
		clean_status_tmp(st, "done");
		clean_status_tmp(st, "failed");
	}
	rc = list_state(&ld);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < ld.n_files && rc == DCV_OK; i++) {
		struct lfile *f = &ld.files[i];

		if (!f->is_log) {
			rc = add_entry(&ld, (uint32_t)i, 0, 0);
			continue;
		}
		rc = read_log(&ld, f, &why);
		if (rc == DCV_ESTATE)
			rc = load_damaged_file(&ld, f, &why);
		else if (rc == DCV_OK)
			rc = split_log(&ld, (uint32_t)i);
	}
	if (rc < 0)
		goto out;
	rc = chain_hints(&ld);
	if (rc == DCV_OK)
		rc = pick_candidates(&ld);
	if (rc < 0)
		goto out;
	parse_candidates(&ld);
	rc = retry_failures(&ld);
	if (rc == DCV_OK)
		rc = apply(&ld);
	if (rc == DCV_OK)
		mark_live(&ld);
	if (rc == DCV_OK && !readonly)
		rc = load_repair(&ld);
	if (rc == DCV_OK)
		rc = load_report(&ld);
	if (rc < 0)
		goto out;
	/* Everything read is what the files say: nothing unknown remains. */
	st->unknown_files = false;
	st->index_broken = false;
	store_files_settle(st);
	if (!readonly) {
		/*
		 * Dead files are deleted by the first batch; what replaced their
		 * entries must be durable first (a crash may have left a log
		 * renamed but its folder not flushed).
		 */
		if (st->doomed_any)
			st->dirs[STORE_DIR_STATE]->dirty = true;
		/* Deleted leftovers and moved files should stay that way. */
		if (store_dirs_flush(st, &fsyncs, &why) < 0 &&
		    dcv_strv_push(errors, why.text) < 0) {
			rc = DCV_ENOMEM;
			goto out;
		}
	}
	rc = gather(&ld, n);
	if (rc < 0)
		goto out;
	*recs = ld.recs;
	ld.recs = NULL;
	ld.n_recs = 0;
out:
	if (rc < 0)
		store_index_clear(st);
	load_free(&ld);
	return rc;
}

int dcv_store_load(struct dcv_store *st, struct dcv_job_record **recs, size_t *n,
                   struct dcv_strv *errors)
{
	return load_state(st, false, recs, n, errors);
}

int dcv_store_read(const char *spool, struct dcv_job_record **recs, size_t *n,
                   struct dcv_strv *errors)
{
	struct dcv_store *st = NULL;
	struct dcv_why why;
	int rc = store_open_read(spool, &st, &why);

	*recs = NULL;
	*n = 0;
	if (rc == DCV_EIO && dcv_strv_push(errors, why.text) < 0)
		rc = DCV_ENOMEM;
	if (rc == DCV_OK)
		rc = load_state(st, true, recs, n, errors);
	store_free(st);
	return rc;
}
