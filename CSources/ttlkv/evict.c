/*
 * Making room for a write under a byte budget: which entries leave its
 * shard, and how, so that a write that fails has evicted nothing.
 *
 * A write first describes what it brings and takes (struct room); then,
 * under the shard lock:
 *   make    refuses it with TTLKV_TOO_LARGE_FOR_BUDGET if it could not fit
 *           beside the shard's table and ghost alone (nothing changed), and
 *           with TTLKV_OUT_OF_MEMORY if it cannot fit once every other entry
 *           is gone (records waiting to be drained hold the room); grows the
 *           table if an insert needs slots and the budget has room for the
 *           larger table, else counts the slots victims must free; chooses
 *           victims, taking each out of its queue (and out of the held bytes)
 *           but leaving it in the table; and secures what the write and its
 *           victims' removal need (retire batches, room in the expired and
 *           eviction logs). If any of it fails the victims go back.
 *   undo    (the write failed later: TTLKV_FULL) puts every victim back at
 *           the head of the queue it came from, in the order it had;
 *   commit  (nothing can fail any more) removes the victims from the table,
 *           counts, logs and retires them, just before the write itself
 *           changes the table.
 * So on failure only the queues' order and the frequencies the write looked
 * at have changed (the bookkeeping ttlkv.h allows), never an entry.
 *
 * Choosing, S3-FIFO's way (budget.c), one queue head per step: the main
 * queue's while main holds more than nine tenths of the shard's budget (its
 * share less its fixed bytes) or small is empty, else small's.
 *   expired    leaves as an expiry: counted in stats.expired, logged for
 *              ttlkv_drain_expired, its fingerprint to the ghost;
 *   protected  (the entry the write replaces, or one marked by
 *              ttlkv_put_all for its own keys) goes to main's tail;
 *   small      with frequency 2 or 3 it moves to main's tail at 0; else it
 *              is evicted and leaves its fingerprint in the ghost;
 *   main       with frequency 1 to 3 it goes to main's tail, one lower; else
 *              it is evicted.
 * After K steps the write keeps no more entries: every later head leaves
 * (or, protected, rotates).
 *
 * Scopes (store->eviction, ttlkv.h "Eviction scope"). VOLATILE and NONE
 * follow the steps above, but a live head the scope may not evict (no
 * deadline; anything live for NONE) goes to main's tail unchanged; after
 * 4K of those the write gives up (nothing else may leave). VOLATILE_TTL
 * (plan_nearest) examines up to K/2 entries with a deadline at the head of
 * each queue per victim (among at most 2K entries met there) and takes the
 * nearest, moving those without one to main's tail (4K at most per write)
 * so that the next look samples others. So a write examines at most K entries it keeps,
 * plus those that must leave for it to fit, plus its own it meets. K = 16
 * costs about 0.1 point of miss ratio against unbounded work
 * (Benchmarks/Eviction/ablation.md).
 */
#include "internal.h"

#include <string.h>

/* Entries a write may examine and keep (the design's K). */
#define EVICT_K 16

/* Entries a write may keep because its scope forbids evicting them, before
 * it gives up: a run of them at a queue's head costs a few writes at most
 * (each moves those it met to main's tail). */
#define EVICT_KEEP_OTHER (4 * EVICT_K)

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

static uint64_t steps_peak, forced_peak, unforced_peak;

void
ttlkv_testing_eviction_work(uint64_t *steps, uint64_t *forced, uint64_t *unforced)
{
	*steps = __atomic_exchange_n(&steps_peak, 0, __ATOMIC_RELAXED);
	*forced = __atomic_exchange_n(&forced_peak, 0, __ATOMIC_RELAXED);
	*unforced = __atomic_exchange_n(&unforced_peak, 0, __ATOMIC_RELAXED);
}
#endif

void
ttlkv__room_init(struct room *room, struct shard *shard)
{
	memset(room, 0, sizeof *room);
	room->shard = shard;
}

