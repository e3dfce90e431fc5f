/*
 * Preallocation: a store opened for 10 million entries takes 10 million
 * 16-byte keys without a single table resize, and every key reads back.
 */
#include "check.h"
#include "test_keys.h"

#include <string.h>
#include <ttlkv.h>

#define N 10000000u

int
main(void)
{
	ttlkv_options o;
	ttlkv_stats stats;
	ttlkv *s;
	unsigned char key[16], value[32] = { 0 }, out[32];
	size_t n;
	uint64_t missing = 0;

	ttlkv_options_init(&o);
	o.capacity = N;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	printf("capacity: %llu shards, %llu slots (%.2f per entry)\n",
	    (unsigned long long)stats.shards, (unsigned long long)stats.table_slots,
	    (double)stats.table_slots / N);
	for (uint64_t i = 0; i < N; i++) {
		key_of(i, key);
		memcpy(value, &i, sizeof i);
		if (ttlkv_put(s, key, sizeof key, value, sizeof value, 0) != TTLKV_OK)
			missing++;
	}
	CHECK(missing == 0);
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	CHECK(stats.entries == N);
	CHECK(stats.table_grows == 0);
	for (uint64_t i = 0; i < N; i += 7) {
		key_of(i, key);
		if (ttlkv_get(s, key, sizeof key, out, sizeof out, &n) != TTLKV_OK ||
		    memcmp(out, &i, sizeof i) != 0)
			missing++;
	}
	CHECK(missing == 0);
	printf("capacity: %u entries, %llu table grows\n", N, (unsigned long long)stats.table_grows);
	ttlkv_close(s);
	return check_exit("capacity");
}
