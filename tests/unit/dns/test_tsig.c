/*
 * test_tsig.c -- TSIG signing and verification (RFC 8945).
 *
 * Oracles: a second, deliberately plain implementation of the MAC rules
 * written here (one HMAC() call over a concatenated buffer, names built by
 * hand), and ldns's TSIG code, which verifies our requests and signs
 * replies for the three algorithms it knows (md5, sha1, sha256). The real
 * oracle, BIND, is in tests/integration/tsig_bind.sh.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "testutil.h"
#include "tsig.h"
#include "wire.h"

#define N_ALGS 6
#define NOW 1700000000ULL

/* The test's own view of the algorithms: wire name and digest. */
static const struct {
	enum dcv_tsig_alg alg;
	const char *dname;
	const char *md;
	bool ldns; /* ldns 1.8.3 signs and verifies it */
} talgs[N_ALGS] = {
    {DCV_HMAC_MD5, "hmac-md5.sig-alg.reg.int", "MD5", true},
    {DCV_HMAC_SHA1, "hmac-sha1", "SHA1", true},
    {DCV_HMAC_SHA224, "hmac-sha224", "SHA224", false},
    {DCV_HMAC_SHA256, "hmac-sha256", "SHA256", true},
    {DCV_HMAC_SHA384, "hmac-sha384", "SHA384", false},
    {DCV_HMAC_SHA512, "hmac-sha512", "SHA512", false},
};

static struct dcv_tsig_key keys[N_ALGS];
static char key_names[N_ALGS][64];
static uint8_t secrets[N_ALGS][64];
static size_t secret_lens[N_ALGS];
static char secrets_b64[N_ALGS][100];

/* A reproducible generator for the hostile-input loops. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static int setup(void **state)
{
	for (int i = 0; i < N_ALGS; i++) {
		struct dcv_why why = {""};
		/* Secret lengths like tsig-keygen's (the digest size), plus one over a block. */
		secret_lens[i] =
		    i == 5 ? 64 : (size_t)EVP_MD_get_size(EVP_get_digestbyname(talgs[i].md));
		if (i == 0)
			secret_lens[i] = 40;
		assert_int_equal(RAND_bytes(secrets[i], (int)secret_lens[i]), 1);
		EVP_EncodeBlock((unsigned char *)secrets_b64[i], secrets[i], (int)secret_lens[i]);
		snprintf(key_names[i], sizeof(key_names[i]), "k-%s.example.test",
		         dcv_tsig_alg_name(talgs[i].alg));
		assert_int_equal(
		    dcv_tsig_key_set(&keys[i], key_names[i], talgs[i].alg, secrets_b64[i], &why),
		    DCV_OK);
	}
	return 0;
}

/* Lower-case wire form, written independently of wire.c. */
static size_t to_wire(const char *text, uint8_t *out)
{
	size_t n = 0;
	const char *p = text;

	while (*p) {
		size_t l = strcspn(p, ".");
		out[n++] = (uint8_t)l;
		for (size_t i = 0; i < l; i++)
			out[n++] = (uint8_t)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
		p += l;
		if (*p == '.')
			p++;
	}
	out[n++] = 0;
	return n;
}

