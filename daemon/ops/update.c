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

#include "query.h"
#include "update.h"
#include "update_read.h"
#include "util.h"

#define TSIG_ROOM 600 /* key name + algorithm name + fixed fields + MAC: any key fits */
#define RETRY_BASE_MS 250
#define RETRY_CAP_MS 5000
#define CONFIRM_ROUNDS 4
#define CONFIRM_GAP_MS 250
/*
 * Confirmation queries out at once per primary address. An UPDATE may carry
 * thousands of records; queued all at once, their exchanges were the
 * largest part of dcvd's memory in a burst, and sending them no faster.
 */
#define CONFIRM_WINDOW 64
/* How long an unsigned error reply waits for a signed one (see accept_reply). */
#define UNSIGNED_GRACE_MS 400
/* RFC 2136 2.2: a prerequisite "RRset does not exist" failed. */
#define RCODE_YXRRSET 7
/*
 * A record answered YXRRSET whose owner then serves no CNAME this often in
 * a row: the server's prerequisite check and its answers disagree, and
 * sending the record again would only loop until the deadline.
 */
#define YX_ABSENT_MAX 2

enum run_state {
	RUN_SEND,
	RUN_WAIT,
	RUN_CHECK,
	RUN_CONFIRM,
	RUN_DONE,
};

static const char *const run_state_names[] = {"send", "wait", "check", "confirm", "done"};

/*
 * One UPDATE message: its records are recs[first .. first + n_recs), or
 * recs[idx[0]], ..., recs[idx[n_recs - 1]] for a message sent again after
 * YXRRSET with the records that were left.
 */
struct up_msg {
	uint8_t *wire;
	size_t len;
	size_t first;
	size_t n_recs;
	size_t *idx; /* owned; NULL for a message packed at the start */
};

struct run {
	struct dcv_update *up;
	const struct dcv_remote *remote;
	enum run_state state;
	size_t addr;      /* current address of the remote */
	unsigned attempt; /* retries of the current message */
	size_t next_msg;
	struct up_msg redo; /* after YXRRSET: next_msg's records still to send (wire NULL: none) */
	struct dcv_dnsio_xchg *xchg;
	struct dcv_tsig_ctx tsig;
	int tsig_rc; /* verdict on the accepted reply's TSIG */
	struct dcv_tsig_result tsig_res;
	bool reply_unsigned; /* the accepted reply is an error without TSIG */
	/* The first unsigned error reply of this try, held back for its grace. */
	bool held;
	int held_tsig_rc;
	int held_rcode;
	bool held_not_ready;
	bool held_unsigned;
	uv_timer_t timer;
	size_t confirm_pending; /* queries out, +1 while confirm_fill() runs */
	size_t confirm_next;    /* the next record to ask for in this round */
	unsigned confirm_round;
	bool *confirm_ok;       /* per record */
	char confirm_seen[256]; /* first disagreement, described */
	size_t confirm_bad_rec;
	int *rec_status;          /* per record: DCV_OK, or DCV_ECONFLICT */
	char **rec_why;           /* per record: why it failed (malloc'd), or NULL */
	unsigned char *yx_absent; /* per record: YXRRSET, then no CNAME served, in a row */
	bool check_unsure;        /* a CHECK query of this round got no usable answer */
	struct dcv_update_outcome out;
};

struct confirm_q {
	struct run *run;
	size_t rec;
	uint8_t qname[DCV_WIRE_NAME_MAX];
	size_t qname_len;
};

struct dcv_update {
	struct dcv_dnsio *io;
	uv_loop_t *loop;
	const struct dcv_zone *zone;
	enum dcv_update_op op;
	struct dcv_record *recs;
	size_t n_recs;
	struct up_msg *msgs;
	size_t n_msgs;
	struct run *runs;
	size_t n_runs;
	size_t unfinished;
	uv_timer_t deadline;
	uint64_t timeout_ms;
	uint64_t started;
	size_t refs; /* open handles + exchanges in flight + the report itself */
	bool reported;
	dcv_update_cb cb;
	void *arg;
	struct dcv_update_outcome *outcomes;
};

