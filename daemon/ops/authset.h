/*
 * authset.h -- the authoritative addresses of each configured zone: its
 * `nameservers` when configured, otherwise its NS set and their A/AAAA,
 * discovered by asking the zone's first primary (RD=0) and, for names it
 * does not answer for, the first resolver (RD=1). Discovered sets are
 * reused for a while and then fetched again.
 *
 * Internal to probe.c. Ownership: sets live inside struct dcv_authsets;
 * the addresses handed to a waiter stay valid until the next fetch starts,
 * which never happens while a round of the probe is using them (rounds
 * copy what they need before yielding to the loop).
 */
#ifndef DCV_AUTHSET_H
#define DCV_AUTHSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dnsio.h"

struct dcv_authset;

/* status DCV_OK: addrs/n usable; else why says what failed. */
typedef void (*dcv_authset_cb)(void *arg, int status, const struct dcv_addr *addrs, size_t n,
                               const char *why);

struct dcv_authsets;

struct dcv_authsets *dcv_authsets_new(struct dcv_dnsio *io, const struct dcv_config *cfg,
                                      uint64_t ttl_ms, uint64_t timeout_ms);

/*
 * A loop time (uv_now) by which every query of the sets must have given
 * up (0: none, the default): each query gets what is left if that is
 * less than timeout_ms, so that a short command deadline still ends with
 * the silent server named (dcv check and withdraw; probe.h's give_up_at).
 */
void dcv_authsets_give_up_at(struct dcv_authsets *sets, uint64_t at);

/*
 * Calls cb with the zone's set: at once when it is configured or fresh in
 * the cache (so: possibly from inside this call), otherwise once a fetch
 * finishes. DCV_ENOMEM when the waiter cannot be queued (no callback).
 */
int dcv_authsets_get(struct dcv_authsets *sets, const struct dcv_zone *zone, dcv_authset_cb cb,
                     void *arg);

/*
 * The SOA serial of a zone at one of its addresses, asked at most every
 * max_age_ms however many rounds want it at once (they share one query).
 * The probe uses it to know when a server's data can have changed: a record
 * missing at serial S is missing until the serial moves. cb runs at once
 * when the cached serial is fresh, otherwise when the query ends (status <
 * 0 when it failed: the caller then asks without that knowledge).
 */
typedef void (*dcv_serial_cb)(void *arg, int status, uint32_t serial);
int dcv_authsets_serial(struct dcv_authsets *sets, const struct dcv_zone *zone,
                        const struct dcv_addr *addr, uint64_t max_age_ms, dcv_serial_cb cb,
                        void *arg);

void dcv_authsets_free(struct dcv_authsets *sets);

#endif
