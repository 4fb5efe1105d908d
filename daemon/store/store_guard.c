/*
 * store_guard.c -- a load that reads past the end of data.mdb becomes an
 * error instead of a crash.
 *
 * LMDB reads the file through its map and trusts the page numbers it
 * finds. Damage it cannot see -- pages of garbage under intact meta pages,
 * a file cut short by hand -- makes it follow a page number past the end
 * of the file, and the read is SIGBUS: dcvd died at start (and systemd
 * restarted it until it gave up), dcv status died too, and neither said a
 * word about data.mdb. While a load runs, a handler of SIGBUS takes a
 * fault on that thread back to the load (siglongjmp), which then fails
 * with DCV_ESTATE naming the file. A load touches no other file-backed
 * memory than LMDB's maps (x86 and the like raise no SIGBUS for heap
 * memory), and mdb_env_info() does not tell where the map is (it reports
 * the fixed address of MDB_FIXEDMAP, none here), so the thread is the
 * test, not the address. A SIGBUS of any other thread goes to the action
 * there was before (the default: the process dies as it would have).
 *
 * Only loads are guarded (dcvd's start, dcv status): a commit runs on the
 * thread pool, and a file damaged under a running dcvd ends it, as before;
 * the load at the next start then says why.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "store_int.h"

/*
 * The handler is there only while some thread's load is guarded (the
 * first arm installs it, the last disarm puts the previous action back):
 * outside loads SIGBUS is what it was, and a test framework that sets its
 * own handlers for each test keeps them.
 */
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction guard_previous;
static unsigned guard_users;

/* The guarded load of this thread: where to go back to. */
static _Thread_local sigjmp_buf *guard_jump;

static void guard_on_sigbus(int sig, siginfo_t *info, void *context)
{
	(void)info;
	(void)context;
	if (guard_jump != NULL)
		siglongjmp(*guard_jump, sig);
	/* Not ours: the previous action takes the fault when the read is tried again. */
	sigaction(SIGBUS, &guard_previous, NULL);
}

/*
 * sigaction() of SIGBUS with a handler cannot fail (POSIX: EINVAL only for
 * a signal that does not exist or cannot be caught), so arming always arms.
 */
void store_guard_arm(sigjmp_buf *jump)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = guard_on_sigbus;
	/* NODEFER: nothing to unblock after the jump (sigsetjmp saves no mask). */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	pthread_mutex_lock(&guard_lock);
	if (guard_users++ == 0)
		sigaction(SIGBUS, &sa, &guard_previous);
	pthread_mutex_unlock(&guard_lock);
	guard_jump = jump;
}

void store_guard_disarm(void)
{
	bool armed = guard_jump != NULL;

	guard_jump = NULL;
	pthread_mutex_lock(&guard_lock);
	if (armed && --guard_users == 0)
		sigaction(SIGBUS, &guard_previous, NULL);
	pthread_mutex_unlock(&guard_lock);
}
