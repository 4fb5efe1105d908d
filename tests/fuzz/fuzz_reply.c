/*
 * fuzz_reply.c -- a DNS reply, as any bytes: the wire readers (wire.h),
 * the CNAME answer reader (query.h), the TSIG check against a fixed signed
 * request (tsig.h), the update's reply classification (update_read.h) and
 * the NS and address answer readers (authset_read.h), the Extended DNS Error
 * and the RRSIG check of signed zones (query.h, dnssec.h).
 *
 * Oracles: the readers agree with each other (skip and read of a name,
 * the question walk and the question comparison, a name's text form and
 * back); a reply whose MAC an independent signer (fuzz_util.c) has made
 * right gets exactly the verdict the RFC gives; an unsigned final error is
 * never a reply that verifies; no message holds the key's secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authset_read.h"
#include "dnssec.h"
#include "fuzz.h"
#include "query.h"
#include "tsig.h"
#include "update_read.h"
#include "wire.h"

#define TYPE_PTR 12
#define TYPE_DNAME 39

/* A name the readers produced: its text form exists, and plain text converts back. */
static void reply_name(const uint8_t *wire, size_t wire_len)
{
	char text[DCV_WIRE_TEXT_MAX], shown[DCV_NAME_TEXT_MAX];
	uint8_t back[DCV_WIRE_NAME_MAX];
	size_t back_len = 0;

	FUZZ_CHECK(wire_len >= 1 && wire_len <= DCV_WIRE_NAME_MAX, "name of %zu bytes", wire_len);
	FUZZ_CHECK(dcv_wire_to_text(wire, wire_len, text) == DCV_OK,
	           "dcv_wire_to_text refuses a name dcv_wire_read_name gave");
	dcv_name_text(wire, wire_len, shown);
	FUZZ_CHECK(strcmp(shown, "(bad name)") != 0 && shown[strlen(shown) - 1] == '.',
	           "dcv_name_text gave '%s'", shown);
	if (strchr(text, '\\') != NULL)
		return;
	FUZZ_CHECK(dcv_wire_from_text(text, back, &back_len) == DCV_OK && back_len == wire_len &&
	               memcmp(back, wire, wire_len) == 0,
	           "name '%s' does not convert back to its wire form", text);
}

/* Reads the name at off the two ways; both must agree. */
static int reply_read_name(const uint8_t *msg, size_t limit, size_t off)
{
	uint8_t name[DCV_WIRE_NAME_MAX];
	size_t pos = off, skip = off, name_len = 0;
	int rc = dcv_wire_read_name(msg, limit, &pos, name, &name_len);
	int skip_rc = dcv_wire_skip_name(msg, limit, &skip);

	FUZZ_CHECK(rc == skip_rc && (rc < 0 || pos == skip),
	           "read_name (%d, end %zu) and skip_name (%d, end %zu) disagree", rc, pos, skip_rc,
	           skip);
	if (rc == DCV_OK) {
		FUZZ_CHECK(pos > off && pos <= limit, "name at %zu ends at %zu", off, pos);
		reply_name(name, name_len);
	}
	return rc;
}

static void reply_walk(const uint8_t *msg, size_t len)
{
	struct dcv_wire_rr rr;
	size_t off = 0, pos = 0;
	unsigned n = 0;
	int rc = dcv_wire_after_question(msg, len, &off);

	FUZZ_CHECK((rc == DCV_OK) == dcv_wire_same_question(msg, len, msg, len),
	           "after_question (%d) and same_question disagree", rc);
	if (rc < 0)
		return;
	FUZZ_CHECK(off >= DCV_WIRE_HEADER && off <= len, "questions end at %zu of %zu", off, len);
	if (DCV_WIRE_QDCOUNT(msg) > 0)
		(void)reply_read_name(msg, len, DCV_WIRE_HEADER);
	n = DCV_WIRE_ANCOUNT(msg) + DCV_WIRE_NSCOUNT(msg) + DCV_WIRE_ARCOUNT(msg);
	for (unsigned i = 0; i < n; i++) {
		size_t start = off;
		int name_rc = reply_read_name(msg, len, off);
		if (dcv_wire_read_rr(msg, len, &off, &rr) < 0)
			break;
		FUZZ_CHECK(name_rc == DCV_OK, "read_rr took an owner name that read_name refuses");
		FUZZ_CHECK(rr.start == start && rr.rdata <= len &&
		               rr.rdata + rr.rdlength == rr.end && rr.end <= len && off == rr.end,
		           "record %u: start %zu rdata %zu rdlength %u end %zu next %zu", i,
		           rr.start, rr.rdata, rr.rdlength, rr.end, off);
		switch (rr.type) {
		case DCV_TYPE_CNAME:
		case DCV_TYPE_NS:
		case TYPE_PTR:
		case TYPE_DNAME:
			(void)reply_read_name(msg, rr.end, rr.rdata);
			break;
		case DCV_TYPE_SOA:
			pos = rr.rdata;
			if (reply_read_name(msg, rr.end, pos) == DCV_OK &&
			    dcv_wire_skip_name(msg, rr.end, &pos) == DCV_OK)
				(void)reply_read_name(msg, rr.end, pos);
			break;
		default:
			break;
		}
	}
}

