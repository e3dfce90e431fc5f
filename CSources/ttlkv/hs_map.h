/*
 * The slot array of a ck_hs table, for the two things its API does not
 * offer: counting empty and tombstoned slots (maintenance and its tests)
 * and finding a key's home slot to prefetch it.
 *
 * ck_hs keeps its map private (struct ck_hs_map in src/ck_hs.c). The layout
 * below is Concurrency Kit 0.7.1's, the version this library is built
 * against (Debian's libck-dev). ttlkv__map_layout_ok() checks it against a
 * freshly initialised table; where the check fails, nothing that relies on
 * the mirror runs (it is never needed for correctness).
 */
#ifndef TTLKV_HS_MAP_H
#define TTLKV_HS_MAP_H

#include <ck_hs.h>
#include <stdbool.h>
#include <stdint.h>

struct ttlkv__hs_map {
	unsigned int generation[2];
	unsigned int probe_maximum;
	unsigned long mask;
	unsigned long step;
	unsigned int probe_limit;
	unsigned int tombstones;
	unsigned long n_entries;
	unsigned long capacity;
	unsigned long size;
	uint8_t *probe_bound;
	const void **entries;
};

/* ck_hs's reserved slot values. */
#define TTLKV_HS_EMPTY ((const void *)0)
#define TTLKV_HS_TOMBSTONE ((const void *)~(uintptr_t)0)

static inline const struct ttlkv__hs_map *
ttlkv__map(const ck_hs_t *hs)
{
	return (const struct ttlkv__hs_map *)(const void *)ck_pr_load_ptr(&hs->map);
}

/* True if a table just initialised for `slots` slots looks as the mirror
 * expects. */
static inline bool
ttlkv__map_layout_ok(const ck_hs_t *hs, unsigned long slots)
{
	const struct ttlkv__hs_map *m = ttlkv__map(hs);

	return m->capacity == slots && m->mask == slots - 1 && m->n_entries == 0 &&
	    m->probe_bound != NULL && m->entries != NULL &&
	    (const unsigned char *)m->entries > (const unsigned char *)m->probe_bound;
}

#endif /* TTLKV_HS_MAP_H */
