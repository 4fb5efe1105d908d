/*
 * test_keyfile.c -- TSIG key files written by the real tools (tsig-keygen,
 * keymgr) at test time; their secrets decoded by base64(1) are the oracle.
 * Broken files give "FILE:LINE:COL: ..." and never show the secret.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"
#include "tufiles.h"

/* The n-th (1-based) base64 secret as written in a tsig-keygen or keymgr file. */
static void file_secret(const char *path, int nth, char *out, size_t size)
{
	snprintf(out, size, "%s",
	         tu_run_line("sed -n -e 's/.*secret \"\\(.*\\)\";.*/\\1/p' "
	                     "-e 's/^ *secret: *//p' '%s' | sed -n '%dp'",
	                     path, nth));
	assert_true(strlen(out) >= 16);
}

static void expect_secret(const struct dcv_tsig_key *key, const char *b64)
{
	char hex[2 * DCV_TSIG_SECRET_MAX + 1];

	dcv_hex(key->secret, key->secret_len, hex);
	assert_string_equal(
	    hex, tu_run_line("printf '%%s' '%s' | base64 -d | od -An -v -tx1 | tr -d ' \\n'", b64));
}

static void test_tsig_keygen(void **state)
{
	const char *path = tu_path("bind.key");
	char b64[512], mode[64];
	struct dcv_tsig_key key;
	struct dcv_strv warnings = {0};
	struct dcv_why why;

	tu_run("tsig-keygen -a hmac-sha512 Test.Key.Example. > '%s' && chmod 0640 '%s'", path,
	       path);
	file_secret(path, 1, b64, sizeof(b64));
	assert_int_equal(dcv_keyfile_load(path, NULL, &key, &warnings, &why), DCV_OK);
	assert_string_equal(key.name, "test.key.example");
	assert_int_equal(key.alg, DCV_HMAC_SHA512);
	assert_int_equal(key.secret_len, 64);
	expect_secret(&key, b64);
	/* The wire name of the file's name. */
	assert_memory_equal(key.name_wire, "\4test\3key\7example", 18);
	tu_expect_n(&warnings, 0);
	dcv_tsig_key_clear(&key);
	assert_int_equal(key.secret_len, 0);

	/* Readable by everybody: the same key, and a warning naming file and mode. */
	tu_run("chmod 0644 '%s'", path);
	assert_int_equal(dcv_keyfile_load(path, "test.key.example", &key, &warnings, &why), DCV_OK);
	expect_secret(&key, b64);
	tu_expect_n(&warnings, 1);
	snprintf(mode, sizeof(mode), "mode 0644 lets every user read the TSIG secret");
	tu_expect(&warnings, path, NULL, mode);
	tu_expect_absent(&warnings, b64);
	dcv_strv_free(&warnings);
	dcv_tsig_key_clear(&key);

	/* Every algorithm tsig-keygen offers. */
	static const struct {
		const char *name;
		enum dcv_tsig_alg alg;
	} algs[] = {{"hmac-md5", DCV_HMAC_MD5},       {"hmac-sha1", DCV_HMAC_SHA1},
	            {"hmac-sha224", DCV_HMAC_SHA224}, {"hmac-sha256", DCV_HMAC_SHA256},
	            {"hmac-sha384", DCV_HMAC_SHA384}, {"hmac-sha512", DCV_HMAC_SHA512}};
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		tu_run("tsig-keygen -a %s k%zu > '%s'", algs[i].name, i, path);
		file_secret(path, 1, b64, sizeof(b64));
		assert_int_equal(dcv_keyfile_load(path, NULL, &key, NULL, &why), DCV_OK);
		assert_int_equal(key.alg, algs[i].alg);
		expect_secret(&key, b64);
	}
}

static void test_keymgr(void **state)
{
	const char *path = tu_path("knot.key");
	char b64[512];
	struct dcv_tsig_key key;
	struct dcv_strv warnings = {0};
	struct dcv_why why;

	tu_run("keymgr -t Knot.Example hmac-sha384 > '%s' && chmod 0600 '%s'", path, path);
	/* keymgr's first line is "# hmac-sha384:Knot.Example:SECRET": a comment. */
	assert_int_equal(strncmp(tu_run_line("head -n 1 '%s'", path), "# hmac-sha384:", 14), 0);
	file_secret(path, 1, b64, sizeof(b64));
	assert_int_equal(dcv_keyfile_load(path, "other", &key, &warnings, &why), DCV_OK);
	assert_string_equal(key.name, "knot.example");
	assert_int_equal(key.alg, DCV_HMAC_SHA384);
	assert_int_equal(key.secret_len, 48);
	expect_secret(&key, b64);
	tu_expect_n(&warnings, 0);
	dcv_tsig_key_clear(&key);

	tu_run("chmod 0604 '%s'", path);
	assert_int_equal(dcv_keyfile_load(path, NULL, &key, &warnings, &why), DCV_OK);
	tu_expect_n(&warnings, 1);
	tu_expect(&warnings, path, NULL, "mode 0604");
	dcv_strv_free(&warnings);
	dcv_tsig_key_clear(&key);
}

