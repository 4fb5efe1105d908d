/*
 * replay.c -- the scripted DNS and the fake clock of replay.h.
 *
 * One queue of events (replies, timeouts, cancellations, close callbacks)
 * and one table of timers; replay_run() takes whichever is due first (ties
 * in the order they were made), moves the clock there and runs it. The
 * fake dnsio keeps dnsio.h's promises that callers rely on: done runs once
 * per exchange and never from inside dcv_dnsio_exchange(), a rejected reply
 * leaves the exchange waiting, and the timeout reports the last rejection.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ldns/ldns.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dnsio.h"
#include "replay.h"
#include "replay_int.h"

#define REPLAY_T0 1000000
#define REPLAY_DEFAULT_TIMEOUT_MS 7500 /* dnsio's default tries: 0.5 + 1 + 2 + 4 s of UDP */
#define REPLAY_MAX_REPLIES 8
#define REPLAY_MAX_KEYS 4 /* zonekey lines; and dnskey, rrsig lines of one reply */

enum rp_action {
	RP_REPLY,
	RP_GARBLED,
	RP_TIMEOUT,
	RP_NETERR,
};

struct rp_reply {
	enum rp_action action;
	int rcode;
	bool aa;
	bool signed_ok;
	bool forged;
	int tsig_error; /* an unsigned TSIG with this error (BADSIG 16, ...); 0: none */
	uint64_t late;
	char **answers;
	size_t n_answers;
	char **authority;
	size_t n_authority;
	bool ad;
	bool badtime;     /* badtime S: a signed BADTIME report */
	long server_skew; /* its server's clock, seconds from ours */
	int ede;          /* -1: no Extended DNS Error option */
	char ede_text[128];
	char dnskeys[REPLAY_MAX_KEYS][64]; /* zonekey names whose DNSKEY the answer holds */
	size_t n_dnskeys;
	struct {
		char key[64];
		long from_min,
		    until_min; /* validity, minutes from now (real time, as dnssec.c's) */
	} rrsigs[REPLAY_MAX_KEYS];
	size_t n_rrsigs;
};

/* A DNSSEC key made for the scenario (zonekey NAME ZONE). */
struct rp_zonekey {
	char name[64];
	ldns_key *key;
	ldns_rr *dnskey;
};

struct rp_entry {
	char server[64];
	char type[16];
	char name[256];
	long uses;      /* -1: always */
	uint64_t until; /* fake ms since the start from which it no longer matches (0: never) */
	int line;
	char **has; /* texts the query must contain (ldns_pkt2str, blanks collapsed) */
	size_t n_has;
	char **lacks; /* and texts it must not */
	size_t n_lacks;
	struct rp_reply replies[REPLAY_MAX_REPLIES];
	size_t n_replies;
};

struct rp_query_log {
	char server[64], type[16], name[256];
};

struct rp_timer {
	uv_timer_t *t;
	bool active;
	uint64_t due, repeat, seq;
	uv_timer_cb cb;
};

enum rp_event_kind {
	EV_REPLY,
	EV_TIMEOUT,
	EV_DONE,  /* ends the exchange with status now (cancel, neterr) */
	EV_CLOSE, /* a closed timer's callback */
	EV_IO_CLOSED,
	EV_CALL, /* a deferred call of replay_uv.c (thread-pool work, a file event) */
};

struct rp_event {
	enum rp_event_kind kind;
	uint64_t at, seq;
	struct dcv_dnsio_xchg *x;
	size_t reply; /* EV_REPLY: which reply of the entry */
	int status;   /* EV_DONE */
	uv_handle_t *handle;
	uv_close_cb close_cb;
	struct dcv_dnsio *io;
	void (*fn)(void *arg); /* EV_CALL */
	void *arg;
};

struct dcv_dnsio {
	uv_loop_t *loop;
	size_t pending;
	bool closing;
	void (*closed)(void *arg);
	void *closed_arg;
	struct dcv_dnsio_xchg *current; /* inside an accept callback */
	uint64_t started;
};

struct dcv_dnsio_xchg {
	struct dcv_dnsio *io;
	struct dcv_addr server;
	ldns_pkt *query;
	dcv_dnsio_accept_cb accept;
	dcv_dnsio_done_cb done;
	void *arg;
	const struct rp_entry *entry;
	bool ended;
	int last_reject;
	char reject_why[256];
	size_t refs; /* events that still point at it */
};

static struct {
	uv_loop_t loop;
	uint64_t now, seq;
	char **lines; /* the file, comments and blanks removed, trimmed */
	char **raw;   /* the same lines with their indentation (for config sections) */
	int *line_no;
	size_t n_lines;
	struct rp_entry *entries;
	size_t n_entries;
	struct rp_event *events;
	size_t n_events, cap_events;
	struct rp_timer *timers;
	size_t n_timers, cap_timers;
	struct rp_query_log *log;
	size_t n_log;
	char *unexpected;
	char *section;
	const char **picked;
	char tsig_name[256], tsig_alg[64], tsig_secret[256];
	struct rp_zonekey keys[REPLAY_MAX_KEYS];
	size_t n_keys;
	const char *path;
} rp = {.now = REPLAY_T0};

