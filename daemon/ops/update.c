/*
 * update.c -- RFC 2136 UPDATE of DCV records to every primary of a zone.
 *
 * Per remote an explicit state machine:
 *
 *   SEND -> (reply NOERROR, more messages) -> SEND
 *        -> (reply NOERROR, all sent)      -> CONFIRM -> DONE
 *        -> (YXRRSET to an add)            -> CHECK -> SEND (the records left)
 *                                                   -> SEND next message, or CONFIRM
 *        -> (SERVFAIL, not ready)          -> WAIT -> SEND (same address)
 *        -> (timeout, network, bad TSIG)   -> SEND next address, or WAIT after the last
 *        -> (BADSIG, REFUSED, NOTAUTH...)  -> DONE (failed)
 *
 * Messages go to one remote one at a time (BIND serializes updates to a zone
 * anyway); remotes run in parallel. Every state change that matters is in
 * the outcome's why, which is what the operator reads.
 *
 * An add never replaces a CNAME: each record it adds comes with the
 * prerequisite "no CNAME RRset at this owner" (RFC 2136 2.4.3), because a
 * server silently replaces a CNAME by a new one (a CNAME RRset holds one
 * record). One owner that has a CNAME fails the whole message with YXRRSET
 * and nothing of it is applied, so CHECK asks that address who serves what
 * at each owner of the message: our own target is success (an identical
 * add, as after a crash), another value is a conflict of that record alone,
 * no CNAME at all (it went away meanwhile) sends the record again.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ldns/ldns.h>

#include "update_int.h"
#include "update_read.h"
#include "util.h"

static const char *const run_state_names[] = {"send", "wait", "check", "confirm", "done"};

const char *upd_op_name(const struct dcv_update *up)
{
	return up->op == DCV_UPDATE_ADD ? "add" : "delete";
}

/* --- lifetime ------------------------------------------------------------ */

static void update_free(struct dcv_update *up)
{
	for (size_t i = 0; i < up->n_msgs; i++)
		upd_msg_free(&up->msgs[i]);
	/* runs has room for every primary; those not set up yet are all zeros. */
	for (size_t i = 0; up->runs != NULL && i < up->zone->n_primaries; i++) {
		struct run *r = &up->runs[i];
		upd_msg_free(&r->redo);
		for (size_t k = 0; r->rec_why != NULL && k < up->n_recs; k++)
			free(r->rec_why[k]);
		free(r->confirm_ok);
		free(r->rec_status);
		free(r->rec_why);
		free(r->yx_absent);
	}
	free(up->msgs);
	free(up->runs);
	free(up->recs);
	free(up->outcomes);
	free(up);
}

void upd_unref(struct dcv_update *up)
{
	if (--up->refs == 0)
		update_free(up);
}

static void handle_closed(uv_handle_t *h)
{
	upd_unref(h->data);
}

/* A run's timer carries the run, not the update, in its data. */
static void run_timer_closed(uv_handle_t *h)
{
	struct run *r = h->data;

	upd_unref(r->up);
}

static void report(struct dcv_update *up)
{
	int status = DCV_OK;
	bool conflict = false;

	up->reported = true;
	uv_timer_stop(&up->deadline);
	for (size_t i = 0; i < up->n_runs; i++) {
		struct run *r = &up->runs[i];
		up->outcomes[i] = r->out;
		up->outcomes[i].confirmed = r->confirm_ok;
		up->outcomes[i].rec_status = r->rec_status;
		up->outcomes[i].rec_why = (const char *const *)r->rec_why;
		if (status == DCV_OK && r->out.status != DCV_OK)
			status = r->out.status;
		for (size_t k = 0; k < up->n_recs && !conflict; k++)
			conflict = r->rec_status[k] != DCV_OK;
	}
	/* Every remote did its part, yet not every record is in place (update.h). */
	if (status == DCV_OK && conflict)
		status = DCV_ECONFLICT;
	up->cb(up->arg, status, up->outcomes, up->n_runs);
	for (size_t i = 0; i < up->n_runs; i++)
		uv_close((uv_handle_t *)&up->runs[i].timer, run_timer_closed);
	uv_close((uv_handle_t *)&up->deadline, handle_closed);
	upd_unref(up);
}

