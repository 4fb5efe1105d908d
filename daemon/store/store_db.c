/*
 * store_db.c -- the store's LMDB environment (store_int.h): one write
 * transaction per batch for its records, its forgets and the holders they
 * change; the load that reads every record and makes the holders database
 * agree with them; the read-only reading of `dcv status`.
 *
 * The environment is opened for each load or batch on the thread that runs
 * it and closed there before the thread lets go (store.h says why: no file
 * of the spool stays open for writing between batches). A write
 * transaction therefore begins and commits on one thread, as LMDB wants.
 * An open costs a few system calls and the pages a batch touches; a burst
 * has a few hundred batches at most.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "log.h"
#include "store_int.h"

/* An open environment, its transaction and its two databases. */
struct db {
	struct dcv_store *st;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi jobs, holders;
	bool rdonly;
	char path[PATH_MAX]; /* SPOOL/state/data.mdb, for messages */
};

/* The grown array of a load. */
struct recs {
	struct dcv_job_record *v;
	size_t n, cap;
};

/*
 * Turns an LMDB or errno code into ours, with why naming the file. A file
 * LMDB cannot read is DCV_ESTATE: dcvd will not start on it.
 */
static int db_fail(const struct db *db, int mrc, const char *what, struct dcv_why *why)
{
	int rc = DCV_EIO;

	if (mrc == ENOMEM)
		rc = DCV_ENOMEM;
	else if (mrc == MDB_INVALID || mrc == MDB_CORRUPTED || mrc == MDB_PAGE_NOTFOUND ||
	         mrc == MDB_VERSION_MISMATCH || mrc == MDB_PANIC || mrc == MDB_INCOMPATIBLE)
		rc = DCV_ESTATE;
	else if (mrc == EACCES && db->rdonly)
		rc = DCV_EPERM;
	dcv_why_set(why, "%s: %s: %s%s", db->path, what, mdb_strerror(mrc),
	            rc != DCV_ESTATE ? ""
	                             : "; dcvd does not start on it: move state/data.mdb aside to "
	                               "start empty (the CSRs in active/ are then taken again)");
	return rc;
}

static void db_close(struct db *db)
{
	if (db->txn != NULL)
		mdb_txn_abort(db->txn);
	if (db->env != NULL)
		mdb_env_close(db->env);
	db->txn = NULL;
	db->env = NULL;
}

