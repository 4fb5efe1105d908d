/*
 * metrics.c -- the registry and the text exposition format (metrics.h).
 * Pure: no system call, no clock; the writer is in metrics_writer.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcv/err.h"
#include "metrics.h"
#include "util.h"

const double dcv_metrics_buckets[DCV_METRICS_BUCKETS] = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
};

static const char *const metrics_result_names[DCV_METRICS_RESULT_COUNT] = {
    [DCV_METRICS_VISIBLE] = "visible",
    [DCV_METRICS_WITHDRAWN] = "withdrawn",
    [DCV_METRICS_FAILED] = "failed",
};

void dcv_metrics_init(struct dcv_metrics *m, double start_time, const char *version)
{
	memset(m, 0, sizeof(*m));
	m->up = true;
	m->start_time = start_time;
	m->version = version;
}

static void metrics_family_free(struct dcv_metrics_family *f)
{
	for (size_t i = 0; i < f->n; i++)
		for (size_t k = 0; k < DCV_METRICS_LABELS_MAX; k++)
			free(f->series[i].labels[k]);
	free(f->series);
	f->series = NULL;
	f->n = f->cap = 0;
}

void dcv_metrics_free(struct dcv_metrics *m)
{
	metrics_family_free(&m->updates);
	metrics_family_free(&m->queries);
}

/* --- counting --------------------------------------------------------------- */

void dcv_metrics_job_moved(struct dcv_metrics *m, enum dcv_job_state from, enum dcv_job_state to)
{
	if (from < DCV_JOB_STATE_COUNT && m->jobs[from] > 0)
		m->jobs[from]--;
	if (to < DCV_JOB_STATE_COUNT)
		m->jobs[to]++;
	/* A job loaded at start (from none) did not finish in this run. */
	if (from >= DCV_JOB_STATE_COUNT || from == to)
		return;
	if (to == DCV_JOB_VISIBLE)
		m->finished[DCV_METRICS_VISIBLE]++;
	else if (to == DCV_JOB_WITHDRAWN)
		m->finished[DCV_METRICS_WITHDRAWN]++;
	else if (to == DCV_JOB_FAILED)
		m->finished[DCV_METRICS_FAILED]++;
}

void dcv_metrics_visible_after(struct dcv_metrics *m, double seconds)
{
	size_t b = 0;

	if (seconds < 0)
		seconds = 0;
	while (b < DCV_METRICS_BUCKETS && seconds > dcv_metrics_buckets[b])
		b++;
	m->visible_buckets[b]++;
	m->visible_sum += seconds;
	m->visible_count++;
}

static bool metrics_series_is(const struct dcv_metrics_series *s, const char *const *labels,
                              size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(s->labels[k], labels[k]) != 0)
			return false;
	return true;
}

int dcv_metrics_count(struct dcv_metrics_family *f, const char *const *labels, size_t n)
{
	const char *other[DCV_METRICS_LABELS_MAX];
	struct dcv_metrics_series *s = NULL;
	int rc = DCV_ENOMEM;

	if (n > DCV_METRICS_LABELS_MAX)
		n = DCV_METRICS_LABELS_MAX;
	/* Newest first: a burst counts at the same few servers over and over. */
	for (size_t i = f->n; i-- > 0;) {
		if (metrics_series_is(&f->series[i], labels, n)) {
			f->series[i].value++;
			return DCV_OK;
		}
	}
	if (f->n >= DCV_METRICS_SERIES_MAX && n > 0 && strcmp(labels[0], "other") != 0) {
		memcpy(other, labels, n * sizeof(*other));
		other[0] = "other";
		return dcv_metrics_count(f, other, n);
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct dcv_metrics_series *grown = realloc(f->series, cap * sizeof(*grown));
		if (grown == NULL)
			goto out;
		f->series = grown;
		f->cap = cap;
	}
	s = &f->series[f->n];
	memset(s, 0, sizeof(*s));
	for (size_t k = 0; k < n; k++) {
		if ((s->labels[k] = strdup(labels[k])) == NULL) {
			for (size_t j = 0; j < k; j++)
				free(s->labels[j]);
			goto out;
		}
	}
	s->value = 1;
	f->n++;
	rc = DCV_OK;
out:
	return rc;
}

