/*
 * test_dnssec.c -- the RRSIG checks of signed zones (dnssec.h) on RRsets
 * that ldns builds and signs here: a fresh ECDSA P-256 key signs a CNAME
 * with the validity each case needs, and ldns's own signer is the oracle
 * for what a correct signature is. Valid, expired, not yet valid, expiring
 * within the hour, signed by another key, altered data, missing RRSIG, and
 * the same checks through a reply in wire form.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>

#include "dcv/err.h"
#include "dnssec.h"
#include "testutil.h"

#define OWNER "_0123456789abcdef0123456789abcdef.www.example.test."
#define ZONE "example.test."

struct signer {
	ldns_key *key;
	ldns_key_list *list;
	ldns_rr_list *dnskeys; /* the key's DNSKEY, as the zone would serve it */
};

static struct signer signer_new(void)
{
	struct signer s;
	ldns_rdf *owner = NULL;
	ldns_rr *dnskey = NULL;

	s.key = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
	assert_non_null(s.key);
	assert_int_equal(ldns_str2rdf_dname(&owner, ZONE), LDNS_STATUS_OK);
	ldns_key_set_pubkey_owner(s.key, owner);
	ldns_key_set_flags(s.key, 257);
	dnskey = ldns_key2rr(s.key);
	assert_non_null(dnskey);
	ldns_key_set_keytag(s.key, ldns_calc_keytag(dnskey));
	s.dnskeys = ldns_rr_list_new();
	assert_true(ldns_rr_list_push_rr(s.dnskeys, dnskey));
	s.list = ldns_key_list_new();
	assert_true(ldns_key_list_push_key(s.list, s.key));
	return s;
}

static void signer_free(struct signer *s)
{
	ldns_key_list_free(s->list); /* frees the key too */
	ldns_rr_list_deep_free(s->dnskeys);
}

static ldns_rr_list *cname_rrset(const char *target)
{
	char line[300];
	ldns_rr *rr = NULL;
	ldns_rr_list *set = ldns_rr_list_new();

	snprintf(line, sizeof(line), "%s 300 IN CNAME %s", OWNER, target);
	assert_int_equal(ldns_rr_new_frm_str(&rr, line, 300, NULL, NULL), LDNS_STATUS_OK);
	assert_true(ldns_rr_list_push_rr(set, rr));
	return set;
}

/* RRSIGs over rrset by s's key, valid from now+from to now+until. */
static ldns_rr_list *sign(struct signer *s, ldns_rr_list *rrset, time_t now, long from, long until)
{
	ldns_rr_list *sigs = NULL;

	ldns_key_set_inception(s->key, (uint32_t)(now + from));
	ldns_key_set_expiration(s->key, (uint32_t)(now + until));
	sigs = ldns_sign_public(rrset, s->list);
	assert_non_null(sigs);
	assert_int_equal(ldns_rr_list_rr_count(sigs), 1);
	return sigs;
}

static enum dcv_sigcheck check(long from, long until, char *why, size_t size)
{
	struct signer s = signer_new();
	time_t now = time(NULL);
	ldns_rr_list *set = cname_rrset("abc.def.sectigo.com.");
	ldns_rr_list *sigs = sign(&s, set, now, from, until);
	enum dcv_sigcheck c =
	    dcv_dnssec_verify(set, sigs, s.dnskeys, now, DCV_DNSSEC_MARGIN_S, why, size);

	ldns_rr_list_deep_free(sigs);
	ldns_rr_list_deep_free(set);
	signer_free(&s);
	return c;
}

static void test_valid(void **state)
{
	char why[300];

	(void)state;
	assert_int_equal(check(-3600, 14 * 86400, why, sizeof(why)), DCV_SIG_OK);
	assert_string_equal(why, "");
}

static void test_expired(void **state)
{
	char why[300];

	(void)state;
	assert_int_equal(check(-7200, -60, why, sizeof(why)), DCV_SIG_EXPIRED);
	assert_non_null(strstr(why, "expired"));
	assert_non_null(strstr(why, "RRSIG expired: key "));
}

