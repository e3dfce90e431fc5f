/*
 * Memory reclamation: one ck_epoch domain for the process.
 *
 * Readers. Each thread gets one reader record the first time it reads, kept
 * in thread-local storage and released (ck_epoch_unregister) by a pthread key
 * destructor when the thread exits; ck_epoch_recycle hands released records
 * to new threads, so a pool of short-lived threads never holds more records
 * than its peak of live threads. Reader records never queue callbacks, so
 * unregistering them drops nothing.
 *
 * Writers. A write retires the entry it replaced into its shard's batch
 * (under the shard lock). A full batch goes to the store's own epoch record
 * with ck_epoch_call, then ck_epoch_poll runs the callbacks of batches whose
 * grace period is over, which push them on their shard's ready stack; writes
 * then free a few ready entries each (see "Reserve" below). The store record
 * is owner-only in ck, so call and poll run under the store's reclaim lock,
 * which a shard takes only once per RETIRE_BATCH retirements, and only if it
 * is free: a busy lock leaves the batch queued on its shard for the next
 * hand-over, so no writer waits for another shard's reclamation.
 * ck_epoch_poll in 0.7.1 can free an object one epoch early if the unlink
 * is still in the store buffer when the epoch advances: every hand-over
 * issues a full fence after the unlinks and calls ck_epoch_call while the
 * shard lock that made them is still held.
 *
 * Bound. A reader stalled inside a section stops all reclamation. When more
 * than reclaim_cap entries wait for a grace period, the next write to drop
 * its shard lock (every lock it holds, for ttlkv_put_all) waits for
 * readers before it returns: writers feel the stalled reader as
 * back-pressure. Below the cap nothing waits for readers: the reclaim lock
 * is never held while waiting. A wait (grace_wait) swaps the store's epoch
 * record for its empty spare under the lock, waits for readers with the
 * lock released (ck_epoch_synchronize_wait reads only the domain), and then
 * runs the callbacks of the record it took: everything in it was handed
 * over before the wait began. Meanwhile hand-overs and polls go on into the
 * other record, so a writer that must hand over a batch, ttlkv_reclaim without
 * waiting and every flush take the reclaim lock only for as long as a poll
 * takes. Nothing that can wait runs inside a read section (the API refuses
 * such calls with TTLKV_IN_READ_SECTION), so a reader never waits for
 * itself.
 *
 * Reserve. Grace periods end in bursts: a reader preempted inside a section
 * holds back every batch until it runs again, which with more threads than
 * cores is a whole round of the scheduler, and then all of them end at once.
 * Writers used to free FREES_PER_WRITE entries each whatever happened to
 * them, so a burst overflowed their recycling caches into malloc, and the
 * next stall emptied the caches and sent every write to malloc, page faults
 * and arena locks included: 40% of the puts of 16 threads on 2 cores. So a
 * write now takes only what its thread's cache has room for, and ready
 * entries wait on their shard as a reserve for the writes of the next stall.
 * Past the reserve's bounds (READY_RESERVE_MAX) a shard's writes free
 * eagerly again (the surplus goes back to malloc), as do ttlkv_sweep and
 * ttlkv_reclaim without waiting; ttlkv_reclaim with waiting frees all.
 */
#include "internal.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

__thread struct shard *ttlkv__locked_shard;

static ck_epoch_t domain;
static pthread_once_t domain_once = PTHREAD_ONCE_INIT;
static pthread_key_t reader_key;
static bool reader_key_ok;
static __thread ck_epoch_record_t *reader_record;
char ttlkv__epoch_sync;

static void
reader_exit(void *record)
{
	/* A later destructor that reads again gets a fresh record. */
	reader_record = NULL;
	TSAN_RELEASE(record);
	ck_epoch_unregister(record);
}

static void
domain_init(void)
{
	ck_epoch_init(&domain);
	reader_key_ok = pthread_key_create(&reader_key, reader_exit) == 0;
}

