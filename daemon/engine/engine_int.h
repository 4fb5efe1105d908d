/*
 * engine_int.h -- the daemon's engine, inside: jobs, zone batches, the
 * store coalescer and the scheduler (engine.c, job.c, zbatch.c only).
 *
 * Threading: everything here runs on the loop thread; the thread pool only
 * ever sees copies (store batches, spool scans).
 *
 * Lifetimes: a job is referenced by the engine's list while it lives and by
 * every operation in flight for it (a queued or sent record, a probe round,
 * a store continuation); it is freed when it is final and the last
 * reference goes (job_unref). A configuration is referenced by the engine
 * (the current one) and by every job planned with it and every update in
 * flight, so that a reload never pulls zones from under them.
 */
#ifndef DCV_ENGINE_INT_H
#define DCV_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "dnsio.h"
#include "engine.h"
#include "hook.h"
#include "metrics.h"
#include "probe.h"
#include "schedq.h"
#include "spool.h"
#include "store.h"
#include "update.h"
#include "util.h"

struct dcv_psl;

/* A configuration and the prober bound to it. */
struct cfgref {
	struct dcv_config *cfg;
	struct dcv_prober *prober;
	size_t refs;
	struct dcv_engine *eng;
};

enum job_wait {
	WAIT_NONE,   /* scheduled (or final) */
	WAIT_STORE,  /* its state is being written */
	WAIT_UPDATE, /* records queued or sent */
	WAIT_PROBE,  /* a probe round runs */
};

/* Zones a job remembers a serial for; a job spanning more is rare and shows the serials alone. */
#define JOB_HELD_ZONES 4

struct dcv_job {
	struct dcv_engine *eng;
	struct dcv_job *prev, *next; /* the engine's list of live jobs */
	bool listed;
	size_t refs;
	struct dcv_job_record rec; /* the persisted truth */
	struct cfgref *cfg;
	char file[264];               /* NAME.ext as found in the spool (a safe name: spool.h) */
	char *src;                    /* refused before the claim: incoming/<src> as it is there */
	struct dcv_spool_entry entry; /* that entry as first seen (refused ones) */
	bool file_in_incoming;        /* refused before the claim */
	bool move_pending;            /* its files are being moved out of the spool */
	bool move_faulted;            /* the move failed on its entry: not tried again */
	bool has_sidecar;
	/* Its status went to its `dcv submit --wait` (results.h), or it ended before a restart. */
	bool result_sent;
	/* probe spec, rebuilt from rec */
	struct dcv_probe_name *pnames;
	struct dcv_strv *cands; /* per name */
	struct dcv_probe_spec spec;
	struct dcv_probe_memory memory; /* what earlier probe rounds learned */
	struct zwatch *watch;           /* the zone watcher it waits on, or NULL */
	struct dcv_job *wnext, *wprev;
	struct dcv_job *round_next; /* in the engine's line for a probe round */
	/* what is going on */
	enum job_wait wait;
	struct dcv_sched_entry due;
	uint64_t deadline; /* loop ms: give up on visibility */
	unsigned attempt;
	size_t updates_pending; /* records sent or queued */
	int update_status;
	char *update_why;     /* why update_status failed (heap, NULL: none): rare, so not inline */
	bool deletes_due;     /* deletes failed, the records are still out: send again when due */
	struct dcv_strv last; /* the last probe round's disagreements */
	uint64_t received_ms; /* loop time, for latency logs */
	uint64_t published_ms; /* loop time it became PUBLISHED */
	uint64_t wait_log_ms;  /* loop time of the next "still waiting" log line */
	bool fresh_change;     /* its UPDATE just landed: the next wait hurries the watcher */
	/*
	 * Per zone of its records, the primary's serial right after its UPDATE
	 * landed: the "reasons" of its waiting notices compare a lagging
	 * server's serial with it (zbatch.c asks, probe.h says how).
	 */
	struct dcv_probe_held held[JOB_HELD_ZONES];
	size_t n_held;
};

/* One queued record operation. */
struct zentry {
	struct dcv_job *job;
	size_t rr;
};

/* The records waiting for, or inside, an UPDATE of one zone. */
struct zbatch {
	struct dcv_engine *eng;
	struct zbatch *next;
	char zone[256];
	struct zentry *queue[2]; /* [add], [delete] */
	size_t n_queue[2], cap_queue[2];
	struct zentry *flight; /* what the update in flight carries */
	size_t n_flight;
	struct dcv_update *flight_up; /* that update, until on_update() (canceled at a stop) */
	enum dcv_update_op flight_op;
	struct cfgref *flight_cfg;
	bool busy;
	bool closing;
	unsigned failures; /* consecutive transient failures */
	uv_timer_t retry;
	bool retry_open;
};

