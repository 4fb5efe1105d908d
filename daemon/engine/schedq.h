/*
 * schedq.h -- one timer for many jobs: a binary min-heap of due times.
 *
 * Jobs never own timers of their own (10,000 jobs would mean 10,000 libuv
 * timers); each job embeds a struct dcv_sched_entry and the engine keeps
 * one uv_timer armed for the earliest entry. O(log n) to add, move or
 * remove an entry; O(1) to see the earliest.
 *
 * Ownership: entries are the caller's; the heap only points to them.
 */
#ifndef DCV_SCHEDQ_H
#define DCV_SCHEDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dcv_sched_entry {
	uint64_t due; /* loop time, ms */
	size_t index; /* position in the heap; SIZE_MAX when not in it */
};

struct dcv_sched {
	struct dcv_sched_entry **heap;
	size_t n;
	size_t cap;
};

void dcv_sched_entry_init(struct dcv_sched_entry *e);
static inline bool dcv_sched_queued(const struct dcv_sched_entry *e)
{
	return e->index != (size_t)-1;
}

/*
 * Room for n entries: a put of any of them then cannot fail. The engine
 * reserves a place when it lists a job (where running out of memory is
 * reported and the CSR taken again later), so that a job's timer -- its
 * withdrawal, an hour away -- is never lost to a failed allocation.
 * DCV_ENOMEM only.
 */
int dcv_sched_reserve(struct dcv_sched *s, size_t n);
/* Adds e at due, or moves it there if queued. DCV_ENOMEM (only without a reserved place). */
int dcv_sched_put(struct dcv_sched *s, struct dcv_sched_entry *e, uint64_t due);
/* Removes e if queued. */
void dcv_sched_remove(struct dcv_sched *s, struct dcv_sched_entry *e);
/* The earliest entry, or NULL. */
struct dcv_sched_entry *dcv_sched_first(const struct dcv_sched *s);
/* Removes and returns the earliest entry due at or before now, or NULL. */
struct dcv_sched_entry *dcv_sched_pop_due(struct dcv_sched *s, uint64_t now);
void dcv_sched_free(struct dcv_sched *s);

#endif
