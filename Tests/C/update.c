/*
 * The primitives the Redis server builds on: ttlkv_update (read-modify-write
 * under the shard lock) and ttlkv_put_all (several pairs as one write, all
 * or nothing).
 *
 * Single-threaded checks use an injected clock; then allocation failures at
 * every step leave the store as it was; then threads: concurrent INCRs lose
 * no increment, concurrent APPENDs (which outgrow the preallocated room and
 * retry) lose no byte, and concurrent multi-key writes never interleave.
 */
#include "test_store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <ttlkv.h>
#include <sched.h>
#include <unistd.h>

/* --- update functions, as the server uses them --------------------------- */

/* INCRBY: parses the value as a decimal integer, adds *(int64_t *)ctx. */
struct incr {
	int64_t by;
	int64_t result;
	int calls;
};

static ttlkv_update_action
incr_fn(ttlkv_update_state *st, void *context)
{
	struct incr *in = context;
	char digits[32];
	int64_t v = 0;
	int n;

	in->calls++;
	if (st->found) {
		if (st->value_len == 0 || st->value_len >= sizeof digits)
			return TTLKV_UPDATE_KEEP;
		memcpy(digits, st->value, st->value_len);
		digits[st->value_len] = '\0';
		v = strtoll(digits, NULL, 10);
	}
	in->result = v + in->by;
	n = snprintf(digits, sizeof digits, "%" PRId64, in->result);
	st->new_len = (size_t)n;
	if ((size_t)n <= st->buffer_len)
		memcpy(st->buffer, digits, (size_t)n);
	return TTLKV_UPDATE_REPLACE;
}

/* APPEND: old value + ctx string, deadline kept. */
static ttlkv_update_action
append_fn(ttlkv_update_state *st, void *context)
{
	const char *tail = context;
	size_t t = strlen(tail);

	st->new_len = st->value_len + t;
	if (st->new_len <= st->buffer_len) {
		if (st->value_len != 0)
			memcpy(st->buffer, st->value, st->value_len);
		memcpy((char *)st->buffer + st->value_len, tail, t);
	}
	return TTLKV_UPDATE_REPLACE;
}

/* Returns a fixed action with a fixed new deadline; records what it saw. */
struct fixed {
	ttlkv_update_action action;
	uint64_t deadline;
	ttlkv_update_state seen;
};

static ttlkv_update_action
fixed_fn(ttlkv_update_state *st, void *context)
{
	struct fixed *f = context;

	f->seen = *st;
	st->new_deadline_ms = f->deadline;
	st->new_len = 0;
	return f->action;
}

/* Replaces with a value of ctx bytes of 'x' (for size and failure tests). */
static ttlkv_update_action
sized_fn(ttlkv_update_state *st, void *context)
{
	size_t n = *(size_t *)context;

	st->new_len = n;
	if (n != 0 && n <= st->buffer_len)
		memset(st->buffer, 'x', n);
	st->new_deadline_ms = TTLKV_NO_EXPIRY;
	return TTLKV_UPDATE_REPLACE;
}

static ttlkv_status
incr(ttlkv *s, const char *key, int64_t by, int64_t *result)
{
	struct incr in = { by, 0, 0 };
	ttlkv_status st = ttlkv_update(s, key, strlen(key), 20, incr_fn, &in);

	if (result != NULL)
		*result = in.result;
	return st;
}

