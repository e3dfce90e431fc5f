/*
 * Batched reads and removals: many keys per call, their memory misses
 * overlapped.
 *
 * Why. With millions of keys a lookup is a chain of cache misses: the key's
 * home cache line of slots (and its probe-bound byte, a line of its own),
 * then the entry a matching slot points to, whose value may start on its
 * second line. One at a time, a core waits for each in turn, about 100-200
 * ns apiece, while the memory system could serve a dozen at once. And every
 * ttlkv_get enters and leaves its own read section, whose begin is a locked
 * instruction that stops one lookup's misses from overlapping the next's.
 *
 * How, per group of GROUP keys, inside a read section (one per CHUNK keys
 * for ttlkv_get_many, so that a huge batch never holds reclamation up for
 * long; one for the whole batch for ttlkv_read_many, whose callbacks may
 * keep values of earlier keys):
 *   1. hash every key and prefetch its home slot line and probe-bound byte;
 *   2. read each home line and prefetch the entries whose slot tags match
 *      (tagged slots: the tag is 15 bits of the hash beside the pointer),
 *      both of their first two cache lines;
 *   3. look each key up with ck_hs_get, which now finds all it reads in
 *      cache, and hand the live entries to the caller.
 * A key whose probe runs past its home line still gets the right answer;
 * only its misses are not overlapped. Where slots are not tagged (not
 * x86-64, or AddressSanitizer builds) step 2 is skipped.
 *
 * Expiry is judged against a clock reading taken afresh for each group and
 * after each callback, so that a key that expires while a long batch runs is
 * not seen live by the batch's later lookups (a loop of ttlkv_get would not
 * see it).
 *
 * Writes group the keys of a chunk by shard, look them all up as above
 * (warming the lines the writes will touch), and then take each shard's
 * lock once for all of its keys in the chunk. Each hold hands back
 * FREES_PER_WRITE retired entries per key written, as single writes do, so
 * that batched churn does not pile up memory waiting to be freed.
 */
#include "internal.h"

#include <string.h>

#include "hs_map.h"

/* Keys whose misses are in flight together. */
#define GROUP 16
/* Keys grouped by shard per lock round of a batched write, and keys per
 * read section of ttlkv_get_many. */
#define CHUNK BATCH_CHUNK
/* ck_hs probes a cache line of slots before it moves on (CK_HS_PROBE_L1). */
#define LINE_SLOTS 8

struct lookup {
	uint64_t hash;
	struct shard *shard;
	struct probe probe;
	struct handle_probe handle; /* what probe points to, by handle */
	ttlkv_status status;    /* of the arguments, until found */
};

/* The keys of a batched write: their bytes, or (keys NULL) their handles
 * and the deadlines of the records that name them. */
struct batch_keys {
	const ttlkv_key *keys;
	const uint64_t *handles;
	const uint64_t *scheduled;
};

static void
lookup_prefetch_home(struct lookup *l)
{
	const struct ttlkv__hs_map *m = ttlkv__table_map(l->shard);
	unsigned long home = l->hash & m->mask;

	__builtin_prefetch(&m->entries[home]);
	__builtin_prefetch(&m->probe_bound[home]);
}

/* Step 1 (inside the read section): hash, find the shard, prefetch. */
static void
lookup_start(struct ttlkv *store, const ttlkv_key *key, struct lookup *l)
{
	l->shard = NULL;
	l->status = key_check(store, key->data, key->len);
	if (l->status != TTLKV_OK)
		return;
	l->hash = ttlkv__hash(store, key->data, key->len);
	l->shard = shard_for(store, l->hash);
	probe_init(&l->probe, key->data, key->len);
	lookup_prefetch_home(l);
}

