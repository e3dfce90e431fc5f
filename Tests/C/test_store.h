/*
 * What the suites of the server's primitives (update.c, transaction.c)
 * share: a store on the injected clock, a value read back as a string, and
 * a sweep that fails each allocation of an operation in turn.
 */
#ifndef TTLKV_TEST_STORE_H
#define TTLKV_TEST_STORE_H

#include "check.h"
#include "test_clock.h"
#include "ttlkv_testing.h"

#include <stdbool.h>
#include <string.h>
#include <ttlkv.h>

static struct test_clock clock_ = TEST_CLOCK_INIT(1000);

/* Values up to 1 KiB; the injected clock if test_clock. */
static ttlkv *
open_store(uint64_t capacity, uint32_t shards, uint64_t max_entries, bool test_clock)
{
	ttlkv_options o;
	ttlkv *s = NULL;

	ttlkv_options_init(&o);
	o.capacity = capacity;
	o.shards = shards;
	o.max_entries = max_entries;
	o.max_value_size = 1024;
	o.flags = TTLKV_TRACK_EXPIRY;
	if (test_clock)
		test_clock_attach(&clock_, &o);
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	return s;
}

#define PUT(s, k, v, ttl) ttlkv_put((s), (k), strlen(k), (v), strlen(v), (ttl))

/* The value of key as a string, "<none>" if absent. */
static inline const char *
value_of(ttlkv *s, const char *key)
{
	static __thread char buf[1100];
	size_t n = 0;

	if (ttlkv_get(s, key, strlen(key), buf, sizeof buf - 1, &n) != TTLKV_OK)
		return "<none>";
	buf[n] = '\0';
	return buf;
}

#define CHECK_VALUE(s, key, want) CHECK(strcmp(value_of((s), (key)), (want)) == 0)

/* An operation under test, and what must hold after each of its failures. */
typedef ttlkv_status store_op_fn(ttlkv *s, void *context);
typedef void store_check_fn(ttlkv *s, void *context);

/* Fails the nth allocation of op for n = 0, 1, ... until op succeeds: each
 * failure must be TTLKV_OUT_OF_MEMORY, after which `after` checks the store.
 * Returns the number of failures. */
static inline int
fail_each_allocation(ttlkv *s, store_op_fn *op, store_check_fn *after, void *context)
{
	for (long n = 0;; n++) {
		ttlkv_status st;

		ttlkv_testing_fail_allocation(n);
		st = op(s, context);
		ttlkv_testing_fail_allocation(-1);
		if (st == TTLKV_OK)
			return (int)n;
		CHECK_STATUS(st, TTLKV_OUT_OF_MEMORY);
		if (st != TTLKV_OUT_OF_MEMORY)
			return (int)n;
		after(s, context);
	}
}

#endif
