/*
 * The snapshot primitives: ttlkv_walk_* (every untouched key exactly once,
 * whole, never an expired one; also across table grows and under
 * concurrent writers) and ttlkv_load (absolute deadlines, expired items
 * dropped, a preallocated table never grown, the limits and the budget,
 * failed allocations).
 */
#include "test_keys.h"
#include "test_store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ttlkv.h>

/* A store on the injected clock with a byte budget. */
static ttlkv *
open_budget_store(uint64_t max_bytes)
{
	ttlkv_options o;
	ttlkv *s = NULL;

	ttlkv_options_init(&o);
	o.max_bytes = max_bytes;
	o.flags = TTLKV_TRACK_EXPIRY;
	test_clock_attach(&clock_, &o);
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	return s;
}

/* Value of key i in its generation: the key's index and the generation,
 * padded to 32 bytes, so that a report can be checked against its key. */
static void
value_for(uint64_t i, uint64_t gen, char value[33])
{
	snprintf(value, 33, "v%012llu-%08llu-xxxxxxxxx", (unsigned long long)(i % 1000000000000u),
	    (unsigned long long)(gen % 100000000u));
}

/* What a walk saw: per key index (the key's first 8 bytes), how often, the
 * last value's generation and deadline; and the reports that were not whole. */
struct seen {
	uint64_t n;
	unsigned *times;
	uint64_t *gen;
	uint64_t *deadline;
	uint64_t torn;     /* a value that does not belong to its key */
	uint64_t unknown;  /* a key index out of range */
	uint64_t reports;
};

static void
seen_init(struct seen *s, uint64_t n)
{
	memset(s, 0, sizeof *s);
	s->n = n;
	s->times = calloc(n, sizeof *s->times);
	s->gen = calloc(n, sizeof *s->gen);
	s->deadline = calloc(n, sizeof *s->deadline);
}

static void
seen_free(struct seen *s)
{
	free(s->times);
	free(s->gen);
	free(s->deadline);
}

static void
record(const void *key, size_t key_len, const void *value, size_t value_len,
    uint64_t deadline, void *context)
{
	struct seen *s = context;
	unsigned long long vi = 0, vg = 0;
	char buf[40];
	uint64_t i;

	s->reports++;
	if (key_len != 16 || value_len != 32) {
		s->torn++;
		return;
	}
	memcpy(&i, key, 8);
	if (i >= s->n) {
		s->unknown++;
		return;
	}
	memcpy(buf, value, 32);
	buf[32] = '\0';
	if (sscanf(buf, "v%12llu-%8llu-", &vi, &vg) != 2 || vi != i) {
		s->torn++;
		return;
	}
	s->times[i]++;
	s->gen[i] = vg;
	s->deadline[i] = deadline;
}

/* Walks s to its end, `step` slots per call. */
static void
walk_all(ttlkv *s, size_t step, struct seen *seen)
{
	ttlkv_walk *w = NULL;
	int done = 0;

	CHECK_STATUS(ttlkv_walk_begin(s, &w), TTLKV_OK);
	while (!done)
		CHECK_STATUS(ttlkv_walk_next(w, step, record, seen, &done), TTLKV_OK);
	ttlkv_walk_end(w);
}

static void
put_key(ttlkv *s, uint64_t i, uint64_t gen, uint64_t ttl)
{
	unsigned char key[16];
	char value[33];

	key_of(i, key);
	value_for(i, gen, value);
	CHECK_STATUS(ttlkv_put(s, key, 16, value, 32, ttl), TTLKV_OK);
}

