/*
 * libFuzzer harness for the C API. Each input is a program of API calls
 * (put, put-if-absent, get, zero-copy reads, delete, their batched forms,
 * TTL query and change, expire-due by key and by handle, sweep, table
 * maintenance, drains, reclaim, scan, clear, clock jumps, and all-or-nothing
 * MSETs, some with an allocation failing part-way) with arbitrary key and value bytes,
 * lengths at and beyond the limits, NULL pointers where a zero length allows
 * them, and absurd TTLs. Every result is checked against a small model of
 * the store kept here; any difference aborts, and so does anything
 * AddressSanitizer or UBSan catches. The model also counts expiries:
 * ttlkv_drain_expired must report exactly those that were not
 * ttlkv_expire_due's, and with them stats.expired must add up.
 *
 * A quarter of the inputs (those whose length is 3 modulo 4) run against a
 * store with a byte budget small enough to hold a dozen entries: then a
 * key may vanish, but only by an eviction that ttlkv_drain_evicted reports
 * (checked after every call: the key was live in the model, with that
 * deadline), or as an expiry the eviction met (reported by
 * ttlkv_drain_expired); it never comes back with an old value, never mixes
 * values, and a write refused for the budget (TTLKV_TOO_LARGE_FOR_BUDGET,
 * or TTLKV_OUT_OF_MEMORY when waiting records hold the room) changes
 * nothing. stats.evicted counts exactly the evictions reported.
 *
 *   make fuzz FUZZ_SECONDS=600     # explore; new inputs go to build/fuzz-corpus
 *   make test                      # replays Tests/Fuzz/corpus, then fuzzes ~1 minute
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ttlkv.h>

#include "ttlkv_testing.h"

#define MAX_KEY 24
#define MAX_VALUE 48
#define MODEL_SLOTS 64
/* The budget of a quarter of the inputs: its two shards hold a handful of
 * entries each beside their tables. */
#define BUDGET 4608

struct model_entry {
	bool used;
	size_t key_len, value_len;
	unsigned char key[MAX_KEY], value[MAX_VALUE];
	uint64_t deadline; /* 0 = never */
};

static struct model_entry model[MODEL_SLOTS];
static uint64_t now_ms;
/* Expiries: removed by ttlkv_expire_due, logged for ttlkv_drain_expired
 * and not drained yet, and drained. */
static uint64_t expired_by_worker, expired_logged, expired_drained;
/* With a budget: evictions reported by ttlkv_drain_evicted. */
static bool budgeted;
static uint64_t evicted_drained;

static uint64_t
fuzz_clock(void *context)
{
	(void)context;
	return now_ms;
}

#define REQUIRE(cond)                                                      \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "model mismatch at %s:%d: %s\n",   \
			    __FILE__, __LINE__, #cond);                    \
			abort();                                           \
		}                                                          \
	} while (0)

/* Reads bytes from the program; zeros once it is exhausted. */
struct program {
	const uint8_t *data;
	size_t size, at;
};

static uint8_t
next_byte(struct program *p)
{
	return p->at < p->size ? p->data[p->at++] : 0;
}

static uint64_t
next_u64(struct program *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | next_byte(p);
	return v;
}

/* A byte string: length up to limit + 8 (so some are too long); NULL when
 * empty half of the time. */
static size_t
next_bytes(struct program *p, unsigned char *buf, size_t limit, const unsigned char **ptr)
{
	size_t len = next_byte(p) % (limit + 9);

	for (size_t i = 0; i < len; i++)
		buf[i] = next_byte(p) & 0x7;   /* small alphabet: keys repeat */
	*ptr = len == 0 && (p->at & 1) ? NULL : buf;
	return len;
}

static uint64_t
next_ttl(struct program *p)
{
	switch (next_byte(p) % 8) {
	case 0: return 0;
	case 1: return 1;
	case 2: return next_byte(p);
	case 3: return (uint64_t)next_byte(p) * 1000;
	case 4: return TTLKV_MAX_TTL_MS;
	case 5: return TTLKV_MAX_TTL_MS + 1;
	case 6: return UINT64_MAX;
	default: return next_u64(p);
	}
}

