/*
 * Several keys as one step (ttlkv_lock_keys): the writer locks of every
 * shard the keys hash to, held while the caller's function reads and
 * writes those keys. What Redis's RENAME, COPY and MULTI / EXEC need: no
 * other write between a read and the writes that depend on it, across
 * keys of different shards.
 *
 * Order. Every other write holds one shard lock at a time, except
 * ttlkv_put_all, which takes several in ascending shard order. This call
 * takes its own in the same order, walking a map of the shards it needs
 * (one byte per shard, which also counts the writes made in each), so no
 * two calls can wait for each other in a cycle. A thread inside the call is
 * remembered, so that a nested call, which would wait for a lock its own
 * thread holds, is refused instead.
 *
 * Writes inside run the steps of ttlkv_update and ttlkv_put_all (update.c,
 * multi.c) on a shard already held. They allocate under the lock: a
 * transaction's values depend on what it read, so they cannot be built
 * before the locks are taken, as single writes build theirs. A write that
 * hands retired entries over to reclamation takes the store's reclaim lock
 * and owes an epoch poll, which a single write pays after its unlock; here
 * it is paid right after the write, under the shard locks, so that a long
 * transaction never keeps the reclaim lock from other shards' writers.
 *
 * Release. Each shard is released, in reverse order, with the frees its
 * writes earned (FREES_PER_WRITE each, as single writes earn them, at most
 * one batch's worth); back-pressure, if any, only once every lock is
 * released, as for any write.
 */
#include "internal.h"

#include <string.h>

/* Writes counted per shard, up to what one release can free. */
#define WRITES_COUNTED (FREES_PER_HOLD / FREES_PER_WRITE)

struct ttlkv_locked {
	struct ttlkv *store;
	/* Per shard: 0 if not held, else 1 + the writes made in it (capped). */
	uint8_t *shards;
};

/* The call this thread is inside, if any. */
static __thread struct ttlkv_locked *inside;

static size_t
shard_index(const struct ttlkv *store, const void *key, size_t key_len, uint64_t *hash)
{
	*hash = ttlkv__hash(store, key, key_len);
	return (size_t)(shard_for(store, *hash) - store->shards);
}

/* Marks the shards of keys (every shard with all), checking each key. */
static ttlkv_status
mark_shards(struct ttlkv_locked *held, const ttlkv_key *keys, size_t n, bool all)
{
	struct ttlkv *store = held->store;
	uint64_t hash;

	if (all) {
		memset(held->shards, 1, store->n_shards);
		return TTLKV_OK;
	}
	for (size_t i = 0; i < n; i++) {
		ttlkv_status status = key_check(store, keys[i].data, keys[i].len);

		if (status != TTLKV_OK)
			return status;
		held->shards[shard_index(store, keys[i].data, keys[i].len, &hash)] = 1;
	}
	return TTLKV_OK;
}

static void
lock_marked(struct ttlkv_locked *held)
{
	for (uint32_t i = 0; i < held->store->n_shards; i++)
		if (held->shards[i] != 0)
			pthread_mutex_lock(&held->store->shards[i].lock);
}

static void
release_marked(struct ttlkv_locked *held)
{
	struct ttlkv *store = held->store;

	for (uint32_t i = store->n_shards; i-- > 0;) {
		if (held->shards[i] == 0)
			continue;
		ttlkv__locked_shard = &store->shards[i];
		shard_release(&store->shards[i], (size_t)(held->shards[i] - 1) * FREES_PER_WRITE);
	}
	writer_backpressure(store);
}

ttlkv_status
ttlkv_lock_keys(ttlkv *store, const ttlkv_key *keys, size_t n, unsigned flags,
    ttlkv_locked_fn *fn, void *context)
{
	struct ttlkv_locked held = { store, NULL };
	ttlkv_status status = lock_check(store);

	if (status != TTLKV_OK)
		return status;
	if (fn == NULL || (keys == NULL && n != 0) || (flags & ~TTLKV_LOCK_ALL_SHARDS) != 0 ||
	    inside != NULL)
		return TTLKV_INVALID_ARGUMENT;
	if ((held.shards = ttlkv__alloc(store->n_shards)) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	memset(held.shards, 0, store->n_shards);
	status = mark_shards(&held, keys, n, (flags & TTLKV_LOCK_ALL_SHARDS) != 0);
	if (status == TTLKV_OK) {
		lock_marked(&held);
		inside = &held;
		status = fn(&held, context);
		inside = NULL;
		release_marked(&held);
	}
	ttlkv__free(held.shards);
	return status;
}

/* The checks every write inside starts with: this thread's live call, and
 * no read section open. */
static ttlkv_status
held_check(const struct ttlkv_locked *held)
{
	if (held == NULL || held != inside)
		return TTLKV_INVALID_ARGUMENT;
	if (UNLIKELY(ttlkv__in_read_section()))
		return TTLKV_IN_READ_SECTION;
	return TTLKV_OK;
}

/* The held shard of key, or NULL (and its index in *index). */
static struct shard *
held_shard(struct ttlkv_locked *held, const void *key, size_t key_len, uint64_t *hash, size_t *index)
{
	*index = shard_index(held->store, key, key_len, hash);
	return held->shards[*index] != 0 ? &held->store->shards[*index] : NULL;
}

/* After a write inside: counts it, and pays at once the epoch poll a
 * hand-over in it may owe (ttlkv__settle), since the locks are not released
 * until fn returns: the poll would wait until then, and so would every
 * writer of other shards that needs the reclaim lock this thread holds. */
static void
count_write(struct ttlkv_locked *held, size_t index)
{
	if (held->shards[index] <= WRITES_COUNTED)
		held->shards[index]++;
	ttlkv__settle();
}

ttlkv_status
ttlkv_locked_update(ttlkv_locked *held, const void *key, size_t key_len,
    size_t size_hint, ttlkv_update_fn *fn, void *context)
{
	ttlkv_status status = held_check(held);
	struct shard *shard;
	uint64_t hash;
	size_t index;

	if (status != TTLKV_OK)
		return status;
	if ((status = key_check(held->store, key, key_len)) != TTLKV_OK)
		return status;
	if (fn == NULL || (shard = held_shard(held, key, key_len, &hash, &index)) == NULL)
		return TTLKV_INVALID_ARGUMENT;
	ttlkv__locked_shard = shard;
	status = ttlkv__update_held(shard, hash, key, key_len, size_hint, fn, context);
	count_write(held, index);
	return status;
}

ttlkv_status
ttlkv_locked_put_all(ttlkv_locked *held, const ttlkv_item *items, size_t n, unsigned flags)
{
	ttlkv_status status = held_check(held);
	uint64_t hash;
	size_t index;

	if (status != TTLKV_OK)
		return status;
	if (items == NULL && n != 0)
		return TTLKV_INVALID_ARGUMENT;
	for (size_t i = 0; i < n; i++) {
		if ((status = key_check(held->store, items[i].key, items[i].key_len)) != TTLKV_OK)
			return status;
		if (held_shard(held, items[i].key, items[i].key_len, &hash, &index) == NULL)
			return TTLKV_INVALID_ARGUMENT;
	}
	status = ttlkv__put_all_held(held->store, items, n, flags);
	for (size_t i = 0; i < n; i++) {
		(void)held_shard(held, items[i].key, items[i].key_len, &hash, &index);
		count_write(held, index);
	}
	return status;
}
