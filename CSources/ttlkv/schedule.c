/*
 * The schedule: how a write hands (key, deadline) to an expiry worker
 * without waiting for it.
 *
 * Each shard keeps a record log, a byte buffer of packed records {u64
 * deadline, u32 key length, key bytes}, appended under the shard lock that
 * the write holds anyway, so the hand-over costs one memcpy and no extra
 * synchronization. ttlkv_drain_schedule swaps each shard's schedule for an
 * empty log under the lock and reads the full one after unlocking. An entry
 * remembers the deadline of its pending schedule record (entry->scheduled),
 * and a write appends a record only when the new deadline is earlier than
 * that one, so rewriting a key keeps about one record per key however often
 * it is rewritten.
 *
 * The expired log is the same kind of buffer for the other direction: with
 * TTLKV_TRACK_EXPIRY, every removal of an expired entry that the worker did
 * not make itself (a put replacing it, ttlkv_delete, ttlkv_sweep,
 * ttlkv_clear) appends the entry's (key, deadline), so that the worker can
 * report every expiry that stats.expired counts exactly once, whoever removed
 * the entry. Its space is reserved before the write changes anything: a write
 * that cannot record its expiry fails with TTLKV_OUT_OF_MEMORY instead.
 *
 * The eviction log does the same for entries evicted to keep within a byte
 * budget (evict.c). Records count in their shard's fixed bytes (what it
 * holds against its budget) from their append to their drain.
 */
#define _GNU_SOURCE /* mremap */
#include "internal.h"

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

/* A drained buffer larger than this is freed, not kept as the spare. */
#define SPARE_LOG_BYTES 4096

/*
 * A buffer of this capacity or more is a mapping of its own, grown in place
 * by mremap where there is one and unmapped when freed, so that a drained
 * burst leaves the process. From malloc it stayed: glibc raises its mmap
 * threshold to 32 MiB once the process frees a large block, after which such
 * buffers come from the heap and stay resident as free chunks (a 10M-key
 * Store with TTLs kept 52 MB, 5 bytes a key; with 256 KiB here, buffers
 * below it still left 11 MB). Invariant: a log's buffer is mapped if and
 * only if its capacity is at least LOG_MAP_BYTES.
 */
#define LOG_MAP_BYTES (64u << 10)

/* ThreadSanitizer does not intercept mremap (google/sanitizers#1099): a
 * mapping moved onto addresses it saw used before (a joined thread's stack)
 * would be reported as racing. Its builds map anew and copy. */
#if defined(__SANITIZE_THREAD__)
#define TTLKV_NO_MREMAP 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TTLKV_NO_MREMAP 1
#endif
#endif

static void
log_buf_free(unsigned char *buf, size_t cap)
{
	if (cap >= LOG_MAP_BYTES)
		munmap(buf, cap);
	else
		ttlkv__free(buf);
}

/* buf (cap bytes, the first len in use) moved to a buffer of new_cap >= cap
 * bytes; NULL, with buf unchanged, if there is no memory. */
static unsigned char *
log_buf_grow(unsigned char *buf, size_t len, size_t cap, size_t new_cap)
{
	void *p;

	if (new_cap < LOG_MAP_BYTES)
		return ttlkv__realloc(buf, new_cap);
	if (ttlkv__alloc_refused())
		return NULL;
#if defined(__linux__) && !defined(TTLKV_NO_MREMAP)
	if (cap >= LOG_MAP_BYTES) {
		p = mremap(buf, cap, new_cap, MREMAP_MAYMOVE);
		return p == MAP_FAILED ? NULL : p;
	}
#endif
	p = mmap(NULL, new_cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (len != 0)
		memcpy(p, buf, len);
	log_buf_free(buf, cap);
	return p;
}

/* Under the shard lock, before the write changes anything: room for
 * `records` more records with key_bytes of keys in all. While the records
 * fit in the logs' room (evict.c), a buffer grows to at most that room, so
 * its capacity stays near what is charged for it. */
static bool
log_reserve(struct shard *shard, struct record_log *in, size_t records, size_t key_bytes)
{
	size_t need = in->len + records * RECORD_HEADER + key_bytes, cap;
	uint64_t room = log_room(shard);
	unsigned char *buf;

	if (need <= in->cap)
		return true;
	cap = in->cap != 0 ? in->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > room && need <= room)
		cap = (size_t)room;
	if ((buf = log_buf_grow(in->buf, in->len, in->cap, cap)) == NULL)
		return false;
	in->buf = buf;
	in->cap = cap;
	return true;
}

