/*
 * Multi-threaded stress test, run plain, under ASan+LSan and under TSan.
 *
 * Writers own disjoint keys and write values that carry their key, writer,
 * a per-key sequence number, their exact deadline and a checksum over a
 * variable-length body; they also delete (singly and in batches) and change
 * TTLs. Readers, through the copying ttlkv_get and ttlkv_get_many and the
 * zero-copy ttlkv_read and ttlkv_read_many, check that no
 * value is torn, no key returns another key's value, the sequence numbers one
 * reader sees for a key never go backwards, and no value is returned at or
 * after its deadline. A maintenance thread sweeps, fires schedule records and
 * reclaims while all this runs, and another thread waits for readers in a
 * loop (ttlkv_reclaim); a clock thread moves time. The reclamation cap is
 * set low, so writers keep hitting the path where they wait for readers.
 *
 * Exact deadlines: the injected clock lets a writer pin the time its own
 * thread sees, so the deadline a writer embeds is exactly the one the store
 * computes; readers read the shared clock, which only moves forward, before
 * each read: a value returned when that reading is already at or past its
 * deadline is an expired value returned.
 *
 * Early frees: zero-copy readers checksum the value in place, inside the
 * read section, while writers replace and delete the same few hundred keys
 * as fast as they can. An entry freed while a reader can still reach it is a
 * heap-use-after-free under ASan and a checksum failure otherwise.
 */
#include "check.h"
#include "ttlkv_testing.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <ttlkv.h>

#define KEYS 384
#define WRITERS 2
#define READERS 3
#define BODY_MAX 200

struct value {
	uint32_t key;
	uint32_t writer;
	uint64_t seq;
	uint64_t deadline;   /* 0 = none */
	uint32_t body_len;
	uint32_t pad;
	uint64_t checksum;
	unsigned char body[BODY_MAX];
};

static uint64_t shared_now = 1000;
static __thread uint64_t pinned_now; /* 0 = use shared_now */
static bool stop;
static ttlkv *store;
static long iterations = 300000;
static uint64_t max_deferred_seen;

static uint64_t
stress_clock(void *context)
{
	(void)context;
	return pinned_now != 0 ? pinned_now : __atomic_load_n(&shared_now, __ATOMIC_ACQUIRE);
}

static uint64_t
mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

static uint64_t
checksum(const struct value *v)
{
	uint64_t h = mix(mix(mix(v->key, v->writer), v->seq), v->deadline);

	h = mix(h, v->body_len);
	for (uint32_t i = 0; i < v->body_len; i++)
		h = mix(h, v->body[i]);
	return h;
}

static size_t
value_size(const struct value *v)
{
	return offsetof(struct value, body) + v->body_len;
}

static void
key_of(uint32_t k, char key[16])
{
	memset(key, 0, 16);
	snprintf(key, 16, "key-%u", k);
}

/* What each key should hold once the writers are done: the last value put
 * (seq) and its deadline, unless deleted or found expired since. Key k is
 * written by writer k % WRITERS only. */
static uint64_t want_seq[KEYS], want_deadline[KEYS];
static bool want_present[KEYS];

