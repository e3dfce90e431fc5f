/*
 * Expiry reporting, traversal and clearing: ttlkv_drain_expired (every expiry
 * that stats.expired counts is reported exactly once, whoever removed the
 * entry, and a write that cannot record its expiry changes nothing),
 * ttlkv_scan (live keys only, resumable, complete across table grows, safe
 * beside writers) and ttlkv_clear.
 */
#include "check.h"
#include "test_clock.h"
#include "ttlkv_testing.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <ttlkv.h>

static ttlkv_options
options(uint64_t capacity, uint32_t flags)
{
	ttlkv_options o;

	ttlkv_options_init(&o);
	o.capacity = capacity;
	o.flags = flags;
	return o;
}

/* Opens a store with options o on the injected clock. */
static ttlkv *
open_on(struct test_clock *clock, ttlkv_options o)
{
	ttlkv *s = NULL;

	test_clock_attach(clock, &o);
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	return s;
}

#define PUT(s, k, ttl) ttlkv_put((s), (k), strlen(k), "v", 1, (ttl))

/* What ttlkv_drain_expired reported: keys in order, with deadlines. */
struct reported {
	int n;
	char keys[64][32];
	uint64_t deadlines[64];
};

static void
report(const void *key, size_t len, uint64_t deadline, void *context)
{
	struct reported *r = context;

	if (r->n < 64 && len < 32) {
		memcpy(r->keys[r->n], key, len);
		r->keys[r->n][len] = '\0';
		r->deadlines[r->n] = deadline;
	}
	r->n++;
}

static struct reported
drain_expired(ttlkv *s)
{
	struct reported r = { 0 };
	size_t taken = 0;

	CHECK_STATUS(ttlkv_drain_expired(s, report, &r, &taken), TTLKV_OK);
	CHECK((int)taken == r.n);
	return r;
}

static uint64_t
expired_count(ttlkv *s)
{
	ttlkv_stats st;

	CHECK_STATUS(ttlkv_stats_get(s, &st), TTLKV_OK);
	return st.expired;
}

/* Each way an expired entry can go, one key each: the five that are not the
 * worker's own report (key, deadline) once; ttlkv_expire_due reports nothing
 * (the worker tells of its own removals); and stats.expired counts all six. */