/* Under the shard lock, after a successful log_reserve. A record counts
 * in the shard's fixed bytes until it is drained. */
static void
log_append(struct shard *shard, struct record_log *in, const void *key, size_t key_len,
    uint64_t deadline)
{
	uint32_t len = (uint32_t)key_len;
	unsigned char *p = in->buf + in->len;

	memcpy(p, &deadline, sizeof deadline);
	memcpy(p + sizeof deadline, &len, sizeof len);
	if (key_len != 0)
		memcpy(p + RECORD_HEADER, key, key_len);
	in->len += RECORD_BYTES(key_len);
	STORE(&in->records, in->records + 1);
	STORE(&shard->fixed, shard->fixed + RECORD_BYTES(key_len));
	STORE(&shard->logged, shard->logged + RECORD_BYTES(key_len));
	/* Tested first so that the flag's line is not written every append. */
	if (log_room(shard) != 0 && shard->logged > log_room(shard) / 2 &&
	    !LOAD(&shard->store->drain_wanted))
		STORE(&shard->store->drain_wanted, 1);
}

bool
ttlkv__schedule_reserve(struct shard *shard, size_t key_len)
{
	return log_reserve(shard, &shard->schedule, 1, key_len);
}

void
ttlkv__schedule_append(struct shard *shard, const void *key, size_t key_len, uint64_t deadline)
{
	log_append(shard, &shard->schedule, key, key_len, deadline);
}

bool
ttlkv__expired_reserve(struct shard *shard, const struct entry *entry)
{
	return ttlkv__expired_reserve_many(shard, 1, entry_key_len(entry));
}

bool
ttlkv__expired_reserve_many(struct shard *shard, size_t records, size_t key_bytes)
{
	return !tracks_expiry(shard->store) || log_reserve(shard, &shard->expired_log, records, key_bytes);
}

void
ttlkv__expired_note(struct shard *shard, const struct entry *entry)
{
	if (tracks_expiry(shard->store))
		log_append(shard, &shard->expired_log, entry_key(entry), entry_key_len(entry),
		    entry_deadline(entry));
}

bool
ttlkv__evicted_reserve(struct shard *shard, size_t records, size_t key_bytes)
{
	return !tracks_expiry(shard->store) || records == 0 ||
	    log_reserve(shard, &shard->evicted_log, records, key_bytes);
}

void
ttlkv__evicted_note(struct shard *shard, const struct entry *entry)
{
	uint64_t deadline = entry_deadline(entry);

	if (tracks_expiry(shard->store))
		log_append(shard, &shard->evicted_log, entry_key(entry), entry_key_len(entry),
		    deadline != 0 ? deadline : TTLKV_NO_EXPIRY);
}

void
ttlkv__record_log_destroy(struct record_log *log)
{
	log_buf_free(log->buf, log->cap);
}

static size_t
log_replay(const struct record_log *in, ttlkv_schedule_fn *fn, void *context)
{
	size_t offset = 0, n = 0;

	while (offset < in->len) {
		uint64_t deadline;
		uint32_t len;
		const unsigned char *p = in->buf + offset;

		memcpy(&deadline, p, sizeof deadline);
		memcpy(&len, p + sizeof deadline, sizeof len);
		fn(p + RECORD_HEADER, len, deadline, context);
		offset += RECORD_HEADER + len;
		n++;
	}
	return n;
}

