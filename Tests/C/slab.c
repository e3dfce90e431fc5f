/*
 * Entry slabs (slab.c): what an entry costs, and that freed blocks come back.
 *
 * A 16-byte key with a 32-byte value makes a 64-byte entry (16-byte
 * header), a 64-byte slab block, where malloc would give it an 80-byte chunk:
 * the store's count (stats.used_bytes) must say 64. Blocks freed by
 * threads that have exited must serve the threads that come after them,
 * and those of a closed store the stores opened after it: rounds of
 * short-lived writers, or of stores, must not cut more pages. Pages whose
 * every block is free go back to the system (ttlkv_maintain), and are cut
 * again before new ones, also while other threads write.
 * The range slabs reserve counts against an address-space limit
 * (RLIMIT_AS, as containers and CI runners set): under one, slabs must
 * leave the process most of it. AddressSanitizer builds have no slabs
 * (every free must be real there).
 */
#include "check.h"
#include "test_rss.h"
#include "test_store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <ttlkv.h>
#include <unistd.h>

#define WRITERS 8
#define KEYS_PER_WRITER 2000
#define ROUNDS 40
/* Pages of 64 KiB one round's entries fill, and what a thread's cache may
 * keep (256 KiB, recycle.c). */
#define ROUND_PAGES ((WRITERS * KEYS_PER_WRITER * 64 + 65535) / 65536)
#define CACHE_PAGES 4

/* The VmFlags line of the mapping of this process that holds address, or
 * "" if none does (or the kernel does not say). */
static void
vm_flags_of(const void *address, char *flags, size_t size)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false;

	flags[0] = '\0';
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned long start, end;

		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			inside = (uintptr_t)address >= start && (uintptr_t)address < end;
		} else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, size, "%s", line + 8);
			break;
		}
	}
	fclose(f);
}

static bool
advised_huge(const void *address)
{
	char flags[512];

	vm_flags_of(address, flags, sizeof flags);
	return strstr(flags, " hg") != NULL;
}

/* A ttlkv_read callback: keeps where the value lies in *context. */
static void
note_value(const void *value, size_t value_len, void *context)
{
	(void)value_len;
	*(const void **)context = value;
}

/* A store of one shard with one entry: where that entry's value and the
 * first whole huge page of its table lie. */
static ttlkv *
open_one_entry(unsigned flags, const void **value, const void **table)
{
	ttlkv_options o;
	ttlkv *s = NULL;
	const unsigned char *map;

	ttlkv_options_init(&o);
	o.capacity = 400000;
	o.shards = 1;
	o.flags = flags;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	CHECK_STATUS(ttlkv_put(s, "key", 3, "a value of 32 bytes, give or take", 32, 0), TTLKV_OK);
	*value = NULL;
	CHECK_STATUS(ttlkv_read(s, "key", 3, note_value, (void *)value), TTLKV_OK);
	map = ttlkv_testing_table_map(s, 0);
	*table = map + (2u << 20) - (uintptr_t)map % (2u << 20);
	return s;
}

/*
 * ttlkv.h promises huge pages for tables of 2 MiB or more and for entries
 * once a store sets TTLKV_HUGE_PAGES, and not before (their first touch can
 * be slow under a hypervisor). What the kernel then grants depends on its
 * THP setting and free memory, so the test checks the advice the mappings
 * carry. Run before any store of this process sets the flag.
 */
static void
test_huge_pages_where_asked(void)
{
	const void *value, *table;
	ttlkv *s;

	if (access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK) != 0) {
		printf("slab: this kernel has no transparent huge pages\n");
		return;
	}
	s = open_one_entry(0, &value, &table);
	CHECK(!advised_huge(table));
	CHECK(!advised_huge(value));
	ttlkv_close(s);
	s = open_one_entry(TTLKV_HUGE_PAGES, &value, &table);
	CHECK(advised_huge(table));
	CHECK(advised_huge(value));
	ttlkv_close(s);
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
	ttlkv *s = open_store((uint64_t)n, 4, 0, false);
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
	ttlkv *s = open_store(WRITERS * KEYS_PER_WRITER, 4, 0, false);
	size_t before = ttlkv_testing_slab_pages(), last = 0;

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
		last = ttlkv_testing_slab_pages() - before;
	}
	printf("slab: %d rounds of %d short-lived writers, %d pages of entries each: %zu slab pages more\n",
	    ROUNDS, WRITERS, ROUND_PAGES, last);
	/* Without reuse: ROUNDS x ROUND_PAGES. With it: a round's pages, what
	 * waits for reclamation, and what the caches of the writers of a round
	 * and of this thread keep. */
	CHECK(last <= 2 * ROUND_PAGES + (WRITERS + 1) * CACHE_PAGES);
	ttlkv_close(s);
}

