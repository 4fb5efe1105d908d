/*
 * test_spool.c -- the spool on a real libuv loop in a temporary folder.
 *
 * Files are dropped the way operators must drop them: written elsewhere,
 * then rename()d into incoming/. The CSRs come from tests/data/gen-csrs.sh
 * (whose .expect files hold openssl's hashes) and from the gen_csrs tool
 * for bursts. A repeating 5 ms timer runs beside every test: that it keeps
 * ticking proves the loop is never blocked, and it bounds each loop turn so
 * that waits poll with a deadline instead of sleeping.
 *
 * The policy callback behaves as the daemon will: every NAME delivered
 * into active/ counts as an active job from then on, and (when a test asks)
 * refused files are moved to failed/ as the daemon does.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "dcv/names.h"
#include "spool.h"
#include "store.h"
#include "testutil.h"

static struct dcv_psl *psl;

/* What the items callback saw of one item. */
struct got {
	char name[256];
	char file[264];
	char src[DCV_SPOOL_FILE_MAX + 1];
	char src_sidecar[DCV_SPOOL_FILE_MAX + 2];
	char ext[8];
	uid_t owner_uid;
	gid_t owner_gid;
	char owner_name[64];
	struct dcv_spool_entry entry;
	enum dcv_spool_where where;
	int status;
	bool has_sidecar;
	bool in_incoming, in_active; /* where the file was when delivered */
	char why[512];
	char md5[33];
	char target[128];
	unsigned scan; /* the policy call it belongs to */
};

struct fx {
	uv_loop_t loop;
	uv_timer_t tick;
	unsigned long ticks;
	char root[PATH_MAX];
	char spool[PATH_MAX + 16];
	char tmp[PATH_MAX + 16];
	struct dcv_spool *sp;
	struct got *got;
	size_t ngot, capgot;
	size_t calls, max_chunk;
	unsigned policies;
	const char *active[4];
	size_t max_claims;
	bool move_refused, close_in_items, close_in_policy;
	bool move_sidecars;  /* move_refused takes the sidecar along, as the daemon does */
	bool ignore_refused; /* refused items go to dcv_spool_ignore() instead */
	bool close_requested;
	unsigned closed;
	size_t after_close;    /* items delivered after the close */
	size_t first_deferred; /* stats.deferred at the first delivery */
	bool have_first_deferred;
};

static void on_tick(uv_timer_t *t)
{
	((struct fx *)t->data)->ticks++;
}

static void on_closed(void *arg)
{
	((struct fx *)arg)->closed++;
}

static void fx_close(struct fx *f)
{
	f->close_requested = true;
	dcv_spool_close(f->sp, on_closed, f);
}

static void fx_init(struct fx *f, const struct dcv_spool_opts *opts)
{
	const char *base = getenv("TMPDIR");
	struct dcv_why why;

	memset(f, 0, sizeof(*f));
	f->max_claims = SIZE_MAX;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	snprintf(f->root, sizeof(f->root), "%s/dcv-spool-XXXXXX",
	         base != NULL && base[0] != '\0' ? base : "/tmp");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->root);
	snprintf(f->tmp, sizeof(f->tmp), "%s/tmp", f->root);
	assert_int_equal(mkdir(f->tmp, 0700), 0);
	if (dcv_spool_open(&f->loop, f->spool, opts, &f->sp, &why) != 0)
		fail_msg("dcv_spool_open: %s", why.text);
	uv_timer_init(&f->loop, &f->tick);
	f->tick.data = f;
	uv_timer_start(&f->tick, on_tick, 5, 5);
}

/* Runs the loop until pred holds or ms pass; true when it holds. */
static bool run_until(struct fx *f, bool (*pred)(struct fx *), uint64_t ms)
{
	uint64_t end;

	uv_update_time(&f->loop);
	end = uv_now(&f->loop) + ms;
	while (!pred(f) && uv_now(&f->loop) < end)
		uv_run(&f->loop, UV_RUN_ONCE);
	return pred(f);
}

static bool never(struct fx *f)
{
	return false;
}

static bool is_idle(struct fx *f)
{
	struct dcv_spool_stats st;

	dcv_spool_stats(f->sp, &st);
	return st.scans > 0 && !st.busy;
}

static bool is_closed(struct fx *f)
{
	return f->closed > 0;
}

/* No scan runs or is due, also after the inotify events of the last moves have come in. */
static void settle(struct fx *f)
{
	assert_true(run_until(f, is_idle, 20000));
	run_until(f, never, 100);
	assert_true(run_until(f, is_idle, 20000));
}

