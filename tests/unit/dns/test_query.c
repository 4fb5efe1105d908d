/*
 * test_query.c -- the DNSSEC parts of query.h: queries with DO and CD as
 * ldns reads them (the oracle), the AD bit and signed denials of replies,
 * and the Extended DNS Error (RFC 8914) of a SERVFAIL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "query.h"
#include "testutil.h"

static void test_build_do_cd(void **state)
{
	uint8_t buf[DCV_QUERY_MAX];
	size_t len = 0;
	ldns_pkt *pkt = NULL;

	(void)state;
	assert_int_equal(dcv_query_build_flags("example.test", DCV_TYPE_DNSKEY,
	                                       DCV_QUERY_RD | DCV_QUERY_DO | DCV_QUERY_CD, buf,
	                                       sizeof(buf), &len),
	                 DCV_OK);
	assert_int_equal(ldns_wire2pkt(&pkt, buf, len), LDNS_STATUS_OK);
	assert_true(ldns_pkt_rd(pkt));
	assert_true(ldns_pkt_cd(pkt));
	assert_true(ldns_pkt_edns(pkt));
	assert_true(ldns_pkt_edns_do(pkt));
	assert_int_equal(ldns_pkt_edns_udp_size(pkt), DCV_EDNS_PAYLOAD);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(pkt), 0)),
	                 LDNS_RR_TYPE_DNSKEY);
	ldns_pkt_free(pkt);

	/* Without flags: a plain query, no OPT record. */
	assert_int_equal(
	    dcv_query_build_flags("example.test", DCV_TYPE_CNAME, 0, buf, sizeof(buf), &len),
	    DCV_OK);
	assert_int_equal(ldns_wire2pkt(&pkt, buf, len), LDNS_STATUS_OK);
	assert_false(ldns_pkt_rd(pkt));
	assert_false(ldns_pkt_cd(pkt));
	assert_false(ldns_pkt_edns(pkt));
	assert_int_equal(DCV_WIRE_ARCOUNT(buf), 0);
	ldns_pkt_free(pkt);
	/* Too small a buffer is refused. */
	assert_int_equal(
	    dcv_query_build_flags("example.test", DCV_TYPE_CNAME, DCV_QUERY_DO, buf, 30, &len),
	    DCV_EINVAL);
}