static void test_not_yet_valid(void **state)
{
	char why[300];

	(void)state;
	assert_int_equal(check(600, 86400, why, sizeof(why)), DCV_SIG_EXPIRED);
	assert_non_null(strstr(why, "not yet valid"));
}

static void test_expiring_within_the_hour(void **state)
{
	char why[300];

	(void)state;
	assert_int_equal(check(-3600, 3000, why, sizeof(why)), DCV_SIG_EXPIRING);
	assert_non_null(strstr(why, "within the hour"));
	/* Just over the hour is enough. */
	assert_int_equal(check(-3600, 3700, why, sizeof(why)), DCV_SIG_OK);
}

static void test_wrong_key(void **state)
{
	struct signer s = signer_new(), other = signer_new();
	time_t now = time(NULL);
	ldns_rr_list *set = cname_rrset("abc.def.sectigo.com.");
	ldns_rr_list *sigs = sign(&other, set, now, -60, 86400);
	char why[300];

	(void)state;
	/* The other key's tag is not in the set: no key to try. */
	assert_int_equal(dcv_dnssec_verify(set, sigs, s.dnskeys, now, 3600, why, sizeof(why)),
	                 DCV_SIG_NOKEY);
	assert_non_null(strstr(why, "not in the DNSKEY set"));
	/* No keys at all: the same. */
	assert_int_equal(dcv_dnssec_verify(set, sigs, NULL, now, 3600, why, sizeof(why)),
	                 DCV_SIG_NOKEY);
	/* Same tag and algorithm, another key: the signature does not validate. */
	ldns_rr_list_deep_free(sigs);
	ldns_key_set_keytag(other.key, ldns_key_keytag(s.key));
	sigs = sign(&other, set, now, -60, 86400);
	assert_int_equal(dcv_dnssec_verify(set, sigs, s.dnskeys, now, 3600, why, sizeof(why)),
	                 DCV_SIG_BOGUS);
	assert_non_null(strstr(why, "does not validate"));
	ldns_rr_list_deep_free(sigs);
	ldns_rr_list_deep_free(set);
	signer_free(&s);
	signer_free(&other);
}

static void test_altered_data(void **state)
{
	struct signer s = signer_new();
	time_t now = time(NULL);
	ldns_rr_list *set = cname_rrset("abc.def.sectigo.com.");
	ldns_rr_list *forged = cname_rrset("evil.example.");
	ldns_rr_list *sigs = sign(&s, set, now, -60, 86400);
	char why[300];

	(void)state;
	assert_int_equal(dcv_dnssec_verify(forged, sigs, s.dnskeys, now, 3600, why, sizeof(why)),
	                 DCV_SIG_BOGUS);
	ldns_rr_list_deep_free(sigs);
	ldns_rr_list_deep_free(forged);
	ldns_rr_list_deep_free(set);
	signer_free(&s);
}

static void test_missing(void **state)
{
	struct signer s = signer_new();
	ldns_rr_list *set = cname_rrset("abc.def.sectigo.com.");
	ldns_rr_list *none = ldns_rr_list_new();
	char why[300];

	(void)state;
	assert_int_equal(
	    dcv_dnssec_verify(set, none, s.dnskeys, time(NULL), 3600, why, sizeof(why)),
	    DCV_SIG_MISSING);
	assert_string_equal(why, "RRSIG missing");
	assert_int_equal(
	    dcv_dnssec_verify(set, NULL, s.dnskeys, time(NULL), 3600, why, sizeof(why)),
	    DCV_SIG_MISSING);
	ldns_rr_list_free(none);
	ldns_rr_list_deep_free(set);
	signer_free(&s);
}

