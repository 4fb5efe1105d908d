/*
 * csr.c -- decode (PEM or DER), verify, hash and list the names of a CSR.
 *
 * OpenSSL does the ASN.1; this file decides what is acceptable and turns
 * every OpenSSL failure into a DCV_E* code with a sentence a person can act
 * on. OpenSSL's error queue is always cleared before returning so that one
 * bad file cannot leave stale errors behind for the next.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>

#include "dcv/csr.h"
#include "p10.h"
#include "util.h"

/* What a PEM block of another type is, for the refusal message. */
static const char *pem_kind(const char *name)
{
	if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0 ||
	    strcmp(name, "TRUSTED CERTIFICATE") == 0)
		return "a certificate";
	if (strstr(name, "PRIVATE KEY") != NULL)
		return "a private key";
	if (strstr(name, "PUBLIC KEY") != NULL)
		return "a public key";
	if (strcmp(name, "PKCS7") == 0 || strcmp(name, "CMS") == 0)
		return "a PKCS#7 bundle";
	if (strcmp(name, "X509 CRL") == 0)
		return "a certificate revocation list";
	return NULL;
}

static bool pem_is_csr(const char *name)
{
	return strcmp(name, "CERTIFICATE REQUEST") == 0 ||
	       strcmp(name, "NEW CERTIFICATE REQUEST") == 0;
}

/* Says what DER bytes that are not a request are, if we can tell. */
static const char *der_kind(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	const char *kind = NULL;

	if ((cert = d2i_X509(NULL, &p, (long)len)) != NULL) {
		kind = "a certificate";
		goto out;
	}
	p = der;
	if ((key = d2i_AutoPrivateKey(NULL, &p, (long)len)) != NULL) {
		kind = "a private key";
		goto out;
	}
	p = der;
	if ((key = d2i_PUBKEY(NULL, &p, (long)len)) != NULL)
		kind = "a public key";
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return kind;
}

/*
 * Finds the single request block in PEM text and returns its DER bytes
 * (OPENSSL_malloc'ed) in *der.
 */
