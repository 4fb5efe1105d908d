/*
 * test_csr_der.c -- requests built byte by byte: odd lengths and tags for
 * the strict splitter (p10.c), odd keys, algorithms, attributes and
 * subjectAltName entries for both decoders (csr.c).
 *
 * Each request is assembled here from DER pieces and signed with a key made
 * at start, so a test can damage exactly one thing and still hold a valid
 * signature. The oracle for every input is OpenSSL's complete decoder (the
 * DCV_CSR_FULL_DECODE path, d2i_X509_REQ and X509_REQ_verify): the fast path
 * must give the same code and the same reason, and both must give the code
 * and reason written in the test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/dsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dcv/csr.h"
#include "p10.h"
#include "testutil.h"

/* --- a small DER writer ------------------------------------------------- */

struct der_buf {
	unsigned char b[16384];
	size_t n;
};

static void put(struct der_buf *d, const void *p, size_t n)
{
	if (n == 0)
		return; /* p may be NULL then */
	assert_true(d->n + n <= sizeof(d->b));
	memcpy(d->b + d->n, p, n);
	d->n += n;
}

static void put_len(struct der_buf *d, size_t len)
{
	unsigned char l[3];

	if (len < 0x80) {
		l[0] = (unsigned char)len;
		put(d, l, 1);
	} else if (len < 0x100) {
		l[0] = 0x81;
		l[1] = (unsigned char)len;
		put(d, l, 2);
	} else {
		l[0] = 0x82;
		l[1] = (unsigned char)(len >> 8);
		l[2] = (unsigned char)len;
		put(d, l, 3);
	}
}

/* Appends TAG LEN CONTENT with a minimal length. */
static void put_tlv(struct der_buf *d, unsigned char tag, const void *c, size_t n)
{
	put(d, &tag, 1);
	put_len(d, n);
	put(d, c, n);
}

static struct der_buf *der_new(void)
{
	struct der_buf *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	return d;
}

/* --- keys and signing --------------------------------------------------- */

static EVP_PKEY *key_ec, *key_rsa, *key_ed, *key_k1;

/* AlgorithmIdentifiers of the signatures made here. */
static const unsigned char alg_ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char alg_rsa_sha256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                               0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
static const unsigned char alg_ed25519[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};
/* OIDs of the attributes extensionRequest (PKCS#9) and Microsoft's msExtReq. */
static const unsigned char oid_ext_req[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                            0xf7, 0x0d, 0x01, 0x09, 0x0e};
static const unsigned char oid_ms_ext_req[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
                                               0x01, 0x82, 0x37, 0x02, 0x01, 0x0e};
static const unsigned char oid_san[] = {0x06, 0x03, 0x55, 0x1d, 0x11};

static int setup(void **state)
{
	EVP_PKEY_CTX *ctx = NULL;

	key_ec = EVP_EC_gen("P-256");
	key_k1 = EVP_EC_gen("secp256k1");
	key_ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	/* 1024 bits: quick to make, and the size the CA's rules refuse. */
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024) != 1 ||
	    EVP_PKEY_generate(ctx, &key_rsa) != 1)
		key_rsa = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key_ec && key_k1 && key_ed && key_rsa ? 0 : -1;
}

static int teardown(void **state)
{
	EVP_PKEY_free(key_ec);
	EVP_PKEY_free(key_k1);
	EVP_PKEY_free(key_ed);
	EVP_PKEY_free(key_rsa);
	return 0;
}

/* The SubjectPublicKeyInfo of key, in DER. */
static void put_spki(struct der_buf *d, EVP_PKEY *key)
{
	unsigned char *spki = NULL;
	int n = i2d_PUBKEY(key, &spki);

	assert_true(n > 0);
	put(d, spki, (size_t)n);
	OPENSSL_free(spki);
}

/* Name: one RDN holding CN of the given string type. */
static void put_cn(struct der_buf *d, unsigned char type, const char *cn, size_t cn_len)
{
	struct der_buf *atv = der_new(), *set = der_new(), *seq = der_new();
	static const unsigned char oid_cn[] = {0x06, 0x03, 0x55, 0x04, 0x03};

	put(atv, oid_cn, sizeof(oid_cn));
	put_tlv(atv, type, cn, cn_len);
	put_tlv(seq, 0x30, atv->b, atv->n);
	put_tlv(set, 0x31, seq->b, seq->n);
	put_tlv(d, 0x30, set->b, set->n);
	free(atv);
	free(set);
	free(seq);
}

/* One attribute: SEQUENCE { oid, SET { value } } (value already DER). */
static void put_attr(struct der_buf *d, const unsigned char *oid, size_t oid_len, const void *value,
                     size_t value_len)
{
	struct der_buf *a = der_new(), *set = der_new();

	put_tlv(set, 0x31, value, value_len);
	put(a, oid, oid_len);
	put(a, set->b, set->n);
	put_tlv(d, 0x30, a->b, a->n);
	free(a);
	free(set);
}

/* An extensionRequest attribute holding one extension, oid = value (the OCTET STRING's content). */
static void put_ext_req(struct der_buf *d, const unsigned char *req_oid, size_t req_oid_len,
                        const unsigned char *ext_oid, size_t ext_oid_len, const void *value,
                        size_t value_len, int times)
{
	struct der_buf *ext = der_new(), *exts = der_new(), *seq = der_new();

	put(ext, ext_oid, ext_oid_len);
	put_tlv(ext, 0x04, value, value_len);
	for (int i = 0; i < times; i++)
		put_tlv(exts, 0x30, ext->b, ext->n);
	put_tlv(seq, 0x30, exts->b, exts->n);
	put_attr(d, req_oid, req_oid_len, seq->b, seq->n);
	free(ext);
	free(exts);
	free(seq);
}

/* A subjectAltName's GeneralNames holding one entry of the given tag. */
static void san_one(struct der_buf *d, unsigned char tag, const void *c, size_t n)
{
	struct der_buf *names = der_new();

	put_tlv(names, tag, c, n);
	put_tlv(d, 0x30, names->b, names->n);
	free(names);
}

/* certificationRequestInfo: version 0, subject, key, [0] attributes. */
static void put_tbs(struct der_buf *d, const struct der_buf *subject, EVP_PKEY *key,
                    const struct der_buf *attrs)
{
	static const unsigned char v0[] = {0x02, 0x01, 0x00};
	struct der_buf *c = der_new();

	put(c, v0, sizeof(v0));
	put(c, subject->b, subject->n);
	put_spki(c, key);
	put_tlv(c, 0xa0, attrs->b, attrs->n);
	put_tlv(d, 0x30, c->b, c->n);
	free(c);
}

/* The digest sign_request() signs with (not for Ed25519): SHA-256 unless a test changes it. */
static const char *sign_md = "SHA256";

