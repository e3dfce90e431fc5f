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
	if (now > TTLKV_MAX_DEADLINE_MS - ttl_ms)
		return TTLKV_INVALID_TTL;
	*deadline = now + ttl_ms;
	return TTLKV_OK;
}

static bool
expired_now(struct ttlkv *store, const struct entry *entry)
{
	uint64_t deadline = entry_deadline(entry);

	return deadline != 0 && deadline_passed(deadline, store_now(store));
}

/* Whether giving a key `deadline` needs a new schedule record: the first
 * deadline, or one earlier than the pending record's. */
static bool
needs_schedule_record(const struct ttlkv *store, uint64_t deadline, uint64_t scheduled)
{
	return tracks_expiry(store) && deadline != 0 && (scheduled == 0 || deadline < scheduled);
}

ttlkv_status
ttlkv__place(struct shard *shard, uint64_t hash, struct entry *e, struct entry *old,
    bool old_expired, bool to_main)
{
	void *previous;

	/* Publish a fully built entry: free on x86, needed where stores may
	 * pass one another (ck_hs stores the slot without a fence). */
	ck_pr_fence_store();
	TSAN_RELEASE(e);
	if (old == NULL) {
		/* The lookup above proved the key absent, so the insert may
		 * take the first free or tombstoned slot of its probe sequence:
		 * ck_hs_put would search on to the probe limit for an empty
		 * one, which under steady churn no longer exists. */
		if (!ck_hs_put_unique(&shard->hs, hash, slot_tag(e, hash)))
			return TTLKV_OUT_OF_MEMORY;
		rebuild_note(shard, hash, slot_tag(e, hash), false);
		ttlkv__held_insert(shard, e, to_main);
		return TTLKV_OK;
	}
	ck_hs_fas(&shard->hs, hash, slot_tag(e, hash), &previous);
	rebuild_note(shard, hash, previous, true);
	rebuild_note(shard, hash, slot_tag(e, hash), false);
	ttlkv__held_replace(shard, e, old);
	if (old_expired) {
		STORE(&shard->expired, shard->expired + 1);
		ttlkv__expired_note(shard, old);
	}
	ttlkv__retire(shard, old);
	return TTLKV_OK;
}

/*
 * Under the shard lock: puts entry e in place of old. Everything that can
 * fail comes first (schedule room, then the room for e: retire batch,
 * expired-log room, table slots, and under a budget the victims that must
 * leave), then the quota for a new key, and only then the victims go and
 * the table changes. The one failure left after that, ck_hs finding no free
 * or tombstoned slot within its probe limit (at a load of at most one half)
 * and failing to grow, would leave the victims evicted: it needs a run of
 * occupied slots as long as the probe limit, which does not happen.
 */