/* Several keys in one file, comments of every kind: want_id chooses. */
static void test_several_keys(void **state)
{
	const char *bind = tu_path("several.key"), *knot = tu_path("several-knot.key");
	char b64[512];
	struct dcv_tsig_key key;
	struct dcv_why why;

	tu_run(
	    "{ echo '# three keys'; tsig-keygen -a hmac-sha256 first; echo '// C++ comment';"
	    "  echo '/* a comment over'; echo '   two lines */'; tsig-keygen -a hmac-sha1 Second.;"
	    "  tsig-keygen -a hmac-sha384 third; } > '%s'",
	    bind);
	file_secret(bind, 2, b64, sizeof(b64));
	assert_int_equal(dcv_keyfile_load(bind, "second", &key, NULL, &why), DCV_OK);
	assert_string_equal(key.name, "second");
	assert_int_equal(key.alg, DCV_HMAC_SHA1);
	expect_secret(&key, b64);
	file_secret(bind, 3, b64, sizeof(b64));
	assert_int_equal(dcv_keyfile_load(bind, "THIRD.", &key, NULL, &why), DCV_OK);
	assert_int_equal(key.alg, DCV_HMAC_SHA384);
	expect_secret(&key, b64);

	assert_int_equal(dcv_keyfile_load(bind, NULL, &key, NULL, &why), DCV_EKEY);
	assert_non_null(strstr(why.text, "holds 3 keys"));
	assert_int_equal(key.secret_len, 0);
	assert_int_equal(dcv_keyfile_load(bind, "fourth", &key, NULL, &why), DCV_EKEY);
	assert_non_null(strstr(why.text, "none named 'fourth'"));

	/* keymgr output twice, the second list appended to the first. */
	tu_run("{ keymgr -t one hmac-sha256; keymgr -t two hmac-sha512 | sed '1,2d'; } > '%s'",
	       knot);
	file_secret(knot, 2, b64, sizeof(b64));
	assert_int_equal(dcv_keyfile_load(knot, "two", &key, NULL, &why), DCV_OK);
	assert_string_equal(key.name, "two");
	assert_int_equal(key.alg, DCV_HMAC_SHA512);
	expect_secret(&key, b64);
	dcv_tsig_key_clear(&key);
}