static int pem_decode(const unsigned char *buf, size_t len, unsigned char **der, long *der_len,
                      struct dcv_why *why)
{
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long data_len = 0;
	const char *other = NULL;
	char other_name[64] = "";
	int n_csr = 0;
	int rc = DCV_ENOMEM;
	unsigned long err = 0;

	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL)
		goto out;
	for (;;) {
		if (PEM_read_bio(bio, &name, &header, &data, &data_len) != 1) {
			err = ERR_peek_last_error();
			break;
		}
		if (pem_is_csr(name)) {
			if (++n_csr == 1) {
				*der = data;
				*der_len = data_len;
				data = NULL;
			}
		} else if (other == NULL) {
			other = pem_kind(name);
			snprintf(other_name, sizeof(other_name), "%s", name);
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	/* Reaching the end of the text is the normal way out of the loop. */
	if (err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
		rc = DCV_ECSR;
		dcv_why_set(why, "damaged PEM block (truncated, no matching END line or bad "
		                 "base64)");
		goto out;
	}
	if (n_csr > 1) {
		rc = DCV_ECSR;
		dcv_why_set(why, "holds %d certificate requests; put each in a file of its own",
		            n_csr);
		goto out;
	}
	if (n_csr == 1) {
		rc = DCV_OK;
		goto out;
	}
	rc = DCV_ENOTCSR;
	if (other != NULL)
		dcv_why_set(why, "is %s, not a certificate signing request", other);
	else if (other_name[0] != '\0')
		dcv_why_set(why,
		            "holds a PEM block of type '%s', not a certificate signing "
		            "request",
		            other_name);
	else
		dcv_why_set(why, "no '-----BEGIN CERTIFICATE REQUEST-----' block found");
out:
	if (rc < 0 && n_csr > 0) {
		OPENSSL_free(*der);
		*der = NULL;
	}
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	return rc;
}

static int add_name(struct dcv_strv *names, const unsigned char *data, int len, struct dcv_why *why)
{
	char *name = NULL;
	size_t n = 0;
	int rc = DCV_ENAME;

	if (len < 0 || memchr(data, '\0', (size_t)len) != NULL) {
		dcv_why_set(why, "a name in the request contains a NUL byte");
		goto out;
	}
	name = dcv_memdup_text(data, (size_t)len);
	rc = DCV_ENOMEM;
	if (name == NULL)
		goto out;
	dcv_ascii_lower(name);
	n = strlen(name);
	if (n > 1 && name[n - 1] == '.')
		name[n - 1] = '\0';
	rc = name[0] == '\0' ? DCV_OK : dcv_strv_push_unique(names, name);
out:
	free(name);
	return rc;
}

static bool text_is_ip(const char *text, int len)
{
	char buf[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];

	if (len <= 0 || (size_t)len >= sizeof(buf))
		return false;
	memcpy(buf, text, (size_t)len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

static int collect_cn(const X509_NAME *subject, struct dcv_strv *names, struct dcv_strv *ips,
                      struct dcv_why *why)
{
	unsigned char *utf8 = NULL;
	int pos = -1, len = 0;
	int rc = DCV_OK;

	while ((pos = X509_NAME_get_index_by_NID(subject, NID_commonName, pos)) >= 0) {
		X509_NAME_ENTRY *entry = X509_NAME_get_entry(subject, pos);
		len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
		if (len < 0) {
			rc = DCV_ECSR;
			dcv_why_set(why, "subject CN is not a readable string");
			goto out;
		}
		if (text_is_ip((const char *)utf8, len))
			rc = add_name(ips, utf8, len, why);
		else
			rc = add_name(names, utf8, len, why);
		OPENSSL_free(utf8);
		utf8 = NULL;
		if (rc < 0)
			goto out;
	}
out:
	OPENSSL_free(utf8);
	return rc;
}

static int collect_san(const STACK_OF(X509_EXTENSION) * exts, struct dcv_strv *names,
                       struct dcv_strv *ips, struct dcv_strv *warnings, struct dcv_why *why)
{
	GENERAL_NAMES *sans = NULL;
	char ip[INET6_ADDRSTRLEN];
	int crit = 0;
	int rc = DCV_OK;

	if (exts == NULL)
		goto out;
	sans = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (sans == NULL) {
		/* crit -1: absent; -2: present more than once; else undecodable. */
		if (crit != -1) {
			rc = DCV_ECSR;
			dcv_why_set(why, "subjectAltName extension %s",
			            crit == -2 ? "appears twice" : "cannot be decoded");
		}
		goto out;
	}
	for (int i = 0; i < sk_GENERAL_NAME_num(sans) && rc == DCV_OK; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		const ASN1_OCTET_STRING *raw = NULL;

		switch (gn->type) {
		case GEN_DNS:
			rc = add_name(names, ASN1_STRING_get0_data(gn->d.dNSName),
			              ASN1_STRING_length(gn->d.dNSName), why);
			break;
		case GEN_IPADD:
			raw = gn->d.iPAddress;
			if (ASN1_STRING_length(raw) == 4 || ASN1_STRING_length(raw) == 16) {
				inet_ntop(ASN1_STRING_length(raw) == 4 ? AF_INET : AF_INET6,
				          ASN1_STRING_get0_data(raw), ip, sizeof(ip));
				rc = dcv_strv_push_unique(ips, ip);
			} else {
				rc = dcv_strv_push(warnings, "subjectAltName IP address of "
				                             "odd length ignored");
			}
			break;
		case GEN_EMAIL:
			rc = dcv_strv_push(warnings, "subjectAltName e-mail address ignored: "
			                             "only DNS names are validated here");
			break;
		case GEN_URI:
			rc = dcv_strv_push(warnings, "subjectAltName URI ignored: only DNS "
			                             "names are validated here");
			break;
		default:
			rc = dcv_strv_push(warnings, "subjectAltName entry of another kind "
			                             "ignored: only DNS names are validated here");
			break;
		}
	}
out:
	GENERAL_NAMES_free(sans);
	return rc;
}

static int hash_der(struct dcv_csr *csr, struct dcv_why *why)
{
	char *const out[] = {csr->md5_hex, csr->sha1_hex, csr->sha256_hex};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	for (int i = 0; i < 3; i++) {
		const EVP_MD *alg = p10_md(i);
		if (alg == NULL || EVP_Digest(csr->der, csr->der_len, md, &n, alg, NULL) != 1) {
			dcv_why_set(why, "hashing failed (digest unavailable in this OpenSSL)");
			return DCV_EIO;
		}
		dcv_hex(md, n, out[i]);
	}
	return DCV_OK;
}

/* What the request decodes to, whichever path decoded it. */
struct decoded {
	X509_NAME *subject;
	STACK_OF(X509_EXTENSION) * exts;
	char key_desc[32];
};

static void decoded_free(struct decoded *d)
{
	X509_NAME_free(d->subject);
	sk_X509_EXTENSION_pop_free(d->exts, X509_EXTENSION_free);
}

/* The fast path for common, strictly encoded requests (see p10.h). */
static int decode_fast(const unsigned char *der, size_t len, struct decoded *d, struct dcv_why *why)
{
	struct p10 p;
	const unsigned char *q = NULL;
	int rc = p10_split(der, len, &p);

	if (rc != DCV_OK)
		goto out;
	rc = p10_verify(&p, d->key_desc, sizeof(d->key_desc), why);
	if (rc != DCV_OK)
		goto out;
	q = p.subject.p;
	d->subject = d2i_X509_NAME(NULL, &q, (long)p.subject.len);
	if (d->subject == NULL || q != p.subject.p + p.subject.len) {
		rc = DCV_ECSR;
		dcv_why_set(why, "malformed certificate signing request (bad subject)");
		goto out;
	}
	rc = p10_extensions(&p, &d->exts);
	if (rc < 0)
		dcv_why_set(why, "malformed certificate signing request (bad attributes)");
out:
	/*
	 * A request the fast path refuses goes to the complete decoder, whose
	 * verdict is the one given: the two check in different orders (here
	 * the signature before the subject), so a damaged request could get
	 * DCV_ESIG here and DCV_ECSR there. Refusals are rare; the cost is not.
	 */
	if (rc == DCV_ESIG || rc == DCV_ECSR)
		rc = DCV_ENOTSUP;
	return rc;
}

static void describe_key(EVP_PKEY *key, char *desc, size_t size)
{
	char group[64] = "";

	if (EVP_PKEY_is_a(key, "EC") &&
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
	                                   NULL) == 1) {
		const char *nist = EC_curve_nid2nist(OBJ_sn2nid(group));
		snprintf(desc, size, "EC %s", nist ? nist : group);
	} else if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS") ||
	           EVP_PKEY_is_a(key, "DSA")) {
		snprintf(desc, size, "%s %d", EVP_PKEY_get0_type_name(key), EVP_PKEY_get_bits(key));
	} else if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) {
		/* The algorithms' own spelling, as the fast path writes it. */
		snprintf(desc, size, "Ed%s", EVP_PKEY_get0_type_name(key) + 2);
	} else {
		snprintf(desc, size, "%s", EVP_PKEY_get0_type_name(key));
	}
}

