/*
 * test_torture_spool.c -- every allocation of the spool's synchronous
 * parts failed in turn (failalloc.h): sidecars parsed (sidecar.c, through
 * yin.c) and checked against a request, good and full of mistakes; the
 * sidecar dcv submit writes (submit.c); the owner name of a uid
 * (spool_name.c); and one scan's work without the loop: the ignore set,
 * the listing of incoming/ and the claim of every candidate
 * (spool_ignore.c, spool_list.c, spool_claim.c), as a pool thread does it.
 * Each gives its full result or DCV_ENOMEM with nothing left over, and
 * ASan finds no leak.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcv/dcv.h"
#include "dcv/names.h"
#include "failalloc.h"
#include "sidecar.h"
#include "spool_int.h"
#include "submit.h"
#include "testutil.h"
#include "tufiles.h"

static struct dcv_psl *psl;
static struct dcv_request *req;

static int setup(void **state)
{
	char path[600];
	struct dcv_opts opts = {NULL, NULL};
	struct dcv_opts_buf ob;
	struct dcv_why why;

	if (dcv_psl_load(&psl, NULL) != DCV_OK || dcv_opts_check(&opts, &ob, NULL) != DCV_OK)
		return -1;
	snprintf(path, sizeof(path), "%s/good/mixed.pem", tu_data_dir());
	return dcv_request_load(path, psl, &opts, &req, &why) == DCV_OK ? 0 : -1;
}

static int teardown(void **state)
{
	dcv_request_free(req);
	dcv_psl_free(psl);
	return 0;
}

static void run_sidecar(void *state, struct fa_result *res)
{
	const char *text = state;
	struct dcv_sidecar sc;
	struct dcv_why why = {{0}};

	memset(&sc, 0xa5, sizeof(sc));
	res->rc =
	    dcv_sidecar_parse("web.yaml", (const unsigned char *)text, strlen(text), &sc, &why);
	if (res->rc < 0) {
		/* "On failure *out is empty (nothing to free)." */
		assert_null(sc.expect.v);
		assert_int_equal(sc.expect.n, 0);
		assert_string_equal(sc.unique, "");
		assert_string_equal(sc.token, "");
		assert_true(why.text[0] != '\0' || res->rc == DCV_ENOMEM);
		fa_printf(res, "%s", why.text);
		return;
	}
	fa_printf(res, "%s %s %s|", sc.unique, sc.target, sc.token);
	for (size_t i = 0; i < sc.expect.n; i++)
		fa_printf(res, "%s|", sc.expect.v[i]);
	/* The check allocates nothing of ours; its verdict is part of the result. */
	fa_printf(res, "check %d", dcv_sidecar_check(&sc, req, &why));
	dcv_sidecar_free(&sc);
}

static void test_sidecar(void **state)
{
	static char good[2048];
	static const int accept[] = {DCV_ENOMEM};

	snprintf(good, sizeof(good),
	         "unique_value: Ab12\n"
	         "target: Comodoca.com.\n"
	         "expect:\n"
	         "  - \"_%s.example.test. 300 IN CNAME %s\"\n"
	         "  - \"_%s.www.example.test. CNAME %s\"\n"
	         "  - \"_%s.example.test CNAME %s\"\n"
	         "token: 0f1e2d3c4b5a69788796a5b4c3d2e1f0\n",
	         req->csr->md5_hex, req->target, req->csr->md5_hex, req->target, req->csr->md5_hex,
	         req->target);
	fa_torture("sidecar", run_sidecar, good, DCV_OK, NULL, 0);
	fa_torture("sidecar with one expect", run_sidecar,
	           "expect: \"_00.example.test. CNAME x.sectigo.com.\"\n", DCV_OK, NULL, 0);
	fa_torture("sidecar with mistakes", run_sidecar,
	           "unique_value: 'not valid!'\n"
	           "target: example.org\n"
	           "expect: [\"a b c\", {x: y}, \"_1.example.test. A 192.0.2.1\"]\n"
	           "token: XYZ\n"
	           "other: 1\n",
	           DCV_EINVAL, accept, 1);
}

