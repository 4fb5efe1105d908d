/*
 * test_jobrec.c -- job records as text (the value of the job store): exact
 * round trips of varied records, every kind of damage refused at its
 * FILE:LINE:COL (or by the check, naming the field), every cut of a record
 * refused, random mutations survived, a record read by a few lines of
 * python3 written from the format's description; and the operator's status
 * file read back by python3's yaml module (an oracle we did not write),
 * with date(1) for the ISO 8601 times.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "testutil.h"
#include "tufiles.h"
#include "tustore.h"
#include "yin.h"

#define MD5 "0123456789abcdef0123456789abcdef"
#define SHA "a123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define OWNER "_" MD5 ".example.test."
#define TARGET "a123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.sectigo.com."

/* What dcv_job_record_emit() writes for base_record(): the damage tests edit it. */

/* A NUL-terminated copy of an emitted buffer (which has no NUL; util.h says why not strndup). */
static char *terminated(const unsigned char *buf, size_t len)
{
	char *s = dcv_memdup_text(buf, len);

	assert_non_null(s);
	return s;
}

static const char base_text[] = "dcv-job 1\n"
                                "id web~0001\n"
                                "name web\n"
                                "ext csr\n"
                                "state publishing\n"
                                "cleanup false\n"
                                "md5 " MD5 "\n"
                                "sha256 " SHA "\n"
                                "received 1700000000\n"
                                "published 0\n"
                                "visible 0\n"
                                "withdraw_due 0\n"
                                "withdrawn 0\n"
                                "failed 0\n"
                                "rr " OWNER " " TARGET " example.test. 300\n"
                                "dnsname example.test example.test\n"
                                "dnsname *.example.test example.test\n"
                                "end\n";

/* The column of the TTL in base_text's rr line. */
#define TTL_COL (4 + sizeof(OWNER) + sizeof(TARGET) + sizeof("example.test."))

static void base_record(struct dcv_job_record *r)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->id, "web~0001");
	strcpy(r->name, "web");
	strcpy(r->ext, "csr");
	r->state = DCV_JOB_PUBLISHING;
	strcpy(r->md5, MD5);
	strcpy(r->sha256, SHA);
	r->n_rrs = 1;
	r->rrs = calloc(1, sizeof(*r->rrs));
	strcpy(r->rrs[0].owner, OWNER);
	strcpy(r->rrs[0].target, TARGET);
	strcpy(r->rrs[0].zone, "example.test.");
	r->rrs[0].ttl = 300;
	r->n_names = 2;
	r->names = calloc(2, sizeof(*r->names));
	strcpy(r->names[0].name, "example.test");
	strcpy(r->names[0].adn, "example.test");
	strcpy(r->names[1].name, "*.example.test");
	strcpy(r->names[1].adn, "example.test");
	r->received = 1700000000;
}

static int parse_text(const char *text, size_t len, struct dcv_job_record *out, struct dcv_why *why)
{
	return dcv_job_record_parse("rec.job", (const unsigned char *)text, len, out, why);
}

/* emit, parse, compare, emit again: the same bytes. */
static void round_trip(const struct dcv_job_record *rec)
{
	unsigned char *text = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	struct dcv_job_record back;
	struct dcv_why why;

	assert_int_equal(dcv_job_record_emit(rec, &text, &len), DCV_OK);
	if (dcv_job_record_parse("rt.job", text, len, &back, &why) != DCV_OK)
		fail_msg("%s\n%.*s", why.text, (int)len, text);
	tu_rec_equal(rec, &back, true);
	assert_int_equal(dcv_job_record_emit(&back, &again, &len2), DCV_OK);
	assert_int_equal(len, len2);
	assert_memory_equal(text, again, len);
	dcv_job_record_free(&back);
	free(text);
	free(again);
}

static void test_state_names(void **state)
{
	static const char *const names[] = {"received",    "publishing", "published", "visible",
	                                    "withdrawing", "withdrawn",  "failed"};
	enum dcv_job_state s;

	for (int i = 0; i < DCV_JOB_STATE_COUNT; i++) {
		assert_string_equal(dcv_job_state_name((enum dcv_job_state)i), names[i]);
		assert_int_equal(dcv_job_state_parse(names[i], &s), DCV_OK);
		assert_int_equal(s, i);
	}
	assert_int_equal(dcv_job_state_parse("Visible", &s), DCV_EINVAL);
	assert_int_equal(dcv_job_state_parse("", &s), DCV_EINVAL);
	assert_int_equal(dcv_job_state_parse(NULL, &s), DCV_EINVAL);
	assert_string_equal(dcv_job_state_name(DCV_JOB_STATE_COUNT), "unknown");
}

