/*
 * test_csr.c -- CSR loading against the openssl and psl oracles.
 *
 * Every request in DATA/good has a NAME.expect written by gen-csrs.sh from
 * `openssl req -outform DER | openssl dgst` and `psl --print-reg-domain`;
 * every input in DATA/bad is listed in bad.tsv with the reason it must get.
 */
#include <dirent.h>
#include <stdbool.h>
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

/* Finds the request file that belongs to stem (any extension but .expect). */
static void request_path(const char *dir, const char *stem, char *out, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = strlen(stem);

	assert_non_null(d);
	out[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, stem, n) == 0 && de->d_name[n] == '.' &&
		    strcmp(de->d_name + n, ".expect") != 0) {
			assert_true(strlen(dir) + strlen(de->d_name) + 2 <= size);
			strcpy(out, dir);
			strcat(out, "/");
			strcat(out, de->d_name);
		}
	}
	closedir(d);
	assert_true(out[0] != '\0');
}

static void check_one(const char *dir, const char *stem)
{
	char path[2048], expect_path[2048], line[2048];
	struct dcv_opts opts = {0};
	struct dcv_opts_buf buf;
	struct dcv_request *req = NULL;
	struct dcv_why why = {""};
	size_t name_i = 0;
	FILE *f = NULL;

	request_path(dir, stem, path, sizeof(path));
	assert_true(strlen(dir) + strlen(stem) + 9 <= sizeof(expect_path));
	strcpy(expect_path, dir);
	strcat(expect_path, "/");
	strcat(expect_path, stem);
	strcat(expect_path, ".expect");
	assert_int_equal(dcv_opts_check(&opts, &buf, NULL), 0);
	if (dcv_request_load(path, psl, &opts, &req, &why) != 0)
		fail_msg("%s: %s", path, why.text);
	f = fopen(expect_path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL, *key = NULL, *val = NULL;
		line[strcspn(line, "\n")] = '\0';
		key = strtok_r(line, " ", &save);
		val = strtok_r(NULL, " ", &save);
		if (strcmp(key, "md5") == 0) {
			assert_string_equal(req->csr->md5_hex, val);
		} else if (strcmp(key, "sha1") == 0) {
			assert_string_equal(req->csr->sha1_hex, val);
		} else if (strcmp(key, "sha256") == 0) {
			assert_string_equal(req->csr->sha256_hex, val);
		} else if (strcmp(key, "name") == 0) {
			const struct dcv_name_entry *e = NULL;
			char *cand = NULL;
			size_t c = 0;

			if (name_i >= req->n_names)
				fail_msg("%s: expected more names than %zu", path, req->n_names);
			e = &req->names[name_i++];
			assert_string_equal(e->name, val);
			assert_int_equal(e->wildcard,
			                 strcmp(strtok_r(NULL, " ", &save), "true") == 0);
			while ((cand = strtok_r(NULL, " ", &save)) != NULL) {
				assert_true(c < e->n_candidates);
				assert_string_equal(e->candidates[c++], cand);
			}
			assert_int_equal(c, e->n_candidates);
		}
	}
	fclose(f);
	assert_int_equal(name_i, req->n_names);
	dcv_request_free(req);
}

static void test_good_requests(void **state)
{
	char dir[1024];
	DIR *d = NULL;
	struct dirent *de;
	int seen = 0;

	snprintf(dir, sizeof(dir), "%s/good", tu_data_dir());
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char stem[256];
		size_t n = strlen(de->d_name);
		if (n < 8 || strcmp(de->d_name + n - 7, ".expect") != 0)
			continue;
		snprintf(stem, sizeof(stem), "%.*s", (int)(n - 7), de->d_name);
		check_one(dir, stem);
		seen++;
	}
	closedir(d);
	assert_true(seen >= 10);
}

static void test_bad_inputs(void **state)
{
	char path[2048], line[1024];
	struct dcv_opts opts = {0};
	struct dcv_opts_buf buf;
	struct dcv_request *req = NULL;
	struct dcv_why why;
	FILE *f = NULL;
	int seen = 0;

	assert_int_equal(dcv_opts_check(&opts, &buf, NULL), 0);
	snprintf(path, sizeof(path), "%s/bad/bad.tsv", tu_data_dir());
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *tab = strchr(line, '\t');
		assert_non_null(tab);
		*tab = '\0';
		tab[1 + strcspn(tab + 1, "\n")] = '\0';
		assert_true(strlen(tu_data_dir()) + strlen(line) + 6 <= sizeof(path));
		strcpy(path, tu_data_dir());
		strcat(path, "/bad/");
		strcat(path, line);
		dcv_why_clear(&why);
		assert_true(dcv_request_load(path, psl, &opts, &req, &why) < 0);
		assert_null(req);
		if (strstr(why.text, tab + 1) == NULL)
			fail_msg("%s: reason '%s' does not say '%s'", line, why.text, tab + 1);
		seen++;
	}
	fclose(f);
	assert_true(seen >= 20);
}