/* A free record of the domain, or a new one; NULL if allocation fails. */
static ck_epoch_record_t *
record_acquire(void)
{
	ck_epoch_record_t *record;

	pthread_once(&domain_once, domain_init);
	record = ck_epoch_recycle(&domain, NULL);
	if (record != NULL) {
		TSAN_ACQUIRE(record); /* handed over by unregister's fenced store */
	} else {
		/* Records are never freed: ck keeps them linked into the domain. */
		record = ttlkv__aligned_alloc(CK_MD_CACHELINE, sizeof *record);
		if (record != NULL)
			ck_epoch_register(&domain, record, NULL);
	}
	return record;
}

static ck_epoch_record_t *
reader_slow(void)
{
	ck_epoch_record_t *record = record_acquire();

	if (record == NULL)
		return NULL;
	if (!reader_key_ok || pthread_setspecific(reader_key, record) != 0) {
		ck_epoch_unregister(record);
		return NULL;
	}
	reader_record = record;
	return record;
}

ck_epoch_record_t *
ttlkv__reader_if_any(void)
{
	return reader_record;
}

ck_epoch_record_t *
ttlkv__reader(void)
{
	ck_epoch_record_t *record = reader_record;

	return LIKELY(record != NULL) ? record : reader_slow();
}

ttlkv_status
ttlkv__writer_record(ck_epoch_record_t **record)
{
	*record = record_acquire();
	return *record != NULL ? TTLKV_OK : TTLKV_OUT_OF_MEMORY;
}

void
ttlkv__writer_record_release(ck_epoch_record_t *record)
{
	TSAN_RELEASE(record);
	ck_epoch_unregister(record);
}

/* True if this thread is inside a read section: a call that may wait for a
 * lock, or for readers, would wait for itself. */
bool
ttlkv__in_read_section(void)
{
	ck_epoch_record_t *record = reader_record;

	return record != NULL && ck_pr_load_uint(&record->active) != 0;
}

struct retired *
ttlkv__retire_batch_new(void)
{
	struct retired *b = ttlkv__alloc(sizeof *b + RETIRE_BATCH * sizeof(void *));

	if (b != NULL) {
		b->count = 0;
		b->cursor = 0;
		b->bytes = 0;
	}
	return b;
}

/* Whether retiring an entry of `size` bytes into b fills it. */
static bool
batch_fills(const struct retired *b, uint64_t size)
{
	return b->count + 1 == RETIRE_BATCH || b->bytes + size >= RETIRE_BATCH_BYTES;
}

static struct retired *
spare_pop(struct shard *shard)
{
	struct retired *b = shard->spare;

	if (b != NULL) {
		shard->spare = b->next;
		shard->spares--;
	}
	return b;
}

static void
spare_push(struct shard *shard, struct retired *b)
{
	b->count = 0;
	b->bytes = 0;
	b->next = shard->spare;
	shard->spare = b;
	shard->spares++;
}

/* Spares a shard keeps past a write that reserved more (see
 * ttlkv__take_frees). */
#define SPARES_KEPT 2

/* Allocates only about once per full batch, and not at all while drained
 * batches come back as spares. Retiring fills the current batch and then
 * one spare per RETIRE_BATCH entries or RETIRE_BATCH_BYTES bytes at most
 * (a batch fills at either), so that many spares and one more suffice. */
bool
ttlkv__retire_reserve(struct shard *shard, size_t retires, uint64_t bytes)
{
	uint64_t need = 1 + retires / RETIRE_BATCH + bytes / RETIRE_BATCH_BYTES;
	struct retired *b = shard->batch;

	if (b == NULL)
		b = shard->batch = spare_pop(shard);
	if (b == NULL && (b = shard->batch = ttlkv__retire_batch_new()) == NULL)
		return false;
	/* None fills: the spares that drained batches bring back suffice. */
	if (b->count + retires < RETIRE_BATCH && b->bytes + bytes < RETIRE_BATCH_BYTES)
		return true;
	while (shard->spares < need) {
		struct retired *spare = ttlkv__retire_batch_new();

		if (spare == NULL)
			return false;
		spare_push(shard, spare);
	}
	return true;
}

bool
ttlkv__retire_prepare(struct shard *shard, const struct entry *entry)
{
	return ttlkv__retire_reserve(shard, entry != NULL, entry != NULL ? entry_size(entry) : 0);
}