static void fx_done(struct fx *f)
{
	if (!f->close_requested)
		fx_close(f);
	assert_true(run_until(f, is_closed, 20000));
	assert_int_equal(f->closed, 1);
	uv_close((uv_handle_t *)&f->tick, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	tu_run_line("rm -rf '%s'", f->root);
	free(f->got);
}

static void policy_cb(void *arg, struct dcv_spool_policy *p)
{
	struct fx *f = arg;

	f->policies++;
	/* Zeroed on entry: the contract says so. */
	assert_int_equal(p->max_claims, 0);
	assert_int_equal(p->active_names.n, 0);
	for (size_t i = 0; i < 4 && f->active[i] != NULL; i++)
		assert_int_equal(dcv_strv_push(&p->active_names, f->active[i]), 0);
	for (size_t i = 0; i < f->ngot; i++)
		if (f->got[i].where == DCV_SPOOL_ACTIVE)
			assert_int_equal(dcv_strv_push_unique(&p->active_names, f->got[i].name), 0);
	p->max_claims = f->max_claims;
	p->opts.target = "sectigo.com"; /* not p->target: the spool copies it */
	p->psl = psl;
	if (f->close_in_policy && !f->close_requested)
		fx_close(f);
}

static bool exists(struct fx *f, const char *dir, const char *file)
{
	char path[PATH_MAX * 2];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", f->spool, dir, file);
	return lstat(path, &st) == 0;
}

static void items_cb(void *arg, struct dcv_spool_item *items, size_t n)
{
	struct fx *f = arg;
	struct dcv_spool_stats st;
	char from[PATH_MAX * 2], to[PATH_MAX * 2];

	assert_true(n > 0);
	f->calls++;
	if (n > f->max_chunk)
		f->max_chunk = n;
	if (f->close_requested)
		f->after_close += n;
	if (!f->have_first_deferred) {
		dcv_spool_stats(f->sp, &st);
		f->first_deferred = st.deferred;
		f->have_first_deferred = true;
	}
	for (size_t i = 0; i < n; i++) {
		struct dcv_spool_item *it = &items[i];
		struct got *g;

		if (f->ngot == f->capgot) {
			f->capgot = f->capgot ? 2 * f->capgot : 64;
			f->got = realloc(f->got, f->capgot * sizeof(*f->got));
			assert_non_null(f->got);
		}
		g = &f->got[f->ngot++];
		memset(g, 0, sizeof(*g));
		snprintf(g->name, sizeof(g->name), "%s", it->name);
		snprintf(g->file, sizeof(g->file), "%s", it->file);
		snprintf(g->ext, sizeof(g->ext), "%s", it->ext);
		snprintf(g->src, sizeof(g->src), "%s", it->src);
		snprintf(g->src_sidecar, sizeof(g->src_sidecar), "%s", it->src_sidecar);
		snprintf(g->owner_name, sizeof(g->owner_name), "%s", it->owner_name);
		g->owner_uid = it->owner_uid;
		g->owner_gid = it->owner_gid;
		g->entry = it->entry;
		g->where = it->where;
		g->status = it->status;
		g->has_sidecar = it->has_sidecar;
		/* Claimed files keep their name; src is the name in incoming/. */
		if (it->where == DCV_SPOOL_ACTIVE)
			assert_string_equal(it->src, it->file);
		g->in_incoming = exists(f, "incoming", it->src);
		g->in_active = exists(f, "active", it->file);
		snprintf(g->why, sizeof(g->why), "%s", it->why.text);
		g->scan = f->policies;
		if (it->status == DCV_OK)
			assert_non_null(it->req);
		if (it->req != NULL) {
			snprintf(g->md5, sizeof(g->md5), "%s", it->req->csr->md5_hex);
			snprintf(g->target, sizeof(g->target), "%s", it->req->target);
		}
		if (f->move_refused && it->where == DCV_SPOOL_INCOMING) {
			snprintf(from, sizeof(from), "%s/incoming/%s", f->spool, it->src);
			snprintf(to, sizeof(to), "%s/failed/%s", f->spool, it->file);
			assert_int_equal(rename(from, to), 0);
		}
		if (f->move_refused && f->move_sidecars && it->where == DCV_SPOOL_INCOMING &&
		    it->has_sidecar) {
			snprintf(from, sizeof(from), "%s/incoming/%s", f->spool, it->src_sidecar);
			snprintf(to, sizeof(to), "%s/failed/%s.yaml", f->spool, it->name);
			assert_int_equal(rename(from, to), 0);
		}
		if (f->ignore_refused && it->where == DCV_SPOOL_INCOMING)
			dcv_spool_ignore(f->sp, it->src, &it->entry);
		dcv_spool_item_free(it);
		dcv_spool_item_free(it); /* harmless twice */
	}
	if (f->close_in_items && !f->close_requested)
		fx_close(f);
}

static void fx_start(struct fx *f)
{
	assert_int_equal(dcv_spool_start(f->sp, policy_cb, items_cb, f), 0);
	assert_int_equal(dcv_spool_start(f->sp, policy_cb, items_cb, f), DCV_EINVAL);
}

static const struct got *find(struct fx *f, const char *file)
{
	const struct got *hit = NULL;

	for (size_t i = 0; i < f->ngot; i++) {
		if (strcmp(f->got[i].file, file) != 0)
			continue;
		if (hit != NULL)
			fail_msg("%s delivered twice", file);
		hit = &f->got[i];
	}
	if (hit == NULL)
		fail_msg("%s not delivered", file);
	return hit;
}

/* Writes data to tmp/name, then renames it into incoming/. */
static void drop_data(struct fx *f, const char *name, const void *data, size_t len)
{
	char tmp[PATH_MAX * 2], dst[PATH_MAX * 2];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s/%s", f->tmp, name);
	snprintf(dst, sizeof(dst), "%s/incoming/%s", f->spool, name);
	fp = fopen(tmp, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, dst), 0);
}

static void drop_text(struct fx *f, const char *name, const char *text)
{
	drop_data(f, name, text, strlen(text));
}

/* Drops a copy of DATA/<src> as name. */
static void drop_copy(struct fx *f, const char *src, const char *name)
{
	char path[PATH_MAX];
	unsigned char *buf = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/%s", tu_data_dir(), src);
	assert_int_equal(dcv_read_file(path, 1 << 20, &buf, &len, NULL), 0);
	drop_data(f, name, buf, len);
	free(buf);
}

/* Makes count CSRs with gen_csrs in tmp/gen and renames them into incoming/. */
static void drop_generated(struct fx *f, int count)
{
	const char *build = getenv("DCV_BUILD_DIR");
	char gen[PATH_MAX * 2], from[PATH_MAX * 3], to[PATH_MAX * 3];

	assert_non_null(build);
	snprintf(gen, sizeof(gen), "%s/gen", f->tmp);
	assert_int_equal(mkdir(gen, 0700), 0);
	assert_string_equal(tu_run_line("'%s/tests/gen_csrs' '%s' %d example.test >/dev/null "
	                                "2>&1 && echo ok",
	                                build, gen, count),
	                    "ok");
	for (int i = 0; i < count; i++) {
		snprintf(from, sizeof(from), "%s/r%d.csr", gen, i);
		snprintf(to, sizeof(to), "%s/incoming/r%d.csr", f->spool, i);
		assert_int_equal(rename(from, to), 0);
	}
}

static size_t count_dir(struct fx *f, const char *dir)
{
	return (size_t)strtoul(tu_run_line("ls -A '%s/%s' | wc -l", f->spool, dir), NULL, 10);
}

/* md5 and record target openssl computed for DATA/good/<stem>. */
static void oracle(const char *stem, const char *unique, const char *base, char *md5, char *target,
                   size_t tsize)
{
	const char *dir = tu_data_dir();
	char sha256[65];

	snprintf(md5, 33, "%s", tu_run_line("sed -n 's/^md5 //p' '%s/good/%s.expect'", dir, stem));
	snprintf(sha256, sizeof(sha256), "%s",
	         tu_run_line("sed -n 's/^sha256 //p' '%s/good/%s.expect'", dir, stem));
	assert_int_equal(strlen(md5), 32);
	assert_int_equal(strlen(sha256), 64);
	snprintf(target, tsize, "%.32s.%.32s%s%s.%s.", sha256, sha256 + 32, unique ? "." : "",
	         unique ? unique : "", base);
}

static void assert_refused(struct fx *f, const char *file, const char *why)
{
	const struct got *g = find(f, file);

	assert_int_equal(g->where, DCV_SPOOL_INCOMING);
	assert_true(g->status < 0);
	assert_string_equal(g->why, why);
	assert_true(g->in_incoming);
	assert_false(g->in_active);
}

/* Claimed into active/ but failed; why starts with "active/FILE: " and holds reason. */
static void assert_failed(struct fx *f, const char *file, int status, const char *reason)
{
	const struct got *g = find(f, file);
	char prefix[300];

	snprintf(prefix, sizeof(prefix), "active/%s: ", file);
	assert_int_equal(g->where, DCV_SPOOL_ACTIVE);
	if (status != 0)
		assert_int_equal(g->status, status);
	assert_true(g->status < 0);
	if (strncmp(g->why, prefix, strlen(prefix)) != 0 || strstr(g->why, reason) == NULL)
		fail_msg("%s: why '%s' lacks '%s' or '%s'", file, g->why, prefix, reason);
	assert_true(g->in_active);
	assert_false(g->in_incoming);
}

