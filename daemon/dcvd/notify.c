/*
 * notify.c -- systemd's notification protocol, spoken directly.
 *
 * The protocol is one datagram of "KEY=VALUE" lines to the AF_UNIX socket
 * named in $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace),
 * and the watchdog interval comes in $WATCHDOG_USEC (for $WATCHDOG_PID, when
 * set). That is all dcvd needs of libsystemd, which would have brought six
 * more libraries (libgcrypt, liblzma, libzstd, liblz4, libcap, libgpg-error)
 * into every dcvd process: their mapped pages were most of an idle dcvd's
 * memory. Sending never blocks: a full socket buffer loses the message, as
 * it would with sd_notify(). Other address kinds (vsock) are ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/* Fills addr from $NOTIFY_SOCKET; returns the address length, 0 for none. */
static socklen_t notify_address(struct sockaddr_un *addr)
{
	const char *where = getenv("NOTIFY_SOCKET");
	size_t len = where ? strlen(where) : 0;

	if (len < 2 || len >= sizeof(addr->sun_path) || (where[0] != '/' && where[0] != '@'))
		return 0;
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	memcpy(addr->sun_path, where, len);
	if (where[0] == '@')
		addr->sun_path[0] = '\0'; /* abstract: no terminating NUL counts */
	else
		len++;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

static void notify_send(const char *state)
{
	struct sockaddr_un addr;
	socklen_t addr_len = notify_address(&addr);
	int fd = -1;

	if (addr_len == 0)
		goto out;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto out;
	/* Lost on failure, as with sd_notify(): systemd's own timeouts catch a silent dcvd. */
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&addr,
	             addr_len);
out:
	if (fd >= 0)
		close(fd);
}

uint64_t dcv_notify_watchdog_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long value = 0;
	char *end = NULL;

	if (usec == NULL || *usec == '\0')
		return 0;
	/* Meant for another process (the one that exec'd dcvd, say): not ours. */
	if (pid != NULL && *pid != '\0' && strtoll(pid, NULL, 10) != (long long)getpid())
		return 0;
	errno = 0;
	value = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || value == 0)
		return 0;
	return value / 1000 > 0 ? value / 1000 : 1;
}

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