static struct model_entry *
find(const unsigned char *key, size_t len)
{
	for (int i = 0; i < MODEL_SLOTS; i++)
		if (model[i].used && model[i].key_len == len && (len == 0 || memcmp(model[i].key, key, len) == 0))
			return &model[i];
	return NULL;
}

static bool
expired(const struct model_entry *e)
{
	return e->deadline != 0 && e->deadline <= now_ms;
}

static size_t
model_count(void)
{
	size_t n = 0;

	for (int i = 0; i < MODEL_SLOTS; i++)
		n += model[i].used;
	return n;
}

/* Whether a write may have been refused for the budget (and then changed
 * nothing). */
static bool
refused(ttlkv_status got)
{
	return budgeted && (got == TTLKV_TOO_LARGE_FOR_BUDGET || got == TTLKV_OUT_OF_MEMORY);
}

/* The status a keyed call must return for bad arguments, or TTLKV_OK. */
static ttlkv_status
key_status(const unsigned char *key, size_t len)
{
	if (key == NULL && len != 0)
		return TTLKV_INVALID_ARGUMENT;
	return len > MAX_KEY ? TTLKV_KEY_TOO_LARGE : TTLKV_OK;
}

static ttlkv_status
ttl_status(uint64_t ttl)
{
	if (ttl == 0)
		return TTLKV_OK;
	if (ttl > TTLKV_MAX_TTL_MS || now_ms > TTLKV_MAX_DEADLINE_MS - ttl)
		return TTLKV_INVALID_TTL;
	return TTLKV_OK;
}

static void
do_put(ttlkv *s, struct program *p, bool if_absent)
{
	unsigned char kb[MAX_KEY + 8], vb[MAX_VALUE + 8];
	const unsigned char *key, *value;
	size_t klen = next_bytes(p, kb, MAX_KEY, &key), vlen = next_bytes(p, vb, MAX_VALUE, &value);
	uint64_t ttl = next_ttl(p);
	ttlkv_status got = if_absent ? ttlkv_put_if_absent(s, key, klen, value, vlen, ttl)
	    : ttlkv_put(s, key, klen, value, vlen, ttl);
	ttlkv_status want = key_status(key, klen);
	struct model_entry *e;

	if (want == TTLKV_OK && vlen > MAX_VALUE)
		want = TTLKV_VALUE_TOO_LARGE;
	if (want == TTLKV_OK)
		want = ttl_status(ttl);
	if (want != TTLKV_OK) {
		REQUIRE(got == want);
		return;
	}
	e = find(key, klen);
	if (e != NULL && !expired(e) && if_absent) {
		REQUIRE(got == TTLKV_EXISTS);
		return;
	}
	if (refused(got))
		return;
	if (e != NULL && expired(e))
		expired_logged++;
	if (e == NULL) {
		for (int i = 0; i < MODEL_SLOTS && e == NULL; i++)
			if (!model[i].used)
				e = &model[i];
		if (e == NULL) {   /* the model is full: undo the put */
			REQUIRE(got == TTLKV_OK);
			REQUIRE(ttlkv_delete(s, key, klen) == TTLKV_OK);
			return;
		}
	}
	REQUIRE(got == TTLKV_OK);
	e->used = true;
	e->key_len = klen;
	if (klen)
		memcpy(e->key, key, klen);
	e->value_len = vlen;
	if (vlen)
		memcpy(e->value, value, vlen);
	e->deadline = ttl ? now_ms + ttl : 0;
}

/* What ttlkv_get must return for key with a buffer of cap bytes, and the
 * model entry whose value it must copy (NULL if none). */
static ttlkv_status
expect_get(const unsigned char *key, size_t klen, size_t cap, const struct model_entry **found)
{
	ttlkv_status want = key_status(key, klen);
	const struct model_entry *e;

	*found = NULL;
	if (want != TTLKV_OK)
		return want;
	e = find(key, klen);
	if (e == NULL || expired(e))
		return TTLKV_NOT_FOUND;
	*found = e;
	return cap < e->value_len ? TTLKV_BUFFER_TOO_SMALL : TTLKV_OK;
}

/* Checks one get's result against the model. */
static void
check_get(ttlkv_status got, const unsigned char *key, size_t klen, size_t cap,
    const unsigned char *out, size_t vlen)
{
	const struct model_entry *e;

	REQUIRE(got == expect_get(key, klen, cap, &e));
	if (e != NULL)
		REQUIRE(vlen == e->value_len);
	if (got == TTLKV_OK)
		REQUIRE(vlen == 0 || memcmp(out, e->value, vlen) == 0);
}