static void test_open_modes(void **state)
{
	static const char *const dirs[] = {"incoming", "active", "done", "failed"};
	static const unsigned modes[] = {03770, 0750, 0750, 0750};
	struct dcv_spool *again = NULL;
	struct dcv_why why;
	struct stat st;
	char path[PATH_MAX * 2];
	mode_t old = umask(027);
	struct fx f;

	fx_init(&f, NULL);
	umask(old);
	assert_string_equal(dcv_spool_path(f.sp), f.spool);
	assert_int_equal(lstat(f.spool, &st), 0);
	if ((st.st_mode & 07777) != 0710)
		fail_msg("%s: mode %o, want 710 (as dcvd.tmpfiles)", f.spool, st.st_mode & 07777);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", f.spool, dirs[i]);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		if ((st.st_mode & 07777) != modes[i])
			fail_msg("%s: mode %o, want %o", path, st.st_mode & 07777, modes[i]);
	}
	assert_int_equal(dcv_spool_file_path(f.sp, "done", "x.status", path, sizeof(path)), 0);
	assert_true(strstr(path, "/spool/done/x.status") != NULL);
	assert_int_equal(dcv_spool_file_path(f.sp, "done", "x.status", path, 8), DCV_EINVAL);

	/* Existing folders are used as they are (the operator may have chosen other modes). */
	snprintf(path, sizeof(path), "%s/done", f.spool);
	assert_int_equal(chmod(path, 0700), 0);
	assert_int_equal(dcv_spool_open(&f.loop, f.spool, NULL, &again, &why), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	dcv_spool_close(again, NULL, NULL);

	/* A spool path that is a file, and one whose parent is missing. */
	snprintf(path, sizeof(path), "%s/afile", f.tmp);
	assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	again = NULL;
	assert_int_equal(dcv_spool_open(&f.loop, path, NULL, &again, &why), DCV_EIO);
	assert_null(again);
	assert_true(strstr(why.text, path) != NULL);
	snprintf(path, sizeof(path), "%s/no/such", f.tmp);
	assert_int_equal(dcv_spool_open(&f.loop, path, NULL, &again, &why), DCV_EIO);
	assert_true(strstr(why.text, path) != NULL);
	assert_true(strstr(why.text, "No such file") != NULL);
	/* Never started: close still works (fx_done closes f.sp). */
	fx_done(&f);
}

static void test_good(void **state)
{
	char md5[33], target[128];
	struct dcv_spool_stats st;
	const struct got *g;
	struct fx f;

	fx_init(&f, NULL);
	/* Present before start: the first full scan finds them. */
	drop_copy(&f, "good/rsa.pem", "job1.pem");
	drop_copy(&f, "good/mixed-der.der", "Job2.DER");
	drop_copy(&f, "good/ec.pem", "job3.csr");
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 3);

	g = find(&f, "job1.pem");
	oracle("rsa", NULL, "sectigo.com", md5, target, sizeof(target));
	assert_int_equal(g->status, DCV_OK);
	assert_int_equal(g->where, DCV_SPOOL_ACTIVE);
	assert_string_equal(g->name, "job1");
	assert_string_equal(g->ext, "pem");
	assert_false(g->has_sidecar);
	assert_string_equal(g->md5, md5);
	assert_string_equal(g->target, target);
	assert_true(g->in_active);
	assert_false(g->in_incoming);

	g = find(&f, "Job2.DER");
	oracle("mixed-der", NULL, "sectigo.com", md5, target, sizeof(target));
	assert_int_equal(g->status, DCV_OK);
	assert_string_equal(g->name, "Job2");
	assert_string_equal(g->ext, "der");
	assert_string_equal(g->md5, md5);
	assert_true(exists(&f, "active", "Job2.DER"));

	g = find(&f, "job3.csr");
	oracle("ec", NULL, "sectigo.com", md5, target, sizeof(target));
	assert_int_equal(g->status, DCV_OK);
	assert_string_equal(g->md5, md5);

	assert_int_equal(count_dir(&f, "incoming"), 0);
	assert_int_equal(count_dir(&f, "active"), 3);
	dcv_spool_stats(f.sp, &st);
	assert_int_equal(st.claimed, 3);
	assert_int_equal(st.refused, 0);
	fx_done(&f);
}

static int cmp_got_name(const void *a, const void *b)
{
	return strcmp(((const struct got *)a)->name, ((const struct got *)b)->name);
}

static void test_burst(void **state)
{
	struct fx f;
	char md5[64];

	fx_init(&f, NULL);
	fx_start(&f);
	settle(&f);
	drop_generated(&f, 500);
	assert_true(run_until(&f, is_idle, 30000));
	settle(&f);
	assert_int_equal(f.ngot, 500);
	/* Several chunks of at most the default 64 (500 files: at least 8). */
	assert_true(f.calls >= 8);
	assert_true(f.max_chunk <= 64);
	qsort(f.got, f.ngot, sizeof(*f.got), cmp_got_name);
	for (size_t i = 0; i < f.ngot; i++) {
		assert_int_equal(f.got[i].status, DCV_OK);
		assert_int_equal(f.got[i].where, DCV_SPOOL_ACTIVE);
		if (i > 0 && strcmp(f.got[i - 1].name, f.got[i].name) == 0)
			fail_msg("%s delivered twice", f.got[i].name);
	}
	assert_int_equal(count_dir(&f, "incoming"), 0);
	assert_int_equal(count_dir(&f, "active"), 500);
	/* openssl's md5 of one of them, over the DER bytes. */
	snprintf(md5, sizeof(md5), "%s",
	         tu_run_line("openssl req -in '%s/active/r123.csr' -outform DER | "
	                     "openssl dgst -md5 -r | cut -d' ' -f1",
	                     f.spool));
	assert_string_equal(find(&f, "r123.csr")->md5, md5);
	fx_done(&f);
}

/* The expected reason for DATA/bad/<file> from bad.tsv. */
static const char *bad_reason(const char *file)
{
	return tu_run_line("awk -F'\\t' '$1 == \"%s\" { print $2 }' '%s/bad/bad.tsv'", file,
	                   tu_data_dir());
}

