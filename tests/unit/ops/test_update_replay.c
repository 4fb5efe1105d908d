/*
 * test_update_replay.c -- update.c against scripted primaries: every
 * tests/unit/ops/replay/update-*.rpl is one test (replay.h says how a
 * scenario reads). Besides the server entries a scenario has (the update
 * and record lines are read by update_replay_spec.c, which
 * test_torture_update_replay shares):
 *
 *   config ... end                 the configuration (dcvd.yaml)
 *   update add|delete ZONE [timeout MS] [max_message_size N] [cancel_at MS]
 *   record OWNER TARGET            the records, in order
 *   expect status CODE             the update's status (OK, ETIMEOUT, ...)
 *   expect start CODE              dcv_update_start() refuses with CODE (then
 *                                  no callback, no query)
 *   expect remote I status CODE
 *   expect remote I why TEXT       a substring of outcome I's why
 *   expect remote I messages N
 *   expect remote I confirmed R yes|no
 *   expect remote I record R CODE [TEXT]   rec_status, and a substring of rec_why
 *   expect elapsed <=|>= MS        fake time from the start to the callback
 *   expect queries SERVER TYPE NAME N
 *
 * Every scenario must also use each entry it declares (an expected query
 * that never came fails it) and send no query that no entry matches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "replay.h"
#include "dcv/strv.h"
#include "testutil.h"
#include "update.h"
#include "update_replay_spec.h"

struct up_case {
	bool called;
	int status;
	uint64_t elapsed;
	uint64_t started;
	struct dcv_update_outcome outs[4];
	char whys[4][512];
	bool confirmed[4][16];
	int rec_status[4][16];
	char rec_why[4][16][512];
	size_t n_outs;
	size_t n_recs;
	struct dcv_update *up;
};

static const struct {
	const char *name;
	int code;
} codes[] = {
    {"OK", DCV_OK},
    {"ETIMEOUT", DCV_ETIMEOUT},
    {"ENET", DCV_ENET},
    {"ETSIG", DCV_ETSIG},
    {"EBADSIG", DCV_EBADSIG},
    {"EBADKEY", DCV_EBADKEY},
    {"EBADTIME", DCV_EBADTIME},
    {"EREFUSED", DCV_EREFUSED},
    {"ENOTAUTH", DCV_ENOTAUTH},
    {"ENOTZONE", DCV_ENOTZONE},
    {"ESERVFAIL", DCV_ESERVFAIL},
    {"ERCODE", DCV_ERCODE},
    {"ENOTSERVED", DCV_ENOTSERVED},
    {"ECANCELED", DCV_ECANCELED},
    {"ECONFLICT", DCV_ECONFLICT},
    {"ENOTREADY", DCV_ENOTREADY},
    {"EREPLY", DCV_EREPLY},
    {"ELIMIT", DCV_ELIMIT},
    {"EINVAL", DCV_EINVAL},
};

static int code_of(const char *name)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	fail_msg("unknown status name %s", name);
	return 1;
}

static void on_update(void *arg, int status, const struct dcv_update_outcome *outs, size_t n)
{
	struct up_case *c = arg;

	c->called = true;
	c->status = status;
	c->elapsed = uv_now(replay_loop()) - c->started;
	c->n_outs = n < 4 ? n : 4;
	for (size_t i = 0; i < c->n_outs; i++) {
		c->outs[i] = outs[i];
		snprintf(c->whys[i], sizeof(c->whys[i]), "%s", outs[i].why);
		for (size_t r = 0; r < c->n_recs; r++) {
			c->confirmed[i][r] = outs[i].confirmed != NULL && outs[i].confirmed[r];
			c->rec_status[i][r] =
			    outs[i].rec_status != NULL ? outs[i].rec_status[r] : 0;
			snprintf(c->rec_why[i][r], sizeof(c->rec_why[i][r]), "%s",
			         outs[i].rec_why != NULL && outs[i].rec_why[r] ? outs[i].rec_why[r]
			                                                       : "");
		}
	}
	c->up = NULL;
}

static bool called(void *arg)
{
	return ((struct up_case *)arg)->called;
}

static struct up_case *cancel_case;

static void on_cancel_timer(uv_timer_t *t)
{
	if (cancel_case->up != NULL)
		dcv_update_cancel(cancel_case->up);
	uv_close((uv_handle_t *)t, NULL);
}

static void check_expect(const struct up_case *c, const char *line)
{
	char what[32] = "", a[256] = "", b[256] = "", d[256] = "", e[256] = "";
	unsigned i = 0, r = 0;

	sscanf(line, "expect %31s", what);
	if (strcmp(what, "status") == 0) {
		sscanf(line, "expect status %255s", a);
		assert_int_equal(c->status, code_of(a));
	} else if (strcmp(what, "remote") == 0) {
		sscanf(line, "expect remote %u %255s", &i, a);
		assert_true(i < c->n_outs);
		if (strcmp(a, "status") == 0) {
			sscanf(line, "expect remote %*u status %255s", b);
			if (c->outs[i].status != code_of(b))
				fail_msg("remote %u: status %s (%s), expected %s", i,
				         dcv_strerror(c->outs[i].status), c->whys[i], b);
		} else if (strcmp(a, "why") == 0) {
			const char *text = strstr(line, " why ") + 5;
			if (strstr(c->whys[i], text) == NULL)
				fail_msg("remote %u: why \"%s\" lacks \"%s\"", i, c->whys[i], text);
		} else if (strcmp(a, "messages") == 0) {
			sscanf(line, "expect remote %*u messages %255s", b);
			assert_int_equal(c->outs[i].n_messages, strtoul(b, NULL, 10));
		} else if (strcmp(a, "confirmed") == 0) {
			sscanf(line, "expect remote %*u confirmed %u %255s", &r, b);
			assert_true(r < 16);
			assert_int_equal(c->confirmed[i][r], strcmp(b, "yes") == 0);
		} else if (strcmp(a, "record") == 0) {
			const char *text = NULL;
			sscanf(line, "expect remote %*u record %u %255s", &r, b);
			assert_true(r < 16);
			if (c->rec_status[i][r] != code_of(b))
				fail_msg("remote %u record %u: %s, expected %s", i, r,
				         dcv_strerror(c->rec_status[i][r]), b);
			text = strstr(line, b) + strlen(b);
			while (*text == ' ')
				text++;
			if (*text && strstr(c->rec_why[i][r], text) == NULL)
				fail_msg("remote %u record %u: why \"%s\" lacks \"%s\"", i, r,
				         c->rec_why[i][r], text);
		} else {
			fail_msg("expect remote: what is %s?", a);
		}
	} else if (strcmp(what, "elapsed") == 0) {
		sscanf(line, "expect elapsed %255s %255s", a, b);
		if (strcmp(a, "<=") == 0 ? c->elapsed > strtoull(b, NULL, 10)
		                         : c->elapsed < strtoull(b, NULL, 10))
			fail_msg("elapsed %llu ms, expected %s %s", (unsigned long long)c->elapsed,
			         a, b);
	} else if (strcmp(what, "queries") == 0) {
		sscanf(line, "expect queries %255s %255s %255s %255s", a, b, d, e);
		if (replay_queries(a, b, d) != strtoul(e, NULL, 10))
			fail_msg("%zu queries to %s for %s %s, expected %s",
			         replay_queries(a, b, d), a, b, d, e);
	} else {
		fail_msg("what is \"%s\"?", line);
	}
}

static void run_scenario(void **state)
{
	const char *path = *state;
	struct dcv_config *cfg = NULL;
	struct dcv_dnsio *io = NULL;
	static struct update_replay_spec us;
	struct up_case c = {0};
	uv_timer_t cancel_timer;
	const char *const *lines = NULL;
	size_t n = 0;
	char start_code[32] = "";
	int rc = DCV_OK;

	replay_free(); /* what a failed scenario before this one left */
	replay_load(path);
	cfg = replay_config();
	update_replay_spec_read(&us, cfg);
	c.n_recs = us.n_recs;
	io = dcv_dnsio_new(replay_loop(), NULL);
	c.started = uv_now(replay_loop());
	rc = dcv_update_start(io, us.zone, us.op, us.recs, us.n_recs, &us.opts, on_update, &c,
	                      &c.up);
	lines = replay_lines("expect", &n);
	if (n == 1 && sscanf(lines[0], "expect start %31s", start_code) == 1) {
		/* Refused at the start: nothing is sent, nothing called back. */
		assert_int_equal(rc, code_of(start_code));
		replay_run(NULL, NULL);
		assert_false(c.called);
		assert_int_equal(replay_queries(NULL, NULL, NULL), 0);
		replay_check_script();
		dcv_dnsio_close(io, NULL, NULL);
		replay_run(NULL, NULL);
		dcv_config_free(cfg);
		replay_free();
		return;
	}
	assert_int_equal(rc, DCV_OK);
	if (us.cancel_at > 0) {
		cancel_case = &c;
		uv_timer_init(replay_loop(), &cancel_timer);
		uv_timer_start(&cancel_timer, on_cancel_timer, us.cancel_at, 0);
	}
	replay_run(called, &c);
	assert_true(c.called);
	lines = replay_lines("expect", &n);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++)
		check_expect(&c, lines[i]);
	replay_check_script();
	/* What is left (closing timers, the update freeing itself) runs out. */
	dcv_dnsio_close(io, NULL, NULL);
	replay_run(NULL, NULL);
	dcv_config_free(cfg);
	replay_free();
}

int main(void)
{
	return replay_main("update_replay", "update-", run_scenario);
}
