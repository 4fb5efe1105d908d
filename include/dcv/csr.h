/*
 * csr.h -- certificate signing requests: decode, verify, hash, list names.
 *
 * Pure (no I/O beyond what the caller hands in), except the one function
 * marked "file loader", which reads a file. A request is accepted as PEM
 * ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"; text before the block
 * and CRLF line ends allowed) or as DER. The hashes are taken over the DER
 * bytes of the request exactly as decoded -- never over PEM text -- which is
 * what the CA hashes and what `openssl req -outform DER | openssl md5`
 * prints for every canonical request.
 *
 * Ownership: dcv_csr_parse() returns a new struct dcv_csr the caller frees
 * with dcv_csr_free() (NULL-safe). Names are raw: lower-cased, trailing dot
 * removed, de-duplicated, CN first; they are *not* yet checked as DNS names
 * (see names.h), because that needs the Public Suffix List.
 */
#ifndef DCV_CSR_H
#define DCV_CSR_H

#include <stddef.h>

#include "dcv/err.h"

/* No honest CSR comes near this; larger input is refused unread. */
#define DCV_CSR_MAX_FILE (64 * 1024)

struct dcv_csr {
	unsigned char *der; /* the request's DER bytes */
	size_t der_len;
	char md5_hex[33]; /* lower-case hex */
	char sha1_hex[41];
	char sha256_hex[65];
	char key_desc[32]; /* "RSA 2048", "EC P-256", "Ed25519", ... */
	char **names;      /* CN and SAN dNSNames, normalized, in order */
	size_t n_names;
	char **ips; /* IP addresses found (CN or SAN), as text */
	size_t n_ips;
	char **warnings; /* human-readable, one line each */
	size_t n_warnings;
};

/*
 * Decodes, verifies the self-signature, hashes and extracts names.
 * Errors: DCV_ENOTCSR (empty, random bytes, a certificate, a private key,
 * a public key...), DCV_ECSR (truncated PEM, bad base64, malformed DER,
 * several requests in one file), DCV_ESIG (signature does not verify),
 * DCV_ENAME (a name with a NUL byte or not a string), DCV_ETOOBIG,
 * DCV_ENOMEM. why says which.
 */
int dcv_csr_parse(const unsigned char *buf, size_t len, struct dcv_csr **out, struct dcv_why *why);

/*
 * The same, with flags: DCV_CSR_FULL_DECODE skips the fast path and uses
 * OpenSSL's complete decoder for everything (tests compare the two).
 */
#define DCV_CSR_FULL_DECODE 1u
int dcv_csr_parse_ex(const unsigned char *buf, size_t len, unsigned flags, struct dcv_csr **out,
                     struct dcv_why *why);

/*
 * File loader: reads path (at most DCV_CSR_MAX_FILE bytes, size checked
 * first; "-" is standard input) and parses it. Blocking.
 */
int dcv_csr_load(const char *path, struct dcv_csr **out, struct dcv_why *why);

void dcv_csr_free(struct dcv_csr *csr);

#endif