static void
test_update_basics(void)
{
	ttlkv *s = open_store(64, 0, 0, true);
	struct fixed f = { TTLKV_UPDATE_KEEP, 0, { 0 } };
	uint64_t ttl;
	int64_t r;

	/* INCR on an absent key starts from 0; keeps counting. */
	CHECK_STATUS(incr(s, "n", 1, &r), TTLKV_OK);
	CHECK(r == 1);
	CHECK_STATUS(incr(s, "n", 41, &r), TTLKV_OK);
	CHECK(r == 42);
	CHECK_VALUE(s, "n", "42");

	/* fn sees the live value, its deadline and the clock. */
	CHECK_STATUS(PUT(s, "k", "hello", 5000), TTLKV_OK);
	CHECK_STATUS(ttlkv_update(s, "k", 1, 0, fixed_fn, &f), TTLKV_OK);
	CHECK(f.seen.found && f.seen.value_len == 5 && memcmp(f.seen.value, "hello", 5) == 0);
	CHECK(f.seen.deadline_ms == 6000 && f.seen.now_ms == 1000);
	CHECK(f.seen.buffer == NULL && f.seen.buffer_len == 0); /* no hint: no room */
	CHECK_STATUS(ttlkv_update(s, "none", 4, 0, fixed_fn, &f), TTLKV_OK);
	CHECK(!f.seen.found && f.seen.value == NULL && f.seen.deadline_ms == TTLKV_NO_EXPIRY);

	/* An expired entry is not found, and REPLACE revives the key. */
	CHECK_STATUS(PUT(s, "old", "v", 10), TTLKV_OK);
	test_clock_advance(&clock_, 10);
	CHECK_STATUS(ttlkv_update(s, "old", 3, 0, fixed_fn, &f), TTLKV_OK);
	CHECK(!f.seen.found);
	CHECK_STATUS(incr(s, "old", 5, &r), TTLKV_OK);
	CHECK(r == 5);
	CHECK_STATUS(ttlkv_ttl(s, "old", 3, &ttl), TTLKV_OK);
	CHECK(ttl == TTLKV_NO_EXPIRY); /* the new entry got no deadline */

	/* APPEND keeps the deadline it was given back (new_deadline_ms
	 * defaults to the current one) and retries when out of room. */
	CHECK_STATUS(PUT(s, "a", "abc", 3000), TTLKV_OK);
	CHECK_STATUS(ttlkv_update(s, "a", 1, 1, append_fn, "defgh"), TTLKV_OK);
	CHECK_VALUE(s, "a", "abcdefgh");
	CHECK_STATUS(ttlkv_ttl(s, "a", 1, &ttl), TTLKV_OK);
	CHECK(ttl == 3000);

	/* SET_DEADLINE: later, none, past (removes). */
	f.action = TTLKV_UPDATE_SET_DEADLINE;
	f.deadline = ttlkv_now(s) + 9000;
	CHECK_STATUS(ttlkv_update(s, "a", 1, 0, fixed_fn, &f), TTLKV_OK);
	CHECK_STATUS(ttlkv_ttl(s, "a", 1, &ttl), TTLKV_OK);
	CHECK(ttl == 9000);
	f.deadline = TTLKV_NO_EXPIRY;
	CHECK_STATUS(ttlkv_update(s, "a", 1, 0, fixed_fn, &f), TTLKV_OK);
	CHECK_STATUS(ttlkv_ttl(s, "a", 1, &ttl), TTLKV_OK);
	CHECK(ttl == TTLKV_NO_EXPIRY);
	f.deadline = ttlkv_now(s);
	CHECK_STATUS(ttlkv_update(s, "a", 1, 0, fixed_fn, &f), TTLKV_OK);
	CHECK_VALUE(s, "a", "<none>");
	/* ... of an absent key is a caller bug. */
	CHECK_STATUS(ttlkv_update(s, "a", 1, 0, fixed_fn, &f), TTLKV_INVALID_ARGUMENT);
	/* ... too far ahead is refused, the deadline unchanged. */
	CHECK_STATUS(PUT(s, "a", "v", 2000), TTLKV_OK);
	f.deadline = ttlkv_now(s) + TTLKV_MAX_TTL_MS + 1;
	CHECK_STATUS(ttlkv_update(s, "a", 1, 0, fixed_fn, &f), TTLKV_INVALID_TTL);
	CHECK_STATUS(ttlkv_ttl(s, "a", 1, &ttl), TTLKV_OK);
	CHECK(ttl == 2000);

	/* REPLACE with a past deadline removes; DELETE removes; both are
	 * no-ops on absent keys. */
	f.action = TTLKV_UPDATE_REPLACE;
	f.deadline = 1;
	CHECK_STATUS(ttlkv_update(s, "a", 1, 8, fixed_fn, &f), TTLKV_OK);
	CHECK_VALUE(s, "a", "<none>");
	CHECK_STATUS(ttlkv_update(s, "a", 1, 8, fixed_fn, &f), TTLKV_OK);
	CHECK_STATUS(PUT(s, "d", "v", 0), TTLKV_OK);
	f.action = TTLKV_UPDATE_DELETE;
	CHECK_STATUS(ttlkv_update(s, "d", 1, 0, fixed_fn, &f), TTLKV_OK);
	CHECK_VALUE(s, "d", "<none>");
	CHECK_STATUS(ttlkv_update(s, "d", 1, 0, fixed_fn, &f), TTLKV_OK);

	/* Bad arguments and oversized values change nothing. */
	CHECK_STATUS(ttlkv_update(NULL, "k", 1, 0, fixed_fn, &f), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_update(s, "k", 1, 0, NULL, &f), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_update(s, NULL, 1, 0, fixed_fn, &f), TTLKV_INVALID_ARGUMENT);
	{
		char big[70000];
		size_t n = 1025;

		memset(big, 'k', sizeof big);
		CHECK_STATUS(ttlkv_update(s, big, sizeof big, 0, fixed_fn, &f), TTLKV_KEY_TOO_LARGE);
		CHECK_STATUS(ttlkv_update(s, "k", 1, 0, sized_fn, &n), TTLKV_VALUE_TOO_LARGE);
		CHECK_VALUE(s, "k", "hello");
		/* A huge hint is capped at the largest value, not allocated. */
		n = 1024;
		CHECK_STATUS(ttlkv_update(s, "k", 1, SIZE_MAX, sized_fn, &n), TTLKV_OK);
		CHECK(strlen(value_of(s, "k")) == 1024);
	}
	ttlkv_close(s);
}