/* Store writes waiting for the next commit, and who waits on them. */
struct store_cont {
	struct dcv_job *job;
	void (*fn)(struct dcv_job *job);
	const char *status_dir; /* static strings: "done", "failed" or NULL */
	bool move;
};

/*
 * How the zone batches and the zone watchers report to the jobs: set once
 * by the engine (to job.c's functions), so that zbatch.c and zwatch.c call
 * no job function by name and can be driven alone.
 */
struct engine_job_events {
	/* One record's add or delete ended: DCV_OK, or why it failed. */
	void (*record_done)(struct dcv_job *job, enum dcv_update_op op, size_t rr, int status,
	                    const char *why);
	/* A watcher saw a serial move: the job gets a round if it waits for one. */
	void (*wake)(struct dcv_job *job);
};

struct dcv_engine {
	uv_loop_t *loop;
	struct engine_job_events events;
	struct cfgref *cfg; /* current configuration */
	struct dcv_psl *psl;
	struct dcv_dnsio *io;
	struct dcv_store *store;
	struct dcv_spool *spool;
	struct dcv_hooks *hooks;
	/* jobs */
	struct dcv_job *jobs; /* live and recently final */
	size_t n_live;        /* not final */
	size_t n_listed;      /* on the list: each has a reserved place in sched */
	size_t n_by_state[DCV_JOB_STATE_COUNT];
	uint64_t id_counter;
	uint64_t id_last; /* the last job id's time and random part (engine_job_id) */
	/* zones */
	struct zbatch *zbatches;
	struct zwatch *zwatches;
	/* store coalescing */
	struct dcv_store_batch *batch; /* being filled */
	struct store_cont *conts;      /* continuations of the batch being filled */
	size_t n_conts, cap_conts;
	struct store_cont *flight_conts; /* of the batch being committed */
	size_t n_flight_conts;
	bool committing;
	unsigned store_failures;
	uv_timer_t store_retry;
	/* scheduling */
	struct dcv_sched sched;
	uv_timer_t tick;
	size_t rounds_in_flight;
	/*
	 * Jobs waiting for a probe round while MAX_ROUNDS_IN_FLIGHT run (wait
	 * WAIT_PROBE; the engine's list keeps them alive); each round that ends
	 * starts the first.
	 */
	struct dcv_job *round_head, *round_tail;
	bool limit_logged;
	/* which jobs hold which record (holders.c) */
	struct dcv_holders *holders;
	/* retention: the sweep of finished jobs older than keep (engine_sweep.c) */
	struct engine_sweep *sweep;
	/* what metrics_file shows (engine_metrics.c); mwriter NULL: not written */
	struct dcv_metrics metrics;
	struct dcv_metrics_writer *mwriter;
	/* stopping */
	bool stopping;
	bool finished;
	size_t handles_open;
	void (*stopped)(void *arg);
	void *stopped_arg;
	size_t closing;
	uv_timer_t stop_timer;
};

/* engine.c */
void engine_schedule(struct dcv_engine *eng, struct dcv_job *job, uint64_t delay_ms);
struct cfgref *cfgref_get(struct cfgref *c);
void cfgref_put(struct cfgref *c);
void engine_count(struct dcv_engine *eng, enum dcv_job_state from, enum dcv_job_state to);
/* One of the things a stop waits for has finished. */
void engine_release(struct dcv_engine *eng);

/*
 * engine_persist.c: job durable (with its status file in status_dir, and
 * its files moved there when move) before fn(job) runs, in the next batch
 * that lands (a batch that fails is retried with the same jobs: fn never
 * runs before the job is on disk). engine_commit sends the batch in the making when none is
 * out; engine_on_store_kick is the retry timer's callback. A job that has
 * ended hands its status to a waiting `dcv submit` (engine_result_due,
 * engine_deliver_result; quiet: no log line when nobody waits).
 */
/* A new job's id for NAME into id (size bytes): ordered by time, unique (engine.c). */
void engine_job_id(struct dcv_engine *eng, const char *name, char *id, size_t size);
void engine_persist(struct dcv_engine *eng, struct dcv_job *job, const char *status_dir, bool move,
                    void (*fn)(struct dcv_job *job));
void engine_commit(struct dcv_engine *eng);
void engine_on_store_kick(uv_timer_t *t);
bool engine_result_due(const struct dcv_job_record *rec);
void engine_deliver_result(struct dcv_engine *eng, const struct dcv_job_record *rec, bool quiet);

/* A job that waits for servers says so after this long, then at every doubling of the wait. */
#define WAIT_LOG_FIRST_MS 5000

/* job.c */
struct dcv_job *job_new(struct dcv_engine *eng);
void job_ref(struct dcv_job *job);
void job_unref(struct dcv_job *job);
void job_set_state(struct dcv_job *job, enum dcv_job_state state);
int job_build_spec(struct dcv_job *job);
void job_from_item(struct dcv_engine *eng, struct dcv_spool_item *item);
void job_resume(struct dcv_engine *eng, struct dcv_job_record *rec, bool csr_in_active,
                const char *file);