static void test_emit_exact(void **state)
{
	struct dcv_job_record rec, back;
	unsigned char *text = NULL;
	struct dcv_why why;
	size_t len = 0;

	base_record(&rec);
	assert_int_equal(dcv_job_record_emit(&rec, &text, &len), DCV_OK);
	assert_int_equal(len, strlen(base_text));
	assert_memory_equal(text, base_text, len);
	assert_int_equal(parse_text(base_text, strlen(base_text), &back, &why), DCV_OK);
	tu_rec_equal(&rec, &back, true);
	dcv_job_record_free(&back);
	dcv_job_record_free(&rec);
	free(text);
}

/*
 * The results token of dcv submit --wait: one line after error:, read back,
 * refused when it is not 32 lower-case hex digits (without quoting it);
 * in the submitter's status copy as the last key, never in done/'s.
 */
static void test_token(void **state)
{
	static const char *const tok = "fedcba9876543210fedcba9876543210";
	struct dcv_job_record rec, back;
	unsigned char *text = NULL, *status = NULL;
	char *bad = NULL, *at = NULL;
	struct dcv_why why = {""};
	size_t len = 0, slen = 0;

	(void)state;
	base_record(&rec);
	strcpy(rec.error, "an error");
	strcpy(rec.token, tok);
	assert_int_equal(dcv_job_record_emit(&rec, &text, &len), DCV_OK);
	assert_non_null(
	    memmem(text, len, "error an error\ntoken fedcba9876543210fedcba9876543210\nrr ",
	           strlen("error an error\ntoken fedcba9876543210fedcba9876543210\nrr ")));
	assert_int_equal(parse_text((char *)text, len, &back, &why), DCV_OK);
	assert_string_equal(back.token, tok);
	dcv_job_record_free(&back);
	round_trip(&rec);
	/* Upper case, one digit short: refused, the value not shown. */
	bad = terminated(text, len);
	at = strstr(bad, "token ") + 6;
	at[0] = 'A';
	assert_int_equal(parse_text(bad, len, &back, &why), DCV_ESTATE);
	assert_non_null(strstr(why.text, "token"));
	assert_null(strstr(why.text, tok + 1));
	strcpy(rec.token, "0123");
	assert_int_equal(dcv_job_record_check(&rec, &why), DCV_EINVAL);
	assert_null(strstr(why.text, "0123 "));
	strcpy(rec.token, tok);
	/* done/'s status has no token; the submitter's copy ends with it. */
	assert_int_equal(dcv_job_status_emit(&rec, &status, &slen), DCV_OK);
	assert_null(memmem(status, slen, tok, strlen(tok)));
	free(status);
	assert_int_equal(dcv_job_status_emit_result(&rec, &status, &slen), DCV_OK);
	assert_true(slen > 41);
	assert_memory_equal(status + slen - 41, "\ntoken: fedcba9876543210fedcba9876543210\n", 41);
	free(status);
	free(bad);
	free(text);
	dcv_job_record_free(&rec);
}

static void test_round_trips(void **state)
{
	static const size_t counts[] = {0, 1, 2, 3, 17, 100, 300};
	static const char *const errors[] = {
	    "",
	    "plain words",
	    "line one\nline two\n",
	    "  leading and trailing  ",
	    "tab\there, cr\r, bell\x07, del\x7f",
	    "quotes ' \" \\ and # and : and - and [x] {y} &z *w !v |u >t %s @r `q",
	    "true",
	    "null",
	    "~",
	    "0777",
	    "1e10",
	    "- looks like a list",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92 \xc2\x85 \xef\xbb\xbf bom",
	    "---",
	    "...",
	};
	struct dcv_job_record rec;

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		for (uint64_t gen = 0; gen < 14; gen++) {
			tu_rec_make(&rec, "host.example.test~00ff", gen, counts[i],
			            counts[(i + gen) % 7]);
			round_trip(&rec);
			dcv_job_record_free(&rec);
		}
	}
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		tu_rec_make(&rec, "e~1", i, 1, 1);
		snprintf(rec.error, sizeof(rec.error), "%s", errors[i]);
		round_trip(&rec);
		dcv_job_record_free(&rec);
	}
	/* Values that a YAML reader could take for other types stay strings. */
	tu_rec_make(&rec, "1234~5678", 3, 2, 2);
	strcpy(rec.name, "1234");
	strcpy(rec.md5, "12345678901234567890123456789012");
	strcpy(rec.sha256, "1e100000000000000000000000000000000000000000000000000000000000000");
	rec.sha256[64] = '\0';
	strcpy(rec.names[0].name, "true");
	strcpy(rec.names[1].name, "null");
	strcpy(rec.rrs[0].zone, "123.");
	rec.error[0] = '\0';
	round_trip(&rec);
	/* Lengths at their limits. */
	memset(rec.id, 'i', DCV_JOB_ID_MAX);
	rec.id[DCV_JOB_ID_MAX] = '\0';
	memset(rec.name, 'n', DCV_JOB_NAME_MAX);
	rec.name[DCV_JOB_NAME_MAX] = '\0';
	memset(rec.error, 'e', sizeof(rec.error) - 1);
	rec.error[sizeof(rec.error) - 1] = '\0';
	memset(rec.rrs[0].owner, 'o', sizeof(rec.rrs[0].owner) - 1);
	rec.rrs[0].owner[sizeof(rec.rrs[0].owner) - 1] = '\0';
	rec.md5[0] = '\0';
	rec.sha256[0] = '\0';
	round_trip(&rec);
	dcv_job_record_free(&rec);
}