static void test_refused(void **state)
{
	static const char *const bad[] = {"random.csr", "badsig.pem", "cert.csr",
	                                  "couk.csr",   "iponly.csr", NULL};
	struct dcv_spool_opts opts = {.chunk = 1};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char path[PATH_MAX * 2], src[PATH_MAX], reason[256];
	static char big[1 << 20];
	unsigned long ticks0;
	int s = -1;
	struct fx f;

	fx_init(&f, &opts);
	f.move_refused = true;
	snprintf(src, sizeof(src), "%s/good/rsa.pem", tu_data_dir());
	snprintf(path, sizeof(path), "%s/incoming/lnk.csr", f.spool);
	assert_int_equal(symlink(src, path), 0);
	snprintf(path, sizeof(path), "%s/incoming/zero.csr", f.spool);
	assert_int_equal(symlink("/dev/zero", path), 0);
	/* More FIFOs than pool threads, one per job: a blocking open would starve the pool. */
	for (int i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "%s/incoming/fifo%d.csr", f.spool, i);
		assert_int_equal(mkfifo(path, 0600), 0);
	}
	snprintf(path, sizeof(path), "%s/incoming/dir.csr", f.spool);
	assert_int_equal(mkdir(path, 0700), 0);
	/* A socket only where its path fits sun_path (TMPDIR may be long). */
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/incoming/sock.csr", f.spool) <
	    (int)sizeof(sun.sun_path)) {
		s = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_true(s >= 0);
		assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	}
	memset(big, '-', sizeof(big));
	drop_data(&f, "big.csr", big, sizeof(big));
	drop_data(&f, "empty.csr", "", 0);
	for (int i = 0; bad[i] != NULL; i++) {
		snprintf(path, sizeof(path), "bad/%s", bad[i]);
		drop_copy(&f, path, bad[i]);
	}
	drop_copy(&f, "good/rsa.pem", "fine.pem");

	ticks0 = f.ticks;
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 12 + (s >= 0) + 5);
	assert_refused(&f, "lnk.csr",
	               "incoming/lnk.csr: a symbolic link, refused (never followed)");
	assert_refused(&f, "zero.csr",
	               "incoming/zero.csr: a symbolic link, refused (never followed)");
	for (int i = 0; i < 6; i++) {
		char file[32], why[128];

		snprintf(file, sizeof(file), "fifo%d.csr", i);
		snprintf(why, sizeof(why), "incoming/%s: a FIFO, not a regular file", file);
		assert_refused(&f, file, why);
	}
	assert_refused(&f, "dir.csr", "incoming/dir.csr: a directory, not a regular file");
	if (s >= 0)
		assert_refused(&f, "sock.csr", "incoming/sock.csr: a socket, not a regular file");
	assert_refused(
	    &f, "big.csr",
	    "incoming/big.csr: file of 1048576 bytes is larger than the limit of 65536 bytes");
	assert_failed(&f, "empty.csr", DCV_ENOTCSR, "empty file");
	for (int i = 0; bad[i] != NULL; i++) {
		snprintf(reason, sizeof(reason), "%s", bad_reason(bad[i]));
		assert_true(reason[0] != '\0');
		assert_failed(&f, bad[i], 0, reason);
	}
	assert_int_equal(find(&f, "fine.pem")->status, DCV_OK);
	/*
	 * The loop kept ticking, and the spool keeps working: had a FIFO been
	 * opened blocking, the six FIFO jobs would hold every pool thread and
	 * later.pem would never be claimed (nor would closing finish).
	 */
	assert_true(f.ticks > ticks0);
	drop_copy(&f, "good/ec.pem", "later.pem");
	settle(&f);
	assert_int_equal(find(&f, "later.pem")->status, DCV_OK);
	assert_int_equal(f.ngot, 12 + (s >= 0) + 6);
	fx_done(&f);
	if (s >= 0)
		close(s);
}

static void test_unreadable(void **state)
{
	struct fx f;

	/* Root reads a mode 000 file anyway: as root, the test runs as uid 65534. */
	if (tu_rerun_as_nobody("test_unreadable"))
		return;
	fx_init(&f, NULL);
	drop_copy(&f, "good/rsa.pem", "locked.pem");
	tu_run_line("chmod 000 '%s/incoming/locked.pem'", f.spool);
	fx_start(&f);
	settle(&f);
	assert_refused(&f, "locked.pem", "incoming/locked.pem: cannot open: Permission denied");
	fx_done(&f);
}

static void test_sidecar_values(void **state)
{
	char md5[33], target[128];
	const struct got *g;
	struct fx f;

	fx_init(&f, NULL);
	/* Sidecars first, as operators must drop them. */
	drop_text(&f, "u.yaml", "unique_value: AbC123\n");
	drop_copy(&f, "good/rsa.pem", "u.pem");
	drop_text(&f, "t.yaml", "target: ComodoCA.com.\n");
	drop_copy(&f, "good/rsa.pem", "t.pem");
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 2);

	g = find(&f, "u.pem");
	oracle("rsa", "abc123", "sectigo.com", md5, target, sizeof(target));
	assert_int_equal(g->status, DCV_OK);
	assert_true(g->has_sidecar);
	assert_string_equal(g->target, target);
	assert_true(exists(&f, "active", "u.yaml"));

	g = find(&f, "t.pem");
	oracle("rsa", NULL, "comodoca.com", md5, target, sizeof(target));
	assert_int_equal(g->status, DCV_OK);
	assert_string_equal(g->target, target);
	assert_true(exists(&f, "active", "t.yaml"));
	assert_int_equal(count_dir(&f, "incoming"), 0);
	fx_done(&f);
}

static void test_sidecar_bad(void **state)
{
	char md5[33], target[128], expect[512], yaml[600], src[PATH_MAX * 2], path[PATH_MAX * 2];
	static char big[70000];
	const struct got *g;
	struct fx f;

	fx_init(&f, NULL);
	f.move_refused = true;
	oracle("rsa", NULL, "sectigo.com", md5, target, sizeof(target));
	/* The CA's record differs in the target. */
	snprintf(expect, sizeof(expect),
	         "_%s.www.example.test. CNAME 0123456789abcdef0123456789abcdef."
	         "0123456789abcdef0123456789abcdef.sectigo.com.",
	         md5);
	snprintf(yaml, sizeof(yaml), "expect:\n  - \"%s\"\n", expect);
	drop_text(&f, "m.yaml", yaml);
	drop_copy(&f, "good/rsa.pem", "m.pem");
	/* A sidecar that does not parse. */
	drop_text(&f, "k.yaml", "colour: blue\n");
	drop_copy(&f, "good/rsa.pem", "k.pem");
	/* A sidecar that is a symlink (to a harmless file), one over the limit. */
	drop_text(&f, "real.txt", "unique_value: abc\n");
	snprintf(src, sizeof(src), "%s/incoming/real.txt", f.spool);
	snprintf(path, sizeof(path), "%s/incoming/s.yaml", f.spool);
	assert_int_equal(symlink(src, path), 0);
	drop_copy(&f, "good/rsa.pem", "s.pem");
	memset(big, '#', sizeof(big));
	drop_data(&f, "b.yaml", big, sizeof(big));
	drop_copy(&f, "good/rsa.pem", "b.pem");
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 4);

	g = find(&f, "m.pem");
	assert_failed(&f, "m.pem", DCV_EMISMATCH, expect);
	if (strstr(g->why, target) == NULL || strstr(g->why, "_") == NULL)
		fail_msg("why does not name the computed record: %s", g->why);
	snprintf(expect, sizeof(expect), "_%s.www.example.test. CNAME %s", md5, target);
	if (strstr(g->why, expect) == NULL)
		fail_msg("why lacks '%s': %s", expect, g->why);
	assert_string_equal(g->md5, md5); /* the request is there for the status */
	assert_true(g->has_sidecar);
	assert_true(exists(&f, "active", "m.yaml"));

	assert_failed(&f, "k.pem", DCV_EINVAL, "active/k.yaml:1:1:");
	assert_true(exists(&f, "active", "k.yaml"));

	assert_refused(&f, "s.pem", "incoming/s.yaml: a symbolic link, refused (never followed)");
	assert_true(find(&f, "s.pem")->has_sidecar);
	assert_true(exists(&f, "incoming", "s.yaml")); /* the test moved only s.pem */
	assert_refused(
	    &f, "b.pem",
	    "incoming/b.yaml: file of 70000 bytes is larger than the limit of 65536 bytes");
	fx_done(&f);
}

