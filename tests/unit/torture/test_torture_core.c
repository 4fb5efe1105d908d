/*
 * test_torture_core.c -- every allocation of core/ failed in turn
 * (failalloc.h): reading and parsing each sample CSR (csr.c, p10.c, util.c),
 * building its request (dcv.c, names.c), placing its records (place.c), the
 * `dcv show` document and record lines (show.c, yout.c), and YAML input
 * with and without errors (yin.c). Each gives its full result or
 * DCV_ENOMEM with nothing returned, and ASan finds no leak.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcv/csr.h"
#include "dcv/dcv.h"
#include "dcv/names.h"
#include "dcv/place.h"
#include "failalloc.h"
#include "show.h"
#include "testutil.h"
#include "util.h"
#include "yin.h"

static struct dcv_psl *psl;

static int setup(void **state)
{
	return dcv_psl_load(&psl, NULL);
}

static int teardown(void **state)
{
	dcv_psl_free(psl);
	return 0;
}

/* The sample files of DATA/sub (sorted), those named in skip aside. */
static size_t list_files(const char *sub, char names[][256], size_t max)
{
	char dir[512];
	struct dirent **ents = NULL;
	int n;
	size_t k = 0;

	snprintf(dir, sizeof(dir), "%s/%s", tu_data_dir(), sub);
	n = scandir(dir, &ents, NULL, alphasort);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		const char *s = ents[i]->d_name;
		size_t len = strlen(s);

		/* huge.csr is refused unread, adir.csr is a folder: no allocation to fail. */
		if (s[0] != '.' && strcmp(s, "bad.tsv") != 0 && strcmp(s, "huge.csr") != 0 &&
		    strcmp(s, "adir.csr") != 0 &&
		    (len < 7 || strcmp(s + len - 7, ".expect") != 0) && k < max)
			snprintf(names[k++], sizeof(names[0]), "%s", s);
		free(ents[i]);
	}
	free(ents);
	return k;
}

static void digest_csr(struct fa_result *res, const struct dcv_csr *csr)
{
	fa_printf(res, "%s %s %s %s %zu|", csr->md5_hex, csr->sha1_hex, csr->sha256_hex,
	          csr->key_desc, csr->der_len);
	for (size_t i = 0; i < csr->n_names; i++)
		fa_printf(res, "n=%s ", csr->names[i]);
	for (size_t i = 0; i < csr->n_ips; i++)
		fa_printf(res, "ip=%s ", csr->ips[i]);
	for (size_t i = 0; i < csr->n_warnings; i++)
		fa_printf(res, "w=%s ", csr->warnings[i]);
}

static void digest_request(struct fa_result *res, const struct dcv_request *req)
{
	digest_csr(res, req->csr);
	fa_printf(res, "|%s %s %s %s|", req->target, req->legacy_target, req->unique,
	          req->target_base);
	for (size_t i = 0; i < req->n_names; i++) {
		fa_printf(res, "%s%s:", req->names[i].name, req->names[i].wildcard ? "*" : "");
		for (size_t c = 0; c < req->names[i].n_candidates; c++)
			fa_printf(res, " %s", req->names[i].candidates[c]);
		fa_printf(res, ";");
	}
	for (size_t i = 0; i < req->n_warnings; i++)
		fa_printf(res, "w=%s ", req->warnings[i]);
}

/* On failure: nothing returned, and a why text. */
static void check_failure(int rc, const void *out, const struct dcv_why *why)
{
	if (rc < 0) {
		assert_null(out);
		assert_true(why->text[0] != '\0');
	}
}

struct file_case {
	char path[600];
	unsigned flags;
};

static void run_csr_load(void *state, struct fa_result *res)
{
	struct file_case *fc = state;
	unsigned char *buf = NULL;
	size_t len = 0;
	struct dcv_csr *csr = NULL;
	struct dcv_why why = {{0}};

	res->rc = dcv_read_file(fc->path, DCV_CSR_MAX_FILE, &buf, &len, &why);
	if (res->rc == DCV_OK)
		res->rc = dcv_csr_parse_ex(buf, len, fc->flags, &csr, &why);
	check_failure(res->rc, csr, &why);
	if (csr != NULL)
		digest_csr(res, csr);
	else
		fa_printf(res, "%s", why.text);
	dcv_csr_free(csr);
	free(buf);
}

static void run_request_load(void *state, struct fa_result *res)
{
	struct file_case *fc = state;
	struct dcv_opts opts = {"Unique7", NULL};
	struct dcv_opts_buf ob;
	struct dcv_request *req = NULL;
	struct dcv_why why = {{0}};

	assert_int_equal(dcv_opts_check(&opts, &ob, NULL), DCV_OK);
	res->rc = dcv_request_load(fc->path, psl, &opts, &req, &why);
	check_failure(res->rc, req, &why);
	if (req != NULL)
		digest_request(res, req);
	else
		fa_printf(res, "%s", why.text);
	dcv_request_free(req);
}