/* The CNAME reader for one query name, as a resolver and as an authoritative answer. */
static void reply_cname(const uint8_t *msg, size_t len, const uint8_t *qname, size_t qname_len)
{
	struct dcv_answer plain, auth;
	char line[DCV_NAME_TEXT_MAX + 64];
	int rc = dcv_query_read_cname(msg, len, qname, qname_len, false, &plain);
	int auth_rc = dcv_query_read_cname(msg, len, qname, qname_len, true, &auth);

	FUZZ_CHECK(rc == auth_rc && (rc == DCV_OK || rc == DCV_EREPLY),
	           "read_cname: %d without and %d with AA required", rc, auth_rc);
	if (rc < 0)
		return;
	dcv_answer_describe(&plain, line, sizeof(line));
	dcv_answer_describe(&auth, line, sizeof(line));
	FUZZ_CHECK(plain.seen <= DCV_SEEN_RCODE && auth.seen <= DCV_SEEN_RCODE, "seen %d/%d",
	           (int)plain.seen, (int)auth.seen);
	FUZZ_CHECK(plain.seen != DCV_SEEN_REFERRAL, "a referral while AA is not required");
	if (plain.seen == DCV_SEEN_CNAME) {
		FUZZ_CHECK(plain.cname[0] != '\0' && plain.cname[strlen(plain.cname) - 1] == '.',
		           "cname '%s'", plain.cname);
		FUZZ_CHECK(auth.seen == DCV_SEEN_REFERRAL || (auth.seen == DCV_SEEN_CNAME &&
		                                              strcmp(auth.cname, plain.cname) == 0),
		           "AA changes the CNAME seen");
	}
	if (auth.seen == DCV_SEEN_CNAME)
		FUZZ_CHECK(plain.seen == DCV_SEEN_CNAME && auth.aa,
		           "CNAME only when AA is required");
	FUZZ_CHECK(!auth.delegation || auth.seen == DCV_SEEN_REFERRAL, "delegation not a referral");
}

static void reply_tsig(const uint8_t *msg, size_t len)
{
	static const int allowed[] = {DCV_OK,       DCV_EBADSIG, DCV_EBADKEY,
	                              DCV_EBADTIME, DCV_ETSIG,   DCV_EREPLY};
	uint8_t request[512], *copy = NULL;
	size_t request_len = 0;
	struct dcv_tsig_ctx ctx;
	struct dcv_tsig_result res;
	struct dcv_why why = {""};
	char secret_b64[4 * DCV_TSIG_SECRET_MAX / 3 + 8];
	bool known = false;
	int rc = 0, again = 0, expect = 0;

	fuzz_tsig_request(request, &request_len, &ctx);
	rc = dcv_tsig_verify(&ctx, msg, len, FUZZ_NOW, &res, &why);
	again = dcv_tsig_verify(&ctx, msg, len, FUZZ_NOW, NULL, NULL);
	FUZZ_CHECK(rc == again, "verify: %d with a result, %d without", rc, again);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		known |= rc == allowed[i];
	FUZZ_CHECK(known, "verify returned %d (%s)", rc, why.text);
	fuzz_base64(ctx.key->secret, ctx.key->secret_len, secret_b64);
	FUZZ_CHECK(strstr(why.text, secret_b64) == NULL, "the secret is in the message");
	if (dcv_update_unsigned_final_error(msg, len))
		FUZZ_CHECK(rc == DCV_ETSIG || rc == DCV_EREPLY,
		           "an unsigned final error verifies as %d", rc);
	(void)dcv_update_says_not_ready(msg, len);

	/* The same reply with the MAC made right: the verdict is the RFC's. */
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		fuzz_fail("out of memory");
	memcpy(copy, msg, len);
	if (fuzz_tsig_patch(copy, len, &ctx)) {
		expect = fuzz_tsig_expect(copy, len, &ctx, FUZZ_NOW);
		rc = dcv_tsig_verify(&ctx, copy, len, FUZZ_NOW, &res, &why);
		FUZZ_CHECK(expect == 1 || rc == expect,
		           "verify of a correctly signed reply: %d, the RFC says %d (%s)", rc,
		           expect, why.text);
	}
	free(copy);
}

