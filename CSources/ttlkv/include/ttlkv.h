/*
 * ttlkv.h - a concurrent in-memory key/value store with per-key time-to-live.
 *
 * Keys and values are byte strings. Lookups take no lock: the table is a set
 * of Concurrency Kit ck_hs hash sets (one writer, many readers each), split
 * into shards that each have their own writer lock, and every entry is an
 * immutable block replaced copy-on-write and freed only after every reader
 * that could still see it has left its read section (ck_epoch).
 *
 * Concurrency, for every function below unless it says otherwise:
 *   - Any thread may call any function at any time, including threads the
 *     library has never seen before and threads that exit afterwards. The
 *     only exception is ttlkv_close, which must not overlap any other call on
 *     the same store. The library may be dlclosed: it stays mapped.
 *   - "Lock-free read" means the call takes no lock and never waits for a
 *     writer; it may run concurrently with writers on the same key. The
 *     first read on a thread allocates the thread's reader record, so a
 *     read can fail with TTLKV_OUT_OF_MEMORY.
 *   - "Shard-locked write" means the call holds the writer lock of the one
 *     shard its key hashes to, for a short time that does not depend on the
 *     store's size (the key's slot and entry are looked up as a reader
 *     first, so the lock covers cache hits); writers on other shards and all
 *     readers proceed. Two exceptions. A write of a new key into a shard
 *     whose table is half full grows that table in place, holding the lock
 *     for time proportional to the shard's size (milliseconds for millions
 *     of entries): options.capacity sizes tables so that this never happens
 *     below it, and ttlkv_maintain grows tables beside the live one before
 *     they fill. And while a reader stalls inside its read section, memory
 *     cannot be reclaimed: once more than max(65536, options.capacity / 8)
 *     retired entries, or more than 64 MiB of them (keys, values and
 *     headers), wait for readers to leave their sections (besides those a
 *     shard is still collecting, up to 64 entries or 256 KiB, or holds
 *     back for a rebuild, see ttlkv_maintain), each write that retires or
 *     removes an entry waits for them before it returns, after releasing
 *     every lock it holds. Below that cap no write waits for a reader (see
 *     ttlkv_reclaim).
 *   - Every write is linearizable: once it returns, every read that starts
 *     afterwards, on any thread, sees it.
 *   - Inside a read section (a ttlkv_read callback, or between
 *     ttlkv_read_begin and ttlkv_read_end) a thread may call the lock-free
 *     reads, ttlkv_open and ttlkv_close (which is deferred until the section
 *     ends) only. Every other call returns TTLKV_IN_READ_SECTION and does
 *     nothing: it could wait for a lock held by a thread that waits for this
 *     very reader to leave its section.
 *
 * Process-wide state the header admits: all stores share one epoch domain
 * (ck_epoch), in which each thread that has called into the library owns one
 * reader record. The record is released when the thread exits and reused by
 * later threads, so the number of records never exceeds the peak number of
 * threads alive at once (plus two per open store). A reader stalled inside a
 * read section (see ttlkv_read) delays reclamation in every store. Entry
 * blocks of up to 256 bytes come from slabs: pages of one size class cut
 * from one range of address space reserved for the process (64 GiB where
 * the address-space limit, RLIMIT_AS, allows, an eighth of that limit
 * otherwise; not committed until used), whose freed blocks serve the next
 * small entries of any store, and whose pages, once every block of one is
 * free, ttlkv_maintain gives back to the system; once a store sets
 * TTLKV_HUGE_PAGES, slab memory asks for transparent huge pages
 * (MADV_HUGEPAGE), which the system's setting grants or refuses
 * (/sys/kernel/mm/transparent_hugepage/enabled). Each thread that frees
 * entries also keeps up to 256 KiB of freed entry blocks for its own next
 * writes (so that a write rarely allocates), handed to the other threads
 * (slab blocks) or freed when the thread exits, and each shard keeps up to
 * min(2048, a quarter of its planned entries, 256 KiB) of retired entries
 * past their grace period for its writers to take as their caches run down
 * (counted in stats.deferred_frees; ttlkv_reclaim with wait_for_readers
 * frees them).
 *
 * Binary compatibility: libttlkv.so.1 exports only the TTLKV_API functions
 * below. ttlkv_options carries the size its caller was compiled with, and
 * ttlkv_stats is filled through a size, so a newer library serves a caller
 * compiled against an older header without reading or writing past its
 * structs; fields are only ever appended. The soname's number changes only
 * when that promise cannot be kept: an exported function removed or its
 * signature changed, a field moved, or a status given another meaning.
 * The library is linked -z nodelete: dlclose never unmaps it, because
 * threads that used it run its destructors when they exit.
 *
 * Time: every store reads one clock, monotonic milliseconds. The default is
 * CLOCK_BOOTTIME (it keeps counting while the machine is suspended, so a key
 * given 60 s to live is gone 60 s of real time later even if the machine
 * slept in between). Reads check deadlines against a coarse cached reading
 * that costs a few nanoseconds and lags real time by up to one kernel tick
 * (4 ms at HZ=250), and for up to a second after the machine resumes from
 * suspend by the time it slept (the cached suspend offset is re-read once a
 * second); writes compute deadlines from a precise CLOCK_BOOTTIME reading,
 * rounded up to the millisecond. So no reader ever sees a key expired before
 * its full TTL has passed, suspend or not, and a key may stay visible up to
 * one tick (plus under a millisecond of rounding) after its TTL, or, if its
 * TTL ran out while the machine slept, up to a second after the resume.
 * Tests inject their own clock through ttlkv_options; it serves both
 * purposes.
 */
#ifndef TTLKV_H
#define TTLKV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's exported functions: libttlkv is built with
 * -fvisibility=hidden, so that nothing else leaves it. */
#if defined(__GNUC__) || defined(__clang__)
#define TTLKV_API __attribute__((visibility("default")))
#else
#define TTLKV_API
#endif

/* An open store. Opaque; create with ttlkv_open, destroy with ttlkv_close. */
typedef struct ttlkv ttlkv;

/*
 * Every function that can fail returns a status; none sets errno. On any
 * status other than TTLKV_OK the store's contents (keys, values, deadlines)
 * are exactly as they were before the call; TTLKV_BUFFER_TOO_SMALL and
 * TTLKV_NOT_DUE change nothing either. Two documented exceptions remove an
 * entry that had already expired and report TTLKV_NOT_FOUND, because to a
 * reader it was already gone: ttlkv_delete and ttlkv_expire_due; and
 * ttlkv_clear, which removes entries in batches, may have removed some before
 * it fails. Internal bookkeeping (a table grown just before an insert failed,
 * the expiry-record marks of ttlkv_expire_due) may change.
 */
typedef enum ttlkv_status {
	TTLKV_OK = 0,
	TTLKV_NOT_FOUND,         /* no live entry for the key (absent or expired) */
	TTLKV_BUFFER_TOO_SMALL,  /* value did not fit; *value_len holds its size */
	TTLKV_INVALID_ARGUMENT,  /* NULL where a pointer is required, bad option */
	TTLKV_KEY_TOO_LARGE,     /* key_len > options.max_key_size */
	TTLKV_VALUE_TOO_LARGE,   /* value_len > options.max_value_size */
	TTLKV_INVALID_TTL,       /* ttl_ms > TTLKV_MAX_TTL_MS, or a deadline past
	                            TTLKV_MAX_DEADLINE_MS */
	TTLKV_FULL,              /* options.max_entries live entries already */
	TTLKV_OUT_OF_MEMORY,     /* an allocation failed */
	TTLKV_EXISTS,            /* ttlkv_put_if_absent: a live entry exists */
	TTLKV_NOT_DUE,           /* ttlkv_expire_due: the deadline is ahead */
	TTLKV_IN_READ_SECTION,   /* a locking call made inside a read section */
	TTLKV_UNSUPPORTED,       /* ttlkv_open: Concurrency Kit's table layout is
	                            not 0.7.1's, which the library reads */
	TTLKV_TOO_LARGE_FOR_BUDGET /* the write's entry (or a ttlkv_put_all's
	                            entries for one shard) can never fit in its
	                            shard's share of options.max_bytes */
} ttlkv_status;

