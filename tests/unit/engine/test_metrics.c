/*
 * test_metrics.c -- the Prometheus text of metrics.h: families with HELP
 * and TYPE, escaped label values, cumulative histogram buckets, bounded
 * series; and the writer: the file appears whole, no temporary file stays.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
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

/* Every update outcome has its label: the rcodes by name, the rest in words. */
static void test_update_rcodes(void **state)
{
	static const struct {
		int status;
		const char *label;
	} cases[] = {
	    {DCV_OK, "NOERROR"},         {DCV_ECONFLICT, "NOERROR"},
	    {DCV_EREFUSED, "REFUSED"},   {DCV_ENOTAUTH, "NOTAUTH"},
	    {DCV_ENOTZONE, "NOTZONE"},   {DCV_ESERVFAIL, "SERVFAIL"},
	    {DCV_EBADSIG, "BADSIG"},     {DCV_EBADKEY, "BADKEY"},
	    {DCV_EBADTIME, "BADTIME"},   {DCV_ENOTREADY, "notready"},
	    {DCV_ERCODE, "rcode"},       {DCV_ETIMEOUT, "timeout"},
	    {DCV_ENET, "network"},       {DCV_ETSIG, "tsig"},
	    {DCV_EREPLY, "malformed"},   {DCV_ENOTSERVED, "notserved"},
	    {DCV_ECANCELED, "canceled"}, {DCV_ENOMEM, "error"},
	    {DCV_EIO, "error"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(dcv_metrics_update_rcode(cases[i].status), cases[i].label);
	assert_string_equal(dcv_metrics_query_outcome("not authoritative (referral to x.)"),
	                    "referral");
	assert_string_equal(dcv_metrics_query_outcome("NOTIMP"), "rcode");
	assert_string_equal(dcv_metrics_query_outcome("RCODE23"), "rcode");
	assert_string_equal(dcv_metrics_query_outcome(""), "error");
	assert_string_equal(dcv_metrics_query_outcome("Refused"), "error");
}

/*
 * Every family with values in it, and the odd inputs of the counters: a
 * negative time, a move to the same state, a gauge already at 0, more
 * label values than the family has, no version. promtool (the prometheus
 * package) is the oracle for the text as a whole.
 */
static void test_every_family(void **state)
{
	const char *upd[] = {"192.0.2.1@53", "add", "NOERROR", "ignored"};
	const char *qry[] = {"192.0.2.2@53", "authoritative", "answer"};
	char dir[] = "/tmp/test_metrics.XXXXXX", path[64];
	struct dcv_metrics m;
	char *text = NULL;
	FILE *f = NULL;

	(void)state;
	dcv_metrics_init(&m, 1700000000, NULL);
	dcv_metrics_visible_after(&m, -5); /* a clock that went back: 0 */
	dcv_metrics_job_moved(&m, DCV_JOB_VISIBLE, DCV_JOB_WITHDRAWING); /* the gauge stays at 0 */
	dcv_metrics_job_moved(&m, DCV_JOB_WITHDRAWING, DCV_JOB_WITHDRAWN);
	dcv_metrics_job_moved(&m, DCV_JOB_PUBLISHING, DCV_JOB_FAILED);
	dcv_metrics_job_moved(&m, DCV_JOB_FAILED, DCV_JOB_FAILED);      /* no second finish */
	dcv_metrics_job_moved(&m, DCV_JOB_FAILED, DCV_JOB_STATE_COUNT); /* gone: none */
	assert_int_equal(dcv_metrics_count(&m.updates, upd, 4), DCV_OK);
	assert_int_equal(dcv_metrics_count(&m.queries, qry, 3), DCV_OK);
	m.spool_refused = 1;
	m.store_errors = 1;
	text = format(&m);
	assert_true(has_line(text, "dcvd_build_info{version=\"\"} 1"));
	assert_true(has_line(text, "dcvd_job_visible_seconds_bucket{le=\"0.05\"} 1"));
	assert_true(has_line(text, "dcvd_job_visible_seconds_sum 0.000000"));
	assert_true(has_line(text, "dcvd_jobs{state=\"withdrawing\"} 0"));
	assert_true(has_line(text, "dcvd_jobs{state=\"withdrawn\"} 1"));
	assert_true(has_line(text, "dcvd_jobs{state=\"failed\"} 0"));
	assert_true(has_line(text, "dcvd_jobs_finished_total{result=\"withdrawn\"} 1"));
	assert_true(has_line(text, "dcvd_jobs_finished_total{result=\"failed\"} 1"));
	assert_true(has_line(
	    text, "dcvd_updates_total{server=\"192.0.2.1@53\",op=\"add\",rcode=\"NOERROR\"} 1"));
	assert_true(has_line(text,
	                     "dcvd_queries_total{server=\"192.0.2.2@53\",role=\"authoritative\","
	                     "outcome=\"answer\"} 1"));
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dcvd.prom", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	/* promtool says nothing and exits 0 for a clean file. */
	assert_string_equal(tu_run_line("promtool check metrics < '%s' 2>&1; echo rc=$?", path),
	                    "rc=0");
	tu_run("rm -rf '%s'", dir);
	free(text);
	dcv_metrics_free(&m);
}

/* --- the writer ----------------------------------------------------------------- */

static int saved_stderr = -1;
static char logpath[64];

/* log.c writes to stderr: into a file for the test, read back with log_text(). */
static void log_capture(const char *dir)
{
	int fd = -1;

	snprintf(logpath, sizeof(logpath), "%s.log", dir);
	dcv_log_init("test_metrics", DCV_LOG_DEBUG);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	assert_true(saved_stderr >= 0 && fd >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

/* The log so far, in a static buffer (and stderr back when done). */
static const char *log_text(bool done)
{
	static char buf[16384];
	FILE *f = fopen(logpath, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	if (done) {
		fflush(stderr);
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		unlink(logpath);
	}
	return buf;
}

/* How many times needle is in haystack. */
static int count_of(const char *haystack, const char *needle)
{
	int n = 0;

	for (const char *p = haystack; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

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

/* Runs the loop until the log holds text (or 5 s pass). */
static bool run_until_logged(uv_loop_t *loop, const char *text)
{
	for (int i = 0; i < 500; i++) {
		if (strstr(log_text(false), text) != NULL)
			return true;
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	return false;
}

/*
 * A folder that is missing, then made: the failure is logged once (not at
 * each retry), and once more when the file is written again; a directory
 * at the name: the rename fails and no temporary stays; a name too long.
 */
static void test_writer_failures(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX";
	char path[128], sub[100], want[256];
	struct dcv_metrics m;
	struct dcv_metrics_writer *w = NULL;
	uv_loop_t loop;
	bool closed = false;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(path, sizeof(path), "%s/dcvd.prom", sub);
	uv_loop_init(&loop);
	log_capture(dir);
	dcv_metrics_init(&m, 5, "x");
	w = dcv_metrics_writer_new(&loop, path, &m);
	assert_non_null(w);
	snprintf(want, sizeof(want),
	         "metrics_file %s: cannot create it: No such file or directory; trying again at "
	         "each write",
	         path);
	assert_true(run_until_logged(&loop, want));
	/* Touched twice in one turn: one more write (failing again, not logged again). */
	dcv_metrics_writer_touch(w);
	dcv_metrics_writer_touch(w);
	dcv_metrics_writer_touch(NULL);
	for (int i = 0; i < 150; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	assert_int_equal(count_of(log_text(false), "cannot create it"), 1);
	assert_int_equal(mkdir(sub, 0755), 0);
	dcv_metrics_writer_touch(w);
	snprintf(want, sizeof(want), "metrics_file %s: written again", path);
	assert_true(run_until_logged(&loop, want));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(tu_count_entries(sub), 1);
	/* The same path: nothing to do. Another: a directory with a file in it. */
	assert_int_equal(dcv_metrics_writer_path(w, path), DCV_OK);
	snprintf(path, sizeof(path), "%s/taken.prom", sub);
	tu_run("mkdir '%s' && touch '%s/x'", path, path);
	assert_int_equal(dcv_metrics_writer_path(w, path), DCV_OK);
	snprintf(want, sizeof(want),
	         "metrics_file %s: cannot rename it: Is a directory; trying again at each write",
	         path);
	assert_true(run_until_logged(&loop, want));
	assert_int_equal(tu_count_entries(sub), 2); /* dcvd.prom and taken.prom: no temporary */
	/* Back to dcvd.prom, which is written again. */
	snprintf(path, sizeof(path), "%s/dcvd.prom", sub);
	assert_int_equal(dcv_metrics_writer_path(w, path), DCV_OK);
	dcv_metrics_writer_close(w, on_closed, &closed);
	dcv_metrics_writer_close(w, on_closed, &closed); /* twice: nothing more */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(count_of(log_text(false), "written again"), 2);
	log_text(true);
	dcv_metrics_free(&m);
	tu_run("rm -rf '%s'", dir);
}

/*
 * A path so long that the temporary's name cannot be made (config.c puts
 * no limit on it): the failure is logged once and the writer goes on and
 * closes. The log line itself is cut at log.c's 2 KiB, path and all.
 */
static void test_writer_long_name(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", *longpath = NULL;
	struct dcv_metrics m;
	struct dcv_metrics_writer *w = NULL;
	uv_loop_t loop;

	(void)state;
	assert_non_null(mkdtemp(dir));
	uv_loop_init(&loop);
	log_capture(dir);
	dcv_metrics_init(&m, 5, "x");
	longpath = malloc(4300);
	assert_non_null(longpath);
	memset(longpath, 'a', 4299);
	longpath[0] = '/';
	longpath[4299] = '\0';
	w = dcv_metrics_writer_new(&loop, longpath, &m);
	assert_non_null(w);
	longpath[60] = '\0';
	assert_true(run_until_logged(&loop, longpath));
	longpath[60] = 'a';
	dcv_metrics_writer_touch(w);
	for (int i = 0; i < 150; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	assert_int_equal(count_of(log_text(false), "metrics_file /aaaa"), 1);
	dcv_metrics_writer_close(w, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	log_text(true);
	free(longpath);
	dcv_metrics_free(&m);
	rmdir(dir);
}

/* What the file at path holds (a static buffer; "" when there is none). */
static const char *file_text(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* A change while a write is in the pool: written after it, a coalescing period later. */
static void test_writer_dirty(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", path[100];
	struct dcv_metrics m;
	struct dcv_metrics_writer *w = NULL;
	uv_loop_t loop;
	bool closed = false;
	uint64_t start = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dcvd.prom", dir);
	uv_loop_init(&loop);
	dcv_metrics_init(&m, 5, "x");
	w = dcv_metrics_writer_new(&loop, path, &m);
	assert_non_null(w);
	/* The first write is queued; its completion needs another turn of the loop. */
	uv_run(&loop, UV_RUN_NOWAIT);
	m.spool_refused = 4;
	dcv_metrics_writer_touch(w);
	dcv_metrics_writer_touch(w);
	uv_update_time(&loop);
	start = uv_now(&loop);
	for (int i = 0; i < 300 && !has_line(file_text(path), "dcvd_spool_refused_total 4"); i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	assert_true(has_line(file_text(path), "dcvd_spool_refused_total 4"));
	/* Not at once: a coalescing period after the first write started (some slack). */
	uv_update_time(&loop);
	assert_true(uv_now(&loop) - start >= DCV_METRICS_COALESCE_MS - 100);
	dcv_metrics_writer_close(w, on_closed, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(tu_count_entries(dir), 1);
	dcv_metrics_free(&m);
	unlink(path);
	rmdir(dir);
}

/*
 * A write that fails (RLIMIT_FSIZE: EFBIG, as a full disk would fail it):
 * logged, no temporary left, the old file kept whole.
 */
static void test_writer_write_fails(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", path[100], want[200];
	struct dcv_metrics m;
	struct dcv_metrics_writer *w = NULL;
	struct rlimit old, small;
	void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
	uv_loop_t loop;
	bool closed = false;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dcvd.prom", dir);
	tu_run("echo 'dcvd_up 1' > '%s'", path);
	uv_loop_init(&loop);
	log_capture(dir);
	dcv_metrics_init(&m, 5, "x");
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 512; /* the text is some kilobytes */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	w = dcv_metrics_writer_new(&loop, path, &m);
	assert_non_null(w);
	snprintf(want, sizeof(want),
	         "metrics_file %s: cannot write it: File too large; trying again at each write",
	         path);
	assert_true(run_until_logged(&loop, want));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_xfsz);
	assert_int_equal(tu_count_entries(dir), 1);
	assert_string_equal(file_text(path), "dcvd_up 1\n");
	dcv_metrics_writer_close(w, on_closed, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	log_text(true);
	dcv_metrics_free(&m);
	tu_run("rm -rf '%s'", dir);
}

/*
 * A FIFO planted at the temporary's name holds the write in the pool (its
 * open waits for a reader): a change meanwhile is written after it, and the
 * FIFO fails the fsync (EINVAL), which is logged; the FIFO is removed, and
 * the next write puts the file in place.
 */
static void test_writer_held(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", path[100], tmp[100], want[256], buf[4096];
	struct dcv_metrics m;
	struct dcv_metrics_writer *w = NULL;
	uv_loop_t loop;
	bool closed = false;
	int rfd = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dcvd.prom", dir);
	snprintf(tmp, sizeof(tmp), "%s/.dcvd.prom.tmp", dir);
	assert_int_equal(mkfifo(tmp, 0600), 0);
	uv_loop_init(&loop);
	log_capture(dir);
	dcv_metrics_init(&m, 5, "x");
	w = dcv_metrics_writer_new(&loop, path, &m);
	assert_non_null(w);
	dcv_metrics_writer_touch(
	    w); /* before any write: at once, which the first write is anyway */
	/* The first write is queued and waits in open() for a reader. */
	uv_run(&loop, UV_RUN_NOWAIT);
	m.spool_refused = 8;
	dcv_metrics_writer_touch(w);
	/* Held past a coalescing period: the change is written right after it. */
	for (int i = 0; i < 110; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	rfd = open(tmp, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	snprintf(want, sizeof(want),
	         "metrics_file %s: cannot fsync it: Invalid argument; trying again at each write",
	         path);
	for (int i = 0; i < 500 && strstr(log_text(false), want) == NULL; i++) {
		while (read(rfd, buf, sizeof(buf)) > 0)
			;
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	close(rfd);
	assert_non_null(strstr(log_text(false), want));
	snprintf(want, sizeof(want), "metrics_file %s: written again", path);
	assert_true(run_until_logged(&loop, want));
	assert_true(has_line(file_text(path), "dcvd_spool_refused_total 8"));
	assert_int_equal(tu_count_entries(dir), 1); /* the FIFO went with the failed write */
	/* Held again, and closed meanwhile: the last file is written after the held one fails. */
	assert_int_equal(mkfifo(tmp, 0600), 0);
	dcv_metrics_writer_touch(w);
	for (int i = 0; i < 120; i++) { /* the touch's write, a coalescing period later */
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	m.store_errors = 9;
	dcv_metrics_writer_close(w, on_closed, &closed);
	m.store_errors = 10;         /* after the close: never written */
	dcv_metrics_writer_touch(w); /* closing: nothing */
	rfd = open(tmp, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	for (int i = 0; i < 500 && !closed; i++) {
		while (read(rfd, buf, sizeof(buf)) > 0)
			;
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	close(rfd);
	assert_true(closed);
	assert_int_equal(count_of(log_text(false), "cannot fsync it"), 2);
	assert_int_equal(count_of(log_text(false), "written again"), 2);
	assert_true(has_line(file_text(path), "dcvd_store_errors_total 9"));
	assert_int_equal(tu_count_entries(dir), 1);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	log_text(true);
	dcv_metrics_free(&m);
	tu_run("rm -rf '%s'", dir);
}

/* A relative path: the temporary is made beside it, in the working folder. */
static void test_writer_relative(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", cwd[4096];
	struct dcv_metrics m;
	struct dcv_metrics_writer *w = NULL;
	uv_loop_t loop;
	bool closed = false;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	uv_loop_init(&loop);
	dcv_metrics_init(&m, 5, "x");
	m.store_errors = 5;
	w = dcv_metrics_writer_new(&loop, "rel.prom", &m);
	assert_non_null(w);
	dcv_metrics_writer_close(w, on_closed, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(tu_count_entries(dir), 1);
	tu_run("test -s '%s/rel.prom'", dir);
	assert_string_equal(tu_run_line("grep -c '^dcvd_store_errors_total 5$' '%s/rel.prom'", dir),
	                    "1");
	dcv_metrics_free(&m);
	tu_run("rm -rf '%s'", dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_families),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_label_escaping),
	    cmocka_unit_test(test_series_bounded),
	    cmocka_unit_test(test_outcomes),
	    cmocka_unit_test(test_update_rcodes),
	    cmocka_unit_test(test_every_family),
	    cmocka_unit_test(test_writer_failures),
	    cmocka_unit_test(test_writer_long_name),
	    cmocka_unit_test(test_writer_dirty),
	    cmocka_unit_test(test_writer_write_fails),
	    cmocka_unit_test(test_writer_relative),
	    cmocka_unit_test(test_writer_held),
	    cmocka_unit_test(test_writer),
	    cmocka_unit_test(test_writer_close_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
