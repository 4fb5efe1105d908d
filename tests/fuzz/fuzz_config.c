/*
 * fuzz_config.c -- a configuration file, as any bytes: written to
 * FOLDER/dcvd.yaml and loaded with dcv_config_load(). The folder also
 * holds key files (dcv.key from tsig-keygen, knot.key from keymgr,
 * two.key with two keys) that a configuration may name relatively. The
 * first line is also given to dcv_duration_parse().
 *
 * Oracles: the result code fits the error list (problems only on failure,
 * each one line); no message holds a secret (the key files' or one written
 * in the input); a loaded configuration keeps the documented ranges, its
 * zones are found by name, its remotes point at its keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "yin.h"

#define CONFIG_BIND_SECRET "Q29uZmlnRnV6ekJpbmRTZWNyZXQtMDEyMzQ1Njc4OWFi"
#define CONFIG_KNOT_SECRET "Q29uZmlnRnV6ektub3RTZWNyZXQtMDEyMzQ1Njc4OWFi"
#define CONFIG_TWO_SECRET "Q29uZmlnRnV6elR3b1NlY3JldC0wMTIzNDU2Nzg5YWJj"

static void config_files(void)
{
	static bool done;
	static const char bind[] = "key \"dcv\" {\n\talgorithm hmac-sha256;\n"
	                           "\tsecret \"" CONFIG_BIND_SECRET "\";\n};\n";
	static const char knot[] = "# hmac-sha256:dcv:" CONFIG_KNOT_SECRET "\nkey:\n"
	                           "  - id: dcv\n    algorithm: hmac-sha256\n"
	                           "    secret: " CONFIG_KNOT_SECRET "\n";
	static const char two[] =
	    "key \"one\" { algorithm hmac-sha512; secret \"" CONFIG_TWO_SECRET "\"; };\n"
	    "key \"two\" { algorithm hmac-sha1; secret \"" CONFIG_TWO_SECRET "\"; };\n";
	char path[512];

	if (done)
		return;
	fuzz_write_file(fuzz_path("dcv.key", path, sizeof(path)), bind, strlen(bind), 0600);
	fuzz_write_file(fuzz_path("knot.key", path, sizeof(path)), knot, strlen(knot), 0640);
	fuzz_write_file(fuzz_path("two.key", path, sizeof(path)), two, strlen(two), 0644);
	done = true;
}

/*
 * The secrets no message may show: the key files' (unless the input writes
 * them itself, in some other place) and those the input holds.
 */
static void config_secrets(const uint8_t *data, size_t size, struct dcv_strv *secrets)
{
	static const char *const fixed[] = {CONFIG_BIND_SECRET, CONFIG_KNOT_SECRET,
	                                    CONFIG_TWO_SECRET};

	fuzz_secrets_find(data, size, true, secrets);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (memmem(data, size, fixed[i], strlen(fixed[i])) == NULL &&
		    dcv_strv_push(secrets, fixed[i]) < 0)
			fuzz_fail("out of memory");
}

static void config_no_secret(const struct dcv_strv *secrets, const char *text)
{
	const char *leak = fuzz_secrets_shown(secrets, text);

	FUZZ_CHECK(leak == NULL, "secret '%s' shown in: %s", leak, text);
}

static void config_loaded(const struct dcv_config *cfg)
{
	char b64[4 * DCV_TSIG_SECRET_MAX / 3 + 8];

	FUZZ_CHECK(cfg->spool != NULL && cfg->spool[0] == '/', "spool '%s'", cfg->spool);
	FUZZ_CHECK(cfg->hook == NULL || cfg->hook[0] == '/', "hook '%s'", cfg->hook);
	FUZZ_CHECK(cfg->ttl <= 2147483647u, "ttl %u", cfg->ttl);
	FUZZ_CHECK(cfg->max_jobs >= 1 && cfg->max_names >= 1, "max_jobs/names");
	FUZZ_CHECK(cfg->max_message_size >= 512 && cfg->max_message_size <= 65535,
	           "max_message_size %llu", (unsigned long long)cfg->max_message_size);
	FUZZ_CHECK(cfg->visible_timeout >= 1 && cfg->visible_timeout <= DCV_DURATION_MAX &&
	               cfg->hook_timeout >= 1 && cfg->hook_timeout <= DCV_DURATION_MAX &&
	               cfg->withdraw_after <= DCV_DURATION_MAX,
	           "durations out of range");
	for (size_t i = 0; i < cfg->n_keys; i++) {
		const struct dcv_key *k = &cfg->keys[i];
		FUZZ_CHECK(k->tsig.secret_len >= 1 && k->tsig.secret_len <= DCV_TSIG_SECRET_MAX,
		           "key %zu: secret of %zu bytes", i, k->tsig.secret_len);
		fuzz_base64(k->tsig.secret, k->tsig.secret_len, b64);
		for (size_t j = 0; j < cfg->warnings.n && strlen(b64) >= 8; j++)
			FUZZ_CHECK(strstr(cfg->warnings.v[j], b64) == NULL,
			           "key %zu's secret in '%s'", i, cfg->warnings.v[j]);
	}
	for (size_t i = 0; i < cfg->n_remotes; i++) {
		const struct dcv_key *k = cfg->remotes[i].key;
		FUZZ_CHECK(cfg->remotes[i].n_addrs >= 1, "remote %zu without an address", i);
		FUZZ_CHECK(k == NULL || (k >= cfg->keys && k < cfg->keys + cfg->n_keys),
		           "remote %zu: key outside the configuration", i);
	}
	for (size_t i = 0; i < cfg->n_zones; i++) {
		const struct dcv_zone *z = &cfg->zones[i];
		size_t n = strlen(z->domain);
		FUZZ_CHECK(n > 0 && z->domain[n - 1] != '.', "zone '%s'", z->domain);
		for (size_t j = 0; j < n; j++)
			FUZZ_CHECK(z->domain[j] < 'A' || z->domain[j] > 'Z',
			           "zone '%s' not lower case", z->domain);
		FUZZ_CHECK(dcv_config_zone(cfg, z->domain) == z, "zone '%s' not found by name",
		           z->domain);
		FUZZ_CHECK(z->n_primaries >= 1, "zone '%s' without a primary", z->domain);
		for (size_t j = 0; j < z->n_primaries; j++)
			FUZZ_CHECK(z->primaries[j] >= cfg->remotes &&
			               z->primaries[j] < cfg->remotes + cfg->n_remotes,
			           "zone '%s': primary outside the configuration", z->domain);
	}
	for (size_t i = 0; i < cfg->warnings.n; i++)
		FUZZ_CHECK(strpbrk(cfg->warnings.v[i], "\n\r") == NULL, "warning of two lines: %s",
		           cfg->warnings.v[i]);
}

