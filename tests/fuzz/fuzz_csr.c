/*
 * fuzz_csr.c -- a CSR file, as any bytes: dcv_csr_parse() (the fast path
 * of p10.c where it applies) and dcv_csr_parse_ex(DCV_CSR_FULL_DECODE)
 * (OpenSSL's complete decoder), then dcv_request_new() and everything a
 * request gives (records, HTTP file, approvers).
 *
 * Oracles: both decoders return the same code and, when they accept, the
 * same DER, hashes, key, names, addresses and warnings; every record owner
 * is "_<md5>.<adn>." and every target starts with the SHA-256 split 32/32.
 */
#include <stdio.h>
#include <string.h>

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

int fuzz_csr_one(const uint8_t *data, size_t size)
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
		csr_request(fast, NULL, NULL);
		csr_request(full, "1F96729172445e721043", "ComodoCA.com.");
	}
	return 0;
}

DCV_FUZZ_ENTRY(fuzz_csr_one)