/* The same, keeping the case (how a server may write the owner). */
static size_t to_wire_case(const char *text, uint8_t *out)
{
	size_t n = to_wire(text, out), pos = 0;

	for (const char *p = text; *p;) {
		size_t l = strcspn(p, ".");
		memcpy(out + pos + 1, p, l);
		pos += 1 + l;
		p += l;
		if (*p == '.')
			p++;
	}
	return n;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put48(uint8_t *p, uint64_t v)
{
	for (int i = 5; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* "example.test. SOA IN", RD clear. */
static size_t build_query(uint8_t *buf, uint16_t id)
{
	size_t n = 12;

	memset(buf, 0, 12);
	put16(buf, id);
	put16(buf + 4, 1);
	n += to_wire("example.test", buf + n);
	put16(buf + n, 6);
	put16(buf + n + 2, 1);
	return n + 4;
}

/* An authoritative answer to build_query(): one SOA, names compressed. */
static size_t build_reply(uint8_t *buf, uint16_t id)
{
	size_t n = build_query(buf, id), rd = 0;

	buf[2] = 0x84; /* QR, AA */
	put16(buf + 6, 1);
	buf[n++] = 0xc0;
	buf[n++] = 12;
	put16(buf + n, 6);
	put16(buf + n + 2, 1);
	put16(buf + n + 4, 0);
	put16(buf + n + 6, 3600);
	rd = n + 8;
	n += 10;
	memcpy(buf + n, "\x02ns\xc0\x0c\x0ahostmaster\xc0\x0c", 18);
	n += 18;
	for (int i = 0; i < 5; i++, n += 4)
		memcpy(buf + n, "\x00\x00\x0e\x10", 4);
	put16(buf + rd, (unsigned)(n - rd - 2));
	return n;
}

/* How a server signs a reply, for the tests to vary every part of it. */
struct srv {
	int alg;            /* index into talgs: algorithm and digest */
	const char *name;   /* key name as written into the owner (case kept) */
	const char *adname; /* algorithm name written (NULL: talgs[alg].dname) */
	int secret;         /* index of the secret used */
	uint64_t time;
	uint16_t fudge, error, orig_id;
	const uint8_t *other;
	size_t other_len;
	int mac_len;   /* -1: full; otherwise the MAC sent is cut to this */
	bool compress; /* owner "k-...": first label, then a pointer to the question name */
};

static struct srv srv_default(int i, uint64_t t, uint16_t id)
{
	struct srv s = {.alg = i,
	                .name = key_names[i],
	                .secret = i,
	                .time = t,
	                .fudge = 300,
	                .orig_id = id,
	                .mac_len = -1};
	return s;
}

/* Appends a TSIG made the plain way: concatenate everything, one HMAC(). */
static void server_sign(const struct srv *s, const uint8_t *req_mac, size_t req_mac_len,
                        uint8_t *msg, size_t *len)
{
	uint8_t data[4096], mac[EVP_MAX_MD_SIZE], name[256], alg[256];
	size_t n = 0, name_len = to_wire(s->name, name);
	size_t alg_len = to_wire(s->adname ? s->adname : talgs[s->alg].dname, alg);
	unsigned mac_len = 0;
	uint8_t *p = NULL;

	put16(data, (unsigned)req_mac_len);
	memcpy(data + 2, req_mac, req_mac_len);
	n = 2 + req_mac_len;
	memcpy(data + n, msg, *len);
	put16(data + n, s->orig_id);
	n += *len;
	memcpy(data + n, name, name_len); /* canonical: lower case */
	n += name_len;
	memcpy(data + n, "\x00\xff\x00\x00\x00\x00", 6);
	n += 6;
	memcpy(data + n, alg, alg_len);
	n += alg_len;
	put48(data + n, s->time);
	put16(data + n + 6, s->fudge);
	put16(data + n + 8, s->error);
	put16(data + n + 10, (unsigned)s->other_len);
	n += 12;
	if (s->other_len > 0) /* other is NULL when empty: memcpy needs a pointer */
		memcpy(data + n, s->other, s->other_len);
	n += s->other_len;
	assert_non_null(HMAC(EVP_get_digestbyname(talgs[s->alg].md), secrets[s->secret],
	                     (int)secret_lens[s->secret], data, n, mac, &mac_len));
	if (s->mac_len >= 0)
		mac_len = (unsigned)s->mac_len;

	p = msg + *len;
	if (s->compress) {
		size_t l = strcspn(s->name, ".");
		*p++ = (uint8_t)l;
		memcpy(p, s->name, l);
		p += l;
		*p++ = 0xc0; /* the rest of the key name is the question name */
		*p++ = 12;
	} else {
		p += to_wire_case(s->name, p);
	}
	memcpy(p, "\x00\xfa\x00\xff\x00\x00\x00\x00", 8);
	put16(p + 8, (unsigned)(alg_len + 16 + mac_len + s->other_len));
	p += 10;
	memcpy(p, alg, alg_len);
	p += alg_len;
	put48(p, s->time);
	put16(p + 6, s->fudge);
	put16(p + 8, mac_len);
	memcpy(p + 10, mac, mac_len);
	p += 10 + mac_len;
	put16(p, s->orig_id);
	put16(p + 2, s->error);
	put16(p + 4, (unsigned)s->other_len);
	if (s->other_len > 0)
		memcpy(p + 6, s->other, s->other_len);
	p += 6 + s->other_len;
	msg[11]++; /* ARCOUNT (below 255 here) */
	*len = (size_t)(p - msg);
}

/* Signs a fresh query with key i at time t; returns its length. */
static size_t signed_query(int i, uint16_t id, uint64_t t, uint8_t *buf, size_t cap,
                           struct dcv_tsig_ctx *ctx)
{
	struct dcv_why why = {""};
	size_t len = build_query(buf, id);

	assert_int_equal(dcv_tsig_sign(&keys[i], buf, &len, cap, t, ctx, &why), DCV_OK);
	return len;
}

/* A reply to ctx's request, signed by the test's server with s. */
static size_t signed_reply(const struct srv *s, const struct dcv_tsig_ctx *ctx, uint8_t *buf)
{
	size_t len = build_reply(buf, ctx->id);

	server_sign(s, ctx->mac, ctx->mac_len, buf, &len);
	return len;
}

static int verify(const struct dcv_tsig_ctx *ctx, const uint8_t *msg, size_t len, uint64_t now,
                  struct dcv_tsig_result *res, const char *why_has)
{
	struct dcv_why why = {""};
	int rc = dcv_tsig_verify(ctx, msg, len, now, res, &why);

	if (why_has != NULL && strstr(why.text, why_has) == NULL)
		fail_msg("rc %d: why '%s' does not say '%s'", rc, why.text, why_has);
	if (rc < 0 && strstr(why.text, ctx->key->name) == NULL)
		fail_msg("why '%s' does not name the key", why.text);
	for (int i = 0; i < N_ALGS; i++) {
		char b64_prefix[9];
		memcpy(b64_prefix, secrets_b64[i], 8);
		b64_prefix[8] = '\0';
		if (strstr(why.text, b64_prefix) != NULL)
			fail_msg("why '%s' shows a secret", why.text);
	}
	return rc;
}

/* Our request, checked field by field and by recomputing its MAC the plain way. */
static void check_request(int i, const uint8_t *msg, size_t len, size_t unsigned_len,
                          const struct dcv_tsig_ctx *ctx)
{
	uint8_t name[256], alg[256], data[2048], mac[EVP_MAX_MD_SIZE];
	size_t name_len = to_wire(key_names[i], name), alg_len = to_wire(talgs[i].dname, alg);
	size_t mac_len = (size_t)EVP_MD_get_size(EVP_get_digestbyname(talgs[i].md));
	const uint8_t *p = msg + unsigned_len;
	unsigned hmac_len = 0;
	size_t n = 0;

	assert_int_equal(len, unsigned_len + name_len + 10 + alg_len + 16 + mac_len);
	assert_int_equal(msg[10] * 256 + msg[11], 1);
	assert_memory_equal(p, name, name_len);
	p += name_len;
	assert_memory_equal(p, "\x00\xfa\x00\xff\x00\x00\x00\x00", 8);
	assert_int_equal(p[8] * 256 + p[9], alg_len + 16 + mac_len);
	p += 10;
	assert_memory_equal(p, alg, alg_len);
	p += alg_len;
	uint8_t t[6];
	put48(t, ctx->time_signed);
	assert_memory_equal(p, t, 6);
	assert_memory_equal(p + 6, "\x01\x2c", 2); /* fudge 300 */
	assert_int_equal(p[8] * 256 + p[9], mac_len);
	assert_int_equal(ctx->mac_len, mac_len);
	assert_memory_equal(p + 10, ctx->mac, mac_len);
	p += 10 + mac_len;
	assert_memory_equal(p, msg, 2); /* original ID */
	assert_memory_equal(p + 2, "\0\0\0\0", 4);
	assert_int_equal(ctx->id, msg[0] * 256 + msg[1]);

	memcpy(data, msg, unsigned_len);
	data[10] = data[11] = 0; /* ARCOUNT as it was */
	n = unsigned_len;
	memcpy(data + n, name, name_len);
	n += name_len;
	memcpy(data + n, "\x00\xff\x00\x00\x00\x00", 6);
	n += 6;
	memcpy(data + n, alg, alg_len);
	n += alg_len;
	put48(data + n, ctx->time_signed);
	memcpy(data + n + 6, "\x01\x2c\0\0\0\0", 6);
	n += 12;
	assert_non_null(HMAC(EVP_get_digestbyname(talgs[i].md), secrets[i], (int)secret_lens[i],
	                     data, n, mac, &hmac_len));
	assert_int_equal(hmac_len, mac_len);
	assert_memory_equal(mac, ctx->mac, mac_len);
}

static void test_sign_layout(void **state)
{
	for (int i = 0; i < N_ALGS; i++) {
		uint8_t buf[1024];
		struct dcv_tsig_ctx ctx;
		size_t unsigned_len = build_query(buf, (uint16_t)(0x1234 + i));
		size_t len = signed_query(i, (uint16_t)(0x1234 + i), NOW + (uint64_t)i, buf,
		                          sizeof(buf), &ctx);

		assert_ptr_equal(ctx.key, &keys[i]);
		assert_int_equal(ctx.time_signed, NOW + (uint64_t)i);
		check_request(i, buf, len, unsigned_len, &ctx);
	}
}

static void test_sign_errors(void **state)
{
	uint8_t buf[512], copy[512];
	struct dcv_why why = {""};
	struct dcv_tsig_ctx ctx;
	struct dcv_tsig_key cleared = keys[3];
	size_t len = build_query(buf, 7), l = 0;
	/* Owner, type to RDLENGTH, algorithm, fixed RDATA fields, MAC. */
	size_t need = len + strlen(key_names[3]) + 2 + 10 + strlen("hmac-sha256") + 2 + 16 + 32;

	memcpy(copy, buf, len);
	for (size_t cap = len; cap < need; cap++) {
		l = len;
		assert_int_equal(dcv_tsig_sign(&keys[3], buf, &l, cap, NOW, &ctx, &why),
		                 DCV_ETOOBIG);
		assert_int_equal(l, len);
		assert_memory_equal(buf, copy, len);
	}
	assert_non_null(strstr(why.text, key_names[3]));
	l = len;
	assert_int_equal(dcv_tsig_sign(&keys[3], buf, &l, need, NOW, &ctx, &why), DCV_OK);
	assert_int_equal(l, need);

	l = 11;
	assert_int_equal(dcv_tsig_sign(&keys[3], buf, &l, sizeof(buf), NOW, &ctx, &why),
	                 DCV_EINVAL);
	l = len;
	assert_int_equal(dcv_tsig_sign(&keys[3], copy, &l, sizeof(copy), 1ULL << 48, &ctx, &why),
	                 DCV_EINVAL);
	dcv_tsig_key_clear(&cleared);
	assert_int_equal(dcv_tsig_sign(&cleared, copy, &l, sizeof(copy), NOW, &ctx, &why),
	                 DCV_EKEY);
	assert_int_equal(l, len);
}

/* ldns must accept our requests: an implementation nobody here wrote. */
static void test_ldns_verifies_requests(void **state)
{
	for (int i = 0; i < N_ALGS; i++) {
		uint8_t buf[1024];
		char kname[80];
		struct dcv_tsig_ctx ctx;
		ldns_pkt *pkt = NULL;
		size_t len = 0;

		if (!talgs[i].ldns)
			continue;
		snprintf(kname, sizeof(kname), "%.63s.", key_names[i]);
		len = signed_query(i, 0xbeef, (uint64_t)time(NULL), buf, sizeof(buf), &ctx);
		assert_int_equal(ldns_wire2pkt(&pkt, buf, len), LDNS_STATUS_OK);
		if (!ldns_pkt_tsig_verify(pkt, buf, len, kname, secrets_b64[i], NULL))
			fail_msg("ldns refuses our %s request", talgs[i].dname);
		ldns_pkt_free(pkt);

		/* The oracle can say no: one bit of the question changed. */
		buf[14] ^= 0x01;
		assert_int_equal(ldns_wire2pkt(&pkt, buf, len), LDNS_STATUS_OK);
		assert_false(ldns_pkt_tsig_verify(pkt, buf, len, kname, secrets_b64[i], NULL));
		ldns_pkt_free(pkt);
	}
}

/* And we must accept replies that ldns signs, with its own (compressing) encoder. */
static void test_ldns_signs_replies(void **state)
{
	for (int i = 0; i < N_ALGS; i++) {
		uint8_t buf[1024], macbuf[2 + DCV_TSIG_MAC_MAX], *wire = NULL;
		char kname[80], aname[80];
		struct dcv_tsig_ctx ctx;
		struct dcv_tsig_result res;
		ldns_pkt *pkt = NULL;
		ldns_rdf *qmac = NULL;
		size_t len = 0, wire_len = 0;

		if (!talgs[i].ldns)
			continue;
		snprintf(kname, sizeof(kname), "%.63s.", key_names[i]);
		snprintf(aname, sizeof(aname), "%.63s.", talgs[i].dname);
		(void)signed_query(i, 0x4242, (uint64_t)time(NULL), buf, sizeof(buf), &ctx);
		len = build_reply(buf, 0x4242);
		assert_int_equal(ldns_wire2pkt(&pkt, buf, len), LDNS_STATUS_OK);
		put16(macbuf, (unsigned)ctx.mac_len);
		memcpy(macbuf + 2, ctx.mac, ctx.mac_len);
		qmac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2 + ctx.mac_len, macbuf);
		assert_non_null(qmac);
		assert_int_equal(ldns_pkt_tsig_sign(pkt, kname, secrets_b64[i], 300, aname, qmac),
		                 LDNS_STATUS_OK);
		assert_int_equal(ldns_pkt2wire(&wire, pkt, &wire_len), LDNS_STATUS_OK);
		assert_int_equal(verify(&ctx, wire, wire_len, (uint64_t)time(NULL), &res, NULL),
		                 DCV_OK);
		assert_int_equal(res.error, 0);
		/* A different request MAC: ldns's reply is not for that request. */
		ctx.mac[0] ^= 1;
		assert_int_equal(
		    verify(&ctx, wire, wire_len, (uint64_t)time(NULL), &res, "does not verify"),
		    DCV_ETSIG);
		free(wire);
		ldns_rdf_deep_free(qmac);
		ldns_pkt_free(pkt);
	}
}

static void test_round_trips(void **state)
{
	for (int i = 0; i < N_ALGS; i++) {
		uint8_t buf[1024];
		struct dcv_tsig_ctx ctx;
		struct dcv_tsig_result res;
		struct srv s = srv_default(i, NOW + 5, 0x5555);
		char upper[64];
		size_t len = 0;

		(void)signed_query(i, 0x5555, NOW, buf, sizeof(buf), &ctx);
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, NULL), DCV_OK);
		assert_int_equal(res.error, 0);
		assert_int_equal(res.server_time, NOW + 5);
		assert_int_equal(res.skew, 5);

		/* The ID is not covered (original ID is): a changed ID still verifies. */
		buf[0] ^= 0xff;
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, NULL), DCV_OK);

		/* Owner compressed against the question, and in another case. */
		s.compress = true;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, NULL), DCV_OK);
		for (size_t k = 0; key_names[i][k]; k++)
			upper[k] = (char)((key_names[i][k] >= 'a' && key_names[i][k] <= 'z')
			                      ? key_names[i][k] - 32
			                      : key_names[i][k]);
		upper[strlen(key_names[i])] = '\0';
		s.name = upper;
		s.compress = false;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, NULL), DCV_OK);

		/* Time at the edge of the fudge, both ways, and just past it. */
		s = srv_default(i, NOW - 300, 0x5555);
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, NULL), DCV_OK);
		s.time = NOW + 300;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, NULL), DCV_OK);
		s.time = NOW + 301;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "301 s apart"), DCV_ETSIG);
		s.time = NOW - 1000;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "1000 s apart"), DCV_ETSIG);
	}
}

