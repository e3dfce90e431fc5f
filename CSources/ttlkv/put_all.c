/*
 * The all-or-nothing write (ttlkv_put_all): several pairs stored as one
 * write, all of them or none.
 *
 * Order. The pairs' entries are built first, without any lock. They are
 * sorted by shard, hash and key, and a key given twice keeps only its last
 * entry. Then the write takes the lock of every shard involved, in shard
 * order: every other write holds one shard lock at a time, and two
 * all-or-nothing writes take theirs in the same order, so none can wait in
 * a cycle. With all locks held nothing else writes these keys, so the
 * TTLKV_PUT_IF_NONE_EXIST check and the changes are one atomic step for
 * writers.
 *
 * All or nothing. Before it changes anything, the write secures what every
 * replacement needs: retire batches for every entry it may retire (a pool
 * per write, sized in entries and bytes), and room in the expired log for
 * every replaced entry that has a deadline, since any of them may expire
 * while the write runs (the clock moves) and be recorded as an expiry. A
 * replacement, of a live or an expired entry, then cannot fail. Only an
 * insert of a new key can (table room, TTLKV_FULL, ck_hs out of memory), so
 * the inserts go first; if one fails, those already made are unlinked again
 * (retired like any removed entry, since readers may have seen them), which
 * leaves their keys absent, as they were, and nothing else has changed: no
 * expired entry has been replaced or counted yet. Values never expire here,
 * so no schedule record is needed.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct pending {
	uint64_t hash;
	struct shard *shard;
	struct entry *e;
	size_t index;        /* position in the caller's items: the last wins */
	struct entry *old;   /* the key's entry, live or expired (NULL: an
	                        insert), as found under the locks */
	uint64_t retire_bytes; /* what the pair may retire: its old entry, and
	                          its own if it is taken back */
};

static int
pending_order(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;
	int c;

	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->e->key_len != y->e->key_len)
		return x->e->key_len < y->e->key_len ? -1 : 1;
	if ((c = memcmp(x->e->bytes, y->e->bytes, x->e->key_len)) != 0)
		return c;
	return x->index < y->index ? -1 : 1;
}

static bool
same_key(const struct pending *x, const struct pending *y)
{
	return x->hash == y->hash && x->e->key_len == y->e->key_len &&
	    memcmp(x->e->bytes, y->e->bytes, x->e->key_len) == 0;
}

/* Builds, sorts and deduplicates the entries; returns how many remain. */
static ttlkv_status
prepare(struct ttlkv *store, const ttlkv_item *items, size_t n, struct pending *p, size_t *kept)
{
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		const ttlkv_item *it = &items[i];
		ttlkv_status status = key_check(store, it->key, it->key_len);

		if (status == TTLKV_OK && it->value == NULL && it->value_len != 0)
			status = TTLKV_INVALID_ARGUMENT;
		if (status == TTLKV_OK && it->ttl_ms != 0)
			status = TTLKV_INVALID_TTL;
		if (status == TTLKV_OK)
			status = ttlkv__entry_make(store, it->key, it->key_len, it->value, it->value_len, 0, &p[i].e);
		if (status != TTLKV_OK) {
			while (i-- > 0)
				ttlkv__recycle(p[i].e);
			return status;
		}
		p[i].hash = ttlkv__hash(store, it->key, it->key_len);
		p[i].shard = shard_for(store, p[i].hash);
		p[i].index = i;
	}
	qsort(p, n, sizeof *p, pending_order);
	for (i = 0; i < n; i++) {
		if (i + 1 < n && same_key(&p[i], &p[i + 1]))
			ttlkv__recycle(p[i].e);
		else
			p[m++] = p[i];
	}
	*kept = m;
	return TTLKV_OK;
}

static uint64_t
entry_bytes_held(const struct entry *e)
{
	return sizeof *e + e->key_len + e->value_len;
}

/* Retire batches enough for `retires` retirements of `bytes` in all on one
 * shard: a batch fills at RETIRE_BATCH entries or RETIRE_BATCH_BYTES, so
 * at most this many fill (the one filling now included), plus the batch
 * and spare the shard may lack now. */
static size_t
batches_for(size_t retires, uint64_t bytes)
{
	return retires / RETIRE_BATCH + (size_t)(bytes / RETIRE_BATCH_BYTES) + 4;
}

/* Under the shard lock: a retire of e that cannot fail, the spare coming
 * from the pool whenever the shard has none. */
static void
retire_ready(struct shard *shard, struct retired **pool, const struct entry *e)
{
	if (shard->spare == NULL && *pool != NULL) {
		shard->spare = *pool;
		*pool = (*pool)->next;
	}
	(void)ttlkv__retire_prepare(shard, e); /* allocates nothing now */
}

static void
lock_all(struct pending *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (i == 0 || p[i].shard != p[i - 1].shard)
			pthread_mutex_lock(&p[i].shard->lock);
}

/* Unlocks each shard, freeing FREES_PER_WRITE retired entries per pair
 * written in it (as that many single writes would); back-pressure, if any,
 * only once every lock is released. */
static void
unlock_all(struct pending *p, size_t n)
{
	size_t held = 0;

	for (size_t i = n; i-- > 0;) {
		held++;
		if (i == 0 || p[i].shard != p[i - 1].shard) {
			ttlkv__locked_shard = p[i].shard;
			shard_release(p[i].shard, FREES_PER_WRITE * held);
			held = 0;
		}
	}
	if (n != 0)
		writer_backpressure(p[0].shard->store);
}

