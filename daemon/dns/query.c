/* query.c -- plain queries and CNAME answers, at the wire level. */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "query.h"

uint16_t dcv_query_id(void)
{
	uint16_t id = 0;

	/* RAND_bytes only fails when the system has no entropy at all. */
	if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1)
		id = (uint16_t)((uintptr_t)&id ^ (uintptr_t)id);
	return id;
}

int dcv_query_build(const char *qname, uint16_t qtype, bool rd, uint8_t *buf, size_t cap,
                    size_t *len)
{
	return dcv_query_build_flags(qname, qtype, rd ? DCV_QUERY_RD : 0, buf, cap, len);
}

int dcv_query_build_flags(const char *qname, uint16_t qtype, unsigned flags, uint8_t *buf,
                          size_t cap, size_t *len)
{
	uint8_t name[DCV_WIRE_NAME_MAX];
	size_t name_len = 0, end = 0;
	size_t opt = (flags & DCV_QUERY_DO) ? 11 : 0;

	if (dcv_wire_from_text(qname, name, &name_len) < 0 ||
	    cap < DCV_WIRE_HEADER + name_len + 4 + opt)
		return DCV_EINVAL;
	memset(buf, 0, DCV_WIRE_HEADER);
	dcv_wire_put16(buf, dcv_query_id());
	buf[2] = (flags & DCV_QUERY_RD) ? 0x01 : 0x00;
	buf[3] = (flags & DCV_QUERY_CD) ? 0x10 : 0x00;
	dcv_wire_put16(buf + 4, 1);
	memcpy(buf + DCV_WIRE_HEADER, name, name_len);
	dcv_wire_put16(buf + DCV_WIRE_HEADER + name_len, qtype);
	dcv_wire_put16(buf + DCV_WIRE_HEADER + name_len + 2, DCV_CLASS_IN);
	end = DCV_WIRE_HEADER + name_len + 4;
	if (opt != 0) {
		/* OPT: root owner, payload size as class, TTL 0 but the DO bit, no options. */
		buf[end] = 0;
		dcv_wire_put16(buf + end + 1, DCV_TYPE_OPT);
		dcv_wire_put16(buf + end + 3, DCV_EDNS_PAYLOAD);
		buf[end + 5] = 0; /* extended rcode */
		buf[end + 6] = 0; /* version */
		dcv_wire_put16(buf + end + 7, 0x8000);
		dcv_wire_put16(buf + end + 9, 0);
		dcv_wire_put16(buf + 10, 1);
		end += opt;
	}
	*len = end;
	return DCV_OK;
}

void dcv_name_text(const uint8_t *wire, size_t wire_len, char out[DCV_NAME_TEXT_MAX])
{
	size_t n = 0;

	if (dcv_wire_to_text(wire, wire_len, out) < 0) {
		snprintf(out, DCV_NAME_TEXT_MAX, "(bad name)");
		return;
	}
	n = strlen(out);
	if (strcmp(out, ".") != 0 && n + 1 < DCV_NAME_TEXT_MAX) {
		out[n] = '.';
		out[n + 1] = '\0';
	}
}