static void
test_update_full_and_retry(void)
{
	ttlkv *s = open_store(64, 1, 2, true);
	struct incr in = { 1, 0, 0 };
	size_t n;

	CHECK_STATUS(PUT(s, "a", "1", 0), TTLKV_OK);
	CHECK_STATUS(PUT(s, "b", "1", 0), TTLKV_OK);
	CHECK_STATUS(incr(s, "c", 1, NULL), TTLKV_FULL);
	CHECK_VALUE(s, "c", "<none>");
	CHECK_STATUS(incr(s, "a", 1, NULL), TTLKV_OK); /* replacing is fine */
	CHECK_VALUE(s, "a", "2");

	/* Without a hint fn is called twice: once to ask, once to write. */
	CHECK_STATUS(ttlkv_update(s, "a", 1, 0, incr_fn, &in), TTLKV_OK);
	CHECK(in.calls == 2 && in.result == 3);
	in.calls = 0;
	CHECK_STATUS(ttlkv_update(s, "a", 1, 20, incr_fn, &in), TTLKV_OK);
	CHECK(in.calls == 1 && in.result == 4);
	n = 0; /* an empty value still needs an entry */
	CHECK_STATUS(ttlkv_update(s, "b", 1, 0, sized_fn, &n), TTLKV_OK);
	CHECK_VALUE(s, "b", "");
	ttlkv_close(s);
}

/* --- put_many ------------------------------------------------------------- */

