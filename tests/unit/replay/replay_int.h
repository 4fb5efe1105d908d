/*
 * replay_int.h -- shared by the files of the replay library alone:
 * replay.c's event queue for the fakes of replay_uv.c, and replay_uv.c's
 * handles for replay.c's uv_close() and uv_is_active().
 */
#ifndef DCV_REPLAY_INT_H
#define DCV_REPLAY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

/* libuv's own bits in uv_handle_t.flags (src/uv-common.h), so uv_is_closing() reads alike. */
#define RP_HANDLE_CLOSING 0x01
#define RP_HANDLE_CLOSED 0x02

/* fn(arg) runs from replay_run() delay_ms from now, in order with the other events. */
void replay_defer(uint64_t delay_ms, void (*fn)(void *arg), void *arg);
/* Takes back a deferred call that has not run: true if there was one. */
bool replay_undefer(void (*fn)(void *arg), void *arg);

/* replay_uv.c: a handle other than a timer is being closed (false: not one of ours). */
bool replay_uv_forget(uv_handle_t *h);
/* Whether such a handle is active (a started file event). */
int replay_uv_active(const uv_handle_t *h);
/* Forgets every file event (replay_free). */
void replay_uv_free(void);

#endif
