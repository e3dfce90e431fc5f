/*
 * The maintenance calls: ttlkv_maintain, which a worker calls every tick
 * (table rebuilds, rebuild.c, the frees no write makes, and giving wholly
 * free slab pages back, slab.c), and
 * ttlkv_reclaim, which frees retired memory on demand. Both sit above the
 * two mechanisms they drive, reclamation (epoch.c) and rebuilding
 * (rebuild.c), neither of which calls the other.
 */
#include "internal.h"

ttlkv_status
ttlkv_maintain(ttlkv *store, size_t max_slots, size_t *rebuilt)
{
	ck_epoch_record_t *record;
	size_t budget = max_slots, done;
	ttlkv_status status = lock_check(store);

	if (rebuilt != NULL)
		*rebuilt = 0;
	if (status != TTLKV_OK)
		return status;
	if ((record = ttlkv__reader()) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	pthread_mutex_lock(&store->maintain_lock);
	/* Frees no write makes in a store whose only writer is an expiry
	 * worker (its removals free nothing): what became ready past each
	 * shard's reserve, retired tables included, one unit of budget each. */
	ttlkv__grace(store, false);
	for (uint32_t i = 0; i < store->n_shards && budget > 0; i++)
		if (ttlkv__ready_surplus(&store->shards[i]))
			budget -= ttlkv__free_ready(&store->shards[i], true, budget);
	done = ttlkv__rebuild_work(store, record, budget);
	pthread_mutex_unlock(&store->maintain_lock);
	/* Process-wide, and with a budget of its own: slab pages the frees
	 * above (or any store's) left wholly free. */
	(void)ttlkv__slab_trim(max_slots);
	if (rebuilt != NULL)
		*rebuilt = done;
	return TTLKV_OK;
}

/* With wait_for_readers, a rebuild in progress is completed first: its
 * shard holds its retired entries back until it ends. */
ttlkv_status
ttlkv_reclaim(ttlkv *store, int wait_for_readers)
{
	ck_epoch_record_t *record;
	ttlkv_status status = lock_check(store);

	if (status != TTLKV_OK)
		return status;
	if (wait_for_readers) {
		if ((record = ttlkv__reader()) == NULL)
			return TTLKV_OUT_OF_MEMORY;
		pthread_mutex_lock(&store->maintain_lock);
		ttlkv__rebuild_complete(store, record);
		pthread_mutex_unlock(&store->maintain_lock);
	}
	for (uint32_t i = 0; i < store->n_shards; i++)
		ttlkv__retire_flush(&store->shards[i]);
	ttlkv__grace(store, wait_for_readers != 0);
	for (uint32_t i = 0; i < store->n_shards; i++)
		ttlkv__free_ready(&store->shards[i], wait_for_readers == 0, SIZE_MAX);
	return TTLKV_OK;
}
