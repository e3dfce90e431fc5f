/*
 * Threads that meet inside the library.
 *
 * A reader pinned inside a read section while another thread waits for
 * readers (ttlkv_reclaim with wait): every call of the reader that would take
 * a lock the waiter may hold is refused at once, the reader leaves, and both
 * finish. An alarm turns a deadlock into a failure instead of a hung suite.
 *
 * Thread churn: 100,000 short-lived threads (fewer under sanitizers), in
 * waves of WAVE live at once, each reading and writing a store it has never
 * seen. Epoch records are per thread inside the library: the domain must end
 * with no more records than the peak of threads alive at once (plus the main
 * thread and the store's own two), however many threads came and went.
 */
#include "check.h"
#include "ttlkv_testing.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <ttlkv.h>
#include <unistd.h>

#define WAVE 16

static ttlkv *store;

static void *
visitor(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	char key[32], buf[32];
	size_t n;

	snprintf(key, sizeof key, "k%u", id % 1000);
	CHECK_STATUS(ttlkv_put(store, key, strlen(key), key, strlen(key), id % 2 ? 60000 : 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_get(store, key, strlen(key), buf, sizeof buf, &n), TTLKV_OK);
	CHECK(n == strlen(key) && memcmp(buf, key, n) == 0);
	return NULL;
}

static int pinned;

static void *
wait_for_readers(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&pinned, __ATOMIC_ACQUIRE))
		sched_yield();
	CHECK_STATUS(ttlkv_reclaim(store, 1), TTLKV_OK);
	return NULL;
}

static void
test_pinned_reader_meets_waiter(void)
{
	const void *value;
	size_t len, n;
	pthread_t waiter;

	CHECK_STATUS(ttlkv_open(NULL, &store), TTLKV_OK);
	CHECK_STATUS(ttlkv_put(store, "k", 1, "v", 1, 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_delete(store, "k", 1), TTLKV_OK);
	CHECK_STATUS(ttlkv_put(store, "k", 1, "v", 1, 0), TTLKV_OK);
	alarm(30);
	CHECK(pthread_create(&waiter, NULL, wait_for_readers, NULL) == 0);
	CHECK_STATUS(ttlkv_read_begin(store, "k", 1, &value, &len), TTLKV_OK);
	__atomic_store_n(&pinned, 1, __ATOMIC_RELEASE);
	usleep(100 * 1000); /* the waiter is now in its grace period */
	CHECK_STATUS(ttlkv_reclaim(store, 0), TTLKV_IN_READ_SECTION);
	CHECK_STATUS(ttlkv_put(store, "k", 1, "w", 1, 0), TTLKV_IN_READ_SECTION);
	CHECK_STATUS(ttlkv_sweep(store, 100, &n), TTLKV_IN_READ_SECTION);
	ttlkv_read_end();
	pthread_join(waiter, NULL);
	alarm(0);
	ttlkv_close(store);
}

/*
 * options.max_entries under contention: an insert refused with TTLKV_FULL
 * must not count against the limit, not even for a moment, or an insert
 * racing with it would be refused while the store holds max_entries - 1.
 * Writers delete and re-insert their own keys while others keep trying to
 * insert into the full store; the count held against the limit (which the
 * test build records at its peak) must never pass it.
 */
#define QUOTA 64

static int quota_stop;

static void *
quota_intruder(void *arg)
{
	char key[32];

	for (unsigned i = 0; !__atomic_load_n(&quota_stop, __ATOMIC_RELAXED); i++) {
		ttlkv_status st;

		snprintf(key, sizeof key, "x%u-%u", (unsigned)(uintptr_t)arg, i);
		st = ttlkv_put(store, key, strlen(key), "x", 1, 0);
		CHECK(st == TTLKV_FULL || st == TTLKV_OK);
		if (st == TTLKV_OK)
			CHECK_STATUS(ttlkv_delete(store, key, strlen(key)), TTLKV_OK);
	}
	return NULL;
}

static void
test_quota_never_overshoots(void)
{
	ttlkv_options o;
	pthread_t intruders[3];
	char key[32];
	uint64_t peak;

	ttlkv_options_init(&o);
	o.capacity = QUOTA;
	o.max_entries = QUOTA;
	CHECK_STATUS(ttlkv_open(&o, &store), TTLKV_OK);
	for (int i = 0; i < QUOTA; i++) {
		snprintf(key, sizeof key, "k%d", i);
		CHECK_STATUS(ttlkv_put(store, key, strlen(key), "v", 1, 0), TTLKV_OK);
	}
	(void)ttlkv_testing_quota_peak();
	CHECK_STATUS(ttlkv_put(store, "one more", 8, "v", 1, 0), TTLKV_FULL);
	peak = ttlkv_testing_quota_peak();
	printf("threads: an insert refused by a store full at %d raised the count held against "
	    "its limit to %llu (0: not at all)\n", QUOTA, (unsigned long long)peak);
	CHECK(peak <= QUOTA);
	quota_stop = 0;
	for (uintptr_t i = 0; i < 3; i++)
		CHECK(pthread_create(&intruders[i], NULL, quota_intruder, (void *)i) == 0);
	for (int round = 0; round < 20000; round++) {
		snprintf(key, sizeof key, "k%d", round % QUOTA);
		CHECK_STATUS(ttlkv_delete(store, key, strlen(key)), TTLKV_OK);
		while (ttlkv_put(store, key, strlen(key), "v", 1, 0) == TTLKV_FULL)
			sched_yield(); /* an intruder took the place: it gives it back */
	}
	__atomic_store_n(&quota_stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 3; i++)
		pthread_join(intruders[i], NULL);
	peak = ttlkv_testing_quota_peak();
	printf("threads: 20000 deletes and re-inserts beside 3 threads inserting into the full store: "
	    "at most %llu counted against a limit of %d\n", (unsigned long long)peak, QUOTA);
	CHECK(peak <= QUOTA);
	CHECK(ttlkv_count(store) == QUOTA);
	ttlkv_close(store);
}

int
main(void)
{
	const char *scale = getenv("TTLKV_TEST_SCALE");
	unsigned threads = scale == NULL ? 100000 : 10000;
	pthread_t wave[WAVE];
	unsigned records;

	test_pinned_reader_meets_waiter();
	test_quota_never_overshoots();
	CHECK_STATUS(ttlkv_open(NULL, &store), TTLKV_OK);
	visitor((void *)(uintptr_t)0); /* the main thread holds a record too */
	for (unsigned done = 0; done < threads; done += WAVE) {
		for (unsigned i = 0; i < WAVE; i++)
			CHECK(pthread_create(&wave[i], NULL, visitor, (void *)(uintptr_t)(done + i)) == 0);
		for (unsigned i = 0; i < WAVE; i++)
			pthread_join(wave[i], NULL);
	}
	records = ttlkv_testing_epoch_records();
	CHECK(records <= WAVE + 3);
	CHECK(ttlkv_count(store) == 1000);
	printf("threads: %u threads in waves of %d left %u epoch records\n", threads, WAVE, records);
	ttlkv_close(store);
	return check_exit("threads");
}
