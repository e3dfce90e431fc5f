/*
 * Table maintenance: rebuilding a shard's table beside the live one.
 *
 * Why. ck_hs removes a key by leaving a tombstone in its slot, and only a
 * rebuild turns tombstones back into empty slots. A TTL store removes keys
 * all the time at a steady size, so without rebuilds its tables fill with
 * tombstones: lookups of absent keys (every insert starts with one) then run
 * to their bucket's probe bound instead of stopping at an empty slot, and
 * the bounds only ever grow. ck_hs_rebuild would fix it, but it holds the
 * writer for the whole table (milliseconds for a large shard), and a grow
 * past the planned size is the same operation at twice the size.
 *
 * How. The rebuild builds a fresh table off to the side and swaps it in:
 *   1. start    under the shard lock: remember the live map and ask writers
 *               to log their changes (shard->rebuild);
 *   2. copy     without the lock, in short read sections: hash every entry
 *               of the live map into the fresh table;
 *   3. catch up without the lock: replay the writers' log into the fresh
 *               table until at most FINAL_OPS changes are left;
 *   4. publish  under the shard lock: if at most FINAL_OPS changes are left
 *               (writers log on while the rebuilder waits for the lock),
 *               replay them, swap the fresh map in (ck_hs_move; readers see
 *               the old map or the new one, both complete), and retire the
 *               old map through the epoch; if more, back to step 3.
 * The lock is held for a time bounded by FINAL_OPS replays, whatever the
 * shard's size and however fast its writers are, and readers never wait.
 *
 * Identity. The fresh table compares by pointer only (no compare callback)
 * and never grows (no hash callback), so replaying the log never reads an
 * entry: an entry that a writer removed may already be freed. For identity
 * to be unambiguous no address may be reused while the rebuild runs, so a
 * shard being rebuilt holds its retired entries (ttlkv__retire_hold: epoch.c
 * keeps them queued) until the rebuild ends: an address in the log or the
 * copy then names one entry only. If the shard stops holding on its own
 * (so much was held back that the rebuild must have stalled), the rebuild is
 * broken and abandoned at its next step. Entries retired before the rebuild began are not in
 * the live map when the copy reads it, so their reuse is harmless.
 *
 * Failure. A log chunk that cannot be allocated, a map changed by an inline
 * grow (a writer that filled the shard faster than maintenance ran), a
 * fresh table that would need to grow, a hold given up, or a grown table
 * that the shard's byte budget no longer has room for abandons the rebuild:
 * the fresh table is dropped and nothing a reader or writer sees has
 * changed.
 *
 * When. ttlkv_maintain (maintain.c: the Swift expiry worker calls it every
 * tick; ttlkv_sweep calls it too) rebuilds a shard by the time its removals
 * since the last rebuild reach half its slots (then between a fifth and two
 * fifths of the slots are still empty, by the decay that ck_hs_put_unique's
 * reuse of tombstones gives at loads from one half to one quarter: each rebuild
 * costs a rehash of every live entry, so this trades the worker's time
 * against the length of unsuccessful probes), and grows one (to twice its
 * slots) once it holds more than its planned share and 3/8 of its slots
 * (and its budget, if any, has room for the larger table), ahead of
 * ck_hs's own grow at one half. Rebuilds are spread out in time
 * (start_next): at most one runs at a time, and the most worn shard goes
 * early whenever the store as a whole is about a quarter worn.
 */
#include "internal.h"

#include <string.h>

/* Log entries per chunk: 16 bytes each, a chunk just under 4 KiB. */
#define CHUNK_OPS 255
/* Changes left for the publish step to replay under the shard lock. */
#define FINAL_OPS 64
/* Times the publish step may find more left before the rebuild is given up. */
#define PUBLISH_TRIES 16
/* Slots copied per read section: keeps each section short. */
#define COPY_SECTION_SLOTS 1024
/* Entries hashed per prefetch round while copying. */
#define COPY_GROUP 16

/* One change: the slot value a writer inserted (or, with bit 0, removed;
 * entries are at least 8-byte aligned) and its key's hash. */
struct rebuild_op {
	uint64_t hash;
	uintptr_t slot;
};

struct log_chunk {
	struct log_chunk *next;
	struct rebuild_op ops[CHUNK_OPS];
};