void job_due(struct dcv_job *job);
void job_record_done(struct dcv_job *job, enum dcv_update_op op, size_t rr, int status,
                     const char *why);
bool job_record_shared(const struct dcv_job *job, size_t rr);
/* Takes a final job that cannot be persisted off the list (its record could not be saved). */
void job_drop(struct dcv_job *job);
/* The continuation of a failed job's persist: hook, then cleanup or retire. */
void job_after_failed(struct dcv_job *job);
/* The holds of a record loaded at start; the holds of a job (all its records) let go. */
void job_take_holds(struct dcv_engine *eng, const struct dcv_job_record *rec);
void job_release_holds(struct dcv_job *job);
/*
 * Fails the job from any state: persist FAILED (with cleanup when records
 * may be out there), move its files to failed/ with the status, run the
 * hook, then delete what it had published. The text is stored escaped.
 */
void job_fail(struct dcv_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The continuation of VISIBLE's persist: the hook, then the withdrawal's timer. */
void job_after_visible(struct dcv_job *job);
/* Every record gone or handed to its other holders: WITHDRAWN (or cleanup done), persisted. */
void job_deletes_settled(struct dcv_job *job);
/* Wall-clock seconds, for the record's times. */
uint64_t job_now_s(void);

/* job_probe.c: a probe round for the job now, or a place in line for one. */
void job_probe(struct dcv_job *job);

/*
 * engine_sweep.c: retention (retention.h). start: the first sweep now
 * (behind the start's batch), then at least hourly; DCV_ENOMEM. stop: no
 * more sweeps; true while one runs (it calls engine_release() when it
 * ends). free: at the end of a stop.
 */
int engine_sweep_start(struct dcv_engine *eng);
bool engine_sweep_stop(struct dcv_engine *eng);
void engine_sweep_free(struct dcv_engine *eng);

/* zwatch.c */
struct zwatch;
/*
 * The job waits on its zone's watcher. fresh: its records just changed (an
 * UPDATE landed): the watcher polls fast again.
 */
int zwatch_wait(struct dcv_engine *eng, struct dcv_job *job, bool fresh);
void zwatch_forget(struct dcv_job *job);
void zwatch_close_all(struct dcv_engine *eng);

/* job.c: the functions behind engine_job_events */
void job_wake(struct dcv_job *job);

/* holders.c: one table per engine, loop thread only. */
struct dcv_holders;
struct dcv_holders *holders_new(void);
void holders_free(struct dcv_holders *h);
/*
 * Job id takes rr (zone, owner, target). DCV_ECONFLICT when the owner is
 * held with another target: held_by and held_target then name the holder.
 * Taking twice is harmless. DCV_ENOMEM.
 */
int holders_take(struct dcv_holders *h, const struct dcv_job_record_rr *rr, const char *id,
                 char *held_by, size_t held_by_size, char *held_target, size_t target_size);
/* Whether a job other than id holds rr. */
bool holders_others(struct dcv_holders *h, const struct dcv_job_record_rr *rr, const char *id);
/* Whether a job other than id is deleting rr right now (an add must wait for it). */
bool holders_being_deleted(struct dcv_holders *h, const struct dcv_job_record_rr *rr,
                           const char *id);
/* id, the last holder, sends the delete of rr. */
void holders_deleting(struct dcv_holders *h, const struct dcv_job_record_rr *rr, const char *id);
/* id no longer holds rr (and no longer deletes it). Harmless when it did not. */
void holders_release(struct dcv_holders *h, const struct dcv_job_record_rr *rr, const char *id);

/* engine_metrics.c: metrics_file, its writer started, switched, stopped. */
void engine_metrics_start(struct dcv_engine *eng);
void engine_metrics_reload(struct dcv_engine *eng, const struct dcv_config *cfg);
/* At a stop: the last file says dcvd_up 0; engine_release() once written. */
void engine_metrics_stop(struct dcv_engine *eng);
/* A state change, counted (engine_count) and written soon. */
void engine_metrics_moved(struct dcv_engine *eng, enum dcv_job_state from, enum dcv_job_state to);
/* One UPDATE's outcomes, per primary address. */
void engine_metrics_update(struct dcv_engine *eng, enum dcv_update_op op,
                           const struct dcv_update_outcome *outcomes, size_t n);
/* A probe round's answers, per server. */
void engine_metrics_probe(struct dcv_engine *eng, const struct dcv_probe_report *rep);

/* zbatch.c */
int zbatch_enqueue(struct dcv_engine *eng, struct dcv_job *job, size_t rr, enum dcv_update_op op);
void zbatch_close_all(struct dcv_engine *eng);

#endif
