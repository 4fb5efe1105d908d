/*
 * log.h -- dcvd's log lines on standard error.
 *
 * Under systemd (JOURNAL_STREAM names our stderr) each line starts with the
 * syslog priority as "<N>" so that journald files it at the right level and
 * adds its own timestamp; otherwise lines are plain, with a UTC timestamp.
 * Every line about a job names it ("job NAME: ..."), every line about a zone
 * or server names that. Never pass secrets.
 */
#ifndef DCV_LOG_H
#define DCV_LOG_H

enum dcv_log_level {
	DCV_LOG_ERR = 3,
	DCV_LOG_WARNING = 4,
	DCV_LOG_NOTICE = 5,
	DCV_LOG_INFO = 6,
	DCV_LOG_DEBUG = 7,
};

/* Decides the format (journal or plain) and the most verbose level shown. */
void dcv_log_init(const char *prog, enum dcv_log_level max_level);

void dcv_log(enum dcv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dcv_log_job(enum dcv_log_level level, const char *job, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_err(...) dcv_log(DCV_LOG_ERR, __VA_ARGS__)
#define log_warn(...) dcv_log(DCV_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) dcv_log(DCV_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) dcv_log(DCV_LOG_INFO, __VA_ARGS__)
#define log_debug(...) dcv_log(DCV_LOG_DEBUG, __VA_ARGS__)

#endif
