/*
 * jobyaml.c -- a job record as YAML text (store.h): emitted with yout,
 * read back strictly with yin, every complaint at its position. Also the
 * forget entries of the store's logs and the parsing of one log entry
 * (jobrec_int.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobrec_int.h"
#include "store.h"
#include "yin.h"
#include "yout.h"

enum {
	K_VERSION,
	K_ID,
	K_NAME,
	K_EXT,
	K_STATE,
	K_CLEANUP,
	K_MD5,
	K_SHA256,
	K_RECORDS,
	K_NAMES,
	K_RECEIVED,
	K_PUBLISHED,
	K_VISIBLE,
	K_WITHDRAW_DUE,
	K_WITHDRAWN,
	K_FAILED,
	K_ERROR,
	K_UID,
	K_SUBMITTER,
	K_COUNT,
	K_REQUIRED = K_RECORDS, /* keys before this one must be present */
	K_FIRST_TIME = K_RECEIVED,
};

static const char *const record_keys[] = {
    "version", "id",           "name",      "ext",    "state",    "cleanup",
    "md5",     "sha256",       "records",   "names",  "received", "published",
    "visible", "withdraw_due", "withdrawn", "failed", "error",    "uid",
    "submitter", NULL};

enum { R_OWNER, R_TARGET, R_ZONE, R_TTL, R_COUNT };
static const char *const rr_keys[] = {"owner", "target", "zone", "ttl", NULL};

enum { N_NAME, N_ADN, N_COUNT };
static const char *const name_keys[] = {"name", "adn", NULL};

/* A log's forget entry (jobrec_int.h). */
enum { F_VERSION, F_ID, F_FORGET, F_COUNT };
static const char *const forget_keys[] = {"version", "id", "forget", NULL};

static void times_of(const struct dcv_job_record *rec, uint64_t *t)
{
	t[0] = rec->received;
	t[1] = rec->published;
	t[2] = rec->visible;
	t[3] = rec->withdraw_due;
	t[4] = rec->withdrawn;
	t[5] = rec->failed;
}

static void times_set(struct dcv_job_record *rec, const uint64_t *t)
{
	rec->received = t[0];
	rec->published = t[1];
	rec->visible = t[2];
	rec->withdraw_due = t[3];
	rec->withdrawn = t[4];
	rec->failed = t[5];
}

/*
 * Hands over the emitted document with its end made explicit ("..."):
 * libyaml leaves it implicit. On DCV_ENOMEM y keeps its buffer.
 */
static int take_document(struct yout *y, unsigned char **buf, size_t *len)
{
	static const char end[] = DCV_JOBREC_END;
	unsigned char *grown = realloc(y->mem, y->mem_len + sizeof(end));

	if (grown == NULL)
		return DCV_ENOMEM;
	y->mem = grown;
	if (y->mem_len > 0 && y->mem[y->mem_len - 1] == '\n')
		y->mem_len--;
	memcpy(y->mem + y->mem_len, end, sizeof(end) - 1);
	y->mem_len += sizeof(end) - 1;
	*buf = y->mem;
	*len = y->mem_len;
	y->mem = NULL;
	return DCV_OK;
}