const char *dcv_metrics_update_rcode(int status)
{
	switch (status) {
	case DCV_OK:
	case DCV_ECONFLICT: /* the message was applied; a record met another CNAME */
		return "NOERROR";
	case DCV_EREFUSED:
		return "REFUSED";
	case DCV_ENOTAUTH:
		return "NOTAUTH";
	case DCV_ENOTZONE:
		return "NOTZONE";
	case DCV_ESERVFAIL:
		return "SERVFAIL";
	case DCV_EBADSIG:
		return "BADSIG";
	case DCV_EBADKEY:
		return "BADKEY";
	case DCV_EBADTIME:
		return "BADTIME";
	case DCV_ENOTREADY:
		return "notready";
	case DCV_ERCODE:
		return "rcode";
	case DCV_ETIMEOUT:
		return "timeout";
	case DCV_ENET:
		return "network";
	case DCV_ETSIG:
		return "tsig";
	case DCV_EREPLY:
		return "malformed";
	case DCV_ENOTSERVED:
		return "notserved";
	case DCV_ECANCELED:
		return "canceled";
	default:
		return "error";
	}
}

static bool metrics_starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *dcv_metrics_query_outcome(const char *seen)
{
	if (metrics_starts(seen, "as expected") || metrics_starts(seen, "not asked"))
		return NULL;
	if (metrics_starts(seen, "CNAME "))
		return "answer";
	if (metrics_starts(seen, "no CNAME"))
		return "nodata";
	if (metrics_starts(seen, "NXDOMAIN") || metrics_starts(seen, "no record at any"))
		return "nxdomain";
	if (metrics_starts(seen, "not authoritative"))
		return "referral";
	if (strcmp(seen, "REFUSED") == 0)
		return "refused";
	if (strcmp(seen, "SERVFAIL") == 0)
		return "servfail";
	if (metrics_starts(seen, "timed out"))
		return "timeout";
	if (metrics_starts(seen, "malformed"))
		return "malformed";
	/* Another rcode by its name (all capitals), or a network error's text. */
	for (const char *p = seen; *p != '\0'; p++)
		if (!(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9'))
			return "error";
	return seen[0] != '\0' ? "rcode" : "error";
}

/* --- the text format ------------------------------------------------------------ */

struct metrics_buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void metrics_put(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void metrics_put(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len)
			break;
		size_t cap = b->cap * 2 + (size_t)n;
		char *grown = realloc(b->p, cap);
		if (grown == NULL) {
			b->failed = true;
			return;
		}
		b->p = grown;
		b->cap = cap;
	}
	b->len += (size_t)n;
}

/*
 * A label value as the format wants it: \\, \" and \n escaped; a byte
 * that is not printable UTF-8 written as the text \xNN (its backslash
 * escaped too), so that the file stays valid UTF-8 whatever a value holds.
 */
static void metrics_put_label(struct metrics_buf *b, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t len = strlen(v);

	for (size_t i = 0; i < len;) {
		size_t n = dcv_utf8_printable_len(s + i, len - i);
		if (s[i] == '\\' || s[i] == '"') {
			metrics_put(b, "\\%c", s[i]);
			i++;
		} else if (s[i] == '\n') {
			metrics_put(b, "\\n");
			i++;
		} else if (n == 0) {
			metrics_put(b, "\\\\x%02x", s[i]);
			i++;
		} else {
			metrics_put(b, "%.*s", (int)n, (const char *)s + i);
			i += n;
		}
	}
}

static void metrics_head(struct metrics_buf *b, const char *name, const char *type,
                         const char *help)
{
	metrics_put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_family_put(struct metrics_buf *b, const char *name,
                               const struct dcv_metrics_family *f, const char *const *label_names,
                               size_t n_labels)
{
	for (size_t i = 0; i < f->n; i++) {
		metrics_put(b, "%s{", name);
		for (size_t k = 0; k < n_labels; k++) {
			metrics_put(b, "%s%s=\"", k ? "," : "", label_names[k]);
			metrics_put_label(b, f->series[i].labels[k]);
			metrics_put(b, "\"");
		}
		metrics_put(b, "} %llu\n", (unsigned long long)f->series[i].value);
	}
}

static void metrics_histogram_put(struct metrics_buf *b, const struct dcv_metrics *m)
{
	const char *name = "dcvd_job_visible_seconds";
	uint64_t cumulative = 0;

	metrics_head(b, name, "histogram",
	             "Time from a CSR's claim to its records visible everywhere, in seconds.");
	for (size_t i = 0; i < DCV_METRICS_BUCKETS; i++) {
		cumulative += m->visible_buckets[i];
		metrics_put(b, "%s_bucket{le=\"%g\"} %llu\n", name, dcv_metrics_buckets[i],
		            (unsigned long long)cumulative);
	}
	cumulative += m->visible_buckets[DCV_METRICS_BUCKETS];
	metrics_put(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
	metrics_put(b, "%s_sum %.6f\n%s_count %llu\n", name, m->visible_sum, name,
	            (unsigned long long)m->visible_count);
}

int dcv_metrics_format(const struct dcv_metrics *m, char **text, size_t *len)
{
	static const char *const update_labels[] = {"server", "op", "rcode"};
	static const char *const query_labels[] = {"server", "role", "outcome"};
	struct metrics_buf b = {malloc(4096), 0, 4096, false};
	int rc = DCV_ENOMEM;

	*text = NULL;
	*len = 0;
	if (b.p == NULL)
		goto out;
	b.p[0] = '\0';
	metrics_head(&b, "dcvd_up", "gauge",
	             "1 while dcvd runs; 0 in the file it leaves at a stop.");
	metrics_put(&b, "dcvd_up %d\n", m->up ? 1 : 0);
	metrics_head(&b, "dcvd_start_time_seconds", "gauge",
	             "When this dcvd started, in seconds since the epoch.");
	metrics_put(&b, "dcvd_start_time_seconds %.3f\n", m->start_time);
	metrics_head(&b, "dcvd_build_info", "gauge", "Always 1; the version is its label.");
	metrics_put(&b, "dcvd_build_info{version=\"");
	metrics_put_label(&b, m->version != NULL ? m->version : "");
	metrics_put(&b, "\"} 1\n");
	metrics_head(&b, "dcvd_jobs", "gauge",
	             "Jobs this dcvd knows (loaded at its start or received since), by state.");
	for (int s = 0; s < DCV_JOB_STATE_COUNT; s++)
		metrics_put(&b, "dcvd_jobs{state=\"%s\"} %llu\n",
		            dcv_job_state_name((enum dcv_job_state)s),
		            (unsigned long long)m->jobs[s]);
	metrics_head(&b, "dcvd_jobs_finished_total", "counter",
	             "Jobs that became visible, withdrawn or failed since the start (a job "
	             "counts as visible, then again when withdrawn).");
	for (int r = 0; r < DCV_METRICS_RESULT_COUNT; r++)
		metrics_put(&b, "dcvd_jobs_finished_total{result=\"%s\"} %llu\n",
		            metrics_result_names[r], (unsigned long long)m->finished[r]);
	metrics_histogram_put(&b, m);
	metrics_head(&b, "dcvd_updates_total", "counter",
	             "RFC 2136 UPDATEs, one per zone batch and primary address, by operation "
	             "and final outcome (the rcode, or timeout, network, tsig, ...).");
	metrics_family_put(&b, "dcvd_updates_total", &m->updates, update_labels, 3);
	metrics_head(&b, "dcvd_queries_total", "counter",
	             "Probe answers by server address, role (authoritative or resolver) and "
	             "outcome; a resolver's walk over the candidates counts once.");
	metrics_family_put(&b, "dcvd_queries_total", &m->queries, query_labels, 3);
	metrics_head(&b, "dcvd_spool_refused_total", "counter",
	             "Spool entries refused (not a CSR, unreadable, too large, ...).");
	metrics_put(&b, "dcvd_spool_refused_total %llu\n", (unsigned long long)m->spool_refused);
	metrics_head(&b, "dcvd_store_errors_total", "counter",
	             "Job store failures: batches not saved (retried), records refused, files "
	             "not moved, records not loaded at start.");
	metrics_put(&b, "dcvd_store_errors_total %llu\n", (unsigned long long)m->store_errors);
	if (b.failed)
		goto out;
	*text = b.p;
	*len = b.len;
	b.p = NULL;
	rc = DCV_OK;
out:
	free(b.p);
	return rc;
}
