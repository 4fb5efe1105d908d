/*
 * keyfile.c -- TSIG key files as BIND's tsig-keygen and Knot's keymgr write
 * them. Both parsers only locate the key's name, algorithm and secret in the
 * file; the secret is decoded once, for the key chosen, by
 * dcv_tsig_key_set(). No message quotes file content other than key names
 * and algorithm names, so a secret cannot leak into one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "cfgload.h"

/* Where a key's parts are in the file (pointers into the buffer or the YAML tree). */
struct kf_text {
	const char *s;
	size_t len;
	unsigned long line, col;
};

struct kf_key {
	struct kf_text name, alg, secret;
};

struct kf_keys {
	struct kf_key *v;
	size_t n, cap;
};

static struct kf_key *kf_add(struct kf_keys *keys)
{
	struct kf_key *grown = NULL;
	size_t cap = 0;

	if (keys->n == keys->cap) {
		cap = keys->cap ? keys->cap * 2 : 4;
		grown = realloc(keys->v, cap * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		keys->v = grown;
		keys->cap = cap;
	}
	memset(&keys->v[keys->n], 0, sizeof(keys->v[0]));
	return &keys->v[keys->n++];
}

/* ---- BIND: key "NAME" { algorithm ALG; secret "B64"; }; -------------------- */

enum bind_tok { T_EOF, T_WORD, T_STRING, T_OPEN, T_CLOSE, T_SEMI };

struct bind_lex {
	const char *buf;
	size_t len, pos;
	unsigned long line, col;
	struct kf_text tok;
	enum bind_tok type;
};

static void lex_advance(struct bind_lex *lx)
{
	if (lx->buf[lx->pos] == '\n') {
		lx->line++;
		lx->col = 1;
	} else {
		lx->col++;
	}
	lx->pos++;
}

static bool lex_at(const struct bind_lex *lx, const char *s)
{
	size_t n = strlen(s);

	return lx->len - lx->pos >= n && memcmp(lx->buf + lx->pos, s, n) == 0;
}

/* Skips blanks and #, // and C comments. Returns false on an open comment. */
static bool lex_skip(struct bind_lex *lx, const char *path, struct dcv_why *why)
{
	unsigned long line = 0, col = 0;

	while (lx->pos < lx->len) {
		char c = lx->buf[lx->pos];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			lex_advance(lx);
		} else if (c == '#' || lex_at(lx, "//")) {
			while (lx->pos < lx->len && lx->buf[lx->pos] != '\n')
				lex_advance(lx);
		} else if (lex_at(lx, "/*")) {
			line = lx->line;
			col = lx->col;
			while (lx->pos < lx->len && !lex_at(lx, "*/"))
				lex_advance(lx);
			if (lx->pos >= lx->len) {
				dcv_why_set(why, "%s:%lu:%lu: comment not closed", path, line, col);
				return false;
			}
			lex_advance(lx);
			lex_advance(lx);
		} else {
			break;
		}
	}
	return true;
}

static bool word_char(char c)
{
	return c > ' ' && c < 0x7f && c != '{' && c != '}' && c != ';' && c != '"';
}

/* The next token into lx->tok / lx->type; false with why on a lexical error. */
static bool lex_next(struct bind_lex *lx, const char *path, struct dcv_why *why)
{
	char c = 0;

	if (!lex_skip(lx, path, why))
		return false;
	lx->tok.s = lx->buf + lx->pos;
	lx->tok.len = 0;
	lx->tok.line = lx->line;
	lx->tok.col = lx->col;
	if (lx->pos >= lx->len) {
		lx->type = T_EOF;
		return true;
	}
	c = lx->buf[lx->pos];
	if (c == '{' || c == '}' || c == ';') {
		lx->type = c == '{' ? T_OPEN : c == '}' ? T_CLOSE : T_SEMI;
		lx->tok.len = 1;
		lex_advance(lx);
		return true;
	}
	if (c == '"') {
		lex_advance(lx);
		lx->tok.s = lx->buf + lx->pos;
		while (lx->pos < lx->len && lx->buf[lx->pos] != '"' && lx->buf[lx->pos] != '\0')
			lex_advance(lx);
		if (lx->pos >= lx->len || lx->buf[lx->pos] != '"') {
			dcv_why_set(why, "%s:%lu:%lu: quoted string not closed", path, lx->tok.line,
			            lx->tok.col);
			return false;
		}
		lx->tok.len = (size_t)(lx->buf + lx->pos - lx->tok.s);
		lex_advance(lx);
		lx->type = T_STRING;
		return true;
	}
	if (!word_char(c)) {
		dcv_why_set(why, "%s:%lu:%lu: unexpected character (byte 0x%02x)", path, lx->line,
		            lx->col, (unsigned char)c);
		return false;
	}
	while (lx->pos < lx->len && word_char(lx->buf[lx->pos]))
		lex_advance(lx);
	lx->tok.len = (size_t)(lx->buf + lx->pos - lx->tok.s);
	lx->type = T_WORD;
	return true;
}