int dcv_job_record_emit(const struct dcv_job_record *rec, unsigned char **buf, size_t *len)
{
	uint64_t times[6];
	struct yout y;
	int rc = DCV_EINVAL;

	*buf = NULL;
	*len = 0;
	memset(&y, 0, sizeof(y));
	if (dcv_job_record_check(rec, NULL) < 0)
		goto out;
	times_of(rec, times);
	yout_begin_mem(&y);
	yout_map(&y);
	yout_kv_uint(&y, "version", 1);
	yout_kv(&y, "id", rec->id);
	yout_kv(&y, "name", rec->name);
	yout_kv(&y, "ext", rec->ext);
	yout_kv(&y, "state", dcv_job_state_name(rec->state));
	yout_str(&y, "cleanup");
	yout_bool(&y, rec->cleanup);
	yout_kv(&y, "md5", rec->md5);
	yout_kv(&y, "sha256", rec->sha256);
	yout_str(&y, "records");
	yout_seq(&y);
	for (size_t i = 0; i < rec->n_rrs; i++) {
		yout_map(&y);
		yout_kv(&y, "owner", rec->rrs[i].owner);
		yout_kv(&y, "target", rec->rrs[i].target);
		yout_kv(&y, "zone", rec->rrs[i].zone);
		yout_kv_uint(&y, "ttl", rec->rrs[i].ttl);
		yout_end_map(&y);
	}
	yout_end_seq(&y);
	yout_str(&y, "names");
	yout_seq(&y);
	for (size_t i = 0; i < rec->n_names; i++) {
		yout_map(&y);
		yout_kv(&y, "name", rec->names[i].name);
		yout_kv(&y, "adn", rec->names[i].adn);
		yout_end_map(&y);
	}
	yout_end_seq(&y);
	for (size_t i = 0; i < 6; i++)
		yout_kv_uint(&y, record_keys[K_FIRST_TIME + i], times[i]);
	if (rec->error[0] != '\0')
		yout_kv(&y, "error", rec->error);
	if (rec->has_uid)
		yout_kv_uint(&y, "uid", rec->uid);
	if (rec->submitter[0] != '\0')
		yout_kv(&y, "submitter", rec->submitter);
	yout_end_map(&y);
	if (yout_end(&y) < 0) {
		/* A checked record is valid UTF-8 text: only memory can run out here. */
		rc = DCV_ENOMEM;
		goto out;
	}
	rc = take_document(&y, buf, len);
out:
	free(y.mem);
	return rc;
}

/* A string field: text that fits in size bytes, then the field's rule (problem may be NULL). */
static bool take_text(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what,
                      char *dst, size_t size, const char *(*problem)(const char *))
{
	const char *text = dcv_yin_text(y, node, what);
	const char *p = NULL;

	if (text == NULL)
		return false;
	/* The field's own rule first: "must be 64 hex digits" says more than a length. */
	if (problem != NULL && (p = problem(text)) != NULL) {
		dcv_yin_error(y, node, "%s %s", what, p);
		return false;
	}
	if (node->len >= size) {
		dcv_yin_error(y, node, "%s: longer than %zu bytes", what, size - 1);
		return false;
	}
	memcpy(dst, text, node->len + 1);
	return true;
}

static const char *id_problem(const char *s)
{
	return dcv_jobrec_file_part_problem(s, DCV_JOB_ID_MAX);
}

static const char *name_problem(const char *s)
{
	return dcv_jobrec_file_part_problem(s, DCV_JOB_NAME_MAX);
}

static const char *md5_problem(const char *s)
{
	return dcv_jobrec_hex_problem(s, 32);
}

static const char *sha256_problem(const char *s)
{
	return dcv_jobrec_hex_problem(s, 64);
}

static const char *error_problem(const char *s)
{
	return dcv_jobrec_utf8_valid(s) ? NULL : "is not valid UTF-8";
}

/*
 * Plain decimal only: a sign, a leading zero (octal to YAML 1.1 readers),
 * spaces or an exponent would make the text mean different numbers to
 * different readers.
 */
