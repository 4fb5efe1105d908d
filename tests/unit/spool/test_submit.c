/*
 * test_submit.c -- what `dcv submit` writes (submit.h): NAMEs that dcvd
 * takes as they are, sidecars that dcvd's parser reads back, the drop into
 * incoming/ (mode, no replace, no dot-file left), and the result it reads.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sidecar.h"
#include "spool_int.h"
#include "submit.h"
#include "testutil.h"

static const unsigned char rnd[DCV_SUBMIT_RANDOM_BYTES] = {0x01, 0x23, 0x45, 0x67,
                                                           0x89, 0xab, 0xcd, 0xef};

static void test_names(void **state)
{
	static const struct {
		const char *path, *name, *ext;
	} cases[] = {
	    {"/x/www.example.com.csr", "www.example.com-0123456789abcdef", "csr"},
	    {"a.PEM", "a-0123456789abcdef", "pem"},
	    {"dir.d/b.der", "b-0123456789abcdef", "der"},
	    {"req.txt", "req.txt-0123456789abcdef", "csr"},
	    {"-", "stdin-0123456789abcdef", "csr"},
	    {".hidden.csr", "_hidden-0123456789abcdef", "csr"},
	    {"sp ace~t\\ld\x01.csr", "sp_ace_t_ld_-0123456789abcdef", "csr"},
	    {"caf\xc3\xa9.csr", "caf__-0123456789abcdef", "csr"},
	    {".csr", "_csr-0123456789abcdef", "csr"},
	    {"/x/", "csr-0123456789abcdef", "csr"},
	};
	struct dcv_submit_name n, m;
	struct dcv_why why = {""};
	char longname[400];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dcv_submit_name_make(cases[i].path, rnd, &n);
		if (strcmp(n.name, cases[i].name) != 0 || strcmp(n.ext, cases[i].ext) != 0)
			fail_msg("%zu: '%s' '%s', expected '%s' '%s'", i, n.name, n.ext,
			         cases[i].name, cases[i].ext);
		/* dcvd takes it as it is: a candidate, safe, not cut. */
		assert_int_equal(spool_cand_name_len(n.file), strlen(n.name));
		assert_int_equal(spool_name_check(n.name, strlen(n.name)), SPOOL_NAME_SAFE);
		assert_true(n.file[0] != '.');
		assert_string_equal(n.sidecar + strlen(n.name), ".yaml");
	}
	memset(longname, 'a', sizeof(longname) - 5);
	memcpy(longname + sizeof(longname) - 5, ".csr", 5);
	dcv_submit_name_make(longname, rnd, &n);
	assert_int_equal(strlen(n.name), DCV_SUBMIT_STEM_MAX + 17);
	assert_true(strlen(n.name) <= DCV_JOB_NAME_MAX);
	/* Fresh randomness: two NAMEs of one file differ. */
	assert_int_equal(dcv_submit_name_new("a.csr", &n, &why), DCV_OK);
	assert_int_equal(dcv_submit_name_new("a.csr", &m, &why), DCV_OK);
	assert_string_not_equal(n.name, m.name);
}

static void test_sidecar_text(void **state)
{
	char *expect[] = {"_0123456789abcdef0123456789abcdef.example.com. CNAME x.y.sectigo.com.",
	                  "it's: \"quoted\" # not a comment"};
	const char *token = "00112233445566778899aabbccddeeff";
	struct dcv_sidecar sc;
	struct dcv_why why = {""};
	unsigned char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(dcv_submit_sidecar(NULL, NULL, NULL, 0, NULL, &buf, &len), DCV_OK);
	assert_null(buf);
	assert_int_equal(dcv_submit_sidecar("", "", NULL, 0, NULL, &buf, &len), DCV_OK);
	assert_null(buf);
	assert_int_equal(dcv_submit_sidecar("Ab12", "comodoca.com", expect, 1, token, &buf, &len),
	                 DCV_OK);
	assert_int_equal(dcv_sidecar_parse("s.yaml", buf, len, &sc, &why), DCV_OK);
	assert_string_equal(sc.unique, "Ab12");
	assert_string_equal(sc.target, "comodoca.com");
	assert_string_equal(sc.token, token);
	assert_int_equal(sc.expect.n, 1);
	assert_string_equal(sc.expect.v[0], expect[0]);
	dcv_sidecar_free(&sc);
	free(buf);
	/* Text that needs quoting survives: the parser refuses it as a record, by its words. */
	assert_int_equal(dcv_submit_sidecar(NULL, NULL, expect + 1, 1, NULL, &buf, &len), DCV_OK);
	assert_int_equal(dcv_sidecar_parse("s.yaml", buf, len, &sc, &why), DCV_EINVAL);
	assert_non_null(strstr(why.text, "it's: \"quoted\" # not a comment"));
	free(buf);
}

static void test_drop(void **state)
{
	char dir[] = "/tmp/dcv-submit-XXXXXX", path[128], got[16] = "";
	struct dcv_why why = {""};
	struct stat st;
	mode_t old = umask(077);
	FILE *f = NULL;
	int fd = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(dcv_submit_drop(fd, dir, "a.csr", (const unsigned char *)"one", 3, &why),
	                 DCV_OK);
	snprintf(path, sizeof(path), "%s/a.csr", dir);
	assert_int_equal(lstat(path, &st), 0);
	/* 0640 under umask 077: dcvd reads through the group. */
	assert_int_equal(st.st_mode & 07777, 0640);
	/* Taken: DCV_EINVAL, the first file untouched, no dot-file left. */
	assert_int_equal(dcv_submit_drop(fd, dir, "a.csr", (const unsigned char *)"two", 3, &why),
	                 DCV_EINVAL);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(got, sizeof(got), f));
	fclose(f);
	assert_string_equal(got, "one");
	assert_int_equal(tu_count_entries(dir), 1);
	/* A folder that cannot be written: DCV_EIO naming it, nothing left. */
	close(fd);
	fd = open("/proc", O_RDONLY | O_DIRECTORY);
	assert_int_equal(dcv_submit_drop(fd, "/proc", "a.csr", (const unsigned char *)"x", 1, &why),
	                 DCV_EIO);
	assert_non_null(strstr(why.text, "/proc/.a.csr.tmp: create"));
	close(fd);
	umask(old);
	tu_run("rm -rf '%s'", dir);
}

