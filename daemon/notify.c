/* notify.c -- sd_notify, or nothing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "notify.h"

#ifdef DCV_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static void notify_send(const char *state)
{
	/* 0: keep NOTIFY_SOCKET for the next message. */
	sd_notify(0, state);
}

uint64_t dcv_notify_watchdog_ms(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec / 1000 : 0;
}
#else
static void notify_send(const char *state)
{
	(void)state;
}

uint64_t dcv_notify_watchdog_ms(void)
{
	return 0;
}
#endif

void dcv_notify_ready(void)
{
	notify_send("READY=1");
}

void dcv_notify_reloading(void)
{
	notify_send("RELOADING=1");
}

void dcv_notify_stopping(void)
{
	notify_send("STOPPING=1");
}

void dcv_notify_watchdog(void)
{
	notify_send("WATCHDOG=1");
}

void dcv_notify_status(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "STATUS=");

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	notify_send(line);
}