/* Signs tbs (as given, whatever its encoding) with key and writes the request to out. */
static void sign_request(struct der_buf *out, const unsigned char *tbs, size_t tbs_len,
                         EVP_PKEY *key, const unsigned char *alg, size_t alg_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[600];
	size_t sig_len = sizeof(sig) - 1;
	struct der_buf *c = der_new();

	assert_non_null(ctx);
	sig[0] = 0; /* the BIT STRING's unused-bits octet */
	assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL,
	                                       EVP_PKEY_is_a(key, "ED25519") ? NULL : sign_md, NULL,
	                                       NULL, key, NULL),
	                 1);
	assert_int_equal(EVP_DigestSign(ctx, sig + 1, &sig_len, tbs, tbs_len), 1);
	put(c, tbs, tbs_len);
	put(c, alg, alg_len);
	put_tlv(c, 0x03, sig, sig_len + 1);
	put_tlv(out, 0x30, c->b, c->n);
	free(c);
	EVP_MD_CTX_free(ctx);
}

/* A P-256 request for CN=cn with the given attributes' content, signed. */
static struct der_buf *request_with(const char *cn, const struct der_buf *attrs)
{
	struct der_buf *subject = der_new(), *tbs = der_new(), *out = der_new();

	put_cn(subject, 0x0c, cn, strlen(cn));
	put_tbs(tbs, subject, key_ec, attrs);
	sign_request(out, tbs->b, tbs->n, key_ec, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	free(subject);
	free(tbs);
	return out;
}

/* A request with one subjectAltName extension holding san (GeneralNames DER), times times. */
static struct der_buf *request_with_san(const struct der_buf *san, int times)
{
	struct der_buf *attrs = der_new(), *out = NULL;

	put_ext_req(attrs, oid_ext_req, sizeof(oid_ext_req), oid_san, sizeof(oid_san), san->b,
	            san->n, times);
	out = request_with("www.example.test", attrs);
	free(attrs);
	return out;
}

/* --- checking ----------------------------------------------------------- */

/*
 * Parses buf on both paths; both must give want (and, on failure, a reason
 * holding reason). Returns the parsed request (the fast path's) or NULL.
 */
static struct dcv_csr *parse_both_at(int line, const unsigned char *buf, size_t len, int want,
                                     const char *reason)
{
	struct dcv_csr *fast = NULL, *full = NULL;
	struct dcv_why why_fast = {""}, why_full = {""};
	int rc_fast = dcv_csr_parse_ex(buf, len, 0, &fast, &why_fast);
	int rc_full = dcv_csr_parse_ex(buf, len, DCV_CSR_FULL_DECODE, &full, &why_full);

	if (rc_full != want)
		fail_msg("line %d: complete decoder: %d (%s), want %d (%s)", line, rc_full,
		         why_full.text, want, reason ? reason : "");
	if (rc_fast != rc_full)
		fail_msg("line %d: fast path %d (%s), complete decoder %d (%s)", line, rc_fast,
		         why_fast.text, rc_full, why_full.text);
	if (want < 0) {
		assert_null(fast);
		assert_string_equal(why_fast.text, why_full.text);
		if (strstr(why_full.text, reason) == NULL)
			fail_msg("line %d: reason '%s' does not say '%s'", line, why_full.text,
			         reason);
	} else {
		assert_string_equal(fast->sha256_hex, full->sha256_hex);
		assert_string_equal(fast->key_desc, full->key_desc);
		assert_int_equal(fast->n_names, full->n_names);
		assert_int_equal(fast->n_ips, full->n_ips);
		assert_int_equal(fast->n_warnings, full->n_warnings);
	}
	dcv_csr_free(full);
	return fast;
}

#define parse_both(...) parse_both_at(__LINE__, __VA_ARGS__)

/*
 * What the fast path alone says of req (p10.c): it splits, and its
 * verification gives want, with a reason holding reason (when not NULL).
 */
static void fast_verdict_at(int line, const struct der_buf *req, int want, const char *reason)
{
	struct dcv_why why = {""};
	struct p10 p;
	char desc[32];
	int rc = p10_split(req->b, req->n, &p);

	if (rc != DCV_OK)
		fail_msg("line %d: the fast path cannot split the request: %d", line, rc);
	rc = p10_verify(&p, desc, sizeof(desc), &why);
	if (rc != want)
		fail_msg("line %d: fast path %d (%s), want %d", line, rc, why.text, want);
	if (reason != NULL && strstr(why.text, reason) == NULL)
		fail_msg("line %d: reason '%s' does not say '%s'", line, why.text, reason);
}
#define fast_verdict(...) fast_verdict_at(__LINE__, __VA_ARGS__)

static bool has_warning(const struct dcv_csr *csr, const char *text)
{
	for (size_t i = 0; i < csr->n_warnings; i++)
		if (strstr(csr->warnings[i], text) != NULL)
			return true;
	return false;
}

/* --- the strict splitter ------------------------------------------------ */

/* A well-formed request first, so that the damaged ones differ in one thing only. */
static void test_split_good(void **state)
{
	struct der_buf *attrs = der_new(), *req = request_with("a.example.test", attrs);
	struct p10 p;
	struct dcv_csr *csr = NULL;
	char desc[32];
	struct dcv_why why = {""};

	assert_int_equal(p10_split(req->b, req->n, &p), DCV_OK);
	assert_int_equal(p10_verify(&p, desc, sizeof(desc), &why), DCV_OK);
	assert_string_equal(desc, "EC P-256");
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_int_equal(csr->n_names, 1);
	assert_string_equal(csr->names[0], "a.example.test");
	assert_int_equal(csr->n_warnings, 0);
	dcv_csr_free(csr);
	free(attrs);
	free(req);
}

/*
 * Lengths the splitter refuses (DCV_ENOTSUP: the complete decoder decides),
 * each in the outermost SEQUENCE's header of an otherwise good request.
 */
static void test_split_lengths(void **state)
{
	struct der_buf *attrs = der_new(), *req = request_with("a.example.test", attrs);
	const unsigned char *body = req->b + 3; /* after 30 81 LL */
	size_t body_len = req->n - 3;
	unsigned char buf[1024];
	struct p10 p;

	assert_int_equal(req->b[1], 0x81);
	assert_true(body_len + 8 <= sizeof(buf));
	/* Empty input, another tag, a tag with nothing after it. */
	assert_int_equal(p10_split(req->b, 0, &p), DCV_ENOTSUP);
	buf[0] = 0x31;
	memcpy(buf + 1, req->b + 1, req->n - 1);
	assert_int_equal(p10_split(buf, req->n, &p), DCV_ENOTSUP);
	assert_int_equal(p10_split(req->b, 1, &p), DCV_ENOTSUP);
	/* Indefinite length (0x80), more than three length octets, length octets cut off. */
	buf[0] = 0x30;
	buf[1] = 0x80;
	assert_int_equal(p10_split(buf, 2, &p), DCV_ENOTSUP);
	buf[1] = 0x84;
	assert_int_equal(p10_split(buf, 6, &p), DCV_ENOTSUP);
	buf[1] = 0x82;
	buf[2] = 0x01;
	assert_int_equal(p10_split(buf, 3, &p), DCV_ENOTSUP);
	/* A leading zero octet, and a long form for a length below 128. */
	buf[1] = 0x82;
	buf[2] = 0x00;
	buf[3] = (unsigned char)body_len;
	memcpy(buf + 4, body, body_len);
	assert_int_equal(p10_split(buf, body_len + 4, &p), DCV_ENOTSUP);
	buf[1] = 0x81;
	buf[2] = 0x05;
	assert_int_equal(p10_split(buf, 8, &p), DCV_ENOTSUP);
	/* A length past the end, and a stray byte after the request. */
	assert_int_equal(p10_split(req->b, req->n - 1, &p), DCV_ENOTSUP);
	memcpy(buf, req->b, req->n);
	buf[req->n] = 0;
	assert_int_equal(p10_split(buf, req->n + 1, &p), DCV_ENOTSUP);
	free(attrs);
	free(req);
}

/*
 * Requests with a long-form length where a short one would do: not DER,
 * but BER that OpenSSL reads. In the signed certificationRequestInfo
 * (signed as it is, and verified over the bytes given), and in the outer
 * SEQUENCE, which OpenSSL re-encodes: the fast path hands both over, both
 * paths accept them, and the second gets the warning that the hashes are
 * over the bytes given.
 */
static void test_ber_request(void **state)
{
	struct der_buf *subject = der_new(), *tbs = der_new(), *ber = der_new(), *out = der_new();
	struct der_buf *attrs = der_new();
	struct dcv_csr *csr = NULL;
	struct p10 p;

	put_cn(subject, 0x0c, "ber.example.test", 16);
	put_tbs(tbs, subject, key_ec, attrs);
	/* tbs is 30 LL ... (LL < 128): write it as 30 81 LL ... */
	assert_true(tbs->b[1] < 0x80);
	put(ber, (const unsigned char[]){0x30, 0x81}, 2);
	put(ber, tbs->b + 1, tbs->n - 1);
	sign_request(out, ber->b, ber->n, key_ec, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	assert_int_equal(p10_split(out->b, out->n, &p), DCV_ENOTSUP);
	csr = parse_both(out->b, out->n, DCV_OK, NULL);
	assert_string_equal(csr->names[0], "ber.example.test");
	dcv_csr_free(csr);
	/* out is 30 81 LL ...: write it as 30 82 00 LL ... */
	assert_int_equal(out->b[1], 0x81);
	ber->n = 0;
	put(ber, (const unsigned char[]){0x30, 0x82, 0x00}, 3);
	put(ber, out->b + 2, out->n - 2);
	assert_int_equal(p10_split(ber->b, ber->n, &p), DCV_ENOTSUP);
	csr = parse_both(ber->b, ber->n, DCV_OK, NULL);
	assert_true(has_warning(csr, "not in canonical DER"));
	assert_int_equal(csr->der_len, ber->n);
	dcv_csr_free(csr);
	free(subject);
	free(tbs);
	free(ber);
	free(out);
	free(attrs);
}

/* Trailing bytes after a request: refused by name and count, on both paths. */
static void test_stray_bytes(void **state)
{
	struct der_buf *attrs = der_new(), *req = request_with("a.example.test", attrs);

	put(req, "\x05\x00\x05", 3);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ECSR, "3 stray bytes after the request"));
	free(attrs);
	free(req);
}

