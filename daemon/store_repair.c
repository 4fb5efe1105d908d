/*
 * store_repair.c -- damage found while loading (store_load.h). Nothing is
 * silently dropped: every damaged file or entry is reported, and the file
 * goes to state/damaged/ for a person to look at. A record file of the old
 * format holds one record, so it simply moves. A log holds many: its whole
 * entries that are still the newest of their id are first rewritten into
 * a new log, so that moving the damaged one away loses nothing else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_load.h"

/* Messages about damaged entries of one log, before the rest are only counted. */
#define ENTRY_MESSAGES_MAX 10

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

/* Moves state/<name> out of the way and says so in errors (why: what is wrong). */
static int report_moved(struct load *ld, const char *name, const struct dcv_why *why)
{
	char moved_to[PATH_MAX];
	struct dcv_why move_why;

	if (ld->readonly)
		return dcv_strv_push(ld->errors, why->text);
	if (move_damaged(ld->st, name, moved_to, sizeof(moved_to), &move_why) == 0)
		return dcv_strv_pushf(ld->errors, "%s (moved to %s)", why->text, moved_to);
	return dcv_strv_pushf(ld->errors, "%s (%s)", why->text, move_why.text);
}

int load_damage(struct load *ld, struct lentry *e, const struct dcv_why *why)
{
	struct lfile *f = &ld->files[e->file];

	if (!f->is_log) {
		f->unreadable = true;
		return report_moved(ld, f->name, why);
	}
	if (++f->n_bad > ENTRY_MESSAGES_MAX)
		return DCV_OK;
	return dcv_strv_pushf(ld->errors, "%s (damaged entry: skipped)", why->text);
}

int load_damaged_file(struct load *ld, struct lfile *f, const struct dcv_why *why)
{
	f->unreadable = true;
	return report_moved(ld, f->name, why);
}

/* Copies the live entries of the damaged logs into a new log; *idx is where. */
static int rewrite_live(struct load *ld, uint32_t *idx, struct dcv_why *why)
{
	struct dcv_store *st = ld->st;
	struct store_log lw = {.fd = -1};
	uint64_t *offs = NULL, fdatasyncs = 0, fsyncs = 0;
	size_t n = 0, k = 0;
	int rc = DCV_OK;

	*idx = UINT32_MAX;
	for (size_t i = 0; i < ld->n_entries; i++)
		n += ld->entries[i].live && ld->files[ld->entries[i].file].n_bad > 0;
	if (n == 0)
		return DCV_OK;
	offs = malloc(n * sizeof(*offs));
	if (offs == NULL)
		return DCV_ENOMEM;
	rc = store_log_begin(st, &lw, why);
	for (size_t i = 0; i < ld->n_entries && rc == DCV_OK; i++) {
		const struct lentry *e = &ld->entries[i];
		const struct lfile *f = &ld->files[e->file];

		if (e->live && f->n_bad > 0)
			rc = store_log_append(st, &lw, f->buf + e->off, e->len, &offs[k++], why);
	}
	if (rc == DCV_OK)
		rc = store_log_finish(st, &lw, idx, &fdatasyncs, &fsyncs, why);
	else
		store_log_abort(st, &lw);
	/* Renamed means in place: from now on these copies are the newest entries. */
	k = 0;
	for (size_t i = 0; i < ld->n_entries && *idx != UINT32_MAX; i++) {
		const struct lentry *e = &ld->entries[i];

		if (!e->live || ld->files[e->file].n_bad == 0)
			continue;
		if (store_index_put(st, ld->recs[e->rec].id, *idx, e->forget, offs[k++],
		                    (uint32_t)e->len) < 0) {
			rc = DCV_ENOMEM;
			break;
		}
	}
	free(offs);
	return rc;
}

int load_repair(struct load *ld)
{
	struct dcv_why why;
	uint32_t idx = UINT32_MAX;
	int rc = DCV_OK;

	for (size_t i = 0; i < ld->n_files; i++)
		ld->files[i].rewritten_to = UINT32_MAX;
	rc = rewrite_live(ld, &idx, &why);
	if (rc == DCV_ENOMEM)
		return rc;
	for (size_t i = 0; i < ld->n_files; i++) {
		struct lfile *f = &ld->files[i];

		if (f->n_bad == 0 || f->unreadable)
			continue;
		/* Not rewritten (or not durably): the log stays, its whole entries with it. */
		if (rc < 0) {
			snprintf(f->problem, sizeof(f->problem), "left in place: %s", why.text);
			continue;
		}
		f->rewritten_to = idx;
		if (move_damaged(ld->st, f->name, f->moved_to, sizeof(f->moved_to), &why) < 0) {
			snprintf(f->problem, sizeof(f->problem), "%s", why.text);
			continue;
		}
		f->moved = true;
		store_file_gone(ld->st, f->idx);
	}
	return DCV_OK;
}

int load_report(struct load *ld)
{
	struct dcv_store *st = ld->st;
	char path[PATH_MAX], kept[PATH_MAX + 64];
	size_t whole = 0;
	int rc = DCV_OK;

	for (size_t i = 0; i < ld->n_files && rc == DCV_OK; i++) {
		struct lfile *f = &ld->files[i];

		if (f->n_bad == 0 || f->unreadable)
			continue;
		store_path(st, st->dirs[STORE_DIR_STATE], f->name, path, sizeof(path));
		whole = 0;
		for (size_t j = 0; j < ld->n_entries; j++)
			whole += ld->entries[j].file == i && ld->entries[j].live;
		kept[0] = '\0';
		if (whole > 0 && f->rewritten_to != UINT32_MAX)
			snprintf(kept, sizeof(kept),
			         "; its %zu live whole entr%s rewritten to %s/state/%s", whole,
			         whole == 1 ? "y was" : "ies were", st->spool,
			         st->files[f->rewritten_to].name);
		if (ld->readonly)
			rc = dcv_strv_pushf(ld->errors, "%s: %zu damaged entr%s", path, f->n_bad,
			                    f->n_bad == 1 ? "y" : "ies");
		else if (f->moved)
			rc = dcv_strv_pushf(
			    ld->errors, "%s: %zu damaged entr%s skipped%s (moved to %s)", path,
			    f->n_bad, f->n_bad == 1 ? "y" : "ies", kept, f->moved_to);
		else
			rc = dcv_strv_pushf(ld->errors, "%s: %zu damaged entr%s skipped (%s)", path,
			                    f->n_bad, f->n_bad == 1 ? "y" : "ies", f->problem);
	}
	return rc;
}

void load_free(struct load *ld)
{
	for (size_t i = 0; i < ld->n_files; i++)
		free(ld->files[i].buf);
	free(ld->files);
	free(ld->entries);
	free(ld->cand);
	dcv_job_records_free(ld->recs, ld->n_recs);
}
