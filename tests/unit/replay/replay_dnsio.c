/*
 * replay_dnsio.c -- the fake dnsio of replay.h: dcv_dnsio_exchange()
 * matches the query with the scenario's first entry that fits and queues
 * its replies, its failures and its timeout as events of replay.c's clock.
 * It keeps dnsio.h's promises that callers rely on: done runs once per
 * exchange and never from inside dcv_dnsio_exchange(), a rejected reply
 * leaves the exchange waiting, and the timeout reports the last rejection.
 * Also what the test asks about the queries (replay_queries(),
 * replay_unexpected(), replay_unused()).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "replay.h"
#include "replay_int.h"

static void rpx_note_unexpected(const char *text)
{
	size_t old = replay_state.unexpected ? strlen(replay_state.unexpected) : 0;

	replay_state.unexpected = realloc(replay_state.unexpected, old + strlen(text) + 1);
	if (replay_state.unexpected == NULL)
		replay_die(0, "out of memory");
	strcpy(replay_state.unexpected + old, text);
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

void replay_xchg_release(struct dcv_dnsio_xchg *x)
{
	if (--x->refs > 0)
		return;
	ldns_pkt_free(x->query);
	free(x);
}

/* Ends x once: done with status (and the reply when DCV_OK). */
void replay_xchg_end(struct dcv_dnsio_xchg *x, int status, const uint8_t *msg, size_t len)
{
	struct dcv_dnsio *io = x->io;
	struct dcv_why why;

	memset(&why, 0, sizeof(why));

	if (x->ended)
		return;
	x->ended = true;
	io->pending--;
	/* Its other events mean nothing now; dropped so that the clock does not run to them. */
	for (size_t i = 0; i < replay_state.n_events;) {
		if (replay_state.events[i].x == x) {
			replay_state.events[i] = replay_state.events[--replay_state.n_events];
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
		replay_push(
		    (struct rp_event){.kind = EV_IO_CLOSED, .at = replay_state.now, .io = io});
}

/* The query in ldns's text form, every run of blanks made one space (malloc'd). */
static char *rpx_query_text(const ldns_pkt *q)
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
static bool rpx_query_fits(const struct rp_entry *e, const ldns_pkt *q, char *why, size_t size)
{
	char *text = e->n_has + e->n_lacks ? rpx_query_text(q) : NULL;
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

static void rpx_type_of(const ldns_pkt *q, char *type, size_t size, char *name, size_t nsize)
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
	size_t cap = replay_state.n_log;

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
		replay_die(0, "the code under test sent a query ldns cannot read");
	snprintf(q.server, sizeof(q.server), "%s", server->text);
	rpx_type_of(x->query, q.type, sizeof(q.type), q.name, sizeof(q.name));
	replay_state.log =
	    replay_grow(replay_state.log, &cap, replay_state.n_log, sizeof(*replay_state.log));
	replay_state.log[replay_state.n_log++] = q;
	for (size_t i = 0; i < replay_state.n_entries && x->entry == NULL; i++) {
		struct rp_entry *e = &replay_state.entries[i];
		char why[240];
		if (e->uses != 0 && (e->until == 0 || replay_state.now - REPLAY_T0 < e->until) &&
		    strcmp(e->server, q.server) == 0 && strcasecmp(e->type, q.type) == 0 &&
		    replay_same_name(e->name, q.name)) {
			x->entry = e;
			if (e->uses > 0)
				e->uses--;
			if (!rpx_query_fits(e, x->query, why, sizeof(why))) {
				/* With the query's text: what it holds instead. */
				char note[2600], *text = rpx_query_text(x->query);
				snprintf(note, sizeof(note),
				         "%s %s %s (entry of line %d): the query %s: %.1800s\n",
				         q.server, q.type, q.name, e->line, why, text);
				free(text);
				rpx_note_unexpected(note);
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
		rpx_note_unexpected(note);
	}
	for (size_t r = 0; x->entry != NULL && r < x->entry->n_replies; r++) {
		const struct rp_reply *rep = &x->entry->replies[r];
		if (rep->action == RP_NETERR)
			replay_push((struct rp_event){
			    .kind = EV_DONE, .at = replay_state.now, .x = x, .status = DCV_ENET});
		else if (rep->action != RP_TIMEOUT && rep->late < timeout_ms)
			replay_push((struct rp_event){.kind = EV_REPLY,
			                              .at = replay_state.now + rep->late,
			                              .x = x,
			                              .reply = r});
	}
	replay_push(
	    (struct rp_event){.kind = EV_TIMEOUT, .at = replay_state.now + timeout_ms, .x = x});
	if (xchg != NULL)
		*xchg = x;
	replay_xchg_release(x); /* the events hold it now */
	return DCV_OK;
}

void dcv_dnsio_cancel(struct dcv_dnsio_xchg *x)
{
	if (x != NULL && !x->ended)
		replay_push((struct rp_event){
		    .kind = EV_DONE, .at = replay_state.now, .x = x, .status = DCV_ECANCELED});
}

void dcv_dnsio_close(struct dcv_dnsio *io, void (*closed)(void *arg), void *arg)
{
	size_t n = replay_state.n_events;

	io->closing = true;
	io->closed = closed;
	io->closed_arg = arg;
	/* Every exchange still out holds its timeout event: cancel through those. */
	for (size_t i = 0; i < n; i++)
		if (replay_state.events[i].kind == EV_TIMEOUT && replay_state.events[i].x->io == io)
			replay_push((struct rp_event){.kind = EV_DONE,
			                              .at = replay_state.now,
			                              .x = replay_state.events[i].x,
			                              .status = DCV_ECANCELED});
	if (io->pending == 0)
		replay_push(
		    (struct rp_event){.kind = EV_IO_CLOSED, .at = replay_state.now, .io = io});
}

void replay_xchg_deliver(struct dcv_dnsio_xchg *x, size_t which)
{
	const struct rp_reply *r = &x->entry->replies[which];
	size_t len = 0;
	uint8_t *wire = NULL;
	int rc = DCV_OK;

	if (x->ended)
		return;
	wire = replay_build_reply(x, r, &len);
	x->reject_why[0] = '\0';
	if (x->accept != NULL) {
		x->io->current = x;
		rc = x->accept(x->arg, wire, len);
		x->io->current = NULL;
	}
	if (rc == DCV_OK)
		replay_xchg_end(x, DCV_OK, wire, len);
	else
		x->last_reject = rc;
	free(wire);
}

void replay_forget_queries(void)
{
	replay_state.n_log = 0;
}

size_t replay_queries(const char *server, const char *type, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < replay_state.n_log; i++)
		n += (server == NULL || strcmp(replay_state.log[i].server, server) == 0) &&
		     (type == NULL || strcasecmp(replay_state.log[i].type, type) == 0) &&
		     (name == NULL || replay_same_name(replay_state.log[i].name, name));
	return n;
}

const char *replay_unexpected(void)
{
	return replay_state.unexpected ? replay_state.unexpected : "";
}

size_t replay_unused(char *buf, size_t size)
{
	size_t n = 0, off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < replay_state.n_entries; i++) {
		const struct rp_entry *e = &replay_state.entries[i];
		if (e->uses <= 0)
			continue;
		n++;
		if (off < size)
			off += (size_t)snprintf(buf + off, size - off, "line %d: %s %s %s; ",
			                        e->line, e->server, e->type, e->name);
	}
	return n;
}