static void *
writer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t rng = 0x12345 + id;
	struct value v;
	char key[16];

	for (long i = 0; i < iterations; i++) {
		uint32_t k;
		uint64_t ttl;
		ttlkv_status st;

		rng = mix(rng, (uint64_t)i);
		k = (uint32_t)(rng % (KEYS / WRITERS)) * WRITERS + id;
		key_of(k, key);
		if (rng % 17 == 0) {
			if (rng & 0x100) {
				st = ttlkv_delete(store, key, strlen(key));
			} else {
				ttlkv_key twice[2] = { { key, strlen(key) }, { key, strlen(key) } };
				ttlkv_status sts[2];

				CHECK_STATUS(ttlkv_delete_many(store, twice, 2, sts), TTLKV_OK);
				CHECK_STATUS(sts[1], TTLKV_NOT_FOUND);
				st = sts[0];
			}
			CHECK(st == TTLKV_OK || st == TTLKV_NOT_FOUND);
			want_present[k] = false;
			continue;
		}
		pinned_now = __atomic_load_n(&shared_now, __ATOMIC_ACQUIRE);
		if (rng % 23 == 0) {
			/* Only ever shorten a TTL, so that the deadline a value
			 * carries stays an upper bound for its real one. */
			ttl = 1 + (rng >> 8) % 5;
			if (want_deadline[k] == 0 || pinned_now + ttl < want_deadline[k]) {
				st = ttlkv_set_ttl(store, key, strlen(key), ttl);
				CHECK(st == TTLKV_OK || st == TTLKV_NOT_FOUND);
				want_deadline[k] = pinned_now + ttl;
				want_present[k] = want_present[k] && st == TTLKV_OK;
			}
			pinned_now = 0;
			continue;
		}
		ttl = rng % 3 == 0 ? 0 : 1 + (rng >> 8) % 20;
		v.key = k;
		v.writer = id;
		v.seq = ++want_seq[k];
		v.deadline = want_deadline[k] = ttl != 0 ? pinned_now + ttl : 0;
		v.body_len = (uint32_t)((rng >> 16) % BODY_MAX);
		v.pad = 0;
		for (uint32_t b = 0; b < v.body_len; b++)
			v.body[b] = (unsigned char)(v.seq + b);
		v.checksum = checksum(&v);
		st = ttlkv_put(store, key, strlen(key), &v, value_size(&v), ttl);
		pinned_now = 0;
		CHECK_STATUS(st, TTLKV_OK);
		want_present[k] = true;
	}
	return NULL;
}

struct observed {
	uint64_t last_seq[KEYS];
	long hits;
};

/* Every check on a value a reader was given, at clock reading t0. */
static void
check_value(const void *bytes, size_t len, uint32_t k, uint64_t t0, struct observed *seen)
{
	struct value v;

	memset(&v, 0, sizeof v);
	CHECK(len >= offsetof(struct value, body) && len <= sizeof v);
	if (len < offsetof(struct value, body) || len > sizeof v)
		return;
	memcpy(&v, bytes, len);
	CHECK(value_size(&v) == len);
	CHECK(v.checksum == checksum(&v));
	CHECK(v.key == k);
	CHECK(v.writer == k % WRITERS);
	CHECK(v.seq >= seen->last_seq[k]);
	CHECK(v.deadline == 0 || t0 < v.deadline);
	seen->last_seq[k] = v.seq;
	seen->hits++;
}

struct in_place {
	uint32_t key;
	uint64_t t0;
	struct observed *seen;
};

static void
check_in_place(const void *value, size_t len, void *context)
{
	struct in_place *c = context;

	check_value(value, len, c->key, c->t0, c->seen);
}

/* A batch of BATCH keys (the first one twice) read with ttlkv_get_many or
 * zero-copy with ttlkv_read_many, every value checked as a single read's. */
#define BATCH 9

struct batch_check {
	uint32_t k[BATCH];
	uint64_t t0;
	struct observed *seen;
};

static void
check_in_batch(size_t i, const void *value, size_t len, void *context)
{
	struct batch_check *c = context;

	check_value(value, len, c->k[i], c->t0, c->seen);
}

static void
read_batch(uint64_t rng, uint64_t t0, struct observed *seen, bool zero_copy)
{
	static __thread struct value bufs[BATCH];
	struct batch_check c = { { 0 }, t0, seen };
	char names[BATCH][16];
	ttlkv_key keys[BATCH];
	void *buffers[BATCH];
	size_t lens[BATCH], got[BATCH];
	ttlkv_status statuses[BATCH];

	for (int i = 0; i < BATCH; i++) {
		c.k[i] = i == BATCH - 1 ? c.k[0] : (uint32_t)(mix(rng, (uint64_t)i) % KEYS);
		key_of(c.k[i], names[i]);
		keys[i].data = names[i];
		keys[i].len = strlen(names[i]);
		buffers[i] = &bufs[i];
		lens[i] = sizeof bufs[i];
	}
	if (zero_copy) {
		CHECK_STATUS(ttlkv_read_many(store, keys, BATCH, check_in_batch, &c, statuses), TTLKV_OK);
	} else {
		CHECK_STATUS(ttlkv_get_many(store, keys, BATCH, buffers, lens, got, statuses), TTLKV_OK);
		for (int i = 0; i < BATCH; i++)
			if (statuses[i] == TTLKV_OK)
				check_value(&bufs[i], got[i], c.k[i], t0, seen);
	}
	for (int i = 0; i < BATCH; i++)
		CHECK(statuses[i] == TTLKV_OK || statuses[i] == TTLKV_NOT_FOUND);
}