/* The code an unarmed run gives, for the torture run to expect. */
static int plain_rc(fa_scenario run, void *state)
{
	struct fa_result res;

	memset(&res, 0, sizeof(res));
	run(state, &res);
	return res.rc;
}

static void torture_folder(const char *sub, fa_scenario run, unsigned flags)
{
	static char names[64][256];
	size_t n = list_files(sub, names, 64);
	struct file_case fc = {.flags = flags};
	char label[300];

	assert_true(n >= 10);
	for (size_t i = 0; i < n; i++) {
		snprintf(fc.path, sizeof(fc.path), "%s/%s/%s", tu_data_dir(), sub, names[i]);
		snprintf(label, sizeof(label), "%s/%s", sub, names[i]);
		fa_torture(label, run, &fc, plain_rc(run, &fc), NULL, 0);
	}
}

static void test_csr_good(void **state)
{
	torture_folder("good", run_csr_load, 0);
	torture_folder("good", run_csr_load, DCV_CSR_FULL_DECODE);
}

static void test_csr_bad(void **state)
{
	torture_folder("bad", run_csr_load, 0);
	torture_folder("bad", run_csr_load, DCV_CSR_FULL_DECODE);
}

static void test_request_good(void **state)
{
	torture_folder("good", run_request_load, 0);
}

static void test_request_bad(void **state)
{
	torture_folder("bad", run_request_load, 0);
}

/* A request of DATA/good, built outside the torture runs. */
static struct dcv_request *load_request(const char *name)
{
	char path[600];
	struct dcv_opts opts = {NULL, NULL};
	struct dcv_opts_buf ob;
	struct dcv_request *req = NULL;
	struct dcv_why why;

	snprintf(path, sizeof(path), "%s/good/%s", tu_data_dir(), name);
	assert_int_equal(dcv_opts_check(&opts, &ob, NULL), DCV_OK);
	if (dcv_request_load(path, psl, &opts, &req, &why) != DCV_OK)
		fail_msg("%s: %s", path, why.text);
	return req;
}

struct place_case {
	const struct dcv_request *req;
	enum dcv_placement mode;
	const char *const *zones;
	size_t n_zones;
};

static void run_place(void *state, struct fa_result *res)
{
	struct place_case *pc = state;
	struct dcv_place p;
	struct dcv_why why = {{0}};

	memset(&p, 0xa5, sizeof(p));
	res->rc = dcv_place(pc->req, pc->zones, pc->n_zones, pc->mode, &p, &why);
	if (res->rc < 0) {
		/* "On error *out is left empty." */
		assert_null(p.name_owner);
		assert_null(p.owners);
		assert_int_equal(p.n_owners, 0);
		/* place.h promises a why for DCV_ENOZONE only. */
		assert_true(why.text[0] != '\0' || res->rc == DCV_ENOMEM);
		return;
	}
	for (size_t i = 0; i < p.n_names; i++)
		fa_printf(res, "%zu ", p.name_owner[i]);
	for (size_t i = 0; i < p.n_owners; i++)
		fa_printf(res, "%s@%zu ", p.owners[i].adn, p.owners[i].zone);
	dcv_place_free(&p);
}

static void test_place(void **state)
{
	static const char *const zones[] = {"example.test", "www.example.test"};
	static const char *const nozone[] = {"other.test"};
	struct dcv_request *req = load_request("mixed.pem");
	struct place_case pc = {req, DCV_PLACE_ZONE, zones, 2};
	static const int enozone[] = {DCV_ENOMEM};

	fa_torture("place zone", run_place, &pc, DCV_OK, NULL, 0);
	pc.mode = DCV_PLACE_FQDN;
	fa_torture("place fqdn", run_place, &pc, DCV_OK, NULL, 0);
	pc.zones = nozone;
	pc.n_zones = 1;
	fa_torture("place no zone", run_place, &pc, DCV_ENOZONE, enozone, 1);
	dcv_request_free(req);
}

struct show_case {
	const struct dcv_request *req;
	bool legacy;
};

static void run_show(void *state, struct fa_result *res)
{
	struct show_case *sc = state;
	static char text[8192];
	FILE *f = fmemopen(text, sizeof(text), "w");
	struct dcv_why why = {{0}};
	long len;

	assert_non_null(f);
	res->rc = dcv_show_emit(f, "mixed.pem", sc->req, 300, sc->legacy, &why);
	len = ftell(f);
	fclose(f);
	if (res->rc < 0) {
		assert_true(why.text[0] != '\0' || res->rc == DCV_ENOMEM);
		return;
	}
	assert_true(len > 100);
	/* The digest keeps the end of the document, where a lost item would show first. */
	fa_printf(res, "%ld %s", len, text + (len > 3000 ? len - 3000 : 0));
}

