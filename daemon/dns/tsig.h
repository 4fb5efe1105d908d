/*
 * tsig.h -- TSIG keys and transaction signatures (RFC 8945), computed with
 * OpenSSL's HMAC over wire bytes (ldns 1.8.3's TSIG lacks sha224/sha384 and
 * the time and error handling we need; see docs/decisions.md).
 *
 * This module is the only holder of secrets: no function here or elsewhere
 * ever puts secret bytes into a message, a log line or a file. A key lives
 * inside the immutable configuration; dcv_tsig_key_clear() wipes it.
 */
#ifndef DCV_TSIG_H
#define DCV_TSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcv/err.h"
#include "wire.h"

enum dcv_tsig_alg {
	DCV_HMAC_MD5,
	DCV_HMAC_SHA1,
	DCV_HMAC_SHA224,
	DCV_HMAC_SHA256,
	DCV_HMAC_SHA384,
	DCV_HMAC_SHA512,
};

#define DCV_TSIG_SECRET_MAX 256
#define DCV_TSIG_MAC_MAX 64
#define DCV_TSIG_FUDGE 300

struct dcv_tsig_key {
	char name[256]; /* key name: lower case, no trailing dot */
	uint8_t name_wire[DCV_WIRE_NAME_MAX];
	size_t name_wire_len;
	enum dcv_tsig_alg alg;
	uint8_t secret[DCV_TSIG_SECRET_MAX];
	size_t secret_len;
};

/*
 * "hmac-sha256", "hmac-sha256.", "HMAC-SHA256", "hmac-md5.sig-alg.reg.int."
 * and "hmac-md5" all parse. DCV_EINVAL for anything else.
 */
int dcv_tsig_alg_parse(const char *text, enum dcv_tsig_alg *out);
/* Short name: "hmac-sha256" (and "hmac-md5" for MD5). */
const char *dcv_tsig_alg_name(enum dcv_tsig_alg alg);
/* The algorithm's domain name as it goes on the wire ("hmac-md5.sig-alg.reg.int"). */
const char *dcv_tsig_alg_dname(enum dcv_tsig_alg alg);

/*
 * Fills key from a name, algorithm and base64 secret (decoded here). The
 * message in why never contains the secret. DCV_EKEY on a bad name or a
 * secret that is not base64 or is empty / over DCV_TSIG_SECRET_MAX bytes.
 */
int dcv_tsig_key_set(struct dcv_tsig_key *key, const char *name, enum dcv_tsig_alg alg,
                     const char *secret_b64, struct dcv_why *why);

/* Overwrites the secret with zeros (OPENSSL_cleanse). */
void dcv_tsig_key_clear(struct dcv_tsig_key *key);

/*
 * What a signed request leaves behind to check the reply with. The request
 * MAC is not a secret (it travels in the clear).
 */
struct dcv_tsig_ctx {
	const struct dcv_tsig_key *key;
	uint8_t mac[DCV_TSIG_MAC_MAX];
	size_t mac_len;
	uint64_t time_signed;
	uint16_t id;
};

/*
 * Appends a TSIG record to the message msg[0..*len) (capacity cap), signed
 * with key at time now (seconds since the epoch), fudge DCV_TSIG_FUDGE;
 * increments ARCOUNT and updates *len. The message must not already carry a
 * TSIG. DCV_ETOOBIG when cap is too small; DCV_EIO if HMAC fails.
 */
int dcv_tsig_sign(const struct dcv_tsig_key *key, uint8_t *msg, size_t *len, size_t cap,
                  uint64_t now, struct dcv_tsig_ctx *ctx, struct dcv_why *why);

/* What the TSIG of a reply said. */
struct dcv_tsig_result {
	uint16_t error;       /* TSIG error field: 0, 16 BADSIG, 17 BADKEY, 18 BADTIME, ... */
	uint64_t server_time; /* the reply's time signed (for BADTIME: the server's clock) */
	int64_t skew;         /* server_time - now, seconds */
};

/*
 * Checks the TSIG of a reply to the request described by ctx, at time now.
 * Returns:
 *   DCV_OK        signed by our key, MAC verifies, time within the fudge;
 *   DCV_EBADSIG / DCV_EBADKEY   the server reports it (such replies are
 *                 unsigned by design: an empty MAC is accepted only with
 *                 these errors);
 *   DCV_EBADTIME  the server reports clock skew; res->skew says how much
 *                 (its MAC verified);
 *   DCV_ETSIG     no TSIG, a TSIG of another key or algorithm, a MAC that does
 *                 not verify, or our own time check failing -- a reply to
 *                 ignore (it may be forged);
 *   DCV_EREPLY    malformed message.
 * why describes the failure.
 */
int dcv_tsig_verify(const struct dcv_tsig_ctx *ctx, const uint8_t *msg, size_t len, uint64_t now,
                    struct dcv_tsig_result *res, struct dcv_why *why);

#endif