/* Every key once, whole, with its deadline; expired and absent keys never. */
static void
test_walk_basics(void)
{
	enum { N = 5000 };
	ttlkv *s = open_store(N, 4, 0, true);
	uint64_t now = ttlkv_now(s);
	struct seen seen;
	unsigned char key[16];

	for (uint64_t i = 0; i < N; i++)
		put_key(s, i, 1, i % 3 == 0 ? 0 : i % 3 == 1 ? 100 : 100000);
	for (uint64_t i = 0; i < N; i += 10) {
		key_of(i, key);
		CHECK_STATUS(ttlkv_delete(s, key, 16), TTLKV_OK);
	}
	test_clock_advance(&clock_, 100); /* the i % 3 == 1 keys expire */
	for (size_t step = 1; step <= 100000; step *= 17) {
		seen_init(&seen, N);
		walk_all(s, step, &seen);
		CHECK(seen.torn == 0 && seen.unknown == 0);
		for (uint64_t i = 0; i < N; i++) {
			bool live = i % 10 != 0 && i % 3 != 1;

			CHECK(seen.times[i] == (live ? 1u : 0u));
			if (!live || seen.times[i] != 1)
				continue;
			CHECK(seen.deadline[i] == (i % 3 == 0 ? TTLKV_NO_EXPIRY : now + 100000));
		}
		seen_free(&seen);
	}
	/* A walk that is done stays done; a NULL argument is refused. */
	{
		ttlkv_walk *w = NULL;
		int done = 0;

		CHECK_STATUS(ttlkv_walk_begin(NULL, &w), TTLKV_INVALID_ARGUMENT);
		CHECK(w == NULL);
		CHECK_STATUS(ttlkv_walk_begin(s, NULL), TTLKV_INVALID_ARGUMENT);
		CHECK_STATUS(ttlkv_walk_begin(s, &w), TTLKV_OK);
		CHECK_STATUS(ttlkv_walk_next(w, 0, NULL, NULL, &done), TTLKV_INVALID_ARGUMENT);
		CHECK_STATUS(ttlkv_walk_next(w, 1, record, NULL, NULL), TTLKV_INVALID_ARGUMENT);
		CHECK_STATUS(ttlkv_walk_next(NULL, 1, record, NULL, &done), TTLKV_INVALID_ARGUMENT);
		seen_init(&seen, N);
		while (!done)
			CHECK_STATUS(ttlkv_walk_next(w, 1 << 20, record, &seen, &done), TTLKV_OK);
		CHECK_STATUS(ttlkv_walk_next(w, 1 << 20, record, &seen, &done), TTLKV_OK);
		CHECK(done == 1);
		ttlkv_walk_end(w);
		ttlkv_walk_end(NULL);
		seen_free(&seen);
	}
	ttlkv_close(s);
}

/* Tables replaced in the middle of a shard (grows from inserts, rebuilds
 * from ttlkv_maintain): the untouched keys still come once. */
static void
test_walk_across_replacements(void)
{
	enum { N = 3000, MORE = 60000 };
	ttlkv *s = open_store(64, 2, 0, true);
	ttlkv_stats before, after;
	struct seen seen;
	ttlkv_walk *w = NULL;
	int done = 0;
	uint64_t next = N, calls = 0;

	for (uint64_t i = 0; i < N; i++)
		put_key(s, i, 1, 0);
	seen_init(&seen, N + MORE);
	CHECK_STATUS(ttlkv_stats_get(s, &before), TTLKV_OK);
	CHECK_STATUS(ttlkv_walk_begin(s, &w), TTLKV_OK);
	while (!done) {
		CHECK_STATUS(ttlkv_walk_next(w, 97, record, &seen, &done), TTLKV_OK);
		/* New keys make the tables grow again and again meanwhile, and
		 * deletes of them give maintenance tombstones to rebuild. */
		for (int k = 0; k < 40 && next < N + MORE; k++)
			put_key(s, next++, 1, 0);
		if (++calls % 7 == 0) {
			unsigned char key[16];

			for (uint64_t i = next - 40; i < next; i += 2) {
				key_of(i, key);
				(void)ttlkv_delete(s, key, 16);
			}
			CHECK_STATUS(ttlkv_maintain(s, 1 << 16, NULL), TTLKV_OK);
		}
	}
	ttlkv_walk_end(w);
	CHECK_STATUS(ttlkv_stats_get(s, &after), TTLKV_OK);
	CHECK(after.table_grows + after.table_rebuilds > before.table_grows + before.table_rebuilds + 2);
	CHECK(seen.torn == 0 && seen.unknown == 0);
	for (uint64_t i = 0; i < N; i++)
		CHECK(seen.times[i] == 1);
	for (uint64_t i = N; i < N + MORE; i++)
		CHECK(seen.times[i] <= 1);
	printf("snapshot: walk across %llu grows, %llu rebuilds: %llu reports\n",
	    (unsigned long long)(after.table_grows - before.table_grows),
	    (unsigned long long)(after.table_rebuilds - before.table_rebuilds),
	    (unsigned long long)seen.reports);
	seen_free(&seen);
	ttlkv_close(s);
}

