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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build_do_cd),
	    cmocka_unit_test(test_ad_and_nsec),
	    cmocka_unit_test(test_ede),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
