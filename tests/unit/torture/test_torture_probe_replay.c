/*
 * test_torture_probe_replay.c -- every allocation of the probe failed in
 * turn (failalloc.h) against the scripted servers of each
 * tests/unit/ops/replay/probe-*.rpl (test_probe_replay checks their expect
 * lines): probe.c, probe_serials.c, probe_text.c, probe_dnssec.c, zsec.c
 * and authset.c below them. Each round and serials call must be refused
 * with DCV_ENOMEM (no callback) or answered exactly once, with the unarmed
 * run's report or DCV_ENOMEM; nothing may hang, crash or leak (ASan).
 * Set-up and tear-down run with the failures paused.
 *
 * Rounds with a memory (the spec's "memory" flag) use SOA serials, which
 * are best-effort by design (probe.c, ask_serials): a round that could not
 * have them asks again what the memory would have answered, and its
 * reasons say no serial, so its report may differ from the unarmed run's
 * without anything being wrong. Those scenarios are held to one answer per
 * call, no crash and no leak only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dcv/strv.h"
#include "failalloc.h"
#include "probe.h"
#include "probe_replay_spec.h"
#include "replay.h"
#include "testutil.h"

#define PR_MAX_ROUNDS 8

/* A round, or a serials or primary call, and what it got. */
struct pr_call {
	uv_timer_t timer;
	int kind; /* 0 round, 1 serials, 2 primary */
	char zone[256];
	uint64_t max_age;
	int calls;
	int status;
	char got[4096];
};

static struct {
	struct dcv_prober *prober;
	const struct dcv_config *cfg;
	struct pr_call calls[2 * PR_MAX_ROUNDS];
	size_t n_calls;
	struct probe_replay_spec ps; /* the spec, memory and prober options */
} pr;

static void pr_on_round(void *arg, const struct dcv_probe_report *rep)
{
	struct pr_call *c = arg;
	struct dcv_strv lines = {0};
	size_t off = 0;

	c->calls++;
	c->status = rep->status;
	off = (size_t)snprintf(c->got, sizeof(c->got),
	                       "'%s' done %d auth %d failed %d:", rep->status < 0 ? rep->why : "",
	                       rep->done, rep->auth_ok, rep->failed);
	for (size_t i = 0; i < rep->n_zsecs && off < sizeof(c->got); i++)
		off += (size_t)snprintf(c->got + off, sizeof(c->got) - off, " %s=%s",
		                        rep->zsecs[i].zone, rep->zsecs[i].state);
	if (rep->status == DCV_OK && dcv_probe_disagreements(rep, 0, &lines) == DCV_ENOMEM)
		c->status = DCV_ENOMEM;
	for (size_t i = 0; i < lines.n && off < sizeof(c->got); i++)
		off += (size_t)snprintf(c->got + off, sizeof(c->got) - off, "\n  %s", lines.v[i]);
	dcv_strv_free(&lines);
}

static void pr_on_serials(void *arg, int status, size_t n, const struct dcv_addr *addrs,
                          const uint32_t *serials, const bool *known)
{
	struct pr_call *c = arg;
	size_t off = 0;

	c->calls++;
	c->status = status;
	for (size_t i = 0; i < n && off < sizeof(c->got); i++)
		off +=
		    (size_t)snprintf(c->got + off, sizeof(c->got) - off, " %s=%u%s", addrs[i].text,
		                     known[i] ? (unsigned)serials[i] : 0, known[i] ? "" : "?");
}

static void pr_on_primary(void *arg, int status, uint32_t serial)
{
	struct pr_call *c = arg;

	c->calls++;
	c->status = status;
	snprintf(c->got, sizeof(c->got), " =%u", (unsigned)serial);
}

