/*
 * test_authset_replay.c -- authset.c (NS discovery, its cache, SOA serials)
 * against scripted servers: every tests/unit/ops/replay/authset-*.rpl is one
 * test (replay.h says how a scenario reads). Besides the server entries:
 *
 *   config ... end                      the configuration (dcvd.yaml)
 *   authsets ttl MS timeout MS          dcv_authsets_new()'s arguments
 *   at MS get ZONE                      dcv_authsets_get() at fake time MS
 *   at MS serial ZONE SERVER MAXAGE     dcv_authsets_serial()
 *   expect get I status CODE            the I-th get's result (in file order)
 *   expect get I addrs ADDR...          its addresses, in any order
 *   expect get I why TEXT               a substring of its why
 *   expect serial I status CODE [value N]
 *   expect queries SERVER TYPE NAME N
 *
 * Every entry must be used, and no query may go unexpected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authset.h"
#include "config.h"
#include "dcv/strv.h"
#include "replay.h"
#include "testutil.h"

#define AS_MAX 8

struct as_call {
	bool is_serial;
	char zone[256], server[64];
	uint64_t at, max_age;
	uv_timer_t timer;
	/* the result */
	bool called;
	int status;
	char addrs[512];
	char why[512];
	uint32_t serial;
};

static struct as_state {
	struct dcv_authsets *sets;
	struct dcv_config *cfg;
	struct as_call calls[AS_MAX];
	size_t n_calls;
} as;

static int as_code(const char *name)
{
	if (strcmp(name, "OK") == 0)
		return DCV_OK;
	if (strcmp(name, "ENET") == 0)
		return DCV_ENET;
	if (strcmp(name, "ETIMEOUT") == 0)
		return DCV_ETIMEOUT;
	if (strcmp(name, "ENOZONE") == 0)
		return DCV_ENOZONE;
	if (strcmp(name, "EREPLY") == 0)
		return DCV_EREPLY;
	fail_msg("unknown status name %s", name);
	return 1;
}

static void on_set(void *arg, int status, const struct dcv_addr *addrs, size_t n, const char *why)
{
	struct as_call *c = arg;
	size_t off = 0;

	c->called = true;
	c->status = status;
	snprintf(c->why, sizeof(c->why), "%s", why ? why : "");
	c->addrs[0] = '\0';
	for (size_t i = 0; i < n && off < sizeof(c->addrs); i++)
		off +=
		    (size_t)snprintf(c->addrs + off, sizeof(c->addrs) - off, " %s ", addrs[i].text);
}

static void on_serial(void *arg, int status, uint32_t serial)
{
	struct as_call *c = arg;

	c->called = true;
	c->status = status;
	c->serial = serial;
}

static void on_at(uv_timer_t *t)
{
	struct as_call *c = t->data;
	const struct dcv_zone *zone = dcv_config_zone(as.cfg, c->zone);
	struct dcv_addr addr;
	struct dcv_why why;

	assert_non_null(zone);
	if (c->is_serial) {
		assert_int_equal(dcv_addr_parse(c->server, &addr, &why), DCV_OK);
		assert_int_equal(
		    dcv_authsets_serial(as.sets, zone, &addr, c->max_age, on_serial, c), DCV_OK);
	} else {
		assert_int_equal(dcv_authsets_get(as.sets, zone, on_set, c), DCV_OK);
	}
	uv_close((uv_handle_t *)t, NULL);
}

/* The I-th call of a kind (gets and serials counted apart, in file order). */
static struct as_call *as_nth(bool serial, unsigned i)
{
	for (size_t k = 0; k < as.n_calls; k++)
		if (as.calls[k].is_serial == serial && i-- == 0)
			return &as.calls[k];
	fail_msg("no %s number %u", serial ? "serial" : "get", i);
	return NULL;
}

