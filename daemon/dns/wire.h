/*
 * wire.h -- bounds-checked reading of DNS messages in wire format
 * (RFC 1035 §4), for the few places that need the raw bytes: matching a
 * reply to its query, finding and checking the TSIG record.
 *
 * Every function checks every length against the message end and returns
 * DCV_EREPLY on anything malformed; none reads outside [msg, msg+len).
 * Compression pointers must point backwards, which also bounds loops.
 */
#ifndef DCV_WIRE_H
#define DCV_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcv/err.h"

#define DCV_WIRE_HEADER 12
#define DCV_WIRE_NAME_MAX 255

/* Header fields (msg must hold at least 12 bytes: check first). */
static inline uint16_t dcv_wire_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline void dcv_wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline uint32_t dcv_wire_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
#define DCV_WIRE_ID(m) dcv_wire_u16((m) + 0)
#define DCV_WIRE_FLAGS(m) dcv_wire_u16((m) + 2)
#define DCV_WIRE_QDCOUNT(m) dcv_wire_u16((m) + 4)
#define DCV_WIRE_ANCOUNT(m) dcv_wire_u16((m) + 6)
#define DCV_WIRE_NSCOUNT(m) dcv_wire_u16((m) + 8)
#define DCV_WIRE_ARCOUNT(m) dcv_wire_u16((m) + 10)
#define DCV_WIRE_QR(m) (((m)[2] & 0x80) != 0)
#define DCV_WIRE_OPCODE(m) (((m)[2] >> 3) & 0x0f)
#define DCV_WIRE_TC(m) (((m)[2] & 0x02) != 0)
#define DCV_WIRE_RCODE(m) ((m)[3] & 0x0f)

/*
 * Reads the name at *off (following compression pointers) into out as an
 * uncompressed, lower-cased wire name; *off moves past the name as it is
 * stored at *off. out_len gets the wire length (root = 1).
 */
int dcv_wire_read_name(const uint8_t *msg, size_t len, size_t *off, uint8_t out[DCV_WIRE_NAME_MAX],
                       size_t *out_len);

/* Moves *off past the name at *off without decoding it. */
int dcv_wire_skip_name(const uint8_t *msg, size_t len, size_t *off);

/* A resource record's position within a message. */
struct dcv_wire_rr {
	size_t start; /* first byte of the owner name */
	size_t rdata; /* first byte of the RDATA */
	uint16_t type, class;
	uint32_t ttl;
	uint16_t rdlength;
	size_t end; /* one past the RDATA */
};

/* Reads the RR at *off; *off moves to the next one. */
int dcv_wire_read_rr(const uint8_t *msg, size_t len, size_t *off, struct dcv_wire_rr *rr);

/*
 * Offset of the first byte after the question section (every question
 * skipped); DCV_EREPLY when the header or the questions are cut short.
 */
int dcv_wire_after_question(const uint8_t *msg, size_t len, size_t *off);

/*
 * true when both messages carry the same question section: same QDCOUNT and,
 * for each question, the same name (case-insensitive), type and class.
 */
bool dcv_wire_same_question(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

/* Converts a presentation name ("example.com", "example.com.", ".") to lower-case wire form. */
int dcv_wire_from_text(const char *text, uint8_t out[DCV_WIRE_NAME_MAX], size_t *out_len);

/* Room for any name in presentation form: every octet may need "\DDD". */
#define DCV_WIRE_TEXT_MAX (4 * DCV_WIRE_NAME_MAX + 2)

/*
 * Writes the uncompressed wire name wire[0..wire_len) (as dcv_wire_read_name
 * gives it) in presentation form without the trailing dot ("." for the
 * root), for messages: '.', '\' and bytes outside printable ASCII are
 * escaped as \DDD, so that a hostile name cannot forge a log line.
 * DCV_EINVAL when wire_len is over DCV_WIRE_NAME_MAX or the labels do not add up
 * to it.
 */
int dcv_wire_to_text(const uint8_t *wire, size_t wire_len, char out[DCV_WIRE_TEXT_MAX]);

#endif