/* Bytes of records the victims chosen so far would append. */
static uint64_t
victim_records(const struct room *room)
{
	if (!tracks_expiry(room->shard->store))
		return 0;
	return (room->evictions + room->expirations) * RECORD_HEADER + room->evicted_keys +
	    room->expiring_keys;
}

/* Whether e's record would take the records past their slice of the share
 * (log_room) while they fill more than half of it: records never displace
 * entries, so the write is refused rather than evict to pay for records,
 * and the store asks for a drain (ttlkv_drain_wanted, already set by the
 * append that passed half unless a caller took it). With the logs at most
 * half full, a write whose own evictions leave more records than the slice
 * holds (large values over small entries) passes it: refused, it would be
 * refused again after every drain, with no flag to say why. */
static bool
records_full(const struct room *room, const struct entry *e)
{
	const struct shard *shard = room->shard;
	uint64_t slice = log_room(shard);

	if (slice == 0 || shard->logged <= slice / 2 ||
	    shard->logged + room->records + victim_records(room) + RECORD_BYTES(entry_key_len(e)) <= slice)
		return false;
	if (!LOAD(&shard->store->drain_wanted))
		STORE(&shard->store->drain_wanted, 1);
	return true;
}

/* Whether the write fits beside what is left once the victims are gone. */
static bool
fits(const struct room *room)
{
	const struct shard *shard = room->shard;
	uint64_t logs = shard->logged + room->records + victim_records(room);
	uint64_t after = shard->fixed - shard->logged + shard->held - room->freed + room->size +
	    (logs > log_room(shard) ? logs : log_room(shard));

	return after <= shard->share && room->victim_count >= room->slots_needed;
}

/* Moves n to main's tail, from whichever queue it is in. */
static void
to_main_tail(struct shard *shard, struct node *n)
{
	queue_remove(n);
	if (!(n->next & NODE_MAIN)) {
		shard->small_bytes -= entry_charge(shard->store, node_entry(n));
		n->next |= NODE_MAIN;
	}
	queue_append(&shard->main, n);
}

/* Takes n out of its queue and the held bytes, onto the victims' stack. */
static void
choose(struct room *room, struct node *n, bool expired)
{
	struct shard *shard = room->shard;
	const struct entry *e = node_entry(n);
	uint64_t charge = entry_charge(shard->store, e);

	queue_remove(n);
	if (!(n->next & NODE_MAIN))
		shard->small_bytes -= charge;
	STORE(&shard->held, shard->held - charge);
	n->next = (uintptr_t)room->victims | (n->next & NODE_MAIN) | (expired ? NODE_MARK : 0);
	room->victims = n;
	room->victim_count++;
	room->victim_sizes += entry_size(e);
	if (expired) {
		room->expirations++;
		room->expiring_keys += entry_key_len(e);
	} else {
		room->evictions++;
		room->evicted_keys += entry_key_len(e);
	}
}

/* Whether the scope lets a live entry be evicted. */
static bool
evictable(uint32_t scope, const struct entry *e)
{
	return scope == TTLKV_EVICT_ALL || (scope != TTLKV_EVICT_NONE && entry_deadline(e) != 0);
}

/* Keeps n, which the scope may not evict: false once the write has kept
 * EVICT_KEEP_OTHER of those (it gives up). */
static bool
keep_other(struct room *room, struct node *n)
{
	if (++room->kept_other > EVICT_KEEP_OTHER)
		return false;
	to_main_tail(room->shard, n);
	return true;
}

/* One victim for VOLATILE_TTL: of up to K/2 entries with a deadline at the
 * head of each queue, an expired one at once, else the nearest; the others
 * examined go to their queue's tail, so that the next victim is chosen
 * from a fresh sample (else the longest deadlines would settle at the
 * heads and the choice would decay to FIFO order), and those without a
 * deadline met on the way go to main's tail. False if none qualified. */
