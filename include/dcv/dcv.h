/*
 * dcv.h -- what the CA will check for one CSR: names, ADN candidates, the
 * CNAME record, the HTTP file and the e-mail approvers.
 *
 * Pure. A struct dcv_request is built from a parsed CSR and the options (the
 * CA's unique value, the target base domain) and is immutable afterwards.
 * Ownership: dcv_request_new() takes the csr in every case (it is freed on
 * failure too); dcv_request_free() releases everything (NULL-safe).
 */
#ifndef DCV_DCV_H
#define DCV_DCV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcv/csr.h"
#include "dcv/err.h"
#include "dcv/strv.h"

struct dcv_psl;

#define DCV_UNIQUE_MAX 20
#define DCV_DEFAULT_TTL 300
#define DCV_DEFAULT_TARGET "sectigo.com"
#define DCV_LEGACY_TARGET "comodoca.com"

struct dcv_opts {
	const char *unique; /* the CA's unique value, or NULL */
	const char *target; /* "sectigo.com" (NULL = default) or "comodoca.com" */
};

/*
 * Checks and normalizes options in place: target lower-cased, trailing dot
 * dropped, must be sectigo.com or comodoca.com; unique value 1..20 letters
 * or digits. Strings are copied into buf (which must outlive opts).
 * Errors: DCV_EINVAL with why.
 */
struct dcv_opts_buf {
	char unique[DCV_UNIQUE_MAX + 1];
	char target[32];
};
int dcv_opts_check(struct dcv_opts *opts, struct dcv_opts_buf *buf, struct dcv_why *why);

struct dcv_name_entry {
	char *name;       /* as in the certificate, e.g. "*.example.com" */
	const char *base; /* name without "*.", points into name */
	bool wildcard;
	char **candidates; /* ADN candidates in CA order: base ... registrable */
	size_t n_candidates;
};

struct dcv_request {
	struct dcv_csr *csr;
	struct dcv_name_entry *names;
	size_t n_names;
	char target[128];                /* CNAME data: "<32hex>.<32hex>[.<unique>].<base>." */
	char legacy_target[64];          /* "<sha1>.comodoca.com." */
	char unique[DCV_UNIQUE_MAX + 1]; /* as given (HTTP content keeps its case) */
	char target_base[32];
	char **warnings; /* the CSR's and the request's own */
	size_t n_warnings;
};

/*
 * Checks every name (DCV_ENAME names the first bad one), skips IP addresses
 * with a warning (DCV_ENONAME when nothing else remains), computes the ADN
 * candidates and the record target. opts must have passed dcv_opts_check().
 */
int dcv_request_new(struct dcv_csr *csr, const struct dcv_psl *psl, const struct dcv_opts *opts,
                    struct dcv_request **out, struct dcv_why *why);

/* File loader: dcv_csr_load() followed by dcv_request_new(). Blocking. */
int dcv_request_load(const char *path, const struct dcv_psl *psl, const struct dcv_opts *opts,
                     struct dcv_request **out, struct dcv_why *why);

void dcv_request_free(struct dcv_request *req);

/*
 * The record owner for an ADN: "_<md5>.<adn>." into buf. DCV_ENAME when the
 * owner would exceed the DNS limit of 253 octets (why says so), DCV_EINVAL
 * when buf is too small.
 */
int dcv_record_owner(const struct dcv_request *req, const char *adn, char *buf, size_t size,
                     struct dcv_why *why);

/* "_<md5>.<adn>. <ttl> IN CNAME <target>" (no newline) into buf. */
int dcv_record_line(const struct dcv_request *req, const char *adn, uint32_t ttl, char *buf,
                    size_t size, struct dcv_why *why);

/* Legacy Comodo form: "<md5>.<name>. <ttl> IN CNAME <sha1>.comodoca.com." */
int dcv_record_legacy_line(const struct dcv_request *req, const char *adn, uint32_t ttl, char *buf,
                           size_t size, struct dcv_why *why);

/* "/.well-known/pki-validation/<MD5 upper-case>.txt" */
void dcv_http_path(const struct dcv_request *req, char *buf, size_t size);

/* The HTTP file's content: sha256 hex, target base, unique value if any; '\n' ends each line. */
void dcv_http_content(const struct dcv_request *req, char *buf, size_t size);

/*
 * The distinct base names in certificate order, wildcard removed: the owners
 * of `dcv records` lines. Appends to out.
 */
int dcv_request_bases(const struct dcv_request *req, struct dcv_strv *out);

/*
 * Approver addresses (admin@ administrator@ hostmaster@ postmaster@
 * webmaster@ at every candidate of every name), de-duplicated, in order.
 */
int dcv_email_approvers(const struct dcv_request *req, struct dcv_strv *out);

/* Why the e-mail list is shown with a warning (constructed addresses are deprecated). */
extern const char dcv_email_warning[];

#endif