/* Number of ttlkv_status values; every value below it has a string. */
#define TTLKV_STATUS_COUNT 14

/* "No expiry": the remaining time or deadline of a key that never expires. */
#define TTLKV_NO_EXPIRY 0xFFFFFFFFFFFFFFFFull

/* Longest TTL accepted: 100 years of milliseconds. Longer is a caller bug. */
#define TTLKV_MAX_TTL_MS 3155760000000ull

/* Latest deadline an entry holds, in store-clock milliseconds (2^44 - 1,
 * about 557 years of a clock that starts near 0, as the default one does at
 * boot): a deadline past it is TTLKV_INVALID_TTL, as an overflow is. */
#define TTLKV_MAX_DEADLINE_MS 17592186044415ull

/* Largest accepted max_key_size and max_value_size: 1 GiB. */
#define TTLKV_SIZE_LIMIT 1073741824u

/* Defaults applied by ttlkv_options_init. */
#define TTLKV_DEFAULT_CAPACITY 1024u
#define TTLKV_DEFAULT_MAX_KEY_SIZE 65536u
#define TTLKV_DEFAULT_MAX_VALUE_SIZE 67108864u

/* Largest shard count accepted. */
#define TTLKV_MAX_SHARDS 65536

/*
 * A clock: monotonic milliseconds, never decreasing. Called from any thread,
 * concurrently, inside read sections: it must not block or call into the
 * store.
 */
typedef uint64_t ttlkv_clock_fn(void *context);

/* Options flag: record (key, deadline) pairs for an expiry worker; see
 * ttlkv_drain_schedule, ttlkv_drain_expired and, with a byte budget,
 * ttlkv_drain_evicted. A program that sets it must call the drains
 * regularly: each buffer grows until it is drained (and under a budget its
 * records count against it). Off by default: without a worker nobody
 * drains them. */
#define TTLKV_TRACK_EXPIRY 1u

/* Options flag: tables of 2 MiB or more and entries on transparent huge
 * pages. At millions of keys a lookup's misses are random pages, each a TLB
 * miss on small pages; with this flag they mostly are not, and lookups run
 * faster. The cost is at first touch where a hypervisor backs guest memory
 * lazily and takes freed memory back (free page reporting): each fresh
 * huge page faults in on the host first, so opening a large store and
 * filling it the first time slow down. Entry memory is the process's (see
 * "Process-wide state"): from the first store opened with the flag, every
 * store's new entries get the advice; tables, only the flagged store's. */
#define TTLKV_HUGE_PAGES 2u

typedef struct ttlkv_options {
	/* sizeof(ttlkv_options) as the caller was compiled: ttlkv_options_init
	 * sets it. A newer library reads only the fields that fit in it and
	 * gives the others their defaults (see "Binary compatibility"). */
	uint32_t size;
	/* Number of independently locked shards, 1..TTLKV_MAX_SHARDS; 0 lets
	 * the store choose (sized so that table slots are close to 2 x
	 * capacity; with max_bytes, for the larger of capacity and max_bytes /
	 * 512 entries; see "Byte budget"). Default 0. */
	uint32_t shards;
	/* Entries to preallocate for: up to this many live entries never
	 * resize the table. Past it the table grows (readers are never
	 * blocked; see ttlkv_maintain and ttlkv_put) unless max_entries forbids
	 * it. Default 1024. */
	uint64_t capacity;
	/* Largest key and value accepted, in bytes, at most TTLKV_SIZE_LIMIT.
	 * Defaults 64 KiB and 64 MiB. */
	uint32_t max_key_size;
	uint32_t max_value_size;
	/* Flags: TTLKV_TRACK_EXPIRY, TTLKV_HUGE_PAGES. Default 0. */
	uint32_t flags;
	/* Most entries held; an insert of a new key past it returns
	 * TTLKV_FULL. Expired entries count until something removes them (the
	 * expiry worker, ttlkv_sweep, or a write to the same key), as in
	 * ttlkv_count. An insert refused with TTLKV_FULL never counts, not
	 * even for a moment: of inserts racing for the last place, only those
	 * that find it taken are refused (a ttlkv_put_all takes the places of
	 * all its new keys at once, or none, and if it then fails part-way
	 * holds them until it takes them back). 0 = unlimited. Default 0. */
	uint64_t max_entries;
	/* Hash seed; 0 = a random seed drawn from the kernel for this store
	 * (the default, and the right choice unless a test needs
	 * reproducibility). A store never reveals its seed. */
	uint64_t seed;
	/* Clock in milliseconds; NULL = the default CLOCK_BOOTTIME clock. */
	ttlkv_clock_fn *clock;
	void *clock_context;
	/* A bound on the bytes the store holds, counted by the store: 0 =
	 * unlimited (the default). See "Byte budget" above ttlkv_open. */
	uint64_t max_bytes;
	/* Which entries a write may evict under a budget: a TTLKV_EVICT_*
	 * value (see "Eviction scope" above ttlkv_open); ttlkv_set_eviction
	 * changes it later. Default TTLKV_EVICT_ALL. */
	uint32_t eviction;
} ttlkv_options;

/* Eviction scopes (options.eviction, ttlkv_set_eviction). */
#define TTLKV_EVICT_ALL 0u          /* S3-FIFO over every entry */
#define TTLKV_EVICT_VOLATILE 1u     /* S3-FIFO over entries with a deadline */
#define TTLKV_EVICT_VOLATILE_TTL 2u /* the nearest deadline of those examined */
#define TTLKV_EVICT_NONE 3u         /* only expired entries leave */

/* Statistics, read without locks; each field is exact when no write runs.
 * New fields are only ever appended. */
typedef struct ttlkv_stats {
	uint64_t entries;          /* entries held, including expired ones not yet removed */
	uint64_t bytes;            /* key + value bytes held by those entries */
	uint64_t expired;          /* entries removed because their deadline passed */
	uint64_t deferred_frees;   /* replaced or removed entries not freed yet
	                              (waiting for readers, or kept for reuse) */
	uint64_t table_slots;      /* hash table slots over all shards */
	uint64_t table_grows;      /* times a shard's table has grown since open */
	uint64_t shards;           /* shard count */
	uint64_t schedule_records; /* schedule records waiting for ttlkv_drain_schedule */
	uint64_t table_rebuilds;   /* tables rebuilt beside the live one (ttlkv_maintain) */
	uint64_t tombstones;       /* at most this many slots hold tombstones */
	uint64_t deferred_bytes;   /* the sizes of the deferred_frees entries
	                              (their keys, values and 16-byte headers) */
	uint64_t evicted;          /* entries evicted to stay within max_bytes */
	uint64_t used_bytes;       /* what the store holds, as counted against
	                              max_bytes (counted without a budget too) */
	uint64_t max_bytes;        /* options.max_bytes: 0 = unlimited */
	uint64_t evicted_records;  /* eviction records waiting for
	                              ttlkv_drain_evicted */
} ttlkv_stats;

/*
 * Fills *options with the defaults above, size included. Call it before
 * setting fields, so that fields added later get their defaults. An inline
 * wrapper, so that the size is the caller's: bindings that cannot use the
 * header call ttlkv_options_init_sized with their struct's size. Thread-safe
 * (touches only *options).
 */
TTLKV_API void ttlkv_options_init_sized(ttlkv_options *options, size_t size);
static inline void
ttlkv_options_init(ttlkv_options *options)
{
	ttlkv_options_init_sized(options, sizeof *options);
}

