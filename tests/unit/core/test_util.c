/*
 * test_util.c -- dcv_memdup_text() copies exactly the bytes it is given,
 * also from the last bytes of a mapped file with no NUL after them: the
 * place where strndup() under AddressSanitizer's strict_string_checks (how
 * tests/all.sh runs the sanitized build) read on to the next page, past
 * the end of the file, and the store's crash test died of SIGBUS in an
 * LMDB value.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"
#include "tufiles.h"
#include "util.h"

static void test_memdup_text_end_of_map(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	const char *path = tu_path("one-page");
	char *buf = NULL, *map = MAP_FAILED, *copy = NULL;
	int fd = -1;

	(void)state;
	buf = malloc((size_t)page);
	assert_non_null(buf);
	memset(buf, 'x', (size_t)page);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_true(dcv_write_all(fd, buf, (size_t)page));
	/* Two pages mapped over a file of one, as LMDB maps more than the file holds. */
	map = mmap(NULL, 2 * (size_t)page, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	copy = dcv_memdup_text(map + page - 6, 6);
	assert_non_null(copy);
	assert_string_equal(copy, "xxxxxx");
	free(copy);
	munmap(map, 2 * (size_t)page);
	close(fd);
	free(buf);
}

static void test_memdup_text_nul_and_empty(void **state)
{
	char *copy = NULL;

	(void)state;
	copy = dcv_memdup_text("ab\0cd", 5);
	assert_non_null(copy);
	assert_int_equal(strlen(copy), 2);
	assert_memory_equal(copy, "ab\0cd\0", 6);
	free(copy);
	copy = dcv_memdup_text("", 0);
	assert_non_null(copy);
	assert_string_equal(copy, "");
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_memdup_text_end_of_map, tu_dir_setup,
	                                    tu_dir_teardown),
	    cmocka_unit_test(test_memdup_text_nul_and_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
