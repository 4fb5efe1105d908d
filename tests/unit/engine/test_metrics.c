/*
 * test_metrics.c -- the Prometheus text of metrics.h: families with HELP
 * and TYPE, escaped label values, cumulative histogram buckets, bounded
 * series; and the writer: the file appears whole, no temporary file stays.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "testutil.h"

static char *format(const struct dcv_metrics *m)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(dcv_metrics_format(m, &text, &len), DCV_OK);
	assert_int_equal(strlen(text), len);
	return text;
}

/* Whether text holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void test_families(void **state)
{
	struct dcv_metrics m;
	char *text = NULL;
	const char *upd[] = {"127.0.0.1@53", "add", "NOERROR"};

	(void)state;
	dcv_metrics_init(&m, 1700000000.5, "1.2.3");
	dcv_metrics_job_moved(&m, DCV_JOB_STATE_COUNT, DCV_JOB_RECEIVED);
	dcv_metrics_job_moved(&m, DCV_JOB_RECEIVED, DCV_JOB_PUBLISHING);
	dcv_metrics_job_moved(&m, DCV_JOB_PUBLISHING, DCV_JOB_PUBLISHED);
	dcv_metrics_job_moved(&m, DCV_JOB_PUBLISHED, DCV_JOB_VISIBLE);
	/* Loaded at start: a gauge, not a finish. */
	dcv_metrics_job_moved(&m, DCV_JOB_STATE_COUNT, DCV_JOB_FAILED);
	assert_int_equal(dcv_metrics_count(&m.updates, upd, 3), DCV_OK);
	assert_int_equal(dcv_metrics_count(&m.updates, upd, 3), DCV_OK);
	m.spool_refused = 2;
	m.store_errors = 3;
	text = format(&m);
	assert_true(has_line(text, "# TYPE dcvd_up gauge"));
	assert_true(has_line(text, "dcvd_up 1"));
	assert_true(has_line(text, "dcvd_start_time_seconds 1700000000.500"));
	assert_true(has_line(text, "dcvd_build_info{version=\"1.2.3\"} 1"));
	assert_true(has_line(text, "# TYPE dcvd_jobs gauge"));
	assert_true(has_line(text, "dcvd_jobs{state=\"visible\"} 1"));
	assert_true(has_line(text, "dcvd_jobs{state=\"received\"} 0"));
	assert_true(has_line(text, "dcvd_jobs{state=\"failed\"} 1"));
	assert_true(has_line(text, "# TYPE dcvd_jobs_finished_total counter"));
	assert_true(has_line(text, "dcvd_jobs_finished_total{result=\"visible\"} 1"));
	assert_true(has_line(text, "dcvd_jobs_finished_total{result=\"failed\"} 0"));
	assert_true(has_line(
	    text, "dcvd_updates_total{server=\"127.0.0.1@53\",op=\"add\",rcode=\"NOERROR\"} 2"));
	assert_true(has_line(text, "dcvd_spool_refused_total 2"));
	assert_true(has_line(text, "dcvd_store_errors_total 3"));
	/* Every family has its HELP right before its TYPE. */
	for (const char *p = text; (p = strstr(p, "# TYPE ")) != NULL; p++) {
		char name[80];
		char help[100];
		assert_int_equal(sscanf(p, "# TYPE %79s", name), 1);
		snprintf(help, sizeof(help), "# HELP %s ", name);
		assert_non_null(strstr(text, help));
		assert_true(strstr(text, help) < p);
	}
	free(text);
	m.up = false;
	text = format(&m);
	assert_true(has_line(text, "dcvd_up 0"));
	free(text);
	dcv_metrics_free(&m);
}

static void test_histogram(void **state)
{
	struct dcv_metrics m;
	char *text = NULL;

	(void)state;
	dcv_metrics_init(&m, 0, "x");
	dcv_metrics_visible_after(&m, 0.01); /* first bucket */
	dcv_metrics_visible_after(&m, 0.05); /* le is inclusive */
	dcv_metrics_visible_after(&m, 0.3);
	dcv_metrics_visible_after(&m, 7200); /* +Inf only */
	text = format(&m);
	assert_true(has_line(text, "# TYPE dcvd_job_visible_seconds histogram"));
	assert_true(has_line(text, "dcvd_job_visible_seconds_bucket{le=\"0.05\"} 2"));
	assert_true(has_line(text, "dcvd_job_visible_seconds_bucket{le=\"0.25\"} 2"));
	assert_true(has_line(text, "dcvd_job_visible_seconds_bucket{le=\"0.5\"} 3"));
	assert_true(has_line(text, "dcvd_job_visible_seconds_bucket{le=\"3600\"} 3"));
	assert_true(has_line(text, "dcvd_job_visible_seconds_bucket{le=\"+Inf\"} 4"));
	assert_true(has_line(text, "dcvd_job_visible_seconds_count 4"));
	assert_true(has_line(text, "dcvd_job_visible_seconds_sum 7200.360000"));
	free(text);
	dcv_metrics_free(&m);
}