/*
 * Byte budget (options.max_bytes). A store with a budget is a cache: it keeps
 * what fits in max_bytes and evicts the rest.
 *
 * What counts, in stats.used_bytes (counted without a budget too): every
 * entry's block (its 16-byte header, key and value, and under a budget a
 * 16-byte queue node), at its slab block's size (blocks of up to 256 bytes,
 * in 8-byte steps) or as malloc rounds it, the live hash tables, the ghost
 * (below: about 2 bytes an entry), the records waiting in the logs of
 * ttlkv_drain_schedule, ttlkv_drain_expired and ttlkv_drain_evicted, and the
 * store's own shard structures. What does not: entries and tables retired
 * and still waiting for readers to leave their read sections
 * (stats.deferred_bytes, bounded apart: under a budget the reclamation cap
 * above is a sixteenth of max_bytes, between 1 MiB and 64 MiB), the table a
 * rebuild builds beside a live one (ttlkv_maintain), the per-thread caches
 * of freed entry blocks (at most 256 KiB a thread), the batches that
 * carry retired entries, and the record logs' buffers beyond the records
 * they hold (under a budget at most the slice each while the records fit
 * in it, plus a drained spare of at most 4 KiB a log per shard).
 *
 * Bound. Each shard holds at most its share, (max_bytes less the store's own
 * structures) / shards, so stats.used_bytes never passes max_bytes. Unless
 * options.shards is set, a store with a budget has the shards of the entries
 * its budget holds at 512 bytes each (or of its capacity, if more), at most
 * max(1, max_bytes / 256 KiB). A process that holds only the store stays at a
 * resident set of at most 1.1 x max_bytes + 16 MiB while it writes 10 x its
 * budget of random keys and values, from one thread, or from several with
 * glibc's malloc kept to one arena (MALLOC_ARENA_MAX=1): by default glibc
 * gives each writer thread an arena of its own, which keeps the memory freed
 * into it for that thread, and the resident set of a process with several
 * writers can then pass the bound. The bound holds too when its entries move
 * from one size to another (values that grow) and the old size's entries
 * leave, so long as ttlkv_maintain runs (the Swift module's expiry worker
 * calls it every tick): it gives their slab pages back. A slab page with one
 * entry still in use stays, so old-size entries that stay in use, spread
 * thinly, can keep most of their pages and the resident set past the bound.
 *
 * Writes. A write that would take its shard past its share first makes room,
 * under the shard's lock: it removes the expired entries it meets (as
 * expiries) and evicts live ones, by S3-FIFO: new keys enter a small FIFO, a
 * key read again while there moves to a main FIFO, every entry has a 2-bit
 * frequency, and a ghost remembers the fingerprints of keys recently evicted
 * from the small FIFO, deleted or expired, so that such a key set again goes
 * straight to main (Benchmarks/Eviction/README.md). The work is bounded: a
 * write examines at most 16 entries it keeps; every entry it examines after
 * those leaves, so it examines at most 16 plus those that must leave for it
 * to fit (plus, for ttlkv_put_all, its own it meets). Every write that can
 * fail evicts nothing when it fails. An entry larger than its shard's share
 * less the shard's table and ghost can never fit: TTLKV_TOO_LARGE_FOR_BUDGET,
 * and nothing changes (with TTLKV_TRACK_EXPIRY, less the slice for records
 * below too). With TTLKV_TRACK_EXPIRY, records waiting to be drained count
 * too, in a slice of each shard's share kept for them (a sixty-fourth, at
 * least 8 KiB, at most a sixteenth; charged whether or not they fill it,
 * their buffers grown to at most that slice while they fit in it), so records
 * never displace entries: a write that would have to evict while its shard's
 * records fill more than half their slice, and whose records would pass it,
 * gets TTLKV_OUT_OF_MEMORY, evicts nothing and changes nothing (drain the
 * logs; ttlkv_drain_wanted says when they pass half their slice, and again
 * after such a refusal); a write while they fill at most half may pass it
 * with its own evictions' records, which entries then pay for (so a value so
 * large that the records of the small entries it must evict would outgrow
 * what is left is refused TTLKV_OUT_OF_MEMORY however often the logs are
 * drained). Each item of ttlkv_put_many is such a write. ttlkv_update evicts
 * for a value that grows, never the key it updates. ttlkv_put_all makes room
 * for all its pairs at once, never by evicting one of its own keys, and
 * refuses with TTLKV_TOO_LARGE_FOR_BUDGET pairs of one shard that cannot fit
 * in its share together. Every eviction counts in stats.evicted and, with
 * TTLKV_TRACK_EXPIRY, is reported once by ttlkv_drain_evicted.
 * options.max_entries still applies (TTLKV_FULL).
 *
 * Reads. A read of a value (ttlkv_get, ttlkv_read, ttlkv_read_begin,
 * ttlkv_get_many, ttlkv_read_many) is a hit for the policy: it still takes
 * no lock, and it stores to the entry's frequency byte only while that is
 * below 3, so an entry read three times is only read after that. ttlkv_ttl
 * and ttlkv_scan are not hits.
 *
 * Without a budget none of this runs: entries carry no node, nothing is
 * evicted, and reads store nothing.
 *
 * Eviction scope (options.eviction, the Redis maxmemory-policy families).
 * TTLKV_EVICT_ALL is the above. The others restrict which live entries may
 * leave; expired entries a write meets always do. TTLKV_EVICT_VOLATILE runs
 * S3-FIFO over entries with a deadline only: an entry without one that the
 * write meets at a queue head is kept (moved to the main queue's tail).
 * TTLKV_EVICT_NONE evicts nothing live. TTLKV_EVICT_VOLATILE_TTL, for each
 * entry it must evict, examines up to 8 entries with a deadline at the head
 * of each queue and evicts the one whose deadline is nearest, moving those
 * without a deadline that it meets to main's tail so that later writes
 * examine others (an approximation by sampling, as Redis's volatile-ttl
 * is). Under the restricted scopes a write that has met 64 live entries it
 * may not evict without making room gives up: TTLKV_OUT_OF_MEMORY, nothing
 * evicted, as when nothing else is left. So a run of more than 64 such
 * entries at a queue's head can refuse a write or two even though entries
 * the scope may evict lie behind it; each refused write moves the run.
 */

/*
 * Opens a store, preallocating its table for options->capacity entries
 * (options NULL = defaults). On TTLKV_OK, *store is the new store; on failure
 * *store is set to NULL. TTLKV_INVALID_ARGUMENT for store == NULL or an
 * option out of range, or a max_bytes that the empty store's own structures
 * (tables sized for options.capacity) leave no room in; TTLKV_OUT_OF_MEMORY
 * if preallocation fails;
 * TTLKV_UNSUPPORTED if the installed Concurrency Kit lays its tables out
 * differently from 0.7.1, which the library reads for its scans.
 * Thread-safe: opening stores concurrently is fine.
 */
TTLKV_API ttlkv_status ttlkv_open(const ttlkv_options *options, ttlkv **store);

/*
 * Sets the store's eviction scope (a TTLKV_EVICT_* value; see "Eviction
 * scope"): writes that start afterwards use it. Without a budget it is kept
 * and changes nothing. TTLKV_INVALID_ARGUMENT for a NULL store or an
 * unknown scope. Thread-safe, lock-free (one atomic store).
 */
TTLKV_API ttlkv_status ttlkv_set_eviction(ttlkv *store, uint32_t scope);

/*
 * Frees the store and every entry in it, including deferred frees. NULL is a
 * no-op. Must not overlap any other call on this store, and the store must
 * not be used after it. Waits for readers of other stores to leave their
 * read sections (the epoch domain is shared). Called inside a read section
 * of this thread (a ttlkv_read callback, between ttlkv_read_begin and
 * ttlkv_read_end, or a language binding's destructor running there), it
 * only marks the store, which is freed when this thread's outermost section
 * ends: a value the thread is reading, of this store or another, stays
 * valid until then.
 */
TTLKV_API void ttlkv_close(ttlkv *store);

/*
 * Stores value under key, replacing any previous value, with a time to live
 * of ttl_ms milliseconds (0 = no expiry). Key and value are copied. NULL key
 * or value is allowed only with length 0. Errors: TTLKV_INVALID_ARGUMENT,
 * TTLKV_KEY_TOO_LARGE, TTLKV_VALUE_TOO_LARGE, TTLKV_INVALID_TTL, TTLKV_FULL
 * (new key only), TTLKV_TOO_LARGE_FOR_BUDGET, TTLKV_OUT_OF_MEMORY; on error
 * the old value survives. Under a budget it may evict other keys (see "Byte
 * budget"). Shard-locked write; the copy is made before the lock is taken.
 */