/* Writers during walks: keys [0, STABLE) are never written and must come
 * exactly once each time; keys [STABLE, STABLE + HOT) are rewritten (value
 * and deadline change together: deadline = start + 1000 + gen), deleted and
 * written again, and new keys inserted, growing the tables; every report
 * must be whole, and no key may come twice. */
enum { STABLE = 20000, HOT = 512, FRESH = 200000 };
static ttlkv *shared;
static uint64_t start_now;
static int stop_writers;

static void *
writer(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, gen = 1, fresh = STABLE + HOT + id;
	unsigned char key[16];

	while (!__atomic_load_n(&stop_writers, __ATOMIC_ACQUIRE)) {
		uint64_t i = STABLE + (gen * 7919 + id) % HOT;

		gen++;
		if (gen % 5 == 0) {
			key_of(i, key);
			(void)ttlkv_delete(shared, key, 16);
		} else {
			put_key(shared, i, gen, 1000 + gen);
		}
		if (gen % 3 == 0 && fresh < STABLE + HOT + FRESH) {
			put_key(shared, fresh, 0, 0);
			fresh += 2;
		}
	}
	return NULL;
}

static void
test_walk_with_writers(void)
{
	const char *scale = getenv("TTLKV_TEST_SCALE");
	int rounds = scale != NULL ? 3 : 10;
	pthread_t threads[2];
	uint64_t total = STABLE + HOT + FRESH;

	shared = open_store(1024, 4, 0, true);
	start_now = ttlkv_now(shared);
	for (uint64_t i = 0; i < STABLE + HOT; i++)
		put_key(shared, i, 0, 0);
	for (int t = 0; t < 2; t++)
		pthread_create(&threads[t], NULL, writer, (void *)(uintptr_t)t);
	for (int r = 0; r < rounds; r++) {
		struct seen seen;

		seen_init(&seen, total);
		walk_all(shared, 1 + (size_t)r * 331, &seen);
		CHECK(seen.torn == 0 && seen.unknown == 0);
		for (uint64_t i = 0; i < STABLE; i++)
			CHECK(seen.times[i] == 1 && seen.gen[i] == 0 && seen.deadline[i] == TTLKV_NO_EXPIRY);
		for (uint64_t i = STABLE; i < total; i++)
			CHECK(seen.times[i] <= 1);
		for (uint64_t i = STABLE; i < STABLE + HOT; i++)
			if (seen.times[i] != 0 && seen.gen[i] != 0)
				CHECK(seen.deadline[i] == start_now + 1000 + seen.gen[i]);
		seen_free(&seen);
	}
	__atomic_store_n(&stop_writers, 1, __ATOMIC_RELEASE);
	for (int t = 0; t < 2; t++)
		pthread_join(threads[t], NULL);
	printf("snapshot: %d walks beside 2 writers, %llu keys at the end\n", rounds,
	    (unsigned long long)ttlkv_count(shared));
	ttlkv_close(shared);
}

/* Items i of a load: key i, value (i, gen), deadline as given. */
struct load_set {
	size_t n;
	unsigned char (*keys)[16];
	char (*values)[33];
	ttlkv_load_item *items;
	ttlkv_status *statuses;
};