/* The best RRSIG counts: an expired one next to a valid one is fine. */
static void test_best_of_several(void **state)
{
	struct signer s = signer_new();
	time_t now = time(NULL);
	ldns_rr_list *set = cname_rrset("abc.def.sectigo.com.");
	ldns_rr_list *old = sign(&s, set, now, -7200, -10);
	ldns_rr_list *good = sign(&s, set, now, -60, 86400);
	char why[300];

	(void)state;
	assert_true(ldns_rr_list_push_rr(old, ldns_rr_clone(ldns_rr_list_rr(good, 0))));
	assert_int_equal(dcv_dnssec_verify(set, old, s.dnskeys, now, 3600, why, sizeof(why)),
	                 DCV_SIG_OK);
	ldns_rr_list_deep_free(old);
	ldns_rr_list_deep_free(good);
	ldns_rr_list_deep_free(set);
	signer_free(&s);
}

/* A reply in wire form with the CNAME and its RRSIG (and one RRSIG over another type). */
static void test_answer_in_wire_form(void **state)
{
	struct signer s = signer_new();
	time_t now = time(NULL);
	ldns_rr_list *set = cname_rrset("abc.def.sectigo.com.");
	ldns_rr_list *sigs = sign(&s, set, now, -60, 86400);
	ldns_rr_list *expired = sign(&s, set, now, -7200, -60);
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	char why[300];

	(void)state;
	assert_int_equal(
	    ldns_pkt_query_new_frm_str(&pkt, OWNER, LDNS_RR_TYPE_CNAME, LDNS_RR_CLASS_IN, 0),
	    LDNS_STATUS_OK);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_aa(pkt, true);
	assert_true(
	    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, ldns_rr_clone(ldns_rr_list_rr(set, 0))));
	assert_true(
	    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, ldns_rr_clone(ldns_rr_list_rr(sigs, 0))));
	assert_int_equal(ldns_pkt2wire(&wire, pkt, &len), LDNS_STATUS_OK);
	assert_int_equal(dcv_dnssec_check_answer(wire, len, OWNER, LDNS_RR_TYPE_CNAME, s.dnskeys,
	                                         now, 3600, why, sizeof(why)),
	                 DCV_SIG_OK);
	/* Owner names compare without regard to case. */
	assert_int_equal(dcv_dnssec_check_answer(
	                     wire, len, "_0123456789ABCDEF0123456789abcdef.WWW.example.test.",
	                     LDNS_RR_TYPE_CNAME, s.dnskeys, now, 3600, why, sizeof(why)),
	                 DCV_SIG_OK);
	free(wire);
	ldns_pkt_free(pkt);

	/* The same reply with only an expired RRSIG. */
	assert_int_equal(
	    ldns_pkt_query_new_frm_str(&pkt, OWNER, LDNS_RR_TYPE_CNAME, LDNS_RR_CLASS_IN, 0),
	    LDNS_STATUS_OK);
	ldns_pkt_set_qr(pkt, true);
	assert_true(
	    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, ldns_rr_clone(ldns_rr_list_rr(set, 0))));
	assert_true(
	    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, ldns_rr_clone(ldns_rr_list_rr(expired, 0))));
	assert_int_equal(ldns_pkt2wire(&wire, pkt, &len), LDNS_STATUS_OK);
	assert_int_equal(dcv_dnssec_check_answer(wire, len, OWNER, LDNS_RR_TYPE_CNAME, s.dnskeys,
	                                         now, 3600, why, sizeof(why)),
	                 DCV_SIG_EXPIRED);
	/* Garbage is no signature. */
	assert_int_equal(dcv_dnssec_check_answer(wire, 5, OWNER, LDNS_RR_TYPE_CNAME, s.dnskeys, now,
	                                         3600, why, sizeof(why)),
	                 DCV_SIG_MISSING);
	free(wire);
	ldns_pkt_free(pkt);
	ldns_rr_list_deep_free(expired);
	ldns_rr_list_deep_free(sigs);
	ldns_rr_list_deep_free(set);
	signer_free(&s);
}

