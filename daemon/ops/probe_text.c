/*
 * probe_text.c -- what a round found wrong, as lines for dcv's messages and
 * dcvd's log (dcv_probe_disagreements, probe.h), with the reason a lagging
 * server's SOA serial gives.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "probe_int.h"

/* a < b in serial number arithmetic (RFC 1982): serials wrap around. */
static bool probe_serial_older(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) < 0;
}

/*
 * Why an authoritative server lags, from its SOA serial: behind a serial in
 * which the primary held the record, it has not had the transfer (a NOTIFY
 * that did not arrive, a refresh not yet due); at that serial or later, its
 * copy should hold the record and does not. Empty when nothing is known.
 */
static void probe_serial_reason(const struct dcv_probe_report *rep, const struct dcv_probe_obs *o,
                                char *buf, size_t size)
{
	const struct dcv_probe_held *held = NULL;

	buf[0] = '\0';
	if (o->resolver || o->zone == NULL || !o->serial_known)
		return;
	for (size_t i = 0; i < rep->n_held && held == NULL; i++)
		if (rep->held[i].zone != NULL && strcmp(rep->held[i].zone, o->zone) == 0)
			held = &rep->held[i];
	if (held == NULL)
		snprintf(buf, size, " (at serial %" PRIu32 ")", o->serial);
	else if (probe_serial_older(o->serial, held->serial))
		snprintf(buf, size,
		         " (at serial %" PRIu32 "; the primary held the record at serial %" PRIu32
		         ": no transfer yet -- did the NOTIFY arrive, when is the refresh due?)",
		         o->serial, held->serial);
	else
		snprintf(buf, size,
		         " (at serial %" PRIu32 "; the primary held the record at serial %" PRIu32
		         ": this copy should hold it too)",
		         o->serial, held->serial);
}

int dcv_probe_disagreements(const struct dcv_probe_report *rep, size_t max, struct dcv_strv *out)
{
	int rc = DCV_OK;
	char reason[256];

	dcv_strv_free(out);
	if (rep->status < 0)
		return dcv_strv_push(out, rep->why);
	for (size_t i = 0; i < rep->n_obs && rc == DCV_OK && (max == 0 || out->n < max); i++) {
		const struct dcv_probe_obs *o = &rep->obs[i];
		if (o->ok)
			continue;
		probe_serial_reason(rep, o, reason, sizeof(reason));
		rc = dcv_strv_pushf(out, "%s %s asked %s for %s: %s%s",
		                    o->resolver ? "resolver" : "server", o->server, o->qname,
		                    o->name, o->seen, reason);
	}
	return rc;
}
