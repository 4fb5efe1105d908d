/*
 * fuzz_util.c -- helpers of the fuzz targets (fuzz.h): failure reports, a
 * private temporary folder, and the fixed TSIG request with an independent
 * reply signer.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <yaml.h>

#include "dcv/names.h"
#include "fuzz.h"
#include "query.h"
#include "util.h"

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz oracle failed: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* --- the private folder ------------------------------------------------- */

static char fuzz_dir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static void remove_dir(void)
{
	if (fuzz_dir[0] != '\0')
		(void)nftw(fuzz_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (fuzz_dir[0] != '\0')
		return fuzz_dir;
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/dcv-fuzz.XXXXXX", base);
	if (mkdtemp(fuzz_dir) == NULL)
		fuzz_fail("mkdtemp %s: %s", fuzz_dir, strerror(errno));
	atexit(remove_dir);
	return fuzz_dir;
}

char *fuzz_path(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", fuzz_tmpdir(), name);
	return buf;
}

void fuzz_write_file(const char *path, const void *data, size_t size, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	const char *p = data;

	if (fd < 0 || fchmod(fd, (mode_t)mode) < 0)
		fuzz_fail("cannot write %s: %s", path, strerror(errno));
	while (size > 0) {
		ssize_t n = write(fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fuzz_fail("cannot write %s: %s", path, strerror(errno));
		p += n;
		size -= (size_t)n;
	}
	close(fd);
}

void fuzz_base64(const uint8_t *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);

	out[len < 0 ? 0 : len] = '\0';
}

const struct dcv_psl *fuzz_psl(void)
{
	static struct dcv_psl *psl;
	struct dcv_why why = {""};

	if (psl == NULL && dcv_psl_load(&psl, &why) < 0)
		fuzz_fail("%s", why.text);
	return psl;
}

/* --- secrets written in the input ---------------------------------------------- */

/* A value is judged only when no other text of the input holds it (see fuzz.h). */
static bool secret_judged(const char *value, const struct dcv_strv *others)
{
	if (strlen(value) < 16 || strcasestr(value, "hmac") != NULL ||
	    strstr(fuzz_tmpdir(), value) != NULL)
		return false;
	for (size_t i = 0; i < others->n; i++)
		if (strstr(others->v[i], value) != NULL)
			return false;
	return true;
}

/*
 * The input is not NUL-terminated: no strndup(), which ASan's
 * strict_string_checks lets read up to a NUL that is not there.
 */
static void push_text(struct dcv_strv *sv, const char *s, size_t n)
{
	char *copy = malloc(n + 1);

	if (copy != NULL) {
		memcpy(copy, s, n);
		copy[n] = '\0';
	}
	if (copy == NULL || dcv_strv_push(sv, copy) < 0)
		fuzz_fail("out of memory");
	free(copy);
}

/* YAML: the values of "secret" keys (libyaml events, any document, any depth). */
static void yaml_secrets(const uint8_t *data, size_t size, struct dcv_strv *cands,
                         struct dcv_strv *others)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	/* Per open collection: a mapping expects a key next (1), a value (2); sequences 0. */
	unsigned char state[64];
	bool secret_key[64];
	int depth = -1;
	bool done = false;

	if (!yaml_parser_initialize(&parser))
		fuzz_fail("out of memory");
	yaml_parser_set_input_string(&parser, data, size);
	while (!done && yaml_parser_parse(&parser, &ev)) {
		switch (ev.type) {
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth >= 0 && state[depth] != 0)
				state[depth] = state[depth] == 1 ? 2 : 1;
			if (++depth >= 64) {
				done = true;
				break;
			}
			state[depth] = ev.type == YAML_MAPPING_START_EVENT ? 1 : 0;
			secret_key[depth] = false;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			break;
		case YAML_SCALAR_EVENT: {
			const char *v = (const char *)ev.data.scalar.value;
			size_t n = ev.data.scalar.length;
			if (depth >= 0 && state[depth] == 1) {
				secret_key[depth] = n == 6 && memcmp(v, "secret", 6) == 0;
				state[depth] = 2;
				push_text(others, v, n);
			} else if (depth >= 0 && state[depth] == 2) {
				push_text(secret_key[depth] ? cands : others, v, n);
				state[depth] = 1;
			} else {
				push_text(others, v, n);
			}
			break;
		}
		case YAML_ALIAS_EVENT:
			if (depth >= 0 && state[depth] != 0)
				state[depth] = state[depth] == 1 ? 2 : 1;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
}

/* BIND: the token after the word "secret", tokens and comments as keyfile.c reads them. */
static void bind_secrets(const uint8_t *data, size_t size, struct dcv_strv *cands,
                         struct dcv_strv *others)
{
	const char *p = (const char *)data, *end = p + size;
	bool after_secret = false;

	while (p < end) {
		const char *tok = NULL;
		size_t n = 0;
		bool word = false;

		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
			continue;
		}
		if (*p == '#' || (end - p >= 2 && p[0] == '/' && p[1] == '/')) {
			while (p < end && *p != '\n')
				p++;
			continue;
		}
		if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
			const char *close = memmem(p + 2, (size_t)(end - p - 2), "*/", 2);
			p = close != NULL ? close + 2 : end;
			continue;
		}
		if (*p == '"') {
			tok = ++p;
			while (p < end && *p != '"' && *p != '\0')
				p++;
			n = (size_t)(p - tok);
			if (p < end)
				p++;
		} else if (*p > ' ' && *p < 0x7f && !strchr("{};", *p)) {
			tok = p;
			while (p<end && * p> ' ' && *p < 0x7f && !strchr("{};\"", *p))
				p++;
			n = (size_t)(p - tok);
			word = true;
		} else {
			p++;
			after_secret = false;
			continue;
		}
		push_text(after_secret ? cands : others, tok, n);
		after_secret = word && n == 6 && strncasecmp(tok, "secret", 6) == 0;
	}
}

