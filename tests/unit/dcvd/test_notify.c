/*
 * test_notify.c -- dcvd's own sd_notify: the messages reach the socket in
 * $NOTIFY_SOCKET, a path or an abstract "@name", where systemd-notify(1)
 * (the oracle: systemd's own client) delivers them too; nothing is sent and
 * nothing breaks without it; the watchdog interval is read from
 * $WATCHDOG_USEC only when $WATCHDOG_PID, if set, is this process.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "testutil.h"

/* A datagram socket bound where NOTIFY_SOCKET says, with a receive timeout. */
static int listen_at(const char *where)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 5};
	size_t len = strlen(where);
	socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(len < sizeof(addr.sun_path));
	memcpy(addr.sun_path, where, len);
	if (where[0] == '@')
		addr.sun_path[0] = '\0';
	else
		addr_len++;
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, addr_len), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[600];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		fail_msg("no datagram (wanted '%s'): %s", want, strerror(errno));
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void expect_nothing(int fd)
{
	char buf[64];

	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void check_address(const char *where)
{
	int fd = listen_at(where);

	assert_int_equal(setenv("NOTIFY_SOCKET", where, 1), 0);
	/* The oracle reads the same address the same way. */
	assert_int_equal(system("systemd-notify --no-block --ready"), 0);
	expect_datagram(fd, "READY=1");
	dcv_notify_ready();
	expect_datagram(fd, "READY=1");
	dcv_notify_reloading();
	expect_datagram(fd, "RELOADING=1");
	dcv_notify_status("%d jobs, %s", 3, "idle");
	expect_datagram(fd, "STATUS=3 jobs, idle");
	dcv_notify_watchdog();
	expect_datagram(fd, "WATCHDOG=1");
	dcv_notify_stopping();
	expect_datagram(fd, "STOPPING=1");
	expect_nothing(fd);
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_path_socket(void **state)
{
	char where[108];
	char dir[] = "/tmp/dcv-notify-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(where, sizeof(where), "%s/notify", dir);
	check_address(where);
	unlink(where);
	rmdir(dir);
}

static void test_abstract_socket(void **state)
{
	char where[64];

	(void)state;
	snprintf(where, sizeof(where), "@dcv-test-notify-%ld", (long)getpid());
	check_address(where);
}

/* Without systemd, or with an address it cannot use: nothing, quietly. */
static void test_no_socket(void **state)
{
	static const char *const bad[] = {"", "x", "relative/path", "@", "/no/such/dir/sock"};

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	dcv_notify_ready();
	dcv_notify_status("nobody listens");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(setenv("NOTIFY_SOCKET", bad[i], 1), 0);
		dcv_notify_ready();
	}
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(dcv_notify_watchdog_ms(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(dcv_notify_watchdog_ms(), 30000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(dcv_notify_watchdog_ms(), 30000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(dcv_notify_watchdog_ms(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "500", 1); /* under a millisecond still asks for pings */
	assert_int_equal(dcv_notify_watchdog_ms(), 1);
	setenv("WATCHDOG_USEC", "0", 1);
	assert_int_equal(dcv_notify_watchdog_ms(), 0);
	setenv("WATCHDOG_USEC", "30s", 1);
	assert_int_equal(dcv_notify_watchdog_ms(), 0);
	setenv("WATCHDOG_USEC", "99999999999999999999999", 1);
	assert_int_equal(dcv_notify_watchdog_ms(), 0);
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_socket),
	    cmocka_unit_test(test_abstract_socket),
	    cmocka_unit_test(test_no_socket),
	    cmocka_unit_test(test_watchdog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