static void rp_die(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void rp_die(int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "replay: %s:%d: ", rp.path ? rp.path : "-", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *rp_grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 16;
	p = realloc(p, *cap * size);
	if (p == NULL)
		rp_die(0, "out of memory");
	return p;
}

/* Same DNS name: case and a trailing dot aside. */
static bool rp_same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	la -= la > 1 && a[la - 1] == '.';
	lb -= lb > 1 && b[lb - 1] == '.';
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* --- the scenario file ---------------------------------------------------- */

static int rp_rcode(const char *name, int line)
{
	ldns_lookup_table *t = ldns_lookup_by_name(ldns_rcodes, name);

	if (t == NULL)
		rp_die(line, "unknown rcode %s", name);
	return t->id;
}

/* RFC 8945's TSIG error codes by name. */
static int rp_tsig_error_code(const char *name, int line)
{
	static const char *const names[] = {"BADSIG", "BADKEY", "BADTIME"};

	for (int i = 0; i < 3; i++)
		if (strcmp(name, names[i]) == 0)
			return 16 + i;
	rp_die(line, "tsigerror BADSIG, BADKEY or BADTIME, not %s", name);
}

static void rp_parse_reply(struct rp_entry *e, char *words, int line, enum rp_action action)
{
	struct rp_reply *r = NULL;
	char *save = NULL;

	if (e->n_replies == REPLAY_MAX_REPLIES)
		rp_die(line, "more than %d replies in one entry", REPLAY_MAX_REPLIES);
	r = &e->replies[e->n_replies++];
	r->action = action;
	r->ede = -1;
	for (char *w = strtok_r(words, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		if (strcmp(w, "aa") == 0)
			r->aa = true;
		else if (strcmp(w, "signed") == 0)
			r->signed_ok = true;
		else if (strcmp(w, "forged") == 0)
			r->forged = true;
		else if (strcmp(w, "tsigerror") == 0 && (w = strtok_r(NULL, " \t", &save)) != NULL)
			r->tsig_error = rp_tsig_error_code(w, line);
		else if (strcmp(w, "ad") == 0)
			r->ad = true;
		else if (strcmp(w, "badtime") == 0 && (w = strtok_r(NULL, " \t", &save)) != NULL) {
			r->badtime = true;
			r->server_skew = strtol(w, NULL, 10);
		} else if (strcmp(w, "late") == 0 && (w = strtok_r(NULL, " \t", &save)) != NULL)
			r->late = strtoull(w, NULL, 10);
		else if (action == RP_REPLY && isupper((unsigned char)w[0]))
			r->rcode = rp_rcode(w, line);
		else
			rp_die(line, "what is \"%s\"?", w);
	}
}

/* --- DNSSEC keys, DNSKEY and RRSIG records, Extended DNS Errors ------------- */

static const struct rp_zonekey *rp_zonekey(const char *name, int line)
{
	for (size_t i = 0; i < rp.n_keys; i++)
		if (strcmp(rp.keys[i].name, name) == 0)
			return &rp.keys[i];
	rp_die(line, "no zonekey %s", name);
}

/* zonekey NAME ZONE: a fresh ECDSA P-256 zone key whose owner is ZONE. */
static void rp_parse_zonekey(const char *l, int line)
{
	struct rp_zonekey *k = &rp.keys[rp.n_keys];
	char zone[256] = "";
	ldns_rdf *owner = NULL;

	if (rp.n_keys == REPLAY_MAX_KEYS || sscanf(l, "zonekey %63s %255s", k->name, zone) != 2)
		rp_die(line, "zonekey NAME ZONE (at most %d)", REPLAY_MAX_KEYS);
	k->key = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
	owner = ldns_dname_new_frm_str(zone);
	if (k->key == NULL || owner == NULL)
		rp_die(line, "ldns could not make a key for %s", zone);
	ldns_key_set_pubkey_owner(k->key, owner);
	ldns_key_set_flags(k->key, LDNS_KEY_ZONE_KEY);
	k->dnskey = ldns_key2rr(k->key);
	if (k->dnskey == NULL)
		rp_die(line, "ldns could not write the DNSKEY of %s", zone);
	ldns_rr_set_ttl(k->dnskey, 300);
	ldns_key_set_keytag(k->key, ldns_calc_keytag(k->dnskey)); /* the RRSIGs name it */
	rp.n_keys++;
}

/*
 * The lines after a reply that add DNSSEC to it:
 *   dnskey KEY                        KEY's DNSKEY record in the answer
 *   rrsig KEY [from MIN] [until MIN]  every RRset of the answer signed by KEY,
 *                                     valid from now + MIN minutes (default -60)
 *                                     until now + MIN minutes (default 30 days)
 *   ede CODE [TEXT]                   an Extended DNS Error option (RFC 8914)
 * False when l is none of them.
 */
static bool rp_parse_dnssec(struct rp_reply *r, const char *l, int line)
{
	char key[64] = "", w1[16] = "", w2[16] = "";
	long v1 = 0, v2 = 0;
	int used = 0;

	if (sscanf(l, "dnskey %63s", key) == 1) {
		if (r->n_dnskeys == REPLAY_MAX_KEYS)
			rp_die(line, "too many dnskey lines");
		rp_zonekey(key, line);
		snprintf(r->dnskeys[r->n_dnskeys++], sizeof(r->dnskeys[0]), "%s", key);
	} else if (sscanf(l, "rrsig %63s", key) == 1) {
		int n = sscanf(l, "rrsig %*s %15s %ld %15s %ld", w1, &v1, w2, &v2);
		size_t s = r->n_rrsigs;
		if (s == REPLAY_MAX_KEYS)
			rp_die(line, "too many rrsig lines");
		rp_zonekey(key, line);
		snprintf(r->rrsigs[s].key, sizeof(r->rrsigs[s].key), "%s", key);
		r->rrsigs[s].from_min = -60;
		r->rrsigs[s].until_min = 30 * 24 * 60;
		for (int k = 0; k + 1 < (n > 0 ? n : 0); k += 2) {
			const char *w = k ? w2 : w1;
			long v = k ? v2 : v1;
			if (strcmp(w, "from") == 0)
				r->rrsigs[s].from_min = v;
			else if (strcmp(w, "until") == 0)
				r->rrsigs[s].until_min = v;
			else
				rp_die(line, "rrsig KEY [from MIN] [until MIN]");
		}
		r->n_rrsigs++;
	} else if (sscanf(l, "ede %d%n", &r->ede, &used) == 1) {
		while (l[used] == ' ')
			used++;
		snprintf(r->ede_text, sizeof(r->ede_text), "%s", l + used);
	} else {
		return false;
	}
	return true;
}

/* Signs every RRset of the answer section with the rrsig lines' keys. */
static void rp_sign_answer(ldns_pkt *p, const struct rp_reply *r, int line)
{
	ldns_rr_list *answer = ldns_rr_list_clone(ldns_pkt_answer(p));
	size_t n = ldns_rr_list_rr_count(answer);

	for (size_t s = 0; s < r->n_rrsigs; s++) {
		const struct rp_zonekey *k = rp_zonekey(r->rrsigs[s].key, line);
		ldns_key_list *keys = ldns_key_list_new();
		uint32_t now = (uint32_t)time(NULL);

		ldns_key_set_inception(k->key, now + (uint32_t)(r->rrsigs[s].from_min * 60));
		ldns_key_set_expiration(k->key, now + (uint32_t)(r->rrsigs[s].until_min * 60));
		ldns_key_list_push_key(keys, k->key);
		for (size_t i = 0; i < n; i++) {
			const ldns_rr *rr = ldns_rr_list_rr(answer, i);
			ldns_rr_list *set = ldns_rr_list_new(), *sigs = NULL;
			bool first = ldns_rr_get_type(rr) != LDNS_RR_TYPE_RRSIG;
			for (size_t j = 0; j < n && first; j++) {
				const ldns_rr *o = ldns_rr_list_rr(answer, j);
				bool same =
				    ldns_rr_get_type(o) == ldns_rr_get_type(rr) &&
				    ldns_dname_compare(ldns_rr_owner(o), ldns_rr_owner(rr)) == 0;
				if (same && j < i)
					first = false; /* signed with the first of its set */
				else if (same)
					ldns_rr_list_push_rr(set, ldns_rr_clone(o));
			}
			if (first && (sigs = ldns_sign_public(set, keys)) == NULL)
				rp_die(line, "ldns could not sign with %s", k->name);
			for (size_t j = 0; sigs != NULL && j < ldns_rr_list_rr_count(sigs); j++)
				ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
				                 ldns_rr_clone(ldns_rr_list_rr(sigs, j)));
			ldns_rr_list_deep_free(sigs);
			ldns_rr_list_deep_free(set);
		}
		/* The key stays ours (popping a list's last key frees its array twice). */
		ldns_key_list_set_key_count(keys, 0);
		ldns_key_list_free(keys);
	}
	ldns_rr_list_deep_free(answer);
}

/*
 * A TSIG error as servers send it (RFC 8945 5.3.2): the query's key,
 * algorithm, time and fudge, no MAC, the error code; unsigned.
 */
static void rp_tsig_error(ldns_pkt *p, const ldns_pkt *q, int error, int line)
{
	ldns_rr *qt = ldns_pkt_tsig(q), *t = ldns_rr_new();
	static const uint8_t none[2] = {0, 0};

	if (qt == NULL || t == NULL || ldns_rr_rd_count(qt) < 7)
		rp_die(line, "tsigerror: the query is not signed");
	ldns_rr_set_owner(t, ldns_rdf_clone(ldns_rr_owner(qt)));
	ldns_rr_set_type(t, LDNS_RR_TYPE_TSIG);
	ldns_rr_set_class(t, LDNS_RR_CLASS_ANY);
	ldns_rr_set_ttl(t, 0);
	for (size_t i = 0; i < 3; i++) /* algorithm, time signed, fudge */
		ldns_rr_push_rdf(t, ldns_rdf_clone(ldns_rr_rdf(qt, i)));
	ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, none));
	ldns_rr_push_rdf(t, ldns_rdf_clone(ldns_rr_rdf(qt, 4))); /* original id */
	ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, (uint16_t)error));
	ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, none));
	ldns_pkt_set_tsig(p, t);
}

