/*
 * Entry slabs: small entry blocks without malloc's chunk header.
 *
 * Why. glibc puts an 8-byte header in front of every chunk and rounds chunks
 * to 16 bytes, so a 64-byte entry (a 16-byte key, a 32-byte value and the
 * 16-byte header) takes 80 bytes, and at 10 million keys those 16 bytes are
 * a sixth of what a key costs. A slab block carries no header and is rounded
 * to 8 bytes only.
 *
 * How. One range of address space is reserved for the whole process (all
 * stores share it, as they share malloc) and committed 2 MiB at a time, each
 * unit aligned to be one huge page once a store asks for them
 * (TTLKV_HUGE_PAGES); it is
 * cut into 64 KiB pages, each of one size class (8-byte steps up to
 * SLAB_MAX), whose class sits in a byte map indexed by page, so that a free
 * finds a block's class from its address alone. A thread carves blocks from
 * a page of its own per class (a bump pointer, no lock). Freed blocks go to
 * the thread's cache (recycle.c); what the cache has no room for goes to a
 * process-wide list per class under a mutex, from which a thread whose cache
 * is empty takes a few at a time before it carves. A thread that exits gives
 * its cache and the rest of its pages to those lists.
 *
 * What it costs. Memory that slabs once held stays with them, for any store
 * of the process to reuse, and a class's free blocks serve that class only:
 * a process that trades many small entries for large ones keeps the small
 * ones' pages. Blocks larger than SLAB_MAX, allocations once the range is
 * used up, and AddressSanitizer builds (whose checks need real frees) use
 * malloc as before.
 */
#include "internal.h"

#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define SLAB_PAGE_SHIFT 16
#define SLAB_PAGE ((size_t)1 << SLAB_PAGE_SHIFT)
#define SLAB_COMMIT TTLKV_HUGE_PAGE
/* Address space reserved, not committed: about a billion entries of the
 * common shape. Under an address-space limit (RLIMIT_AS, which counts
 * reserved space too), an eighth of the limit; where the kernel refuses,
 * a quarter at a time down to SLAB_RESERVE_MIN. 64-bit only: elsewhere
 * slabs are off. */
#define SLAB_RESERVE ((uint64_t)64 << 30)
#define SLAB_RESERVE_MIN ((uint64_t)64 << 20)
#define SLAB_PAGES (SLAB_RESERVE >> SLAB_PAGE_SHIFT)

struct slab_list {
	pthread_mutex_t lock;
	void *head;      /* linked through each block's first word; atomic */
};

struct slab_cursor {
	unsigned char *next;
	unsigned char *end;
};

static pthread_once_t slab_once = PTHREAD_ONCE_INIT;
/* Where the range starts, and its size in bytes (0 while slabs are off).
 * Both atomic: slab_owns runs on every free, also on threads that never
 * called slab_init; the size is published after the base, and read first. */
static unsigned char *slab_base;
static size_t slab_size;
static pthread_mutex_t slab_grow_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t slab_committed;        /* under slab_grow_lock */
static size_t slab_carved;           /* under slab_grow_lock */
static bool slab_huge;               /* under slab_grow_lock: advised */
static uint8_t slab_class_of_page[SLAB_PAGES];   /* atomic */
static struct slab_list slab_lists[SLAB_CLASSES + 1];
static __thread struct slab_cursor slab_cursors[SLAB_CLASSES + 1];

/* The bytes to reserve: SLAB_RESERVE, or an eighth of the address-space
 * limit, in whole commit units. */
static uint64_t
slab_reserve_size(void)
{
	struct rlimit limit;
	uint64_t size = SLAB_RESERVE;

	if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
	    limit.rlim_cur / 8 < size)
		size = limit.rlim_cur / 8 / SLAB_COMMIT * SLAB_COMMIT;
	return size;
}

