/*
 * Batched reads and removals give, key for key, what the single calls give:
 * every status, value length and value of ttlkv_get_many is compared with a
 * ttlkv_get of the same key in the same state (absent, expired, live,
 * oversized and NULL keys, the same key several times, buffers too small or
 * absent), for batches of 0, 1, a few and many keys; ttlkv_read_many calls
 * back exactly for the live ones; ttlkv_put_many, ttlkv_delete_many and
 * ttlkv_expire_due_many match ttlkv_put, ttlkv_delete and ttlkv_expire_due. A
 * call with bad arrays writes nothing. Concurrent batches against writers
 * and expiry run in the stress suite.
 */
#include "check.h"
#include "ttlkv_testing.h"
#include "test_clock.h"

#include <stdlib.h>
#include <string.h>
#include <ttlkv.h>

#define MAX_KEY 32
#define KEYS 3000
#define UNTOUCHED ((ttlkv_status)99)

static struct test_clock clock_ = TEST_CLOCK_INIT(1000);

static ttlkv *
open_store(void)
{
	ttlkv_options o;
	ttlkv *s = NULL;

	ttlkv_options_init(&o);
	o.capacity = KEYS;
	o.max_key_size = MAX_KEY;
	o.max_value_size = 1 << 20; /* test_put_many's 2 MiB values are too large */
	test_clock_attach(&clock_, &o);
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	return s;
}

static void
key_name(unsigned i, char *out)
{
	snprintf(out, MAX_KEY, "key-%u", i);
}

/* Every kind of key a batch can hold, by index: live, expired, never
 * written, too long, NULL with a length, empty. */
static ttlkv_key
key_of(unsigned i, char (*names)[MAX_KEY + 8])
{
	static const char long_key[] = "0123456789012345678901234567890123456789";
	ttlkv_key k;

	switch (i % 11) {
	case 7:
		k.data = long_key;
		k.len = MAX_KEY + 1;
		break;
	case 8:
		k.data = NULL;
		k.len = 3;
		break;
	case 9:
		k.data = NULL;
		k.len = 0;
		break;
	default:
		key_name(i % 11 == 10 ? i + 100000 : i / 2, names[i]);
		k.data = names[i];
		k.len = strlen(names[i]);
	}
	return k;
}

static void
fill(ttlkv *s)
{
	char name[MAX_KEY];
	char value[300];

	for (unsigned i = 0; i < KEYS; i++) {
		size_t len = i % 257;

		key_name(i, name);
		memset(value, 'a' + (int)(i % 26), len);
		CHECK_STATUS(ttlkv_put(s, name, strlen(name), value, len, i % 3 == 0 ? 5 : 0), TTLKV_OK);
	}
	CHECK_STATUS(ttlkv_put(s, NULL, 0, "empty-key", 9, 0), TTLKV_OK);
	clock_.now += 10; /* a third of the keys expire */
}

/* Compares a batch of count keys with single gets, with every fourth
 * buffer too small and every ninth a size query. */
static void
check_get_many(ttlkv *s, size_t count)
{
	char (*names)[MAX_KEY + 8] = calloc(count + 1, sizeof *names);
	ttlkv_key *keys = calloc(count + 1, sizeof *keys);
	void **buffers = calloc(count + 1, sizeof *buffers);
	size_t *lens = calloc(count + 1, sizeof *lens), *got_lens = calloc(count + 1, sizeof *got_lens);
	ttlkv_status *statuses = calloc(count + 1, sizeof *statuses);
	char want[300];

	for (size_t i = 0; i < count; i++) {
		keys[i] = key_of((unsigned)i, names);
		lens[i] = i % 9 == 0 ? 0 : i % 4 == 0 ? 10 : 300;
		/* Every tenth a NULL buffer that claims a length: bad input. */
		buffers[i] = lens[i] == 0 || i % 10 == 3 ? NULL : malloc(lens[i]);
		got_lens[i] = 12345;
	}
	CHECK_STATUS(ttlkv_get_many(s, keys, count, buffers, lens, got_lens, statuses), TTLKV_OK);
	for (size_t i = 0; i < count; i++) {
		size_t want_len = 12345;
		ttlkv_status st = ttlkv_get(s, keys[i].data, keys[i].len, buffers[i] ? want : NULL,
		    lens[i], &want_len);

		CHECK_STATUS(statuses[i], st);
		CHECK(got_lens[i] == want_len);
		if (st == TTLKV_OK)
			CHECK(want_len == 0 || memcmp(buffers[i], want, want_len) == 0);
		free(buffers[i]);
	}
	free(names);
	free(keys);
	free(buffers);
	free(lens);
	free(got_lens);
	free(statuses);
}

