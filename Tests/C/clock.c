/*
 * The default clock, on the real time of this machine: a key never expires
 * early.
 *
 * Reads check deadlines against a coarse clock that ticks every few
 * milliseconds (4 ms at HZ=250) and lags the precise one by up to a tick. A
 * deadline computed from that coarse reading would lie up to a tick early:
 * a key put with a 5 ms TTL could vanish after 1 ms. This test puts keys
 * with short TTLs at random phases of the tick and polls each until it is
 * gone: the first read that misses it must end at least the full TTL after
 * the put began, on the precise CLOCK_BOOTTIME (the store's time base).
 * Lateness (up to a tick) is reported, not asserted: on a shared machine a
 * poll can be preempted for longer than that.
 *
 * The expiry worker's side: ttlkv_expire_due removes a key as soon as its
 * deadline has passed on the precise clock, and ttlkv_now reads that clock.
 * Checked against the coarse one, a key whose deadline passed within the
 * last tick was "not due" and waited for the worker's next round, which
 * added a whole tick (10 ms) to the expiry lag of the keys that missed it.
 *
 * Suspend, on a simulated machine (the test build's clock_gettime hook):
 * CLOCK_BOOTTIME runs ahead of the monotonic clocks by the time spent
 * suspended, which the store's coarse clock learns only when it re-reads
 * the offset. A key written just after a one-hour suspend must still live
 * its full TTL of real time; one whose TTL ran out during the suspend may
 * be seen for up to a second after the resume, never longer.
 */
#include "check.h"
#include "ttlkv_testing.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <ttlkv.h>

#define PUTS 600

static uint64_t
precise_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

static void
spin_ns(uint64_t ns)
{
	uint64_t until = precise_ns() + ns;

	while (precise_ns() < until)
		;
}

/* The simulated machine: monotonic time moves when the test says, the
 * coarse clock ticks every 4 ms, boot time adds the time spent suspended. */
static uint64_t fake_mono_ns = 1000 * 1000000000ull + 1300000;
static uint64_t fake_suspended_ns;

