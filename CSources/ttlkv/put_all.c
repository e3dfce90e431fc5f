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
 * All or nothing. Before it changes anything, the write makes a room
 * (evict.c) in every shard it writes to, for all of its pairs there at once:
 * retire batches for every entry it may retire, room in the expired log for
 * every replaced entry that has a deadline (any of them may expire while
 * the write runs: the clock moves), table slots for its new keys, and under
 * a budget the victims that must leave, never the write's own keys (their
 * entries are marked while the victims are chosen); a shard whose share
 * cannot take the write's pairs refuses it with TTLKV_TOO_LARGE_FOR_BUDGET.
 * Then it takes the quota for all its new keys at once. Any failure so far
 * puts every victim back: nothing has changed. Then the victims go, and
 * the pairs are placed, the inserts first: if one of them fails after all
 * (ck_hs out of memory, see ttlkv__install), those already made are unlinked
 * again (retired like any removed entry, since readers may have seen them),
 * which leaves their keys absent, as they were, and no expired entry has
 * been replaced or counted yet. Values never expire here, so no schedule
 * record is needed.
 *
 * Inside ttlkv_lock_keys (transaction.c) the same steps run on shards the
 * caller already holds, without taking or releasing any lock.
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
	if (entry_key_len(x->e) != entry_key_len(y->e))
		return entry_key_len(x->e) < entry_key_len(y->e) ? -1 : 1;
	if ((c = memcmp(entry_key(x->e), entry_key(y->e), entry_key_len(x->e))) != 0)
		return c;
	return x->index < y->index ? -1 : 1;
}

static bool
same_key(const struct pending *x, const struct pending *y)
{
	return x->hash == y->hash && entry_key_len(x->e) == entry_key_len(y->e) &&
	    memcmp(entry_key(x->e), entry_key(y->e), entry_key_len(x->e)) == 0;
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
				ttlkv__entry_free(store, p[i].e);
			return status;
		}
		p[i].hash = ttlkv__hash(store, it->key, it->key_len);
		p[i].shard = shard_for(store, p[i].hash);
		p[i].index = i;
	}
	qsort(p, n, sizeof *p, pending_order);
	for (i = 0; i < n; i++) {
		if (i + 1 < n && same_key(&p[i], &p[i + 1]))
			ttlkv__entry_free(store, p[i].e);
		else
			p[m++] = p[i];
	}
	*kept = m;
	return TTLKV_OK;
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
		uint64_t deadline = old != NULL ? entry_deadline(old) : 0;

		p[i].old = old;
		if (!if_none_exist || old == NULL)
			continue;
		if (deadline != 0 && now == 0)
			now = store_now(p[i].shard->store);
		if (!deadline_passed(deadline, now))
			return TTLKV_EXISTS;
	}
	return TTLKV_OK;
}

/* Marks (or unmarks) the entries the write replaces, in a store with a
 * budget, so that choosing victims passes them by. */
static void
mark(struct pending *p, size_t from, size_t to, bool on)
{
	if (p[from].shard->store->node_bytes == 0)
		return;
	for (size_t i = from; i < to; i++) {
		if (p[i].old == NULL)
			continue;
		if (on)
			node_of(p[i].old)->next |= NODE_MARK;
		else
			node_of(p[i].old)->next &= ~NODE_MARK;
	}
}

/* Under shard's lock: the room for pairs [from, to), all of that shard. */
static ttlkv_status
room_for(struct room *room, struct pending *p, size_t from, size_t to, uint64_t *inserts)
{
	struct shard *shard = p[from].shard;
	struct ttlkv *store = shard->store;
	ttlkv_status status;

	ttlkv__room_init(room, shard);
	for (size_t i = from; i < to; i++) {
		struct entry *old = p[i].old;

		room->size += entry_charge(store, p[i].e);
		/* It may retire its old entry, or its own if taken back. */
		room->retires += 1;
		room->retire_bytes += entry_size(p[i].e);
		if (old == NULL) {
			room->inserts++;
			continue;
		}
		room->freed += entry_charge(store, old);
		room->retires += 1;
		room->retire_bytes += entry_size(old);
		if (entry_deadline(old) != 0) {
			room->expiries++;
			room->expired_keys += entry_key_len(old);
			room->records += tracks_expiry(store) ? RECORD_BYTES(entry_key_len(old)) : 0;
		}
	}
	*inserts += room->inserts;
	mark(p, from, to, true);
	status = ttlkv__room_make(room);
	mark(p, from, to, false);
	return status;
}

/* Under the locks: a room in every shard, then the quota; on failure every
 * room made is undone and nothing has changed. */