/*
 * Shapes of the outer request the splitter refuses: a signature BIT STRING
 * with unused bits, a version other than 0, no attributes field. OpenSSL's
 * decoder then decides, and the test says what it must decide.
 */
static void test_split_shapes(void **state)
{
	struct der_buf *subject = der_new(), *attrs = der_new(), *tbs = der_new();
	struct der_buf *out = der_new(), *c = der_new();
	struct p10 p;
	unsigned char sig[] = {0x07, 0x00};
	size_t at = 0;

	put_cn(subject, 0x0c, "a.example.test", 14);
	put_tbs(tbs, subject, key_ec, attrs);
	/* Signature BIT STRING claiming 7 unused bits: OpenSSL's verification refuses it. */
	put(c, tbs->b, tbs->n);
	put(c, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	put_tlv(c, 0x03, sig, sizeof(sig));
	put_tlv(out, 0x30, c->b, c->n);
	assert_int_equal(p10_split(out->b, out->n, &p), DCV_ENOTSUP);
	dcv_csr_free(parse_both(out->b, out->n, DCV_ESIG, "signature does not verify"));
	/* Version 1: the splitter takes version 0 only. */
	at = (size_t)(tbs->b[1] == 0x81 ? 3 : 2) + 2;
	assert_int_equal(tbs->b[at], 0x00);
	tbs->b[at] = 0x01;
	out->n = 0;
	sign_request(out, tbs->b, tbs->n, key_ec, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	assert_int_equal(p10_split(out->b, out->n, &p), DCV_ENOTSUP);
	dcv_csr_free(parse_both(out->b, out->n, DCV_OK, NULL));
	/* Signature without its unused-bits octet (an empty BIT STRING). */
	c->n = 0;
	out->n = 0;
	put(c, tbs->b, tbs->n);
	put(c, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	put_tlv(c, 0x03, sig, 0);
	put_tlv(out, 0x30, c->b, c->n);
	assert_int_equal(p10_split(out->b, out->n, &p), DCV_ENOTSUP);
	dcv_csr_free(parse_both(out->b, out->n, DCV_ECSR,
	                        "malformed certificate signing request (bad DER)"));
	free(subject);
	free(attrs);
	free(tbs);
	free(out);
	free(c);
}

/* --- keys and algorithms ------------------------------------------------- */

/* A request over an arbitrary SubjectPublicKeyInfo (spki DER), signed with key and alg. */
static struct der_buf *request_spki(const struct der_buf *spki, EVP_PKEY *key,
                                    const unsigned char *alg, size_t alg_len)
{
	static const unsigned char v0[] = {0x02, 0x01, 0x00};
	struct der_buf *subject = der_new(), *c = der_new(), *tbs = der_new(), *out = der_new();

	put_cn(subject, 0x0c, "key.example.test", 16);
	put(c, v0, sizeof(v0));
	put(c, subject->b, subject->n);
	put(c, spki->b, spki->n);
	put_tlv(c, 0xa0, "", 0);
	put_tlv(tbs, 0x30, c->b, c->n);
	sign_request(out, tbs->b, tbs->n, key, alg, alg_len);
	free(subject);
	free(c);
	free(tbs);
	return out;
}

/* SubjectPublicKeyInfo { alg, BIT STRING { 0, bits } }. */
static void put_spki_raw(struct der_buf *d, const unsigned char *alg, size_t alg_len,
                         const unsigned char *bits, size_t bits_len)
{
	struct der_buf *c = der_new(), *b = der_new();

	put(b, "", 1);
	put(b, bits, bits_len);
	put(c, alg, alg_len);
	put_tlv(c, 0x03, b->b, b->n);
	put_tlv(d, 0x30, c->b, c->n);
	free(c);
	free(b);
}

/* Keys that do not decode: each path says so, the fast one through the complete one. */
static void test_undecodable_keys(void **state)
{
	static const unsigned char alg_ec_p256[] = {0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
	                                            0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
	                                            0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const unsigned char alg_rsa[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	                                        0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
	static const unsigned char alg_ed[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};
	/* An EC point that is not on the curve, an RSA key that is no SEQUENCE, a short Ed25519
	 * key. */
	unsigned char point[65] = {0x04, 1, 2, 3};
	static const unsigned char not_rsa[] = {0x02, 0x01, 0x05};
	static const unsigned char short_ed[16] = {1};
	const struct {
		const unsigned char *alg;
		size_t alg_len;
		const unsigned char *bits;
		size_t bits_len;
		EVP_PKEY *signer;
		const unsigned char *sig_alg;
		size_t sig_alg_len;
	} cases[] = {
	    {alg_ec_p256, sizeof(alg_ec_p256), point, sizeof(point), key_ec, alg_ecdsa_sha256,
	     sizeof(alg_ecdsa_sha256)},
	    {alg_rsa, sizeof(alg_rsa), not_rsa, sizeof(not_rsa), key_rsa, alg_rsa_sha256,
	     sizeof(alg_rsa_sha256)},
	    {alg_ed, sizeof(alg_ed), short_ed, sizeof(short_ed), key_ed, alg_ed25519,
	     sizeof(alg_ed25519)},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct der_buf *spki = der_new(), *req = NULL;

		put_spki_raw(spki, cases[i].alg, cases[i].alg_len, cases[i].bits,
		             cases[i].bits_len);
		req = request_spki(spki, cases[i].signer, cases[i].sig_alg, cases[i].sig_alg_len);
		fast_verdict(req, DCV_ECSR, "public key cannot be decoded");
		dcv_csr_free(parse_both(req->b, req->n, DCV_ECSR, "public key cannot be decoded"));
		free(spki);
		free(req);
	}
}

/*
 * Algorithm combinations the fast path does not take (DCV_ENOTSUP), and
 * what the complete decoder makes of each.
 */
static void test_other_algorithms(void **state)
{
	static const unsigned char alg_rsa_params[] = {0x30, 0x0e, 0x06, 0x09, 0x2a, 0x86,
	                                               0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
	                                               0x0b, 0x02, 0x01, 0x00};
	static const unsigned char alg_ecdsa_params[] = {0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48,
	                                                 0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00};
	static const unsigned char alg_ed_params[] = {0x30, 0x07, 0x06, 0x03, 0x2b,
	                                              0x65, 0x70, 0x05, 0x00};
	static const unsigned char alg_no_oid[] = {0x30, 0x02, 0x05, 0x00};
	struct der_buf *spki = der_new(), *req = NULL;
	struct dcv_csr *csr = NULL;

	/* secp256k1: a curve the fast path does not know; the CA will not take it. */
	put_spki(spki, key_k1);
	req = request_spki(spki, key_k1, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_string_equal(csr->key_desc, "EC secp256k1");
	assert_true(has_warning(csr, "EC secp256k1 key: the CA accepts RSA and ECDSA"));
	dcv_csr_free(csr);
	free(req);

	/* RSA 1024, signed with SHA-256: fast path, with the CA's minimum as a warning. */
	spki->n = 0;
	put_spki(spki, key_rsa);
	req = request_spki(spki, key_rsa, alg_rsa_sha256, sizeof(alg_rsa_sha256));
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_string_equal(csr->key_desc, "RSA 1024");
	assert_true(has_warning(csr, "RSA key of 1024 bits: the CA requires at least 2048"));
	dcv_csr_free(csr);
	free(req);

	/*
	 * RSA with parameters in the signature's identifier that are not NULL:
	 * the fast path leaves it to OpenSSL, which ignores them.
	 */
	req = request_spki(spki, key_rsa, alg_rsa_params, sizeof(alg_rsa_params));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_string_equal(csr->key_desc, "RSA 1024");
	dcv_csr_free(csr);
	free(req);

	/* ECDSA with NULL parameters (RFC 5758: absent): left to OpenSSL, which takes them. */
	spki->n = 0;
	put_spki(spki, key_ec);
	req = request_spki(spki, key_ec, alg_ecdsa_params, sizeof(alg_ecdsa_params));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_string_equal(csr->key_desc, "EC P-256");
	dcv_csr_free(csr);
	free(req);

	/* An EC key under an RSA signature identifier, and an RSA key signed "by" Ed25519. */
	req = request_spki(spki, key_rsa, alg_rsa_sha256, sizeof(alg_rsa_sha256));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ESIG, "signature does not verify"));
	free(req);
	spki->n = 0;
	put_spki(spki, key_rsa);
	req = request_spki(spki, key_ed, alg_ed25519, sizeof(alg_ed25519));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ESIG, "signature does not verify"));
	free(req);

	/* Ed25519 with NULL parameters, which RFC 8410 forbids: left to OpenSSL, which takes them.
	 */
	spki->n = 0;
	put_spki(spki, key_ed);
	req = request_spki(spki, key_ed, alg_ed_params, sizeof(alg_ed_params));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_string_equal(csr->key_desc, "Ed25519");
	dcv_csr_free(csr);
	free(req);

	/* A signature identifier without an OID: not a request OpenSSL reads. */
	req = request_spki(spki, key_ed, alg_no_oid, sizeof(alg_no_oid));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ECSR, "malformed certificate signing request"));
	free(req);
	free(spki);
}