/* Runs in whichever thread polls the store record (under its reclaim lock)
 * or waits for readers on a record swapped out of the store (grace_wait). */
static void
grace_over(ck_epoch_entry_t *epoch_entry)
{
	struct retired *block = (struct retired *)(void *)epoch_entry;
	struct shard *shard = block->shard;
	struct retired *head = __atomic_load_n(&shard->ready, __ATOMIC_RELAXED);

	__atomic_sub_fetch(&shard->store->reclaim_pending, block->count != 0 ? block->count : 1,
	    __ATOMIC_RELAXED);
	__atomic_sub_fetch(&shard->store->reclaim_pending_bytes, block->bytes, __ATOMIC_RELAXED);
	if (block->count == 0)
		__atomic_add_fetch(&shard->ready_maps, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&shard->ready_entries, block->count, __ATOMIC_RELAXED);
	__atomic_add_fetch(&shard->ready_bytes, block->bytes, __ATOMIC_RELAXED);
	do {
		block->next = head;
	} while (!__atomic_compare_exchange_n(&shard->ready, &head, block, true,
	    __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

/* Yields while readers hold a grace period up, then, once it has gone on
 * for a while (a stalled reader, not a preempted one), sleeps between
 * checks: on a machine with more threads than cores the stalled reader may
 * be waiting for this very core. */
static void
yield_wait(ck_epoch_t *global, ck_epoch_record_t *record, void *context)
{
	unsigned *waits = context;

	(void)global;
	(void)record;
	if (++*waits < 64)
		sched_yield();
	else
		usleep(100);
}

#ifdef TTLKV_TESTING
static unsigned waiting_for_readers;
#define WAIT_BEGINS() __atomic_add_fetch(&waiting_for_readers, 1, __ATOMIC_SEQ_CST)
#define WAIT_ENDS() __atomic_sub_fetch(&waiting_for_readers, 1, __ATOMIC_SEQ_CST)
#else
#define WAIT_BEGINS() ((void)0)
#define WAIT_ENDS() ((void)0)
#endif

/*
 * Waits for every reader now inside a section to leave it, holding no lock.
 * If the store's spare record is free, the store's record is first swapped
 * for it (so that hand-overs go on meanwhile), and afterwards the callbacks
 * of the record taken run: every block handed over before the call is then
 * ready, and the record becomes the spare. If another thread holds the
 * spare, it is in such a wait already: a writer's back-pressure is then the
 * wait for readers alone (that thread frees the backlog), and a complete
 * wait tries again once that thread is done.
 */
static void
grace_wait(struct ttlkv *store, bool complete)
{
	for (unsigned waits = 0;;) {
		ck_epoch_record_t *taken = NULL;

		pthread_mutex_lock(&store->reclaim_lock);
		if (store->rec_spare != NULL) {
			taken = store->rec;
			store->rec = store->rec_spare;
			store->rec_spare = NULL;
		}
		pthread_mutex_unlock(&store->reclaim_lock);
		WAIT_BEGINS();
		ck_epoch_synchronize_wait(&domain, yield_wait, &waits);
		WAIT_ENDS();
		if (taken != NULL) {
			/* Everything in it was unlinked before the wait began. */
			ck_epoch_reclaim(taken);
			pthread_mutex_lock(&store->reclaim_lock);
			store->rec_spare = taken;
			pthread_mutex_unlock(&store->reclaim_lock);
			return;
		}
		if (!complete)
			return;
		yield_wait(NULL, NULL, &waits);
	}
}

/* Under the reclaim lock: runs the callbacks of every grace period over. */
static void
poll_locked(struct ttlkv *store)
{
	ck_epoch_poll(store->rec);
}

/* Under the shard lock that unlinked everything queued, and the reclaim
 * lock: hands every queued block to the store's epoch record. The fence
 * orders the unlinks before ck_epoch_call reads the epoch (the 0.7.1 early
 * free, see the top of this file). */
static void
call_queued(struct shard *shard)
{
	struct ttlkv *store = shard->store;
	struct retired *block = shard->queued;
	uint64_t entries = 0, bytes = 0;

	ck_pr_fence_memory();
	shard->queued_blocks = 0;
	shard->queued_bytes = 0;
	for (; block != NULL; block = shard->queued) {
		shard->queued = block->next;
		entries += block->count != 0 ? block->count : 1;
		bytes += block->bytes;
		ck_epoch_call(store->rec, &block->epoch, grace_over);
	}
	__atomic_add_fetch(&store->reclaim_pending_bytes, bytes, __ATOMIC_RELAXED);
	__atomic_add_fetch(&store->reclaim_pending, entries, __ATOMIC_RELAXED);
}

/*
 * The store whose reclaim lock this thread took during a hand-over, and so
 * owes a poll: the poll scans every epoch record of the process, microseconds
 * that must not be spent under a shard lock (a writer preempted there stalls
 * every writer of its shard), so it runs in ttlkv__settle, after the unlock.
 */
static __thread struct ttlkv *poll_owed;

/* What a shard keeps ready for its writers: at most a quarter of the entries
 * it was sized for and READY_RESERVE_MAX of them, and at most as many bytes
 * as a thread's recycling cache holds (large entries, which no cache keeps,
 * do not pile up); never a retired table. */
#define READY_RESERVE_MAX 2048
#define READY_RESERVE_BYTES (256 * 1024)

/* Full batches, and bytes, a shard may queue while the reclaim lock is busy
 * before its writer waits for the lock (held only for a hand-over or a
 * poll, never while waiting for readers): keeps the backlog that no cap
 * counts short. */
#define QUEUE_LIMIT 4
#define QUEUE_BYTES (1024 * 1024)
/* What a shard holds back for a rebuild before it stops holding (and the
 * rebuild is abandoned): this many full batches or a quarter of its slots'
 * worth of entries, whichever is more, and this many bytes or 32 per slot,
 * whichever is more (about what the entries bound allows for small entries,
 * so that it is the one that counts for them). */
#define REBUILD_HOLD_LIMIT 16
#define REBUILD_HOLD_BYTES (1024 * 1024)
#define REBUILD_HOLD_BYTES_PER_SLOT 32

/* Under the shard lock: whether what the shard holds back is within bounds. */
static bool
hold_ok(const struct shard *shard)
{
	uint64_t bytes = shard->slots * REBUILD_HOLD_BYTES_PER_SLOT;

	return (shard->queued_blocks <= REBUILD_HOLD_LIMIT ||
	    shard->queued_blocks * RETIRE_BATCH * 4 <= shard->slots) &&
	    shard->queued_bytes <= (bytes > REBUILD_HOLD_BYTES ? bytes : REBUILD_HOLD_BYTES);
}

/*
 * Under the shard lock that unlinked everything in block. A writer does not
 * wait for the reclaim lock: if another shard holds it, the block stays
 * queued on this shard and goes with the shard's next hand-over, unless
 * QUEUE_LIMIT blocks already wait (or wait is set).
 */
static void
hand_over(struct shard *shard, struct retired *block, bool wait)
{
	struct ttlkv *store = shard->store;

	if (block != NULL) {
		block->shard = shard;
		block->cursor = 0;
		block->next = shard->queued;
		shard->queued = block;
		shard->queued_blocks++;
		shard->queued_bytes += block->bytes;
	}
	/* While the shard holds (a rebuild runs, and no address may be
	 * reused: rebuild.c), keep everything queued until the hold ends, or
	 * until so much is held back that the rebuild must have stalled: then
	 * stop holding, which abandons the rebuild (ttlkv__retire_held). */
	if (LOAD(&shard->holding)) {
		if (hold_ok(shard))
			return;
		STORE(&shard->holding, false);
	}
	if (poll_owed != store) {
		if (wait || shard->queued_blocks > QUEUE_LIMIT || shard->queued_bytes > QUEUE_BYTES)
			pthread_mutex_lock(&store->reclaim_lock);
		else if (pthread_mutex_trylock(&store->reclaim_lock) != 0)
			return;
		poll_owed = store;
	}
	call_queued(shard);
}

void
ttlkv__retire_hold(struct shard *shard)
{
	STORE(&shard->holding, true);
}

bool
ttlkv__retire_held(const struct shard *shard)
{
	return LOAD(&shard->holding);
}

void
ttlkv__retire_resume(struct shard *shard)
{
	STORE(&shard->holding, false);
	if (shard->queued != NULL)
		hand_over(shard, NULL, false);
}

void
ttlkv__settle(void)
{
	struct ttlkv *store = poll_owed;

	if (LIKELY(store == NULL))
		return;
	poll_locked(store);
	poll_owed = NULL;
	pthread_mutex_unlock(&store->reclaim_lock);
}

void
ttlkv__retire(struct shard *shard, struct entry *entry)
{
	struct retired *b = shard->batch;
	uint64_t size = entry_size(entry);
	bool full = batch_fills(b, size);

	b->items[b->count++] = entry;
	b->bytes += size;
	shard->hold_retired_bytes += size;
	STORE(&shard->retired_bytes, shard->retired_bytes + size);
	STORE(&shard->retired, shard->retired + 1);
	if (full) {
		hand_over(shard, b, false);
		shard->batch = spare_pop(shard);
	}
}

void
ttlkv__retire_block(struct shard *shard, struct retired *block)
{
	block->count = 0;
	block->bytes = 0;
	hand_over(shard, block, false);
}

/* Takes the shard lock and hands over its partly filled batch and
 * everything queued, waiting for the reclaim lock if need be (held only for
 * a hand-over or a poll), but never for readers: ttlkv_reclaim without
 * waiting relies on it. */
void
ttlkv__retire_flush(struct shard *shard)
{
	struct retired *partial;

	shard_lock(shard);
	partial = shard->batch;
	if (partial != NULL && partial->count != 0) {
		shard->batch = spare_pop(shard);
	} else {
		partial = NULL;
	}
	if (partial != NULL || shard->queued != NULL)
		hand_over(shard, partial, true);
	shard_release(shard, FREES_PER_WRITE);
}

/* Waits for readers (if wait) or polls: afterwards every block handed over
 * before the call is ready, or as many as a poll finds. */
void
ttlkv__grace(struct ttlkv *store, bool wait)
{
	if (wait) {
		grace_wait(store, true);
		return;
	}
	pthread_mutex_lock(&store->reclaim_lock);
	poll_locked(store);
	pthread_mutex_unlock(&store->reclaim_lock);
}

void
ttlkv__backpressure_wait(struct ttlkv *store)
{
	if (reclaim_overdue(store))
		grace_wait(store, false);
}

/*
 * Under the shard lock: moves up to max ready blocks or entries to out[],
 * for the caller to free once it has unlocked, and past max up to `limit`
 * while fewer than `want` bytes are taken. A drained batch becomes the
 * shard's spare if it has none. The entries' blocks go to out[] (with a
 * budget, each begins with its node).
 */
static size_t
take_ready(struct shard *shard, void **out, size_t max, size_t limit, uint64_t want)
{
	size_t n = 0, entries = 0, maps = 0;
	uint64_t bytes = 0;

	while (n < max || (n < limit && bytes < want)) {
		struct retired *b = shard->draining;

		if (b == NULL) {
			if (__atomic_load_n(&shard->ready, __ATOMIC_RELAXED) == NULL)
				break;
			b = __atomic_exchange_n(&shard->ready, NULL, __ATOMIC_ACQUIRE);
			TSAN_ACQUIRE(&ttlkv__epoch_sync);
			shard->draining = b;
		}
		if (b->cursor < b->count) {
			/* The batch's bytes, spread evenly over its entries (exact
			 * once it is drained): reading each entry's size here would
			 * cost a cache miss per free under the lock. */
			uint64_t size = b->bytes / b->count +
			    (b->cursor + 1 == b->count ? b->bytes % b->count : 0);

			out[n++] = entry_block(shard->store, b->items[b->cursor++]);
			entries++;
			bytes += size;
			/* Release: a lock-free reader that sees these counts sees the
			 * retirement they follow (ttlkv_stats_get). */
			__atomic_store_n(&shard->freed_bytes, shard->freed_bytes + size, __ATOMIC_RELEASE);
			__atomic_store_n(&shard->freed, shard->freed + 1, __ATOMIC_RELEASE);
			continue;
		}
		shard->draining = b->next;
		maps += b->count == 0;
		if (b->count != 0 && shard->spares == 0) {
			spare_push(shard, b);
		} else {
			out[n++] = b;
		}
	}
	if (entries != 0) {
		__atomic_sub_fetch(&shard->ready_entries, entries, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&shard->ready_bytes, bytes, __ATOMIC_RELAXED);
	}
	if (maps != 0)
		__atomic_sub_fetch(&shard->ready_maps, maps, __ATOMIC_RELAXED);
	return n;
}

static uint64_t
ready_reserve(const struct shard *shard)
{
	return shard->planned / 4 < READY_RESERVE_MAX ? shard->planned / 4 : READY_RESERVE_MAX;
}

bool
ttlkv__ready_surplus(const struct shard *shard)
{
	return LOAD(&shard->ready_maps) != 0 || LOAD(&shard->ready_bytes) > READY_RESERVE_BYTES ||
	    LOAD(&shard->ready_entries) > ready_reserve(shard);
}

/*
 * Under the shard lock, ending a hold of it: the ready entries the hold
 * takes to free once it has unlocked. Up to `frees` (at most FREES_PER_HOLD)
 * as its thread's cache has room for them, all `frees` past the reserve;
 * and while the shard's ready bytes exceed the reserve's, more, up to
 * FREES_PER_HOLD, until twice the bytes the hold retired: counted in
 * entries alone, a shard's frees would lag behind writes of large entries
 * queued after small ones (a rebuild that lets a thousand small entries go
 * at once), and memory would pile up in bytes. Spare batches past
 * SPARES_KEPT (a write that retired many reserved them) go too.
 */
size_t
ttlkv__take_frees(struct shard *shard, void **out, size_t frees)
{
	uint64_t owed = shard->hold_retired_bytes;
	size_t due = frees < FREES_PER_HOLD ? frees : FREES_PER_HOLD, room, n = 0;

	shard->hold_retired_bytes = 0;
	while (shard->spares > SPARES_KEPT && n < FREES_PER_HOLD - due)
		out[n++] = spare_pop(shard);
	out += n;
	if (due == 0)
		return n;
	room = ttlkv__recycle_room(due);
	if (room < due && ttlkv__ready_surplus(shard))
		room = due;
	if (LOAD(&shard->ready_bytes) > READY_RESERVE_BYTES)
		return n + take_ready(shard, out, room, FREES_PER_HOLD - n, 2 * owed);
	return n + take_ready(shard, out, room, room, 0);
}

void
ttlkv__free_blocks(void **blocks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ttlkv__recycle(blocks[i]);
	ttlkv__recycle_settle();
}

size_t
ttlkv__free_ready(struct shard *shard, bool keep_reserve, size_t max)
{
	void *out[64];
	size_t n, freed = 0;

	do {
		size_t batch = max - freed < 64 ? max - freed : 64;

		shard_lock(shard);
		n = keep_reserve && !ttlkv__ready_surplus(shard) ? 0 : take_ready(shard, out, batch, batch, 0);
		shard_release(shard, 0);
		ttlkv__free_blocks(out, n);
		freed += n;
	} while (n != 0 && freed < max);
	return freed;
}

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

uint64_t
ttlkv_testing_reserve_limit(struct ttlkv *store)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < store->n_shards; i++)
		n += ready_reserve(&store->shards[i]);
	return n;
}

uint64_t
ttlkv_testing_ready_tables(struct ttlkv *store)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < store->n_shards; i++)
		n += LOAD(&store->shards[i].ready_maps);
	return n;
}

void
ttlkv_testing_set_reclaim_cap(struct ttlkv *store, uint64_t cap)
{
	STORE(&store->reclaim_cap, cap);
}

unsigned
ttlkv_testing_waiting_for_readers(void)
{
	return __atomic_load_n(&waiting_for_readers, __ATOMIC_SEQ_CST);
}

unsigned
ttlkv_testing_epoch_records(void)
{
	ck_stack_entry_t *cursor;
	unsigned n = 0;

	pthread_once(&domain_once, domain_init);
	CK_STACK_FOREACH(&domain.records, cursor)
		n++;
	return n;
}
#endif
