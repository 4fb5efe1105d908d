/*
 * dcv.c -- from a parsed CSR to what the CA checks: the CNAME record, the
 * HTTP file and the approver addresses.
 *
 * Record format (Sectigo, current): the owner is "_" + MD5 hex in front of
 * the ADN; the data is the SHA-256 hex split 32/32 by a dot, then the unique
 * value if any, then the target base domain. Everything in the DNS record is
 * lower case (names are case-insensitive; lower case is the canonical form);
 * the HTTP file keeps the unique value as the CA gave it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcv/dcv.h"
#include "dcv/names.h"
#include "util.h"

const char dcv_email_warning[] =
    "e-mail to constructed addresses (admin@, hostmaster@, ...) is deprecated since "
    "2026-03-15 and WHOIS contacts are no longer allowed since 2025-07-15; prefer the "
    "DNS CNAME method";

int dcv_opts_check(struct dcv_opts *opts, struct dcv_opts_buf *buf, struct dcv_why *why)
{
	const char *target = opts->target ? opts->target : DCV_DEFAULT_TARGET;
	size_t n = strlen(target);
	int rc = DCV_EINVAL;

	memset(buf, 0, sizeof(*buf));
	if (n > 0 && target[n - 1] == '.')
		n--;
	if (n >= sizeof(buf->target)) {
		dcv_why_set(why, "target '%s' is neither sectigo.com nor comodoca.com", target);
		goto out;
	}
	memcpy(buf->target, target, n);
	dcv_ascii_lower(buf->target);
	if (strcmp(buf->target, DCV_DEFAULT_TARGET) != 0 &&
	    strcmp(buf->target, DCV_LEGACY_TARGET) != 0) {
		dcv_why_set(why, "target '%s' is neither sectigo.com nor comodoca.com", target);
		goto out;
	}
	opts->target = buf->target;
	if (opts->unique != NULL) {
		n = strlen(opts->unique);
		if (n == 0 || n > DCV_UNIQUE_MAX) {
			dcv_why_set(why, "unique value '%s' must be 1 to %d letters or digits",
			            opts->unique, DCV_UNIQUE_MAX);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (!isalnum((unsigned char)opts->unique[i])) {
				dcv_why_set(why,
				            "unique value '%s' must be 1 to %d letters or "
				            "digits",
				            opts->unique, DCV_UNIQUE_MAX);
				goto out;
			}
		}
		memcpy(buf->unique, opts->unique, n + 1);
		opts->unique = buf->unique;
	}
	rc = DCV_OK;
out:
	return rc;
}

static int fill_names(struct dcv_request *req, const struct dcv_psl *psl, struct dcv_why *why)
{
	const struct dcv_csr *csr = req->csr;
	struct dcv_strv cands = {0};
	int rc = DCV_ENOMEM;

	req->names = calloc(csr->n_names ? csr->n_names : 1, sizeof(*req->names));
	if (req->names == NULL)
		goto out;
	for (size_t i = 0; i < csr->n_names; i++) {
		struct dcv_name_entry *e = &req->names[i];

		if ((rc = dcv_name_check(psl, csr->names[i], why)) < 0)
			goto out;
		rc = DCV_ENOMEM;
		e->name = strdup(csr->names[i]);
		if (e->name == NULL)
			goto out;
		req->n_names++;
		e->base = dcv_name_base(e->name);
		e->wildcard = e->base != e->name;
		if ((rc = dcv_name_candidates(psl, e->name, &cands, why)) < 0)
			goto out;
		e->candidates = cands.v;
		e->n_candidates = cands.n;
		cands = (struct dcv_strv){0};
	}
	rc = DCV_OK;
out:
	dcv_strv_free(&cands);
	return rc;
}

static int fill_warnings(struct dcv_request *req)
{
	struct dcv_strv w = {0};
	int rc = DCV_OK;

	for (size_t i = 0; i < req->csr->n_warnings && rc == DCV_OK; i++)
		rc = dcv_strv_push(&w, req->csr->warnings[i]);
	for (size_t i = 0; i < req->csr->n_ips && rc == DCV_OK; i++)
		rc = dcv_strv_pushf(&w,
		                    "IP address %s cannot be validated by the DNS CNAME "
		                    "method; skipped",
		                    req->csr->ips[i]);
	req->warnings = w.v;
	req->n_warnings = w.n;
	return rc;
}

int dcv_request_new(struct dcv_csr *csr, const struct dcv_psl *psl, const struct dcv_opts *opts,
                    struct dcv_request **out, struct dcv_why *why)
{
	struct dcv_request *req = NULL;
	const char *sha = csr->sha256_hex;
	int rc = DCV_ENOMEM;

	*out = NULL;
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		dcv_csr_free(csr);
		goto out;
	}
	req->csr = csr;
	if (csr->n_names == 0) {
		rc = DCV_ENONAME;
		if (csr->n_ips > 0)
			dcv_why_set(why,
			            "only IP addresses (%s%s): the DNS CNAME method cannot "
			            "validate IP addresses",
			            csr->ips[0], csr->n_ips > 1 ? ", ..." : "");
		else
			dcv_why_set(why, "no DNS name: neither a subject CN nor a DNS "
			                 "subjectAltName");
		goto out;
	}
	if ((rc = fill_names(req, psl, why)) < 0 || (rc = fill_warnings(req)) < 0)
		goto out;
	snprintf(req->target_base, sizeof(req->target_base), "%s",
	         opts->target ? opts->target : DCV_DEFAULT_TARGET);
	snprintf(req->unique, sizeof(req->unique), "%s", opts->unique ? opts->unique : "");
	snprintf(req->target, sizeof(req->target), "%.32s.%.32s%s%s.%s.", sha, sha + 32,
	         opts->unique ? "." : "", req->unique, req->target_base);
	dcv_ascii_lower(req->target);
	snprintf(req->legacy_target, sizeof(req->legacy_target), "%s.%s.", csr->sha1_hex,
	         DCV_LEGACY_TARGET);
	*out = req;
	req = NULL;
	rc = DCV_OK;
out:
	dcv_request_free(req);
	return dcv_why_default(why, rc);
}

int dcv_request_load(const char *path, const struct dcv_psl *psl, const struct dcv_opts *opts,
                     struct dcv_request **out, struct dcv_why *why)
{
	struct dcv_csr *csr = NULL;
	int rc = dcv_csr_load(path, &csr, why);

	*out = NULL;
	if (rc == DCV_OK)
		rc = dcv_request_new(csr, psl, opts, out, why);
	return rc;
}

void dcv_request_free(struct dcv_request *req)
{
	if (req == NULL)
		return;
	for (size_t i = 0; i < req->n_names; i++) {
		struct dcv_strv c = {req->names[i].candidates, req->names[i].n_candidates, 0};
		dcv_strv_free(&c);
		free(req->names[i].name);
	}
	free(req->names);
	struct dcv_strv w = {req->warnings, req->n_warnings, 0};
	dcv_strv_free(&w);
	dcv_csr_free(req->csr);
	free(req);
}

static int owner_fits(const char *prefix, const char *adn, struct dcv_why *why)
{
	/* The owner is prefix + "." + adn; its presentation length must stay <= 253. */
	size_t len = strlen(prefix) + 1 + strlen(adn);

	if (len > DCV_NAME_MAX) {
		dcv_why_set(why,
		            "record owner '%s.%.30s...' would be %zu octets, over the DNS "
		            "limit of %d; validate at a shorter ADN candidate",
		            prefix, adn, len, DCV_NAME_MAX);
		return DCV_ENAME;
	}
	return DCV_OK;
}