/*
 * A write that fails (RLIMIT_FSIZE: EFBIG, as a full disk would fail it)
 * and a rename that fails: DCV_EIO naming the file and the call, no
 * dot-file left.
 */
static void test_drop_failures(void **state)
{
	char dir[] = "/tmp/dcv-submit-XXXXXX", want[200];
	static unsigned char big[8192];
	struct dcv_why why = {""};
	struct rlimit old, small;
	void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
	int fd = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	memset(big, 'x', sizeof(big));
	assert_int_equal(dcv_submit_drop(fd, dir, "a.csr", big, sizeof(big), &why), DCV_EIO);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	snprintf(want, sizeof(want), "%s/.a.csr.tmp: write: File too large", dir);
	assert_string_equal(why.text, want);
	assert_int_equal(tu_count_entries(dir), 0);
	/* A final name in a folder that is not there (dcv never makes one): the rename fails. */
	tu_run("mkdir '%s/.sub'", dir);
	assert_int_equal(dcv_submit_drop(fd, dir, "sub/a.csr", big, 10, &why), DCV_EIO);
	snprintf(want, sizeof(want), "%s/sub/a.csr: rename: No such file or directory", dir);
	assert_string_equal(why.text, want);
	assert_int_equal(tu_count_entries(dir), 1);
	snprintf(want, sizeof(want), "%s/.sub", dir);
	assert_int_equal(tu_count_entries(want), 0);
	close(fd);
	signal(SIGXFSZ, old_xfsz);
	tu_run("rm -rf '%s'", dir);
}

static void test_result(void **state)
{
	const char *token = "00112233445566778899aabbccddeeff";
	const char *ok = "---\nstate: failed\nstep: failed\nerror: 'no zone: x.example'\n"
	                 "token: 00112233445566778899aabbccddeeff\n";
	const char *quoted = "---\nstate: visible\ntoken: '00112233445566778899aabbccddeeff'\n";
	char state_[16], error[64];
	size_t shown = 0;

	(void)state;
	assert_true(dcv_submit_result_parse(ok, strlen(ok), token, &shown, state_, sizeof(state_),
	                                    error, sizeof(error)));
	assert_int_equal(shown, strlen(ok) - strlen("token: ") - 33);
	assert_memory_equal(ok, "---\nstate: failed\n", 18);
	assert_string_equal(state_, "failed");
	assert_string_equal(error, "no zone: x.example");
	/* The emitter quotes a token that looks like a number. */
	assert_true(dcv_submit_result_parse(quoted, strlen(quoted), token, &shown, state_,
	                                    sizeof(state_), error, sizeof(error)));
	assert_int_equal(shown, strlen("---\nstate: visible\n"));
	assert_string_equal(state_, "visible");
	/* Another token, or none: not ours. */
	assert_false(dcv_submit_result_parse(ok, strlen(ok), "ffffffffffffffffffffffffffffffff",
	                                     &shown, state_, sizeof(state_), error, sizeof(error)));
	assert_false(dcv_submit_result_parse("---\nstate: visible\n", 19, token, &shown, state_,
	                                     sizeof(state_), error, sizeof(error)));
}

/* Results that are not ours, or odd: never taken, whatever the token inside. */
static void test_result_odd(void **state)
{
	const char *token = "00112233445566778899aabbccddeeff";
	static const char nul[] = "state: visible\n\0token: 00112233445566778899aabbccddeeff\n";
	static const char *const odd[] = {
	    /* The token's line must follow another: a file of the token alone is not a status. */
	    "token: 00112233445566778899aabbccddeeff\n",
	    /* Not a mapping; the token as a key's value inside a nested map; a sequence. */
	    "- token: 00112233445566778899aabbccddeeff\n",
	    "job:\n  token: 00112233445566778899aabbccddeeff\n",
	    "state: visible\ntoken: [00112233445566778899aabbccddeeff]\n",
	    /* Not YAML. */
	    "state: [visible\ntoken: 00112233445566778899aabbccddeeff\n",
	};
	char state_[16] = "x", error[64] = "x";
	size_t shown = 0;

	(void)state;
	assert_false(dcv_submit_result_parse(nul, sizeof(nul) - 1, token, &shown, state_,
	                                     sizeof(state_), error, sizeof(error)));
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		assert_false(dcv_submit_result_parse(odd[i], strlen(odd[i]), token, &shown, state_,
		                                     sizeof(state_), error, sizeof(error)));
	/* A state that is no scalar, and a value longer than its buffer: cut, still ours. */
	assert_true(dcv_submit_result_parse(
	    "state: [a]\nerror: "
	    "0123456789012345678901234567890123456789012345678901234567890123456789\n"
	    "token: 00112233445566778899aabbccddeeff\n",
	    129, token, &shown, state_, sizeof(state_), error, sizeof(error)));
	assert_string_equal(state_, "");
	assert_int_equal(strlen(error), sizeof(error) - 1);
	assert_int_equal(shown, 129 - 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),  cmocka_unit_test(test_sidecar_text),
	    cmocka_unit_test(test_drop),   cmocka_unit_test(test_drop_failures),
	    cmocka_unit_test(test_result), cmocka_unit_test(test_result_odd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