TTLKV_API ttlkv_status ttlkv_put(ttlkv *store, const void *key, size_t key_len,
    const void *value, size_t value_len, uint64_t ttl_ms);

/*
 * Like ttlkv_put, but stores only if the key has no live entry (an expired
 * entry counts as absent and is replaced); otherwise TTLKV_EXISTS.
 * Shard-locked write.
 */
TTLKV_API ttlkv_status ttlkv_put_if_absent(ttlkv *store, const void *key, size_t key_len,
    const void *value, size_t value_len, uint64_t ttl_ms);

/*
 * Copies the live value of key into buffer. On TTLKV_OK and on
 * TTLKV_BUFFER_TOO_SMALL (buffer_len < value size; buffer untouched),
 * *value_len is the value's size. buffer may be NULL when buffer_len is 0,
 * which asks for the size only. TTLKV_NOT_FOUND if absent or expired, even
 * when nothing has removed the expired entry yet.
 * Lock-free read.
 */
TTLKV_API ttlkv_status ttlkv_get(ttlkv *store, const void *key, size_t key_len,
    void *buffer, size_t buffer_len, size_t *value_len);

/*
 * Zero-copy read: calls fn(value, value_len, context) with the live value of
 * key, inside the read section, and returns TTLKV_OK; TTLKV_NOT_FOUND without
 * calling fn if absent or expired. The value pointer is valid only during the
 * call. fn must be short and must not block, wait for another thread, or call
 * a writing function of any store (those return TTLKV_IN_READ_SECTION;
 * reading is fine): a reader inside fn delays memory reclamation in every
 * store. Lock-free read.
 */
typedef void ttlkv_read_fn(const void *value, size_t value_len, void *context);
TTLKV_API ttlkv_status ttlkv_read(ttlkv *store, const void *key, size_t key_len,
    ttlkv_read_fn *fn, void *context);

/*
 * Zero-copy read for language bindings that cannot pass a callback cheaply
 * (Swift, Rust guards): on TTLKV_OK, *value and *value_len describe the live
 * value of key, and the calling thread stays inside its read section until
 * it calls ttlkv_read_end(); the value is valid until then. On any other
 * status nothing is held and ttlkv_read_end() must not be called. Between
 * the two calls the same rules as in a ttlkv_read callback apply: be short,
 * do not block, do not write to any store, stay on the same thread. Pairs
 * may nest. Lock-free read.
 *
 * ttlkv_read_end ends the innermost section this thread opened with
 * ttlkv_read_begin and returns TTLKV_OK; if there is none (an unmatched
 * call, or one made from a ttlkv_read callback, whose section belongs to the
 * library) it does nothing and returns TTLKV_INVALID_ARGUMENT.
 */
TTLKV_API ttlkv_status ttlkv_read_begin(ttlkv *store, const void *key, size_t key_len,
    const void **value, size_t *value_len);
TTLKV_API ttlkv_status ttlkv_read_end(void);

/* One key of a batch. */
typedef struct ttlkv_key {
	const void *data;
	size_t len;
} ttlkv_key;

/*
 * Looks up keys[0..count) together, overlapping their memory accesses. For
 * each i, statuses[i] is what ttlkv_get would have returned for keys[i] with
 * buffers[i] and buffer_lens[i], and value_lens[i] is set as ttlkv_get sets
 * *value_len. Returns TTLKV_OK when the batch ran (the per-key results are
 * in statuses), or an error for the whole call with nothing written:
 * TTLKV_INVALID_ARGUMENT (NULL store, or arrays with count > 0) or
 * TTLKV_OUT_OF_MEMORY (a thread's first read, if its reader record cannot be
 * allocated). The same key may appear several times. The batch runs in read
 * sections of up to 64 keys, so a batch of any size holds reclamation up no
 * longer than 64 lookups do; a write or an expiry that lands while it runs
 * may be seen by some of the batch's lookups of a key and not by earlier
 * ones, exactly as with a loop of ttlkv_get. Lock-free read.
 */
TTLKV_API ttlkv_status ttlkv_get_many(ttlkv *store, const ttlkv_key *keys, size_t count,
    void *const *buffers, const size_t *buffer_lens, size_t *value_lens,
    ttlkv_status *statuses);

/*
 * Zero-copy batch: calls fn(index, value, value_len, context) for every live
 * key, inside one read section (the same rules as a ttlkv_read callback), in
 * key order, and sets statuses[i] for every key (TTLKV_OK for those fn saw).
 * Every value stays valid until the call returns. A key that expires while
 * the batch runs (fn takes time) is not seen live by later lookups of it.
 * The section spans the whole batch and holds reclamation up until it ends,
 * as a ttlkv_read callback does: keep batches and callbacks short (the
 * Swift layer calls it 64 keys at a time). Errors for the whole call as
 * ttlkv_get_many, or a NULL fn. Lock-free read.
 */
typedef void ttlkv_read_many_fn(size_t index, const void *value, size_t value_len,
    void *context);
TTLKV_API ttlkv_status ttlkv_read_many(ttlkv *store, const ttlkv_key *keys, size_t count,
    ttlkv_read_many_fn *fn, void *context, ttlkv_status *statuses);

/*
 * Removes keys[0..count): statuses[i] is what ttlkv_delete would have
 * returned for keys[i] (a key given twice is removed once and then not
 * found). Keys are taken 64 at a time, looked up together as a reader and
 * then removed under one hold of each shard's lock per 64 keys. Errors for
 * the whole call: TTLKV_INVALID_ARGUMENT (NULL store, or arrays with count >
 * 0), TTLKV_IN_READ_SECTION, and TTLKV_OUT_OF_MEMORY from a thread's first
 * call (its reader record), with nothing removed. Shard-locked writes.
 */
TTLKV_API ttlkv_status ttlkv_delete_many(ttlkv *store, const ttlkv_key *keys, size_t count,
    ttlkv_status *statuses);

/*
 * Removes key. TTLKV_NOT_FOUND if there was no live entry (an expired entry
 * is still removed, and counted as expired). Shard-locked write.
 */
TTLKV_API ttlkv_status ttlkv_delete(ttlkv *store, const void *key, size_t key_len);

/*
 * Remaining time to live of key in milliseconds (at least 1), or
 * TTLKV_NO_EXPIRY if the key never expires. TTLKV_NOT_FOUND if absent or
 * expired. Lock-free read.
 */
TTLKV_API ttlkv_status ttlkv_ttl(ttlkv *store, const void *key, size_t key_len,
    uint64_t *remaining_ms);

/*
 * Sets the time to live of an existing live key without rewriting its value:
 * ttl_ms from now, or 0 = no expiry (the same convention as ttlkv_put). The
 * value is untouched and nothing is allocated, except one schedule record
 * when TTLKV_TRACK_EXPIRY is on and the new deadline is earlier than any
 * pending; under a budget that record needs room as a write's records do
 * (it may evict other entries, and is refused with TTLKV_OUT_OF_MEMORY,
 * nothing changed, while the records fill their slice: see "Budget").
 * TTLKV_NOT_FOUND if absent or expired; TTLKV_INVALID_TTL.
 * Shard-locked write.
 */
TTLKV_API ttlkv_status ttlkv_set_ttl(ttlkv *store, const void *key, size_t key_len,
    uint64_t ttl_ms);