void fuzz_secrets_find(const uint8_t *data, size_t size, bool yaml, struct dcv_strv *out)
{
	struct dcv_strv cands = {0}, others = {0};

	if (yaml)
		yaml_secrets(data, size, &cands, &others);
	else
		bind_secrets(data, size, &cands, &others);
	for (size_t i = 0; i < cands.n; i++)
		if (secret_judged(cands.v[i], &others) && dcv_strv_push_unique(out, cands.v[i]) < 0)
			fuzz_fail("out of memory");
	dcv_strv_free(&cands);
	dcv_strv_free(&others);
}

const char *fuzz_secrets_shown(const struct dcv_strv *secrets, const char *text)
{
	for (size_t i = 0; i < secrets->n; i++)
		if (strstr(text, secrets->v[i]) != NULL)
			return secrets->v[i];
	return NULL;
}

/* --- the fixed request ---------------------------------------------------- */

static struct dcv_tsig_key fuzz_key;

void fuzz_tsig_request(uint8_t *msg, size_t *len, struct dcv_tsig_ctx *ctx)
{
	uint8_t qname[DCV_WIRE_NAME_MAX];
	size_t qname_len = 0, n = 0;
	struct dcv_why why = {""};

	if (fuzz_key.secret_len == 0 &&
	    dcv_tsig_key_set(&fuzz_key, FUZZ_KEY_NAME, DCV_HMAC_SHA256, FUZZ_KEY_SECRET, &why) < 0)
		fuzz_fail("fuzz key: %s", why.text);
	if (dcv_wire_from_text(FUZZ_QNAME, qname, &qname_len) < 0)
		fuzz_fail("bad FUZZ_QNAME");
	memset(msg, 0, DCV_WIRE_HEADER);
	dcv_wire_put16(msg, 0x1234);
	dcv_wire_put16(msg + 4, 1);
	memcpy(msg + DCV_WIRE_HEADER, qname, qname_len);
	n = DCV_WIRE_HEADER + qname_len;
	dcv_wire_put16(msg + n, DCV_TYPE_CNAME);
	dcv_wire_put16(msg + n + 2, DCV_CLASS_IN);
	n += 4;
	if (dcv_tsig_sign(&fuzz_key, msg, &n, 512, FUZZ_NOW, ctx, &why) < 0)
		fuzz_fail("signing the fuzz request: %s", why.text);
	*len = n;
}