static bool take_uint(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what,
                      uint64_t max, uint64_t *out)
{
	const char *text = dcv_yin_text(y, node, what);
	uint64_t v = 0;

	if (text == NULL)
		return false;
	if (text[0] == '\0' || strspn(text, "0123456789") != node->len ||
	    (text[0] == '0' && text[1] != '\0')) {
		dcv_yin_error(y, node, "%s: expected a whole number without sign or leading zero",
		              what);
		return false;
	}
	for (const char *p = text; *p != '\0'; p++) {
		if (v > (max - (uint64_t)(*p - '0')) / 10) {
			dcv_yin_error(y, node, "%s: larger than %" PRIu64, what, max);
			return false;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return true;
}

static bool take_bool(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what,
                      bool *out)
{
	const char *text = dcv_yin_text(y, node, what);

	if (text == NULL)
		return false;
	if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0) {
		dcv_yin_error(y, node, "%s: expected true or false", what);
		return false;
	}
	*out = text[0] == 't';
	return true;
}

/* A list of up to DCV_JOB_MAX_ITEMS mappings; absent or empty gives 0. -1 when reported. */
static long list_count(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what)
{
	long n = 0;

	if (node == NULL)
		return 0;
	n = dcv_yin_count(y, node, what, false);
	if (n > DCV_JOB_MAX_ITEMS) {
		dcv_yin_error(y, node, "%s: more than %d entries", what, DCV_JOB_MAX_ITEMS);
		return -1;
	}
	return n;
}

/* Reports each key of keys[0..n) that the mapping node lacks. */
static void require(struct dcv_yin *y, const struct dcv_yin_node *node, const char *what,
                    const char *const *keys, const struct dcv_yin_node **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == NULL)
			dcv_yin_error(y, node, "%s: '%s' is missing", what, keys[i]);
}

static int parse_rrs(struct dcv_yin *y, const struct dcv_yin_node *node, struct dcv_job_record *out)
{
	const struct dcv_yin_node *v[R_COUNT + 1];
	struct dcv_job_record_rr *rr = NULL;
	long n = list_count(y, node, "records");
	uint64_t ttl = 0;
	char what[64];

	if (n <= 0)
		return DCV_OK;
	out->rrs = calloc((size_t)n, sizeof(*out->rrs));
	if (out->rrs == NULL)
		return DCV_ENOMEM;
	out->n_rrs = (size_t)n;
	for (size_t i = 0; i < (size_t)n; i++) {
		const struct dcv_yin_node *item = dcv_yin_item(node, i);

		rr = &out->rrs[i];
		snprintf(what, sizeof(what), "records[%zu]", i);
		if (!dcv_yin_fields(y, item, what, rr_keys, v, NULL))
			continue;
		require(y, item, what, rr_keys, v, R_COUNT);
		snprintf(what, sizeof(what), "records[%zu].owner", i);
		if (v[R_OWNER] != NULL)
			take_text(y, v[R_OWNER], what, rr->owner, sizeof(rr->owner),
			          dcv_jobrec_dns_problem);
		snprintf(what, sizeof(what), "records[%zu].target", i);
		if (v[R_TARGET] != NULL)
			take_text(y, v[R_TARGET], what, rr->target, sizeof(rr->target),
			          dcv_jobrec_dns_problem);
		snprintf(what, sizeof(what), "records[%zu].zone", i);
		if (v[R_ZONE] != NULL)
			take_text(y, v[R_ZONE], what, rr->zone, sizeof(rr->zone),
			          dcv_jobrec_dns_problem);
		snprintf(what, sizeof(what), "records[%zu].ttl", i);
		if (v[R_TTL] != NULL && take_uint(y, v[R_TTL], what, UINT32_MAX, &ttl))
			rr->ttl = (uint32_t)ttl;
	}
	return DCV_OK;
}

static int parse_names(struct dcv_yin *y, const struct dcv_yin_node *node,
                       struct dcv_job_record *out)
{
	const struct dcv_yin_node *v[N_COUNT + 1];
	struct dcv_job_record_name *nm = NULL;
	long n = list_count(y, node, "names");
	char what[64];

	if (n <= 0)
		return DCV_OK;
	out->names = calloc((size_t)n, sizeof(*out->names));
	if (out->names == NULL)
		return DCV_ENOMEM;
	out->n_names = (size_t)n;
	for (size_t i = 0; i < (size_t)n; i++) {
		const struct dcv_yin_node *item = dcv_yin_item(node, i);

		nm = &out->names[i];
		snprintf(what, sizeof(what), "names[%zu]", i);
		if (!dcv_yin_fields(y, item, what, name_keys, v, NULL))
			continue;
		require(y, item, what, name_keys, v, N_COUNT);
		snprintf(what, sizeof(what), "names[%zu].name", i);
		if (v[N_NAME] != NULL && take_text(y, v[N_NAME], what, nm->name, sizeof(nm->name),
		                                   dcv_jobrec_dns_problem)) {
			/* Names are few (a CSR holds at most a few thousand): quadratic is fine. */
			for (size_t j = 0; j < i; j++)
				if (strcmp(out->names[j].name, nm->name) == 0) {
					dcv_yin_error(y, v[N_NAME], "%s: listed twice", what);
					break;
				}
		}
		snprintf(what, sizeof(what), "names[%zu].adn", i);
		if (v[N_ADN] != NULL)
			take_text(y, v[N_ADN], what, nm->adn, sizeof(nm->adn),
			          dcv_jobrec_dns_problem);
	}
	return DCV_OK;
}

