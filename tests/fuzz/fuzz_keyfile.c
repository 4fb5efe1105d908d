/*
 * fuzz_keyfile.c -- a TSIG key file, as any bytes: written to FOLDER/fuzz.key
 * (mode 0600, or 0644 for inputs of odd length, which adds the mode
 * warning) and loaded with dcv_keyfile_load(), once for any key and once
 * for the key named "dcv".
 *
 * Oracles: a refused file leaves no secret in the key; a loaded key is set
 * up (name, wire name, secret length); no message, warning included,
 * shows the secret, neither the loaded one nor one written in the input.
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"

static void keyfile_load(const struct dcv_strv *secrets, const char *path, const char *want)
{
	struct dcv_tsig_key key;
	struct dcv_strv warnings = {0};
	struct dcv_why why = {""};
	char b64[4 * DCV_TSIG_SECRET_MAX / 3 + 8];
	uint8_t wire[DCV_WIRE_NAME_MAX];
	size_t wire_len = 0;
	const char *leak = NULL;
	int rc = dcv_keyfile_load(path, want, &key, &warnings, &why);

	FUZZ_CHECK(rc == DCV_OK || rc == DCV_EKEY || rc == DCV_EIO || rc == DCV_ENOMEM,
	           "keyfile_load: %d", rc);
	FUZZ_CHECK(strpbrk(why.text, "\n\r") == NULL, "message of two lines: %s", why.text);
	leak = fuzz_secrets_shown(secrets, why.text);
	FUZZ_CHECK(leak == NULL, "secret '%s' shown in: %s", leak, why.text);
	for (size_t i = 0; i < warnings.n; i++) {
		leak = fuzz_secrets_shown(secrets, warnings.v[i]);
		FUZZ_CHECK(leak == NULL, "secret '%s' shown in: %s", leak, warnings.v[i]);
	}
	if (rc < 0) {
		FUZZ_CHECK(why.text[0] != '\0', "refused without a reason");
		FUZZ_CHECK(key.secret_len == 0, "a refused file leaves a secret of %zu bytes",
		           key.secret_len);
		for (size_t i = 0; i < sizeof(key.secret); i++)
			FUZZ_CHECK(key.secret[i] == 0, "a refused file leaves secret bytes");
		dcv_strv_free(&warnings);
		return;
	}
	FUZZ_CHECK(key.secret_len >= 1 && key.secret_len <= DCV_TSIG_SECRET_MAX,
	           "secret of %zu bytes", key.secret_len);
	FUZZ_CHECK(key.name[0] != '\0' && key.name[strlen(key.name) - 1] != '.', "key name '%s'",
	           key.name);
	FUZZ_CHECK(dcv_wire_from_text(key.name, wire, &wire_len) == DCV_OK &&
	               wire_len == key.name_wire_len && memcmp(wire, key.name_wire, wire_len) == 0,
	           "key name '%s' and its wire form differ", key.name);
	FUZZ_CHECK((unsigned)key.alg <= DCV_HMAC_SHA512, "algorithm %d", (int)key.alg);
	fuzz_base64(key.secret, key.secret_len, b64);
	FUZZ_CHECK(strstr(why.text, b64) == NULL, "the secret is in the message");
	for (size_t i = 0; i < warnings.n; i++)
		FUZZ_CHECK(strstr(warnings.v[i], b64) == NULL, "the secret is in a warning");
	dcv_tsig_key_clear(&key);
	dcv_strv_free(&warnings);
}

/* keymgr's YAML or BIND's syntax: the rule keyfile.c documents (the first word after comments). */
static bool keyfile_is_yaml(const uint8_t *data, size_t size)
{
	size_t i = 0;

	while (i < size) {
		if (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
			i++;
		} else if (data[i] == '#') {
			while (i < size && data[i] != '\n')
				i++;
		} else {
			break;
		}
	}
	return (size - i >= 4 && memcmp(data + i, "key:", 4) == 0) ||
	       (size - i >= 3 && memcmp(data + i, "---", 3) == 0);
}

int fuzz_keyfile_one(const uint8_t *data, size_t size)
{
	struct dcv_strv secrets = {0};
	char path[512];

	fuzz_secrets_find(data, size, keyfile_is_yaml(data, size), &secrets);
	fuzz_write_file(fuzz_path("fuzz.key", path, sizeof(path)), data, size,
	                size % 2 ? 0644 : 0600);
	keyfile_load(&secrets, path, NULL);
	keyfile_load(&secrets, path, "dcv");
	dcv_strv_free(&secrets);
	return 0;
}

DCV_FUZZ_ENTRY(fuzz_keyfile_one)