static void
do_get(ttlkv *s, struct program *p)
{
	unsigned char kb[MAX_KEY + 8], out[MAX_VALUE];
	const unsigned char *key;
	size_t klen = next_bytes(p, kb, MAX_KEY, &key);
	size_t cap = next_byte(p) % (MAX_VALUE + 1), vlen = 12345;
	void *buf = cap == 0 && (p->at & 1) ? NULL : out;

	check_get(ttlkv_get(s, key, klen, buf, cap, &vlen), key, klen, cap, out, vlen);
}

/* Up to 8 keys in one ttlkv_get_many, each checked as a single get. */
#define MANY 8

static void
do_get_many(ttlkv *s, struct program *p)
{
	unsigned char kb[MANY][MAX_KEY + 8], out[MANY][MAX_VALUE];
	const unsigned char *key[MANY];
	ttlkv_key keys[MANY];
	void *bufs[MANY];
	size_t caps[MANY], vlens[MANY], n = next_byte(p) % (MANY + 1);
	ttlkv_status st[MANY];

	for (size_t i = 0; i < n; i++) {
		keys[i].len = next_bytes(p, kb[i], MAX_KEY, &key[i]);
		keys[i].data = key[i];
		caps[i] = next_byte(p) % (MAX_VALUE + 1);
		bufs[i] = caps[i] == 0 && (p->at & 1) ? NULL : out[i];
		vlens[i] = 12345;
	}
	REQUIRE(ttlkv_get_many(s, keys, n, bufs, caps, vlens, st) == TTLKV_OK);
	for (size_t i = 0; i < n; i++)
		check_get(st[i], key[i], keys[i].len, caps[i], out[i], vlens[i]);
}

struct seen {
	const struct model_entry *want;
	int calls;
};

static void
check_value(const void *value, size_t len, void *context)
{
	struct seen *seen = context;

	seen->calls++;
	REQUIRE(len == seen->want->value_len);
	REQUIRE(len == 0 || memcmp(value, seen->want->value, len) == 0);
}

static void
do_read(ttlkv *s, struct program *p)
{
	unsigned char kb[MAX_KEY + 8];
	const unsigned char *key;
	size_t klen = next_bytes(p, kb, MAX_KEY, &key);
	struct model_entry *e = find(key, klen);
	struct seen seen = { e, 0 };
	bool live = key_status(key, klen) == TTLKV_OK && e != NULL && !expired(e);
	ttlkv_status got;

	if (next_byte(p) & 1) {
		got = ttlkv_read(s, key, klen, check_value, &seen);
	} else {
		const void *value = NULL;
		size_t len = 0;

		got = ttlkv_read_begin(s, key, klen, &value, &len);
		if (got == TTLKV_OK) {
			check_value(value, len, &seen);
			/* Inside the section a write is refused and changes
			 * nothing (the model stays as it is). */
			if (next_byte(p) & 1)
				REQUIRE(ttlkv_put(s, key, klen, "w", 1, 0) == TTLKV_IN_READ_SECTION);
			REQUIRE(ttlkv_read_end() == TTLKV_OK);
		}
	}
	if (key_status(key, klen) != TTLKV_OK) {
		REQUIRE(got == key_status(key, klen));
		return;
	}
	REQUIRE(got == (live ? TTLKV_OK : TTLKV_NOT_FOUND));
	REQUIRE(seen.calls == (live ? 1 : 0));
}

/* Checks one removal's status against the model, and applies it. */
static void
check_delete(ttlkv_status got, const unsigned char *key, size_t klen)
{
	struct model_entry *e;

	if (key_status(key, klen) != TTLKV_OK) {
		REQUIRE(got == key_status(key, klen));
		return;
	}
	e = find(key, klen);
	REQUIRE(got == (e != NULL && !expired(e) ? TTLKV_OK : TTLKV_NOT_FOUND));
	if (e != NULL && expired(e))
		expired_logged++;
	if (e != NULL)
		e->used = false;
}

