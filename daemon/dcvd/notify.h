/*
 * notify.h -- the daemon's word to systemd (Type=notify): READY, RELOADING,
 * STOPPING, STATUS and WATCHDOG pings, sent to $NOTIFY_SOCKET without
 * libsystemd (notify.c says why). Everything here is a no-op when dcvd runs
 * without systemd; a message that cannot be sent is lost, never waited for.
 */
#ifndef DCV_NOTIFY_H
#define DCV_NOTIFY_H

#include <stdint.h>

void dcv_notify_ready(void);
void dcv_notify_reloading(void);
void dcv_notify_stopping(void);
void dcv_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dcv_notify_watchdog(void);

/* Watchdog interval asked for by systemd, in ms (0: none). Ping at half of it. */
uint64_t dcv_notify_watchdog_ms(void);

#endif
