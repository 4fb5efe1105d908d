/*
 * dnssec.c -- RRSIG checks for signed zones (see dnssec.h).
 *
 * The cryptographic check runs once per RRSIG (ldns_verify_rrsig_keylist_notime);
 * the validity window is then compared here, at now and at now + margin,
 * with the serial arithmetic of RFC 4034 §3.1.5. ldns_verify_rrsig_keylist_time
 * would repeat the signature check for every time asked, and a burst of
 * thousands of jobs checks thousands of answers on the loop thread.
 */
#include <stdio.h>
#include <string.h>

#include "dcv/err.h"
#include "dnssec.h"
#include "util.h"

const char *dcv_zsec_name(enum dcv_zsec s)
{
	switch (s) {
	case DCV_ZSEC_INSECURE:
		return "insecure";
	case DCV_ZSEC_SECURE:
		return "secure";
	case DCV_ZSEC_SIGNED:
		return "signed";
	default:
		return "unknown";
	}
}

const char *dcv_sigcheck_name(enum dcv_sigcheck c)
{
	switch (c) {
	case DCV_SIG_OK:
		return "valid";
	case DCV_SIG_EXPIRING:
		return "RRSIG expires within the hour";
	case DCV_SIG_EXPIRED:
		return "RRSIG expired or not yet valid";
	case DCV_SIG_BOGUS:
		return "RRSIG does not validate";
	case DCV_SIG_NOKEY:
		return "RRSIG by a key not in the DNSKEY set";
	default:
		return "RRSIG missing";
	}
}

/* Whether serial time a lies before b (RFC 1982 on 32 bits, as RRSIG times are). */
static bool dnssec_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* The outcome for one RRSIG; detail describes it. */
static enum dcv_sigcheck dnssec_one(const ldns_rr_list *rrset, const ldns_rr *sig,
                                    const ldns_rr_list *keys, time_t now, uint32_t margin_s,
                                    char *detail, size_t size)
{
	uint32_t inception = ldns_rdf2native_time_t(ldns_rr_rrsig_inception(sig));
	uint32_t expiration = ldns_rdf2native_time_t(ldns_rr_rrsig_expiration(sig));
	uint16_t tag = ldns_rdf2native_int16(ldns_rr_rrsig_keytag(sig));
	uint8_t alg = ldns_rdf2native_int8(ldns_rr_rrsig_algorithm(sig));
	uint32_t now32 = (uint32_t)now;
	char from[32], until[32];
	ldns_status st;

	dcv_utc_text(inception, from, sizeof(from));
	dcv_utc_text(expiration, until, sizeof(until));
	st = ldns_verify_rrsig_keylist_notime(rrset, sig, keys, NULL);
	snprintf(detail, size, "RRSIG key %u alg %u valid %s to %s", tag, alg, from, until);
	if (st == LDNS_STATUS_CRYPTO_NO_MATCHING_KEYTAG_DNSKEY ||
	    st == LDNS_STATUS_CRYPTO_NO_DNSKEY)
		return DCV_SIG_NOKEY;
	if (st != LDNS_STATUS_OK)
		return DCV_SIG_BOGUS;
	if (dnssec_before(now32, inception)) {
		snprintf(detail, size, "RRSIG not yet valid: key %u alg %u valid %s to %s", tag,
		         alg, from, until);
		return DCV_SIG_EXPIRED;
	}
	if (!dnssec_before(now32, expiration)) {
		snprintf(detail, size, "RRSIG expired: key %u alg %u valid %s to %s", tag, alg,
		         from, until);
		return DCV_SIG_EXPIRED;
	}
	if (!dnssec_before(now32 + margin_s, expiration))
		return DCV_SIG_EXPIRING;
	return DCV_SIG_OK;
}

