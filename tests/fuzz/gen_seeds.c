/*
 * gen_seeds.c -- seed inputs that need code to make: DNS replies (built
 * with ldns, signed for the fixed request of fuzz_reply) and job records
 * (written by dcv_job_record_emit). Run by gen-seeds.sh.
 *
 * usage: fuzz_gen_seeds reply|jobrec OUTDIR
 *
 * Before writing any reply it checks the independent reply signer of
 * fuzz_util.c against ldns's signer (same MAC over the same message), and
 * every signed seed against dcv_tsig_verify(), so that the seeds start on
 * the paths behind a verified MAC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "fuzz.h"
#include "store.h"

static const char *out_dir;

static void write_seed(const char *name, const void *data, size_t len)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	fuzz_write_file(path, data, len, 0644);
}

/* --- replies ---------------------------------------------------------------- */

static ldns_pkt *reply_new(const char *question, ldns_pkt_rcode rcode, bool aa)
{
	ldns_pkt *pkt = ldns_pkt_new();
	ldns_rr *q = NULL;

	if (pkt == NULL || ldns_rr_new_question_frm_str(&q, question, NULL, NULL) != LDNS_STATUS_OK)
		fuzz_fail("ldns: question '%s'", question);
	ldns_pkt_set_id(pkt, 0x1234);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_aa(pkt, aa);
	ldns_pkt_set_rcode(pkt, (uint8_t)rcode);
	ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, q);
	return pkt;
}

static void reply_add(ldns_pkt *pkt, ldns_pkt_section section, const char *text)
{
	ldns_rr *rr = NULL;

	if (ldns_rr_new_frm_str(&rr, text, 300, NULL, NULL) != LDNS_STATUS_OK)
		fuzz_fail("ldns: record '%s'", text);
	ldns_pkt_push_rr(pkt, section, rr);
}

static size_t put_name(uint8_t *p, const char *text)
{
	size_t n = 0;

	if (dcv_wire_from_text(text, p, &n) < 0)
		fuzz_fail("bad name '%s'", text);
	return n;
}

/*
 * Appends a TSIG record of the fuzz key (time signed t, TSIG error, other
 * data, a MAC of mac_len zero bytes) and raises ARCOUNT.
 */
static size_t add_tsig(uint8_t *msg, size_t len, uint64_t t, uint16_t error, const uint8_t *other,
                       uint16_t other_len, uint16_t mac_len)
{
	uint8_t *p = msg + len, *rdlen = NULL, *rdata = NULL;

	p += put_name(p, FUZZ_KEY_NAME);
	dcv_wire_put16(p, 250);
	dcv_wire_put16(p + 2, 255);
	memset(p + 4, 0, 4);
	rdlen = p + 8;
	p += 10;
	rdata = p;
	p += put_name(p, "hmac-sha256");
	for (int i = 5; i >= 0; i--, t >>= 8)
		p[i] = (uint8_t)t;
	dcv_wire_put16(p + 6, DCV_TSIG_FUDGE);
	dcv_wire_put16(p + 8, mac_len);
	memset(p + 10, 0, mac_len);
	p += 10 + mac_len;
	dcv_wire_put16(p, DCV_WIRE_ID(msg));
	dcv_wire_put16(p + 2, error);
	dcv_wire_put16(p + 4, other_len);
	if (other_len > 0)
		memcpy(p + 6, other, other_len);
	p += 6 + other_len;
	dcv_wire_put16(rdlen, (uint16_t)(p - rdata));
	dcv_wire_put16(msg + 10, (uint16_t)(DCV_WIRE_ARCOUNT(msg) + 1));
	return (size_t)(p - msg);
}

/*
 * Writes pkt as seed name: unsigned (want_rc 1), or with a TSIG record
 * (time t, error, other data; MAC made right when mac is set) whose
 * verdict must be want_rc.
 */