static void run_owner_name(void *state, struct fa_result *res)
{
	char out[64];

	/* No error code: without memory the name is "#uid", as for an unknown uid. */
	spool_owner_name(0, out, sizeof(out));
	res->rc = strcmp(out, "root") == 0 ? DCV_OK : strcmp(out, "#0") == 0 ? DCV_ENOMEM : 1;
}

static void test_owner_name(void **state)
{
	fa_torture("owner name", run_owner_name, NULL, DCV_OK, NULL, 0);
}

static void run_submit_sidecar(void *state, struct fa_result *res)
{
	static char *const expect[] = {"_a.example.test. CNAME b.sectigo.com.",
	                               "_a.www.example.test. 300 IN CNAME b.sectigo.com."};
	unsigned char *buf = (unsigned char *)"x";
	size_t len = 1;

	res->rc = dcv_submit_sidecar("Ab12", "comodoca.com", expect, 2,
	                             "0f1e2d3c4b5a69788796a5b4c3d2e1f0", &buf, &len);
	if (res->rc < 0) {
		assert_null(buf);
		return;
	}
	fa_printf(res, "%.*s", (int)len, (const char *)buf);
	free(buf);
}

static void test_submit_sidecar(void **state)
{
	fa_torture("dcv submit's sidecar", run_submit_sidecar, NULL, DCV_OK, NULL, 0);
}

/* The files of incoming/ at the start of every run, and their bytes. */
struct spool_file {
	const char *name;
	const char *sample; /* DATA/good/... to copy, or NULL for text */
	const char *text;
};

static const struct spool_file spool_files[] = {
    {"a.csr", "rsa.pem", NULL},
    {"a.yaml", NULL, "unique_value: Ab12\ntarget: comodoca.com\n"},
    {"b.pem", NULL, "not a request\n"},
    {"c~1.csr", "ec.pem", NULL},
    {"d.der", "mixed-der.der", NULL},
    {"d.pem", "ec.pem", NULL},
    {"e.csr", "ec.pem", NULL},
    {"f.csr", "mixed.pem", NULL},
    {"f.yaml", NULL, "expect: \"_00.example.test. CNAME x.sectigo.com.\"\n"},
    {"g.csr", "ed25519.pem", NULL},
    {"g.yaml", NULL, "token: [1]\n"},
    {"z.csr", "rsa.pem", NULL},
    {".hidden.csr", "rsa.pem", NULL},
};
#define N_SPOOL_FILES (sizeof(spool_files) / sizeof(spool_files[0]))

struct scan_case {
	int incoming_fd, active_fd;
	unsigned char *bytes[N_SPOOL_FILES];
	size_t len[N_SPOOL_FILES];
};