/* --- attributes and subjectAltName --------------------------------------- */

static void test_attributes(void **state)
{
	struct der_buf *attrs = der_new(), *req = NULL, *san = der_new();
	struct dcv_csr *csr = NULL;
	static const unsigned char integer[] = {0x02, 0x01, 0x07};
	static const unsigned char oid_challenge[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	                                              0xf7, 0x0d, 0x01, 0x09, 0x07};
	static const unsigned char challenge[] = {0x0c, 0x03, 'a', 'b', 'c'};

	/* Only Microsoft's msExtReq, after another attribute: its names are read. */
	san_one(san, 0x82, "ms.example.test", 15);
	put_attr(attrs, oid_challenge, sizeof(oid_challenge), challenge, sizeof(challenge));
	put_ext_req(attrs, oid_ms_ext_req, sizeof(oid_ms_ext_req), oid_san, sizeof(oid_san), san->b,
	            san->n, 1);
	req = request_with("cn.example.test", attrs);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_int_equal(csr->n_names, 2);
	assert_string_equal(csr->names[1], "ms.example.test");
	dcv_csr_free(csr);
	free(req);

	/* An extensionRequest whose value is an INTEGER, not a SEQUENCE of extensions. */
	attrs->n = 0;
	put_attr(attrs, oid_ext_req, sizeof(oid_ext_req), integer, sizeof(integer));
	req = request_with("cn.example.test", attrs);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ECSR, "bad attributes"));
	free(req);

	/* An attribute that is no SEQUENCE, and one without its SET of values. */
	attrs->n = 0;
	put(attrs, integer, sizeof(integer));
	req = request_with("cn.example.test", attrs);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ECSR, "malformed certificate signing request"));
	free(req);
	attrs->n = 0;
	put_tlv(attrs, 0x30, oid_ext_req, sizeof(oid_ext_req));
	req = request_with("cn.example.test", attrs);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ECSR, "malformed certificate signing request"));
	free(req);
	free(attrs);
	free(san);
}