static void
test_put_many(void)
{
	ttlkv *s = open_store(64, 8, 0, true);
	ttlkv_item items[4] = {
		{ "a", 1, "1", 1, 0 }, { "b", 1, "2", 1, 0 }, { "a", 1, "3", 1, 0 }, { "c", 1, "", 0, 0 },
	};
	uint64_t ttl;

	CHECK_STATUS(ttlkv_put_all(s, items, 4, 0), TTLKV_OK);
	CHECK_VALUE(s, "a", "3"); /* the last of a repeated key wins */
	CHECK_VALUE(s, "b", "2");
	CHECK_VALUE(s, "c", "");
	CHECK(ttlkv_count(s) == 3);

	/* MSETNX: nothing if any key is live ... */
	CHECK_STATUS(PUT(s, "x", "old", 0), TTLKV_OK);
	items[0] = (ttlkv_item){ "y", 1, "new", 3, 0 };
	items[1] = (ttlkv_item){ "x", 1, "new", 3, 0 };
	CHECK_STATUS(ttlkv_put_all(s, items, 2, TTLKV_PUT_IF_NONE_EXIST), TTLKV_EXISTS);
	CHECK_VALUE(s, "x", "old");
	CHECK_VALUE(s, "y", "<none>");
	/* ... an expired key counts as absent, and its TTL goes. */
	CHECK_STATUS(PUT(s, "x", "old", 5), TTLKV_OK);
	test_clock_advance(&clock_, 5);
	CHECK_STATUS(ttlkv_put_all(s, items, 2, TTLKV_PUT_IF_NONE_EXIST), TTLKV_OK);
	CHECK_VALUE(s, "x", "new");
	CHECK_VALUE(s, "y", "new");
	CHECK_STATUS(ttlkv_ttl(s, "x", 1, &ttl), TTLKV_OK);
	CHECK(ttl == TTLKV_NO_EXPIRY);
	/* MSET replaces a TTL'd key with a persistent one, as Redis. */
	CHECK_STATUS(PUT(s, "t", "v", 100), TTLKV_OK);
	items[0] = (ttlkv_item){ "t", 1, "w", 1, 0 };
	CHECK_STATUS(ttlkv_put_all(s, items, 1, 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_ttl(s, "t", 1, &ttl), TTLKV_OK);
	CHECK(ttl == TTLKV_NO_EXPIRY);

	/* Any bad pair refuses the whole write. */
	{
		char big[2000];

		memset(big, 'v', sizeof big);
		items[0] = (ttlkv_item){ "p", 1, "1", 1, 0 };
		items[1] = (ttlkv_item){ "q", 1, big, sizeof big, 0 };
		CHECK_STATUS(ttlkv_put_all(s, items, 2, 0), TTLKV_VALUE_TOO_LARGE);
		items[1] = (ttlkv_item){ NULL, 3, "v", 1, 0 };
		CHECK_STATUS(ttlkv_put_all(s, items, 2, 0), TTLKV_INVALID_ARGUMENT);
		CHECK_VALUE(s, "p", "<none>");
	}
	CHECK_STATUS(ttlkv_put_all(s, NULL, 0, 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_put_all(s, NULL, 1, 0), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_put_all(s, items, 1, 8), TTLKV_INVALID_ARGUMENT);
	ttlkv_close(s);
}

/* TTLKV_FULL part-way through: the inserts made are taken back. */
static void
test_put_many_full(void)
{
	ttlkv *s = open_store(64, 4, 5, true);
	ttlkv_item items[6];
	char keys[6][16];

	CHECK_STATUS(PUT(s, "k0", "old", 0), TTLKV_OK);
	CHECK_STATUS(PUT(s, "k1", "old", 0), TTLKV_OK);
	for (int i = 0; i < 6; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		items[i] = (ttlkv_item){ keys[i], strlen(keys[i]), "new", 3, 0 };
	}
	/* 2 held + 4 new > 5 */
	CHECK_STATUS(ttlkv_put_all(s, items, 6, 0), TTLKV_FULL);
	CHECK(ttlkv_count(s) == 2);
	CHECK_VALUE(s, "k0", "old");
	CHECK_VALUE(s, "k1", "old");
	for (int i = 2; i < 6; i++)
		CHECK_VALUE(s, keys[i], "<none>");
	CHECK_STATUS(ttlkv_put_all(s, items, 5, 0), TTLKV_OK); /* exactly 5 fit */
	CHECK(ttlkv_count(s) == 5);
	CHECK_VALUE(s, "k0", "new");
	ttlkv_close(s);
}

/* --- put_all: all or nothing, expired entries included ---------------------- */

/* A clock that jumps `jump` ms once `reads` more readings have been taken:
 * time that passes in the middle of a write. */
static struct {
	uint64_t now;
	int reads;
	uint64_t jump;
} jumpy;

static uint64_t
jumpy_read(void *context)
{
	(void)context;
	if (jumpy.reads >= 0 && jumpy.reads-- == 0)
		jumpy.now += jumpy.jump;
	return jumpy.now;
}

static ttlkv *
open_jumpy(uint64_t max_entries)
{
	ttlkv_options o;
	ttlkv *s;

	ttlkv_options_init(&o);
	o.capacity = 64;
	o.max_entries = max_entries;
	o.flags = TTLKV_TRACK_EXPIRY;
	o.clock = jumpy_read;
	jumpy.now = 1000;
	jumpy.reads = -1;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	return s;
}

static void
count_drained(const void *key, size_t len, uint64_t deadline, void *context)
{
	(void)key;
	(void)len;
	(void)deadline;
	++*(size_t *)context;
}

/* What a failed put_all must not have changed: the count, the expired
 * count, and the expired log. */
static void
check_untouched(ttlkv *s, uint64_t count, const char *when)
{
	ttlkv_stats stats;
	size_t logged = 0;

	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	CHECK_STATUS(ttlkv_drain_expired(s, count_drained, &logged, NULL), TTLKV_OK);
	if (stats.entries != count || stats.expired != 0 || logged != 0)
		fprintf(stderr, "%s: %" PRIu64 " entries (%" PRIu64 " before), %" PRIu64
		    " counted expired, %zu expiries logged\n", when, stats.entries, count,
		    stats.expired, logged);
	CHECK(stats.entries == count && stats.expired == 0 && logged == 0);
}

/* A pair whose key was live when the write began but expires while it runs
 * (the clock moves) needs room in the expired log; memory runs out at each
 * allocation in turn, with the clock moving after each number of readings
 * the write may take, and a failure must leave the store as it was. */
static void
test_put_all_clock_moves_under_failures(void)
{
	ttlkv_item items[2] = { { "new", 3, "n", 1, 0 }, { "live", 4, "l", 1, 0 } };
	int failures = 0;

	for (int reads = 0; reads < 3; reads++)
	for (long n = 0;; n++) {
		ttlkv *s = open_jumpy(0);
		ttlkv_status st;

		CHECK_STATUS(ttlkv_put(s, "live", 4, "old", 3, 5), TTLKV_OK);
		jumpy.reads = reads; /* the write's first readings see "live" live, */
		jumpy.jump = 10;     /* the next ones expired */
		ttlkv_testing_fail_allocation(n);
		st = ttlkv_put_all(s, items, 2, 0);
		ttlkv_testing_fail_allocation(-1);
		jumpy.reads = -1;
		if (st == TTLKV_OK) {
			CHECK_VALUE(s, "new", "n");
			CHECK_VALUE(s, "live", "l");
			ttlkv_close(s);
			break;
		}
		CHECK_STATUS(st, TTLKV_OUT_OF_MEMORY);
		failures++;
		CHECK_VALUE(s, "new", "<none>");
		check_untouched(s, 1, "put_all failed while a key expired");
		ttlkv_close(s);
	}
	CHECK(failures > 2);
}

/* An expired key replaced by a write that then fails (TTLKV_FULL) must
 * still be there, uncounted: in either order of the two pairs. */
static void
test_put_all_full_leaves_expired_entries(void)
{
	for (int k = 0; k < 16; k++) {
		ttlkv *s = open_jumpy(2);
		char other[32];
		ttlkv_item items[2];

		snprintf(other, sizeof other, "other-%d", k);
		items[0] = (ttlkv_item){ "gone", 4, "g", 1, 0 };
		items[1] = (ttlkv_item){ other, strlen(other), "o", 1, 0 };
		CHECK_STATUS(ttlkv_put(s, "gone", 4, "old", 3, 5), TTLKV_OK);
		CHECK_STATUS(ttlkv_put(s, "held", 4, "h", 1, 0), TTLKV_OK);
		jumpy.now += 10; /* "gone" has expired: absent to readers, held */
		CHECK_STATUS(ttlkv_put_all(s, items, 2, 0), TTLKV_FULL);
		check_untouched(s, 2, "put_all refused for TTLKV_FULL");
		CHECK_VALUE(s, other, "<none>");
		CHECK_VALUE(s, "held", "h");
		ttlkv_close(s);
	}
}

/* --- allocation failures ------------------------------------------------- */

/* Each allocation of op failed in turn: after each failure the store holds
 * exactly `expect` (f0, f1, ... then nothing up to f39). */
typedef ttlkv_status op_fn(ttlkv *s);

struct expected {
	op_fn *op;
	const char *const *values;
	int count;
	const char *name;
};

static ttlkv_status
run_op(ttlkv *s, void *context)
{
	return ((const struct expected *)context)->op(s);
}

static void
check_holds(ttlkv *s, void *context)
{
	const struct expected *e = context;
	char key[16];

	CHECK(ttlkv_count(s) == (uint64_t)e->count);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof key, "f%d", i);
		if (strcmp(value_of(s, key), i < e->count ? e->values[i] : "<none>") != 0) {
			fprintf(stderr, "after %s: %s = %s\n", e->name, key, value_of(s, key));
			CHECK(0);
		}
	}
}