static void run_records(void *state, struct fa_result *res)
{
	struct show_case *sc = state;
	struct dcv_strv lines = {0}, email = {0};
	struct dcv_why why = {{0}};

	res->rc = dcv_records_lines(sc->req, 300, sc->legacy, &lines, &why);
	if (res->rc == DCV_OK)
		res->rc = dcv_email_approvers(sc->req, &email);
	for (size_t i = 0; i < lines.n && res->rc == DCV_OK; i++)
		fa_printf(res, "%s\n", lines.v[i]);
	for (size_t i = 0; i < email.n && res->rc == DCV_OK; i++)
		fa_printf(res, "%s ", email.v[i]);
	dcv_strv_free(&lines);
	dcv_strv_free(&email);
}

static void test_show(void **state)
{
	struct dcv_request *req = load_request("mixed.pem");
	struct show_case sc = {req, false};

	fa_torture("show", run_show, &sc, DCV_OK, NULL, 0);
	fa_torture("records", run_records, &sc, DCV_OK, NULL, 0);
	sc.legacy = true;
	fa_torture("show legacy", run_show, &sc, DCV_OK, NULL, 0);
	fa_torture("records legacy", run_records, &sc, DCV_OK, NULL, 0);
	dcv_request_free(req);
}

struct yin_case {
	const char *text;
};

static void digest_node(struct fa_result *res, const struct dcv_yin_node *n)
{
	if (n == NULL) {
		fa_printf(res, "-");
		return;
	}
	fa_printf(res, "%lu:%lu", n->line, n->col);
	if (n->kind == DCV_YIN_SCALAR) {
		fa_printf(res, "'%s'%s ", n->value, n->null ? "~" : "");
		return;
	}
	fa_printf(res, n->kind == DCV_YIN_LIST ? "[" : "{");
	for (size_t i = 0; i < n->n_kids; i++)
		digest_node(res, n->kids[i]);
	fa_printf(res, n->kind == DCV_YIN_LIST ? "]" : "}");
}

static void run_yin(void *state, struct fa_result *res)
{
	struct yin_case *yc = state;
	struct dcv_yin y;
	struct dcv_strv errors = {0};

	res->rc =
	    dcv_yin_parse(&y, "t.yaml", (const unsigned char *)yc->text, strlen(yc->text), &errors);
	if (res->rc == DCV_OK && y.root != NULL) {
		/* The lookups that report errors allocate their messages. */
		static const char *const keys[] = {"a", "b", NULL};
		const struct dcv_yin_node *v[2];

		dcv_yin_fields(&y, y.root, "top", keys, v, NULL);
		if (v[0] != NULL)
			dcv_yin_text(&y, v[0], "a");
		if (y.oom)
			res->rc = DCV_ENOMEM;
	}
	if (res->rc != DCV_ENOMEM) {
		digest_node(res, y.root);
		for (size_t i = 0; i < errors.n; i++)
			fa_printf(res, "|%s", errors.v[i]);
	}
	dcv_yin_free(&y);
	dcv_strv_free(&errors);
}

static void test_yin(void **state)
{
	static struct yin_case ok = {"a: [1, 2, {x: y}]\nb:\n  - ~\n  - \"q\\tz\"\n"};
	static struct yin_case unknown = {"a: [1]\nc: 3\nd: 4\nb: x\nb: y\n"};
	static struct yin_case syntax = {"a: [1, 2\nb: }\n"};
	static struct yin_case alias = {"a: &x 1\nb: *x\n"};
	static const int either[] = {DCV_ENOMEM};

	fa_torture("yin ok", run_yin, &ok, DCV_OK, NULL, 0);
	fa_torture("yin unknown keys", run_yin, &unknown, DCV_OK, NULL, 0);
	fa_torture("yin syntax", run_yin, &syntax, DCV_EINVAL, either, 1);
	fa_torture("yin alias", run_yin, &alias, DCV_EINVAL, either, 1);
}

static void run_strv(void *state, struct fa_result *res)
{
	struct dcv_strv sv = {0};

	res->rc = DCV_OK;
	for (int i = 0; i < 20 && res->rc == DCV_OK; i++) {
		/* "DCV_ENOMEM on failure (vector unchanged)": so the same push again must do it. */
		for (int again = 0; again < 2; again++) {
			res->rc = i % 2 ? dcv_strv_pushf(&sv, "item %d", i / 2)
			                : dcv_strv_push_unique(&sv, i % 4 ? "b" : "a");
			if (res->rc != DCV_ENOMEM)
				break;
		}
	}
	for (size_t i = 0; i < sv.n && res->rc == DCV_OK; i++)
		fa_printf(res, "%s,", sv.v[i]);
	dcv_strv_free(&sv);
}

static void test_strv(void **state)
{
	fa_torture("strv", run_strv, NULL, DCV_OK, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_csr_good),     cmocka_unit_test(test_csr_bad),
	    cmocka_unit_test(test_request_good), cmocka_unit_test(test_request_bad),
	    cmocka_unit_test(test_place),        cmocka_unit_test(test_show),
	    cmocka_unit_test(test_yin),          cmocka_unit_test(test_strv),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
