/*
 * fuzz_csr.c -- a CSR file, as any bytes: dcv_csr_parse() (the fast path
 * of p10.c where it applies) and dcv_csr_parse_ex(DCV_CSR_FULL_DECODE)
 * (OpenSSL's complete decoder), then dcv_request_new() and everything a
 * request gives (records, HTTP file, approvers). Each input is tried as it
 * is and, when it has the shape of a request, signed again with a fixed
 * key (see csr_resigned()), so that mutated subjects and attributes get
 * past the signature check.
 *
 * Oracles: both decoders return the same code and, when they accept, the
 * same DER, hashes, key, names, addresses and warnings, and OpenSSL can
 * read the request's extensions; every record owner
 * is "_<md5>.<adn>." and every target starts with the SHA-256 split 32/32.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dcv/csr.h"
#include "dcv/dcv.h"
#include "fuzz.h"
#include "util.h"

static void csr_same_list(const char *what, char **a, size_t n_a, char **b, size_t n_b)
{
	FUZZ_CHECK(n_a == n_b, "%s: fast path has %zu, full decoder %zu", what, n_a, n_b);
	for (size_t i = 0; i < n_a; i++)
		FUZZ_CHECK(strcmp(a[i], b[i]) == 0, "%s %zu: fast path '%s', full decoder '%s'",
		           what, i, a[i], b[i]);
}

static void csr_same(const struct dcv_csr *a, const struct dcv_csr *b)
{
	FUZZ_CHECK(a->der_len == b->der_len && memcmp(a->der, b->der, a->der_len) == 0,
	           "the decoders hash different bytes");
	FUZZ_CHECK(strcmp(a->md5_hex, b->md5_hex) == 0 && strcmp(a->sha1_hex, b->sha1_hex) == 0 &&
	               strcmp(a->sha256_hex, b->sha256_hex) == 0,
	           "hashes differ");
	FUZZ_CHECK(strcmp(a->key_desc, b->key_desc) == 0, "key: fast path '%s', full decoder '%s'",
	           a->key_desc, b->key_desc);
	csr_same_list("names", a->names, a->n_names, b->names, b->n_names);
	csr_same_list("addresses", a->ips, a->n_ips, b->ips, b->n_ips);
	csr_same_list("warnings", a->warnings, a->n_warnings, b->warnings, b->n_warnings);
}

/* Everything a request gives, for every name and candidate. */
static void csr_outputs(const struct dcv_request *req)
{
	char buf[1024], owner[512];
	struct dcv_strv list = {0};
	const char *md5 = req->csr->md5_hex, *sha256 = req->csr->sha256_hex;
	int rc = 0;

	FUZZ_CHECK(strncmp(req->target, sha256, 32) == 0 && req->target[32] == '.' &&
	               strncmp(req->target + 33, sha256 + 32, 32) == 0,
	           "target '%s' for sha256 %s", req->target, sha256);
	for (size_t i = 0; i < req->n_names; i++) {
		const struct dcv_name_entry *e = &req->names[i];
		FUZZ_CHECK(e->n_candidates > 0, "name '%s' has no candidate", e->name);
		for (size_t j = 0; j < e->n_candidates; j++) {
			const char *adn = e->candidates[j];
			rc = dcv_record_owner(req, adn, owner, sizeof(owner), NULL);
			FUZZ_CHECK(rc == DCV_OK || rc == DCV_ENAME, "record_owner: %d", rc);
			if (rc == DCV_OK) {
				snprintf(buf, sizeof(buf), "_%s.%s.", md5, adn);
				FUZZ_CHECK(strcmp(owner, buf) == 0, "owner '%s', want '%s'", owner,
				           buf);
			}
			(void)dcv_record_line(req, adn, DCV_DEFAULT_TTL, buf, sizeof(buf), NULL);
			(void)dcv_record_legacy_line(req, adn, DCV_DEFAULT_TTL, buf, sizeof(buf),
			                             NULL);
		}
	}
	dcv_http_path(req, buf, sizeof(buf));
	dcv_http_content(req, buf, sizeof(buf));
	rc = dcv_request_bases(req, &list);
	FUZZ_CHECK(rc == DCV_OK, "request_bases: %d", rc);
	rc = dcv_email_approvers(req, &list);
	FUZZ_CHECK(rc == DCV_OK, "email_approvers: %d", rc);
	dcv_strv_free(&list);
}

