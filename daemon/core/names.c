/*
 * names.c -- DNS name checks and ADN candidates (libpsl).
 *
 * The checks are the CA/Browser Forum's rules for names in certificates as
 * far as the DNS method cares: LDH labels, wildcard only leftmost, never a
 * public suffix. Each refusal says which name and why, because the operator
 * has to find the name in a CSR they may not have made themselves.
 */
#include <stdlib.h>
#include <string.h>

#include <libpsl.h>

#include "dcv/names.h"
#include "util.h"

/* The public API names no libpsl type: struct dcv_psl wraps its context. */
struct dcv_psl {
	psl_ctx_t *ctx;
};

int dcv_psl_load(struct dcv_psl **out, struct dcv_why *why)
{
	int rc = DCV_ENOMEM;

	if ((*out = calloc(1, sizeof(**out))) == NULL) {
		dcv_why_set(why, "out of memory");
		goto out;
	}
	(*out)->ctx = psl_latest(NULL);
	if ((*out)->ctx == NULL) {
		free(*out);
		*out = NULL;
		dcv_why_set(why, "cannot load the Public Suffix List (is the publicsuffix "
		                 "package installed?)");
		rc = DCV_EIO;
		goto out;
	}
	rc = DCV_OK;
out:
	return rc;
}

void dcv_psl_free(struct dcv_psl *psl)
{
	if (psl == NULL)
		return;
	psl_free(psl->ctx);
	free(psl);
}

const char *dcv_name_base(const char *name)
{
	return strncmp(name, "*.", 2) == 0 ? name + 2 : name;
}

/* Describes the first character that is not allowed in a label. */
static int bad_char(const char *name, const char *label, size_t len, struct dcv_why *why)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)label[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
			continue;
		if (c == '*')
			dcv_why_set(why,
			            "name '%s': '*' is allowed only as the whole leftmost "
			            "label",
			            name);
		else if (c == '_')
			dcv_why_set(why, "name '%s': underscore is not allowed in a host name",
			            name);
		else if (c >= 0x80)
			dcv_why_set(why,
			            "name '%s': non-ASCII character; write the name as its "
			            "IDNA A-label (xn--...)",
			            name);
		else if (c < 0x20 || c == 0x7f)
			dcv_why_set(why, "name '%s': control character 0x%02x is not allowed", name,
			            c);
		else
			dcv_why_set(why,
			            "name '%s': character '%c' is not allowed (only letters, "
			            "digits and '-')",
			            name, c);
		return DCV_ENAME;
	}
	return DCV_OK;
}

static int check_label(const char *name, const char *label, size_t len, bool leftmost,
                       struct dcv_why *why)
{
	int rc = DCV_ENAME;

	if (len == 0) {
		dcv_why_set(why, "name '%s': empty label (a leading dot or two dots in a row)",
		            name);
		goto out;
	}
	if (len > DCV_LABEL_MAX) {
		dcv_why_set(why, "name '%s': label '%.*s' is %zu octets long; the limit is %d",
		            name, (int)len, label, len, DCV_LABEL_MAX);
		goto out;
	}
	if (len == 1 && label[0] == '*' && leftmost) {
		rc = DCV_OK;
		goto out;
	}
	if ((rc = bad_char(name, label, len, why)) < 0)
		goto out;
	rc = DCV_ENAME;
	if (label[0] == '-' || label[len - 1] == '-') {
		dcv_why_set(why, "name '%s': label '%.*s' %s with a hyphen", name, (int)len, label,
		            label[0] == '-' ? "starts" : "ends");
		goto out;
	}
	rc = DCV_OK;
out:
	return rc;
}

int dcv_name_check(const struct dcv_psl *psl, const char *name, struct dcv_why *why)
{
	const char *label = name, *dot = NULL, *base = NULL;
	size_t len = strlen(name);
	int rc = DCV_ENAME;

	if (len == 0) {
		dcv_why_set(why, "empty name");
		goto out;
	}
	if (len > DCV_NAME_MAX) {
		dcv_why_set(why, "name '%.40s...' is %zu octets long; the limit is %d", name, len,
		            DCV_NAME_MAX);
		goto out;
	}
	for (;;) {
		dot = strchr(label, '.');
		size_t n = dot ? (size_t)(dot - label) : strlen(label);
		if ((rc = check_label(name, label, n, label == name, why)) < 0)
			goto out;
		if (dot == NULL)
			break;
		label = dot + 1;
	}
	rc = DCV_ENAME;
	base = dcv_name_base(name);
	if (strcmp(base, "*") == 0) {
		dcv_why_set(why, "name '%s': a bare wildcard", name);
		goto out;
	}
	if (psl_is_public_suffix2(psl->ctx, base, PSL_TYPE_ANY)) {
		if (base != name)
			dcv_why_set(why, "name '%s': wildcard on the public suffix '%s'", name,
			            base);
		else
			dcv_why_set(why,
			            "name '%s' is a public suffix: no one can prove control "
			            "of it",
			            name);
		goto out;
	}
	rc = DCV_OK;
out:
	return rc;
}

int dcv_name_candidates(const struct dcv_psl *psl, const char *name, struct dcv_strv *out,
                        struct dcv_why *why)
{
	const char *cur = dcv_name_base(name);
	const char *reg = psl_registrable_domain(psl->ctx, cur);
	int rc = DCV_ENAME;

	if (reg == NULL) {
		dcv_why_set(why, "name '%s' has no registrable domain", name);
		goto out;
	}
	for (;;) {
		if ((rc = dcv_strv_push(out, cur)) < 0)
			goto out;
		if (cur == reg)
			break;
		cur = strchr(cur, '.') + 1;
	}
	rc = DCV_OK;
out:
	return rc;
}

bool dcv_name_in_zone(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);

	if (n == z)
		return strcmp(name, zone) == 0;
	return n > z && name[n - z - 1] == '.' && strcmp(name + n - z, zone) == 0;
}