/* OpenSSL's complete decoder: every algorithm, BER too. The reference. */
static int decode_full(const unsigned char *der, size_t len, struct decoded *d,
                       struct dcv_strv *warnings, struct dcv_why *why)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	EVP_PKEY *key = NULL;
	unsigned char *again = NULL;
	int n = 0;
	int rc = DCV_ECSR;

	if (req == NULL) {
		const char *kind = der_kind(der, len);
		rc = kind ? DCV_ENOTCSR : DCV_ECSR;
		if (kind != NULL)
			dcv_why_set(why, "is %s, not a certificate signing request", kind);
		else
			dcv_why_set(why, "malformed certificate signing request (bad DER)");
		goto out;
	}
	if ((size_t)(p - der) != len) {
		dcv_why_set(why, "%zu stray bytes after the request", len - (size_t)(p - der));
		goto out;
	}
	key = X509_REQ_get0_pubkey(req);
	if (key == NULL) {
		dcv_why_set(why, "the request's public key cannot be decoded");
		goto out;
	}
	if (X509_REQ_verify(req, key) != 1) {
		rc = DCV_ESIG;
		dcv_why_set(why, "the request's signature does not verify (altered or damaged "
		                 "request)");
		goto out;
	}
	describe_key(key, d->key_desc, sizeof(d->key_desc));
	/* A request whose re-encoding differs was not DER; the CA hashes what it was sent. */
	n = i2d_X509_REQ(req, &again);
	if (n < 0 || (size_t)n != len || memcmp(again, der, len) != 0) {
		rc = dcv_strv_push(warnings, "the request is not in canonical DER; hashes are over "
		                             "the bytes as given, which other tools may re-encode "
		                             "differently");
		if (rc < 0)
			goto out;
	}
	rc = DCV_ENOMEM;
	d->subject = X509_NAME_dup(X509_REQ_get_subject_name(req));
	if (d->subject == NULL)
		goto out;
	/* NULL is an extensionRequest that does not decode (none gives an empty list). */
	d->exts = X509_REQ_get_extensions(req);
	if (d->exts == NULL) {
		rc = DCV_ECSR;
		dcv_why_set(why, "malformed certificate signing request (bad attributes)");
		goto out;
	}
	rc = DCV_OK;
out:
	OPENSSL_free(again);
	X509_REQ_free(req);
	return rc;
}