static void
do_delete(ttlkv *s, struct program *p)
{
	unsigned char kb[MAX_KEY + 8];
	const unsigned char *key;
	size_t klen = next_bytes(p, kb, MAX_KEY, &key);

	check_delete(ttlkv_delete(s, key, klen), key, klen);
}

/* Up to 8 keys in one ttlkv_delete_many, applied to the model in order. */
static void
do_delete_many(ttlkv *s, struct program *p)
{
	unsigned char kb[MANY][MAX_KEY + 8];
	const unsigned char *key[MANY];
	ttlkv_key keys[MANY];
	ttlkv_status st[MANY];
	size_t n = next_byte(p) % (MANY + 1);

	for (size_t i = 0; i < n; i++) {
		keys[i].len = next_bytes(p, kb[i], MAX_KEY, &key[i]);
		keys[i].data = key[i];
	}
	REQUIRE(ttlkv_delete_many(s, keys, n, st) == TTLKV_OK);
	for (size_t i = 0; i < n; i++)
		check_delete(st[i], key[i], keys[i].len);
}

static void
do_ttl(ttlkv *s, struct program *p)
{
	unsigned char kb[MAX_KEY + 8];
	const unsigned char *key;
	size_t klen = next_bytes(p, kb, MAX_KEY, &key);
	uint64_t left = 7;
	ttlkv_status got = ttlkv_ttl(s, key, klen, &left);
	struct model_entry *e;

	if (key_status(key, klen) != TTLKV_OK) {
		REQUIRE(got == key_status(key, klen));
		return;
	}
	e = find(key, klen);
	if (e == NULL || expired(e)) {
		REQUIRE(got == TTLKV_NOT_FOUND);
		return;
	}
	REQUIRE(got == TTLKV_OK);
	REQUIRE(left == (e->deadline ? e->deadline - now_ms : TTLKV_NO_EXPIRY));
}

static void
do_set_ttl(ttlkv *s, struct program *p)
{
	unsigned char kb[MAX_KEY + 8];
	const unsigned char *key;
	size_t klen = next_bytes(p, kb, MAX_KEY, &key);
	uint64_t ttl = next_ttl(p);
	ttlkv_status got = ttlkv_set_ttl(s, key, klen, ttl);
	ttlkv_status want = key_status(key, klen);
	struct model_entry *e;

	if (want == TTLKV_OK)
		want = ttl_status(ttl);
	if (want != TTLKV_OK) {
		REQUIRE(got == want);
		return;
	}
	e = find(key, klen);
	if (e == NULL || expired(e)) {
		REQUIRE(got == TTLKV_NOT_FOUND);
		return;
	}
	REQUIRE(got == TTLKV_OK);
	e->deadline = ttl ? now_ms + ttl : 0;
}

static void
do_expire_due(ttlkv *s, struct program *p)
{
	unsigned char kb[MAX_KEY + 8];
	const unsigned char *key;
	size_t klen = next_bytes(p, kb, MAX_KEY, &key);
	uint64_t deadline = 0;
	ttlkv_status got = ttlkv_expire_due(s, key, klen, 0, &deadline);
	struct model_entry *e;

	if (key_status(key, klen) != TTLKV_OK) {
		REQUIRE(got == key_status(key, klen));
		return;
	}
	e = find(key, klen);
	if (e == NULL) {
		REQUIRE(got == TTLKV_NOT_FOUND);
	} else if (expired(e)) {
		REQUIRE(got == TTLKV_OK && deadline == e->deadline);
		expired_by_worker++;
		e->used = false;
	} else {
		REQUIRE(got == TTLKV_NOT_DUE);
		REQUIRE(deadline == (e->deadline ? e->deadline : TTLKV_NO_EXPIRY));
	}
}

/* What ttlkv_expire_handles reported removing, by index. */
struct handle_removals {
	bool removed[MANY];
	uint64_t deadline[MANY];
	const ttlkv_key *keys;
};

static void
note_handle_removal(size_t i, const void *key, size_t len, uint64_t deadline, void *context)
{
	struct handle_removals *r = context;

	REQUIRE(i < MANY && !r->removed[i]);
	REQUIRE(len == r->keys[i].len && (len == 0 || memcmp(key, r->keys[i].data, len) == 0));
	r->removed[i] = true;
	r->deadline[i] = deadline;
}