static void
load_set_init(struct load_set *l, size_t n, uint64_t gen, uint64_t (*deadline)(uint64_t))
{
	l->n = n;
	l->keys = calloc(n, 16);
	l->values = calloc(n, 33);
	l->items = calloc(n, sizeof *l->items);
	l->statuses = calloc(n, sizeof *l->statuses);
	for (size_t i = 0; i < n; i++) {
		key_of(i, l->keys[i]);
		value_for(i, gen, l->values[i]);
		l->items[i] = (ttlkv_load_item){ l->keys[i], 16, l->values[i], 32, deadline(i) };
	}
}

static void
load_set_free(struct load_set *l)
{
	free(l->keys);
	free(l->values);
	free(l->items);
	free(l->statuses);
}

/* A third never expire, a third already expired, a third later. */
static uint64_t
mixed_deadline(uint64_t i)
{
	uint64_t now = test_clock_read(&clock_);

	return i % 3 == 0 ? TTLKV_NO_EXPIRY : i % 3 == 1 ? now - (i % 1000) : now + 5000 + i;
}

static bool
absent(ttlkv *s, const void *key)
{
	size_t n = 0;

	return ttlkv_get(s, key, 16, NULL, 0, &n) == TTLKV_NOT_FOUND;
}

/* Whether the store holds item i of l exactly (value and deadline). */
static bool
holds(ttlkv *s, const struct load_set *l, size_t i)
{
	char got[40];
	size_t n = 0;
	uint64_t deadline = 0;

	return ttlkv_get(s, l->keys[i], 16, got, sizeof got, &n) == TTLKV_OK && n == 32 &&
	    memcmp(got, l->values[i], 32) == 0 &&
	    ttlkv_deadline(s, l->keys[i], 16, &deadline) == TTLKV_OK &&
	    deadline == l->items[i].deadline_ms;
}