static void reply_ns(const uint8_t *msg, size_t len, const char *zone)
{
	char(*ns)[DCV_NAME_TEXT_MAX] = NULL;
	size_t n = 0;
	int rc = dcv_authset_read_ns(zone, msg, len, &ns, &n);

	FUZZ_CHECK(rc == DCV_OK || rc == DCV_EREPLY, "read_ns: %d", rc);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(strlen(ns[i]) > 0 && strlen(ns[i]) < DCV_NAME_TEXT_MAX, "NS name %zu",
		           i);
	free(ns);
}

static int count_addr(void *arg, const uint8_t *rdata, uint16_t rdlength, uint16_t type)
{
	size_t *n = arg;

	FUZZ_CHECK(rdata != NULL && (type == DCV_TYPE_A || type == DCV_TYPE_AAAA),
	           "read_addrs handed type %u (%u bytes)", type, rdlength);
	(*n)++;
	return DCV_OK;
}

static void reply_addrs(const uint8_t *msg, size_t len)
{
	size_t n = 0;
	int rc = dcv_authset_read_addrs(msg, len, count_addr, &n);

	FUZZ_CHECK(rc == DCV_OK || rc == DCV_EREPLY, "read_addrs: %d", rc);
	FUZZ_CHECK(len < DCV_WIRE_HEADER || n <= DCV_WIRE_ANCOUNT(msg),
	           "read_addrs: %zu addresses from %u answers", n, DCV_WIRE_ANCOUNT(msg));
}

/*
 * The DNSSEC readers: the Extended DNS Error (found by one, described by the
 * other, printable text only) and the RRSIG check, which parses the reply
 * with ldns and without keys can never call a signature valid.
 */
static void reply_dnssec(const uint8_t *msg, size_t len, const char *owner)
{
	uint16_t code = 0;
	char text[160] = "", described[240], why[240];
	int rc = dcv_query_read_ede(msg, len, &code, text, sizeof(text));
	enum dcv_sigcheck c = DCV_SIG_MISSING;

	dcv_query_describe_ede(msg, len, described, sizeof(described));
	FUZZ_CHECK(rc == DCV_OK || rc == DCV_EREPLY, "read_ede: %d", rc);
	FUZZ_CHECK((rc == DCV_OK) == (described[0] != '\0'), "read_ede %d, described '%s'", rc,
	           described);
	for (const char *p = text; rc == DCV_OK && *p != '\0'; p++)
		FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, "EDE text holds byte %#x", (unsigned)*p);
	c = dcv_dnssec_check_answer(msg, len, owner, DCV_TYPE_CNAME, NULL, 1700000000, 3600, why,
	                            sizeof(why));
	FUZZ_CHECK(c != DCV_SIG_OK && why[0] != '\0', "RRSIG check without keys: %d (%s)", (int)c,
	           why);
}

int fuzz_reply_one(const uint8_t *data, size_t size)
{
	uint8_t qname[DCV_WIRE_NAME_MAX], fixed[DCV_WIRE_NAME_MAX];
	char zone[DCV_WIRE_TEXT_MAX];
	size_t qname_len = 0, fixed_len = 0, off = DCV_WIRE_HEADER;

	if (size >= DCV_WIRE_HEADER)
		(void)dcv_rcode_name(DCV_WIRE_RCODE(data));
	reply_walk(data, size);
	if (dcv_wire_from_text(FUZZ_QNAME, fixed, &fixed_len) < 0)
		fuzz_fail("bad FUZZ_QNAME");
	reply_cname(data, size, fixed, fixed_len);
	reply_ns(data, size, FUZZ_ZONE);
	reply_addrs(data, size);
	/* The reply's own question as the name asked for: reachable answers for any name. */
	if (size >= DCV_WIRE_HEADER && DCV_WIRE_QDCOUNT(data) > 0 &&
	    dcv_wire_read_name(data, size, &off, qname, &qname_len) == DCV_OK) {
		reply_cname(data, size, qname, qname_len);
		if (dcv_wire_to_text(qname, qname_len, zone) == DCV_OK &&
		    strchr(zone, '\\') == NULL)
			reply_ns(data, size, zone);
	}
	reply_dnssec(data, size, FUZZ_QNAME);
	reply_tsig(data, size);
	return 0;
}

DCV_FUZZ_ENTRY(fuzz_reply_one)