/* Takes csr. */
static void csr_request(struct dcv_csr *csr, const char *unique, const char *target)
{
	struct dcv_opts opts = {unique, target};
	struct dcv_opts_buf buf;
	struct dcv_request *req = NULL;
	struct dcv_why why = {""};
	int rc = dcv_opts_check(&opts, &buf, &why);

	FUZZ_CHECK(rc == DCV_OK, "options: %s", why.text);
	rc = dcv_request_new(csr, fuzz_psl(), &opts, &req, &why);
	FUZZ_CHECK(rc == DCV_OK || rc == DCV_ENAME || rc == DCV_ENONAME, "request_new: %d (%s)", rc,
	           why.text);
	if (rc == DCV_OK)
		csr_outputs(req);
	dcv_request_free(req);
}

/*
 * An accepted request's extensions are readable to OpenSSL itself: a
 * request whose extensionRequest does not decode must be refused, not
 * read as one without subjectAltNames.
 */
static void csr_extensions_readable(const struct dcv_csr *csr)
{
	const unsigned char *p = csr->der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)csr->der_len);
	STACK_OF(X509_EXTENSION) *exts = req != NULL ? X509_REQ_get_extensions(req) : NULL;

	FUZZ_CHECK(req != NULL, "an accepted request that d2i_X509_REQ refuses");
	FUZZ_CHECK(exts != NULL, "an accepted request whose extensions OpenSSL cannot read");
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	ERR_clear_error();
}

static void csr_both(const uint8_t *data, size_t size)
{
	struct dcv_csr *fast = NULL, *full = NULL;
	struct dcv_why fast_why = {""}, full_why = {""};
	int fast_rc = dcv_csr_parse(data, size, &fast, &fast_why);
	int full_rc = dcv_csr_parse_ex(data, size, DCV_CSR_FULL_DECODE, &full, &full_why);

	FUZZ_CHECK(fast_rc == full_rc, "fast path %d (%s), full decoder %d (%s)", fast_rc,
	           fast_why.text, full_rc, full_why.text);
	FUZZ_CHECK((fast_rc == DCV_OK) == (fast != NULL) && (full_rc == DCV_OK) == (full != NULL),
	           "a result without DCV_OK or the other way round");
	if (fast_rc == DCV_OK) {
		csr_same(fast, full);
		csr_extensions_readable(fast);
		csr_request(fast, NULL, NULL);
		csr_request(full, "1F96729172445e721043", "ComodoCA.com.");
	}
}

/* --- the same request, signed again ------------------------------------------ */

/*
 * A mutated request almost never carries a valid signature, so the
 * decoders would only ever be compared on the seeds. The input's
 * certificationRequestInfo is therefore also signed again, its public key
 * replaced by a fixed Ed25519 key (deterministic signatures): whatever the
 * subject and attributes hold, both decoders then get as far as reading
 * them. The elements are copied as they are; only the lengths around them
 * are written anew (DER).
 */
struct csr_tlv {
	const uint8_t *p; /* the whole TLV */
	size_t len;
	const uint8_t *content;
	size_t content_len;
};

/* One TLV with a one-octet tag and a definite length (any length form). */
static bool csr_tlv(const uint8_t **p, const uint8_t *end, struct csr_tlv *t)
{
	const uint8_t *q = *p;
	size_t len = 0;

	if (end - q < 2)
		return false;
	t->p = q++;
	if (*q < 0x80) {
		len = *q++;
	} else {
		size_t n = *q++ & 0x7fu;
		if (n == 0 || n > 4 || (size_t)(end - q) < n)
			return false;
		while (n-- > 0)
			len = len << 8 | *q++;
	}
	if (len > (size_t)(end - q))
		return false;
	t->content = q;
	t->content_len = len;
	t->len = (size_t)(q - t->p) + len;
	*p = q + len;
	return true;
}

