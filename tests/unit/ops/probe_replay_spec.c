/*
 * probe_replay_spec.c -- a probe-*.rpl scenario's spec (probe_replay_spec.h).
 */
#include <stdio.h>
#include <string.h>

#include "probe_replay_spec.h"
#include "replay.h"
#include "testutil.h"

static void spec_names(struct probe_replay_spec *s)
{
	const char *const *lines = NULL;
	size_t n = 0;

	lines = replay_lines("name", &n);
	assert_true(n > 0 && n <= PRS_MAX_NAMES);
	for (size_t i = 0; i < n; i++) {
		char adn[256] = "";
		const char *p = NULL;
		int used = 0;
		size_t k = 0;

		assert_int_equal(
		    sscanf(lines[i], "name %255s %255s%n", s->name_text[i], adn, &used), 2);
		for (p = lines[i] + used;
		     k < PRS_MAX_CANDS && sscanf(p, " %255s%n", s->cand_text[i][k], &used) == 1;
		     p += used, k++) {
			s->cands[i][k] = s->cand_text[i][k];
			if (strcmp(s->cand_text[i][k], adn) == 0)
				s->names[i].adn = k;
		}
		s->names[i].name = s->name_text[i];
		s->names[i].candidates = s->cands[i];
		s->names[i].n_candidates = k;
	}
	s->spec.names = s->names;
	s->spec.n_names = n;
}

void probe_replay_spec_read(struct probe_replay_spec *s, uint64_t t0)
{
	const char *const *lines = NULL;
	char flags[2][16] = {"", ""};
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	lines = replay_lines("probe", &n);
	assert_int_equal(n, 1);
	assert_true(sscanf(lines[0], "probe %39s %255s %15s %15s", s->md5, s->target, flags[0],
	                   flags[1]) >= 2);
	s->spec.md5_hex = s->md5;
	s->spec.target = s->target;
	for (int f = 0; f < 2; f++) {
		if (strcmp(flags[f], "absent") == 0)
			s->spec.expect_absent = true;
		else if (strcmp(flags[f], "memory") == 0)
			s->spec.memory = &s->memory;
	}
	spec_names(s);
	lines = replay_lines("held", &n);
	assert_true(n <= 2);
	for (size_t i = 0; i < n; i++) {
		unsigned serial = 0;

		assert_int_equal(sscanf(lines[i], "held %255s %u", s->held_zone[i], &serial), 2);
		s->held[i] = (struct dcv_probe_held){s->held_zone[i], serial};
	}
	s->spec.held = n ? s->held : NULL;
	s->spec.n_held = n;
	lines = replay_lines("mark", &n);
	for (size_t i = 0; i < n; i++) {
		char server[64] = "", qname[256] = "";

		assert_non_null(s->spec.memory);
		assert_int_equal(sscanf(lines[i], "mark %63s %255s", server, qname), 2);
		assert_int_equal(dcv_probe_memory_mark_ok(&s->memory, server, qname), DCV_OK);
	}
	lines = replay_lines("prober", &n);
	assert_true(n <= 1);
	if (n == 1) {
		unsigned long long timeout = 0, give_up = 0;

		assert_int_equal(
		    sscanf(lines[0], "prober timeout %llu give_up %llu", &timeout, &give_up), 2);
		s->opts.query_timeout_ms = timeout;
		s->opts.give_up_at = t0 + give_up;
	}
}
