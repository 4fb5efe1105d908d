/*
 * p10.c -- strict DER split and fast verification of PKCS#10 requests.
 *
 * OpenSSL's low-level RSA_verify/ECDSA_verify are deprecated in 3.0 but
 * fully supported for its lifetime; they are used here, and only here,
 * because the provider path costs a key decode per request (see p10.h).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "p10.h"

struct der {
	const unsigned char *p;
	const unsigned char *end;
};

/* Reads one TLV with a one-octet tag and a minimal definite length. */
static int der_get(struct der *d, unsigned char tag, struct p10_span *tlv, struct p10_span *content)
{
	const unsigned char *q = d->p;
	size_t len = 0;

	if (q >= d->end || *q != tag || ++q >= d->end)
		return -1;
	if (*q < 0x80) {
		len = *q++;
	} else {
		int n = *q++ & 0x7f;
		if (n == 0 || n > 3 || d->end - q < n || q[0] == 0)
			return -1;
		for (int i = 0; i < n; i++)
			len = (len << 8) | *q++;
		if (len < 0x80)
			return -1;
	}
	if (len > (size_t)(d->end - q))
		return -1;
	if (tlv != NULL)
		*tlv = (struct p10_span){d->p, (size_t)(q - d->p) + len};
	if (content != NULL)
		*content = (struct p10_span){q, len};
	d->p = q + len;
	return 0;
}

static struct der der_of(struct p10_span s)
{
	return (struct der){s.p, s.p + s.len};
}

/* A BIT STRING holding whole octets: drop the "unused bits" octet. */
static int bits_of(struct p10_span content, struct p10_span *out)
{
	if (content.len < 1 || content.p[0] != 0)
		return -1;
	*out = (struct p10_span){content.p + 1, content.len - 1};
	return 0;
}

int p10_split(const unsigned char *der, size_t len, struct p10 *out)
{
	struct der all = {der, der + len}, outer, tbs, spki;
	struct p10_span c, v, bits;

	memset(out, 0, sizeof(*out));
	if (der_get(&all, 0x30, NULL, &c) < 0 || all.p != all.end)
		return DCV_ENOTSUP;
	outer = der_of(c);
	if (der_get(&outer, 0x30, &out->tbs, &c) < 0)
		return DCV_ENOTSUP;
	tbs = der_of(c);
	if (der_get(&outer, 0x30, &out->sig_alg, NULL) < 0 ||
	    der_get(&outer, 0x03, NULL, &bits) < 0 || bits_of(bits, &out->sig) < 0 ||
	    outer.p != outer.end)
		return DCV_ENOTSUP;
	if (der_get(&tbs, 0x02, NULL, &v) < 0 || v.len != 1 || v.p[0] != 0 ||
	    der_get(&tbs, 0x30, &out->subject, NULL) < 0 || der_get(&tbs, 0x30, NULL, &c) < 0 ||
	    der_get(&tbs, 0xa0, NULL, &out->attrs) < 0 || tbs.p != tbs.end)
		return DCV_ENOTSUP;
	spki = der_of(c);
	if (der_get(&spki, 0x30, &out->key_alg, NULL) < 0 ||
	    der_get(&spki, 0x03, NULL, &bits) < 0 || bits_of(bits, &out->key_bits) < 0 ||
	    spki.p != spki.end)
		return DCV_ENOTSUP;
	return DCV_OK;
}

/* The NID of an OBJECT IDENTIFIER TLV, or NID_undef. */
static int oid_nid(struct p10_span tlv)
{
	const unsigned char *p = tlv.p;
	ASN1_OBJECT *obj = d2i_ASN1_OBJECT(NULL, &p, (long)tlv.len);
	int nid = obj ? OBJ_obj2nid(obj) : NID_undef;

	ASN1_OBJECT_free(obj);
	return nid;
}

/* AlgorithmIdentifier: the algorithm's NID and its parameters TLV (len 0 if absent). */
static int alg_of(struct p10_span alg_tlv, int *nid, struct p10_span *params)
{
	struct der d = der_of(alg_tlv), in;
	struct p10_span c, oid;

	if (der_get(&d, 0x30, NULL, &c) < 0)
		return -1;
	in = der_of(c);
	if (der_get(&in, 0x06, &oid, NULL) < 0)
		return -1;
	*params = (struct p10_span){in.p, (size_t)(in.end - in.p)};
	*nid = oid_nid(oid);
	return 0;
}

/* Absent or ASN.1 NULL, as RSA PKCS#1 algorithm identifiers must be. */
static int params_absent_or_null(struct p10_span params)
{
	return params.len == 0 || (params.len == 2 && params.p[0] == 0x05 && params.p[1] == 0);
}

/* --- state shared by all threads, set up once -------------------------- */

