/*
 * gen_csrs.c -- write many distinct, validly signed CSRs quickly, for
 * benchmarks and burst tests:
 *
 *   gen_csrs OUTDIR COUNT ZONE [NAMES_PER_CSR] [PREFIX] [KEYS]
 *
 * writes OUTDIR/PREFIX<i>.csr (PEM) with CN h<i>.ZONE and SANs h<i>.ZONE,
 * n1.h<i>.ZONE, ... (NAMES_PER_CSR names, default 1). KEYS is a comma list
 * of rsa (2048), ec (P-256) and ed (Ed25519), default "rsa,ec": the keys
 * CAs certify. Keys are reused across requests (two of each kind, round
 * robin) so that 10,000 requests take a second to make, while every
 * request still has its own subject, hashes and signature to verify.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static EVP_PKEY *make_key(int kind)
{
	EVP_PKEY *key = NULL;

	if (kind == 0)
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (kind == 1)
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return key;
}

static int write_csr(const char *path, EVP_PKEY *key, int kind, long i, const char *zone, int names)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *subject = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext = NULL;
	char cn[300], san[8192];
	size_t off = 0;
	FILE *f = NULL;
	int rc = -1;

	snprintf(cn, sizeof(cn), "h%ld.%s", i, zone);
	off += (size_t)snprintf(san + off, sizeof(san) - off, "DNS:%s", cn);
	for (int k = 1; k < names && off < sizeof(san) - 300; k++)
		off +=
		    (size_t)snprintf(san + off, sizeof(san) - off, ",DNS:n%d.h%ld.%s", k, i, zone);
	if (!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1,
	                                0) ||
	    !X509_REQ_set_subject_name(req, subject) || !X509_REQ_set_pubkey(req, key))
		goto out;
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	if (ext == NULL || !sk_X509_EXTENSION_push(exts, ext))
		goto out;
	ext = NULL;
	if (!X509_REQ_add_extensions(req, exts))
		goto out;
	if (!X509_REQ_sign(req, key, kind == 2 ? NULL : EVP_sha256()))
		goto out;
	f = fopen(path, "w");
	if (f == NULL || !PEM_write_X509_REQ(f, req))
		goto out;
	rc = 0;
out:
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(subject);
	X509_REQ_free(req);
	return rc;
}

int main(int argc, char **argv)
{
	EVP_PKEY *keys[6] = {0};
	int kinds[6] = {0};
	int n_keys = 0;
	const char *mix = argc > 6 ? argv[6] : "rsa,ec";
	char path[4096];
	long count = 0;
	int names = 1, status = 1;

	if (argc < 4) {
		fprintf(stderr,
		        "usage: gen_csrs OUTDIR COUNT ZONE [NAMES_PER_CSR] [PREFIX] [KEYS]\n");
		return 2;
	}
	count = strtol(argv[2], NULL, 10);
	if (argc > 4)
		names = atoi(argv[4]);
	for (int kind = 0; kind < 3; kind++) {
		static const char *const tags[] = {"rsa", "ec", "ed"};
		if (strstr(mix, tags[kind]) == NULL)
			continue;
		for (int copy = 0; copy < 2; copy++) {
			kinds[n_keys] = kind;
			keys[n_keys] = make_key(kind);
			if (keys[n_keys++] == NULL) {
				fprintf(stderr, "gen_csrs: key generation failed\n");
				goto out;
			}
		}
	}
	if (n_keys == 0) {
		fprintf(stderr, "gen_csrs: KEYS names none of rsa, ec, ed\n");
		goto out;
	}
	for (long i = 0; i < count; i++) {
		int k = (int)(i % n_keys); /* every kind equally often */
		snprintf(path, sizeof(path), "%s/%s%ld.csr", argv[1], argc > 5 ? argv[5] : "r", i);
		if (write_csr(path, keys[k], kinds[k], i, argv[3], names) < 0) {
			fprintf(stderr, "gen_csrs: cannot write %s\n", path);
			goto out;
		}
	}
	status = 0;
out:
	for (int k = 0; k < 6; k++)
		EVP_PKEY_free(keys[k]);
	return status;
}
