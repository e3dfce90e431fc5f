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
 * allocated about STALL minus the cache afresh. A second run calls
 * ttlkv_reclaim(store, 0) after each round, as the Swift expiry worker does
 * every second: it must leave the reserve alone.
 *
 * What the reserve must not keep: retired tables (a rebuild's old table is
 * freed by the next sweep or reclaim, whatever the reserve holds) and large
 * entries (a shard keeps at most 256 KiB, however few entries that is).
 */
#include "check.h"
#include "test_keys.h"
#include "ttlkv_testing.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <ttlkv.h>
#include <unistd.h>

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
test_stalls_are_ridden_out_on_freed_blocks(bool reclaim_each_round)
{
	ttlkv_options o;
	pthread_t thread;
	uint64_t next = 0, allocated = 0;

	ttlkv_options_init(&o);
	o.capacity = 2 * KEYS;
	o.seed = 7;
	CHECK_STATUS(ttlkv_open(&o, &store), TTLKV_OK);
	overwrite(&next, KEYS);
	want_inside = inside = 0; /* the previous run's reader was told to exit */
	CHECK(pthread_create(&thread, NULL, reader, NULL) == 0);
	for (int round = 0; round < ROUNDS; round++) {
		uint64_t before = ttlkv_testing_allocations();

		tell(1);
		overwrite(&next, STALL);
		tell(0);
		overwrite(&next, STALL);
		if (reclaim_each_round)
			CHECK_STATUS(ttlkv_reclaim(store, 0), TTLKV_OK);
		if (round >= WARM_ROUNDS)
			allocated += ttlkv_testing_allocations() - before;
	}
	tell(-1);
	CHECK(pthread_join(thread, NULL) == 0);
	printf("reuse: %llu allocations in %d rounds of %u stalled and %u free-flowing puts%s\n",
	    (unsigned long long)allocated, ROUNDS - WARM_ROUNDS, STALL, STALL,
	    reclaim_each_round ? ", each followed by ttlkv_reclaim(store, 0)" : "");
	CHECK(allocated <= (ROUNDS - WARM_ROUNDS) * 2 * STALL / 64);
	ttlkv_close(store);
}

/* Retires entries until what waits to be freed has settled, the way a
 * worker's periodic reclaim leaves it. */
static void
settle(ttlkv *s)
{
	for (int i = 0; i < 4; i++)
		CHECK_STATUS(ttlkv_reclaim(s, 0), TTLKV_OK);
}

static void
test_large_entries_are_not_kept(void)
{
	enum { SHARDS = 4, BIG = 64 * 1024 };
	ttlkv_options o;
	ttlkv_stats stats;
	unsigned char key[16], *value = calloc(1, BIG);
	ttlkv *s;

	ttlkv_options_init(&o);
	o.capacity = 1024;
	o.shards = SHARDS;
	o.max_value_size = BIG;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	for (uint64_t i = 0; i < 20000; i++) {
		key_of(i % 256, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, value, BIG, 0), TTLKV_OK);
	}
	settle(s);
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	printf("reuse: %llu retired 64 KiB entries kept over %d shards\n",
	    (unsigned long long)stats.deferred_frees, SHARDS);
	/* 256 KiB a shard: four such entries, and the one that passes it. */
	CHECK(stats.deferred_frees <= SHARDS * 5);
	ttlkv_close(s);
	free(value);
}

static void
test_retired_tables_are_not_kept(void)
{
	ttlkv_options o;
	ttlkv_stats stats;
	unsigned char key[16], value[32] = { 0 };
	uint64_t oldest = 0, next = 0;
	ttlkv *s;

	ttlkv_options_init(&o);
	o.capacity = 4096;
	o.shards = 1;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	for (; next < 4096; next++) {
		key_of(next, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, value, sizeof value, 0), TTLKV_OK);
	}
	do {
		key_of(oldest++, key);
		CHECK_STATUS(ttlkv_delete(s, key, sizeof key), TTLKV_OK);
		key_of(next++, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, value, sizeof value, 0), TTLKV_OK);
		CHECK_STATUS(ttlkv_maintain(s, 1u << 20, NULL), TTLKV_OK);
		CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	} while (stats.table_rebuilds == 0 && next < 1000000);
	CHECK(stats.table_rebuilds == 1);
	settle(s);
	printf("reuse: a rebuild's old table, settled: %llu left unfreed\n",
	    (unsigned long long)ttlkv_testing_ready_tables(s));
	CHECK(ttlkv_testing_ready_tables(s) == 0);
	ttlkv_close(s);
}

int
main(void)
{
	if (!ttlkv_testing_recycling()) {
		printf("reuse: skipped (this build does not recycle entries)\n");
		return 0;
	}
	alarm(300); /* a lost handshake with the reader fails instead of hanging */
	test_stalls_are_ridden_out_on_freed_blocks(false);
	test_stalls_are_ridden_out_on_freed_blocks(true);
	test_large_entries_are_not_kept();
	test_retired_tables_are_not_kept();
	return check_exit("reuse");
}