/* Random records with random printable and multi-byte text in the free-text field. */
static void test_round_trips_random(void **state)
{
	static const char *const pieces[] = {"a",    " ",        "'",
	                                     "\"",   "\\",       "\n",
	                                     "\t",   ":",        "#",
	                                     "- ",   "\xc3\xa9", "\xe2\x80\xa8",
	                                     "\x01", "{",        "\xf0\x9f\x98\x80",
	                                     "%",    "\r\n",     "...",
	                                     "---"};
	struct dcv_job_record rec;
	uint64_t seed = 42;

	for (int i = 0; i < 500; i++) {
		size_t len = 0;

		seed = tu_mix(seed);
		tu_rec_make(&rec, "r~1", seed % 1000, seed % 5, (seed >> 8) % 6);
		rec.error[0] = '\0';
		for (int k = 0; k < (int)(seed % 40); k++) {
			const char *p = pieces[tu_mix(seed + (uint64_t)k) % 19];

			if (len + strlen(p) + 1 > sizeof(rec.error))
				break;
			strcpy(rec.error + len, p);
			len += strlen(p);
		}
		round_trip(&rec);
		dcv_job_record_free(&rec);
	}
}

/* Damages r in way i; returns what the check must say, NULL past the last way. */
static const char *damage(struct dcv_job_record *r, int i)
{
	switch (i) {
	case 0:
		strcpy(r->id, "");
		return "id must not be empty";
	case 1:
		strcpy(r->id, "a/b");
		return "id must not contain '/'";
	case 2:
		strcpy(r->id, ".x");
		return "id must not start with '.'";
	case 3:
		strcpy(r->id, "a\nb");
		return "id must not contain control characters";
	case 4:
		strcpy(r->id, "a\xff");
		return "id is not valid UTF-8";
	case 5:
		memset(r->id, 'x', DCV_JOB_ID_MAX + 1);
		r->id[DCV_JOB_ID_MAX + 1] = '\0';
		return "id is too long";
	case 6:
		strcpy(r->name, "x/y");
		return "name must not contain '/'";
	case 7:
		memset(r->name, 'x', DCV_JOB_NAME_MAX + 1);
		r->name[DCV_JOB_NAME_MAX + 1] = '\0';
		return "name is too long";
	case 8:
		strcpy(r->ext, "exe");
		return "ext must be csr, pem or der";
	case 9:
		strcpy(r->ext, "CSR");
		return "ext must be csr, pem or der";
	case 10:
		r->state = DCV_JOB_STATE_COUNT;
		return "unknown state";
	case 11:
		strcpy(r->md5, "abc");
		return "md5 must be 32 hex digits";
	case 12:
		r->md5[3] = 'A';
		return "md5 must be lower-case hex";
	case 13:
		r->sha256[63] = '\0';
		return "sha256 must be 64 hex digits";
	case 14:
		r->n_names = DCV_JOB_MAX_ITEMS + 1;
		return "more than";
	case 15:
		strcpy(r->rrs[0].owner, "a b.");
		return "records[0].owner must hold only letters";
	case 16:
		strcpy(r->rrs[0].zone, "");
		return "records[0].zone must not be empty";
	case 17:
		memset(r->rrs[0].target, 't', sizeof(r->rrs[0].target));
		return "NUL-terminated";
	case 18:
		strcpy(r->names[1].name, r->names[0].name);
		return "listed twice";
	case 19:
		strcpy(r->names[1].adn, "\x01");
		return "names[1]: adn must hold only";
	case 20:
		r->visible = DCV_JOB_TIME_MAX + 1;
		return "after the year 9999";
	case 21:
		strcpy(r->error, "\xed\xa0\x80 surrogate");
		return "error is not valid UTF-8";
	case 22:
		strcpy(r->error, "\xc0\x80 overlong");
		return "error is not valid UTF-8";
	case 23:
		memset(r->error, 'e', sizeof(r->error));
		return "NUL-terminated";
	default:
		return NULL;
	}
}

