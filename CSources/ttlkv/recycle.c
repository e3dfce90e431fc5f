/*
 * Entry recycling: each thread keeps the entry blocks it frees for its own
 * next writes.
 *
 * Why. A replaced entry is freed only after a grace period, in a batch, by
 * whichever writer next drops its shard's lock. glibc's per-thread cache
 * holds seven blocks per size, so most of those frees overflow to the arena
 * that allocated the entry, which is often another thread's (after a bulk
 * load, all of them belong to the loading threads). The writers then carve
 * their entries from fresh memory at the top of their own arenas and take a
 * page fault (about 7 us on these machines) once in a few hundred puts:
 * that alone made the ck store's set p99.9 about 15 us, where an immediate
 * free, as Swift's reference counting does, stays near 3 us.
 *
 * How. A thread-local stack per 16-byte size class, linked through the
 * blocks' first word, for blocks of up to CLASSES x 16 bytes, at most
 * CACHE_BYTES per thread; a write takes its entry from the class that fits
 * before it calls malloc. A pthread key destructor frees a thread's blocks
 * when it exits. Class c serves requests of up to 16c - 8 bytes, and its
 * blocks are allocated with exactly that size, which is what glibc gives
 * such a request anyway (a 16c-byte chunk); blocks come back classed by
 * malloc_usable_size, so other allocators work too. Slab blocks (slab.c)
 * have stacks of their own per 8-byte class, in the same byte allowance,
 * and a miss there takes a few from the process's list of that class before
 * it cuts a new one. A write takes freed
 * blocks only as its cache has room for them (ttlkv__recycle_room; the rest
 * wait on their shard, see "Reserve" in epoch.c), so a full cache rarely
 * hands a block back to malloc. Under AddressSanitizer
 * recycling is off (TTLKV_RECYCLING, internal.h): its quarantine must see
 * every free to catch a block used after it.
 */
#include "internal.h"

#include <malloc.h>

#define CLASS_STEP 16
#define CLASSES 16
#define CACHE_BYTES (256 * 1024)

/* Slab blocks a miss takes from their list at once (room permitting). */
#define SLAB_REFILL 32

struct cache {
	void *head[CLASSES + 1];
	void *slab_head[SLAB_CLASSES + 1];
	size_t bytes;
	bool registered;
	/* Slab blocks the cache had no room for, until ttlkv__recycle_settle
	 * hands them to their lists, a class at a time. */
	struct slab_batch overflow;
	bool overflowed;
};

static __thread struct cache cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_ok;

static void
cache_release(void *arg)
{
	struct cache *c = arg;

	for (size_t i = 0; i <= CLASSES; i++) {
		while (c->head[i] != NULL) {
			void *block = c->head[i];

			c->head[i] = *(void **)block;
			ttlkv__free(block);
		}
	}
	for (size_t i = 0; i <= SLAB_CLASSES; i++) {
		while (c->slab_head[i] != NULL) {
			void *block = c->slab_head[i];

			c->slab_head[i] = *(void **)block;
			ttlkv__slab_batch_add(&c->overflow, block);
			c->overflowed = true;
		}
	}
	ttlkv__recycle_settle();
	ttlkv__slab_thread_exit();
	c->bytes = 0;
	/* A destructor that writes after this one registers again. */
	c->registered = false;
}

static void
cache_key_init(void)
{
	cache_key_ok = pthread_key_create(&cache_key, cache_release) == 0;
}

/* Makes sure this thread's blocks are freed when it exits. */
static bool
cache_register(void)
{
	if (LIKELY(cache.registered))
		return true;
	pthread_once(&cache_once, cache_key_init);
	if (!cache_key_ok || pthread_setspecific(cache_key, &cache) != 0)
		return false;
	cache.registered = true;
	return true;
}

/* The class whose blocks serve a request of size bytes. */
static size_t
request_class(size_t size)
{
	return (size + CLASS_STEP + CLASS_STEP / 2 - 1) / CLASS_STEP;
}

/* A slab block of class c from the cache (NULL: none there). */
static void *
slab_cached(size_t c)
{
	void *block = cache.slab_head[c];

	if (block != NULL) {
		cache.slab_head[c] = *(void **)block;
		cache.bytes -= c * SLAB_STEP;
	}
	return block;
}

