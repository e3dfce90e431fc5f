/*
 * Maintenance for programs without an expiry worker: the incremental sweep
 * and on-demand reclamation.
 *
 * The sweep scans slots as a reader (ck_hs_next_spmc inside an epoch
 * section, no lock), collects up to SWEEP_BATCH expired entries, and only
 * then takes the shard lock to remove those that are still in the table and
 * still expired. A cursor (shard, slot offset) carries over between calls,
 * so repeated small sweeps visit the whole table in turn. The entry pointers
 * it collects stay valid because the section is still open when it removes.
 */
#include "internal.h"

#define SWEEP_BATCH 64

static void
remove_expired(struct shard *shard, struct entry **found, size_t n, uint64_t now,
    size_t *removed)
{
	struct ttlkv *store = shard->store;

	shard_lock(shard);
	for (size_t i = 0; i < n; i++) {
		struct entry *e = found[i];
		uint64_t hash = ttlkv__hash(store, e->bytes, e->key_len);

		if (ck_hs_get(&shard->hs, hash, e) != e ||
		    !deadline_passed(LOAD(&e->deadline), now) ||
		    !ttlkv__retire_prepare(shard))
			continue;
		ttlkv__unlink(shard, hash, e, true);
		(*removed)++;
	}
	shard_unlock(shard);
}

/* Scans from *offset for up to budget slots; returns slots visited and
 * whether the end of the shard's table was reached. */
static size_t
sweep_shard(struct shard *shard, unsigned long *offset, size_t budget,
    uint64_t now, size_t *removed, bool *wrapped)
{
	struct entry *found[SWEEP_BATCH];
	size_t n = 0;
	ck_hs_iterator_t it = CK_HS_ITERATOR_INITIALIZER;
	unsigned long start = *offset;
	void *object;

	it.offset = start;
	*wrapped = true;
	while (ck_hs_next_spmc(&shard->hs, &it, &object)) {
		struct entry *e = object;

		TSAN_ACQUIRE(e);
		if (deadline_passed(LOAD(&e->deadline), now))
			found[n++] = e;
		if (n == SWEEP_BATCH || it.offset - start >= budget) {
			*wrapped = false;
			break;
		}
	}
	if (n != 0)
		remove_expired(shard, found, n, now, removed);
	if (!*wrapped) {
		*offset = it.offset;
		return it.offset - start;
	}
	*offset = 0;
	return start < LOAD(&shard->slots) ? LOAD(&shard->slots) - start : 1;
}

static void
flush(struct shard *shard)
{
	shard_lock(shard);
	ttlkv__retire_flush(shard);
	shard_unlock(shard);
}

static void
free_ready(struct shard *shard)
{
	void *out[64];
	size_t n;

	do {
		shard_lock(shard);
		n = ttlkv__take_ready(shard, out, 64);
		shard_unlock(shard);
		ttlkv__free_blocks(out, n);
	} while (n != 0);
}

ttlkv_status
ttlkv_sweep(ttlkv *store, size_t max_slots, size_t *removed)
{
	ck_epoch_record_t *record;
	size_t visited = 0, n_removed = 0;
	uint64_t now;

	if (store == NULL)
		return TTLKV_INVALID_ARGUMENT;
	if ((record = ttlkv__reader()) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	now = store_now(store);
	pthread_mutex_lock(&store->sweep_lock);
	while (visited < max_slots) {
		struct shard *shard = &store->shards[store->sweep_shard];
		bool wrapped;

		section_begin(record);
		visited += sweep_shard(shard, &store->sweep_offset, max_slots - visited,
		    now, &n_removed, &wrapped);
		section_end(record);
		if (wrapped) {
			flush(shard);
			free_ready(shard);
			store->sweep_shard = (store->sweep_shard + 1) % store->n_shards;
		}
	}
	pthread_mutex_unlock(&store->sweep_lock);
	if (removed != NULL)
		*removed = n_removed;
	return TTLKV_OK;
}

ttlkv_status
ttlkv_reclaim(ttlkv *store)
{
	if (store == NULL)
		return TTLKV_INVALID_ARGUMENT;
	for (uint32_t i = 0; i < store->n_shards; i++)
		flush(&store->shards[i]);
	ttlkv__grace_wait(store);
	for (uint32_t i = 0; i < store->n_shards; i++)
		free_ready(&store->shards[i]);
	return TTLKV_OK;
}
