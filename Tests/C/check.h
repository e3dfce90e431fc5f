/*
 * A minimal test harness for the C suites: CHECK records a failure with its
 * location and carries on, so that one run reports every broken guarantee;
 * main returns check_exit() to fail the build step.
 */
#ifndef TTLKV_CHECK_H
#define TTLKV_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
			    __LINE__, #cond);                              \
			__atomic_add_fetch(&check_failures, 1, __ATOMIC_RELAXED); \
		}                                                          \
	} while (0)

/* Compares two statuses and prints both names when they differ. */
#define CHECK_STATUS(got, want)                                            \
	do {                                                               \
		ttlkv_status got_ = (got), want_ = (want);                 \
		if (got_ != want_) {                                       \
			fprintf(stderr, "%s:%d: %s: got \"%s\", want \"%s\"\n", \
			    __FILE__, __LINE__, #got,                      \
			    ttlkv_status_string(got_), ttlkv_status_string(want_)); \
			__atomic_add_fetch(&check_failures, 1, __ATOMIC_RELAXED); \
		}                                                          \
	} while (0)

/* A ttlkv_drain_schedule callback for tests that only empty the schedule. */
static inline void
ignore_record(const void *key, size_t len, uint64_t deadline, void *context)
{
	(void)key;
	(void)len;
	(void)deadline;
	(void)context;
}

static inline int
check_exit(const char *suite)
{
	if (check_failures != 0) {
		fprintf(stderr, "%s: %d check(s) failed\n", suite, check_failures);
		return 1;
	}
	printf("%s: all checks passed\n", suite);
	return 0;
}

#endif