static void pr_on_at(uv_timer_t *t)
{
	struct pr_call *c = t->data;
	const struct dcv_zone *zone = c->kind ? dcv_config_zone(pr.cfg, c->zone) : NULL;
	int rc;

	if (c->kind == 0)
		rc = dcv_probe_round(pr.prober, &pr.ps.spec, pr_on_round, c);
	else if (c->kind == 1)
		rc = dcv_prober_serials(pr.prober, zone, c->max_age, pr_on_serials, c);
	else
		rc = dcv_prober_primary_serial(pr.prober, zone, 0, pr_on_primary, c);
	if (rc < 0) {
		/* Refused: no callback (checked at the end). */
		assert_int_equal(rc, DCV_ENOMEM);
		c->status = rc;
		c->calls = -100;
	}
	uv_close((uv_handle_t *)t, NULL);
}

static void pr_start(struct pr_call *c, int kind, unsigned long long at)
{
	c->kind = kind;
	uv_timer_init(replay_loop(), &c->timer);
	c->timer.data = c;
	uv_timer_start(&c->timer, pr_on_at, at, 0);
}

static void run_probe(void *state, struct fa_result *res)
{
	const char *path = state;
	struct dcv_config *cfg = NULL;
	struct dcv_dnsio *io = NULL;
	const char *const *lines = NULL;
	size_t n = 0;

	fa_pause(true);
	replay_free();
	memset(&pr, 0, sizeof(pr));
	replay_load(path);
	cfg = replay_config();
	pr.cfg = cfg;
	io = dcv_dnsio_new(replay_loop(), NULL);
	probe_replay_spec_read(&pr.ps, uv_now(replay_loop()));
	fa_pause(false);

	pr.prober = dcv_prober_new(io, cfg, &pr.ps.opts);
	res->rc = DCV_OK;
	if (pr.prober == NULL) {
		res->rc = DCV_ENOMEM;
		goto out;
	}
	fa_pause(true);
	for (int kind = 1; kind <= 2; kind++) {
		lines = replay_lines(kind == 2 ? "primary" : "serials", &n);
		for (size_t i = 0; i < n && pr.n_calls < PR_MAX_ROUNDS; i++) {
			struct pr_call *c = &pr.calls[pr.n_calls++];
			unsigned long long at = 0, max_age = 0;

			assert_true(sscanf(lines[i], "%*s at %llu %255s %llu", &at, c->zone,
			                   &max_age) >= 2);
			c->max_age = max_age;
			pr_start(c, kind, at);
		}
	}
	lines = replay_lines("round", &n);
	assert_true(n <= PR_MAX_ROUNDS);
	for (size_t i = 0; i < n; i++) {
		unsigned long long at = 0;

		assert_int_equal(sscanf(lines[i], "round at %llu", &at), 1);
		pr_start(&pr.calls[pr.n_calls++], 0, at);
	}
	fa_pause(false);
	replay_run(NULL, NULL);
	fa_pause(true);
	for (size_t i = 0; i < pr.n_calls; i++) {
		const struct pr_call *c = &pr.calls[i];

		if (c->calls == -100 || c->status == DCV_ENOMEM) {
			res->rc = DCV_ENOMEM;
			continue;
		}
		/* Exactly one answer per call, also when memory ran out. */
		if (c->calls != 1)
			fail_msg("%s: call %zu answered %d times", path, i, c->calls);
		if (pr.ps.spec.memory == NULL)
			fa_printf(res, "%zu: %d %s\n", i, c->status, c->got);
	}
	dcv_dnsio_close(io, NULL, NULL);
	replay_run(NULL, NULL);
	dcv_prober_free(pr.prober);
	replay_run(NULL, NULL); /* its timer's close, which frees it */
out:
	fa_pause(true);
	if (pr.prober == NULL) {
		dcv_dnsio_close(io, NULL, NULL);
		replay_run(NULL, NULL);
	}
	dcv_probe_memory_free(&pr.ps.memory);
	dcv_config_free(cfg);
	replay_free();
	fa_pause(false);
}

static void run_scenario(void **state)
{
	const char *path = *state;
	static const int accept[] = {DCV_ENOMEM};

	fa_torture(strrchr(path, '/') + 1, run_probe, (void *)path, DCV_OK, accept, 1);
}

int main(void)
{
	return replay_main("torture_probe_replay", "probe-", run_scenario);
}