static void test_ignored(void **state)
{
	char longname[300];
	struct fx f;

	fx_init(&f, NULL);
	drop_copy(&f, "good/rsa.pem", ".hidden.csr");
	drop_copy(&f, "good/rsa.pem", ".csr");
	drop_copy(&f, "good/rsa.pem", "x.txt");
	drop_copy(&f, "good/rsa.pem", "x.csr~");
	drop_copy(&f, "good/rsa.pem", "x.csr.tmp");
	drop_copy(&f, "good/rsa.pem", "noext");
	drop_text(&f, "orphan.yaml", "unique_value: abc\n");
	/* 248 bytes: ignored; 247 (a NAME of DCV_JOB_NAME_MAX): the longest name taken. */
	memset(longname, 'l', 244);
	memcpy(longname + 244, ".csr", 5);
	drop_copy(&f, "good/rsa.pem", longname);
	longname[243] = '\0';
	strcat(longname, ".csr");
	assert_int_equal(strlen(longname), DCV_JOB_NAME_MAX + 4);
	drop_copy(&f, "good/rsa.pem", longname);
	drop_copy(&f, "good/rsa.pem", "UPPER.PEM");
	drop_copy(&f, "good/rsa.pem", "Mixed.Csr");
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 3);
	assert_int_equal(find(&f, longname)->status, DCV_OK);
	assert_string_equal(find(&f, "UPPER.PEM")->ext, "pem");
	assert_string_equal(find(&f, "Mixed.Csr")->ext, "csr");
	assert_int_equal(count_dir(&f, "incoming"), 8);
	assert_true(exists(&f, "incoming", "orphan.yaml"));
	fx_done(&f);
}

static void test_active_names(void **state)
{
	struct dcv_spool_stats st;
	struct fx f;

	fx_init(&f, NULL);
	f.active[0] = "a";
	drop_copy(&f, "good/rsa.pem", "a.pem");
	drop_copy(&f, "good/rsa.pem", "b.pem");
	/* Two files of one NAME: one job at a time. */
	drop_copy(&f, "good/rsa.pem", "d.csr");
	drop_copy(&f, "good/ec.pem", "d.pem");
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 2);
	assert_int_equal(find(&f, "b.pem")->status, DCV_OK);
	assert_int_equal(find(&f, "d.csr")->status, DCV_OK);
	assert_true(exists(&f, "incoming", "a.pem"));
	assert_true(exists(&f, "incoming", "d.pem"));
	dcv_spool_stats(f.sp, &st);
	assert_int_equal(st.held, 2);

	/* The job of "a" ended: a kick claims it now. */
	f.active[0] = NULL;
	dcv_spool_kick(f.sp);
	settle(&f);
	assert_int_equal(f.ngot, 3);
	assert_int_equal(find(&f, "a.pem")->status, DCV_OK);
	assert_true(exists(&f, "incoming", "d.pem"));
	fx_done(&f);
}

static void test_max_claims(void **state)
{
	struct dcv_spool_opts opts = {.rescan_ms = 3600 * 1000, .chunk = 2};
	struct dcv_spool_stats st;
	size_t per_scan[64] = {0};
	char path[PATH_MAX * 2];
	struct fx f;

	fx_init(&f, &opts);
	f.max_claims = 0;
	f.move_refused = true;
	drop_generated(&f, 10);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/incoming/f%d.csr", f.spool, i);
		assert_int_equal(mkfifo(path, 0600), 0);
	}
	/* 0: intake paused. */
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 0);
	dcv_spool_stats(f.sp, &st);
	assert_int_equal(st.deferred, 12);

	/* 3 per scan, refused files included; each kick takes the next 3. */
	f.max_claims = 3;
	for (int k = 0; k < 10 && f.ngot < 12; k++) {
		dcv_spool_kick(f.sp);
		settle(&f);
	}
	assert_int_equal(f.ngot, 12);
	assert_int_equal(f.first_deferred, 9);
	for (size_t i = 0; i < f.ngot; i++) {
		assert_true(f.got[i].scan < 64);
		per_scan[f.got[i].scan]++;
	}
	for (size_t i = 0; i < 64; i++)
		if (per_scan[i] > 3)
			fail_msg("scan %zu delivered %zu items", i, per_scan[i]);
	assert_int_equal(find(&f, "f0.csr")->where, DCV_SPOOL_INCOMING);
	assert_int_equal(find(&f, "r9.csr")->status, DCV_OK);
	assert_int_equal(count_dir(&f, "incoming"), 0);
	assert_int_equal(count_dir(&f, "active"), 10);
	assert_int_equal(count_dir(&f, "failed"), 2);
	fx_done(&f);
}

static bool got_one(struct fx *f)
{
	return f->ngot >= 1;
}

static void test_inotify(void **state)
{
	struct dcv_spool_opts opts = {.rescan_ms = 3600 * 1000};
	struct dcv_spool_stats st;
	uint64_t t0;
	struct fx f;

	fx_init(&f, &opts);
	fx_start(&f);
	settle(&f);
	uv_update_time(&f.loop);
	t0 = uv_now(&f.loop);
	drop_copy(&f, "good/rsa.pem", "late.pem");
	assert_true(run_until(&f, got_one, 2000));
	assert_true(uv_now(&f.loop) - t0 < 1000);
	assert_int_equal(find(&f, "late.pem")->status, DCV_OK);
	dcv_spool_stats(f.sp, &st);
	assert_true(st.scans >= 2);
	fx_done(&f);
}

static void test_rescan(void **state)
{
	struct dcv_spool_opts opts = {.rescan_ms = 3600 * 1000, .no_watch = true};
	struct fx f;

	/* Without inotify and without a due rescan, nothing notices a new file... */
	fx_init(&f, &opts);
	fx_start(&f);
	settle(&f);
	drop_copy(&f, "good/rsa.pem", "late.pem");
	assert_false(run_until(&f, got_one, 500));
	fx_done(&f);

	/* ...so with a rescan every 200 ms, the rescan is what finds it. */
	opts.rescan_ms = 200;
	fx_init(&f, &opts);
	fx_start(&f);
	settle(&f);
	drop_copy(&f, "good/rsa.pem", "late.pem");
	assert_true(run_until(&f, got_one, 3000));
	assert_int_equal(find(&f, "late.pem")->status, DCV_OK);
	fx_done(&f);
}

/* Every file is in incoming/ or in active/: none lost, none copied. */
static void assert_all_kept(struct fx *f, size_t count)
{
	assert_int_equal(count_dir(f, "incoming") + count_dir(f, "active"), count);
}

static void test_close_in_items(void **state)
{
	struct dcv_spool_opts opts = {.chunk = 8};
	struct fx f;

	fx_init(&f, &opts);
	drop_generated(&f, 500);
	f.close_in_items = true;
	fx_start(&f);
	assert_true(run_until(&f, is_closed, 30000));
	assert_int_equal(f.closed, 1);
	assert_int_equal(f.calls, 1);
	assert_true(f.ngot >= 1 && f.ngot <= 8);
	assert_int_equal(f.after_close, 0);
	/* Canceled chunks left their files in incoming/. */
	assert_true(count_dir(&f, "incoming") > 0);
	assert_all_kept(&f, 500);
	fx_done(&f);
}

