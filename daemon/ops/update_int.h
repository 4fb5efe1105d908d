/*
 * update_int.h -- shared by the files of the UPDATE module (update.c: the
 * runs' state machine and the API; update_msg.c: building the messages;
 * update_confirm.c: confirming, and checking after YXRRSET). Nothing else
 * includes it. The state machine itself is described in update.c.
 */
#ifndef DCV_UPDATE_INT_H
#define DCV_UPDATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query.h"
#include "tsig.h"
#include "update.h"

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

/* update.c */
const char *upd_op_name(const struct dcv_update *up);
void upd_finish(struct run *r, int status);
void upd_failf(struct run *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void upd_unref(struct dcv_update *up);
void upd_run_send(struct run *r);
void upd_next_message(struct run *r);
void upd_wait_then(struct run *r, uint64_t ms);
/* The run's timer went off: the next confirmation round, or the message again. */
void upd_on_timer(uv_timer_t *t);
/* ms left before the update's deadline. */
uint64_t upd_remaining_ms(const struct dcv_update *up);

/* update_msg.c */
size_t upd_msg_rec(const struct up_msg *m, size_t k);
const struct up_msg *upd_cur_msg(const struct run *r);
void upd_msg_free(struct up_msg *m);
/*
 * One message of the n records recs[first..] (idx NULL) or recs[idx[0..n)]
 * into *out, which then owns idx: DCV_OK or DCV_ENOMEM.
 */
int upd_build_message(struct dcv_update *up, size_t first, size_t *idx, size_t n,
                      struct up_msg *out);
/* Packs up->recs into up->msgs, at most limit bytes each with TSIG (update_msg.c). */
int upd_build_messages(struct dcv_update *up, size_t limit);

/* update_confirm.c */
void upd_start_confirm(struct run *r);
void upd_start_check(struct run *r);

#endif
