/*
 * dnssec.h -- the signature checks the probe applies to signed zones
 * (issue 12): does an RRset carry an RRSIG that validates against the
 * zone's DNSKEY set, is valid now and stays valid long enough for the CA's
 * lookup? Pure functions over ldns RRsets and a time, so that they can be
 * tested without a server; plus the readers that take those RRsets out of
 * a reply in wire form.
 *
 * Ownership: nothing passed in is kept or changed. Lists returned are the
 * caller's (ldns_rr_list_deep_free). The CPU work is one signature check
 * per RRSIG and key, small enough for the loop thread.
 */
#ifndef DCV_DNSSEC_H
#define DCV_DNSSEC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ldns/ldns.h>

/* How long a signature must stay valid after the check: the CA looks later. */
#define DCV_DNSSEC_MARGIN_S 3600

/* What a zone is, as the CA's resolvers see it (the status file's `dnssec:`). */
enum dcv_zsec {
	DCV_ZSEC_UNKNOWN,  /* not asked yet, or the question had no answer */
	DCV_ZSEC_INSECURE, /* no chain of trust: nothing is checked, as the CA does */
	DCV_ZSEC_SECURE,   /* the resolvers validate it (AD on its DNSKEY) */
	DCV_ZSEC_SIGNED,   /* no resolver configured; a DNSKEY at the apex */
};

/* "unknown", "insecure", "secure", "signed". */
const char *dcv_zsec_name(enum dcv_zsec s);

/* The outcome of checking one RRset's signatures, best first. */
enum dcv_sigcheck {
	DCV_SIG_OK,       /* an RRSIG validates, now and for the margin */
	DCV_SIG_EXPIRING, /* validates now, expires within the margin */
	DCV_SIG_EXPIRED,  /* validates cryptographically, outside its validity now */
	DCV_SIG_BOGUS,    /* an RRSIG by a key of the set does not validate */
	DCV_SIG_NOKEY,    /* no key of the set has the RRSIG's tag and algorithm */
	DCV_SIG_MISSING,  /* no RRSIG covers the RRset */
};

/* "valid", "expires within the hour", "expired", ... for messages. */
const char *dcv_sigcheck_name(enum dcv_sigcheck c);

/*
 * Checks rrset (one owner, one type) against the RRSIGs in sigs that cover
 * its type (others are ignored) with the DNSKEYs in keys, at time now,
 * requiring margin_s seconds of validity left. The best outcome over all
 * covering RRSIGs counts. why gets one line naming the RRSIG (key tag,
 * algorithm, validity in UTC) and what is wrong; empty for DCV_SIG_OK.
 * NULL lists count as empty.
 */
enum dcv_sigcheck dcv_dnssec_verify(const ldns_rr_list *rrset, const ldns_rr_list *sigs,
                                    const ldns_rr_list *keys, time_t now, uint32_t margin_s,
                                    char *why, size_t size);

/*
 * From a reply (wire form): the records of the answer section owned by
 * owner (presentation form) of type type, and the RRSIGs among them that
 * cover type. NULL, NULL when the reply cannot be parsed. Either list may
 * be empty. Both are the caller's.
 */
int dcv_dnssec_answer_rrset(const uint8_t *msg, size_t len, const char *owner, uint16_t type,
                            ldns_rr_list **rrset, ldns_rr_list **sigs);

/*
 * Checks the answer's RRset (owner, type) as dcv_dnssec_verify() does.
 * DCV_SIG_MISSING also when the reply cannot be parsed (why says so).
 */
enum dcv_sigcheck dcv_dnssec_check_answer(const uint8_t *msg, size_t len, const char *owner,
                                          uint16_t type, const ldns_rr_list *keys, time_t now,
                                          uint32_t margin_s, char *why, size_t size);

#endif
