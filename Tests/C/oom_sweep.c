/*
 * Allocation-failure sweep, the SQLite way: a scripted workload (open, puts
 * that grow the table far past its capacity, overwrites, TTL changes,
 * deletes, schedule records, sweeps, reclaims, close) runs again and again,
 * the Nth allocation failing in run N, for N = 0, 1, 2, ... until a run
 * completes without reaching its failure. After every step the store must
 * equal a model of it: a step that returned TTLKV_OUT_OF_MEMORY changed
 * nothing, any other step did exactly its job. Under LeakSanitizer
 * (make test-asan) every run must also free everything it allocated.
 */
#include "check.h"
#include "test_clock.h"
#include "ttlkv_testing.h"

#include <stdbool.h>
#include <string.h>
#include <ttlkv.h>

#define KEYS 96

struct model {
	int gen[KEYS];           /* 0 = absent */
	uint64_t deadline[KEYS]; /* 0 = never */
};

static struct test_clock clock_ = TEST_CLOCK_INIT(1000);

static void
key_of(int i, char *key)
{
	sprintf(key, "key-%03d", i);
}

static void
value_of(int i, int gen, char *value)
{
	sprintf(value, "value-%d-%d-%.*s", i, gen, i % 40, "padding-padding-padding-padding-padding-");
}

static bool
live(const struct model *m, int i)
{
	return m->gen[i] != 0 && (m->deadline[i] == 0 || m->deadline[i] > clock_.now);
}

/* Whether the store holds exactly what the model says (for live keys). */
static bool
matches(ttlkv *s, const struct model *m)
{
	char key[32], want[96], got[96];

	for (int i = 0; i < KEYS; i++) {
		size_t n = 0;
		uint64_t left = 0;
		ttlkv_status st;

		key_of(i, key);
		st = ttlkv_get(s, key, strlen(key), got, sizeof got, &n);
		if (!live(m, i)) {
			if (st != TTLKV_NOT_FOUND)
				return false;
			continue;
		}
		value_of(i, m->gen[i], want);
		if (st != TTLKV_OK || n != strlen(want) || memcmp(got, want, n) != 0)
			return false;
		if (ttlkv_ttl(s, key, strlen(key), &left) != TTLKV_OK ||
		    left != (m->deadline[i] ? m->deadline[i] - clock_.now : TTLKV_NO_EXPIRY))
			return false;
	}
	return true;
}

static int failures_seen;

static void
verify(ttlkv *s, const struct model *m, ttlkv_status st, const char *what, int step)
{
	if (st != TTLKV_OK && st != TTLKV_OUT_OF_MEMORY && st != TTLKV_NOT_FOUND &&
	    st != TTLKV_EXISTS && st != TTLKV_NOT_DUE) {
		fprintf(stderr, "step %d (%s): unexpected %s\n", step, what, ttlkv_status_string(st));
		CHECK(false);
	}
	if (st == TTLKV_OUT_OF_MEMORY)
		failures_seen++;
	if (!matches(s, m)) {
		fprintf(stderr, "step %d (%s, %s): store differs from model\n", step, what, ttlkv_status_string(st));
		CHECK(false);
	}
}

/* Runs the script once with allocation number fail_at failing; returns
 * whether that allocation was reached. */
static bool
run_script(long fail_at)
{
	struct model m;
	ttlkv_options o;
	ttlkv *s = NULL;
	char key[32], value[96];
	ttlkv_status st;
	bool reached;

	memset(&m, 0, sizeof m);
	clock_.now = 1000;
	ttlkv_testing_recycle_flush();
	ttlkv_options_init(&o);
	o.capacity = 8;
	o.shards = 2;
	o.flags = TTLKV_TRACK_EXPIRY;
	test_clock_attach(&clock_, &o);
	ttlkv_testing_fail_allocation(fail_at);
	st = ttlkv_open(&o, &s);
	if (st != TTLKV_OK) {
		ttlkv_testing_fail_allocation(-1);
		CHECK_STATUS(st, TTLKV_OUT_OF_MEMORY);
		CHECK(s == NULL);
		return true;
	}
	for (int step = 0; step < 6 * KEYS; step++) {
		int i = (step * 37) % KEYS, gen = m.gen[i] + 1;
		uint64_t ttl = step % 3 == 0 ? 0 : 50 + (uint64_t)(step % 7) * 100;
		uint64_t deadline;

		key_of(i, key);
		value_of(i, gen, value);
		switch (step % 8) {
		case 0: case 1: case 2: case 3:
			st = ttlkv_put(s, key, strlen(key), value, strlen(value), ttl);
			if (st == TTLKV_OK) {
				m.gen[i] = gen;
				m.deadline[i] = ttl ? clock_.now + ttl : 0;
			}
			verify(s, &m, st, "put", step);
			break;
		case 4:
			st = ttlkv_put_if_absent(s, key, strlen(key), value, strlen(value), ttl);
			if (st == TTLKV_OK) {
				m.gen[i] = gen;
				m.deadline[i] = ttl ? clock_.now + ttl : 0;
			}
			verify(s, &m, st, "put_if_absent", step);
			break;
		case 5:
			st = ttlkv_set_ttl(s, key, strlen(key), ttl);
			if (st == TTLKV_OK)
				m.deadline[i] = ttl ? clock_.now + ttl : 0;
			verify(s, &m, st, "set_ttl", step);
			break;
		case 6:
			st = step % 16 == 6 ? ttlkv_delete(s, key, strlen(key))
			    : ttlkv_expire_due(s, key, strlen(key), 0, &deadline);
			if (st == TTLKV_OK && step % 16 == 6)
				m.gen[i] = 0;
			if (st == TTLKV_OK && step % 16 != 6)
				m.gen[i] = 0; /* it was due */
			verify(s, &m, st, step % 16 == 6 ? "delete" : "expire_due", step);
			break;
		case 7:
			/* Entries freed so far would serve the next puts
			 * without malloc: empty the cache so that puts keep
			 * allocating, and failing, all along the script. */
			ttlkv_testing_recycle_flush();
			clock_.now += 40;
			st = step % 24 == 7 ? ttlkv_sweep(s, 1 << 20, NULL)
			    : step % 24 == 15 ? ttlkv_reclaim(s, 1)
			    : ttlkv_drain_schedule(s, ignore_record, NULL, NULL);
			verify(s, &m, st, "maintenance", step);
			break;
		}
	}
	reached = ttlkv_testing_allocations_left() < 0;
	ttlkv_testing_fail_allocation(-1);
	ttlkv_close(s);
	return reached;
}

int
main(void)
{
	long n;
	int total_failures;

	/* Past the script's last allocation the armed failure is never
	 * reached: every allocation has failed once. */
	for (n = 0; run_script(n); n++)
		;
	total_failures = failures_seen;
	CHECK(total_failures > 100);
	printf("oom_sweep: %ld runs, %d injected failures reported as out of memory\n", n + 1, total_failures);
	return check_exit("oom_sweep");
}
