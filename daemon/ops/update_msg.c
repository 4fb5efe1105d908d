/*
 * update_msg.c -- the UPDATE messages of one update (ldns builds them): as
 * many records per message as max_message_size allows with room for TSIG,
 * each add with its prerequisite "no CNAME here" (update.c says why).
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

/* --- building the messages (ldns) ------------------------------------- */

size_t upd_msg_rec(const struct up_msg *m, size_t k)
{
	return m->idx != NULL ? m->idx[k] : m->first + k;
}

/* The message a run sends now: the records left of one after YXRRSET, or the next one. */
const struct up_msg *upd_cur_msg(const struct run *r)
{
	return r->redo.wire != NULL ? &r->redo : &r->up->msgs[r->next_msg];
}

void upd_msg_free(struct up_msg *m)
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
int upd_build_message(struct dcv_update *up, size_t first, size_t *idx, size_t n,
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
	if (pkt == NULL)
		goto out;
	/* ldns sets RD; in an UPDATE that bit is part of Z, zero (RFC 2136 2.2). */
	ldns_pkt_set_rd(pkt, false);
	if (ldns_pkt2wire(&wire, pkt, &len) != LDNS_STATUS_OK)
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
int upd_build_messages(struct dcv_update *up, size_t limit)
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
			rc = upd_build_message(up, first, NULL, i - first, &up->msgs[up->n_msgs++]);
		first = i;
		size = base + rr;
	}
	return rc;
}