/* A slab block of class c from the class's list, with up to SLAB_REFILL - 1
 * more into the cache, else cut anew (NULL: no slab block to be had). */
static void *
slab_fresh(size_t c)
{
	size_t size = c * SLAB_STEP, n;
	void *block, *rest;

	if (!cache_register())
		return NULL;
	n = (CACHE_BYTES - cache.bytes) / size + 1;
	if ((block = ttlkv__slab_take(c, n < SLAB_REFILL ? n : SLAB_REFILL, &n)) != NULL) {
		if ((rest = *(void **)block) != NULL) {
			cache.slab_head[c] = rest;
			cache.bytes += (n - 1) * size;
		}
		return block;
	}
	return ttlkv__slab_carve(c);
}

void *
ttlkv__entry_alloc(size_t size)
{
	size_t c = request_class(size);
	void *block;

	if (!TTLKV_RECYCLING)
		return ttlkv__alloc(size);
	if (size <= SLAB_MAX && ttlkv__slab_on()) {
		size_t sc = (size + SLAB_STEP - 1) / SLAB_STEP;

		if ((block = slab_cached(sc)) != NULL)
			return block;
		if (ttlkv__alloc_refused())
			return NULL;
		if ((block = slab_fresh(sc)) != NULL)
			return block;
		/* The range is used up: malloc, without a second injection. */
		return ttlkv__alloc_granted(c * CLASS_STEP - CLASS_STEP / 2);
	}
	if (c > CLASSES)
		return ttlkv__alloc(size);
	if ((block = cache.head[c]) != NULL) {
		cache.head[c] = *(void **)block;
		cache.bytes -= c * CLASS_STEP;
		return block;
	}
	return ttlkv__alloc(c * CLASS_STEP - CLASS_STEP / 2);
}

size_t
ttlkv__recycle_room(size_t max)
{
	size_t room;

	if (!TTLKV_RECYCLING)
		return max;
	/* Counted at the largest class, so that every block taken fits. */
	room = (CACHE_BYTES - cache.bytes) / (CLASSES * CLASS_STEP);
	return room < max ? room : max;
}

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

void
ttlkv_testing_recycle_flush(void)
{
	cache_release(&cache);
}

size_t
ttlkv_testing_recycled_blocks(struct ttlkv *store, size_t key_len, size_t value_len)
{
	size_t size = entry_block_size(store, key_len, value_len), c = request_class(size), n = 0;

	if (size <= SLAB_MAX && ttlkv__slab_on()) {
		for (void *block = cache.slab_head[(size + SLAB_STEP - 1) / SLAB_STEP]; block != NULL;
		    block = *(void **)block)
			n++;
	} else if (c <= CLASSES)
		for (void *block = cache.head[c]; block != NULL; block = *(void **)block)
			n++;
	return n;
}

int
ttlkv_testing_recycling(void)
{
	return TTLKV_RECYCLING;
}
#endif

uint64_t
ttlkv__block_charge(const void *block)
{
	if (ttlkv__slab_owns(block))
		return ttlkv__slab_block_size(block);
	return malloc_usable_size((void *)(uintptr_t)block) + sizeof(size_t);
}

void
ttlkv__recycle_settle(void)
{
	if (cache.overflowed) {
		ttlkv__slab_batch_put(&cache.overflow);
		cache.overflowed = false;
	}
}

void
ttlkv__recycle(void *block)
{
	size_t c;

	if (!TTLKV_RECYCLING) {
		ttlkv__free(block);
		return;
	}
	if (block == NULL)
		return;
	if (ttlkv__slab_owns(block)) {
		size_t size = ttlkv__slab_block_size(block);

		if (cache.bytes + size > CACHE_BYTES || !cache_register()) {
			ttlkv__slab_batch_add(&cache.overflow, block);
			cache.overflowed = true;
			return;
		}
		c = size / SLAB_STEP;
		*(void **)block = cache.slab_head[c];
		cache.slab_head[c] = block;
		cache.bytes += size;
		return;
	}
	c = (malloc_usable_size(block) + CLASS_STEP / 2) / CLASS_STEP;
	if (c == 0 || c > CLASSES || cache.bytes + c * CLASS_STEP > CACHE_BYTES ||
	    !cache_register()) {
		ttlkv__free(block);
		return;
	}
	*(void **)block = cache.head[c];
	cache.head[c] = block;
	cache.bytes += c * CLASS_STEP;
}
