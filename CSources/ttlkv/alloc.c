/*
 * Every allocation the library makes goes through these wrappers, so that a
 * test build (-DTTLKV_TESTING) can fail the Nth allocation and check
 * that the failing call reports TTLKV_OUT_OF_MEMORY and changes nothing.
 * Release builds compile them down to plain malloc and free.
 */
#include "internal.h"

#include <stdlib.h>

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

/* Allocations left before one fails; negative = never fail. */
static long fail_countdown = -1;
/* Whether every allocation after the failing one fails too. */
static bool fail_persists;
static uint64_t allocations;

uint64_t
ttlkv_testing_allocations(void)
{
	return __atomic_load_n(&allocations, __ATOMIC_RELAXED);
}

void
ttlkv_testing_fail_allocation(long n)
{
	__atomic_store_n(&fail_persists, false, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fail_countdown, n, __ATOMIC_SEQ_CST);
}

void
ttlkv_testing_fail_allocations_from(long n)
{
	__atomic_store_n(&fail_persists, true, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fail_countdown, n, __ATOMIC_SEQ_CST);
}

long
ttlkv_testing_allocations_left(void)
{
	return __atomic_load_n(&fail_countdown, __ATOMIC_SEQ_CST);
}

static bool
should_fail(void)
{
	long n = __atomic_load_n(&fail_countdown, __ATOMIC_SEQ_CST);

	__atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
	while (n >= 0) {
		if (n == 0 && __atomic_load_n(&fail_persists, __ATOMIC_SEQ_CST))
			return true;
		if (__atomic_compare_exchange_n(&fail_countdown, &n, n - 1, false,
		    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return n == 0;
	}
	return false;
}
#else
#define should_fail() false
#endif

bool
ttlkv__alloc_refused(void)
{
	return should_fail();
}

void *
ttlkv__alloc(size_t size)
{
	return should_fail() ? NULL : malloc(size);
}

void *
ttlkv__alloc_granted(size_t size)
{
	return malloc(size);
}

void *
ttlkv__aligned_alloc(size_t alignment, size_t size)
{
	void *p = NULL;

	if (should_fail() || posix_memalign(&p, alignment, size) != 0)
		return NULL;
	return p;
}

void *
ttlkv__realloc(void *p, size_t size)
{
	return should_fail() ? NULL : realloc(p, size);
}

void
ttlkv__free(void *p)
{
	if (ttlkv__slab_owns(p))
		ttlkv__slab_put(p);
	else
		free(p);
}