/* A validated NXDOMAIN with an NSEC in the authority section. */
static void test_ad_and_nsec(void **state)
{
	ldns_pkt *pkt = NULL;
	ldns_rr *rr = NULL;
	uint8_t *wire = NULL, qwire[DCV_WIRE_NAME_MAX];
	size_t len = 0, qlen = 0;
	struct dcv_answer ans;

	(void)state;
	assert_int_equal(ldns_pkt_query_new_frm_str(&pkt, "_x.www.example.test.",
	                                            LDNS_RR_TYPE_CNAME, LDNS_RR_CLASS_IN, 0),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_ad(pkt, true);
	ldns_pkt_set_rcode(pkt, LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ldns_rr_new_frm_str(&rr,
	                                     "example.test. 30 IN SOA ns1.example.test. "
	                                     "h.example.test. 1 5 2 600 3",
	                                     0, NULL, NULL),
	                 LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(pkt, LDNS_SECTION_AUTHORITY, rr));
	assert_int_equal(ldns_rr_new_frm_str(&rr,
	                                     "example.test. 17 IN NSEC ns1.example.test. "
	                                     "NS SOA RRSIG NSEC DNSKEY",
	                                     0, NULL, NULL),
	                 LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(pkt, LDNS_SECTION_AUTHORITY, rr));
	assert_int_equal(ldns_pkt2wire(&wire, pkt, &len), LDNS_STATUS_OK);
	assert_int_equal(dcv_wire_from_text("_x.www.example.test.", qwire, &qlen), DCV_OK);
	assert_int_equal(dcv_query_read_cname(wire, len, qwire, qlen, false, &ans), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_NXDOMAIN);
	assert_true(ans.ad);
	assert_true(ans.nsec);
	assert_int_equal(ans.nsec_ttl, 17);
	free(wire);
	/* The same without AD and without the NSEC. */
	ldns_pkt_set_ad(pkt, false);
	ldns_rr_free(ldns_rr_list_pop_rr(ldns_pkt_authority(pkt)));
	ldns_pkt_set_nscount(pkt, 1);
	assert_int_equal(ldns_pkt2wire(&wire, pkt, &len), LDNS_STATUS_OK);
	assert_int_equal(dcv_query_read_cname(wire, len, qwire, qlen, false, &ans), DCV_OK);
	assert_false(ans.ad);
	assert_false(ans.nsec);
	free(wire);
	ldns_pkt_free(pkt);
}

/* A SERVFAIL whose OPT record carries EDE 6 "validation failure" (bytes written here). */
static void test_ede(void **state)
{
	static const char text[] = "validation failure <x.test. DNSKEY>";
	uint8_t buf[DCV_QUERY_MAX + 64];
	size_t len = 0, tlen = sizeof(text) - 1;
	uint16_t code = 0;
	char got[160], described[240];

	(void)state;
	assert_int_equal(dcv_query_build_flags("x.test", DCV_TYPE_DNSKEY,
	                                       DCV_QUERY_RD | DCV_QUERY_DO, buf, sizeof(buf), &len),
	                 DCV_OK);
	/* None yet: the OPT has no options. */
	assert_int_equal(dcv_query_read_ede(buf, len, &code, got, sizeof(got)), DCV_EREPLY);
	buf[2] |= 0x80;
	buf[3] = (uint8_t)((buf[3] & 0xf0) | DCV_RCODE_SERVFAIL);
	/* The OPT is last: its RDLENGTH is the final two bytes; the option follows. */
	dcv_wire_put16(buf + len - 2, (uint16_t)(4 + 2 + tlen));
	dcv_wire_put16(buf + len, 15);
	dcv_wire_put16(buf + len + 2, (uint16_t)(2 + tlen));
	dcv_wire_put16(buf + len + 4, 6);
	memcpy(buf + len + 6, text, tlen);
	len += 6 + tlen;
	assert_int_equal(dcv_query_read_ede(buf, len, &code, got, sizeof(got)), DCV_OK);
	assert_int_equal(code, 6);
	assert_string_equal(got, text);
	dcv_query_describe_ede(buf, len, described, sizeof(described));
	assert_string_equal(described, " (Extended DNS Error 6, DNSSEC Bogus: validation failure "
	                               "<x.test. DNSKEY>)");
	/* An option longer than its record is malformed. */
	dcv_wire_put16(buf + len - 6 - tlen + 2, 200);
	assert_int_equal(dcv_query_read_ede(buf, len, &code, got, sizeof(got)), DCV_EREPLY);
}

/* --- replies made with ldns (the oracle), read by dcv_query_read_* ------------- */

/*
 * The wire form (malloc'd) of a reply to (qname, qtype) with rcode and AA,
 * and the records of answer and authority (NULL-terminated, text form).
 */
static uint8_t *tq_reply(const char *qname, ldns_rr_type qtype, ldns_pkt_rcode rcode, bool aa,
                         const char *const *answer, const char *const *authority, size_t *len)
{
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;

	assert_int_equal(ldns_pkt_query_new_frm_str(&pkt, qname, qtype, LDNS_RR_CLASS_IN, 0),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_aa(pkt, aa);
	ldns_pkt_set_rcode(pkt, rcode);
	for (int section = 0; section < 2; section++) {
		const char *const *rrs = section ? authority : answer;
		for (size_t i = 0; rrs != NULL && rrs[i] != NULL; i++) {
			ldns_rr *rr = NULL;
			assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL),
			                 LDNS_STATUS_OK);
			assert_true(ldns_pkt_push_rr(
			    pkt, section ? LDNS_SECTION_AUTHORITY : LDNS_SECTION_ANSWER, rr));
		}
	}
	assert_int_equal(ldns_pkt2wire(&wire, pkt, len), LDNS_STATUS_OK);
	ldns_pkt_free(pkt);
	return wire;
}