static void test_close_in_policy(void **state)
{
	struct fx f;

	fx_init(&f, NULL);
	drop_generated(&f, 50);
	f.close_in_policy = true;
	fx_start(&f);
	assert_true(run_until(&f, is_closed, 30000));
	assert_int_equal(f.policies, 1);
	assert_int_equal(f.ngot, 0);
	assert_int_equal(count_dir(&f, "incoming"), 50);
	fx_done(&f);
}

static bool asked(struct fx *f)
{
	return f->policies > 0;
}

static void test_close_mid_scan(void **state)
{
	struct fx f;

	fx_init(&f, NULL);
	drop_generated(&f, 500);
	fx_start(&f);
	assert_true(run_until(&f, asked, 5000));
	/* The scan's jobs are queued or running now: none of them delivers. */
	assert_int_equal(f.ngot, 0);
	fx_close(&f);
	dcv_spool_kick(f.sp); /* ignored while closing */
	assert_true(run_until(&f, is_closed, 30000));
	assert_int_equal(f.ngot, 0);
	assert_int_equal(f.policies, 1);
	assert_all_kept(&f, 500);
	fx_done(&f);
}

/* lstat of SPOOL/dir/file. */
static void spool_stat(struct fx *f, const char *dir, const char *file, struct stat *st)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s/%s", f->spool, dir, file);
	if (lstat(path, st) != 0)
		fail_msg("lstat %s: %s", path, strerror(errno));
}

static void assert_entry(const struct dcv_spool_entry *e, const struct stat *st)
{
	assert_true(e->dev == st->st_dev);
	assert_true(e->ino == st->st_ino);
	assert_int_equal(e->mode, st->st_mode & S_IFMT);
	assert_int_equal(e->ctime_sec, st->st_ctim.tv_sec);
	assert_int_equal(e->ctime_nsec, st->st_ctim.tv_nsec);
}

/* How many items of that file were delivered. */
static size_t count_got(struct fx *f, const char *file)
{
	size_t n = 0;

	for (size_t i = 0; i < f->ngot; i++)
		n += strcmp(f->got[i].file, file) == 0;
	return n;
}

static void test_unsafe_names(void **state)
{
	char longa[120], longb[120], shown[64], why[512];
	const struct got *g, *ga, *gb;
	bool escaped = false;
	struct dcv_spool_stats st;
	struct fx f;

	fx_init(&f, NULL);
	f.move_refused = true;
	f.move_sidecars = true;
	drop_copy(&f, "good/rsa.pem", "b\x01.csr");
	drop_copy(&f, "good/rsa.pem", "c\xff.PEM");
	drop_copy(&f, "good/rsa.pem", "t~1.csr");
	drop_copy(&f, "good/rsa.pem", "back\\slash.der");
	/* A sidecar goes to failed/ under the safe NAME too. */
	drop_text(&f, "s\x1b[31m.yaml", "unique_value: abc\n");
	drop_copy(&f, "good/rsa.pem", "s\x1b[31m.csr");
	/* '%' is fine in a name; the two files of NAME "q%01" wait for each other. */
	drop_copy(&f, "good/rsa.pem", "pct%41.csr");
	drop_copy(&f, "good/rsa.pem", "q\x01.csr");
	drop_copy(&f, "good/rsa.pem", "q%01.pem");
	/* Names too long once escaped are cut, and a hash keeps them apart. */
	memset(longa, 1, 100);
	snprintf(longa + 100, sizeof(longa) - 100, "a.csr");
	memset(longb, 1, 100);
	snprintf(longb + 100, sizeof(longb) - 100, "b.csr");
	drop_copy(&f, "good/rsa.pem", longa);
	drop_copy(&f, "good/rsa.pem", longb);
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 10);

	g = find(&f, "b%01.csr");
	assert_refused(&f, "b%01.csr",
	               "incoming/b\\x01.csr: the name is not printable UTF-8 (shown escaped); its "
	               "files go to failed/ as b%01.csr");
	assert_int_equal(g->status, DCV_EINVAL);
	assert_string_equal(g->name, "b%01");
	assert_string_equal(g->src, "b\x01.csr");
	assert_string_equal(g->src_sidecar, "b\x01.yaml");
	assert_false(g->has_sidecar);
	assert_true(exists(&f, "failed", "b%01.csr"));

	g = find(&f, "c%FF.pem");
	assert_refused(&f, "c%FF.pem",
	               "incoming/c\\xff.PEM: the name is not printable UTF-8 (shown escaped); its "
	               "files go to failed/ as c%FF.pem");
	assert_string_equal(g->ext, "pem");
	assert_string_equal(g->src, "c\xff.PEM");

	assert_refused(&f, "t%7E1.csr",
	               "incoming/t~1.csr: the name contains '~' (reserved: dcvd's job ids and "
	               "archived files are NAME~HEX); its files go to failed/ as t%7E1.csr");
	/* However dcv_escape() shows a backslash, the why quotes the name through it. */
	escaped = dcv_escape(shown, sizeof(shown), "back\\slash.der", strlen("back\\slash.der"));
	snprintf(why, sizeof(why),
	         "incoming/%s: the name contains a backslash%s; its files go to failed/ as "
	         "back%%5Cslash.der",
	         shown, escaped ? " (shown escaped)" : "");
	assert_refused(&f, "back%5Cslash.der", why);

	g = find(&f, "s%1B[31m.csr");
	assert_int_equal(g->status, DCV_EINVAL);
	assert_true(g->has_sidecar);
	assert_string_equal(g->src_sidecar, "s\x1b[31m.yaml");
	assert_true(exists(&f, "failed", "s%1B[31m.yaml"));
	assert_true(strstr(g->why, "incoming/s\\x1b[31m.csr: ") == g->why);

	assert_int_equal(find(&f, "pct%41.csr")->status, DCV_OK);
	assert_string_equal(find(&f, "pct%41.csr")->name, "pct%41");
	/* One NAME, two scans: never two jobs of NAME "q%01" at once. */
	ga = find(&f, "q%01.csr");
	gb = find(&f, "q%01.pem");
	assert_int_equal(ga->where, DCV_SPOOL_INCOMING);
	assert_int_equal(gb->status, DCV_OK);
	assert_string_equal(gb->name, "q%01");
	assert_true(ga->scan < gb->scan);

	ga = gb = NULL;
	for (size_t i = 0; i < f.ngot; i++) {
		if (strcmp(f.got[i].src, longa) == 0)
			ga = &f.got[i];
		if (strcmp(f.got[i].src, longb) == 0)
			gb = &f.got[i];
	}
	assert_non_null(ga);
	assert_non_null(gb);
	/* 77 whole escapes fit DCV_JOB_NAME_MAX - 10 (233), then "%+" and 8 hex digits. */
	assert_int_equal(strlen(ga->name), 77 * 3 + 10);
	assert_true(strncmp(ga->name, "%01%01%01", 9) == 0);
	assert_true(strncmp(ga->name + 231, "%+", 2) == 0);
	assert_true(strcmp(ga->name, gb->name) != 0);
	assert_int_equal(strlen(ga->file), strlen(ga->name) + 4);
	assert_true(exists(&f, "failed", ga->file));
	assert_true(exists(&f, "failed", gb->file));

	assert_int_equal(count_dir(&f, "incoming"), 0);
	dcv_spool_stats(f.sp, &st);
	assert_int_equal(st.refused, 8);
	fx_done(&f);
}