static bool tok_is(const struct bind_lex *lx, const char *word)
{
	return lx->type == T_WORD && lx->tok.len == strlen(word) &&
	       strncasecmp(lx->tok.s, word, lx->tok.len) == 0;
}

static bool expect(struct bind_lex *lx, enum bind_tok type, const char *path, const char *what,
                   struct dcv_why *why)
{
	if (!lex_next(lx, path, why))
		return false;
	if (lx->type != type) {
		dcv_why_set(why, "%s:%lu:%lu: expected %s", path, lx->tok.line, lx->tok.col, what);
		return false;
	}
	return true;
}

/* One "algorithm X;" or "secret "X";" clause inside a key block. */
static bool bind_clause(struct bind_lex *lx, struct kf_key *key, const char *path,
                        struct dcv_why *why)
{
	struct kf_text *into = NULL;
	const char *what = NULL;

	if (tok_is(lx, "algorithm")) {
		into = &key->alg;
		what = "algorithm";
	} else if (tok_is(lx, "secret")) {
		into = &key->secret;
		what = "secret";
	} else {
		dcv_why_set(why, "%s:%lu:%lu: expected algorithm or secret in a key block", path,
		            lx->tok.line, lx->tok.col);
		return false;
	}
	if (into->s != NULL) {
		dcv_why_set(why, "%s:%lu:%lu: %s given twice", path, lx->tok.line, lx->tok.col,
		            what);
		return false;
	}
	if (!lex_next(lx, path, why))
		return false;
	if (lx->type != T_WORD && lx->type != T_STRING) {
		dcv_why_set(why, "%s:%lu:%lu: expected the %s after '%s'", path, lx->tok.line,
		            lx->tok.col, what, what);
		return false;
	}
	*into = lx->tok;
	return expect(lx, T_SEMI, path, "';'", why);
}

static int bind_parse(const char *buf, size_t len, const char *path, struct kf_keys *keys,
                      struct dcv_why *why)
{
	struct bind_lex lx = {buf, len, 0, 1, 1, {NULL, 0, 0, 0}, T_EOF};
	struct kf_key *key = NULL;

	for (;;) {
		if (!lex_next(&lx, path, why))
			return DCV_EKEY;
		if (lx.type == T_EOF)
			return DCV_OK;
		if (!tok_is(&lx, "key")) {
			dcv_why_set(why,
			            "%s:%lu:%lu: expected a key statement (key \"NAME\" { ... };)",
			            path, lx.tok.line, lx.tok.col);
			return DCV_EKEY;
		}
		if ((key = kf_add(keys)) == NULL)
			return DCV_ENOMEM;
		if (!lex_next(&lx, path, why))
			return DCV_EKEY;
		if (lx.type != T_WORD && lx.type != T_STRING) {
			dcv_why_set(why, "%s:%lu:%lu: expected the key name after 'key'", path,
			            lx.tok.line, lx.tok.col);
			return DCV_EKEY;
		}
		key->name = lx.tok;
		if (!expect(&lx, T_OPEN, path, "'{'", why))
			return DCV_EKEY;
		for (;;) {
			if (!lex_next(&lx, path, why))
				return DCV_EKEY;
			if (lx.type == T_CLOSE)
				break;
			if (!bind_clause(&lx, key, path, why))
				return DCV_EKEY;
		}
		if (!expect(&lx, T_SEMI, path, "';' after '}'", why))
			return DCV_EKEY;
	}
}

/* ---- Knot: key: [ { id, algorithm, secret } ] ------------------------------ */

static void kf_from_node(struct kf_text *t, const struct dcv_yin_node *node, const char *text)
{
	t->s = text;
	t->len = text ? strlen(text) : 0;
	t->line = node->line;
	t->col = node->col;
}

static int knot_parse(const unsigned char *buf, size_t len, const char *path, struct dcv_yin *y,
                      struct kf_keys *keys, struct dcv_why *why)
{
	static const char *const top[] = {"key", NULL};
	static const char *const fields[] = {"id", "algorithm", "secret", NULL};
	const struct dcv_yin_node *v[2], *f[4];
	struct dcv_strv errors = {NULL, 0, 0};
	struct kf_key *key = NULL;
	long n = 0;
	int rc = dcv_yin_parse(y, path, buf, len, &errors);