static void test_bit_flips(void **state)
{
	for (int i = 0; i < N_ALGS; i++) {
		uint8_t buf[1024];
		struct dcv_tsig_ctx ctx;
		struct dcv_tsig_result res;
		struct srv s = srv_default(i, NOW, 0x0101);
		size_t len = 0, start = build_reply(buf, 0);
		size_t rdata = start + strlen(key_names[i]) + 2 + 10;
		size_t fixed = rdata + strlen(talgs[i].dname) + 2; /* time signed */
		size_t mac = fixed + 10, mac_len = 0;

		(void)signed_query(i, 0x0101, NOW, buf, sizeof(buf), &ctx);
		len = signed_reply(&s, &ctx, buf);
		mac_len = ctx.mac_len;
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, NULL), DCV_OK);
		/* Every bit of the signed message but the ID. */
		for (size_t pos = 2; pos < start; pos++) {
			for (int bit = 0; bit < 8; bit++) {
				buf[pos] ^= (uint8_t)(1 << bit);
				int rc = verify(&ctx, buf, len, NOW, &res, NULL);
				if (rc != DCV_ETSIG && rc != DCV_EREPLY)
					fail_msg("%s: bit %d of byte %zu flipped: rc %d",
					         talgs[i].dname, bit, pos, rc);
				buf[pos] ^= (uint8_t)(1 << bit);
			}
		}
		/* Time, fudge, every MAC byte, original ID, error. */
		for (size_t pos = fixed; pos < mac + mac_len + 4; pos++) {
			if (pos == fixed + 8 || pos == fixed + 9)
				continue; /* the MAC size: a length, checked elsewhere */
			buf[pos] ^= 0x01;
			int rc = verify(&ctx, buf, len, NOW, &res, NULL);
			if (rc == DCV_OK)
				fail_msg("%s: byte %zu of the TSIG flipped still verifies",
				         talgs[i].dname, pos);
			buf[pos] ^= 0x01;
		}
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, NULL), DCV_OK);
	}
}

