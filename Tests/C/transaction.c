/*
 * Several keys as one step (ttlkv_lock_keys, ttlkv_locked_update,
 * ttlkv_locked_put_all), and the two reads the Redis server adds on them
 * (ttlkv_deadline, ttlkv_random_key).
 *
 * Single-threaded checks first, with an injected clock: what the calls do,
 * every argument they refuse, allocation failures at every step. Then
 * threads: transfers between keys under the locks never let a checker that
 * holds every lock see money made or lost, renames never lose or duplicate a
 * token, and lockers of random key sets in random orders, beside
 * ttlkv_put_all and single writes, never deadlock.
 */
#include "test_store.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <ttlkv.h>
#include <unistd.h>

#define KEY(k) ((ttlkv_key){ (k), strlen(k) })


/* --- update functions ---------------------------------------------------- */

/* Replaces the value with the string ctx, keeping the deadline. */
static ttlkv_update_action
set_fn(ttlkv_update_state *st, void *context)
{
	const char *v = context;

	st->new_len = strlen(v);
	if (st->new_len <= st->buffer_len)
		memcpy(st->buffer, v, st->new_len);
	return TTLKV_UPDATE_REPLACE;
}

static ttlkv_update_action
delete_fn(ttlkv_update_state *st, void *context)
{
	(void)st;
	(void)context;
	return TTLKV_UPDATE_DELETE;
}

/* Adds *(long *)ctx to the decimal value (0 if absent). */
static ttlkv_update_action
add_fn(ttlkv_update_state *st, void *context)
{
	char digits[32];
	long v = 0;
	int n;

	if (st->found) {
		snprintf(digits, sizeof digits, "%.*s", (int)st->value_len, (const char *)st->value);
		v = atol(digits);
	}
	n = snprintf(digits, sizeof digits, "%ld", v + *(const long *)context);
	st->new_len = (size_t)n;
	if (st->new_len <= st->buffer_len)
		memcpy(st->buffer, digits, st->new_len);
	return TTLKV_UPDATE_REPLACE;
}

/* What a key held when fn looked: its value (copied) and deadline. */
struct seen {
	int found;
	char value[64];
	uint64_t deadline;
	int calls;
};

static ttlkv_update_action
look_fn(ttlkv_update_state *st, void *context)
{
	struct seen *seen = context;

	seen->calls++;
	seen->found = st->found;
	seen->deadline = st->deadline_ms;
	snprintf(seen->value, sizeof seen->value, "%.*s", (int)st->value_len,
	    st->found ? (const char *)st->value : "");
	return TTLKV_UPDATE_KEEP;
}

/* Writes the value and deadline ctx (a struct seen) saw. */
static ttlkv_update_action
copy_fn(ttlkv_update_state *st, void *context)
{
	const struct seen *from = context;

	st->new_len = strlen(from->value);
	st->new_deadline_ms = from->deadline;
	if (st->new_len <= st->buffer_len)
		memcpy(st->buffer, from->value, st->new_len);
	return TTLKV_UPDATE_REPLACE;
}

/* RENAME src dst as the server does it: one step over both keys. */
struct rename {
	const char *src, *dst;
	ttlkv_status status;
};

static ttlkv_status
rename_step(ttlkv_locked *held, void *context)
{
	struct rename *r = context;
	struct seen from = { 0 };
	ttlkv_status st;

	st = ttlkv_locked_update(held, r->src, strlen(r->src), 0, look_fn, &from);
	if (st != TTLKV_OK)
		return st;
	if (!from.found)
		return TTLKV_NOT_FOUND;
	if ((st = ttlkv_locked_update(held, r->dst, strlen(r->dst), strlen(from.value), copy_fn, &from)) != TTLKV_OK)
		return st;
	return ttlkv_locked_update(held, r->src, strlen(r->src), 0, delete_fn, NULL);
}

static ttlkv_status
rename_key(ttlkv *s, const char *src, const char *dst)
{
	struct rename r = { src, dst, TTLKV_OK };
	ttlkv_key keys[2] = { KEY(src), KEY(dst) };

	return ttlkv_lock_keys(s, keys, 2, 0, rename_step, &r);
}

/* --- single-threaded ----------------------------------------------------- */

