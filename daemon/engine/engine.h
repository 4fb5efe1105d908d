/*
 * engine.h -- dcvd's engine: spool in -> records visible everywhere ->
 * withdrawn later, every job an explicit state machine (store.h lists the
 * states), every transition logged and persisted before what depends on it.
 *
 *   received --plan, persist--> publishing --UPDATE ok--> published
 *     --probe: every authoritative address, then every resolver--> visible
 *     (CSR to done/, status file, hook) --withdraw_after--> withdrawing
 *     --delete ok, gone everywhere--> withdrawn
 *   any state --error--> failed (CSR to failed/, status file, hook; records
 *     already published are deleted: "cleanup")
 *
 * Ownership: the engine takes the configuration it is given (and each one
 * handed to dcv_engine_reload()); it frees them when nothing uses them.
 */
#ifndef DCV_ENGINE_H
#define DCV_ENGINE_H

#include <stddef.h>

#include <uv.h>

#include "config.h"
#include "dcv/err.h"

struct dcv_engine;

/*
 * Opens the spool and the store and loads every job record (blocking: call
 * before the loop runs). Takes cfg in every case. Errors: DCV_EIO, DCV_ENOMEM, with why.
 */
int dcv_engine_new(uv_loop_t *loop, struct dcv_config *cfg, struct dcv_engine **out,
                   struct dcv_why *why);

/* Resumes the loaded jobs and starts the spool. */
int dcv_engine_start(struct dcv_engine *eng);

/* Switches to a new configuration (taken); jobs in flight keep the old one until done. */
void dcv_engine_reload(struct dcv_engine *eng, struct dcv_config *cfg);

/*
 * Stops promptly: no new claims, what is persisted stays, one last store
 * commit of what is pending, hooks get a short grace; then stopped(arg) and
 * the engine is freed. Jobs resume from their records at the next start.
 */
void dcv_engine_stop(struct dcv_engine *eng, void (*stopped)(void *arg), void *arg);

/* One line for sd_notify STATUS= and logs: counts per state. */
void dcv_engine_status_line(const struct dcv_engine *eng, char *buf, size_t size);

#endif
