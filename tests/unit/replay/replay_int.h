/*
 * replay_int.h -- shared by the files of the replay library alone: the
 * scenario's entries and replies (replay_script.c reads them), the fake
 * dnsio's exchanges (replay_dnsio.c), the replies it builds and signs
 * (replay_reply.c), the queue of events and the timers of the fake clock
 * (replay.c, which also holds the state of all of them), and replay_uv.c's
 * handles for replay.c's uv_close() and uv_is_active().
 */
#ifndef DCV_REPLAY_INT_H
#define DCV_REPLAY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>
#include <uv.h>

#include "dnsio.h"

/* libuv's own bits in uv_handle_t.flags (src/uv-common.h), so uv_is_closing() reads alike. */
#define RP_HANDLE_CLOSING 0x01
#define RP_HANDLE_CLOSED 0x02

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

/* The whole library's state: one scenario, its queue of events and its timers. */
struct replay_state {
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
};
extern struct replay_state replay_state;

/* replay.c: the test program ends with a message naming the scenario file and its line. */
void replay_die(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* p with room for n + 1 elements of size (doubling *cap); dies when out of memory. */
void *replay_grow(void *p, size_t *cap, size_t n, size_t size);
/* Same DNS name: case and a trailing dot aside. */
bool replay_same_name(const char *a, const char *b);
/* Queues ev (its seq set; it holds ev.x until it has run). */
void replay_push(struct rp_event ev);

/* fn(arg) runs from replay_run() delay_ms from now, in order with the other events. */
void replay_defer(uint64_t delay_ms, void (*fn)(void *arg), void *arg);
/* Takes back a deferred call that has not run: true if there was one. */
bool replay_undefer(void (*fn)(void *arg), void *arg);

/* replay_dnsio.c: delivers reply which of x's entry (an EV_REPLY). */
void replay_xchg_deliver(struct dcv_dnsio_xchg *x, size_t which);
/* Ends x once: done with status (and the reply when DCV_OK). */
void replay_xchg_end(struct dcv_dnsio_xchg *x, int status, const uint8_t *msg, size_t len);
/* Drops one hold on x; the last frees it. */
void replay_xchg_release(struct dcv_dnsio_xchg *x);

/* replay_reply.c: the zonekey called name (dies when there is none). */
const struct rp_zonekey *replay_zonekey(const char *name, int line);
/* A zonekey line: makes its key. */
void replay_parse_zonekey(const char *l, int line);
/* The reply bytes for reply r of x's entry (malloc'd), signed as asked. */
uint8_t *replay_build_reply(const struct dcv_dnsio_xchg *x, const struct rp_reply *r, size_t *len);

/* replay_uv.c: a handle other than a timer is being closed (false: not one of ours). */
bool replay_uv_forget(uv_handle_t *h);
/* Whether such a handle is active (a started file event). */
int replay_uv_active(const uv_handle_t *h);
/* Forgets every file event (replay_free). */
void replay_uv_free(void);

#endif
