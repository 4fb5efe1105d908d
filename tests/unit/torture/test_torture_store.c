/*
 * test_torture_store.c -- every allocation of the store's pure parts failed
 * in turn (failalloc.h): a job record's text parsed (jobrec_text.c),
 * copied (jobrec.c), written again and made the operator's and the
 * submitter's status files (jobstatus.c, yout.c); and a damaged text. Each
 * gives its full result or DCV_ENOMEM with no arrays and no buffer left,
 * and ASan finds no leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "store.h"
#include "testutil.h"

#define MD5 "0123456789abcdef0123456789abcdef"
#define SHA "a123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TARGET "a123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.sectigo.com."

static const char record_text[] =
    "dcv-job 1\n"
    "id web\\\\x~00ff\n"
    "name web\\\\x\n"
    "ext pem\n"
    "state withdrawing\n"
    "cleanup true\n"
    "md5 " MD5 "\n"
    "sha256 " SHA "\n"
    "received 1700000000\n"
    "published 1700000100\n"
    "visible 1700000200\n"
    "withdraw_due 1700600000\n"
    "withdrawn 0\n"
    "failed 0\n"
    "uid 1000\n"
    "submitter alice\n"
    "error zone example.test: primary 192.0.2.1@53 (p): \\nREFUSED — twice\n"
    "token 00112233445566778899aabbccddeeff\n"
    "rr _" MD5 ".example.test. " TARGET " example.test. 300 secure\n"
    "rr _" MD5 ".www.other.test. " TARGET " other.test. 60\n"
    "rr _" MD5 ".sub.example.test. " TARGET " sub.example.test. 3600 insecure\n"
    "dnsname example.test example.test\n"
    "dnsname *.example.test example.test\n"
    "dnsname www.other.test www.other.test\n"
    "dnsname a.sub.example.test sub.example.test\n"
    "end\n";

/* The empty record a failed parse or copy must leave. */
static void check_no_arrays(const struct dcv_job_record *rec)
{
	assert_null(rec->rrs);
	assert_int_equal(rec->n_rrs, 0);
	assert_null(rec->names);
	assert_int_equal(rec->n_names, 0);
}

static void digest_buf(struct fa_result *res, const char *what, const unsigned char *buf,
                       size_t len)
{
	fa_printf(res, "%s %zu:%.*s|", what, len, (int)len, (const char *)buf);
}

static void run_record(void *state, struct fa_result *res)
{
	const char *text = state;
	struct dcv_job_record rec, copy;
	struct dcv_why why = {{0}};
	unsigned char *buf = (unsigned char *)"x";
	size_t len = 1;

	memset(&copy, 0, sizeof(copy));
	res->rc =
	    dcv_job_record_parse("web.job", (const unsigned char *)text, strlen(text), &rec, &why);
	if (res->rc < 0) {
		check_no_arrays(&rec);
		assert_true(why.text[0] != '\0' || res->rc == DCV_ENOMEM);
		fa_printf(res, "%s", why.text);
		return;
	}
	res->rc = dcv_job_record_copy(&copy, &rec);
	dcv_job_record_free(&rec);
	if (res->rc < 0) {
		check_no_arrays(&copy);
		return;
	}
	/* Each writer: the whole text, or nothing and DCV_ENOMEM. */
	for (int w = 0; w < 3 && res->rc == DCV_OK; w++) {
		static const char *const names[] = {"record", "status", "result"};

		res->rc = w == 0   ? dcv_job_record_emit(&copy, &buf, &len)
		          : w == 1 ? dcv_job_status_emit(&copy, &buf, &len)
		                   : dcv_job_status_emit_result(&copy, &buf, &len);
		if (res->rc < 0) {
			assert_null(buf);
			assert_int_equal(len, 0);
			break;
		}
		if (w == 0)
			/* emit(parse(t)) is t, byte for byte. */
			assert_memory_equal(buf, text, strlen(text));
		digest_buf(res, names[w], buf, len);
		free(buf);
	}
	dcv_job_record_free(&copy);
}

static void test_record(void **state)
{
	fa_torture("job record", run_record, (void *)record_text, DCV_OK, NULL, 0);
}

static void test_damaged_record(void **state)
{
	static const int accept[] = {DCV_ENOMEM};
	static char text[sizeof(record_text) + 64];
	char *cut = NULL;

	/* A record whose names repeat: the check refuses it after the arrays were built. */
	snprintf(text, sizeof(text), "%s", record_text);
	cut = strstr(text, "end\n");
	snprintf(cut, sizeof(text) - (size_t)(cut - text), "dnsname example.test x.test\nend\n");
	fa_torture("damaged job record", run_record, text, DCV_ESTATE, accept, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record),
	    cmocka_unit_test(test_damaged_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