/* A closed store's blocks serve the next store: ten stores of 50,000 keys,
 * each filled and closed in turn, cut no more pages than two of them. */
static void
test_closed_stores_blocks_are_reused(void)
{
	size_t first = 0, last = 0;

	for (int round = 0; round < 10; round++) {
		ttlkv *s = open_store(50000, 4, 0, false);
		char key[32];

		for (int i = 0; i < 50000; i++) {
			snprintf(key, sizeof key, "%03d-key-%06d", round, i);
			CHECK_STATUS(ttlkv_put(s, key, strlen(key), "a value of 32 bytes, give or take", 32, 0),
			    TTLKV_OK);
		}
		ttlkv_close(s);
		if (round == 0)
			first = ttlkv_testing_slab_pages();
		last = ttlkv_testing_slab_pages();
	}
	printf("slab: ten stores filled and closed in turn: %zu slab pages after the first, %zu after all\n",
	    first, last);
	CHECK(last <= 2 * first);
}

struct filler {
	ttlkv *store;
	int round;
};

static void *
fill(void *arg)
{
	struct filler *f = arg;
	char key[32];

	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof key, "%d-fill-%06d", f->round, i);
		CHECK_STATUS(ttlkv_put(f->store, key, strlen(key), "a value of 32 bytes, give or take", 32, 0),
		    TTLKV_OK);
	}
	return NULL;
}

/* Blocks this thread frees past what its cache keeps serve other threads:
 * 100,000 entries deleted and reclaimed here (six megabytes, the cache
 * keeps a quarter of one), then 100,000 new ones put by a new thread, cut
 * only a few pages more. */
static void
test_overflow_serves_other_threads(void)
{
	ttlkv *s = open_store(100000, 4, 0, false);
	struct filler f = { s, 0 };
	pthread_t thread;
	size_t before, after;
	char key[32];

	fill(&f);
	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof key, "%d-fill-%06d", 0, i);
		CHECK_STATUS(ttlkv_delete(s, key, strlen(key)), TTLKV_OK);
	}
	CHECK_STATUS(ttlkv_reclaim(s, 1), TTLKV_OK);
	before = ttlkv_testing_slab_pages();
	f.round = 1;
	CHECK(pthread_create(&thread, NULL, fill, &f) == 0);
	pthread_join(thread, NULL);
	after = ttlkv_testing_slab_pages();
	printf("slab: 100,000 entries freed on one thread, put again on another: %zu pages more\n",
	    after - before);
	/* The cache's quarter megabyte, and what waits in retire batches. */
	CHECK(after - before <= 8);
	ttlkv_close(s);
}

/* Keys of one round of test_free_pages_go_back: 16 bytes and a 32-byte
 * value, a 64-byte block each, 1,024 to a page. */
#define BACK_KEYS 200000
#define BACK_PAGES (BACK_KEYS / 1024)
/* What a class's list keeps for its writers (256 KiB, slab.c). */
#define KEEP_PAGES 4

static void
put_round(ttlkv *s, int round)
{
	char key[17];

	for (int i = 0; i < BACK_KEYS; i++) {
		snprintf(key, sizeof key, "%02d-back-%07d", round, i);
		CHECK_STATUS(ttlkv_put(s, key, 16, key, 16, 0), TTLKV_OK);
		CHECK_STATUS(ttlkv_put(s, key, 16, "a value of 32 bytes, give or take", 32, 0), TTLKV_OK);
	}
}

/* The values of every 64th key of a round: where they lie, to ask the
 * kernel whether their pages are resident (mincore) once they are freed.
 * Precise where RSS is not: the table rebuilds that deletes bring about
 * allocate too. */
#define SAMPLES (BACK_KEYS / 64)

static void
sample_values(ttlkv *s, int round, const void **at)
{
	char key[17];

	for (int i = 0; i < SAMPLES; i++) {
		snprintf(key, sizeof key, "%02d-back-%07d", round, i * 64);
		at[i] = NULL;
		CHECK_STATUS(ttlkv_read(s, key, 16, note_value, (void *)&at[i]), TTLKV_OK);
	}
}

static int
resident_samples(const void *const *at)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	int n = 0;

	for (int i = 0; i < SAMPLES; i++) {
		unsigned char in_core = 0;

		if (mincore((void *)((uintptr_t)at[i] & ~(page - 1)), page, &in_core) == 0)
			n += in_core & 1;
	}
	return n;
}