struct seen {
	ttlkv *store;
	const ttlkv_key *keys;
	unsigned calls;
	unsigned char called[64];
};

/* Inside the batch's read section: reading is allowed, so the value handed
 * over is compared with a single get of the same key. */
static void
remember(size_t index, const void *value, size_t len, void *context)
{
	struct seen *seen = context;
	char want[300];
	size_t n = 0;

	seen->calls++;
	seen->called[index] = 1;
	CHECK_STATUS(ttlkv_get(seen->store, seen->keys[index].data, seen->keys[index].len,
	    want, sizeof want, &n), TTLKV_OK);
	CHECK(n == len && (len == 0 || memcmp(value, want, len) == 0));
}

static void
test_reads(void)
{
	ttlkv *s = open_store();
	size_t counts[] = { 0, 1, 2, 15, 16, 17, 64, 1000, 10000 };
	char (*names)[MAX_KEY + 8] = calloc(64, sizeof *names);
	ttlkv_key keys[64];
	ttlkv_status statuses[64];
	struct seen seen;
	void *buffer = NULL;
	size_t len = 0, got = 0;

	fill(s);
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
		check_get_many(s, counts[i]);

	/* read_many: called for exactly the live keys, with their values. */
	memset(&seen, 0, sizeof seen);
	seen.store = s;
	seen.keys = keys;
	for (unsigned i = 0; i < 64; i++)
		keys[i] = key_of(i, names);
	CHECK_STATUS(ttlkv_read_many(s, keys, 64, remember, &seen, statuses), TTLKV_OK);
	for (unsigned i = 0; i < 64; i++) {
		size_t n;
		ttlkv_status st = ttlkv_get(s, keys[i].data, keys[i].len, NULL, 0, &n);

		if (st == TTLKV_BUFFER_TOO_SMALL)
			st = TTLKV_OK;
		CHECK_STATUS(statuses[i], st);
		CHECK(seen.called[i] == (st == TTLKV_OK));
	}

	/* Bad arrays: an error for the whole call, nothing written. */
	statuses[0] = UNTOUCHED;
	CHECK_STATUS(ttlkv_get_many(NULL, keys, 1, &buffer, &len, &got, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_get_many(s, NULL, 1, &buffer, &len, &got, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_get_many(s, keys, 1, NULL, &len, &got, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_get_many(s, keys, 1, &buffer, NULL, &got, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_get_many(s, keys, 1, &buffer, &len, NULL, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_get_many(s, keys, 1, &buffer, &len, &got, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_read_many(s, keys, 1, NULL, NULL, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_read_many(s, NULL, 1, remember, &seen, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK(statuses[0] == UNTOUCHED);
	CHECK_STATUS(ttlkv_get_many(s, NULL, 0, NULL, NULL, NULL, NULL), TTLKV_OK);
	CHECK_STATUS(ttlkv_read_many(s, NULL, 0, remember, NULL, NULL), TTLKV_OK);
	free(names);
	ttlkv_close(s);
}

/* Two stores in the same state, for a batch call on one and the single
 * calls on the other. */
static void
twins(ttlkv **a, ttlkv **b)
{
	*a = open_store();
	*b = open_store();
	fill(*a);
	clock_.now -= 10;
	fill(*b);
}

static void
check_same(ttlkv *a, ttlkv *b)
{
	ttlkv_stats sa, sb;

	CHECK_STATUS(ttlkv_stats_get(a, &sa), TTLKV_OK);
	CHECK_STATUS(ttlkv_stats_get(b, &sb), TTLKV_OK);
	CHECK(sa.entries == sb.entries && sa.expired == sb.expired && sa.bytes == sb.bytes);
}

static void
test_deletes(void)
{
	char (*names)[MAX_KEY + 8] = calloc(200, sizeof *names);
	ttlkv_key keys[200];
	ttlkv_status statuses[200];
	const void *value;
	size_t len;
	ttlkv *a, *b;

	twins(&a, &b);
	for (unsigned i = 0; i < 200; i++)
		keys[i] = key_of(i, names);
	CHECK_STATUS(ttlkv_delete_many(a, keys, 200, statuses), TTLKV_OK);
	for (unsigned i = 0; i < 200; i++)
		CHECK_STATUS(statuses[i], ttlkv_delete(b, keys[i].data, keys[i].len));
	check_same(a, b);

	statuses[0] = UNTOUCHED;
	CHECK_STATUS(ttlkv_delete_many(NULL, keys, 1, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_delete_many(a, NULL, 1, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_delete_many(a, keys, 1, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK(statuses[0] == UNTOUCHED);
	CHECK_STATUS(ttlkv_put(a, "pin", 3, "v", 1, 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_read_begin(a, "pin", 3, &value, &len), TTLKV_OK);
	CHECK_STATUS(ttlkv_delete_many(a, keys, 1, statuses), TTLKV_IN_READ_SECTION);
	CHECK_STATUS(ttlkv_read_end(), TTLKV_OK);
	CHECK(statuses[0] == UNTOUCHED);
	free(names);
	ttlkv_close(a);
	ttlkv_close(b);
}

/* ttlkv_put_many against ttlkv_put on a twin store, item for item: every
 * kind of key, values too large or NULL, TTLs absurd and real, duplicates
 * (the last wins); then the two stores hold the same. */
static void
test_put_many(void)
{
	ttlkv *a = open_store(), *b = open_store();
	char (*names)[MAX_KEY + 8] = calloc(300, sizeof *names);
	static char big[2 * 1024 * 1024];
	ttlkv_item items[300];
	ttlkv_status statuses[300];

	for (unsigned i = 0; i < 300; i++) {
		ttlkv_key k = key_of(i % 150, names); /* every key twice */

		items[i].key = k.data;
		items[i].key_len = k.len;
		items[i].value = i % 13 == 5 ? NULL : big;
		items[i].value_len = i % 17 == 3 ? sizeof big : i % 40;
		items[i].ttl_ms = i % 19 == 4 ? TTLKV_MAX_TTL_MS + 1 : i % 3 == 0 ? 5 : 0;
		big[i] = (char)i;
	}
	CHECK_STATUS(ttlkv_put_many(a, items, 300, statuses), TTLKV_OK);
	for (unsigned i = 0; i < 300; i++)
		CHECK_STATUS(statuses[i], ttlkv_put(b, items[i].key, items[i].key_len, items[i].value,
		    items[i].value_len, items[i].ttl_ms));
	check_same(a, b);
	CHECK(ttlkv_count(a) > 0);
	for (unsigned i = 0; i < 150; i++) {
		char va[64], vb[64];
		size_t na = 0, nb = 0;

		CHECK_STATUS(ttlkv_get(a, items[i].key, items[i].key_len, va, sizeof va, &na),
		    ttlkv_get(b, items[i].key, items[i].key_len, vb, sizeof vb, &nb));
		CHECK(na == nb && memcmp(va, vb, na < sizeof va ? na : sizeof va) == 0);
	}
	clock_.now += 10; /* the TTL'd ones expire in both */
	CHECK(ttlkv_get(a, items[0].key, items[0].key_len, NULL, 0, &(size_t){ 0 }) ==
	    ttlkv_get(b, items[0].key, items[0].key_len, NULL, 0, &(size_t){ 0 }));

	statuses[0] = UNTOUCHED;
	CHECK_STATUS(ttlkv_put_many(NULL, items, 1, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_put_many(a, NULL, 1, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_put_many(a, items, 1, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK(statuses[0] == UNTOUCHED);
	CHECK_STATUS(ttlkv_put_many(a, NULL, 0, NULL), TTLKV_OK);
	free(names);
	ttlkv_close(a);
	ttlkv_close(b);
}

/* A key that expires while a batch runs is not seen live by the batch's
 * later lookups of it: each group of keys reads the clock anew, and so does
 * the first lookup after a caller's callback. */
struct jump {
	unsigned calls;
};

static void
jump_clock(size_t index, const void *value, size_t len, void *context)
{
	struct jump *j = context;

	(void)index;
	(void)value;
	(void)len;
	j->calls++;
	clock_.now += 1000;
}

static void
test_expiry_during_a_batch(void)
{
	ttlkv *s = open_store();
	ttlkv_key keys[18];
	ttlkv_status statuses[18];
	struct jump j = { 0 };
	const char *k = "short-lived";

	CHECK_STATUS(ttlkv_put(s, k, strlen(k), "v", 1, 10), TTLKV_OK);
	keys[0] = keys[17] = (ttlkv_key){ k, strlen(k) };
	for (int i = 1; i < 17; i++)
		keys[i] = (ttlkv_key){ "absent", 6 };
	CHECK_STATUS(ttlkv_read_many(s, keys, 18, jump_clock, &j, statuses), TTLKV_OK);
	CHECK(j.calls == 1);
	CHECK_STATUS(statuses[0], TTLKV_OK);
	CHECK_STATUS(statuses[17], TTLKV_NOT_FOUND);
	ttlkv_close(s);
}

/* Batched writes free what they retire as fast as single writes do: the
 * backlog of freed-but-held entries stays bounded however long they run
 * (1024, and what the shards may keep for reuse). */
static void
check_backlog(ttlkv *s, const char *what)
{
	uint64_t bound = 1024 + ttlkv_testing_reserve_limit(s);
	ttlkv_stats st;

	CHECK_STATUS(ttlkv_stats_get(s, &st), TTLKV_OK);
	if (st.deferred_frees > bound)
		fprintf(stderr, "%s: %llu deferred frees\n", what, (unsigned long long)st.deferred_frees);
	CHECK(st.deferred_frees <= bound);
}

static void
test_batches_free_what_they_retire(void)
{
	ttlkv_options o;
	ttlkv *batched, *single;
	char names[64][MAX_KEY];
	ttlkv_item items[64];
	ttlkv_key keys[64];
	ttlkv_status statuses[64];

	ttlkv_options_init(&o);
	o.capacity = 4096;
	o.shards = 1;
	CHECK_STATUS(ttlkv_open(&o, &batched), TTLKV_OK);
	CHECK_STATUS(ttlkv_open(&o, &single), TTLKV_OK);
	for (unsigned i = 0; i < 64; i++) {
		key_name(i, names[i]);
		items[i] = (ttlkv_item){ names[i], strlen(names[i]), "value", 5, 0 };
		keys[i] = (ttlkv_key){ names[i], strlen(names[i]) };
	}
	for (int round = 0; round < 2000; round++) {
		CHECK_STATUS(ttlkv_put_many(batched, items, 64, statuses), TTLKV_OK);
		for (unsigned i = 0; i < 64; i++)
			CHECK_STATUS(ttlkv_put(single, names[i], strlen(names[i]), "value", 5, 0), TTLKV_OK);
	}
	check_backlog(single, "ttlkv_put");
	check_backlog(batched, "ttlkv_put_many");
	for (int round = 0; round < 2000; round++) {
		for (unsigned i = 0; i < 64; i++)
			CHECK_STATUS(ttlkv_put(batched, names[i], strlen(names[i]), "value", 5, 0), TTLKV_OK);
		CHECK_STATUS(ttlkv_delete_many(batched, keys, 64, statuses), TTLKV_OK);
	}
	check_backlog(batched, "ttlkv_delete_many");
	for (int round = 0; round < 2000; round++)
		CHECK_STATUS(ttlkv_put_all(batched, items, 64, 0), TTLKV_OK);
	check_backlog(batched, "ttlkv_put_all");
	ttlkv_close(batched);
	ttlkv_close(single);
}

static void
test_expire_due_many(void)
{
	char (*names)[MAX_KEY + 8] = calloc(200, sizeof *names);
	ttlkv_key keys[200];
	ttlkv_status statuses[200];
	uint64_t deadlines[200], scheduled[200];
	ttlkv_stats sa;
	ttlkv *a, *b;

	twins(&a, &b);
	for (unsigned i = 0; i < 200; i++) {
		keys[i] = key_of(i, names);
		scheduled[i] = i % 5 == 0 ? 1005 : 0;
	}
	CHECK_STATUS(ttlkv_expire_due_many(a, keys, scheduled, 200, deadlines, statuses), TTLKV_OK);
	for (unsigned i = 0; i < 200; i++) {
		uint64_t deadline = 0;

		CHECK_STATUS(statuses[i], ttlkv_expire_due(b, keys[i].data, keys[i].len, scheduled[i], &deadline));
		if (statuses[i] == TTLKV_OK || statuses[i] == TTLKV_NOT_DUE)
			CHECK(deadlines[i] == deadline);
	}
	check_same(a, b);
	CHECK_STATUS(ttlkv_stats_get(a, &sa), TTLKV_OK);
	CHECK(sa.expired > 0);
	CHECK_STATUS(ttlkv_expire_due_many(a, keys, NULL, 200, NULL, statuses), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_expire_due_many(a, keys, NULL, 200, deadlines, statuses), TTLKV_OK);
	free(names);
	ttlkv_close(a);
	ttlkv_close(b);
}

int
main(void)
{
	test_reads();
	test_expiry_during_a_batch();
	test_batches_free_what_they_retire();
	test_deletes();
	test_put_many();
	test_expire_due_many();
	return check_exit("batch");
}