static void reply_seed(const char *name, ldns_pkt *pkt, int want_rc, uint64_t t, uint16_t error,
                       const uint8_t *other, uint16_t other_len, bool mac)
{
	uint8_t request[512], msg[4096];
	uint8_t *wire = NULL;
	size_t request_len = 0, len = 0;
	struct dcv_tsig_ctx ctx;
	struct dcv_why why = {""};
	int rc = 0;

	if (ldns_pkt2wire(&wire, pkt, &len) != LDNS_STATUS_OK || len > 2048)
		fuzz_fail("ldns: %s", name);
	memcpy(msg, wire, len);
	free(wire);
	ldns_pkt_free(pkt);
	if (want_rc != 1) {
		fuzz_tsig_request(request, &request_len, &ctx);
		len = add_tsig(msg, len, t, error, other, other_len, mac ? 32 : 0);
		if (mac && !fuzz_tsig_patch(msg, len, &ctx))
			fuzz_fail("%s: cannot sign", name);
		rc = dcv_tsig_verify(&ctx, msg, len, FUZZ_NOW, NULL, &why);
		if (rc != want_rc)
			fuzz_fail("%s: verify says %d (%s), want %d", name, rc, why.text, want_rc);
	}
	write_seed(name, msg, len);
}

/* ldns signs a reply; the independent signer must compute the very same MAC. */
static void check_signer(void)
{
	uint8_t request[512], macbuf[2 + DCV_TSIG_MAC_MAX], *wire = NULL, *copy = NULL;
	size_t request_len = 0, len = 0;
	struct dcv_tsig_ctx ctx;
	ldns_pkt *pkt = reply_new(FUZZ_QNAME " IN CNAME", LDNS_RCODE_NOERROR, true);
	ldns_rdf *qmac = NULL;

	reply_add(pkt, LDNS_SECTION_ANSWER, FUZZ_QNAME " 300 IN CNAME a.b.sectigo.com.");
	fuzz_tsig_request(request, &request_len, &ctx);
	dcv_wire_put16(macbuf, (uint16_t)ctx.mac_len);
	memcpy(macbuf + 2, ctx.mac, ctx.mac_len);
	qmac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2 + ctx.mac_len, macbuf);
	if (qmac == NULL ||
	    ldns_pkt_tsig_sign(pkt, FUZZ_KEY_NAME ".", FUZZ_KEY_SECRET, DCV_TSIG_FUDGE,
	                       "hmac-sha256.", qmac) != LDNS_STATUS_OK ||
	    ldns_pkt2wire(&wire, pkt, &len) != LDNS_STATUS_OK)
		fuzz_fail("ldns cannot sign a reply");
	copy = malloc(len);
	if (copy == NULL)
		fuzz_fail("out of memory");
	memcpy(copy, wire, len);
	if (!fuzz_tsig_patch(copy, len, &ctx) || memcmp(copy, wire, len) != 0)
		fuzz_fail("the independent signer and ldns compute different MACs");
	free(copy);
	free(wire);
	ldns_rdf_deep_free(qmac);
	ldns_pkt_free(pkt);
}