/*
 * At ten million keys a lookup's two dependent misses (a table's slots,
 * then an entry) land on random pages, and with 4 KiB pages each is a TLB
 * miss as well, whose page walk (two-dimensional under a hypervisor) costs
 * about as much again. Slab memory and large tables are touched whole, so
 * huge pages there cost no resident bytes. What they can cost is time at
 * first touch: where a hypervisor backs guest memory lazily and takes back
 * what the guest frees (free page reporting), a fresh huge page faults in
 * on the host first (3 s a GiB against 0.4 for small pages, measured in a
 * Firecracker guest; opening a 10M-key store took 0.55 s instead of 0.09).
 * So both ask only for a store that sets TTLKV_HUGE_PAGES.
 */
void
ttlkv__advise_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
	uintptr_t start = ((uintptr_t)p + TTLKV_HUGE_PAGE - 1) & ~(uintptr_t)(TTLKV_HUGE_PAGE - 1);
	uintptr_t end = ((uintptr_t)p + size) & ~(uintptr_t)(TTLKV_HUGE_PAGE - 1);

	if (end > start)
		(void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
	(void)p;
	(void)size;
#endif
}

/* A reserve of size bytes starting on a commit unit, so that each unit can
 * be one huge page (ttlkv__slab_advise_huge); MAP_FAILED if refused. */