/* Records the check (and so emit, status and the batches) refuse. */
static void test_check_refuses(void **state)
{
	struct dcv_job_record rec;
	unsigned char *text = NULL;
	const char *expect = NULL;
	struct dcv_why why;
	size_t len = 0;

	for (int i = 0;; i++) {
		base_record(&rec);
		expect = damage(&rec, i);
		if (expect == NULL) {
			dcv_job_record_free(&rec);
			break;
		}
		if (dcv_job_record_check(&rec, &why) != DCV_EINVAL)
			fail_msg("damage %d (%s) accepted", i, expect);
		if (strstr(why.text, expect) == NULL)
			fail_msg("damage %d: '%s' does not say '%s'", i, why.text, expect);
		assert_int_equal(dcv_job_record_emit(&rec, &text, &len), DCV_EINVAL);
		assert_null(text);
		assert_int_equal(dcv_job_status_emit(&rec, &text, &len), DCV_EINVAL);
		assert_null(text);
		rec.n_names = 2;
		dcv_job_record_free(&rec);
	}
}

/* base_text with the first occurrence of from replaced by to. */
static char *edited(const char *from, const char *to)
{
	const char *at = strstr(base_text, from);
	char *out = NULL;

	if (at == NULL)
		fail_msg("'%s' is not in the base text", from);
	out = malloc(strlen(base_text) - strlen(from) + strlen(to) + 1);
	sprintf(out, "%.*s%s%s", (int)(at - base_text), base_text, to, at + strlen(from));
	return out;
}

/*
 * The text is refused with a message "rec.job:POS: ..." containing what;
 * pos NULL: "rec.job: ..." (the check's, which names the field).
 */
static void expect_refused(const char *text, size_t len, const char *pos, const char *what)
{
	struct dcv_job_record out;
	struct dcv_why why;
	char prefix[64];

	if (parse_text(text, len, &out, &why) != DCV_ESTATE)
		fail_msg("accepted: %.*s", (int)len, text);
	assert_null(out.rrs);
	assert_null(out.names);
	if (pos != NULL)
		snprintf(prefix, sizeof(prefix), "rec.job:%s: ", pos);
	else
		snprintf(prefix, sizeof(prefix), "rec.job: ");
	if (strncmp(why.text, prefix, strlen(prefix)) != 0 || strstr(why.text, what) == NULL)
		fail_msg("got '%s', expected '%s...%s...'", why.text, prefix, what);
}

static void expect_edit_refused(const char *from, const char *to, const char *pos, const char *what)
{
	char *text = edited(from, to);

	expect_refused(text, strlen(text), pos, what);
	free(text);
}