ttlkv_status
ttlkv__install(struct shard *shard, uint64_t hash, struct entry *e, struct entry *old, bool if_absent)
{
	struct ttlkv *store = shard->store;
	bool old_expired = old != NULL && expired_now(store, old), record, to_main = false;
	struct room room;
	ttlkv_status status;

	if (old != NULL && !old_expired && if_absent)
		return TTLKV_EXISTS;
	entry_set_scheduled(e, old != NULL ? entry_scheduled(old) : 0);
	record = needs_schedule_record(store, entry_deadline(e), entry_scheduled(e));
	if (record && !ttlkv__schedule_reserve(shard, entry_key_len(e)))
		return TTLKV_OUT_OF_MEMORY;
	ttlkv__room_init(&room, shard);
	room.size = entry_charge(store, e);
	room.records = record ? RECORD_BYTES(entry_key_len(e)) : 0;
	if (old == NULL) {
		room.inserts = 1;
	} else {
		room.freed = entry_charge(store, old);
		room.retires = 1;
		room.retire_bytes = entry_size(old);
		room.protect = old;
	}
	if (old_expired) {
		room.expiries = 1;
		room.expired_keys = entry_key_len(old);
		room.records += tracks_expiry(store) ? RECORD_BYTES(entry_key_len(old)) : 0;
	}
	if ((status = ttlkv__room_make(&room)) != TTLKV_OK)
		return status;
	if (old == NULL && !ttlkv__quota_take(store, 1)) {
		ttlkv__room_undo(&room);
		return TTLKV_FULL;
	}
	/* Only now: a refused write leaves the ghost as it was. */
	if (old == NULL && shard->share != 0)
		to_main = ttlkv__ghost_take(shard, hash);
	ttlkv__room_commit(&room);
	if (record)
		entry_set_scheduled(e, entry_deadline(e));
	if ((status = ttlkv__place(shard, hash, e, old, old_expired, to_main)) != TTLKV_OK) {
		ttlkv__quota_give_back(store, 1);
		return status;
	}
	if (record)
		ttlkv__schedule_append(shard, entry_key(e), entry_key_len(e), entry_deadline(e));
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
 * A block for an entry, at an address a tagged slot can hold (and, with a
 * budget, whose node's links fit in 56 bits). A block that cannot be tagged
 * (never seen on Linux x86-64, whose user addresses fit in 47 bits) is not
 * recycled, which would hand it straight back: a second block is allocated
 * while the first is still held, so that it differs, and only then is the
 * first freed. If that one cannot be tagged either, the memory counts as
 * none.
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

static bool
block_fits(const unsigned char *block, size_t node_bytes)
{
	return taggable(block + node_bytes) && (uintptr_t)block >> 56 == 0;
}

static unsigned char *
block_new(size_t size, size_t node_bytes)
{
	unsigned char *b = ttlkv__entry_alloc(size), *other;

	if (LIKELY(b == NULL || block_fits(b, node_bytes)))
		return b;
	other = ttlkv__alloc(size);
	ttlkv__free(b);
	if (other != NULL && !block_fits(other, node_bytes)) {
		ttlkv__free(other);
		other = NULL;
	}
	return other;
}

struct entry *
ttlkv__entry_new(struct ttlkv *store, const void *key, size_t key_len, size_t value_room)
{
	unsigned char *block = block_new(entry_block_size(store, key_len, value_room),
	    store->node_bytes);
	struct entry *e;

	if (block == NULL)
		return NULL;
	e = (struct entry *)(void *)(block + store->node_bytes);
	entry_init(e, key_len, value_room);
	if (key_len != 0)
		memcpy(e->bytes + (entry_key_long(e) ? sizeof(uint64_t) : 0), key, key_len);
	return e;
}

void
ttlkv__entry_free(struct ttlkv *store, struct entry *e)
{
	if (e != NULL) {
		ttlkv__recycle(entry_block(store, e));
		ttlkv__recycle_settle();
	}
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
	if ((*out = ttlkv__entry_new(store, key, key_len, value_len)) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	entry_set_deadline(*out, deadline);
	if (value_len != 0)
		memcpy(entry_value_room(*out), value, value_len);
	return TTLKV_OK;
}

static ttlkv_status
put(struct ttlkv *store, const void *key, size_t key_len, const void *value,
    size_t value_len, uint64_t ttl_ms, bool if_absent)
{
	ttlkv_status status = write_check(store, key, key_len);
	struct shard *shard;
	struct ghost ghost;
	struct entry *e;
	uint64_t hash;

	if (status != TTLKV_OK)
		return status;
	if ((status = ttlkv__entry_make(store, key, key_len, value, value_len, ttl_ms, &e)) != TTLKV_OK)
		return status;
	hash = ttlkv__hash(store, key, key_len);
	shard = shard_for(store, hash);
	warm(shard, hash, e);
	ghost = ttlkv__ghost_offer(shard);
	shard_lock(shard);
	status = ttlkv__install(shard, hash, e, table_find(shard, hash, e), if_absent);
	if (status == TTLKV_OK)
		ttlkv__ghost_adopt(shard, &ghost);
	shard_unlock(shard);
	ttlkv__ghost_free(&ghost);
	if (status != TTLKV_OK)
		ttlkv__entry_free(store, e);
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
	ttlkv__unlink(shard, hash, entry, expired ? REMOVAL_EXPIRY : REMOVAL_DELETE);
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
	record = needs_schedule_record(shard->store, deadline, entry_scheduled(entry));
	if (record && !ttlkv__schedule_reserve(shard, entry_key_len(entry)))
		return TTLKV_OUT_OF_MEMORY;
	if (record && shard->share != 0) {
		/* Under a budget the record needs room as a write's records do
		 * (evict.c): within the records' slice, or evicting for it. */
		struct room room;
		ttlkv_status status;

		ttlkv__room_init(&room, shard);
		room.records = RECORD_BYTES(entry_key_len(entry));
		room.protect = entry;
		if ((status = ttlkv__room_make(&room)) != TTLKV_OK)
			return status;
		ttlkv__room_commit(&room);
	}
	entry_set_deadline(entry, deadline);
	if (record) {
		entry_set_scheduled(entry, deadline);
		ttlkv__schedule_append(shard, entry_key(entry), entry_key_len(entry), deadline);
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
    uint64_t scheduled, uint64_t *deadline_out, ttlkv_schedule_fn *removed, void *context)
{
	uint64_t deadline;

	if (entry == NULL)
		return TTLKV_NOT_FOUND;
	deadline = entry_deadline(entry);
	if (deadline_passed(deadline, store_now_precise(shard->store))) {
		if (!ttlkv__retire_prepare(shard, entry))
			return TTLKV_OUT_OF_MEMORY;
		if (removed != NULL)
			removed(entry_key(entry), entry_key_len(entry), deadline, context);
		ttlkv__unlink(shard, hash, entry, REMOVAL_EXPIRY);
		*deadline_out = deadline;
		return TTLKV_OK;
	}
	if (scheduled != 0) {
		if (entry_scheduled(entry) != scheduled)
			return TTLKV_NOT_FOUND;
		entry_set_scheduled(entry, deadline);
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

	return ttlkv__expire_if_due(shard, hash, entry, due->scheduled, due->deadline, NULL, NULL);
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
