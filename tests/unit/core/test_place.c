/* test_place.c -- record placement over configured zones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcv/names.h"
#include "dcv/place.h"
#include "testutil.h"

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

static struct dcv_request *request(const char *const *names, size_t n)
{
	struct dcv_csr *csr = calloc(1, sizeof(*csr));
	struct dcv_opts opts = {0};
	struct dcv_opts_buf buf;
	struct dcv_request *req = NULL;
	struct dcv_why why;

	snprintf(csr->md5_hex, sizeof(csr->md5_hex), "%032d", 1);
	snprintf(csr->sha1_hex, sizeof(csr->sha1_hex), "%040d", 2);
	snprintf(csr->sha256_hex, sizeof(csr->sha256_hex), "%064d", 3);
	csr->names = calloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		csr->names[i] = strdup(names[i]);
	csr->n_names = n;
	assert_int_equal(dcv_opts_check(&opts, &buf, NULL), 0);
	if (dcv_request_new(csr, psl, &opts, &req, &why) != 0)
		fail_msg("%s", why.text);
	return req;
}

static void test_one_record_per_zone(void **state)
{
	static const char *const names[] = {"example.com", "www.example.com", "*.example.com",
	                                    "a.b.example.net"};
	static const char *const zones[] = {"example.net", "example.com"};
	struct dcv_request *req = request(names, 4);
	struct dcv_place p;

	assert_int_equal(dcv_place(req, zones, 2, DCV_PLACE_ZONE, &p, NULL), 0);
	assert_int_equal(p.n_owners, 2);
	assert_string_equal(p.owners[0].adn, "example.com");
	assert_int_equal(p.owners[0].zone, 1);
	assert_string_equal(p.owners[1].adn, "example.net");
	assert_int_equal(p.owners[1].zone, 0);
	assert_int_equal(p.name_owner[0], 0);
	assert_int_equal(p.name_owner[2], 0);
	assert_int_equal(p.name_owner[3], 1);
	dcv_place_free(&p);
	dcv_request_free(req);
}

/* Only a child zone is ours: the record cannot go above it. */
static void test_child_zone_only(void **state)
{
	static const char *const names[] = {"www.dept.example.com", "dept.example.com"};
	static const char *const zones[] = {"dept.example.com"};
	struct dcv_request *req = request(names, 2);
	struct dcv_place p;

	assert_int_equal(dcv_place(req, zones, 1, DCV_PLACE_ZONE, &p, NULL), 0);
	assert_int_equal(p.n_owners, 1);
	assert_string_equal(p.owners[0].adn, "dept.example.com");
	dcv_place_free(&p);
	dcv_request_free(req);
}

static void test_fqdn_longest_zone(void **state)
{
	static const char *const names[] = {"www.dept.example.com", "*.example.com", "example.com"};
	static const char *const zones[] = {"example.com", "dept.example.com"};
	struct dcv_request *req = request(names, 3);
	struct dcv_place p;

	assert_int_equal(dcv_place(req, zones, 2, DCV_PLACE_FQDN, &p, NULL), 0);
	assert_int_equal(p.n_owners, 2);
	assert_string_equal(p.owners[0].adn, "www.dept.example.com");
	assert_int_equal(p.owners[0].zone, 1);
	assert_string_equal(p.owners[1].adn, "example.com");
	assert_int_equal(p.owners[1].zone, 0);
	assert_int_equal(p.name_owner[1], 1);
	assert_int_equal(p.name_owner[2], 1);
	dcv_place_free(&p);
	dcv_request_free(req);
}

static void test_no_zone(void **state)
{
	static const char *const names[] = {"www.example.com", "www.other.org"};
	static const char *const zones[] = {"example.com"};
	struct dcv_request *req = request(names, 2);
	struct dcv_place p;
	struct dcv_why why;

	assert_int_equal(dcv_place(req, zones, 1, DCV_PLACE_ZONE, &p, &why), DCV_ENOZONE);
	assert_string_equal(why.text, "name 'www.other.org' lies in no configured zone");
	assert_int_equal(p.n_owners, 0);
	assert_int_equal(dcv_place(req, zones, 1, DCV_PLACE_FQDN, &p, &why), DCV_ENOZONE);
	dcv_request_free(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_record_per_zone),
	    cmocka_unit_test(test_child_zone_only),
	    cmocka_unit_test(test_fqdn_longest_zone),
	    cmocka_unit_test(test_no_zone),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