/* Calls ttlkv_maintain until it gives no more pages back. */
static size_t
maintain_until_still(ttlkv *s)
{
	size_t returned = ttlkv_testing_slab_returned(NULL), last;

	do {
		last = returned;
		CHECK_STATUS(ttlkv_maintain(s, 1u << 20, NULL), TTLKV_OK);
		returned = ttlkv_testing_slab_returned(NULL);
	} while (returned != last);
	return returned;
}

/*
 * Wholly free slab pages go back to the system (slab.c "Giving pages
 * back"): 200,000 entries deleted and reclaimed leave about 195 pages
 * free, and ttlkv_maintain gives back all but what the list keeps (4) and
 * this thread's cache holds (4), so the pages of nine in ten of the values
 * are no longer resident. The next 200,000 entries, of the same size
 * or another, are cut from those pages before any new one, and read back
 * as written: a page given back reads as zeros when it comes again.
 */
static void
test_free_pages_go_back(void)
{
	ttlkv *s = open_store(BACK_KEYS, 4, 0, false);
	const void *at[SAMPLES];
	size_t returned, carved;
	int before, after;
	char key[17], value[40];
	size_t len;

	put_round(s, 0);
	returned = maintain_until_still(s);
	sample_values(s, 0, at);
	before = resident_samples(at);
	for (int i = 0; i < BACK_KEYS; i++) {
		snprintf(key, sizeof key, "%02d-back-%07d", 0, i);
		CHECK_STATUS(ttlkv_delete(s, key, 16), TTLKV_OK);
	}
	CHECK_STATUS(ttlkv_reclaim(s, 1), TTLKV_OK);
	returned = maintain_until_still(s) - returned;
	after = resident_samples(at);
	printf("slab: %d entries deleted: %zu of about %d pages given back; of %d sampled values' "
	    "pages, %d resident before, %d after\n", BACK_KEYS, returned, BACK_PAGES, SAMPLES, before, after);
	CHECK(returned + KEEP_PAGES + CACHE_PAGES + 2 >= BACK_PAGES);
	CHECK(before == SAMPLES && after <= SAMPLES / 10);
	carved = ttlkv_testing_slab_pages();
	put_round(s, 1);
	printf("slab: %d entries put again: %zu pages cut anew, %zu given back still\n", BACK_KEYS,
	    ttlkv_testing_slab_pages() - carved, ttlkv_testing_slab_returned(NULL));
	CHECK(ttlkv_testing_slab_pages() - carved <= 2);
	for (int i = 0; i < BACK_KEYS; i += 97) {
		snprintf(key, sizeof key, "%02d-back-%07d", 1, i);
		CHECK_STATUS(ttlkv_get(s, key, 16, value, sizeof value, &len), TTLKV_OK);
		CHECK(len == 32 && memcmp(value, "a value of 32 bytes, give or take", 32) == 0);
	}
	ttlkv_close(s);
}

/*
 * Where huge pages may back the slabs (here: after a store asked for them),
 * memory goes back only in whole 2 MiB units, 32 pages at once: a unit
 * given back in part would be filled again by khugepaged to a whole huge
 * page. 400,000 entries deleted free about a dozen units, of which the
 * units with none of the pages their class keeps go back.
 */
static void
test_huge_units_go_back_whole(void)
{
	ttlkv_options o;
	ttlkv *s = NULL;
	const void *at[SAMPLES];
	size_t given, given_after;
	int before, after;
	char key[17];

	ttlkv_options_init(&o);
	o.capacity = 2 * BACK_KEYS;
	o.flags = TTLKV_HUGE_PAGES;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	put_round(s, 2);
	put_round(s, 3);
	(void)maintain_until_still(s);
	sample_values(s, 2, at);
	before = resident_samples(at);
	(void)ttlkv_testing_slab_returned(&given);
	for (int round = 2; round <= 3; round++)
		for (int i = 0; i < BACK_KEYS; i++) {
			snprintf(key, sizeof key, "%02d-back-%07d", round, i);
			CHECK_STATUS(ttlkv_delete(s, key, 16), TTLKV_OK);
		}
	CHECK_STATUS(ttlkv_reclaim(s, 1), TTLKV_OK);
	(void)maintain_until_still(s);
	(void)ttlkv_testing_slab_returned(&given_after);
	after = resident_samples(at);
	printf("slab: huge pages: %d entries deleted, %zu pages given back in whole units; of %d "
	    "sampled values' pages, %d resident before, %d after\n", 2 * BACK_KEYS, given_after - given,
	    SAMPLES, before, after);
	/* Units that also hold a page the class keeps, or one in this
	 * thread's cache, stay whole: so about half of the dozen go back. */
	CHECK(given_after - given >= 4 * 32 && (given_after - given) % 32 == 0);
	CHECK(before == SAMPLES && after < SAMPLES);
	ttlkv_close(s);
}

