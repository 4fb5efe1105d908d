/*
 * replay.h -- scripted DNS for unit tests: a link-time fake of the dnsio
 * layer (dnsio.h) and of libuv's clock and timers, driven by scenario files
 * in the spirit of unbound's testbound .rpl files.
 *
 * A test program links this library instead of talking to servers: its
 * definitions of dcv_dnsio_* and of uv_now, uv_update_time, uv_timer_init,
 * uv_timer_start, uv_timer_stop, uv_is_active and uv_close (timers only)
 * take the place of dnsio.c's and libuv's. Nothing runs uv_run(): the test
 * calls replay_run(), which delivers the scripted replies and fires the
 * timers in the order of a fake clock that jumps from one event to the
 * next, so a scenario with 30 s of backoff runs in microseconds and always
 * the same way.
 *
 * A scenario is a text file; '#' starts a comment. The parts the fake reads
 * (the test reads the others through replay_section() and replay_lines()):
 *
 *   tsig NAME ALGORITHM BASE64     the key replies marked "signed" carry
 *   zonekey KEY ZONE               a DNSSEC key (ECDSA P-256) made for the run
 *
 *   entry SERVER TYPE NAME [times N | always] [until MS]
 *     has TEXT                     the query must hold TEXT (ldns's text
 *                                  form, blanks collapsed, case aside)
 *     lacks TEXT                   and must not (lacks flags: rd -- RD=0)
 *     reply RCODE [aa] [ad] [signed | forged | tsigerror E | badtime S] [late MS]
 *                                  (tsigerror: an unsigned TSIG with error E,
 *                                  BADSIG, BADKEY or BADTIME, as servers send;
 *                                  badtime: a signed BADTIME report, the
 *                                  server's clock S seconds from ours)
 *     answer RR                    (presentation format, one per line)
 *     authority RR                 the same, in the authority section
 *     dnskey KEY                   KEY's DNSKEY record in the answer
 *     rrsig KEY [from M] [until M] every answer RRset signed by KEY, valid
 *                                  from now + M minutes (-60) to now + M
 *                                  (30 days), in real time as RRSIG checks are
 *     ede CODE [TEXT]              an Extended DNS Error (EDNS option 15)
 *     garbled [late MS]            a reply cut short after its question
 *     timeout                      no reply: the exchange times out
 *     neterr                       the server refuses (ICMP): DCV_ENET
 *   end
 *
 * SERVER is IP@PORT, TYPE a query type (CNAME, SOA, NS, A, ...) or UPDATE,
 * NAME the question's name. A query matches the first entry, in file
 * order, with its server, type and name (case and trailing dot aside) that
 * has uses left (one unless `times` or `always`) and whose `until` (fake
 * ms since the start, e.g. "a secondary lags for 5 minutes") has not
 * come, so several entries for one query play in sequence. Every reply line of an entry is
 * delivered, each `late` ms after the query (0 by default); the exchange ends at the first reply
 * its accept callback takes, or at its timeout with the last rejection (or DCV_ETIMEOUT). "forged"
 * signs with a key of the same name and another secret. A query no entry matches is recorded as
 * unexpected (replay_unexpected()) and times out; so is a matched query that lacks a `has` TEXT of
 * its entry or holds a `lacks` TEXT (answered all the same).
 */
#ifndef DCV_REPLAY_H
#define DCV_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Loads the scenario at path (exits the test program with a message on a syntax error). */
void replay_load(const char *path);

/* The fake loop every fake handle belongs to; its clock starts at 1,000,000 ms. */
uv_loop_t *replay_loop(void);

/*
 * Runs events in time order until stop(arg) is true (checked after each
 * event; NULL: never) or nothing is left. Returns the fake time that passed.
 */
uint64_t replay_run(bool (*stop)(void *arg), void *arg);
/* The same, but the clock stops at the fake time at (absolute ms): later events wait. */
uint64_t replay_run_until(uint64_t at, bool (*stop)(void *arg), void *arg);

/*
 * replay_uv.c fakes the rest of libuv a daemon's engine uses: the thread
 * pool (uv_queue_work runs the work and then after_work_cb as one event,
 * at the time it was queued; uv_cancel before it ran gives UV_ECANCELED)
 * and file events (uv_fs_event_*: nothing is watched for real). A test
 * makes a file event happen: every started watcher of path gets
 * cb(name, UV_RENAME) as an event. Returns how many watchers will.
 */
size_t replay_fs_event(const char *path, const char *name);
/* Each work request queued from now on takes ms of fake time (a slow disk; 0 by default). */
void replay_work_delay(uint64_t ms);

/*
 * Processes (a daemon's hook) are faked there too: uv_spawn starts no
 * program but plays what replay_hook() said the program does for the
 * event its environment names (DCV_EVENT=...): a line on its standard
 * output at once, then its exit after_ms later with exit_status -- or
 * never (hang) --; uv_spawn fails with UV_ENOENT when missing. uv_kill
 * (the pid or its group) and uv_process_kill end it at once by the
 * signal (SIGTERM only when not ignore_term): its pipes reach their
 * end, then exit_cb gets the signal. The pids are no real process's.
 * A run for an event no replay_hook() scripts aborts the test program.
 */
struct replay_hook {
	int exit_status;
	uint64_t after_ms;
	bool hang;
	bool ignore_term;
	bool missing;
	const char *say; /* copied; NULL: nothing */
};
void replay_hook(const char *event, const struct replay_hook *does);

/* Lines of the first top-level block "NAME ... end" (e.g. config), joined with '\n'; NULL if none.
 */
const char *replay_section(const char *name);

/*
 * Top-level lines that start with word (e.g. "record"), in order, or every
 * top-level line of more than one word (word NULL: a script of steps); *n
 * set. Valid until the next call or load.
 */
const char *const *replay_lines(const char *word, size_t *n);

/* How many queries went to server (IP@PORT) for type and name so far (NULL: any). */
size_t replay_queries(const char *server, const char *type, const char *name);

/* Events waiting and timers running: 0 once everything was closed or ran out. */
size_t replay_pending(void);

/* replay_queries() counts from here on. */
void replay_forget_queries(void);

/* Queries no entry matched, described one per line ("" when none). */
const char *replay_unexpected(void);

/* Entries with uses left that are not `always` (an expected query that never came). */
size_t replay_unused(char *buf, size_t size);

/*
 * replay_main.c, for the test programs (cmocka): the scenario's config
 * section loaded as a configuration (fails the test when it does not
 * load), and a main() that runs run() once per tests/unit/ops/replay/
 * PREFIX*.rpl file (state: its path) and returns the exit status.
 */
struct dcv_config;
struct dcv_config *replay_config(void);
int replay_main(const char *group, const char *prefix, void (*run)(void **state));
/*
 * The same for the scenarios in DCV_SOURCE_DIR/dir (replay_main: tests/unit/ops/replay), with a
 * setup and a teardown per scenario (NULL: none; cmocka runs the teardown after a failure too).
 */
int replay_main_dir(const char *group, const char *dir, const char *prefix,
                    void (*run)(void **state), int (*setup)(void **state),
                    int (*teardown)(void **state));
/* Fails the test when a query went unexpected or an entry was never used. */
void replay_check_script(void);

/* Frees what replay_load() made. */
void replay_free(void);

#endif