static void test_label_escaping(void **state)
{
	struct dcv_metrics m;
	char *text = NULL;
	const char *odd[] = {"a\\b\"c\nd\x01\xff\xc3\xa9", "resolver", "answer"};

	(void)state;
	dcv_metrics_init(&m, 0, "v\"1");
	assert_int_equal(dcv_metrics_count(&m.queries, odd, 3), DCV_OK);
	text = format(&m);
	/* \\ \" \n as the format says; control and broken bytes as the text \xNN; UTF-8 kept. */
	assert_true(has_line(text,
	                     "dcvd_queries_total{server=\"a\\\\b\\\"c\\nd\\\\x01\\\\xff\xc3\xa9\","
	                     "role=\"resolver\",outcome=\"answer\"} 1"));
	assert_true(has_line(text, "dcvd_build_info{version=\"v\\\"1\"} 1"));
	free(text);
	dcv_metrics_free(&m);
}

static void test_series_bounded(void **state)
{
	struct dcv_metrics m;
	char server[32];
	char *text = NULL;

	(void)state;
	dcv_metrics_init(&m, 0, "x");
	for (int i = 0; i < DCV_METRICS_SERIES_MAX + 10; i++) {
		const char *labels[] = {server, "authoritative", "timeout"};
		snprintf(server, sizeof(server), "10.0.%d.%d@53", i / 256, i % 256);
		assert_int_equal(dcv_metrics_count(&m.queries, labels, 3), DCV_OK);
	}
	assert_int_equal(m.queries.n, DCV_METRICS_SERIES_MAX + 1);
	text = format(&m);
	assert_true(has_line(
	    text,
	    "dcvd_queries_total{server=\"other\",role=\"authoritative\",outcome=\"timeout\"} 10"));
	free(text);
	dcv_metrics_free(&m);
}

static void test_outcomes(void **state)
{
	(void)state;
	assert_string_equal(dcv_metrics_query_outcome("CNAME x.sectigo.com."), "answer");
	assert_string_equal(dcv_metrics_query_outcome("NXDOMAIN"), "nxdomain");
	assert_string_equal(dcv_metrics_query_outcome("no record at any candidate (last: x.)"),
	                    "nxdomain");
	assert_string_equal(dcv_metrics_query_outcome("no CNAME (NODATA)"), "nodata");
	assert_string_equal(dcv_metrics_query_outcome("REFUSED"), "refused");
	assert_string_equal(dcv_metrics_query_outcome("SERVFAIL"), "servfail");
	assert_string_equal(dcv_metrics_query_outcome("FORMERR"), "rcode");
	assert_string_equal(dcv_metrics_query_outcome("timed out"), "timeout");
	assert_string_equal(dcv_metrics_query_outcome("malformed reply"), "malformed");
	assert_string_equal(dcv_metrics_query_outcome("connection refused"), "error");
	assert_null(dcv_metrics_query_outcome("as expected (earlier round)"));
	assert_null(dcv_metrics_query_outcome("not asked: out of memory"));
	assert_string_equal(dcv_metrics_update_rcode(DCV_OK), "NOERROR");
	assert_string_equal(dcv_metrics_update_rcode(DCV_EREFUSED), "REFUSED");
	assert_string_equal(dcv_metrics_update_rcode(DCV_ETIMEOUT), "timeout");
}

/* --- the writer ----------------------------------------------------------------- */

static void on_closed(void *arg)
{
	*(bool *)arg = true;
}

static void test_writer(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX";
	char path[100], *want = NULL, got[8192];
	struct dcv_metrics m;
	struct dcv_metrics_writer *w = NULL;
	uv_loop_t loop;
	bool closed = false;
	struct stat st;
	FILE *f = NULL;
	size_t n = 0, len = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dcvd.prom", dir);
	uv_loop_init(&loop);
	dcv_metrics_init(&m, 5, "x");
	w = dcv_metrics_writer_new(&loop, path, &m);
	assert_non_null(w);
	/* The first write starts at once; run until it is there. */
	while (stat(path, &st) != 0)
		uv_run(&loop, UV_RUN_ONCE);
	m.spool_refused = 7;
	m.up = false;
	dcv_metrics_writer_touch(w);
	dcv_metrics_writer_close(w, on_closed, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	/* The last write is what the file holds, whole; nothing else is left. */
	assert_int_equal(dcv_metrics_format(&m, &want, &len), DCV_OK);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	fclose(f);
	got[n] = '\0';
	assert_string_equal(got, want);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(tu_count_entries(dir), 1);
	free(want);
	dcv_metrics_free(&m);
	unlink(path);
	rmdir(dir);
}

/* A close while a write runs: the last file is the registry at the close, read no later. */
static void test_writer_close_in_flight(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX";
	char path[100], got[8192];
	struct dcv_metrics m;
	struct dcv_metrics_writer *w = NULL;
	uv_loop_t loop;
	bool closed = false;
	FILE *f = NULL;
	size_t n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dcvd.prom", dir);
	uv_loop_init(&loop);
	dcv_metrics_init(&m, 5, "x");
	w = dcv_metrics_writer_new(&loop, path, &m);
	assert_non_null(w);
	/* The first write goes to the pool; its completion needs another turn of the loop. */
	uv_run(&loop, UV_RUN_NOWAIT);
	m.store_errors = 7;
	dcv_metrics_writer_close(w, on_closed, &closed);
	m.store_errors = 99; /* after the close: never written */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	fclose(f);
	got[n] = '\0';
	assert_true(has_line(got, "dcvd_store_errors_total 7"));
	assert_int_equal(tu_count_entries(dir), 1);
	dcv_metrics_free(&m);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_families),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_label_escaping),
	    cmocka_unit_test(test_series_bounded),
	    cmocka_unit_test(test_outcomes),
	    cmocka_unit_test(test_writer),
	    cmocka_unit_test(test_writer_close_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