static void parse_scalars(struct dcv_yin *y, const struct dcv_yin_node **v,
                          struct dcv_job_record *out)
{
	uint64_t uid = 0;
	uint64_t version = 0, times[6] = {0, 0, 0, 0, 0, 0};
	const char *state = NULL;

	if (v[K_VERSION] != NULL && take_uint(y, v[K_VERSION], "version", UINT64_MAX, &version) &&
	    version != 1)
		dcv_yin_error(y, v[K_VERSION],
		              "version: this dcvd reads version 1 records, not version %" PRIu64,
		              version);
	if (v[K_ID] != NULL)
		take_text(y, v[K_ID], "id", out->id, sizeof(out->id), id_problem);
	if (v[K_NAME] != NULL)
		take_text(y, v[K_NAME], "name", out->name, sizeof(out->name), name_problem);
	if (v[K_EXT] != NULL)
		take_text(y, v[K_EXT], "ext", out->ext, sizeof(out->ext), dcv_jobrec_ext_problem);
	if (v[K_STATE] != NULL && (state = dcv_yin_text(y, v[K_STATE], "state")) != NULL &&
	    dcv_job_state_parse(state, &out->state) < 0) {
		char quoted[48];

		dcv_yin_quote(state, 40, quoted, sizeof(quoted));
		dcv_yin_error(y, v[K_STATE],
		              "state: unknown state '%s' (known: received, publishing, published, "
		              "visible, withdrawing, withdrawn, failed)",
		              quoted);
	}
	if (v[K_CLEANUP] != NULL)
		take_bool(y, v[K_CLEANUP], "cleanup", &out->cleanup);
	if (v[K_MD5] != NULL)
		take_text(y, v[K_MD5], "md5", out->md5, sizeof(out->md5), md5_problem);
	if (v[K_SHA256] != NULL)
		take_text(y, v[K_SHA256], "sha256", out->sha256, sizeof(out->sha256),
		          sha256_problem);
	for (size_t i = 0; i < 6; i++)
		if (v[K_FIRST_TIME + i] != NULL)
			take_uint(y, v[K_FIRST_TIME + i], record_keys[K_FIRST_TIME + i],
			          DCV_JOB_TIME_MAX, &times[i]);
	times_set(out, times);
	if (v[K_ERROR] != NULL)
		take_text(y, v[K_ERROR], "error", out->error, sizeof(out->error), error_problem);
	if (v[K_UID] != NULL && take_uint(y, v[K_UID], "uid", UINT32_MAX, &uid)) {
		out->has_uid = true;
		out->uid = (uint32_t)uid;
	}
	if (v[K_SUBMITTER] != NULL)
		take_text(y, v[K_SUBMITTER], "submitter", out->submitter, sizeof(out->submitter),
		          error_problem);
}

/* Where the end of buf is, as a node position for messages. */
static void end_position(const unsigned char *buf, size_t len, struct dcv_yin_node *at)
{
	memset(at, 0, sizeof(*at));
	at->line = 1;
	at->col = 1;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			at->line++;
			at->col = 1;
		} else {
			at->col++;
		}
	}
}

/* "forget: true": the one value a forget entry's flag may have. */
static bool take_forget(struct dcv_yin *y, const struct dcv_yin_node *node)
{
	bool yes = false;

	if (!take_bool(y, node, "forget", &yes))
		return false;
	if (!yes)
		dcv_yin_error(y, node, "forget: must be true (a forget entry says nothing else)");
	return yes;
}