/* dcv_query_read_cname of a reply for qname; the answer's description in seen. */
static int tq_read(const uint8_t *wire, size_t len, const char *qname, bool authoritative,
                   struct dcv_answer *ans, char *seen, size_t size)
{
	uint8_t qwire[DCV_WIRE_NAME_MAX];
	size_t qlen = 0;
	int rc = DCV_OK;

	assert_int_equal(dcv_wire_from_text(qname, qwire, &qlen), DCV_OK);
	rc = dcv_query_read_cname(wire, len, qwire, qlen, authoritative, ans);
	if (rc == DCV_OK)
		dcv_answer_describe(ans, seen, size);
	return rc;
}

#define TQ_Q "_x.example.test."

/* What each kind of reply is read as, and how reports describe it. */
static void test_read_cname_kinds(void **state)
{
	static const char *const ours[] = {
	    "other.example.test. 60 IN CNAME elsewhere.test.", /* another owner: skipped */
	    "_y.example.test. 60 IN CNAME elsewhere.test.",    /* of the same length too */
	    TQ_Q " 60 IN A 192.0.2.1",                         /* another type: skipped */
	    TQ_Q " 60 CH CNAME chaos.test.",                   /* another class: skipped */
	    TQ_Q " 60 IN CNAME T1.Sectigo.COM.",
	    NULL};
	static const char *const soa[] = {
	    "example.test. 30 IN SOA ns1.example.test. h.example.test. 7 5 2 600 3", NULL};
	static const char *const ns[] = {"example.test. 30 IN NS ns1.example.test.", NULL};
	static const char *const ns_soa[] = {
	    "example.test. 30 IN NS ns1.example.test.",
	    "example.test. 30 IN SOA ns1.example.test. h.example.test. 7 5 2 600 3", NULL};
	static const char *const nsec3[] = {
	    "a.example.test. 50 IN NSEC3 1 0 0 - 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom NS",
	    "b.example.test. 20 IN NSEC3 1 0 0 - 1p9mhaveqvm6t7vbl5lop2u3t2rp3tom NS",
	    "c.example.test. 40 IN NSEC3 1 0 0 - 2p9mhaveqvm6t7vbl5lop2u3t2rp3tom NS", NULL};
	struct dcv_answer ans;
	char seen[120];
	uint8_t *w = NULL;
	size_t len = 0;

	(void)state;
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR, true, ours, NULL, &len);
	assert_int_equal(tq_read(w, len, TQ_Q, true, &ans, seen, sizeof(seen)), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_CNAME);
	assert_string_equal(seen, "CNAME t1.sectigo.com.");
	free(w);
	/* The same CNAME from a server without AA, asked as an authority: a referral. */
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR, false, ours, NULL, &len);
	assert_int_equal(tq_read(w, len, TQ_Q, true, &ans, seen, sizeof(seen)), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_REFERRAL);
	assert_string_equal(seen, "not authoritative (referral or AA not set)");
	/* Asked as a resolver, AA does not matter. */
	assert_int_equal(tq_read(w, len, TQ_Q, false, &ans, seen, sizeof(seen)), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_CNAME);
	free(w);
	/* NOERROR with the SOA: NODATA. */
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR, true, NULL, soa, &len);
	assert_int_equal(tq_read(w, len, TQ_Q, true, &ans, seen, sizeof(seen)), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_NODATA);
	assert_string_equal(seen, "no CNAME (NODATA)");
	assert_false(ans.delegation);
	free(w);
	/* NS without SOA and without AA: a delegation to a child zone. */
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR, false, NULL, ns, &len);
	assert_int_equal(tq_read(w, len, TQ_Q, true, &ans, seen, sizeof(seen)), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_REFERRAL);
	assert_true(ans.delegation);
	free(w);
	/* NS without SOA but with AA: not authoritative for the name, yet no delegation. */
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR, true, NULL, ns, &len);
	assert_int_equal(tq_read(w, len, TQ_Q, true, &ans, seen, sizeof(seen)), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_REFERRAL);
	assert_false(ans.delegation);
	free(w);
	/* An NXDOMAIN without AA is no delegation either. */
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_NXDOMAIN, false, NULL, ns, &len);
	assert_int_equal(tq_read(w, len, TQ_Q, true, &ans, seen, sizeof(seen)), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_REFERRAL);
	assert_false(ans.delegation);
	free(w);
	/* NS and SOA with AA: the zone's own apex records, NODATA. */
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR, true, NULL, ns_soa, &len);
	assert_int_equal(tq_read(w, len, TQ_Q, true, &ans, seen, sizeof(seen)), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_NODATA);
	free(w);
	/* NSEC3 records: the smallest TTL among them, whichever comes first. */
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_NXDOMAIN, true, NULL, nsec3, &len);
	assert_int_equal(tq_read(w, len, TQ_Q, true, &ans, seen, sizeof(seen)), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_NXDOMAIN);
	assert_string_equal(seen, "NXDOMAIN");
	assert_true(ans.nsec);
	assert_int_equal(ans.nsec_ttl, 20);
	free(w);
	/* Other rcodes are reported by name, unknown ones by number. */
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_SERVFAIL, false, ours, NULL, &len);
	assert_int_equal(tq_read(w, len, TQ_Q, false, &ans, seen, sizeof(seen)), DCV_OK);
	assert_int_equal(ans.seen, DCV_SEEN_RCODE);
	assert_int_equal(ans.rcode, DCV_RCODE_SERVFAIL);
	assert_string_equal(seen, "SERVFAIL");
	free(w);
	ans.rcode = 12;
	dcv_answer_describe(&ans, seen, sizeof(seen));
	assert_string_equal(seen, "RCODE 12");
	assert_string_equal(dcv_rcode_name(-1), "RCODE -1");
	assert_string_equal(dcv_rcode_name(DCV_RCODE_NOTZONE), "NOTZONE");
}