/* An expiry worker's records by handle, with deadlines that may or may
 * not be the entries' pending ones: an expired key is removed (and reported
 * with its own bytes) whatever the record says; a live one is judged due
 * later only if the record is its pending one, and is never removed; a 0
 * among the deadlines refuses the whole call. */
static void
do_expire_handles(ttlkv *s, struct program *p)
{
	unsigned char kb[MANY][MAX_KEY + 8];
	const unsigned char *key[MANY];
	ttlkv_key keys[MANY];
	uint64_t handles[MANY], scheduled[MANY], deadlines[MANY];
	ttlkv_status st[MANY];
	struct handle_removals r = { { false }, { 0 }, keys };
	size_t n = next_byte(p) % (MANY + 1);
	bool refused = false;

	for (size_t i = 0; i < n; i++) {
		keys[i].len = next_bytes(p, kb[i], MAX_KEY, &key[i]);
		keys[i].data = key[i];
		handles[i] = ttlkv_key_handle(s, key[i], keys[i].len);
		scheduled[i] = next_byte(p) % 4 == 0 ? 0 : now_ms - 8 + next_byte(p) % 16;
		refused |= scheduled[i] == 0;
	}
	if (refused) {
		REQUIRE(ttlkv_expire_handles(s, handles, scheduled, n, deadlines, st,
		    note_handle_removal, &r) == TTLKV_INVALID_ARGUMENT);
		for (size_t i = 0; i < n; i++)
			REQUIRE(!r.removed[i]);
		return;
	}
	REQUIRE(ttlkv_expire_handles(s, handles, scheduled, n, deadlines, st,
	    note_handle_removal, &r) == TTLKV_OK);
	for (size_t i = 0; i < n; i++) {
		struct model_entry *e = key_status(key[i], keys[i].len) == TTLKV_OK ?
		    find(key[i], keys[i].len) : NULL;

		if (e != NULL && expired(e)) {
			REQUIRE(st[i] == TTLKV_OK && r.removed[i] && deadlines[i] == e->deadline);
			REQUIRE(r.deadline[i] == e->deadline);
			expired_by_worker++;
			e->used = false;
		} else if (e != NULL && e->deadline != 0) {
			REQUIRE(!r.removed[i]);
			REQUIRE(st[i] == TTLKV_NOT_FOUND || (st[i] == TTLKV_NOT_DUE && deadlines[i] == e->deadline));
		} else {
			REQUIRE(st[i] == TTLKV_NOT_FOUND && !r.removed[i]);
		}
	}
}

/* After a sweep (expired only) or a clear (everything). */
static void
forget(bool everything)
{
	for (int i = 0; i < MODEL_SLOTS; i++) {
		if (model[i].used && expired(&model[i]))
			expired_logged++;
		if (model[i].used && (everything || expired(&model[i])))
			model[i].used = false;
	}
}

/* An expiry record: one the model foresaw (its key gone from the model or
 * written again), or, with a budget, an expired entry that a write making
 * room met and removed (still in the model, expired: it goes now). */
static void
check_logged(const void *key, size_t len, uint64_t deadline, void *context)
{
	struct model_entry *e = find(key, len);

	REQUIRE(len <= MAX_KEY);
	REQUIRE(deadline != 0);
	if (budgeted && e != NULL && expired(e)) {
		REQUIRE(e->deadline == deadline);
		e->used = false;
		expired_logged++;
	}
	++*(size_t *)context;
}

static void
do_drain_expired(ttlkv *s)
{
	size_t records = 0, taken = 0;

	REQUIRE(ttlkv_drain_expired(s, check_logged, &records, &taken) == TTLKV_OK);
	REQUIRE(records == taken && records == expired_logged);
	expired_drained += records;
	expired_logged = 0;
}

/* An eviction: the key was live in the model, with that deadline; it is
 * gone from now on. */
static void
check_evicted(const void *key, size_t len, uint64_t deadline, void *context)
{
	struct model_entry *e = find(key, len);

	REQUIRE(budgeted);
	REQUIRE(e != NULL && !expired(e));
	REQUIRE(deadline == (e->deadline ? e->deadline : TTLKV_NO_EXPIRY));
	e->used = false;
	++*(size_t *)context;
}

static void count_record(const void *key, size_t len, uint64_t deadline, void *context);