/*
 * The reply's Extended DNS Error as the data of its OPT record (ldns
 * writes it before a TSIG, which then covers it).
 */
static void rp_set_ede(ldns_pkt *p, const struct rp_reply *r, int line)
{
	size_t text = strlen(r->ede_text);
	uint8_t opt[4 + 2 + sizeof(r->ede_text)];
	ldns_rdf *data = NULL;

	opt[0] = 0;
	opt[1] = 15; /* EDE */
	opt[2] = (uint8_t)((2 + text) >> 8);
	opt[3] = (uint8_t)(2 + text);
	opt[4] = (uint8_t)(r->ede >> 8);
	opt[5] = (uint8_t)r->ede;
	memcpy(opt + 6, r->ede_text, text);
	data = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 6 + text, opt);
	if (data == NULL)
		rp_die(line, "out of memory");
	ldns_pkt_set_edns_udp_size(p, 1232);
	ldns_pkt_set_edns_do(p, true);
	ldns_pkt_set_edns_data(p, data);
}

/* --- signed BADTIME reports ---------------------------------------------------- */

static void rp_put(uint8_t **p, const void *data, size_t n)
{
	memcpy(*p, data, n);
	*p += n;
}

static void rp_put16(uint8_t **p, unsigned v)
{
	rp_put(p, (const uint8_t[]){(uint8_t)(v >> 8), (uint8_t)v}, 2);
}

static void rp_put48(uint8_t **p, uint64_t v)
{
	for (int shift = 40; shift >= 0; shift -= 8)
		*(*p)++ = (uint8_t)(v >> shift);
}

/* The canonical (lower-case, uncompressed) wire form of name into out; its length. */
static size_t rp_name_wire(const char *name, uint8_t *out, int line)
{
	ldns_rdf *d = ldns_dname_new_frm_str(name);
	size_t n = 0;

	if (d == NULL)
		rp_die(line, "bad name %s", name);
	ldns_dname2canonical(d);
	n = ldns_rdf_size(d);
	memcpy(out, ldns_rdf_data(d), n);
	ldns_rdf_deep_free(d);
	return n;
}

/*
 * Appends a BADTIME report's TSIG record (RFC 8945 5.2.3) to wire: the
 * request's time signed, the server's time (ours plus skew) in the other
 * data, signed with the scenario's key (HMAC over the request MAC, the
 * reply and the TSIG variables). ldns cannot sign with an error set.
 */
