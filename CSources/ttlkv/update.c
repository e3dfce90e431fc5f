/*
 * Read-modify-write under the shard lock (ttlkv_update).
 *
 * A write builds its entry before it takes the lock, so that the lock is
 * held for a table operation, never for malloc. An update cannot know the
 * new value before it sees the old one under the lock, so it allocates an
 * entry with room for the caller's size hint first, lets fn write the new
 * value straight into that room under the lock, and installs the entry with
 * the same code as ttlkv_put. When fn needs more room than it was given,
 * nothing is applied: the lock is dropped, a big enough entry is allocated,
 * and fn runs again on the value as it is by then (another writer may have
 * changed it meanwhile). Each retry allocates a quarter more than asked, so
 * a value that other writers keep growing (APPEND races) settles in a few
 * rounds. Removal and deadline changes reuse the keyed writes of write.c,
 * so every failure leaves the store as it was, as for any other write.
 *
 * Inside ttlkv_lock_keys (transaction.c) the same steps run on a shard whose
 * lock the caller already holds: the entry is then allocated under the
 * lock, and a retry runs under the same hold, on the same value.
 */
#include "internal.h"

struct update_call {
	ttlkv_update_fn *fn;
	void *context;
	struct entry *e;      /* the replacement entry, NULL until allocated */
	size_t room;          /* value bytes e can hold */
	size_t need;          /* set when fn asked for more than room */
};

/* TTLKV_OK with the deadline to store (0 = none), TTLKV_NOT_DUE if
 * `wanted` has already passed, TTLKV_INVALID_TTL if it is too far ahead. */
static ttlkv_status
new_deadline(struct ttlkv *store, uint64_t wanted, uint64_t now, uint64_t *deadline)
{
	*deadline = 0;
	if (wanted == TTLKV_NO_EXPIRY)
		return TTLKV_OK;
	if (wanted <= now)
		return TTLKV_NOT_DUE;
	if (deadline_too_far(store, wanted, now))
		return TTLKV_INVALID_TTL;
	*deadline = wanted;
	return TTLKV_OK;
}

/* A removal asked for by fn: absent and expired keys are not an error. */
static ttlkv_status
remove_any(struct shard *shard, uint64_t hash, struct entry *entry)
{
	ttlkv_status status = ttlkv__remove(shard, hash, entry);

	return status == TTLKV_NOT_FOUND ? TTLKV_OK : status;
}

/* The deadline fn asked for, or TTLKV_NOT_DUE once a deadline already
 * passed has removed the key instead (an error if the removal failed). */
static ttlkv_status
deadline_or_removal(struct shard *shard, uint64_t hash, struct entry *entry,
    const ttlkv_update_state *st, uint64_t *deadline)
{
	ttlkv_status status = new_deadline(shard->store, st->new_deadline_ms, st->now_ms, deadline);

	if (status != TTLKV_NOT_DUE)
		return status;
	status = remove_any(shard, hash, entry);
	return status == TTLKV_OK ? TTLKV_NOT_DUE : status;
}

static ttlkv_status
replace(struct shard *shard, uint64_t hash, struct entry *entry,
    struct update_call *call, const ttlkv_update_state *st)
{
	uint64_t deadline;
	ttlkv_status status;

	if (st->new_len > shard->store->max_value_size)
		return TTLKV_VALUE_TOO_LARGE;
	if ((status = deadline_or_removal(shard, hash, entry, st, &deadline)) != TTLKV_OK)
		return status == TTLKV_NOT_DUE ? TTLKV_OK : status;
	if (call->e == NULL || st->new_len > call->room) {
		call->need = st->new_len;
		return TTLKV_BUFFER_TOO_SMALL;
	}
	entry_set_value_len(call->e, (uint32_t)st->new_len);
	entry_set_deadline(call->e, deadline);
	status = ttlkv__install(shard, hash, call->e, entry, false);
	if (status == TTLKV_OK)
		call->e = NULL; /* the table owns it now */
	return status;
}