/* With a budget, after every call (the clock has not moved since): the
 * model learns the evictions and the expiries evictions met, and the
 * schedule is emptied (its records count against the budget). */
static void
sync_budget(ttlkv *s)
{
	size_t records = 0, taken = 0;

	if (!budgeted)
		return;
	REQUIRE(ttlkv_drain_evicted(s, check_evicted, &records, &taken) == TTLKV_OK);
	REQUIRE(records == taken);
	evicted_drained += records;
	do_drain_expired(s);
	REQUIRE(ttlkv_drain_schedule(s, count_record, &records, NULL) == TTLKV_OK);
}

/* A scan reports each live key of the model once. */
static void
check_scanned(const void *key, size_t len, uint64_t deadline, void *context)
{
	struct model_entry *e = find(key, len);

	REQUIRE(e != NULL && !expired(e));
	REQUIRE(deadline == (e->deadline ? e->deadline : TTLKV_NO_EXPIRY));
	++*(size_t *)context;
}

static void
do_scan(ttlkv *s, struct program *p)
{
	size_t count = next_byte(p) % 8, reported = 0, live = 0, calls = 0;
	uint64_t cursor = 0;

	do {
		REQUIRE(ttlkv_scan(s, &cursor, count, check_scanned, &reported) == TTLKV_OK);
		REQUIRE(++calls <= 1000);
	} while (cursor != 0);
	for (int i = 0; i < MODEL_SLOTS; i++)
		live += model[i].used && !expired(&model[i]);
	REQUIRE(reported == live);
}

/* ttlkv_put_all of up to four pairs, MSETNX half the time, and a quarter of
 * the time with an allocation failing part-way: all or nothing, every time.
 * Replacing an expired entry logs its expiry, as a put does. */
#define MSET_PAIRS 4

static void
do_put_all(ttlkv *s, struct program *p)
{
	unsigned char kb[MSET_PAIRS][MAX_KEY + 8], vb[MSET_PAIRS][MAX_VALUE + 8];
	const unsigned char *ptr;
	ttlkv_item items[MSET_PAIRS];
	size_t n = next_byte(p) % (MSET_PAIRS + 1), added = 0;
	bool nx = next_byte(p) & 1, armed, live = false;
	uint8_t fault = next_byte(p);
	ttlkv_status got, want = TTLKV_OK;

	for (size_t i = 0; i < n; i++) {
		items[i].key_len = next_bytes(p, kb[i], MAX_KEY, &ptr);
		items[i].key = ptr;
		items[i].value_len = next_bytes(p, vb[i], MAX_VALUE, &ptr);
		items[i].value = ptr;
		items[i].ttl_ms = next_byte(p) % 16 == 0 ? 1 : 0;
		if (want == TTLKV_OK)
			want = key_status(items[i].key, items[i].key_len);
		if (want == TTLKV_OK && items[i].value == NULL && items[i].value_len != 0)
			want = TTLKV_INVALID_ARGUMENT;
		if (want == TTLKV_OK && items[i].ttl_ms != 0)
			want = TTLKV_INVALID_TTL;
		if (want == TTLKV_OK && items[i].value_len > MAX_VALUE)
			want = TTLKV_VALUE_TOO_LARGE;
	}
	for (size_t i = 0; want == TTLKV_OK && i < n; i++) {
		const struct model_entry *e = find(items[i].key, items[i].key_len);
		bool repeated = false;

		for (size_t j = 0; j < i; j++)
			repeated |= items[j].key_len == items[i].key_len &&
			    memcmp(kb[j], kb[i], items[i].key_len) == 0;
		live |= e != NULL && !expired(e);
		added += e == NULL && !repeated;
	}
	if (model_count() + added > MODEL_SLOTS)
		return;
	if (want == TTLKV_OK && nx && live)
		want = TTLKV_EXISTS;
	armed = fault % 4 == 0;
	if (armed)
		ttlkv_testing_fail_allocation(fault / 4 % 16);
	got = ttlkv_put_all(s, items, n, nx ? TTLKV_PUT_IF_NONE_EXIST : 0);
	ttlkv_testing_fail_allocation(-1);
	REQUIRE(got == want || (armed && got == TTLKV_OUT_OF_MEMORY) ||
	    (want == TTLKV_OK && refused(got)));
	if (got != TTLKV_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		struct model_entry *e = find(items[i].key, items[i].key_len);

		if (e != NULL && expired(e))
			expired_logged++;
		for (int j = 0; j < MODEL_SLOTS && e == NULL; j++)
			if (!model[j].used)
				e = &model[j];
		e->used = true;
		e->key_len = items[i].key_len;
		if (e->key_len)
			memcpy(e->key, items[i].key, e->key_len);
		e->value_len = items[i].value_len;
		if (e->value_len)
			memcpy(e->value, items[i].value, e->value_len);
		e->deadline = 0;
	}
}