static uint8_t *rp_add_badtime(uint8_t *wire, size_t *len, const struct dcv_dnsio_xchg *x,
                               const struct rp_reply *r, int line)
{
	ldns_rr *tsig = ldns_pkt_tsig(x->query);
	const ldns_rdf *req_mac = tsig ? ldns_rr_rdf(tsig, 3) : NULL;
	uint8_t name[256], alg[256], vars[600], other[6], mac[EVP_MAX_MD_SIZE], secret[256];
	uint8_t *p = NULL, *grown = NULL;
	size_t name_len = rp_name_wire(rp.tsig_name, name, line);
	size_t alg_len = rp_name_wire(rp.tsig_alg, alg, line);
	uint64_t signed_at = ldns_rdf2native_time_t(ldns_rr_rdf(tsig, 1));
	unsigned mac_len = 0, other_len = 6;
	const EVP_MD *md = strncasecmp(rp.tsig_alg, "hmac-sha256", 11) == 0   ? EVP_sha256()
	                   : strncasecmp(rp.tsig_alg, "hmac-sha512", 11) == 0 ? EVP_sha512()
	                                                                      : NULL;

	if (req_mac == NULL || rp.tsig_name[0] == '\0' || md == NULL || r->signed_ok || r->forged ||
	    r->tsig_error)
		rp_die(line, "badtime needs a signed query, a tsig line (hmac-sha256 or -512) and "
		             "no signed, forged or tsigerror");
	p = other;
	rp_put48(&p, (uint64_t)time(NULL) + (uint64_t)r->server_skew);
	{
		/* The MAC input: request MAC (size and bytes), reply, TSIG variables. */
		size_t n = ldns_rdf_size(req_mac), vlen = 0;
		size_t b64 = strlen(rp.tsig_secret);
		int secret_len =
		    b64 < 4 * (sizeof(secret) / 3)
		        ? EVP_DecodeBlock(secret, (const uint8_t *)rp.tsig_secret, (int)b64)
		        : -1;
		/* EVP_DecodeBlock counts the bytes of the padding, too. */
		for (size_t k = b64; secret_len > 0 && k > 0 && rp.tsig_secret[k - 1] == '='; k--)
			secret_len--;
		uint8_t *in = malloc(n + *len + sizeof(vars));
		if (in == NULL || secret_len <= 0)
			rp_die(line, "cannot sign the BADTIME report");
		p = vars;
		rp_put(&p, name, name_len);
		rp_put16(&p, LDNS_RR_CLASS_ANY);
		rp_put(&p, (const uint8_t[]){0, 0, 0, 0}, 4);
		rp_put(&p, alg, alg_len);
		rp_put48(&p, signed_at);
		rp_put16(&p, 300);
		rp_put16(&p, 18);
		rp_put16(&p, other_len);
		rp_put(&p, other, other_len);
		vlen = (size_t)(p - vars);
		memcpy(in, ldns_rdf_data(req_mac), n);
		memcpy(in + n, wire, *len);
		memcpy(in + n + *len, vars, vlen);
		if (HMAC(md, secret, secret_len, in, n + *len + vlen, mac, &mac_len) == NULL)
			rp_die(line, "HMAC failed");
		free(in);
	}
	grown = realloc(wire, *len + name_len + 10 + alg_len + 16 + mac_len + other_len);
	if (grown == NULL)
		rp_die(line, "out of memory");
	wire = grown;
	p = wire + *len;
	rp_put(&p, name, name_len);
	rp_put16(&p, LDNS_RR_TYPE_TSIG);
	rp_put16(&p, LDNS_RR_CLASS_ANY);
	rp_put(&p, (const uint8_t[]){0, 0, 0, 0}, 4);
	rp_put16(&p, (unsigned)(alg_len + 16 + mac_len + other_len));
	rp_put(&p, alg, alg_len);
	rp_put48(&p, signed_at);
	rp_put16(&p, 300);
	rp_put16(&p, mac_len);
	rp_put(&p, mac, mac_len);
	rp_put16(&p, ldns_pkt_id(x->query));
	rp_put16(&p, 18);
	rp_put16(&p, other_len);
	rp_put(&p, other, other_len);
	*len = (size_t)(p - wire);
	wire[11]++; /* ARCOUNT (the replies here have no other additional record) */
	return wire;
}

static void rp_parse_entry(size_t *i)
{
	struct rp_entry *e = NULL;
	size_t cap = rp.n_entries;
	char times[16] = "", count[16] = "";

	rp.entries = rp_grow(rp.entries, &cap, rp.n_entries, sizeof(*rp.entries));
	e = &rp.entries[rp.n_entries++];
	memset(e, 0, sizeof(*e));
	e->line = rp.line_no[*i];
	e->uses = 1;
	if (sscanf(rp.lines[*i], "entry %63s %15s %255s %15s %15s", e->server, e->type, e->name,
	           times, count) < 3)
		rp_die(e->line, "entry SERVER TYPE NAME [times N | always]");
	if (strstr(rp.lines[*i], " until ") != NULL)
		e->until = strtoull(strstr(rp.lines[*i], " until ") + 7, NULL, 10);
	if (strcmp(times, "always") == 0)
		e->uses = -1;
	else if (strcmp(times, "times") == 0)
		e->uses = strtol(count, NULL, 10);
	for ((*i)++; *i < rp.n_lines && strcmp(rp.lines[*i], "end") != 0; (*i)++) {
		char *l = rp.lines[*i];
		int line = rp.line_no[*i];
		struct rp_reply *last = e->n_replies ? &e->replies[e->n_replies - 1] : NULL;
		if (strncmp(l, "reply ", 6) == 0)
			rp_parse_reply(e, l + 6, line, RP_REPLY);
		else if (strncmp(l, "garbled", 7) == 0)
			rp_parse_reply(e, l + 7, line, RP_GARBLED);
		else if (strcmp(l, "timeout") == 0)
			rp_parse_reply(e, l + 7, line, RP_TIMEOUT);
		else if (strcmp(l, "neterr") == 0)
			rp_parse_reply(e, l + 6, line, RP_NETERR);
		else if (strncmp(l, "has ", 4) == 0) {
			e->has = realloc(e->has, (e->n_has + 1) * sizeof(*e->has));
			e->has[e->n_has++] = l + 4;
		} else if (strncmp(l, "lacks ", 6) == 0) {
			e->lacks = realloc(e->lacks, (e->n_lacks + 1) * sizeof(*e->lacks));
			e->lacks[e->n_lacks++] = l + 6;
		} else if (strncmp(l, "authority ", 10) == 0 && last != NULL &&
		           last->action == RP_REPLY) {
			last->authority = realloc(last->authority, (last->n_authority + 1) *
			                                               sizeof(*last->authority));
			last->authority[last->n_authority++] = l + 10;
		} else if (strncmp(l, "answer ", 7) == 0 && last != NULL &&
		           last->action == RP_REPLY) {
			last->answers =
			    realloc(last->answers, (last->n_answers + 1) * sizeof(*last->answers));
			last->answers[last->n_answers++] = l + 7;
		} else if (last != NULL && last->action == RP_REPLY &&
		           rp_parse_dnssec(last, l, line)) {
			continue;
		} else
			rp_die(line, "in an entry: \"%s\"", l);
	}
	if (*i == rp.n_lines)
		rp_die(e->line, "entry without end");
}

