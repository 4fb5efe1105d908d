/*
 * test_torture_update_replay.c -- every allocation of an UPDATE failed in
 * turn (failalloc.h) against the scripted primaries of each
 * tests/unit/ops/replay/update-*.rpl (replay.h; test_update_replay checks
 * their expect lines): update.c, update_msg.c and update_confirm.c must
 * refuse to start as the unarmed run did or with DCV_ENOMEM (no callback),
 * or call back exactly once with the unarmed run's outcome, or with
 * DCV_ENOMEM told as the update's, a remote's or a record's status (a
 * record's why may then be missing, as update.h allows). Nothing may
 * hang, crash or leak (ASan).
 * The scenario's set-up -- its configuration, the fake dnsio -- and the
 * tear-down run with the failures paused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "failalloc.h"
#include "replay.h"
#include "testutil.h"
#include "update.h"
#include "update_replay_spec.h"

struct up_run {
	int calls;
	int status;
	bool enomem; /* DCV_ENOMEM somewhere in the outcome */
	size_t n_recs;
	struct fa_result *res;
	struct dcv_update *up;
};

static void on_update(void *arg, int status, const struct dcv_update_outcome *outs, size_t n)
{
	struct up_run *c = arg;

	c->calls++;
	c->status = status;
	c->up = NULL;
	if (status == DCV_ENOMEM)
		c->enomem = true;
	fa_printf(c->res, "status %d\n", status);
	for (size_t i = 0; i < n; i++) {
		fa_printf(c->res, "remote %s %s %d %zu '%s'\n", outs[i].remote->id,
		          outs[i].server != NULL ? outs[i].server->text : "-", outs[i].status,
		          outs[i].n_messages, outs[i].why);
		if (outs[i].status == DCV_ENOMEM)
			c->enomem = true;
		for (size_t r = 0; r < c->n_recs; r++) {
			int rs = outs[i].rec_status != NULL ? outs[i].rec_status[r] : 0;
			const char *why = outs[i].rec_why != NULL ? outs[i].rec_why[r] : NULL;

			if (rs == DCV_ENOMEM || (rs != DCV_OK && why == NULL))
				c->enomem = true;
			fa_printf(c->res, "  %zu %d %d '%s'\n", r,
			          outs[i].confirmed != NULL && outs[i].confirmed[r], rs,
			          why != NULL ? why : "");
		}
	}
}

static bool called(void *arg)
{
	return ((struct up_run *)arg)->calls > 0;
}

static struct up_run *cancel_run;

static void on_cancel_timer(uv_timer_t *t)
{
	if (cancel_run->up != NULL)
		dcv_update_cancel(cancel_run->up);
	uv_close((uv_handle_t *)t, NULL);
}

static void run_update(void *state, struct fa_result *res)
{
	const char *path = state;
	struct dcv_config *cfg = NULL;
	struct dcv_dnsio *io = NULL;
	static struct update_replay_spec us;
	struct up_run c = {0};
	uv_timer_t cancel_timer;

	fa_pause(true);
	replay_free();
	replay_load(path);
	cfg = replay_config();
	update_replay_spec_read(&us, cfg);
	c.n_recs = us.n_recs;
	c.res = res;
	io = dcv_dnsio_new(replay_loop(), NULL);
	fa_pause(false);

	res->rc = dcv_update_start(io, us.zone, us.op, us.recs, us.n_recs, &us.opts, on_update, &c,
	                           &c.up);
	if (res->rc == DCV_OK) {
		if (us.cancel_at > 0) {
			cancel_run = &c;
			uv_timer_init(replay_loop(), &cancel_timer);
			uv_timer_start(&cancel_timer, on_cancel_timer, us.cancel_at, 0);
		}
		replay_run(called, &c);
		/* Exactly one callback, also when memory ran out. */
		if (c.calls != 1)
			fail_msg("%s: %d callbacks", path, c.calls);
		res->rc = c.enomem ? DCV_ENOMEM : c.status;
	} else {
		/* Refused at the start (DCV_EINVAL: a record that fits no message): no callback. */
		assert_int_equal(c.calls, 0);
	}

	fa_pause(true);
	dcv_dnsio_close(io, NULL, NULL);
	replay_run(NULL, NULL);
	assert_true(c.calls <= 1);
	dcv_config_free(cfg);
	replay_free();
	fa_pause(false);
}

static int plain_rc(const char *path)
{
	static struct fa_result res;

	memset(&res, 0, sizeof(res));
	run_update((void *)path, &res);
	return res.rc;
}

static void run_scenario(void **state)
{
	const char *path = *state;
	static const int accept[] = {DCV_ENOMEM};

	fa_torture(strrchr(path, '/') + 1, run_update, (void *)path, plain_rc(path), accept, 1);
}

int main(void)
{
	return replay_main("torture_update_replay", "update-", run_scenario);
}
