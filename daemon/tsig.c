/* tsig.c -- TSIG algorithms, keys, signing and verification (RFC 8945). */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "tsig.h"

static const struct {
	const char *name;  /* short form */
	const char *dname; /* on the wire */
} algs[] = {
    [DCV_HMAC_MD5] = {"hmac-md5", "hmac-md5.sig-alg.reg.int"},
    [DCV_HMAC_SHA1] = {"hmac-sha1", "hmac-sha1"},
    [DCV_HMAC_SHA224] = {"hmac-sha224", "hmac-sha224"},
    [DCV_HMAC_SHA256] = {"hmac-sha256", "hmac-sha256"},
    [DCV_HMAC_SHA384] = {"hmac-sha384", "hmac-sha384"},
    [DCV_HMAC_SHA512] = {"hmac-sha512", "hmac-sha512"},
};

int dcv_tsig_alg_parse(const char *text, enum dcv_tsig_alg *out)
{
	size_t n = strlen(text);

	if (n > 0 && text[n - 1] == '.')
		n--;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if ((strlen(algs[i].name) == n && strncasecmp(text, algs[i].name, n) == 0) ||
		    (strlen(algs[i].dname) == n && strncasecmp(text, algs[i].dname, n) == 0)) {
			*out = (enum dcv_tsig_alg)i;
			return DCV_OK;
		}
	}
	return DCV_EINVAL;
}

const char *dcv_tsig_alg_name(enum dcv_tsig_alg alg)
{
	return algs[alg].name;
}

const char *dcv_tsig_alg_dname(enum dcv_tsig_alg alg)
{
	return algs[alg].dname;
}

int dcv_tsig_key_set(struct dcv_tsig_key *key, const char *name, enum dcv_tsig_alg alg,
                     const char *secret_b64, struct dcv_why *why)
{
	size_t n = strlen(name), b64_len = strlen(secret_b64);
	unsigned char buf[DCV_TSIG_SECRET_MAX + 4];
	int decoded = 0, pad = 0;
	int rc = DCV_EKEY;

	memset(key, 0, sizeof(*key));
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof(key->name)) {
		dcv_why_set(why, "key name '%s' is not a domain name", name);
		goto out;
	}
	memcpy(key->name, name, n);
	for (char *p = key->name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (dcv_wire_from_text(key->name, key->name_wire, &key->name_wire_len) < 0) {
		dcv_why_set(why, "key name '%s' is not a domain name", name);
		goto out;
	}
	key->alg = alg;
	/* EVP_DecodeBlock wants whole quanta and does not report padding. */
	if (b64_len == 0 || b64_len % 4 != 0 || b64_len / 4 * 3 > sizeof(buf)) {
		dcv_why_set(why, "key '%s': the secret is not base64 of 1 to %d bytes", key->name,
		            DCV_TSIG_SECRET_MAX);
		goto out;
	}
	for (size_t i = 0; i < b64_len; i++) {
		char c = secret_b64[i];
		if (c == '=' && i >= b64_len - 2) {
			pad++;
			continue;
		}
		if (pad > 0 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		                 (c >= '0' && c <= '9') || c == '+' || c == '/')) {
			dcv_why_set(why, "key '%s': the secret is not base64", key->name);
			goto out;
		}
	}
	decoded = EVP_DecodeBlock(buf, (const unsigned char *)secret_b64, (int)b64_len);
	if (decoded < 0 || decoded - pad <= 0 || (size_t)(decoded - pad) > DCV_TSIG_SECRET_MAX) {
		dcv_why_set(why, "key '%s': the secret is not base64 of 1 to %d bytes", key->name,
		            DCV_TSIG_SECRET_MAX);
		goto out;
	}
	memcpy(key->secret, buf, (size_t)(decoded - pad));
	key->secret_len = (size_t)(decoded - pad);
	rc = DCV_OK;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc < 0)
		dcv_tsig_key_clear(key);
	return rc;
}

void dcv_tsig_key_clear(struct dcv_tsig_key *key)
{
	OPENSSL_cleanse(key->secret, sizeof(key->secret));
	key->secret_len = 0;
}