struct probe_step {
	const char *key;
	ttlkv_status update;  /* what ttlkv_locked_update returned */
	ttlkv_status nested;  /* what a nested ttlkv_lock_keys returned */
	ttlkv_status put;     /* what a plain ttlkv_put on another store returned */
	char seen_inside[64]; /* what a lock-free read saw after the update */
	ttlkv *other;
};

static ttlkv_status
noop_step(ttlkv_locked *held, void *context)
{
	(void)held;
	(void)context;
	return TTLKV_OK;
}

static ttlkv_status
probe_step(ttlkv_locked *held, void *context)
{
	struct probe_step *p = context;
	ttlkv_key k = KEY(p->key);
	ttlkv *s = p->other;

	p->update = ttlkv_locked_update(held, p->key, strlen(p->key), 8, set_fn, "inside");
	snprintf(p->seen_inside, sizeof p->seen_inside, "%.63s", value_of(s, p->key));
	p->nested = ttlkv_lock_keys(s, &k, 1, 0, noop_step, NULL);
	return TTLKV_EXISTS; /* any status: handed back */
}

static ttlkv_locked *escaped;

static ttlkv_status
escape_step(ttlkv_locked *held, void *context)
{
	(void)context;
	escaped = held;
	return TTLKV_OK;
}

static ttlkv_status
read_section_step(ttlkv_locked *held, void *context)
{
	ttlkv *s = context;
	const void *v;
	size_t n;
	ttlkv_status st;

	CHECK_STATUS(ttlkv_read_begin(s, "a", 1, &v, &n), TTLKV_OK);
	st = ttlkv_locked_update(held, "a", 1, 8, set_fn, "x");
	ttlkv_read_end();
	return st;
}

/* A value seen inside stays valid while the shard is held: a writer of the
 * key waits meanwhile, reclamation runs, and the bytes do not change. */
struct held_value {
	ttlkv *s;
	const void *value;
	size_t len;
	int intact;
};

static ttlkv_update_action
pointer_fn(ttlkv_update_state *st, void *context)
{
	struct held_value *h = context;

	h->value = st->value;
	h->len = st->value_len;
	return TTLKV_UPDATE_KEEP;
}

static void *
overwrite_worker(void *arg)
{
	ttlkv *s = arg;

	for (int i = 0; i < 100; i++) {
		char key[32];

		snprintf(key, sizeof key, "churn%d", i);
		CHECK_STATUS(PUT(s, key, "x", 0), TTLKV_OK);
		CHECK_STATUS(ttlkv_delete(s, key, strlen(key)), TTLKV_OK);
		ttlkv_reclaim(s, 0);
	}
	CHECK_STATUS(PUT(s, "kept", "overwritten", 0), TTLKV_OK); /* waits for the hold */
	return NULL;
}

static ttlkv_status
hold_value_step(ttlkv_locked *held, void *context)
{
	struct held_value *h = context;
	pthread_t writer;
	ttlkv_status st = ttlkv_locked_update(held, "kept", 4, 0, pointer_fn, h);

	CHECK(pthread_create(&writer, NULL, overwrite_worker, h->s) == 0);
	usleep(50000);
	h->intact = h->len == 8 && memcmp(h->value, "original", 8) == 0;
	/* The writer of "kept" is still waiting: join it after the release. */
	h->value = (const void *)(uintptr_t)writer;
	return st;
}