/* An independent reading of "digits, then at most one unit". */
static void config_duration(const uint8_t *data, size_t size)
{
	char text[32];
	size_t n = 0;
	uint64_t got = 0, want = 0, unit = 1;
	bool ok = true;
	int rc = 0;

	while (n < size && n + 1 < sizeof(text) && data[n] != '\n' && data[n] != '\0') {
		text[n] = (char)data[n];
		n++;
	}
	text[n] = '\0';
	rc = dcv_duration_parse(text, &got);
	for (n = 0; text[n] >= '0' && text[n] <= '9'; n++) {
		if (want > DCV_DURATION_MAX)
			break;
		want = want * 10 + (uint64_t)(text[n] - '0');
	}
	ok = n > 0 && want <= DCV_DURATION_MAX;
	if (text[n] != '\0') {
		const char *u = strchr("smhdw", text[n]);
		static const uint64_t units[] = {1, 60, 3600, 86400, 604800};
		ok = ok && text[n] != '\0' && u != NULL && text[n + 1] == '\0';
		if (ok)
			unit = units[u - "smhdw"];
	}
	ok = ok && want <= DCV_DURATION_MAX / unit;
	FUZZ_CHECK((rc == DCV_OK) == ok, "duration '%s': %d", text, rc);
	FUZZ_CHECK(!ok || got == want * unit, "duration '%s': %llu", text, (unsigned long long)got);
}

int fuzz_config_one(const uint8_t *data, size_t size)
{
	struct dcv_config *cfg = NULL;
	struct dcv_strv errors = {0}, secrets = {0};
	char path[512];
	int rc = 0;

	config_duration(data, size);
	config_files();
	config_secrets(data, size, &secrets);
	fuzz_write_file(fuzz_path("dcvd.yaml", path, sizeof(path)), data, size, 0600);
	rc = dcv_config_load(path, &cfg, &errors);
	FUZZ_CHECK(rc == DCV_OK || rc == DCV_ECONFIG || rc == DCV_EIO || rc == DCV_ENOMEM,
	           "config_load: %d", rc);
	FUZZ_CHECK((rc == DCV_OK) == (cfg != NULL), "config_load %d with config %p", rc,
	           (void *)cfg);
	FUZZ_CHECK(rc != DCV_ECONFIG || errors.n > 0, "DCV_ECONFIG without a problem listed");
	FUZZ_CHECK(rc != DCV_OK || errors.n == 0, "DCV_OK with %zu problems", errors.n);
	FUZZ_CHECK(errors.n <= DCV_YIN_MAX_ERRORS + 1, "%zu problems listed", errors.n);
	for (size_t i = 0; i < errors.n; i++) {
		FUZZ_CHECK(strpbrk(errors.v[i], "\n\r") == NULL, "problem of two lines: %s",
		           errors.v[i]);
		config_no_secret(&secrets, errors.v[i]);
	}
	if (cfg != NULL) {
		for (size_t i = 0; i < cfg->warnings.n; i++)
			config_no_secret(&secrets, cfg->warnings.v[i]);
		config_loaded(cfg);
	}
	dcv_config_free(cfg);
	dcv_strv_free(&errors);
	dcv_strv_free(&secrets);
	return 0;
}

DCV_FUZZ_ENTRY(fuzz_config_one)
