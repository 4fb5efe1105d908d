/* failalloc.c -- the wrapped allocators and the torture driver (failalloc.h). */
#include "failalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcv/err.h"
#include "testutil.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
FILE *__real_open_memstream(char **ptr, size_t *size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);
int __wrap_asprintf(char **out, const char *fmt, ...);
FILE *__wrap_open_memstream(char **ptr, size_t *size);
int __wrap_RAND_bytes(unsigned char *buf, int num);

/* The allocations counted in this run, and the one to fail (0: none). */
static size_t fa_calls;
static size_t fa_fail_at;
static bool fa_did_fail;
static bool fa_paused;
static uint32_t fa_random = 1;

/* Counts one allocation; true when it is the one to fail (errno is then ENOMEM). */
static bool fa_should_fail(void)
{
	if (fa_paused)
		return false;
	fa_calls++;
	if (fa_fail_at == 0 || fa_calls != fa_fail_at)
		return false;
	fa_did_fail = true;
	errno = ENOMEM;
	return true;
}

void *__wrap_malloc(size_t size)
{
	return fa_should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fa_should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return fa_should_fail() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
	return fa_should_fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fa_should_fail() ? NULL : __real_strndup(s, n);
}

int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	/* glibc leaves *out undefined on failure; callers must not read it. */
	return fa_should_fail() ? -1 : __real_vasprintf(out, fmt, ap);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (fa_should_fail())
		return -1;
	va_start(ap, fmt);
	rc = __real_vasprintf(out, fmt, ap);
	va_end(ap);
	return rc;
}

FILE *__wrap_open_memstream(char **ptr, size_t *size)
{
	return fa_should_fail() ? NULL : __real_open_memstream(ptr, size);
}

void fa_pause(bool paused)
{
	fa_paused = paused;
}

/*
 * Our own randomness (retry jitter, DNS ids) repeats in every run, so that
 * a run makes the same allocations as the one before it until one fails.
 */
int __wrap_RAND_bytes(unsigned char *buf, int num)
{
	for (int i = 0; i < num; i++)
		buf[i] = (unsigned char)tu_xorshift32(&fa_random);
	return 1;
}

size_t fa_count(void)
{
	return fa_calls;
}

bool fa_fired(void)
{
	return fa_did_fail;
}

void fa_printf(struct fa_result *res, const char *fmt, ...)
{
	size_t used = strlen(res->digest);
	va_list ap;

	if (used + 1 >= sizeof(res->digest))
		return;
	va_start(ap, fmt);
	vsnprintf(res->digest + used, sizeof(res->digest) - used, fmt, ap);
	va_end(ap);
}

/* One run of the scenario with allocation fail_at failing (0: none). */
static void fa_run(fa_scenario run, void *state, size_t fail_at, struct fa_result *res)
{
	memset(res, 0, sizeof(*res));
	fa_calls = 0;
	fa_did_fail = false;
	fa_fail_at = fail_at;
	fa_paused = false;
	fa_random = 2463534242u;
	run(state, res);
	fa_fail_at = 0;
	fa_paused = false;
}

static bool fa_accepted(int rc, const int *accept, size_t n_accept)
{
	if (accept == NULL || n_accept == 0)
		return rc == DCV_ENOMEM;
	for (size_t i = 0; i < n_accept; i++)
		if (rc == accept[i])
			return true;
	return false;
}

/* With FA_DUMP=DIR set, both digests of a failure go to DIR/NAME.got and DIR/NAME.want. */
static void fa_dump(const char *name, const struct fa_result *got, const struct fa_result *want)
{
	const char *dir = getenv("FA_DUMP");
	char path[4096];
	FILE *f = NULL;

	for (int k = 0; dir != NULL && k < 2; k++) {
		snprintf(path, sizeof(path), "%s/%s.%s", dir, name, k ? "want" : "got");
		if ((f = fopen(path, "w")) != NULL) {
			fputs(k ? want->digest : got->digest, f);
			fclose(f);
		}
	}
}

/* Where to start showing two digests: a little before their first difference. */
static size_t fa_near_difference(const struct fa_result *a, const struct fa_result *b)
{
	size_t i = 0;

	while (a->digest[i] != '\0' && a->digest[i] == b->digest[i])
		i++;
	return i > 200 ? i - 200 : 0;
}

size_t fa_torture(const char *name, fa_scenario run, void *state, int want_rc, const int *accept,
                  size_t n_accept)
{
	return fa_torture_sampled(name, run, state, want_rc, accept, n_accept, 0);
}

size_t fa_torture_sampled(const char *name, fa_scenario run, void *state, int want_rc,
                          const int *accept, size_t n_accept, size_t max_runs)
{
	static struct fa_result want, got;
	size_t n, stride = 1;

	fa_run(run, state, 0, &want);
	n = fa_calls;
	if (want.rc != want_rc)
		fail_msg("%s: unarmed run gave %d (%s), not %d: '%s'", name, want.rc,
		         dcv_strerror(want.rc), want_rc, want.digest);
	if (n == 0)
		fail_msg("%s: the scenario allocates nothing through our code", name);
	stride = max_runs == 0 || n <= max_runs ? 1 : (n + max_runs - 1) / max_runs;
	for (size_t i = 1; i <= n; i = i + stride > n && i < n ? n : i + stride) {
		/* FA_ONLY=I: that allocation alone (to look at one failure again). */
		if (getenv("FA_ONLY") != NULL && strtoul(getenv("FA_ONLY"), NULL, 10) != i)
			continue;
		fa_run(run, state, i, &got);
		if (!fa_did_fail)
			fail_msg("%s: allocation %zu of %zu never came (the scenario is not "
			         "repeatable)",
			         name, i, n);
		if (got.rc == want.rc && strcmp(got.digest, want.digest) == 0)
			continue;
		if (got.rc != want.rc && fa_accepted(got.rc, accept, n_accept))
			continue;
		fa_dump(name, &got, &want);
		fail_msg("%s: with allocation %zu of %zu failing: code %d (%s), digest from byte "
		         "%zu\n  '%.600s'\nexpected %d (%s), digest from there\n  '%.600s'",
		         name, i, n, got.rc, dcv_strerror(got.rc), fa_near_difference(&got, &want),
		         got.digest + fa_near_difference(&got, &want), want.rc,
		         dcv_strerror(want.rc), want.digest + fa_near_difference(&got, &want));
	}
	if (stride == 1)
		print_message("%s: %zu allocations, each failed once\n", name, n);
	else
		print_message("%s: %zu allocations, one in %zu failed once, and the last\n", name,
		              n, stride);
	return n;
}