struct rebuild {
	struct shard *shard;
	ck_hs_t fresh;
	const void *old_map;        /* the live map when the rebuild began */
	uint64_t slots;             /* the fresh table's slots */
	unsigned long cursor;       /* next slot of old_map to copy */
	bool copied;
	bool broken;                /* atomic: abandon at the next step */
	uint64_t logged;            /* atomic: ops in the log (release) */
	uint64_t replayed;          /* ops applied to fresh (rebuilder only) */
	uint64_t removals;          /* removals replayed: fresh's tombstones */
	uint32_t publish_tries;     /* publishes put off: too much left */
	struct log_chunk *head;     /* freed by the rebuilder */
	struct log_chunk *tail;     /* appended under the shard lock */
	struct log_chunk *reading;  /* the chunk holding op `replayed` */
};

/* Whether the rebuild must be abandoned: something failed, or its shard
 * stopped holding its retired entries (epoch.c), so addresses may be
 * reused. Read by writers under the shard lock and by the rebuilder
 * without it. */
static bool
broken(const struct rebuild *r)
{
	return LOAD(&r->broken) || !ttlkv__retire_held(r->shard);
}

/* --- Writers' side, under the shard lock. */

void
ttlkv__rebuild_note(struct shard *shard, uint64_t hash, const void *slot, bool removal)
{
	struct rebuild *r = shard->rebuild;
	uint64_t n = r->logged;
	size_t i = (size_t)(n % CHUNK_OPS);

	if (broken(r))
		return;
	if (i == 0 && n != 0) {
		struct log_chunk *c = ttlkv__alloc(sizeof *c);

		if (c == NULL) {
			STORE(&r->broken, true);
			return;
		}
		c->next = NULL;
		r->tail->next = c;
		r->tail = c;
	}
	r->tail->ops[i].hash = hash;
	r->tail->ops[i].slot = (uintptr_t)slot | (removal ? 1u : 0u);
	/* Publishes the op (and a new chunk's link) to the off-lock replay. */
	__atomic_store_n(&r->logged, n + 1, __ATOMIC_RELEASE);
}

/* --- The rebuilder's side. */

/* Adds a slot value to the fresh table; false if the table would have to
 * grow (which would call the hash callback on entries that may be gone). */
static bool
fresh_put(struct rebuild *r, uint64_t hash, const void *slot)
{
	if ((ck_hs_count(&r->fresh) + 1) * 2 > r->slots)
		return false;
	return ttlkv__fresh_put(&r->fresh, hash, slot);
}

/* Applies ops [replayed, upto) to the fresh table. */
static bool
replay(struct rebuild *r, uint64_t upto)
{
	for (; r->replayed < upto; r->replayed++) {
		size_t i = (size_t)(r->replayed % CHUNK_OPS);
		const struct rebuild_op *op;
		const void *slot;

		if (i == 0 && r->replayed != 0)
			r->reading = r->reading->next;
		op = &r->reading->ops[i];
		slot = (const void *)(op->slot & ~(uintptr_t)1);
		if (op->slot & 1) {
			if (ck_hs_remove(&r->fresh, op->hash, slot) != NULL)
				r->removals++;
		} else if (ck_hs_get(&r->fresh, op->hash, slot) == NULL &&
		    !fresh_put(r, op->hash, slot)) {
			return false;
		}
	}
	return true;
}

static void
rebuild_free(struct rebuild *r, bool drop_fresh)
{
	struct log_chunk *c = r->head;

	while (c != NULL) {
		struct log_chunk *next = c->next;

		ttlkv__free(c);
		c = next;
	}
	if (drop_fresh)
		ck_hs_destroy(&r->fresh);
	ttlkv__free(r);
}

/* Under the shard lock: writers stop logging and retired entries flow to
 * the epoch again. */
static void
rebuild_detach(struct shard *shard)
{
	shard->rebuild = NULL;
	ttlkv__retire_resume(shard);
}

static struct rebuild *
rebuild_start(struct shard *shard, uint64_t slots)
{
	struct rebuild *r = ttlkv__alloc(sizeof *r);

	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof *r);
	r->shard = shard;
	r->slots = slots;
	r->head = ttlkv__alloc(sizeof *r->head);
	if (r->head == NULL || !ttlkv__fresh_init(shard->store, &r->fresh, slots)) {
		ttlkv__free(r->head);
		ttlkv__free(r);
		return NULL;
	}
	r->head->next = NULL;
	r->tail = r->reading = r->head;
	shard_lock(shard);
	r->old_map = shard->hs.map;
	shard->rebuild = r;
	ttlkv__retire_hold(shard);
	shard_release(shard, FREES_PER_WRITE);
	return r;
}

