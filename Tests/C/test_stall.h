/*
 * A stalled reader for the C suites: a thread that sits between
 * ttlkv_read_begin and ttlkv_read_end (on key_of(0), which the store must
 * hold) until the test releases it, or until STALL_MS have passed. A call
 * that waited for it shows up as a reader that timed out, whatever the
 * machine's speed: stall_holds() and stall_end() tell.
 */
#ifndef TTLKV_TEST_STALL_H
#define TTLKV_TEST_STALL_H

#include "check.h"
#include "test_keys.h"
#include "ttlkv_testing.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <ttlkv.h>
#include <unistd.h>

#define STALL_MS 2000

static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct {
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	ttlkv *store;
	bool inside, release, timed_out;
	pthread_t thread;
} stall = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, false, false, false, 0 };

static void *
stalled_reader(void *arg)
{
	unsigned char key[16];
	const void *value;
	size_t len;
	struct timespec until;
	int rc = 0;

	(void)arg;
	key_of(0, key);
	CHECK_STATUS(ttlkv_read_begin(stall.store, key, sizeof key, &value, &len), TTLKV_OK);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STALL_MS / 1000;
	pthread_mutex_lock(&stall.mutex);
	stall.inside = true;
	pthread_cond_broadcast(&stall.cond);
	while (!stall.release && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&stall.cond, &stall.mutex, &until);
	stall.timed_out = !stall.release;
	pthread_mutex_unlock(&stall.mutex);
	CHECK_STATUS(ttlkv_read_end(), TTLKV_OK);
	return NULL;
}

/* Starts the reader and returns once it is inside its section. */
static inline void
stall_begin(ttlkv *s)
{
	stall.store = s;
	stall.inside = stall.release = stall.timed_out = false;
	CHECK(pthread_create(&stall.thread, NULL, stalled_reader, NULL) == 0);
	pthread_mutex_lock(&stall.mutex);
	while (!stall.inside)
		pthread_cond_wait(&stall.cond, &stall.mutex);
	pthread_mutex_unlock(&stall.mutex);
}

/* Whether the reader is still stalled: nothing has waited it out. */
static inline bool
stall_holds(void)
{
	bool holds;

	pthread_mutex_lock(&stall.mutex);
	holds = !stall.timed_out;
	pthread_mutex_unlock(&stall.mutex);
	return holds;
}

/* Releases the reader; false if it had timed out first (something waited). */
static inline bool
stall_end(void)
{
	bool held;

	pthread_mutex_lock(&stall.mutex);
	held = !stall.timed_out;
	stall.release = true;
	pthread_cond_broadcast(&stall.cond);
	pthread_mutex_unlock(&stall.mutex);
	CHECK(pthread_join(stall.thread, NULL) == 0);
	return held;
}

/* Waits until `n` threads wait for readers, or `done` is set (NULL: never);
 * false if neither happens within STALL_MS. */
static inline bool
await_waiters(unsigned n, const bool *done)
{
	uint64_t until = now_ns() + STALL_MS * 1000000ull;

	while (ttlkv_testing_waiting_for_readers() < n) {
		if (now_ns() > until || (done != NULL && __atomic_load_n(done, __ATOMIC_ACQUIRE)))
			return false;
		usleep(1000);
	}
	return true;
}

#endif