static void test_san_kinds(void **state)
{
	static const unsigned char ip_odd[] = {192, 0, 2};
	static const unsigned char other_name[] = {0x06, 0x03, 0x2a, 0x03, 0x04,
	                                           0xa0, 0x03, 0x0c, 0x01, 'x'};
	const struct {
		unsigned char tag;
		const void *c;
		size_t n;
		const char *warning;
	} cases[] = {
	    {0x81, "admin@example.test", 18, "subjectAltName e-mail address ignored"},
	    {0x86, "https://example.test/", 21, "subjectAltName URI ignored"},
	    {0xa0, other_name, sizeof(other_name), "subjectAltName entry of another kind ignored"},
	    {0x87, ip_odd, sizeof(ip_odd), "subjectAltName IP address of odd length ignored"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct der_buf *san = der_new(), *req = NULL;
		struct dcv_csr *csr = NULL;

		san_one(san, cases[i].tag, cases[i].c, cases[i].n);
		req = request_with_san(san, 1);
		csr = parse_both(req->b, req->n, DCV_OK, NULL);
		assert_true(has_warning(csr, cases[i].warning));
		/* The CN is still the one name. */
		assert_int_equal(csr->n_names, 1);
		assert_string_equal(csr->names[0], "www.example.test");
		assert_int_equal(csr->n_ips, 0);
		dcv_csr_free(csr);
		free(san);
		free(req);
	}
}

static void test_san_names(void **state)
{
	struct der_buf *san = der_new(), *names = der_new(), *req = NULL;
	struct dcv_csr *csr = NULL;

	/* A trailing dot is dropped, upper case lowered, an empty name and "." skipped or kept. */
	put_tlv(names, 0x82, "Mail.Example.TEST.", 18);
	put_tlv(names, 0x82, "", 0);
	put_tlv(names, 0x82, "www.example.test", 16);
	put_tlv(names, 0x87, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	put_tlv(san, 0x30, names->b, names->n);
	req = request_with_san(san, 1);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_int_equal(csr->n_names, 2);
	assert_string_equal(csr->names[0], "www.example.test");
	assert_string_equal(csr->names[1], "mail.example.test");
	assert_int_equal(csr->n_ips, 1);
	assert_string_equal(csr->ips[0], "2001:db8::1");
	dcv_csr_free(csr);
	free(req);

	/* A NUL byte inside a dNSName. */
	san->n = 0;
	names->n = 0;
	put_tlv(names, 0x82, "evil.test\0.example.test", 23);
	put_tlv(names, 0x82, "after.example.test", 18);
	put_tlv(san, 0x30, names->b, names->n);
	req = request_with_san(san, 1);
	dcv_csr_free(
	    parse_both(req->b, req->n, DCV_ENAME, "a name in the request contains a NUL byte"));
	free(req);

	/* Two subjectAltName extensions, and one whose content is no GeneralNames. */
	san->n = 0;
	san_one(san, 0x82, "a.example.test", 14);
	req = request_with_san(san, 2);
	dcv_csr_free(
	    parse_both(req->b, req->n, DCV_ECSR, "subjectAltName extension appears twice"));
	free(req);
	san->n = 0;
	put_tlv(san, 0x02, "\x01", 1);
	req = request_with_san(san, 1);
	dcv_csr_free(
	    parse_both(req->b, req->n, DCV_ECSR, "subjectAltName extension cannot be decoded"));
	free(req);
	free(san);
	free(names);
}

/* Common names: IPv6, too long to be an address, a type that is no string. */
static void test_subject_cn(void **state)
{
	struct der_buf *attrs = der_new(), *subject = der_new(), *tbs = der_new(), *out = NULL;
	struct dcv_csr *csr = NULL;
	char long_cn[80];

	out = request_with("2001:db8::53", attrs);
	csr = parse_both(out->b, out->n, DCV_OK, NULL);
	assert_int_equal(csr->n_names, 0);
	assert_int_equal(csr->n_ips, 1);
	assert_string_equal(csr->ips[0], "2001:db8::53");
	dcv_csr_free(csr);
	free(out);
	memset(long_cn, 'a', 60);
	strcpy(long_cn + 60, ".example.test");
	out = request_with(long_cn, attrs);
	csr = parse_both(out->b, out->n, DCV_OK, NULL);
	assert_string_equal(csr->names[0], long_cn);
	dcv_csr_free(csr);
	free(out);

	/* CN as a BIT STRING: a Name decodes it, but it converts to no text. */
	out = der_new();
	put_cn(subject, 0x03, "\0x.example.test", 15);
	put_tbs(tbs, subject, key_ec, attrs);
	sign_request(out, tbs->b, tbs->n, key_ec, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	dcv_csr_free(parse_both(out->b, out->n, DCV_ECSR, "subject CN is not a readable string"));
	free(out);

	/* CN as a BMPString of odd length: the name does not decode at all. */
	out = der_new();
	subject->n = tbs->n = 0;
	put_cn(subject, 0x1e, "abc", 3);
	put_tbs(tbs, subject, key_ec, attrs);
	sign_request(out, tbs->b, tbs->n, key_ec, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	dcv_csr_free(parse_both(out->b, out->n, DCV_ECSR, "malformed certificate signing request"));
	free(out);
	free(attrs);
	free(subject);
	free(tbs);
}

/* --- PEM and other inputs ------------------------------------------------ */

/* PEM text of type type over der. */
static size_t pem_of(char *out, size_t size, const char *type, const unsigned char *der, size_t len)
{
	unsigned char b64[8192];
	int n = EVP_EncodeBlock(b64, der, (int)len);
	int w = snprintf(out, size, "-----BEGIN %s-----\n%s\n-----END %s-----\n", type, b64, type);

	assert_true(n > 0 && w > 0 && (size_t)w < size);
	return (size_t)w;
}

static void test_pem_kinds(void **state)
{
	static const struct {
		const char *type;
		const char *reason;
	} cases[] = {
	    {"PUBLIC KEY", "is a public key, not a certificate signing request"},
	    {"PKCS7", "is a PKCS#7 bundle, not"},
	    {"CMS", "is a PKCS#7 bundle, not"},
	    {"X509 CRL", "is a certificate revocation list, not"},
	    {"TRUSTED CERTIFICATE", "is a certificate, not"},
	    {"WEIRD THING", "holds a PEM block of type 'WEIRD THING', not a certificate"},
	};
	char text[8192];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n =
		    pem_of(text, sizeof(text), cases[i].type, (const unsigned char *)"abc", 3);
		dcv_csr_free(parse_both((unsigned char *)text, n, DCV_ENOTCSR, cases[i].reason));
	}
}

/* A request in PEM between other text and another block; then the second block is what names it. */
static void test_pem_mixed(void **state)
{
	struct der_buf *attrs = der_new(), *req = request_with("pem.example.test", attrs);
	char text[16384], *at = text;
	struct dcv_csr *csr = NULL;

	at += sprintf(at, "Subject: our request\r\nsome words first\n");
	at += pem_of(at, sizeof(text) - 200, "WEIRD THING", (const unsigned char *)"abc", 3);
	at += pem_of(at, sizeof(text) - (size_t)(at - text), "PUBLIC KEY",
	             (const unsigned char *)"abc", 3);
	at += pem_of(at, sizeof(text) - (size_t)(at - text), "CERTIFICATE REQUEST", req->b, req->n);
	at += sprintf(at, "-- \nthanks\n");
	csr = parse_both((unsigned char *)text, (size_t)(at - text), DCV_OK, NULL);
	assert_string_equal(csr->names[0], "pem.example.test");
	dcv_csr_free(csr);
	/* Without the request: the first block of a known kind names the refusal. */
	at = text;
	at += pem_of(at, sizeof(text), "WEIRD THING", (const unsigned char *)"abc", 3);
	at += pem_of(at, sizeof(text) - (size_t)(at - text), "PUBLIC KEY",
	             (const unsigned char *)"abc", 3);
	dcv_csr_free(parse_both((unsigned char *)text, (size_t)(at - text), DCV_ENOTCSR,
	                        "is a public key, not a certificate signing request"));
	free(attrs);
	free(req);
}

/* DER that is a key, not a request; and input over the size limit. */
static void test_der_kinds(void **state)
{
	unsigned char *der = NULL, *big = NULL;
	int n = i2d_PUBKEY(key_ec, &der);

	assert_true(n > 0);
	dcv_csr_free(parse_both(der, (size_t)n, DCV_ENOTCSR, "is a public key, not a certificate"));
	OPENSSL_free(der);
	der = NULL;
	n = i2d_PrivateKey(key_ec, &der);
	assert_true(n > 0);
	dcv_csr_free(
	    parse_both(der, (size_t)n, DCV_ENOTCSR, "is a private key, not a certificate"));
	OPENSSL_free(der);
	big = calloc(1, DCV_CSR_MAX_FILE + 1);
	assert_non_null(big);
	big[0] = 0x30;
	dcv_csr_free(
	    parse_both(big, DCV_CSR_MAX_FILE + 1, DCV_ETOOBIG, "larger than the limit of 65536"));
	free(big);
}

/* --- the splitter's fields, one at a time ---------------------------------- */

/* outer SEQUENCE { SEQUENCE { tbs_content }, then tail as given }. */
static struct der_buf *request_raw(const struct der_buf *tbs_content, const void *tail,
                                   size_t tail_len)
{
	struct der_buf *c = der_new(), *out = der_new();

	put_tlv(c, 0x30, tbs_content->b, tbs_content->n);
	put(c, tail, tail_len);
	put_tlv(out, 0x30, c->b, c->n);
	free(c);
	return out;
}

/*
 * Each field of the request in a shape the splitter does not take: it
 * says DCV_ENOTSUP, and OpenSSL's decoder finds the request malformed --
 * or, for a request without attributes, which it reads (old requests had
 * none), finds that the made-up signature does not verify.
 */
static void test_split_fields(void **state)
{
	static const unsigned char v0[] = {0x02, 0x01, 0x00}, v0_long[] = {0x02, 0x02, 0x00, 0x00};
	static const unsigned char attrs0[] = {0xa0, 0x00}, null[] = {0x05, 0x00};
	static const unsigned char sig_ok[] = {0x03, 0x02, 0x00, 0x01};
	unsigned char *spki = NULL;
	int spki_len = i2d_PUBKEY(key_ec, &spki);
	struct der_buf *subject = der_new(), *tail = der_new();
	/* A P-256 SubjectPublicKeyInfo: 30 59 | alg (21 octets) | 03 42 00 point (68 octets). */
	const unsigned char *alg = spki + 2, *bits = spki + 23;
	enum { VERSION, SUBJECT, SPKI, ATTRS, N_FIELDS };
	struct {
		const char *what;
		int want;
		const void *field[N_FIELDS];
		size_t len[N_FIELDS];
		const void *extra;
		size_t extra_len;
	} cases[] = {
	    {"version of two octets",
	     DCV_ECSR,
	     {v0_long, NULL, NULL, attrs0},
	     {4, 0, 0, 2},
	     NULL,
	     0},
	    {"no version", DCV_ECSR, {null, NULL, NULL, attrs0}, {2, 0, 0, 2}, NULL, 0},
	    {"subject no SEQUENCE", DCV_ECSR, {v0, null, NULL, attrs0}, {3, 2, 0, 2}, NULL, 0},
	    {"key no SEQUENCE", DCV_ECSR, {v0, NULL, null, attrs0}, {3, 0, 2, 2}, NULL, 0},
	    {"no attributes", DCV_ESIG, {v0, NULL, NULL, NULL}, {3, 0, 0, 0}, NULL, 0},
	    {"bytes after the attributes",
	     DCV_ECSR,
	     {v0, NULL, NULL, attrs0},
	     {3, 0, 0, 2},
	     null,
	     2},
	};
	struct p10 p;

	assert_int_equal(spki_len, 91);
	assert_int_equal(alg[0], 0x30);
	assert_int_equal(bits[0], 0x03);
	put_cn(subject, 0x0c, "f.example.test", 14);
	put(tail, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	put(tail, sig_ok, sizeof(sig_ok));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct der_buf *tbs = der_new(), *req = NULL;

		for (int f = 0; f < N_FIELDS; f++) {
			if (cases[i].field[f] != NULL)
				put(tbs, cases[i].field[f], cases[i].len[f]);
			else if (f == SUBJECT)
				put(tbs, subject->b, subject->n);
			else if (f == SPKI)
				put(tbs, spki, (size_t)spki_len);
		}
		put(tbs, cases[i].extra, cases[i].extra_len);
		req = request_raw(tbs, tail->b, tail->n);
		if (p10_split(req->b, req->n, &p) != DCV_ENOTSUP)
			fail_msg("%s: the splitter takes it", cases[i].what);
		dcv_csr_free(parse_both(req->b, req->n, cases[i].want,
		                        cases[i].want == DCV_ECSR
		                            ? "malformed certificate signing request"
		                            : "signature does not verify"));
		free(tbs);
		free(req);
	}

	/* The key's parts: no algorithm SEQUENCE, no BIT STRING, unused bits, bytes after. */
	static const unsigned char bits_unused[] = {0x03, 0x02, 0x04, 0x10};
	const struct {
		const char *what;
		const void *a;
		size_t a_len;
		const void *b;
		size_t b_len;
		const void *extra;
		size_t extra_len;
	} keys[] = {
	    {"algorithm no SEQUENCE", null, 2, bits, 68, NULL, 0},
	    {"key no BIT STRING", alg, 21, null, 2, NULL, 0},
	    {"key with unused bits", alg, 21, bits_unused, 4, NULL, 0},
	    {"bytes after the key", alg, 21, bits, 68, null, 2},
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct der_buf *tbs = der_new(), *k = der_new(), *req = NULL;
		put(k, keys[i].a, keys[i].a_len);
		put(k, keys[i].b, keys[i].b_len);
		put(k, keys[i].extra, keys[i].extra_len);
		put(tbs, v0, sizeof(v0));
		put(tbs, subject->b, subject->n);
		put_tlv(tbs, 0x30, k->b, k->n);
		put(tbs, attrs0, sizeof(attrs0));
		req = request_raw(tbs, tail->b, tail->n);
		if (p10_split(req->b, req->n, &p) != DCV_ENOTSUP)
			fail_msg("%s: the splitter takes it", keys[i].what);
		free(tbs);
		free(k);
		free(req);
	}

	/* The outer parts: no signature algorithm SEQUENCE, no BIT STRING, bytes after. */
	const struct {
		const char *what;
		const void *t;
		size_t t_len;
	} outers[] = {
	    {"signature algorithm no SEQUENCE", "\x05\x00\x03\x02\x00\x01", 6},
	    {"signature no BIT STRING", "\x30\x00\x05\x00", 4},
	    {"bytes after the signature", "\x30\x00\x03\x02\x00\x01\x05\x00", 8},
	};
	for (size_t i = 0; i < sizeof(outers) / sizeof(outers[0]); i++) {
		struct der_buf *tbs = der_new(), *req = NULL;
		put(tbs, v0, sizeof(v0));
		put(tbs, subject->b, subject->n);
		put(tbs, spki, (size_t)spki_len);
		put(tbs, attrs0, sizeof(attrs0));
		req = request_raw(tbs, outers[i].t, outers[i].t_len);
		if (p10_split(req->b, req->n, &p) != DCV_ENOTSUP)
			fail_msg("%s: the splitter takes it", outers[i].what);
		dcv_csr_free(
		    parse_both(req->b, req->n, DCV_ECSR, "malformed certificate signing request"));
		free(tbs);
		free(req);
	}
	OPENSSL_free(spki);
	free(subject);
	free(tail);
}

/* A test that changes sign_md gets SHA-256 back after it, failed or not. */
static int reset_sign_md(void **state)
{
	sign_md = "SHA256";
	return 0;
}

/* Digests and key parameters the fast path leaves to OpenSSL, and what OpenSSL says. */
static void test_digests_and_params(void **state)
{
	static const unsigned char alg_rsa_md5[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	                                            0xf7, 0x0d, 0x01, 0x01, 0x04, 0x05, 0x00};
	static const unsigned char alg_rsa_sha3[] = {0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48,
	                                             0x01, 0x65, 0x03, 0x04, 0x03, 0x0e};
	static const unsigned char alg_ecdsa_sha3[] = {0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48,
	                                               0x01, 0x65, 0x03, 0x04, 0x03, 0x0a};
	static const unsigned char alg_ec_none[] = {0x30, 0x09, 0x06, 0x07, 0x2a, 0x86,
	                                            0x48, 0xce, 0x3d, 0x02, 0x01};
	static const unsigned char alg_rsa_int[] = {0x30, 0x0e, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	                                            0xf7, 0x0d, 0x01, 0x01, 0x01, 0x02, 0x01, 0x00};
	static const unsigned char alg_ed_null[] = {0x30, 0x07, 0x06, 0x03, 0x2b,
	                                            0x65, 0x70, 0x05, 0x00};
	static const unsigned char alg_no_oid[] = {0x30, 0x02, 0x05, 0x00};
	struct der_buf *spki = der_new(), *req = NULL;
	struct dcv_csr *csr = NULL;
	unsigned char *raw = NULL;
	int raw_len = 0;
	EVP_PKEY *p521 = EVP_EC_gen("P-521");

	/*
	 * RSA signed with MD5 (OpenSSL's decoder still takes it), and with
	 * SHA3-256: digests the fast path does not take.
	 */
	put_spki(spki, key_rsa);
	sign_md = "MD5";
	req = request_spki(spki, key_rsa, alg_rsa_md5, sizeof(alg_rsa_md5));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_string_equal(csr->key_desc, "RSA 1024");
	dcv_csr_free(csr);
	free(req);
	sign_md = "SHA3-256";
	req = request_spki(spki, key_rsa, alg_rsa_sha3, sizeof(alg_rsa_sha3));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	dcv_csr_free(parse_both(req->b, req->n, DCV_OK, NULL));
	free(req);
	spki->n = 0;
	put_spki(spki, key_ec);
	/* ECDSA with SHA3-256: OpenSSL 3.0 knows no signature algorithm by that OID, nor do we. */
	req = request_spki(spki, key_ec, alg_ecdsa_sha3, sizeof(alg_ecdsa_sha3));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ESIG, "signature does not verify"));
	free(req);
	sign_md = "SHA256";

	/* P-521: the fast path's third curve. */
	assert_non_null(p521);
	spki->n = 0;
	put_spki(spki, p521);
	req = request_spki(spki, p521, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	fast_verdict(req, DCV_OK, NULL);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_string_equal(csr->key_desc, "EC P-521");
	assert_int_equal(csr->n_warnings, 0);
	dcv_csr_free(csr);
	free(req);
	EVP_PKEY_free(p521);

	/* An EC key without its curve: no key OpenSSL can build. */
	raw_len = i2d_PublicKey(key_ec, &raw);
	assert_int_equal(raw_len, 65);
	spki->n = 0;
	put_spki_raw(spki, alg_ec_none, sizeof(alg_ec_none), raw, (size_t)raw_len);
	req = request_spki(spki, key_ec, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ECSR, "public key cannot be decoded"));
	free(req);
	OPENSSL_free(raw);
	raw = NULL;

	/* An RSA key with an INTEGER as parameters, and with a byte after the key. */
	raw_len = i2d_PublicKey(key_rsa, &raw);
	assert_true(raw_len > 0 && raw_len < 300);
	spki->n = 0;
	put_spki_raw(spki, alg_rsa_int, sizeof(alg_rsa_int), raw, (size_t)raw_len);
	req = request_spki(spki, key_rsa, alg_rsa_sha256, sizeof(alg_rsa_sha256));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	dcv_csr_free(parse_both(req->b, req->n, DCV_OK, NULL));
	free(req);
	{
		unsigned char longer[300];
		static const unsigned char alg_rsa[] = {0x30, 0x0d, 0x06, 0x09, 0x2a,
		                                        0x86, 0x48, 0x86, 0xf7, 0x0d,
		                                        0x01, 0x01, 0x01, 0x05, 0x00};
		memcpy(longer, raw, (size_t)raw_len);
		longer[raw_len] = 0;
		spki->n = 0;
		put_spki_raw(spki, alg_rsa, sizeof(alg_rsa), longer, (size_t)raw_len + 1);
		req = request_spki(spki, key_rsa, alg_rsa_sha256, sizeof(alg_rsa_sha256));
		fast_verdict(req, DCV_ECSR, "RSA public key cannot be decoded");
		/* The strict reading defers to OpenSSL's, which overlooks the byte. */
		dcv_csr_free(parse_both(req->b, req->n, DCV_OK, NULL));
		free(req);
	}
	OPENSSL_free(raw);
	raw = NULL;

	/* Ed25519: a key with parameters; an ECDSA signature identifier; a wrong signature. */
	{
		unsigned char ed[32];
		size_t ed_len = sizeof(ed);
		assert_int_equal(EVP_PKEY_get_raw_public_key(key_ed, ed, &ed_len), 1);
		spki->n = 0;
		put_spki_raw(spki, alg_ed_null, sizeof(alg_ed_null), ed, ed_len);
		req = request_spki(spki, key_ed, alg_ed25519, sizeof(alg_ed25519));
		fast_verdict(req, DCV_ENOTSUP, NULL);
		dcv_csr_free(parse_both(req->b, req->n, DCV_ECSR, "public key cannot be decoded"));
		free(req);
	}
	spki->n = 0;
	put_spki(spki, key_ed);
	req = request_spki(spki, key_ec, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ESIG, "signature does not verify"));
	free(req);
	req = request_spki(spki, key_ed, alg_ed25519, sizeof(alg_ed25519));
	req->b[req->n - 1] ^= 0x01;
	fast_verdict(req, DCV_ESIG, "signature does not verify");
	dcv_csr_free(parse_both(req->b, req->n, DCV_ESIG, "signature does not verify"));
	free(req);

	/* A key algorithm identifier without an OID. */
	spki->n = 0;
	put_spki_raw(spki, alg_no_oid, sizeof(alg_no_oid), (const unsigned char *)"\x01", 1);
	req = request_spki(spki, key_ec, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ECSR, "malformed certificate signing request"));
	free(req);
	free(spki);
}