static void gen_replies(void)
{
	static const uint8_t not_ready[] = {0x00, 0x0f, 0x00, 0x02, 0x00, 0x0e};
	uint8_t server_time[6] = {0};
	const char *q = FUZZ_QNAME " IN CNAME";
	const char *cname =
	    FUZZ_QNAME " 300 IN CNAME "
	               "0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef."
	               "sectigo.com.";
	const char *soa = "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. "
	                  "2024010101 3600 600 604800 300";
	ldns_pkt *pkt = NULL;
	uint64_t later = FUZZ_NOW + 1000;

	check_signer();

	pkt = reply_new(q, LDNS_RCODE_NOERROR, true);
	reply_add(pkt, LDNS_SECTION_ANSWER, cname);
	reply_seed("cname-signed", pkt, DCV_OK, FUZZ_NOW, 0, NULL, 0, true);

	pkt = reply_new(q, LDNS_RCODE_NOERROR, true);
	reply_add(pkt, LDNS_SECTION_ANSWER, cname);
	reply_seed("cname-unsigned", pkt, 1, 0, 0, NULL, 0, false);

	pkt = reply_new(q, LDNS_RCODE_NOERROR, false);
	reply_add(pkt, LDNS_SECTION_ANSWER, cname);
	reply_add(pkt, LDNS_SECTION_ANSWER,
	          "0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.sectigo.com. "
	          "300 IN A 192.0.2.80");
	reply_seed("cname-chain-resolver", pkt, 1, 0, 0, NULL, 0, false);

	pkt = reply_new(q, LDNS_RCODE_NXDOMAIN, true);
	reply_add(pkt, LDNS_SECTION_AUTHORITY, soa);
	reply_seed("nxdomain-signed", pkt, DCV_OK, FUZZ_NOW - 100, 0, NULL, 0, true);

	pkt = reply_new(q, LDNS_RCODE_NOERROR, true);
	reply_add(pkt, LDNS_SECTION_AUTHORITY, soa);
	reply_seed("nodata", pkt, 1, 0, 0, NULL, 0, false);

	pkt = reply_new(q, LDNS_RCODE_NOERROR, false);
	reply_add(pkt, LDNS_SECTION_AUTHORITY, "www.example.com. 300 IN NS ns1.www.example.com.");
	reply_add(pkt, LDNS_SECTION_AUTHORITY, "www.example.com. 300 IN NS ns2.example.net.");
	reply_add(pkt, LDNS_SECTION_ADDITIONAL, "ns1.www.example.com. 300 IN A 192.0.2.53");
	reply_add(pkt, LDNS_SECTION_ADDITIONAL, "ns1.www.example.com. 300 IN AAAA 2001:db8::53");
	reply_seed("referral", pkt, 1, 0, 0, NULL, 0, false);

	pkt = reply_new(FUZZ_ZONE ". IN NS", LDNS_RCODE_NOERROR, true);
	reply_add(pkt, LDNS_SECTION_ANSWER, FUZZ_ZONE ". 300 IN NS ns1.example.com.");
	reply_add(pkt, LDNS_SECTION_ANSWER, FUZZ_ZONE ". 300 IN NS ns2.example.com.");
	reply_add(pkt, LDNS_SECTION_ANSWER, FUZZ_ZONE ". 300 IN NS a.iana-servers.net.");
	reply_add(pkt, LDNS_SECTION_ADDITIONAL, "ns1.example.com. 300 IN A 192.0.2.1");
	reply_add(pkt, LDNS_SECTION_ADDITIONAL, "ns2.example.com. 300 IN AAAA 2001:db8::2");
	reply_seed("ns-answer", pkt, 1, 0, 0, NULL, 0, false);

	pkt = reply_new("ns1.example.com. IN A", LDNS_RCODE_NOERROR, true);
	reply_add(pkt, LDNS_SECTION_ANSWER, "ns1.example.com. 300 IN A 192.0.2.1");
	reply_add(pkt, LDNS_SECTION_ANSWER, "ns1.example.com. 300 IN A 192.0.2.11");
	reply_seed("a-answer", pkt, 1, 0, 0, NULL, 0, false);

	/* UPDATE replies: the zone section is the question. */
	pkt = reply_new(FUZZ_ZONE ". IN SOA", LDNS_RCODE_NOERROR, false);
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_UPDATE);
	reply_seed("update-noerror-signed", pkt, DCV_OK, FUZZ_NOW + 10, 0, NULL, 0, true);

	pkt = reply_new(FUZZ_ZONE ". IN SOA", LDNS_RCODE_SERVFAIL, false);
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_UPDATE);
	reply_seed("update-servfail-signed", pkt, DCV_OK, FUZZ_NOW, 0, NULL, 0, true);

	pkt = reply_new(FUZZ_ZONE ". IN SOA", LDNS_RCODE_REFUSED, false);
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_UPDATE);
	ldns_pkt_set_edns_udp_size(pkt, 1232);
	ldns_pkt_set_edns_data(
	    pkt, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, sizeof(not_ready), not_ready));
	reply_seed("update-refused-not-ready", pkt, 1, 0, 0, NULL, 0, false);

	pkt = reply_new(FUZZ_ZONE ". IN SOA", LDNS_RCODE_NOTAUTH, false);
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_UPDATE);
	reply_seed("update-notauth-unsigned", pkt, 1, 0, 0, NULL, 0, false);

	pkt = reply_new(FUZZ_ZONE ". IN SOA", LDNS_RCODE_NOTAUTH, false);
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_UPDATE);
	reply_seed("update-badsig", pkt, DCV_EBADSIG, FUZZ_NOW, 16, NULL, 0, false);

	pkt = reply_new(FUZZ_ZONE ". IN SOA", LDNS_RCODE_NOTAUTH, false);
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_UPDATE);
	reply_seed("update-badkey", pkt, DCV_EBADKEY, FUZZ_NOW, 17, NULL, 0, false);

	for (int i = 5; i >= 0; i--, later >>= 8)
		server_time[i] = (uint8_t)later;
	pkt = reply_new(FUZZ_ZONE ". IN SOA", LDNS_RCODE_NOTAUTH, false);
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_UPDATE);
	reply_seed("update-badtime-signed", pkt, DCV_EBADTIME, FUZZ_NOW, 18, server_time, 6, true);

	pkt = reply_new(q, LDNS_RCODE_NOERROR, true);
	reply_add(pkt, LDNS_SECTION_ANSWER, cname);
	reply_seed("cname-signed-late", pkt, DCV_ETSIG, FUZZ_NOW + 1000, 0, NULL, 0, true);
}

