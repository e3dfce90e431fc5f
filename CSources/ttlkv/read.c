/*
 * Lock-free reads. A read enters its thread's epoch section, probes the
 * key's shard with ck_hs_get, and treats an entry whose deadline has passed
 * as absent (lazy expiry), whether or not anything has removed it yet. A
 * read of a value is a hit for the eviction policy (entry_hit: a store to
 * the entry's frequency byte only while it is below 3); ttlkv_ttl is not.
 * The entry stays valid until the section ends, however soon a writer
 * replaces or removes it: that is what makes the zero-copy ttlkv_read
 * possible.
 */
#include "internal.h"

#include <string.h>

/* What a read does with the live entry, inside the section. */
typedef ttlkv_status read_visit_fn(const struct entry *entry, uint64_t deadline,
    uint64_t now, void *context);

/* Inside a read section: the live entry for key (with its deadline and,
 * if it has one, the time it was checked against), or NULL. */
static const struct entry *
find_live(struct ttlkv *store, const void *key, size_t key_len,
    uint64_t *deadline, uint64_t *now)
{
	uint64_t hash = ttlkv__hash(store, key, key_len);
	const struct entry *entry;
	struct probe probe;

	probe_init(&probe, key, key_len);
	entry = table_find(shard_for(store, hash), hash, &probe);
	*now = 0;
	return entry != NULL && entry_live(store, entry, deadline, now) ? entry : NULL;
}

/* Checks the arguments, enters this thread's read section and finds the
 * live entry for key. On TTLKV_OK the section stays open (the caller ends
 * it); on any other status it is closed. */
static ttlkv_status
begin_live(struct ttlkv *store, const void *key, size_t key_len,
    ck_epoch_record_t **record, const struct entry **entry,
    uint64_t *deadline, uint64_t *now)
{
	ttlkv_status status = key_check(store, key, key_len);

	if (status != TTLKV_OK)
		return status;
	if ((*record = ttlkv__reader()) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	section_begin(*record);
	*entry = find_live(store, key, key_len, deadline, now);
	if (*entry == NULL) {
		read_section_end(*record);
		return TTLKV_NOT_FOUND;
	}
	return TTLKV_OK;
}

static ttlkv_status
read_key(struct ttlkv *store, const void *key, size_t key_len,
    read_visit_fn *visit, void *context)
{
	ck_epoch_record_t *record;
	const struct entry *entry;
	uint64_t deadline, now;
	ttlkv_status status = begin_live(store, key, key_len, &record, &entry, &deadline, &now);

	if (status != TTLKV_OK)
		return status;
	status = visit(entry, deadline, now, context);
	read_section_end(record);
	return status;
}

struct copy_out {
	struct ttlkv *store;
	void *buffer;
	size_t buffer_len;
	size_t *value_len;
};

static ttlkv_status
copy_value(const struct entry *entry, uint64_t deadline, uint64_t now, void *context)
{
	struct copy_out *out = context;
	size_t n = entry_value_len(entry);

	(void)deadline;
	(void)now;
	entry_hit(out->store, entry);
	*out->value_len = n;
	if (out->buffer_len < n)
		return TTLKV_BUFFER_TOO_SMALL;
	if (n != 0)
		memcpy(out->buffer, entry_value(entry), n);
	return TTLKV_OK;
}

ttlkv_status
ttlkv_get(ttlkv *store, const void *key, size_t key_len,
    void *buffer, size_t buffer_len, size_t *value_len)
{
	struct copy_out out = { store, buffer, buffer_len, value_len };

	if (value_len == NULL || (buffer == NULL && buffer_len != 0))
		return TTLKV_INVALID_ARGUMENT;
	return read_key(store, key, key_len, copy_value, &out);
}

struct user_read {
	struct ttlkv *store;
	ttlkv_read_fn *fn;
	void *context;
};

static ttlkv_status
call_reader(const struct entry *entry, uint64_t deadline, uint64_t now, void *context)
{
	struct user_read *r = context;

	(void)deadline;
	(void)now;
	entry_hit(r->store, entry);
	r->fn(entry_value(entry), entry_value_len(entry), r->context);
	return TTLKV_OK;
}

ttlkv_status
ttlkv_read(ttlkv *store, const void *key, size_t key_len,
    ttlkv_read_fn *fn, void *context)
{
	struct user_read r = { store, fn, context };

	if (fn == NULL)
		return TTLKV_INVALID_ARGUMENT;
	return read_key(store, key, key_len, call_reader, &r);
}

struct remaining_query {
	struct ttlkv *store;
	uint64_t *remaining_ms;
};

/* Measured on the precise clock the deadline was computed from: the coarse
 * `now` may lag by a tick and would overstate what is left. */
static ttlkv_status
remaining(const struct entry *entry, uint64_t deadline, uint64_t now, void *context)
{
	struct remaining_query *q = context;

	(void)entry;
	(void)now;
	if (deadline == 0) {
		*q->remaining_ms = TTLKV_NO_EXPIRY;
	} else {
		uint64_t precise = store_now_ceil(q->store);

		*q->remaining_ms = deadline > precise ? deadline - precise : 1;
	}
	return TTLKV_OK;
}

ttlkv_status
ttlkv_ttl(ttlkv *store, const void *key, size_t key_len, uint64_t *remaining_ms)
{
	struct remaining_query q = { store, remaining_ms };

	if (remaining_ms == NULL)
		return TTLKV_INVALID_ARGUMENT;
	return read_key(store, key, key_len, remaining, &q);
}

static ttlkv_status
absolute_deadline(const struct entry *entry, uint64_t deadline, uint64_t now, void *context)
{
	(void)entry;
	(void)now;
	*(uint64_t *)context = deadline != 0 ? deadline : TTLKV_NO_EXPIRY;
	return TTLKV_OK;
}

ttlkv_status
ttlkv_deadline(ttlkv *store, const void *key, size_t key_len, uint64_t *deadline_ms)
{
	if (deadline_ms == NULL)
		return TTLKV_INVALID_ARGUMENT;
	return read_key(store, key, key_len, absolute_deadline, deadline_ms);
}

/* Sections this thread opened with ttlkv_read_begin and has not ended: a
 * ttlkv_read_end without one would end a section it does not own (the
 * library's own, inside a ttlkv_read callback) and wrap ck_epoch's nesting
 * count, stopping reclamation in the whole process. */
static __thread unsigned long begun;

ttlkv_status
ttlkv_read_begin(ttlkv *store, const void *key, size_t key_len,
    const void **value, size_t *value_len)
{
	ck_epoch_record_t *record;
	const struct entry *entry;
	uint64_t deadline, now;
	ttlkv_status status;

	if (value == NULL || value_len == NULL)
		return TTLKV_INVALID_ARGUMENT;
	status = begin_live(store, key, key_len, &record, &entry, &deadline, &now);
	if (status != TTLKV_OK)
		return status;
	entry_hit(store, entry);
	*value = entry_value(entry);
	*value_len = entry_value_len(entry);
	begun++;
	return TTLKV_OK;
}

ttlkv_status
ttlkv_read_end(void)
{
	if (begun == 0)
		return TTLKV_INVALID_ARGUMENT;
	begun--;
	read_section_end(ttlkv__reader_if_any());
	return TTLKV_OK;
}