static bool
choose_nearest(struct room *room)
{
	struct shard *shard = room->shard;
	struct node *queues[2] = { &shard->main, &shard->small };
	struct node *seen[2][EVICT_K / 2], *best = NULL;
	uint64_t best_deadline = UINT64_MAX;
	int seen_count[2] = { 0, 0 };

	for (int q = 0; q < 2; q++) {
		struct node *n = queue_head(queues[q]);

		/* met counts every entry met: main may hold nothing but keys
		 * without a deadline, which this walk moves to its tail. */
		for (int met = 0; n != NULL && n != queues[q] && seen_count[q] < EVICT_K / 2 &&
		    met < EVICT_KEEP_OTHER / 2; met++) {
			struct node *next = node_next(n);
			const struct entry *e = node_entry(n);
			uint64_t deadline = entry_deadline(e);

			room->steps++;
			if (e == room->protect || (n->next & NODE_MARK)) {
				/* the write's own: neither a victim nor moved */
			} else if (records_full(room, e)) {
				return false;
			} else if (deadline_passed(deadline, room->now)) {
				choose(room, n, true);
				return true;
			} else if (deadline == 0) {
				if (!keep_other(room, n))
					return false;
			} else {
				seen[q][seen_count[q]++] = n;
				if (deadline < best_deadline) {
					best = n;
					best_deadline = deadline;
				}
			}
			n = next;
		}
	}
	if (best == NULL || records_full(room, node_entry(best)))
		return false;
	choose(room, best, false);
	for (int q = 0; q < 2; q++) {
		for (int i = 0; i < seen_count[q]; i++) {
			if (seen[q][i] != best) {
				queue_remove(seen[q][i]);
				queue_append(queues[q], seen[q][i]);
			}
		}
	}
	return true;
}

static bool
plan_nearest(struct room *room)
{
	while (!fits(room)) {
		if (!choose_nearest(room))
			return false;
	}
	return true;
}

/* Chooses victims until the write fits; false if the queues ran out (only
 * the write's own entries, or none, are left) or the scope allows no
 * victim among those the write may examine. */
static bool
plan(struct room *room)
{
	struct shard *shard = room->shard;
	uint64_t budget = shard->share > shard->fixed ? shard->share - shard->fixed : 0;
	uint32_t scope = LOAD(&shard->store->eviction);

	if (scope == TTLKV_EVICT_VOLATILE_TTL)
		return plan_nearest(room);
	while (!fits(room)) {
		bool from_main = shard->held - shard->small_bytes > budget - budget / 10 ||
		    queue_head(&shard->small) == NULL;
		struct node *n = queue_head(from_main ? &shard->main : &shard->small);
		bool force = room->steps >= EVICT_K;
		const struct entry *e;
		uint8_t freq;

		if (n == NULL && (n = queue_head(from_main ? &shard->small : &shard->main)) != NULL)
			from_main = !from_main;
		if (n == NULL)
			return false;
		e = node_entry(n);
		room->steps++;
		if (e == room->protect || (n->next & NODE_MARK)) {
			/* Past K steps every other entry met leaves, so the write's
			 * own come round again only once the others are gone. */
			if (++room->protected_met > LOAD(&shard->count) + EVICT_K)
				return false;
			to_main_tail(shard, n);
			continue;
		}
		if (records_full(room, e))
			return false;
		if (deadline_passed(entry_deadline(e), room->now)) {
			room->forced += force;
			choose(room, n, true);
			continue;
		}
		if (!evictable(scope, e)) {
			if (!keep_other(room, n))
				return false;
			continue;
		}
		freq = node_freq(n);
		if (!force && !from_main && freq >= 2) {
			to_main_tail(shard, n);
			node_set_freq(n, 0);
			continue;
		}
		if (!force && from_main && freq >= 1) {
			to_main_tail(shard, n);
			node_set_freq(n, (uint8_t)(freq - 1));
			continue;
		}
		room->forced += force;
		choose(room, n, false);
	}
	return true;
}

