/*
 * A reader stalled inside its read section: who waits for it, and who must
 * not.
 *
 * ttlkv.h promises that readers never wait, that ttlkv_reclaim(store, 0)
 * never waits, and that a writer waits for readers only once the backlog of
 * retired entries awaiting a grace period passes the reclamation cap, and
 * then only after it has released its shard locks. Each test stalls a
 * reader for up to STALL_MS (test_stall.h) and checks who returns while it
 * is still stalled.
 *
 *   1. Below the cap, with another thread in ttlkv_reclaim(store, 1)
 *      waiting for the reader: every write, ttlkv_reclaim(store, 0), a sweep
 *      and a clear return while the reader is stalled.
 *   2. Past the cap: a writer waits, and while it waits (also in
 *      ttlkv_put_all, which holds several shard locks) it holds no lock:
 *      ttlkv_reclaim(store, 0), which takes every shard's lock, returns.
 */
#include "test_stall.h"

#include <string.h>

#define KEYS 4096

static ttlkv *
open_store(void)
{
	ttlkv_options o;
	ttlkv *s;
	unsigned char key[16];

	ttlkv_options_init(&o);
	o.capacity = KEYS;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	for (uint64_t i = 0; i < KEYS; i++) {
		key_of(i, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, "v", 1, 0), TTLKV_OK);
	}
	return s;
}

static void
overwrite(ttlkv *s, uint64_t from, uint64_t n)
{
	unsigned char key[16];

	for (uint64_t i = from; i < from + n; i++) {
		key_of(i % KEYS, key);
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, "w", 1, 0), TTLKV_OK);
	}
}

/* --- 1. Below the cap. */

static void *
reclaim_waiting(void *arg)
{
	CHECK_STATUS(ttlkv_reclaim(arg, 1), TTLKV_OK);
	return NULL;
}

static ttlkv_update_action
set_x(ttlkv_update_state *state, void *context)
{
	(void)context;
	if (state->buffer_len < 1) {
		state->new_len = 1;
		return TTLKV_UPDATE_REPLACE;
	}
	*(char *)state->buffer = 'x';
	state->new_len = 1;
	return TTLKV_UPDATE_REPLACE;
}

static uint64_t worst_ns;
static const char *worst_call;

static void
timed(const char *name, uint64_t started)
{
	uint64_t took = now_ns() - started;

	if (took > worst_ns) {
		worst_ns = took;
		worst_call = name;
	}
}

