/* testutil.h -- helpers for the cmocka tests. */
#ifndef DCV_TESTUTIL_H
#define DCV_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The folder made by tests/data/gen-csrs.sh (env DCV_TEST_DATA). */
const char *tu_data_dir(void);

/* The next value of a xorshift32 sequence in *x (not 0): repeatable random input for tests. */
static inline uint32_t tu_xorshift32(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/*
 * Fills buf with a random length (below size) of characters drawn from
 * alphabet (alphabet_len of them), both from the sequence in *x; returns
 * that length.
 */
static inline size_t tu_random_text(uint32_t *x, unsigned char *buf, size_t size,
                                    const char *alphabet, size_t alphabet_len)
{
	size_t len = tu_xorshift32(x) % size;

	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)alphabet[tu_xorshift32(x) % alphabet_len];
	return len;
}

/* Entries in a folder, . and .. aside (fails the test when it cannot be read). */
size_t tu_count_entries(const char *dir);

/* Runs a shell command; fails the test unless it exits 0. */
void tu_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command and returns its first output line (static buffer, trailing newline cut). */
const char *tu_run_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Ends a forked child of a test with code, at once (_exit: a forked child
 * must not run the parent's exit handlers -- libuv's joins a thread pool
 * the child does not have), and with its coverage counters written first
 * in a coverage build (__gcov_dump, from libgcov).
 */
__attribute__((noreturn)) void tu_child_exit(int code);

/*
 * Skips the running test and says why. cmocka's own skip() only marks the
 * test SKIPPED in its output and the program still exits 0, so ctest would
 * count it as passed: here the program exits 77 instead when no test
 * failed (tests/CMakeLists.txt sets SKIP_RETURN_CODE 77), and ctest shows
 * it as skipped; tests/all.sh fails on a skip that tests/skips-allowed does
 * not list. A bare skip() in a test comes here too (reason: "no reason
 * given"). Like skip(), it does not return.
 */
void tu_skip_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define tu_skip(...) tu_skip_at(__FILE__, __LINE__, __VA_ARGS__)
#undef skip
#define skip() tu_skip_at(__FILE__, __LINE__, "%s", "no reason given")

/*
 * cmocka_run_group_tests() with the exit status above: 0 when every test
 * ran and passed, 77 when none failed but some skipped, 1 when any failed.
 * With TU_ONLY set in the environment only the tests of that name run
 * (cmocka_set_test_filter; tu_rerun_as_nobody uses it).
 */
int tu_run_group(const char *group, const struct CMUnitTest *tests, size_t n,
                 CMFixtureFunction setup, CMFixtureFunction teardown);
#undef cmocka_run_group_tests
#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)                           \
	tu_run_group(#group_tests, group_tests, sizeof(group_tests) / sizeof((group_tests)[0]),    \
	             group_setup, group_teardown)

/*
 * For tests that mean nothing as root (root reads a mode 000 file anyway).
 * As root: runs TEST again in a child of this very program, as uid and gid
 * 65534 with no supplementary groups (setpriv --reuid=65534 --regid=65534
 * --clear-groups), with TU_ONLY=TEST so that the child runs that test
 * alone, and returns true: the child passed (its failure fails this test,
 * its skip skips it). Not root: returns false, and the caller runs the test
 * itself. The child uses what other users may: TMPDIR (default /tmp) and
 * the build folder's programs and data.
 */
bool tu_rerun_as_nobody(const char *test);

#endif