static void test_damage(void **state)
{
	char ttl[16];

	expect_edit_refused("dcv-job 1", "dcv-job 2", "1:1", "expected 'dcv-job 1'");
	expect_edit_refused("dcv-job 1\n", "", "1:1", "expected 'dcv-job 1'");
	expect_edit_refused("cleanup false\n", "cleanup false\ncolour red\n", "7:1",
	                    "expected 'md5'");
	expect_edit_refused("state publishing", "state flying", "5:7",
	                    "state: unknown state 'flying'");
	expect_edit_refused("state publishing", "state Published", "5:7", "unknown state");
	expect_edit_refused("state publishing", "state  publishing", "5:7", "unknown state");
	expect_edit_refused("cleanup false", "cleanup yes", "6:9",
	                    "cleanup: expected true or false");
	expect_edit_refused("sha256 " SHA "\n", "", "8:1", "expected 'sha256'");
	expect_edit_refused("ext csr\n", "", "4:1", "expected 'ext'");
	expect_edit_refused("ext csr", "ext c\x01r", "4:6", "ext: a control byte");
	expect_edit_refused("name web\n", "name web\r\n", "3:9", "name: a control byte");
	expect_edit_refused(MD5 "\n", "0123456789abcdef0123456789abcde\n", NULL,
	                    "md5 must be 32 hex digits");
	expect_edit_refused(MD5 "\n", "0123456789ABCDEF0123456789abcdef\n", NULL,
	                    "md5 must be lower-case hex digits");
	expect_edit_refused(SHA "\n", SHA "0\n", "8:8", "sha256: longer than 64 bytes");
	expect_edit_refused("id web~0001", "id a/b", NULL, "id must not contain '/'");
	expect_edit_refused("id web~0001", "id .web", NULL, "id must not start with '.'");
	expect_edit_refused("id web~0001", "id ", NULL, "id must not be empty");
	expect_edit_refused("id web~0001", "id", "2:1", "expected 'id'");
	expect_edit_refused("id web~0001", "id a\\qb", "2:5", "an escape other than");
	expect_edit_refused("id web~0001", "id a\\x00b", "2:5", "an escape other than");
	expect_edit_refused("id web~0001", "id a\\x4", "2:5", "an escape other than");
	expect_edit_refused("id web~0001", "id a\\nb", NULL, "control characters");
	expect_edit_refused("name web", "name x/web", NULL, "name must not contain '/'");
	expect_edit_refused("ext csr", "ext exe", NULL, "ext must be csr, pem or der");
	expect_edit_refused("ext csr", "ext ", NULL, "ext must be csr, pem or der");
	snprintf(ttl, sizeof(ttl), "15:%zu", TTL_COL);
	expect_edit_refused(" 300\n", " -1\n", ttl, "rr: ttl: expected a whole number");
	expect_edit_refused(" 300\n", " 0300\n", ttl, "without sign or leading zero");
	/* A fifth word is the zone's DNSSEC state: "0" is none. */
	snprintf(ttl, sizeof(ttl), "15:%zu", TTL_COL + 3);
	expect_edit_refused(" 300\n", " 30 0\n", ttl, "rr: dnssec: expected secure, insecure");
	snprintf(ttl, sizeof(ttl), "15:%zu", TTL_COL);
	expect_edit_refused(" 300\n", " 30x secure\n", ttl, "expected a whole number");
	expect_edit_refused(" 300\n", " 4294967296\n", ttl, "larger than 4294967295");
	expect_edit_refused(" 300\n", " \n", ttl, "rr: expected 4 words");
	expect_edit_refused(" example.test. 300\n", "\n", "15:52", "rr: expected 4 words");
	expect_edit_refused("rr _", "rr a,_", NULL, "records[0].owner must hold only letters");
	expect_edit_refused("dnsname *.example.test", "dnsname example.test", NULL,
	                    "names[1]: 'example.test' is listed twice");
	expect_edit_refused("dnsname example.test example.test\n", "dnsname example.test\n", "16:9",
	                    "dnsname: expected 2 words");
	expect_edit_refused("received 1700000000", "received 1.7e9", "9:10",
	                    "received: expected a whole number");
	expect_edit_refused("received 1700000000", "received 253402300800", "9:10",
	                    "received: larger than 253402300799");
	expect_edit_refused("received 1700000000", "received 99999999999999999999999", "9:10",
	                    "larger than");
	expect_edit_refused("withdrawn 0", "withdrawn true", "13:11", "expected a whole");
	expect_edit_refused("failed 0\n", "failed 0\nerror x\nuid 1\n", "16:1",
	                    "expected 'end' as the last line");
	expect_edit_refused("failed 0\n", "failed 0\nuid 01\n", "15:5", "leading zero");
	expect_edit_refused("end\n", "end\nrr x\n", "18:1", "expected 'end' as the last line");
	expect_edit_refused("end\n", "ends\n", "18:1", "expected 'end' as the last line");

	/* Cut short: the last line, "end" and its newline, tells a whole record from a part. */
	expect_refused(base_text, strlen(base_text) - 1, "18:1", "cut short");
	expect_refused(base_text, strlen(base_text) - 4, "18:1", "cut short");
	expect_refused(base_text, strlen(base_text) - 6, "17:1", "cut short");
	expect_refused("", 0, "1:1", "expected 'dcv-job 1'");
	expect_refused("\x00\x01\x02\x03\nend\n", 9, "1:1", "expected 'dcv-job 1'");
	expect_refused("---\nversion: 1\nid: web~0001\n...\n", 32, "1:1",
	               "expected 'dcv-job 1' (a job record of this dcvd)");
}

/* Every prefix of a record is refused, and so is a record missing a middle line. */
static void test_every_cut_refused(void **state)
{
	struct dcv_job_record rec, out;
	unsigned char *text = NULL;
	struct dcv_why why;
	size_t len = 0;

	tu_rec_make(&rec, "cut~1", 5, 3, 3);
	assert_int_equal(dcv_job_record_emit(&rec, &text, &len), DCV_OK);
	for (size_t cut = 0; cut < len; cut++) {
		if (dcv_job_record_parse("cut.job", text, cut, &out, &why) != DCV_ESTATE)
			fail_msg("the first %zu of %zu bytes were accepted", cut, len);
		assert_true(strncmp(why.text, "cut.job:", 8) == 0);
	}
	assert_int_equal(dcv_job_record_parse("cut.job", text, len, &out, &why), DCV_OK);
	dcv_job_record_free(&out);
	dcv_job_record_free(&rec);
	free(text);
}

/*
 * Random damage: flipped, deleted and inserted bytes. Every result is
 * either refused with a positioned message or a record that passes the
 * check and round-trips; run under ASan (DCV_SANITIZE) for leaks.
 */
