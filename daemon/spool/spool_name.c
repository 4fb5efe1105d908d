/*
 * spool_name.c -- names in incoming/ (see spool.h): which entries are
 * candidates, the safe NAME of an unsafe one, names in messages, and the
 * owner's user name.
 *
 * incoming/ is written by other local users, so a name there may hold any
 * byte but '/' and NUL: escape sequences for the operator's terminal, line
 * breaks that would forge a log line or a YAML key, bytes that are not
 * UTF-8 at all. dcvd never writes such a name anywhere: the job, its
 * status file and its files in failed/ get a safe NAME instead.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "spool_int.h"

static const char *const spool_exts[] = {"csr", "pem", "der", NULL};

/* The marker and hash that end a safe NAME that was cut: "%+" and 8 hex digits. */
#define SAFE_CUT_ROOM 10

size_t spool_cand_name_len(const char *file)
{
	const char *dot = strrchr(file, '.');

	if (dot == NULL || dot == file)
		return 0;
	for (size_t i = 0; spool_exts[i] != NULL; i++)
		if (strcasecmp(dot + 1, spool_exts[i]) == 0)
			return (size_t)(dot - file);
	return 0;
}

enum spool_unsafe spool_name_check(const char *name, size_t len)
{
	if (!dcv_utf8_printable(name, len))
		return SPOOL_NAME_UNPRINTABLE;
	if (memchr(name, '\\', len) != NULL)
		return SPOOL_NAME_BACKSLASH;
	if (memchr(name, '~', len) != NULL)
		return SPOOL_NAME_TILDE;
	return SPOOL_NAME_SAFE;
}

/*
 * Writes the escaped form of name into out while it fits limit bytes (NUL
 * not counted), never splitting a code point or an escape; returns the
 * bytes written and sets *all when the whole name fit.
 */
static size_t escape_into(const char *name, size_t len, char *out, size_t limit, bool *all)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t i = 0, o = 0, n = 0;

	while (i < len) {
		n = dcv_utf8_printable_len(p + i, len - i);
		/* '%' too, so that the escaped form tells every raw NAME apart. */
		if (n == 1 && (p[i] == '~' || p[i] == '\\' || p[i] == '%'))
			n = 0;
		if (n > 0) {
			if (o + n > limit)
				break;
			memcpy(out + o, name + i, n);
			o += n;
			i += n;
			continue;
		}
		if (o + 3 > limit)
			break;
		snprintf(out + o, 4, "%%%02X", p[i]);
		o += 3;
		i++;
	}
	out[o] = '\0';
	*all = i == len;
	return o;
}

/* FNV-1a: only to keep long names apart, not against anyone (see spool.h). */
static uint32_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 16777619u;
	}
	return h;
}

void spool_safe_name(const char *name, size_t len, char out[DCV_JOB_NAME_MAX + 1])
{
	bool all = false;
	size_t o = 0;

	escape_into(name, len, out, DCV_JOB_NAME_MAX, &all);
	if (all)
		return;
	o = escape_into(name, len, out, DCV_JOB_NAME_MAX - SAFE_CUT_ROOM, &all);
	snprintf(out + o, SAFE_CUT_ROOM + 1, "%%+%08X", (unsigned)name_hash(name, len));
}

const char *spool_shown(const char *name, char *buf)
{
	dcv_escape(buf, SPOOL_SHOWN_MAX, name, strlen(name));
	return buf;
}

void spool_owner_name(uid_t uid, char *out, size_t size)
{
	struct passwd pw, *found = NULL;
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t cap = hint > 0 && hint <= 65536 ? (size_t)hint : 1024;
	char *buf = NULL, *grown = NULL;
	int r = 0;

	snprintf(out, size, "#%lu", (unsigned long)uid);
	/* ERANGE: an entry longer than the buffer (many groups in NSS, say); grow up to 1 MiB. */
	for (;;) {
		if ((grown = realloc(buf, cap)) == NULL)
			goto out;
		buf = grown;
		r = getpwuid_r(uid, &pw, buf, cap, &found);
		if (r != ERANGE || cap >= (1u << 20))
			break;
		cap *= 2;
	}
	/* A name that needs quoting is no name to show as is: "#uid" says the same. */
	if (r == 0 && found != NULL && strlen(pw.pw_name) < size && pw.pw_name[0] != '\0' &&
	    spool_name_check(pw.pw_name, strlen(pw.pw_name)) == SPOOL_NAME_SAFE)
		snprintf(out, size, "%s", pw.pw_name);
out:
	free(buf);
}
