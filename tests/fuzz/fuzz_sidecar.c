/*
 * fuzz_sidecar.c -- a sidecar NAME.yaml, as any bytes: dcv_sidecar_parse(),
 * then dcv_sidecar_check() against a request for fixed names built with
 * the sidecar's own unique value and target.
 *
 * Oracles: a refused sidecar leaves nothing behind; an accepted one holds
 * a unique value and target that dcv_opts_check() accepts unchanged, and
 * its check says DCV_OK or DCV_EMISMATCH.
 */
#include <stdlib.h>
#include <string.h>

#include "dcv/dcv.h"
#include "fuzz.h"
#include "sidecar.h"

/* The fixed request's hashes (any hex will do: the CSR is not parsed here). */
#define SIDECAR_MD5 "0123456789abcdef0123456789abcdef"
#define SIDECAR_SHA256 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* A parsed-CSR stand-in for www.example.com, *.example.com, mail.example.co.uk. */
static struct dcv_csr *sidecar_csr(void)
{
	static const char *const names[] = {"www.example.com", "*.example.com",
	                                    "mail.example.co.uk"};
	struct dcv_csr *csr = calloc(1, sizeof(*csr));
	size_t n = sizeof(names) / sizeof(names[0]);

	if (csr == NULL || (csr->names = calloc(n, sizeof(char *))) == NULL)
		fuzz_fail("out of memory");
	for (size_t i = 0; i < n; i++)
		if ((csr->names[csr->n_names++] = strdup(names[i])) == NULL)
			fuzz_fail("out of memory");
	memcpy(csr->md5_hex, SIDECAR_MD5, sizeof(SIDECAR_MD5));
	memcpy(csr->sha256_hex, SIDECAR_SHA256, sizeof(SIDECAR_SHA256));
	memcpy(csr->sha1_hex, SIDECAR_SHA256, 40);
	strcpy(csr->key_desc, "EC P-256");
	return csr;
}

static void sidecar_check(const struct dcv_sidecar *sc)
{
	struct dcv_opts opts = {sc->unique[0] ? sc->unique : NULL,
	                        sc->target[0] ? sc->target : NULL};
	struct dcv_opts_buf buf;
	struct dcv_request *req = NULL;
	struct dcv_why why = {""};
	int rc = dcv_opts_check(&opts, &buf, &why);

	FUZZ_CHECK(rc == DCV_OK, "the sidecar's options fail dcv_opts_check: %s", why.text);
	FUZZ_CHECK(sc->unique[0] == '\0' || strcmp(opts.unique, sc->unique) == 0,
	           "unique value '%s' not kept as checked", sc->unique);
	FUZZ_CHECK(sc->target[0] == '\0' || strcmp(opts.target, sc->target) == 0,
	           "target '%s' not normalized", sc->target);
	rc = dcv_request_new(sidecar_csr(), fuzz_psl(), &opts, &req, &why);
	FUZZ_CHECK(rc == DCV_OK, "the fixed request: %s", why.text);
	rc = dcv_sidecar_check(sc, req, &why);
	FUZZ_CHECK(rc == DCV_OK || rc == DCV_EMISMATCH, "sidecar_check: %d (%s)", rc, why.text);
	FUZZ_CHECK(rc == DCV_OK || why.text[0] != '\0', "a mismatch without a reason");
	dcv_request_free(req);
}

int fuzz_sidecar_one(const uint8_t *data, size_t size)
{
	struct dcv_sidecar sc;
	struct dcv_why why = {""};
	int rc = dcv_sidecar_parse("fuzz.yaml", data, size, &sc, &why);

	FUZZ_CHECK(rc == DCV_OK || rc == DCV_EINVAL || rc == DCV_ENOMEM, "sidecar_parse: %d", rc);
	if (rc < 0) {
		FUZZ_CHECK(sc.unique[0] == '\0' && sc.target[0] == '\0' && sc.expect.n == 0 &&
		               sc.expect.v == NULL,
		           "a refused sidecar leaves values behind");
		FUZZ_CHECK(why.text[0] != '\0', "refused without a reason");
		return 0;
	}
	sidecar_check(&sc);
	dcv_sidecar_free(&sc);
	return 0;
}

DCV_FUZZ_ENTRY(fuzz_sidecar_one)
