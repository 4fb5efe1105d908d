/* test_schedq.c -- the heap keeps its order through random puts, moves and removes. */
#include <stdlib.h>

#include "dcv/err.h"
#include "schedq.h"
#include "testutil.h"

static void test_random_operations(void **state)
{
	enum { N = 5000 };
	static struct dcv_sched_entry e[N];
	struct dcv_sched s = {0};
	uint64_t last = 0;
	size_t popped = 0;

	srand(7);
	for (size_t i = 0; i < N; i++) {
		dcv_sched_entry_init(&e[i]);
		assert_int_equal(dcv_sched_put(&s, &e[i], (uint64_t)(rand() % 100000)), 0);
	}
	/* Move half, remove a tenth. */
	for (size_t i = 0; i < N; i += 2)
		assert_int_equal(dcv_sched_put(&s, &e[i], (uint64_t)(rand() % 100000)), 0);
	for (size_t i = 0; i < N; i += 10)
		dcv_sched_remove(&s, &e[i]);
	assert_int_equal(s.n, N - N / 10);
	for (size_t i = 0; i < N; i += 10)
		assert_false(dcv_sched_queued(&e[i]));
	/* Nothing comes out before its time; what comes out comes in order. */
	struct dcv_sched_entry *x = dcv_sched_first(&s);
	if (x->due > 0)
		assert_null(dcv_sched_pop_due(&s, x->due - 1));
	while ((x = dcv_sched_pop_due(&s, UINT64_MAX)) != NULL) {
		assert_true(x->due >= last);
		assert_false(dcv_sched_queued(x));
		last = x->due;
		popped++;
	}
	assert_int_equal(popped, N - N / 10);
	dcv_sched_free(&s);
}

static void test_due_only(void **state)
{
	struct dcv_sched_entry a, b;
	struct dcv_sched s = {0};

	dcv_sched_entry_init(&a);
	dcv_sched_entry_init(&b);
	dcv_sched_put(&s, &a, 100);
	dcv_sched_put(&s, &b, 50);
	assert_ptr_equal(dcv_sched_first(&s), &b);
	assert_null(dcv_sched_pop_due(&s, 49));
	assert_ptr_equal(dcv_sched_pop_due(&s, 50), &b);
	assert_null(dcv_sched_pop_due(&s, 99));
	dcv_sched_put(&s, &a, 10); /* moved earlier */
	assert_ptr_equal(dcv_sched_pop_due(&s, 10), &a);
	assert_int_equal(s.n, 0);
	dcv_sched_free(&s);
}

/* A reserved place is kept: puts up to it never reallocate (the heap stays where it is). */
static void test_reserve(void **state)
{
	struct dcv_sched_entry e[200];
	struct dcv_sched s = {0};
	struct dcv_sched_entry **heap = NULL;

	(void)state;
	assert_int_equal(dcv_sched_reserve(&s, 0), DCV_OK);
	assert_int_equal(dcv_sched_reserve(&s, 200), DCV_OK);
	assert_true(s.cap >= 200);
	heap = s.heap;
	assert_int_equal(dcv_sched_reserve(&s, 150), DCV_OK);
	assert_ptr_equal(s.heap, heap);
	for (size_t i = 0; i < 200; i++) {
		dcv_sched_entry_init(&e[i]);
		assert_int_equal(dcv_sched_put(&s, &e[i], 1000 - i), DCV_OK);
	}
	assert_ptr_equal(s.heap, heap);
	assert_ptr_equal(dcv_sched_first(&s), &e[199]);
	dcv_sched_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_operations),
	    cmocka_unit_test(test_due_only),
	    cmocka_unit_test(test_reserve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