static int
fake_gettime(clockid_t id, struct timespec *ts)
{
	uint64_t ns = __atomic_load_n(&fake_mono_ns, __ATOMIC_SEQ_CST);

	if (id == CLOCK_BOOTTIME)
		ns += __atomic_load_n(&fake_suspended_ns, __ATOMIC_SEQ_CST);
	else if (id == CLOCK_MONOTONIC_COARSE)
		ns -= ns % 4000000u;
	ts->tv_sec = (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
	return 0;
}

/* Real time on the simulated machine, in ms. */
static uint64_t
fake_boot_ms(void)
{
	return (fake_mono_ns + fake_suspended_ns) / 1000000u;
}

static void
test_suspend(void)
{
	ttlkv *s;
	uint64_t put_ms, resumed_ms, left = 0, seen_for = 0, stale_for = 0;
	size_t n;

	ttlkv_testing_set_gettime(fake_gettime);
	CHECK_STATUS(ttlkv_open(NULL, &s), TTLKV_OK);
	CHECK_STATUS(ttlkv_put(s, "before", 6, "v", 1, 10000), TTLKV_OK);
	fake_mono_ns += 300 * 1000000u;
	CHECK_STATUS(ttlkv_get(s, "before", 6, NULL, 0, &n), TTLKV_BUFFER_TOO_SMALL);
	fake_suspended_ns += 3600 * 1000000000ull; /* an hour asleep */
	resumed_ms = put_ms = fake_boot_ms();
	CHECK_STATUS(ttlkv_put(s, "after", 5, "v", 1, 60000), TTLKV_OK);
	CHECK_STATUS(ttlkv_ttl(s, "after", 5, &left), TTLKV_OK);
	CHECK(left > 59990 && left <= 60000);
	/* 10 ms steps of real time (nothing sleeps: the hook's clock moves). */
	while (fake_boot_ms() - put_ms < 61000) {
		bool after = ttlkv_get(s, "after", 5, NULL, 0, &n) == TTLKV_BUFFER_TOO_SMALL;
		bool before = ttlkv_get(s, "before", 6, NULL, 0, &n) == TTLKV_BUFFER_TOO_SMALL;

		if (after)
			seen_for = fake_boot_ms() - put_ms;
		if (before)
			stale_for = fake_boot_ms() - resumed_ms;
		fake_mono_ns += 10 * 1000000u;
	}
	printf("clock: after a simulated 1 h suspend, a key put with a 60 s TTL was seen "
	    "for %.2f s; one whose 10 s ran out during the suspend, for %.2f s\n",
	    (double)seen_for / 1000, (double)stale_for / 1000);
	CHECK(seen_for >= 60000 - 10 && seen_for <= 60000 + 10);
	CHECK(stale_for <= 1000 + 10);
	ttlkv_close(s);
	ttlkv_testing_set_gettime(NULL);
}

static void
test_due_on_the_precise_clock(void)
{
	ttlkv *s;
	int not_due = 0, behind = 0;

	CHECK_STATUS(ttlkv_open(NULL, &s), TTLKV_OK);
	for (int i = 0; i < 40; i++) {
		char key[16];
		uint64_t deadline = 0, removed_at = 0;
		ttlkv_status st;

		snprintf(key, sizeof key, "due:%d", i);
		CHECK_STATUS(ttlkv_put(s, key, strlen(key), "v", 1, 1 + (uint64_t)i % 7), TTLKV_OK);
		CHECK_STATUS(ttlkv_deadline(s, key, strlen(key), &deadline), TTLKV_OK);
		while (precise_ns() / 1000000u < deadline)
			;
		behind += ttlkv_now(s) < deadline;
		st = ttlkv_expire_due(s, key, strlen(key), 0, &removed_at);
		not_due += st == TTLKV_NOT_DUE;
		CHECK(st == TTLKV_OK || st == TTLKV_NOT_DUE);
	}
	printf("clock: 40 keys asked for at their deadline on the precise clock: %d not due, "
	    "ttlkv_now behind it %d times\n", not_due, behind);
	CHECK(not_due == 0);
	CHECK(behind == 0);
	ttlkv_close(s);
}

static ttlkv_update_action
set_deadline(ttlkv_update_state *state, void *context)
{
	state->new_deadline_ms = *(const uint64_t *)context;
	return TTLKV_UPDATE_SET_DEADLINE;
}

/*
 * The longest TTL is measured from ttlkv_now, the precise clock: with the
 * coarse clock 3.5 ms behind it (the simulated machine), a deadline of
 * ttlkv_now + TTLKV_MAX_TTL_MS is accepted by ttlkv_update and ttlkv_load,
 * one millisecond more is not.
 */
static void
test_longest_ttl_from_ttlkv_now(void)
{
	ttlkv *s;
	uint64_t longest, beyond;
	ttlkv_status statuses[2];
	ttlkv_load_item items[2] = {
		{ "loaded", 6, "v", 1, 0 },
		{ "beyond", 6, "v", 1, 0 },
	};

	fake_mono_ns = 2000 * 1000000000ull + 3500000; /* 3.5 ms into a coarse tick */
	ttlkv_testing_set_gettime(fake_gettime);
	CHECK_STATUS(ttlkv_open(NULL, &s), TTLKV_OK);
	CHECK_STATUS(ttlkv_put(s, "k", 1, "v", 1, 0), TTLKV_OK);
	longest = ttlkv_now(s) + TTLKV_MAX_TTL_MS;
	beyond = longest + 1;
	CHECK_STATUS(ttlkv_update(s, "k", 1, 0, set_deadline, &longest), TTLKV_OK);
	CHECK_STATUS(ttlkv_update(s, "k", 1, 0, set_deadline, &beyond), TTLKV_INVALID_TTL);
	items[0].deadline_ms = longest;
	items[1].deadline_ms = beyond;
	CHECK_STATUS(ttlkv_load(s, items, 2, statuses), TTLKV_OK);
	CHECK_STATUS(statuses[0], TTLKV_OK);
	CHECK_STATUS(statuses[1], TTLKV_INVALID_TTL);
	ttlkv_close(s);
	ttlkv_testing_set_gettime(NULL);
}

int
main(void)
{
	ttlkv *s;
	uint64_t rng = (uint64_t)precise_ns() | 1, early = 0, worst_late_us = 0;
	char key[] = "clock-key";

	test_due_on_the_precise_clock();
	CHECK_STATUS(ttlkv_open(NULL, &s), TTLKV_OK);
	for (int i = 0; i < PUTS; i++) {
		uint64_t ttl_ms = 1 + next_random(&rng) % 6, begun, gone;
		size_t n;

		/* A random phase of the coarse tick. */
		spin_ns(next_random(&rng) % 5000000u);
		begun = precise_ns();
		CHECK_STATUS(ttlkv_put(s, key, sizeof key, "v", 1, ttl_ms), TTLKV_OK);
		for (;;) {
			ttlkv_status st = ttlkv_get(s, key, sizeof key, NULL, 0, &n);

			gone = precise_ns();
			if (st == TTLKV_NOT_FOUND)
				break;
			CHECK(st == TTLKV_BUFFER_TOO_SMALL);
		}
		if (gone - begun < ttl_ms * 1000000u)
			early++;
		else if ((gone - begun) / 1000 - ttl_ms * 1000 > worst_late_us)
			worst_late_us = (gone - begun) / 1000 - ttl_ms * 1000;
	}
	printf("clock: %d keys with TTLs of 1-6 ms put at random phases of the tick: "
	    "%llu seen expired early, latest %.1f ms after its TTL\n", PUTS,
	    (unsigned long long)early, (double)worst_late_us / 1000);
	CHECK(early == 0);
	ttlkv_close(s);
	test_suspend();
	test_longest_ttl_from_ttlkv_now();
	return check_exit("clock");
}