static ttlkv_status
make_rooms(struct pending *p, size_t n, struct room *rooms, size_t *made)
{
	ttlkv_status status = TTLKV_OK;
	uint64_t inserts = 0;
	size_t start = 0;

	*made = 0;
	for (size_t i = 1; i <= n && status == TTLKV_OK; i++) {
		if (i < n && p[i].shard == p[start].shard)
			continue;
		ttlkv__locked_shard = p[start].shard;
		if ((status = room_for(&rooms[*made], p, start, i, &inserts)) == TTLKV_OK)
			++*made;
		start = i;
	}
	if (status == TTLKV_OK && !ttlkv__quota_take(p[0].shard->store, inserts))
		status = TTLKV_FULL;
	if (status != TTLKV_OK)
		for (size_t r = 0; r < *made; r++)
			ttlkv__room_undo(&rooms[r]);
	return status;
}

/* Under the locks, the rooms made: the victims go, then the inserts, the
 * only pairs that can fail (then those made are taken back), then the
 * replacements, which cannot. */
static ttlkv_status
apply(struct pending *p, size_t n, struct room *rooms, size_t made)
{
	struct ttlkv *store = p[0].shard->store;
	ttlkv_status status = TTLKV_OK;
	uint64_t now = store_now(store), inserts = 0;
	size_t i, done;

	for (size_t r = 0; r < made; r++) {
		ttlkv__locked_shard = rooms[r].shard;
		ttlkv__room_commit(&rooms[r]);
		inserts += rooms[r].inserts;
	}
	for (done = 0; done < n; done++) {
		if (p[done].old != NULL)
			continue;
		ttlkv__locked_shard = p[done].shard;
		if ((status = ttlkv__place(p[done].shard, p[done].hash, p[done].e, NULL, false,
		    p[done].shard->share != 0 && ttlkv__ghost_take(p[done].shard, p[done].hash))) != TTLKV_OK)
			break;
		inserts--;
	}
	if (status != TTLKV_OK) {
		ttlkv__quota_give_back(store, inserts);
		for (i = 0; i < done; i++) {
			if (p[i].old != NULL)
				continue;
			ttlkv__locked_shard = p[i].shard;
			ttlkv__unlink(p[i].shard, p[i].hash, p[i].e, REMOVAL_TAKE_BACK);
			p[i].e = NULL; /* retired: freed after readers move on */
		}
		return status;
	}
	for (i = 0; i < n; i++) {
		if (p[i].old == NULL)
			continue;
		ttlkv__locked_shard = p[i].shard;
		status = ttlkv__place(p[i].shard, p[i].hash, p[i].e, p[i].old,
		    deadline_passed(entry_deadline(p[i].old), now), false);
		assert(status == TTLKV_OK);
	}
	for (i = 0; i < n; i++)
		p[i].e = NULL;
	return TTLKV_OK;
}

/* ttlkv_put_all; with `held`, the caller holds the lock of every shard the
 * keys hash to (ttlkv_locked_put_all) and frees what the writes earned
 * when it releases them. */
static ttlkv_status
put_all(struct ttlkv *store, const ttlkv_item *items, size_t n, unsigned flags, bool held)
{
	struct pending *p;
	struct room *rooms;
	ttlkv_status status;
	size_t kept = 0, made = 0;

	if ((items == NULL && n != 0) || (flags & ~TTLKV_PUT_IF_NONE_EXIST) != 0)
		return TTLKV_INVALID_ARGUMENT;
	if (n == 0)
		return TTLKV_OK;
	if (n > SIZE_MAX / (sizeof *p + sizeof *rooms) ||
	    (p = ttlkv__alloc(n * (sizeof *p + sizeof *rooms))) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	rooms = (struct room *)(void *)(p + n);
	if ((status = prepare(store, items, n, p, &kept)) != TTLKV_OK) {
		ttlkv__free(p);
		return status;
	}
	if (!held)
		lock_all(p, kept);
	status = classify(p, kept, (flags & TTLKV_PUT_IF_NONE_EXIST) != 0);
	if (status == TTLKV_OK)
		status = make_rooms(p, kept, rooms, &made);
	if (status == TTLKV_OK)
		status = apply(p, kept, rooms, made);
	if (!held)
		unlock_all(p, kept);
	for (size_t i = 0; i < kept; i++)
		ttlkv__entry_free(store, p[i].e);
	ttlkv__free(p);
	return status;
}

ttlkv_status
ttlkv_put_all(ttlkv *store, const ttlkv_item *items, size_t n, unsigned flags)
{
	ttlkv_status status = lock_check(store);

	return status != TTLKV_OK ? status : put_all(store, items, n, flags, false);
}

ttlkv_status
ttlkv__put_all_held(struct ttlkv *store, const ttlkv_item *items, size_t n, unsigned flags)
{
	return put_all(store, items, n, flags, true);
}
