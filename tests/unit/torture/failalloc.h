/*
 * failalloc.h -- allocation-failure ("torture") testing, in the spirit of
 * curl's torture tests.
 *
 * The test programs tests/unit/torture/test_torture_*.c are linked with
 * -Wl,--wrap for malloc, calloc, realloc, strdup, strndup, asprintf,
 * vasprintf and open_memstream (tests/CMakeLists.txt): every call of those
 * from our own objects -- the static libraries of daemon/ that the test
 * links, the test itself -- goes through the counters here, which can make
 * the Nth one fail (NULL or -1, errno ENOMEM). --wrap rewrites only the
 * references of the objects being linked, so allocations inside libc,
 * OpenSSL, libyaml, libpsl or ldns are neither counted nor failed: what is
 * proven is that our code handles a NULL from every allocation it makes.
 *
 * fa_torture() runs a scenario once unarmed, which counts its N
 * allocations and records its result, then N more times, the i-th run with
 * the i-th allocation failing. Every run must give either the very result
 * of the unarmed run (same code, same digest of its output: nothing lost
 * or half-built) or one of the scenario's accepted error codes (normally
 * DCV_ENOMEM alone). Leaks and use-after-free on those paths are found by
 * ASan/LSan in the sanitized build (a leak fails the program at exit).
 * Every allocation index is failed, none sampled: the scenarios are chosen
 * small enough for that (a few hundred allocations at most). So that every
 * run makes the same allocations as the unarmed one until its failure,
 * RAND_bytes() is wrapped too (our retry jitter and DNS ids): it gives the
 * same bytes in every run.
 */
#ifndef DCV_FAILALLOC_H
#define DCV_FAILALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* What a scenario returns: its code, and a digest of its output when it succeeded. */
struct fa_result {
	int rc;
	char digest[16384]; /* text the scenario writes (snprintf: no allocation) */
};

/*
 * One complete operation: does it, checks what the contract says of a
 * failure (outputs NULL or empty, a why text), frees everything, and fills
 * res. state is fa_torture's argument.
 */
typedef void (*fa_scenario)(void *state, struct fa_result *res);

/*
 * Runs the scenario as above; fails the cmocka test on any other outcome.
 * accept lists the error codes a failed allocation may give (n_accept of
 * them; NULL/0 means DCV_ENOMEM alone). want_rc is the result the unarmed
 * run must give. Returns the number of allocations of the unarmed run.
 */
size_t fa_torture(const char *name, fa_scenario run, void *state, int want_rc, const int *accept,
                  size_t n_accept);

/*
 * While paused, allocations are neither counted nor failed: for a
 * scenario's set-up and tear-down through our code (a configuration a test
 * library loads, say), which is not what the scenario tortures.
 */
void fa_pause(bool paused);

/*
 * The same for scenarios too long to fail every allocation of (the engine
 * on a real store): fails allocations 1, 1 + k, 1 + 2k, ... with the stride
 * k the smallest that keeps the armed runs at most max_runs, and the last
 * one. Deterministic, so a failure repeats.
 */
size_t fa_torture_sampled(const char *name, fa_scenario run, void *state, int want_rc,
                          const int *accept, size_t n_accept, size_t max_runs);

/* Allocations counted since the last fa_torture() run began (for scenarios' own checks). */
size_t fa_count(void);

/* Whether the armed failure has happened in the current run. */
bool fa_fired(void);

/*
 * Appends printf text to res->digest (cut at its size; no allocation),
 * for the scenarios' digests.
 */
void fa_printf(struct fa_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