	if (rc < 0)
		goto out;
	rc = DCV_ENOMEM;
	if (!dcv_yin_fields(y, y->root, "key file", top, v, NULL))
		goto out;
	n = dcv_yin_count(y, v[0], "key", false);
	for (size_t i = 0; n > 0 && i < (size_t)n; i++) {
		const struct dcv_yin_node *item = dcv_yin_item(v[0], i);

		if (!dcv_yin_fields(y, item, "key", fields, f, NULL))
			continue;
		if (f[0] == NULL || f[1] == NULL || f[2] == NULL) {
			dcv_yin_error(y, item, "key: id, algorithm and secret are all required");
			continue;
		}
		if ((key = kf_add(keys)) == NULL)
			goto out;
		kf_from_node(&key->name, f[0], dcv_yin_text(y, f[0], "key: id"));
		kf_from_node(&key->alg, f[1], dcv_yin_text(y, f[1], "key: algorithm"));
		kf_from_node(&key->secret, f[2], dcv_yin_text(y, f[2], "key: secret"));
	}
	rc = DCV_OK;
out:
	if (y->oom)
		rc = DCV_ENOMEM;
	else if (y->n_errors > 0 || rc == DCV_EINVAL)
		rc = DCV_EKEY;
	if (rc == DCV_EKEY)
		dcv_why_set(why, "%s", errors.n > 0 ? errors.v[0] : "not a key file");
	dcv_strv_free(&errors);
	return rc;
}