void replay_load(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[2048];
	size_t cap = 0, cap_no = 0, cap_raw = 0;
	int line = 0;

	rp.path = path;
	if (f == NULL)
		rp_die(0, "cannot open");
	while (fgets(buf, sizeof(buf), f) != NULL) {
		char *s = buf, *end = NULL;
		line++;
		if (strchr(s, '#') != NULL)
			*strchr(s, '#') = '\0';
		end = s + strlen(s);
		while (end > s && isspace((unsigned char)end[-1]))
			*--end = '\0';
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			continue;
		rp.lines = rp_grow(rp.lines, &cap, rp.n_lines, sizeof(*rp.lines));
		rp.raw = rp_grow(rp.raw, &cap_raw, rp.n_lines, sizeof(*rp.raw));
		rp.line_no = rp_grow(rp.line_no, &cap_no, rp.n_lines, sizeof(*rp.line_no));
		rp.line_no[rp.n_lines] = line;
		rp.raw[rp.n_lines] = strdup(buf);
		rp.lines[rp.n_lines++] = strdup(s);
	}
	fclose(f);
	for (size_t i = 0; i < rp.n_lines; i++) {
		if (strncmp(rp.lines[i], "entry ", 6) == 0)
			rp_parse_entry(&i);
		else if (strncmp(rp.lines[i], "tsig ", 5) == 0 &&
		         sscanf(rp.lines[i], "tsig %255s %63s %255s", rp.tsig_name, rp.tsig_alg,
		                rp.tsig_secret) != 3)
			rp_die(rp.line_no[i], "tsig NAME ALGORITHM BASE64");
		else if (strncmp(rp.lines[i], "zonekey ", 8) == 0)
			rp_parse_zonekey(rp.lines[i], rp.line_no[i]);
	}
}

const char *replay_section(const char *name)
{
	size_t len = 0;

	free(rp.section);
	rp.section = NULL;
	for (size_t i = 0; i < rp.n_lines; i++) {
		if (strcmp(rp.lines[i], name) != 0)
			continue;
		for (size_t k = i + 1; k < rp.n_lines && strcmp(rp.lines[k], "end") != 0; k++)
			len += strlen(rp.raw[k]) + 1;
		rp.section = calloc(1, len + 1);
		for (size_t k = i + 1; k < rp.n_lines && strcmp(rp.lines[k], "end") != 0; k++) {
			strcat(rp.section, rp.raw[k]);
			strcat(rp.section, "\n");
		}
		break;
	}
	return rp.section;
}

const char *const *replay_lines(const char *word, size_t *n)
{
	size_t len = word != NULL ? strlen(word) : 0, cap = 0;

	free(rp.picked);
	rp.picked = NULL;
	*n = 0;
	for (size_t i = 0; i < rp.n_lines; i++) {
		const char *l = rp.lines[i];
		/* "entry ..." and a bare word (config) open a block, skipped to its end. */
		if (strncmp(l, "entry ", 6) == 0 || strchr(l, ' ') == NULL) {
			while (i < rp.n_lines && strcmp(rp.lines[i], "end") != 0)
				i++;
			continue;
		}
		if (word == NULL || (strncmp(l, word, len) == 0 && l[len] == ' ')) {
			rp.picked = rp_grow(rp.picked, &cap, *n, sizeof(*rp.picked));
			rp.picked[(*n)++] = l;
		}
	}
	return rp.picked;
}

size_t replay_pending(void)
{
	size_t n = rp.n_events;

	for (size_t i = 0; i < rp.n_timers; i++)
		n += rp.timers[i].active;
	return n;
}

void replay_forget_queries(void)
{
	rp.n_log = 0;
}

size_t replay_queries(const char *server, const char *type, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < rp.n_log; i++)
		n += (server == NULL || strcmp(rp.log[i].server, server) == 0) &&
		     (type == NULL || strcasecmp(rp.log[i].type, type) == 0) &&
		     (name == NULL || rp_same_name(rp.log[i].name, name));
	return n;
}

const char *replay_unexpected(void)
{
	return rp.unexpected ? rp.unexpected : "";
}

size_t replay_unused(char *buf, size_t size)
{
	size_t n = 0, off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < rp.n_entries; i++) {
		const struct rp_entry *e = &rp.entries[i];
		if (e->uses <= 0)
			continue;
		n++;
		if (off < size)
			off += (size_t)snprintf(buf + off, size - off, "line %d: %s %s %s; ",
			                        e->line, e->server, e->type, e->name);
	}
	return n;
}

/* --- events and the clock --------------------------------------------------- */

static void rp_push(struct rp_event ev)
{
	rp.events = rp_grow(rp.events, &rp.cap_events, rp.n_events, sizeof(*rp.events));
	ev.seq = rp.seq++;
	if (ev.x != NULL)
		ev.x->refs++;
	rp.events[rp.n_events++] = ev;
}

uv_loop_t *replay_loop(void)
{
	return &rp.loop;
}

uint64_t uv_now(const uv_loop_t *loop)
{
	(void)loop;
	return rp.now;
}

void uv_update_time(uv_loop_t *loop)
{
	(void)loop;
}

static struct rp_timer *rp_timer(const uv_timer_t *t)
{
	for (size_t i = 0; i < rp.n_timers; i++)
		if (rp.timers[i].t == t)
			return &rp.timers[i];
	return NULL;
}

int uv_timer_init(uv_loop_t *loop, uv_timer_t *t)
{
	struct rp_timer *rt = rp_timer(t);

	t->loop = loop;
	t->type = UV_TIMER;
	t->flags = 0;
	if (rt == NULL) {
		rp.timers = rp_grow(rp.timers, &rp.cap_timers, rp.n_timers, sizeof(*rp.timers));
		rt = &rp.timers[rp.n_timers++];
	}
	*rt = (struct rp_timer){.t = t};
	return 0;
}

int uv_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
{
	struct rp_timer *rt = rp_timer(t);

	if (rt == NULL)
		rp_die(0, "uv_timer_start on a timer that was not initialized (or is closed)");
	rt->active = true;
	rt->cb = cb;
	rt->due = rp.now + timeout;
	rt->repeat = repeat;
	rt->seq = rp.seq++;
	return 0;
}

int uv_timer_stop(uv_timer_t *t)
{
	struct rp_timer *rt = rp_timer(t);

	if (rt != NULL)
		rt->active = false;
	return 0;
}

int uv_is_active(const uv_handle_t *h)
{
	const struct rp_timer *rt = h->type == UV_TIMER ? rp_timer((const uv_timer_t *)h) : NULL;

	if (h->type != UV_TIMER)
		return replay_uv_active(h);
	return rt != NULL && rt->active;
}

