/*
 * Hostile keys. With a seed an attacker knows, keys can be chosen so that
 * their hashes agree in their low 20 bits: the same home slot and the same
 * first probe strides, so each new key walks past the earlier ones. The
 * test crafts 200 such keys for a fixed seed and shows that a store opened
 * with that seed needs probe sequences tens of slots long for them, then
 * that a store with its own random seed, the default, takes the same keys
 * with short probes and no resize. The seed itself never
 * leaves the store (Tests/Python checks the library exports nothing that
 * reads it).
 */
#include "check.h"
#include "ttlkv_testing.h"

#include <string.h>
#include <ttlkv.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define CRAFTED 200
#define KNOWN_SEED UINT64_C(0x5eed5eed5eed5eed)
#define COLLIDING_BITS 20

#define KEY_LEN 16

static unsigned char keys[CRAFTED][KEY_LEN];

/* Keys "user" + a counter, kept when their hash's low bits match the
 * first one's: about 2^20 hashes per key, a second or so in all. */
static void
craft(void)
{
	uint64_t target = 0, candidate = 0;
	unsigned char key[KEY_LEN] = "user";
	int found = 0;

	while (found < CRAFTED) {
		uint64_t h;

		candidate++;
		memcpy(key + 8, &candidate, sizeof candidate);
		h = XXH3_64bits_withSeed(key, KEY_LEN, KNOWN_SEED) & ((UINT64_C(1) << COLLIDING_BITS) - 1);
		if (found == 0)
			target = h;
		if (h == target)
			memcpy(keys[found++], key, KEY_LEN);
	}
}

struct outcome {
	unsigned probe_maximum;
	uint64_t grows;
};

static struct outcome
insert_all(uint64_t seed)
{
	ttlkv_options o;
	ttlkv_stats stats;
	struct outcome out;
	ttlkv *s;
	size_t n;

	ttlkv_options_init(&o);
	o.capacity = 256;
	o.shards = 1;
	o.seed = seed;
	CHECK_STATUS(ttlkv_open(&o, &s), TTLKV_OK);
	for (int i = 0; i < CRAFTED; i++)
		CHECK_STATUS(ttlkv_put(s, keys[i], KEY_LEN, "v", 1, 0), TTLKV_OK);
	for (int i = 0; i < CRAFTED; i++)
		CHECK_STATUS(ttlkv_get(s, keys[i], KEY_LEN, NULL, 0, &n), TTLKV_BUFFER_TOO_SMALL);
	CHECK_STATUS(ttlkv_stats_get(s, &stats), TTLKV_OK);
	out.probe_maximum = ttlkv_testing_probe_maximum(s);
	out.grows = stats.table_grows;
	ttlkv_close(s);
	return out;
}

int
main(void)
{
	struct outcome known, random_seed;

	craft();
	known = insert_all(KNOWN_SEED);
	random_seed = insert_all(0);
	printf("hostile: %d crafted keys: known seed -> longest probe %u, %llu table grows; "
	    "random seed -> longest probe %u, %llu grows\n", CRAFTED,
	    known.probe_maximum, (unsigned long long)known.grows,
	    random_seed.probe_maximum, (unsigned long long)random_seed.grows);
	CHECK(known.probe_maximum >= 32);
	CHECK(known.probe_maximum >= 4 * random_seed.probe_maximum);
	CHECK(random_seed.probe_maximum <= 12);
	CHECK(random_seed.grows == 0);
	return check_exit("hostile");
}