/* Copies up to budget slots of the old map; returns the slots visited. */
static size_t
copy_some(struct shard *shard, struct rebuild *r, ck_epoch_record_t *record, size_t budget)
{
	struct slot_scan scan = { r->old_map, r->cursor };
	unsigned long end = 0, limit;
	const void *group[COPY_GROUP];
	size_t n = 0;
	bool more = true;

	section_begin(record);
	/* Read the old map only once this section has found it live: a grow
	 * that replaced it may have handed it to the epoch (a long rebuild's
	 * shard stops holding retired blocks back), and only a section begun
	 * before that keeps it from being freed. The rebuild is then abandoned. */
	if (ttlkv__table_map(shard) != r->old_map)
		STORE(&r->broken, true);
	else
		end = ttlkv__map_slots(r->old_map);
	limit = end > r->cursor && budget < end - r->cursor ? r->cursor + budget : end;
	while (more && !broken(r)) {
		const void *slot = ttlkv__scan_next(&scan, limit);

		if ((more = slot != NULL)) {
			group[n++] = slot;
			__builtin_prefetch(slot_entry(slot));
		}
		if (n == COPY_GROUP || (!more && n != 0)) {
			for (size_t i = 0; i < n; i++) {
				const struct entry *e = slot_entry(group[i]);

				TSAN_ACQUIRE(e);
				if (!fresh_put(r, ttlkv__hash(shard->store, entry_key(e), entry_key_len(e)), group[i]))
					STORE(&r->broken, true);
			}
			n = 0;
		}
	}
	section_end(record);
	r->copied = scan.offset >= end;
	budget = scan.offset - r->cursor;
	r->cursor = scan.offset;
	return budget != 0 ? budget : 1;
}

/* Replays the log off-lock within *budget ops; true once few enough are
 * left for the publish step. */
static bool
catch_up(struct rebuild *r, size_t *budget)
{
	uint64_t start = r->replayed, upto = __atomic_load_n(&r->logged, __ATOMIC_ACQUIRE);

	if (upto - start > *budget)
		upto = start + *budget;
	if (!replay(r, upto))
		STORE(&r->broken, true);
	*budget -= (size_t)(r->replayed - start);
	return __atomic_load_n(&r->logged, __ATOMIC_ACQUIRE) - r->replayed <= FINAL_OPS;
}

#ifdef TTLKV_TESTING
/* The most logged writes a publish has replayed under the shard lock. */
static uint64_t locked_replays_max;
#endif

enum publish { PUBLISHED, ABANDONED, PUBLISH_LATER };

/*
 * Publishes the rebuild, or abandons it. Under the lock it replays at most
 * FINAL_OPS logged writes: catch_up saw that few left, but writers go on
 * logging while the rebuilder waits for the lock (with more threads than
 * cores, for a whole time slice). With more left it leaves them to
 * catch_up and comes back later, PUBLISH_TRIES times at most before it
 * gives the rebuild up: writers that outrun the replay for that long would
 * otherwise keep it going for ever.
 */
static enum publish
finish(struct shard *shard, struct rebuild *r)
{
	uint64_t before;
	bool ok;

	shard_lock(shard);
	ok = !broken(r) && shard->hs.map == r->old_map &&
	    (r->slots == shard->slots || ttlkv__table_fits(shard, r->slots, 0, 0));
	if (ok && r->logged - r->replayed > FINAL_OPS && ++r->publish_tries < PUBLISH_TRIES) {
		shard_release(shard, FREES_PER_WRITE);
		return PUBLISH_LATER;
	}
	before = r->replayed;
	ok = ok && r->logged - r->replayed <= FINAL_OPS && replay(r, r->logged);
	TESTING_PEAK(locked_replays_max, r->replayed - before);
	if (ok) {
		ttlkv__table_adopt(shard, &r->fresh, r->slots);
		STORE(&shard->tombstones, r->removals);
		STORE(&shard->rebuilds, shard->rebuilds + 1);
	}
	rebuild_detach(shard);
	shard_release(shard, FREES_PER_WRITE);
	rebuild_free(r, !ok);
	return ok ? PUBLISHED : ABANDONED;
}

/* What a shard needs at once: 0 (nothing yet), or the slots its rebuilt
 * table should have. Read without the lock: a stale answer only delays or
 * wastes one rebuild. */