/* The forget entry of a log: version, id, forget; out gets the id only. */
static void parse_forget(struct dcv_yin *y, struct dcv_job_record *out)
{
	const struct dcv_yin_node *v[F_COUNT + 1];
	uint64_t version = 0;

	if (!dcv_yin_fields(y, y->root, "forget entry", forget_keys, v, NULL))
		return;
	require(y, y->root, "forget entry", forget_keys, v, F_COUNT);
	if (v[F_VERSION] != NULL && take_uint(y, v[F_VERSION], "version", UINT64_MAX, &version) &&
	    version != 1)
		dcv_yin_error(y, v[F_VERSION],
		              "version: this dcvd reads version 1 entries, not version %" PRIu64,
		              version);
	if (v[F_ID] != NULL)
		take_text(y, v[F_ID], "id", out->id, sizeof(out->id), id_problem);
	if (v[F_FORGET] != NULL)
		take_forget(y, v[F_FORGET]);
}

/* Whether the root mapping has the key "forget" (a forget entry, not a record). */
static bool has_forget_key(const struct dcv_yin_node *root)
{
	if (root == NULL || root->kind != DCV_YIN_MAP)
		return false;
	for (size_t i = 0; i + 1 < root->n_kids; i += 2)
		if (root->kids[i]->kind == DCV_YIN_SCALAR &&
		    strcmp(root->kids[i]->value, "forget") == 0)
			return true;
	return false;
}

/*
 * yin numbers lines from the start of buf; an entry of a log starts at
 * first_line of its file. Rewrites the "FILE:LINE:" of msg, and any "at
 * line N" after it (libyaml's context, yin's "first at line N"), so that
 * the lines are the file's.
 */
static void shift_line(const char *file, unsigned long first_line, const char *msg,
                       struct dcv_why *why)
{
	static const char at[] = "at line ";
	size_t n = strlen(file), used = 0, size = sizeof(why->text);
	const char *p = msg, *num = NULL;
	unsigned long line = 0;
	char *end = NULL;

	if (first_line <= 1 || strncmp(msg, file, n) != 0 || msg[n] != ':' || msg[n + 1] < '1' ||
	    msg[n + 1] > '9') {
		dcv_why_set(why, "%s", msg);
		return;
	}
	line = strtoul(msg + n + 1, &end, 10);
	used = (size_t)snprintf(why->text, size, "%s:%lu", file, line + first_line - 1);
	for (p = end; used < size && (num = strstr(p, at)) != NULL; p = end) {
		num += sizeof(at) - 1;
		if (*num < '0' || *num > '9') {
			used += (size_t)snprintf(why->text + used, size - used, "%.*s",
			                         (int)(num - p), p);
			end = (char *)num;
			continue;
		}
		line = strtoul(num, &end, 10);
		used += (size_t)snprintf(why->text + used, size - used, "%.*s%lu", (int)(num - p),
		                         p, line + first_line - 1);
	}
	if (used < size)
		snprintf(why->text + used, size - used, "%s", p);
}

/*
 * A record document, or (with forget_ok) a forget entry. The record path is
 * dcv_job_record_parse()'s; first_line shifts positions in messages.
 */
static int parse_document(const char *file, unsigned long first_line, const unsigned char *buf,
                          size_t len, bool forget_ok, struct dcv_job_record *out, bool *forget,
                          struct dcv_why *why)
{
	static const char end[] = DCV_JOBREC_END;
	const struct dcv_yin_node *v[K_COUNT + 1];
	struct dcv_strv errors = {NULL, 0, 0};
	struct dcv_yin_node at;
	struct dcv_why check, first;
	struct dcv_yin y;
	int rc = DCV_ESTATE;

