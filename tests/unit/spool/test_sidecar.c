/*
 * test_sidecar.c -- the spool sidecar: parsing with positioned errors, and
 * checking the CA's records against a real request (a CSR made by
 * tests/data/gen-csrs.sh; its hashes computed there by openssl are the
 * oracle for the records written here).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcv/dcv.h"
#include "dcv/names.h"
#include "sidecar.h"
#include "testutil.h"

static struct dcv_psl *psl;

/* What openssl said about a test CSR. */
struct oracle {
	char md5[33];
	char target[128]; /* "<sha256 0..32>.<sha256 32..64>.sectigo.com." */
};

static void oracle_load(const char *name, struct oracle *o)
{
	const char *dir = tu_data_dir();
	char sha256[65];

	snprintf(o->md5, sizeof(o->md5), "%s",
	         tu_run_line("sed -n 's/^md5 //p' '%s/good/%s.expect'", dir, name));
	snprintf(sha256, sizeof(sha256), "%s",
	         tu_run_line("sed -n 's/^sha256 //p' '%s/good/%s.expect'", dir, name));
	assert_int_equal(strlen(o->md5), 32);
	assert_int_equal(strlen(sha256), 64);
	snprintf(o->target, sizeof(o->target), "%.32s.%.32s.sectigo.com.", sha256, sha256 + 32);
}

static struct dcv_request *request(const char *name, const char *unique, const char *target)
{
	struct dcv_opts opts = {unique, target};
	struct dcv_opts_buf buf;
	struct dcv_request *req = NULL;
	struct dcv_why why;
	char path[512];

	snprintf(path, sizeof(path), "%s/good/%s.pem", tu_data_dir(), name);
	assert_int_equal(dcv_opts_check(&opts, &buf, NULL), 0);
	if (dcv_request_load(path, psl, &opts, &req, &why) != 0)
		fail_msg("%s: %s", path, why.text);
	return req;
}