/* The names reports use for zone states and check outcomes. */
static void test_names(void **state)
{
	(void)state;
	assert_string_equal(dcv_zsec_name(DCV_ZSEC_INSECURE), "insecure");
	assert_string_equal(dcv_zsec_name(DCV_ZSEC_SECURE), "secure");
	assert_string_equal(dcv_zsec_name(DCV_ZSEC_SIGNED), "signed");
	assert_string_equal(dcv_zsec_name(DCV_ZSEC_UNKNOWN), "unknown");
	assert_string_equal(dcv_sigcheck_name(DCV_SIG_OK), "valid");
	assert_string_equal(dcv_sigcheck_name(DCV_SIG_EXPIRING), "RRSIG expires within the hour");
	assert_string_equal(dcv_sigcheck_name(DCV_SIG_EXPIRED), "RRSIG expired or not yet valid");
	assert_string_equal(dcv_sigcheck_name(DCV_SIG_BOGUS), "RRSIG does not validate");
	assert_string_equal(dcv_sigcheck_name(DCV_SIG_NOKEY),
	                    "RRSIG by a key not in the DNSKEY set");
	assert_string_equal(dcv_sigcheck_name(DCV_SIG_MISSING), "RRSIG missing");
}

/*
 * Nothing to check (no RRset, an empty one), and RRSIGs that are not for
 * the RRset (another type covered, a record that is no RRSIG): missing.
 */
static void test_nothing_to_check(void **state)
{
	struct signer s = signer_new();
	time_t now = time(NULL);
	ldns_rr_list *set = cname_rrset("abc.def.sectigo.com.");
	ldns_rr_list *empty = ldns_rr_list_new();
	ldns_rr_list *others = ldns_rr_list_new();
	ldns_rr_list *a_set = ldns_rr_list_new();
	ldns_rr_list *a_sigs = NULL;
	ldns_rr *rr = NULL;
	char why[300] = "x";

	(void)state;
	assert_int_equal(dcv_dnssec_verify(NULL, NULL, s.dnskeys, now, 3600, why, sizeof(why)),
	                 DCV_SIG_MISSING);
	assert_string_equal(why, "no RRset to check");
	assert_int_equal(dcv_dnssec_verify(empty, NULL, s.dnskeys, now, 3600, why, sizeof(why)),
	                 DCV_SIG_MISSING);
	assert_int_equal(ldns_rr_new_frm_str(&rr, OWNER " 300 IN A 192.0.2.1", 300, NULL, NULL),
	                 LDNS_STATUS_OK);
	assert_true(ldns_rr_list_push_rr(a_set, rr));
	a_sigs = sign(&s, a_set, now, -60, 86400);
	/* An RRSIG over the A record, and the A record itself, in the CNAME's sigs. */
	assert_true(ldns_rr_list_push_rr(others, ldns_rr_clone(ldns_rr_list_rr(a_sigs, 0))));
	assert_true(ldns_rr_list_push_rr(others, ldns_rr_clone(rr)));
	assert_int_equal(dcv_dnssec_verify(set, others, s.dnskeys, now, 3600, why, sizeof(why)),
	                 DCV_SIG_MISSING);
	assert_string_equal(why, "RRSIG missing");
	/* No room for a reason: the outcome all the same. */
	assert_int_equal(dcv_dnssec_verify(set, others, s.dnskeys, now, 3600, why, 0),
	                 DCV_SIG_MISSING);
	ldns_rr_list_deep_free(a_sigs);
	ldns_rr_list_deep_free(a_set);
	ldns_rr_list_deep_free(others);
	ldns_rr_list_free(empty);
	ldns_rr_list_deep_free(set);
	signer_free(&s);
}

