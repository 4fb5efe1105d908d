/*
 * probe.h -- would the CA's check succeed? Asked the way the CA asks.
 *
 * For every certificate name the CA walks the ADN candidates from the
 * longest and takes the first "_<md5>.<candidate>" CNAME it finds; ours must
 * be that one. A round of the probe checks, in this order:
 *
 *   1. authoritative: every address of every zone involved (the zone's
 *      `nameservers`, or else its NS set and their A/AAAA, discovered from
 *      the first primary and cached), RD=0, AA required: at the ADN our
 *      CNAME; at each longer candidate that lies in a configured zone, no
 *      other CNAME (a candidate below a zone cut, answered with a referral,
 *      belongs to a child zone that is not configured: left to step 2);
 *   2. resolvers (RD=1), only once step 1 holds everywhere -- asking a
 *      resolver earlier would plant a negative answer in its cache for the
 *      SOA minimum: each resolver walks the candidates like the CA.
 *
 * Signed zones (issue 12; probe_dnssec.c, zsec.h): a publishing round first
 * learns each zone's security (one DNSKEY question per zone, cached). In a
 * secure or signed zone step 1 asks with DO and our CNAME's RRSIG must
 * validate now and for an hour; in a secure zone step 2 wants AD. A bad
 * signature on a served CNAME, a bogus zone, or a resolver's SERVFAIL whose
 * CD=1 answer holds the record sets report->failed (why says it): no use
 * waiting. A server without the record yet only waits, as before.
 *
 * The withdrawal check (expect_absent) asks step 1 only and wants our
 * record gone from every authoritative address. A reply that cannot be
 * read is ignored (it may be forged; the query waits for a better one) and
 * observed as "IP@PORT: malformed reply" when no other comes.
 *
 * Ownership: the prober keeps a pointer to cfg and io (both must outlive
 * it). A spec must stay valid until its round's callback has run. Reports
 * are valid during the callback only.
 */
#ifndef DCV_PROBE_H
#define DCV_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dnsio.h"
#include "query.h"

struct dcv_probe_name {
	const char *name;        /* as in the certificate, for reports */
	char *const *candidates; /* the CA's order */
	size_t n_candidates;
	size_t adn; /* index of the candidate holding our record */
};

/*
 * What earlier rounds of one spec learned, kept by the caller between them
 * (zeroed to start; dcv_probe_memory_free() releases it). An answer that was
 * right stays right: the records do not go away by themselves. An answer
 * that was wrong at SOA serial S is not asked again while the server is
 * still at S: its data has not changed. So repeated rounds cost one shared
 * SOA query per server, and a record is asked again only when it can have
 * arrived. Reset it when what is expected changes (publish -> withdraw).
 */
struct dcv_probe_memo {
	uint64_t key;    /* hash of server and query name */
	uint32_t serial; /* the server's serial when the answer was wrong */
	bool ok;
	bool sig_ok; /* ok with its RRSIG checked (not just an UPDATE's confirmation) */
	bool serial_known;
	char *seen; /* the wrong answer, described */
};

struct dcv_probe_memory {
	struct dcv_probe_memo *memos;
	size_t n, cap;
};

void dcv_probe_memory_reset(struct dcv_probe_memory *m);
void dcv_probe_memory_free(struct dcv_probe_memory *m);
/* Records that server serves qname as expected (e.g. a primary that confirmed an UPDATE). */
int dcv_probe_memory_mark_ok(struct dcv_probe_memory *m, const char *server, const char *qname);

/*
 * A SOA serial in which the primary held the records of a zone: asked of
 * the primary right after the UPDATE (dcvd), or when the check starts (dcv
 * check). A server still at an older serial has not had the transfer yet,
 * one at this serial or later serves a copy that should hold them. Only for
 * the reasons in dcv_probe_disagreements().
 */
struct dcv_probe_held {
	const char *zone; /* the zone's domain, as in the configuration */
	uint32_t serial;
};

struct dcv_probe_spec {
	struct dcv_probe_memory *memory;   /* NULL: every round asks everything */
	const struct dcv_probe_held *held; /* n_held entries, may be NULL */
	size_t n_held;
	const char *md5_hex;
	const char *target; /* our CNAME data, lower case, trailing dot */
	const struct dcv_probe_name *names;
	size_t n_names;
	bool expect_absent; /* withdrawal: our record must be gone */
};

/* What one server said about one query name. */
struct dcv_probe_obs {
	const char *name; /* certificate name it was asked for */
	char qname[260];
	char server[64];
	bool resolver;
	bool ok;
	bool fatal;     /* DNSSEC: the CA's lookup fails (bad RRSIG, bogus): no use waiting */
	char seen[300]; /* "CNAME x.", "NXDOMAIN", "timed out", ... */
	/* Authoritative observations with a memory: the zone asked and the server's serial. */
	const char *zone; /* NULL for resolvers */
	uint32_t serial;
	bool serial_known;
};