static void run_send(struct run *r);

static const char *op_name(const struct dcv_update *up)
{
	return up->op == DCV_UPDATE_ADD ? "add" : "delete";
}

/* --- building the messages (ldns) ------------------------------------- */

static size_t msg_rec(const struct up_msg *m, size_t k)
{
	return m->idx != NULL ? m->idx[k] : m->first + k;
}

/* The message a run sends now: the records left of one after YXRRSET, or the next one. */
static const struct up_msg *cur_msg(const struct run *r)
{
	return r->redo.wire != NULL ? &r->redo : &r->up->msgs[r->next_msg];
}

static void msg_free(struct up_msg *m)
{
	free(m->wire);
	free(m->idx);
	memset(m, 0, sizeof(*m));
}

/*
 * RFC 2136 2.4.3 "RRset does not exist": class NONE, type CNAME, TTL 0, no
 * RDATA at the owner. The add beside it then can never replace a CNAME
 * that someone else put there.
 */
static ldns_rr *absent_rr(const struct dcv_record *rec)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *owner = ldns_dname_new_frm_str(rec->owner);

	if (rr == NULL || owner == NULL) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(owner);
		return NULL;
	}
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_CNAME);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
	ldns_rr_set_ttl(rr, 0);
	return rr;
}

static ldns_rr *record_rr(const struct dcv_record *rec, enum dcv_update_op op)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *owner = ldns_dname_new_frm_str(rec->owner);
	ldns_rdf *target = ldns_dname_new_frm_str(rec->target);

	if (rr == NULL || owner == NULL || target == NULL) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(owner);
		ldns_rdf_deep_free(target);
		return NULL;
	}
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_CNAME);
	/* RFC 2136 §2.5.4: class NONE and TTL 0 delete exactly this record. */
	ldns_rr_set_class(rr, op == DCV_UPDATE_ADD ? LDNS_RR_CLASS_IN : LDNS_RR_CLASS_NONE);
	ldns_rr_set_ttl(rr, op == DCV_UPDATE_ADD ? rec->ttl : 0);
	ldns_rr_push_rdf(rr, target);
	return rr;
}

/* Appends rr to list; frees it when it cannot. */
static bool push_rr(ldns_rr_list *list, ldns_rr *rr)
{
	if (rr != NULL && ldns_rr_list_push_rr(list, rr))
		return true;
	ldns_rr_free(rr);
	return false;
}

/*
 * Builds the message of n records: recs[first ..] when idx is NULL, else
 * the records idx names (out then owns idx, on success only). An add
 * carries a prerequisite per record, a delete none: it names the exact
 * record of ours already.
 */
static int build_message(struct dcv_update *up, size_t first, size_t *idx, size_t n,
                         struct up_msg *out)
{
	ldns_rr_list *list = ldns_rr_list_new();
	ldns_rr_list *prereq = ldns_rr_list_new();
	ldns_rdf *zone = ldns_dname_new_frm_str(up->zone->domain);
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	int rc = DCV_ENOMEM;

	if (list == NULL || prereq == NULL || zone == NULL)
		goto out;
	for (size_t k = 0; k < n; k++) {
		const struct dcv_record *rec = &up->recs[idx != NULL ? idx[k] : first + k];
		if (!push_rr(list, record_rr(rec, up->op)))
			goto out;
		if (up->op == DCV_UPDATE_ADD && !push_rr(prereq, absent_rr(rec)))
			goto out;
	}
	pkt = ldns_update_pkt_new(zone, LDNS_RR_CLASS_IN, prereq, list, NULL);
	zone = NULL; /* owned by pkt now */
	if (pkt == NULL || ldns_pkt2wire(&wire, pkt, &len) != LDNS_STATUS_OK)
		goto out;
	out->wire = wire;
	out->len = len;
	out->first = first;
	out->n_recs = n;
	out->idx = idx;
	wire = NULL;
	rc = DCV_OK;
out:
	free(wire);
	ldns_pkt_free(pkt);
	ldns_rdf_deep_free(zone);
	ldns_rr_list_deep_free(list);
	ldns_rr_list_deep_free(prereq);
	return rc;
}

