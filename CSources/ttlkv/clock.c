/*
 * The default clock: CLOCK_BOOTTIME in milliseconds, read cheaply.
 *
 * Why boot time: a TTL is a promise about elapsed real time. CLOCK_MONOTONIC
 * stops while the machine is suspended, so a 60 s key set before a one-hour
 * suspend would outlive it by an hour; CLOCK_REALTIME jumps with NTP and
 * manual changes. CLOCK_BOOTTIME is monotonic and counts suspend.
 *
 * Why coarse for reads: precise clock_gettime costs about 45 ns here against
 * 12 ns for CLOCK_MONOTONIC_COARSE (4 ms resolution), and lookups of keys
 * with a TTL read the clock every time. There is no coarse boot clock, so
 * we add the boot-minus-monotonic offset (the time spent suspended) to the
 * coarse monotonic clock and re-read that offset once a second of monotonic
 * time. The offset only ever grows, so the clock never goes backwards, and
 * it is never larger than the true one, so the clock never runs ahead. After
 * a resume it is stale until the next re-read: for up to a second, reads
 * see time as it was before the suspend, so a key whose TTL ran out during
 * the suspend can be seen for up to a second after the resume (late, never
 * early).
 *
 * Why deadlines are precise boot time: the coarse clock is the time of the
 * last tick, up to a tick (4 ms at HZ=250) behind the precise one, and its
 * offset may be stale. A deadline computed from it would lie up to a tick
 * early, and right after a resume early by the whole suspend: a key put
 * with a 60 s TTL a moment after a one-hour suspend would be gone as soon as
 * the offset caught up. So a write computes its deadline from a precise
 * CLOCK_BOOTTIME reading (as cheap as CLOCK_MONOTONIC: both are read in the
 * vDSO), rounded up to the next millisecond, and reads compare it with the
 * coarse clock, which only ever lags: a key is never seen expired before its
 * full TTL, and may stay visible up to one tick (plus the rounding) late.
 *
 * Why precise for the expiry worker: it fires a tick's records when the
 * tick is over and asks for each key; checked against the coarse clock, a
 * key whose deadline passed within the last few milliseconds would be "not
 * due" and wait a whole tick more. So ttlkv_expire_due and ttlkv_now (the
 * worker's time) read the precise clock, rounded down: never early either.
 */
#include "internal.h"

#include <time.h>

#define OFFSET_REFRESH_MS 1000

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

/* A test's stand-in for clock_gettime (a suspend is hard to arrange). */
static ttlkv_testing_gettime_fn *gettime_hook;

void
ttlkv_testing_set_gettime(ttlkv_testing_gettime_fn *fn)
{
	__atomic_store_n(&gettime_hook, fn, __ATOMIC_SEQ_CST);
}

static int
gettime(clockid_t id, struct timespec *ts)
{
	ttlkv_testing_gettime_fn *fn = __atomic_load_n(&gettime_hook, __ATOMIC_SEQ_CST);

	return fn != NULL ? fn(id, ts) : clock_gettime(id, ts);
}
#else
#define gettime clock_gettime
#endif

static uint64_t
ns_of(clockid_t id)
{
	struct timespec ts;

	gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
refresh_offset(struct ttlkv *store, uint64_t mono_ms)
{
	/* Boot time first: a preemption between the two reads then makes the
	 * offset too small, never too large, and since the offset only ever
	 * grows, a too-large one would run the store's clock ahead for good. */
	uint64_t boot = ns_of(CLOCK_BOOTTIME);
	uint64_t mono = ns_of(CLOCK_MONOTONIC);
	uint64_t offset = boot > mono ? (boot - mono) / 1000000u : 0;
	uint64_t old = LOAD(&store->boot_offset_ms);

	while (offset > old &&
	    !__atomic_compare_exchange_n(&store->boot_offset_ms, &old, offset,
	    false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	STORE(&store->boot_check_ms, mono_ms + OFFSET_REFRESH_MS);
}

static uint64_t
boot_ms(struct ttlkv *store, uint64_t mono_ms)
{
	if (UNLIKELY(mono_ms >= LOAD(&store->boot_check_ms)))
		refresh_offset(store, mono_ms);
	return mono_ms + LOAD(&store->boot_offset_ms);
}

uint64_t
ttlkv__default_clock(struct ttlkv *store)
{
	return boot_ms(store, ns_of(CLOCK_MONOTONIC_COARSE) / 1000000u);
}

/* Never behind the coarse clock: that one adds to monotonic time an offset
 * no larger than the true one (see refresh_offset). */
uint64_t
ttlkv__default_clock_ceil(void)
{
	return (ns_of(CLOCK_BOOTTIME) + 999999u) / 1000000u;
}

/* The same reading rounded down: never ahead of real time, and never behind
 * the coarse clock. */
uint64_t
ttlkv__default_clock_precise(void)
{
	return ns_of(CLOCK_BOOTTIME) / 1000000u;
}
