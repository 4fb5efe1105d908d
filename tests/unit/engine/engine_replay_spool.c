/*
 * engine_replay_spool.c -- for test_engine_replay.c (whose header describes
 * the steps): the scenario's sizes, and the steps that act on the
 * spool's files and on the store's LMDB environment behind
 * the engine's back (drop, remove, mkdir, elsewhere, store map, fill store,
 * damage record).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "engine.h"
#include "engine_int.h"
#include "engine_replay_int.h"
#include "replay.h"
#include "store_int.h"
#include "testutil.h"

/* --- helpers ------------------------------------------------------------------ */

/* The whole of a file (malloc'd, NUL-terminated), or NULL when it cannot be read. */
char *er_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, got = 0;

	if (f == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
	} while (got > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

char *er_spool_file(const char *rel)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", er_state.spool, rel);
	return er_slurp(path);
}

void er_drop(const char *line)
{
	char file[256] = "", as[16] = "", name[256] = "", from[4600], to[4400];
	char *data = NULL;
	const char *by = NULL;
	FILE *f = NULL;

	assert_true(sscanf(line, "drop %255s %15s %255s", file, as, name) >= 1);
	if (strcmp(as, "as") != 0)
		name[0] = '\0';
	snprintf(from, sizeof(from), "%s/%s", er_state.source, file);
	if (strchr(name, '/') != NULL)
		snprintf(to, sizeof(to), "%s/%s", er_state.spool, name);
	else
		snprintf(to, sizeof(to), "%s/incoming/%s", er_state.spool, name[0] ? name : file);
	data = er_slurp(from);
	if (data == NULL)
		fail_msg("drop: cannot read %s", from);
	f = fopen(to, "w");
	if (f == NULL)
		fail_msg("drop: cannot write %s: %s", to, strerror(errno));
	fputs(data, f);
	fclose(f);
	free(data);
	if ((by = strstr(line, " by ")) != NULL && chown(to, (uid_t)atoi(by + 4), (gid_t)-1) != 0)
		fail_msg("drop: cannot give %s to uid %s: %s", to, by + 4, strerror(errno));
	if (strchr(name, '/') != NULL)
		return; /* not incoming/: no file event */
	snprintf(to, sizeof(to), "%s/incoming", er_state.spool);
	replay_fs_event(to, name[0] ? name : file);
}

void er_remove(const char *rel)
{
	char path[4400];

	snprintf(path, sizeof(path), "%s/%s", er_state.spool, rel);
	if (unlink(path) != 0)
		fail_msg("remove %s: %s", rel, strerror(errno));
}

/* "4k", "16k", "1m": bytes. */
static size_t ers_size(const char *text)
{
	char *end = NULL;
	unsigned long long v = strtoull(text, &end, 10);

	if (end == text || (strcmp(end, "k") != 0 && strcmp(end, "m") != 0 && *end != '\0'))
		fail_msg("what size is \"%s\"?", text);
	return (size_t)(v << (*end == 'k' ? 10 : *end == 'm' ? 20 : 0));
}

void er_store_map(const char *arg)
{
	if (strncmp(arg, "max ", 4) == 0) {
		assert_non_null(er_state.eng);
		er_state.eng->store->tuning.map_max = ers_size(arg + 4);
	} else if (strcmp(arg, "default") == 0) {
		store_tuning_defaults.map_start = STORE_MAP_START;
		store_tuning_defaults.map_max = STORE_MAP_MAX;
	} else {
		store_tuning_defaults.map_start = store_tuning_defaults.map_max = ers_size(arg);
	}
}

/* SPOOL/state/ as an LMDB environment, its write transaction begun (no engine may run). */
static MDB_env *ers_lmdb_open(MDB_txn **txn)
{
	char dir[4400];
	MDB_env *env = NULL;
	int mrc = 0;

	assert_null(er_state.eng);
	snprintf(dir, sizeof(dir), "%s/state", er_state.spool);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 3), 0);
	if ((mrc = mdb_env_open(env, dir, 0, 0640)) != 0)
		fail_msg("%s: %s", dir, mdb_strerror(mrc));
	assert_int_equal(mdb_txn_begin(env, NULL, 0, txn), 0);
	return env;
}

