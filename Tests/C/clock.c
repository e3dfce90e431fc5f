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
 */
#include "check.h"

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

int
main(void)
{
	ttlkv *s;
	uint64_t rng = (uint64_t)precise_ns() | 1, early = 0, worst_late_us = 0;
	char key[] = "clock-key";

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
	return check_exit("clock");
}