/*
 * Read-modify-write of one key, atomic with respect to every other write:
 * ttlkv_update calls fn with the key's live value and deadline under the
 * key's shard lock, and applies what fn returns before anyone else can
 * write the key. Enough for counters (INCR), appends, conditional sets and
 * conditional expiry changes.
 *
 * fn reads state->found, value, value_len, deadline_ms and now_ms (the
 * store clock, the time base of every deadline), and returns:
 *   TTLKV_UPDATE_KEEP          change nothing;
 *   TTLKV_UPDATE_REPLACE       store the state->new_len bytes fn wrote to
 *                              state->buffer, with state->new_deadline_ms;
 *   TTLKV_UPDATE_SET_DEADLINE  keep the value, set state->new_deadline_ms
 *                              (only when found; else TTLKV_INVALID_ARGUMENT);
 *   TTLKV_UPDATE_DELETE        remove the key (nothing if not found).
 * Deadlines are absolute store-clock milliseconds, TTLKV_NO_EXPIRY for
 * none; new_deadline_ms starts as the current deadline. A new deadline at
 * or before now_ms removes the key, as if it had expired. The value pointer
 * is valid only during the call.
 *
 * Memory: the new entry is allocated before the lock is taken, with room
 * for size_hint value bytes (0: none until fn asks). If fn returns
 * TTLKV_UPDATE_REPLACE with new_len > buffer_len, nothing is applied: the
 * lock is dropped, an entry with room for new_len bytes (or a little more)
 * is allocated, and fn is called again, on the value as it is then. fn must
 * therefore be ready to run more than once and base every decision on the
 * state it is given; only its last call counts. Pass the expected size as
 * size_hint to make a second call rare.
 *
 * Returns TTLKV_OK once fn's decision is applied (KEEP included). Errors:
 * TTLKV_INVALID_ARGUMENT (NULL store or fn, NULL key with a length),
 * TTLKV_KEY_TOO_LARGE, TTLKV_VALUE_TOO_LARGE (new_len over max_value_size),
 * TTLKV_INVALID_TTL (a new deadline more than TTLKV_MAX_TTL_MS ahead of
 * ttlkv_now),
 * TTLKV_FULL (REPLACE of an absent key at max_entries),
 * TTLKV_TOO_LARGE_FOR_BUDGET (a REPLACE that cannot fit, see "Byte budget"),
 * TTLKV_OUT_OF_MEMORY, TTLKV_IN_READ_SECTION; on every error the store is
 * unchanged (fn may have run: trust its outputs only on TTLKV_OK). A
 * REPLACE under a budget may evict other keys, never this one.
 *
 * Shard-locked write. fn runs under the shard lock: it must be short, must
 * not block, and must not call into any store (a call on the same shard
 * would deadlock).
 */
typedef enum ttlkv_update_action {
	TTLKV_UPDATE_KEEP = 0,
	TTLKV_UPDATE_REPLACE,
	TTLKV_UPDATE_SET_DEADLINE,
	TTLKV_UPDATE_DELETE
} ttlkv_update_action;

typedef struct ttlkv_update_state {
	/* The key as it is: found = 0 if absent or expired (value NULL). */
	int found;
	const void *value;
	size_t value_len;
	uint64_t deadline_ms;      /* TTLKV_NO_EXPIRY if none */
	uint64_t now_ms;
	/* Room for a replacement value, written by fn. */
	void *buffer;
	size_t buffer_len;
	/* fn's decision for REPLACE and SET_DEADLINE. */
	size_t new_len;
	uint64_t new_deadline_ms;
} ttlkv_update_state;

typedef ttlkv_update_action ttlkv_update_fn(ttlkv_update_state *state, void *context);

TTLKV_API ttlkv_status ttlkv_update(ttlkv *store, const void *key, size_t key_len,
    size_t size_hint, ttlkv_update_fn *fn, void *context);

/*
 * Stores several pairs as one write (Redis MSET, MSETNX): no other write
 * runs between the first and the last, and either every pair is stored or
 * none is. With TTLKV_PUT_IF_NONE_EXIST nothing is stored, and TTLKV_EXISTS
 * returned, if any key has a live entry. The values never expire: every
 * item's ttl_ms must be 0 (TTLKV_INVALID_TTL otherwise). A key given twice
 * takes its last value. Errors as ttlkv_put, for any pair, and
 * TTLKV_TOO_LARGE_FOR_BUDGET when the pairs of one shard cannot fit in its
 * share together; on error the store is unchanged: an expired entry the
 * write would have replaced is still held, neither counted in stats.expired
 * nor logged for ttlkv_drain_expired, and nothing is evicted. Under a
 * budget it evicts for all its pairs at once, never one of its keys. For a
 * batch of independent writes, with TTLs, see ttlkv_put_many.
 *
 * Concurrency: takes the lock of every shard the keys hash to, in shard
 * order (so that two calls of ttlkv_put_all cannot deadlock), for a time
 * proportional to n. Readers are not blocked, so a reader looking at
 * several keys while the write runs may see some new values and not yet
 * the others, and if the write fails part-way through (ck_hs out of memory
 * for a new key) it may briefly see a new key that is then taken back. Every write that
 * starts after it returns sees all of it.
 */
typedef struct ttlkv_item {
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	uint64_t ttl_ms;  /* as ttlkv_put's; 0 = no expiry */
} ttlkv_item;

#define TTLKV_PUT_IF_NONE_EXIST 1u

TTLKV_API ttlkv_status ttlkv_put_all(ttlkv *store, const ttlkv_item *items, size_t n,
    unsigned flags);

/*
 * A batch of independent puts: statuses[i] is what ttlkv_put would have
 * returned for items[i] (a key given twice is written twice, in order). The
 * entries are built and their keys looked up together, outside any lock,
 * 64 at a time; then each shard's items of the 64 are written under one
 * hold of its lock. Errors for the whole call, with nothing written:
 * TTLKV_INVALID_ARGUMENT (NULL store, or arrays with count > 0),
 * TTLKV_IN_READ_SECTION, and TTLKV_OUT_OF_MEMORY (from a thread's first
 * call, if its reader record cannot be allocated). Shard-locked writes.
 */
TTLKV_API ttlkv_status ttlkv_put_many(ttlkv *store, const ttlkv_item *items, size_t count,
    ttlkv_status *statuses);

/*
 * Entries held, including expired entries not yet removed (each shard's
 * count is exact; the sum is a snapshot). Lock-free read.
 */
TTLKV_API uint64_t ttlkv_count(ttlkv *store);

/*
 * Fills *stats. An inline wrapper over ttlkv_stats_get_sized, which writes
 * at most size bytes (the fields that fit, so that a newer library never
 * writes past an older caller's struct). TTLKV_INVALID_ARGUMENT for NULL or
 * a size smaller than the first published ttlkv_stats. Lock-free read.
 */
TTLKV_API ttlkv_status ttlkv_stats_get_sized(ttlkv *store, ttlkv_stats *stats, size_t size);
static inline ttlkv_status
ttlkv_stats_get(ttlkv *store, ttlkv_stats *stats)
{
	return ttlkv_stats_get_sized(store, stats, sizeof *stats);
}

/*
 * The store's clock, in milliseconds: the time base of every deadline. The
 * default clock is read precisely here and by ttlkv_expire_due (an expiry
 * worker's time), while reads compare deadlines with a cheaper reading that
 * may lag it by a few milliseconds: a key is never seen expired before its
 * deadline, and may be seen live up to that lag after it. Lock-free read.
 */
TTLKV_API uint64_t ttlkv_now(ttlkv *store);

/*
 * Incremental sweep for programs that run no expiry worker: visits up to
 * max_slots table slots (at most one full pass per call), continuing where
 * the previous sweep stopped and wrapping around, and removes the expired
 * entries it finds (counted in stats.expired). *removed (may be NULL)
 * receives how many it removed. When it finishes a shard it also hands that
 * shard's retired entries to reclamation and frees those that are ready,
 * past the few thousand a shard keeps for its writers to reuse.
 * Scans without a lock; takes a shard's writer lock only to remove up to 64
 * expired keys at a time. Calls are serialized with one another. Past the
 * reclamation cap it waits for readers as a write does, holding no lock.
 */
TTLKV_API ttlkv_status ttlkv_sweep(ttlkv *store, size_t max_slots, size_t *removed);

