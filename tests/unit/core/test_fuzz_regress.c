/*
 * test_fuzz_regress.c -- replays every input the fuzz targets ever found a
 * problem with (tests/fuzz/regress/<target>/) and every seed
 * (tests/fuzz/corpus/<target>/) through the same code and oracles as the
 * libFuzzer targets, without libFuzzer: so that the normal ctest run, and
 * the sanitizer build, keep each fixed finding fixed.
 *
 * The target files are included as they are (DCV_FUZZ_REPLAY leaves out
 * their libFuzzer entry point): no second copy of the oracles, and no build
 * rule of its own. A broken oracle aborts the program, which fails the test.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util.h"

#define DCV_FUZZ_REPLAY 1
#include "../fuzz/fuzz_config.c"
#include "../fuzz/fuzz_csr.c"
#include "../fuzz/fuzz_jobrec.c"
#include "../fuzz/fuzz_keyfile.c"
#include "../fuzz/fuzz_reply.c"
#include "../fuzz/fuzz_sidecar.c"
#include "../fuzz/fuzz_util.c"

/* The largest input replayed: more than any target's -max_len. */
#define REPLAY_MAX (1024 * 1024)

struct target {
	const char *name;
	int (*one)(const uint8_t *data, size_t size);
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every file of SOURCE/tests/fuzz/<kind>/<target>/ in name order; returns how many. */
static size_t replay_dir(const struct target *t, const char *kind)
{
	const char *src = getenv("DCV_SOURCE_DIR");
	char dir[1024], path[1280];
	struct dcv_strv names = {0};
	struct dcv_why why = {""};
	struct dirent *e = NULL;
	DIR *d = NULL;
	size_t n = 0;

	assert_non_null(src);
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/%s/%s", src, kind, t->name);
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			assert_int_equal(dcv_strv_push(&names, e->d_name), DCV_OK);
	closedir(d);
	if (names.n > 0)
		qsort(names.v, names.n, sizeof(names.v[0]), by_name);
	for (size_t i = 0; i < names.n; i++) {
		unsigned char *buf = NULL, *exact = NULL;
		size_t len = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, names.v[i]);
		if (dcv_read_file(path, REPLAY_MAX, &buf, &len, &why) < 0)
			fail_msg("%s: %s", path, why.text);
		/* A buffer of exactly the input's size, as libFuzzer gives: over-reads show. */
		exact = malloc(len ? len : 1);
		assert_non_null(exact);
		memcpy(exact, buf, len);
		fprintf(stderr, "replay %s/%s/%s (%zu bytes)\n", kind, t->name, names.v[i], len);
		t->one(exact, len);
		free(exact);
		free(buf);
	}
	n = names.n;
	dcv_strv_free(&names);
	return n;
}

static void replay(void **state)
{
	const struct target *t = *state;
	size_t found = replay_dir(t, "regress");
	size_t seeds = replay_dir(t, "corpus");

	/* Every target has seeds; an empty corpus means the folder moved. */
	assert_true(seeds > 0);
	fprintf(stderr, "%s: %zu regression inputs, %zu seeds\n", t->name, found, seeds);
}

/* The oracles of fuzz_util.c see what they are meant to see (so that they can fail). */
static void test_oracles(void **state)
{
	static const char yaml[] = "key:\n  - id: dcv\n    secret: c2VjcmV0LXZhbHVlLW9uZQ==\n"
	                           "remote: {id: c2VjcmV0LXZhbHVlLXR3bw==, secret: short}\n";
	static const char bind[] = "key \"dcv\" { algorithm hmac-sha256; # secret \"no\"\n"
	                           "\tSECRET \"c2VjcmV0LXZhbHVlLXRocmVl\"; };\n";
	struct dcv_strv found = {0};
	uint8_t msg[512], request[512];
	size_t len = 0, request_len = 0;
	struct dcv_tsig_ctx ctx;
	char path[1024];
	unsigned char *buf = NULL;
	struct dcv_why why = {""};

	(void)state;
	fuzz_secrets_find((const uint8_t *)yaml, strlen(yaml), true, &found);
	fuzz_secrets_find((const uint8_t *)bind, strlen(bind), false, &found);
	/* The remote id is no secret; "short" and "no" are too short to judge. */
	assert_int_equal(found.n, 2);
	assert_string_equal(found.v[0], "c2VjcmV0LXZhbHVlLW9uZQ==");
	assert_string_equal(found.v[1], "c2VjcmV0LXZhbHVlLXRocmVl");
	assert_non_null(fuzz_secrets_shown(&found, "key 'x': c2VjcmV0LXZhbHVlLXRocmVl is bad"));
	assert_null(fuzz_secrets_shown(&found, "key 'x': the secret is not base64"));
	dcv_strv_free(&found);

	/* A seed signed by the independent signer verifies, and the oracle notices a change. */
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/fuzz_reply/cname-signed",
	         getenv("DCV_SOURCE_DIR"));
	assert_int_equal(dcv_read_file(path, sizeof(msg), &buf, &len, &why), DCV_OK);
	memcpy(msg, buf, len);
	free(buf);
	fuzz_tsig_request(request, &request_len, &ctx);
	assert_true(fuzz_tsig_patch(msg, len, &ctx));
	assert_int_equal(fuzz_tsig_expect(msg, len, &ctx, FUZZ_NOW), DCV_OK);
	assert_int_equal(dcv_tsig_verify(&ctx, msg, len, FUZZ_NOW, NULL, NULL), DCV_OK);
	msg[len - 8] ^= 1; /* inside the MAC */
	assert_int_equal(fuzz_tsig_expect(msg, len, &ctx, FUZZ_NOW), DCV_OK);
	assert_int_equal(dcv_tsig_verify(&ctx, msg, len, FUZZ_NOW, NULL, NULL), DCV_ETSIG);
	assert_int_equal(fuzz_tsig_expect(msg, len, &ctx, FUZZ_NOW + 301), DCV_ETSIG);
}

static const struct target targets[] = {
    {"fuzz_csr", fuzz_csr_one},         {"fuzz_config", fuzz_config_one},
    {"fuzz_sidecar", fuzz_sidecar_one}, {"fuzz_keyfile", fuzz_keyfile_one},
    {"fuzz_jobrec", fuzz_jobrec_one},   {"fuzz_reply", fuzz_reply_one},
};

int main(void)
{
	struct CMUnitTest tests[sizeof(targets) / sizeof(targets[0]) + 1];
	size_t n = 0;

	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_oracles);
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		tests[n++] =
		    (struct CMUnitTest){targets[i].name, replay, NULL, NULL, (void *)&targets[i]};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
