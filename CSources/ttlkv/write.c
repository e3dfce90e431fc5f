/*
 * Writes. Each one validates its arguments and builds its new entry before
 * taking the shard lock, then, under the lock, first secures everything that
 * can fail (retire batch, table room, entry quota, room in the schedule and
 * the expired log) and only then changes the table, so a failed write leaves
 * the store exactly as it was. The replaced or removed entry is retired,
 * never freed in place: readers may still be looking at it.
 */
#include "internal.h"

#include <string.h>

ttlkv_status
ttlkv__deadline_after(struct ttlkv *store, uint64_t ttl_ms, uint64_t *deadline)
{
	uint64_t now;

	*deadline = 0;
	if (ttl_ms == 0)
		return TTLKV_OK;
	if (ttl_ms > TTLKV_MAX_TTL_MS)
		return TTLKV_INVALID_TTL;
	now = store_now_ceil(store);
	if (now >= UINT64_MAX - ttl_ms)
		return TTLKV_INVALID_TTL;
	*deadline = now + ttl_ms;
	return TTLKV_OK;
}

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

static uint64_t quota_peak;

uint64_t
ttlkv_testing_quota_peak(void)
{
	return __atomic_exchange_n(&quota_peak, 0, __ATOMIC_RELAXED);
}
#endif

/* Counts a new entry against max_entries, comparing before it adds: an
 * insert refused at the limit must not count even for a moment, or another
 * insert racing with it, with room for one, would be refused too. */
