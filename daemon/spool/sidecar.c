/* sidecar.c -- the optional NAME.yaml beside a CSR in the spool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sidecar.h"
#include "yin.h"

enum { S_UNIQUE, S_TARGET, S_EXPECT, S_TOKEN, S_COUNT };
static const char *const sidecar_keys[] = {"unique_value", "target", "expect", "token", NULL};

/* An expected record reduced to what is compared: lower case, no trailing dots. */
struct sc_record {
	char owner[256];
	char target[256];
};

static bool name_copy(char *out, size_t size, const char *s, size_t n)
{
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n >= size)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	dcv_ascii_lower(out);
	return true;
}

/* "OWNER [TTL] [IN] CNAME TARGET" (TTL and class in either order, each optional). */
static bool record_parse(const char *text, struct sc_record *rec)
{
	const char *tok[6];
	size_t len[6], n = 0, i = 1;
	const char *p = text;
	bool ttl = false, class = false;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (n == 6)
			return false;
		tok[n] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		len[n] = (size_t)(p - tok[n]);
		n++;
	}
	if (n < 3)
		return false;
	for (; i < n - 2; i++) {
		if (!ttl && strspn(tok[i], "0123456789") == len[i] && len[i] <= 10)
			ttl = true;
		else if (!class && len[i] == 2 && strncasecmp(tok[i], "IN", 2) == 0)
			class = true;
		else
			return false;
	}
	if (len[i] != 5 || strncasecmp(tok[i], "CNAME", 5) != 0)
		return false;
	return name_copy(rec->owner, sizeof(rec->owner), tok[0], len[0]) &&
	       name_copy(rec->target, sizeof(rec->target), tok[i + 1], len[i + 1]);
}

static void parse_unique(struct dcv_yin *y, const struct dcv_yin_node *node,
                         struct dcv_sidecar *out)
{
	struct dcv_opts opts = {NULL, NULL};
	struct dcv_opts_buf buf;
	struct dcv_why why;

	if (node == NULL || (opts.unique = dcv_yin_text(y, node, "unique_value")) == NULL)
		return;
	if (dcv_opts_check(&opts, &buf, &why) < 0)
		dcv_yin_error(y, node, "unique_value: %s", why.text);
	else
		snprintf(out->unique, sizeof(out->unique), "%s", buf.unique);
}

static void parse_target(struct dcv_yin *y, const struct dcv_yin_node *node,
                         struct dcv_sidecar *out)
{
	struct dcv_opts opts = {NULL, NULL};
	struct dcv_opts_buf buf;
	struct dcv_why why;

	if (node == NULL || (opts.target = dcv_yin_text(y, node, "target")) == NULL)
		return;
	if (dcv_opts_check(&opts, &buf, &why) < 0)
		dcv_yin_error(y, node, "%s", why.text);
	else
		snprintf(out->target, sizeof(out->target), "%s", buf.target);
}

/* The token leads to a submitter's results: a bad one is refused without quoting it. */
static void parse_token(struct dcv_yin *y, const struct dcv_yin_node *node, struct dcv_sidecar *out)
{
	const char *text = NULL;

	if (node == NULL || (text = dcv_yin_text(y, node, "token")) == NULL)
		return;
	if (strlen(text) != DCV_SIDECAR_TOKEN_LEN ||
	    strspn(text, "0123456789abcdef") != DCV_SIDECAR_TOKEN_LEN)
		dcv_yin_error(y, node, "token: expected %d lower-case hex digits",
		              DCV_SIDECAR_TOKEN_LEN);
	else
		memcpy(out->token, text, DCV_SIDECAR_TOKEN_LEN + 1);
}

static int parse_expect(struct dcv_yin *y, const struct dcv_yin_node *node, struct dcv_sidecar *out)
{
	struct sc_record rec;
	char quoted[160];
	long n = dcv_yin_count(y, node, "expect", true);

	for (size_t i = 0; n > 0 && i < (size_t)n; i++) {
		const struct dcv_yin_node *item = dcv_yin_item(node, i);
		const char *text = dcv_yin_text(y, item, "expect");

		if (text == NULL)
			continue;
		if (!record_parse(text, &rec)) {
			dcv_yin_quote(text, 140, quoted, sizeof(quoted));
			dcv_yin_error(y, item,
			              "expect: '%s' is not a CNAME record (OWNER [TTL] [IN] CNAME "
			              "TARGET)",
			              quoted);
			continue;
		}
		if (dcv_strv_push(&out->expect, text) < 0)
			return DCV_ENOMEM;
	}
	return DCV_OK;
}