/* Replies cut short anywhere, and a CNAME whose RDATA runs past its name. */
static void test_read_cname_malformed(void **state)
{
	static const char *const ours[] = {TQ_Q " 60 IN CNAME t1.sectigo.com.", NULL};
	static const char *const soa[] = {
	    "example.test. 30 IN SOA ns1.example.test. h.example.test. 7 5 2 600 3", NULL};
	struct dcv_answer ans;
	char seen[120];
	uint8_t *w = NULL, *longer = NULL;
	size_t len = 0, qend = 12 + strlen(TQ_Q) + 1 + 4;

	(void)state;
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR, true, ours, NULL, &len);
	/* Every cut: inside the header and question, the answer's owner, its RDATA. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(tq_read(w, cut, TQ_Q, true, &ans, seen, sizeof(seen)), DCV_EREPLY);
	/* One byte more in the RDATA than the target's name. */
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, w, len);
	longer[len] = 0;
	dcv_wire_put16(longer + qend + 2 + 8, (uint16_t)(dcv_wire_u16(longer + qend + 2 + 8) + 1));
	assert_int_equal(tq_read(longer, len + 1, TQ_Q, true, &ans, seen, sizeof(seen)),
	                 DCV_EREPLY);
	free(longer);
	free(w);
	/* An authority section cut short. */
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_NXDOMAIN, true, NULL, soa, &len);
	assert_int_equal(tq_read(w, len - 3, TQ_Q, true, &ans, seen, sizeof(seen)), DCV_EREPLY);
	free(w);
}

static int tq_serial(const uint8_t *w, size_t len, const char *zone, uint32_t *serial)
{
	uint8_t zwire[DCV_WIRE_NAME_MAX];
	size_t zlen = 0;

	assert_int_equal(dcv_wire_from_text(zone, zwire, &zlen), DCV_OK);
	return dcv_query_read_soa_serial(w, len, zwire, zlen, serial);
}

