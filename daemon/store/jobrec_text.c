/*
 * jobrec_text.c -- a job record as text (store.h): the value the job store
 * keeps for each job. One field per line, in a fixed order, each line "KEY
 * VALUE" (single space); the last line "end". Free text (id, name, error,
 * submitter) doubles a backslash and writes a newline as backslash-n and
 * other control bytes as backslash-x and two hex digits, so that every
 * value is one line. Parsing is strict: the order, the spelling and the
 * numbers are checked at their line and column, then
 * dcv_job_record_check() has the last word. No YAML: a record is emitted
 * and parsed in a few microseconds, which a burst of 10,000 jobs (each
 * written five times, its old record read back for its holders) notices.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

static const char *const time_keys[] = {"received",     "published", "visible",
                                        "withdraw_due", "withdrawn", "failed"};

/* ---- emit ---- */

static void put_text(FILE *f, const char *key, const char *s)
{
	fprintf(f, "%s ", key);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('\n', f);
}

int dcv_job_record_emit(const struct dcv_job_record *rec, unsigned char **buf, size_t *len)
{
	const uint64_t times[] = {rec->received,     rec->published, rec->visible,
	                          rec->withdraw_due, rec->withdrawn, rec->failed};
	char *mem = NULL;
	size_t size = 0;
	FILE *f = NULL;
	int rc = DCV_EINVAL;

	*buf = NULL;
	*len = 0;
	if (dcv_job_record_check(rec, NULL) < 0)
		goto out;
	rc = DCV_ENOMEM;
	if ((f = open_memstream(&mem, &size)) == NULL)
		goto out;
	fputs("dcv-job 1\n", f);
	put_text(f, "id", rec->id);
	put_text(f, "name", rec->name);
	fprintf(f, "ext %s\nstate %s\ncleanup %s\nmd5 %s\nsha256 %s\n", rec->ext,
	        dcv_job_state_name(rec->state), rec->cleanup ? "true" : "false", rec->md5,
	        rec->sha256);
	for (size_t i = 0; i < 6; i++)
		fprintf(f, "%s %" PRIu64 "\n", time_keys[i], times[i]);
	if (rec->has_uid)
		fprintf(f, "uid %" PRIu32 "\n", rec->uid);
	if (rec->submitter[0] != '\0')
		put_text(f, "submitter", rec->submitter);
	if (rec->error[0] != '\0')
		put_text(f, "error", rec->error);
	if (rec->token[0] != '\0')
		fprintf(f, "token %s\n", rec->token);
	for (size_t i = 0; i < rec->n_rrs; i++)
		fprintf(f, "rr %s %s %s %" PRIu32 "%s%s\n", rec->rrs[i].owner, rec->rrs[i].target,
		        rec->rrs[i].zone, rec->rrs[i].ttl, rec->rrs[i].dnssec[0] ? " " : "",
		        rec->rrs[i].dnssec);
	for (size_t i = 0; i < rec->n_names; i++)
		fprintf(f, "dnsname %s %s\n", rec->names[i].name, rec->names[i].adn);
	fputs("end\n", f);
	if (fclose(f) == 0 && mem != NULL) {
		*buf = (unsigned char *)mem;
		*len = size;
		mem = NULL;
		rc = DCV_OK;
	}
out:
	free(mem);
	return rc;
}

/* ---- parse ---- */

/* Where parsing is: the current line [p, eol), its number, the first problem. */
struct cur {
	const char *file;
	const char *p, *end, *eol;
	unsigned long line;
	struct dcv_why *why;
	bool bad;
};

