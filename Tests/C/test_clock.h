/*
 * An injected clock: tests move time by writing `now`, no sleeping.
 */
#ifndef TTLKV_TEST_CLOCK_H
#define TTLKV_TEST_CLOCK_H

#include <stdint.h>
#include <ttlkv.h>

struct test_clock {
	uint64_t now;
};

#define TEST_CLOCK_INIT(ms) { (ms) }

static inline uint64_t
test_clock_read(void *context)
{
	return __atomic_load_n(&((struct test_clock *)context)->now, __ATOMIC_ACQUIRE);
}

static inline void
test_clock_attach(struct test_clock *clock, ttlkv_options *options)
{
	options->clock = test_clock_read;
	options->clock_context = clock;
}

static inline void
test_clock_advance(struct test_clock *clock, uint64_t ms)
{
	__atomic_add_fetch(&clock->now, ms, __ATOMIC_RELEASE);
}

#endif