static int parse(const char *text, struct dcv_sidecar *sc, struct dcv_why *why)
{
	return dcv_sidecar_parse("job.yaml", (const unsigned char *)text, strlen(text), sc, why);
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

static void test_parse(void **state)
{
	struct dcv_sidecar sc;
	struct dcv_why why;

	assert_int_equal(parse("unique_value: 1F96729172445E721043\n"
	                       "target: ComodoCA.com.\n"
	                       "expect:\n"
	                       "  - \"_0123.www.example.test. 300 IN CNAME a.b.comodoca.com.\"\n"
	                       "  - _0123.example.test IN 60 cname A.B.COMODOCA.COM\n"
	                       "  - '_0123.example.test CNAME a.b.comodoca.com'\n",
	                       &sc, &why),
	                 DCV_OK);
	/* The unique value keeps its case (the HTTP file needs it); the target is normalized. */
	assert_string_equal(sc.unique, "1F96729172445E721043");
	assert_string_equal(sc.target, "comodoca.com");
	assert_int_equal(sc.expect.n, 3);
	assert_string_equal(sc.expect.v[0],
	                    "_0123.www.example.test. 300 IN CNAME a.b.comodoca.com.");
	assert_string_equal(sc.expect.v[1], "_0123.example.test IN 60 cname A.B.COMODOCA.COM");
	dcv_sidecar_free(&sc);

	/* One record needs no list; everything is optional. */
	assert_int_equal(parse("expect: _0123.example.test. CNAME a.b.sectigo.com.\n", &sc, &why),
	                 DCV_OK);
	assert_int_equal(sc.expect.n, 1);
	assert_string_equal(sc.unique, "");
	assert_string_equal(sc.target, "");
	dcv_sidecar_free(&sc);
	assert_int_equal(parse("", &sc, &why), DCV_OK);
	assert_int_equal(sc.expect.n, 0);
	dcv_sidecar_free(&sc);
	assert_int_equal(dcv_sidecar_parse("null.yaml", NULL, 0, &sc, &why), DCV_OK);
	assert_int_equal(sc.expect.n, 0);
	dcv_sidecar_free(&sc);
	assert_int_equal(parse("# just a comment\nexpect: []\n", &sc, &why), DCV_OK);
	assert_int_equal(sc.expect.n, 0);
	dcv_sidecar_free(&sc);
	assert_int_equal(parse("unique_value: 12345\nexpect:\n", &sc, &why), DCV_OK);
	assert_string_equal(sc.unique, "12345");
	dcv_sidecar_free(&sc);
	dcv_sidecar_free(NULL);
}

/* The token of dcv submit --wait: kept when well formed, refused without its text otherwise. */
static void test_token(void **state)
{
	static const char *const bad[] = {
	    "token: 0123456789ABCDEF0123456789abcdef\n",  /* upper case */
	    "token: 0123456789abcdef0123456789abcde\n",   /* 31 digits */
	    "token: 0123456789abcdef0123456789abcdef0\n", /* 33 digits */
	    "token: 0123456789abcdef0123456789abcdeg\n",  /* not hex */
	    "token: ../../done/x0123456789abcdef01234\n", /* a path */
	};
	struct dcv_sidecar sc;
	struct dcv_why why = {""};

	(void)state;
	assert_int_equal(
	    parse("unique_value: ab1\ntoken: 0123456789abcdef0123456789abcdef\n", &sc, &why),
	    DCV_OK);
	assert_string_equal(sc.token, "0123456789abcdef0123456789abcdef");
	assert_string_equal(sc.unique, "ab1");
	dcv_sidecar_free(&sc);
	assert_int_equal(parse("target: comodoca.com\n", &sc, &why), DCV_OK);
	assert_string_equal(sc.token, "");
	dcv_sidecar_free(&sc);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dcv_why_clear(&why);
		assert_int_equal(parse(bad[i], &sc, &why), DCV_EINVAL);
		assert_string_equal(why.text,
		                    "job.yaml:1:8: token: expected 32 lower-case hex digits");
		assert_string_equal(sc.token, "");
	}
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
	    {"unique_value: ab-c\n",
	     "job.yaml:1:15: unique_value: unique value 'ab-c' must be 1 to 20 letters or digits"},
	    {"unique_value: 123456789012345678901\n", "job.yaml:1:15: unique_value: unique value"},
	    {"unique_value: [a]\n", "job.yaml:1:15: unique_value: expected a single value, found a "
	                            "list"},
	    {"unique_value:\n", "job.yaml:1:14: unique_value: a value is required"},
	    {"target: example.com\n",
	     "job.yaml:1:9: target 'example.com' is neither sectigo.com nor comodoca.com"},
	    {"expect:\n  - foo A 192.0.2.1\n",
	     "job.yaml:2:5: expect: 'foo A 192.0.2.1' is not a CNAME record (OWNER [TTL] [IN] "
	     "CNAME TARGET)"},
	    {"expect:\n  - _a.b. 300 300 CNAME c.\n", "job.yaml:2:5: expect: '_a.b. 300 300"},
	    {"expect:\n  - _a.b. CNAME\n", "job.yaml:2:5: expect: '_a.b. CNAME' is not a CNAME"},
	    {"expect:\n  - _a.b. CNAME c. d.\n", "job.yaml:2:5: expect: '_a.b. CNAME c. d.'"},
	    {"expect:\n  - _a.b. IN CH CNAME c.\n", "job.yaml:2:5: expect: '_a.b. IN CH"},
	    {"expect:\n  - . CNAME c.\n", "job.yaml:2:5: expect: '. CNAME c.' is not a CNAME"},
	    {"expect:\n  - [x]\n", "job.yaml:2:5: expect: expected a single value, found a list"},
	    {"expect: {a: b}\n", "job.yaml:1:9: expect: expected a list, found a mapping"},
	    {"bogus: 1\n", "job.yaml:1:1: sidecar: unknown key 'bogus' (known: unique_value, "
	                   "target, expect, token)"},
	    {"- a\n", "job.yaml:1:1: sidecar: expected a mapping, found a list"},
	    {"just text\n", "job.yaml:1:1: sidecar: expected a mapping, found a single value"},
	    {"target: x\n  y: [\n", "job.yaml:2:4: YAML syntax error: mapping values are not "
	                            "allowed in this context"},
	    {"expect: *x\n", "job.yaml:1:9: YAML aliases are not supported here"},
	    {"bogus: 1\ntarget: x\nexpect: [a]\n", "job.yaml:1:1: sidecar: unknown key 'bogus' "
	                                           "(known: unique_value, target, expect, token) "
	                                           "(and 2 more problems)"},
	};
	struct dcv_sidecar sc;
	struct dcv_why why;
	unsigned char *big = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dcv_why_clear(&why);
		assert_int_equal(parse(cases[i].text, &sc, &why), DCV_EINVAL);
		if (strncmp(why.text, cases[i].msg, strlen(cases[i].msg)) != 0)
			fail_msg("case %zu: '%s', expected '%s...'", i, why.text, cases[i].msg);
		assert_int_equal(sc.expect.n, 0);
		assert_null(sc.expect.v);
	}

	/* Over the size limit: refused unread. */
	big = calloc(1, DCV_SIDECAR_MAX_FILE + 1);
	assert_non_null(big);
	memset(big, '#', DCV_SIDECAR_MAX_FILE + 1);
	assert_int_equal(dcv_sidecar_parse("big.yaml", big, DCV_SIDECAR_MAX_FILE + 1, &sc, &why),
	                 DCV_EINVAL);
	assert_non_null(strstr(why.text, "big.yaml: larger than the limit of 65536 bytes"));
	free(big);
}