static ttlkv_status
set_deadline(struct shard *shard, uint64_t hash, struct entry *entry,
    const ttlkv_update_state *st)
{
	uint64_t deadline;
	ttlkv_status status;

	if (!st->found)
		return TTLKV_INVALID_ARGUMENT;
	if ((status = deadline_or_removal(shard, hash, entry, st, &deadline)) != TTLKV_OK)
		return status == TTLKV_NOT_DUE ? TTLKV_OK : status;
	return ttlkv__change_deadline(shard, hash, entry, &deadline);
}

/* Under the shard lock: shows fn the live entry and applies its decision.
 * TTLKV_BUFFER_TOO_SMALL asks the caller to retry with call->need room. */
static ttlkv_status
update_locked(struct shard *shard, uint64_t hash, struct entry *entry, void *context)
{
	struct update_call *call = context;
	ttlkv_update_state st;
	uint64_t deadline = entry != NULL ? entry_deadline(entry) : 0;

	st.now_ms = store_now(shard->store);
	st.found = entry != NULL && !deadline_passed(deadline, st.now_ms);
	st.value = st.found ? entry_value(entry) : NULL;
	st.value_len = st.found ? entry_value_len(entry) : 0;
	st.deadline_ms = st.found && deadline != 0 ? deadline : TTLKV_NO_EXPIRY;
	st.buffer = call->e != NULL ? entry_value_room(call->e) : NULL;
	st.buffer_len = call->e != NULL ? call->room : 0;
	st.new_len = 0;
	st.new_deadline_ms = st.deadline_ms;
	switch (call->fn(&st, call->context)) {
	case TTLKV_UPDATE_KEEP:
		return TTLKV_OK;
	case TTLKV_UPDATE_REPLACE:
		return replace(shard, hash, entry, call, &st);
	case TTLKV_UPDATE_SET_DEADLINE:
		return set_deadline(shard, hash, entry, &st);
	case TTLKV_UPDATE_DELETE:
		return remove_any(shard, hash, entry);
	}
	return TTLKV_INVALID_ARGUMENT;
}

/* Runs call->fn on key until what it decides fits in the room prepared
 * for it. With held NULL each run takes the key's shard lock (ttlkv_update);
 * with a shard, whose lock the caller holds throughout, each run happens
 * under that hold and allocates under it (ttlkv_locked_update). */
static ttlkv_status
update_runs(struct ttlkv *store, const void *key, size_t key_len, size_t size_hint,
    struct update_call *call, struct shard *held, uint64_t hash)
{
	bool allocate = size_hint != 0;
	struct probe probe;
	ttlkv_status status;

	probe_init(&probe, key, key_len);
	call->room = size_hint < store->max_value_size ? size_hint : store->max_value_size;
	for (;;) {
		if (allocate && (call->e = ttlkv__entry_new(store, key, key_len, call->room)) == NULL)
			return TTLKV_OUT_OF_MEMORY;
		if (held == NULL)
			status = ttlkv__keyed_write(store, key, key_len, update_locked, call, WRITE_CALLER);
		else
			status = update_locked(held, hash, table_find(held, hash, &probe), call);
		ttlkv__entry_free(store, call->e);
		call->e = NULL;
		if (status != TTLKV_BUFFER_TOO_SMALL)
			return status;
		/* need <= max_value_size here: replace() checked it. */
		call->room = call->need + call->need / 4;
		if (call->room > store->max_value_size)
			call->room = store->max_value_size;
		allocate = true;
	}
}

ttlkv_status
ttlkv_update(ttlkv *store, const void *key, size_t key_len, size_t size_hint,
    ttlkv_update_fn *fn, void *context)
{
	struct update_call call = { fn, context, NULL, 0, 0 };
	ttlkv_status status = write_check(store, key, key_len);

	if (status != TTLKV_OK)
		return status;
	if (fn == NULL)
		return TTLKV_INVALID_ARGUMENT;
	return update_runs(store, key, key_len, size_hint, &call, NULL, 0);
}

ttlkv_status
ttlkv__update_held(struct shard *shard, uint64_t hash, const void *key, size_t key_len,
    size_t size_hint, ttlkv_update_fn *fn, void *context)
{
	struct update_call call = { fn, context, NULL, 0, 0 };

	return update_runs(shard->store, key, key_len, size_hint, &call, shard, hash);
}