/* The library's own (internal.h): what a writer whose cache is empty does,
 * and a free past the cache. */
void *ttlkv__slab_take(size_t c, size_t max, size_t *taken);
void ttlkv__slab_put(void *block);

static void *taken_chain;
static size_t taken_count;

/* Between two runs of a page's return: a writer takes every free block of
 * the class, the rest of that page's among them. */
static void
take_the_class(size_t c)
{
	if (taken_chain == NULL)
		taken_chain = ttlkv__slab_take(c, SIZE_MAX, &taken_count);
}

/*
 * A page goes back in runs of unlinked blocks, the class's lock let go in
 * between (slab.c): a writer that takes one of the page's blocks meanwhile
 * makes the page in use again, and the return must undo itself, its
 * blocks back in the list. 20,000 freed entries of 240 bytes (73 pages),
 * the class's whole list taken after the first run: the return is undone;
 * once the blocks come back, the pages go back; entries of the class are
 * then cut and read back intact.
 */
static void
test_page_return_undone_by_a_writer(void)
{
	ttlkv *s = open_store(20000, 4, 0, false);
	size_t undone = ttlkv_testing_slab_returns_undone(), returned, len;
	char key[17], value[208], out[208];

	memset(value, 'u', sizeof value);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 20000; i++) {
			snprintf(key, sizeof key, "%02d-back-%07d", 9, i);
			CHECK_STATUS(ttlkv_put(s, key, 16, value, sizeof value, 0), TTLKV_OK);
		}
		if (round == 1)
			break;
		for (int i = 0; i < 20000; i++) {
			snprintf(key, sizeof key, "%02d-back-%07d", 9, i);
			CHECK_STATUS(ttlkv_delete(s, key, 16), TTLKV_OK);
		}
		CHECK_STATUS(ttlkv_reclaim(s, 1), TTLKV_OK);
		ttlkv_testing_recycle_flush();
		ttlkv_testing_slab_between_runs = take_the_class;
		CHECK_STATUS(ttlkv_maintain(s, 1u << 20, NULL), TTLKV_OK);
		ttlkv_testing_slab_between_runs = NULL;
		CHECK(ttlkv_testing_slab_returns_undone() == undone + 1 && taken_count > 64);
		returned = ttlkv_testing_slab_returned(NULL);
		for (void *block = taken_chain, *next; block != NULL; block = next) {
			next = *(void **)block;
			ttlkv__slab_put(block);
		}
		taken_chain = NULL;
		printf("slab: a page's return undone by a writer that took %zu blocks midway; once they "
		    "came back, %zu pages given back\n", taken_count,
		    maintain_until_still(s) - returned);
		CHECK(ttlkv_testing_slab_returned(NULL) > returned);
	}
	for (int i = 0; i < 20000; i += 7) {
		snprintf(key, sizeof key, "%02d-back-%07d", 9, i);
		CHECK_STATUS(ttlkv_get(s, key, 16, out, sizeof out, &len), TTLKV_OK);
		CHECK(len == sizeof value && memcmp(out, value, len) == 0);
	}
	ttlkv_close(s);
}

struct shifter {
	ttlkv *store;
	int id;
	bool *stop;
};

/* Rounds of puts then deletes of this thread's keys, each round's values
 * of another size class, checked as read back. */
static void *
shift_sizes(void *arg)
{
	struct shifter *w = arg;
	char key[24], value[200], out[200];
	size_t len;

	for (int round = 0; round < 12; round++) {
		size_t vlen = 24 + (size_t)(round % 6) * 32;

		memset(value, 'a' + round, vlen);
		for (int i = 0; i < 6000; i++) {
			snprintf(key, sizeof key, "%d-shift-%05d", w->id, i);
			CHECK_STATUS(ttlkv_put(w->store, key, strlen(key), value, vlen, 0), TTLKV_OK);
		}
		for (int i = 0; i < 6000; i++) {
			snprintf(key, sizeof key, "%d-shift-%05d", w->id, i);
			CHECK_STATUS(ttlkv_get(w->store, key, strlen(key), out, sizeof out, &len), TTLKV_OK);
			CHECK(len == vlen && memcmp(out, value, vlen) == 0);
			CHECK_STATUS(ttlkv_delete(w->store, key, strlen(key)), TTLKV_OK);
		}
	}
	return NULL;
}

