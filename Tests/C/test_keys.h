/*
 * The 16-byte keys of the C suites that need many distinct keys: key i is
 * i itself followed by a multiplicative scramble of it, so that keys differ
 * in both halves and no two indices give the same key.
 */
#ifndef TTLKV_TEST_KEYS_H
#define TTLKV_TEST_KEYS_H

#include <stdint.h>
#include <string.h>

static inline void
key_of(uint64_t i, unsigned char key[16])
{
	uint64_t salt = i * 0x9e3779b97f4a7c15ull;

	memcpy(key, &i, 8);
	memcpy(key + 8, &salt, 8);
}

#endif
