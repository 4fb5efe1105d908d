/*
 * test_probe_replay.c -- probe.c (would the CA's check succeed?) against
 * scripted servers: every tests/unit/ops/replay/probe-*.rpl is one test
 * (replay.h says how a scenario reads). Besides the server entries (the
 * config, probe, name, mark, held and prober lines are read by
 * probe_replay_spec.c, which test_torture_probe_replay shares):
 *
 *   config ... end                       the configuration (dcvd.yaml)
 *   probe MD5 TARGET [absent] [memory]   the spec: our record's md5 and target;
 *                                        absent: the withdrawal's check; memory:
 *                                        one memory for every round
 *   name NAME ADN CANDIDATE...           a certificate name, the candidate
 *                                        holding our record, the CA's walk
 *   mark SERVER QNAME                    dcv_probe_memory_mark_ok() before the rounds
 *                                        (a primary's confirmation; needs memory)
 *   held ZONE SERIAL                     the serial the primary held the record in
 *                                        (spec.held: the reasons of a wait)
 *   prober timeout MS give_up MS         dcv_prober_opts: the query timeout, and
 *                                        give_up_at MS after the start
 *   round at MS                          a round at fake time MS
 *   serials at MS ZONE MAXAGE            dcv_prober_serials() (the watchers' question)
 *   primary at MS ZONE                   dcv_prober_primary_serial()
 *   expect round I status OK|ERROR       the I-th round's report
 *   expect round I done|auth_ok|failed yes|no
 *   expect round I says TEXT             a substring of one of its
 *                                        disagreement lines (dcv_probe_disagreements)
 *   expect round I silent                no disagreement line at all
 *   expect round I ended <= MS           its report came MS or less after the start
 *   expect round I dnssec ZONE STATE     the zone's DNSSEC state in the report
 *   expect serials I status OK|ERROR     the I-th serials call (file order)
 *   expect serials I has ADDR=SERIAL     one address's serial (ADDR=- when it gave none)
 *   expect primary I serial N|ERROR      the I-th primary serial call
 *   expect queries SERVER TYPE NAME N
 *
 * Every entry must be used, and no query may go unexpected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dcv/strv.h"
#include "probe.h"
#include "probe_replay_spec.h"
#include "replay.h"
#include "testutil.h"

#define PR_MAX_ROUNDS 8

struct pr_round {
	uv_timer_t timer;
	bool called;
	int status;
	uint64_t ended; /* fake time of the report, from the start */
	bool done, auth_ok, failed;
	struct dcv_strv lines;
	char dnssec[512]; /* " ZONE=STATE" each */
};

/* A serials or primary call and what it got. */
struct pr_serials {
	uv_timer_t timer;
	bool primary;
	char zone[256];
	uint64_t max_age;
	bool called;
	int status;
	char got[512]; /* " ADDR=SERIAL" each, ADDR=- when unknown; " =SERIAL" for the primary */
};

static struct {
	struct dcv_prober *prober;
	const struct dcv_config *cfg;
	struct pr_serials serials[PR_MAX_ROUNDS];
	size_t n_serials;
	struct probe_replay_spec ps; /* the spec, memory and prober options */
	struct pr_round rounds[PR_MAX_ROUNDS];
	size_t n_rounds;
	uint64_t t0;
} pr;

static void pr_on_round(void *arg, const struct dcv_probe_report *rep)
{
	struct pr_round *r = arg;
	size_t off = 0;

	r->called = true;
	r->ended = uv_now(replay_loop()) - pr.t0;
	r->status = rep->status;
	r->done = rep->done;
	r->auth_ok = rep->auth_ok;
	r->failed = rep->failed;
	assert_int_equal(dcv_probe_disagreements(rep, 0, &r->lines), DCV_OK);
	r->dnssec[0] = '\0';
	for (size_t i = 0; i < rep->n_zsecs && off < sizeof(r->dnssec); i++)
		off += (size_t)snprintf(r->dnssec + off, sizeof(r->dnssec) - off, " %s=%s",
		                        rep->zsecs[i].zone, rep->zsecs[i].state);
}

static void pr_on_at(uv_timer_t *t)
{
	assert_int_equal(dcv_probe_round(pr.prober, &pr.ps.spec, pr_on_round, t->data), DCV_OK);
	uv_close((uv_handle_t *)t, NULL);
}