/* LMDB makes its files with the umask; they are 0640 like every file of the spool. */
static void db_modes(struct db *db)
{
	static const char *const files[] = {"data.mdb", "lock.mdb"};
	int dir = db->st->dirs[STORE_DIR_STATE]->fd;
	struct stat sb;

	for (size_t i = 0; i < 2; i++)
		if (fstatat(dir, files[i], &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (sb.st_mode & 07777) != 0640)
			fchmodat(dir, files[i], 0640, 0);
}

/*
 * Opens SPOOL/state/ as an environment: dcvd's (created when missing, its
 * map at least tuning.map_start or what it grew to) or a reader's
 * (MDB_RDONLY, creating nothing).
 */
static int db_open(struct db *db, struct dcv_store *st, bool rdonly, struct dcv_why *why)
{
	unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | (rdonly ? MDB_RDONLY : 0);
	size_t want = st->map_size > st->tuning.map_start ? st->map_size : st->tuning.map_start;
	char dir[PATH_MAX];
	MDB_envinfo info;
	int mrc = 0, dead = 0, rc = DCV_OK;

	memset(db, 0, sizeof(*db));
	db->st = st;
	db->rdonly = rdonly;
	snprintf(db->path, sizeof(db->path), "%s/state/data.mdb", st->spool);
	snprintf(dir, sizeof(dir), "%s/state", st->spool);
	mrc = mdb_env_create(&db->env);
	if (mrc == 0)
		mrc = mdb_env_set_maxdbs(db->env, 2);
	if (mrc == 0)
		mrc = mdb_env_open(db->env, dir, flags, 0640);
	if (mrc != 0) {
		rc = db_fail(db, mrc, "cannot open the job database", why);
		goto out;
	}
	if (rdonly)
		goto out;
	if (st->map_size == 0)
		db_modes(db);
	/* Reader slots of killed readers would pin old pages and grow the file. */
	mdb_reader_check(db->env, &dead);
	mdb_env_info(db->env, &info);
	if (info.me_mapsize < want && (mrc = mdb_env_set_mapsize(db->env, want)) != 0) {
		rc = db_fail(db, mrc, "cannot set the map size", why);
		goto out;
	}
	st->map_size = info.me_mapsize > want ? info.me_mapsize : want;
out:
	if (rc < 0)
		db_close(db);
	return rc;
}

/*
 * The two databases in db->txn: dcvd's (create: made when missing) or a
 * reader's, which needs only the records. holders keeps each holder as a
 * value of its own, sorted by LMDB (MDB_DUPSORT). LMDB opens a database
 * with the flags it was made with, whatever is asked: a holders database
 * made without MDB_DUPSORT (by a build before it) is dropped here, and the
 * load's check fills it again from the records. A sorted value is stored
 * as a key, so it has LMDB's key limit (511 bytes), as the key does; the
 * asserts below keep both within it.
 */
#define RR_FIELD(f) sizeof(((struct dcv_job_record_rr *)NULL)->f)
_Static_assert(RR_FIELD(zone) - 1 + 1 + RR_FIELD(owner) - 1 <= 511, "a holders key fits LMDB");
_Static_assert(RR_FIELD(target) - 1 + 1 + DCV_JOB_ID_MAX <= 511, "a holders value fits LMDB");

static int db_dbis(struct db *db, bool create)
{
	unsigned flags = 0;
	int mrc = mdb_dbi_open(db->txn, "jobs", create ? MDB_CREATE : 0, &db->jobs);

	if (mrc != 0 || !create)
		return mrc;
	mrc = mdb_dbi_open(db->txn, "holders", MDB_CREATE | MDB_DUPSORT, &db->holders);
	if (mrc == 0)
		mrc = mdb_dbi_flags(db->txn, db->holders, &flags);
	if (mrc == 0 && !(flags & MDB_DUPSORT)) {
		mrc = mdb_drop(db->txn, db->holders, 1);
		if (mrc == 0)
			mrc = mdb_dbi_open(db->txn, "holders", MDB_CREATE | MDB_DUPSORT,
			                   &db->holders);
	}
	return mrc;
}

/* ---- holds ---- */

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int store_holds_text(const struct dcv_job_record *rec, char **out)
{
	char **lines = NULL, *text = NULL, key[520];
	size_t len = 0, at = 0;
	int rc = DCV_OK;

	*out = NULL;
	if (!dcv_job_record_holds(rec) || rec->n_rrs == 0)
		goto out;
	rc = DCV_ENOMEM;
	lines = calloc(rec->n_rrs, sizeof(*lines));
	if (lines == NULL)
		goto out;
	for (size_t i = 0; i < rec->n_rrs; i++) {
		snprintf(key, sizeof(key), "%s/%s", rec->rrs[i].zone, rec->rrs[i].owner);
		lower(key);
		if (asprintf(&lines[i], "%s %s %s\n", key, rec->rrs[i].target, rec->id) < 0) {
			lines[i] = NULL;
			goto out;
		}
		len += strlen(lines[i]);
	}
	/* Sorted and each once: equal holds are equal texts. */
	qsort(lines, rec->n_rrs, sizeof(*lines), str_cmp);
	text = malloc(len + 1);
	if (text == NULL)
		goto out;
	for (size_t i = 0; i < rec->n_rrs; i++) {
		if (i > 0 && strcmp(lines[i], lines[i - 1]) == 0)
			continue;
		memcpy(text + at, lines[i], strlen(lines[i]));
		at += strlen(lines[i]);
	}
	text[at] = '\0';
	*out = text;
	rc = DCV_OK;
out:
	for (size_t i = 0; lines != NULL && i < rec->n_rrs; i++)
		free(lines[i]);
	free(lines);
	return rc;
}

/*
 * Adds or drops each line "KEY TARGET ID" of holds: the value "TARGET ID"
 * under KEY. Adding one that is there, or dropping one that is not, is
 * not an error: the transaction makes the database what the record says.
 */
static int holds_apply(struct db *db, const char *holds, bool add)
{
	const char *p = holds, *space = NULL, *nl = NULL;
	MDB_val k, v;
	int mrc = 0;

	for (; p != NULL && *p != '\0' && mrc == 0; p = nl + 1) {
		nl = strchr(p, '\n');
		space = nl != NULL ? memchr(p, ' ', (size_t)(nl - p)) : NULL;
		if (space == NULL)
			break;
		k = (MDB_val){(size_t)(space - p), (void *)p};
		v = (MDB_val){(size_t)(nl - space - 1), (void *)(space + 1)};
		mrc = add ? mdb_put(db->txn, db->holders, &k, &v, MDB_NODUPDATA)
		          : mdb_del(db->txn, db->holders, &k, &v);
		if (mrc == MDB_KEYEXIST || mrc == MDB_NOTFOUND)
			mrc = 0;
	}
	return mrc;
}

/* The holds of a record as stored (its text); NULL when it holds nothing or does not parse. */
static int holds_of_value(const MDB_val *v, char **out)
{
	struct dcv_job_record rec;
	int rc = dcv_job_record_parse("data.mdb", v->mv_data, v->mv_size, &rec, NULL);

	*out = NULL;
	/* One that does not parse: the load removes it and fixes its holders. */
	if (rc == DCV_ESTATE)
		return 0;
	if (rc == DCV_OK)
		rc = store_holds_text(&rec, out);
	dcv_job_record_free(&rec);
	return rc == DCV_OK ? 0 : ENOMEM;
}

/* ---- batches ---- */

/* One record write or forget, and the holders it changes. */
static int write_op(struct db *db, const struct store_op *op)
{
	MDB_val key = {strlen(op->id), (void *)op->id}, old, val = {op->len, (void *)op->text};
	char *old_holds = NULL;
	bool had = false;
	int mrc = mdb_get(db->txn, db->jobs, &key, &old);

	if (mrc != 0 && mrc != MDB_NOTFOUND)
		goto out;
	had = mrc == 0;
	mrc = had ? holds_of_value(&old, &old_holds) : 0;
	if (mrc != 0)
		goto out;
	if (op->text != NULL)
		mrc = mdb_put(db->txn, db->jobs, &key, &val, 0);
	else if (had)
		mrc = mdb_del(db->txn, db->jobs, &key, NULL);
	if (mrc != 0)
		goto out;
	/* Most writes change a state, not what the job holds. */
	if (old_holds != NULL && op->holds != NULL && strcmp(old_holds, op->holds) == 0)
		goto out;
	mrc = holds_apply(db, old_holds, false);
	if (mrc == 0)
		mrc = holds_apply(db, op->holds, true);
out:
	free(old_holds);
	return mrc;
}

static int write_ops(struct db *db, const struct store_op *ops, size_t n)
{
	int mrc = mdb_txn_begin(db->env, NULL, 0, &db->txn);

	if (mrc != 0) {
		db->txn = NULL;
		return mrc;
	}
	mrc = db_dbis(db, true);
	for (size_t i = 0; i < n && mrc == 0; i++)
		mrc = write_op(db, &ops[i]);
	/* The commit is the flush: data.mdb's fdatasync, then its meta page. */
	if (mrc == 0)
		mrc = mdb_txn_commit(db->txn);
	else
		mdb_txn_abort(db->txn);
	db->txn = NULL;
	return mrc;
}

/* MDB_MAP_FULL: doubles the map, at least to its data plus four times the batch, to the bound. */
static bool db_grow(struct db *db, size_t batch_bytes, uint64_t *grown)
{
	struct dcv_store *st = db->st;
	MDB_envinfo info;
	MDB_stat ms;
	size_t size = 0, used = 0;

	if (mdb_env_info(db->env, &info) != 0 || mdb_env_stat(db->env, &ms) != 0)
		return false;
	used = (info.me_last_pgno + 1) * ms.ms_psize;
	size = info.me_mapsize * 2;
	if (size < used + 4 * batch_bytes)
		size = used + 4 * batch_bytes;
	if (size > st->tuning.map_max)
		size = st->tuning.map_max;
	if (size <= info.me_mapsize || mdb_env_set_mapsize(db->env, size) != 0)
		return false;
	st->map_size = size;
	(*grown)++;
	return true;
}

int store_db_commit(struct dcv_store *st, const struct store_op *ops, size_t n, uint64_t *grown,
                    struct dcv_why *why)
{
	struct db db;
	size_t bytes = 0;
	char what[128];
	int mrc = 0, rc = db_open(&db, st, false, why);

	for (size_t i = 0; i < n; i++)
		bytes += ops[i].len + strlen(ops[i].id);
	for (int attempt = 0; rc == DCV_OK; attempt++) {
		mrc = write_ops(&db, ops, n);
		if (mrc != MDB_MAP_FULL || attempt > 0 || !db_grow(&db, bytes, grown))
			break;
	}
	if (rc == DCV_OK && mrc != 0) {
		snprintf(what, sizeof(what),
		         "cannot commit %zu job records (map of %zu MiB, at most %zu MiB)", n,
		         st->map_size >> 20, st->tuning.map_max >> 20);
		rc = db_fail(&db, mrc, what, why);
	}
	db_close(&db);
	/*
	 * LMDB keeps a transaction's dirty pages, and an environment its
	 * dirty list (2 MiB), in malloc'd memory, freed at the close into this
	 * pool thread's arena, where glibc keeps them: a burst left some 20 MiB
	 * of them over the pool's arenas. Give them back.
	 */
	malloc_trim(0);
	return rc;
}

/* ---- loads ---- */

/*
 * One record of a load: parsed into recs, or reported (*damaged then set:
 * the caller removes it when fixing).
 */
static int load_one(struct db *db, const MDB_val *k, const MDB_val *v, struct recs *recs,
                    struct dcv_strv *errors, bool *damaged)
{
	struct dcv_job_record *grown = NULL, *rec = NULL;
	char id[DCV_JOB_ID_MAX * 4 + 1], file[PATH_MAX + 1100];
	struct dcv_why why;
	int rc = DCV_ENOMEM;

	if (recs->n == recs->cap) {
		recs->cap = recs->cap ? recs->cap * 2 : 256;
		grown = realloc(recs->v, recs->cap * sizeof(*grown));
		if (grown == NULL)
			goto out;
		recs->v = grown;
	}
	rec = &recs->v[recs->n];
	dcv_escape(id, sizeof(id), k->mv_data, k->mv_size);
	snprintf(file, sizeof(file), "%s (job %s)", db->path, id);
	rc = dcv_job_record_parse(file, v->mv_data, v->mv_size, rec, &why);
	if (rc == DCV_OK &&
	    (strlen(rec->id) != k->mv_size || memcmp(rec->id, k->mv_data, k->mv_size))) {
		dcv_why_set(&why, "%s: the record's id is %s", file, rec->id);
		dcv_job_record_free(rec);
		rc = DCV_ESTATE;
	}
	if (rc == DCV_OK)
		recs->n++;
	if (rc != DCV_ESTATE)
		goto out;
	rc = dcv_strv_pushf(errors, "%s (damaged record%s)", why.text,
	                    db->rdonly ? "" : ": removed");
	*damaged = rc == DCV_OK;
out:
	return rc;
}

/* Every line "KEY TARGET ID" the records hold, sorted for bsearch(). */
static int holders_wanted(const struct recs *recs, struct dcv_strv *lines)
{
	char *holds = NULL, *p = NULL, *nl = NULL;
	int rc = DCV_OK;

	for (size_t i = 0; i < recs->n && rc == DCV_OK; i++) {
		rc = store_holds_text(&recs->v[i], &holds);
		for (p = holds; rc == DCV_OK && p != NULL && (nl = strchr(p, '\n')) != NULL;
		     p = nl + 1) {
			*nl = '\0';
			rc = dcv_strv_push(lines, p);
		}
		free(holds);
		holds = NULL;
	}
	if (rc == DCV_OK && lines->n > 0)
		qsort(lines->v, lines->n, sizeof(*lines->v), str_cmp);
	return rc;
}

/* Orders a held pair "KEY VALUE" (mv_size bytes, maybe with NUL bytes) against a wanted line. */
static int held_cmp(const void *key, const void *elem)
{
	const MDB_val *held = key;
	const char *line = *(char *const *)elem;
	size_t n = strlen(line);
	int c = memcmp(held->mv_data, line, held->mv_size < n ? held->mv_size : n);

	return c != 0 ? c : (held->mv_size > n) - (held->mv_size < n);
}

/* One pair fixed: said (at most ten times a load) and counted. */
static void holders_fixed(struct db *db, const MDB_val *k, const MDB_val *v, const char *what)
{
	uint64_t *fixed = &db->st->stats.holders_fixed;
	char key[600], val[600];

	dcv_escape(key, sizeof(key), k->mv_data, k->mv_size);
	dcv_escape(val, sizeof(val), v->mv_data, v->mv_size);
	if (*fixed < 10)
		log_warn("%s: holders: %s -> %s: %s (the job records win)", db->path, key, val,
		         what);
	(*fixed)++;
}

/*
 * Makes the holders database say what the records say (they win): a pair
 * no record holds is deleted, a pair a record holds and the database lacks
 * is added. Looked up, not merged, so that a damaged key (a space, a NUL
 * byte) cannot throw the two orders out of step.
 */
static int holders_check(struct db *db, const struct recs *recs)
{
	struct dcv_strv want = {NULL, 0, 0};
	MDB_cursor *cur = NULL;
	MDB_val k, v, pair = {0, NULL};
	char buf[1100];
	const char *space = NULL;
	int mrc = holders_wanted(recs, &want) < 0 ? ENOMEM : 0;

	db->st->stats.holders_fixed = 0;
	if (mrc == 0)
		mrc = mdb_cursor_open(db->txn, db->holders, &cur);
	for (int op = MDB_FIRST; mrc == 0; op = MDB_NEXT) {
		if ((mrc = mdb_cursor_get(cur, &k, &v, op)) != 0)
			break;
		/* A pair longer than any record makes is damage, never wanted. */
		pair = (MDB_val){k.mv_size + 1 + v.mv_size, buf};
		if (pair.mv_size <= sizeof(buf)) {
			memcpy(buf, k.mv_data, k.mv_size);
			buf[k.mv_size] = ' ';
			memcpy(buf + k.mv_size + 1, v.mv_data, v.mv_size);
			if (want.n > 0 &&
			    bsearch(&pair, want.v, want.n, sizeof(*want.v), held_cmp) != NULL)
				continue;
		}
		holders_fixed(db, &k, &v, "held by no job record, deleted");
		/* Through the cursor: the next MDB_NEXT gives the pair after it. */
		mrc = mdb_cursor_del(cur, 0);
	}
	mrc = mrc == MDB_NOTFOUND ? 0 : mrc;
	for (size_t i = 0; i < want.n && mrc == 0; i++) {
		space = strchr(want.v[i], ' ');
		k = (MDB_val){(size_t)(space - want.v[i]), want.v[i]};
		v = (MDB_val){strlen(space + 1), (void *)(space + 1)};
		pair = v; /* the lookup may point k and v into the map */
		mrc = mdb_cursor_get(cur, &k, &pair, MDB_GET_BOTH);
		if (mrc != MDB_NOTFOUND)
			continue;
		k = (MDB_val){(size_t)(space - want.v[i]), want.v[i]};
		holders_fixed(db, &k, &v, "missing, added");
		mrc = mdb_put(db->txn, db->holders, &k, &v, 0);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	dcv_strv_free(&want);
	return mrc;
}

/* Begins the load's transaction; a reader follows a map that dcvd has grown meanwhile. */
static int load_begin(struct db *db)
{
	int mrc = mdb_txn_begin(db->env, NULL, db->rdonly ? MDB_RDONLY : 0, &db->txn);

	if (mrc == MDB_MAP_RESIZED && mdb_env_set_mapsize(db->env, 0) == 0)
		mrc = mdb_txn_begin(db->env, NULL, db->rdonly ? MDB_RDONLY : 0, &db->txn);
	if (mrc != 0)
		db->txn = NULL;
	return mrc;
}

/*
 * The load proper (store_db_load): its environment and records are in
 * db and recs, which the caller owns, so that a SIGBUS in the map that
 * ends it half-way leaves them to be freed.
 */
static int db_load(struct dcv_store *st, bool fix, struct db *db, struct recs *recs,
                   struct dcv_strv *errors, struct dcv_why *why)
{
	MDB_cursor *cur = NULL;
	bool damaged = false;
	MDB_val k, v;
	int mrc = 0, rc = db_open(db, st, !fix, why);

	if (rc < 0)
		goto out;
	mrc = load_begin(db);
	if (mrc == 0)
		mrc = db_dbis(db, fix);
	/* A reader before dcvd's first batch finds no databases: no records. */
	if (mrc == MDB_NOTFOUND && !fix) {
		mrc = 0;
		goto out;
	}
	if (mrc == 0)
		mrc = mdb_cursor_open(db->txn, db->jobs, &cur);
	for (int op = MDB_FIRST; mrc == 0 && rc == DCV_OK; op = MDB_NEXT) {
		if ((mrc = mdb_cursor_get(cur, &k, &v, op)) != 0)
			break;
		damaged = false;
		rc = load_one(db, &k, &v, recs, errors, &damaged);
		/*
		 * Removed through the cursor, not by name: a damaged key may hold a
		 * NUL byte. The next MDB_NEXT gives the record after it.
		 */
		if (rc == DCV_OK && damaged && fix)
			mrc = mdb_cursor_del(cur, 0);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	mrc = mrc == MDB_NOTFOUND ? 0 : mrc;
	if (rc < 0 || mrc != 0 || !fix)
		goto out;
	mrc = holders_check(db, recs);
	/* A commit frees the transaction, also when it fails; else db_close() aborts it. */
	if (mrc == 0) {
		mrc = mdb_txn_commit(db->txn);
		db->txn = NULL;
	}
	if (mrc == 0)
		st->stats.map_size = st->map_size;
out:
	if (rc == DCV_OK && mrc != 0)
		rc = db_fail(db, mrc, "cannot read the job records", why);
	return rc;
}

int store_db_load(struct dcv_store *st, bool fix, struct dcv_job_record **recs_out, size_t *n,
                  struct dcv_strv *errors, struct dcv_why *why)
{
	/* On the heap: they change between sigsetjmp() and a siglongjmp() to it. */
	struct {
		struct db db;
		struct recs recs;
	} *load = calloc(1, sizeof(*load));
	sigjmp_buf jump;
	int rc = DCV_ENOMEM;

	*recs_out = NULL;
	*n = 0;
	if (load == NULL)
		goto out;
	if (sigsetjmp(jump, 0) == 0) {
		store_guard_arm(&jump);
		rc = db_load(st, fix, &load->db, &load->recs, errors, why);
	} else {
		/* LMDB was left mid-read: its transaction is aborted, its map unmapped. */
		dcv_why_set(
		    why,
		    "%s: cannot read the job records: reading them went past the end of "
		    "the file (damage LMDB cannot see; SIGBUS); dcvd does not start on it: "
		    "move state/data.mdb aside to start empty (the CSRs in active/ are then "
		    "taken again)",
		    load->db.path);
		rc = DCV_ESTATE;
	}
	store_guard_disarm();
	db_close(&load->db);
	if (rc == DCV_OK) {
		*recs_out = load->recs.v;
		*n = load->recs.n;
	} else {
		dcv_job_records_free(load->recs.v, load->recs.n);
	}
out:
	free(load);
	return rc;
}

/* ---- retention ---- */

/*
 * Expired ids first, then their removal: the cursor walks the records
 * while expire() deletes files, and the deletes come after it.
 */
int store_db_prune(struct dcv_store *st, store_expire_fn expire,
                   store_before_commit_fn before_commit, void *arg, size_t *removed,
                   struct dcv_why *why)
{
	struct dcv_strv gone = {NULL, 0, 0};
	struct dcv_job_record rec;
	MDB_cursor *cur = NULL;
	struct db db;
	MDB_val k, v;
	int mrc = 0, rc = db_open(&db, st, false, why);

	*removed = 0;
	if (rc < 0)
		goto out;
	if ((mrc = mdb_txn_begin(db.env, NULL, 0, &db.txn)) != 0)
		db.txn = NULL;
	if (mrc == 0)
		mrc = db_dbis(&db, true);
	if (mrc == 0)
		mrc = mdb_cursor_open(db.txn, db.jobs, &cur);
	for (int op = MDB_FIRST; mrc == 0 && rc == DCV_OK; op = MDB_NEXT) {
		if ((mrc = mdb_cursor_get(cur, &k, &v, op)) != 0)
			break;
		rc = dcv_job_record_parse("data.mdb", v.mv_data, v.mv_size, &rec, NULL);
		if (rc == DCV_ESTATE) {
			rc = DCV_OK; /* damaged: the next load reports and removes it */
			continue;
		}
		if (rc == DCV_OK && strlen(rec.id) == k.mv_size &&
		    memcmp(rec.id, k.mv_data, k.mv_size) == 0 && expire(arg, &rec))
			rc = dcv_strv_push(&gone, rec.id);
		dcv_job_record_free(&rec);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	mrc = mrc == MDB_NOTFOUND ? 0 : mrc;
	for (size_t i = 0; i < gone.n && mrc == 0 && rc == DCV_OK; i++)
		mrc = write_op(&db, &(struct store_op){gone.v[i], NULL, 0, NULL});
	if (mrc != 0 || rc < 0 || gone.n == 0)
		goto out;
	if ((rc = before_commit(arg, why)) < 0)
		goto out;
	mrc = mdb_txn_commit(db.txn);
	db.txn = NULL;
	if (mrc == 0)
		*removed = gone.n;
out:
	if (rc == DCV_OK && mrc != 0)
		rc = db_fail(&db, mrc, "cannot delete the job records older than keep", why);
	else if (rc == DCV_ENOMEM)
		dcv_why_set(why, "%s: out of memory reading the job records", db.path);
	db_close(&db);
	dcv_strv_free(&gone);
	malloc_trim(0);
	return rc;
}