void uv_close(uv_handle_t *h, uv_close_cb cb)
{
	struct rp_timer *rt = h->type == UV_TIMER ? rp_timer((uv_timer_t *)h) : NULL;

	if (h->flags & RP_HANDLE_CLOSING)
		rp_die(0, "uv_close of a handle closed already (libuv asserts)");
	if (rt != NULL)
		*rt = rp.timers[--rp.n_timers];
	else if (!replay_uv_forget(h))
		rp_die(0, "uv_close of a handle replay does not know (timers, file events)");
	h->flags |= RP_HANDLE_CLOSING;
	rp_push((struct rp_event){.kind = EV_CLOSE, .at = rp.now, .handle = h, .close_cb = cb});
}

int uv_is_closing(const uv_handle_t *h)
{
	return (h->flags & (RP_HANDLE_CLOSING | RP_HANDLE_CLOSED)) != 0;
}

void replay_defer(uint64_t delay_ms, void (*fn)(void *arg), void *arg)
{
	rp_push((struct rp_event){.kind = EV_CALL, .at = rp.now + delay_ms, .fn = fn, .arg = arg});
}

bool replay_undefer(void (*fn)(void *arg), void *arg)
{
	for (size_t i = 0; i < rp.n_events; i++)
		if (rp.events[i].kind == EV_CALL && rp.events[i].fn == fn &&
		    rp.events[i].arg == arg) {
			rp.events[i] = rp.events[--rp.n_events];
			return true;
		}
	return false;
}

/* --- the fake dnsio ------------------------------------------------------------ */

static void rp_note_unexpected(const char *text)
{
	size_t old = rp.unexpected ? strlen(rp.unexpected) : 0;

	rp.unexpected = realloc(rp.unexpected, old + strlen(text) + 1);
	if (rp.unexpected == NULL)
		rp_die(0, "out of memory");
	strcpy(rp.unexpected + old, text);
}

struct dcv_dnsio *dcv_dnsio_new(uv_loop_t *loop, const struct dcv_dnsio_opts *opts)
{
	struct dcv_dnsio *io = calloc(1, sizeof(*io));

	(void)opts;
	if (io != NULL)
		io->loop = loop;
	return io;
}

uv_loop_t *dcv_dnsio_loop(const struct dcv_dnsio *io)
{
	return io->loop;
}

size_t dcv_dnsio_pending(const struct dcv_dnsio *io)
{
	return io->pending;
}

void dcv_dnsio_get_stats(const struct dcv_dnsio *io, struct dcv_dnsio_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->started = io->started;
	out->inflight = io->pending;
}

