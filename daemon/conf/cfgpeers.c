/* cfgpeers.c -- the key, remote and zone lists of the configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfgload.h"
#include "cfgsubmit.h"

enum { K_ID, K_ALGORITHM, K_SECRET, K_FILE, K_ALLOW_MD5, K_COUNT };
static const char *const key_keys[] = {"id", "algorithm", "secret", "file", "allow_md5", NULL};

enum { R_ID, R_ADDRESS, R_KEY, R_COUNT };
static const char *const remote_keys[] = {"id", "address", "key", NULL};

enum { Z_DOMAIN, Z_PRIMARY, Z_NAMESERVERS, Z_SUBMITTERS, Z_POLL_MAX, Z_COUNT };
static const char *const zone_keys[] = {"domain",     "primary",  "nameservers",
                                        "submitters", "poll_max", NULL};

static const char alg_names[] = "hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 or hmac-sha512";

/* Lower case without a trailing dot: how key ids and zone domains compare. */
static char *name_norm(const char *text)
{
	size_t n = strlen(text);
	char *s = NULL;

	if (n > 0 && text[n - 1] == '.')
		n--;
	s = strndup(text, n);
	if (s != NULL)
		dcv_ascii_lower(s);
	return s;
}

/* A zone apex we can update: LDH labels (underscore allowed), 1..63 each, 253 in all. */
static bool zone_name_ok(const char *name)
{
	size_t label = 0, n = strlen(name);

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = name[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63)
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		           c == '_') {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

static void opt_bool(struct cfg_loader *l, const struct dcv_yin_node *node, const char *what,
                     bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
	                                                                       "off"};
	const char *text = NULL;
	char quoted[48];

	if (node == NULL || (text = dcv_yin_text(&l->y, node, what)) == NULL)
		return;
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return;
		}
	}
	dcv_yin_quote(text, 32, quoted, sizeof(quoted));
	dcv_yin_error(&l->y, node, "%s: '%s' is neither true nor false", what, quoted);
}

/* The key file's path, relative ones taken from the configuration's folder. */
static char *key_path(struct cfg_loader *l, const char *file)
{
	char *path = NULL;

	if (file[0] == '/')
		return strdup(file);
	if (asprintf(&path, "%s/%s", l->dir, file) < 0)
		return NULL;
	return path;
}

/*
 * Fills the key's secret from the entry's secret or file. alg is the
 * configured algorithm (NULL when the entry gives none); the key's final
 * algorithm is in key->tsig.alg when DCV_OK and key->file / secret worked.
 */
static int key_secret(struct cfg_loader *l, const struct dcv_yin_node *item,
                      const struct dcv_yin_node *const *v, const enum dcv_tsig_alg *alg,
                      struct dcv_key *key, const char *what, bool *loaded)
{
	char sub[320], quoted[80];
	struct dcv_why why;
	const char *text = NULL;
	int rc = DCV_OK;