/* A zone and how it is signed (dnssec.h: "secure", "insecure" or "signed"). */
struct dcv_probe_zsec {
	const char *zone;
	const char *state;
};

struct dcv_probe_report {
	int status;    /* DCV_OK: the round ran (whatever it found); else why it could not */
	char why[512]; /* when status < 0 */
	bool auth_ok;  /* every authoritative address agrees */
	bool failed;   /* a DNSSEC failure (an obs is fatal, or a zone is bogus): why says it */
	bool resolvers_asked;
	bool done;                       /* auth_ok and every resolver agrees (or there are none) */
	const struct dcv_probe_obs *obs; /* every observation of the round */
	size_t n_obs;
	size_t n_auth_addrs;               /* distinct authoritative addresses asked */
	const struct dcv_probe_held *held; /* the spec's, for the reasons */
	size_t n_held;
	const struct dcv_probe_zsec *zsecs; /* zones of the round whose security is known */
	size_t n_zsecs;
};

typedef void (*dcv_probe_cb)(void *arg, const struct dcv_probe_report *report);

struct dcv_prober;

struct dcv_prober_opts {
	uint64_t query_timeout_ms; /* per query, all tries (default 3000) */
	uint64_t authset_ttl_ms;   /* how long a discovered NS set is reused (default 300000) */
	/*
	 * Loop time (uv_now) by which every query must have given up, 0 for none.
	 * A caller with its own deadline sets it a little before that deadline,
	 * so that a silent server is reported by name rather than cut off by an
	 * unfinished round (time spent waiting for SOA serials, and finding a
	 * zone's name servers and their addresses, counts too).
	 */
	uint64_t give_up_at;
};

struct dcv_prober *dcv_prober_new(struct dcv_dnsio *io, const struct dcv_config *cfg,
                                  const struct dcv_prober_opts *opts);

/*
 * Runs one round for spec. The callback runs once, from the loop (also when
 * the round cannot start: report->status < 0). Returns DCV_OK or DCV_ENOMEM
 * (then no callback).
 */
int dcv_probe_round(struct dcv_prober *p, const struct dcv_probe_spec *spec, dcv_probe_cb cb,
                    void *arg);

/*
 * The SOA serials of a zone at each of its authoritative addresses, none
 * older than max_age_ms (shared with the rounds' own serials). known[i]
 * false: address i did not answer. status < 0: the addresses themselves
 * could not be found, or DCV_ENOMEM: not every address could be asked.
 * cb may run from inside this call. DCV_ENOMEM only.
 */
typedef void (*dcv_prober_serials_cb)(void *arg, int status, size_t n, const struct dcv_addr *addrs,
                                      const uint32_t *serials, const bool *known);
int dcv_prober_serials(struct dcv_prober *p, const struct dcv_zone *zone, uint64_t max_age_ms,
                       dcv_prober_serials_cb cb, void *arg);

/*
 * The SOA serial of the zone at its first primary's first address, asked
 * now (not from a cache older than max_age_ms). cb runs once, from the loop
 * or from inside this call; status < 0: no serial (timed out, refused).
 * zone is one of the configuration's (which gives every zone a primary
 * with an address). DCV_ENOMEM only.
 */
typedef void (*dcv_prober_serial_cb)(void *arg, int status, uint32_t serial);
int dcv_prober_primary_serial(struct dcv_prober *p, const struct dcv_zone *zone,
                              uint64_t max_age_ms, dcv_prober_serial_cb cb, void *arg);

/* Rounds started and not finished. */
size_t dcv_prober_pending(const struct dcv_prober *p);

/*
 * Frees the prober. Close dnsio first: that ends every round's queries, and a
 * round that ended so but was not reported yet is freed here without a report.
 */
void dcv_prober_free(struct dcv_prober *p);

/*
 * What a round found wrong, one line per disagreement, for dcv's messages
 * and dcvd's log alike: "server ADDR asked QNAME for NAME: SEEN" (resolver
 * for a resolver), or the round's why when it could not run. Replaces the
 * contents of out; at most max lines (0: all). DCV_ENOMEM.
 */
int dcv_probe_disagreements(const struct dcv_probe_report *rep, size_t max, struct dcv_strv *out);

/* The zone (longest configured) that name lies in, or NULL. */
const struct dcv_zone *dcv_config_zone_of(const struct dcv_config *cfg, const char *name);

#endif
