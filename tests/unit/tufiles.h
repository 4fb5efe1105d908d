/*
 * tufiles.h -- helpers shared by the configuration, key file and sidecar
 * tests: a temporary folder, files written into it with an exact mode, and
 * assertions over message lists. Header-only (static inline) so that the
 * test programs need nothing beyond testutil.
 */
#ifndef DCV_TUFILES_H
#define DCV_TUFILES_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"
#include "util.h"

static char tu_dir[256];

/* Makes tu_dir (a fresh folder under $TMPDIR or /tmp). */
static inline int tu_dir_setup(void **state)
{
	const char *base = getenv("TMPDIR");

	snprintf(tu_dir, sizeof(tu_dir), "%s/dcv-test-XXXXXX",
	         base != NULL && base[0] != '\0' ? base : "/tmp");
	return mkdtemp(tu_dir) != NULL ? 0 : -1;
}

static inline int tu_dir_teardown(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tu_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* tu_dir/name, in one of a few rotating static buffers. */
static inline const char *tu_path(const char *name)
{
	static char paths[8][512];
	static unsigned next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", tu_dir, name);
	return p;
}

/* Writes len bytes to tu_dir/name with exactly this mode; returns the path. */
static inline const char *tu_put_bytes(const char *name, mode_t mode, const void *data, size_t len)
{
	const char *path = tu_path(name);
	int fd = -1;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static inline const char *tu_put(const char *name, mode_t mode, const char *text)
{
	return tu_put_bytes(name, mode, text, strlen(text));
}

static inline void tu_dump(const char *title, const struct dcv_strv *sv)
{
	print_message("%s (%zu):\n", title, sv->n);
	for (size_t i = 0; i < sv->n; i++)
		print_message("  %s\n", sv->v[i]);
}

/* Index of the message "PATH:POS: ..." containing text, or -1. */
static inline long tu_find(const struct dcv_strv *sv, const char *path, const char *pos,
                           const char *text)
{
	char prefix[600];

	if (pos != NULL)
		snprintf(prefix, sizeof(prefix), "%s:%s: ", path, pos);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	for (size_t i = 0; i < sv->n; i++)
		if (strncmp(sv->v[i], prefix, strlen(prefix)) == 0 &&
		    strstr(sv->v[i] + strlen(prefix), text) != NULL)
			return (long)i;
	return -1;
}

/* Fails unless a message starts with "PATH:POS: " (pos NULL: "PATH: ") and contains text. */
static inline void tu_expect(const struct dcv_strv *sv, const char *path, const char *pos,
                             const char *text)
{
	if (tu_find(sv, path, pos, text) < 0) {
		tu_dump("messages", sv);
		fail_msg("no message '%s:%s: ...%s...'", path, pos ? pos : "", text);
	}
}

static inline void tu_expect_n(const struct dcv_strv *sv, size_t n)
{
	if (sv->n != n) {
		tu_dump("messages", sv);
		fail_msg("%zu messages, expected %zu", sv->n, n);
	}
}

/* Fails when any message contains needle (a secret, or part of one). */
static inline void tu_expect_absent(const struct dcv_strv *sv, const char *needle)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strstr(sv->v[i], needle) != NULL)
			fail_msg("message %zu contains a secret (or part of one)", i);
}

/* A configuration file: top, then one zone with one keyless remote (one warning: unsigned updates).
 */
static inline const char *tu_put_config(const char *name, const char *top)
{
	char text[1024];

	snprintf(text, sizeof(text),
	         "%s"
	         "remote:\n"
	         "  - id: p\n"
	         "    address: 127.0.0.1\n"
	         "zone:\n"
	         "  - domain: example.test\n"
	         "    primary: p\n",
	         top);
	return tu_put(name, 0600, text);
}

/* Loads path, which must load with no error (warnings are the caller's to check). */
static inline struct dcv_config *tu_load_config_ok(const char *path)
{
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0};

	assert_int_equal(dcv_config_load(path, &cfg, &errors), DCV_OK);
	tu_expect_n(&errors, 0);
	dcv_strv_free(&errors);
	return cfg;
}

#endif
