/* testutil.h -- helpers for the cmocka tests. */
#ifndef DCV_TESTUTIL_H
#define DCV_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The folder made by tests/data/gen-csrs.sh (env DCV_TEST_DATA). */
const char *tu_data_dir(void);

/* Runs a shell command; fails the test unless it exits 0. */
void tu_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command and returns its first output line (static buffer, trailing newline cut). */
const char *tu_run_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