static const int md_nids[] = {NID_md5, NID_sha1, NID_sha256, NID_sha224, NID_sha384, NID_sha512};
static EVP_MD *mds[sizeof(md_nids) / sizeof(md_nids[0])];
static const int curve_nids[] = {NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};
static const char *const curve_names[] = {"P-256", "P-384", "P-521"};
static EC_GROUP *curves[3];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void setup(void)
{
	for (size_t i = 0; i < sizeof(md_nids) / sizeof(md_nids[0]); i++)
		mds[i] = EVP_MD_fetch(NULL, OBJ_nid2sn(md_nids[i]), NULL);
	for (size_t i = 0; i < 3; i++)
		curves[i] = EC_GROUP_new_by_curve_name(curve_nids[i]);
}

static const EVP_MD *md_by_nid(int nid)
{
	pthread_once(&once, setup);
	for (size_t i = 0; i < sizeof(md_nids) / sizeof(md_nids[0]); i++)
		if (md_nids[i] == nid)
			return mds[i];
	return NULL;
}

const EVP_MD *p10_md(int which)
{
	static const int order[] = {NID_md5, NID_sha1, NID_sha256};

	return md_by_nid(order[which]);
}

static int digest_tbs(const struct p10 *p, const EVP_MD *md, unsigned char *out,
                      unsigned int *out_len)
{
	return md != NULL && EVP_Digest(p->tbs.p, p->tbs.len, out, out_len, md, NULL) == 1 ? 0 : -1;
}

static int bad_signature(struct dcv_why *why)
{
	dcv_why_set(why, "the request's signature does not verify (altered or damaged request)");
	return DCV_ESIG;
}

static int verify_rsa(const struct p10 *p, struct p10_span key_params, int md_nid,
                      struct p10_span sig_params, char *desc, size_t desc_size, struct dcv_why *why)
{
	const unsigned char *k = p->key_bits.p;
	RSA *rsa = NULL;
	unsigned char dg[EVP_MAX_MD_SIZE];
	unsigned int dg_len = 0;
	const EVP_MD *md = md_by_nid(md_nid);
	int rc = DCV_ENOTSUP;

	if (md == NULL || md_nid == NID_md5 || !params_absent_or_null(key_params) ||
	    !params_absent_or_null(sig_params))
		goto out;
	rc = DCV_ECSR;
	rsa = d2i_RSAPublicKey(NULL, &k, (long)p->key_bits.len);
	if (rsa == NULL || k != p->key_bits.p + p->key_bits.len) {
		dcv_why_set(why, "the request's RSA public key cannot be decoded");
		goto out;
	}
	snprintf(desc, desc_size, "RSA %d", RSA_bits(rsa));
	if (digest_tbs(p, md, dg, &dg_len) < 0) {
		rc = DCV_EIO;
		dcv_why_set(why, "hashing failed");
		goto out;
	}
	rc = RSA_verify(md_nid, dg, dg_len, p->sig.p, (unsigned int)p->sig.len, rsa) == 1
	         ? DCV_OK
	         : bad_signature(why);
out:
	RSA_free(rsa);
	return rc;
}

static int verify_ec(const struct p10 *p, struct p10_span key_params, int md_nid,
                     struct p10_span sig_params, char *desc, size_t desc_size, struct dcv_why *why)
{
	const unsigned char *k = p->key_bits.p;
	EC_KEY *ec = NULL;
	unsigned char dg[EVP_MAX_MD_SIZE];
	unsigned int dg_len = 0;
	const EVP_MD *md = md_by_nid(md_nid);
	int curve = -1, nid = key_params.len ? oid_nid(key_params) : NID_undef;
	int rc = DCV_ENOTSUP;

	for (int i = 0; i < 3; i++)
		if (curve_nids[i] == nid && curves[i] != NULL)
			curve = i;
	if (md == NULL || md_nid == NID_md5 || curve < 0 || sig_params.len != 0)
		goto out;
	rc = DCV_ENOMEM;
	ec = EC_KEY_new();
	if (ec == NULL || EC_KEY_set_group(ec, curves[curve]) != 1)
		goto out;
	rc = DCV_ECSR;
	if (o2i_ECPublicKey(&ec, &k, (long)p->key_bits.len) == NULL ||
	    k != p->key_bits.p + p->key_bits.len) {
		dcv_why_set(why, "the request's EC public key cannot be decoded");
		goto out;
	}
	snprintf(desc, desc_size, "EC %s", curve_names[curve]);
	if (digest_tbs(p, md, dg, &dg_len) < 0) {
		rc = DCV_EIO;
		dcv_why_set(why, "hashing failed");
		goto out;
	}
	rc = ECDSA_verify(0, dg, (int)dg_len, p->sig.p, (int)p->sig.len, ec) == 1
	         ? DCV_OK
	         : bad_signature(why);
out:
	EC_KEY_free(ec);
	return rc;
}