/*
 * Records, one transaction each, until the map is full: into the database
 * "filler" (2000 bytes each, then smaller and smaller until not even 8
 * bytes fit), then the same into the main database, whose page a new
 * database's record needs: the free pages the last commits left are taken too.
 */
void er_fill(void)
{
	static char blob[2000];
	MDB_txn *txn = NULL;
	MDB_env *env = ers_lmdb_open(&txn);
	MDB_dbi dbi[2];
	MDB_val k, v;
	char key[32];
	int mrc = 0, n = 0;

	memset(blob, 'x', sizeof(blob));
	assert_int_equal(mdb_dbi_open(txn, "filler", MDB_CREATE, &dbi[0]), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi[1]), 0);
	for (int d = 0; d < 2; d++) {
		for (size_t size = sizeof(blob); size >= 8;) {
			snprintf(key, sizeof(key), "filler%06d", n++);
			k.mv_data = key;
			k.mv_size = strlen(key);
			v.mv_data = blob;
			v.mv_size = size;
			mrc = mdb_put(txn, dbi[d], &k, &v, 0);
			if (mrc == 0)
				mrc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
			if (mrc != 0 && mrc != MDB_MAP_FULL)
				fail_msg("fill store: %s", mdb_strerror(mrc));
			if (mrc == MDB_MAP_FULL)
				size /= 2;
			assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
		}
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/*
 * The value of NAME's newest record (ids "NAME~<hex>" sort by time) in the
 * jobs database replaced by text, as a damaged disk might leave it.
 */
void er_damage(const char *line)
{
	char name[256] = "", newest[DCV_JOB_ID_MAX + 1] = "";
	const char *text = "damaged";
	MDB_txn *txn = NULL;
	MDB_env *env = ers_lmdb_open(&txn);
	MDB_cursor *cur = NULL;
	MDB_dbi dbi;
	MDB_val k, v;
	size_t len = 0;

	assert_int_equal(sscanf(line, "damage record %255s", name), 1);
	len = strlen(name);
	if (strlen(line) > strlen("damage record ") + len)
		text = line + strlen("damage record ") + len + 1;
	assert_int_equal(mdb_dbi_open(txn, "jobs", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size > len && k.mv_size < sizeof(newest) &&
		    memcmp(k.mv_data, name, len) == 0 && ((char *)k.mv_data)[len] == '~')
			snprintf(newest, sizeof(newest), "%.*s", (int)k.mv_size, (char *)k.mv_data);
	mdb_cursor_close(cur);
	if (newest[0] == '\0')
		fail_msg("damage: no record of %s", name);
	k.mv_data = newest;
	k.mv_size = strlen(newest);
	v.mv_data = (void *)text;
	v.mv_size = strlen(text);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

void er_mkdir(const char *rel)
{
	char path[4400];

	/* Made now on the faked wall clock (dcvd removes results folders a day old). */
	struct timespec now[2] = {{.tv_sec = time(NULL)}, {.tv_sec = time(NULL)}};

	snprintf(path, sizeof(path), "%s/%s", er_state.spool, rel);
	if (mkdir(path, 0700) != 0 || utimensat(AT_FDCWD, path, now, 0) != 0)
		fail_msg("mkdir %s: %s", rel, strerror(errno));
}

void er_elsewhere(const char *rel)
{
	char path[4400];
	struct stat here, there;

	assert_int_equal(er_state.elsewhere[0], '\0');
	snprintf(er_state.elsewhere, sizeof(er_state.elsewhere), "/dev/shm/dcv-engrep-XXXXXX");
	if (mkdtemp(er_state.elsewhere) == NULL)
		fail_msg("elsewhere: cannot make a folder in /dev/shm: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", er_state.spool, rel);
	if ((rmdir(path) != 0 && errno != ENOENT) || symlink(er_state.elsewhere, path) != 0)
		fail_msg("elsewhere %s: %s", rel, strerror(errno));
	if (stat(er_state.spool, &here) != 0 || stat(er_state.elsewhere, &there) != 0 ||
	    here.st_dev == there.st_dev)
		fail_msg("elsewhere: /dev/shm is on the spool's file system here");
}