static void *
maintain_loop(void *arg)
{
	struct shifter *m = arg;

	while (!__atomic_load_n(m->stop, __ATOMIC_ACQUIRE))
		CHECK_STATUS(ttlkv_maintain(m->store, 65536, NULL), TTLKV_OK);
	return NULL;
}

/* Pages given back while writers of other threads take, free and carve
 * blocks of their class (ThreadSanitizer runs this suite): four writers
 * move through six size classes while a worker calls ttlkv_maintain. */
static void
test_pages_go_back_beside_writers(void)
{
	ttlkv *s = open_store(4 * 6000, 4, 0, false);
	bool stop = false;
	struct shifter w[4], m = { s, 0, &stop };
	pthread_t threads[4], worker;
	size_t before, after;

	(void)ttlkv_testing_slab_returned(&before);
	CHECK(pthread_create(&worker, NULL, maintain_loop, &m) == 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct shifter){ s, i, &stop };
		CHECK(pthread_create(&threads[i], NULL, shift_sizes, &w[i]) == 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	__atomic_store_n(&stop, true, __ATOMIC_RELEASE);
	pthread_join(worker, NULL);
	(void)ttlkv_testing_slab_returned(&after);
	printf("slab: four writers through six size classes beside a worker: %zu pages given back, "
	    "%zu returns undone by a writer midway\n", after - before, ttlkv_testing_slab_returns_undone());
	CHECK(after > before);
	CHECK(ttlkv_count(s) == 0);
	ttlkv_close(s);
}

#ifndef SANITIZED
static uint64_t
address_space_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu", &size) != 1)
		size = 0;
	fclose(f);
	return (uint64_t)size * (uint64_t)sysconf(_SC_PAGESIZE);
}
#endif

/* Runs first, before anything reserves the range: under a limit 6 GiB above
 * what the process maps, the first small entry reserves it, and a 3 GiB
 * allocation must still succeed (it failed when the range took 4 GiB of
 * the 6). Not under ThreadSanitizer, whose shadow needs the address space. */
static void
test_address_space_limit(void)
{
#ifndef SANITIZED
	struct rlimit before, limit;
	ttlkv *s = open_store(64, 4, 0, false);
	void *big;

	CHECK(getrlimit(RLIMIT_AS, &before) == 0);
	limit = before;
	limit.rlim_cur = address_space_bytes() + (6ull << 30);
	if (before.rlim_cur != RLIM_INFINITY && before.rlim_cur < limit.rlim_cur) {
		ttlkv_close(s);
		return;
	}
	CHECK(setrlimit(RLIMIT_AS, &limit) == 0);
	CHECK_STATUS(ttlkv_put(s, "key", 3, "value", 5, 0), TTLKV_OK);
	big = malloc(3ull << 30);
	printf("slab: under a limit of 6 GiB more, the first small entry left %s for a 3 GiB allocation\n",
	    big != NULL ? "room" : "NO room");
	CHECK(big != NULL);
	free(big);
	CHECK(setrlimit(RLIMIT_AS, &before) == 0);
	ttlkv_close(s);
#endif
}

#ifdef SANITIZED
static void *
first_put(void *arg)
{
	usleep(2000); /* into the middle of the opens */
	CHECK_STATUS(ttlkv_put(arg, "key", 3, "value", 5, 0), TTLKV_OK);
	return NULL;
}
#endif

/* Under ThreadSanitizer, runs first: one thread's first small entry sets
 * the slabs up while this one opens and closes stores, whose table charges
 * ask whether a block is a slab's (every free asks it too). */
static void
test_first_use_beside_frees(void)
{
#ifdef SANITIZED
	ttlkv *s = open_store(64, 4, 0, false);
	pthread_t thread;

	CHECK(pthread_create(&thread, NULL, first_put, s) == 0);
	for (int i = 0; i < 200; i++)
		ttlkv_close(open_store(64, 4, 0, false));
	pthread_join(thread, NULL);
	ttlkv_close(s);
#endif
}

int
main(void)
{
	test_first_use_beside_frees();
	test_address_space_limit();
	if (!ttlkv_testing_slabs()) {
		printf("slab: slabs are off in this build (AddressSanitizer)\n");
		return check_exit("slab");
	}
	test_entry_charge();
	test_free_pages_go_back();
	test_pages_go_back_beside_writers();
	test_page_return_undone_by_a_writer();
	test_huge_pages_where_asked();
	test_huge_units_go_back_whole();
	test_closed_stores_blocks_are_reused();
	test_overflow_serves_other_threads();
	test_exited_threads_blocks_are_reused();
	return check_exit("slab");
}