/* incoming/ as at the start, active/ empty: plain system calls, no allocation of ours. */
static void scan_reset(struct scan_case *sc)
{
	for (size_t i = 0; i < N_SPOOL_FILES; i++) {
		int fd = -1;

		unlinkat(sc->active_fd, spool_files[i].name, 0);
		unlinkat(sc->incoming_fd, spool_files[i].name, 0);
		fd =
		    openat(sc->incoming_fd, spool_files[i].name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		assert_true(dcv_write_all(fd, sc->bytes[i], sc->len[i]));
		close(fd);
	}
}

static void run_scan(void *state, struct fa_result *res)
{
	struct scan_case *sc = state;
	struct spool_ignore ig;
	struct dcv_spool_policy policy;
	struct spool_ctx ctx;
	struct spool_listing listing;
	struct dcv_spool_entry entry;
	struct stat st;

	scan_reset(sc);
	memset(&policy, 0, sizeof(policy));
	policy.max_claims = 100;
	policy.psl = psl;
	assert_int_equal(spool_ignore_init(&ig), DCV_OK);
	ctx = (struct spool_ctx){sc->incoming_fd, sc->active_fd, &policy, &ig};
	/* e.csr is to be ignored (dcv_spool_ignore), z is an active job's NAME. */
	assert_int_equal(fstatat(sc->incoming_fd, "e.csr", &st, AT_SYMLINK_NOFOLLOW), 0);
	spool_entry_from_stat(&entry, &st);
	res->rc = spool_ignore_add(&ig, "e.csr", &entry);
	if (res->rc == DCV_OK)
		res->rc = dcv_strv_push(&policy.active_names, "z");
	if (res->rc < 0)
		goto out;
	spool_list(&ctx, &policy.active_names, &listing);
	res->rc = listing.status;
	if (res->rc < 0) {
		assert_null(listing.cands);
		assert_int_equal(listing.n, 0);
		assert_string_equal(listing.why.text, "listing incoming/: out of memory");
		goto out;
	}
	fa_printf(res, "%zu listed, %zu held, %zu deferred, %zu ignored\n", listing.n, listing.held,
	          listing.deferred, listing.ignored);
	for (size_t i = 0; i < listing.n; i++) {
		struct dcv_spool_item item;
		struct dcv_why trouble = {{0}};
		bool report = spool_claim(&ctx, &listing.cands[i], &item, &trouble);

		assert_true(report);
		if (item.status == DCV_ENOMEM) {
			/* The job fails, saying why, and nothing of it is left to free. */
			res->rc = DCV_ENOMEM;
			assert_null(item.req);
			assert_non_null(strstr(item.why.text, "out of memory"));
		}
		/*
		 * The owner's name is for people: without memory for getpwuid_r()
		 * it is "#uid", as for a uid with no name (spool_int.h); the uid is
		 * what counts.
		 */
		assert_true(strcmp(item.owner_name, "root") == 0 ||
		            strcmp(item.owner_name, "#0") == 0);
		fa_printf(res, "%s %s %s %d %d %u %s|%s|%s\n", item.src, item.name, item.file,
		          item.where, item.status, (unsigned)item.owner_uid,
		          item.has_sidecar ? "+yaml" : "", item.why.text,
		          item.req != NULL ? item.req->target : "-");
		dcv_spool_item_free(&item);
	}
	free(listing.cands);
out:
	dcv_strv_free(&policy.active_names);
	spool_ignore_fini(&ig);
}

static void test_scan(void **state)
{
	static struct scan_case sc;
	char path[600];

	assert_int_equal(mkdir(tu_path("incoming"), 0755), 0);
	assert_int_equal(mkdir(tu_path("active"), 0755), 0);
	sc.incoming_fd = open(tu_path("incoming"), O_RDONLY | O_DIRECTORY);
	sc.active_fd = open(tu_path("active"), O_RDONLY | O_DIRECTORY);
	assert_true(sc.incoming_fd >= 0 && sc.active_fd >= 0);
	for (size_t i = 0; i < N_SPOOL_FILES; i++) {
		struct dcv_why why;

		if (spool_files[i].sample == NULL) {
			sc.len[i] = strlen(spool_files[i].text);
			sc.bytes[i] = (unsigned char *)strdup(spool_files[i].text);
			continue;
		}
		snprintf(path, sizeof(path), "%s/good/%s", tu_data_dir(), spool_files[i].sample);
		if (dcv_read_file(path, DCV_CSR_MAX_FILE, &sc.bytes[i], &sc.len[i], &why) < 0)
			fail_msg("%s: %s", path, why.text);
	}
	fa_torture("scan of incoming/", run_scan, &sc, DCV_OK, NULL, 0);
	for (size_t i = 0; i < N_SPOOL_FILES; i++)
		free(sc.bytes[i]);
	close(sc.incoming_fd);
	close(sc.active_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sidecar),
	    cmocka_unit_test(test_owner_name),
	    cmocka_unit_test(test_submit_sidecar),
	    cmocka_unit_test_setup_teardown(test_scan, tu_dir_setup, tu_dir_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