	memset(out, 0, sizeof(*out));
	memset(&y, 0, sizeof(y));
	*forget = false;
	dcv_why_clear(why);
	if (len > DCV_JOB_FILE_MAX) {
		if (first_line > 1)
			dcv_why_set(why, "%s:%lu: larger than the limit of %d bytes", file,
			            first_line, DCV_JOB_FILE_MAX);
		else
			dcv_why_set(why, "%s: larger than the limit of %d bytes", file,
			            DCV_JOB_FILE_MAX);
		goto out;
	}
	rc = dcv_yin_parse(&y, file, buf, len, &errors);
	if (rc == DCV_ENOMEM)
		goto out;
	rc = DCV_ESTATE;
	if (y.n_errors > 0)
		goto out;
	if (len < sizeof(end) - 1 || memcmp(buf + len - (sizeof(end) - 1), end, sizeof(end) - 1)) {
		end_position(buf, len, &at);
		dcv_yin_error(&y, &at, "the record is cut short: it does not end with '...'");
		goto out;
	}
	if (y.root == NULL) {
		dcv_yin_error(&y, NULL, "the record is empty");
		goto out;
	}
	if (forget_ok && has_forget_key(y.root)) {
		*forget = true;
		parse_forget(&y, out);
		rc = DCV_OK;
		goto out;
	}
	if (!dcv_yin_fields(&y, y.root, "record", record_keys, v, NULL))
		goto out;
	require(&y, y.root, "record", record_keys, v, K_REQUIRED);
	parse_scalars(&y, v, out);
	if (parse_rrs(&y, v[K_RECORDS], out) < 0 || parse_names(&y, v[K_NAMES], out) < 0) {
		y.oom = true;
		goto out;
	}
	/* The field rules above are the check's; this catches any rule they missed. */
	if (y.n_errors == 0 && dcv_job_record_check(out, &check) < 0)
		dcv_yin_error(&y, y.root, "%s", check.text);
	rc = DCV_OK;
out:
	if (y.oom)
		rc = DCV_ENOMEM;
	else if (y.n_errors > 0)
		rc = DCV_ESTATE;
	if (rc == DCV_ESTATE && errors.n > 0) {
		shift_line(file, first_line, errors.v[0], &first);
		if (y.n_errors > 1)
			dcv_why_set(why, "%s (and %zu more problem%s)", first.text, y.n_errors - 1,
			            y.n_errors > 2 ? "s" : "");
		else
			dcv_why_set(why, "%s", first.text);
	} else if (rc == DCV_ENOMEM) {
		dcv_why_set(why, "%s: out of memory", file);
	}
	if (rc < 0) {
		dcv_job_record_free(out);
		*forget = false;
	}
	dcv_strv_free(&errors);
	dcv_yin_free(&y);
	return rc;
}

int dcv_job_record_parse(const char *file, const unsigned char *buf, size_t len,
                         struct dcv_job_record *out, struct dcv_why *why)
{
	bool forget = false;

	return parse_document(file, 1, buf, len, false, out, &forget, why);
}

int dcv_jobrec_entry_parse(const char *file, unsigned long first_line, const unsigned char *buf,
                           size_t len, struct dcv_job_record *out, bool *forget,
                           struct dcv_why *why)
{
	return parse_document(file, first_line, buf, len, true, out, forget, why);
}

int dcv_jobrec_forget_emit(const char *id, unsigned char **buf, size_t *len)
{
	struct yout y;
	int rc = DCV_EINVAL;

	*buf = NULL;
	*len = 0;
	memset(&y, 0, sizeof(y));
	if (dcv_jobrec_file_part_problem(id, DCV_JOB_ID_MAX) != NULL)
		goto out;
	/* Same first lines as a record: "---", "version: 1", "id: ..." written the same way. */
	yout_begin_mem(&y);
	yout_map(&y);
	yout_kv_uint(&y, "version", 1);
	yout_kv(&y, "id", id);
	yout_str(&y, "forget");
	yout_bool(&y, true);
	yout_end_map(&y);
	rc = DCV_ENOMEM;
	if (yout_end(&y) < 0)
		goto out;
	rc = take_document(&y, buf, len);
out:
	free(y.mem);
	return rc;
}