int dcv_query_read_cname(const uint8_t *msg, size_t len, const uint8_t *qname_wire,
                         size_t qname_len, bool authoritative, struct dcv_answer *ans)
{
	uint8_t owner[DCV_WIRE_NAME_MAX], target[DCV_WIRE_NAME_MAX];
	size_t off = 0, owner_len = 0, target_len = 0, pos = 0;
	struct dcv_wire_rr rr;
	unsigned ancount, nscount;
	bool has_soa = false, has_ns = false;

	memset(ans, 0, sizeof(*ans));
	if (dcv_wire_after_question(msg, len, &off) < 0)
		return DCV_EREPLY;
	ans->rcode = DCV_WIRE_RCODE(msg);
	ans->aa = (msg[2] & 0x04) != 0;
	ans->ad = (msg[3] & 0x20) != 0;
	ancount = DCV_WIRE_ANCOUNT(msg);
	nscount = DCV_WIRE_NSCOUNT(msg);
	if (ans->rcode != DCV_RCODE_NOERROR && ans->rcode != DCV_RCODE_NXDOMAIN) {
		ans->seen = DCV_SEEN_RCODE;
		return DCV_OK;
	}
	for (unsigned i = 0; i < ancount; i++) {
		pos = off;
		if (dcv_wire_read_name(msg, len, &pos, owner, &owner_len) < 0)
			return DCV_EREPLY;
		if (dcv_wire_read_rr(msg, len, &off, &rr) < 0)
			return DCV_EREPLY;
		if (rr.type != DCV_TYPE_CNAME || rr.class != DCV_CLASS_IN ||
		    owner_len != qname_len || memcmp(owner, qname_wire, qname_len) != 0)
			continue;
		pos = rr.rdata;
		if (dcv_wire_read_name(msg, len, &pos, target, &target_len) < 0 || pos != rr.end)
			return DCV_EREPLY;
		ans->seen = DCV_SEEN_CNAME;
		dcv_name_text(target, target_len, ans->cname);
		if (authoritative && !ans->aa)
			ans->seen = DCV_SEEN_REFERRAL;
		return DCV_OK;
	}
	for (unsigned i = 0; i < nscount; i++) {
		if (dcv_wire_read_rr(msg, len, &off, &rr) < 0)
			return DCV_EREPLY;
		has_soa |= rr.type == DCV_TYPE_SOA;
		has_ns |= rr.type == DCV_TYPE_NS;
		if (rr.type == DCV_TYPE_NSEC || rr.type == DCV_TYPE_NSEC3) {
			ans->nsec_ttl =
			    ans->nsec && ans->nsec_ttl < rr.ttl ? ans->nsec_ttl : rr.ttl;
			ans->nsec = true;
		}
	}
	if (authoritative && (!ans->aa || (has_ns && !has_soa))) {
		ans->seen = DCV_SEEN_REFERRAL;
		ans->delegation = ans->rcode == DCV_RCODE_NOERROR && !ans->aa && has_ns && !has_soa;
	} else {
		ans->seen = ans->rcode == DCV_RCODE_NXDOMAIN ? DCV_SEEN_NXDOMAIN : DCV_SEEN_NODATA;
	}
	return DCV_OK;
}

int dcv_query_read_soa_serial(const uint8_t *msg, size_t len, const uint8_t *zone_wire,
                              size_t zone_len, uint32_t *serial)
{
	uint8_t owner[DCV_WIRE_NAME_MAX];
	size_t off = 0, pos = 0, owner_len = 0;
	struct dcv_wire_rr rr;

	if (dcv_wire_after_question(msg, len, &off) < 0 || DCV_WIRE_RCODE(msg) != DCV_RCODE_NOERROR)
		return DCV_EREPLY;
	for (unsigned i = 0; i < DCV_WIRE_ANCOUNT(msg); i++) {
		pos = off;
		if (dcv_wire_read_name(msg, len, &pos, owner, &owner_len) < 0 ||
		    dcv_wire_read_rr(msg, len, &off, &rr) < 0)
			return DCV_EREPLY;
		if (rr.type != DCV_TYPE_SOA || owner_len != zone_len ||
		    memcmp(owner, zone_wire, zone_len) != 0)
			continue;
		/* RDATA: MNAME, RNAME (possibly compressed), then SERIAL. */
		pos = rr.rdata;
		if (dcv_wire_skip_name(msg, len, &pos) < 0 ||
		    dcv_wire_skip_name(msg, len, &pos) < 0 || pos + 4 > rr.end)
			return DCV_EREPLY;
		*serial = dcv_wire_u32(msg + pos);
		return DCV_OK;
	}
	return DCV_EREPLY;
}