/* --- the independent reply signer ----------------------------------------- */

/*
 * The wire rules as RFC 1035 §4.1.4 has them, plus the one dcvd adds:
 * compression pointers point backwards. Moves *off past the name; when out
 * is given it receives the uncompressed, lower-cased name.
 */
static bool sig_name(const uint8_t *msg, size_t len, size_t *off, uint8_t *out, size_t *out_len)
{
	size_t pos = *off, total = 0, resume = 0;
	bool jumped = false;

	while (pos < len) {
		uint8_t c = msg[pos];
		if (c >= 0xc0) {
			size_t to = 0;
			if (pos + 2 > len)
				return false;
			to = ((size_t)(c & 0x3f) << 8) | msg[pos + 1];
			if (to >= pos)
				return false;
			if (!jumped)
				resume = pos + 2;
			jumped = true;
			pos = to;
			continue;
		}
		if (c > 63 || pos + 1 + c > len || total + 1 + c > 255)
			return false;
		for (size_t i = 0; out != NULL && i <= c; i++) {
			uint8_t b = msg[pos + i];
			out[total + i] = i > 0 && b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b;
		}
		total += 1 + (size_t)c;
		pos += 1 + (size_t)c;
		if (c == 0) {
			*off = jumped ? resume : pos;
			if (out_len != NULL)
				*out_len = total;
			return true;
		}
	}
	return false;
}

/* Where the TSIG record (if any) is, as the RFC places it: last, in the additional section. */
struct sig_tsig {
	size_t start, rdata, end, mac, after_mac;
	uint8_t owner[255], alg[255];
	size_t owner_len, alg_len;
	uint16_t class, mac_len, error, other_len, fudge;
	uint32_t ttl;
	uint64_t time;
};

static bool sig_find(const uint8_t *msg, size_t len, struct sig_tsig *t)
{
	size_t pos = 12, total = 0, rr = 0;
	uint16_t type = 0, rdlen = 0;

	if (len < 12)
		return false;
	for (unsigned q = (unsigned)(msg[4] << 8 | msg[5]); q > 0; q--) {
		if (!sig_name(msg, len, &pos, NULL, NULL) || len - pos < 4)
			return false;
		pos += 4;
	}
	total = (size_t)(msg[6] << 8 | msg[7]) + (size_t)(msg[8] << 8 | msg[9]) +
	        (size_t)(msg[10] << 8 | msg[11]);
	if (total == 0 || (msg[10] << 8 | msg[11]) == 0)
		return false;
	for (size_t i = 0; i < total; i++) {
		rr = pos;
		if (!sig_name(msg, len, &pos, NULL, NULL) || len - pos < 10)
			return false;
		type = (uint16_t)(msg[pos] << 8 | msg[pos + 1]);
		rdlen = (uint16_t)(msg[pos + 8] << 8 | msg[pos + 9]);
		if (len - pos - 10 < rdlen)
			return false;
		if (type == 250 && i + 1 < total)
			return false;
		pos += 10 + (size_t)rdlen;
	}
	if (type != 250 || pos != len)
		return false;
	t->start = rr;
	pos = rr;
	if (!sig_name(msg, len, &pos, t->owner, &t->owner_len))
		return false;
	t->class = (uint16_t)(msg[pos + 2] << 8 | msg[pos + 3]);
	t->ttl = (uint32_t)msg[pos + 4] << 24 | (uint32_t)msg[pos + 5] << 16 |
	         (uint32_t)msg[pos + 6] << 8 | msg[pos + 7];
	t->rdata = pos + 10;
	t->end = len;
	pos = t->rdata;
	/* The algorithm name must lie inside the RDATA: read it as if the message ended there. */
	if (!sig_name(msg, t->end, &pos, t->alg, &t->alg_len) || t->end - pos < 10)
		return false;
	t->time = 0;
	for (int i = 0; i < 6; i++)
		t->time = t->time << 8 | msg[pos + (size_t)i];
	t->fudge = (uint16_t)(msg[pos + 6] << 8 | msg[pos + 7]);
	t->mac_len = (uint16_t)(msg[pos + 8] << 8 | msg[pos + 9]);
	t->mac = pos + 10;
	if (t->end - t->mac < (size_t)t->mac_len + 6)
		return false;
	t->after_mac = t->mac + t->mac_len;
	t->error = (uint16_t)(msg[t->after_mac + 2] << 8 | msg[t->after_mac + 3]);
	t->other_len = (uint16_t)(msg[t->after_mac + 4] << 8 | msg[t->after_mac + 5]);
	return t->end - t->after_mac - 6 == t->other_len;
}

