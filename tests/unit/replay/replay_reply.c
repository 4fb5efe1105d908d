/*
 * replay_reply.c -- the bytes of a scripted reply: its sections from the
 * entry's lines, the scenario's DNSSEC keys (zonekey) with their DNSKEY
 * and RRSIG records, an Extended DNS Error, and its TSIG -- signed with
 * the scenario's key, forged, an unsigned TSIG error, or a signed BADTIME
 * report that ldns cannot make.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "replay.h"
#include "replay_int.h"

const struct rp_zonekey *replay_zonekey(const char *name, int line)
{
	for (size_t i = 0; i < replay_state.n_keys; i++)
		if (strcmp(replay_state.keys[i].name, name) == 0)
			return &replay_state.keys[i];
	replay_die(line, "no zonekey %s", name);
}

/* zonekey NAME ZONE: a fresh ECDSA P-256 zone key whose owner is ZONE. */
void replay_parse_zonekey(const char *l, int line)
{
	struct rp_zonekey *k = &replay_state.keys[replay_state.n_keys];
	char zone[256] = "";
	ldns_rdf *owner = NULL;

	if (replay_state.n_keys == REPLAY_MAX_KEYS ||
	    sscanf(l, "zonekey %63s %255s", k->name, zone) != 2)
		replay_die(line, "zonekey NAME ZONE (at most %d)", REPLAY_MAX_KEYS);
	k->key = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
	owner = ldns_dname_new_frm_str(zone);
	if (k->key == NULL || owner == NULL)
		replay_die(line, "ldns could not make a key for %s", zone);
	ldns_key_set_pubkey_owner(k->key, owner);
	ldns_key_set_flags(k->key, LDNS_KEY_ZONE_KEY);
	k->dnskey = ldns_key2rr(k->key);
	if (k->dnskey == NULL)
		replay_die(line, "ldns could not write the DNSKEY of %s", zone);
	ldns_rr_set_ttl(k->dnskey, 300);
	ldns_key_set_keytag(k->key, ldns_calc_keytag(k->dnskey)); /* the RRSIGs name it */
	replay_state.n_keys++;
}

/* Signs every RRset of the answer section with the rrsig lines' keys. */
static void rpr_sign_answer(ldns_pkt *p, const struct rp_reply *r, int line)
{
	ldns_rr_list *answer = ldns_rr_list_clone(ldns_pkt_answer(p));
	size_t n = ldns_rr_list_rr_count(answer);

	for (size_t s = 0; s < r->n_rrsigs; s++) {
		const struct rp_zonekey *k = replay_zonekey(r->rrsigs[s].key, line);
		ldns_key_list *keys = ldns_key_list_new();
		uint32_t now = (uint32_t)time(NULL);

		ldns_key_set_inception(k->key, now + (uint32_t)(r->rrsigs[s].from_min * 60));
		ldns_key_set_expiration(k->key, now + (uint32_t)(r->rrsigs[s].until_min * 60));
		ldns_key_list_push_key(keys, k->key);
		for (size_t i = 0; i < n; i++) {
			const ldns_rr *rr = ldns_rr_list_rr(answer, i);
			ldns_rr_list *set = ldns_rr_list_new(), *sigs = NULL;
			bool first = ldns_rr_get_type(rr) != LDNS_RR_TYPE_RRSIG;
			for (size_t j = 0; j < n && first; j++) {
				const ldns_rr *o = ldns_rr_list_rr(answer, j);
				bool same =
				    ldns_rr_get_type(o) == ldns_rr_get_type(rr) &&
				    ldns_dname_compare(ldns_rr_owner(o), ldns_rr_owner(rr)) == 0;
				if (same && j < i)
					first = false; /* signed with the first of its set */
				else if (same)
					ldns_rr_list_push_rr(set, ldns_rr_clone(o));
			}
			if (first && (sigs = ldns_sign_public(set, keys)) == NULL)
				replay_die(line, "ldns could not sign with %s", k->name);
			for (size_t j = 0; sigs != NULL && j < ldns_rr_list_rr_count(sigs); j++)
				ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
				                 ldns_rr_clone(ldns_rr_list_rr(sigs, j)));
			ldns_rr_list_deep_free(sigs);
			ldns_rr_list_deep_free(set);
		}
		/* The key stays ours (popping a list's last key frees its array twice). */
		ldns_key_list_set_key_count(keys, 0);
		ldns_key_list_free(keys);
	}
	ldns_rr_list_deep_free(answer);
}