/*
 * Table maintenance, for long-lived stores. Removing a key leaves a
 * tombstone in its table slot, and under steady expiry churn tombstones
 * would replace the empty slots that end unsuccessful lookups early. This
 * call rebuilds a shard's table beside the live one by the time removals
 * since its last rebuild reach half its slots (one shard at a time, spread
 * out: the most worn shard goes early once the store as a whole is about a
 * quarter worn, so that uniform churn does not bring every shard due at
 * once), and grows a shard (to twice its slots)
 * once it holds more than its share of options.capacity and 3/8 of its
 * slots, before a writer would have to grow it in place (see ttlkv_put).
 * It does up to max_slots slots of work (copying slots, replaying the
 * writes made meanwhile) and resumes where it stopped at the next call, so
 * a worker can call it every tick with a small budget. *rebuilt (may be
 * NULL) receives the number of rebuilds completed by this call. Each call
 * first frees, one unit of max_slots each, the retired entries and tables
 * past their grace period beyond what each shard keeps for its writers to
 * reuse: a store whose only writes are an expiry worker's removals (which
 * free nothing themselves) gets the memory of what expired back this way.
 * Last, with a budget of max_slots blocks of its own, it gives slab pages
 * whose every block is free (of any store of the process) back to the
 * system, from size classes that have more free than they keep for their
 * writers (a sixteenth of their pages, at least 256 KiB); where huge pages
 * may back them (TTLKV_HUGE_PAGES, or the system's THP setting "always"),
 * only 2 MiB at a time, once a whole huge page's worth is free. A call that
 * finds another doing this skips it.
 *
 * The expiry worker of the Swift module calls it every tick; ttlkv_sweep
 * calls it too. A program that calls neither should call it periodically
 * (say every few milliseconds with max_slots 65536): without it inserts stay
 * fast, but lookups of absent keys slowly lengthen as tombstones build up.
 *
 * Readers are never blocked. A shard's writer lock is taken only to start a
 * rebuild and to publish it, each for a time bounded by 64 logged writes,
 * not by the shard's size or its writers' speed: a publish that finds more
 * left (writers log on while it waits for the lock) releases the lock,
 * replays them without it and tries again, and abandons the rebuild after
 * 16 tries. In between, writers of the shard log their changes, and their
 * retired entries wait until the rebuild ends: up to max(1024, slots / 4)
 * entries and max(1 MiB, 32 bytes per slot) of them beside the batch being
 * filled, past which the rebuild is abandoned. An abandoned rebuild is
 * started again by a later call. Calls are serialized with one another.
 */
TTLKV_API ttlkv_status ttlkv_maintain(ttlkv *store, size_t max_slots, size_t *rebuilt);

/*
 * A resumable traversal of the live keys, for iteration and for Redis's SCAN.
 * *cursor is 0 to begin, or the value a previous call left there; the call
 * visits table slots from there on, calls fn(key, key_len, deadline_ms,
 * context) for each live entry it finds (deadline_ms is TTLKV_NO_EXPIRY for
 * a key that never expires), stops once it has passed `count` slots, empty
 * or not (0 counts as 1: the time a call takes is bounded by count, not by
 * the table's emptiness, so a caller that wants about n keys asks for a few
 * times n slots), and stores where to go on in *cursor: 0 once the
 * traversal is complete.
 * Guarantees, as for Redis's SCAN: a key that is live and not written from
 * the first call to the last is reported at least once; a key may be reported
 * twice when its shard's table grows or is rebuilt during the traversal, and
 * a key written during the traversal may be missed (a write can move it to an
 * earlier slot).
 * No expired key is ever reported: each key's deadline is checked against
 * the clock when the traversal reaches it, after the previous call of fn
 * has returned, so a key that expires while fn runs is not reported after.
 * The cursor is only meaningful for this store: TTLKV_INVALID_ARGUMENT for
 * one that names no shard of it.
 * Lock-free read: fn runs inside the read section, under the same rules as a
 * ttlkv_read callback (short, no blocking, no writes).
 */
typedef void ttlkv_scan_fn(const void *key, size_t key_len, uint64_t deadline_ms,
    void *context);
TTLKV_API ttlkv_status ttlkv_scan(ttlkv *store, uint64_t *cursor, size_t count,
    ttlkv_scan_fn *fn, void *context);

/*
 * Removes every entry. Entries whose deadline had passed count in
 * stats.expired and, with TTLKV_TRACK_EXPIRY, go to the expired log (see
 * ttlkv_drain_expired), as for any other removal of an expired entry. Not
 * atomic: writes that run meanwhile may leave entries behind, and on
 * TTLKV_OUT_OF_MEMORY some entries may already be gone (call it again).
 * Shard-locked writes: takes each shard's lock in turn, for at most 64
 * removals and 4,096 table slots at a time.
 */
TTLKV_API ttlkv_status ttlkv_clear(ttlkv *store);

/*
 * Hands every retired entry to reclamation and frees those that no reader
 * can still see. With wait_for_readers nonzero it first completes a table
 * rebuild in progress (see ttlkv_maintain; its shard holds retired entries
 * back until it ends) and waits for readers currently inside a read section
 * to leave it, then frees everything, the entries each shard keeps for its
 * writers to reuse included, so that afterwards stats.deferred_frees is 0
 * unless writers ran meanwhile. With 0 it never waits and frees what is
 * ready now past those kept entries (for periodic maintenance: writes take
 * a retired entry's block only as their thread's cache has room, so that a
 * burst of frees after a stalled reader is not handed back to malloc just
 * before the next stall needs it). Takes each shard's lock in turn, briefly,
 * and never holds a lock while it waits: writers, and calls without
 * waiting, go on while a call with wait_for_readers waits for a stalled
 * reader.
 */
TTLKV_API ttlkv_status ttlkv_reclaim(ttlkv *store, int wait_for_readers);

/*
 * The expiry worker's primitive. Removes key if its deadline has passed, and
 * returns TTLKV_OK with *deadline_ms set to that deadline. If it has a
 * deadline still ahead, returns TTLKV_NOT_DUE and sets *deadline_ms to it;
 * if it never expires, TTLKV_NOT_DUE with *deadline_ms = TTLKV_NO_EXPIRY.
 * TTLKV_NOT_FOUND if absent. A removal frees no memory by itself (an expiry
 * worker must not pay for frees in the middle of a mass expiry): the entry
 * is freed later by writes to its shard, ttlkv_maintain, ttlkv_sweep or
 * ttlkv_reclaim.
 *
 * scheduled_ms: 0, or the deadline of the schedule record (from
 * ttlkv_drain_schedule) being fired. With a record, the call also keeps the
 * store's bookkeeping of pending records: TTLKV_NOT_DUE with a deadline tells
 * the caller to keep the record, rescheduled at *deadline_ms; TTLKV_NOT_FOUND
 * also covers "another pending record is responsible for this key" and "the
 * key no longer expires" (drop the record). TTLKV_OUT_OF_MEMORY changes
 * nothing: keep the record and try again later.
 * Shard-locked write.
 */
TTLKV_API ttlkv_status ttlkv_expire_due(ttlkv *store, const void *key, size_t key_len,
    uint64_t scheduled_ms, uint64_t *deadline_ms);

/*
 * ttlkv_expire_due for keys[0..count) (scheduled_ms may be NULL: all 0):
 * statuses[i] and deadlines_ms[i] are what ttlkv_expire_due would have
 * returned and set for keys[i], and keys are taken in chunks of 64, looked
 * up together and removed under one hold of each shard's lock, as in
 * ttlkv_delete_many, whose whole-call errors it shares (or NULL
 * deadlines_ms with count > 0). For an expiry worker removing many due
 * keys at once. Shard-locked writes.
 */
TTLKV_API ttlkv_status ttlkv_expire_due_many(ttlkv *store, const ttlkv_key *keys,
    const uint64_t *scheduled_ms, size_t count, uint64_t *deadlines_ms,
    ttlkv_status *statuses);

/*
 * A key's handle in this store: a 64-bit name for it (its hash under the
 * store's random seed) that an expiry worker can keep instead of a copy of
 * the key, and give to ttlkv_expire_handles. Two keys share a handle with
 * probability 2^-64 per pair; the seed is the store's own, so a handle means
 * nothing to another store or process, and no one without the seed can make
 * keys that share one. 0 for a NULL store, or a NULL key with key_len > 0.
 * Lock-free and pure: no allocation, no clock.
 */
TTLKV_API uint64_t ttlkv_key_handle(const ttlkv *store, const void *key, size_t key_len);