/* A reply whose answer holds other owners, classes and types: only the RRset asked counts. */
static void test_answer_with_others(void **state)
{
	static const char *const others[] = {
	    "other.example.test. 300 IN CNAME abc.def.sectigo.com.",
	    OWNER " 300 CH CNAME abc.def.sectigo.com.",
	    OWNER " 300 IN TXT \"x\"",
	};
	struct signer s = signer_new();
	time_t now = time(NULL);
	ldns_rr_list *set = cname_rrset("abc.def.sectigo.com.");
	ldns_rr_list *sigs = sign(&s, set, now, -60, 86400);
	ldns_rr_list *got = NULL, *got_sigs = NULL;
	ldns_rr_list *txt = ldns_rr_list_new();
	ldns_rr_list *txt_sigs = NULL;
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	char why[300];

	(void)state;
	assert_int_equal(
	    ldns_pkt_query_new_frm_str(&pkt, OWNER, LDNS_RR_TYPE_CNAME, LDNS_RR_CLASS_IN, 0),
	    LDNS_STATUS_OK);
	ldns_pkt_set_qr(pkt, true);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		ldns_rr *rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, others[i], 300, NULL, NULL),
		                 LDNS_STATUS_OK);
		if (i == 2)
			assert_true(ldns_rr_list_push_rr(txt, ldns_rr_clone(rr)));
		assert_true(ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr));
	}
	/* The TXT record's RRSIG: same owner, another type covered. */
	txt_sigs = sign(&s, txt, now, -60, 86400);
	assert_true(ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER,
	                             ldns_rr_clone(ldns_rr_list_rr(txt_sigs, 0))));
	assert_true(
	    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, ldns_rr_clone(ldns_rr_list_rr(set, 0))));
	assert_true(
	    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, ldns_rr_clone(ldns_rr_list_rr(sigs, 0))));
	assert_int_equal(ldns_pkt2wire(&wire, pkt, &len), LDNS_STATUS_OK);
	assert_int_equal(
	    dcv_dnssec_answer_rrset(wire, len, OWNER, LDNS_RR_TYPE_CNAME, &got, &got_sigs), DCV_OK);
	assert_int_equal(ldns_rr_list_rr_count(got), 1);
	assert_int_equal(ldns_rr_list_rr_count(got_sigs), 1);
	assert_int_equal(ldns_rr_compare(ldns_rr_list_rr(got, 0), ldns_rr_list_rr(set, 0)), 0);
	ldns_rr_list_deep_free(got);
	ldns_rr_list_deep_free(got_sigs);
	assert_int_equal(dcv_dnssec_check_answer(wire, len, OWNER, LDNS_RR_TYPE_CNAME, s.dnskeys,
	                                         now, 3600, why, sizeof(why)),
	                 DCV_SIG_OK);
	/* A bad owner name: refused, nothing returned. */
	assert_int_equal(
	    dcv_dnssec_answer_rrset(wire, len, "a..b", LDNS_RR_TYPE_CNAME, &got, &got_sigs),
	    DCV_EREPLY);
	assert_null(got);
	assert_null(got_sigs);
	assert_int_equal(dcv_dnssec_check_answer(wire, len, "a..b", LDNS_RR_TYPE_CNAME, s.dnskeys,
	                                         now, 3600, why, sizeof(why)),
	                 DCV_SIG_MISSING);
	assert_string_equal(why, "reply could not be parsed for its RRSIG");
	free(wire);
	ldns_pkt_free(pkt);
	ldns_rr_list_deep_free(txt_sigs);
	ldns_rr_list_deep_free(txt);
	ldns_rr_list_deep_free(sigs);
	ldns_rr_list_deep_free(set);
	signer_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_not_yet_valid),
	    cmocka_unit_test(test_expiring_within_the_hour),
	    cmocka_unit_test(test_wrong_key),
	    cmocka_unit_test(test_altered_data),
	    cmocka_unit_test(test_missing),
	    cmocka_unit_test(test_best_of_several),
	    cmocka_unit_test(test_answer_in_wire_form),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_nothing_to_check),
	    cmocka_unit_test(test_answer_with_others),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