/* Extension requests that hold no extensions, or a value that is not one. */
static void test_ext_values(void **state)
{
	static const unsigned char seq_int[] = {0x30, 0x03, 0x02, 0x01, 0x07};
	struct der_buf *attrs = der_new(), *req = NULL, *a = der_new();
	struct dcv_csr *csr = NULL;

	/* extensionRequest with an empty SET of values: no extensions, the CN only. */
	put(a, oid_ext_req, sizeof(oid_ext_req));
	put_tlv(a, 0x31, "", 0);
	put_tlv(attrs, 0x30, a->b, a->n);
	req = request_with("e.example.test", attrs);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_int_equal(csr->n_names, 1);
	dcv_csr_free(csr);
	free(req);
	/* A SEQUENCE holding an INTEGER where the extensions should be. */
	attrs->n = 0;
	put_attr(attrs, oid_ext_req, sizeof(oid_ext_req), seq_int, sizeof(seq_int));
	req = request_with("e.example.test", attrs);
	dcv_csr_free(parse_both(req->b, req->n, DCV_ECSR, "bad attributes"));
	free(req);
	free(attrs);
	free(a);
}

/* PEM text of other shapes; common names that are empty or hold a NUL. */
static void test_pem_and_cn_edges(void **state)
{
	char text[4096], *at = text;
	struct der_buf *attrs = der_new(), *req = NULL;
	struct dcv_csr *csr = NULL;

	at += pem_of(at, sizeof(text), "X509 CERTIFICATE", (const unsigned char *)"abc", 3);
	dcv_csr_free(parse_both((unsigned char *)text, (size_t)(at - text), DCV_ENOTCSR,
	                        "is a certificate, not a certificate signing request"));
	/* A known kind first, an unknown one after: the known one names the refusal. */
	at = text;
	at += pem_of(at, sizeof(text), "PUBLIC KEY", (const unsigned char *)"abc", 3);
	at += pem_of(at, sizeof(text) - (size_t)(at - text), "WEIRD THING",
	             (const unsigned char *)"abc", 3);
	dcv_csr_free(parse_both((unsigned char *)text, (size_t)(at - text), DCV_ENOTCSR,
	                        "is a public key, not a certificate signing request"));
	/* A BEGIN line that is no PEM header at all. */
	at = text + sprintf(text, "see -----BEGIN here, nothing else\n");
	dcv_csr_free(parse_both((unsigned char *)text, (size_t)(at - text), DCV_ENOTCSR,
	                        "no '-----BEGIN CERTIFICATE REQUEST-----' block found"));

	/* An empty CN next to a SAN name; a CN with a NUL byte. */
	put_ext_req(attrs, oid_ext_req, sizeof(oid_ext_req), oid_san, sizeof(oid_san),
	            "\x30\x10\x82\x0e"
	            "s.example.test",
	            18, 1);
	req = request_with("", attrs);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_int_equal(csr->n_names, 1);
	assert_string_equal(csr->names[0], "s.example.test");
	dcv_csr_free(csr);
	free(req);
	{
		struct der_buf *subject = der_new(), *tbs = der_new(), *out = der_new();
		put_cn(subject, 0x0c, "a\0b.example.test", 16);
		put_tbs(tbs, subject, key_ec, attrs);
		sign_request(out, tbs->b, tbs->n, key_ec, alg_ecdsa_sha256,
		             sizeof(alg_ecdsa_sha256));
		dcv_csr_free(parse_both(out->b, out->n, DCV_ENAME, "contains a NUL byte"));
		free(subject);
		free(tbs);
		free(out);
	}
	free(attrs);
}