enum dcv_sigcheck dcv_dnssec_verify(const ldns_rr_list *rrset, const ldns_rr_list *sigs,
                                    const ldns_rr_list *keys, time_t now, uint32_t margin_s,
                                    char *why, size_t size)
{
	enum dcv_sigcheck best = DCV_SIG_MISSING;
	ldns_rr_type type = LDNS_RR_TYPE_A;
	char detail[200] = "";

	if (size > 0)
		why[0] = '\0';
	if (rrset == NULL || ldns_rr_list_rr_count(rrset) == 0) {
		snprintf(why, size, "no RRset to check");
		return DCV_SIG_MISSING;
	}
	type = ldns_rr_get_type(ldns_rr_list_rr(rrset, 0));
	for (size_t i = 0; sigs != NULL && i < ldns_rr_list_rr_count(sigs); i++) {
		const ldns_rr *sig = ldns_rr_list_rr(sigs, i);
		char one[200];
		enum dcv_sigcheck c = DCV_SIG_MISSING;

		if (ldns_rr_get_type(sig) != LDNS_RR_TYPE_RRSIG || ldns_rr_rd_count(sig) < 9 ||
		    ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(sig)) != type)
			continue;
		c = dnssec_one(rrset, sig, keys, now, margin_s, one, sizeof(one));
		if (c < best || detail[0] == '\0') {
			best = c < best ? c : best;
			snprintf(detail, sizeof(detail), "%s", one);
		}
		if (best == DCV_SIG_OK)
			break;
	}
	if (best == DCV_SIG_MISSING)
		snprintf(why, size, "RRSIG missing");
	else if (best == DCV_SIG_EXPIRED)
		snprintf(why, size, "%s", detail);
	else if (best != DCV_SIG_OK)
		snprintf(why, size, "%s (%s)", dcv_sigcheck_name(best), detail);
	return best;
}

int dcv_dnssec_answer_rrset(const uint8_t *msg, size_t len, const char *owner, uint16_t type,
                            ldns_rr_list **rrset, ldns_rr_list **sigs)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *name = NULL;
	ldns_rr_list *answer = NULL;
	int rc = DCV_EREPLY;

	*rrset = NULL;
	*sigs = NULL;
	if (ldns_wire2pkt(&pkt, msg, len) != LDNS_STATUS_OK ||
	    ldns_str2rdf_dname(&name, owner) != LDNS_STATUS_OK)
		goto out;
	rc = DCV_ENOMEM;
	answer = ldns_pkt_answer(pkt);
	*rrset = ldns_rr_list_new();
	*sigs = ldns_rr_list_new();
	if (*rrset == NULL || *sigs == NULL)
		goto out;
	for (size_t i = 0; answer != NULL && i < ldns_rr_list_rr_count(answer); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(answer, i);
		ldns_rr_list *into = NULL;
		ldns_rr *copy = NULL;

		if (ldns_dname_compare(ldns_rr_owner(rr), name) != 0 ||
		    ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN)
			continue;
		if (ldns_rr_get_type(rr) == (ldns_rr_type)type)
			into = *rrset;
		else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG && ldns_rr_rd_count(rr) >= 9 &&
		         ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == (ldns_rr_type)type)
			into = *sigs;
		else
			continue;
		if ((copy = ldns_rr_clone(rr)) == NULL || !ldns_rr_list_push_rr(into, copy)) {
			ldns_rr_free(copy);
			goto out;
		}
	}
	rc = DCV_OK;
out:
	if (rc < 0) {
		ldns_rr_list_deep_free(*rrset);
		ldns_rr_list_deep_free(*sigs);
		*rrset = NULL;
		*sigs = NULL;
	}
	ldns_rdf_deep_free(name);
	ldns_pkt_free(pkt);
	return rc;
}

enum dcv_sigcheck dcv_dnssec_check_answer(const uint8_t *msg, size_t len, const char *owner,
                                          uint16_t type, const ldns_rr_list *keys, time_t now,
                                          uint32_t margin_s, char *why, size_t size)
{
	ldns_rr_list *rrset = NULL, *sigs = NULL;
	enum dcv_sigcheck c = DCV_SIG_MISSING;

	if (dcv_dnssec_answer_rrset(msg, len, owner, type, &rrset, &sigs) < 0) {
		snprintf(why, size, "reply could not be parsed for its RRSIG");
		return c;
	}
	c = dcv_dnssec_verify(rrset, sigs, keys, now, margin_s, why, size);
	ldns_rr_list_deep_free(rrset);
	ldns_rr_list_deep_free(sigs);
	return c;
}
