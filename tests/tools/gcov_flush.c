/*
 * gcov_flush.c -- linked into dcvd in coverage builds only (cmake
 * -DDCV_COVERAGE=ON; tests/CMakeLists.txt). A process killed with SIGKILL
 * never writes its coverage counters, so a test that kills dcvd -9 would
 * count nothing of that run. Here SIGUSR2 writes them (__gcov_dump, from
 * the libgcov that --coverage links) and then kills the process with
 * SIGKILL itself: the test sees the same death a few milliseconds later.
 * dcvd_kill9 (tests/integration/lib_dcvd.sh) sends it when the test runs
 * in a coverage build (DCV_GCOV_FLUSH=1). dcvd itself does not use SIGUSR2.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

void __gcov_dump(void);

static void gcov_flush_and_die(int sig)
{
	(void)sig;
	__gcov_dump();
	kill(getpid(), SIGKILL);
}

__attribute__((constructor)) static void gcov_flush_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = gcov_flush_and_die;
	sigfillset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}