static void
test_values_stay_while_held(void)
{
	ttlkv *s = open_store(64, 4, 0, false);
	struct held_value h = { s, NULL, 0, 0 };
	ttlkv_key k = KEY("kept");

	CHECK_STATUS(PUT(s, "kept", "original", 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_lock_keys(s, &k, 1, 0, hold_value_step, &h), TTLKV_OK);
	CHECK(h.intact);
	pthread_join((pthread_t)(uintptr_t)h.value, NULL);
	CHECK_VALUE(s, "kept", "overwritten");
	ttlkv_close(s);
}

static void
test_lock_keys_basics(void)
{
	ttlkv *s = open_store(64, 8, 0, true);
	struct probe_step p = { "a", 0, 0, 0, "", s };
	ttlkv_key ka = KEY("a");
	struct seen seen = { 0 };
	uint64_t deadline;
	char key[16];
	int outside = -1;

	/* A write inside is seen inside by a lock-free read, a nested call is
	 * refused, and fn's status comes back. */
	CHECK_STATUS(PUT(s, "a", "before", 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_lock_keys(s, &ka, 1, 0, probe_step, &p), TTLKV_EXISTS);
	CHECK_STATUS(p.update, TTLKV_OK);
	CHECK(strcmp(p.seen_inside, "inside") == 0);
	CHECK_STATUS(p.nested, TTLKV_INVALID_ARGUMENT);
	CHECK_VALUE(s, "a", "inside");

	/* A key whose shard is not held is refused, the store unchanged. */
	for (int i = 0; i < 64 && outside < 0; i++) {
		ttlkv_key k;

		snprintf(key, sizeof key, "o%d", i);
		k = KEY(key);
		/* A shard not held: the update fails, so look for one. */
		p.key = key;
		CHECK_STATUS(ttlkv_lock_keys(s, &ka, 1, 0, probe_step, &p), TTLKV_EXISTS);
		if (p.update == TTLKV_INVALID_ARGUMENT) {
			outside = i;
			CHECK_VALUE(s, key, "<none>");
		} else {
			CHECK_STATUS(p.update, TTLKV_OK);
			CHECK_STATUS(ttlkv_delete(s, k.data, k.len), TTLKV_OK);
		}
	}
	CHECK(outside >= 0);
	/* ... and with every shard held, any key is writable. */
	p.key = key;
	CHECK_STATUS(ttlkv_lock_keys(s, NULL, 0, TTLKV_LOCK_ALL_SHARDS, probe_step, &p), TTLKV_EXISTS);
	CHECK_STATUS(p.update, TTLKV_OK);
	CHECK_VALUE(s, key, "inside");

	/* RENAME moves the value and the deadline, exactly. */
	CHECK_STATUS(PUT(s, "src", "payload", 7000), TTLKV_OK);
	CHECK_STATUS(rename_key(s, "src", "dst"), TTLKV_OK);
	CHECK_VALUE(s, "src", "<none>");
	CHECK_VALUE(s, "dst", "payload");
	CHECK_STATUS(ttlkv_deadline(s, "dst", 3, &deadline), TTLKV_OK);
	CHECK(deadline == ttlkv_now(s) + 7000);
	CHECK_STATUS(rename_key(s, "src", "dst"), TTLKV_NOT_FOUND);
	/* Onto itself: both keys in one shard, locked once. */
	CHECK_STATUS(rename_key(s, "dst", "dst"), TTLKV_OK);
	CHECK_VALUE(s, "dst", "<none>"); /* the step deletes src last */

	/* A value that outgrows the room runs fn again, under the same hold,
	 * on the same value. */
	CHECK_STATUS(PUT(s, "g", "1", 0), TTLKV_OK);
	{
		ttlkv_key kg = KEY("g");
		struct rename r = { "g", "g2", TTLKV_OK };
		ttlkv_key both[2] = { kg, KEY("g2") };

		CHECK_STATUS(ttlkv_lock_keys(s, both, 2, 0, rename_step, &r), TTLKV_OK);
		CHECK_VALUE(s, "g2", "1");
	}

	/* Errors for the whole call, with nothing locked or written. */
	CHECK_STATUS(ttlkv_lock_keys(NULL, &ka, 1, 0, noop_step, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_lock_keys(s, &ka, 1, 0, NULL, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_lock_keys(s, NULL, 1, 0, noop_step, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_lock_keys(s, &ka, 1, 4, noop_step, NULL), TTLKV_INVALID_ARGUMENT);
	{
		ttlkv_key bad = { NULL, 3 };
		char big[2000];
		ttlkv_key large = { big, 70000 };

		CHECK_STATUS(ttlkv_lock_keys(s, &bad, 1, 0, noop_step, NULL), TTLKV_INVALID_ARGUMENT);
		CHECK_STATUS(ttlkv_lock_keys(s, &large, 1, 0, noop_step, NULL), TTLKV_KEY_TOO_LARGE);
	}
	CHECK_STATUS(ttlkv_lock_keys(s, NULL, 0, 0, noop_step, NULL), TTLKV_OK);
	{
		const void *v;
		size_t n;

		CHECK_STATUS(ttlkv_read_begin(s, "a", 1, &v, &n), TTLKV_OK);
		CHECK_STATUS(ttlkv_lock_keys(s, &ka, 1, 0, noop_step, NULL), TTLKV_IN_READ_SECTION);
		ttlkv_read_end();
	}
	/* A handle used after its call, or inside a read section. */
	CHECK_STATUS(ttlkv_lock_keys(s, &ka, 1, 0, escape_step, NULL), TTLKV_OK);
	CHECK_STATUS(ttlkv_locked_update(escaped, "a", 1, 0, look_fn, &seen), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_locked_update(NULL, "a", 1, 0, look_fn, &seen), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_lock_keys(s, &ka, 1, 0, read_section_step, s), TTLKV_IN_READ_SECTION);
	CHECK_VALUE(s, "a", "inside");
	CHECK(seen.calls == 0);
	ttlkv_close(s);
}

/* --- ttlkv_locked_put_all ------------------------------------------------- */

struct put_all_step {
	const ttlkv_item *items;
	size_t n;
	unsigned flags;
};

static ttlkv_status
put_all_step(ttlkv_locked *held, void *context)
{
	const struct put_all_step *p = context;

	return ttlkv_locked_put_all(held, p->items, p->n, p->flags);
}

static void
items_for(ttlkv_item *items, ttlkv_key *keys, char names[][16], int n, const char *prefix, const char *value)
{
	for (int i = 0; i < n; i++) {
		snprintf(names[i], 16, "%s%d", prefix, i);
		items[i] = (ttlkv_item){ names[i], strlen(names[i]), value, strlen(value), 0 };
		keys[i] = KEY(names[i]);
	}
}

static void
test_locked_put_all(void)
{
	ttlkv *s = open_store(64, 8, 12, true);
	char names[16][16];
	ttlkv_item items[16];
	ttlkv_key keys[16];
	struct put_all_step p = { items, 10, 0 };

	/* All pairs, then NX refuses when one exists. */
	items_for(items, keys, names, 10, "m", "one");
	CHECK_STATUS(ttlkv_lock_keys(s, keys, 10, 0, put_all_step, &p), TTLKV_OK);
	CHECK_VALUE(s, "m9", "one");
	p.flags = TTLKV_PUT_IF_NONE_EXIST;
	items_for(items, keys, names, 10, "m", "two");
	CHECK_STATUS(ttlkv_lock_keys(s, keys, 10, 0, put_all_step, &p), TTLKV_EXISTS);
	CHECK_VALUE(s, "m0", "one");
	/* max_entries 12: 10 held, 5 new keys do not fit: none is stored. */
	p.flags = 0;
	p.n = 5;
	items_for(items, keys, names, 5, "n", "new");
	CHECK_STATUS(ttlkv_lock_keys(s, keys, 5, 0, put_all_step, &p), TTLKV_FULL);
	CHECK(ttlkv_count(s) == 10);
	CHECK_VALUE(s, "n0", "<none>");
	/* A key whose shard is not held: refused before anything is written. */
	items_for(items, keys, names, 2, "n", "new");
	for (int i = 0; i < 40; i++) {
		snprintf(names[1], 16, "x%d", i);
		items[1].key_len = strlen(names[1]);
		if (ttlkv_lock_keys(s, keys, 1, 0, put_all_step, &p) == TTLKV_INVALID_ARGUMENT) {
			CHECK(ttlkv_count(s) == 10);
			CHECK_VALUE(s, "n0", "<none>");
			break;
		}
		CHECK_STATUS(ttlkv_delete(s, "n0", 2), TTLKV_OK);
		ttlkv_delete(s, names[1], strlen(names[1]));
		CHECK(i < 39);
	}
	ttlkv_close(s);
}

/* --- ttlkv_deadline and ttlkv_random_key ---------------------------------- */

static void
test_deadline(void)
{
	ttlkv *s = open_store(64, 4, 0, true);
	uint64_t d = 0;

	CHECK_STATUS(ttlkv_deadline(s, "none", 4, &d), TTLKV_NOT_FOUND);
	CHECK_STATUS(PUT(s, "forever", "v", 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_deadline(s, "forever", 7, &d), TTLKV_OK);
	CHECK(d == TTLKV_NO_EXPIRY);
	CHECK_STATUS(PUT(s, "soon", "v", 250), TTLKV_OK);
	CHECK_STATUS(ttlkv_deadline(s, "soon", 4, &d), TTLKV_OK);
	CHECK(d == ttlkv_now(s) + 250);
	test_clock_advance(&clock_, 249);
	CHECK_STATUS(ttlkv_deadline(s, "soon", 4, &d), TTLKV_OK);
	test_clock_advance(&clock_, 1);
	CHECK_STATUS(ttlkv_deadline(s, "soon", 4, &d), TTLKV_NOT_FOUND);
	CHECK_STATUS(ttlkv_deadline(s, "soon", 4, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_deadline(NULL, "soon", 4, &d), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_deadline(s, NULL, 4, &d), TTLKV_INVALID_ARGUMENT);
	ttlkv_close(s);
}

struct picked {
	char key[32];
	uint64_t deadline;
	int calls;
};

static void
pick_fn(const void *key, size_t key_len, uint64_t deadline, void *context)
{
	struct picked *p = context;

	p->calls++;
	snprintf(p->key, sizeof p->key, "%.*s", (int)key_len, (const char *)key);
	p->deadline = deadline;
}

static uint64_t
next_random(uint64_t *state)
{
	*state = *state * 6364136223846793005ull + 1442695040888963407ull;
	return *state ^ (*state >> 29);
}

/* Draws keys from a store of 100 keys sized for `capacity`: every key
 * comes up, none far less often than its share (200 of 20,000). Returns
 * the rarest key's count. */
static int
random_spread(uint64_t capacity)
{
	ttlkv *s = open_store(capacity, 8, 0, true);
	struct picked p = { "", 0, 0 };
	uint64_t state = 42;
	int seen[100] = { 0 }, rarest = 20000;
	char key[16];

	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "r%d", i);
		CHECK_STATUS(PUT(s, key, "v", 0), TTLKV_OK);
	}
	for (int i = 0; i < 20000; i++) {
		CHECK_STATUS(ttlkv_random_key(s, next_random(&state), pick_fn, &p), TTLKV_OK);
		CHECK(p.key[0] == 'r');
		seen[atoi(p.key + 1) % 100]++;
	}
	for (int i = 0; i < 100; i++)
		rarest = seen[i] < rarest ? seen[i] : rarest;
	ttlkv_close(s);
	return rarest;
}

static void
test_random_key(void)
{
	ttlkv *s = open_store(128, 8, 0, true);
	struct picked p = { "", 0, 0 };
	uint64_t state = 42;
	int dense, sparse;

	CHECK_STATUS(ttlkv_random_key(s, 7, pick_fn, &p), TTLKV_NOT_FOUND);
	CHECK(p.calls == 0);
	/* One key: whatever the random number, that key. */
	CHECK_STATUS(PUT(s, "only", "v", 500), TTLKV_OK);
	for (int i = 0; i < 200; i++) {
		p.calls = 0;
		CHECK_STATUS(ttlkv_random_key(s, next_random(&state), pick_fn, &p), TTLKV_OK);
		CHECK(p.calls == 1 && strcmp(p.key, "only") == 0 && p.deadline == ttlkv_now(s) + 500);
	}
	/* Expired keys are never picked, removed or not. */
	test_clock_advance(&clock_, 500);
	CHECK_STATUS(ttlkv_random_key(s, 1, pick_fn, &p), TTLKV_NOT_FOUND);
	CHECK_STATUS(ttlkv_random_key(NULL, 1, pick_fn, &p), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_random_key(s, 1, NULL, &p), TTLKV_INVALID_ARGUMENT);
	ttlkv_close(s);
	/* A dense table and a sparse one, whose keys sit in clusters. */
	dense = random_spread(128);
	sparse = random_spread(65536);
	printf("random key: rarest of 100 keys drawn %d (dense table) and %d (sparse) times of 20,000\n",
	    dense, sparse);
	CHECK(dense >= 20 && sparse >= 20);
}

/* --- allocation failures ------------------------------------------------- */

/* Each allocation failed in turn leaves the store as it was: a put_all
 * inside is all or nothing, and an update inside that fails changes
 * nothing of its key (writes before it stay: there is no rollback). */
struct locked_op {
	ttlkv_key *keys;
	size_t n;
	ttlkv_locked_fn *step;
	void *context;
};

static ttlkv_status
run_locked(ttlkv *s, void *context)
{
	struct locked_op *op = context;

	return ttlkv_lock_keys(s, op->keys, op->n, 0, op->step, op->context);
}

static void
check_ten_kept(ttlkv *s, void *context)
{
	char key[16];

	(void)context;
	CHECK(ttlkv_count(s) == 10);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof key, "f%d", i);
		CHECK_VALUE(s, key, i < 10 ? "v" : "<none>");
	}
}

static void
check_renamed_or_not(ttlkv *s, void *context)
{
	(void)context;
	CHECK_VALUE(s, "f0", "m");
	/* The copy may have landed before the delete failed. */
	CHECK(strcmp(value_of(s, "fresh"), "<none>") == 0 || strcmp(value_of(s, "fresh"), "m") == 0);
}

static void
test_allocation_failures(void)
{
	ttlkv *s = open_store(8, 4, 0, true);
	char names[40][16];
	ttlkv_item items[40];
	ttlkv_key keys[40], both[2] = { KEY("f0"), KEY("fresh") };
	struct put_all_step p = { items, 40, 0 };
	struct rename r = { "f0", "fresh", TTLKV_OK };
	struct locked_op put = { keys, 40, put_all_step, &p }, move = { both, 2, rename_step, &r };
	char key[16];

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof key, "f%d", i);
		CHECK_STATUS(PUT(s, key, "v", 0), TTLKV_OK);
	}
	items_for(items, keys, names, 40, "f", "m");
	ttlkv_testing_recycle_flush();
	CHECK(fail_each_allocation(s, run_locked, check_ten_kept, &put) > 2);
	CHECK_VALUE(s, "f39", "m");
	ttlkv_testing_recycle_flush();
	CHECK(fail_each_allocation(s, run_locked, check_renamed_or_not, &move) > 0);
	CHECK_VALUE(s, "f0", "<none>");
	CHECK_VALUE(s, "fresh", "m");
	ttlkv_close(s);
}

/* --- threads -------------------------------------------------------------- */

#define THREADS 4
#define ACCOUNTS 8
#define START_BALANCE 1000
static int rounds = 20000;
static ttlkv *shared;
static int stop;
static int finished; /* workers done, counted as they return */

static void *
counted_return(void)
{
	__atomic_add_fetch(&finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool
workers_running(void)
{
	return __atomic_load_n(&finished, __ATOMIC_ACQUIRE) < THREADS;
}

static void
join_workers(pthread_t *t)
{
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	finished = 0;
}

struct transfer {
	char from[16], to[16];
	long amount;
};

static ttlkv_status
transfer_step(ttlkv_locked *held, void *context)
{
	struct transfer *t = context;
	long minus = -t->amount;
	ttlkv_status st = ttlkv_locked_update(held, t->from, strlen(t->from), 0, add_fn, &minus);

	if (st != TTLKV_OK)
		return st;
	/* Some room to spare, some none: both paths of the retry. */
	return ttlkv_locked_update(held, t->to, strlen(t->to), t->amount % 2 ? 20 : 0, add_fn, &t->amount);
}

static void *
transfer_worker(void *arg)
{
	uint64_t state = (uintptr_t)arg + 1;

	for (int i = 0; i < rounds; i++) {
		struct transfer t;
		int a = (int)(next_random(&state) % ACCOUNTS), b = (int)(next_random(&state) % ACCOUNTS);
		ttlkv_key keys[2];

		snprintf(t.from, sizeof t.from, "acct%d", a);
		snprintf(t.to, sizeof t.to, "acct%d", b);
		t.amount = (long)(next_random(&state) % 7) + 1;
		/* Key order varies: the call orders the locks itself. */
		keys[0] = KEY(i % 2 ? t.from : t.to);
		keys[1] = KEY(i % 2 ? t.to : t.from);
		CHECK_STATUS(ttlkv_lock_keys(shared, keys, 2, 0, transfer_step, &t), TTLKV_OK);
		if (i % 64 == 0) {
			/* A single-key write that changes nothing in sum. */
			long zero = 0;

			CHECK_STATUS(ttlkv_update(shared, t.to, strlen(t.to), 20, add_fn, &zero), TTLKV_OK);
		}
	}
	return counted_return();
}

struct audit {
	long total;
	int bad_reads;
};

static ttlkv_status
audit_step(ttlkv_locked *held, void *context)
{
	struct audit *a = context;
	char key[16];

	(void)held;
	a->total = 0;
	for (int i = 0; i < ACCOUNTS; i++) {
		snprintf(key, sizeof key, "acct%d", i);
		a->total += atol(value_of(shared, key));
	}
	return TTLKV_OK;
}

/* Transfers between accounts under the accounts' locks; an auditor holding
 * every account's lock must always count the same total. */
static void
test_transfers_never_interleave(void)
{
	pthread_t t[THREADS];
	ttlkv_key keys[ACCOUNTS];
	char names[ACCOUNTS][16];
	int audits = 0, wrong = 0;

	shared = open_store(64, 16, 0, false);
	for (int i = 0; i < ACCOUNTS; i++) {
		snprintf(names[i], sizeof names[i], "acct%d", i);
		keys[i] = KEY(names[i]);
		CHECK_STATUS(PUT(shared, names[i], "1000", 0), TTLKV_OK);
	}
	for (uintptr_t i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, transfer_worker, (void *)i) == 0);
	while (workers_running()) {
		struct audit a = { 0, 0 };

		CHECK_STATUS(ttlkv_lock_keys(shared, keys, ACCOUNTS, 0, audit_step, &a), TTLKV_OK);
		audits++;
		wrong += a.total != ACCOUNTS * START_BALANCE;
		sched_yield();
	}
	join_workers(t);
	if (wrong != 0)
		fprintf(stderr, "transfers: %d of %d audits saw a wrong total\n", wrong, audits);
	CHECK(wrong == 0);
	CHECK(audits > 10);
	{
		struct audit a = { 0, 0 };

		audit_step(NULL, &a);
		CHECK(a.total == ACCOUNTS * START_BALANCE);
	}
	ttlkv_close(shared);
}

/* Tokens renamed from key to key: at any moment, seen by a holder of every
 * shard's lock, exactly TOKENS of the SLOTS keys hold one. */
#define TOKENS 6
#define SLOTS 24

static ttlkv_status
count_tokens_step(ttlkv_locked *held, void *context)
{
	int *tokens = context;
	char key[16];

	(void)held;
	*tokens = 0;
	for (int i = 0; i < SLOTS; i++) {
		snprintf(key, sizeof key, "slot%d", i);
		*tokens += strcmp(value_of(shared, key), "<none>") != 0;
	}
	return TTLKV_OK;
}

/* RENAMENX: a rename onto a token would destroy it. */
static ttlkv_status
move_step(ttlkv_locked *held, void *context)
{
	struct rename *r = context;
	struct seen to = { 0 };
	ttlkv_status st = ttlkv_locked_update(held, r->dst, strlen(r->dst), 0, look_fn, &to);

	if (st != TTLKV_OK)
		return st;
	if (to.found)
		return TTLKV_EXISTS; /* RENAMENX */
	return rename_step(held, context);
}

static void *
move_worker(void *arg)
{
	uint64_t state = (uintptr_t)arg * 7 + 3;

	for (int i = 0; i < rounds; i++) {
		char src[16], dst[16];
		struct rename r = { src, dst, TTLKV_OK };
		ttlkv_key keys[2];
		ttlkv_status st;

		snprintf(src, sizeof src, "slot%d", (int)(next_random(&state) % SLOTS));
		snprintf(dst, sizeof dst, "slot%d", (int)(next_random(&state) % SLOTS));
		if (strcmp(src, dst) == 0)
			continue;
		keys[0] = KEY(src);
		keys[1] = KEY(dst);
		st = ttlkv_lock_keys(shared, keys, 2, 0, move_step, &r);
		CHECK(st == TTLKV_OK || st == TTLKV_NOT_FOUND || st == TTLKV_EXISTS);
	}
	return counted_return();
}

static void
test_renames_keep_every_token(void)
{
	pthread_t t[THREADS];
	int audits = 0, wrong = 0, tokens;
	char key[16];

	shared = open_store(64, 16, 0, false);
	for (int i = 0; i < TOKENS; i++) {
		snprintf(key, sizeof key, "slot%d", i);
		CHECK_STATUS(PUT(shared, key, "token", 0), TTLKV_OK);
	}
	for (uintptr_t i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, move_worker, (void *)i) == 0);
	while (workers_running()) {
		CHECK_STATUS(ttlkv_lock_keys(shared, NULL, 0, TTLKV_LOCK_ALL_SHARDS, count_tokens_step, &tokens), TTLKV_OK);
		audits++;
		wrong += tokens != TOKENS;
		sched_yield();
	}
	join_workers(t);
	if (wrong != 0)
		fprintf(stderr, "renames: %d of %d audits saw a token lost or doubled\n", wrong, audits);
	CHECK(wrong == 0);
	count_tokens_step(NULL, &tokens);
	CHECK(tokens == TOKENS);
	ttlkv_close(shared);
}

/* Lockers of random key sets, put_all of random pairs and single writes,
 * all over the same keys: none may wait for another in a cycle (the suite
 * would hang; alarm() turns that into a failure). */
static void *
mixed_worker(void *arg)
{
	uint64_t state = (uintptr_t)arg * 13 + 5;
	char names[6][16];
	ttlkv_key keys[6];
	ttlkv_item items[6];

	for (int i = 0; i < rounds && !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
		int n = (int)(next_random(&state) % 6) + 1;

		for (int k = 0; k < n; k++) {
			snprintf(names[k], sizeof names[k], "mix%d", (int)(next_random(&state) % 40));
			keys[k] = KEY(names[k]);
			items[k] = (ttlkv_item){ names[k], strlen(names[k]), "v", 1, 0 };
		}
		switch (next_random(&state) % 4) {
		case 0: {
			struct put_all_step p = { items, (size_t)n, 0 };

			CHECK_STATUS(ttlkv_lock_keys(shared, keys, (size_t)n, 0, put_all_step, &p), TTLKV_OK);
			break;
		}
		case 1:
			CHECK_STATUS(ttlkv_put_all(shared, items, (size_t)n, 0), TTLKV_OK);
			break;
		case 2:
			CHECK_STATUS(ttlkv_put(shared, names[0], strlen(names[0]), "w", 1, 0), TTLKV_OK);
			break;
		default: {
			struct rename r = { names[0], names[n - 1], TTLKV_OK };
			ttlkv_status st = ttlkv_lock_keys(shared, keys, (size_t)n, 0, rename_step, &r);

			CHECK(st == TTLKV_OK || st == TTLKV_NOT_FOUND);
		}
		}
	}
	return NULL;
}

static void
test_no_deadlock(void)
{
	pthread_t t[THREADS];

	shared = open_store(16, 8, 0, false);
	alarm(300);
	for (uintptr_t i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, mixed_worker, (void *)i) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	alarm(0);
	ttlkv_close(shared);
}

/* ttlkv_handle_shard names the shard a key lives in: with the shard of an
 * anchor key held, exactly the keys that ttlkv_handle_shard puts in the
 * anchor's shard may be written (the lock API's own check, an independent
 * path), and every shard is in range and in use. */
struct shard_check {
	ttlkv *store;
	uint32_t anchor;
	int mismatches, writable;
};

static ttlkv_status
shard_check_step(ttlkv_locked *held, void *context)
{
	struct shard_check *c = context;
	struct seen seen = { 0 };
	char key[16];

	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof key, "h%d", i);
		uint32_t shard = ttlkv_handle_shard(c->store, ttlkv_key_handle(c->store, key, strlen(key)));
		ttlkv_status st = ttlkv_locked_update(held, key, strlen(key), 0, look_fn, &seen);

		c->writable += st == TTLKV_OK;
		c->mismatches += (st == TTLKV_OK) != (shard == c->anchor);
	}
	return TTLKV_OK;
}

