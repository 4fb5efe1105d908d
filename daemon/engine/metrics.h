/*
 * metrics.h -- what dcvd counts for Prometheus, and the text it writes
 * for node_exporter's textfile collector (metrics_file: in the
 * configuration).
 *
 * The registry is plain data, counted on the loop thread by the engine.
 * dcv_metrics_format() turns it into the text exposition format (0.0.4):
 * a pure function, so that the format is tested without a daemon. The
 * writer (dcv_metrics_writer_*) formats on the loop thread (a few
 * kilobytes, no system call) and hands the text to the thread pool, which
 * writes a temporary file in the same folder, fsyncs it and renames it over
 * metrics_file: a collector never reads half a file. The temporary name
 * begins with a dot and ends in .tmp, never .prom, so that the collector,
 * which reads only *.prom, never takes it.
 *
 * Families (HELP and TYPE for each; counters end in _total):
 *   dcvd_up, dcvd_start_time_seconds, dcvd_build_info{version}
 *   dcvd_jobs{state}                      gauge: jobs known to this run
 *   dcvd_jobs_finished_total{result}      visible, withdrawn, failed
 *   dcvd_job_visible_seconds              histogram: received -> visible
 *   dcvd_updates_total{server,op,rcode}   per primary address and UPDATE
 *   dcvd_queries_total{server,role,outcome}  per probe observation
 *   dcvd_spool_refused_total, dcvd_store_errors_total
 *
 * Label cardinality is bounded: label values are addresses from the
 * configuration or the zones' NS sets, and fixed words -- never a job, a
 * name or a domain -- and a labelled family holds at most
 * DCV_METRICS_SERIES_MAX series; what comes after is counted under
 * server="other".
 *
 * Ownership: the registry owns its label strings; the caller owns the
 * registry (dcv_metrics_init / dcv_metrics_free). Errors: DCV_ENOMEM.
 */
#ifndef DCV_METRICS_H
#define DCV_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "store.h"

#define DCV_METRICS_SERIES_MAX 512
#define DCV_METRICS_LABELS_MAX 3
#define DCV_METRICS_BUCKETS 15

enum dcv_metrics_result {
	DCV_METRICS_VISIBLE,
	DCV_METRICS_WITHDRAWN,
	DCV_METRICS_FAILED,
	DCV_METRICS_RESULT_COUNT
};

struct dcv_metrics_series {
	char *labels[DCV_METRICS_LABELS_MAX]; /* values, in the family's label order */
	uint64_t value;
};

/* A counter with labels: its series, in the order they first appeared. */
struct dcv_metrics_family {
	struct dcv_metrics_series *series;
	size_t n, cap;
};

struct dcv_metrics {
	bool up;           /* false in the last file written at a stop */
	double start_time; /* unix seconds */
	const char *version;
	uint64_t jobs[DCV_JOB_STATE_COUNT];
	uint64_t finished[DCV_METRICS_RESULT_COUNT];
	/* received -> visible: counts per bucket (not cumulative), +Inf last */
	uint64_t visible_buckets[DCV_METRICS_BUCKETS + 1];
	double visible_sum;
	uint64_t visible_count;
	struct dcv_metrics_family updates; /* server, op, rcode */
	struct dcv_metrics_family queries; /* server, role, outcome */
	uint64_t spool_refused;
	uint64_t store_errors;
};

/* The histogram's upper bounds, in seconds (0.05 .. 3600). */
extern const double dcv_metrics_buckets[DCV_METRICS_BUCKETS];

void dcv_metrics_init(struct dcv_metrics *m, double start_time, const char *version);
void dcv_metrics_free(struct dcv_metrics *m);

/* A job went from one state to another (DCV_JOB_STATE_COUNT: none, as at a start). */
void dcv_metrics_job_moved(struct dcv_metrics *m, enum dcv_job_state from, enum dcv_job_state to);
void dcv_metrics_visible_after(struct dcv_metrics *m, double seconds);
/*
 * One more in the series of family with these label values (n of them,
 * as the family has). A family full at DCV_METRICS_SERIES_MAX counts
 * under "other" for the first label. DCV_ENOMEM (then nothing counted).
 */
int dcv_metrics_count(struct dcv_metrics_family *f, const char *const *labels, size_t n);

/* The rcode label of an UPDATE outcome's status: "NOERROR", "REFUSED", "timeout", ... */
const char *dcv_metrics_update_rcode(int status);
/*
 * The outcome label of a probe observation, from its text (probe.h
 * struct dcv_probe_obs seen): "answer", "nodata", "nxdomain", "referral",
 * "refused", "servfail", "rcode", "timeout", "malformed", "error"; NULL
 * for an observation that was no query (remembered from an earlier round,
 * or not sent).
 */
const char *dcv_metrics_query_outcome(const char *seen);

/*
 * The text exposition format of m, into *text (malloc'd, NUL-terminated,
 * *len bytes without the NUL). Label values are escaped as the format
 * wants (backslash, double quote, line feed), and a byte that is not
 * printable UTF-8 is written as the text \xNN. DCV_ENOMEM.
 */
int dcv_metrics_format(const struct dcv_metrics *m, char **text, size_t *len);

/* --- the writer ------------------------------------------------------------ */

struct dcv_metrics_writer;

/*
 * Writes m to path every DCV_METRICS_PERIOD_MS and, after dcv_metrics_
 * writer_touch(), within DCV_METRICS_COALESCE_MS of the previous write (a
 * burst of changes costs one write a second). m must outlive the writer.
 * A write that fails is logged once (and once again when it works again).
 * NULL without memory.
 */
#define DCV_METRICS_PERIOD_MS 10000
#define DCV_METRICS_COALESCE_MS 1000
struct dcv_metrics_writer *dcv_metrics_writer_new(uv_loop_t *loop, const char *path,
                                                  const struct dcv_metrics *m);
/* Something changed: write soon. */
void dcv_metrics_writer_touch(struct dcv_metrics_writer *w);
/* Writes to another path from the next write on (a reload). DCV_ENOMEM. */
int dcv_metrics_writer_path(struct dcv_metrics_writer *w, const char *path);
/*
 * Writes one last time (m as it is now, formatted during the call: set
 * up = false before for a stop; m is not read after the call returns),
 * waits for that write and any in flight, then closed(arg) and the writer
 * is freed. closed may be NULL.
 */
void dcv_metrics_writer_close(struct dcv_metrics_writer *w, void (*closed)(void *arg), void *arg);

#endif