static void test_read_soa_serial(void **state)
{
	static const char *const soas[] = {
	    "example.test. 30 IN A 192.0.2.1",
	    "other.test. 30 IN SOA ns1.other.test. h.other.test. 99 5 2 600 3",
	    "elpmaxe.test. 30 IN SOA ns1.other.test. h.other.test. 98 5 2 600 3",
	    "example.test. 30 IN SOA ns1.example.test. h.example.test. 2026120601 5 2 600 3", NULL};
	static const char *const only_other[] = {
	    "other.test. 30 IN SOA ns1.other.test. h.other.test. 99 5 2 600 3", NULL};
	uint32_t serial = 0;
	uint8_t *w = NULL;
	size_t len = 0, qend = 12 + sizeof("example.test.") + 4;

	(void)state;
	w = tq_reply("example.test.", LDNS_RR_TYPE_SOA, LDNS_RCODE_NOERROR, true, soas, NULL, &len);
	assert_int_equal(tq_serial(w, len, "example.test.", &serial), DCV_OK);
	assert_int_equal(serial, 2026120601u);
	assert_int_equal(tq_serial(w, len, "other.test.", &serial), DCV_OK);
	assert_int_equal(serial, 99);
	/* Cut anywhere, or the serial cut off: malformed. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(tq_serial(w, cut, "example.test.", &serial), DCV_EREPLY);
	free(w);
	/* The SOA's RDLENGTH shrunk to end inside the serial (its owner: a pointer, 2 bytes). */
	w = tq_reply("example.test.", LDNS_RR_TYPE_SOA, LDNS_RCODE_NOERROR, true, soas + 3, NULL,
	             &len);
	assert_int_equal(tq_serial(w, len, "example.test.", &serial), DCV_OK);
	dcv_wire_put16(w + qend + 10, (uint16_t)(dcv_wire_u16(w + qend + 10) - 19));
	assert_int_equal(tq_serial(w, len - 19, "example.test.", &serial), DCV_EREPLY);
	free(w);
	/* No SOA for the zone asked. */
	w = tq_reply("example.test.", LDNS_RR_TYPE_SOA, LDNS_RCODE_NOERROR, true, only_other, NULL,
	             &len);
	assert_int_equal(tq_serial(w, len, "example.test.", &serial), DCV_EREPLY);
	free(w);
	/* Not NOERROR. */
	w = tq_reply("example.test.", LDNS_RR_TYPE_SOA, LDNS_RCODE_REFUSED, false, soas, NULL,
	             &len);
	assert_int_equal(tq_serial(w, len, "example.test.", &serial), DCV_EREPLY);
	free(w);
}

/* Appends an OPT record holding the options (raw bytes) to a reply without additional records. */
static uint8_t *tq_with_opt(uint8_t *w, size_t *len, const uint8_t *opts, size_t olen)
{
	uint8_t *g = realloc(w, *len + 11 + olen);

	assert_non_null(g);
	memcpy(g + *len, (const uint8_t[]){0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0}, 9);
	dcv_wire_put16(g + *len + 9, (uint16_t)olen);
	memcpy(g + *len + 11, opts, olen);
	dcv_wire_put16(g + 10, 1);
	*len += 11 + olen;
	return g;
}