static void
sweep_failures(ttlkv *s, op_fn *op, const char *const *before, int n_before, const char *name)
{
	struct expected e = { op, before, n_before, name };

	fail_each_allocation(s, run_op, check_holds, &e);
}

static ttlkv_status
op_incr(ttlkv *s)
{
	return incr(s, "f0", 1, NULL);
}

static ttlkv_status
op_append(ttlkv *s)
{
	return ttlkv_update(s, "f1", 2, 0, append_fn, "-tail");
}

/* 30 new keys and 10 rewritten ones across every shard. */
static ttlkv_status
op_mset(ttlkv *s)
{
	static char keys[40][16];
	ttlkv_item items[40];

	for (int i = 0; i < 40; i++) {
		snprintf(keys[i], sizeof keys[i], "f%d", i);
		items[i] = (ttlkv_item){ keys[i], strlen(keys[i]), "m", 1, 0 };
	}
	return ttlkv_put_all(s, items, 40, 0);
}

static void
test_allocation_failures(void)
{
	/* Tiny tables and max_value_size: inserts must grow the table. */
	ttlkv *s = open_store(8, 4, 0, true);
	const char *before[10], *after[2] = { "1", "v-tail" };

	for (int i = 0; i < 10; i++) {
		char key[16];

		snprintf(key, sizeof key, "f%d", i);
		CHECK_STATUS(PUT(s, key, "v", 0), TTLKV_OK);
		before[i] = "v";
	}
	ttlkv_testing_recycle_flush();
	before[0] = "v"; /* f0 = "v" parses as 0, INCR makes it "1" */
	sweep_failures(s, op_incr, before, 10, "incr");
	CHECK_VALUE(s, "f0", "1");
	before[0] = after[0];
	ttlkv_testing_recycle_flush();
	sweep_failures(s, op_append, before, 10, "append");
	CHECK_VALUE(s, "f1", "v-tail");
	before[1] = after[1];
	ttlkv_testing_recycle_flush();
	sweep_failures(s, op_mset, before, 10, "mset");
	for (int i = 0; i < 40; i++) {
		char key[16];

		snprintf(key, sizeof key, "f%d", i);
		CHECK_VALUE(s, key, "m");
	}
	ttlkv_close(s);
}