/* Checks the sidecar text against req; returns the code, why in *why. */
static int check(const struct dcv_request *req, const char *text, struct dcv_why *why)
{
	struct dcv_sidecar sc;
	int rc = 0;

	if (parse(text, &sc, why) != DCV_OK)
		fail_msg("%s", why->text);
	dcv_why_clear(why);
	rc = dcv_sidecar_check(&sc, req, why);
	dcv_sidecar_free(&sc);
	return rc;
}

static void test_check_ok(void **state)
{
	struct dcv_request *rsa = request("rsa", NULL, NULL), *ed = request("ed25519", NULL, NULL);
	struct oracle o, e;
	struct dcv_why why;
	char text[2048], upper[160];

	oracle_load("rsa", &o);
	oracle_load("ed25519", &e);
	/* The CA's forms: TTL and class optional, any case, trailing dots optional. */
	snprintf(upper, sizeof(upper), "%s", o.target);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	upper[strlen(upper) - 1] = '\0';
	snprintf(text, sizeof(text),
	         "expect:\n"
	         "  - _%s.www.example.test. 300 IN CNAME %s\n"
	         "  - _%s.WWW.Example.Test IN 3600 CNAME %s\n"
	         "  - \"_%s.example.test.  CNAME  %s\"\n",
	         o.md5, o.target, o.md5, upper, o.md5, o.target);
	assert_int_equal(check(rsa, text, &why), DCV_OK);

	/* ADN candidates that are not names of the request are fine too. */
	snprintf(text, sizeof(text),
	         "expect:\n"
	         "  - _%s.b.c.example.org. CNAME %s\n"
	         "  - _%s.example.org. 300 IN CNAME %s\n",
	         e.md5, e.target, e.md5, e.target);
	assert_int_equal(check(ed, text, &why), DCV_OK);

	/* Nothing expected: nothing to disagree with. */
	assert_int_equal(check(rsa, "unique_value: abc\n", &why), DCV_OK);
	dcv_request_free(rsa);
	dcv_request_free(ed);
}