static void test_wrong_key_or_alg(void **state)
{
	uint8_t buf[1024];
	struct dcv_tsig_ctx ctx;
	struct dcv_tsig_result res;
	struct srv s = srv_default(3, NOW, 9);
	size_t len = 0;

	(void)signed_query(3, 9, NOW, buf, sizeof(buf), &ctx);
	/* Same secret and algorithm, another name. */
	s.name = "other.example.test";
	len = signed_reply(&s, &ctx, buf);
	assert_int_equal(
	    verify(&ctx, buf, len, NOW, &res, "key 'other.example.test', not with our"), DCV_ETSIG);
	/* Our name, another algorithm (and digest). */
	s = srv_default(5, NOW, 9);
	s.name = key_names[3];
	s.secret = 3;
	len = signed_reply(&s, &ctx, buf);
	assert_int_equal(
	    verify(&ctx, buf, len, NOW, &res, "algorithm 'hmac-sha512', not hmac-sha256"),
	    DCV_ETSIG);
	/* Our name and algorithm, another secret. */
	s = srv_default(3, NOW, 9);
	s.secret = 4;
	len = signed_reply(&s, &ctx, buf);
	assert_int_equal(verify(&ctx, buf, len, NOW, &res, "does not verify"), DCV_ETSIG);
	/* A name with bytes that must not reach a log line as they are. */
	s = srv_default(3, NOW, 9);
	s.name = "a\nb.example.test";
	len = signed_reply(&s, &ctx, buf);
	assert_int_equal(verify(&ctx, buf, len, NOW, &res, "key 'a\\010b.example.test'"),
	                 DCV_ETSIG);
}