/* Writes a DER header (tag, minimal length) at out; returns its length. */
static size_t csr_header(uint8_t *out, uint8_t tag, size_t len)
{
	size_t n = 0;

	out[n++] = tag;
	if (len < 0x80) {
		out[n++] = (uint8_t)len;
	} else if (len < 0x100) {
		out[n++] = 0x81;
		out[n++] = (uint8_t)len;
	} else if (len < 0x10000) {
		out[n++] = 0x82;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = 0x83;
		out[n++] = (uint8_t)(len >> 16);
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	}
	return n;
}

static EVP_PKEY *csr_key(uint8_t spki[64], size_t *spki_len)
{
	static const uint8_t raw[32] = "dcvd fuzz_csr fixed Ed25519 key";
	static EVP_PKEY *key;
	static uint8_t der[64];
	static size_t der_len;

	if (key == NULL) {
		unsigned char *p = der;
		int n = 0;
		key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
		if (key == NULL || (n = i2d_PUBKEY(key, NULL)) <= 0 || n > (int)sizeof(der) ||
		    i2d_PUBKEY(key, &p) != n)
			fuzz_fail("cannot make the Ed25519 key");
		der_len = (size_t)n;
	}
	memcpy(spki, der, der_len);
	*spki_len = der_len;
	return key;
}

static void csr_resigned(const uint8_t *data, size_t size)
{
	static const uint8_t ed25519_alg[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};
	const uint8_t *p = data, *end = data + size, *in = NULL;
	struct csr_tlv outer, tbs, version, subject, spki;
	uint8_t key_der[64], sig[64];
	uint8_t *out = NULL, *tbs_out = NULL;
	size_t key_len = 0, sig_len = sizeof(sig), n = 0, tbs_len = 0, rest = 0, total = 0;
	EVP_PKEY *key = csr_key(key_der, &key_len);
	EVP_MD_CTX *ctx = NULL;

	if (!csr_tlv(&p, end, &outer) || outer.p[0] != 0x30)
		return;
	in = outer.content;
	if (!csr_tlv(&in, outer.content + outer.content_len, &tbs) || tbs.p[0] != 0x30)
		return;
	in = tbs.content;
	end = tbs.content + tbs.content_len;
	if (!csr_tlv(&in, end, &version) || !csr_tlv(&in, end, &subject) ||
	    !csr_tlv(&in, end, &spki))
		return;
	/* version, subject, our key, then the rest (attributes...) as they are. */
	rest = (size_t)(end - in);
	tbs_len = version.len + subject.len + key_len + rest;
	out = malloc(2 * (tbs_len + 16) + sizeof(ed25519_alg) + sizeof(sig) + 32);
	if (out == NULL)
		fuzz_fail("out of memory");
	tbs_out = out + 8 + 4; /* room for the outer header */
	n = csr_header(tbs_out, 0x30, tbs_len);
	memcpy(tbs_out + n, version.p, version.len);
	n += version.len;
	memcpy(tbs_out + n, subject.p, subject.len);
	n += subject.len;
	memcpy(tbs_out + n, key_der, key_len);
	n += key_len;
	memcpy(tbs_out + n, in, rest);
	n += rest;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, key, NULL) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, tbs_out, n) != 1 || sig_len != 64)
		fuzz_fail("cannot sign with Ed25519");
	EVP_MD_CTX_free(ctx);
	/* SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING { 0, signature } } */
	memcpy(tbs_out + n, ed25519_alg, sizeof(ed25519_alg));
	n += sizeof(ed25519_alg);
	n += csr_header(tbs_out + n, 0x03, 1 + sig_len);
	tbs_out[n++] = 0;
	memcpy(tbs_out + n, sig, sig_len);
	n += sig_len;
	{
		uint8_t head[8];
		size_t h = csr_header(head, 0x30, n);
		memcpy(tbs_out - h, head, h);
		total = n + h;
		csr_both(tbs_out - h, total);
	}
	free(out);
}

int fuzz_csr_one(const uint8_t *data, size_t size)
{
	csr_both(data, size);
	csr_resigned(data, size);
	return 0;
}

DCV_FUZZ_ENTRY(fuzz_csr_one)