/*
 * The shard (0 .. ttlkv_stats.shards - 1) that holds the key whose handle
 * (ttlkv_key_handle) this is, for a caller that spreads writes over
 * threads by shard, as a snapshot's load does, so that its threads do not
 * meet at shard locks. 0 for a NULL store. Lock-free and pure.
 */
TTLKV_API uint32_t ttlkv_handle_shard(const ttlkv *store, uint64_t handle);

/*
 * ttlkv_expire_due_many for records that name their key by handle
 * (ttlkv_key_handle of the key a ttlkv_drain_schedule record gave), so that
 * an expiry worker's pending records cost 16 bytes each (handle, deadline)
 * whatever the key's length. scheduled_ms[i], the record's deadline, is
 * required (nonzero): the entry whose key has handle handles[i] is judged
 * as ttlkv_expire_due judges it for that record, and statuses[i] and
 * deadlines_ms[i] are set as there. For every entry it removes it calls
 * removed(i, key, key_len, deadline_ms, context) (removed may be NULL; the
 * deadline is the entry's, as in deadlines_ms[i]), with the shard's
 * lock held and before the entry can be freed: copy the key there if you
 * report it; removed must not call into the store. If live keys share a
 * handle (see ttlkv_key_handle), a record judges the one whose pending
 * record it is, or else one that is due, so each due key is still removed
 * once, by its own record or another's. Errors as
 * ttlkv_expire_due_many's, and TTLKV_INVALID_ARGUMENT for NULL handles or
 * scheduled_ms with count > 0, or a 0 in scheduled_ms (nothing is done).
 * Shard-locked writes.
 */
typedef void ttlkv_expired_fn(size_t index, const void *key, size_t key_len,
    uint64_t deadline_ms, void *context);
TTLKV_API ttlkv_status ttlkv_expire_handles(ttlkv *store, const uint64_t *handles,
    const uint64_t *scheduled_ms, size_t count, uint64_t *deadlines_ms,
    ttlkv_status *statuses, ttlkv_expired_fn *removed, void *context);

/*
 * With TTLKV_TRACK_EXPIRY, a write that gives a key a deadline earlier than
 * the key's pending schedule record (or the key's first deadline) appends a
 * schedule record (key, deadline) to its shard's schedule; so a key
 * overwritten many times keeps about one pending record. This call takes
 * every record from the schedule and calls fn(key, key_len, deadline_ms,
 * context) for each, outside the shard locks; fn may call into the store,
 * except ttlkv_drain_schedule and ttlkv_drain_expired (which would wait for
 * themselves). *taken (may be NULL) is the number of records. The two drains
 * are serialized with one another; writers are blocked only while a shard's
 * buffer is swapped.
 */
typedef void ttlkv_schedule_fn(const void *key, size_t key_len,
    uint64_t deadline_ms, void *context);
TTLKV_API ttlkv_status ttlkv_drain_schedule(ttlkv *store, ttlkv_schedule_fn *fn,
    void *context, size_t *taken);

/*
 * The other half of expiry reporting: with TTLKV_TRACK_EXPIRY, every removal
 * of an expired entry other than by ttlkv_expire_due (a put or
 * put-if-absent replacing it, ttlkv_delete, ttlkv_sweep, ttlkv_clear)
 * appends (key, deadline) to its shard's expired log, so that an expiry
 * worker can report every expiry that stats.expired counts exactly once:
 * those it removed itself, and these. The space is reserved before the write
 * changes anything, so a write that could not record its expiry fails with
 * TTLKV_OUT_OF_MEMORY instead of losing it (ttlkv_sweep leaves such a key for
 * a later pass). This call takes every record from the log and calls
 * fn(key, key_len, deadline_ms, context) for each, outside the shard locks,
 * with the same rules and serialization as ttlkv_drain_schedule; *taken (may
 * be NULL) is the number of records.
 */
TTLKV_API ttlkv_status ttlkv_drain_expired(ttlkv *store, ttlkv_schedule_fn *fn,
    void *context, size_t *taken);

/*
 * Evictions, reported as expiries are: with TTLKV_TRACK_EXPIRY and a budget,
 * every entry evicted to keep within options.max_bytes appends (key,
 * deadline) to its shard's eviction log (deadline TTLKV_NO_EXPIRY for a key
 * that had none), exactly once per eviction (stats.evicted counts them).
 * The room is reserved before the write that evicts changes anything, so a
 * write that could not record its evictions fails with TTLKV_OUT_OF_MEMORY
 * instead of losing one, and evicts nothing. This call takes every record
 * from the log and calls fn(key, key_len, deadline_ms, context) for each,
 * outside the shard locks, with the same rules and serialization as
 * ttlkv_drain_schedule and ttlkv_drain_expired; *taken (may be NULL) is the
 * number of records.
 */
TTLKV_API ttlkv_status ttlkv_drain_evicted(ttlkv *store, ttlkv_schedule_fn *fn,
    void *context, size_t *taken);

/*
 * Whether the records waiting in some shard's logs have passed half the
 * room they may hold under a byte budget with TTLKV_TRACK_EXPIRY (see "Byte
 * budget"): nonzero once per such crossing, for the caller to run
 * ttlkv_drain_evicted, ttlkv_drain_schedule and ttlkv_drain_expired soon,
 * before writes that must evict are refused. Clears the flag it reports. A
 * writer sets it after appending a record, with no ordering against other
 * memory: call it after a write, from any thread, at any time (lock-free,
 * one load when it is clear); NULL gives 0. Always 0 without a
 * budget or without TTLKV_TRACK_EXPIRY.
 */
TTLKV_API int ttlkv_drain_wanted(ttlkv *store);

/*
 * A short English description of status, e.g. "key not found". Never NULL;
 * unknown values give "unknown status". Thread-safe.
 */
TTLKV_API const char *ttlkv_status_string(ttlkv_status status);

/*
 * Several keys read and written as one step (Redis RENAME, COPY, MULTI /
 * EXEC): ttlkv_lock_keys takes the writer lock of every shard that
 * keys[0..n) hash to (with TTLKV_LOCK_ALL_SHARDS, of every shard; keys may
 * then be NULL), calls fn(held, context), releases the locks and returns
 * what fn returned. Inside fn, on this thread, the keys of the held shards
 * may be written with ttlkv_locked_update and ttlkv_locked_put_all, and
 * every key read with the lock-free reads, which see the writes made so
 * far. No other write to a held shard runs between fn's first write and its
 * last, so a read of a key inside fn followed by a write of it is atomic,
 * and so is the whole of fn for writers.
 *
 * No rollback: the writes fn made before a failing one stay (fn decides
 * what to do about a failure; Redis's transactions do not roll back either).
 * ttlkv_locked_put_all is itself all or nothing.
 *
 * Errors before fn runs, with nothing locked: TTLKV_INVALID_ARGUMENT (NULL
 * store or fn, keys NULL with n > 0, a NULL key with a length, an unknown
 * flag, or a call made inside another ttlkv_lock_keys of this thread),
 * TTLKV_KEY_TOO_LARGE, TTLKV_IN_READ_SECTION, TTLKV_OUT_OF_MEMORY (the record
 * of held shards, one byte per shard).
 *
 * Concurrency: takes the locks in shard order, the order ttlkv_put_all
 * takes its own, so that two multi-key calls cannot wait for each other in
 * a cycle, and holds them while fn runs: writers of those shards wait for fn
 * (readers never do). Readers are not blocked, so a reader looking at
 * several keys while fn runs may see some of fn's writes and not yet the
 * others, as with ttlkv_put_all; every write that starts after the call
 * returns sees all of them. fn must not call any other locking function of
 * any store (a write to a held shard would wait for itself); a reader inside
 * fn must end its read section before fn writes (TTLKV_IN_READ_SECTION).
 * Retired entries are freed, and back-pressure (see "Shard-locked write")
 * waited for, only after every lock is released.
 */
typedef struct ttlkv_locked ttlkv_locked;
typedef ttlkv_status ttlkv_locked_fn(ttlkv_locked *held, void *context);

#define TTLKV_LOCK_ALL_SHARDS 1u

TTLKV_API ttlkv_status ttlkv_lock_keys(ttlkv *store, const ttlkv_key *keys, size_t n,
    unsigned flags, ttlkv_locked_fn *fn, void *context);

