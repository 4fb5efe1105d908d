/* test_dcv.c -- record, HTTP file and approver formats; options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcv/dcv.h"
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

/* A request as if parsed from a CSR with these hashes and names. */
static struct dcv_request *fake(const char *md5, const char *sha1, const char *sha256,
                                const char *unique, const char *target, const char *name)
{
	struct dcv_csr *csr = calloc(1, sizeof(*csr));
	struct dcv_opts opts = {unique, target};
	struct dcv_opts_buf buf;
	struct dcv_request *req = NULL;
	struct dcv_why why;

	assert_non_null(csr);
	snprintf(csr->md5_hex, sizeof(csr->md5_hex), "%s", md5);
	snprintf(csr->sha1_hex, sizeof(csr->sha1_hex), "%s", sha1);
	snprintf(csr->sha256_hex, sizeof(csr->sha256_hex), "%s", sha256);
	csr->names = calloc(1, sizeof(char *));
	csr->names[0] = strdup(name);
	csr->n_names = 1;
	assert_int_equal(dcv_opts_check(&opts, &buf, NULL), 0);
	if (dcv_request_new(csr, psl, &opts, &req, &why) != 0)
		fail_msg("%s", why.text);
	return req;
}

/*
 * The worked example a reseller publishes (it prints a 31/33 split, a typo:
 * the SHA-256 is split 32/32).
 */
static void test_reseller_example(void **state)
{
	struct dcv_request *req =
	    fake("47cba4dfbe697765f51230e84f04d091", "0000000000000000000000000000000000000000",
	         "5b06bda4ffe784373d6616ab8fcbef17da4549f0623a25f37e128efb0fbf745d",
	         "1f96729172445e721043", "comodoca.com", "mail.example.com");
	char line[512];

	assert_int_equal(dcv_record_line(req, "mail.example.com", 300, line, sizeof(line), NULL),
	                 0);
	assert_string_equal(line, "_47cba4dfbe697765f51230e84f04d091.mail.example.com. 300 IN "
	                          "CNAME 5b06bda4ffe784373d6616ab8fcbef17."
	                          "da4549f0623a25f37e128efb0fbf745d.1f96729172445e721043."
	                          "comodoca.com.");
	dcv_request_free(req);
}

static void test_default_target_and_http(void **state)
{
	struct dcv_request *req =
	    fake("0123456789abcdef0123456789abcdef", "00112233445566778899aabbccddeeff00112233",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "Tok3n", NULL,
	         "*.example.test");
	char buf[512];

	assert_string_equal(req->target, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	                                 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.tok3n.sectigo.com.");
	assert_true(req->names[0].wildcard);
	assert_string_equal(req->names[0].base, "example.test");
	dcv_http_path(req, buf, sizeof(buf));
	assert_string_equal(buf,
	                    "/.well-known/pki-validation/0123456789ABCDEF0123456789ABCDEF.txt");
	dcv_http_content(req, buf, sizeof(buf));
	assert_string_equal(buf,
	                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
	                    "sectigo.com\nTok3n\n");
	assert_int_equal(dcv_record_legacy_line(req, "example.test", 60, buf, sizeof(buf), NULL),
	                 0);
	assert_string_equal(buf, "0123456789abcdef0123456789abcdef.example.test. 60 IN CNAME "
	                         "00112233445566778899aabbccddeeff00112233.comodoca.com.");
	dcv_request_free(req);
}

static void test_email(void **state)
{
	struct dcv_request *req =
	    fake("0123456789abcdef0123456789abcdef", "00112233445566778899aabbccddeeff00112233",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", NULL, NULL,
	         "www.example.test");
	struct dcv_strv v = {0};

	assert_int_equal(dcv_email_approvers(req, &v), 0);
	assert_int_equal(v.n, 10);
	assert_string_equal(v.v[0], "admin@www.example.test");
	assert_string_equal(v.v[2], "hostmaster@www.example.test");
	assert_string_equal(v.v[9], "webmaster@example.test");
	dcv_strv_free(&v);
	dcv_request_free(req);
}

static void test_options(void **state)
{
	struct dcv_opts_buf buf;
	struct dcv_why why;
	struct dcv_opts o;

	o = (struct dcv_opts){NULL, "SECTIGO.COM."};
	assert_int_equal(dcv_opts_check(&o, &buf, NULL), 0);
	assert_string_equal(o.target, "sectigo.com");
	o = (struct dcv_opts){NULL, "example.com"};
	assert_int_equal(dcv_opts_check(&o, &buf, &why), DCV_EINVAL);
	assert_non_null(strstr(why.text, "neither sectigo.com nor comodoca.com"));
	o = (struct dcv_opts){"abc-def", NULL};
	assert_int_equal(dcv_opts_check(&o, &buf, &why), DCV_EINVAL);
	o = (struct dcv_opts){"", NULL};
	assert_int_equal(dcv_opts_check(&o, &buf, &why), DCV_EINVAL);
	o = (struct dcv_opts){"123456789012345678901", NULL};
	assert_int_equal(dcv_opts_check(&o, &buf, &why), DCV_EINVAL);
	o = (struct dcv_opts){"12345678901234567890", NULL};
	assert_int_equal(dcv_opts_check(&o, &buf, &why), 0);
}

/* A record owner cannot be longer than a DNS name may be. */
static void test_owner_too_long(void **state)
{
	char name[260], line[600];
	struct dcv_request *req = NULL;
	struct dcv_why why;

	/* 3 * 64 + 31 + 12 = 235 octets: a valid name, but "_<md5>." makes 269. */
	snprintf(name, sizeof(name), "%.63s.%.63s.%.63s.%.30s.example.test",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	req = fake("0123456789abcdef0123456789abcdef", "00112233445566778899aabbccddeeff00112233",
	           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", NULL, NULL,
	           name);
	assert_int_equal(dcv_record_line(req, name, 300, line, sizeof(line), &why), DCV_ENAME);
	assert_non_null(strstr(why.text, "over the DNS limit of 253"));
	assert_int_equal(dcv_record_line(req, "example.test", 300, line, sizeof(line), &why), 0);
	dcv_request_free(req);
}

static void test_strerror(void **state)
{
	for (int code = 0; code > DCV_ERR_LAST; code--)
		assert_string_not_equal(dcv_strerror(code), "unknown error");
	assert_string_equal(dcv_strerror(DCV_ERR_LAST), "unknown error");
	assert_string_equal(dcv_strerror(5), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reseller_example),
	    cmocka_unit_test(test_default_target_and_http),
	    cmocka_unit_test(test_email),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_owner_too_long),
	    cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