static void same_csr(const char *path, const struct dcv_csr *a, const struct dcv_csr *b)
{
	assert_string_equal(a->md5_hex, b->md5_hex);
	assert_string_equal(a->sha256_hex, b->sha256_hex);
	assert_string_equal(a->key_desc, b->key_desc);
	assert_int_equal(a->n_names, b->n_names);
	for (size_t i = 0; i < a->n_names; i++)
		assert_string_equal(a->names[i], b->names[i]);
	assert_int_equal(a->n_ips, b->n_ips);
	if (a->n_warnings != b->n_warnings)
		fail_msg("%s: %zu warnings on the fast path, %zu on the full one", path,
		         a->n_warnings, b->n_warnings);
}

/* Both decoders (fast, and OpenSSL's complete one) agree on every input. */
static void compare_paths_in(const char *sub)
{
	char dir[1024], path[2048];
	DIR *d = NULL;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/%s", tu_data_dir(), sub);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		unsigned char *buf = NULL;
		size_t len = 0;
		struct dcv_csr *fast = NULL, *full = NULL;
		struct dcv_why why_fast = {""}, why_full = {""};
		int rc_fast, rc_full;

		if (de->d_name[0] == '.' || strstr(de->d_name, ".expect") ||
		    strstr(de->d_name, ".tsv"))
			continue;
		assert_true(strlen(dir) + strlen(de->d_name) + 2 <= sizeof(path));
		strcpy(path, dir);
		strcat(path, "/");
		strcat(path, de->d_name);
		if (dcv_read_file(path, DCV_CSR_MAX_FILE, &buf, &len, NULL) < 0)
			continue;
		rc_fast = dcv_csr_parse_ex(buf, len, 0, &fast, &why_fast);
		rc_full = dcv_csr_parse_ex(buf, len, DCV_CSR_FULL_DECODE, &full, &why_full);
		if (rc_fast != rc_full)
			fail_msg("%s: fast path says %d (%s), full path %d (%s)", path, rc_fast,
			         why_fast.text, rc_full, why_full.text);
		if (rc_fast == 0)
			same_csr(path, fast, full);
		else
			assert_string_equal(why_fast.text, why_full.text);
		dcv_csr_free(fast);
		dcv_csr_free(full);
		free(buf);
	}
	closedir(d);
}

static void test_fast_and_full_agree(void **state)
{
	compare_paths_in("good");
	compare_paths_in("bad");
}

static void test_key_descriptions(void **state)
{
	static const char *const want[][2] = {{"rsa.pem", "RSA 2048"},
	                                      {"ec.pem", "EC P-256"},
	                                      {"ed25519.pem", "Ed25519"},
	                                      {"p384.pem", "EC P-384"},
	                                      {"pss.pem", "RSA 2048"},
	                                      {"ed448.pem", "Ed448"},
	                                      {"brainpool.pem", "EC brainpoolP256r1"}};
	char path[2048];

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct dcv_csr *csr = NULL;
		struct dcv_why why;
		snprintf(path, sizeof(path), "%s/good/%s", tu_data_dir(), want[i][0]);
		if (dcv_csr_load(path, &csr, &why) < 0)
			fail_msg("%s: %s", path, why.text);
		assert_string_equal(csr->key_desc, want[i][1]);
		/* Keys a CA will not certify are flagged. */
		bool flagged = false;
		for (size_t w = 0; w < csr->n_warnings; w++)
			flagged |= strstr(csr->warnings[w], "will refuse") != NULL;
		assert_int_equal(flagged, strncmp(want[i][1], "Ed", 2) == 0 ||
		                              strstr(want[i][1], "brainpool") != NULL);
		dcv_csr_free(csr);
	}
}

/* Buffers, not files: the same refusals must hold without the filesystem. */
static void test_parse_buffers(void **state)
{
	static const unsigned char junk[] = "hello world\n";
	static const unsigned char der_junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	struct dcv_csr *csr = (void *)1;
	struct dcv_why why;

	assert_int_equal(dcv_csr_parse(junk, sizeof(junk) - 1, &csr, &why), DCV_ENOTCSR);
	assert_null(csr);
	assert_int_equal(dcv_csr_parse(der_junk, sizeof(der_junk), &csr, &why), DCV_ECSR);
	assert_non_null(strstr(why.text, "malformed"));
	assert_int_equal(dcv_csr_parse(junk, 0, &csr, NULL), DCV_ENOTCSR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_requests),    cmocka_unit_test(test_bad_inputs),
	    cmocka_unit_test(test_parse_buffers),    cmocka_unit_test(test_fast_and_full_agree),
	    cmocka_unit_test(test_key_descriptions),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