static void test_placement(void **state)
{
	uint8_t buf[1024];
	struct dcv_tsig_ctx ctx;
	struct dcv_tsig_result res;
	struct srv s = srv_default(3, NOW, 9);
	size_t len = 0;

	(void)signed_query(3, 9, NOW, buf, sizeof(buf), &ctx);
	len = build_reply(buf, 9);
	assert_int_equal(verify(&ctx, buf, len, NOW, &res, "reply is not signed"), DCV_ETSIG);
	assert_int_equal(verify(&ctx, buf, 12, NOW, &res, NULL), DCV_EREPLY);

	/* A record after the TSIG. */
	len = signed_reply(&s, &ctx, buf);
	memcpy(buf + len, "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01", 16);
	buf[11]++;
	assert_int_equal(verify(&ctx, buf, len + 16, NOW, &res, "must be the last record"),
	                 DCV_ETSIG);
	/* The TSIG last, but counted in the authority section. */
	len = signed_reply(&s, &ctx, buf);
	buf[9] = 1;
	buf[11] = 0;
	assert_int_equal(verify(&ctx, buf, len, NOW, &res, "must be the last record"), DCV_ETSIG);
	/* Bytes after the TSIG. */
	len = signed_reply(&s, &ctx, buf);
	buf[len] = 0;
	assert_int_equal(verify(&ctx, buf, len + 1, NOW, &res, "after its last record"),
	                 DCV_EREPLY);
	/* No key, no context. */
	assert_int_equal(dcv_tsig_verify(NULL, buf, len, NOW, &res, NULL), DCV_EINVAL);
	/* res may be NULL. */
	assert_int_equal(dcv_tsig_verify(&ctx, buf, len, NOW, NULL, NULL), DCV_OK);
}