static void *
reader(void *arg)
{
	static __thread struct observed seen;
	uint64_t rng = 0xabcdef + (uintptr_t)arg;
	struct value buf;
	char key[16];

	memset(&seen, 0, sizeof seen);
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		uint32_t k;
		uint64_t t0;
		size_t len = 0;
		ttlkv_status st;

		rng = mix(rng, 1);
		k = (uint32_t)(rng % KEYS);
		key_of(k, key);
		t0 = __atomic_load_n(&shared_now, __ATOMIC_ACQUIRE);
		switch (rng % 4) {
		case 0: {
			struct in_place c = { k, t0, &seen };

			st = ttlkv_read(store, key, strlen(key), check_in_place, &c);
			CHECK(st == TTLKV_OK || st == TTLKV_NOT_FOUND);
			break;
		}
		case 1:
			st = ttlkv_get(store, key, strlen(key), &buf, sizeof buf, &len);
			CHECK(st == TTLKV_OK || st == TTLKV_NOT_FOUND);
			if (st == TTLKV_OK)
				check_value(&buf, len, k, t0, &seen);
			break;
		default:
			read_batch(rng, t0, &seen, rng % 4 == 3);
			break;
		}
		if ((rng & 0x3ff) == 0) {
			/* Statistics are lock-free reads too: while the
			 * maintenance thread drains and sweeps. */
			ttlkv_stats stats;

			CHECK_STATUS(ttlkv_stats_get(store, &stats), TTLKV_OK);
			CHECK(stats.entries <= KEYS);
		}
	}
	return NULL;
}

/* What ttlkv_expire_handles removed: its key must be the record's. */
struct fired {
	const void *key;
	size_t len;
	uint64_t deadline;   /* the removed entry's */
	int removals;
};

static void
fired_key(size_t index, const void *key, size_t len, uint64_t deadline, void *context)
{
	struct fired *f = context;

	CHECK(index == 0 && len == f->len && memcmp(key, f->key, len) == 0);
	f->deadline = deadline;
	f->removals++;
}

/* Every other record is fired by its key's handle, as Swift's worker does. */
static void
fire(const void *key, size_t len, uint64_t deadline, void *context)
{
	static unsigned turn;
	uint64_t next, handle;
	struct fired f = { key, len, 0, 0 };
	ttlkv_status st, status;

	(void)context;
	if (turn++ % 2 == 0) {
		st = ttlkv_expire_due(store, key, len, deadline, &next);
	} else {
		handle = ttlkv_key_handle(store, key, len);
		status = ttlkv_expire_handles(store, &handle, &deadline, 1, &next, &st, fired_key, &f);
		CHECK_STATUS(status, TTLKV_OK);
		CHECK(f.removals == (st == TTLKV_OK));
		CHECK(st != TTLKV_OK || f.deadline == next);
	}
	CHECK(st == TTLKV_OK || st == TTLKV_NOT_DUE || st == TTLKV_NOT_FOUND);
}

static void *
maintenance(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		ttlkv_stats stats;

		CHECK_STATUS(ttlkv_sweep(store, 512, NULL), TTLKV_OK);
		CHECK_STATUS(ttlkv_drain_schedule(store, fire, NULL, NULL), TTLKV_OK);
		CHECK_STATUS(ttlkv_stats_get(store, &stats), TTLKV_OK);
		if (stats.deferred_frees > max_deferred_seen)
			max_deferred_seen = stats.deferred_frees;
		if (stats.entries > KEYS)
			CHECK(stats.entries <= KEYS);
		sched_yield();
	}
	return NULL;
}