static uint64_t
rebuild_target(const struct shard *shard)
{
	uint64_t slots = LOAD(&shard->slots), count = LOAD(&shard->count);

	if (count > shard->planned && count * 8 > slots * 3 && ttlkv__slots_allowed(slots * 2) &&
	    ttlkv__table_fits(shard, slots * 2, 0, 0))
		return slots * 2;
	if (LOAD(&shard->tombstones) * 2 >= slots)
		return slots;
	return 0;
}

static bool
start_on(struct ttlkv *store, struct shard *shard, uint64_t slots)
{
	return (store->rebuild = rebuild_start(shard, slots)) != NULL;
}

/*
 * Under the maintain lock: starts a rebuild on the shard that needs one
 * most; false if none does. A shard that must grow, or whose removals reached
 * half its slots, goes first (round robin). Otherwise the shard with the
 * largest share of removals is rebuilt early once the store's removals reach
 * (n + 1) / 4n of all its slots. Uniform churn brings every shard to the
 * half-slots mark at once; this spreads the rebuilds out instead, one per
 * 1/n of a cycle: with the n shards' wear staggered evenly up to half their
 * slots, the most worn is at half when the sum reaches that mark, so the
 * rate of rebuilds is the same as rebuilding at half, never all together.
 */
static bool
start_next(struct ttlkv *store)
{
	struct shard *worn = NULL;
	uint64_t removed = 0, slots = 0, worn_removed = 0, worn_slots = 1;

	for (uint32_t tried = 0; tried < store->n_shards; tried++) {
		struct shard *shard = &store->shards[store->maintain_shard];
		uint64_t target = rebuild_target(shard), r = LOAD(&shard->tombstones), n = LOAD(&shard->slots);

		store->maintain_shard = (store->maintain_shard + 1) % store->n_shards;
		if (target != 0 && start_on(store, shard, target))
			return true;
		removed += r;
		slots += n;
		if (r * worn_slots > worn_removed * n) {
			worn = shard;
			worn_removed = r;
			worn_slots = n;
		}
	}
	return worn != NULL && removed * 4 * store->n_shards >= slots * (store->n_shards + 1) &&
	    start_on(store, worn, worn_slots);
}

/* Under the maintain lock: advances the rebuild in progress by up to
 * *budget slots of work; true if it ended (published or abandoned). */
static bool
advance(struct ttlkv *store, ck_epoch_record_t *record, size_t *budget, size_t *published)
{
	struct rebuild *r = store->rebuild;

	if (!r->copied && !broken(r)) {
		size_t used = copy_some(r->shard, r, record,
		    *budget < COPY_SECTION_SLOTS ? *budget : COPY_SECTION_SLOTS);

		*budget -= used < *budget ? used : *budget;
		if (!broken(r))
			return false;
	} else if (!broken(r) && !catch_up(r, budget)) {
		return false;
	}
	switch (finish(r->shard, r)) {
	case PUBLISH_LATER:
		*budget -= FINAL_OPS < *budget ? FINAL_OPS : *budget;
		return false;
	case PUBLISHED:
		++*published;
		break;
	case ABANDONED:
		break;
	}
	store->rebuild = NULL;
	return true;
}

size_t
ttlkv__rebuild_work(struct ttlkv *store, ck_epoch_record_t *record, size_t budget)
{
	size_t done = 0;

	while (budget > 0 && (store->rebuild != NULL || start_next(store)))
		advance(store, record, &budget, &done);
	return done;
}

void
ttlkv__rebuild_complete(struct ttlkv *store, ck_epoch_record_t *record)
{
	size_t budget = SIZE_MAX, done = 0;

	while (store->rebuild != NULL)
		advance(store, record, &budget, &done);
}

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

uint64_t
ttlkv_testing_locked_replays(void)
{
	return __atomic_exchange_n(&locked_replays_max, 0, __ATOMIC_RELAXED);
}

int
ttlkv_testing_rebuilding(struct ttlkv *store)
{
	int rebuilding;

	pthread_mutex_lock(&store->maintain_lock);
	rebuilding = store->rebuild != NULL && !broken(store->rebuild);
	pthread_mutex_unlock(&store->maintain_lock);
	return rebuilding;
}
#endif

/* ttlkv_close: drops a rebuild in progress (no other call may run). */
void
ttlkv__rebuild_abandon(struct ttlkv *store)
{
	struct rebuild *r = store->rebuild;

	if (r == NULL)
		return;
	store->rebuild = NULL;
	shard_lock(r->shard);
	rebuild_detach(r->shard);
	shard_release(r->shard, FREES_PER_WRITE);
	rebuild_free(r, true);
}
