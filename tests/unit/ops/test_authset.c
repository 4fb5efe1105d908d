/*
 * test_authset.c -- the answer readers of the name-server discovery
 * (authset_read.h) on replies that ldns builds from zone-file text: which
 * NS names and which addresses are taken, and which are left alone
 * because they answer a question nobody asked.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "authset_read.h"
#include "testutil.h"
#include "wire.h"

/*
 * A reply to QNAME/QTYPE (an answer, AA) whose answer section holds the
 * records given as zone-file lines, one per argument, NULL-terminated.
 * The caller frees the bytes.
 */
static uint8_t *reply(const char *qname, ldns_rr_type qtype, size_t *len, ...)
{
	ldns_pkt *pkt = NULL;
	ldns_rr *rr = NULL;
	uint8_t *wire = NULL;
	const char *line = NULL;
	va_list ap;

	assert_int_equal(ldns_pkt_query_new_frm_str(&pkt, qname, qtype, LDNS_RR_CLASS_IN, 0),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_aa(pkt, true);
	va_start(ap, len);
	while ((line = va_arg(ap, const char *)) != NULL) {
		assert_int_equal(ldns_rr_new_frm_str(&rr, line, 300, NULL, NULL), LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr));
	}
	va_end(ap);
	assert_int_equal(ldns_pkt2wire(&wire, pkt, len), LDNS_STATUS_OK);
	ldns_pkt_free(pkt);
	return wire;
}

/* The addresses read_addrs hands over, as text, space-separated. */
struct seen {
	char text[512];
};

static int note_addr(void *arg, const uint8_t *rdata, uint16_t rdlength, uint16_t type)
{
	struct seen *s = arg;
	char one[INET6_ADDRSTRLEN];

	if (type == DCV_TYPE_A && rdlength == 4)
		inet_ntop(AF_INET, rdata, one, sizeof(one));
	else if (type == DCV_TYPE_AAAA && rdlength == 16)
		inet_ntop(AF_INET6, rdata, one, sizeof(one));
	else
		snprintf(one, sizeof(one), "type%u/%u", type, rdlength);
	snprintf(s->text + strlen(s->text), sizeof(s->text) - strlen(s->text), "%s%s",
	         s->text[0] ? " " : "", one);
	return DCV_OK;
}

static void expect_addrs(const uint8_t *msg, size_t len, const char *want)
{
	struct seen s = {""};

	assert_int_equal(dcv_authset_read_addrs(msg, len, note_addr, &s), DCV_OK);
	assert_string_equal(s.text, want);
}

static void test_addrs_of_the_name_asked(void **state)
{
	uint8_t *msg = NULL;
	size_t len = 0;

	(void)state;
	msg = reply("ns1.example.test.", LDNS_RR_TYPE_A, &len, "ns1.example.test. IN A 192.0.2.1",
	            "NS1.Example.TEST. IN A 192.0.2.2", NULL);
	expect_addrs(msg, len, "192.0.2.1 192.0.2.2");
	free(msg);
	msg = reply("ns1.example.test.", LDNS_RR_TYPE_AAAA, &len,
	            "ns1.example.test. IN AAAA 2001:db8::53", NULL);
	expect_addrs(msg, len, "2001:db8::53");
	free(msg);
	/* No answer: nothing, and no error. */
	msg = reply("ns1.example.test.", LDNS_RR_TYPE_A, &len, NULL);
	expect_addrs(msg, len, "");
	free(msg);
}

/* Addresses of names nobody asked about are not taken. */
static void test_other_owners_skipped(void **state)
{
	uint8_t *msg = NULL;
	size_t len = 0;

	(void)state;
	msg =
	    reply("ns1.example.test.", LDNS_RR_TYPE_A, &len, "evil.test. IN A 203.0.113.9",
	          "ns1.example.test. IN A 192.0.2.1", "ns2.example.test. IN A 203.0.113.10", NULL);
	expect_addrs(msg, len, "192.0.2.1");
	free(msg);
}

/* A CNAME chain is followed in order; a record of a name off the chain is not. */
static void test_cname_chain(void **state)
{
	uint8_t *msg = NULL;
	size_t len = 0;

	(void)state;
	msg = reply("ns1.example.test.", LDNS_RR_TYPE_A, &len,
	            "ns1.example.test. IN CNAME host.example.net.",
	            "host.example.net. IN CNAME real.example.org.", "other.test. IN A 203.0.113.9",
	            "real.example.org. IN A 192.0.2.7", NULL);
	expect_addrs(msg, len, "192.0.2.7");
	free(msg);
	/* The CNAME's own old target is not an answer any more. */
	msg = reply("ns1.example.test.", LDNS_RR_TYPE_A, &len,
	            "ns1.example.test. IN CNAME host.example.net.",
	            "ns1.example.test. IN A 203.0.113.9", "host.example.net. IN A 192.0.2.8", NULL);
	expect_addrs(msg, len, "192.0.2.8");
	free(msg);
}

static void test_malformed(void **state)
{
	static const uint8_t header_only[DCV_WIRE_HEADER] = {0, 1, 0x84, 0, 0, 1, 0, 1};
	uint8_t *msg = NULL;
	size_t len = 0;
	struct seen s = {""};

	(void)state;
	assert_int_equal(dcv_authset_read_addrs(header_only, 5, note_addr, &s), DCV_EREPLY);
	assert_int_equal(dcv_authset_read_addrs(header_only, sizeof(header_only), note_addr, &s),
	                 DCV_EREPLY);
	msg = reply("ns1.example.test.", LDNS_RR_TYPE_A, &len, "ns1.example.test. IN A 192.0.2.1",
	            NULL);
	/* Cut inside the answer's RDATA. */
	assert_int_equal(dcv_authset_read_addrs(msg, len - 2, note_addr, &s), DCV_EREPLY);
	assert_string_equal(s.text, "");
	free(msg);
}

static void test_ns_of_the_zone(void **state)
{
	char(*ns)[DCV_NAME_TEXT_MAX] = NULL;
	uint8_t *msg = NULL;
	size_t len = 0, n = 0;

	(void)state;
	msg = reply("example.test.", LDNS_RR_TYPE_NS, &len, "example.test. IN NS ns1.example.test.",
	            "sub.example.test. IN NS ns9.evil.test.",
	            "EXAMPLE.test. IN NS ns2.example.net.", NULL);
	assert_int_equal(dcv_authset_read_ns("Example.Test", msg, len, &ns, &n), DCV_OK);
	assert_int_equal(n, 2);
	assert_string_equal(ns[0], "ns1.example.test.");
	assert_string_equal(ns[1], "ns2.example.net.");
	free(ns);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addrs_of_the_name_asked),
	    cmocka_unit_test(test_other_owners_skipped),
	    cmocka_unit_test(test_cname_chain),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_ns_of_the_zone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