int dcv_record_owner(const struct dcv_request *req, const char *adn, char *buf, size_t size,
                     struct dcv_why *why)
{
	char prefix[40];
	int rc;

	snprintf(prefix, sizeof(prefix), "_%s", req->csr->md5_hex);
	if ((rc = owner_fits(prefix, adn, why)) < 0)
		return rc;
	if ((size_t)snprintf(buf, size, "%s.%s.", prefix, adn) >= size) {
		dcv_why_set(why, "buffer too small for the record owner");
		return DCV_EINVAL;
	}
	return DCV_OK;
}

int dcv_record_line(const struct dcv_request *req, const char *adn, uint32_t ttl, char *buf,
                    size_t size, struct dcv_why *why)
{
	char owner[300];
	int rc = dcv_record_owner(req, adn, owner, sizeof(owner), why);

	if (rc < 0)
		return rc;
	if ((size_t)snprintf(buf, size, "%s %u IN CNAME %s", owner, ttl, req->target) >= size) {
		dcv_why_set(why, "buffer too small for the record");
		return DCV_EINVAL;
	}
	return DCV_OK;
}

int dcv_record_legacy_line(const struct dcv_request *req, const char *adn, uint32_t ttl, char *buf,
                           size_t size, struct dcv_why *why)
{
	int rc = owner_fits(req->csr->md5_hex, adn, why);

	if (rc < 0)
		return rc;
	if ((size_t)snprintf(buf, size, "%s.%s. %u IN CNAME %s", req->csr->md5_hex, adn, ttl,
	                     req->legacy_target) >= size) {
		dcv_why_set(why, "buffer too small for the record");
		return DCV_EINVAL;
	}
	return DCV_OK;
}

void dcv_http_path(const struct dcv_request *req, char *buf, size_t size)
{
	char upper[33];

	snprintf(upper, sizeof(upper), "%s", req->csr->md5_hex);
	for (char *p = upper; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	snprintf(buf, size, "/.well-known/pki-validation/%s.txt", upper);
}

void dcv_http_content(const struct dcv_request *req, char *buf, size_t size)
{
	snprintf(buf, size, "%s\n%s\n%s%s", req->csr->sha256_hex, req->target_base, req->unique,
	         req->unique[0] ? "\n" : "");
}

int dcv_request_bases(const struct dcv_request *req, struct dcv_strv *out)
{
	int rc = DCV_OK;

	for (size_t i = 0; i < req->n_names && rc == DCV_OK; i++)
		rc = dcv_strv_push_unique(out, req->names[i].base);
	return rc;
}

int dcv_email_approvers(const struct dcv_request *req, struct dcv_strv *out)
{
	static const char *const locals[] = {"admin", "administrator", "hostmaster", "postmaster",
	                                     "webmaster"};
	char addr[320];
	int rc = DCV_OK;

	for (size_t i = 0; i < req->n_names && rc == DCV_OK; i++) {
		const struct dcv_name_entry *e = &req->names[i];
		for (size_t c = 0; c < e->n_candidates && rc == DCV_OK; c++) {
			for (size_t l = 0; l < sizeof(locals) / sizeof(locals[0]); l++) {
				snprintf(addr, sizeof(addr), "%s@%s", locals[l], e->candidates[c]);
				if ((rc = dcv_strv_push_unique(out, addr)) < 0)
					break;
			}
		}
	}
	return rc;
}
