/*
 * update_confirm.c -- after a primary said NOERROR, each record is asked
 * for at that address until it is served (CONFIRM, up to CONFIRM_ROUNDS
 * rounds); after YXRRSET to an add, each owner of the message is asked who
 * serves what there (CHECK): our own target is success, another value a
 * conflict of that record alone, none sends the record again (update.c).
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
	const struct up_msg *m = upd_cur_msg(r);
	struct up_msg fresh = {0};
	size_t *left = NULL, n_left = 0;
	int rc = DCV_OK;

	for (size_t k = 0; k < m->n_recs; k++) {
		size_t i = upd_msg_rec(m, k);
		n_left += !r->confirm_ok[i] && r->rec_status[i] == DCV_OK;
	}
	if (n_left == 0) {
		upd_next_message(r);
		goto out;
	}
	rc = DCV_ENOMEM;
	left = malloc(n_left * sizeof(*left));
	if (left == NULL)
		goto out;
	n_left = 0;
	for (size_t k = 0; k < m->n_recs; k++) {
		size_t i = upd_msg_rec(m, k);
		if (!r->confirm_ok[i] && r->rec_status[i] == DCV_OK)
			left[n_left++] = i;
	}
	if ((rc = upd_build_message(r->up, 0, left, n_left, &fresh)) < 0)
		goto out;
	left = NULL; /* fresh owns it */
	upd_msg_free(&r->redo);
	r->redo = fresh;
	if (r->check_unsure)
		upd_wait_then(r, dcv_backoff_ms(r->attempt++, RETRY_BASE_MS, RETRY_CAP_MS));
	else
		upd_run_send(r);
out:
	free(left);
	if (rc < 0)
		upd_failf(r, rc, "cannot build the UPDATE again after YXRRSET: %s",
		          dcv_strerror(rc));
}

static void confirm_done(struct run *r)
{
	const struct dcv_record *rec = &r->up->recs[r->confirm_bad_rec];

	if (r->confirm_seen[0] == '\0') {
		upd_finish(r, DCV_OK);
		r->out.why[0] = '\0';
		return;
	}
	if (r->confirm_round < CONFIRM_ROUNDS) {
		r->confirm_seen[0] = '\0';
		uv_timer_start(&r->timer, upd_on_timer, CONFIRM_GAP_MS, 0);
		return;
	}
	if (r->up->op == DCV_UPDATE_ADD)
		upd_failf(
		    r, DCV_ENOTSERVED,
		    "answered NOERROR but serves %s at %s instead of the CNAME%s", r->confirm_seen,
		    rec->owner,
		    strstr(r->confirm_seen, "NODATA")
		        ? ": the name holds other records, and a CNAME cannot stand beside them"
		        : "");
	else
		upd_failf(r, DCV_ENOTSERVED,
		          "answered NOERROR to the delete but still serves %s at %s",
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
		upd_failf(r, status, "%s", why->text);
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
	upd_unref(up);
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
	const struct up_msg *m = r->state == RUN_CHECK ? upd_cur_msg(r) : NULL;
	size_t count = m != NULL ? m->n_recs : up->n_recs;
	uint8_t buf[DCV_WIRE_NAME_MAX + 16];
	size_t len = 0;
	int rc = DCV_OK;

	r->confirm_pending++; /* held until the window is filled */
	while (r->confirm_next < count && r->confirm_pending <= CONFIRM_WINDOW) {
		size_t i = m != NULL ? upd_msg_rec(m, r->confirm_next++) : r->confirm_next++;
		struct confirm_q *q = NULL;
		char text[128];
		if (r->confirm_ok[i] || r->rec_status[i] != DCV_OK)
			continue;
		q = calloc(1, sizeof(*q));
		if (q == NULL) {
			/* No answer of the server's: the remote fails so, not as unconfirmed. */
			upd_failf(r, DCV_ENOMEM, "out of memory for the query about %s",
			          up->recs[i].owner);
			break;
		}
		if (dcv_query_build(up->recs[i].owner, DCV_TYPE_CNAME, false, buf, sizeof(buf),
		                    &len) < 0 ||
		    dcv_wire_from_text(up->recs[i].owner, q->qname, &q->qname_len) < 0) {
			free(q);
			unasked(r, i, "a query that cannot be built");
			continue;
		}
		q->run = r;
		q->rec = i;
		rc = dcv_dnsio_exchange(up->io, r->out.server, buf, len, 0, upd_remaining_ms(up),
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
	if (--r->confirm_pending > 0 || r->state == RUN_DONE)
		return;
	if (r->state == RUN_CHECK)
		check_done(r);
	else
		confirm_done(r);
}

void upd_start_confirm(struct run *r)
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
void upd_start_check(struct run *r)
{
	r->state = RUN_CHECK;
	r->check_unsure = false;
	r->confirm_next = 0;
	r->confirm_pending = 0;
	snprintf(r->out.why, sizeof(r->out.why),
	         "YXRRSET: a CNAME exists at an owner of the message");
	confirm_fill(r);
}