/* Broken files: the message, its position, and never the secret. */
static void test_errors(void **state)
{
	static const char s[] = "c2VjcmV0c2VjcmV0c2VjcmV0"; /* stands in for a secret */
	static const struct {
		const char *text, *pos, *msg;
	} cases[] = {
	    {"key \"a\" {\n\talgorithm hmac-sha256;\n\tsecret \"SECRET\"\n};\n", "4:1",
	     "expected ';'"},
	    {"key \"a\" {\n\talgorithm hmac-sha256;\n\tsecret \"SECRET!\";\n};\n", "3:9",
	     "key 'a': the secret is not base64"},
	    {"key \"a\" {\n\talgorithm hmac-sha256;\n\tsecret \"SECRE\";\n};\n", "3:9",
	     "key 'a': the secret is not base64"},
	    {"key \"a\" {\n\tfoo bar;\n\tsecret \"SECRET\";\n};\n", "2:2",
	     "expected algorithm or secret in a key block"},
	    {"/* never closed\nkey \"a\" { secret \"SECRET\"; };\n", "1:1", "comment not closed"},
	    {"key \"a\" { algorithm hmac-sha7; secret \"SECRET\"; };\n", "1:21",
	     "algorithm 'hmac-sha7' is not one of"},
	    {"key \"a\" { algorithm SECRET; secret \"SECRET\"; };\n", "1:21",
	     "algorithm (value not shown) is not one of"},
	    {"key \"a\" { algorithm hmac-sha256; };\n", "1:5",
	     "the key needs a name, an algorithm and a secret"},
	    {"key \"a\" { secret \"SECRET\"; secret \"SECRET\"; };\n", "1:46",
	     "secret given twice"},
	    {"options { directory \"/var\"; };\n", "1:1", "expected a key statement"},
	    {"key \"a\" { algorithm hmac-sha256; secret \"SECRET; };\n", "1:41",
	     "quoted string not closed"},
	    {"key \"a\" { algorithm hmac-sha256; secret \"SECRET\"; }\n", "2:1",
	     "expected ';' after '}'"},
	    {"key \"a\" { algorithm hmac-sha256; secret \"SECRET\"; };\n"
	     "key \"A.\" { algorithm hmac-sha256; secret \"SECRET\"; };\n",
	     "2:5", "key 'A.' is defined twice"},
	    {"# alg:a:SECRET\nkey:\n  - id: a\n    algorithm: hmac-sha256\n", "3:5",
	     "key: id, algorithm and secret are all required"},
	    {"key:\n  - id: a\n    algorithm: hmac-sha256\n    secret: SECRET\n    secrit: x\n",
	     "5:5", "key: unknown key 'secrit' (known: id, algorithm, secret)"},
	    {"key:\n  - id: a\n    algorithm: hmac-sha256\n    secret: [SECRET]\n", "4:13",
	     "key: secret: expected a single value, found a list"},
	    {"key:\n  - id: a\n    algorithm: hmac-sha256\n    secret: \"SECRET\n", "5:1",
	     "YAML syntax error"},
	    {"key:\n  - id: a\n    algorithm: hmac-sha256\n    secret: SECRET!\n", "4:13",
	     "key 'a': the secret is not base64"},
	    {"key: []\nacl: x\n", "2:1", "key file: unknown key 'acl' (known: key)"},
	    {"", NULL, "holds no key"},
	    {"key { algorithm hmac-sha256; secret \"SECRET\"; };\n", "1:5",
	     "expected the key name after 'key'"},
	    {"key \"a\" { algorithm { }; };\n", "1:21", "expected the algorithm after 'algorithm'"},
	    {"key \"a\" { algorithm hmac-sha256; secret ; };\n", "1:41",
	     "expected the secret after 'secret'"},
	    {"key \"\" { algorithm hmac-sha256; secret \"SECRET\"; };\n", "1:5",
	     "key name '' is not a domain name"},
	    /* LONG stands for 600 base64 characters: over 256 bytes of secret. */
	    {"key \"a\" { algorithm hmac-sha256; secret \"LONG\"; };\n", "1:41",
	     "key 'a': the secret is longer than 256 bytes"},
	};
	char text[1024], *at = NULL;
	struct dcv_tsig_key key;
	struct dcv_why why;
	const char *path = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* SECRET stands for s (same length as the real thing would not matter). */
		size_t used = 0;
		const char *p = cases[i].text;
		while (*p != '\0' && used + sizeof(s) < sizeof(text)) {
			if (strncmp(p, "LONG", 4) == 0 && used + 600 < sizeof(text)) {
				memset(text + used, 'A', 600);
				used += 600;
				p += 4;
			} else if (strncmp(p, "SECRET", 6) == 0) {
				memcpy(text + used, s, sizeof(s) - 1);
				used += sizeof(s) - 1;
				p += 6;
			} else {
				text[used++] = *p++;
			}
		}
		text[used] = '\0';
		path = tu_put("broken.key", 0600, text);
		assert_int_equal(dcv_keyfile_load(path, NULL, &key, NULL, &why), DCV_EKEY);
		assert_int_equal(key.secret_len, 0);
		struct dcv_strv one = {&at, 1, 1};
		at = why.text;
		tu_expect(&one, path, cases[i].pos, cases[i].msg);
		tu_expect_absent(&one, s);
		tu_expect_absent(&one, "c2VjcmV0");
	}
	assert_int_equal(dcv_keyfile_load(tu_path("none.key"), NULL, &key, NULL, &why), DCV_EIO);
	assert_non_null(strstr(why.text, "cannot open: No such file or directory"));
	assert_int_equal(dcv_keyfile_load(tu_dir, NULL, &key, NULL, &why), DCV_EKEY);
}

/* Arbitrary bytes: no crash, a positioned message, no partial key. */
static void test_garbage(void **state)
{
	static const char alphabet[] = "key\"{};#/* \n\talgorithmsecrethmac-sha256c2Vj:-\\\0\xff";
	unsigned char buf[256];
	uint32_t x = 88172645u;
	struct dcv_tsig_key key;
	struct dcv_why why;

	for (int round = 0; round < 3000; round++) {
		size_t len = 0;
		const char *path = NULL;

		len = tu_random_text(&x, buf, sizeof(buf), alphabet, sizeof(alphabet) - 1);
		if (round % 2)
			memcpy(buf, "key:\n", len < 5 ? len : 5);
		path = tu_put_bytes("garbage.key", 0600, buf, len);
		if (dcv_keyfile_load(path, NULL, &key, NULL, &why) != DCV_OK) {
			assert_int_equal(key.secret_len, 0);
			assert_int_equal(strncmp(why.text, path, strlen(path)), 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tsig_keygen),  cmocka_unit_test(test_keymgr),
	    cmocka_unit_test(test_several_keys), cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, tu_dir_setup, tu_dir_teardown);
}