void dcv_dnsio_reject_why(struct dcv_dnsio *io, const char *fmt, ...)
{
	va_list ap;

	if (io->current == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(io->current->reject_why, sizeof(io->current->reject_why), fmt, ap);
	va_end(ap);
}

static void rp_xchg_release(struct dcv_dnsio_xchg *x)
{
	if (--x->refs > 0)
		return;
	ldns_pkt_free(x->query);
	free(x);
}

/* Ends x once: done with status (and the reply when DCV_OK). */
static void rp_end(struct dcv_dnsio_xchg *x, int status, const uint8_t *msg, size_t len)
{
	struct dcv_dnsio *io = x->io;
	struct dcv_why why;

	memset(&why, 0, sizeof(why));

	if (x->ended)
		return;
	x->ended = true;
	io->pending--;
	/* Its other events mean nothing now; dropped so that the clock does not run to them. */
	for (size_t i = 0; i < rp.n_events;) {
		if (rp.events[i].x == x) {
			rp.events[i] = rp.events[--rp.n_events];
			x->refs--; /* the caller's event still holds one */
		} else {
			i++;
		}
	}
	if (status == DCV_ETIMEOUT)
		dcv_why_set(&why, "%s: no reply (replayed timeout)", x->server.text);
	else if (status == DCV_ENET)
		dcv_why_set(&why, "%s: connection refused", x->server.text);
	else if (status < 0 && x->reject_why[0])
		dcv_why_set(&why, "%s: %s", x->server.text, x->reject_why);
	else if (status < 0)
		dcv_why_set(&why, "%s: reply rejected: %s", x->server.text, dcv_strerror(status));
	x->done(x->arg, status, status == DCV_OK ? msg : NULL, status == DCV_OK ? len : 0,
	        status == DCV_OK ? NULL : &why);
	if (io->closing && io->pending == 0)
		rp_push((struct rp_event){.kind = EV_IO_CLOSED, .at = rp.now, .io = io});
}

/* The query in ldns's text form, every run of blanks made one space (malloc'd). */
static char *rp_query_text(const ldns_pkt *q)
{
	char *text = ldns_pkt2str(q), *o = text;
	bool blank = false;

	for (const char *c = text; c != NULL && *c; c++) {
		if (isspace((unsigned char)*c)) {
			blank = true;
			continue;
		}
		if (blank && o != text)
			*o++ = ' ';
		blank = false;
		*o++ = *c;
	}
	if (o != NULL)
		*o = '\0';
	return text;
}

/*
 * Whether q holds every `has` text of the entry and no `lacks` text (case
 * aside); the first that fails in why.
 */
static bool rp_query_fits(const struct rp_entry *e, const ldns_pkt *q, char *why, size_t size)
{
	char *text = e->n_has + e->n_lacks ? rp_query_text(q) : NULL;
	bool ok = true;

	for (size_t i = 0; i < e->n_has && ok; i++)
		if (strcasestr(text, e->has[i]) == NULL) {
			ok = false;
			snprintf(why, size, "lacks \"%.200s\"", e->has[i]);
		}
	for (size_t i = 0; i < e->n_lacks && ok; i++)
		if (strcasestr(text, e->lacks[i]) != NULL) {
			ok = false;
			snprintf(why, size, "holds \"%.200s\"", e->lacks[i]);
		}
	free(text);
	return ok;
}

static void rp_type_of(const ldns_pkt *q, char *type, size_t size, char *name, size_t nsize)
{
	ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	char *owner = qr ? ldns_rdf2str(ldns_rr_owner(qr)) : NULL;
	char *t = qr ? ldns_rr_type2str(ldns_rr_get_type(qr)) : NULL;

	if (ldns_pkt_get_opcode(q) == LDNS_PACKET_UPDATE)
		snprintf(type, size, "UPDATE");
	else
		snprintf(type, size, "%s", t ? t : "?");
	snprintf(name, nsize, "%s", owner ? owner : "?");
	free(owner);
	free(t);
}

int dcv_dnsio_exchange(struct dcv_dnsio *io, const struct dcv_addr *server, const uint8_t *query,
                       size_t len, unsigned flags, uint64_t timeout_ms, dcv_dnsio_accept_cb accept,
                       dcv_dnsio_done_cb done, void *arg, struct dcv_dnsio_xchg **xchg)
{
	struct dcv_dnsio_xchg *x = NULL;
	struct rp_query_log q;
	size_t cap = rp.n_log;

	(void)flags;
	memset(&q, 0, sizeof(q));
	if (len < 12 || len > 65535 || done == NULL || io->closing)
		return DCV_EINVAL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return DCV_ENOMEM;
	*x = (struct dcv_dnsio_xchg){
	    .io = io, .server = *server, .accept = accept, .done = done, .arg = arg, .refs = 1};
	if (ldns_wire2pkt(&x->query, query, len) != LDNS_STATUS_OK)
		rp_die(0, "the code under test sent a query ldns cannot read");
	snprintf(q.server, sizeof(q.server), "%s", server->text);
	rp_type_of(x->query, q.type, sizeof(q.type), q.name, sizeof(q.name));
	rp.log = rp_grow(rp.log, &cap, rp.n_log, sizeof(*rp.log));
	rp.log[rp.n_log++] = q;
	for (size_t i = 0; i < rp.n_entries && x->entry == NULL; i++) {
		struct rp_entry *e = &rp.entries[i];
		char why[240];
		if (e->uses != 0 && (e->until == 0 || rp.now - REPLAY_T0 < e->until) &&
		    strcmp(e->server, q.server) == 0 && strcasecmp(e->type, q.type) == 0 &&
		    rp_same_name(e->name, q.name)) {
			x->entry = e;
			if (e->uses > 0)
				e->uses--;
			if (!rp_query_fits(e, x->query, why, sizeof(why))) {
				/* With the query's text: what it holds instead. */
				char note[2600], *text = rp_query_text(x->query);
				snprintf(note, sizeof(note),
				         "%s %s %s (entry of line %d): the query %s: %.1800s\n",
				         q.server, q.type, q.name, e->line, why, text);
				free(text);
				rp_note_unexpected(note);
			}
		}
	}
	io->pending++;
	io->started++;
	/* dnsio gives up after its tries whatever the caller's deadline (dnsio.h). */
	if (timeout_ms == 0 || timeout_ms > REPLAY_DEFAULT_TIMEOUT_MS)
		timeout_ms = REPLAY_DEFAULT_TIMEOUT_MS;
	if (x->entry == NULL) {
		char note[400];
		snprintf(note, sizeof(note), "%s %s %s\n", q.server, q.type, q.name);
		rp_note_unexpected(note);
	}
	for (size_t r = 0; x->entry != NULL && r < x->entry->n_replies; r++) {
		const struct rp_reply *rep = &x->entry->replies[r];
		if (rep->action == RP_NETERR)
			rp_push((struct rp_event){
			    .kind = EV_DONE, .at = rp.now, .x = x, .status = DCV_ENET});
		else if (rep->action != RP_TIMEOUT && rep->late < timeout_ms)
			rp_push((struct rp_event){
			    .kind = EV_REPLY, .at = rp.now + rep->late, .x = x, .reply = r});
	}
	rp_push((struct rp_event){.kind = EV_TIMEOUT, .at = rp.now + timeout_ms, .x = x});
	if (xchg != NULL)
		*xchg = x;
	rp_xchg_release(x); /* the events hold it now */
	return DCV_OK;
}

void dcv_dnsio_cancel(struct dcv_dnsio_xchg *x)
{
	if (x != NULL && !x->ended)
		rp_push((struct rp_event){
		    .kind = EV_DONE, .at = rp.now, .x = x, .status = DCV_ECANCELED});
}

void dcv_dnsio_close(struct dcv_dnsio *io, void (*closed)(void *arg), void *arg)
{
	size_t n = rp.n_events;

	io->closing = true;
	io->closed = closed;
	io->closed_arg = arg;
	/* Every exchange still out holds its timeout event: cancel through those. */
	for (size_t i = 0; i < n; i++)
		if (rp.events[i].kind == EV_TIMEOUT && rp.events[i].x->io == io)
			rp_push((struct rp_event){.kind = EV_DONE,
			                          .at = rp.now,
			                          .x = rp.events[i].x,
			                          .status = DCV_ECANCELED});
	if (io->pending == 0)
		rp_push((struct rp_event){.kind = EV_IO_CLOSED, .at = rp.now, .io = io});
}

/* The reply bytes for reply r of x's entry (malloc'd), signed as asked. */
static uint8_t *rp_build(const struct dcv_dnsio_xchg *x, const struct rp_reply *r, size_t *len)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr_list *qs = ldns_pkt_question(x->query);
	uint8_t *wire = NULL;
	int line = x->entry->line;

	ldns_pkt_set_id(p, ldns_pkt_id(x->query));
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_opcode(p, ldns_pkt_get_opcode(x->query));
	ldns_pkt_set_rd(p, ldns_pkt_rd(x->query));
	ldns_pkt_set_aa(p, r->aa);
	ldns_pkt_set_ad(p, r->ad);
	ldns_pkt_set_cd(p, ldns_pkt_cd(x->query));
	ldns_pkt_set_rcode(p, (uint8_t)r->rcode);
	for (size_t i = 0; i < ldns_rr_list_rr_count(qs); i++)
		ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(qs, i)));
	for (size_t i = 0; r->action == RP_REPLY && i < r->n_answers; i++) {
		ldns_rr *rr = NULL;
		if (ldns_rr_new_frm_str(&rr, r->answers[i], 0, NULL, NULL) != LDNS_STATUS_OK)
			rp_die(line, "cannot read the answer \"%s\"", r->answers[i]);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	for (size_t i = 0; i < r->n_dnskeys; i++)
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
		                 ldns_rr_clone(rp_zonekey(r->dnskeys[i], line)->dnskey));
	if (r->n_rrsigs > 0)
		rp_sign_answer(p, r, line);
	for (size_t i = 0; r->action == RP_REPLY && i < r->n_authority; i++) {
		ldns_rr *rr = NULL;
		if (ldns_rr_new_frm_str(&rr, r->authority[i], 0, NULL, NULL) != LDNS_STATUS_OK)
			rp_die(line, "cannot read the authority record \"%s\"", r->authority[i]);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr);
	}
	if (r->ede >= 0)
		rp_set_ede(p, r, line);
	if (r->signed_ok || r->forged) {
		ldns_rr *tsig = ldns_pkt_tsig(x->query);
		const char *secret =
		    r->forged ? "Zm9yZ2VkIGtleSBmb3JnZWQga2V5IGZvcmdlZCBrZXk=" : rp.tsig_secret;
		if (tsig == NULL || rp.tsig_name[0] == '\0')
			rp_die(line, "a signed reply needs a signed query and a tsig line");
		if (ldns_pkt_tsig_sign(p, rp.tsig_name, secret, 300, rp.tsig_alg,
		                       ldns_rr_rdf(tsig, 3)) != LDNS_STATUS_OK)
			rp_die(line, "ldns could not sign the reply");
	}
	if (r->tsig_error > 0)
		rp_tsig_error(p, x->query, r->tsig_error, line);
	if (ldns_pkt2wire(&wire, p, len) != LDNS_STATUS_OK)
		rp_die(line, "ldns could not write the reply");
	if (r->action == RP_GARBLED && *len >= 12) {
		/* One answer announced, none there: cut short after the question. */
		wire[7] = 1;
	}
	if (r->badtime)
		wire = rp_add_badtime(wire, len, x, r, line);
	ldns_pkt_free(p);
	return wire;
}

