/*
 * Steady churn: the life of a TTL store, which stays the same size while
 * keys expire and new ones arrive, for many times its table's slot count.
 *
 * Every removal leaves a tombstone, and only a rebuild empties its slot
 * again. The first test churns 24 x the table's slots at a constant quarter
 * load, calling ttlkv_maintain as an expiry worker would, and checks after
 * every slots' worth of churn that at least 30 % of the slots are empty
 * (without maintenance they fall towards 0 %) and that every live key still
 * reads back and no removed one does. The second grows a store far past its
 * capacity under the same maintenance and checks that maintenance grew the
 * tables beside the live ones, so that no writer had to grow one in place.
 * The third checks that rebuilds come one at a time rather than all together.
 * The fourth has eight threads churn one shard while it is rebuilt over and
 * over: the publish step, which holds the shard's lock, must replay no more
 * than the few dozen logged writes the header promises, however many the
 * writers log while the rebuilder waits for that lock.
 */
#include "check.h"
#include "test_keys.h"
#include "ttlkv_testing.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <ttlkv.h>

#define LIVE 16384u
#define CHURN_ROUNDS 24

static ttlkv *
open_store(uint64_t capacity, uint32_t shards)
{
	ttlkv_options o;
	ttlkv *s = NULL;

	ttlkv_options_init(&o);
	o.capacity = capacity;
	o.shards = shards;
	o.seed = 42;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	return s;
}

/* What an expiry worker does between batches of writes. */
static void
worker_tick(ttlkv *s)
{
	CHECK_STATUS(ttlkv_maintain(s, 4096, NULL), TTLKV_OK);
}

static void
test_churn_keeps_empty_slots(void)
{
	ttlkv *s = open_store(LIVE, 1);
	unsigned char key[16], value[8];
	uint64_t oldest = 0, next = LIVE, empty, tombstones, live, lowest = UINT64_MAX;
	ttlkv_stats stats;
	size_t n;

	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	for (uint64_t i = 0; i < LIVE; i++) {
		key_of(i, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, &i, sizeof i, 0), TTLKV_OK);
	}
	for (int round = 0; round < CHURN_ROUNDS; round++) {
		for (uint64_t j = 0; j < stats.table_slots; j++) {
			key_of(oldest++, key);
			CHECK_STATUS(ttlkv_delete(s, key, sizeof key), TTLKV_OK);
			key_of(next, key);
			CHECK_STATUS(ttlkv_put(s, key, sizeof key, &next, sizeof next, 0), TTLKV_OK);
			next++;
			if (j % 256 == 0)
				worker_tick(s);
		}
		CHECK(ttlkv_testing_table_shape(s, &empty, &tombstones, &live) == 0);
		CHECK(live == LIVE);
		if (empty < lowest)
			lowest = empty;
	}
	printf("churn: %u live keys, %llu slots, churned %d x the slots: empty slots never below %.1f %%\n",
	    LIVE, (unsigned long long)stats.table_slots, CHURN_ROUNDS,
	    100.0 * (double)lowest / (double)stats.table_slots);
	CHECK(lowest * 10 >= stats.table_slots * 3);
	for (uint64_t i = oldest - 1000; i < next; i++) {
		uint64_t got = 0;

		key_of(i, key);
		CHECK_STATUS(ttlkv_get(s, key, sizeof key, value, sizeof value, &n),
		    i < oldest ? TTLKV_NOT_FOUND : TTLKV_OK);
		memcpy(&got, value, sizeof got);
		CHECK(i < oldest || got == i);
	}
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	CHECK(stats.table_rebuilds >= CHURN_ROUNDS / 2);
	CHECK(stats.table_grows == 0);
	CHECK(stats.entries == LIVE);
	ttlkv_close(s);
}

static void
test_maintenance_grows_ahead_of_writers(void)
{
	ttlkv *s = open_store(1024, 4);
	unsigned char key[16];
	ttlkv_stats stats;

	for (uint64_t i = 0; i < 64 * LIVE; i++) {
		key_of(i, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, &i, sizeof i, 0), TTLKV_OK);
		if (i % 256 == 0)
			worker_tick(s);
	}
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	printf("churn: 4 shards grown from %u to %llu slots by %llu rebuilds, %llu grown in place\n",
	    1024u, (unsigned long long)stats.table_slots, (unsigned long long)stats.table_rebuilds,
	    (unsigned long long)stats.table_grows);
	CHECK(stats.table_grows == 0);
	CHECK(stats.table_slots >= 2 * 64 * LIVE);
	for (uint64_t i = 0; i < 64 * LIVE; i += 97) {
		uint64_t got = 0;
		size_t n;

		key_of(i, key);
		CHECK_STATUS(ttlkv_get(s, key, sizeof key, &got, sizeof got, &n), TTLKV_OK);
		CHECK(got == i);
	}
	ttlkv_close(s);
}

