/*
 * query.h -- building plain DNS queries and reading what a reply says about
 * one name's CNAME: the two things the update confirmation and the probe
 * need. Wire-level (daemon/wire.h), bounds-checked, no allocation.
 */
#ifndef DCV_QUERY_H
#define DCV_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcv/err.h"
#include "wire.h"

#define DCV_TYPE_A 1
#define DCV_TYPE_NS 2
#define DCV_TYPE_CNAME 5
#define DCV_TYPE_SOA 6
#define DCV_TYPE_AAAA 28
#define DCV_TYPE_OPT 41
#define DCV_TYPE_RRSIG 46
#define DCV_TYPE_NSEC 47
#define DCV_TYPE_DNSKEY 48
#define DCV_TYPE_NSEC3 50
#define DCV_TYPE_TSIG 250
#define DCV_CLASS_IN 1

#define DCV_RCODE_NOERROR 0
#define DCV_RCODE_FORMERR 1
#define DCV_RCODE_SERVFAIL 2
#define DCV_RCODE_NXDOMAIN 3
#define DCV_RCODE_NOTIMP 4
#define DCV_RCODE_REFUSED 5
#define DCV_RCODE_NOTAUTH 9
#define DCV_RCODE_NOTZONE 10

/* A random 16-bit message ID from the system's CSPRNG. */
uint16_t dcv_query_id(void);

/*
 * Writes a query for (qname, qtype, IN) with a fresh random ID into buf;
 * rd sets the recursion-desired bit. DCV_EINVAL for a bad name or small buf.
 */
int dcv_query_build(const char *qname, uint16_t qtype, bool rd, uint8_t *buf, size_t cap,
                    size_t *len);

/* Flags of dcv_query_build_flags(). */
#define DCV_QUERY_RD 0x1u /* recursion desired */
#define DCV_QUERY_DO 0x2u /* an EDNS(0) OPT record with the DO bit (RFC 3225) */
#define DCV_QUERY_CD 0x4u /* checking disabled: a resolver returns what it cannot validate */
/* The EDNS payload size asked with DO (the DNS flag day 2020 value): larger goes over TCP. */
#define DCV_EDNS_PAYLOAD 1232
/* Room for a query from dcv_query_build_flags(): header, name, question, OPT. */
#define DCV_QUERY_MAX (DCV_WIRE_HEADER + DCV_WIRE_NAME_MAX + 4 + 11)

/* dcv_query_build() with DCV_QUERY_* flags. DCV_EINVAL as there. */
int dcv_query_build_flags(const char *qname, uint16_t qtype, unsigned flags, uint8_t *buf,
                          size_t cap, size_t *len);

/* What a reply says about the CNAME at the queried name. */
enum dcv_seen {
	DCV_SEEN_CNAME,    /* a CNAME; its target is in cname */
	DCV_SEEN_NXDOMAIN, /* the name does not exist */
	DCV_SEEN_NODATA,   /* the name exists, no CNAME */
	DCV_SEEN_REFERRAL, /* not authoritative: a delegation or no AA bit (see delegation) */
	DCV_SEEN_RCODE,    /* an error rcode (rcode says which) */
};

/* Room for a name from dcv_name_text(). */
#define DCV_NAME_TEXT_MAX (DCV_WIRE_TEXT_MAX + 1)

struct dcv_answer {
	enum dcv_seen seen;
	int rcode;
	bool aa;
	bool ad;           /* authenticated data: the resolver validated the answer */
	bool nsec;         /* an NSEC or NSEC3 record in the authority section (a signed denial) */
	uint32_t nsec_ttl; /* the smallest TTL among them */
	bool delegation;   /* a referral to a child zone: no AA, NS and no SOA in authority */
	char cname[DCV_NAME_TEXT_MAX]; /* presentation, lower case, trailing dot, escaped */
};

/*
 * Reads a reply to a CNAME query for qname_wire (lower-case wire form).
 * authoritative: require AA (RD=0 queries to authoritative servers).
 * DCV_EREPLY when malformed.
 */
int dcv_query_read_cname(const uint8_t *msg, size_t len, const uint8_t *qname_wire,
                         size_t qname_len, bool authoritative, struct dcv_answer *ans);

/*
 * Presentation form of an uncompressed wire name with the trailing dot, odd
 * bytes escaped as \DDD (dcv_wire_to_text), as records and targets are written.
 */
void dcv_name_text(const uint8_t *wire, size_t wire_len, char out[DCV_NAME_TEXT_MAX]);

/*
 * The serial of the SOA record for zone_wire in the answer section of a
 * reply to an SOA query. DCV_EREPLY when there is none or it is malformed.
 */
int dcv_query_read_soa_serial(const uint8_t *msg, size_t len, const uint8_t *zone_wire,
                              size_t zone_len, uint32_t *serial);

/*
 * The Extended DNS Error (RFC 8914, EDNS option 15) of a reply: *code gets
 * its INFO-CODE and text its EXTRA-TEXT (control bytes replaced by '?').
 * DCV_EREPLY when the reply has none (or is malformed).
 */
int dcv_query_read_ede(const uint8_t *msg, size_t len, uint16_t *code, char *text, size_t size);

/*
 * " (Extended DNS Error 6, DNSSEC Bogus: TEXT)" for the reply's EDE, the
 * name from RFC 8914's registry; "" when the reply has none.
 */
void dcv_query_describe_ede(const uint8_t *msg, size_t len, char *out, size_t size);

/* "NXDOMAIN", "SERVFAIL", ... or "RCODE 12". */
const char *dcv_rcode_name(int rcode);

/* One-line description of an answer for reports: "NXDOMAIN", "CNAME x.sectigo.com.", ... */
void dcv_answer_describe(const struct dcv_answer *ans, char *buf, size_t size);

#endif