static void
test_every_removal_of_an_expired_entry_is_reported(void)
{
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	ttlkv *s = open_on(&clock, options(64, TTLKV_TRACK_EXPIRY));
	const char *keys[] = { "put", "if-absent", "delete", "sweep", "worker", "live" };
	uint64_t deadline = 0;
	struct reported r;
	size_t removed = 0;

	for (int i = 0; i < 5; i++)
		CHECK_STATUS(PUT(s, keys[i], 10), TTLKV_OK);
	CHECK_STATUS(PUT(s, keys[5], 0), TTLKV_OK);
	test_clock_advance(&clock, 10);   /* every deadline is now */
	CHECK(drain_expired(s).n == 0);   /* nothing removed yet */

	CHECK_STATUS(PUT(s, "put", 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_put_if_absent(s, "if-absent", 9, "w", 1, 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_delete(s, "delete", 6), TTLKV_NOT_FOUND);
	CHECK_STATUS(ttlkv_expire_due(s, "worker", 6, 0, &deadline), TTLKV_OK);
	CHECK_STATUS(ttlkv_sweep(s, SIZE_MAX, &removed), TTLKV_OK);
	CHECK(removed == 1);
	CHECK(expired_count(s) == 5);

	r = drain_expired(s);
	CHECK(r.n == 4);
	for (int i = 0; i < r.n && i < 4; i++) {
		CHECK(strcmp(r.keys[i], "worker") != 0);
		CHECK(r.deadlines[i] == 1010);
	}
	CHECK(drain_expired(s).n == 0);   /* each record once */
	ttlkv_close(s);
}

static void
test_clear_reports_expired_entries_and_empties_the_store(void)
{
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	ttlkv_options o = options(64, TTLKV_TRACK_EXPIRY);
	ttlkv *s;
	char key[32];
	struct reported r;

	o.max_entries = 300;
	s = open_on(&clock, o);
	for (int i = 0; i < 300; i++) {   /* grows the table on the way */
		sprintf(key, "k%d", i);
		CHECK_STATUS(PUT(s, key, i < 3 ? 5 : 0), TTLKV_OK);
	}
	CHECK_STATUS(PUT(s, "one too many", 0), TTLKV_FULL);
	test_clock_advance(&clock, 5);
	CHECK_STATUS(ttlkv_clear(s), TTLKV_OK);
	CHECK(ttlkv_count(s) == 0);
	CHECK(expired_count(s) == 3);
	r = drain_expired(s);
	CHECK(r.n == 3);
	CHECK_STATUS(ttlkv_get(s, "k7", 2, NULL, 0, &(size_t){ 0 }), TTLKV_NOT_FOUND);
	/* max_entries counts what the store holds: room again for 300. */
	for (int i = 0; i < 300; i++) {
		sprintf(key, "again%d", i);
		CHECK_STATUS(PUT(s, key, 0), TTLKV_OK);
	}
	CHECK_STATUS(ttlkv_clear(NULL), TTLKV_INVALID_ARGUMENT);
	ttlkv_close(s);
}

/* Without TTLKV_TRACK_EXPIRY nothing is logged (nobody would drain it). */
static void
test_no_log_without_tracking(void)
{
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	ttlkv *s = open_on(&clock, options(64, 0));

	CHECK_STATUS(PUT(s, "k", 1), TTLKV_OK);
	test_clock_advance(&clock, 1);
	CHECK_STATUS(PUT(s, "k", 0), TTLKV_OK);
	CHECK(expired_count(s) == 1);
	CHECK(drain_expired(s).n == 0);
	CHECK_STATUS(ttlkv_drain_expired(NULL, report, NULL, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_drain_expired(s, NULL, NULL, NULL), TTLKV_INVALID_ARGUMENT);
	ttlkv_close(s);
}

/*
 * A write that would remove an expired entry but cannot reserve room for its
 * record fails with TTLKV_OUT_OF_MEMORY and changes nothing: the entry is
 * still held, stats.expired has not moved, nothing is logged. Each
 * allocation of the write is failed in turn until it succeeds.
 */
typedef ttlkv_status removal_fn(ttlkv *s);

static ttlkv_status
overwrite(ttlkv *s)
{
	return PUT(s, "victim", 0);
}

static ttlkv_status
delete_expired(ttlkv *s)
{
	ttlkv_status st = ttlkv_delete(s, "victim", 6);

	return st == TTLKV_NOT_FOUND ? TTLKV_OK : st;
}

static ttlkv_status
clear(ttlkv *s)
{
	return ttlkv_clear(s);
}

static void
check_failures_lose_no_expiry(removal_fn *removal, const char *name)
{
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	ttlkv *s = open_on(&clock, options(64, TTLKV_TRACK_EXPIRY));
	int failures = 0;
	ttlkv_status st;

	/* The log is still unallocated: recording the expiry must allocate. */
	CHECK_STATUS(PUT(s, "victim", 1), TTLKV_OK);
	CHECK_STATUS(PUT(s, "bystander", 0), TTLKV_OK);
	test_clock_advance(&clock, 1);
	for (long n = 0;; n++) {
		uint64_t expired = expired_count(s), count = ttlkv_count(s);

		ttlkv_testing_fail_allocation(n);
		st = removal(s);
		ttlkv_testing_fail_allocation(-1);
		if (st == TTLKV_OK)
			break;
		failures++;
		CHECK_STATUS(st, TTLKV_OUT_OF_MEMORY);
		if (st != TTLKV_OUT_OF_MEMORY)
			break;
		if (removal != clear) {   /* ttlkv_clear may have removed a batch */
			CHECK(expired_count(s) == expired);
			CHECK(ttlkv_count(s) == count);
		}
	}
	if (failures == 0)
		fprintf(stderr, "%s: no allocation failed\n", name);
	CHECK(failures > 0);
	CHECK(expired_count(s) == 1);
	CHECK(drain_expired(s).n == 1);
	ttlkv_close(s);
}

static void
test_failed_writes_lose_no_expiry(void)
{
	check_failures_lose_no_expiry(overwrite, "overwrite");
	check_failures_lose_no_expiry(delete_expired, "delete");
	check_failures_lose_no_expiry(clear, "clear");
}

/* What a full traversal reported. */
struct traversal {
	int calls;
	int seen[4096];     /* times each key index was reported */
	int foreign;        /* keys not of the form k<i> */
	uint64_t deadlines[4096];
};

static void
visit(const void *key, size_t len, uint64_t deadline, void *context)
{
	struct traversal *t = context;
	char buf[32];
	int i;

	t->calls++;
	if (len == 0 || len >= sizeof buf) {
		t->foreign++;
		return;
	}
	memcpy(buf, key, len);
	buf[len] = '\0';
	if (sscanf(buf, "k%d", &i) != 1 || i < 0 || i >= 4096) {
		t->foreign++;
		return;
	}
	t->seen[i]++;
	t->deadlines[i] = deadline;
}

/* Runs a traversal to its end, `count` slots per call, calling between(s)
 * after each call that has more to do; returns the number of calls. */
static int
traverse(ttlkv *s, size_t count, struct traversal *t, void (*between)(ttlkv *, int))
{
	uint64_t cursor = 0;
	int calls = 0;

	memset(t, 0, sizeof *t);
	do {
		CHECK_STATUS(ttlkv_scan(s, &cursor, count, visit, t), TTLKV_OK);
		calls++;
		if (cursor != 0 && between != NULL)
			between(s, calls);
	} while (cursor != 0 && calls < 1000000);
	return calls;
}

static void
test_scan_reports_live_keys_only(void)
{
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	ttlkv *s = open_on(&clock, options(1024, 0));
	struct traversal *t = calloc(1, sizeof *t);
	uint64_t cursor = 0;
	char key[32];
	int calls;

	for (int i = 0; i < 1000; i++) {
		sprintf(key, "k%d", i);
		CHECK_STATUS(PUT(s, key, i % 4 == 0 ? 5 : (i % 4 == 1 ? 50 : 0)), TTLKV_OK);
	}
	test_clock_advance(&clock, 5);   /* a quarter have expired, unremoved */
	calls = traverse(s, 64, t, NULL);
	CHECK(calls > 10);               /* the cursor really resumes */
	CHECK(t->foreign == 0);
	for (int i = 0; i < 1000; i++) {
		CHECK(t->seen[i] == (i % 4 == 0 ? 0 : 1));
		if (i % 4 == 1)
			CHECK(t->deadlines[i] == 1050);
		if (i % 4 > 1)
			CHECK(t->deadlines[i] == TTLKV_NO_EXPIRY);
	}
	/* One call with a huge count does it all; count 0 still moves on. */
	CHECK(traverse(s, SIZE_MAX, t, NULL) == 1);
	CHECK(t->calls == 750);
	CHECK_STATUS(ttlkv_scan(s, &cursor, 0, visit, t), TTLKV_OK);
	CHECK(cursor != 0);
	/* A cursor naming a shard the store does not have, NULLs. */
	cursor = UINT64_MAX;
	CHECK_STATUS(ttlkv_scan(s, &cursor, 1, visit, t), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_scan(NULL, &cursor, 1, visit, t), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_scan(s, NULL, 1, visit, t), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_scan(s, &cursor, 1, NULL, t), TTLKV_INVALID_ARGUMENT);
	free(t);
	ttlkv_close(s);
}

/* A callback that takes time: the clock moves 1 ms per key reported, and
 * each key must still be live when its callback runs. */
struct slow_visit {
	struct test_clock *clock;
	int reported, expired;
};

static void
visit_slowly(const void *key, size_t len, uint64_t deadline, void *context)
{
	struct slow_visit *v = context;

	(void)key;
	(void)len;
	v->reported++;
	if (deadline != TTLKV_NO_EXPIRY && deadline <= test_clock_read(v->clock))
		v->expired++;
	test_clock_advance(v->clock, 1);
}

static void
test_scan_reports_no_key_that_expired_meanwhile(void)
{
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	ttlkv *s = open_on(&clock, options(1024, 0));
	struct slow_visit v = { &clock, 0, 0 };
	uint64_t cursor = 0;
	char key[32];

	/* Deadlines 1001 to 1100: the traversal, 1 ms per key reported, keeps
	 * overtaking them. */
	for (int i = 0; i < 100; i++) {
		sprintf(key, "k%d", i);
		CHECK_STATUS(PUT(s, key, 1 + (uint64_t)i), TTLKV_OK);
	}
	CHECK_STATUS(ttlkv_scan(s, &cursor, SIZE_MAX, visit_slowly, &v), TTLKV_OK);
	CHECK(cursor == 0);
	printf("events: a scan whose callback takes 1 ms per key reported %d of 100 keys, "
	    "%d of them expired when reported\n", v.reported, v.expired);
	CHECK(v.expired == 0);
	CHECK(v.reported >= 1 && v.reported <= 100);
	ttlkv_close(s);
}

/* Between calls, once, at the call given, inserts enough new keys to make
 * every table grow. */
static int grow_at_call;

static void
grow_between(ttlkv *s, int call)
{
	char key[32];

	if (call != grow_at_call)
		return;
	for (int i = 0; i < 300; i++) {
		sprintf(key, "new-%d", i);
		CHECK_STATUS(PUT(s, key, 0), TTLKV_OK);
	}
}

/*
 * Traversals during which every shard's table grows still report every key
 * that was there all along (some twice: their shard was started again). A
 * doubling moves an entry from slot p to p or p + slots, so only an entry
 * displaced from its home slot can land behind the cursor: the tables are
 * filled to just below their grow threshold, where displaced entries are
 * common, and the grow comes at every point of the traversal in turn.
 */
static void
test_scan_is_complete_across_grows(void)
{
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	struct traversal *t = calloc(1, sizeof *t);
	int missed = 0, grows = 0, trials = 0;

	for (int trial = 0; trial < 12 * 16; trial++) {
		ttlkv_options o = options(64, 0);
		ttlkv *s;
		ttlkv_stats st;
		char key[32];

		grow_at_call = 1 + trial % 16;
		o.shards = 1;
		o.seed = 1 + (uint64_t)trial;   /* reproducible layouts */
		s = open_on(&clock, o);
		CHECK_STATUS(ttlkv_stats_get(s, &st), TTLKV_OK);
		for (int i = 0; i < (int)st.table_slots / 2; i++) {
			sprintf(key, "k%d", i);
			CHECK_STATUS(PUT(s, key, 0), TTLKV_OK);
		}
		traverse(s, 4, t, grow_between);
		for (int i = 0; i < (int)st.table_slots / 2; i++)
			missed += t->seen[i] == 0;
		CHECK_STATUS(ttlkv_stats_get(s, &st), TTLKV_OK);
		grows += st.table_grows > 0;
		trials++;
		ttlkv_close(s);
	}
	CHECK(grows == trials);
	CHECK(missed == 0);
	if (missed != 0)
		fprintf(stderr, "scan across grows: %d keys missed\n", missed);
	free(t);
}

/*
 * Scans beside writers. Keys k0..k255 are put once and never touched; a
 * writer thread churns other keys (puts, deletes, short TTLs) and makes the
 * tables grow. Every full traversal must report every stable key, and never
 * one whose deadline had passed before the call that reported it began. Run under ASan and TSan
 * too (make test-asan test-tsan).
 */
struct churn {
	ttlkv *store;
	struct test_clock *clock;
	int stop;
};

static void *
churn_writer(void *arg)
{
	struct churn *c = arg;
	char key[32];

	for (unsigned i = 0; !__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE); i++) {
		sprintf(key, "churn-%u", i % 5000);
		if (i % 3 == 2)
			(void)ttlkv_delete(c->store, key, strlen(key));
		else
			(void)PUT(c->store, key, i % 2 ? 2 : 0);
		if (i % 64 == 0)
			test_clock_advance(c->clock, 1);
	}
	return NULL;
}

/* The clock read before the call: every key reported must be live then. */
struct live_check {
	struct traversal *t;
	uint64_t before;
	int expired;
};

static void
visit_checking_deadline(const void *key, size_t len, uint64_t deadline, void *context)
{
	struct live_check *c = context;

	if (deadline != TTLKV_NO_EXPIRY && deadline <= c->before)
		c->expired++;
	visit(key, len, deadline, c->t);
}

static void
test_scan_beside_writers(void)
{
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	ttlkv *s = open_on(&clock, options(64, 0));
	struct churn c = { s, &clock, 0 };
	struct traversal *t = calloc(1, sizeof *t);
	struct live_check check = { t, 0, 0 };
	pthread_t writer;
	char key[32];
	int rounds = getenv("TTLKV_TEST_SCALE") != NULL ? 20 : 200;

	for (int i = 0; i < 256; i++) {
		sprintf(key, "k%d", i);
		CHECK_STATUS(PUT(s, key, 0), TTLKV_OK);
	}
	pthread_create(&writer, NULL, churn_writer, &c);
	for (int round = 0; round < rounds; round++) {
		uint64_t cursor = 0;
		int missing = 0;

		memset(t, 0, sizeof *t);
		do {
			check.before = test_clock_read(&clock);
			CHECK_STATUS(ttlkv_scan(s, &cursor, 32, visit_checking_deadline, &check), TTLKV_OK);
		} while (cursor != 0);
		for (int i = 0; i < 256; i++)
			missing += t->seen[i] == 0;
		CHECK(missing == 0);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(writer, NULL);
	CHECK(check.expired == 0);
	free(t);
	ttlkv_close(s);
}

/* Clearing while writers run neither crashes nor leaks (ASan), and leaves
 * only what was written after it. */
static void
test_clear_beside_writers(void)
{
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	ttlkv *s = open_on(&clock, options(64, TTLKV_TRACK_EXPIRY));
	struct churn c = { s, &clock, 0 };
	pthread_t writer;
	char key[32];

	pthread_create(&writer, NULL, churn_writer, &c);
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 100; i++) {
			sprintf(key, "k%d", i);
			CHECK_STATUS(PUT(s, key, 0), TTLKV_OK);
		}
		CHECK_STATUS(ttlkv_clear(s), TTLKV_OK);
		for (int i = 0; i < 100; i++) {
			sprintf(key, "k%d", i);
			CHECK_STATUS(ttlkv_get(s, key, strlen(key), NULL, 0, &(size_t){ 0 }), TTLKV_NOT_FOUND);
		}
		(void)ttlkv_drain_expired(s, report, &(struct reported){ 0 }, NULL);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(writer, NULL);
	ttlkv_close(s);
}

/*
 * A store whose only writer is an expiry worker: a C program that loads a
 * cache and then only lets it expire, calling ttlkv_expire_due_many for the
 * records it drains and ttlkv_maintain every tick, as the header asks (no
 * sweep, no reclaim). The worker's removals free nothing themselves; the
 * memory of what expired must still come back: afterwards no more than the
 * shards' reserves (and a batch or two in flight per shard) stays unfreed,
 * and no retired table.
 */
struct drained {
	unsigned char keys[32768][8];
	size_t lens[32768];
	uint64_t deadlines[32768];
	size_t n;
};

static void
collect(const void *key, size_t len, uint64_t deadline, void *context)
{
	struct drained *d = context;

	if (d->n < 32768 && len <= 8) {
		memcpy(d->keys[d->n], key, len);
		d->lens[d->n] = len;
		d->deadlines[d->n++] = deadline;
	}
}

static void
test_expiry_only_store_gives_memory_back(void)
{
	/* Loaded past its capacity without maintenance, the tables grow to
	 * 16,384 slots each and end 44 % full: the expiry wears them enough
	 * for rebuilds, which retire tables. */
	enum { KEYS = 29000, SHARDS = 4 };
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	ttlkv_options o = options(4096, TTLKV_TRACK_EXPIRY);
	struct drained *d = calloc(1, sizeof *d);
	ttlkv_stats stats;
	uint64_t bound;
	char key[32];
	ttlkv *s;

	o.shards = SHARDS;
	s = open_on(&clock, o);
	for (int i = 0; i < KEYS; i++) {
		sprintf(key, "e%d", i);
		CHECK_STATUS(PUT(s, key, 10), TTLKV_OK);
	}
	CHECK_STATUS(ttlkv_reclaim(s, 1), TTLKV_OK); /* nothing retired yet */
	test_clock_advance(&clock, 10);
	CHECK_STATUS(ttlkv_drain_schedule(s, collect, d, NULL), TTLKV_OK);
	CHECK(d->n == KEYS);
	for (size_t base = 0; base < d->n; base += 256) {
		ttlkv_key keys[256];
		uint64_t deadlines[256];
		ttlkv_status st[256];
		size_t n = d->n - base < 256 ? d->n - base : 256;

		for (size_t i = 0; i < n; i++)
			keys[i] = (ttlkv_key){ d->keys[base + i], d->lens[base + i] };
		CHECK_STATUS(ttlkv_expire_due_many(s, keys, d->deadlines + base, n, deadlines, st),
		    TTLKV_OK);
		CHECK_STATUS(ttlkv_maintain(s, 65536, NULL), TTLKV_OK); /* a tick */
	}
	for (int tick = 0; tick < 8; tick++)
		CHECK_STATUS(ttlkv_maintain(s, 65536, NULL), TTLKV_OK);
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	bound = ttlkv_testing_reserve_limit(s) + 2 * 64 * SHARDS;
	printf("events: %d keys expired by a worker alone (%llu rebuilds): %llu retired entries "
	    "and %llu retired tables left unfreed (bound %llu and 0)\n", KEYS,
	    (unsigned long long)stats.table_rebuilds, (unsigned long long)stats.deferred_frees,
	    (unsigned long long)ttlkv_testing_ready_tables(s), (unsigned long long)bound);
	CHECK(stats.entries == 0 && stats.expired == KEYS);
	CHECK(stats.table_rebuilds > 0);
	CHECK(stats.deferred_frees <= bound);
	CHECK(ttlkv_testing_ready_tables(s) == 0);
	free(d);
	ttlkv_close(s);
}

/*
 * An expiry worker that keeps handles instead of keys (ttlkv_expire_handles)
 * sees what one that keeps keys sees: two stores given the same writes on
 * one clock, the first fired by key, the second by handle with the same
 * records, give the same statuses, deadlines and removals, and the second
 * reports each removed key once, as the record's. Stale records (the key
 * rewritten with an earlier deadline, deleted, or given no TTL) and keys
 * never written find nothing, and bad arguments change nothing.
 */
struct removals {
	int n;
	int index[4096];
	uint64_t deadlines[4096];
	char keys[4096][16];
};

static void
note_removal(size_t index, const void *key, size_t len, uint64_t deadline, void *context)
{
	struct removals *r = context;

	CHECK(len < 16 && r->n < 4096);
	r->index[r->n] = (int)index;
	r->deadlines[r->n] = deadline;
	memcpy(r->keys[r->n], key, len);
	r->keys[r->n][len] = '\0';
	r->n++;
}

static void
test_expire_by_handle_matches_expire_by_key(void)
{
	/* Tables about half full, so that probes pass other keys' entries. */
	enum { N = 2000 };
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	ttlkv_options o = options(N, TTLKV_TRACK_EXPIRY);
	struct drained *d = calloc(1, sizeof *d), *other = calloc(1, sizeof *other);
	struct removals *r = calloc(1, sizeof *r);
	static uint64_t handles[2 * N], scheduled[2 * N], da[2 * N], db[2 * N];
	static ttlkv_status sa[2 * N], sb[2 * N];
	uint64_t zero = 0;
	ttlkv_stats stats;
	char key[16];
	ttlkv *a = open_on(&clock, o), *b = open_on(&clock, o);

	for (int pass = 0; pass < 2; pass++) {
		ttlkv *s = pass == 0 ? a : b;

		for (int i = 0; i < N; i++) {
			sprintf(key, "h%d", i);
			CHECK_STATUS(PUT(s, key, i % 4 == 0 ? 50 : 10), TTLKV_OK);
		}
		for (int i = 0; i < N; i += 10) {
			sprintf(key, "h%d", i);
			switch (i % 30) {
			case 0:
				CHECK_STATUS(PUT(s, key, 5), TTLKV_OK); /* earlier: a second record */
				break;
			case 10:
				CHECK_STATUS(ttlkv_delete(s, key, strlen(key)), TTLKV_OK);
				break;
			default:
				CHECK_STATUS(PUT(s, key, 0), TTLKV_OK); /* no TTL now */
				break;
			}
		}
	}
	CHECK_STATUS(ttlkv_drain_schedule(a, collect, d, NULL), TTLKV_OK);
	CHECK_STATUS(ttlkv_drain_schedule(b, collect, other, NULL), TTLKV_OK);
	CHECK(d->n == other->n && d->n < 2 * N);
	test_clock_advance(&clock, 10);
	for (size_t i = 0; i < d->n; i++) {
		handles[i] = ttlkv_key_handle(b, d->keys[i], d->lens[i]);
		scheduled[i] = d->deadlines[i];
	}
	handles[d->n] = ttlkv_key_handle(b, "never", 5);
	scheduled[d->n] = 1010;
	for (size_t i = 0; i <= d->n; i++) {
		const void *k = i < d->n ? (const void *)d->keys[i] : "never";
		size_t len = i < d->n ? d->lens[i] : 5;

		sa[i] = ttlkv_expire_due(a, k, len, scheduled[i], &da[i]);
	}
	/* Bad arguments first: nothing may change. */
	CHECK_STATUS(ttlkv_expire_handles(b, handles, NULL, d->n, db, sb, NULL, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_expire_handles(b, NULL, scheduled, d->n, db, sb, NULL, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_expire_handles(b, handles, &zero, 1, db, sb, NULL, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_expire_handles(NULL, handles, scheduled, 1, db, sb, NULL, NULL), TTLKV_INVALID_ARGUMENT);
	CHECK_STATUS(ttlkv_stats_get(b, &stats), TTLKV_OK);
	CHECK(stats.expired == 0);
	CHECK(ttlkv_key_handle(NULL, "k", 1) == 0 && ttlkv_key_handle(b, NULL, 1) == 0);
	CHECK_STATUS(ttlkv_expire_handles(b, handles, scheduled, d->n + 1, db, sb, note_removal, r), TTLKV_OK);
	int removed = 0, stale = 0;
	for (size_t i = 0; i <= d->n; i++) {
		CHECK_STATUS(sb[i], sa[i]);
		if (sa[i] == TTLKV_OK || sa[i] == TTLKV_NOT_DUE)
			CHECK(db[i] == da[i]);
		removed += sa[i] == TTLKV_OK;
		stale += sa[i] == TTLKV_NOT_FOUND;
	}
	CHECK(sb[d->n] == TTLKV_NOT_FOUND);
	CHECK(r->n == removed);
	for (int k = 0; k < r->n; k++) {
		int i = r->index[k];

		CHECK(sb[i] == TTLKV_OK && r->deadlines[k] == db[i] && strlen(r->keys[k]) == d->lens[i] &&
		    memcmp(r->keys[k], d->keys[i], d->lens[i]) == 0);
		CHECK(ttlkv_get(b, r->keys[k], strlen(r->keys[k]), NULL, 0, &(size_t){ 0 }) == TTLKV_NOT_FOUND);
	}
	printf("events: by handle as by key: %d removed, %d stale of %zu records\n", removed, stale, d->n);
	CHECK(removed > 0 && stale > 0);
	CHECK_STATUS(ttlkv_stats_get(b, &stats), TTLKV_OK);
	CHECK(stats.expired == (uint64_t)removed);
	free(d);
	free(other);
	free(r);
	ttlkv_close(a);
	ttlkv_close(b);
}

/*
 * With hashes narrowed to 12 bits (test builds only) about a quarter of 2,000
 * keys share their handle with another. A record still removes only a key
 * that is due, each due key exactly once, reported as removed with its own
 * bytes; the keys not yet due all stay.
 */
static void
test_expire_by_handle_with_shared_handles(void)
{
	enum { N = 2000 };
	struct test_clock clock = TEST_CLOCK_INIT(1000);
	struct drained *d = calloc(1, sizeof *d);
	struct removals *r = calloc(1, sizeof *r);
	static uint64_t handles[2 * N], scheduled[2 * N], deadlines[2 * N];
	static ttlkv_status st[2 * N];
	static bool removed[N];
	int shared = 0, due = 0;
	char key[16];
	ttlkv *s;

	ttlkv_testing_hash_mask((UINT64_C(1) << 12) - 1);
	s = open_on(&clock, options(N, TTLKV_TRACK_EXPIRY));
	for (int i = 0; i < N; i++) {
		sprintf(key, "h%d", i);
		CHECK_STATUS(PUT(s, key, i % 2 == 0 ? 10 : 1000), TTLKV_OK);
		due += i % 2 == 0;
	}
	CHECK_STATUS(ttlkv_drain_schedule(s, collect, d, NULL), TTLKV_OK);
	for (size_t i = 0; i < d->n; i++) {
		handles[i] = ttlkv_key_handle(s, d->keys[i], d->lens[i]);
		scheduled[i] = d->deadlines[i];
		for (size_t j = 0; j < i && shared < 1000; j++)
			shared += handles[j] == handles[i];
	}
	test_clock_advance(&clock, 10);
	CHECK_STATUS(ttlkv_expire_handles(s, handles, scheduled, d->n, deadlines, st, note_removal, r),
	    TTLKV_OK);
	printf("events: by handle, %d keys sharing a handle with an earlier one: %d of %d due keys removed\n",
	    shared, r->n, due);
	CHECK(shared > 100);
	CHECK(r->n == due);
	for (int k = 0; k < r->n; k++) {
		int i = atoi(r->keys[k] + 1);

		CHECK(r->keys[k][0] == 'h' && i % 2 == 0 && !removed[i]);
		removed[i] = true;
		CHECK(r->deadlines[k] == 1010);
	}
	for (int i = 1; i < N; i += 2) {
		sprintf(key, "h%d", i);
		CHECK_STATUS(ttlkv_get(s, key, strlen(key), NULL, 0, &(size_t){ 0 }), TTLKV_BUFFER_TOO_SMALL);
	}
	ttlkv_stats stats;

	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	CHECK(stats.expired == (uint64_t)due);
	ttlkv_close(s);
	ttlkv_testing_hash_mask(UINT64_MAX);
	free(d);
	free(r);
}

/* ttlkv_clear holds each shard's lock for at most 64 removals and 4,096
 * slots at a time: a sparse table (256 keys in 2^18 slots, about one key
 * per 1,000 slots) must not make one hold walk 64 keys' worth of gaps. */
static void
test_clear_holds_are_short(void)
{
	ttlkv_options o = options(1u << 17, 0);
	ttlkv *s;
	ttlkv_stats stats;
	char key[32];
	uint64_t most;

	o.shards = 1;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	for (int i = 0; i < 256; i++) {
		sprintf(key, "k%d", i);
		CHECK_STATUS(PUT(s, key, 0), TTLKV_OK);
	}
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	(void)ttlkv_testing_clear_hold_slots();
	CHECK_STATUS(ttlkv_clear(s), TTLKV_OK);
	most = ttlkv_testing_clear_hold_slots();
	printf("events: clearing 256 keys in %llu slots passed at most %llu slots per hold of the lock\n",
	    (unsigned long long)stats.table_slots, (unsigned long long)most);
	CHECK(ttlkv_count(s) == 0);
	CHECK(most <= 4096);
	ttlkv_close(s);
}

int
main(void)
{
	test_every_removal_of_an_expired_entry_is_reported();
	test_clear_reports_expired_entries_and_empties_the_store();
	test_no_log_without_tracking();
	test_failed_writes_lose_no_expiry();
	test_scan_reports_live_keys_only();
	test_scan_reports_no_key_that_expired_meanwhile();
	test_scan_is_complete_across_grows();
	test_scan_beside_writers();
	test_clear_beside_writers();
	test_clear_holds_are_short();
	test_expiry_only_store_gives_memory_back();
	test_expire_by_handle_matches_expire_by_key();
	test_expire_by_handle_with_shared_handles();
	return check_exit("events");
}