static void *
reclaimer(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		CHECK_STATUS(ttlkv_reclaim(store, 1), TTLKV_OK);
		sched_yield();
	}
	return NULL;
}

static void *
ticker(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&shared_now, 1, __ATOMIC_RELEASE);
		sched_yield();
	}
	return NULL;
}

/* After the run, with the clock stopped: every write survived (table
 * rebuilds and grows included), and nothing came back. */
static void
check_final_state(void)
{
	uint64_t now = __atomic_load_n(&shared_now, __ATOMIC_ACQUIRE);
	struct value v;
	char key[16];

	for (uint32_t k = 0; k < KEYS; k++) {
		bool live = want_present[k] && (want_deadline[k] == 0 || now < want_deadline[k]);
		size_t len = 0;
		ttlkv_status st;

		key_of(k, key);
		st = ttlkv_get(store, key, strlen(key), &v, sizeof v, &len);
		CHECK_STATUS(st, live ? TTLKV_OK : TTLKV_NOT_FOUND);
		if (st == TTLKV_OK)
			CHECK(v.seq == want_seq[k] && v.checksum == checksum(&v));
	}
}

int
main(void)
{
	pthread_t writers[WRITERS], readers[READERS], maint, tick, reclaim;
	const char *scale = getenv("TTLKV_TEST_SCALE");
	ttlkv_options o;
	ttlkv_stats stats;

	if (scale != NULL && strcmp(scale, "tsan") == 0)
		iterations = 60000;
	else if (scale != NULL && strcmp(scale, "asan") == 0)
		iterations = 150000;
	ttlkv_options_init(&o);
	o.capacity = 64; /* small on purpose: the tables grow under readers */
	o.shards = 4;
	o.flags = TTLKV_TRACK_EXPIRY;
	o.clock = stress_clock;
	CHECK_STATUS(ttlkv_open(&o, &store), TTLKV_OK);
	ttlkv_testing_set_reclaim_cap(store, 512);

	for (uintptr_t i = 0; i < READERS; i++)
		pthread_create(&readers[i], NULL, reader, (void *)i);
	pthread_create(&maint, NULL, maintenance, NULL);
	pthread_create(&tick, NULL, ticker, NULL);
	pthread_create(&reclaim, NULL, reclaimer, NULL);
	for (uintptr_t i = 0; i < WRITERS; i++)
		pthread_create(&writers[i], NULL, writer, (void *)i);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(writers[i], NULL);
	__atomic_store_n(&stop, true, __ATOMIC_RELEASE);
	for (int i = 0; i < READERS; i++)
		pthread_join(readers[i], NULL);
	pthread_join(maint, NULL);
	pthread_join(tick, NULL);
	pthread_join(reclaim, NULL);

	check_final_state();
	CHECK_STATUS(ttlkv_stats_get(store, &stats), TTLKV_OK);
	CHECK(stats.entries <= KEYS);
	CHECK(stats.table_grows + stats.table_rebuilds > 0);
	/* Reclamation kept up: the backlog stayed near the cap on entries
	 * awaiting a grace period (512 here, up to twice that once a grace
	 * period ends and they are ready but not yet freed), plus per shard one
	 * filling batch and at most 4 queued ones, or 16 (tables are small
	 * here) held back for a table rebuild, plus what the shards keep for
	 * reuse, plus slack: far below the writes made. */
	CHECK(max_deferred_seen <= 2 * 512 + 4 * 17 * 64 + ttlkv_testing_reserve_limit(store) + 1024);
	CHECK_STATUS(ttlkv_reclaim(store, 1), TTLKV_OK);
	CHECK_STATUS(ttlkv_stats_get(store, &stats), TTLKV_OK);
	CHECK(stats.deferred_frees == 0);
	printf("stress: %ld writes per writer, backlog peak %llu, %llu expired, %llu grows, %llu rebuilds\n",
	    iterations, (unsigned long long)max_deferred_seen,
	    (unsigned long long)stats.expired, (unsigned long long)stats.table_grows,
	    (unsigned long long)stats.table_rebuilds);
	ttlkv_close(store);
	return check_exit("stress");
}