/* Options before the EDE, control bytes in its text, a short buffer, codes without names. */
static void test_ede_options(void **state)
{
	static const char *const ours[] = {TQ_Q " 60 IN CNAME t1.sectigo.com.", NULL};
	/* A cookie (10) of 8 bytes, an empty EDE-coded option, then EDE 9 "a<TAB>b". */
	static const uint8_t opts[] = {0, 10, 0,  8, 1, 2, 3, 4,   5,    6,   7,
	                               8, 0,  15, 0, 6, 0, 9, 'a', '\t', 'b', 0x80};
	static const uint8_t bare[] = {0, 15, 0, 2, 0, 99};       /* EDE 99, no text */
	static const uint8_t empty[] = {0, 15, 0, 0, 0, 3, 0, 0}; /* no INFO-CODE; NSID */
	uint8_t *w = NULL;
	size_t len = 0, base = 0;
	uint16_t code = 0;
	char text[8], out[160];

	(void)state;
	w = tq_reply(TQ_Q, LDNS_RR_TYPE_CNAME, LDNS_RCODE_SERVFAIL, false, ours, NULL, &base);
	/* No OPT at all. */
	dcv_query_describe_ede(w, base, out, sizeof(out));
	assert_string_equal(out, "");
	len = base;
	w = tq_with_opt(w, &len, opts, sizeof(opts));
	assert_int_equal(dcv_query_read_ede(w, len, &code, text, sizeof(text)), DCV_OK);
	assert_int_equal(code, 9);
	assert_string_equal(text, "a?b?");
	assert_int_equal(dcv_query_read_ede(w, len, &code, text, 0), DCV_OK);
	/* The text cut to the buffer; none at all with no room. */
	assert_int_equal(dcv_query_read_ede(w, len, &code, text, 3), DCV_OK);
	assert_string_equal(text, "a?");
	dcv_query_describe_ede(w, len, out, sizeof(out));
	assert_string_equal(out, " (Extended DNS Error 9, DNSKEY Missing: a?b?)");
	dcv_query_describe_ede(w, len, out, 0); /* no room: nothing written */
	/* Cut inside the OPT record: malformed. */
	assert_int_equal(dcv_query_read_ede(w, len - 1, &code, text, sizeof(text)), DCV_EREPLY);
	w = realloc(w, base);
	len = base;
	w = tq_with_opt(w, &len, bare, sizeof(bare));
	dcv_query_describe_ede(w, len, out, sizeof(out));
	assert_string_equal(out, " (Extended DNS Error 99, unassigned)");
	w = realloc(w, base);
	len = base;
	w = tq_with_opt(w, &len, empty, sizeof(empty));
	assert_int_equal(dcv_query_read_ede(w, len, &code, text, sizeof(text)), DCV_EREPLY);
	free(w);
	/* Not even a question. */
	assert_int_equal(dcv_query_read_ede(opts, 5, &code, text, sizeof(text)), DCV_EREPLY);
}

/* Names as reports write them; a bad name to build a query for. */
static void test_names(void **state)
{
	static const uint8_t root[] = {0};
	static const uint8_t odd[] = {3, 'a', ' ', 'b', 4, 't', 'e', 's', 't', 0};
	static const uint8_t bad[] = {9, 'a', 0};
	char out[DCV_NAME_TEXT_MAX];
	uint8_t buf[DCV_QUERY_MAX];
	size_t len = 0;
	char label[80];

	(void)state;
	dcv_name_text(root, sizeof(root), out);
	assert_string_equal(out, ".");
	dcv_name_text(odd, sizeof(odd), out);
	assert_string_equal(out, "a\\032b.test.");
	dcv_name_text(bad, sizeof(bad), out);
	assert_string_equal(out, "(bad name)");
	memset(label, 'a', 70);
	label[70] = '\0';
	assert_int_equal(dcv_query_build(label, DCV_TYPE_CNAME, false, buf, sizeof(buf), &len),
	                 DCV_EINVAL);
	assert_int_equal(dcv_query_build("x.test", DCV_TYPE_CNAME, true, buf, sizeof(buf), &len),
	                 DCV_OK);
	assert_int_equal(buf[2], 0x01);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build_do_cd),
	    cmocka_unit_test(test_ad_and_nsec),
	    cmocka_unit_test(test_ede),
	    cmocka_unit_test(test_read_cname_kinds),
	    cmocka_unit_test(test_read_cname_malformed),
	    cmocka_unit_test(test_read_soa_serial),
	    cmocka_unit_test(test_ede_options),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
