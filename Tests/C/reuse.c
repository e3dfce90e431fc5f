/*
 * Entry reuse while grace periods stall.
 *
 * A reader descheduled inside a read section holds back every entry retired
 * meanwhile, and when it leaves they all become free at once. With more
 * threads than cores that is how reclamation runs all the time. A writer has
 * to ride such stalls out on blocks it already holds: asking malloc for a
 * block in the middle of a put costs page faults and arena locks, which was
 * most of the put p99.9 of 16 threads on 2 cores.
 *
 * The test plays the scheduler: a reader thread sits in a section while the
 * main thread overwrites STALL keys, leaves, and the main thread overwrites
 * STALL more; after the first rounds, a round must take almost nothing from
 * malloc (the retire batches' own blocks: one per RETIRE_BATCH entries, at
 * most). STALL is more than a thread's recycling cache holds (256 KiB of
 * 80-byte blocks) and less than what the store's shards keep in reserve, so
 * the blocks a stall needs are the ones the previous burst freed. Before the
 * reserve, each burst overflowed the cache into free() and each stall
 * allocated about STALL minus the cache afresh.
 */
#include "check.h"
#include "ttlkv_testing.h"

#include <pthread.h>
#include <string.h>
#include <ttlkv.h>

#define KEYS 32768u
#define STALL 8192u
#define ROUNDS 8
#define WARM_ROUNDS 2

static ttlkv *store;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int want_inside;  /* 1: enter a section, 0: leave it, -1: exit */
static int inside;

static void
key_of(uint64_t i, unsigned char key[16])
{
	uint64_t salt = i * 0x9e3779b97f4a7c15ull;

	memcpy(key, &i, 8);
	memcpy(key + 8, &salt, 8);
}

static void
tell(int want)
{
	pthread_mutex_lock(&mutex);
	want_inside = want;
	pthread_cond_broadcast(&cond);
	while (want >= 0 && inside != want)
		pthread_cond_wait(&cond, &mutex);
	pthread_mutex_unlock(&mutex);
}

/* Holds a read section open while told to. */
static void *
reader(void *arg)
{
	unsigned char key[16];
	const void *value;
	size_t len;

	(void)arg;
	key_of(0, key);
	pthread_mutex_lock(&mutex);
	for (;;) {
		while (want_inside == inside)
			pthread_cond_wait(&cond, &mutex);
		if (want_inside < 0)
			break;
		if (want_inside)
			CHECK_STATUS(ttlkv_read_begin(store, key, sizeof key, &value, &len), TTLKV_OK);
		else
			CHECK_STATUS(ttlkv_read_end(), TTLKV_OK);
		inside = want_inside;
		pthread_cond_broadcast(&cond);
	}
	pthread_mutex_unlock(&mutex);
	return NULL;
}

static void
overwrite(uint64_t *next, unsigned n)
{
	unsigned char key[16], value[32] = { 0 };

	for (unsigned i = 0; i < n; i++, (*next)++) {
		key_of(*next % KEYS, key);
		memcpy(value, next, sizeof *next);
		CHECK_STATUS(ttlkv_put(store, key, sizeof key, value, sizeof value, 0), TTLKV_OK);
	}
}

static void
test_stalls_are_ridden_out_on_freed_blocks(void)
{
	ttlkv_options o;
	pthread_t thread;
	uint64_t next = 0, allocated = 0;

	ttlkv_options_init(&o);
	o.capacity = 2 * KEYS;
	o.seed = 7;
	CHECK_STATUS(ttlkv_open(&o, &store), TTLKV_OK);
	overwrite(&next, KEYS);
	CHECK(pthread_create(&thread, NULL, reader, NULL) == 0);
	for (int round = 0; round < ROUNDS; round++) {
		uint64_t before = ttlkv_testing_allocations();

		tell(1);
		overwrite(&next, STALL);
		tell(0);
		overwrite(&next, STALL);
		if (round >= WARM_ROUNDS)
			allocated += ttlkv_testing_allocations() - before;
	}
	tell(-1);
	CHECK(pthread_join(thread, NULL) == 0);
	printf("reuse: %llu allocations in %d rounds of %u stalled and %u free-flowing puts\n",
	    (unsigned long long)allocated, ROUNDS - WARM_ROUNDS, STALL, STALL);
	CHECK(allocated <= (ROUNDS - WARM_ROUNDS) * 2 * STALL / 64);
	ttlkv_close(store);
}

int
main(void)
{
	if (!ttlkv_testing_recycling()) {
		printf("reuse: skipped (this build does not recycle entries)\n");
		return 0;
	}
	test_stalls_are_ridden_out_on_freed_blocks();
	return check_exit("reuse");
}