/*
 * A TSIG error as servers send it (RFC 8945 5.3.2): the query's key,
 * algorithm, time and fudge, no MAC, the error code; unsigned.
 */
static void rpr_tsig_error(ldns_pkt *p, const ldns_pkt *q, int error, int line)
{
	ldns_rr *qt = ldns_pkt_tsig(q), *t = ldns_rr_new();
	static const uint8_t none[2] = {0, 0};

	if (qt == NULL || t == NULL || ldns_rr_rd_count(qt) < 7)
		replay_die(line, "tsigerror: the query is not signed");
	ldns_rr_set_owner(t, ldns_rdf_clone(ldns_rr_owner(qt)));
	ldns_rr_set_type(t, LDNS_RR_TYPE_TSIG);
	ldns_rr_set_class(t, LDNS_RR_CLASS_ANY);
	ldns_rr_set_ttl(t, 0);
	for (size_t i = 0; i < 3; i++) /* algorithm, time signed, fudge */
		ldns_rr_push_rdf(t, ldns_rdf_clone(ldns_rr_rdf(qt, i)));
	ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, none));
	ldns_rr_push_rdf(t, ldns_rdf_clone(ldns_rr_rdf(qt, 4))); /* original id */
	ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, (uint16_t)error));
	ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, none));
	ldns_pkt_set_tsig(p, t);
}

/*
 * The reply's Extended DNS Error as the data of its OPT record (ldns
 * writes it before a TSIG, which then covers it).
 */
static void rpr_set_ede(ldns_pkt *p, const struct rp_reply *r, int line)
{
	size_t text = strlen(r->ede_text);
	uint8_t opt[4 + 2 + sizeof(r->ede_text)];
	ldns_rdf *data = NULL;

	opt[0] = 0;
	opt[1] = 15; /* EDE */
	opt[2] = (uint8_t)((2 + text) >> 8);
	opt[3] = (uint8_t)(2 + text);
	opt[4] = (uint8_t)(r->ede >> 8);
	opt[5] = (uint8_t)r->ede;
	memcpy(opt + 6, r->ede_text, text);
	data = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 6 + text, opt);
	if (data == NULL)
		replay_die(line, "out of memory");
	ldns_pkt_set_edns_udp_size(p, 1232);
	ldns_pkt_set_edns_do(p, true);
	ldns_pkt_set_edns_data(p, data);
}

/* --- signed BADTIME reports ---------------------------------------------------- */

static void rpr_put(uint8_t **p, const void *data, size_t n)
{
	memcpy(*p, data, n);
	*p += n;
}

static void rpr_put16(uint8_t **p, unsigned v)
{
	rpr_put(p, (const uint8_t[]){(uint8_t)(v >> 8), (uint8_t)v}, 2);
}

static void rpr_put48(uint8_t **p, uint64_t v)
{
	for (int shift = 40; shift >= 0; shift -= 8)
		*(*p)++ = (uint8_t)(v >> shift);
}

/* The canonical (lower-case, uncompressed) wire form of name into out; its length. */
static size_t rpr_name_wire(const char *name, uint8_t *out, int line)
{
	ldns_rdf *d = ldns_dname_new_frm_str(name);
	size_t n = 0;

	if (d == NULL)
		replay_die(line, "bad name %s", name);
	ldns_dname2canonical(d);
	n = ldns_rdf_size(d);
	memcpy(out, ldns_rdf_data(d), n);
	ldns_rdf_deep_free(d);
	return n;
}