/*
 * Keys only the complete decoder takes: DSA (the CA refuses it), and an
 * EC key with explicit curve parameters (no curve OID for the fast path
 * to look up; OpenSSL recognises P-256 by them).
 */
static void test_other_keys(void **state)
{
	static const unsigned char alg_dsa_sha256[] = {0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48,
	                                               0x01, 0x65, 0x03, 0x04, 0x03, 0x02};
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL);
	EVP_PKEY *params = NULL, *dsa = NULL, *explicit_ec = NULL;
	struct der_buf *spki = der_new(), *req = NULL;
	struct dcv_csr *csr = NULL;
	OSSL_PARAM enc[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, (char *)"explicit", 0),
	    OSSL_PARAM_construct_end()};

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_paramgen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_dsa_paramgen_bits(ctx, 1024), 1);
	assert_int_equal(EVP_PKEY_paramgen(ctx, &params), 1);
	EVP_PKEY_CTX_free(ctx);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &dsa), 1);
	EVP_PKEY_CTX_free(ctx);
	put_spki(spki, dsa);
	req = request_spki(spki, dsa, alg_dsa_sha256, sizeof(alg_dsa_sha256));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_string_equal(csr->key_desc, "DSA 1024");
	assert_true(has_warning(csr, "DSA 1024 key: the CA accepts RSA and ECDSA"));
	dcv_csr_free(csr);
	free(req);

	/* P-256 written with explicit parameters. */
	explicit_ec = EVP_PKEY_dup(key_ec);
	assert_non_null(explicit_ec);
	assert_int_equal(EVP_PKEY_set_params(explicit_ec, enc), 1);
	spki->n = 0;
	put_spki(spki, explicit_ec);
	assert_true(spki->n > 200); /* the curve written out, not its 10-byte OID */
	req = request_spki(spki, key_ec, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	fast_verdict(req, DCV_ENOTSUP, NULL);
	/* OpenSSL knows the curve by its parameters. */
	csr = parse_both(req->b, req->n, DCV_OK, NULL);
	assert_string_equal(csr->key_desc, "EC P-256");
	dcv_csr_free(csr);
	free(req);
	EVP_PKEY_free(explicit_ec);
	EVP_PKEY_free(params);
	EVP_PKEY_free(dsa);
	free(spki);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_good),
	    cmocka_unit_test(test_split_lengths),
	    cmocka_unit_test(test_ber_request),
	    cmocka_unit_test(test_stray_bytes),
	    cmocka_unit_test(test_split_shapes),
	    cmocka_unit_test(test_undecodable_keys),
	    cmocka_unit_test(test_other_algorithms),
	    cmocka_unit_test(test_attributes),
	    cmocka_unit_test(test_san_kinds),
	    cmocka_unit_test(test_san_names),
	    cmocka_unit_test(test_subject_cn),
	    cmocka_unit_test(test_pem_kinds),
	    cmocka_unit_test(test_pem_mixed),
	    cmocka_unit_test(test_der_kinds),
	    cmocka_unit_test(test_split_fields),
	    cmocka_unit_test_teardown(test_digests_and_params, reset_sign_md),
	    cmocka_unit_test(test_other_keys),
	    cmocka_unit_test(test_ext_values),
	    cmocka_unit_test(test_pem_and_cn_edges),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