/* Under the locks: finds each key's entry; TTLKV_EXISTS if, with
 * if_none_exist, a key has a live one. */
static ttlkv_status
classify(struct pending *p, size_t n, bool if_none_exist)
{
	uint64_t now = 0;

	for (size_t i = 0; i < n; i++) {
		struct entry *old = table_find(p[i].shard, p[i].hash, p[i].e);
		uint64_t deadline = old != NULL ? LOAD(&old->deadline) : 0;

		p[i].old = old;
		p[i].retire_bytes = entry_bytes_held(p[i].e) + (old != NULL ? entry_bytes_held(old) : 0);
		if (!if_none_exist || old == NULL)
			continue;
		if (deadline != 0 && now == 0)
			now = store_now(p[i].shard->store);
		if (!deadline_passed(deadline, now))
			return TTLKV_EXISTS;
	}
	return TTLKV_OK;
}

/* Under the locks: room in each shard's expired log for every replaced
 * entry with a deadline (it may expire before it is replaced). */
static bool
expired_room(struct pending *p, size_t n)
{
	size_t start = 0, records = 0, key_bytes = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i].shard != p[start].shard) {
			if (records != 0 && !ttlkv__expired_reserve_many(p[start].shard, records, key_bytes))
				return false;
			start = i;
			records = key_bytes = 0;
		}
		if (i < n && p[i].old != NULL && LOAD(&p[i].old->deadline) != 0) {
			records++;
			key_bytes += p[i].e->key_len;
		}
	}
	return true;
}

/* Under the locks: the pool of retire batches for all n pairs. */
static bool
pool_fill(struct pending *p, size_t n, struct retired **pool)
{
	size_t start = 0;
	uint64_t bytes = p[0].retire_bytes;

	for (size_t i = 1; i <= n; i++) {
		if (i < n && p[i].shard == p[start].shard) {
			bytes += p[i].retire_bytes;
			continue;
		}
		for (size_t b = batches_for(2 * (i - start), bytes); b > 0; b--) {
			struct retired *block = ttlkv__retire_batch_new();

			if (block == NULL)
				return false;
			block->next = *pool;
			*pool = block;
		}
		start = i;
		bytes = i < n ? p[i].retire_bytes : 0;
	}
	return true;
}

static void
pool_free(struct retired *pool)
{
	while (pool != NULL) {
		struct retired *next = pool->next;

		ttlkv__free(pool);
		pool = next;
	}
}

/* Under the locks: the inserts first, the only pairs that can fail; if one
 * does, those made are taken back (the key left absent, as it was) and
 * nothing else has changed. Then the replacements, which cannot fail: their
 * retire batches and expired-log room are secured (pool_fill, expired_room). */
static ttlkv_status
apply(struct pending *p, size_t n, struct retired **pool)
{
	ttlkv_status status = TTLKV_OK;
	size_t i, done;

	for (done = 0; done < n; done++) {
		if (p[done].old != NULL)
			continue;
		ttlkv__locked_shard = p[done].shard;
		if ((status = ttlkv__install(p[done].shard, p[done].hash, p[done].e, NULL, false)) != TTLKV_OK)
			break;
	}
	if (status != TTLKV_OK) {
		for (i = 0; i < done; i++) {
			if (p[i].old != NULL)
				continue;
			ttlkv__locked_shard = p[i].shard;
			retire_ready(p[i].shard, pool, p[i].e);
			ttlkv__unlink(p[i].shard, p[i].hash, p[i].e, false);
			p[i].e = NULL; /* retired: freed after readers move on */
		}
		return status;
	}
	for (i = 0; i < n; i++) {
		if (p[i].old == NULL)
			continue;
		ttlkv__locked_shard = p[i].shard;
		retire_ready(p[i].shard, pool, p[i].old);
		status = ttlkv__install(p[i].shard, p[i].hash, p[i].e, p[i].old, false);
		assert(status == TTLKV_OK);
	}
	for (i = 0; i < n; i++)
		p[i].e = NULL;
	return TTLKV_OK;
}

ttlkv_status
ttlkv_put_all(ttlkv *store, const ttlkv_item *items, size_t n, unsigned flags)
{
	struct retired *pool = NULL;
	struct pending *p;
	ttlkv_status status = lock_check(store);
	size_t kept = 0;

	if (status != TTLKV_OK)
		return status;
	if ((items == NULL && n != 0) || (flags & ~TTLKV_PUT_IF_NONE_EXIST) != 0)
		return TTLKV_INVALID_ARGUMENT;
	if (n == 0)
		return TTLKV_OK;
	if (n > SIZE_MAX / sizeof *p || (p = ttlkv__alloc(n * sizeof *p)) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	if ((status = prepare(store, items, n, p, &kept)) != TTLKV_OK) {
		ttlkv__free(p);
		return status;
	}
	lock_all(p, kept);
	status = classify(p, kept, (flags & TTLKV_PUT_IF_NONE_EXIST) != 0);
	if (status == TTLKV_OK && (!pool_fill(p, kept, &pool) || !expired_room(p, kept)))
		status = TTLKV_OUT_OF_MEMORY;
	if (status == TTLKV_OK)
		status = apply(p, kept, &pool);
	unlock_all(p, kept);
	pool_free(pool);
	for (size_t i = 0; i < kept; i++)
		if (p[i].e != NULL)
			ttlkv__recycle(p[i].e);
	ttlkv__free(p);
	return status;
}
