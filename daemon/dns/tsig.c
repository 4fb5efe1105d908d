/* tsig.c -- TSIG algorithms, keys, signing and verification (RFC 8945). */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "tsig.h"

static const struct {
	const char *name;   /* short form */
	const char *dname;  /* on the wire */
	const char *digest; /* OpenSSL's name for the hash */
	size_t mac_len;     /* full HMAC length, bytes */
} algs[] = {
    [DCV_HMAC_MD5] = {"hmac-md5", "hmac-md5.sig-alg.reg.int", "MD5", 16},
    [DCV_HMAC_SHA1] = {"hmac-sha1", "hmac-sha1", "SHA1", 20},
    [DCV_HMAC_SHA224] = {"hmac-sha224", "hmac-sha224", "SHA224", 28},
    [DCV_HMAC_SHA256] = {"hmac-sha256", "hmac-sha256", "SHA256", 32},
    [DCV_HMAC_SHA384] = {"hmac-sha384", "hmac-sha384", "SHA384", 48},
    [DCV_HMAC_SHA512] = {"hmac-sha512", "hmac-sha512", "SHA512", 64},
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

/*
 * A name from a file, for a message: at most 64 bytes, and bytes outside
 * printable ASCII shown as '?', so that it cannot break or forge a line.
 */
static void quote_name(const char *name, char out[72])
{
	size_t i = 0;

	for (; name[i] != '\0' && i < 64; i++)
		out[i] =
		    (unsigned char)name[i] < ' ' || (unsigned char)name[i] >= 0x7f ? '?' : name[i];
	strcpy(out + i, name[i] != '\0' ? "..." : "");
}

int dcv_tsig_key_set(struct dcv_tsig_key *key, const char *name, enum dcv_tsig_alg alg,
                     const char *secret_b64, struct dcv_why *why)
{
	size_t n = strlen(name), b64_len = strlen(secret_b64);
	unsigned char buf[DCV_TSIG_SECRET_MAX + 4];
	char quoted[72];
	int decoded = 0, pad = 0;
	int rc = DCV_EKEY;

	memset(key, 0, sizeof(*key));
	quote_name(name, quoted);
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof(key->name)) {
		dcv_why_set(why, "key name '%s' is not a domain name", quoted);
		goto out;
	}
	/* Key names go into messages and logs: printable ASCII only (no blank either). */
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] >= 0x7f) {
			dcv_why_set(why,
			            "key name '%s' is not a domain name (a blank, control or "
			            "non-ASCII byte)",
			            quoted);
			goto out;
		}
	}
	memcpy(key->name, name, n);
	for (char *p = key->name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (dcv_wire_from_text(key->name, key->name_wire, &key->name_wire_len) < 0) {
		dcv_why_set(why, "key name '%s' is not a domain name", quoted);
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

/*
 * Signing and verification (RFC 8945). The MAC is computed over byte ranges
 * of the message as it is (or will be) on the wire, never over a re-encoded
 * copy: re-encoding could change compression or case and break the MAC.
 */

#define TSIG_TYPE 250
#define TSIG_CLASS 255 /* ANY */
#define TSIG_BADSIG 16
#define TSIG_BADKEY 17
#define TSIG_BADTIME 18
#define TSIG_TIME_MAX 0xffffffffffffULL /* time signed is 48 bits */
/* The TSIG variables but the other data: names, class, TTL, time, fudge, error, other len. */
#define TSIG_VARS_MAX (2 * DCV_WIRE_NAME_MAX + 2 + 4 + 6 + 2 + 2 + 2)

/* A byte range fed to the HMAC. */
struct mac_piece {
	const uint8_t *p;
	size_t n;
};

/* A TSIG record found at the end of a message. */
struct found_tsig {
	size_t start; /* its first byte: the signed part of the message ends here */
	uint8_t name[DCV_WIRE_NAME_MAX], alg[DCV_WIRE_NAME_MAX];
	size_t name_len, alg_len;
	uint64_t time_signed;
	uint16_t fudge, mac_len, orig_id, error, other_len;
	const uint8_t *mac, *other;
};

static void put48(uint8_t *p, uint64_t v)
{
	for (int i = 5; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get48(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 6; i++)
		v = (v << 8) | p[i];
	return v;
}

static const char *tsig_error_name(uint16_t error)
{
	static const char *const names[] = {"BADSIG",  "BADKEY", "BADTIME", "BADMODE",
	                                    "BADNAME", "BADALG", "BADTRUNC"};

	if (error == 0)
		return "NOERROR";
	if (error >= 16 && error < 16 + sizeof(names) / sizeof(names[0]))
		return names[error - 16];
	return "unknown";
}

/* A key that can sign: known algorithm, a name, a secret (not wiped). */
static int check_key(const struct dcv_tsig_key *key, struct dcv_why *why)
{
	int rc = DCV_OK;

	if (key == NULL) {
		rc = DCV_EINVAL;
		dcv_why_set(why, "no TSIG key given");
	} else if ((size_t)key->alg >= sizeof(algs) / sizeof(algs[0]) || key->name_wire_len == 0 ||
	           key->name_wire_len > DCV_WIRE_NAME_MAX || key->secret_len == 0 ||
	           key->secret_len > DCV_TSIG_SECRET_MAX) {
		rc = DCV_EKEY;
		dcv_why_set(why, "key '%.255s' is not set up (or its secret was cleared)",
		            key->name);
	}
	return rc;
}

/* HMAC with key over the concatenation of pieces; out gets the full MAC. */
static int hmac_pieces(const struct dcv_tsig_key *key, const struct mac_piece *pieces,
                       size_t n_pieces, uint8_t out[DCV_TSIG_MAC_MAX], struct dcv_why *why)
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *mctx = NULL;
	OSSL_PARAM params[2];
	size_t out_len = 0;
	int rc = DCV_EIO;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	                                             (char *)algs[key->alg].digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL || (mctx = EVP_MAC_CTX_new(mac)) == NULL ||
	    !EVP_MAC_init(mctx, key->secret, key->secret_len, params))
		goto out;
	for (size_t i = 0; i < n_pieces; i++)
		if (pieces[i].n > 0 && !EVP_MAC_update(mctx, pieces[i].p, pieces[i].n))
			goto out;
	if (!EVP_MAC_final(mctx, out, &out_len, DCV_TSIG_MAC_MAX) ||
	    out_len != algs[key->alg].mac_len)
		goto out;
	rc = DCV_OK;
out:
	if (rc < 0) {
		dcv_why_set(why, "key '%s': %s failed in OpenSSL: %s", key->name,
		            algs[key->alg].name, ERR_reason_error_string(ERR_peek_last_error()));
		ERR_clear_error();
	}
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(mac);
	return rc;
}

/* The algorithm's name in (lower-case, uncompressed) wire form. */
static size_t alg_wire(enum dcv_tsig_alg alg, uint8_t out[DCV_WIRE_NAME_MAX])
{
	size_t n = 0;

	/* The names in algs[] are valid: this cannot fail. */
	(void)dcv_wire_from_text(algs[alg].dname, out, &n);
	return n;
}

/* Writes the TSIG variables (RFC 8945 §4.3.3) up to the other data; returns their length. */
static size_t put_vars(uint8_t out[TSIG_VARS_MAX], const struct dcv_tsig_key *key,
                       const uint8_t *alg, size_t alg_len, uint64_t time_signed, uint16_t fudge,
                       uint16_t error, uint16_t other_len)
{
	size_t n = 0;

	memcpy(out, key->name_wire, key->name_wire_len);
	n += key->name_wire_len;
	dcv_wire_put16(out + n, TSIG_CLASS);
	memset(out + n + 2, 0, 4); /* TTL */
	n += 6;
	memcpy(out + n, alg, alg_len);
	n += alg_len;
	put48(out + n, time_signed);
	dcv_wire_put16(out + n + 6, fudge);
	dcv_wire_put16(out + n + 8, error);
	dcv_wire_put16(out + n + 10, other_len);
	return n + 12;
}

int dcv_tsig_sign(const struct dcv_tsig_key *key, uint8_t *msg, size_t *len, size_t cap,
                  uint64_t now, struct dcv_tsig_ctx *ctx, struct dcv_why *why)
{
	uint8_t alg[DCV_WIRE_NAME_MAX], vars[TSIG_VARS_MAX], mac[DCV_TSIG_MAC_MAX];
	struct mac_piece pieces[2];
	size_t alg_len = 0, mac_len = 0, rr_len = 0, rdlength = 0;
	uint8_t *p = NULL;
	int rc = check_key(key, why);

	if (rc < 0)
		goto out;
	rc = DCV_EINVAL;
	if (*len < DCV_WIRE_HEADER || *len > cap) {
		dcv_why_set(why, "key '%s': cannot sign a message of %zu bytes", key->name, *len);
		goto out;
	}
	if (DCV_WIRE_ARCOUNT(msg) == UINT16_MAX) {
		dcv_why_set(why, "key '%s': the additional section is full", key->name);
		goto out;
	}
	if (now > TSIG_TIME_MAX) {
		dcv_why_set(why, "key '%s': time %" PRIu64 " does not fit in 48 bits", key->name,
		            now);
		goto out;
	}
	alg_len = alg_wire(key->alg, alg);
	mac_len = algs[key->alg].mac_len;
	rdlength = alg_len + 16 + mac_len;
	rr_len = key->name_wire_len + 10 + rdlength;
	if (rr_len > cap - *len) {
		rc = DCV_ETOOBIG;
		dcv_why_set(why,
		            "key '%s': the signed message needs %zu bytes, the buffer holds %zu",
		            key->name, *len + rr_len, cap);
		goto out;
	}
	/* A request's MAC covers the message as it is now, then the TSIG variables. */
	pieces[0] = (struct mac_piece){msg, *len};
	pieces[1] =
	    (struct mac_piece){vars, put_vars(vars, key, alg, alg_len, now, DCV_TSIG_FUDGE, 0, 0)};
	rc = hmac_pieces(key, pieces, 2, mac, why);
	if (rc < 0)
		goto out;

	p = msg + *len;
	memcpy(p, key->name_wire, key->name_wire_len);
	p += key->name_wire_len;
	dcv_wire_put16(p, TSIG_TYPE);
	dcv_wire_put16(p + 2, TSIG_CLASS);
	memset(p + 4, 0, 4); /* TTL */
	dcv_wire_put16(p + 8, (uint16_t)rdlength);
	p += 10;
	memcpy(p, alg, alg_len);
	p += alg_len;
	put48(p, now);
	dcv_wire_put16(p + 6, DCV_TSIG_FUDGE);
	dcv_wire_put16(p + 8, (uint16_t)mac_len);
	memcpy(p + 10, mac, mac_len);
	p += 10 + mac_len;
	dcv_wire_put16(p, DCV_WIRE_ID(msg)); /* original ID */
	memset(p + 2, 0, 4);                 /* error, other len */
	dcv_wire_put16(msg + 10, (uint16_t)(DCV_WIRE_ARCOUNT(msg) + 1));
	*len += rr_len;
	if (ctx != NULL) {
		ctx->key = key;
		memcpy(ctx->mac, mac, mac_len);
		ctx->mac_len = mac_len;
		ctx->time_signed = now;
		ctx->id = DCV_WIRE_ID(msg);
	}
	rc = DCV_OK;
out:
	return rc;
}

/*
 * Finds the TSIG record, which must be the last record of the message and
 * in the additional section, and splits its RDATA; every length is checked
 * against the record's end. DCV_ETSIG when there is none or it is misplaced,
 * DCV_EREPLY when the message or the record is malformed.
 */
static int find_tsig(const char *key_name, const uint8_t *msg, size_t len, struct found_tsig *t,
                     struct dcv_why *why)
{
	struct dcv_wire_rr rr = {0};
	size_t pos = 0, total = 0;
	int rc = dcv_wire_after_question(msg, len, &pos);

	if (rc < 0) {
		dcv_why_set(why,
		            "key '%s': reply of %zu bytes: the header or the question is cut short",
		            key_name, len);
		goto out;
	}
	total = (size_t)DCV_WIRE_ANCOUNT(msg) + DCV_WIRE_NSCOUNT(msg) + DCV_WIRE_ARCOUNT(msg);
	for (size_t i = 0; i < total; i++) {
		rc = dcv_wire_read_rr(msg, len, &pos, &rr);
		if (rc < 0) {
			dcv_why_set(why,
			            "key '%s': reply record %zu of %zu is cut short or malformed",
			            key_name, i + 1, total);
			goto out;
		}
		if (rr.type == TSIG_TYPE && (i + 1 < total || DCV_WIRE_ARCOUNT(msg) == 0)) {
			rc = DCV_ETSIG;
			dcv_why_set(
			    why,
			    "key '%s': reply record %zu of %zu is a TSIG, which must be the "
			    "last record of the additional section",
			    key_name, i + 1, total);
			goto out;
		}
	}
	rc = DCV_EREPLY;
	if (pos != len) {
		dcv_why_set(why, "key '%s': reply has %zu bytes after its last record", key_name,
		            len - pos);
		goto out;
	}
	if (total == 0 || rr.type != TSIG_TYPE) {
		rc = DCV_ETSIG;
		dcv_why_set(why, "key '%s': reply is not signed (no TSIG record)", key_name);
		goto out;
	}
	if (rr.class != TSIG_CLASS || rr.ttl != 0) {
		dcv_why_set(why,
		            "key '%s': reply TSIG has class %u and TTL %" PRIu32
		            " (must be ANY and 0)",
		            key_name, rr.class, rr.ttl);
		goto out;
	}
	t->start = rr.start;
	pos = rr.start;
	if (dcv_wire_read_name(msg, len, &pos, t->name, &t->name_len) < 0)
		goto malformed;
	/* Reading with rr.end as the limit keeps the name inside the RDATA. */
	pos = rr.rdata;
	if (dcv_wire_read_name(msg, rr.end, &pos, t->alg, &t->alg_len) < 0 || rr.end - pos < 10)
		goto malformed;
	t->time_signed = get48(msg + pos);
	t->fudge = dcv_wire_u16(msg + pos + 6);
	t->mac_len = dcv_wire_u16(msg + pos + 8);
	pos += 10;
	if (rr.end - pos < (size_t)t->mac_len + 6)
		goto malformed;
	t->mac = msg + pos;
	pos += t->mac_len;
	t->orig_id = dcv_wire_u16(msg + pos);
	t->error = dcv_wire_u16(msg + pos + 2);
	t->other_len = dcv_wire_u16(msg + pos + 4);
	pos += 6;
	if (rr.end - pos != t->other_len)
		goto malformed;
	t->other = msg + pos;
	rc = DCV_OK;
	goto out;
malformed:
	rc = DCV_EREPLY;
	dcv_why_set(why, "key '%s': reply TSIG record data is malformed", key_name);
out:
	return rc;
}

/* The server's BADTIME report: its clock travels in the other data (6 bytes). */
static int report_badtime(const struct dcv_tsig_key *key, const struct found_tsig *t, uint64_t now,
                          struct dcv_tsig_result *res, struct dcv_why *why)
{
	if (t->other_len == 6) {
		res->server_time = get48(t->other);
		res->skew = (int64_t)res->server_time - (int64_t)now;
		dcv_why_set(why,
		            "server reports BADTIME for key '%s': its clock says %" PRIu64
		            ", ours %" PRIu64 ", %" PRId64 " s %s (fudge %u s)",
		            key->name, res->server_time, now,
		            res->skew < 0 ? -res->skew : res->skew,
		            res->skew < 0 ? "behind ours" : "ahead of ours", t->fudge);
	} else {
		dcv_why_set(why,
		            "server reports BADTIME for key '%s' but does not say its time; "
		            "our clock says %" PRIu64,
		            key->name, now);
	}
	return DCV_EBADTIME;
}

int dcv_tsig_verify(const struct dcv_tsig_ctx *ctx, const uint8_t *msg, size_t len, uint64_t now,
                    struct dcv_tsig_result *res, struct dcv_why *why)
{
	const struct dcv_tsig_key *key = ctx != NULL ? ctx->key : NULL;
	struct dcv_tsig_result unused;
	struct found_tsig t;
	uint8_t alg[DCV_WIRE_NAME_MAX], vars[TSIG_VARS_MAX], mac[DCV_TSIG_MAC_MAX];
	uint8_t head[DCV_WIRE_HEADER], req_mac_len[2];
	struct mac_piece pieces[6];
	char text[DCV_WIRE_TEXT_MAX];
	size_t alg_len = 0, full = 0;
	int64_t apart = 0;
	int rc = check_key(key, why);

	if (res == NULL)
		res = &unused;
	memset(res, 0, sizeof(*res));
	memset(&t, 0, sizeof(t));
	if (rc < 0)
		goto out;
	rc = DCV_EINVAL;
	if (ctx->mac_len > DCV_TSIG_MAC_MAX || now > TSIG_TIME_MAX) {
		dcv_why_set(why, "key '%s': request context or time out of range", key->name);
		goto out;
	}
	rc = find_tsig(key->name, msg, len, &t, why);
	if (rc < 0)
		goto out;
	res->error = t.error;
	res->server_time = t.time_signed;
	res->skew = (int64_t)t.time_signed - (int64_t)now;

	/* Anything but our key and algorithm is not an answer to us. */
	rc = DCV_ETSIG;
	if (t.name_len != key->name_wire_len || memcmp(t.name, key->name_wire, t.name_len) != 0) {
		(void)dcv_wire_to_text(t.name, t.name_len, text);
		dcv_why_set(why, "reply is signed with key '%s', not with our key '%s'", text,
		            key->name);
		goto out;
	}
	alg_len = alg_wire(key->alg, alg);
	if (t.alg_len != alg_len || memcmp(t.alg, alg, alg_len) != 0) {
		(void)dcv_wire_to_text(t.alg, t.alg_len, text);
		dcv_why_set(why, "key '%s': reply is signed with algorithm '%s', not %s", key->name,
		            text, algs[key->alg].name);
		goto out;
	}

	/* BADSIG and BADKEY replies are unsigned by design (RFC 8945 §5.3.2). */
	full = algs[key->alg].mac_len;
	if (t.mac_len == 0 && t.error == TSIG_BADSIG) {
		rc = DCV_EBADSIG;
		dcv_why_set(why,
		            "server reports BADSIG for key '%s' (%s): it does not accept our "
		            "signature; do both sides have the same secret?",
		            key->name, algs[key->alg].name);
		goto out;
	}
	if (t.mac_len == 0 && t.error == TSIG_BADKEY) {
		rc = DCV_EBADKEY;
		dcv_why_set(why,
		            "server reports BADKEY: it does not know key '%s' with algorithm %s",
		            key->name, algs[key->alg].name);
		goto out;
	}
	if (t.mac_len != full) {
		/* Truncation (RFC 8945 §5.2.2.1) is optional; we never ask for it. */
		dcv_why_set(why,
		            "key '%s': reply MAC is %u bytes with TSIG error %u (%s); %s needs %zu "
		            "(truncated or empty MACs are not accepted)",
		            key->name, t.mac_len, t.error, tsig_error_name(t.error),
		            algs[key->alg].name, full);
		goto out;
	}

	/*
	 * A reply's MAC covers the request MAC, the reply as it was before the
	 * TSIG was added (original ID, ARCOUNT without it) and the TSIG
	 * variables. The TSIG is the last record, so the reply without it is
	 * the bytes before its start: compression pointers only point back.
	 */
	memcpy(head, msg, DCV_WIRE_HEADER);
	dcv_wire_put16(head, t.orig_id);
	dcv_wire_put16(head + 10, (uint16_t)(DCV_WIRE_ARCOUNT(msg) - 1));
	dcv_wire_put16(req_mac_len, (uint16_t)ctx->mac_len);
	pieces[0] = (struct mac_piece){req_mac_len, 2};
	pieces[1] = (struct mac_piece){ctx->mac, ctx->mac_len};
	pieces[2] = (struct mac_piece){head, DCV_WIRE_HEADER};
	pieces[3] = (struct mac_piece){msg + DCV_WIRE_HEADER, t.start - DCV_WIRE_HEADER};
	pieces[4] = (struct mac_piece){
	    vars, put_vars(vars, key, alg, alg_len, t.time_signed, t.fudge, t.error, t.other_len)};
	pieces[5] = (struct mac_piece){t.other, t.other_len};
	rc = hmac_pieces(key, pieces, 6, mac, why);
	if (rc < 0)
		goto out;
	rc = DCV_ETSIG;
	if (CRYPTO_memcmp(mac, t.mac, full) != 0) {
		dcv_why_set(why,
		            "key '%s': reply MAC does not verify (altered, forged, signed with "
		            "another secret, or not a reply to our request)",
		            key->name);
		goto out;
	}

	/* Signed error reports: the server speaks, and it is really the server. */
	if (t.error == TSIG_BADTIME) {
		rc = report_badtime(key, &t, now, res, why);
		goto out;
	}
	if (t.error == TSIG_BADSIG || t.error == TSIG_BADKEY) {
		rc = t.error == TSIG_BADSIG ? DCV_EBADSIG : DCV_EBADKEY;
		dcv_why_set(why, "server reports %s for key '%s' (algorithm %s)",
		            tsig_error_name(t.error), key->name, algs[key->alg].name);
		goto out;
	}
	if (t.error != 0) {
		dcv_why_set(why, "server reports TSIG error %u (%s) for key '%s' (algorithm %s)",
		            t.error, tsig_error_name(t.error), key->name, algs[key->alg].name);
		goto out;
	}

	/* Our own time check (RFC 8945 §5.4.2): an old reply could be a replay. */
	apart = (int64_t)now - (int64_t)t.time_signed;
	if (apart > (int64_t)t.fudge || -apart > (int64_t)t.fudge) {
		dcv_why_set(why,
		            "key '%s': reply was signed at %" PRIu64 " by the server's clock, "
		            "ours says %" PRIu64 ": %" PRId64 " s apart, over the fudge of %u s",
		            key->name, t.time_signed, now, apart < 0 ? -apart : apart, t.fudge);
		goto out;
	}
	rc = DCV_OK;
out:
	return rc;
}