/*
 * Empties one record log of every shard: `live` and `spare` are the offsets
 * in struct shard of the log writers append to and of the drain's own empty
 * one, which the two swap.
 */
static ttlkv_status
drain(struct ttlkv *store, size_t live, size_t spare, ttlkv_schedule_fn *fn,
    void *context, size_t *taken)
{
	size_t n = 0;
	ttlkv_status status = lock_check(store);

	if (status != TTLKV_OK)
		return status;
	if (fn == NULL)
		return TTLKV_INVALID_ARGUMENT;
	pthread_mutex_lock(&store->drain_lock);
	for (uint32_t i = 0; i < store->n_shards; i++) {
		struct shard *shard = &store->shards[i];
		struct record_log *in = (struct record_log *)(void *)((char *)shard + live);
		struct record_log *empty = (struct record_log *)(void *)((char *)shard + spare);
		struct record_log full;

		if (LOAD(&in->records) == 0)
			continue;
		shard_lock(shard);
		full = *in;
		STORE(&shard->fixed, shard->fixed - full.len);
		STORE(&shard->logged, shard->logged - full.len);
		/* Field by field: `records` is read without the lock. */
		in->buf = empty->buf;
		in->cap = empty->cap;
		in->len = 0;
		STORE(&in->records, 0);
		shard_release(shard, FREES_PER_WRITE); /* retired nothing: no back-pressure */
		n += log_replay(&full, fn, context);
		/* A burst's buffer is not kept, uncharged, as the spare. */
		if (full.cap > SPARE_LOG_BYTES) {
			log_buf_free(full.buf, full.cap);
			full.buf = NULL;
			full.cap = 0;
		}
		full.len = 0;
		*empty = full;
	}
	pthread_mutex_unlock(&store->drain_lock);
	if (taken != NULL)
		*taken = n;
	return TTLKV_OK;
}

ttlkv_status
ttlkv_drain_schedule(ttlkv *store, ttlkv_schedule_fn *fn, void *context, size_t *taken)
{
	return drain(store, offsetof(struct shard, schedule), offsetof(struct shard, schedule_spare),
	    fn, context, taken);
}

ttlkv_status
ttlkv_drain_expired(ttlkv *store, ttlkv_schedule_fn *fn, void *context, size_t *taken)
{
	return drain(store, offsetof(struct shard, expired_log), offsetof(struct shard, expired_log_spare),
	    fn, context, taken);
}

ttlkv_status
ttlkv_drain_evicted(ttlkv *store, ttlkv_schedule_fn *fn, void *context, size_t *taken)
{
	return drain(store, offsetof(struct shard, evicted_log), offsetof(struct shard, evicted_log_spare),
	    fn, context, taken);
}

int
ttlkv_drain_wanted(ttlkv *store)
{
	/* Relaxed: a hint; the drains take the shard locks that order the logs. */
	return store != NULL && LOAD(&store->drain_wanted) &&
	    __atomic_exchange_n(&store->drain_wanted, 0, __ATOMIC_RELAXED) != 0;
}

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

uint64_t
ttlkv_testing_log_capacity(struct ttlkv *store, uint64_t *room)
{
	uint64_t most = 0;

	/* The drains write the spares outside the shard locks, under this. */
	pthread_mutex_lock(&store->drain_lock);
	*room = log_room(&store->shards[0]);
	for (uint32_t i = 0; i < store->n_shards; i++) {
		struct shard *x = &store->shards[i];
		uint64_t caps;

		shard_lock(x);
		caps = x->schedule.cap + x->schedule_spare.cap + x->expired_log.cap +
		    x->expired_log_spare.cap + x->evicted_log.cap + x->evicted_log_spare.cap;
		shard_release(x, FREES_PER_WRITE);
		if (caps > most)
			most = caps;
	}
	pthread_mutex_unlock(&store->drain_lock);
	return most;
}
#endif