static void
test_handle_shard(void)
{
	ttlkv *s = open_store(4096, 8, 0, true);
	ttlkv_key anchor = KEY("anchor");
	struct shard_check c = { s, 0, 0, 0 };
	ttlkv_stats stats;
	bool used[8] = { false };
	char key[16];

	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	CHECK(stats.shards == 8);
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof key, "h%d", i);
		uint32_t shard = ttlkv_handle_shard(s, ttlkv_key_handle(s, key, strlen(key)));

		CHECK(shard < 8);
		if (shard < 8)
			used[shard] = true;
	}
	for (int i = 0; i < 8; i++)
		CHECK(used[i]);
	c.anchor = ttlkv_handle_shard(s, ttlkv_key_handle(s, "anchor", 6));
	CHECK_STATUS(ttlkv_lock_keys(s, &anchor, 1, 0, shard_check_step, &c), TTLKV_OK);
	CHECK(c.mismatches == 0);
	CHECK(c.writable > 0 && c.writable < 2000);
	CHECK(ttlkv_handle_shard(NULL, 42) == 0);
	ttlkv_close(s);
}

int
main(void)
{
	if (getenv("TTLKV_TEST_SCALE") != NULL)
		rounds = 3000;
	test_lock_keys_basics();
	test_values_stay_while_held();
	test_locked_put_all();
	test_deadline();
	test_random_key();
	test_handle_shard();
	test_allocation_failures();
	test_transfers_never_interleave();
	test_renames_keep_every_token();
	test_no_deadlock();
	return check_exit("transaction");
}