	*loaded = false;
	if (v[K_SECRET] != NULL && v[K_FILE] != NULL) {
		dcv_yin_error(&l->y, v[K_FILE], "%s: give either secret or file, not both", what);
		goto out;
	}
	if (v[K_SECRET] == NULL && v[K_FILE] == NULL) {
		dcv_yin_error(&l->y, item, "%s: secret or file is required", what);
		goto out;
	}
	if (v[K_SECRET] != NULL) {
		if (l->first_secret == NULL)
			l->first_secret = v[K_SECRET];
		snprintf(sub, sizeof(sub), "%s: secret", what);
		if ((text = dcv_yin_text(&l->y, v[K_SECRET], sub)) == NULL)
			goto out;
		if (alg == NULL) {
			if (v[K_ALGORITHM] == NULL)
				dcv_yin_error(&l->y, v[K_SECRET],
				              "%s: algorithm is required with secret", what);
			goto out;
		}
		if (dcv_tsig_key_set(&key->tsig, key->id, *alg, text, &why) < 0) {
			dcv_yin_error(&l->y, v[K_SECRET], "%s", why.text);
			goto out;
		}
		*loaded = true;
		goto out;
	}
	snprintf(sub, sizeof(sub), "%s: file", what);
	if ((text = dcv_yin_text(&l->y, v[K_FILE], sub)) == NULL)
		goto out;
	if (!cfg_path_printable(text)) {
		dcv_yin_quote(text, 64, quoted, sizeof(quoted));
		dcv_yin_error(&l->y, v[K_FILE], "%s: '%s' holds a control character", sub, quoted);
		goto out;
	}
	if ((key->file = key_path(l, text)) == NULL) {
		rc = DCV_ENOMEM;
		goto out;
	}
	rc = dcv_keyfile_load(key->file, key->id, &key->tsig, &l->cfg->warnings, &why);
	if (rc == DCV_ENOMEM)
		goto out;
	if (rc < 0) {
		rc = DCV_OK;
		dcv_yin_error(&l->y, v[K_FILE], "%s: %s", what, why.text);
		goto out;
	}
	if (alg != NULL && *alg != key->tsig.alg)
		dcv_yin_error(&l->y, v[K_ALGORITHM], "%s: algorithm %s differs from %s in %s", what,
		              dcv_tsig_alg_name(*alg), dcv_tsig_alg_name(key->tsig.alg), key->file);
	*loaded = true;
out:
	return rc;
}

static int one_key(struct cfg_loader *l, const struct dcv_yin_node *item, struct dcv_key *key,
                   const struct dcv_yin_node **id_node)
{
	const struct dcv_yin_node *v[K_COUNT + 1];
	const struct dcv_yin_node *md5_at = NULL;
	enum dcv_tsig_alg alg = DCV_HMAC_SHA256;
	char what[96], quoted[80];
	const char *text = NULL;
	bool has_alg = false, allow_md5 = false, loaded = false;
	int rc = DCV_OK;

	*id_node = NULL;
	if (!dcv_yin_fields(&l->y, item, "key", key_keys, v, NULL))
		goto out;
	if (v[K_ID] == NULL) {
		dcv_yin_error(&l->y, item, "key: id is required");
		goto out;
	}
	if ((text = dcv_yin_text(&l->y, v[K_ID], "key: id")) == NULL)
		goto out;
	if ((key->id = name_norm(text)) == NULL) {
		rc = DCV_ENOMEM;
		goto out;
	}
	*id_node = v[K_ID];
	dcv_yin_quote(key->id, 64, quoted, sizeof(quoted));
	snprintf(what, sizeof(what), "key '%s'", quoted);
	if (v[K_ALGORITHM] != NULL &&
	    (text = dcv_yin_text(&l->y, v[K_ALGORITHM], "key: algorithm")) != NULL) {
		if (dcv_tsig_alg_parse(text, &alg) == 0) {
			has_alg = true;
		} else {
			cfg_quote_algorithm(text, quoted, sizeof(quoted));
			dcv_yin_error(&l->y, v[K_ALGORITHM], "%s: algorithm %s is not one of %s",
			              what, quoted, alg_names);
		}
	}
	opt_bool(l, v[K_ALLOW_MD5], "key: allow_md5", &allow_md5);
	rc = key_secret(l, item, v, has_alg ? &alg : NULL, key, what, &loaded);
	if (rc < 0)
		goto out;
	/* The configured algorithm, or the key file's when the entry names none. */
	if (has_alg && alg == DCV_HMAC_MD5)
		md5_at = v[K_ALGORITHM];
	else if (!has_alg && loaded && key->tsig.alg == DCV_HMAC_MD5)
		md5_at = v[K_FILE];
	if (md5_at != NULL && !allow_md5)
		dcv_yin_error(&l->y, md5_at,
		              "%s: hmac-md5 is weak and refused unless the key also sets "
		              "allow_md5: true",
		              what);
out:
	return rc;
}