/*
 * The largest TSIG record a primary of the zone adds: owner (the key name),
 * type, class, TTL, length, algorithm name, time, fudge, MAC size, MAC
 * (counted at the largest there is), original ID, error, other length.
 * Counting exactly rather than TSIG_ROOM keeps small max_message_size
 * values (512 is allowed) usable.
 */
static size_t tsig_size(const struct dcv_zone *zone)
{
	size_t most = 0;

	for (size_t i = 0; i < zone->n_primaries; i++) {
		const struct dcv_key *key = zone->primaries[i]->key;
		size_t n = 0;
		if (key == NULL)
			continue;
		n = key->tsig.name_wire_len + 10 + strlen(dcv_tsig_alg_dname(key->tsig.alg)) + 2 +
		    6 + 2 + 2 + DCV_TSIG_MAC_MAX + 2 + 2 + 2;
		if (n > most)
			most = n;
	}
	return most;
}

/*
 * Packs records into messages using the uncompressed size as the bound:
 * compression only shrinks, so no message exceeds the limit, TSIG included.
 * An added record counts with its prerequisite (owner and 10 fixed bytes).
 * A message sent again after YXRRSET holds a part of one of these, so it
 * fits as well.
 */
static int build_messages(struct dcv_update *up, size_t limit)
{
	size_t base = DCV_WIRE_HEADER + strlen(up->zone->domain) + 2 + 4 + tsig_size(up->zone);
	size_t first = 0, size = base;
	int rc = DCV_OK;

	up->msgs = calloc(up->n_recs, sizeof(*up->msgs));
	if (up->msgs == NULL)
		return DCV_ENOMEM;
	for (size_t i = 0; i <= up->n_recs && rc == DCV_OK; i++) {
		size_t rr = 0;
		if (i < up->n_recs) {
			rr = strlen(up->recs[i].owner) + 1 + 10 + strlen(up->recs[i].target) + 1;
			if (up->op == DCV_UPDATE_ADD)
				rr += strlen(up->recs[i].owner) + 1 + 10;
			if (base + rr > limit)
				return DCV_EINVAL;
			if (size + rr <= limit) {
				size += rr;
				continue;
			}
		}
		if (i > first)
			rc = build_message(up, first, NULL, i - first, &up->msgs[up->n_msgs++]);
		first = i;
		size = base + rr;
	}
	return rc;
}

/* --- lifetime ------------------------------------------------------------ */