void upd_finish(struct run *r, int status)
{
	if (r->state == RUN_DONE)
		return;
	r->state = RUN_DONE;
	r->out.status = status;
	uv_timer_stop(&r->timer);
	if (r->xchg != NULL)
		dcv_dnsio_cancel(r->xchg);
	if (--r->up->unfinished == 0)
		report(r->up);
}

/* Records why r failed, prefixed with zone, remote and server, then finishes it. */
void upd_failf(struct run *r, int status, const char *fmt, ...)
{
	char detail[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(r->out.why, sizeof(r->out.why), "zone %s: primary %s (%s): %s",
	         r->up->zone->domain, r->remote->id, r->out.server ? r->out.server->text : "-",
	         detail);
	upd_finish(r, status);
}

/* --- sending ------------------------------------------------------------ */

/* Whether the message holds no TSIG record at all (false when it cannot be read). */
static bool lacks_tsig(const uint8_t *msg, size_t len)
{
	size_t off = 0;
	struct dcv_wire_rr rr;
	unsigned n = 0;

	if (dcv_wire_after_question(msg, len, &off) < 0)
		return false;
	n = DCV_WIRE_ANCOUNT(msg) + DCV_WIRE_NSCOUNT(msg) + DCV_WIRE_ARCOUNT(msg);
	for (unsigned i = 0; i < n; i++)
		if (dcv_wire_read_rr(msg, len, &off, &rr) < 0 || rr.type == DCV_TYPE_TSIG)
			return false;
	return true;
}

/*
 * A server answers some errors before it has looked at the key, and then
 * cannot sign: Knot says NOTAUTH without a TSIG to an update of a zone it
 * does not serve (BIND signs its NOTAUTH), and a message a server cannot
 * parse gets an unsigned FORMERR (RFC 8945 5.2). Such a reply can only make
 * the update fail, never look successful; waiting for a signed one instead
 * would retry a configuration error until the deadline and then report only
 * "reply is not signed". nsupdate gives up on such a reply at once, too.
 */
bool dcv_update_unsigned_final_error(const uint8_t *msg, size_t len)
{
	if (len < DCV_WIRE_HEADER)
		return false;
	switch (DCV_WIRE_RCODE(msg)) {
	case DCV_RCODE_FORMERR:
	case DCV_RCODE_NOTIMP:
	case DCV_RCODE_REFUSED:
	case DCV_RCODE_NOTAUTH:
	case DCV_RCODE_NOTZONE:
		return lacks_tsig(msg, len);
	default:
		return false;
	}
}

/* Extended DNS Error 14 "Not Ready" in the OPT record (Knot while loading). */
bool dcv_update_says_not_ready(const uint8_t *msg, size_t len)
{
	size_t off = 0;
	struct dcv_wire_rr rr;
	unsigned n = 0;

	if (dcv_wire_after_question(msg, len, &off) < 0)
		return false;
	n = DCV_WIRE_ANCOUNT(msg) + DCV_WIRE_NSCOUNT(msg) + DCV_WIRE_ARCOUNT(msg);
	for (unsigned i = 0; i < n; i++) {
		if (dcv_wire_read_rr(msg, len, &off, &rr) < 0)
			return false;
		if (rr.type != DCV_TYPE_OPT)
			continue;
		for (size_t o = rr.rdata; o + 4 <= rr.end;) {
			uint16_t code = dcv_wire_u16(msg + o), olen = dcv_wire_u16(msg + o + 2);
			if (o + 4 + olen > rr.end)
				break;
			if (code == 15 && olen >= 2 && dcv_wire_u16(msg + o + 4) == 14)
				return true;
			o += 4 + (size_t)olen;
		}
	}
	return false;
}

static void on_grace(uv_timer_t *t)
{
	struct run *r = t->data;

	/* on_exchange() then acts on the held reply. */
	if (r->state == RUN_SEND && r->held && r->xchg != NULL)
		dcv_dnsio_cancel(r->xchg);
}

/*
 * Keeps what an unsigned error reply said and waits UNSIGNED_GRACE_MS for
 * a signed reply: anyone who sees the request can forge an unsigned BADSIG
 * or REFUSED, and the real server's reply may well follow it (RFC 8945
 * 5.3.2: such a reply is no acceptable answer, wait for a signed one). A
 * real server's unsigned error is then reported a moment later, when no
 * signed reply came.
 */
static int hold_unsigned(struct run *r, int tsig_rc, bool no_tsig, const uint8_t *msg, size_t len,
                         const char *why)
{
	if (!r->held) {
		r->held = true;
		r->held_tsig_rc = tsig_rc;
		r->held_rcode = DCV_WIRE_RCODE(msg);
		r->held_not_ready = dcv_update_says_not_ready(msg, len);
		r->held_unsigned = no_tsig;
		uv_timer_start(&r->timer, on_grace, UNSIGNED_GRACE_MS, 0);
	}
	dcv_dnsio_reject_why(r->up->io, "%s (unsigned; waiting for a signed reply)", why);
	snprintf(r->out.why, sizeof(r->out.why), "%s (unsigned)", why);
	return tsig_rc < 0 ? tsig_rc : DCV_ETSIG;
}

static int accept_reply(void *arg, const uint8_t *msg, size_t len)
{
	struct run *r = arg;
	struct dcv_why why = {""};
	int rc = DCV_OK;

	r->reply_unsigned = false;
	r->tsig_rc = DCV_OK;
	if (r->remote->key == NULL)
		return DCV_OK;
	rc = dcv_tsig_verify(&r->tsig, msg, len, (uint64_t)time(NULL), &r->tsig_res, &why);
	/*
	 * BADSIG and BADKEY replies carry no MAC by design; a server answers
	 * some errors without any TSIG (see dcv_update_unsigned_final_error).
	 */
	if (rc == DCV_EBADSIG || rc == DCV_EBADKEY)
		return hold_unsigned(r, rc, false, msg, len, why.text);
	if (rc == DCV_ETSIG && dcv_update_unsigned_final_error(msg, len))
		return hold_unsigned(r, DCV_OK, true, msg, len, why.text);
	/* A reply that fails TSIG may be forged: keep waiting for the real one. */
	if (rc == DCV_ETSIG || rc == DCV_EREPLY) {
		dcv_dnsio_reject_why(r->up->io, "%s", why.text);
		/* Said if the time runs out before any reply is accepted. */
		snprintf(r->out.why, sizeof(r->out.why), "%s", why.text);
		return rc;
	}
	r->tsig_rc = rc;
	return DCV_OK;
}

/* The current message is settled: on to the next one, or to confirming them all. */
void upd_next_message(struct run *r)
{
	upd_msg_free(&r->redo);
	r->attempt = 0;
	if (++r->next_msg < r->up->n_msgs)
		upd_run_send(r);
	else
		upd_start_confirm(r);
}

static void on_reply(struct run *r, int rcode, bool not_ready)
{
	const char *key = r->remote->key ? r->remote->key->tsig.name : "(none)";
	const char *note = r->reply_unsigned ? " (the reply carried no TSIG)" : "";

	switch (r->tsig_rc) {
	case DCV_EBADSIG:
		upd_failf(r, DCV_EBADSIG,
		          "TSIG BADSIG: the server does not accept key '%s' "
		          "(its secret differs from the server's)",
		          key);
		return;
	case DCV_EBADKEY:
		upd_failf(r, DCV_EBADKEY,
		          "TSIG BADKEY: the server does not know key '%s' with "
		          "algorithm %s",
		          key, dcv_tsig_alg_name(r->remote->key->tsig.alg));
		return;
	case DCV_EBADTIME:
		/* skew is the server's time minus ours: say which clock is behind. */
		upd_failf(r, DCV_EBADTIME,
		          "TSIG BADTIME: our clock is %lld s %s the server's "
		          "(more than the %d s fudge); fix the time (NTP)",
		          (long long)llabs(r->tsig_res.skew),
		          r->tsig_res.skew > 0 ? "behind" : "ahead of", DCV_TSIG_FUDGE);
		return;
	default:
		break;
	}
	switch (rcode) {
	case DCV_RCODE_NOERROR:
		r->out.n_messages++;
		upd_next_message(r);
		return;
	case RCODE_YXRRSET:
		/* Only an add has prerequisites; to a delete this is just a wrong answer. */
		if (r->up->op == DCV_UPDATE_ADD) {
			upd_start_check(r);
			return;
		}
		upd_failf(r, DCV_ERCODE, "the server answered %s%s", dcv_rcode_name(rcode), note);
		return;
	case DCV_RCODE_SERVFAIL:
		snprintf(r->out.why, sizeof(r->out.why), "SERVFAIL");
		upd_wait_then(r, dcv_backoff_ms(r->attempt++, RETRY_BASE_MS, RETRY_CAP_MS));
		return;
	case DCV_RCODE_REFUSED:
		if (not_ready) {
			snprintf(r->out.why, sizeof(r->out.why), "REFUSED (not ready)");
			upd_wait_then(r, dcv_backoff_ms(r->attempt++, RETRY_BASE_MS, RETRY_CAP_MS));
			return;
		}
		upd_failf(r, DCV_EREFUSED,
		          "REFUSED: the server will not let key '%s' update zone %s "
		          "(not a primary for it, or its update policy forbids it)%s",
		          key, r->up->zone->domain, note);
		return;
	case DCV_RCODE_NOTAUTH:
		upd_failf(r, DCV_ENOTAUTH, "NOTAUTH: the server is not authoritative for zone %s%s",
		          r->up->zone->domain, note);
		return;
	case DCV_RCODE_NOTZONE:
		upd_failf(r, DCV_ENOTZONE, "NOTZONE: a record lies outside zone %s%s",
		          r->up->zone->domain, note);
		return;
	default:
		upd_failf(r, DCV_ERCODE, "the server answered %s%s", dcv_rcode_name(rcode), note);
		return;
	}
}

static void on_exchange(void *arg, int status, const uint8_t *msg, size_t len,
                        const struct dcv_why *why)
{
	struct run *r = arg;
	struct dcv_update *up = r->up;

	r->xchg = NULL;
	if (r->state != RUN_SEND)
		goto out;
	if (status == DCV_OK) {
		uv_timer_stop(&r->timer); /* the grace of a held reply, if any */
		on_reply(r, DCV_WIRE_RCODE(msg), dcv_update_says_not_ready(msg, len));
		goto out;
	}
	if (r->held) {
		/* No signed reply within the grace: the unsigned error stands. */
		r->tsig_rc = r->held_tsig_rc;
		r->reply_unsigned = r->held_unsigned;
		on_reply(r, r->held_rcode, r->held_not_ready);
		goto out;
	}
	if (status == DCV_ECANCELED || status == DCV_ENOMEM) {
		upd_failf(r, status, "%s", why->text);
		goto out;
	}
	/* Timeouts, network errors, replies failing TSIG: the next address, then a pause. */
	snprintf(r->out.why, sizeof(r->out.why), "%s", why->text);
	r->addr = (r->addr + 1) % r->remote->n_addrs;
	if (r->addr != 0)
		upd_run_send(r);
	else
		upd_wait_then(r, dcv_backoff_ms(r->attempt++, RETRY_BASE_MS, RETRY_CAP_MS));
out:
	upd_unref(up);
}

uint64_t upd_remaining_ms(const struct dcv_update *up)
{
	uint64_t elapsed = uv_now(up->loop) - up->started;

	return elapsed >= up->timeout_ms ? 1 : up->timeout_ms - elapsed;
}

void upd_run_send(struct run *r)
{
	struct dcv_update *up = r->up;
	const struct up_msg *m = upd_cur_msg(r);
	struct dcv_why why = {""};
	uint8_t *buf = NULL;
	size_t len = m->len;
	int rc = DCV_ENOMEM;

	r->state = RUN_SEND;
	r->held = false;
	r->out.server = &r->remote->addrs[r->addr];
	buf = malloc(m->len + TSIG_ROOM);
	if (buf == NULL)
		goto out;
	memcpy(buf, m->wire, m->len);
	/* A fresh ID and signature per try: the time in the TSIG stays current. */
	dcv_wire_put16(buf, dcv_query_id());
	if (r->remote->key != NULL) {
		rc = dcv_tsig_sign(&r->remote->key->tsig, buf, &len, m->len + TSIG_ROOM,
		                   (uint64_t)time(NULL), &r->tsig, &why);
		if (rc < 0)
			goto out;
	}
	rc = dcv_dnsio_exchange(up->io, r->out.server, buf, len, 0, upd_remaining_ms(up),
	                        accept_reply, on_exchange, r, &r->xchg);
	if (rc == DCV_OK)
		up->refs++;
out:
	free(buf);
	if (rc < 0)
		upd_failf(r, rc, "cannot send the UPDATE: %s",
		          why.text[0] ? why.text : dcv_strerror(rc));
}

void upd_on_timer(uv_timer_t *t)
{
	struct run *r = t->data;

	if (r->state == RUN_WAIT)
		upd_run_send(r);
	else if (r->state == RUN_CONFIRM)
		upd_start_confirm(r);
}

void upd_wait_then(struct run *r, uint64_t ms)
{
	r->state = RUN_WAIT;
	uv_timer_start(&r->timer, upd_on_timer, ms, 0);
}

/* --- the deadline and the public API ------------------------------------ */

static void on_deadline(uv_timer_t *t)
{
	struct dcv_update *up = t->data;

	for (size_t i = 0; i < up->n_runs && !up->reported; i++) {
		struct run *r = &up->runs[i];
		if (r->state == RUN_DONE)
			continue;
		upd_failf(r, DCV_ETIMEOUT, "no success within %.1f s (while in state %s; last: %s)",
		          (double)up->timeout_ms / 1000.0, run_state_names[r->state],
		          r->out.why[0] ? r->out.why : "no answer");
	}
}

int dcv_update_start(struct dcv_dnsio *io, const struct dcv_zone *zone, enum dcv_update_op op,
                     const struct dcv_record *recs, size_t n_recs,
                     const struct dcv_update_opts *opts, dcv_update_cb cb, void *arg,
                     struct dcv_update **out)
{
	struct dcv_update *up = NULL;
	size_t limit = opts && opts->max_message_size ? opts->max_message_size : 65535;
	int rc = DCV_EINVAL;

	if (out != NULL)
		*out = NULL;
	if (n_recs == 0 || zone->n_primaries == 0)
		goto out;
	rc = DCV_ENOMEM;
	up = calloc(1, sizeof(*up));
	if (up == NULL)
		goto out;
	up->io = io;
	up->loop = dcv_dnsio_loop(io);
	up->zone = zone;
	up->op = op;
	up->cb = cb;
	up->arg = arg;
	up->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : 30000;
	up->recs = malloc(n_recs * sizeof(*recs));
	up->runs = calloc(zone->n_primaries, sizeof(*up->runs));
	up->outcomes = calloc(zone->n_primaries, sizeof(*up->outcomes));
	if (up->recs == NULL || up->runs == NULL || up->outcomes == NULL)
		goto out;
	memcpy(up->recs, recs, n_recs * sizeof(*recs));
	up->n_recs = n_recs;
	if ((rc = upd_build_messages(up, limit)) < 0)
		goto out;
	rc = DCV_ENOMEM;
	for (size_t i = 0; i < zone->n_primaries; i++) {
		struct run *r = &up->runs[i];
		r->confirm_ok = calloc(n_recs, sizeof(*r->confirm_ok));
		r->rec_status = calloc(n_recs, sizeof(*r->rec_status)); /* all DCV_OK */
		r->rec_why = calloc(n_recs, sizeof(*r->rec_why));
		r->yx_absent = calloc(n_recs, sizeof(*r->yx_absent));
		if (r->confirm_ok == NULL || r->rec_status == NULL || r->rec_why == NULL ||
		    r->yx_absent == NULL)
			goto out;
	}
	up->started = uv_now(up->loop);
	up->n_runs = zone->n_primaries;
	up->unfinished = up->n_runs;
	up->refs = 1 + 1 + up->n_runs; /* the report, the deadline timer, one timer per run */
	uv_timer_init(up->loop, &up->deadline);
	up->deadline.data = up;
	uv_timer_start(&up->deadline, on_deadline, up->timeout_ms, 0);
	for (size_t i = 0; i < up->n_runs; i++) {
		struct run *r = &up->runs[i];
		r->up = up;
		r->remote = zone->primaries[i];
		r->out.remote = r->remote;
		r->out.server = &r->remote->addrs[0];
		uv_timer_init(up->loop, &r->timer);
		r->timer.data = r;
	}
	/* The first sends go out from the loop, so the callback never runs from here. */
	for (size_t i = 0; i < up->n_runs; i++)
		upd_wait_then(&up->runs[i], 0);
	if (out != NULL)
		*out = up;
	up = NULL;
	rc = DCV_OK;
out:
	if (up != NULL)
		update_free(up);
	return rc;
}

void dcv_update_cancel(struct dcv_update *up)
{
	for (size_t i = 0; i < up->n_runs && !up->reported; i++)
		if (up->runs[i].state != RUN_DONE)
			upd_failf(&up->runs[i], DCV_ECANCELED, "canceled (%s of %zu records)",
			          upd_op_name(up), up->n_recs);
}