static void test_mutations(void **state)
{
	static const char inserts[] = "\n :-'\"[]{}&*!|>%@`#,?\\\t\x01\xff\x00";
	struct dcv_job_record rec, out;
	unsigned char *text = NULL, *buf = NULL;
	struct dcv_why why;
	size_t len = 0, n = 0, accepted = 0;
	uint64_t seed = 7;

	tu_rec_make(&rec, "m~1", 9, 2, 2);
	assert_int_equal(dcv_job_record_emit(&rec, &text, &len), DCV_OK);
	buf = malloc(len + 16);
	for (int i = 0; i < 20000; i++) {
		memcpy(buf, text, len);
		n = len;
		for (int k = 0; k < 1 + (int)(tu_mix(seed) % 3); k++) {
			size_t at = 0;

			seed = tu_mix(seed);
			at = (seed >> 8) % n;
			switch (seed % 3) {
			case 0:
				buf[at] = inserts[(seed >> 32) % (sizeof(inserts) - 1)];
				break;
			case 1:
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			default:
				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = inserts[(seed >> 32) % (sizeof(inserts) - 1)];
				n++;
				break;
			}
		}
		if (dcv_job_record_parse("mut.job", buf, n, &out, &why) == DCV_OK) {
			accepted++;
			assert_int_equal(dcv_job_record_check(&out, NULL), DCV_OK);
			round_trip(&out);
			dcv_job_record_free(&out);
		} else {
			assert_true(strncmp(why.text, "mut.job:", 8) == 0);
			assert_null(out.rrs);
		}
	}
	print_message("mutations: %zu of 20000 still valid records (e.g. a changed letter)\n",
	              accepted);
	free(buf);
	free(text);
	dcv_job_record_free(&rec);
}

static void test_too_large(void **state)
{
	size_t len = (size_t)DCV_JOB_FILE_MAX + 1;
	char *big = malloc(len);
	struct dcv_job_record out;
	struct dcv_why why;

	memset(big, ' ', len);
	assert_int_equal(parse_text(big, len, &out, &why), DCV_ESTATE);
	assert_non_null(strstr(why.text, "rec.job: larger than the limit"));
	free(big);
}

/* The status file's "state" and "step" for every record state. */
static void test_status_states(void **state)
{
	static const struct {
		enum dcv_job_state s;
		uint64_t visible;
		const char *shown;
	} cases[] = {
	    {DCV_JOB_RECEIVED, 0, "active"},
	    {DCV_JOB_PUBLISHING, 0, "active"},
	    {DCV_JOB_PUBLISHED, 0, "active"},
	    {DCV_JOB_VISIBLE, 1700000300, "visible"},
	    {DCV_JOB_WITHDRAWING, 0, "active"},
	    {DCV_JOB_WITHDRAWING, 1700000300, "visible"},
	    {DCV_JOB_WITHDRAWN, 1700000300, "withdrawn"},
	    {DCV_JOB_WITHDRAWN, 0, "withdrawn"},
	    {DCV_JOB_FAILED, 0, "failed"},
	    {DCV_JOB_FAILED, 1700000300, "failed"},
	};
	static const char *const keys[] = {
	    "state",   "step",         "job",       "file",   "error",    "md5",
	    "sha256",  "records",      "names",     "zones",  "received", "published",
	    "visible", "withdraw_due", "withdrawn", "failed", NULL};
	const struct dcv_yin_node *v[17];
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_job_record rec;
	unsigned char *text = NULL;
	struct dcv_yin y;
	size_t len = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		base_record(&rec);
		rec.state = cases[i].s;
		rec.visible = cases[i].visible;
		assert_int_equal(dcv_job_status_emit(&rec, &text, &len), DCV_OK);
		assert_int_equal(dcv_yin_parse(&y, "st", text, len, &errors), DCV_OK);
		assert_true(dcv_yin_fields(&y, y.root, "status", keys, v, NULL));
		tu_expect_n(&errors, 0);
		assert_string_equal(v[0]->value, cases[i].shown);
		assert_string_equal(v[1]->value, dcv_job_state_name(cases[i].s));
		assert_null(v[4]);  /* no error */
		assert_null(v[11]); /* published not set */
		assert_true((v[12] != NULL) == (cases[i].visible != 0));
		dcv_yin_free(&y);
		free(text);
		dcv_job_record_free(&rec);
	}
}

