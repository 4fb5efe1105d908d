/*
 * update_replay_spec.h -- the update's side of an update-*.rpl scenario,
 * read the same way by test_update_replay (which checks its expect lines)
 * and test_torture_update_replay (which fails its allocations in turn):
 *
 *   update add|delete ZONE [timeout MS] [max_message_size N] [cancel_at MS]
 *   record OWNER TARGET            the records, in order (TTL 300)
 *
 * Malformed lines, an unknown option or a zone the configuration lacks
 * fail the test (cmocka).
 */
#ifndef DCV_UPDATE_REPLAY_SPEC_H
#define DCV_UPDATE_REPLAY_SPEC_H

#include <stdint.h>

#include "config.h"
#include "update.h"

#define URS_MAX_RECORDS 16

struct update_replay_spec {
	enum dcv_update_op op;
	const struct dcv_zone *zone; /* in the configuration given */
	struct dcv_update_opts opts;
	uint64_t cancel_at; /* fake ms after the start; 0: never */
	struct dcv_record recs[URS_MAX_RECORDS];
	size_t n_recs;
};

/* Reads the loaded scenario's update and record lines into s (cleared first). */
void update_replay_spec_read(struct update_replay_spec *s, const struct dcv_config *cfg);

#endif
