/*
 * Allocation failure: for each operation, fail its 1st, 2nd, 3rd, ...
 * allocation until it succeeds, and check after every failure that it
 * reported TTLKV_OUT_OF_MEMORY and left the store exactly as it was. Under
 * LeakSanitizer (make test-asan) this also proves that no failure leaks.
 */
#include "check.h"
#include "test_clock.h"
#include "ttlkv_testing.h"

#include <pthread.h>
#include <string.h>
#include <ttlkv.h>

#define KEYS 200

static struct test_clock clock_ = TEST_CLOCK_INIT(1000);

/* What the store must hold: value "v<i>-<gen[i]>" for keys with gen > 0. */
static int gen[KEYS];
static uint64_t ttl_of[KEYS];

static void
key_of(int i, char *key)
{
	sprintf(key, "key-%d", i);
}

static void
value_of(int i, char *value)
{
	sprintf(value, "v%d-%d", i, gen[i]);
}

static void
check_model(ttlkv *s, const char *when)
{
	char key[32], want[32], got[64];
	uint64_t count = 0;
	int bad = 0;

	for (int i = 0; i < KEYS; i++) {
		size_t n = 0;
		uint64_t left = 0;
		ttlkv_status st;

		key_of(i, key);
		st = ttlkv_get(s, key, strlen(key), got, sizeof got, &n);
		if (gen[i] == 0) {
			bad += st != TTLKV_NOT_FOUND;
			continue;
		}
		count++;
		value_of(i, want);
		bad += st != TTLKV_OK || n != strlen(want) || memcmp(got, want, n) != 0;
		bad += ttlkv_ttl(s, key, strlen(key), &left) != TTLKV_OK;
		bad += left != (ttl_of[i] != 0 ? ttl_of[i] : TTLKV_NO_EXPIRY);
	}
	bad += ttlkv_count(s) != count;
	if (bad != 0)
		fprintf(stderr, "model mismatch after %s\n", when);
	CHECK(bad == 0);
}

/* Runs op with the nth allocation failing, for n = 0, 1, ... until op
 * succeeds; returns the number of failures seen. */
typedef ttlkv_status op_fn(ttlkv *s, int i);

static int
sweep_failures(ttlkv *s, op_fn *op, int i, const char *name)
{
	for (long n = 0;; n++) {
		ttlkv_status st;

		ttlkv_testing_fail_allocation(n);
		st = op(s, i);
		ttlkv_testing_fail_allocation(-1);
		if (st == TTLKV_OK)
			return (int)n;
		if (st != TTLKV_OUT_OF_MEMORY) {
			fprintf(stderr, "%s: status %s\n", name, ttlkv_status_string(st));
			CHECK_STATUS(st, TTLKV_OUT_OF_MEMORY);
			return (int)n;
		}
		check_model(s, name);
	}
}

static ttlkv_status
op_put(ttlkv *s, int i)
{
	char key[32], value[32];
	ttlkv_status st;

	key_of(i, key);
	gen[i]++;
	value_of(i, value);
	st = ttlkv_put(s, key, strlen(key), value, strlen(value), (uint64_t)(i % 3) * 1000);
	if (st == TTLKV_OK)
		ttl_of[i] = (uint64_t)(i % 3) * 1000;
	else
		gen[i]--;
	return st;
}

static ttlkv_status
op_delete(ttlkv *s, int i)
{
	char key[32];
	ttlkv_status st;

	key_of(i, key);
	st = ttlkv_delete(s, key, strlen(key));
	if (st == TTLKV_OK)
		gen[i] = 0;
	return st;
}

static ttlkv_status
op_set_ttl(ttlkv *s, int i)
{
	char key[32];
	ttlkv_status st;

	key_of(i, key);
	st = ttlkv_set_ttl(s, key, strlen(key), 10 + (uint64_t)i);
	if (st == TTLKV_OK)
		ttl_of[i] = 10 + (uint64_t)i;
	return st;
}

static ttlkv_status
op_get(ttlkv *s, int i)
{
	char key[32], buf[64];
	size_t n;

	key_of(i, key);
	return ttlkv_get(s, key, strlen(key), buf, sizeof buf, &n);
}

struct reader_arg {
	ttlkv *store;
	int failures;
};

static void *
fresh_thread_get(void *arg)
{
	struct reader_arg *r = arg;

	r->failures = sweep_failures(r->store, op_get, 1, "first read of a thread");
	return NULL;
}

static void
test_open(void)
{
	ttlkv_options o;
	int failures = 0;

	ttlkv_options_init(&o);
	o.capacity = 5000;
	for (long n = 0;; n++) {
		ttlkv *s = (ttlkv *)&o;
		ttlkv_status st;

		ttlkv_testing_fail_allocation(n);
		st = ttlkv_open(&o, &s);
		ttlkv_testing_fail_allocation(-1);
		if (st == TTLKV_OK) {
			ttlkv_close(s);
			break;
		}
		CHECK_STATUS(st, TTLKV_OUT_OF_MEMORY);
		CHECK(s == NULL);
		failures++;
	}
	CHECK(failures > 3);
}

int
main(void)
{
	ttlkv_options o;
	ttlkv *s;
	int failures[KEYS] = { 0 }, total = 0;
	struct reader_arg thread_arg;
	pthread_t t;

	test_open();

	ttlkv_options_init(&o);
	o.capacity = 8; /* tiny: inserts grow the table, one shard at a time */
	o.shards = 2;
	o.flags = TTLKV_TRACK_EXPIRY;
	test_clock_attach(&clock_, &o);
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);

	/* Inserts (some grow a table, some append schedule records). */
	for (int i = 0; i < KEYS; i++)
		total += failures[i] = sweep_failures(s, op_put, i, "insert");
	check_model(s, "inserts");
	/* Overwrites retire entries: batches, spares, schedule records. */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < KEYS; i++)
			total += sweep_failures(s, op_put, i, "overwrite");
	for (int i = 0; i < KEYS; i += 2)
		total += sweep_failures(s, op_set_ttl, i, "set_ttl");
	for (int i = 0; i < KEYS; i += 3)
		total += sweep_failures(s, op_delete, i, "delete");
	check_model(s, "mixed writes");

	/* A thread's first read registers an epoch record: it can fail too. */
	thread_arg.failures = 0;
	thread_arg.store = s;
	pthread_create(&t, NULL, fresh_thread_get, &thread_arg);
	pthread_join(t, NULL);
	CHECK(thread_arg.failures >= 1);

	/* Sweeping and reclaiming under failures never lose a live key. */
	clock_.now += 5000;
	for (int i = 0; i < KEYS; i++)
		if (ttl_of[i] != 0 && gen[i] != 0)
			gen[i] = 0;
	for (long n = 0; n < 50; n++) {
		ttlkv_testing_fail_allocation(n);
		ttlkv_sweep(s, 1 << 20, NULL);
		ttlkv_testing_fail_allocation(-1);
	}
	CHECK_STATUS(ttlkv_sweep(s, 1 << 20, NULL), TTLKV_OK);
	for (int i = 0; i < KEYS; i++)
		ttl_of[i] = 0;
	check_model(s, "sweeps");

	CHECK(total > KEYS);
	printf("faults: %d injected allocation failures, each reported and harmless\n",
	    total + thread_arg.failures);
	ttlkv_close(s);
	return check_exit("faults");
}
