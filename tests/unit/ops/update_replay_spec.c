/*
 * update_replay_spec.c -- an update-*.rpl scenario's update (update_replay_spec.h).
 */
#include <stdio.h>
#include <string.h>

#include "replay.h"
#include "testutil.h"
#include "update_replay_spec.h"

void update_replay_spec_read(struct update_replay_spec *s, const struct dcv_config *cfg)
{
	const char *const *lines = NULL;
	char op[16] = "", zone_name[256] = "";
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	lines = replay_lines("update", &n);
	assert_int_equal(n, 1);
	assert_int_equal(sscanf(lines[0], "update %15s %255s", op, zone_name), 2);
	assert_true(strcmp(op, "add") == 0 || strcmp(op, "delete") == 0);
	s->op = strcmp(op, "add") == 0 ? DCV_UPDATE_ADD : DCV_UPDATE_DELETE;
	for (const char *w = strstr(lines[0], zone_name) + strlen(zone_name); *w;) {
		char key[32] = "";
		unsigned long long v = 0;
		int used = 0;

		if (sscanf(w, " %31s %llu%n", key, &v, &used) != 2)
			fail_msg("update: expected KEY NUMBER at \"%s\"", w);
		if (strcmp(key, "timeout") == 0)
			s->opts.timeout_ms = v;
		else if (strcmp(key, "max_message_size") == 0)
			s->opts.max_message_size = v;
		else if (strcmp(key, "cancel_at") == 0)
			s->cancel_at = v;
		else
			fail_msg("update: what is %s?", key);
		w += used;
	}
	s->zone = dcv_config_zone(cfg, zone_name);
	assert_non_null(s->zone);
	lines = replay_lines("record", &n);
	assert_true(n > 0 && n <= URS_MAX_RECORDS);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(
		    sscanf(lines[i], "record %255s %255s", s->recs[i].owner, s->recs[i].target), 2);
		s->recs[i].ttl = 300;
	}
	s->n_recs = n;
}