static void key_drop(struct dcv_key *key)
{
	dcv_tsig_key_clear(&key->tsig);
	free(key->id);
	free(key->file);
	memset(key, 0, sizeof(*key));
}

int cfg_keys(struct cfg_loader *l, const struct dcv_yin_node *node)
{
	struct dcv_config *cfg = l->cfg;
	const struct dcv_yin_node *id_node = NULL;
	unsigned long *lines = NULL;
	long n = dcv_yin_count(&l->y, node, "key", false);
	int rc = DCV_ENOMEM;

	if (n <= 0)
		return DCV_OK;
	cfg->keys = calloc((size_t)n, sizeof(*cfg->keys));
	lines = calloc((size_t)n, sizeof(*lines));
	if (cfg->keys == NULL || lines == NULL)
		goto out;
	for (size_t i = 0; i < (size_t)n; i++) {
		struct dcv_key *key = &cfg->keys[cfg->n_keys];
		size_t j = 0;

		rc = one_key(l, dcv_yin_item(node, i), key, &id_node);
		if (rc < 0) {
			key_drop(key);
			goto out;
		}
		if (key->id == NULL)
			continue;
		for (j = 0; j < cfg->n_keys; j++)
			if (strcmp(cfg->keys[j].id, key->id) == 0)
				break;
		if (j < cfg->n_keys) {
			char quoted[80];
			dcv_yin_quote(key->id, 64, quoted, sizeof(quoted));
			dcv_yin_error(&l->y, id_node,
			              "key '%s' is defined twice (first at line %lu)", quoted,
			              lines[j]);
			key_drop(key);
			continue;
		}
		lines[cfg->n_keys++] = id_node->line;
	}
	rc = DCV_OK;
out:
	free(lines);
	return rc;
}

static int one_remote(struct cfg_loader *l, const struct dcv_yin_node *item, struct dcv_remote *r,
                      const struct dcv_yin_node **id_node)
{
	const struct dcv_yin_node *v[R_COUNT + 1];
	char what[96], sub[128], quoted[80];
	const char *text = NULL;
	char *id = NULL;
	int rc = DCV_OK;

	*id_node = NULL;
	if (!dcv_yin_fields(&l->y, item, "remote", remote_keys, v, NULL))
		goto out;
	if (v[R_ID] == NULL) {
		dcv_yin_error(&l->y, item, "remote: id is required");
		goto out;
	}
	if ((text = dcv_yin_text(&l->y, v[R_ID], "remote: id")) == NULL)
		goto out;
	if ((r->id = strdup(text)) == NULL) {
		rc = DCV_ENOMEM;
		goto out;
	}
	*id_node = v[R_ID];
	dcv_yin_quote(r->id, 64, quoted, sizeof(quoted));
	snprintf(what, sizeof(what), "remote '%s'", quoted);
	snprintf(sub, sizeof(sub), "%s: address", what);
	if (v[R_ADDRESS] == NULL)
		dcv_yin_error(&l->y, item, "%s: address is required", what);
	else if ((rc = cfg_addresses(l, v[R_ADDRESS], sub, true, &r->addrs, &r->n_addrs)) < 0)
		goto out;
	if (v[R_KEY] == NULL) {
		cfg_warn(l, item, "%s has no key: updates sent to it will be unsigned", what);
		goto out;
	}
	snprintf(sub, sizeof(sub), "%s: key", what);
	if ((text = dcv_yin_text(&l->y, v[R_KEY], sub)) == NULL)
		goto out;
	if ((id = name_norm(text)) == NULL) {
		rc = DCV_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < l->cfg->n_keys && r->key == NULL; i++)
		if (strcmp(l->cfg->keys[i].id, id) == 0)
			r->key = &l->cfg->keys[i];
	if (r->key == NULL) {
		dcv_yin_quote(text, 64, quoted, sizeof(quoted));
		dcv_yin_error(&l->y, v[R_KEY], "%s: key '%s' is not defined", what, quoted);
	}
out:
	free(id);
	return rc;
}