int dcv_sidecar_parse(const char *name, const unsigned char *buf, size_t len,
                      struct dcv_sidecar *out, struct dcv_why *why)
{
	const struct dcv_yin_node *v[S_COUNT + 1];
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_yin y;
	int rc = DCV_EINVAL;

	memset(out, 0, sizeof(*out));
	memset(&y, 0, sizeof(y));
	if (len > DCV_SIDECAR_MAX_FILE) {
		dcv_why_set(why, "%s: larger than the limit of %d bytes", name,
		            DCV_SIDECAR_MAX_FILE);
		goto out;
	}
	rc = dcv_yin_parse(&y, name, buf, len, &errors);
	if (rc < 0)
		goto out;
	if (y.root != NULL && dcv_yin_fields(&y, y.root, "sidecar", sidecar_keys, v, NULL)) {
		parse_unique(&y, v[S_UNIQUE], out);
		parse_target(&y, v[S_TARGET], out);
		parse_token(&y, v[S_TOKEN], out);
		rc = parse_expect(&y, v[S_EXPECT], out);
	}
out:
	if (y.oom)
		rc = DCV_ENOMEM;
	else if (rc == DCV_OK && y.n_errors > 0)
		rc = DCV_EINVAL;
	if (rc == DCV_EINVAL && errors.n > 0) {
		if (y.n_errors > 1)
			dcv_why_set(why, "%s (and %zu more problems)", errors.v[0], y.n_errors - 1);
		else
			dcv_why_set(why, "%s", errors.v[0]);
	}
	/* The contract: nothing of a refused sidecar is left, the strings neither. */
	if (rc < 0) {
		dcv_sidecar_free(out);
		memset(out, 0, sizeof(*out));
	}
	dcv_strv_free(&errors);
	dcv_yin_free(&y);
	return rc;
}

void dcv_sidecar_free(struct dcv_sidecar *sc)
{
	if (sc != NULL)
		dcv_strv_free(&sc->expect);
}

/* true when adn is one of the request's names (wildcard removed) or ADN candidates. */
static bool request_adn(const struct dcv_request *req, const char *adn)
{
	for (size_t i = 0; i < req->n_names; i++) {
		if (strcmp(req->names[i].base, adn) == 0)
			return true;
		for (size_t j = 0; j < req->names[i].n_candidates; j++)
			if (strcmp(req->names[i].candidates[j], adn) == 0)
				return true;
	}
	return false;
}

int dcv_sidecar_check(const struct dcv_sidecar *sc, const struct dcv_request *req,
                      struct dcv_why *why)
{
	struct sc_record rec;
	char prefix[40], target[sizeof(req->target)], computed[512], quoted[200];
	const char *adn = NULL, *dot = NULL;
	size_t plen = 0;
	bool owner_ok = false;

	if (req->n_names == 0) {
		dcv_why_set(why, "the request has no name to compare with");
		return DCV_EINVAL;
	}
	plen = (size_t)snprintf(prefix, sizeof(prefix), "_%s.", req->csr->md5_hex);
	if (!name_copy(target, sizeof(target), req->target, strlen(req->target)))
		target[0] = '\0';
	for (size_t i = 0; i < sc->expect.n; i++) {
		dcv_yin_quote(sc->expect.v[i], 180, quoted, sizeof(quoted));
		if (!record_parse(sc->expect.v[i], &rec)) {
			dcv_why_set(why, "expected record '%s' is not a CNAME record", quoted);
			return DCV_EINVAL;
		}
		adn = rec.owner + plen;
		owner_ok = strncmp(rec.owner, prefix, plen) == 0 && request_adn(req, adn);
		if (owner_ok && strcmp(rec.target, target) == 0)
			continue;
		/* Name the computed record the CA's one should have been. */
		if (!owner_ok) {
			dot = strchr(rec.owner, '.');
			adn =
			    dot != NULL && request_adn(req, dot + 1) ? dot + 1 : req->names[0].base;
		}
		if (dcv_record_owner(req, adn, computed, sizeof(computed), NULL) < 0)
			snprintf(computed, sizeof(computed), "%s%s.", prefix, adn);
		snprintf(computed + strlen(computed), sizeof(computed) - strlen(computed),
		         " CNAME %s", req->target);
		dcv_why_set(why,
		            "the CA's record '%s' differs from the computed record '%s' (%s "
		            "differs)",
		            quoted, computed, owner_ok ? "the target" : "the owner");
		return DCV_EMISMATCH;
	}
	return DCV_OK;
}
