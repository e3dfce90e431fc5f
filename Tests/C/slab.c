/*
 * Entry slabs (slab.c): what an entry costs, and that freed blocks come back.
 *
 * A 16-byte key with a 32-byte value makes a 64-byte entry (16-byte
 * header), a 64-byte slab block, where malloc would give it an 80-byte chunk:
 * the store's count (stats.used_bytes) must say 64. Slab pages are never given back, so
 * blocks freed by threads that have exited must serve the threads that come
 * after them: rounds of short-lived writers must not cut more pages.
 * AddressSanitizer builds have no slabs (every free must be real there).
 */
#include "check.h"
#include "ttlkv_testing.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <ttlkv.h>

#define WRITERS 8
#define KEYS_PER_WRITER 2000
#define ROUNDS 40
/* Pages of 64 KiB one round's entries fill, and what a thread's cache may
 * keep (256 KiB, recycle.c). */
#define ROUND_PAGES ((WRITERS * KEYS_PER_WRITER * 72 + 65535) / 65536)
#define CACHE_PAGES 4

static ttlkv *
open_store(uint64_t capacity)
{
	ttlkv_options o;
	ttlkv *s = NULL;

	ttlkv_options_init(&o);
	o.capacity = capacity;
	o.shards = 4;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	return s;
}

static uint64_t
used_bytes(ttlkv *s)
{
	ttlkv_stats stats;

	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	return stats.used_bytes;
}

/* The bytes the store counts for each of n new keys of key_len and
 * value_len bytes (its table sized for them beforehand). */
static uint64_t
charge_per_key(size_t key_len, size_t value_len, int n)
{
	ttlkv *s = open_store((uint64_t)n);
	unsigned char key[64], value[512];
	uint64_t before = used_bytes(s);

	memset(value, 'v', value_len);
	for (int i = 0; i < n; i++) {
		memset(key, 'k', key_len);
		memcpy(key, &i, sizeof i);
		CHECK_STATUS(ttlkv_put(s, key, key_len, value, value_len, 0), TTLKV_OK);
	}
	before = (used_bytes(s) - before) / (uint64_t)n;
	ttlkv_close(s);
	return before;
}

static void
test_entry_charge(void)
{
	uint64_t common = charge_per_key(16, 32, 1000), odd = charge_per_key(16, 33, 1000);

	printf("slab: a 16-byte key with a 32-byte value is charged %llu bytes, with 33: %llu\n",
	    (unsigned long long)common, (unsigned long long)odd);
	CHECK(common == 64);   /* in malloc: 80; with the 24-byte header of 0.2: 80 */
	CHECK(odd == 72);      /* in malloc: 80; with the 24-byte header of 0.2: 96 */
}

struct writer {
	ttlkv *store;
	int round, id;
};

static void *
writer_run(void *arg)
{
	struct writer *w = arg;
	char key[32];

	for (int i = 0; i < KEYS_PER_WRITER; i++) {
		snprintf(key, sizeof key, "%03d-%d-%06d", w->round, w->id, i);
		CHECK_STATUS(ttlkv_put(w->store, key, strlen(key), "a value of 32 bytes, give or take", 32, 0),
		    TTLKV_OK);
	}
	for (int i = 0; i < KEYS_PER_WRITER; i++) {
		snprintf(key, sizeof key, "%03d-%d-%06d", w->round, w->id, i);
		CHECK_STATUS(ttlkv_delete(w->store, key, strlen(key)), TTLKV_OK);
	}
	return NULL;
}

static void
test_exited_threads_blocks_are_reused(void)
{
	ttlkv *s = open_store(WRITERS * KEYS_PER_WRITER);
	size_t last = 0;

	for (int round = 0; round < ROUNDS; round++) {
		pthread_t threads[WRITERS];
		struct writer writers[WRITERS];

		for (int i = 0; i < WRITERS; i++) {
			writers[i] = (struct writer){ s, round, i };
			CHECK(pthread_create(&threads[i], NULL, writer_run, &writers[i]) == 0);
		}
		for (int i = 0; i < WRITERS; i++)
			pthread_join(threads[i], NULL);
		CHECK_STATUS(ttlkv_reclaim(s, 0), TTLKV_OK);
		last = ttlkv_testing_slab_pages();
	}
	printf("slab: %d rounds of %d short-lived writers, %d pages of entries each: %zu slab pages in all\n",
	    ROUNDS, WRITERS, ROUND_PAGES, last);
	/* Without reuse: ROUNDS x ROUND_PAGES. With it: a round's pages, what
	 * waits for reclamation, and what the caches of the writers of a round
	 * and of this thread keep. */
	CHECK(last <= 2 * ROUND_PAGES + (WRITERS + 1) * CACHE_PAGES);
	ttlkv_close(s);
}

int
main(void)
{
	if (!ttlkv_testing_slabs()) {
		printf("slab: slabs are off in this build (AddressSanitizer)\n");
		return 0;
	}
	test_entry_charge();
	test_exited_threads_blocks_are_reused();
	return check_exit("slab");
}