int cfg_remotes(struct cfg_loader *l, const struct dcv_yin_node *node)
{
	struct dcv_config *cfg = l->cfg;
	const struct dcv_yin_node *id_node = NULL;
	unsigned long *lines = NULL;
	long n = dcv_yin_count(&l->y, node, "remote", false);
	int rc = DCV_ENOMEM;

	if (n <= 0)
		return DCV_OK;
	cfg->remotes = calloc((size_t)n, sizeof(*cfg->remotes));
	lines = calloc((size_t)n, sizeof(*lines));
	if (cfg->remotes == NULL || lines == NULL)
		goto out;
	for (size_t i = 0; i < (size_t)n; i++) {
		struct dcv_remote *r = &cfg->remotes[cfg->n_remotes];
		size_t j = 0;

		rc = one_remote(l, dcv_yin_item(node, i), r, &id_node);
		if (rc < 0 || r->id == NULL) {
			free(r->id);
			free(r->addrs);
			memset(r, 0, sizeof(*r));
			if (rc < 0)
				goto out;
			continue;
		}
		for (j = 0; j < cfg->n_remotes; j++)
			if (strcmp(cfg->remotes[j].id, r->id) == 0)
				break;
		if (j < cfg->n_remotes) {
			char quoted[80];
			dcv_yin_quote(r->id, 64, quoted, sizeof(quoted));
			dcv_yin_error(&l->y, id_node,
			              "remote '%s' is defined twice (first at line %lu)", quoted,
			              lines[j]);
			free(r->id);
			free(r->addrs);
			memset(r, 0, sizeof(*r));
			continue;
		}
		lines[cfg->n_remotes++] = id_node->line;
	}
	rc = DCV_OK;
out:
	free(lines);
	return rc;
}

static int zone_primaries(struct cfg_loader *l, const struct dcv_yin_node *node, const char *what,
                          struct dcv_zone *z)
{
	char sub[320], quoted[80];
	long n = 0;

	snprintf(sub, sizeof(sub), "%s: primary", what);
	n = dcv_yin_count(&l->y, node, sub, true);
	if (n == 0)
		dcv_yin_error(&l->y, node, "%s: at least one remote id is required", sub);
	if (n <= 0)
		return DCV_OK;
	z->primaries = calloc((size_t)n, sizeof(*z->primaries));
	if (z->primaries == NULL)
		return DCV_ENOMEM;
	for (size_t i = 0; i < (size_t)n; i++) {
		const struct dcv_yin_node *item = dcv_yin_item(node, i);
		const struct dcv_remote *r = NULL;
		const char *text = dcv_yin_text(&l->y, item, sub);
		bool twice = false;

		if (text == NULL)
			continue;
		for (size_t j = 0; j < l->cfg->n_remotes && r == NULL; j++)
			if (strcmp(l->cfg->remotes[j].id, text) == 0)
				r = &l->cfg->remotes[j];
		dcv_yin_quote(text, 64, quoted, sizeof(quoted));
		if (r == NULL) {
			dcv_yin_error(&l->y, item, "%s: remote '%s' is not defined", sub, quoted);
			continue;
		}
		for (size_t j = 0; j < z->n_primaries; j++)
			twice = twice || z->primaries[j] == r;
		if (twice) {
			dcv_yin_error(&l->y, item, "%s: remote '%s' is listed twice", sub, quoted);
			continue;
		}
		z->primaries[z->n_primaries++] = r;
	}
	return DCV_OK;
}