/* --- job records -------------------------------------------------------------- */

static void record_seed(const char *name, const struct dcv_job_record *rec)
{
	unsigned char *text = NULL;
	size_t len = 0;
	struct dcv_why why = {""};

	if (dcv_job_record_check(rec, &why) < 0 || dcv_job_record_emit(rec, &text, &len) < 0)
		fuzz_fail("record %s: %s", name, why.text);
	write_seed(name, text, len);
	free(text);
}

static void gen_records(void)
{
	struct dcv_job_record_rr rrs[2] = {
	    {"_0123456789abcdef0123456789abcdef.example.com.",
	     "00112233445566778899aabbccddeeff.00112233445566778899aabbccddeeff.sectigo.com.",
	     "example.com", 300},
	    {"_0123456789abcdef0123456789abcdef.mail.example.co.uk.",
	     "00112233445566778899aabbccddeeff.00112233445566778899aabbccddeeff."
	     "1f96729172445e721043."
	     "comodoca.com.",
	     "mail.example.co.uk", 3600},
	};
	struct dcv_job_record_name names[3] = {
	    {"www.example.com", "example.com"},
	    {"*.example.com", "example.com"},
	    {"mail.example.co.uk", "mail.example.co.uk"},
	};
	struct dcv_job_record rec;

	memset(&rec, 0, sizeof(rec));
	strcpy(rec.id, "www~5f3a9c01");
	strcpy(rec.name, "www");
	strcpy(rec.ext, "csr");
	rec.state = DCV_JOB_RECEIVED;
	rec.received = FUZZ_NOW;
	record_seed("received", &rec);

	strcpy(rec.md5, "0123456789abcdef0123456789abcdef");
	strcpy(rec.sha256, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	rec.state = DCV_JOB_PUBLISHING;
	rec.rrs = rrs;
	rec.n_rrs = 2;
	rec.names = names;
	rec.n_names = 3;
	record_seed("publishing", &rec);

	rec.state = DCV_JOB_VISIBLE;
	rec.published = FUZZ_NOW + 5;
	rec.visible = FUZZ_NOW + 30;
	rec.withdraw_due = FUZZ_NOW + 30 + 7 * 86400;
	record_seed("visible", &rec);

	rec.state = DCV_JOB_WITHDRAWN;
	rec.withdrawn = rec.withdraw_due + 2;
	strcpy(rec.ext, "pem");
	record_seed("withdrawn", &rec);

	rec.state = DCV_JOB_FAILED;
	rec.cleanup = true;
	rec.withdrawn = 0;
	rec.failed = FUZZ_NOW + 3600;
	strcpy(rec.ext, "der");
	strcpy(rec.error, "zone example.com: primary \"ns1\" (192.0.2.1@53): REFUSED: "
	                  "the server will not let key 'dcv' update zone example.com: "
	                  "Zone gesperrt \xe2\x80\x94 \xc3\xbc\xc3\x9f # not a comment: {x}");
	record_seed("failed-cleanup", &rec);
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "reply") != 0 && strcmp(argv[1], "jobrec") != 0)) {
		fprintf(stderr, "usage: fuzz_gen_seeds reply|jobrec OUTDIR\n");
		return 2;
	}
	out_dir = argv[2];
	if (strcmp(argv[1], "reply") == 0)
		gen_replies();
	else
		gen_records();
	return 0;
}
