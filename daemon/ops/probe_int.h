/*
 * probe_int.h -- what probe.c, probe_dnssec.c, probe_serials.c and
 * probe_text.c share: the state of a round of the probe (see probe.c for
 * the state machine) and the prober.
 * Internal to the prober; nothing outside daemon/ops/probe*.c includes it.
 */
#ifndef DCV_PROBE_INT_H
#define DCV_PROBE_INT_H

#include <ldns/ldns.h>

#include "dnssec.h"
#include "probe.h"
#include "zsec.h"

enum round_state {
	ROUND_ZONES,
	ROUND_AUTH,
	ROUND_RESOLVERS,
	ROUND_REPORT,
};

enum expect {
	EXPECT_OURS,      /* the ADN: our record must be there */
	EXPECT_NOT_OTHER, /* a longer candidate: no other record may be found first */
	EXPECT_ABSENT,    /* withdrawal: our record must be gone */
};

struct round;

struct item {
	struct round *round;
	size_t name;
	size_t zone; /* authoritative stage: index into round->zones */
	size_t addr; /* and into that zone's addresses */
	long memo;   /* index into spec->memory, or -1 */
	struct dcv_addr server;
	uint8_t qwire[DCV_WIRE_NAME_MAX];
	size_t qlen;
	enum expect expect;
	size_t resolver; /* resolver stage: which resolver */
	size_t cand;     /* resolver stage: candidate being asked */
	struct dcv_probe_obs obs;
	/* DNSSEC (probe_dnssec.c) */
	bool dnssec;      /* asked with DO: RRSIG checked (authoritative), AD required (resolver) */
	bool cd;          /* resolver: asked again with CD=1 after a SERVFAIL */
	bool fixed;       /* no query: an observation about a zone (unknown or bogus) */
	bool forget;      /* not to be remembered (the DNSKEY set is asked again) */
	bool adn_cached;  /* resolver: an NXDOMAIN at the ADN with an NSEC, validated */
	uint32_t adn_ttl; /* its NSEC TTL */
	char ede[200];    /* resolver: the SERVFAIL's Extended DNS Error, described */
};

struct zone_addrs;

/* One SOA serial a round waits for. */
struct serial_req {
	struct zone_addrs *za;
	size_t addr;
};

struct zone_addrs {
	struct round *round;
	const struct dcv_zone *zone;
	struct dcv_addr *addrs;
	size_t n;
	uint32_t *serials; /* per address, when serial_known */
	bool *serial_known;
	struct serial_req *reqs;
	/* DNSSEC: the zone's security and DNSKEY set (zsec.h), when asked. */
	bool sec_asked;
	enum dcv_zsec sec;
	bool bogus;
	ldns_rr_list *keys;
	uint64_t keys_ms; /* loop time the keys were fetched */
	char sec_why[400];
};

struct round {
	struct dcv_prober *p;
	const struct dcv_probe_spec *spec;
	dcv_probe_cb cb;
	void *arg;
	enum round_state state;
	struct zone_addrs *zones;
	size_t n_zones;
	size_t zones_waiting;
	struct item *items;
	size_t n_items;
	size_t cap_items;
	size_t pending;
	bool auth_ok;
	bool resolvers_ok;
	int status;
	char why[512];
	struct round *next_deferred;
	bool finish_at_kick; /* deferred: finish the stage (not just report) */
};

struct dcv_prober {
	struct dcv_dnsio *io;
	uv_loop_t *loop;
	const struct dcv_config *cfg;
	struct dcv_authsets *sets;
	struct dcv_zsecs *zsecs;
	uint64_t query_timeout_ms;
	uint64_t give_up_at; /* see dcv_prober_opts */
	size_t pending;
	uv_timer_t kick; /* reports rounds that finished without waiting */
	struct round *deferred;
};

/* --- DNSSEC (probe_dnssec.c) ------------------------------------------------ */

/* Asks the security of every zone of a round that wants it (zones_waiting counts). */
void probe_dnssec_zones(struct round *r);
/* An authoritative answer to an item of a signed zone: checks the CNAME's RRSIG. */
void probe_dnssec_judge_auth(struct item *it, const uint8_t *msg, size_t len);
/* A resolver's answer to an item (after judge()), in a secure zone or a SERVFAIL. */
enum probe_verdict {
	PROBE_GO_ON,  /* judged as before (the walk may go on) */
	PROBE_STOP,   /* the verdict is final for this walk */
	PROBE_RESENT, /* asked again; the answer is still to come */
};
enum probe_verdict probe_dnssec_judge_resolver(struct item *it, const uint8_t *msg, size_t len,
                                               const struct dcv_answer *ans);
/* Query flags for an item: DO where the zone is signed. */
unsigned probe_dnssec_flags(const struct item *it);
/* Whether the candidate cand of name n lies in a secure zone of the round. */
bool probe_dnssec_secure(const struct round *r, size_t n, size_t cand);
/* Adds the items of zones whose security cannot be told or is bogus; DCV_ENOMEM. */
int probe_dnssec_zone_items(struct round *r);
/* Fills the report's failed, why and zsecs (zsecs: room for r->n_zones). */
void probe_dnssec_report(const struct round *r, struct dcv_probe_report *rep,
                         struct dcv_probe_zsec *zsecs);
/* Frees what a round's zones hold for DNSSEC. */
void probe_dnssec_free(struct round *r);

/* probe.c */
struct item *probe_new_item(struct round *r);
int probe_send_item(struct round *r, struct item *it, bool rd);
void probe_zones_release(struct round *r);
uint64_t probe_query_timeout(const struct dcv_prober *p);

#endif