static bool say(struct cur *c, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool say(struct cur *c, const char *at, const char *fmt, ...)
{
	char what[400];
	va_list ap;

	if (!c->bad) {
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		dcv_why_set(c->why, "%s:%lu:%lu: %s", c->file, c->line,
		            (unsigned long)(at - c->p) + 1, what);
	}
	c->bad = true;
	return false;
}

/* Whether the current line is "KEY ..." (or just "KEY" when bare). */
static bool is_key(const struct cur *c, const char *key, bool bare)
{
	size_t n = strlen(key);

	return !c->bad && (size_t)(c->eol - c->p) >= n && memcmp(c->p, key, n) == 0 &&
	       (bare ? c->p + n == c->eol : c->p + n < c->eol && c->p[n] == ' ');
}

/* Moves to the next line; a line with no newline (a cut record) ends the text. */
static void next(struct cur *c)
{
	const char *nl = NULL;

	if (c->eol < c->end)
		c->p = c->eol + 1;
	else
		c->p = c->end;
	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	c->eol = nl != NULL ? nl : c->end;
	c->line++;
}

/* The value of line "KEY VALUE" as [*v, *v_end): no raw control byte in it. */
static bool take(struct cur *c, const char *key, const char **v, const char **v_end)
{
	if (c->bad)
		return false;
	if (c->eol == c->end)
		return say(c, c->p, "the record is cut short: it does not end with 'end'");
	if (!is_key(c, key, false))
		return say(c, c->p, "expected '%s'", key);
	*v = c->p + strlen(key) + 1;
	*v_end = c->eol;
	for (const char *q = *v; q < *v_end; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return say(c, q, "%s: a control byte (free text escapes them)", key);
	return true;
}

static int hex_digit(char ch)
{
	const char *d = strchr("0123456789abcdef", ch);

	return ch != '\0' && d != NULL ? (int)(d - "0123456789abcdef") : -1;
}

/* An escaped text value into dst (size bytes). */
static void take_text(struct cur *c, const char *key, char *dst, size_t size)
{
	const char *v = NULL, *end = NULL;
	size_t n = 0;
	int hi = 0, lo = 0;

	if (!take(c, key, &v, &end))
		return;
	for (const char *q = v; q < end && !c->bad; q++) {
		char ch = *q;

		if (ch == '\\' && q + 1 < end && (q[1] == '\\' || q[1] == 'n')) {
			ch = *++q == 'n' ? '\n' : '\\';
		} else if (ch == '\\' && q + 3 < end && q[1] == 'x' &&
		           (hi = hex_digit(q[2])) >= 0 && (lo = hex_digit(q[3])) >= 0 &&
		           hi * 16 + lo != 0) {
			ch = (char)(hi * 16 + lo);
			q += 3;
		} else if (ch == '\\') {
			say(c, q, "%s: an escape other than \\\\, \\n or \\xHH", key);
			break;
		}
		if (n + 1 >= size) {
			say(c, v, "%s: longer than %zu bytes", key, size - 1);
			break;
		}
		dst[n++] = ch;
	}
	dst[n] = '\0';
	next(c);
}

/* A plain decimal number up to max (no sign, no leading zero) from [v, end); *at after it. */
static bool take_number(struct cur *c, const char *key, const char *v, const char *end,
                        uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	const char *q = v;

	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (x > (max - (uint64_t)(*q - '0')) / 10)
			return say(c, v, "%s: larger than %" PRIu64, key, max);
		x = x * 10 + (uint64_t)(*q - '0');
	}
	if (q == v || q != end || (*v == '0' && q - v > 1))
		return say(c, v, "%s: expected a whole number without sign or leading zero", key);
	*out = x;
	return true;
}

/* The value of line "KEY WORD" into dst if it fits; *at where it starts. Stays on the line. */
static bool word_of(struct cur *c, const char *key, char *dst, size_t size, const char **at)
{
	const char *end = NULL;

	if (!take(c, key, at, &end))
		return false;
	if ((size_t)(end - *at) >= size)
		return say(c, *at, "%s: longer than %zu bytes", key, size - 1);
	memcpy(dst, *at, (size_t)(end - *at));
	dst[end - *at] = '\0';
	return true;
}

/* Splits [v, end) at single spaces into n words, each fitting its buffer. */
static bool split(struct cur *c, const char *key, const char *v, const char *end, size_t n,
                  char **dst, const size_t *sizes)
{
	const char *sp = NULL;

	for (size_t i = 0; i < n; i++) {
		sp = i + 1 < n ? memchr(v, ' ', (size_t)(end - v)) : end;
		if (sp == NULL || sp == v)
			return say(c, v, "%s: expected %zu words separated by one space", key, n);
		if ((size_t)(sp - v) >= sizes[i])
			return say(c, v, "%s: a word longer than %zu bytes", key, sizes[i] - 1);
		memcpy(dst[i], v, (size_t)(sp - v));
		dst[i][sp - v] = '\0';
		v = sp + 1;
	}
	return true;
}

/* The scalar fields, in their order. */
static void parse_head(struct cur *c, struct dcv_job_record *out)
{
	uint64_t *times[] = {&out->received,     &out->published, &out->visible,
	                     &out->withdraw_due, &out->withdrawn, &out->failed};
	const char *v = NULL, *end = NULL;
	char word[16] = "";
	uint64_t x = 0;

	if (!is_key(c, "dcv-job 1", true))
		say(c, c->p, "expected 'dcv-job 1' (a job record of this dcvd)");
	next(c);
	take_text(c, "id", out->id, sizeof(out->id));
	take_text(c, "name", out->name, sizeof(out->name));
	word_of(c, "ext", out->ext, sizeof(out->ext), &v);
	next(c);
	if (word_of(c, "state", word, sizeof(word), &v) &&
	    dcv_job_state_parse(word, &out->state) < 0)
		say(c, v, "state: unknown state '%s'", word);
	next(c);
	if (word_of(c, "cleanup", word, sizeof(word), &v) && strcmp(word, "true") != 0 &&
	    strcmp(word, "false") != 0)
		say(c, v, "cleanup: expected true or false");
	out->cleanup = strcmp(word, "true") == 0;
	next(c);
	word_of(c, "md5", out->md5, sizeof(out->md5), &v);
	next(c);
	word_of(c, "sha256", out->sha256, sizeof(out->sha256), &v);
	next(c);
	for (size_t i = 0; i < 6; i++)
		if (take(c, time_keys[i], &v, &end) &&
		    take_number(c, time_keys[i], v, end, DCV_JOB_TIME_MAX, times[i]))
			next(c);
	if (is_key(c, "uid", false) && take(c, "uid", &v, &end) &&
	    take_number(c, "uid", v, end, UINT32_MAX, &x)) {
		out->has_uid = true;
		out->uid = (uint32_t)x;
		next(c);
	}
	if (is_key(c, "submitter", false))
		take_text(c, "submitter", out->submitter, sizeof(out->submitter));
	if (is_key(c, "error", false))
		take_text(c, "error", out->error, sizeof(out->error));
	if (is_key(c, "token", false) && word_of(c, "token", out->token, sizeof(out->token), &v))
		next(c);
}

/* The "rr" and then the "dnsname" lines: counted first, then read. */
static int parse_lists(struct cur *c, struct dcv_job_record *out)
{
	struct cur look = *c;
	const char *v = NULL, *end = NULL, *ttl = NULL;
	uint64_t x = 0;
	int rc = DCV_ENOMEM;

	for (; is_key(&look, "rr", false) && out->n_rrs <= DCV_JOB_MAX_ITEMS; next(&look))
		out->n_rrs++;
	for (; is_key(&look, "dnsname", false) && out->n_names <= DCV_JOB_MAX_ITEMS; next(&look))
		out->n_names++;
	if (out->n_rrs > DCV_JOB_MAX_ITEMS || out->n_names > DCV_JOB_MAX_ITEMS) {
		say(c, c->p, "more than %d records or names", DCV_JOB_MAX_ITEMS);
		out->n_rrs = out->n_names = 0;
		return DCV_OK;
	}
	if ((out->n_rrs > 0 && (out->rrs = calloc(out->n_rrs, sizeof(*out->rrs))) == NULL) ||
	    (out->n_names > 0 && (out->names = calloc(out->n_names, sizeof(*out->names))) == NULL))
		goto out;
	for (size_t i = 0; i < out->n_rrs && take(c, "rr", &v, &end); i++) {
		struct dcv_job_record_rr *rr = &out->rrs[i];
		char ttl_text[16],
		    *words[] = {rr->owner, rr->target, rr->zone, ttl_text, rr->dnssec};
		const size_t sizes[] = {sizeof(rr->owner), sizeof(rr->target), sizeof(rr->zone),
		                        sizeof(ttl_text), sizeof(rr->dnssec)};
		size_t spaces = 0;

		/* A fifth word, the zone's DNSSEC state, when the probe knew it. */
		for (const char *s = v; s < end; s++)
			spaces += *s == ' ';
		if (!split(c, "rr", v, end, spaces == 4 ? 5 : 4, words, sizes))
			break;
		ttl = end - strlen(ttl_text) - (spaces == 4 ? strlen(rr->dnssec) + 1 : 0);
		if (spaces == 4 && strcmp(rr->dnssec, "secure") != 0 &&
		    strcmp(rr->dnssec, "insecure") != 0 && strcmp(rr->dnssec, "signed") != 0) {
			say(c, end - strlen(rr->dnssec),
			    "rr: dnssec: expected secure, insecure or signed");
			break;
		}
		if (take_number(c, "rr: ttl", ttl, ttl + strlen(ttl_text), UINT32_MAX, &x))
			rr->ttl = (uint32_t)x;
		next(c);
	}
	for (size_t i = 0; i < out->n_names && take(c, "dnsname", &v, &end); i++) {
		char *words[] = {out->names[i].name, out->names[i].adn};
		const size_t sizes[] = {sizeof(out->names[i].name), sizeof(out->names[i].adn)};

		if (split(c, "dnsname", v, end, 2, words, sizes))
			next(c);
	}
	rc = DCV_OK;
out:
	return rc;
}

int dcv_job_record_parse(const char *file, const unsigned char *buf, size_t len,
                         struct dcv_job_record *out, struct dcv_why *why)
{
	struct cur c = {file, (const char *)buf, (const char *)buf + len, NULL, 1, why, false};
	struct dcv_why check;
	int rc = DCV_ESTATE;

	memset(out, 0, sizeof(*out));
	dcv_why_clear(why);
	if (len > DCV_JOB_FILE_MAX) {
		dcv_why_set(why, "%s: larger than the limit of %d bytes", file, DCV_JOB_FILE_MAX);
		goto out;
	}
	c.eol = memchr(c.p, '\n', len);
	c.eol = c.eol != NULL ? c.eol : c.end;
	parse_head(&c, out);
	if (!c.bad && parse_lists(&c, out) < 0) {
		rc = DCV_ENOMEM;
		dcv_why_set(why, "%s: out of memory", file);
		goto out;
	}
	/* "end", its newline, and nothing after: a record cut anywhere is refused. */
	if (!c.bad && (!is_key(&c, "end", true) || c.eol + 1 != c.end))
		say(&c, c.p,
		    c.eol == c.end ? "the record is cut short: it does not end with 'end'"
		                   : "expected 'end' as the last line");
	if (!c.bad && dcv_job_record_check(out, &check) < 0)
		dcv_why_set(why, "%s: %s", file, check.text);
	else if (!c.bad)
		rc = DCV_OK;
out:
	if (rc < 0)
		dcv_job_record_free(out);
	return rc;
}
