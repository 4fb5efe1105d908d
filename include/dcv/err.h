/*
 * err.h -- the one error space of dcvd.
 *
 * Every function that can fail returns 0 (DCV_OK) or one of the negative
 * DCV_E* codes below; errors of libraries (OpenSSL, ldns, libuv, errno) are
 * converted where they are called and never leak out as their own numbers.
 * The code says what kind of failure it was (and drives decisions such as
 * "retry" or "fail the job"); the human detail -- which file, which name,
 * which server -- travels beside it in a struct dcv_why filled by the callee.
 */
#ifndef DCV_ERR_H
#define DCV_ERR_H

#include <stddef.h>

enum {
	DCV_OK = 0,
	DCV_ENOMEM = -1,      /* out of memory */
	DCV_EINVAL = -2,      /* invalid argument or option */
	DCV_EIO = -3,         /* a system call failed */
	DCV_ETOOBIG = -4,     /* input over its size limit */
	DCV_ENOTCSR = -5,     /* input is not a certificate signing request */
	DCV_ECSR = -6,        /* malformed certificate signing request */
	DCV_ESIG = -7,        /* request signature does not verify */
	DCV_ENAME = -8,       /* a name cannot be validated by DNS */
	DCV_ENONAME = -9,     /* no DNS name left to validate */
	DCV_ECONFIG = -10,    /* configuration error */
	DCV_EKEY = -11,       /* TSIG key missing or unusable */
	DCV_ENOZONE = -12,    /* a name lies in no configured zone */
	DCV_ETIMEOUT = -13,   /* no answer in time */
	DCV_ENET = -14,       /* network error (unreachable, refused, reset) */
	DCV_EREPLY = -15,     /* malformed or unexpected DNS reply */
	DCV_ETSIG = -16,      /* reply unsigned or its TSIG does not verify */
	DCV_EBADSIG = -17,    /* server: TSIG BADSIG */
	DCV_EBADKEY = -18,    /* server: TSIG BADKEY */
	DCV_EBADTIME = -19,   /* server: TSIG BADTIME (clock skew) */
	DCV_EREFUSED = -20,   /* server: REFUSED */
	DCV_ENOTAUTH = -21,   /* server: NOTAUTH */
	DCV_ENOTZONE = -22,   /* server: NOTZONE */
	DCV_ESERVFAIL = -23,  /* server: SERVFAIL */
	DCV_ERCODE = -24,     /* server: another error rcode */
	DCV_ENOTSERVED = -25, /* update accepted but the record is not served */
	DCV_EMISMATCH = -26,  /* computed record differs from the expected one */
	DCV_ECANCELED = -27,  /* operation canceled (shutdown) */
	DCV_ELIMIT = -28,     /* a configured bound was reached */
	DCV_ESTATE = -29,     /* corrupt or unreadable job state */
	DCV_ENOTREADY = -30,  /* server not ready yet (retry) */
	DCV_ECONFLICT = -31,  /* the owner name holds another value of ours or theirs */
	DCV_EPERM = -32,      /* the submitter may not do this */
	DCV_ENOTSUP =
	    -33, /* not handled by this path (the CSR fast decoder: the full one decides) */
	DCV_ERR_LAST = -34
};

/* Static English text for a code; never NULL, also for unknown codes. */
const char *dcv_strerror(int code);

/*
 * The detail of a failure, written by the function that failed: one line,
 * no trailing newline, already naming the thing at fault ("name
 * 'a_b.example.com': character '_' is not allowed"). Callers add where it
 * happened (file, server). Every API that takes a `struct dcv_why *`
 * accepts NULL when the caller does not want the detail.
 */
struct dcv_why {
	char text[512];
};

/* printf-like; NULL-safe; truncates silently at sizeof(text). */
void dcv_why_set(struct dcv_why *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears the detail (empty string). NULL-safe. */
void dcv_why_clear(struct dcv_why *why);

/*
 * Sets why from code when the callee left no detail, so that a message
 * always exists; returns code unchanged.
 */
int dcv_why_default(struct dcv_why *why, int code);

#endif