static void
test_load_basics(void)
{
	enum { N = 100000 };
	ttlkv *s = open_store(N, 0, 0, true);
	ttlkv_stats before, after;
	struct load_set l;
	size_t stored = 0, dropped = 0, scheduled = 0;

	load_set_init(&l, N, 1, mixed_deadline);
	CHECK_STATUS(ttlkv_stats_get(s, &before), TTLKV_OK);
	CHECK_STATUS(ttlkv_load(s, l.items, N, l.statuses), TTLKV_OK);
	CHECK_STATUS(ttlkv_stats_get(s, &after), TTLKV_OK);
	for (size_t i = 0; i < N; i++) {
		if (i % 3 == 1) {
			CHECK_STATUS(l.statuses[i], TTLKV_NOT_FOUND);
			CHECK(absent(s, l.keys[i]));
			dropped++;
			continue;
		}
		CHECK_STATUS(l.statuses[i], TTLKV_OK);
		CHECK(holds(s, &l, i));
		stored++;
	}
	/* Preallocated for N: no grow; nothing counted as expired. */
	CHECK(after.table_grows == before.table_grows);
	CHECK(after.table_slots == before.table_slots);
	CHECK(after.entries == stored && after.expired == 0);
	CHECK(ttlkv_drain_schedule(s, ignore_record, NULL, &scheduled) == TTLKV_OK);
	CHECK(scheduled == N / 3);
	printf("snapshot: loaded %zu, dropped %zu expired, %zu schedule records\n", stored, dropped,
	    scheduled);
	/* A key given twice keeps its last item; a load replaces what is there. */
	{
		unsigned char key[16];
		ttlkv_load_item twice[3];
		ttlkv_status st[3];
		char a[33], b[33], got[40];
		size_t n = 0;

		key_of(3, key);
		value_for(3, 7, a);
		value_for(3, 8, b);
		twice[0] = (ttlkv_load_item){ key, 16, a, 32, TTLKV_NO_EXPIRY };
		twice[1] = (ttlkv_load_item){ key, 16, b, 32, TTLKV_NO_EXPIRY };
		twice[2] = (ttlkv_load_item){ key, 16, a, 32, test_clock_read(&clock_) };
		CHECK_STATUS(ttlkv_load(s, twice, 3, st), TTLKV_OK);
		CHECK_STATUS(st[0], TTLKV_OK);
		CHECK_STATUS(st[1], TTLKV_OK);
		CHECK_STATUS(st[2], TTLKV_NOT_FOUND);
		CHECK_STATUS(ttlkv_get(s, key, 16, got, sizeof got, &n), TTLKV_OK);
		CHECK(n == 32 && memcmp(got, b, 32) == 0);
	}
	/* Bad items are refused one by one, the others stored. */
	{
		unsigned char key[16], big[70000];
		ttlkv_load_item bad[5];
		ttlkv_status st[5];
		uint64_t now = test_clock_read(&clock_);

		key_of(N + 1, key);
		memset(big, 'k', sizeof big);
		bad[0] = (ttlkv_load_item){ big, sizeof big, "v", 1, TTLKV_NO_EXPIRY };
		bad[1] = (ttlkv_load_item){ key, 16, NULL, 5, TTLKV_NO_EXPIRY };
		bad[2] = (ttlkv_load_item){ key, 16, "v", 1, now + TTLKV_MAX_TTL_MS + 1 };
		bad[3] = (ttlkv_load_item){ NULL, 3, "v", 1, TTLKV_NO_EXPIRY };
		bad[4] = (ttlkv_load_item){ key, 16, "ok", 2, now + TTLKV_MAX_TTL_MS };
		CHECK_STATUS(ttlkv_load(s, bad, 5, st), TTLKV_OK);
		CHECK_STATUS(st[0], TTLKV_KEY_TOO_LARGE);
		CHECK_STATUS(st[1], TTLKV_INVALID_ARGUMENT);
		CHECK_STATUS(st[2], TTLKV_INVALID_TTL);
		CHECK_STATUS(st[3], TTLKV_INVALID_ARGUMENT);
		CHECK_STATUS(st[4], TTLKV_OK);
		CHECK_STATUS(ttlkv_load(NULL, bad, 5, st), TTLKV_INVALID_ARGUMENT);
		CHECK_STATUS(ttlkv_load(s, NULL, 5, st), TTLKV_INVALID_ARGUMENT);
		CHECK_STATUS(ttlkv_load(s, bad, 5, NULL), TTLKV_INVALID_ARGUMENT);
		CHECK_STATUS(ttlkv_load(s, NULL, 0, NULL), TTLKV_OK);
	}
	load_set_free(&l);
	ttlkv_close(s);
}

static uint64_t
no_deadline(uint64_t i)
{
	(void)i;
	return TTLKV_NO_EXPIRY;
}

/* max_entries refuses what does not fit (TTLKV_FULL); a budget evicts to
 * stay within it. */
static void
test_load_limits(void)
{
	enum { N = 20000 };
	struct load_set l;
	ttlkv_stats stats;
	ttlkv *s = open_store(N, 0, N / 2, true);
	size_t ok = 0, full = 0;

	load_set_init(&l, N, 1, no_deadline);
	CHECK_STATUS(ttlkv_load(s, l.items, N, l.statuses), TTLKV_OK);
	for (size_t i = 0; i < N; i++) {
		ok += l.statuses[i] == TTLKV_OK;
		full += l.statuses[i] == TTLKV_FULL;
		if (l.statuses[i] == TTLKV_OK)
			CHECK(holds(s, &l, i));
	}
	CHECK(ok == N / 2 && full == N / 2 && ttlkv_count(s) == N / 2);
	ttlkv_close(s);

	s = open_budget_store(1 << 20);
	/* Records of evictions may fill only their slice of the budget: load
	 * in parts, draining them when the store asks (ttlkv_drain_wanted). */
	for (size_t i = 0; i < N; i += 256) {
		CHECK_STATUS(ttlkv_load(s, l.items + i, N - i < 256 ? N - i : 256, l.statuses + i),
		    TTLKV_OK);
		if (ttlkv_drain_wanted(s))
			CHECK_STATUS(ttlkv_drain_evicted(s, ignore_record, NULL, NULL), TTLKV_OK);
	}
	for (size_t i = 0; i < N; i++)
		CHECK_STATUS(l.statuses[i], TTLKV_OK);
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	CHECK(stats.used_bytes <= stats.max_bytes && stats.evicted > 0 &&
	    stats.entries + stats.evicted == N);
	ttlkv_drain_evicted(s, ignore_record, NULL, NULL);
	printf("snapshot: a 1 MiB budget kept %llu of %d loaded keys\n",
	    (unsigned long long)stats.entries, N);
	ttlkv_close(s);
	load_set_free(&l);
}

