/*
 * test_show.c -- the `dcv show` document (show.c) and the YAML writer under
 * it (yout.c): the legacy records, a wildcard's warning, output that cannot
 * be written, and the memory sink.
 *
 * The oracle for the hashes is DATA/good/mixed.expect, written by
 * gen-csrs.sh from `openssl req -outform DER | openssl dgst`: the records
 * in the document must be built from those.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcv/dcv.h"
#include "dcv/names.h"
#include "show.h"
#include "testutil.h"
#include "yout.h"

static struct dcv_psl *psl;
static struct dcv_request *req;
static char md5[33], sha1[41], sha256[65];

static int setup(void **state)
{
	char path[1024], line[256];
	struct dcv_opts opts = {0};
	struct dcv_opts_buf buf;
	struct dcv_why why = {""};
	FILE *f = NULL;
	int rc = dcv_psl_load(&psl, NULL);

	if (rc < 0 || dcv_opts_check(&opts, &buf, NULL) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/good/mixed.pem", tu_data_dir());
	if (dcv_request_load(path, psl, &opts, &req, &why) < 0) {
		fprintf(stderr, "%s: %s\n", path, why.text);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/good/mixed.expect", tu_data_dir());
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "md5 %32s", md5);
		sscanf(line, "sha1 %40s", sha1);
		sscanf(line, "sha256 %64s", sha256);
	}
	fclose(f);
	return md5[0] && sha1[0] && sha256[0] ? 0 : -1;
}

static int teardown(void **state)
{
	dcv_request_free(req);
	dcv_psl_free(psl);
	return 0;
}

/* The document dcv_show_emit() writes, as text (caller frees). */
static char *show_text(bool legacy)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct dcv_why why = {""};

	assert_non_null(f);
	assert_int_equal(dcv_show_emit(f, "mixed.pem", req, 300, legacy, &why), DCV_OK);
	assert_int_equal(fclose(f), 0);
	return text;
}

/*
 * Whether text holds the line "LEAD VALUE", VALUE plain or single-quoted
 * (a value that starts with a digit would read as a number, so it is quoted).
 */
static bool has_line(const char *text, const char *lead, const char *value)
{
	char plain[512], quoted[512];

	snprintf(plain, sizeof(plain), "%s %s\n", lead, value);
	snprintf(quoted, sizeof(quoted), "%s '%s'\n", lead, value);
	return strstr(text, plain) != NULL || strstr(text, quoted) != NULL;
}

static void test_show_legacy(void **state)
{
	char *text = show_text(true);
	char want[512];

	assert_true(has_line(text, "md5:", md5));
	/* One record per base name: example.test covers www and the wildcard. */
	snprintf(want, sizeof(want), "_%s.example.test. 300 IN CNAME %.32s.%.32s.sectigo.com.", md5,
	         sha256, sha256 + 32);
	assert_true(has_line(text, "-", want));
	assert_non_null(strstr(text, "\nlegacy_records:\n"));
	snprintf(want, sizeof(want), "%s.example.test. 300 IN CNAME %s.comodoca.com.", md5, sha1);
	assert_true(has_line(text, "-", want));
	/* The wildcard gets no URL, and the warning says why. */
	assert_null(strstr(text, "http://*."));
	assert_non_null(strstr(text, "- http://www.example.test/.well-known/pki-validation/"));
	assert_non_null(strstr(text, "the HTTP file method cannot validate wildcard names"));
	free(text);
	text = show_text(false);
	assert_null(strstr(text, "legacy_records"));
	assert_null(strstr(text, "comodoca.com"));
	free(text);
}

/* A full disk: the error is reported, unbuffered (libyaml's own write) and buffered (the flush). */
static void test_show_cannot_write(void **state)
{
	struct dcv_why why = {""};

	for (int buffered = 0; buffered < 2; buffered++) {
		FILE *f = fopen("/dev/full", "w");

		assert_non_null(f);
		if (!buffered)
			assert_int_equal(setvbuf(f, NULL, _IONBF, 0), 0);
		dcv_why_clear(&why);
		assert_int_equal(dcv_show_emit(f, "mixed.pem", req, 300, true, &why), DCV_EIO);
		assert_string_equal(why.text, "cannot write the output");
		fclose(f);
	}
}

/* The memory sink grows past its first 1024 bytes; scalars that would read as typed are quoted. */
static void test_yout_mem(void **state)
{
	struct yout y;
	char long_text[3000];
	char *copy = NULL;

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	yout_begin_mem(&y);
	yout_map(&y);
	yout_kv(&y, "long", long_text);
	yout_kv(&y, "empty", NULL);
	yout_kv(&y, "number", "1.5");
	yout_kv(&y, "word", "Off");
	yout_str(&y, "flag");
	yout_bool(&y, false);
	yout_end_map(&y);
	assert_int_equal(yout_end(&y), 0);
	assert_true(y.mem_len > sizeof(long_text));
	assert_true(y.mem_cap >= 4096);
	copy = calloc(1, y.mem_len + 1);
	assert_non_null(copy);
	memcpy(copy, y.mem, y.mem_len);
	assert_non_null(strstr(copy, "empty: ''\n"));
	assert_non_null(strstr(copy, "number: '1.5'\n"));
	assert_non_null(strstr(copy, "word: 'Off'\n"));
	assert_non_null(strstr(copy, "flag: false\n"));
	assert_int_equal(strncmp(copy, "---\nlong: xxx", 13), 0);
	free(copy);
	free(y.mem);
}

/*
 * An event libyaml refuses (a mapping closed that was never opened) fails
 * the document: later calls do nothing and yout_end() says -1 and drops
 * the memory it held.
 */
static void test_yout_sticky_failure(void **state)
{
	struct yout y;

	yout_begin_mem(&y);
	yout_end_map(&y);
	assert_true(y.failed);
	yout_kv(&y, "after", "the failure");
	assert_int_equal(yout_end(&y), -1);
	assert_null(y.mem);
	assert_int_equal(y.mem_len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_show_legacy),
	    cmocka_unit_test(test_show_cannot_write),
	    cmocka_unit_test(test_yout_mem),
	    cmocka_unit_test(test_yout_sticky_failure),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