static void as_expect(const char *line)
{
	char what[16] = "", a[64] = "", b[64] = "", d[256] = "", e[64] = "";
	unsigned i = 0;
	struct as_call *c = NULL;

	sscanf(line, "expect %15s", what);
	if (strcmp(what, "queries") == 0) {
		sscanf(line, "expect queries %63s %63s %255s %63s", a, b, d, e);
		if (replay_queries(a, b, d) != strtoul(e, NULL, 10))
			fail_msg("%zu queries to %s for %s %s, expected %s",
			         replay_queries(a, b, d), a, b, d, e);
		return;
	}
	sscanf(line, "expect %*s %u %63s", &i, a);
	c = as_nth(strcmp(what, "serial") == 0, i);
	if (!c->called)
		fail_msg("%s", "the call never got its answer");
	if (strcmp(a, "status") == 0) {
		sscanf(line, "expect %*s %*u status %63s value %63s", b, e);
		if (c->status != as_code(b))
			fail_msg("%s %u: %s (%s), expected %s", what, i, dcv_strerror(c->status),
			         c->why, b);
		if (e[0] && c->serial != strtoul(e, NULL, 10))
			fail_msg("serial %u: %u, expected %s", i, c->serial, e);
	} else if (strcmp(a, "addrs") == 0) {
		const char *p = strstr(line, " addrs") + 6;
		size_t want = 0, have = 0;
		char one[80];
		int used = 0;
		while (sscanf(p, " %63s%n", a, &used) == 1) {
			snprintf(one, sizeof(one), " %s ", a);
			if (strstr(c->addrs, one) == NULL)
				fail_msg("get %u: %s not among [%s]", i, a, c->addrs);
			want++;
			p += used;
		}
		for (const char *q = c->addrs; (q = strchr(q, '@')) != NULL; q++)
			have++;
		if (have != want)
			fail_msg("get %u: [%s], expected %zu addresses", i, c->addrs, want);
	} else if (strcmp(a, "why") == 0) {
		const char *text = strstr(line, " why ") + 5;
		if (strstr(c->why, text) == NULL)
			fail_msg("get %u: why \"%s\" lacks \"%s\"", i, c->why, text);
	} else {
		fail_msg("what is \"%s\"?", line);
	}
}

static void as_run(void **state)
{
	const char *path = *state;
	struct dcv_dnsio *io = NULL;
	const char *const *lines = NULL;
	size_t n = 0;
	unsigned long long ttl = 0, timeout = 0;

	replay_free(); /* what a failed scenario before this one left */
	memset(&as, 0, sizeof(as));
	replay_load(path);
	as.cfg = replay_config();
	lines = replay_lines("authsets", &n);
	assert_int_equal(n, 1);
	assert_int_equal(sscanf(lines[0], "authsets ttl %llu timeout %llu", &ttl, &timeout), 2);
	io = dcv_dnsio_new(replay_loop(), NULL);
	as.sets = dcv_authsets_new(io, as.cfg, ttl, timeout);
	assert_non_null(as.sets);
	lines = replay_lines("at", &n);
	assert_true(n > 0 && n <= AS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct as_call *c = &as.calls[as.n_calls++];
		unsigned long long at = 0, max_age = 0;
		char verb[16] = "";
		assert_true(sscanf(lines[i], "at %llu %15s %255s %63s %llu", &at, verb, c->zone,
		                   c->server, &max_age) >= 3);
		c->is_serial = strcmp(verb, "serial") == 0;
		c->at = at;
		c->max_age = max_age;
		uv_timer_init(replay_loop(), &c->timer);
		c->timer.data = c;
		uv_timer_start(&c->timer, on_at, at, 0);
	}
	replay_run(NULL, NULL);
	lines = replay_lines("expect", &n);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++)
		as_expect(lines[i]);
	replay_check_script();
	dcv_authsets_free(as.sets);
	dcv_dnsio_close(io, NULL, NULL);
	replay_run(NULL, NULL);
	dcv_config_free(as.cfg);
	replay_free();
}

int main(void)
{
	return replay_main("authset_replay", "authset-", as_run);
}
