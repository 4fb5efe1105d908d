/*
 * test_torture_authset_replay.c -- every allocation of authset.c (NS
 * discovery, its cache, SOA serials) failed in turn (failalloc.h) against
 * the scripted servers of each tests/unit/ops/replay/authset-*.rpl
 * (test_authset_replay checks their expect lines). Each call must refuse
 * with DCV_ENOMEM (no callback) or call back exactly once, with the
 * unarmed run's result or DCV_ENOMEM; nothing may hang, crash or leak
 * (ASan). Set-up and tear-down run with the failures paused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authset.h"
#include "config.h"
#include "failalloc.h"
#include "replay.h"
#include "testutil.h"

#define AS_MAX 8

struct as_call {
	bool is_serial;
	char zone[256], server[64];
	uint64_t max_age;
	uv_timer_t timer;
	int calls;
	int status;
	char text[1024];
};

static struct as_state {
	struct dcv_authsets *sets;
	struct dcv_config *cfg;
	struct as_call calls[AS_MAX];
	size_t n_calls;
} as;

static void on_set(void *arg, int status, const struct dcv_addr *addrs, size_t n, const char *why)
{
	struct as_call *c = arg;
	size_t off = 0;

	c->calls++;
	c->status = status;
	off = (size_t)snprintf(c->text, sizeof(c->text), "'%s'", why != NULL ? why : "");
	for (size_t i = 0; i < n && off < sizeof(c->text); i++)
		off += (size_t)snprintf(c->text + off, sizeof(c->text) - off, " %s", addrs[i].text);
}

static void on_serial(void *arg, int status, uint32_t serial)
{
	struct as_call *c = arg;

	c->calls++;
	c->status = status;
	snprintf(c->text, sizeof(c->text), "%u", (unsigned)serial);
}

static void on_at(uv_timer_t *t)
{
	struct as_call *c = t->data;
	const struct dcv_zone *zone = dcv_config_zone(as.cfg, c->zone);
	struct dcv_addr addr;
	struct dcv_why why;
	int rc;

	assert_non_null(zone);
	if (c->is_serial) {
		assert_int_equal(dcv_addr_parse(c->server, &addr, &why), DCV_OK);
		rc = dcv_authsets_serial(as.sets, zone, &addr, c->max_age, on_serial, c);
	} else {
		rc = dcv_authsets_get(as.sets, zone, on_set, c);
	}
	if (rc < 0) {
		/* Refused: no callback (checked at the end). */
		assert_int_equal(rc, DCV_ENOMEM);
		c->status = rc;
		c->calls = -100;
	}
	uv_close((uv_handle_t *)t, NULL);
}

static void run_authsets(void *state, struct fa_result *res)
{
	const char *path = state;
	struct dcv_dnsio *io = NULL;
	const char *const *lines = NULL;
	size_t n = 0;
	unsigned long long ttl = 0, timeout = 0;

	fa_pause(true);
	replay_free();
	memset(&as, 0, sizeof(as));
	replay_load(path);
	as.cfg = replay_config();
	lines = replay_lines("authsets", &n);
	assert_int_equal(n, 1);
	assert_int_equal(sscanf(lines[0], "authsets ttl %llu timeout %llu", &ttl, &timeout), 2);
	io = dcv_dnsio_new(replay_loop(), NULL);
	lines = replay_lines("at", &n);
	assert_true(n > 0 && n <= AS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct as_call *c = &as.calls[as.n_calls++];
		unsigned long long at = 0, max_age = 0;
		char verb[16] = "";

		assert_true(sscanf(lines[i], "at %llu %15s %255s %63s %llu", &at, verb, c->zone,
		                   c->server, &max_age) >= 3);
		c->is_serial = strcmp(verb, "serial") == 0;
		c->max_age = max_age;
		uv_timer_init(replay_loop(), &c->timer);
		c->timer.data = c;
		uv_timer_start(&c->timer, on_at, at, 0);
	}
	fa_pause(false);

	as.sets = dcv_authsets_new(io, as.cfg, ttl, timeout);
	res->rc = DCV_OK;
	if (as.sets == NULL) {
		res->rc = DCV_ENOMEM;
		fa_pause(true);
		for (size_t i = 0; i < as.n_calls; i++)
			uv_close((uv_handle_t *)&as.calls[i].timer, NULL);
	} else {
		replay_run(NULL, NULL);
		fa_pause(true);
		for (size_t i = 0; i < as.n_calls; i++) {
			const struct as_call *c = &as.calls[i];

			if (c->calls == -100 || c->status == DCV_ENOMEM) {
				res->rc = DCV_ENOMEM;
				continue;
			}
			/* Exactly one answer per call, also when memory ran out. */
			if (c->calls != 1)
				fail_msg("%s: call %zu answered %d times", path, i, c->calls);
			fa_printf(res, "%zu: %d %s\n", i, c->status, c->text);
		}
		dcv_authsets_free(as.sets);
	}
	dcv_dnsio_close(io, NULL, NULL);
	replay_run(NULL, NULL);
	dcv_config_free(as.cfg);
	replay_free();
	fa_pause(false);
}

static void run_scenario(void **state)
{
	const char *path = *state;
	static const int accept[] = {DCV_ENOMEM};

	fa_torture(strrchr(path, '/') + 1, run_authsets, (void *)path, DCV_OK, accept, 1);
}

int main(void)
{
	return replay_main("torture_authset_replay", "authset-", run_scenario);
}