/* Each allocation of a load and of a walk failed in turn: a load's item
 * that reports TTLKV_OUT_OF_MEMORY is absent, every other one stored; a
 * walk's failed call reports nothing, and the walk, resumed, still reports
 * every key once. */
static void
test_allocation_failures(void)
{
	enum { N = 300 };
	struct load_set l;
	int runs = 0;

	load_set_init(&l, N, 1, mixed_deadline);
	for (long n = 0;; n++, runs++) {
		ttlkv *s = open_store(16, 2, 0, true);
		ttlkv_status st;
		bool failed = false;

		ttlkv_testing_recycle_flush(); /* entry blocks come from malloc */
		ttlkv_testing_fail_allocation(n);
		st = ttlkv_load(s, l.items, N, l.statuses);
		ttlkv_testing_fail_allocation(-1);
		if (st == TTLKV_OUT_OF_MEMORY) {
			CHECK(ttlkv_count(s) == 0);
			failed = true;
		} else {
			CHECK_STATUS(st, TTLKV_OK);
			for (size_t i = 0; i < N; i++) {
				if (l.statuses[i] == TTLKV_OUT_OF_MEMORY) {
					failed = true;
					CHECK(absent(s, l.keys[i]));
				} else if (i % 3 == 1) {
					CHECK_STATUS(l.statuses[i], TTLKV_NOT_FOUND);
				} else {
					CHECK_STATUS(l.statuses[i], TTLKV_OK);
					CHECK(holds(s, &l, i));
				}
			}
		}
		ttlkv_close(s);
		if (!failed)
			break;
	}
	/* The walk: the nth allocation fails, the call is retried. */
	{
		ttlkv *s = open_store(N, 2, 0, true);
		int walk_runs = 0;

		CHECK_STATUS(ttlkv_load(s, l.items, N, l.statuses), TTLKV_OK);
		for (long n = 0;; n++, walk_runs++) {
			struct seen seen;
			ttlkv_walk *w = NULL;
			int done = 0, failures = 0;
			ttlkv_status st;

			seen_init(&seen, N);
			ttlkv_testing_fail_allocation(n);
			st = ttlkv_walk_begin(s, &w);
			if (st == TTLKV_OUT_OF_MEMORY) {
				CHECK(w == NULL);
				failures++;
				ttlkv_testing_fail_allocation(-1);
				CHECK_STATUS(ttlkv_walk_begin(s, &w), TTLKV_OK);
			}
			while (!done) {
				uint64_t reports = seen.reports;

				st = ttlkv_walk_next(w, 5, record, &seen, &done);
				if (st == TTLKV_OUT_OF_MEMORY) {
					CHECK(seen.reports == reports && !done);
					failures++;
					ttlkv_testing_fail_allocation(-1);
				} else {
					CHECK_STATUS(st, TTLKV_OK);
				}
			}
			ttlkv_testing_fail_allocation(-1);
			ttlkv_walk_end(w);
			for (size_t i = 0; i < N; i++)
				CHECK(seen.times[i] == (i % 3 == 1 ? 0u : 1u));
			seen_free(&seen);
			if (failures == 0)
				break;
		}
		printf("snapshot: allocation failures: %d load runs, %d walk runs\n", runs, walk_runs);
		ttlkv_close(s);
	}
	load_set_free(&l);
}

int
main(void)
{
	test_walk_basics();
	test_walk_across_replacements();
	test_walk_with_writers();
	test_load_basics();
	test_load_limits();
	test_allocation_failures();
	return check_exit("snapshot");
}
