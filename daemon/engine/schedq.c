/* schedq.c -- binary min-heap of due times. */
#include <stdlib.h>

#include "dcv/err.h"
#include "schedq.h"

void dcv_sched_entry_init(struct dcv_sched_entry *e)
{
	e->due = 0;
	e->index = (size_t)-1;
}

static void place(struct dcv_sched *s, size_t i, struct dcv_sched_entry *e)
{
	s->heap[i] = e;
	e->index = i;
}

static void sift_up(struct dcv_sched *s, size_t i)
{
	struct dcv_sched_entry *e = s->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (s->heap[parent]->due <= e->due)
			break;
		place(s, i, s->heap[parent]);
		i = parent;
	}
	place(s, i, e);
}

static void sift_down(struct dcv_sched *s, size_t i)
{
	struct dcv_sched_entry *e = s->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= s->n)
			break;
		if (child + 1 < s->n && s->heap[child + 1]->due < s->heap[child]->due)
			child++;
		if (e->due <= s->heap[child]->due)
			break;
		place(s, i, s->heap[child]);
		i = child;
	}
	place(s, i, e);
}

int dcv_sched_reserve(struct dcv_sched *s, size_t n)
{
	size_t cap = s->cap ? s->cap : 64;
	struct dcv_sched_entry **grown = NULL;

	if (n <= s->cap)
		return DCV_OK;
	while (cap < n)
		cap *= 2;
	if ((grown = realloc(s->heap, cap * sizeof(*grown))) == NULL)
		return DCV_ENOMEM;
	s->heap = grown;
	s->cap = cap;
	return DCV_OK;
}

int dcv_sched_put(struct dcv_sched *s, struct dcv_sched_entry *e, uint64_t due)
{
	if (dcv_sched_queued(e)) {
		uint64_t old = e->due;
		e->due = due;
		if (due < old)
			sift_up(s, e->index);
		else
			sift_down(s, e->index);
		return DCV_OK;
	}
	if (s->n == s->cap && dcv_sched_reserve(s, s->n + 1) < 0)
		return DCV_ENOMEM;
	e->due = due;
	place(s, s->n++, e);
	sift_up(s, e->index);
	return DCV_OK;
}

void dcv_sched_remove(struct dcv_sched *s, struct dcv_sched_entry *e)
{
	size_t i = e->index;
	struct dcv_sched_entry *last = NULL;

	if (!dcv_sched_queued(e))
		return;
	e->index = (size_t)-1;
	last = s->heap[--s->n];
	if (i == s->n)
		return;
	place(s, i, last);
	if (i > 0 && s->heap[(i - 1) / 2]->due > last->due)
		sift_up(s, i);
	else
		sift_down(s, i);
}

struct dcv_sched_entry *dcv_sched_first(const struct dcv_sched *s)
{
	return s->n > 0 ? s->heap[0] : NULL;
}

struct dcv_sched_entry *dcv_sched_pop_due(struct dcv_sched *s, uint64_t now)
{
	struct dcv_sched_entry *e = dcv_sched_first(s);

	if (e == NULL || e->due > now)
		return NULL;
	dcv_sched_remove(s, e);
	return e;
}

void dcv_sched_free(struct dcv_sched *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->heap[i]->index = (size_t)-1;
	free(s->heap);
	s->heap = NULL;
	s->n = s->cap = 0;
}