/*
 * Appends a BADTIME report's TSIG record (RFC 8945 5.2.3) to wire: the
 * request's time signed, the server's time (ours plus skew) in the other
 * data, signed with the scenario's key (HMAC over the request MAC, the
 * reply and the TSIG variables). ldns cannot sign with an error set.
 */
static uint8_t *rpr_add_badtime(uint8_t *wire, size_t *len, const struct dcv_dnsio_xchg *x,
                                const struct rp_reply *r, int line)
{
	ldns_rr *tsig = ldns_pkt_tsig(x->query);
	const ldns_rdf *req_mac = tsig ? ldns_rr_rdf(tsig, 3) : NULL;
	uint8_t name[256], alg[256], vars[600], other[6], mac[EVP_MAX_MD_SIZE], secret[256];
	uint8_t *p = NULL, *grown = NULL;
	size_t name_len = rpr_name_wire(replay_state.tsig_name, name, line);
	size_t alg_len = rpr_name_wire(replay_state.tsig_alg, alg, line);
	uint64_t signed_at = ldns_rdf2native_time_t(ldns_rr_rdf(tsig, 1));
	unsigned mac_len = 0, other_len = 6;
	const EVP_MD *md = strncasecmp(replay_state.tsig_alg, "hmac-sha256", 11) == 0 ? EVP_sha256()
	                   : strncasecmp(replay_state.tsig_alg, "hmac-sha512", 11) == 0
	                       ? EVP_sha512()
	                       : NULL;

	if (req_mac == NULL || replay_state.tsig_name[0] == '\0' || md == NULL || r->signed_ok ||
	    r->forged || r->tsig_error)
		replay_die(line,
		           "badtime needs a signed query, a tsig line (hmac-sha256 or -512) and "
		           "no signed, forged or tsigerror");
	p = other;
	rpr_put48(&p, (uint64_t)time(NULL) + (uint64_t)r->server_skew);
	{
		/* The MAC input: request MAC (size and bytes), reply, TSIG variables. */
		size_t n = ldns_rdf_size(req_mac), vlen = 0;
		size_t b64 = strlen(replay_state.tsig_secret);
		int secret_len =
		    b64 < 4 * (sizeof(secret) / 3)
		        ? EVP_DecodeBlock(secret, (const uint8_t *)replay_state.tsig_secret,
		                          (int)b64)
		        : -1;
		/* EVP_DecodeBlock counts the bytes of the padding, too. */
		for (size_t k = b64;
		     secret_len > 0 && k > 0 && replay_state.tsig_secret[k - 1] == '='; k--)
			secret_len--;
		uint8_t *in = malloc(n + *len + sizeof(vars));
		if (in == NULL || secret_len <= 0)
			replay_die(line, "cannot sign the BADTIME report");
		p = vars;
		rpr_put(&p, name, name_len);
		rpr_put16(&p, LDNS_RR_CLASS_ANY);
		rpr_put(&p, (const uint8_t[]){0, 0, 0, 0}, 4);
		rpr_put(&p, alg, alg_len);
		rpr_put48(&p, signed_at);
		rpr_put16(&p, 300);
		rpr_put16(&p, 18);
		rpr_put16(&p, other_len);
		rpr_put(&p, other, other_len);
		vlen = (size_t)(p - vars);
		memcpy(in, ldns_rdf_data(req_mac), n);
		memcpy(in + n, wire, *len);
		memcpy(in + n + *len, vars, vlen);
		if (HMAC(md, secret, secret_len, in, n + *len + vlen, mac, &mac_len) == NULL)
			replay_die(line, "HMAC failed");
		free(in);
	}
	grown = realloc(wire, *len + name_len + 10 + alg_len + 16 + mac_len + other_len);
	if (grown == NULL)
		replay_die(line, "out of memory");
	wire = grown;
	p = wire + *len;
	rpr_put(&p, name, name_len);
	rpr_put16(&p, LDNS_RR_TYPE_TSIG);
	rpr_put16(&p, LDNS_RR_CLASS_ANY);
	rpr_put(&p, (const uint8_t[]){0, 0, 0, 0}, 4);
	rpr_put16(&p, (unsigned)(alg_len + 16 + mac_len + other_len));
	rpr_put(&p, alg, alg_len);
	rpr_put48(&p, signed_at);
	rpr_put16(&p, 300);
	rpr_put16(&p, mac_len);
	rpr_put(&p, mac, mac_len);
	rpr_put16(&p, ldns_pkt_id(x->query));
	rpr_put16(&p, 18);
	rpr_put16(&p, other_len);
	rpr_put(&p, other, other_len);
	*len = (size_t)(p - wire);
	wire[11]++; /* ARCOUNT (the replies here have no other additional record) */
	return wire;
}