static void test_check_wrong_md5(void **state)
{
	struct dcv_request *rsa = request("rsa", NULL, NULL);
	struct oracle o;
	struct dcv_why why;
	char text[1024], record[512], computed[512], bad_md5[33];

	oracle_load("rsa", &o);
	snprintf(bad_md5, sizeof(bad_md5), "%s", o.md5);
	bad_md5[31] = bad_md5[31] == '0' ? '1' : '0';
	snprintf(record, sizeof(record), "_%s.www.example.test. 300 IN CNAME %s", bad_md5,
	         o.target);
	snprintf(text, sizeof(text), "expect:\n  - %s\n", record);
	assert_int_equal(check(rsa, text, &why), DCV_EMISMATCH);
	snprintf(computed, sizeof(computed), "_%s.www.example.test. CNAME %s", o.md5, o.target);
	assert_non_null(strstr(why.text, record));
	assert_non_null(strstr(why.text, computed));
	assert_non_null(strstr(why.text, "the owner differs"));

	/* A name the request does not hold: the computed record is at its first name. */
	snprintf(record, sizeof(record), "_%s.other.test. CNAME %s", o.md5, o.target);
	snprintf(text, sizeof(text), "expect: %s\n", record);
	assert_int_equal(check(rsa, text, &why), DCV_EMISMATCH);
	assert_non_null(strstr(why.text, record));
	assert_non_null(strstr(why.text, computed));

	/* The first record agrees, the second does not: still a mismatch. */
	snprintf(text, sizeof(text),
	         "expect:\n  - _%s.example.test. CNAME %s\n  - _%s.test. CNAME %s\n", o.md5,
	         o.target, o.md5, o.target);
	assert_int_equal(check(rsa, text, &why), DCV_EMISMATCH);
	assert_non_null(strstr(why.text, "the owner differs"));
	dcv_request_free(rsa);
}

static void test_check_wrong_target(void **state)
{
	struct dcv_request *rsa = request("rsa", NULL, NULL);
	struct dcv_request *uniq = request("rsa", "1F96729172445E721043", "comodoca.com");
	struct oracle o;
	struct dcv_why why;
	char text[1024], record[512], computed[512], legacy[160], with_unique[200];

	oracle_load("rsa", &o);
	/* comodoca.com where the request says sectigo.com. */
	snprintf(legacy, sizeof(legacy), "%.66scomodoca.com.", o.target);
	snprintf(record, sizeof(record), "_%s.example.test. CNAME %s", o.md5, legacy);
	snprintf(text, sizeof(text), "expect: [\"%s\"]\n", record);
	assert_int_equal(check(rsa, text, &why), DCV_EMISMATCH);
	snprintf(computed, sizeof(computed), "_%s.example.test. CNAME %s", o.md5, o.target);
	assert_non_null(strstr(why.text, record));
	assert_non_null(strstr(why.text, computed));
	assert_non_null(strstr(why.text, "the target differs"));

	/* With a unique value: the CA's record carries it (any case); without it, a mismatch. */
	snprintf(with_unique, sizeof(with_unique), "%.66s1F96729172445E721043.COMODOCA.com",
	         o.target);
	snprintf(text, sizeof(text),
	         "unique_value: 1F96729172445E721043\nexpect: _%s.example.test CNAME %s\n", o.md5,
	         with_unique);
	assert_int_equal(check(uniq, text, &why), DCV_OK);
	snprintf(text, sizeof(text), "expect: _%s.example.test CNAME %s\n", o.md5, legacy);
	assert_int_equal(check(uniq, text, &why), DCV_EMISMATCH);
	snprintf(computed, sizeof(computed), "CNAME %.66s1f96729172445e721043.comodoca.com.",
	         o.target);
	assert_non_null(strstr(why.text, computed));
	dcv_request_free(rsa);
	dcv_request_free(uniq);
}

/* Arbitrary bytes: no crash, and either a sidecar or a positioned message. */
static void test_garbage(void **state)
{
	static const char alphabet[] =
	    "unique_value:target expect-[]{}'\"\n#&*!|>?,.CNAME_0a\t\xc3\x00";
	unsigned char buf[300];
	uint32_t x = 1234567u;
	struct dcv_sidecar sc;
	struct dcv_why why;

	for (int round = 0; round < 5000; round++) {
		size_t len = 0;

		len = tu_random_text(&x, buf, sizeof(buf), alphabet, sizeof(alphabet) - 1);
		if (dcv_sidecar_parse("g.yaml", buf, len, &sc, &why) == DCV_OK) {
			dcv_sidecar_free(&sc);
			continue;
		}
		assert_int_equal(strncmp(why.text, "g.yaml:", 7), 0);
		assert_int_equal(sc.expect.n, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),           cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_token),           cmocka_unit_test(test_check_ok),
	    cmocka_unit_test(test_check_wrong_md5), cmocka_unit_test(test_check_wrong_target),
	    cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
