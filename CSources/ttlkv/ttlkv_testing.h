/*
 * Test-only hooks, compiled in with -DTTLKV_TESTING. Not installed, not part
 * of the API.
 */
#ifndef TTLKV_TESTING_H
#define TTLKV_TESTING_H

#include <stdint.h>
#include <time.h>

/* Lets n more allocations succeed, fails the next one, then succeeds again.
 * A negative n turns fault injection off. Process-wide. */
void ttlkv_testing_fail_allocation(long n);

/* Lets n more allocations succeed, then fails every later one (memory that
 * stays exhausted) until ttlkv_testing_fail_allocation(-1). */
void ttlkv_testing_fail_allocations_from(long n);

/* Allocations left before the armed failure; negative once it happened or
 * when none is armed (0 while failures persist). */
long ttlkv_testing_allocations_left(void);

/* Allocations the library has asked for since the process started. */
uint64_t ttlkv_testing_allocations(void);

/* Sets how many retired entries may wait for a grace period before writers
 * wait for readers (normally max(65536, capacity / 8)). */
struct ttlkv;
void ttlkv_testing_set_reclaim_cap(struct ttlkv *store, uint64_t cap);

/* Stored entries that probes have loaded to compare keys, since start. */
uint64_t ttlkv_testing_entry_loads(void);

/* The address of shard i's live table (its ck_hs map). */
const void *ttlkv_testing_table_map(struct ttlkv *store, uint32_t shard);

/* The longest probe sequence any shard's table has needed (ck_hs_stat). */
unsigned ttlkv_testing_probe_maximum(struct ttlkv *store);

/* Counts every shard's table slots by state (ck 0.7.1's map layout, see
 * hs_map.h); -1 if the layout does not match. */
int ttlkv_testing_table_shape(struct ttlkv *store, uint64_t *empty, uint64_t *tombstones,
    uint64_t *live);

/* The most retired entries the shards may keep for their writers to reuse
 * (counted in stats.deferred_frees), over all shards. */
uint64_t ttlkv_testing_reserve_limit(struct ttlkv *store);

/* Retired tables past their grace period, not yet freed, over all shards. */
uint64_t ttlkv_testing_ready_tables(struct ttlkv *store);

/* Threads waiting right now for readers to leave their sections (a
 * ttlkv_reclaim that waits, or a writer past the reclamation cap). */
unsigned ttlkv_testing_waiting_for_readers(void);

/* The most logged writes any rebuild's publish has replayed under its
 * shard's lock since the last call (which resets it). */
uint64_t ttlkv_testing_locked_replays(void);

/* The highest count of entries held against options.max_entries, over all
 * stores, since the last call (which resets it). */
uint64_t ttlkv_testing_quota_peak(void);

/* The most table slots one hold of a shard's lock in ttlkv_clear has
 * passed since the last call (which resets it). */
uint64_t ttlkv_testing_clear_hold_slots(void);

/* Whether a table rebuild is in progress (started, neither published nor
 * abandoned). */
int ttlkv_testing_rebuilding(struct ttlkv *store);

/* Epoch records in the process-wide domain, in use or free. */
unsigned ttlkv_testing_epoch_records(void);

/* Frees the blocks this thread keeps for reuse (recycle.c), so that a run
 * allocates the same way whatever ran before it on this thread. */
void ttlkv_testing_recycle_flush(void);

/* The blocks this thread keeps for reuse that an entry of key_len and
 * value_len bytes would be given. */
size_t ttlkv_testing_recycled_blocks(struct ttlkv *store, size_t key_len, size_t value_len);

/* Whether entry slabs (slab.c) serve this process's small entries. */
int ttlkv_testing_slabs(void);

/* Slab pages (slab.c) the process has cut from its range so far (pages
 * given back are cut again first): a bounded count shows that freed blocks
 * and pages are reused. */
size_t ttlkv_testing_slab_pages(void);

/* Slab pages given back to the system and not cut again yet; *ever (may
 * be NULL) receives how many were given back since the process started. */
size_t ttlkv_testing_slab_returned(size_t *ever);

/* Page returns a writer cut short by taking one of the page's blocks
 * between two runs of its unlinking (the blocks taken out went back). */
size_t ttlkv_testing_slab_returns_undone(void);

/* Called, if set, between two runs of a page's unlinking, without the
 * class's lock (a test takes blocks there as a writer would). */
extern void (*ttlkv_testing_slab_between_runs)(size_t c);

/* Treats the next entry block this thread allocates as an address that a
 * tagged slot cannot hold (ttlkv_put must then find another). */
void ttlkv_testing_refuse_next_block(void);

/* Whether this build recycles entries, and whether it tags slots: both are
 * off under AddressSanitizer (internal.h). */
int ttlkv_testing_recycling(void);
int ttlkv_testing_tagged_slots(void);

/* Stores that readers have made to entries' frequency bytes (the eviction
 * policy's hits), over all stores, since the process started. */
uint64_t ttlkv_testing_freq_stores(void);

/* The frequency (0..3) of key's entry, and its queue (0 small, 1 main), in
 * a store with a budget; -1 for both if the key has no entry. */
int ttlkv_testing_policy(struct ttlkv *store, const void *key, size_t key_len, int *queue);

/* Recounts, under each shard's lock, what the shards hold (every entry's
 * charge, each table's, each ghost's, the records in each log) and, with a
 * budget, walks the queues (every node in its queue's list, in the table,
 * small's bytes as counted). Returns the number of shards whose counts
 * differ from the recount; *used is the recount, as stats.used_bytes. */
int ttlkv_testing_holdings(struct ttlkv *store, uint64_t *used);

/* Eviction work per write since the last call (which resets them), each
 * the most of any one write: *steps, the queue heads it examined; *forced,
 * those evicted only because it had examined K = 16 already; *unforced,
 * its steps less its forced evictions and less the write's own entries it
 * met (rotated, never evicted): at most K by design. */
void ttlkv_testing_eviction_work(uint64_t *steps, uint64_t *forced, uint64_t *unforced);

/* Replaces clock_gettime for the default clock (NULL restores it), so that
 * a test can play a suspend: CLOCK_BOOTTIME moving ahead of the monotonic
 * clocks. Process-wide. */
typedef int ttlkv_testing_gettime_fn(clockid_t id, struct timespec *ts);
void ttlkv_testing_set_gettime(ttlkv_testing_gettime_fn *fn);

/* The largest capacity of one shard's record log buffers (live and spare,
 * of all three logs); *room is shard 0's room for records (log_room). */
uint64_t ttlkv_testing_log_capacity(struct ttlkv *store, uint64_t *room);

/* Narrows every key's hash to mask's bits in every store (UINT64_MAX:
 * back to normal), so that many keys share one hash, handle and shard. Set
 * it only while no store is open. */
void ttlkv_testing_hash_mask(uint64_t mask);

#endif
