/*
 * The expiry intake: how a write hands (key, deadline) to an expiry worker
 * without waiting for it.
 *
 * Each shard keeps a byte buffer of packed records {u64 deadline, u32 key
 * length, key bytes}, appended under the shard lock that the write holds
 * anyway, so the hand-over costs one memcpy and no extra synchronization.
 * ttlkv_drain_schedule swaps each buffer for an empty one under the lock and
 * reads the full one after unlocking. An entry remembers the deadline of its
 * pending record (entry->sched), and a write appends a record only when the
 * new deadline is earlier than that one, so rewriting a key keeps about one
 * record per key however often it is rewritten.
 */
#include "internal.h"

#include <string.h>

#define RECORD_HEADER (sizeof(uint64_t) + sizeof(uint32_t))

/* Under the shard lock, before the write changes anything. */
bool
ttlkv__intake_reserve(struct shard *shard, size_t key_len)
{
	struct intake *in = &shard->intake;
	size_t need = in->len + RECORD_HEADER + key_len, cap;
	unsigned char *buf;

	if (need <= in->cap)
		return true;
	cap = in->cap != 0 ? in->cap : 256;
	while (cap < need)
		cap *= 2;
	if ((buf = ttlkv__realloc(in->buf, cap)) == NULL)
		return false;
	in->buf = buf;
	in->cap = cap;
	return true;
}

/* Under the shard lock, after a successful ttlkv__intake_reserve. */
void
ttlkv__intake_append(struct shard *shard, const void *key, size_t key_len, uint64_t deadline)
{
	struct intake *in = &shard->intake;
	uint32_t len = (uint32_t)key_len;
	unsigned char *p = in->buf + in->len;

	memcpy(p, &deadline, sizeof deadline);
	memcpy(p + sizeof deadline, &len, sizeof len);
	if (key_len != 0)
		memcpy(p + RECORD_HEADER, key, key_len);
	in->len += RECORD_HEADER + key_len;
	STORE(&in->records, in->records + 1);
}

void
ttlkv__intake_destroy(struct intake *intake)
{
	ttlkv__free(intake->buf);
}

static size_t
intake_replay(const struct intake *in, ttlkv_schedule_fn *fn, void *context)
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

ttlkv_status
ttlkv_drain_schedule(ttlkv *store, ttlkv_schedule_fn *fn, void *context, size_t *taken)
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
		struct intake full;

		if (LOAD(&shard->intake.records) == 0)
			continue;
		shard_lock(shard);
		full = shard->intake;
		/* Field by field: `records` is read without the lock. */
		shard->intake.buf = shard->intake_spare.buf;
		shard->intake.cap = shard->intake_spare.cap;
		shard->intake.len = 0;
		STORE(&shard->intake.records, 0);
		shard_unlock(shard);
		n += intake_replay(&full, fn, context);
		shard->intake_spare = full;
	}
	pthread_mutex_unlock(&store->drain_lock);
	if (taken != NULL)
		*taken = n;
	return TTLKV_OK;
}