static void test_server_errors(void **state)
{
	for (int i = 0; i < N_ALGS; i++) {
		uint8_t buf[1024], other[6];
		struct dcv_tsig_ctx ctx;
		struct dcv_tsig_result res;
		struct srv s = srv_default(i, NOW, 3);
		size_t len = 0;

		(void)signed_query(i, 3, NOW, buf, sizeof(buf), &ctx);
		/* BADSIG and BADKEY: unsigned, empty MAC. */
		s.error = 16;
		s.mac_len = 0;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "BADSIG"), DCV_EBADSIG);
		assert_int_equal(res.error, 16);
		s.error = 17;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "BADKEY"), DCV_EBADKEY);
		assert_int_equal(res.error, 17);
		/* ... but only for our key. */
		s.name = "other.example.test";
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, NULL), DCV_ETSIG);
		/* An empty MAC without those errors is refused. */
		s = srv_default(i, NOW, 3);
		s.mac_len = 0;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "not accepted"), DCV_ETSIG);
		s.error = 18;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, NULL), DCV_ETSIG);
		/* A truncated MAC (RFC 8945 §5.2.2.1) is refused. */
		s = srv_default(i, NOW, 3);
		s.mac_len = (int)ctx.mac_len / 2 > 10 ? (int)ctx.mac_len / 2 : 10;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "truncated"), DCV_ETSIG);

		/* BADTIME: signed, our time echoed, the server's clock in the other data. */
		s = srv_default(i, NOW, 3);
		s.error = 18;
		put48(other, NOW + 1000);
		s.other = other;
		s.other_len = 6;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "1000 s ahead of ours"),
		                 DCV_EBADTIME);
		assert_int_equal(res.error, 18);
		assert_int_equal(res.server_time, NOW + 1000);
		assert_int_equal(res.skew, 1000);
		put48(other, NOW - 4000);
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "4000 s behind ours"),
		                 DCV_EBADTIME);
		assert_int_equal(res.skew, -4000);
		/* A forged BADTIME (the MAC does not verify) is ignored. */
		buf[len - 20] ^= 1;
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "does not verify"), DCV_ETSIG);
		/* Other signed errors. */
		s = srv_default(i, NOW, 3);
		s.error = 22;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "BADTRUNC"), DCV_ETSIG);
		s.error = 16;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "BADSIG"), DCV_EBADSIG);
	}
}