/* The whole status file as python3's yaml module reads it, compared as JSON. */
static void test_status_python(void **state)
{
	char expect[4096], iso[6][32];
	struct dcv_job_record rec;
	unsigned char *text = NULL;
	const char *path = NULL;
	size_t len = 0;
	const uint64_t times[] = {1700000000, 1700000100, 1700000200,
	                          1700600000, 1700700000, 1800000000};

	for (size_t i = 0; i < 6; i++)
		snprintf(
		    iso[i], sizeof(iso[i]), "%s",
		    tu_run_line("date -u -d @%" PRIu64 " +%%Y-%%m-%%dT%%H:%%M:%%SZ", times[i]));
	base_record(&rec);
	rec.state = DCV_JOB_FAILED;
	rec.cleanup = true;
	rec.received = times[0];
	rec.published = times[1];
	rec.visible = times[2];
	rec.withdraw_due = times[3];
	rec.withdrawn = times[4];
	rec.failed = times[5];
	strcpy(rec.error, "zone example.test: REFUSED by 127.0.0.1@53\n\"second\" line");
	rec.n_rrs = 3;
	rec.rrs = realloc(rec.rrs, 3 * sizeof(*rec.rrs));
	rec.rrs[1] = rec.rrs[0];
	strcpy(rec.rrs[1].owner, "_" MD5 ".www.other.test.");
	strcpy(rec.rrs[1].zone, "other.test.");
	rec.rrs[1].ttl = 60;
	rec.rrs[2] = rec.rrs[0];
	strcpy(rec.rrs[2].owner, "_" MD5 ".sub.example.test.");
	strcpy(rec.names[1].name, "true");

	assert_int_equal(tu_dir_setup(NULL), 0);
	assert_int_equal(dcv_job_status_emit(&rec, &text, &len), DCV_OK);
	path = tu_put_bytes("web.status", 0644, text, len);
	snprintf(
	    expect, sizeof(expect),
	    "{\"error\": \"zone example.test: REFUSED by 127.0.0.1@53\\n\\\"second\\\" line\", "
	    "\"failed\": \"%s\", \"file\": \"web.csr\", \"job\": \"web~0001\", "
	    "\"md5\": \"" MD5 "\", "
	    "\"names\": {\"example.test\": \"example.test\", \"true\": \"example.test\"}, "
	    "\"published\": \"%s\", \"received\": \"%s\", "
	    "\"records\": [\"" OWNER " 300 IN CNAME " TARGET "\", "
	    "\"_" MD5 ".www.other.test. 60 IN CNAME " TARGET "\", "
	    "\"_" MD5 ".sub.example.test. 300 IN CNAME " TARGET "\"], "
	    "\"sha256\": \"" SHA "\", \"state\": \"failed\", \"step\": \"failed\", "
	    "\"visible\": \"%s\", \"withdraw_due\": \"%s\", \"withdrawn\": \"%s\", "
	    "\"zones\": [\"example.test.\", \"other.test.\"]}",
	    iso[5], iso[1], iso[0], iso[2], iso[3], iso[4]);
	assert_string_equal(tu_run_line("python3 -c 'import sys, yaml, json; "
	                                "print(json.dumps(yaml.safe_load(open(sys.argv[1])), "
	                                "sort_keys=True))' '%s'",
	                                path),
	                    expect);

	/* Nothing set: no error, no hashes, no times; empty lists stay lists. */
	free(text);
	dcv_job_record_free(&rec);
	memset(&rec, 0, sizeof(rec));
	strcpy(rec.id, "x~1");
	strcpy(rec.name, "x");
	strcpy(rec.ext, "der");
	assert_int_equal(dcv_job_status_emit(&rec, &text, &len), DCV_OK);
	path = tu_put_bytes("x.status", 0644, text, len);
	assert_string_equal(tu_run_line("python3 -c 'import sys, yaml, json; "
	                                "print(json.dumps(yaml.safe_load(open(sys.argv[1])), "
	                                "sort_keys=True))' '%s'",
	                                path),
	                    "{\"file\": \"x.der\", \"job\": \"x~1\", \"names\": {}, "
	                    "\"records\": [], \"state\": \"active\", \"step\": \"received\", "
	                    "\"zones\": []}");
	free(text);
	assert_int_equal(tu_dir_teardown(NULL), 0);
}

/*
 * A record as a reader written from the format's description sees it (a
 * few lines of python3): fields by key, rr and dnsname lines split at
 * spaces, free text unescaped.
 */