/* Refused names count against max_claims like any other refusal. */
static void test_unsafe_max_claims(void **state)
{
	struct dcv_spool_opts opts = {.rescan_ms = 3600 * 1000, .no_watch = true};
	struct dcv_spool_stats st;
	struct fx f;

	fx_init(&f, &opts);
	f.max_claims = 2;
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "u\x02%d.csr", i);
		drop_copy(&f, "good/rsa.pem", name);
	}
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 2);
	dcv_spool_stats(f.sp, &st);
	assert_int_equal(st.deferred, 1);
	assert_int_equal(st.refused, 2);
	fx_done(&f);
}

static void test_owner(void **state)
{
	const struct passwd *pw = NULL;
	char want[64], path[PATH_MAX * 2];
	struct stat fifo_st, pem_st;
	const struct got *g;
	bool root = geteuid() == 0;
	uid_t uid = root ? 65534 : geteuid();
	gid_t gid = root ? 65534 : getegid();
	struct fx f;

	fx_init(&f, NULL);
	f.move_refused = true; /* or each scan reports p.csr again */
	drop_copy(&f, "good/rsa.pem", "o.pem");
	snprintf(path, sizeof(path), "%s/incoming/p.csr", f.spool);
	assert_int_equal(mkfifo(path, 0600), 0);
	if (root) {
		tu_run("chown 65534:65534 '%s/incoming/o.pem' '%s/incoming/p.csr'", f.spool,
		       f.spool);
	}
	spool_stat(&f, "incoming", "o.pem", &pem_st);
	spool_stat(&f, "incoming", "p.csr", &fifo_st);
	pw = getpwuid(uid);
	if (pw == NULL)
		snprintf(want, sizeof(want), "#%lu", (unsigned long)uid);
	else
		snprintf(want, sizeof(want), "%s", pw->pw_name);
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 2);

	/* Claimed: the owner of what was opened; the entry as first seen in incoming/. */
	g = find(&f, "o.pem");
	assert_int_equal(g->status, DCV_OK);
	assert_int_equal(g->owner_uid, uid);
	assert_int_equal(g->owner_gid, gid);
	assert_string_equal(g->owner_name, want);
	assert_entry(&g->entry, &pem_st);
	/* Refused before it was opened: what lstat saw. */
	g = find(&f, "p.csr");
	assert_int_equal(g->where, DCV_SPOOL_INCOMING);
	assert_int_equal(g->owner_uid, uid);
	assert_int_equal(g->owner_gid, gid);
	assert_string_equal(g->owner_name, want);
	assert_entry(&g->entry, &fifo_st);
	assert_int_equal(g->entry.mode, S_IFIFO);
	fx_done(&f);
}

static void test_sidecar_owner(void **state)
{
	const struct passwd *pw = NULL;
	char nobody[96], why[512];
	const struct got *g;
	struct fx f;

	if (geteuid() != 0)
		tu_skip("not root: files of another owner need chown");
	pw = getpwuid(65534);
	if (pw != NULL)
		snprintf(nobody, sizeof(nobody), "uid 65534 (%s)", pw->pw_name);
	else
		snprintf(nobody, sizeof(nobody), "uid 65534");
	pw = getpwuid(0);
	fx_init(&f, NULL);
	f.move_refused = true;
	f.move_sidecars = true;
	/* Someone else's sidecar, waiting for a CSR of that NAME. */
	drop_text(&f, "x.yaml", "target: comodoca.com\n");
	tu_run("chown 65534 '%s/incoming/x.yaml'", f.spool);
	drop_copy(&f, "good/rsa.pem", "x.pem");
	/* Sidecar and CSR of one owner (not dcvd's) are fine. */
	drop_text(&f, "y.yaml", "unique_value: abc\n");
	drop_copy(&f, "good/rsa.pem", "y.pem");
	tu_run("chown 65534 '%s/incoming/y.yaml' '%s/incoming/y.pem'", f.spool, f.spool);
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 2);

	g = find(&f, "x.pem");
	snprintf(why, sizeof(why),
	         "incoming/x.yaml: owned by %s, not by the CSR's owner uid 0%s%s%s; refused",
	         nobody, pw != NULL ? " (" : "", pw != NULL ? pw->pw_name : "",
	         pw != NULL ? ")" : "");
	assert_refused(&f, "x.pem", why);
	assert_int_equal(g->status, DCV_EPERM);
	assert_true(g->has_sidecar);
	assert_int_equal(g->owner_uid, 0);
	assert_true(exists(&f, "failed", "x.pem"));
	assert_true(exists(&f, "failed", "x.yaml"));

	g = find(&f, "y.pem");
	assert_int_equal(g->status, DCV_OK);
	assert_true(g->has_sidecar);
	assert_int_equal(g->owner_uid, 65534);
	fx_done(&f);
}

static void test_hard_links(void **state)
{
	char from[PATH_MAX * 2], to[PATH_MAX * 2];
	const char *why = "refused (its content could be changed through the other name)";
	char want[256];
	struct fx f;

	fx_init(&f, NULL);
	/* A second name the submitter keeps (tmp/ is on the same filesystem). */
	drop_copy(&f, "good/rsa.pem", "h.pem");
	snprintf(from, sizeof(from), "%s/incoming/h.pem", f.spool);
	snprintf(to, sizeof(to), "%s/h-link", f.tmp);
	assert_int_equal(link(from, to), 0);
	drop_text(&f, "g.yaml", "unique_value: abc\n");
	snprintf(from, sizeof(from), "%s/incoming/g.yaml", f.spool);
	snprintf(to, sizeof(to), "%s/g-link", f.tmp);
	assert_int_equal(link(from, to), 0);
	drop_copy(&f, "good/rsa.pem", "g.pem");
	drop_copy(&f, "good/rsa.pem", "fine.pem");
	fx_start(&f);
	settle(&f);
	assert_int_equal(f.ngot, 3);

	snprintf(want, sizeof(want), "has 2 hard links; %s", why);
	assert_failed(&f, "h.pem", DCV_EPERM, want);
	assert_string_equal(find(&f, "h.pem")->why,
	                    "active/h.pem: has 2 hard links; refused (its content could be changed "
	                    "through the other name)");
	snprintf(want, sizeof(want), "its sidecar g.yaml has 2 hard links; %s", why);
	assert_failed(&f, "g.pem", DCV_EPERM, want);
	/* Both went to active/, so that both go to failed/ together. */
	assert_true(find(&f, "g.pem")->has_sidecar);
	assert_true(exists(&f, "active", "g.yaml"));
	assert_int_equal(find(&f, "fine.pem")->status, DCV_OK);
	fx_done(&f);
}

static void kick_settle(struct fx *f)
{
	dcv_spool_kick(f->sp);
	settle(f);
}