static void *
slab_reserve_aligned(size_t size)
{
	unsigned char *p = mmap(NULL, size + SLAB_COMMIT, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	size_t lead;

	if (p == MAP_FAILED)
		return MAP_FAILED;
	lead = (SLAB_COMMIT - (uintptr_t)p % SLAB_COMMIT) % SLAB_COMMIT;
	if (lead != 0)
		munmap(p, lead);
	munmap(p + lead + size, SLAB_COMMIT - lead);
	return p + lead;
}

static void
slab_init(void)
{
	void *p = MAP_FAILED;
	uint64_t size;

	for (size_t c = 0; c <= SLAB_CLASSES; c++)
		pthread_mutex_init(&slab_lists[c].lock, NULL);
	if (!TTLKV_RECYCLING || UINTPTR_MAX <= UINT32_MAX)
		return;
	for (size = slab_reserve_size(); size >= SLAB_RESERVE_MIN;
	    size = size / 4 / SLAB_COMMIT * SLAB_COMMIT) {
		if ((p = slab_reserve_aligned((size_t)size)) != MAP_FAILED)
			break;
	}
	if (p == MAP_FAILED)
		return;
	/* Tagged slots and budget nodes need addresses below 2^47. */
	if ((uintptr_t)p + size > ((uintptr_t)1 << 47)) {
		munmap(p, (size_t)size);
		return;
	}
	__atomic_store_n(&slab_base, p, __ATOMIC_RELAXED);
	__atomic_store_n(&slab_size, (size_t)size, __ATOMIC_RELEASE);
}

bool
ttlkv__slab_on(void)
{
	pthread_once(&slab_once, slab_init);
	return __atomic_load_n(&slab_size, __ATOMIC_RELAXED) != 0;
}

void
ttlkv__slab_advise_huge(void)
{
	if (!ttlkv__slab_on())
		return;
	pthread_mutex_lock(&slab_grow_lock);
	if (!slab_huge) {
		ttlkv__advise_huge(slab_base, slab_size);
		slab_huge = true;
	}
	pthread_mutex_unlock(&slab_grow_lock);
}

bool
ttlkv__slab_owns(const void *block)
{
	size_t size = __atomic_load_n(&slab_size, __ATOMIC_ACQUIRE);

	return size != 0 &&
	    (uintptr_t)block - (uintptr_t)__atomic_load_n(&slab_base, __ATOMIC_RELAXED) < size;
}

size_t
ttlkv__slab_block_size(const void *block)
{
	size_t page = ((uintptr_t)block - (uintptr_t)slab_base) >> SLAB_PAGE_SHIFT;

	return (size_t)__atomic_load_n(&slab_class_of_page[page], __ATOMIC_RELAXED) * SLAB_STEP;
}

/* A fresh page for class c, committing more of the range when needed;
 * NULL when the range is used up or the kernel refuses. */
static unsigned char *
slab_page_new(size_t c)
{
	unsigned char *page = NULL;

	pthread_mutex_lock(&slab_grow_lock);
	if (slab_carved == slab_committed && slab_committed < slab_size &&
	    mprotect(slab_base + slab_committed, SLAB_COMMIT, PROT_READ | PROT_WRITE) == 0)
		slab_committed += SLAB_COMMIT;
	if (slab_carved < slab_committed) {
		page = slab_base + slab_carved;
		/* Before the page's first block exists: whoever frees one got it
		 * through a hand-over that orders this store before its load. */
		__atomic_store_n(&slab_class_of_page[slab_carved >> SLAB_PAGE_SHIFT], (uint8_t)c,
		    __ATOMIC_RELAXED);
		slab_carved += SLAB_PAGE;
	}
	pthread_mutex_unlock(&slab_grow_lock);
	return page;
}

void *
ttlkv__slab_take(size_t c, size_t max, size_t *taken)
{
	struct slab_list *l = &slab_lists[c];
	void *first, *last;
	size_t n = 0;

	*taken = 0;
	if (max == 0 || __atomic_load_n(&l->head, __ATOMIC_RELAXED) == NULL)
		return NULL;
	pthread_mutex_lock(&l->lock);
	first = last = __atomic_load_n(&l->head, __ATOMIC_RELAXED);
	if (first != NULL) {
		for (n = 1; n < max && *(void **)last != NULL; n++)
			last = *(void **)last;
		__atomic_store_n(&l->head, *(void **)last, __ATOMIC_RELAXED);
		*(void **)last = NULL;
	}
	pthread_mutex_unlock(&l->lock);
	*taken = n;
	return first;
}

void *
ttlkv__slab_carve(size_t c)
{
	struct slab_cursor *cur = &slab_cursors[c];
	size_t size = c * SLAB_STEP;
	void *block;

	if (cur->next == NULL || (size_t)(cur->end - cur->next) < size) {
		unsigned char *page = slab_page_new(c);

		if (page == NULL)
			return NULL;
		/* What is left of the old page is less than a block. */
		cur->next = page;
		cur->end = page + SLAB_PAGE;
	}
	block = cur->next;
	cur->next += size;
	return block;
}

/* The chain first..last of free blocks of class c, to c's list. */
static void
slab_put_chain(size_t c, void *first, void *last)
{
	struct slab_list *l = &slab_lists[c];

	pthread_mutex_lock(&l->lock);
	*(void **)last = __atomic_load_n(&l->head, __ATOMIC_RELAXED);
	__atomic_store_n(&l->head, first, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&l->lock);
}

void
ttlkv__slab_put(void *block)
{
	slab_put_chain(ttlkv__slab_block_size(block) / SLAB_STEP, block, block);
}

void
ttlkv__slab_batch_add(struct slab_batch *batch, void *block)
{
	size_t c = ttlkv__slab_block_size(block) / SLAB_STEP;

	*(void **)block = batch->head[c];
	if (batch->head[c] == NULL)
		batch->tail[c] = block;
	batch->head[c] = block;
}

void
ttlkv__slab_batch_put(struct slab_batch *batch)
{
	for (size_t c = 1; c <= SLAB_CLASSES; c++) {
		if (batch->head[c] != NULL)
			slab_put_chain(c, batch->head[c], batch->tail[c]);
		batch->head[c] = batch->tail[c] = NULL;
	}
}

/* At thread exit: what is left of each of this thread's pages, to the
 * lists, one hold of each class's lock. */
void
ttlkv__slab_thread_exit(void)
{
	struct slab_batch rest = { { NULL }, { NULL } };

	for (size_t c = 1; c <= SLAB_CLASSES; c++) {
		struct slab_cursor *cur = &slab_cursors[c];

		for (; cur->next != NULL && (size_t)(cur->end - cur->next) >= c * SLAB_STEP;
		    cur->next += c * SLAB_STEP)
			ttlkv__slab_batch_add(&rest, cur->next);
		cur->next = cur->end = NULL;
	}
	ttlkv__slab_batch_put(&rest);
}

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

int
ttlkv_testing_slabs(void)
{
	return ttlkv__slab_on();
}

size_t
ttlkv_testing_slab_pages(void)
{
	size_t n;

	pthread_mutex_lock(&slab_grow_lock);
	n = slab_carved >> SLAB_PAGE_SHIFT;
	pthread_mutex_unlock(&slab_grow_lock);
	return n;
}
#endif
