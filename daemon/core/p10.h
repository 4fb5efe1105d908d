/*
 * p10.h -- a strict DER splitter and fast signature check for PKCS#10
 * certificate requests (internal to csr.c).
 *
 * Why it exists: in OpenSSL 3.0 (Debian 12), d2i_X509_REQ() decodes the
 * public key through the provider decoder framework, which costs ~120 us
 * per request -- more than verifying the signature. Building the key
 * directly from its bits costs 1-3 us. So the common shapes (RSA PKCS#1
 * v1.5, ECDSA on P-256/P-384/P-521, Ed25519, all in strict DER) are split
 * and verified here; anything else returns DCV_ENOTSUP and csr.c takes
 * OpenSSL's complete path, which stays the reference.
 *
 * Pointers in struct p10 point into the caller's buffer (no ownership).
 * Thread-safe: shared state (curve groups, digests) is set up once.
 */
#ifndef DCV_P10_H
#define DCV_P10_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dcv/err.h"

/* DCV_ENOTSUP (dcv/err.h) means "not handled here": csr.c then takes OpenSSL's complete path. */

struct p10_span {
	const unsigned char *p;
	size_t len;
};

struct p10 {
	struct p10_span tbs;      /* certificationRequestInfo, whole TLV (signed bytes) */
	struct p10_span subject;  /* Name, whole TLV */
	struct p10_span key_alg;  /* AlgorithmIdentifier of the key, whole TLV */
	struct p10_span key_bits; /* subjectPublicKey content after the unused-bits octet */
	struct p10_span attrs;    /* content of the [0] attributes */
	struct p10_span sig_alg;  /* AlgorithmIdentifier of the signature, whole TLV */
	struct p10_span sig;      /* signature content after the unused-bits octet */
};

/*
 * Splits a request in strict DER. Returns DCV_OK, or DCV_ENOTSUP for
 * anything unusual (BER lengths, high tag numbers, missing attributes,
 * trailing bytes, malformed) -- the complete path then decides.
 */
int p10_split(const unsigned char *der, size_t len, struct p10 *out);

/*
 * Verifies the signature for the supported shapes. Writes a description
 * of the key ("RSA 2048", "EC P-256", "Ed25519") to key_desc.
 * Returns DCV_OK, DCV_ESIG (why says so), DCV_ECSR (undecodable key), or
 * DCV_ENOTSUP for other algorithms.
 */
int p10_verify(const struct p10 *p, char *key_desc, size_t desc_size, struct dcv_why *why);

/*
 * The requested extensions, chosen as OpenSSL's X509_REQ_get_extensions()
 * chooses them (the first extensionRequest, else the first msExtReq), or
 * *out NULL when there are none. DCV_ECSR when an attribute does not
 * decode as OpenSSL decodes it, or the chosen one holds no extensions.
 * The caller frees *out with sk_X509_EXTENSION_pop_free().
 */
int p10_extensions(const struct p10 *p, STACK_OF(X509_EXTENSION) * *out);

/* Digests prefetched once (shared, never freed): 0 MD5, 1 SHA-1, 2 SHA-256. */
const EVP_MD *p10_md(int which);

#endif