bool fuzz_tsig_patch(uint8_t *msg, size_t len, const struct dcv_tsig_ctx *ctx)
{
	static const uint8_t sha256_name[] = "\x0bhmac-sha256";
	const struct dcv_tsig_key *key = ctx->key;
	struct sig_tsig t;
	uint8_t *in = NULL, mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	size_t n = 0;
	bool done = false;

	if (key->alg != DCV_HMAC_SHA256 || !sig_find(msg, len, &t) || t.mac_len != 32)
		return false;
	/* Request MAC, reply without its TSIG (original ID, ARCOUNT - 1), then the variables. */
	in = malloc(2 + ctx->mac_len + len + 255 + 10 + sizeof(sha256_name) + 16 + t.other_len);
	if (in == NULL)
		fuzz_fail("out of memory");
	in[n++] = (uint8_t)(ctx->mac_len >> 8);
	in[n++] = (uint8_t)ctx->mac_len;
	memcpy(in + n, ctx->mac, ctx->mac_len);
	n += ctx->mac_len;
	memcpy(in + n, msg, t.start);
	in[n] = msg[t.after_mac];
	in[n + 1] = msg[t.after_mac + 1];
	{
		unsigned ar = (unsigned)(msg[10] << 8 | msg[11]) - 1;
		in[n + 10] = (uint8_t)(ar >> 8);
		in[n + 11] = (uint8_t)ar;
	}
	n += t.start;
	memcpy(in + n, key->name_wire, key->name_wire_len);
	n += key->name_wire_len;
	memcpy(in + n, "\x00\xff\x00\x00\x00\x00", 6); /* class ANY, TTL 0 */
	n += 6;
	memcpy(in + n, sha256_name, sizeof(sha256_name)); /* with the root label's 0 */
	n += sizeof(sha256_name);
	memcpy(in + n, msg + t.mac - 10, 8); /* time signed, fudge */
	n += 8;
	memcpy(in + n, msg + t.after_mac + 2, 4 + (size_t)t.other_len); /* error, other */
	n += 4 + (size_t)t.other_len;
	if (HMAC(EVP_sha256(), key->secret, (int)key->secret_len, in, n, mac, &mac_len) != NULL &&
	    mac_len == 32) {
		memcpy(msg + t.mac, mac, 32);
		done = true;
	}
	free(in);
	return done;
}

int fuzz_tsig_expect(const uint8_t *msg, size_t len, const struct dcv_tsig_ctx *ctx, uint64_t now)
{
	static const uint8_t sha256_name[] = "\x0bhmac-sha256";
	const struct dcv_tsig_key *key = ctx->key;
	struct sig_tsig t;
	uint64_t apart = 0;

	if (!sig_find(msg, len, &t) || t.mac_len != 32 || t.class != 255 || t.ttl != 0 ||
	    t.owner_len != key->name_wire_len ||
	    memcmp(t.owner, key->name_wire, t.owner_len) != 0 || t.alg_len != sizeof(sha256_name) ||
	    memcmp(t.alg, sha256_name, t.alg_len) != 0)
		return 1;
	switch (t.error) {
	case 0:
		break;
	case 16:
		return DCV_EBADSIG;
	case 17:
		return DCV_EBADKEY;
	case 18:
		return DCV_EBADTIME;
	default:
		return DCV_ETSIG;
	}
	apart = now > t.time ? now - t.time : t.time - now;
	return apart > t.fudge ? DCV_ETSIG : DCV_OK;
}

#ifndef DCV_FUZZ_REPLAY
/*
 * UBSan: stop at the first report, so that libFuzzer keeps the input (the
 * DCV_FUZZ build compiles the library with recoverable checks).
 */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}
#endif
