/*
 * probe_replay_spec.h -- the probe's side of a probe-*.rpl scenario, read
 * the same way by test_probe_replay (which checks its expect lines) and
 * test_torture_probe_replay (which fails its allocations in turn), so that
 * a line the language gains is honoured by both:
 *
 *   probe MD5 TARGET [absent] [memory]   the spec (memory: one memory for every round)
 *   name NAME ADN CANDIDATE...           a certificate name and the CA's walk
 *   held ZONE SERIAL                     spec.held
 *   mark SERVER QNAME                    dcv_probe_memory_mark_ok() (needs memory)
 *   prober timeout MS give_up MS         dcv_prober_opts, give_up MS after t0
 *
 * Malformed lines fail the test (cmocka). The struct points into itself:
 * keep it where it is (a static) while the spec is used; free the memory
 * with dcv_probe_memory_free(&s->memory).
 */
#ifndef DCV_PROBE_REPLAY_SPEC_H
#define DCV_PROBE_REPLAY_SPEC_H

#include <stdint.h>

#include "probe.h"

#define PRS_MAX_NAMES 4
#define PRS_MAX_CANDS 8

struct probe_replay_spec {
	struct dcv_probe_spec spec;
	struct dcv_probe_memory memory;
	struct dcv_prober_opts opts;
	struct dcv_probe_held held[2];
	char held_zone[2][256];
	struct dcv_probe_name names[PRS_MAX_NAMES];
	char name_text[PRS_MAX_NAMES][256];
	char cand_text[PRS_MAX_NAMES][PRS_MAX_CANDS][256];
	char *cands[PRS_MAX_NAMES][PRS_MAX_CANDS];
	char md5[40], target[256];
};

/* Reads the loaded scenario's lines into s (cleared first); t0 is the loop time of the start. */
void probe_replay_spec_read(struct probe_replay_spec *s, uint64_t t0);

#endif
