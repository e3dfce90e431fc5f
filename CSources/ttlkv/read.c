/*
 * Lock-free reads. A read enters its thread's epoch section, probes the
 * key's shard with ck_hs_get, and treats an entry whose deadline has passed
 * as absent (lazy expiry), whether or not anything has removed it yet. The
 * entry stays valid until the section ends, however soon a writer replaces
 * or removes it: that is what makes the zero-copy ttlkv_read possible.
 */
#include "internal.h"

#include <string.h>

/* What a read does with the live entry, inside the section. */
typedef ttlkv_status read_visit_fn(const struct entry *entry, uint64_t deadline,
    uint64_t now, void *context);

static ttlkv_status
read_key(struct ttlkv *store, const void *key, size_t key_len,
    read_visit_fn *visit, void *context)
{
	ttlkv_status status = key_check(store, key, key_len);
	ck_epoch_record_t *record;
	const struct entry *entry;
	struct probe probe;
	uint64_t hash, deadline, now = 0;

	if (status != TTLKV_OK)
		return status;
	if ((record = ttlkv__reader()) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	hash = ttlkv__hash(store, key, key_len);
	probe_init(&probe, key, key_len);
	section_begin(record);
	entry = ck_hs_get(&shard_for(store, hash)->hs, hash, &probe);
	if (entry == NULL) {
		status = TTLKV_NOT_FOUND;
	} else {
		TSAN_ACQUIRE(entry);
		deadline = LOAD(&entry->deadline);
		if (deadline != 0)
			now = store_now(store);
		if (deadline_passed(deadline, now))
			status = TTLKV_NOT_FOUND;
		else
			status = visit(entry, deadline, now, context);
	}
	section_end(record);
	return status;
}

struct copy_out {
	void *buffer;
	size_t buffer_len;
	size_t *value_len;
};

static ttlkv_status
copy_value(const struct entry *entry, uint64_t deadline, uint64_t now, void *context)
{
	struct copy_out *out = context;

	(void)deadline;
	(void)now;
	*out->value_len = entry->value_len;
	if (out->buffer_len < entry->value_len)
		return TTLKV_BUFFER_TOO_SMALL;
	if (entry->value_len != 0)
		memcpy(out->buffer, entry_value(entry), entry->value_len);
	return TTLKV_OK;
}

ttlkv_status
ttlkv_get(ttlkv *store, const void *key, size_t key_len,
    void *buffer, size_t buffer_len, size_t *value_len)
{
	struct copy_out out = { buffer, buffer_len, value_len };

	if (value_len == NULL || (buffer == NULL && buffer_len != 0))
		return TTLKV_INVALID_ARGUMENT;
	return read_key(store, key, key_len, copy_value, &out);
}

struct user_read {
	ttlkv_read_fn *fn;
	void *context;
};

static ttlkv_status
call_reader(const struct entry *entry, uint64_t deadline, uint64_t now, void *context)
{
	struct user_read *r = context;

	(void)deadline;
	(void)now;
	r->fn(entry_value(entry), entry->value_len, r->context);
	return TTLKV_OK;
}

ttlkv_status
ttlkv_read(ttlkv *store, const void *key, size_t key_len,
    ttlkv_read_fn *fn, void *context)
{
	struct user_read r = { fn, context };

	if (fn == NULL)
		return TTLKV_INVALID_ARGUMENT;
	return read_key(store, key, key_len, call_reader, &r);
}

static ttlkv_status
remaining(const struct entry *entry, uint64_t deadline, uint64_t now, void *context)
{
	(void)entry;
	*(uint64_t *)context = deadline == 0 ? TTLKV_NO_EXPIRY : deadline - now;
	return TTLKV_OK;
}

ttlkv_status
ttlkv_ttl(ttlkv *store, const void *key, size_t key_len, uint64_t *remaining_ms)
{
	if (remaining_ms == NULL)
		return TTLKV_INVALID_ARGUMENT;
	return read_key(store, key, key_len, remaining, remaining_ms);
}