static int one_zone(struct cfg_loader *l, const struct dcv_yin_node *item, struct dcv_zone *z,
                    const struct dcv_yin_node **domain_node)
{
	const struct dcv_yin_node *v[Z_COUNT + 1];
	char what[300], quoted[80];
	const char *text = NULL;
	int rc = DCV_OK;

	*domain_node = NULL;
	if (!dcv_yin_fields(&l->y, item, "zone", zone_keys, v, NULL))
		goto out;
	if (v[Z_DOMAIN] == NULL) {
		dcv_yin_error(&l->y, item, "zone: domain is required");
		goto out;
	}
	if ((text = dcv_yin_text(&l->y, v[Z_DOMAIN], "zone: domain")) == NULL)
		goto out;
	if ((z->domain = name_norm(text)) == NULL) {
		rc = DCV_ENOMEM;
		goto out;
	}
	if (!zone_name_ok(z->domain)) {
		dcv_yin_quote(text, 64, quoted, sizeof(quoted));
		dcv_yin_error(&l->y, v[Z_DOMAIN],
		              "zone: domain '%s' is not a domain name (letters, digits, '-' and "
		              "'_' in labels of 1 to 63 octets)",
		              quoted);
		free(z->domain);
		z->domain = NULL;
		goto out;
	}
	*domain_node = v[Z_DOMAIN];
	snprintf(what, sizeof(what), "zone '%s'", z->domain);
	if (v[Z_PRIMARY] == NULL)
		dcv_yin_error(&l->y, item, "%s: primary is required (the remotes to update)", what);
	else if ((rc = zone_primaries(l, v[Z_PRIMARY], what, z)) < 0)
		goto out;
	if ((rc = cfg_submitters(l, v[Z_SUBMITTERS], what, z)) < 0)
		goto out;
	cfg_duration(l, v[Z_POLL_MAX], "poll_max", 1, &z->poll_max);
	snprintf(what + strlen(what), sizeof(what) - strlen(what), ": nameservers");
	rc = cfg_addresses(l, v[Z_NAMESERVERS], what, false, &z->nameservers, &z->n_nameservers);
out:
	return rc;
}

static void zone_drop(struct dcv_zone *z)
{
	free(z->domain);
	free(z->primaries);
	free(z->nameservers);
	free(z->submitters);
	memset(z, 0, sizeof(*z));
}

int cfg_zones(struct cfg_loader *l, const struct dcv_yin_node *node)
{
	struct dcv_config *cfg = l->cfg;
	const struct dcv_yin_node *domain_node = NULL;
	unsigned long *lines = NULL;
	long n = dcv_yin_count(&l->y, node, "zone", false);
	int rc = DCV_ENOMEM;

	if (n <= 0)
		return DCV_OK;
	cfg->zones = calloc((size_t)n, sizeof(*cfg->zones));
	cfg->zone_names = calloc((size_t)n, sizeof(*cfg->zone_names));
	lines = calloc((size_t)n, sizeof(*lines));
	if (cfg->zones == NULL || cfg->zone_names == NULL || lines == NULL)
		goto out;
	for (size_t i = 0; i < (size_t)n; i++) {
		struct dcv_zone *z = &cfg->zones[cfg->n_zones];
		size_t j = 0;

		rc = one_zone(l, dcv_yin_item(node, i), z, &domain_node);
		if (rc < 0 || z->domain == NULL) {
			zone_drop(z);
			if (rc < 0)
				goto out;
			continue;
		}
		for (j = 0; j < cfg->n_zones; j++)
			if (strcmp(cfg->zones[j].domain, z->domain) == 0)
				break;
		if (j < cfg->n_zones) {
			dcv_yin_error(&l->y, domain_node,
			              "zone '%s' is defined twice (first at line %lu)", z->domain,
			              lines[j]);
			zone_drop(z);
			continue;
		}
		cfg->zone_names[cfg->n_zones] = z->domain;
		lines[cfg->n_zones++] = domain_node->line;
	}
	rc = DCV_OK;
out:
	free(lines);
	return rc;
}