/* The reply bytes for reply r of x's entry (malloc'd), signed as asked. */
uint8_t *replay_build_reply(const struct dcv_dnsio_xchg *x, const struct rp_reply *r, size_t *len)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr_list *qs = ldns_pkt_question(x->query);
	uint8_t *wire = NULL;
	int line = x->entry->line;

	ldns_pkt_set_id(p, ldns_pkt_id(x->query));
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_opcode(p, ldns_pkt_get_opcode(x->query));
	ldns_pkt_set_rd(p, ldns_pkt_rd(x->query));
	ldns_pkt_set_aa(p, r->aa);
	ldns_pkt_set_ad(p, r->ad);
	ldns_pkt_set_cd(p, ldns_pkt_cd(x->query));
	ldns_pkt_set_rcode(p, (uint8_t)r->rcode);
	for (size_t i = 0; i < ldns_rr_list_rr_count(qs); i++)
		ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(qs, i)));
	for (size_t i = 0; r->action == RP_REPLY && i < r->n_answers; i++) {
		ldns_rr *rr = NULL;
		if (ldns_rr_new_frm_str(&rr, r->answers[i], 0, NULL, NULL) != LDNS_STATUS_OK)
			replay_die(line, "cannot read the answer \"%s\"", r->answers[i]);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	for (size_t i = 0; i < r->n_dnskeys; i++)
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
		                 ldns_rr_clone(replay_zonekey(r->dnskeys[i], line)->dnskey));
	if (r->n_rrsigs > 0)
		rpr_sign_answer(p, r, line);
	for (size_t i = 0; r->action == RP_REPLY && i < r->n_authority; i++) {
		ldns_rr *rr = NULL;
		if (ldns_rr_new_frm_str(&rr, r->authority[i], 0, NULL, NULL) != LDNS_STATUS_OK)
			replay_die(line, "cannot read the authority record \"%s\"",
			           r->authority[i]);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr);
	}
	if (r->ede >= 0)
		rpr_set_ede(p, r, line);
	if (r->signed_ok || r->forged) {
		ldns_rr *tsig = ldns_pkt_tsig(x->query);
		const char *secret = r->forged ? "Zm9yZ2VkIGtleSBmb3JnZWQga2V5IGZvcmdlZCBrZXk="
		                               : replay_state.tsig_secret;
		if (tsig == NULL || replay_state.tsig_name[0] == '\0')
			replay_die(line, "a signed reply needs a signed query and a tsig line");
		if (ldns_pkt_tsig_sign(p, replay_state.tsig_name, secret, 300,
		                       replay_state.tsig_alg,
		                       ldns_rr_rdf(tsig, 3)) != LDNS_STATUS_OK)
			replay_die(line, "ldns could not sign the reply");
	}
	if (r->tsig_error > 0)
		rpr_tsig_error(p, x->query, r->tsig_error, line);
	if (ldns_pkt2wire(&wire, p, len) != LDNS_STATUS_OK)
		replay_die(line, "ldns could not write the reply");
	if (r->action == RP_GARBLED && *len >= 12) {
		/* One answer announced, none there: cut short after the question. */
		wire[7] = 1;
	}
	if (r->badtime)
		wire = rpr_add_badtime(wire, len, x, r, line);
	ldns_pkt_free(p);
	return wire;
}