/* keymgr starts its output with a "# alg:name:secret" comment; YAML skips it. */
static bool looks_like_knot(const unsigned char *buf, size_t len)
{
	size_t i = 0;

	for (;;) {
		while (i < len &&
		       (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
			i++;
		if (i < len && buf[i] == '#') {
			while (i < len && buf[i] != '\n')
				i++;
			continue;
		}
		break;
	}
	return (len - i >= 4 && memcmp(buf + i, "key:", 4) == 0) ||
	       (len - i >= 3 && memcmp(buf + i, "---", 3) == 0);
}

/* ---- choosing and decoding ------------------------------------------------ */

/* Key names compare case-insensitively, with or without a trailing dot. */
static bool name_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
	if (a_len > 0 && a[a_len - 1] == '.')
		a_len--;
	if (b_len > 0 && b[b_len - 1] == '.')
		b_len--;
	return a_len == b_len && strncasecmp(a, b, a_len) == 0;
}

static void quote_text(const struct kf_text *t, char *out, size_t size)
{
	char tmp[80];
	size_t n = t->len < sizeof(tmp) - 1 ? t->len : sizeof(tmp) - 1;

	memcpy(tmp, t->s, n);
	tmp[n] = '\0';
	dcv_yin_quote(tmp, 64, out, size);
	if (t->len > n && strlen(out) + 4 <= size)
		strcat(out, "...");
}

static int choose(const struct kf_keys *keys, const char *path, const char *want_id,
                  const struct kf_key **out, struct dcv_why *why)
{
	char quoted[96], other[96], wanted[96];

	for (size_t i = 0; i < keys->n; i++) {
		if (keys->v[i].name.s == NULL || keys->v[i].alg.s == NULL ||
		    keys->v[i].secret.s == NULL) {
			dcv_why_set(why,
			            "%s:%lu:%lu: the key needs a name, an algorithm and a secret",
			            path, keys->v[i].name.line, keys->v[i].name.col);
			return DCV_EKEY;
		}
		for (size_t j = 0; j < i; j++) {
			if (name_equal(keys->v[j].name.s, keys->v[j].name.len, keys->v[i].name.s,
			               keys->v[i].name.len)) {
				quote_text(&keys->v[i].name, quoted, sizeof(quoted));
				dcv_why_set(why, "%s:%lu:%lu: key '%s' is defined twice", path,
				            keys->v[i].name.line, keys->v[i].name.col, quoted);
				return DCV_EKEY;
			}
		}
	}
	if (keys->n == 0) {
		dcv_why_set(why, "%s: holds no key", path);
		return DCV_EKEY;
	}
	if (keys->n == 1) {
		*out = &keys->v[0];
		return DCV_OK;
	}
	for (size_t i = 0; want_id != NULL && i < keys->n; i++) {
		if (name_equal(keys->v[i].name.s, keys->v[i].name.len, want_id, strlen(want_id))) {
			*out = &keys->v[i];
			return DCV_OK;
		}
	}
	quote_text(&keys->v[0].name, quoted, sizeof(quoted));
	quote_text(&keys->v[1].name, other, sizeof(other));
	if (want_id == NULL) {
		dcv_why_set(why, "%s: holds %zu keys ('%s', '%s', ...); name the one to use", path,
		            keys->n, quoted, other);
	} else {
		/* The id comes from the configuration: it may hold any byte. */
		dcv_yin_quote(want_id, 64, wanted, sizeof(wanted));
		dcv_why_set(why, "%s: holds %zu keys ('%s', '%s', ...) but none named '%s'", path,
		            keys->n, quoted, other, wanted);
	}
	return DCV_EKEY;
}

/*
 * An algorithm value is quoted in a message only when it cannot be a
 * secret pasted into the wrong line: algorithm names hold a '-', base64
 * never does.
 */
void cfg_quote_algorithm(const char *text, char *out, size_t size)
{
	bool name_like = strchr(text, '-') != NULL && strlen(text) <= 40;

	for (const char *p = text; name_like && *p != '\0'; p++)
		name_like = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		            (*p >= '0' && *p <= '9') || *p == '-' || *p == '.';
	if (name_like)
		snprintf(out, size, "'%s'", text);
	else
		snprintf(out, size, "(value not shown)");
}

/* Decodes the chosen key into out. The secret's copy here is wiped. */
static int decode(const struct kf_key *key, const char *path, struct dcv_tsig_key *out,
                  struct dcv_why *why)
{
	char name[256], alg_text[64], secret[DCV_TSIG_SECRET_MAX * 2], quoted[96];
	struct dcv_why inner;
	enum dcv_tsig_alg alg = DCV_HMAC_SHA256;
	size_t n = 0;
	int rc = DCV_EKEY;

	quote_text(&key->name, quoted, sizeof(quoted));
	if (key->name.len == 0 || key->name.len >= sizeof(name)) {
		dcv_why_set(why, "%s:%lu:%lu: key name '%s' is not a domain name", path,
		            key->name.line, key->name.col, quoted);
		goto out;
	}
	memcpy(name, key->name.s, key->name.len);
	name[key->name.len] = '\0';
	n = key->alg.len < sizeof(alg_text) - 1 ? key->alg.len : sizeof(alg_text) - 1;
	memcpy(alg_text, key->alg.s, n);
	alg_text[n] = '\0';
	if (n != key->alg.len || memchr(alg_text, '\0', n) != NULL ||
	    dcv_tsig_alg_parse(alg_text, &alg) < 0) {
		cfg_quote_algorithm(alg_text, quoted, sizeof(quoted));
		dcv_why_set(why,
		            "%s:%lu:%lu: algorithm %s is not one of hmac-md5, hmac-sha1, "
		            "hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512",
		            path, key->alg.line, key->alg.col, quoted);
		goto out;
	}
	/* BIND allows the base64 to be broken over lines inside its quotes. */
	n = 0;
	for (size_t i = 0; i < key->secret.len; i++) {
		char c = key->secret.s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (n + 1 >= sizeof(secret)) {
			dcv_why_set(why, "%s:%lu:%lu: key '%s': the secret is longer than %d bytes",
			            path, key->secret.line, key->secret.col, quoted,
			            DCV_TSIG_SECRET_MAX);
			goto out;
		}
		secret[n++] = c;
	}
	secret[n] = '\0';
	if (dcv_tsig_key_set(out, name, alg, secret, &inner) < 0) {
		dcv_why_set(why, "%s:%lu:%lu: %s", path, key->secret.line, key->secret.col,
		            inner.text);
		goto out;
	}
	rc = DCV_OK;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

int dcv_keyfile_load(const char *path, const char *want_id, struct dcv_tsig_key *out,
                     struct dcv_strv *warnings, struct dcv_why *why)
{
	struct kf_keys keys = {NULL, 0, 0};
	const struct kf_key *key = NULL;
	struct dcv_yin y;
	struct dcv_why inner;
	struct stat st;
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = DCV_EIO;

	memset(&y, 0, sizeof(y));
	memset(out, 0, sizeof(*out));
	rc = dcv_read_file(path, DCV_KEYFILE_MAX_FILE, &buf, &len, &inner);
	if (rc < 0) {
		dcv_why_set(why, "%s: %s", path, inner.text);
		if (rc != DCV_EIO && rc != DCV_ENOMEM)
			rc = DCV_EKEY;
		goto out;
	}
	if (warnings != NULL && stat(path, &st) == 0 && (st.st_mode & S_IROTH) &&
	    dcv_strv_pushf(warnings,
	                   "%s: mode %04o lets every user read the TSIG secret; run chmod "
	                   "o-rwx on it",
	                   path, (unsigned)(st.st_mode & 07777)) < 0) {
		rc = DCV_ENOMEM;
		goto out;
	}
	if (looks_like_knot(buf, len))
		rc = knot_parse(buf, len, path, &y, &keys, why);
	else
		rc = bind_parse((const char *)buf, len, path, &keys, why);
	if (rc < 0)
		goto out;
	if ((rc = choose(&keys, path, want_id, &key, why)) < 0)
		goto out;
	rc = decode(key, path, out, why);
out:
	/* The parsers return DCV_ENOMEM without a message; the contract promises one. */
	if (rc == DCV_ENOMEM)
		dcv_why_set(why, "%s: out of memory", path);
	if (rc < 0)
		dcv_tsig_key_clear(out);
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	dcv_yin_free(&y);
	free(keys.v);
	return rc;
}