static void test_ignore(void **state)
{
	struct dcv_spool_opts opts = {.rescan_ms = 3600 * 1000, .no_watch = true};
	char path[PATH_MAX * 2];
	struct dcv_spool_stats st;
	struct fx f;

	fx_init(&f, &opts);
	f.ignore_refused = true;
	f.max_claims = 1;
	/* Folders of other users: dcvd cannot move them (EACCES), so the daemon ignores them. */
	snprintf(path, sizeof(path), "%s/incoming/d.csr", f.spool);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/incoming/e.csr", f.spool);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/incoming/c.csr", f.spool);
	assert_int_equal(mkdir(path, 0700), 0);
	fx_start(&f);
	settle(&f);
	for (int i = 0; i < 2; i++)
		kick_settle(&f);
	/* One per scan (max_claims 1), each once: ignored entries do not count against it. */
	assert_int_equal(f.ngot, 3);
	assert_int_equal(count_got(&f, "d.csr"), 1);
	drop_copy(&f, "good/rsa.pem", "fine.pem");
	kick_settle(&f);
	assert_int_equal(find(&f, "fine.pem")->status, DCV_OK);
	dcv_spool_stats(f.sp, &st);
	assert_int_equal(st.ignored, 3);
	kick_settle(&f);
	assert_int_equal(f.ngot, 4);

	/* Replaced by a regular file: another entry, taken as any other. */
	snprintf(path, sizeof(path), "%s/incoming/d.csr", f.spool);
	assert_int_equal(rmdir(path), 0);
	drop_copy(&f, "good/rsa.pem", "d.csr");
	/* Changed (ctime): reported once more. */
	snprintf(path, sizeof(path), "%s/incoming/c.csr", f.spool);
	assert_int_equal(chmod(path, 0750), 0);
	/* Gone, and a scan saw it gone: forgotten, whatever comes next under that name. */
	snprintf(path, sizeof(path), "%s/incoming/e.csr", f.spool);
	assert_int_equal(rmdir(path), 0);
	f.max_claims = 10;
	kick_settle(&f);
	assert_int_equal(count_got(&f, "d.csr"), 2);
	assert_int_equal(count_got(&f, "c.csr"), 2);
	assert_true(exists(&f, "active", "d.csr"));
	dcv_spool_stats(f.sp, &st);
	assert_int_equal(st.ignored, 0);
	assert_int_equal(mkdir(path, 0700), 0);
	kick_settle(&f);
	assert_int_equal(count_got(&f, "e.csr"), 2);
	kick_settle(&f);
	assert_int_equal(count_got(&f, "e.csr"), 2);
	assert_int_equal(count_got(&f, "c.csr"), 2);
	dcv_spool_stats(f.sp, &st);
	assert_int_equal(st.ignored, 2);

	/* Names the spool could never have reported change nothing. */
	dcv_spool_ignore(f.sp, "", &f.got[0].entry);
	dcv_spool_ignore(f.sp, "a/b.csr", &f.got[0].entry);
	kick_settle(&f);
	dcv_spool_stats(f.sp, &st);
	assert_int_equal(st.ignored, 2);
	fx_done(&f);
}

/* What dcv_spool_open() logs (on stderr) into buf. */
static void open_logged(struct fx *f, const struct dcv_spool_opts *opts, char *buf, size_t size)
{
	char path[PATH_MAX * 2];
	struct dcv_spool *sp = NULL;
	struct dcv_why why;
	FILE *fp = NULL;
	int saved = -1, fd = -1;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/log", f->tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	assert_int_equal(dcv_spool_open(&f->loop, f->spool, opts, &sp, &why), 0);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	dcv_spool_close(sp, NULL, NULL);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

static void test_incoming_warnings(void **state)
{
	struct dcv_spool_opts opts = {0};
	char log[4096], path[PATH_MAX * 2], want[PATH_MAX * 3];
	const struct group *gr = NULL;
	char own_group[64] = "";
	gid_t other = 0;
	struct stat st;
	struct fx f;

	fx_init(&f, NULL);
	snprintf(path, sizeof(path), "%s/incoming", f.spool);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 03770);
	gr = getgrgid(st.st_gid);
	if (gr != NULL)
		snprintf(own_group, sizeof(own_group), "%s", gr->gr_name);

	/* As dcvd.tmpfiles makes it (and as created): nothing to say. */
	opts.submit_group = own_group[0] != '\0' ? own_group : "no-such-group-dcv";
	open_logged(&f, &opts, log, sizeof(log));
	assert_string_equal(log, "");

	/* The mode of before (no sticky bit): submitters can remove each other's files. */
	assert_int_equal(chmod(path, 02770), 0);
	open_logged(&f, &opts, log, sizeof(log));
	snprintf(want, sizeof(want),
	         "spool %s: mode 2770, expected 3770 (setgid and sticky: see dcvd.tmpfiles); "
	         "submitters can remove each other's files\n",
	         path);
	if (strstr(log, want) == NULL)
		fail_msg("log lacks '%s': %s", want, log);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 02770); /* left as the operator made it */
	assert_int_equal(chmod(path, 0770), 0);
	open_logged(&f, &opts, log, sizeof(log));
	assert_non_null(strstr(log, "mode 770, expected 3770"));
	assert_non_null(strstr(log, "new files do not get the folder's group"));
	assert_int_equal(chmod(path, 03770), 0);

	/* A submit group that exists, but is not incoming/'s. */
	for (gid_t g = 1; g < 70000 && other == 0; g++) {
		if (g == st.st_gid || (gr = getgrgid(g)) == NULL)
			continue;
		other = g;
		snprintf(own_group, sizeof(own_group), "%s", gr->gr_name);
	}
	if (other != 0) {
		opts.submit_group = own_group;
		open_logged(&f, &opts, log, sizeof(log));
		snprintf(want, sizeof(want), "spool %s: group ", path);
		if (strstr(log, want) == NULL || strstr(log, own_group) == NULL)
			fail_msg("log lacks the group warning: %s", log);
	}
	/* Without such a group there is nothing to compare with. */
	opts.submit_group = "no-such-group-dcv";
	open_logged(&f, &opts, log, sizeof(log));
	assert_string_equal(log, "");
	fx_done(&f);
}

static int setup(void **state)
{
	return dcv_psl_load(&psl, NULL);
}

static int teardown(void **state)
{
	dcv_psl_free(psl);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_modes),
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_burst),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_unreadable),
	    cmocka_unit_test(test_sidecar_values),
	    cmocka_unit_test(test_sidecar_bad),
	    cmocka_unit_test(test_ignored),
	    cmocka_unit_test(test_active_names),
	    cmocka_unit_test(test_max_claims),
	    cmocka_unit_test(test_inotify),
	    cmocka_unit_test(test_rescan),
	    cmocka_unit_test(test_close_in_items),
	    cmocka_unit_test(test_close_in_policy),
	    cmocka_unit_test(test_close_mid_scan),
	    cmocka_unit_test(test_unsafe_names),
	    cmocka_unit_test(test_unsafe_max_claims),
	    cmocka_unit_test(test_owner),
	    cmocka_unit_test(test_sidecar_owner),
	    cmocka_unit_test(test_hard_links),
	    cmocka_unit_test(test_ignore),
	    cmocka_unit_test(test_incoming_warnings),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