static int verify_ed25519(const struct p10 *p, struct p10_span key_params,
                          struct p10_span sig_params, char *desc, size_t desc_size,
                          struct dcv_why *why)
{
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *ctx = NULL;
	int rc = DCV_ENOTSUP;

	if (key_params.len != 0 || sig_params.len != 0)
		goto out;
	rc = DCV_ECSR;
	if (p->key_bits.len != 32) {
		dcv_why_set(why, "the request's Ed25519 public key cannot be decoded");
		goto out;
	}
	snprintf(desc, desc_size, "Ed25519");
	rc = DCV_ENOMEM;
	key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p->key_bits.p, 32);
	ctx = EVP_MD_CTX_new();
	if (key == NULL || ctx == NULL ||
	    EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, key, NULL) != 1)
		goto out;
	rc = EVP_DigestVerify(ctx, p->sig.p, p->sig.len, p->tbs.p, p->tbs.len) == 1
	         ? DCV_OK
	         : bad_signature(why);
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return rc;
}

int p10_verify(const struct p10 *p, char *key_desc, size_t desc_size, struct dcv_why *why)
{
	struct p10_span key_params, sig_params;
	int key_nid = NID_undef, sig_nid = NID_undef, md_nid = NID_undef, pk_nid = NID_undef;
	int rc = DCV_ENOTSUP;

	pthread_once(&once, setup);
	if (alg_of(p->key_alg, &key_nid, &key_params) < 0 ||
	    alg_of(p->sig_alg, &sig_nid, &sig_params) < 0 ||
	    !OBJ_find_sigid_algs(sig_nid, &md_nid, &pk_nid))
		goto out;
	if (key_nid == NID_rsaEncryption && pk_nid == NID_rsaEncryption)
		rc = verify_rsa(p, key_params, md_nid, sig_params, key_desc, desc_size, why);
	else if (key_nid == NID_X9_62_id_ecPublicKey && pk_nid == NID_X9_62_id_ecPublicKey)
		rc = verify_ec(p, key_params, md_nid, sig_params, key_desc, desc_size, why);
	else if (key_nid == NID_ED25519 && sig_nid == NID_ED25519)
		rc = verify_ed25519(p, key_params, sig_params, key_desc, desc_size, why);
out:
	return rc;
}

/*
 * The extensions, chosen and decoded by OpenSSL's own rules so that both
 * paths read the same request alike: every attribute must decode as an
 * X509_ATTRIBUTE (as d2i_X509_REQ() requires), the extensions come from
 * the first extensionRequest attribute or, when there is none, the first
 * of Microsoft's older msExtReq, and from its first value, which must be a
 * SEQUENCE of extensions (as X509_REQ_get_extensions() does).
 */
int p10_extensions(const struct p10 *p, STACK_OF(X509_EXTENSION) * *out)
{
	static const int ext_nids[] = {NID_ext_req, NID_ms_ext_req};
	struct der attrs = der_of(p->attrs);
	struct p10_span attr;
	STACK_OF(X509_ATTRIBUTE) *list = sk_X509_ATTRIBUTE_new_null();
	X509_ATTRIBUTE *chosen = NULL;
	const ASN1_TYPE *value = NULL;
	const unsigned char *q = NULL;
	int rc = DCV_ECSR;

	*out = NULL;
	if (list == NULL)
		return DCV_ENOMEM;
	while (attrs.p < attrs.end) {
		X509_ATTRIBUTE *a = NULL;

		if (der_get(&attrs, 0x30, &attr, NULL) < 0)
			goto out;
		q = attr.p;
		a = d2i_X509_ATTRIBUTE(NULL, &q, (long)attr.len);
		if (a == NULL || q != attr.p + attr.len || !sk_X509_ATTRIBUTE_push(list, a)) {
			X509_ATTRIBUTE_free(a);
			goto out;
		}
	}
	for (size_t i = 0; i < 2 && chosen == NULL; i++)
		for (int j = 0; j < sk_X509_ATTRIBUTE_num(list) && chosen == NULL; j++)
			if (OBJ_obj2nid(X509_ATTRIBUTE_get0_object(
			        sk_X509_ATTRIBUTE_value(list, j))) == ext_nids[i])
				chosen = sk_X509_ATTRIBUTE_value(list, j);
	rc = DCV_OK;
	if (chosen == NULL || (value = X509_ATTRIBUTE_get0_type(chosen, 0)) == NULL)
		goto out;
	rc = DCV_ECSR;
	if (value->type != V_ASN1_SEQUENCE)
		goto out;
	q = value->value.sequence->data;
	*out = d2i_X509_EXTENSIONS(NULL, &q, value->value.sequence->length);
	rc = *out != NULL ? DCV_OK : DCV_ECSR;
out:
	sk_X509_ATTRIBUTE_pop_free(list, X509_ATTRIBUTE_free);
	return rc;
}