static void update_free(struct dcv_update *up)
{
	for (size_t i = 0; i < up->n_msgs; i++)
		msg_free(&up->msgs[i]);
	/* runs has room for every primary; those not set up yet are all zeros. */
	for (size_t i = 0; up->runs != NULL && i < up->zone->n_primaries; i++) {
		struct run *r = &up->runs[i];
		msg_free(&r->redo);
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

static void unref(struct dcv_update *up)
{
	if (--up->refs == 0)
		update_free(up);
}

static void handle_closed(uv_handle_t *h)
{
	unref(h->data);
}

/* A run's timer carries the run, not the update, in its data. */
static void run_timer_closed(uv_handle_t *h)
{
	struct run *r = h->data;

	unref(r->up);
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
	unref(up);
}

static void finish(struct run *r, int status)
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

static void failf(struct run *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records why r failed, prefixed with zone, remote and server, then finishes it. */
static void failf(struct run *r, int status, const char *fmt, ...)
{
	char detail[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(r->out.why, sizeof(r->out.why), "zone %s: primary %s (%s): %s",
	         r->up->zone->domain, r->remote->id, r->out.server ? r->out.server->text : "-",
	         detail);
	finish(r, status);
}

/* --- sending ------------------------------------------------------------ */

static void wait_then(struct run *r, uint64_t ms);

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

static void start_confirm(struct run *r);
static void start_check(struct run *r);

/* The current message is settled: on to the next one, or to confirming them all. */
static void next_message(struct run *r)
{
	msg_free(&r->redo);
	r->attempt = 0;
	if (++r->next_msg < r->up->n_msgs)
		run_send(r);
	else
		start_confirm(r);
}

static void on_reply(struct run *r, int rcode, bool not_ready)
{
	const char *key = r->remote->key ? r->remote->key->tsig.name : "(none)";
	const char *note = r->reply_unsigned ? " (the reply carried no TSIG)" : "";

	switch (r->tsig_rc) {
	case DCV_EBADSIG:
		failf(r, DCV_EBADSIG,
		      "TSIG BADSIG: the server does not accept key '%s' "
		      "(its secret differs from the server's)",
		      key);
		return;
	case DCV_EBADKEY:
		failf(r, DCV_EBADKEY,
		      "TSIG BADKEY: the server does not know key '%s' with "
		      "algorithm %s",
		      key, dcv_tsig_alg_name(r->remote->key->tsig.alg));
		return;
	case DCV_EBADTIME:
		/* skew is the server's time minus ours: say which clock is behind. */
		failf(r, DCV_EBADTIME,
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
		next_message(r);
		return;
	case RCODE_YXRRSET:
		/* Only an add has prerequisites; to a delete this is just a wrong answer. */
		if (r->up->op == DCV_UPDATE_ADD) {
			start_check(r);
			return;
		}
		failf(r, DCV_ERCODE, "the server answered %s%s", dcv_rcode_name(rcode), note);
		return;
	case DCV_RCODE_SERVFAIL:
		snprintf(r->out.why, sizeof(r->out.why), "SERVFAIL");
		wait_then(r, dcv_backoff_ms(r->attempt++, RETRY_BASE_MS, RETRY_CAP_MS));
		return;
	case DCV_RCODE_REFUSED:
		if (not_ready) {
			snprintf(r->out.why, sizeof(r->out.why), "REFUSED (not ready)");
			wait_then(r, dcv_backoff_ms(r->attempt++, RETRY_BASE_MS, RETRY_CAP_MS));
			return;
		}
		failf(r, DCV_EREFUSED,
		      "REFUSED: the server will not let key '%s' update zone %s "
		      "(not a primary for it, or its update policy forbids it)%s",
		      key, r->up->zone->domain, note);
		return;
	case DCV_RCODE_NOTAUTH:
		failf(r, DCV_ENOTAUTH, "NOTAUTH: the server is not authoritative for zone %s%s",
		      r->up->zone->domain, note);
		return;
	case DCV_RCODE_NOTZONE:
		failf(r, DCV_ENOTZONE, "NOTZONE: a record lies outside zone %s%s",
		      r->up->zone->domain, note);
		return;
	default:
		failf(r, DCV_ERCODE, "the server answered %s%s", dcv_rcode_name(rcode), note);
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
		failf(r, status, "%s", why->text);
		goto out;
	}
	/* Timeouts, network errors, replies failing TSIG: the next address, then a pause. */
	snprintf(r->out.why, sizeof(r->out.why), "%s", why->text);
	r->addr = (r->addr + 1) % r->remote->n_addrs;
	if (r->addr != 0)
		run_send(r);
	else
		wait_then(r, dcv_backoff_ms(r->attempt++, RETRY_BASE_MS, RETRY_CAP_MS));
out:
	unref(up);
}

static uint64_t remaining_ms(const struct dcv_update *up)
{
	uint64_t elapsed = uv_now(up->loop) - up->started;

	return elapsed >= up->timeout_ms ? 1 : up->timeout_ms - elapsed;
}

static void run_send(struct run *r)
{
	struct dcv_update *up = r->up;
	const struct up_msg *m = cur_msg(r);
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
	rc = dcv_dnsio_exchange(up->io, r->out.server, buf, len, 0, remaining_ms(up), accept_reply,
	                        on_exchange, r, &r->xchg);
	if (rc == DCV_OK)
		up->refs++;
out:
	free(buf);
	if (rc < 0)
		failf(r, rc, "cannot send the UPDATE: %s",
		      why.text[0] ? why.text : dcv_strerror(rc));
}

static void on_timer(uv_timer_t *t)
{
	struct run *r = t->data;

	if (r->state == RUN_WAIT)
		run_send(r);
	else if (r->state == RUN_CONFIRM)
		start_confirm(r);
}

static void wait_then(struct run *r, uint64_t ms)
{
	r->state = RUN_WAIT;
	uv_timer_start(&r->timer, on_timer, ms, 0);
}

/* --- confirming, and checking after YXRRSET ------------------------------ */

/* Whether two names in presentation form are the same: case and a trailing dot aside. */
static bool same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	la -= la > 1 && a[la - 1] == '.';
	lb -= lb > 1 && b[lb - 1] == '.';
	return la == lb && strncasecmp(a, b, la) == 0;
}

static void conflict(struct run *r, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Settles record i as a conflict at this remote: that record fails, the
 * others go on. The text names zone, remote and server like failf's.
 */
static void conflict(struct run *r, size_t i, const char *fmt, ...)
{
	char detail[768]; /* an owner and a CNAME value of up to 255 bytes each, and words */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	r->rec_status[i] = DCV_ECONFLICT;
	free(r->rec_why[i]);
	/* Without memory for the text, the status alone tells (update.h). */
	if (asprintf(&r->rec_why[i], "zone %s: primary %s (%s): %s", r->up->zone->domain,
	             r->remote->id, r->out.server->text, detail) < 0)
		r->rec_why[i] = NULL;
}

/*
 * What record i's owner serves after the message holding it got YXRRSET
 * (ans NULL: no usable answer, fail says why). Our own target settles it
 * as confirmed; another CNAME as a conflict; no CNAME leaves it for the
 * resend, up to YX_ABSENT_MAX times in a row.
 */
static void check_record(struct run *r, size_t i, const struct dcv_answer *ans, const char *fail)
{
	const struct dcv_record *rec = &r->up->recs[i];
	char seen[256];

	if (ans != NULL)
		dcv_answer_describe(ans, seen, sizeof(seen));
	else
		snprintf(seen, sizeof(seen), "%.200s", fail);
	if (ans != NULL && ans->seen == DCV_SEEN_CNAME && same_name(ans->cname, rec->target)) {
		r->confirm_ok[i] = true;
	} else if (ans != NULL && ans->seen == DCV_SEEN_CNAME) {
		conflict(r, i, "%s already has CNAME %s; not overwritten", rec->owner, ans->cname);
	} else if (ans != NULL && ans->seen != DCV_SEEN_RCODE) {
		/*
		 * No CNAME: sent again. A referral counts so, too: a name below
		 * a zone cut may hold a CNAME the server never answers with, and
		 * asking again changes nothing.
		 */
		if (++r->yx_absent[i] >= YX_ABSENT_MAX)
			conflict(
			    r, i,
			    "%s: prerequisite failed but no CNAME is served (YXRRSET, then %s, "
			    "%u times in a row); not overwritten",
			    rec->owner, seen, (unsigned)r->yx_absent[i]);
	} else {
		/* An error rcode or no answer says nothing about the owner: ask again later. */
		r->check_unsure = true;
		snprintf(r->out.why, sizeof(r->out.why),
		         "YXRRSET: a CNAME exists at an owner of the message; asked for %s: %.150s",
		         rec->owner, seen);
	}
}

/*
 * Every owner of the message that got YXRRSET has been asked: what is left
 * (not ours, no conflict) goes out again in a message of its own, at once
 * when every answer was usable, else after a backoff.
 */
static void check_done(struct run *r)
{
	const struct up_msg *m = cur_msg(r);
	struct up_msg fresh = {0};
	size_t *left = NULL, n_left = 0;
	int rc = DCV_OK;

	for (size_t k = 0; k < m->n_recs; k++) {
		size_t i = msg_rec(m, k);
		n_left += !r->confirm_ok[i] && r->rec_status[i] == DCV_OK;
	}
	if (n_left == 0) {
		next_message(r);
		goto out;
	}
	rc = DCV_ENOMEM;
	left = malloc(n_left * sizeof(*left));
	if (left == NULL)
		goto out;
	n_left = 0;
	for (size_t k = 0; k < m->n_recs; k++) {
		size_t i = msg_rec(m, k);
		if (!r->confirm_ok[i] && r->rec_status[i] == DCV_OK)
			left[n_left++] = i;
	}
	if ((rc = build_message(r->up, 0, left, n_left, &fresh)) < 0)
		goto out;
	left = NULL; /* fresh owns it */
	msg_free(&r->redo);
	r->redo = fresh;
	if (r->check_unsure)
		wait_then(r, dcv_backoff_ms(r->attempt++, RETRY_BASE_MS, RETRY_CAP_MS));
	else
		run_send(r);
out:
	free(left);
	if (rc < 0)
		failf(r, rc, "cannot build the UPDATE again after YXRRSET: %s", dcv_strerror(rc));
}

static void confirm_done(struct run *r)
{
	const struct dcv_record *rec = &r->up->recs[r->confirm_bad_rec];

	if (r->confirm_seen[0] == '\0') {
		finish(r, DCV_OK);
		r->out.why[0] = '\0';
		return;
	}
	if (r->confirm_round < CONFIRM_ROUNDS) {
		r->confirm_seen[0] = '\0';
		uv_timer_start(&r->timer, on_timer, CONFIRM_GAP_MS, 0);
		return;
	}
	if (r->up->op == DCV_UPDATE_ADD)
		failf(r, DCV_ENOTSERVED,
		      "answered NOERROR but serves %s at %s instead of the CNAME%s",
		      r->confirm_seen, rec->owner,
		      strstr(r->confirm_seen, "NODATA")
		          ? ": the name holds other records, and a CNAME cannot stand beside them"
		          : "");
	else
		failf(r, DCV_ENOTSERVED, "answered NOERROR to the delete but still serves %s at %s",
		      r->confirm_seen, rec->owner);
}

static void confirm_fill(struct run *r);

/* A reply that cannot be read may be forged: wait for one that can. */
static int accept_confirm(void *arg, const uint8_t *msg, size_t len)
{
	struct confirm_q *q = arg;
	struct dcv_answer ans;

	if (dcv_query_read_cname(msg, len, q->qname, q->qname_len, true, &ans) < 0) {
		dcv_dnsio_reject_why(q->run->up->io, "malformed reply");
		return DCV_EREPLY;
	}
	return DCV_OK;
}

/* A record that could not be asked about: unconfirmed, or unsure in a CHECK. */
static void unasked(struct run *r, size_t i, const char *text)
{
	if (r->state == RUN_CHECK) {
		check_record(r, i, NULL, text);
	} else if (r->confirm_seen[0] == '\0') {
		snprintf(r->confirm_seen, sizeof(r->confirm_seen), "%s", text);
		r->confirm_bad_rec = i;
	}
}

static void on_confirm(void *arg, int status, const uint8_t *msg, size_t len,
                       const struct dcv_why *why)
{
	struct confirm_q *q = arg;
	struct run *r = q->run;
	struct dcv_update *up = r->up;
	const struct dcv_record *rec = &up->recs[q->rec];
	struct dcv_answer ans;
	char text[256];
	bool ours = false;

	if (r->state != RUN_CONFIRM && r->state != RUN_CHECK)
		goto out;
	/* Canceled (the dnsio closes): no later round could be sent either. */
	if (status == DCV_ECANCELED) {
		failf(r, status, "%s", why->text);
		goto out;
	}
	if (status == DCV_OK &&
	    dcv_query_read_cname(msg, len, q->qname, q->qname_len, true, &ans) == DCV_OK) {
		ours = ans.seen == DCV_SEEN_CNAME && same_name(ans.cname, rec->target);
		if (r->state == RUN_CHECK)
			check_record(r, q->rec, &ans, "");
		/* A delete is confirmed only by an authoritative answer without our record. */
		else if (up->op == DCV_UPDATE_ADD ? ours
		                                  : (!ours && ans.seen != DCV_SEEN_REFERRAL &&
		                                     ans.seen != DCV_SEEN_RCODE))
			r->confirm_ok[q->rec] = true;
		else if (r->confirm_seen[0] == '\0') {
			dcv_answer_describe(&ans, r->confirm_seen, sizeof(r->confirm_seen));
			r->confirm_bad_rec = q->rec;
		}
	} else {
		snprintf(text, sizeof(text), "no usable answer (%.200s)",
		         status == DCV_OK ? "malformed reply" : why->text);
		unasked(r, q->rec, text);
	}
	r->confirm_pending--;
	confirm_fill(r);
out:
	free(q);
	unref(up);
}

/*
 * Starts queries until CONFIRM_WINDOW are out or every record of the round
 * has one -- in CONFIRM every record not confirmed yet, in CHECK the
 * records of the message that got YXRRSET -- and ends the round when none
 * is out any more. Records settled otherwise (conflicts) are not asked.
 */
static void confirm_fill(struct run *r)
{
	struct dcv_update *up = r->up;
	const struct up_msg *m = r->state == RUN_CHECK ? cur_msg(r) : NULL;
	size_t count = m != NULL ? m->n_recs : up->n_recs;
	uint8_t buf[DCV_WIRE_NAME_MAX + 16];
	size_t len = 0;
	int rc = DCV_OK;

	r->confirm_pending++; /* held until the window is filled */
	while (r->confirm_next < count && r->confirm_pending <= CONFIRM_WINDOW) {
		size_t i = m != NULL ? msg_rec(m, r->confirm_next++) : r->confirm_next++;
		struct confirm_q *q = NULL;
		char text[128];
		if (r->confirm_ok[i] || r->rec_status[i] != DCV_OK)
			continue;
		q = calloc(1, sizeof(*q));
		if (q == NULL ||
		    dcv_query_build(up->recs[i].owner, DCV_TYPE_CNAME, false, buf, sizeof(buf),
		                    &len) < 0 ||
		    dcv_wire_from_text(up->recs[i].owner, q->qname, &q->qname_len) < 0) {
			free(q);
			unasked(r, i, "a query that cannot be built");
			continue;
		}
		q->run = r;
		q->rec = i;
		rc = dcv_dnsio_exchange(up->io, r->out.server, buf, len, 0, remaining_ms(up),
		                        accept_confirm, on_confirm, q, NULL);
		if (rc < 0) {
			free(q);
			/* Unasked is unconfirmed: the round goes again, or fails naming it. */
			snprintf(text, sizeof(text), "no query sent (%s)", dcv_strerror(rc));
			unasked(r, i, text);
			continue;
		}
		up->refs++;
		r->confirm_pending++;
	}
	if (--r->confirm_pending == 0 && r->state == RUN_CHECK)
		check_done(r);
	else if (r->confirm_pending == 0)
		confirm_done(r);
}

static void start_confirm(struct run *r)
{
	r->state = RUN_CONFIRM;
	r->confirm_round++;
	r->confirm_next = 0;
	r->confirm_pending = 0;
	confirm_fill(r);
}

/*
 * The message got YXRRSET: some owner in it has a CNAME and nothing of it
 * was applied. Asks the address that said so about every owner of it.
 */
static void start_check(struct run *r)
{
	r->state = RUN_CHECK;
	r->check_unsure = false;
	r->confirm_next = 0;
	r->confirm_pending = 0;
	snprintf(r->out.why, sizeof(r->out.why),
	         "YXRRSET: a CNAME exists at an owner of the message");
	confirm_fill(r);
}

/* --- the deadline and the public API ------------------------------------ */

static void on_deadline(uv_timer_t *t)
{
	struct dcv_update *up = t->data;

	for (size_t i = 0; i < up->n_runs && !up->reported; i++) {
		struct run *r = &up->runs[i];
		if (r->state == RUN_DONE)
			continue;
		failf(r, DCV_ETIMEOUT, "no success within %.1f s (while in state %s; last: %s)",
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
	if ((rc = build_messages(up, limit)) < 0)
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
		wait_then(&up->runs[i], 0);
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
			failf(&up->runs[i], DCV_ECANCELED, "canceled (%s of %zu records)",
			      op_name(up), up->n_recs);
}