static void pr_on_serials(void *arg, int status, size_t n, const struct dcv_addr *addrs,
                          const uint32_t *serials, const bool *known)
{
	struct pr_serials *c = arg;
	size_t off = 0;

	c->called = true;
	c->status = status;
	for (size_t i = 0; i < n && off < sizeof(c->got); i++) {
		if (known[i])
			off += (size_t)snprintf(c->got + off, sizeof(c->got) - off, " %s=%u",
			                        addrs[i].text, (unsigned)serials[i]);
		else
			off += (size_t)snprintf(c->got + off, sizeof(c->got) - off, " %s=-",
			                        addrs[i].text);
	}
}

static void pr_on_primary(void *arg, int status, uint32_t serial)
{
	struct pr_serials *c = arg;

	c->called = true;
	c->status = status;
	snprintf(c->got, sizeof(c->got), " =%u", (unsigned)serial);
}

static void pr_on_serials_at(uv_timer_t *t)
{
	struct pr_serials *c = t->data;
	const struct dcv_zone *zone = dcv_config_zone(pr.cfg, c->zone);

	assert_non_null(zone);
	if (c->primary)
		assert_int_equal(dcv_prober_primary_serial(pr.prober, zone, 0, pr_on_primary, c),
		                 DCV_OK);
	else
		assert_int_equal(dcv_prober_serials(pr.prober, zone, c->max_age, pr_on_serials, c),
		                 DCV_OK);
	uv_close((uv_handle_t *)t, NULL);
}

/* The I-th call of a kind (serials and primary counted apart, in file order). */
static const struct pr_serials *pr_nth_serials(bool primary, unsigned i)
{
	for (size_t k = 0; k < pr.n_serials; k++)
		if (pr.serials[k].primary == primary && i-- == 0)
			return &pr.serials[k];
	fail_msg("no %s call number %u", primary ? "primary" : "serials", i);
	return NULL;
}

static void pr_expect_serials(const char *line)
{
	char what[16] = "", a[64] = "", b[256] = "";
	unsigned i = 0;
	const struct pr_serials *c = NULL;
	char want[300];

	sscanf(line, "expect %15s %u %63s %255s", what, &i, a, b);
	c = pr_nth_serials(strcmp(what, "primary") == 0, i);
	if (!c->called)
		fail_msg("%s %u never answered", what, i);
	if (strcmp(a, "status") == 0 || strcmp(b, "ERROR") == 0) {
		bool ok = strcmp(b, "OK") == 0;
		if ((c->status == DCV_OK) != ok)
			fail_msg("%s %u: status %s, expected %s", what, i, dcv_strerror(c->status),
			         b);
		return;
	}
	snprintf(want, sizeof(want), " %s%s", strcmp(a, "serial") == 0 ? "=" : "", b);
	if (c->status != DCV_OK || strstr(c->got, want) == NULL)
		fail_msg("%s %u: [%s] (%s), expected%s", what, i, c->got, dcv_strerror(c->status),
		         want);
}

static bool pr_yes(const char *word)
{
	return strcmp(word, "yes") == 0;
}