/* Key names and secrets dcv_tsig_key_set() refuses, each with its reason. */
static void test_key_set_errors(void **state)
{
	static const char good[] = "c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IHNlY3JldCE=";
	char long_name[300], label[80], long_secret[400], dotted[80];
	static const struct {
		const char *name, *secret, *why;
	} bad[] = {
	    {"", good, "key name '' is not a domain name"},
	    {".", good, "key name '.' is not a domain name"},
	    {"a b.test", good, "key name 'a b.test' is not a domain name (a blank, control"},
	    {"a\tb.test", good, "key name 'a?b.test' is not a domain name (a blank, control"},
	    {"caf\xc3\xa9.test", good, "key name 'caf??.test' is not a domain name (a blank"},
	    {"k.test", "", "key 'k.test': the secret is not base64 of 1 to 256 bytes"},
	    {"k.test", "abc", "key 'k.test': the secret is not base64 of 1 to 256 bytes"},
	    {"k.test", "ab=c", "key 'k.test': the secret is not base64"},
	    {"k.test", "a=bc", "key 'k.test': the secret is not base64"},
	    {"k.test", "ab c", "key 'k.test': the secret is not base64"},
	    {"k.test", "====", "key 'k.test': the secret is not base64"},
	};
	struct dcv_tsig_key key;
	struct dcv_why why = {""};
	enum dcv_tsig_alg alg = DCV_HMAC_SHA256;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why.text[0] = '\0';
		assert_int_equal(dcv_tsig_key_set(&key, bad[i].name, alg, bad[i].secret, &why),
		                 DCV_EKEY);
		if (strstr(why.text, bad[i].why) == NULL)
			fail_msg("key %zu: '%s', expected '%s'", i, why.text, bad[i].why);
		assert_int_equal(key.secret_len, 0);
	}
	/* A name of 256 bytes or more; one whose label is over 63: not domain names. */
	memset(long_name, 'a', 299);
	long_name[299] = '\0';
	assert_int_equal(dcv_tsig_key_set(&key, long_name, alg, good, &why), DCV_EKEY);
	assert_non_null(strstr(why.text, "is not a domain name"));
	assert_non_null(strstr(why.text, "aaa...'")); /* cut to 64 bytes in the message */
	memset(label, 'b', 70);
	snprintf(label + 70, sizeof(label) - 70, ".test");
	assert_int_equal(dcv_tsig_key_set(&key, label, alg, good, &why), DCV_EKEY);
	assert_non_null(strstr(why.text, "is not a domain name"));
	/* Over 256 bytes of secret. */
	memset(long_secret, 'A', 348);
	long_secret[348] = '\0';
	assert_int_equal(dcv_tsig_key_set(&key, "k.test", alg, long_secret, &why), DCV_EKEY);
	assert_non_null(strstr(why.text, "1 to 256 bytes"));
	/* A trailing dot and capitals: the name as messages and the wire have it. */
	snprintf(dotted, sizeof(dotted), "Key.Example.TEST.");
	assert_int_equal(dcv_tsig_key_set(&key, dotted, alg, good, &why), DCV_OK);
	assert_string_equal(key.name, "key.example.test");
	assert_int_equal(key.secret_len, 35);
	dcv_tsig_key_clear(&key);
	/* Algorithms by name or domain name, a trailing dot aside, case aside. */
	assert_int_equal(dcv_tsig_alg_parse("HMAC-SHA512.", &alg), DCV_OK);
	assert_int_equal(alg, DCV_HMAC_SHA512);
	assert_int_equal(dcv_tsig_alg_parse("hmac-md5.sig-alg.reg.int.", &alg), DCV_OK);
	assert_int_equal(alg, DCV_HMAC_MD5);
	assert_int_equal(dcv_tsig_alg_parse("", &alg), DCV_EINVAL);
	assert_int_equal(dcv_tsig_alg_parse("hmac-sha7", &alg), DCV_EINVAL);
}

/* Signed reports the server sends: BADTIME without its time, BADKEY, an unknown error. */
static void test_signed_reports(void **state)
{
	for (int i = 0; i < N_ALGS; i++) {
		uint8_t buf[1024];
		struct dcv_tsig_ctx ctx;
		struct dcv_tsig_result res;
		struct srv s = srv_default(i, NOW, 3);
		size_t len = 0;

		(void)state;
		(void)signed_query(i, 3, NOW, buf, sizeof(buf), &ctx);
		s.error = 18; /* BADTIME, no other data */
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "but does not say its time"),
		                 DCV_EBADTIME);
		s.error = 17;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "server reports BADKEY for key"),
		                 DCV_EBADKEY);
		s.error = 99;
		len = signed_reply(&s, &ctx, buf);
		assert_int_equal(verify(&ctx, buf, len, NOW, &res, "TSIG error 99 (unknown)"),
		                 DCV_ETSIG);
	}
}

static void test_other_request(void **state)
{
	uint8_t buf[1024];
	struct dcv_tsig_ctx a, b;
	struct dcv_tsig_result res;
	struct srv s = srv_default(3, NOW, 77);
	size_t len = 0;

	(void)signed_query(3, 77, NOW, buf, sizeof(buf), &a);
	(void)signed_query(3, 77, NOW + 1, buf, sizeof(buf), &b);
	len = signed_reply(&s, &a, buf);
	assert_int_equal(verify(&a, buf, len, NOW, &res, NULL), DCV_OK);
	assert_int_equal(verify(&b, buf, len, NOW, &res, "not a reply to our request"), DCV_ETSIG);
}

