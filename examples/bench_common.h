/*
 * What the C benchmarks (loadtest.c, hotpath.c) share: their keys, their
 * random numbers, and the clock and sort behind their medians.
 */
#ifndef TTLKV_BENCH_COMMON_H
#define TTLKV_BENCH_COMMON_H

#include <stdint.h>
#include <string.h>
#include <time.h>

/* Key i: i, then i times the golden ratio (so that neighbours differ in
 * every byte of the second half). */
static inline void
key_of(uint64_t i, unsigned char key[16])
{
	uint64_t salt = i * 0x9e3779b97f4a7c15ull;

	memcpy(key, &i, 8);
	memcpy(key + 8, &salt, 8);
}

/* xorshift64: fast, and good enough to pick uniform keys. */
static inline uint64_t
next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/* The calling thread's CPU time: what other tenants of a shared machine
 * change least. */
static inline uint64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* qsort's comparison for doubles, ascending. */
static inline int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#endif /* TTLKV_BENCH_COMMON_H */