static void
count_record(const void *key, size_t len, uint64_t deadline, void *context)
{
	(void)key;
	(void)deadline;
	REQUIRE(len <= MAX_KEY);
	++*(size_t *)context;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct program p = { data, size, 0 };
	ttlkv_options o;
	ttlkv_stats stats;
	ttlkv *s;
	size_t removed, records;

	memset(model, 0, sizeof model);
	now_ms = 1000;
	expired_by_worker = expired_logged = expired_drained = evicted_drained = 0;
	budgeted = size % 4 == 3;
	ttlkv_options_init(&o);
	o.capacity = 4;
	o.shards = 2;
	o.max_key_size = MAX_KEY;
	o.max_value_size = MAX_VALUE;
	o.flags = TTLKV_TRACK_EXPIRY;
	o.clock = fuzz_clock;
	o.max_bytes = budgeted ? BUDGET : 0;
	if (ttlkv_open(&o, &s) != TTLKV_OK)
		abort();
	while (p.at < p.size) {
		switch (next_byte(&p) % 19) {
		case 0: case 1: do_put(s, &p, false); break;
		case 2: do_put(s, &p, true); break;
		case 3: do_get(s, &p); break;
		case 4: do_read(s, &p); break;
		case 5: do_delete(s, &p); break;
		case 6: do_ttl(s, &p); break;
		case 7: do_set_ttl(s, &p); break;
		case 8:
			/* A sub-choice rather than a new case, so that the
			 * corpus's other inputs keep their meaning. */
			if (next_byte(&p) % 4 == 3)
				do_expire_handles(s, &p);
			else
				do_expire_due(s, &p);
			break;
		case 9:
			if (next_byte(&p) & 1) {
				REQUIRE(ttlkv_sweep(s, SIZE_MAX, &removed) == TTLKV_OK);
				forget(false);
			} else {
				/* A small budget: rebuilds span the writes that follow. */
				REQUIRE(ttlkv_maintain(s, next_byte(&p) % 16, NULL) == TTLKV_OK);
			}
			break;
		case 10:
			switch (next_byte(&p) % 4) {
			case 0: now_ms += next_byte(&p); break;
			case 1: now_ms += (uint64_t)next_byte(&p) << 20; break;
			case 2: now_ms = UINT64_MAX - 1000 + next_byte(&p); break;
			default: break; /* time stands still */
			}
			break;
		case 11:
			records = 0;
			REQUIRE(ttlkv_drain_schedule(s, count_record, &records, &removed) == TTLKV_OK);
			REQUIRE(records == removed);
			break;
		case 12:
			REQUIRE(ttlkv_reclaim(s, next_byte(&p) & 1) == TTLKV_OK);
			break;
		case 13: do_drain_expired(s); break;
		case 14: do_scan(s, &p); break;
		case 15: do_get_many(s, &p); break;
		case 16: do_delete_many(s, &p); break;
		case 17: do_put_all(s, &p); break;
		default:
			REQUIRE(ttlkv_clear(s) == TTLKV_OK);
			forget(true);
			break;
		}
		sync_budget(s);
		REQUIRE(ttlkv_count(s) == model_count());
	}
	REQUIRE(ttlkv_stats_get(s, &stats) == TTLKV_OK);
	REQUIRE(stats.entries == model_count());
	do_drain_expired(s);
	REQUIRE(stats.expired == expired_by_worker + expired_drained);
	REQUIRE(stats.evicted == evicted_drained);
	REQUIRE(stats.used_bytes <= (budgeted ? BUDGET : UINT64_MAX));
	ttlkv_close(s);
	return 0;
}