/*
 * Inside a ttlkv_lock_keys callback: ttlkv_update on a key whose shard is
 * held, with the same fn, state and results, except that the new entry is
 * allocated under the lock (a transaction's values depend on what it read),
 * and that when fn needs more room than it was given, fn runs again under
 * the same hold, on the same value. TTLKV_INVALID_ARGUMENT also for a NULL
 * or stale held (one whose ttlkv_lock_keys returned, or another thread's)
 * and for a key whose shard is not held, with nothing written.
 * The value fn is shown stays valid after fn returns, until this thread
 * writes the key or ttlkv_lock_keys returns: no other thread can replace or
 * free an entry while its shard is held, so a value can be copied straight
 * into another key's new one (RENAME, COPY).
 */
TTLKV_API ttlkv_status ttlkv_locked_update(ttlkv_locked *held, const void *key, size_t key_len,
    size_t size_hint, ttlkv_update_fn *fn, void *context);

/*
 * Inside a ttlkv_lock_keys callback: ttlkv_put_all of items whose shards
 * are all held, with the same flags and results (all or nothing), its
 * entries built under the locks. TTLKV_INVALID_ARGUMENT as
 * ttlkv_locked_update's, for any item, with nothing written.
 */
TTLKV_API ttlkv_status ttlkv_locked_put_all(ttlkv_locked *held, const ttlkv_item *items,
    size_t n, unsigned flags);

/*
 * The absolute deadline of key, in store-clock milliseconds (the time base
 * of ttlkv_now and of ttlkv_update's deadlines), or TTLKV_NO_EXPIRY if it
 * never expires: what a caller needs to convert a deadline to another clock
 * exactly (ttlkv_ttl's remaining time depends on when it is read).
 * TTLKV_NOT_FOUND if absent or expired; TTLKV_INVALID_ARGUMENT for a NULL
 * deadline_ms. Lock-free read.
 */
TTLKV_API ttlkv_status ttlkv_deadline(ttlkv *store, const void *key, size_t key_len,
    uint64_t *deadline_ms);

/*
 * Redis's RANDOMKEY: calls fn(key, key_len, deadline_ms, context) with one
 * live key and returns TTLKV_OK, or TTLKV_NOT_FOUND without calling fn if it
 * finds none. `random` (any 64-bit number from the caller's generator)
 * picks a shard and a slot in it, and one of the first 16 live keys from
 * there on, across shards and around. Not uniform: a key after a run of
 * empty slots comes up more often (Redis's pick is not uniform either). A key
 * written, or whose table is replaced, while the call runs may be passed
 * over, so a store that is nearly empty under writers may answer
 * TTLKV_NOT_FOUND. Visits up to every slot once, in read sections of at
 * most 4,096 slots, so a call on a sparse table holds reclamation up no
 * longer than a ttlkv_scan of that many slots does.
 * Lock-free read: fn runs inside the read section, under the same rules as
 * a ttlkv_read callback.
 */
TTLKV_API ttlkv_status ttlkv_random_key(ttlkv *store, uint64_t random, ttlkv_scan_fn *fn,
    void *context);

/*
 * Snapshots: a walk of the live entries that hands out whole entries, and a
 * bulk load that takes them back with absolute deadlines (what a snapshot
 * file holds; the Swift module writes and reads Redis's RDB format with
 * them).
 *
 * ttlkv_walk_begin starts a walk of store in *walk (NULL on failure:
 * TTLKV_INVALID_ARGUMENT, TTLKV_OUT_OF_MEMORY); ttlkv_walk_next continues it
 * over up to `count` table slots (0 counts as 1), calling fn(key, key_len,
 * value, value_len, deadline_ms, context) for each live entry it finds, and
 * sets *done to 1 once the walk has passed every shard (and to 0 before);
 * ttlkv_walk_end frees the walk (NULL: nothing), finished or not.
 * deadline_ms is the entry's absolute deadline in store-clock milliseconds
 * (ttlkv_now's time base), TTLKV_NO_EXPIRY for none.
 *
 * What a walk reports: every key that is live and not written from
 * ttlkv_walk_begin until the walk is done is reported exactly once, with
 * its value and deadline, also when its shard's table grows or is rebuilt
 * meanwhile; each report is of one entry as a write left it (key, value
 * and deadline together, never a mix of two writes); no entry whose
 * deadline has passed when the walk reaches it is reported (the clock is
 * read again after every call of fn). A key written during the walk is
 * reported at most once, with its old state or its new one, or not at all
 * (it was deleted, or deleted and written again, around the moment the
 * walk passed it). Keys are told apart by their 64-bit hash: two keys of
 * one shard with the same hash would be reported as one (for a shard of a
 * million keys, about one chance in 3 x 10^7 per walk).
 *
 * Concurrency: ttlkv_walk_next is a lock-free read: one read section per
 * call, no lock ever, so writers and readers go on; fn runs inside the
 * section under the rules of a ttlkv_read callback (short, no blocking, no
 * writes), and the key and value it is shown are valid only during the
 * call. The walk keeps, for the shard it is in, the set of the keys it has
 * reported there (up to 16 bytes a key of that shard): it may allocate,
 * and TTLKV_OUT_OF_MEMORY from ttlkv_walk_next reports nothing and leaves
 * the walk where it was. A walk is one thread's at a time, and
 * must end before its store is closed. TTLKV_IN_READ_SECTION is never
 * returned: a walk may run inside a read section (its own is then nested
 * and reclamation waits for the outer one).
 */
typedef struct ttlkv_walk ttlkv_walk;
typedef void ttlkv_walk_fn(const void *key, size_t key_len, const void *value,
    size_t value_len, uint64_t deadline_ms, void *context);

TTLKV_API ttlkv_status ttlkv_walk_begin(ttlkv *store, ttlkv_walk **walk);
TTLKV_API ttlkv_status ttlkv_walk_next(ttlkv_walk *walk, size_t count, ttlkv_walk_fn *fn,
    void *context, int *done);
TTLKV_API void ttlkv_walk_end(ttlkv_walk *walk);

/*
 * Loads items[0..count), each with an absolute deadline (store-clock
 * milliseconds, TTLKV_NO_EXPIRY for none), as a batch of puts: statuses[i]
 * is TTLKV_OK if items[i] was stored (replacing any value of its key; a key
 * given twice keeps its last item), TTLKV_NOT_FOUND if its deadline had
 * already passed (dropped: nothing stored, nothing counted as expired),
 * TTLKV_INVALID_TTL for a deadline more than TTLKV_MAX_TTL_MS ahead, or
 * another error of ttlkv_put (TTLKV_INVALID_ARGUMENT, TTLKV_KEY_TOO_LARGE,
 * TTLKV_VALUE_TOO_LARGE, TTLKV_FULL, TTLKV_TOO_LARGE_FOR_BUDGET,
 * TTLKV_OUT_OF_MEMORY), with which that item changed nothing. Under a
 * budget items are written as ttlkv_put writes them, evicting for room
 * (earlier items of the load included). Errors for the whole call, with
 * nothing written: TTLKV_INVALID_ARGUMENT (NULL store, or arrays with
 * count > 0), TTLKV_IN_READ_SECTION, TTLKV_OUT_OF_MEMORY (the call's
 * working space).
 *
 * Speed: the entries are built outside any lock, up to 4,096 items at a
 * time; those items are grouped by shard and each shard's group is written
 * under one hold of its lock, in which the table is first grown once for
 * the whole group if it must grow (without a budget), so that a store
 * opened with options.capacity at least the number of keys loaded never
 * grows its table. Shard-locked writes, each hold bounded by 4,096 items.
 */
typedef struct ttlkv_load_item {
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	uint64_t deadline_ms;  /* absolute, store clock; TTLKV_NO_EXPIRY: none */
} ttlkv_load_item;

TTLKV_API ttlkv_status ttlkv_load(ttlkv *store, const ttlkv_load_item *items, size_t count,
    ttlkv_status *statuses);

#ifdef __cplusplus
}
#endif

#endif /* TTLKV_H */