int dcv_query_read_ede(const uint8_t *msg, size_t len, uint16_t *code, char *text, size_t size)
{
	size_t off = 0;
	unsigned records = 0;
	struct dcv_wire_rr rr;

	if (dcv_wire_after_question(msg, len, &off) < 0)
		return DCV_EREPLY;
	records = DCV_WIRE_ANCOUNT(msg) + DCV_WIRE_NSCOUNT(msg) + DCV_WIRE_ARCOUNT(msg);
	for (unsigned i = 0; i < records; i++) {
		if (dcv_wire_read_rr(msg, len, &off, &rr) < 0)
			return DCV_EREPLY;
		if (rr.type != DCV_TYPE_OPT)
			continue;
		/* OPTION-CODE, OPTION-LENGTH, data; EDE data: INFO-CODE, EXTRA-TEXT. */
		for (size_t p = rr.rdata; p + 4 <= rr.end;) {
			uint16_t opt = dcv_wire_u16(msg + p), olen = dcv_wire_u16(msg + p + 2);
			size_t n = 0;
			if (p + 4 + olen > rr.end)
				return DCV_EREPLY;
			if (opt == 15 && olen >= 2) {
				*code = dcv_wire_u16(msg + p + 4);
				for (size_t t = 0; t < (size_t)olen - 2 && n + 1 < size; t++) {
					uint8_t c = msg[p + 6 + t];
					text[n++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
				}
				if (size > 0)
					text[n] = '\0';
				return DCV_OK;
			}
			p += 4 + (size_t)olen;
		}
	}
	return DCV_EREPLY;
}

void dcv_query_describe_ede(const uint8_t *msg, size_t len, char *out, size_t size)
{
	/* RFC 8914 section 4 and the IANA registry (0-24). */
	static const char *const names[] = {
	    "Other",
	    "Unsupported DNSKEY Algorithm",
	    "Unsupported DS Digest Type",
	    "Stale Answer",
	    "Forged Answer",
	    "DNSSEC Indeterminate",
	    "DNSSEC Bogus",
	    "Signature Expired",
	    "Signature Not Yet Valid",
	    "DNSKEY Missing",
	    "RRSIGs Missing",
	    "No Zone Key Bit Set",
	    "NSEC Missing",
	    "Cached Error",
	    "Not Ready",
	    "Blocked",
	    "Censored",
	    "Filtered",
	    "Prohibited",
	    "Stale NXDOMAIN Answer",
	    "Not Authoritative",
	    "Not Supported",
	    "No Reachable Authority",
	    "Network Error",
	    "Invalid Data",
	};
	uint16_t code = 0;
	char text[160];

	if (size > 0)
		out[0] = '\0';
	if (dcv_query_read_ede(msg, len, &code, text, sizeof(text)) < 0)
		return;
	snprintf(out, size, " (Extended DNS Error %u, %s%s%s)", code,
	         code < sizeof(names) / sizeof(names[0]) ? names[code] : "unassigned",
	         text[0] ? ": " : "", text);
}

const char *dcv_rcode_name(int rcode)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
	                                    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
	                                    "NXRRSET", "NOTAUTH", "NOTZONE"};
	static _Thread_local char other[16];

	if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(other, sizeof(other), "RCODE %d", rcode);
	return other;
}

void dcv_answer_describe(const struct dcv_answer *ans, char *buf, size_t size)
{
	switch (ans->seen) {
	case DCV_SEEN_CNAME:
		snprintf(buf, size, "CNAME %s", ans->cname);
		break;
	case DCV_SEEN_NXDOMAIN:
		snprintf(buf, size, "NXDOMAIN");
		break;
	case DCV_SEEN_NODATA:
		snprintf(buf, size, "no CNAME (NODATA)");
		break;
	case DCV_SEEN_REFERRAL:
		snprintf(buf, size, "not authoritative (referral or AA not set)");
		break;
	case DCV_SEEN_RCODE:
		snprintf(buf, size, "%s", dcv_rcode_name(ans->rcode));
		break;
	}
}