static bool
quota_take(struct ttlkv *store)
{
	uint64_t used;

	if (store->max_entries == 0)
		return true;
	used = __atomic_load_n(&store->quota_used, __ATOMIC_RELAXED);
	do {
		if (used >= store->max_entries)
			return false;
	} while (!__atomic_compare_exchange_n(&store->quota_used, &used, used + 1, true,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	TESTING_PEAK(quota_peak, used + 1);
	return true;
}

static void
quota_give_back(struct ttlkv *store)
{
	if (store->max_entries != 0)
		__atomic_sub_fetch(&store->quota_used, 1, __ATOMIC_RELAXED);
}

static bool
expired_now(struct ttlkv *store, const struct entry *entry)
{
	uint64_t deadline = LOAD(&entry->deadline);

	return deadline != 0 && deadline_passed(deadline, store_now(store));
}

/* Whether giving a key `deadline` needs a new schedule record: the first
 * deadline, or one earlier than the pending record's. */
static bool
needs_schedule_record(const struct ttlkv *store, uint64_t deadline, uint64_t scheduled)
{
	return (store->flags & TTLKV_TRACK_EXPIRY) != 0 && deadline != 0 &&
	    (scheduled == 0 || deadline < scheduled);
}

static void
account(struct shard *shard, int64_t entries, int64_t bytes)
{
	STORE(&shard->count, shard->count + (uint64_t)entries);
	STORE(&shard->bytes, shard->bytes + (uint64_t)bytes);
}

static uint64_t
entry_bytes(const struct entry *e)
{
	return (uint64_t)e->key_len + e->value_len;
}

void
ttlkv__unlink(struct shard *shard, uint64_t hash, struct entry *entry, bool expired)
{
	ck_hs_remove(&shard->hs, hash, slot_tag(entry, hash));
	rebuild_note(shard, hash, slot_tag(entry, hash), true);
	STORE(&shard->tombstones, shard->tombstones + 1);
	account(shard, -1, -(int64_t)entry_bytes(entry));
	if (expired)
		STORE(&shard->expired, shard->expired + 1);
	quota_give_back(shard->store);
	ttlkv__retire(shard, entry);
}

/* Under the shard lock: puts entry e in place of old. */
ttlkv_status
ttlkv__install(struct shard *shard, uint64_t hash, struct entry *e, struct entry *old, bool if_absent)
{
	struct ttlkv *store = shard->store;
	bool old_expired = old != NULL && expired_now(store, old);
	bool record;
	void *previous;

	if (old != NULL && !old_expired && if_absent)
		return TTLKV_EXISTS;
	if (old != NULL && !ttlkv__retire_prepare(shard, old))
		return TTLKV_OUT_OF_MEMORY;
	if (old_expired && !ttlkv__expired_reserve(shard, old))
		return TTLKV_OUT_OF_MEMORY;
	e->scheduled = old != NULL ? old->scheduled : 0;
	record = needs_schedule_record(store, e->deadline, e->scheduled);
	if (record && !ttlkv__schedule_reserve(shard, e->key_len))
		return TTLKV_OUT_OF_MEMORY;
	if (record)
		e->scheduled = e->deadline;
	/* Publish a fully built entry: free on x86, needed where stores may
	 * pass one another (ck_hs stores the slot without a fence). */
	ck_pr_fence_store();
	TSAN_RELEASE(e);
	if (old == NULL) {
		/* Room first: an entry counted in the quota and then refused for
		 * memory could make a concurrent insert see TTLKV_FULL. */
		if (!ttlkv__table_reserve(shard))
			return TTLKV_OUT_OF_MEMORY;
		if (!quota_take(store))
			return TTLKV_FULL;
		/* The lookup above proved the key absent, so the insert may
		 * take the first free or tombstoned slot of its probe sequence:
		 * ck_hs_put would search on to the probe limit for an empty
		 * one, which under steady churn no longer exists. */
		if (!ck_hs_put_unique(&shard->hs, hash, slot_tag(e, hash))) {
			quota_give_back(store);
			return TTLKV_OUT_OF_MEMORY;
		}
		rebuild_note(shard, hash, slot_tag(e, hash), false);
		account(shard, 1, (int64_t)entry_bytes(e));
	} else {
		ck_hs_fas(&shard->hs, hash, slot_tag(e, hash), &previous);
		rebuild_note(shard, hash, previous, true);
		rebuild_note(shard, hash, slot_tag(e, hash), false);
		account(shard, 0, (int64_t)entry_bytes(e) - (int64_t)entry_bytes(old));
		if (old_expired) {
			STORE(&shard->expired, shard->expired + 1);
			ttlkv__expired_note(shard, old);
		}
		ttlkv__retire(shard, old);
	}
	if (record)
		ttlkv__schedule_append(shard, e->bytes, e->key_len, e->deadline);
	return TTLKV_OK;
}

static void
warm(struct shard *shard, uint64_t hash, const void *probe)
{
	ck_epoch_record_t *record = ttlkv__reader();

	if (record == NULL)
		return;
	section_begin(record);
	(void)table_find(shard, hash, probe);
	section_end(record);
}

/*
 * A block for an entry, at an address a tagged slot can hold. A block that
 * cannot be tagged (never seen on Linux x86-64, whose user addresses fit in
 * 47 bits) is not recycled, which would hand it straight back: a second
 * block is allocated while the first is still held, so that it differs,
 * and only then is the first freed. If that one cannot be tagged either,
 * the memory counts as none.
 */
#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

static const void *untaggable;
static __thread bool refuse_next;

void
ttlkv_testing_refuse_next_block(void)
{
	refuse_next = true;
}

/* slot_taggable, with one block a test declared beyond the tag bits. */
static bool
taggable(const void *block)
{
	if (refuse_next && block != NULL) {
		refuse_next = false;
		untaggable = block;
	}
	return block != untaggable && slot_taggable(block);
}
#else
#define taggable slot_taggable
#endif

static struct entry *
entry_new(size_t size)
{
	struct entry *e = ttlkv__entry_alloc(size), *other;

	if (LIKELY(e == NULL || taggable(e)))
		return e;
	other = ttlkv__alloc(size);
	ttlkv__free(e);
	if (other != NULL && !taggable(other)) {
		ttlkv__free(other);
		other = NULL;
	}
	return other;
}

struct entry *
ttlkv__entry_new(const void *key, size_t key_len, size_t value_room)
{
	struct entry *e = entry_new(sizeof *e + key_len + value_room);

	if (e == NULL)
		return NULL;
	e->deadline = 0;
	e->key_len = (uint32_t)key_len;
	e->value_len = (uint32_t)value_room;
	if (key_len != 0)
		memcpy(e->bytes, key, key_len);
	return e;
}

ttlkv_status
ttlkv__entry_make(struct ttlkv *store, const void *key, size_t key_len, const void *value,
    size_t value_len, uint64_t ttl_ms, struct entry **out)
{
	ttlkv_status status;
	uint64_t deadline;

	*out = NULL;
	if (value == NULL && value_len != 0)
		return TTLKV_INVALID_ARGUMENT;
	if (value_len > store->max_value_size)
		return TTLKV_VALUE_TOO_LARGE;
	if ((status = ttlkv__deadline_after(store, ttl_ms, &deadline)) != TTLKV_OK)
		return status;
	if ((*out = ttlkv__entry_new(key, key_len, value_len)) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	(*out)->deadline = deadline;
	if (value_len != 0)
		memcpy((*out)->bytes + key_len, value, value_len);
	return TTLKV_OK;
}

static ttlkv_status
put(struct ttlkv *store, const void *key, size_t key_len, const void *value,
    size_t value_len, uint64_t ttl_ms, bool if_absent)
{
	ttlkv_status status = write_check(store, key, key_len);
	struct shard *shard;
	struct entry *e;
	uint64_t hash;

	if (status != TTLKV_OK)
		return status;
	if ((status = ttlkv__entry_make(store, key, key_len, value, value_len, ttl_ms, &e)) != TTLKV_OK)
		return status;
	hash = ttlkv__hash(store, key, key_len);
	shard = shard_for(store, hash);
	warm(shard, hash, e);
	shard_lock(shard);
	status = ttlkv__install(shard, hash, e, table_find(shard, hash, e), if_absent);
	shard_unlock(shard);
	if (status != TTLKV_OK)
		ttlkv__recycle(e);
	return status;
}

ttlkv_status
ttlkv_put(ttlkv *store, const void *key, size_t key_len,
    const void *value, size_t value_len, uint64_t ttl_ms)
{
	return put(store, key, key_len, value, value_len, ttl_ms, false);
}

ttlkv_status
ttlkv_put_if_absent(ttlkv *store, const void *key, size_t key_len,
    const void *value, size_t value_len, uint64_t ttl_ms)
{
	return put(store, key, key_len, value, value_len, ttl_ms, true);
}

ttlkv_status
ttlkv__keyed_write(struct ttlkv *store, const void *key, size_t key_len,
    keyed_write_fn *fn, void *context, enum write_mode mode)
{
	ttlkv_status status = write_check(store, key, key_len);
	struct shard *shard;
	struct probe probe;
	uint64_t hash;

	if (status != TTLKV_OK)
		return status;
	hash = ttlkv__hash(store, key, key_len);
	shard = shard_for(store, hash);
	probe_init(&probe, key, key_len);
	warm(shard, hash, &probe);
	shard_lock(shard);
	status = fn(shard, hash, table_find(shard, hash, &probe), context);
	shard_unlock_freeing(shard, mode == WRITE_EXPIRY ? 0 : FREES_PER_WRITE);
	return status;
}

ttlkv_status
ttlkv__remove(struct shard *shard, uint64_t hash, struct entry *entry)
{
	bool expired;

	if (entry == NULL)
		return TTLKV_NOT_FOUND;
	if (!ttlkv__retire_prepare(shard, entry))
		return TTLKV_OUT_OF_MEMORY;
	expired = expired_now(shard->store, entry);
	if (expired && !ttlkv__expired_reserve(shard, entry))
		return TTLKV_OUT_OF_MEMORY;
	if (expired)
		ttlkv__expired_note(shard, entry);
	ttlkv__unlink(shard, hash, entry, expired);
	return expired ? TTLKV_NOT_FOUND : TTLKV_OK;
}

static ttlkv_status
remove_entry(struct shard *shard, uint64_t hash, struct entry *entry, void *context)
{
	(void)context;
	return ttlkv__remove(shard, hash, entry);
}

ttlkv_status
ttlkv_delete(ttlkv *store, const void *key, size_t key_len)
{
	return ttlkv__keyed_write(store, key, key_len, remove_entry, NULL, WRITE_CALLER);
}

ttlkv_status
ttlkv__change_deadline(struct shard *shard, uint64_t hash, struct entry *entry, void *context)
{
	uint64_t deadline = *(const uint64_t *)context;
	bool record;

	(void)hash;
	if (entry == NULL || expired_now(shard->store, entry))
		return TTLKV_NOT_FOUND;
	record = needs_schedule_record(shard->store, deadline, entry->scheduled);
	if (record && !ttlkv__schedule_reserve(shard, entry->key_len))
		return TTLKV_OUT_OF_MEMORY;
	STORE(&entry->deadline, deadline);
	if (record) {
		entry->scheduled = deadline;
		ttlkv__schedule_append(shard, entry->bytes, entry->key_len, deadline);
	}
	return TTLKV_OK;
}

ttlkv_status
ttlkv_set_ttl(ttlkv *store, const void *key, size_t key_len, uint64_t ttl_ms)
{
	ttlkv_status status = key_check(store, key, key_len);
	uint64_t deadline;

	if (status != TTLKV_OK)
		return status;
	if ((status = ttlkv__deadline_after(store, ttl_ms, &deadline)) != TTLKV_OK)
		return status;
	return ttlkv__keyed_write(store, key, key_len, ttlkv__change_deadline, &deadline, WRITE_CALLER);
}

struct due_check {
	uint64_t scheduled;
	uint64_t *deadline;
};

ttlkv_status
ttlkv__expire_if_due(struct shard *shard, uint64_t hash, struct entry *entry,
    uint64_t scheduled, uint64_t *deadline_out)
{
	uint64_t deadline;

	if (entry == NULL)
		return TTLKV_NOT_FOUND;
	deadline = LOAD(&entry->deadline);
	if (deadline_passed(deadline, store_now(shard->store))) {
		if (!ttlkv__retire_prepare(shard, entry))
			return TTLKV_OUT_OF_MEMORY;
		ttlkv__unlink(shard, hash, entry, true);
		*deadline_out = deadline;
		return TTLKV_OK;
	}
	if (scheduled != 0) {
		if (entry->scheduled != scheduled)
			return TTLKV_NOT_FOUND;
		entry->scheduled = deadline;
		if (deadline == 0)
			return TTLKV_NOT_FOUND;
	}
	*deadline_out = deadline != 0 ? deadline : TTLKV_NO_EXPIRY;
	return TTLKV_NOT_DUE;
}

static ttlkv_status
expire_if_due(struct shard *shard, uint64_t hash, struct entry *entry, void *context)
{
	const struct due_check *due = context;

	return ttlkv__expire_if_due(shard, hash, entry, due->scheduled, due->deadline);
}

ttlkv_status
ttlkv_expire_due(ttlkv *store, const void *key, size_t key_len,
    uint64_t scheduled_ms, uint64_t *deadline_ms)
{
	struct due_check due = { scheduled_ms, deadline_ms };

	if (deadline_ms == NULL)
		return TTLKV_INVALID_ARGUMENT;
	return ttlkv__keyed_write(store, key, key_len, expire_if_due, &due, WRITE_EXPIRY);
}