static void
test_below_cap_nothing_waits(void)
{
	ttlkv *s = open_store();
	unsigned char key[16], keys[64][16];
	ttlkv_item items[64];
	ttlkv_key batch[64];
	ttlkv_status statuses[64];
	uint64_t deadline, t;
	pthread_t waiter;

	for (int i = 0; i < 64; i++) {
		key_of(KEYS + (uint64_t)i, keys[i]);
		items[i] = (ttlkv_item){ keys[i], 16, "m", 1, 0 };
		batch[i] = (ttlkv_key){ keys[i], 16 };
	}
	stall_begin(s);
	overwrite(s, 0, 1000);
	CHECK(pthread_create(&waiter, NULL, reclaim_waiting, s) == 0);
	CHECK(await_waiters(1, NULL));
	worst_ns = 0;
	worst_call = "none";
	t = now_ns();
	CHECK_STATUS(ttlkv_reclaim(s, 0), TTLKV_OK);
	timed("ttlkv_reclaim(store, 0)", t);
	/* Enough overwrites to fill every shard's retire batch a few times. */
	t = now_ns();
	overwrite(s, 1000, 3 * KEYS);
	timed("ttlkv_put", t);
	key_of(1, key);
	t = now_ns();
	CHECK_STATUS(ttlkv_put_if_absent(s, key, sizeof key, "v", 1, 0), TTLKV_EXISTS);
	CHECK_STATUS(ttlkv_set_ttl(s, key, sizeof key, 100000), TTLKV_OK);
	CHECK_STATUS(ttlkv_update(s, key, sizeof key, 1, set_x, NULL), TTLKV_OK);
	CHECK_STATUS(ttlkv_delete(s, key, sizeof key), TTLKV_OK);
	CHECK_STATUS(ttlkv_expire_due(s, key, sizeof key, 0, &deadline), TTLKV_NOT_FOUND);
	timed("single-key writes", t);
	t = now_ns();
	CHECK_STATUS(ttlkv_put_many(s, items, 64, statuses), TTLKV_OK);
	CHECK_STATUS(ttlkv_put_all(s, items, 64, 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_delete_many(s, batch, 64, statuses), TTLKV_OK);
	timed("batched writes", t);
	t = now_ns();
	CHECK_STATUS(ttlkv_sweep(s, 1u << 20, NULL), TTLKV_OK);
	timed("ttlkv_sweep", t);
	t = now_ns();
	CHECK_STATUS(ttlkv_reclaim(s, 0), TTLKV_OK);
	timed("ttlkv_reclaim(store, 0)", t);
	t = now_ns();
	CHECK_STATUS(ttlkv_clear(s), TTLKV_OK);
	timed("ttlkv_clear", t);
	CHECK(stall_holds());
	printf("stall: below the cap, with ttlkv_reclaim(store, 1) waiting for a stalled reader: "
	    "slowest call %s, %.1f ms; reader %s\n", worst_call, (double)worst_ns / 1e6,
	    stall_holds() ? "still stalled" : "timed out first");
	CHECK(stall_end());
	CHECK(pthread_join(waiter, NULL) == 0);
	ttlkv_close(s);
}

/* --- 2. Past the cap. */

static uint64_t overwrites_done;

static void *
overwriter(void *arg)
{
	for (uint64_t i = 0; i < 4 * KEYS; i++) {
		overwrite(arg, i, 1);
		__atomic_store_n(&overwrites_done, i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *
mset_everywhere(void *arg)
{
	unsigned char keys[256][16];
	ttlkv_item items[256];

	for (int i = 0; i < 256; i++) {
		key_of((uint64_t)i, keys[i]);
		items[i] = (ttlkv_item){ keys[i], 16, "a", 1, 0 };
	}
	CHECK_STATUS(ttlkv_put_all(arg, items, 256, 0), TTLKV_OK);
	return NULL;
}

static void
test_past_cap_writers_wait_without_locks(void)
{
	enum { CAP = 256 };
	ttlkv *s = open_store();
	pthread_t writer, mset;
	ttlkv_stats stats;
	uint64_t t, took, done;

	ttlkv_testing_set_reclaim_cap(s, CAP);
	stall_begin(s);
	overwrites_done = 0;
	CHECK(pthread_create(&writer, NULL, overwriter, s) == 0);
	CHECK(await_waiters(1, NULL));
	done = __atomic_load_n(&overwrites_done, __ATOMIC_ACQUIRE);
	CHECK(pthread_create(&mset, NULL, mset_everywhere, s) == 0);
	CHECK(await_waiters(2, NULL));
	t = now_ns();
	CHECK_STATUS(ttlkv_reclaim(s, 0), TTLKV_OK);
	took = now_ns() - t;
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	CHECK(stall_holds());
	printf("stall: past a cap of %d, a writer waited after %llu puts with %llu retired entries "
	    "unfreed; with it and an MSET waiting, ttlkv_reclaim(store, 0) took %.1f ms; reader %s\n",
	    CAP, (unsigned long long)done, (unsigned long long)stats.deferred_frees,
	    (double)took / 1e6, stall_holds() ? "still stalled" : "timed out first");
	CHECK(done < 4 * KEYS);
	CHECK(stall_end());
	CHECK(pthread_join(writer, NULL) == 0);
	CHECK(pthread_join(mset, NULL) == 0);
	CHECK(__atomic_load_n(&overwrites_done, __ATOMIC_ACQUIRE) == 4 * KEYS);
	ttlkv_close(s);
}

int
main(void)
{
	alarm(120); /* a call that never returns fails instead of hanging */
	test_below_cap_nothing_waits();
	test_past_cap_writers_wait_without_locks();
	return check_exit("stall");
}
