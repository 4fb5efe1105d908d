/* test_names.c -- name rules and ADN candidates (oracle: the psl command). */
#include <stdio.h>
#include <string.h>

#include <libpsl.h>

#include "dcv/names.h"
#include "testutil.h"
#include "util.h"

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

static void refused(const char *name, const char *reason)
{
	struct dcv_why why = {""};

	assert_int_equal(dcv_name_check(psl, name, &why), DCV_ENAME);
	if (strstr(why.text, reason) == NULL)
		fail_msg("'%s': reason '%s' does not say '%s'", name, why.text, reason);
}

static void test_refusals(void **state)
{
	char label64[80], long_name[300];

	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".example.test");
	snprintf(long_name, sizeof(long_name), "%s", "");
	for (int i = 0; i < 4; i++)
		strcat(long_name,
		       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.");
	strcat(long_name, "test"); /* 4*64 + 4 = 260 octets */

	refused("", "empty name");
	refused("co.uk", "public suffix");
	refused("com", "public suffix");
	refused("test", "public suffix");
	refused("*.com", "wildcard on the public suffix 'com'");
	refused("*.co.uk", "wildcard on the public suffix 'co.uk'");
	refused("www.*.example.test", "'*' is allowed only as the whole leftmost label");
	refused("*.*.example.test", "'*' is allowed only as the whole leftmost label");
	refused("w*w.example.test", "'*' is allowed only as the whole leftmost label");
	refused("*", "bare wildcard");
	refused("a_b.example.test", "underscore");
	refused(label64, "is 64 octets long; the limit is 63");
	refused(long_name, "octets long; the limit is 253");
	refused("a..example.test", "empty label");
	refused(".example.test", "empty label");
	refused("-a.example.test", "starts with a hyphen");
	refused("a-.example.test", "ends with a hyphen");
	refused("b\xc3\xbc"
	        "cher.example.test",
	        "A-label");
	refused("a b.example.test", "character ' ' is not allowed");
	refused("a\x01.example.test", "control character");
}

static void test_accepted(void **state)
{
	static const char *const ok[] = {"example.test",      "www.example.test",
	                                 "*.example.test",    "xn--bcher-kva.example.test",
	                                 "a-b.example.co.uk", "www.city.kawasaki.jp",
	                                 "0.example.test"};
	char label63[80];
	struct dcv_why why;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (dcv_name_check(psl, ok[i], &why) != DCV_OK)
			fail_msg("'%s' refused: %s", ok[i], why.text);
	memset(label63, 'c', 63);
	strcpy(label63 + 63, ".example.test");
	assert_int_equal(dcv_name_check(psl, label63, NULL), DCV_OK);
}

/* Candidates end at the registrable domain the psl command prints. */
static void test_candidates_vs_psl(void **state)
{
	static const char *const names[] = {
	    "www.city.kawasaki.jp", "a.b.c.example.co.uk", "*.mail.internal.example.tld",
	    "x.y.example.test",     "shop.example.com.au", "deep.sub.xn--fiqs8s",
	    "foo.github.io",        "example.com"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct dcv_strv c = {0};
		const char *base = dcv_name_base(names[i]);
		char reg[256];

		snprintf(reg, sizeof(reg), "%s",
		         tu_run_line("psl --print-reg-domain -b '%s'", base));
		assert_int_equal(dcv_name_candidates(psl, names[i], &c, NULL), DCV_OK);
		assert_true(c.n >= 1);
		assert_string_equal(c.v[0], base);
		assert_string_equal(c.v[c.n - 1], reg);
		for (size_t k = 1; k < c.n; k++)
			assert_string_equal(c.v[k], strchr(c.v[k - 1], '.') + 1);
		dcv_strv_free(&c);
	}
}

static void test_kawasaki_exception(void **state)
{
	struct dcv_strv c = {0};

	assert_int_equal(dcv_name_candidates(psl, "www.city.kawasaki.jp", &c, NULL), DCV_OK);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[0], "www.city.kawasaki.jp");
	assert_string_equal(c.v[1], "city.kawasaki.jp");
	dcv_strv_free(&c);
}

static void test_in_zone(void **state)
{
	assert_true(dcv_name_in_zone("example.com", "example.com"));
	assert_true(dcv_name_in_zone("a.example.com", "example.com"));
	assert_false(dcv_name_in_zone("aexample.com", "example.com"));
	assert_false(dcv_name_in_zone("example.com", "a.example.com"));
	assert_false(dcv_name_in_zone("example.org", "example.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refusals),          cmocka_unit_test(test_accepted),
	    cmocka_unit_test(test_candidates_vs_psl), cmocka_unit_test(test_kawasaki_exception),
	    cmocka_unit_test(test_in_zone),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