static bool valid_code(int rc)
{
	return rc == DCV_OK || rc == DCV_EREPLY || rc == DCV_ETSIG || rc == DCV_EBADSIG ||
	       rc == DCV_EBADKEY || rc == DCV_EBADTIME;
}

/* Hostile input: every truncation, random bytes, random damage. Run under valgrind too. */
static void test_hostile(void **state)
{
	uint8_t good[1024], buf[1024];
	struct dcv_tsig_ctx ctx;
	struct dcv_tsig_result res;
	struct srv s = srv_default(3, NOW, 5);
	size_t len = 0;
	int rc = 0;

	(void)signed_query(3, 5, NOW, good, sizeof(good), &ctx);
	s.compress = true;
	len = signed_reply(&s, &ctx, good);
	for (size_t n = 0; n < len; n++) {
		/* A copy of exactly n bytes, so that valgrind sees any read past it. */
		uint8_t *cut = malloc(n ? n : 1);
		assert_non_null(cut);
		memcpy(cut, good, n);
		rc = dcv_tsig_verify(&ctx, cut, n, NOW, &res, NULL);
		if (rc != DCV_EREPLY && rc != DCV_ETSIG)
			fail_msg("cut to %zu of %zu bytes: rc %d", n, len, rc);
		free(cut);
	}
	for (int round = 0; round < 20000; round++) {
		size_t n = rng() % 400;
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)rng();
		if (n >= 12 && round % 2 == 0) {
			/* Plausible counts, so that parsing gets somewhere. */
			buf[4] = buf[6] = buf[8] = buf[10] = 0;
			buf[5] = (uint8_t)(rng() % 2);
			buf[7] = (uint8_t)(rng() % 3);
			buf[9] = (uint8_t)(rng() % 2);
			buf[11] = (uint8_t)(rng() % 3);
		}
		rc = dcv_tsig_verify(&ctx, buf, n, NOW, &res, NULL);
		if (!valid_code(rc) || rc == DCV_OK)
			fail_msg("random %zu bytes: rc %d", n, rc);
	}
	for (int round = 0; round < 20000; round++) {
		memcpy(buf, good, len);
		for (int k = 1 + (int)(rng() % 4); k > 0; k--)
			buf[rng() % len] = (uint8_t)rng();
		rc = dcv_tsig_verify(&ctx, buf, len - rng() % 3, NOW, &res, NULL);
		if (!valid_code(rc))
			fail_msg("damaged reply: rc %d", rc);
	}
}

static void test_wire_to_text(void **state)
{
	char text[DCV_WIRE_TEXT_MAX];
	uint8_t wire[DCV_WIRE_NAME_MAX];

	assert_int_equal(dcv_wire_to_text((const uint8_t *)"\x03k-1\x07"
	                                                   "example\x04test",
	                                  18, text),
	                 DCV_OK);
	assert_string_equal(text, "k-1.example.test");
	/* A label of 'a', '.', '\\', 0x01. */
	assert_int_equal(dcv_wire_to_text((const uint8_t *)"\x04"
	                                                   "a.\\\x01",
	                                  6, text),
	                 DCV_OK);
	assert_string_equal(text, "a\\046\\092\\001");
	assert_int_equal(dcv_wire_to_text((const uint8_t *)"", 1, text), DCV_OK);
	assert_string_equal(text, ".");
	assert_int_equal(dcv_wire_to_text((const uint8_t *)"\x05"
	                                                   "ab",
	                                  3, text),
	                 DCV_EINVAL);
	assert_int_equal(dcv_wire_to_text((const uint8_t *)"\x00\x00", 2, text), DCV_EINVAL);
	/* The longest name: 3 labels of 63 and one of 61, every octet escaped. */
	memset(wire, 0xff, sizeof(wire));
	wire[0] = wire[64] = wire[128] = 63;
	wire[192] = 61;
	wire[254] = 0;
	assert_int_equal(dcv_wire_to_text(wire, sizeof(wire), text), DCV_OK);
	assert_int_equal(strlen(text), 4 * (3 * 63 + 61) + 3);
	assert_int_equal(dcv_wire_to_text(wire, sizeof(wire) + 1, text), DCV_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_layout),
	    cmocka_unit_test(test_sign_errors),
	    cmocka_unit_test(test_ldns_verifies_requests),
	    cmocka_unit_test(test_ldns_signs_replies),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_bit_flips),
	    cmocka_unit_test(test_wrong_key_or_alg),
	    cmocka_unit_test(test_placement),
	    cmocka_unit_test(test_server_errors),
	    cmocka_unit_test(test_key_set_errors),
	    cmocka_unit_test(test_signed_reports),
	    cmocka_unit_test(test_other_request),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_wire_to_text),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