/* Keys the CA/Browser Forum rules let a publicly trusted CA certify. */
static int key_warnings(const char *desc, struct dcv_strv *warnings)
{
	int bits = 0;

	if (sscanf(desc, "RSA %d", &bits) == 1 || sscanf(desc, "RSA-PSS %d", &bits) == 1) {
		if (bits < 2048)
			return dcv_strv_pushf(warnings,
			                      "RSA key of %d bits: the CA requires at "
			                      "least 2048",
			                      bits);
		return DCV_OK;
	}
	if (strcmp(desc, "EC P-256") == 0 || strcmp(desc, "EC P-384") == 0 ||
	    strcmp(desc, "EC P-521") == 0)
		return DCV_OK;
	return dcv_strv_pushf(warnings,
	                      "%s key: the CA accepts RSA and ECDSA P-256/P-384/P-521 "
	                      "keys only and will refuse this request",
	                      desc);
}

static void strv_move(struct dcv_strv *from, char ***v, size_t *n)
{
	*v = from->v;
	*n = from->n;
	from->v = NULL;
	from->n = from->cap = 0;
}

int dcv_csr_parse_ex(const unsigned char *buf, size_t len, unsigned flags, struct dcv_csr **out,
                     struct dcv_why *why)
{
	struct dcv_csr *csr = NULL;
	struct dcv_strv names = {0}, ips = {0}, warnings = {0};
	struct decoded d = {0};
	unsigned char *pem_der = NULL;
	long pem_der_len = 0;
	const unsigned char *der = NULL;
	size_t der_len = 0;
	int rc = DCV_ENOMEM;

	*out = NULL;
	ERR_clear_error();
	if (len == 0) {
		rc = DCV_ENOTCSR;
		dcv_why_set(why, "empty file");
		goto out;
	}
	if (len > DCV_CSR_MAX_FILE) {
		rc = DCV_ETOOBIG;
		dcv_why_set(why, "larger than the limit of %d bytes", DCV_CSR_MAX_FILE);
		goto out;
	}
	if (buf[0] == 0x30) {
		der = buf;
		der_len = len;
	} else if (memmem(buf, len, "-----BEGIN ", 11) != NULL) {
		rc = pem_decode(buf, len, &pem_der, &pem_der_len, why);
		if (rc < 0)
			goto out;
		der = pem_der;
		der_len = (size_t)pem_der_len;
	} else {
		rc = DCV_ENOTCSR;
		dcv_why_set(why, "neither a PEM certificate request nor DER");
		goto out;
	}
	rc = (flags & DCV_CSR_FULL_DECODE) ? DCV_ENOTSUP : decode_fast(der, der_len, &d, why);
	if (rc == DCV_ENOTSUP) {
		decoded_free(&d);
		memset(&d, 0, sizeof(d));
		dcv_why_clear(why);
		rc = decode_full(der, der_len, &d, &warnings, why);
	}
	if (rc < 0)
		goto out;
	rc = DCV_ENOMEM;
	csr = calloc(1, sizeof(*csr));
	if (csr == NULL)
		goto out;
	csr->der = malloc(der_len);
	if (csr->der == NULL)
		goto out;
	memcpy(csr->der, der, der_len);
	csr->der_len = der_len;
	snprintf(csr->key_desc, sizeof(csr->key_desc), "%s", d.key_desc);
	if ((rc = hash_der(csr, why)) < 0 || (rc = key_warnings(d.key_desc, &warnings)) < 0 ||
	    (rc = collect_cn(d.subject, &names, &ips, why)) < 0 ||
	    (rc = collect_san(d.exts, &names, &ips, &warnings, why)) < 0)
		goto out;
	strv_move(&names, &csr->names, &csr->n_names);
	strv_move(&ips, &csr->ips, &csr->n_ips);
	strv_move(&warnings, &csr->warnings, &csr->n_warnings);
	*out = csr;
	csr = NULL;
	rc = DCV_OK;
out:
	ERR_clear_error();
	decoded_free(&d);
	OPENSSL_free(pem_der);
	dcv_strv_free(&names);
	dcv_strv_free(&ips);
	dcv_strv_free(&warnings);
	dcv_csr_free(csr);
	return dcv_why_default(why, rc);
}

int dcv_csr_parse(const unsigned char *buf, size_t len, struct dcv_csr **out, struct dcv_why *why)
{
	return dcv_csr_parse_ex(buf, len, 0, out, why);
}

int dcv_csr_load(const char *path, struct dcv_csr **out, struct dcv_why *why)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = dcv_read_file(path, DCV_CSR_MAX_FILE, &buf, &len, why);
	if (rc == DCV_OK)
		rc = dcv_csr_parse(buf, len, out, why);
	free(buf);
	return rc;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void dcv_csr_free(struct dcv_csr *csr)
{
	if (csr == NULL)
		return;
	free(csr->der);
	free_list(csr->names, csr->n_names);
	free_list(csr->ips, csr->n_ips);
	free_list(csr->warnings, csr->n_warnings);
	free(csr);
}
