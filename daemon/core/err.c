/* err.c -- the error space: texts for codes and the detail buffer. */
#include <stdarg.h>
#include <stdio.h>

#include "dcv/err.h"

static const char *const texts[] = {
    [0] = "success",
    [-DCV_ENOMEM] = "out of memory",
    [-DCV_EINVAL] = "invalid argument",
    [-DCV_EIO] = "input/output error",
    [-DCV_ETOOBIG] = "too large",
    [-DCV_ENOTCSR] = "not a certificate signing request",
    [-DCV_ECSR] = "malformed certificate signing request",
    [-DCV_ESIG] = "request signature does not verify",
    [-DCV_ENAME] = "name cannot be validated",
    [-DCV_ENONAME] = "no DNS name to validate",
    [-DCV_ECONFIG] = "configuration error",
    [-DCV_EKEY] = "TSIG key unusable",
    [-DCV_ENOZONE] = "name in no configured zone",
    [-DCV_ETIMEOUT] = "timed out",
    [-DCV_ENET] = "network error",
    [-DCV_EREPLY] = "malformed DNS reply",
    [-DCV_ETSIG] = "reply TSIG missing or invalid",
    [-DCV_EBADSIG] = "TSIG BADSIG: the server does not accept our signature (wrong secret?)",
    [-DCV_EBADKEY] = "TSIG BADKEY: the server does not know this key name or algorithm",
    [-DCV_EBADTIME] = "TSIG BADTIME: clocks differ by more than the fudge",
    [-DCV_EREFUSED] = "REFUSED by the server",
    [-DCV_ENOTAUTH] = "NOTAUTH: server not authoritative or key not authorized",
    [-DCV_ENOTZONE] = "NOTZONE: name outside the zone",
    [-DCV_ESERVFAIL] = "SERVFAIL",
    [-DCV_ERCODE] = "DNS error",
    [-DCV_ENOTSERVED] = "update accepted but the record is not served",
    [-DCV_EMISMATCH] = "record differs from the expected one",
    [-DCV_ECANCELED] = "canceled",
    [-DCV_ELIMIT] = "limit reached",
    [-DCV_ESTATE] = "corrupt job state",
    [-DCV_ENOTREADY] = "server not ready",
    [-DCV_ECONFLICT] = "the owner name already holds another value",
    [-DCV_EPERM] = "not permitted for this submitter",
    [-DCV_ENOTSUP] = "not supported here",
};

const char *dcv_strerror(int code)
{
	const char *text = "unknown error";

	if (code <= 0 && code > DCV_ERR_LAST && texts[-code] != NULL)
		text = texts[-code];
	return text;
}

void dcv_why_set(struct dcv_why *why, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(why->text, sizeof(why->text), fmt, ap);
	va_end(ap);
}

void dcv_why_clear(struct dcv_why *why)
{
	if (why != NULL)
		why->text[0] = '\0';
}

int dcv_why_default(struct dcv_why *why, int code)
{
	if (why != NULL && why->text[0] == '\0' && code < 0)
		dcv_why_set(why, "%s", dcv_strerror(code));
	return code;
}