/* Step 1 for the i-th key of a batched write, named either way. */
static void
lookup_start_batch(struct ttlkv *store, struct batch_keys keys, size_t i, uint64_t now,
    struct lookup *l)
{
	if (keys.keys != NULL) {
		lookup_start(store, &keys.keys[i], l);
		return;
	}
	l->status = TTLKV_OK;
	l->hash = keys.handles[i];
	l->handle = (struct handle_probe){ keys.handles[i], store->seed, keys.scheduled[i], now, false };
	l->shard = shard_for(store, l->hash);
	probe_init_handle(&l->probe, &l->handle);
	lookup_prefetch_home(l);
}

/* Step 2: prefetch the entries the home line's tags point to. */
static void
lookup_prefetch(const struct lookup *l)
{
	const struct ttlkv__hs_map *m;
	const void *const *line;
	uintptr_t tag;

	if (!TTLKV_TAGGED_SLOTS || l->status != TTLKV_OK)
		return;
	m = ttlkv__table_map(l->shard);
	line = (const void *const *)((uintptr_t)&m->entries[l->hash & m->mask] &
	    ~(uintptr_t)(LINE_SLOTS * sizeof(void *) - 1));
	tag = (uintptr_t)slot_tag(NULL, l->hash);
	for (int i = 0; i < LINE_SLOTS; i++) {
		const void *slot = ck_pr_load_ptr(&line[i]);

		if (((uintptr_t)slot & ~((UINT64_C(1) << TAG_SHIFT) - 1)) == tag) {
			const char *e = (const char *)slot_entry(slot);

			__builtin_prefetch(e);
			__builtin_prefetch(e + 64);
		}
	}
}

/* Step 3: the live entry (a hit for the eviction policy), or NULL with
 * l->status set. */
static const struct entry *
lookup_finish(struct ttlkv *store, struct lookup *l, uint64_t *now)
{
	const struct entry *e;
	uint64_t deadline;

	if (l->status != TTLKV_OK)
		return NULL;
	e = table_find(l->shard, l->hash, &l->probe);
	if (e != NULL && entry_live(store, e, &deadline, now)) {
		entry_hit(store, e);
		return e;
	}
	l->status = TTLKV_NOT_FOUND;
	return NULL;
}

/* What a batched read does with each key's result, inside the section;
 * returns true if it ran the caller's code (time may have passed). */
typedef bool batch_visit_fn(size_t index, const struct entry *entry,
    ttlkv_status *status, void *context);

/* Looks up keys[0..count), GROUP at a time, in read sections of up to
 * section_keys keys (a multiple of GROUP), and calls visit for every key
 * (entry NULL if not found). */