/* --- threads -------------------------------------------------------------- */

#define THREADS 4
static int increments = 100000;
static ttlkv *shared;

static void *
incr_worker(void *arg)
{
	char key[16];

	for (int i = 0; i < increments; i++) {
		/* Half with room preallocated, half through the retry. */
		struct incr in = { 1, 0, 0 };

		snprintf(key, sizeof key, "c%d", i % 3);
		CHECK_STATUS(ttlkv_update(shared, key, strlen(key), (uintptr_t)arg % 2 ? 20 : 0, incr_fn, &in), TTLKV_OK);
		if (i % 512 == 0)
			CHECK_STATUS(ttlkv_update(shared, "log", 3, 1, append_fn, "x"), TTLKV_OK);
	}
	return NULL;
}

static void
test_concurrent_updates(void)
{
	pthread_t t[THREADS];
	long total = 0;
	int appends = (increments + 511) / 512;

	shared = open_store(64, 2, 0, false);
	for (uintptr_t i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, incr_worker, (void *)i) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int k = 0; k < 3; k++) {
		char key[16];

		snprintf(key, sizeof key, "c%d", k);
		total += atol(value_of(shared, key));
	}
	CHECK(total == (long)THREADS * increments);
	CHECK(strlen(value_of(shared, "log")) == (size_t)(THREADS * appends));
	ttlkv_close(shared);
}

/* Multi-key writers with distinct values over one key set. The main thread
 * pauses them every so often, while their calls overlap, and once none is
 * in flight checks that every key holds the same writer's value. Then
 * IF_NONE_EXIST racers: exactly one wins. */