static void rp_deliver(struct dcv_dnsio_xchg *x, size_t which)
{
	const struct rp_reply *r = &x->entry->replies[which];
	size_t len = 0;
	uint8_t *wire = NULL;
	int rc = DCV_OK;

	if (x->ended)
		return;
	wire = rp_build(x, r, &len);
	x->reject_why[0] = '\0';
	if (x->accept != NULL) {
		x->io->current = x;
		rc = x->accept(x->arg, wire, len);
		x->io->current = NULL;
	}
	if (rc == DCV_OK)
		rp_end(x, DCV_OK, wire, len);
	else
		x->last_reject = rc;
	free(wire);
}

static void rp_run_event(struct rp_event ev)
{
	switch (ev.kind) {
	case EV_REPLY:
		rp_deliver(ev.x, ev.reply);
		break;
	case EV_TIMEOUT:
		rp_end(ev.x, ev.x->last_reject ? ev.x->last_reject : DCV_ETIMEOUT, NULL, 0);
		break;
	case EV_DONE:
		rp_end(ev.x, ev.status, NULL, 0);
		break;
	case EV_CLOSE:
		/* Marked before the callback, which may free the handle. */
		ev.handle->flags |= RP_HANDLE_CLOSED;
		if (ev.close_cb != NULL)
			ev.close_cb(ev.handle);
		break;
	case EV_CALL:
		ev.fn(ev.arg);
		break;
	case EV_IO_CLOSED:
		if (ev.io->closed != NULL)
			ev.io->closed(ev.io->closed_arg);
		free(ev.io);
		break;
	}
	if (ev.x != NULL)
		rp_xchg_release(ev.x);
}

uint64_t replay_run(bool (*stop)(void *arg), void *arg)
{
	return replay_run_until(UINT64_MAX, stop, arg);
}

uint64_t replay_run_until(uint64_t at, bool (*stop)(void *arg), void *arg)
{
	uint64_t start = rp.now;

	while (stop == NULL || !stop(arg)) {
		long ev = -1, tm = -1;
		for (size_t i = 0; i < rp.n_events; i++)
			if (ev < 0 || rp.events[i].at < rp.events[ev].at ||
			    (rp.events[i].at == rp.events[ev].at &&
			     rp.events[i].seq < rp.events[ev].seq))
				ev = (long)i;
		for (size_t i = 0; i < rp.n_timers; i++)
			if (rp.timers[i].active &&
			    (tm < 0 || rp.timers[i].due < rp.timers[tm].due ||
			     (rp.timers[i].due == rp.timers[tm].due &&
			      rp.timers[i].seq < rp.timers[tm].seq)))
				tm = (long)i;
		if (ev < 0 && tm < 0) {
			if (at != UINT64_MAX)
				rp.now = at;
			break;
		}
		/* Nothing more is due by at: the clock stops there. */
		if ((ev < 0 || rp.events[ev].at > at) && (tm < 0 || rp.timers[tm].due > at)) {
			rp.now = at;
			break;
		}
		if (tm >= 0 && (ev < 0 || rp.timers[tm].due < rp.events[ev].at ||
		                (rp.timers[tm].due == rp.events[ev].at &&
		                 rp.timers[tm].seq < rp.events[ev].seq))) {
			struct rp_timer *t = &rp.timers[tm];
			uv_timer_t *handle = t->t;
			uv_timer_cb cb = t->cb;
			rp.now = t->due;
			if (t->repeat > 0) {
				t->due = rp.now + t->repeat;
				t->seq = rp.seq++;
			} else {
				t->active = false;
			}
			cb(handle);
		} else {
			struct rp_event e = rp.events[ev];
			rp.events[ev] = rp.events[--rp.n_events];
			if (e.at > rp.now)
				rp.now = e.at;
			rp_run_event(e);
		}
	}
	return rp.now - start;
}

void replay_free(void)
{
	for (size_t i = 0; i < rp.n_entries; i++) {
		for (size_t r = 0; r < rp.entries[i].n_replies; r++) {
			free(rp.entries[i].replies[r].answers);
			free(rp.entries[i].replies[r].authority);
		}
		free(rp.entries[i].has);
		free(rp.entries[i].lacks);
	}
	for (size_t i = 0; i < rp.n_lines; i++) {
		free(rp.lines[i]);
		free(rp.raw[i]);
	}
	free(rp.lines);
	free(rp.raw);
	free(rp.line_no);
	free(rp.entries);
	free(rp.log);
	free(rp.unexpected);
	free(rp.section);
	free(rp.picked);
	for (size_t i = 0; i < rp.n_keys; i++) {
		ldns_key_deep_free(rp.keys[i].key);
		ldns_rr_free(rp.keys[i].dnskey);
	}
	while (rp.n_events > 0) {
		struct rp_event e = rp.events[--rp.n_events];
		if (e.x != NULL)
			rp_xchg_release(e.x);
	}
	free(rp.events);
	free(rp.timers);
	replay_uv_free();
	memset(&rp, 0, sizeof(rp));
	rp.now = REPLAY_T0;
}
