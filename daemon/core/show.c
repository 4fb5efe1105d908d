/* show.c -- `dcv show` documents and `dcv records` lines. */
#include <string.h>

#include "show.h"
#include "util.h"
#include "yout.h"

int dcv_records_lines(const struct dcv_request *req, uint32_t ttl, bool legacy,
                      struct dcv_strv *lines, struct dcv_why *why)
{
	struct dcv_strv bases = {0};
	char line[512];
	int rc = dcv_request_bases(req, &bases);

	for (size_t i = 0; i < bases.n && rc == DCV_OK; i++) {
		if (legacy)
			rc = dcv_record_legacy_line(req, bases.v[i], ttl, line, sizeof(line), why);
		else
			rc = dcv_record_line(req, bases.v[i], ttl, line, sizeof(line), why);
		if (rc == DCV_OK)
			rc = dcv_strv_push(lines, line);
	}
	dcv_strv_free(&bases);
	return rc;
}

static void emit_list(struct yout *y, const char *key, char *const *v, size_t n)
{
	yout_str(y, key);
	yout_seq(y);
	for (size_t i = 0; i < n; i++)
		yout_str(y, v[i]);
	yout_end_seq(y);
}

static void emit_names(struct yout *y, const struct dcv_request *req)
{
	yout_str(y, "names");
	yout_seq(y);
	for (size_t i = 0; i < req->n_names; i++) {
		const struct dcv_name_entry *e = &req->names[i];
		yout_map(y);
		yout_kv(y, "name", e->name);
		yout_str(y, "wildcard");
		yout_bool(y, e->wildcard);
		yout_str(y, "candidates");
		yout_flow_seq(y);
		for (size_t c = 0; c < e->n_candidates; c++)
			yout_str(y, e->candidates[c]);
		yout_end_seq(y);
		yout_end_map(y);
	}
	yout_end_seq(y);
}

/* The HTTP method cannot validate wildcards: list URLs for the other names only. */
static void emit_http(struct yout *y, const struct dcv_request *req)
{
	char path[128], content[160], url[400];

	dcv_http_path(req, path, sizeof(path));
	dcv_http_content(req, content, sizeof(content));
	yout_str(y, "http");
	yout_map(y);
	yout_kv(y, "path", path);
	yout_str(y, "content");
	yout_literal(y, content);
	yout_str(y, "urls");
	yout_seq(y);
	for (size_t i = 0; i < req->n_names; i++) {
		if (req->names[i].wildcard)
			continue;
		snprintf(url, sizeof(url), "http://%s%s", req->names[i].name, path);
		yout_str(y, url);
	}
	yout_end_seq(y);
	yout_end_map(y);
}

static bool any_wildcard(const struct dcv_request *req)
{
	for (size_t i = 0; i < req->n_names; i++)
		if (req->names[i].wildcard)
			return true;
	return false;
}

int dcv_show_emit(FILE *out, const char *file, const struct dcv_request *req, uint32_t ttl,
                  bool legacy, struct dcv_why *why)
{
	struct dcv_strv records = {0}, legacy_records = {0}, email = {0}, warnings = {0};
	struct yout y;
	int rc = DCV_OK;

	if ((rc = dcv_records_lines(req, ttl, false, &records, why)) < 0 ||
	    (legacy && (rc = dcv_records_lines(req, ttl, true, &legacy_records, why)) < 0) ||
	    (rc = dcv_email_approvers(req, &email)) < 0)
		goto out;
	for (size_t i = 0; i < req->n_warnings && rc == DCV_OK; i++)
		rc = dcv_strv_push(&warnings, req->warnings[i]);
	if (rc == DCV_OK && any_wildcard(req))
		rc = dcv_strv_push(&warnings, "the HTTP file method cannot validate wildcard "
		                              "names; use the DNS CNAME record for them");
	if (rc == DCV_OK)
		rc = dcv_strv_push(&warnings, dcv_email_warning);
	if (rc < 0)
		goto out;

	yout_begin_file(&y, out);
	yout_map(&y);
	yout_kv(&y, "file", file);
	yout_kv(&y, "md5", req->csr->md5_hex);
	yout_kv(&y, "sha1", req->csr->sha1_hex);
	yout_kv(&y, "sha256", req->csr->sha256_hex);
	yout_kv(&y, "key", req->csr->key_desc);
	emit_names(&y, req);
	emit_list(&y, "records", records.v, records.n);
	if (legacy)
		emit_list(&y, "legacy_records", legacy_records.v, legacy_records.n);
	emit_http(&y, req);
	emit_list(&y, "email", email.v, email.n);
	emit_list(&y, "warnings", warnings.v, warnings.n);
	yout_end_map(&y);
	if (yout_end(&y) < 0 || fflush(out) != 0) {
		rc = DCV_EIO;
		dcv_why_set(why, "cannot write the output");
	}
out:
	dcv_strv_free(&records);
	dcv_strv_free(&legacy_records);
	dcv_strv_free(&email);
	dcv_strv_free(&warnings);
	return rc;
}