static void pr_expect(const char *line)
{
	char what[16] = "", a[64] = "", b[256] = "", d[256] = "", e[64] = "";
	unsigned i = 0;
	const struct pr_round *r = NULL;

	sscanf(line, "expect %15s", what);
	if (strcmp(what, "serials") == 0 || strcmp(what, "primary") == 0) {
		pr_expect_serials(line);
		return;
	}
	if (strcmp(what, "queries") == 0) {
		sscanf(line, "expect queries %63s %255s %255s %63s", a, b, d, e);
		if (replay_queries(a, b, d) != strtoul(e, NULL, 10))
			fail_msg("%zu queries to %s for %s %s, expected %s",
			         replay_queries(a, b, d), a, b, d, e);
		return;
	}
	if (strcmp(what, "round") != 0 || sscanf(line, "expect round %u %63s", &i, a) != 2)
		fail_msg("what is \"%s\"?", line);
	if (i >= pr.n_rounds || !pr.rounds[i].called)
		fail_msg("round %u never reported", i);
	r = &pr.rounds[i];
	sscanf(line, "expect round %*u %*s %255s %255s", b, d);
	if (strcmp(a, "status") == 0) {
		/* OK, or ERROR: the round could not run (its why is the one line). */
		if ((r->status == DCV_OK) != (strcmp(b, "OK") == 0))
			fail_msg("round %u: status %s, expected %s", i, dcv_strerror(r->status), b);
	} else if (strcmp(a, "done") == 0 || strcmp(a, "auth_ok") == 0 ||
	           strcmp(a, "failed") == 0) {
		bool have = a[0] == 'd' ? r->done : a[0] == 'a' ? r->auth_ok : r->failed;
		if (have != pr_yes(b)) {
			char all[2048] = "";
			for (size_t k = 0; k < r->lines.n; k++)
				snprintf(all + strlen(all), sizeof(all) - strlen(all), "\n  %s",
				         r->lines.v[k]);
			fail_msg("round %u: %s is %s, expected %s; it says:%s", i, a,
			         have ? "yes" : "no", b, all);
		}
	} else if (strcmp(a, "says") == 0) {
		const char *text = strstr(line, " says ") + 6;
		bool found = false;
		for (size_t k = 0; k < r->lines.n && !found; k++)
			found = strstr(r->lines.v[k], text) != NULL;
		if (!found) {
			char all[2048] = "";
			for (size_t k = 0; k < r->lines.n; k++)
				snprintf(all + strlen(all), sizeof(all) - strlen(all), "\n  %s",
				         r->lines.v[k]);
			fail_msg("round %u says nothing with \"%s\"; it says:%s", i, text, all);
		}
	} else if (strcmp(a, "ended") == 0) {
		if (strcmp(b, "<=") != 0 || r->ended > strtoull(d, NULL, 10))
			fail_msg("round %u ended after %llu ms, expected %s %s", i,
			         (unsigned long long)r->ended, b, d);
	} else if (strcmp(a, "silent") == 0) {
		if (r->lines.n > 0)
			fail_msg("round %u says: %s", i, r->lines.v[0]);
	} else if (strcmp(a, "dnssec") == 0) {
		char want[600];
		snprintf(want, sizeof(want), " %s=%s", b, d);
		if (strstr(r->dnssec, want) == NULL)
			fail_msg("round %u: dnssec [%s], expected%s", i, r->dnssec, want);
	} else {
		fail_msg("what is \"%s\"?", line);
	}
}

static void pr_run(void **state)
{
	struct dcv_config *cfg = NULL;
	struct dcv_dnsio *io = NULL;
	const char *const *lines = NULL;
	size_t n = 0;

	replay_free(); /* what a failed scenario before this one left */
	memset(&pr, 0, sizeof(pr));
	replay_load(*state);
	cfg = replay_config();
	io = dcv_dnsio_new(replay_loop(), NULL);
	pr.t0 = uv_now(replay_loop());
	probe_replay_spec_read(&pr.ps, pr.t0);
	pr.prober = dcv_prober_new(io, cfg, &pr.ps.opts);
	assert_non_null(pr.prober);
	pr.cfg = cfg;
	for (int kind = 0; kind < 2; kind++) {
		lines = replay_lines(kind ? "primary" : "serials", &n);
		for (size_t i = 0; i < n && pr.n_serials < PR_MAX_ROUNDS; i++) {
			struct pr_serials *c = &pr.serials[pr.n_serials++];
			unsigned long long at = 0, max_age = 0;
			c->primary = kind == 1;
			assert_true(sscanf(lines[i], "%*s at %llu %255s %llu", &at, c->zone,
			                   &max_age) >= 2);
			c->max_age = max_age;
			uv_timer_init(replay_loop(), &c->timer);
			c->timer.data = c;
			uv_timer_start(&c->timer, pr_on_serials_at, at, 0);
		}
	}
	lines = replay_lines("round", &n);
	assert_true(n <= PR_MAX_ROUNDS);
	for (size_t i = 0; i < n; i++) {
		unsigned long long at = 0;
		struct pr_round *r = &pr.rounds[pr.n_rounds++];
		assert_int_equal(sscanf(lines[i], "round at %llu", &at), 1);
		uv_timer_init(replay_loop(), &r->timer);
		r->timer.data = r;
		uv_timer_start(&r->timer, pr_on_at, at, 0);
	}
	replay_run(NULL, NULL);
	lines = replay_lines("expect", &n);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++)
		pr_expect(lines[i]);
	replay_check_script();
	dcv_dnsio_close(io, NULL, NULL);
	replay_run(NULL, NULL);
	dcv_prober_free(pr.prober);
	replay_run(NULL, NULL); /* its timer's close, which frees it */
	dcv_probe_memory_free(&pr.ps.memory);
	for (size_t i = 0; i < pr.n_rounds; i++)
		dcv_strv_free(&pr.rounds[i].lines);
	dcv_config_free(cfg);
	replay_free();
}

int main(void)
{
	return replay_main("probe_replay", "probe-", pr_run);
}
