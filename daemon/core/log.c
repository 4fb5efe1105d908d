/* log.c -- log lines for journald or a terminal. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const char *log_prog = "dcvd";
static enum dcv_log_level log_max = DCV_LOG_INFO;
static bool log_journal;

/* systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected us to. */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev = 0, ino = 0;
	struct stat st;

	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void dcv_log_init(const char *prog, enum dcv_log_level max_level)
{
	log_prog = prog;
	log_max = max_level;
	log_journal = stderr_is_journal();
}

static void vlog(enum dcv_log_level level, const char *job, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vlog(enum dcv_log_level level, const char *job, const char *fmt, va_list ap)
{
	static const char *const names[] = {[DCV_LOG_ERR] = "error",
	                                    [DCV_LOG_WARNING] = "warning",
	                                    [DCV_LOG_NOTICE] = "notice",
	                                    [DCV_LOG_INFO] = "info",
	                                    [DCV_LOG_DEBUG] = "debug"};
	char raw[2048], line[2048], stamp[32];
	struct timespec ts;
	struct tm tm;
	int n = 0;

	if (level > log_max)
		return;
	if (job != NULL)
		n = snprintf(raw, sizeof(raw), "job %.240s: ", job);
	vsnprintf(raw + n, sizeof(raw) - (size_t)n, fmt, ap);
	/*
	 * Messages quote input (file names, names from CSRs, texts from
	 * servers): a newline would forge another line, an ESC would reach the
	 * operator's terminal. Every byte that is not printable UTF-8 is shown
	 * as \xNN, and the line is cut at a code point boundary.
	 */
	dcv_escape(line, sizeof(line), raw, strlen(raw));
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", level, line);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s: %s: %s\n", stamp, ts.tv_nsec / 1000000, log_prog,
		        names[level], line);
	}
}

void dcv_log(enum dcv_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void dcv_log_job(enum dcv_log_level level, const char *job, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, job, fmt, ap);
	va_end(ap);
}