static ttlkv_status
read_batch(struct ttlkv *store, const ttlkv_key *keys, size_t count, size_t section_keys,
    ttlkv_status *statuses, batch_visit_fn *visit, void *context)
{
	ck_epoch_record_t *record;
	struct lookup l[GROUP];

	if (count == 0)
		return TTLKV_OK;
	if ((record = ttlkv__reader()) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	section_begin(record);
	for (size_t base = 0; base < count; base += GROUP) {
		size_t n = count - base < GROUP ? count - base : GROUP;
		uint64_t now = 0; /* read when the group first needs it */

		if (base != 0 && base % section_keys == 0) {
			read_section_end(record);
			section_begin(record);
		}
		for (size_t i = 0; i < n; i++)
			lookup_start(store, &keys[base + i], &l[i]);
		for (size_t i = 0; i < n; i++)
			lookup_prefetch(&l[i]);
		for (size_t i = 0; i < n; i++) {
			const struct entry *e = lookup_finish(store, &l[i], &now);

			statuses[base + i] = l[i].status;
			if (visit(base + i, e, &statuses[base + i], context))
				now = 0;
		}
	}
	read_section_end(record);
	return TTLKV_OK;
}

struct copy_many {
	void *const *buffers;
	const size_t *buffer_lens;
	size_t *value_lens;
};

static bool
copy_one(size_t i, const struct entry *e, ttlkv_status *status, void *context)
{
	struct copy_many *c = context;

	/* ttlkv_get checks its buffer before it looks at the key. */
	if (c->buffers[i] == NULL && c->buffer_lens[i] != 0)
		*status = TTLKV_INVALID_ARGUMENT;
	if (e == NULL || *status != TTLKV_OK)
		return false;
	c->value_lens[i] = entry_value_len(e);
	if (c->buffer_lens[i] < c->value_lens[i])
		*status = TTLKV_BUFFER_TOO_SMALL;
	else if (c->value_lens[i] != 0)
		memcpy(c->buffers[i], entry_value(e), c->value_lens[i]);
	return false;
}

ttlkv_status
ttlkv_get_many(ttlkv *store, const ttlkv_key *keys, size_t count,
    void *const *buffers, const size_t *buffer_lens, size_t *value_lens,
    ttlkv_status *statuses)
{
	struct copy_many c = { buffers, buffer_lens, value_lens };

	if (store == NULL || (count != 0 && (keys == NULL || buffers == NULL ||
	    buffer_lens == NULL || value_lens == NULL || statuses == NULL)))
		return TTLKV_INVALID_ARGUMENT;
	return read_batch(store, keys, count, CHUNK, statuses, copy_one, &c);
}

struct user_read_many {
	ttlkv_read_many_fn *fn;
	void *context;
};

static bool
call_one(size_t i, const struct entry *e, ttlkv_status *status, void *context)
{
	struct user_read_many *r = context;

	(void)status;
	if (e == NULL)
		return false;
	r->fn(i, entry_value(e), entry_value_len(e), r->context);
	return true;
}

ttlkv_status
ttlkv_read_many(ttlkv *store, const ttlkv_key *keys, size_t count,
    ttlkv_read_many_fn *fn, void *context, ttlkv_status *statuses)
{
	struct user_read_many r = { fn, context };

	if (store == NULL || fn == NULL || (count != 0 && (keys == NULL || statuses == NULL)))
		return TTLKV_INVALID_ARGUMENT;
	return read_batch(store, keys, count, SIZE_MAX - SIZE_MAX % GROUP, statuses, call_one, &r);
}

/* Orders a chunk's keys by shard (insertion sort: at most CHUNK of them),
 * so that each shard's keys are removed under one lock hold. */
static void
by_shard(const struct lookup *l, size_t *order, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		order[i] = i;
		while (j > 0 && l[order[j - 1]].shard > l[i].shard) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
}

/* A batched write's step for key i under its shard's lock. */
typedef ttlkv_status chunk_write_fn(struct shard *shard, uint64_t hash,
    struct entry *entry, size_t i, void *context);

/* Writes one chunk of keys: looked up together as a reader (so that the
 * lines the writes touch are in cache), then each shard's keys under one
 * hold of its lock, which frees `frees` retired entries per key it wrote on
 * its way out.
 * Keys whose `pre` status (if given) is not TTLKV_OK get it, unwritten. */
static ttlkv_status
write_chunk(struct ttlkv *store, struct batch_keys keys, size_t n, const ttlkv_status *pre,
    ttlkv_status *statuses, chunk_write_fn *fn, void *context, size_t frees)
{
	ck_epoch_record_t *record = ttlkv__reader();
	uint64_t now = keys.handles != NULL ? store_now_precise(store) : 0;
	struct lookup l[CHUNK];
	size_t order[CHUNK];

	if (record == NULL)
		return TTLKV_OUT_OF_MEMORY;
	section_begin(record);
	for (size_t i = 0; i < n; i++) {
		lookup_start_batch(store, keys, i, now, &l[i]);
		if (pre != NULL && pre[i] != TTLKV_OK && l[i].status == TTLKV_OK) {
			l[i].status = pre[i];
			l[i].shard = NULL;
		}
	}
	for (size_t i = 0; i < n; i++)
		lookup_prefetch(&l[i]);
	/* Warms the lines; whether the key is live is the locked step's
	 * business (an expired entry is removed there). */
	for (size_t i = 0; i < n; i++)
		if (l[i].status == TTLKV_OK)
			(void)table_find(l[i].shard, l[i].hash, &l[i].probe);
	section_end(record);
	by_shard(l, order, n);
	for (size_t k = 0; k < n;) {
		struct shard *shard = l[order[k]].shard;

		if (l[order[k]].status != TTLKV_OK) {
			statuses[order[k]] = l[order[k]].status;
			k++;
			continue;
		}
		struct ghost ghost = ttlkv__ghost_offer(shard);
		size_t held = 0;

		shard_lock(shard);
		for (; k < n && l[order[k]].shard == shard && l[order[k]].status == TTLKV_OK; k++, held++) {
			struct lookup *x = &l[order[k]];

			x->handle.locked = true;
			statuses[order[k]] = fn(shard, x->hash, table_find(shard, x->hash, &x->probe),
			    order[k], context);
		}
		ttlkv__ghost_adopt(shard, &ghost);
		shard_unlock_freeing(shard, frees * held);
		ttlkv__ghost_free(&ghost);
	}
	return TTLKV_OK;
}

/* Runs write_chunk over keys[0..count), CHUNK at a time; ctx_step moves the
 * per-key arrays in context along with the keys. */
static ttlkv_status
write_batch(struct ttlkv *store, struct batch_keys keys, size_t count, ttlkv_status *statuses,
    chunk_write_fn *fn, void *context, size_t frees, void (*ctx_step)(void *, size_t))
{
	ttlkv_status status = lock_check(store);

	if (status != TTLKV_OK)
		return status;
	if (count != 0 && ((keys.keys == NULL && keys.handles == NULL) || statuses == NULL))
		return TTLKV_INVALID_ARGUMENT;
	for (size_t base = 0; base < count; base += CHUNK) {
		size_t n = count - base < CHUNK ? count - base : CHUNK;
		struct batch_keys chunk = {
			keys.keys != NULL ? keys.keys + base : NULL,
			keys.handles != NULL ? keys.handles + base : NULL,
			keys.scheduled != NULL ? keys.scheduled + base : NULL,
		};

		status = write_chunk(store, chunk, n, NULL, statuses + base, fn, context, frees);
		if (status != TTLKV_OK)
			return status;
		if (ctx_step != NULL)
			ctx_step(context, n);
	}
	return TTLKV_OK;
}

static ttlkv_status
remove_one(struct shard *shard, uint64_t hash, struct entry *entry, size_t i, void *context)
{
	(void)i;
	(void)context;
	return ttlkv__remove(shard, hash, entry);
}

ttlkv_status
ttlkv_delete_many(ttlkv *store, const ttlkv_key *keys, size_t count, ttlkv_status *statuses)
{
	struct batch_keys named = { keys, NULL, NULL };

	return write_batch(store, named, count, statuses, remove_one, NULL, FREES_PER_WRITE, NULL);
}

struct expiry_many {
	const uint64_t *scheduled;
	uint64_t *deadlines;
	size_t base;                /* index of the chunk's first key */
	size_t index;               /* of the key being removed */
	ttlkv_expired_fn *removed;  /* NULL: no one asks */
	void *context;
};

static void
report_removal(const void *key, size_t key_len, uint64_t deadline, void *context)
{
	struct expiry_many *x = context;

	x->removed(x->index, key, key_len, deadline, x->context);
}

static ttlkv_status
expire_one(struct shard *shard, uint64_t hash, struct entry *entry, size_t i, void *context)
{
	struct expiry_many *x = context;

	x->index = x->base + i;
	return ttlkv__expire_if_due(shard, hash, entry, x->scheduled != NULL ? x->scheduled[i] : 0,
	    &x->deadlines[i], x->removed != NULL ? report_removal : NULL, x);
}

static void
expiry_step(void *context, size_t n)
{
	struct expiry_many *x = context;

	if (x->scheduled != NULL)
		x->scheduled += n;
	x->deadlines += n;
	x->base += n;
}

/* As ttlkv_expire_due, the worker's removals free nothing on their way out. */
ttlkv_status
ttlkv_expire_due_many(ttlkv *store, const ttlkv_key *keys, const uint64_t *scheduled_ms,
    size_t count, uint64_t *deadlines_ms, ttlkv_status *statuses)
{
	struct expiry_many x = { scheduled_ms, deadlines_ms, 0, 0, NULL, NULL };
	struct batch_keys named = { keys, NULL, NULL };

	if (count != 0 && deadlines_ms == NULL)
		return TTLKV_INVALID_ARGUMENT;
	return write_batch(store, named, count, statuses, expire_one, &x, 0, expiry_step);
}

/* A record names its key by handle only if it was scheduled: a record with
 * no deadline would let any key with that hash be judged. */
ttlkv_status
ttlkv_expire_handles(ttlkv *store, const uint64_t *handles, const uint64_t *scheduled_ms,
    size_t count, uint64_t *deadlines_ms, ttlkv_status *statuses,
    ttlkv_expired_fn *removed, void *context)
{
	struct expiry_many x = { scheduled_ms, deadlines_ms, 0, 0, removed, context };
	struct batch_keys named = { NULL, handles, scheduled_ms };

	if (count != 0 && (deadlines_ms == NULL || handles == NULL || scheduled_ms == NULL))
		return TTLKV_INVALID_ARGUMENT;
	for (size_t i = 0; i < count; i++)
		if (scheduled_ms[i] == 0)
			return TTLKV_INVALID_ARGUMENT;
	return write_batch(store, named, count, statuses, expire_one, &x, 0, expiry_step);
}

/* One chunk of ttlkv_put_many: entries built and checked outside any lock,
 * then written shard by shard; those not installed are recycled. */
struct put_chunk {
	struct entry *e[CHUNK];
};

static ttlkv_status
install_one(struct shard *shard, uint64_t hash, struct entry *entry, size_t i, void *context)
{
	struct put_chunk *c = context;
	ttlkv_status status;

	status = ttlkv__install(shard, hash, c->e[i], entry, false);
	if (status == TTLKV_OK)
		c->e[i] = NULL;
	return status;
}

static ttlkv_status
item_entry(struct ttlkv *store, const ttlkv_item *it, struct entry **out)
{
	ttlkv_status status = key_check(store, it->key, it->key_len);

	*out = NULL;
	if (status != TTLKV_OK)
		return status;
	return ttlkv__entry_make(store, it->key, it->key_len, it->value, it->value_len, it->ttl_ms, out);
}

ttlkv_status
ttlkv_put_many(ttlkv *store, const ttlkv_item *items, size_t count, ttlkv_status *statuses)
{
	ttlkv_status status = lock_check(store);

	if (status != TTLKV_OK)
		return status;
	if (count != 0 && (items == NULL || statuses == NULL))
		return TTLKV_INVALID_ARGUMENT;
	for (size_t base = 0; base < count && status == TTLKV_OK; base += CHUNK) {
		size_t n = count - base < CHUNK ? count - base : CHUNK;
		ttlkv_status pre[CHUNK];
		ttlkv_key keys[CHUNK];
		struct batch_keys named = { keys, NULL, NULL };
		struct put_chunk c;

		for (size_t i = 0; i < n; i++) {
			keys[i].data = items[base + i].key;
			keys[i].len = items[base + i].key_len;
			pre[i] = item_entry(store, &items[base + i], &c.e[i]);
		}
		status = write_chunk(store, named, n, pre, statuses + base, install_one, &c,
		    FREES_PER_WRITE);
		for (size_t i = 0; i < n; i++)
			ttlkv__entry_free(store, c.e[i]);
	}
	return status;
}