#define GROUP 24
static int checks = 200;
static int nx_winners;
static int pause_requested, parked, stop_writers;

static void
group_items(ttlkv_item *items, char keys[][16], const char *value)
{
	for (int i = 0; i < GROUP; i++) {
		snprintf(keys[i], 16, "g%d", i);
		items[i] = (ttlkv_item){ keys[i], strlen(keys[i]), value, strlen(value), 0 };
	}
}

static void *
mset_worker(void *arg)
{
	char keys[GROUP][16], value[16];
	ttlkv_item items[GROUP];

	snprintf(value, sizeof value, "w%d", (int)(uintptr_t)arg);
	group_items(items, keys, value);
	while (!__atomic_load_n(&stop_writers, __ATOMIC_ACQUIRE)) {
		CHECK_STATUS(ttlkv_put_all(shared, items, GROUP, 0), TTLKV_OK);
		if (__atomic_load_n(&pause_requested, __ATOMIC_ACQUIRE)) {
			__atomic_add_fetch(&parked, 1, __ATOMIC_ACQ_REL);
			while (__atomic_load_n(&pause_requested, __ATOMIC_ACQUIRE))
				sched_yield();
			__atomic_sub_fetch(&parked, 1, __ATOMIC_ACQ_REL);
		}
	}
	return NULL;
}

static void *
msetnx_worker(void *arg)
{
	char keys[GROUP][16], value[16];
	ttlkv_item items[GROUP];
	ttlkv_status st;

	snprintf(value, sizeof value, "n%d", (int)(uintptr_t)arg);
	group_items(items, keys, value);
	st = ttlkv_put_all(shared, items, GROUP, TTLKV_PUT_IF_NONE_EXIST);
	if (st == TTLKV_OK)
		__atomic_add_fetch(&nx_winners, 1, __ATOMIC_RELAXED);
	else
		CHECK_STATUS(st, TTLKV_EXISTS);
	return NULL;
}

/* Every key of the group holds the value of keys[0]; returns that value. */
static int
group_agrees(char keys[][16], char *first)
{
	int mixed = 0;

	snprintf(first, 16, "%.15s", value_of(shared, keys[0]));
	for (int i = 1; i < GROUP; i++)
		mixed += strcmp(value_of(shared, keys[i]), first) != 0;
	return mixed == 0;
}

static void
test_concurrent_put_many(void)
{
	pthread_t t[THREADS];
	char keys[GROUP][16], first[16];
	ttlkv_item items[GROUP];

	shared = open_store(16, 8, 0, false);
	group_items(items, keys, "");
	for (uintptr_t i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, mset_worker, (void *)i) == 0);
	for (int c = 0; c < checks; c++) {
		usleep(200);
		__atomic_store_n(&pause_requested, 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(&parked, __ATOMIC_ACQUIRE) != THREADS)
			sched_yield();
		CHECK(group_agrees(keys, first));
		__atomic_store_n(&pause_requested, 0, __ATOMIC_RELEASE);
		while (__atomic_load_n(&parked, __ATOMIC_ACQUIRE) != 0)
			sched_yield();
	}
	__atomic_store_n(&stop_writers, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	/* Every key is held: NX racers all lose ... */
	for (uintptr_t i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, msetnx_worker, (void *)i) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK(nx_winners == 0);
	/* ... and on empty keys exactly one wins, wholly. */
	for (int i = 0; i < GROUP; i++)
		CHECK_STATUS(ttlkv_delete(shared, keys[i], strlen(keys[i])), TTLKV_OK);
	for (uintptr_t i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, msetnx_worker, (void *)i) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK(nx_winners == 1);
	CHECK(group_agrees(keys, first) && first[0] == 'n');
	ttlkv_close(shared);
}

int
main(void)
{
	const char *scale = getenv("TTLKV_TEST_SCALE");

	if (scale != NULL) {
		increments = 10000;
		checks = 50;
	}
	test_update_basics();
	test_update_full_and_retry();
	test_put_many();
	test_put_many_full();
	test_put_all_clock_moves_under_failures();
	test_put_all_full_leaves_expired_entries();
	test_allocation_failures();
	test_concurrent_updates();
	test_concurrent_put_many();
	return check_exit("update");
}