/* Everything the write and its victims' removal may need to allocate. */
static bool
reserve(struct room *room)
{
	struct shard *shard = room->shard;

	return ttlkv__retire_reserve(shard, room->retires + room->victim_count,
	    room->retire_bytes + room->victim_sizes) &&
	    ttlkv__expired_reserve_many(shard, room->expiries + room->expirations,
	    room->expired_keys + room->expiring_keys) &&
	    ttlkv__evicted_reserve(shard, room->evictions, room->evicted_keys);
}

ttlkv_status
ttlkv__room_make(struct room *room)
{
	struct shard *shard = room->shard;

	if (shard->share == 0) {
		if (!reserve(room) || (room->inserts != 0 && !ttlkv__table_reserve(shard, room->inserts)))
			return TTLKV_OUT_OF_MEMORY;
		return TTLKV_OK;
	}
	/* Its table and ghost are all the shard could not give up. */
	if (shard->fixed - shard->logged + log_room(shard) + room->size > shard->share)
		return TTLKV_TOO_LARGE_FOR_BUDGET;
	room->now = store_now(shard->store);
	if (room->inserts != 0 && (shard->count + room->inserts) * 2 > shard->slots) {
		uint64_t slots = shard->slots;

		while ((shard->count + room->inserts) * 2 > slots)
			slots *= 2;
		if (ttlkv__slots_allowed(slots) &&
		    ttlkv__table_fits(shard, slots, room->size + room->records, room->freed)) {
			if (!ttlkv__table_reserve(shard, room->inserts))
				return TTLKV_OUT_OF_MEMORY;
		} else {
			room->slots_needed = shard->count + room->inserts - shard->slots / 2;
		}
	}
	/* Out of entries to evict: records waiting to be drained take the room
	 * (or the table cannot grow within the budget). */
	if (!plan(room)) {
		ttlkv__room_undo(room);
		return TTLKV_OUT_OF_MEMORY;
	}
	if (!reserve(room)) {
		ttlkv__room_undo(room);
		return TTLKV_OUT_OF_MEMORY;
	}
	return TTLKV_OK;
}

void
ttlkv__room_undo(struct room *room)
{
	struct shard *shard = room->shard;

	while (room->victims != NULL) {
		struct node *n = room->victims;
		uint64_t charge = entry_charge(shard->store, node_entry(n));

		room->victims = node_next(n);
		n->next &= NODE_MAIN;
		STORE(&shard->held, shard->held + charge);
		if (n->next & NODE_MAIN) {
			queue_push(&shard->main, n);
		} else {
			shard->small_bytes += charge;
			queue_push(&shard->small, n);
		}
	}
	room->victim_count = room->evictions = room->expirations = 0;
	room->victim_sizes = room->evicted_keys = room->expiring_keys = 0;
}

void
ttlkv__room_commit(struct room *room)
{
	struct shard *shard = room->shard;
	struct ttlkv *store = shard->store;

	while (room->victims != NULL) {
		struct node *n = room->victims;
		struct entry *e = node_entry(n);
		uint64_t hash = ttlkv__hash(store, entry_key(e), entry_key_len(e));

		room->victims = node_next(n);
		ttlkv__table_remove(shard, hash, e);
		if (n->next & NODE_MARK) {
			STORE(&shard->expired, shard->expired + 1);
			ttlkv__expired_note(shard, e);
			ttlkv__ghost_add(shard, hash);
		} else {
			STORE(&shard->evicted, shard->evicted + 1);
			ttlkv__evicted_note(shard, e);
			if (!(n->next & NODE_MAIN))
				ttlkv__ghost_add(shard, hash);
			shard->has_evicted = true;
		}
		ttlkv__retire(shard, e);
	}
	if (room->steps != 0) {
		TESTING_PEAK(steps_peak, room->steps);
		TESTING_PEAK(forced_peak, room->forced);
		TESTING_PEAK(unforced_peak, room->steps - room->forced - room->protected_met - room->kept_other);
	}
}