/*
 * Uniform churn brings every shard to the rebuild mark at the same moment.
 * Rebuilt together, they make one stretch of the store's life carry all the
 * copying (a third busy thread, and its memory traffic) and the rest none:
 * the inserts of that stretch saw twice the p99.9 of the others. Maintenance
 * must spread rebuilds out instead: over any stretch of a quarter of a
 * rebuild cycle, about a quarter of the shards, never half.
 */
static void
test_rebuilds_are_spread_out(void)
{
	enum { SHARDS = 16, KEYS = 2048 * SHARDS, TICK = 32, CYCLES = 8 };
	ttlkv *s = open_store(KEYS, SHARDS);
	unsigned char key[16];
	uint64_t oldest = 0, next = KEYS, done = 0, *at, n_at = 0, cycle, most = 0;
	ttlkv_stats stats;

	for (; next < 2 * KEYS; next++) {
		key_of(next - KEYS, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, &next, sizeof next, 0), TTLKV_OK);
	}
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	/* Replacements between two rebuilds of a shard: half its slots. */
	cycle = stats.table_slots / 2;
	at = calloc(CYCLES * SHARDS * 2, sizeof *at);
	for (uint64_t i = 0; i < CYCLES * cycle; i++) {
		size_t rebuilt = 0;

		key_of(oldest++, key);
		CHECK_STATUS(ttlkv_delete(s, key, sizeof key), TTLKV_OK);
		key_of(next - KEYS, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, &next, sizeof next, 0), TTLKV_OK);
		next++;
		if (i % TICK != 0)
			continue;
		CHECK_STATUS(ttlkv_maintain(s, 1u << 20, &rebuilt), TTLKV_OK);
		for (size_t r = 0; r < rebuilt && n_at < CYCLES * SHARDS * 2; r++)
			at[n_at++] = i;
		done += rebuilt;
	}
	/* From the second cycle on: the most rebuilds within a quarter cycle. */
	for (uint64_t a = 0; a < n_at; a++) {
		uint64_t b = a;

		if (at[a] < cycle)
			continue;
		while (b < n_at && at[b] < at[a] + cycle / 4)
			b++;
		if (b - a > most)
			most = b - a;
	}
	printf("churn: %d shards churned %d times: %llu rebuilds, at most %llu in a quarter cycle\n",
	    SHARDS, CYCLES, (unsigned long long)done, (unsigned long long)most);
	CHECK(done >= (CYCLES - 1) * SHARDS);
	CHECK(most <= SHARDS / 2);
	free(at);
	ttlkv_close(s);
}

/* The publish step's bound (rebuild.c, FINAL_OPS). */
#define PUBLISH_REPLAYS_MAX 64

static bool churners_stop;

static void *
churner(void *arg)
{
	ttlkv *s = arg;
	static uint64_t ids;
	uint64_t base = __atomic_fetch_add(&ids, 1, __ATOMIC_RELAXED) << 40, oldest = base, next = base;
	unsigned char key[16];

	for (; next < base + 512; next++) {
		key_of(next, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, &next, sizeof next, 0), TTLKV_OK);
	}
	while (!__atomic_load_n(&churners_stop, __ATOMIC_RELAXED)) {
		key_of(oldest++, key);
		CHECK_STATUS(ttlkv_delete(s, key, sizeof key), TTLKV_OK);
		key_of(next, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, &next, sizeof next, 0), TTLKV_OK);
		next++;
	}
	return NULL;
}

static void
test_publish_replays_are_bounded(void)
{
	enum { WRITERS = 8, REBUILDS = 300 };
	ttlkv *s = open_store(WRITERS * 512, 1);
	pthread_t writers[WRITERS];
	ttlkv_stats stats;
	uint64_t rebuilds = 0, most;
	time_t until = time(NULL) + 20;

	(void)ttlkv_testing_locked_replays();
	churners_stop = false;
	for (int i = 0; i < WRITERS; i++)
		CHECK(pthread_create(&writers[i], NULL, churner, s) == 0);
	while (rebuilds < REBUILDS && time(NULL) < until) {
		size_t rebuilt = 0;

		/* A small budget: each rebuild spans many calls and many writes. */
		CHECK_STATUS(ttlkv_maintain(s, 256, &rebuilt), TTLKV_OK);
		rebuilds += rebuilt;
	}
	__atomic_store_n(&churners_stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < WRITERS; i++)
		CHECK(pthread_join(writers[i], NULL) == 0);
	most = ttlkv_testing_locked_replays();
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	printf("churn: %d writers on one shard, %llu rebuilds published: at most %llu logged "
	    "writes replayed under the lock (bound %d)\n", WRITERS,
	    (unsigned long long)rebuilds, (unsigned long long)most, PUBLISH_REPLAYS_MAX);
	CHECK(rebuilds >= 5);
	CHECK(most <= PUBLISH_REPLAYS_MAX);
	CHECK(stats.entries == WRITERS * 512);
	ttlkv_close(s);
}

int
main(void)
{
	test_churn_keeps_empty_slots();
	test_maintenance_grows_ahead_of_writers();
	test_rebuilds_are_spread_out();
	test_publish_replays_are_bounded();
	return check_exit("churn");
}
