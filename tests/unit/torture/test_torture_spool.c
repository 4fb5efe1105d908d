/*
 * test_torture_spool.c -- every allocation of the spool's pure parts
 * failed in turn (failalloc.h): sidecars parsed (sidecar.c, through yin.c)
 * and checked against a request, good and full of mistakes, and the owner
 * name of a uid (spool_name.c). Each gives its full result or DCV_ENOMEM
 * with nothing left in the sidecar, and ASan finds no leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcv/dcv.h"
#include "dcv/names.h"
#include "failalloc.h"
#include "sidecar.h"
#include "spool_int.h"
#include "testutil.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sidecar),
	    cmocka_unit_test(test_owner_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