static void test_record_python(void **state)
{
	static const char reader[] =
	    "import re, sys\n"
	    "d, rr, dn = {}, [], []\n"
	    "lines = open(sys.argv[1], encoding='utf-8').read().split('\\n')\n"
	    "assert lines[-2:] == ['end', ''], lines[-2:]\n"
	    "unesc = {'\\\\\\\\': '\\\\', '\\\\n': '\\n'}\n"
	    "esc = lambda m: unesc.get(m.group(0)) or chr(int(m.group(0)[2:], 16))\n"
	    "for line in lines[:-2]:\n"
	    "    k, _, v = line.partition(' ')\n"
	    "    if k == 'rr': rr.append(v.split(' '))\n"
	    "    elif k == 'dnsname': dn.append(v.split(' '))\n"
	    "    else: d[k] = re.sub(r'\\\\(\\\\|n|x[0-9a-f]{2})', esc, v)\n"
	    "print(d['dcv-job'], d['id'], d['name'], d['state'], d['cleanup'], d['received'], "
	    "rr[0][3], len(rr), dn[1], repr(d['error']), d['uid'], d['submitter'])\n";
	struct dcv_job_record rec;
	unsigned char *text = NULL;
	const char *path = NULL, *script = NULL;
	size_t len = 0;

	tu_rec_make(&rec, "0x10 a\\b~0001", 2, 2, 2);
	strcpy(rec.name, "0x10 a\\b");
	strcpy(rec.error, "line one\nback\\slash\ttab caf\xc3\xa9");
	rec.has_uid = true;
	rec.uid = 1000;
	strcpy(rec.submitter, "alice smith");
	assert_int_equal(dcv_job_record_emit(&rec, &text, &len), DCV_OK);
	assert_int_equal(tu_dir_setup(NULL), 0);
	path = tu_put_bytes("r.job", 0644, text, len);
	script = tu_put("reader.py", 0644, reader);
	assert_string_equal(tu_run_line("python3 '%s' '%s'", script, path),
	                    "1 0x10 a\\b~0001 0x10 a\\b published false 1700000002 4294967295 2 "
	                    "['*.n1.g2.example.test', 'n1.g2.example.test'] "
	                    "'line one\\nback\\\\slash\\ttab café' 1000 alice smith");
	assert_int_equal(tu_dir_teardown(NULL), 0);
	free(text);
	dcv_job_record_free(&rec);
}

static void test_copy(void **state)
{
	struct dcv_job_record rec, copy;

	tu_rec_make(&rec, "c~1", 4, 5, 6);
	assert_int_equal(dcv_job_record_copy(&copy, &rec), DCV_OK);
	tu_rec_equal(&rec, &copy, true);
	assert_ptr_not_equal(copy.rrs, rec.rrs);
	assert_ptr_not_equal(copy.names, rec.names);
	dcv_job_record_free(&rec);
	assert_int_equal(copy.n_rrs, 5);
	dcv_job_record_free(&copy);
	assert_null(copy.rrs);
	assert_int_equal(copy.n_names, 0);
	dcv_job_record_free(NULL);
	dcv_job_records_free(NULL, 3);
}

/* A zone's DNSSEC state: the rr line's fifth word, and the status file's dnssec: mapping. */
static void test_dnssec_state(void **state)
{
	struct dcv_job_record rec, back;
	unsigned char *text = NULL, *status = NULL;
	char *bad = NULL, *at = NULL, *copy = NULL;
	struct dcv_why why = {""};
	size_t len = 0, slen = 0;

	(void)state;
	base_record(&rec);
	/* The status buffer is not NUL-terminated: searched as a copy. */
	assert_int_equal(dcv_job_status_emit(&rec, &status, &slen), DCV_OK);
	copy = terminated(status, slen);
	assert_null(strstr(copy, "dnssec"));
	free(copy);
	free(status);
	strcpy(rec.rrs[0].dnssec, "secure");
	assert_int_equal(dcv_job_record_emit(&rec, &text, &len), DCV_OK);
	copy = terminated(text, len);
	assert_non_null(strstr(copy, "rr " OWNER " " TARGET " example.test. 300 secure\n"));
	free(copy);
	round_trip(&rec);
	assert_int_equal(parse_text((char *)text, len, &back, &why), DCV_OK);
	assert_string_equal(back.rrs[0].dnssec, "secure");
	dcv_job_record_free(&back);
	assert_int_equal(dcv_job_status_emit(&rec, &status, &slen), DCV_OK);
	copy = terminated(status, slen);
	assert_non_null(strstr(copy, "dnssec:\n  example.test.: secure\n"));
	free(copy);
	free(status);
	/* Another word is refused, naming the field. */
	bad = terminated(text, len);
	at = strstr(bad, " secure\n") + 1;
	memcpy(at, "bogus!", 6);
	assert_int_equal(parse_text(bad, len, &back, &why), DCV_ESTATE);
	assert_non_null(strstr(why.text, "rr: dnssec"));
	strcpy(rec.rrs[0].dnssec, "maybe");
	assert_int_equal(dcv_job_record_check(&rec, &why), DCV_EINVAL);
	free(bad);
	free(text);
	dcv_job_record_free(&rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test(test_emit_exact),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_dnssec_state),
	    cmocka_unit_test(test_round_trips_random),
	    cmocka_unit_test(test_check_refuses),
	    cmocka_unit_test(test_damage),
	    cmocka_unit_test(test_every_cut_refused),
	    cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_too_large),
	    cmocka_unit_test(test_status_states),
	    cmocka_unit_test(test_status_python),
	    cmocka_unit_test(test_record_python),
	    cmocka_unit_test(test_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
