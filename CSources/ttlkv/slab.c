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
 * Giving pages back. A cache's entries can move from one size to another
 * (values that grow), and under a byte budget the old size's entries are
 * evicted: their pages must not stay resident beside the new ones'. So the
 * lists are doubly linked (a free block's first two words; every entry is
 * larger), and a count per page says how many of its blocks the list holds.
 * A page whose every block is there is wholly free: ttlkv__slab_trim (from
 * ttlkv_maintain, the expiry worker's tick) unlinks its blocks under the
 * class's lock and keeps its number for the next page any class needs,
 * before more of the range is carved, and gives its memory back
 * (MADV_DONTNEED). It does so only for a class whose list holds more than it
 * keeps for its writers (a sixteenth of the class's pages, at least
 * SLAB_KEEP), so that steady churn does not give pages back only to fault
 * them in again. Where the range may be on huge pages (a store asked for
 * them, or the system's THP setting is "always"), memory goes back only in
 * whole commit units, once all 32 pages of one are free: the kernel's
 * khugepaged would otherwise fill a unit with one page left resident back
 * to a whole huge page.
 *
 * What it costs. A page with one block in use stays, so memory freed at
 * random (half the keys deleted, or a few keys of an old size still in
 * use) mostly stays with its class, for that class to reuse. A writer whose
 * cache is empty may wait for its class's lock while up to SLAB_UNLINK_RUN
 * of a page's blocks are unlinked (each touches its list neighbours).
 * Blocks larger than SLAB_MAX, allocations once the range is used up, and
 * AddressSanitizer builds (whose checks need real frees) use malloc as
 * before.
 */
#include "internal.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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
/* Free bytes a class's list keeps, at least, for its writers: 31 classes'
 * worth stay within the 16 MiB that ttlkv.h's budget bound allows. */
#define SLAB_KEEP ((size_t)256 << 10)
#define SLAB_PAGES_PER_UNIT (SLAB_COMMIT >> SLAB_PAGE_SHIFT)
/* Pages ttlkv__slab_trim looks at per call, at most. */
#define SLAB_TRIM_SCAN 16384
/* Blocks a page's return takes out of its list per hold of the lock. */
#define SLAB_UNLINK_RUN 64

/* A free block in a list: its first two words. */
struct slab_link {
	struct slab_link *next;
	struct slab_link *prev;    /* NULL at the head */
};
_Static_assert(sizeof(struct entry) >= sizeof(struct slab_link),
    "every slab block has room for its list links");

struct slab_list {
	pthread_mutex_t lock;
	struct slab_link *head;  /* atomic: read without the lock as a hint */
	size_t blocks;           /* in the list; atomic, written under the lock */
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
/* Under slab_grow_lock: a store asked for huge pages, or the system gives
 * them unasked; either way memory goes back in whole commit units. */
static bool slab_huge;
static bool slab_thp_always;
/* Pages given back, to carve again before the rest of the range; and the
 * pages of each class. Under slab_grow_lock. */
static uint32_t slab_returned[SLAB_PAGES];
static size_t slab_returned_count;
static size_t slab_returned_ever;    /* pages whose memory went back */
/* Pages in slab_returned whose memory has gone back already. */
static uint64_t slab_dropped[SLAB_PAGES / 64];
/* Pages of each commit unit in slab_returned: the unit's memory goes back
 * once all of them are, where huge pages may back it. */
static uint8_t slab_returned_of_unit[SLAB_PAGES / SLAB_PAGES_PER_UNIT];
static size_t slab_pages_of_class[SLAB_CLASSES + 1];   /* atomic */
static uint8_t slab_class_of_page[SLAB_PAGES];   /* atomic; 0: none (given back) */
/* Blocks of each page in its class's list: written under that list's lock
 * (a page's class changes only while none of its blocks exists), read
 * without it by ttlkv__slab_trim as a hint. */
static uint16_t slab_free_of_page[SLAB_PAGES];
static pthread_mutex_t slab_trim_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t slab_trim_next;        /* under slab_trim_lock: the page to look at */
static size_t slab_returns_undone;   /* under slab_trim_lock: a writer took a block midway */
#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

void (*ttlkv_testing_slab_between_runs)(size_t c);
#endif
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

/* Whether the system backs anonymous memory with huge pages unasked. */
static bool
slab_thp_is_always(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[128] = "";

	if (f == NULL)
		return false;
	if (fgets(line, sizeof line, f) == NULL)
		line[0] = 0;
	fclose(f);
	return strstr(line, "[always]") != NULL;
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
	slab_thp_always = slab_thp_is_always();
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

static size_t
slab_page_of(const void *block)
{
	return ((uintptr_t)block - (uintptr_t)slab_base) >> SLAB_PAGE_SHIFT;
}

size_t
ttlkv__slab_block_size(const void *block)
{
	return (size_t)__atomic_load_n(&slab_class_of_page[slab_page_of(block)], __ATOMIC_RELAXED) *
	    SLAB_STEP;
}

/* Blocks a page of class c holds. */
static size_t
slab_blocks_per_page(size_t c)
{
	return SLAB_PAGE / (c * SLAB_STEP);
}

/* A fresh page for class c, committing more of the range when needed;
 * NULL when the range is used up or the kernel refuses. */
static unsigned char *
slab_page_new(size_t c)
{
	unsigned char *page = NULL;

	pthread_mutex_lock(&slab_grow_lock);
	if (slab_returned_count > 0) {
		size_t p = slab_returned[--slab_returned_count];

		slab_returned_of_unit[p / SLAB_PAGES_PER_UNIT]--;
		slab_dropped[p / 64] &= ~((uint64_t)1 << (p % 64));
		page = slab_base + (p << SLAB_PAGE_SHIFT);
	} else {
		if (slab_carved == slab_committed && slab_committed < slab_size &&
		    mprotect(slab_base + slab_committed, SLAB_COMMIT, PROT_READ | PROT_WRITE) == 0)
			slab_committed += SLAB_COMMIT;
		if (slab_carved < slab_committed) {
			page = slab_base + slab_carved;
			slab_carved += SLAB_PAGE;
		}
	}
	if (page != NULL) {
		/* Before the page's first block exists: whoever frees one got it
		 * through a hand-over that orders this store before its load. */
		__atomic_store_n(&slab_class_of_page[slab_page_of(page)], (uint8_t)c, __ATOMIC_RELAXED);
		__atomic_store_n(&slab_pages_of_class[c], slab_pages_of_class[c] + 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&slab_grow_lock);
	return page;
}

/* Under the list's lock: delta blocks of block's page more, or fewer, in
 * the list. */
static void
slab_count_free(const void *block, ptrdiff_t delta)
{
	uint16_t *count = &slab_free_of_page[slab_page_of(block)];

	__atomic_store_n(count, (uint16_t)(__atomic_load_n(count, __ATOMIC_RELAXED) + delta),
	    __ATOMIC_RELAXED);
}

/* Under the list's lock: n blocks more, or fewer. */
static void
slab_count_blocks(struct slab_list *l, ptrdiff_t n)
{
	__atomic_store_n(&l->blocks, l->blocks + (size_t)n, __ATOMIC_RELAXED);
}

void *
ttlkv__slab_take(size_t c, size_t max, size_t *taken)
{
	struct slab_list *l = &slab_lists[c];
	struct slab_link *first, *last, *rest;
	size_t n = 0;

	*taken = 0;
	if (max == 0 || __atomic_load_n(&l->head, __ATOMIC_RELAXED) == NULL)
		return NULL;
	pthread_mutex_lock(&l->lock);
	first = last = l->head;
	if (first != NULL) {
		slab_count_free(first, -1);
		for (n = 1; n < max && last->next != NULL; n++) {
			last = last->next;
			slab_count_free(last, -1);
		}
		rest = last->next;
		if (rest != NULL)
			rest->prev = NULL;
		__atomic_store_n(&l->head, rest, __ATOMIC_RELAXED);
		slab_count_blocks(l, -(ptrdiff_t)n);
		last->next = NULL;
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

/* The chain first..last of free blocks of class c (linked through their
 * first word), to c's list. The walk that links them back and counts them
 * is under the lock, but over blocks their freeing thread has just written. */
static void
slab_put_chain(size_t c, void *first, void *last)
{
	struct slab_list *l = &slab_lists[c];
	struct slab_link *b = first, *prev = NULL;
	ptrdiff_t n = 0;

	assert(c >= 2 && c <= SLAB_CLASSES);
	pthread_mutex_lock(&l->lock);
	for (;; prev = b, b = b->next) {
		b->prev = prev;
		slab_count_free(b, 1);
		n++;
		if (b == last)
			break;
	}
	b->next = l->head;
	if (b->next != NULL)
		b->next->prev = b;
	__atomic_store_n(&l->head, (struct slab_link *)first, __ATOMIC_RELAXED);
	slab_count_blocks(l, n);
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

/* Whether class c's list holds more than it keeps for its writers. */
static bool
slab_over_keep(size_t c)
{
	size_t keep = __atomic_load_n(&slab_pages_of_class[c], __ATOMIC_RELAXED) * SLAB_PAGE / 16;

	return __atomic_load_n(&slab_lists[c].blocks, __ATOMIC_RELAXED) * c * SLAB_STEP >
	    (keep > SLAB_KEEP ? keep : SLAB_KEEP);
}

/* Under slab_grow_lock, with page p wholly free and about to join the
 * pages to cut again (so that no thread cuts from it meanwhile): gives its
 * memory back, or where huge pages may back the range, its commit unit's
 * once every page of the unit is free. */
static void
slab_give_back(size_t p)
{
	size_t unit = p / SLAB_PAGES_PER_UNIT, first = p, n = 1;

	slab_returned_of_unit[unit]++;
	if (slab_huge || slab_thp_always) {
		if (slab_returned_of_unit[unit] < SLAB_PAGES_PER_UNIT)
			return;
		first = unit * SLAB_PAGES_PER_UNIT;
		n = SLAB_PAGES_PER_UNIT;
	}
	(void)madvise(slab_base + (first << SLAB_PAGE_SHIFT), n << SLAB_PAGE_SHIFT, MADV_DONTNEED);
	for (size_t q = first; q < first + n; q++) {
		uint64_t bit = (uint64_t)1 << (q % 64);

		slab_returned_ever += !(slab_dropped[q / 64] & bit);
		slab_dropped[q / 64] |= bit;
	}
}

/* Under l's lock, with blocks [from, to) of page (of class c) in l: takes
 * them out, each counted off its page. In address order, so that
 * neighbours freed together are near. */
static void
slab_unlink_run(struct slab_list *l, unsigned char *page, size_t c, size_t from, size_t to)
{
	size_t size = c * SLAB_STEP;

	for (size_t i = from; i < to; i++) {
		struct slab_link *b = (struct slab_link *)(void *)(page + i * size);

		if (b->prev != NULL)
			b->prev->next = b->next;
		else
			__atomic_store_n(&l->head, b->next, __ATOMIC_RELAXED);
		if (b->next != NULL)
			b->next->prev = b->prev;
	}
	slab_count_blocks(l, -(ptrdiff_t)(to - from));
	slab_count_free(page, -(ptrdiff_t)(to - from));
}

/* Blocks [0, n) of page (of class c), taken out of its list, back in. */
static void
slab_relink(unsigned char *page, size_t c, size_t n)
{
	size_t size = c * SLAB_STEP;

	for (size_t i = 0; i + 1 < n; i++)
		((struct slab_link *)(void *)(page + i * size))->next =
		    (struct slab_link *)(void *)(page + (i + 1) * size);
	slab_put_chain(c, page, page + (n - 1) * size);
}

/* Under slab_trim_lock (so no other call changes a page's class to none):
 * gives page p back if its class's list holds every block of it, and more
 * than it keeps. Returns the blocks that took out of the list.
 *
 * The blocks leave the list SLAB_UNLINK_RUN at a time, the lock let go in
 * between, so that a writer whose cache is empty waits for one run at most.
 * At each hold the page's count says whether the list still holds all the
 * blocks not taken out yet (every take holds the lock and counts them off);
 * if a writer took one meanwhile, the page is in use again, and the blocks
 * taken out go back. */
static size_t
slab_return_page(size_t p)
{
	size_t c = __atomic_load_n(&slab_class_of_page[p], __ATOMIC_RELAXED), n, done = 0;
	unsigned char *page = slab_base + (p << SLAB_PAGE_SHIFT);
	struct slab_list *l = &slab_lists[c];

	if (c == 0 || __atomic_load_n(&slab_free_of_page[p], __ATOMIC_RELAXED) !=
	    (n = slab_blocks_per_page(c)) || !slab_over_keep(c))
		return 0;
	pthread_mutex_lock(&l->lock);
	/* With the list holding all n - done blocks left, none of them is in
	 * use, in a cache or on a thread's page. */
	while (done < n && slab_free_of_page[p] == n - done) {
		size_t to = done + SLAB_UNLINK_RUN < n ? done + SLAB_UNLINK_RUN : n;

		slab_unlink_run(l, page, c, done, to);
		done = to;
		if (done < n) {
			pthread_mutex_unlock(&l->lock);
#ifdef TTLKV_TESTING
			if (ttlkv_testing_slab_between_runs != NULL)
				ttlkv_testing_slab_between_runs(c);
#endif
			pthread_mutex_lock(&l->lock);
		}
	}
	pthread_mutex_unlock(&l->lock);
	if (done < n) {
		if (done > 0) {
			slab_relink(page, c, done);
			slab_returns_undone++;
		}
		return 0;
	}
	pthread_mutex_lock(&slab_grow_lock);
	/* No block of the page exists: nothing reads its class until
	 * slab_page_new gives it one again. */
	__atomic_store_n(&slab_class_of_page[p], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&slab_pages_of_class[c], slab_pages_of_class[c] - 1, __ATOMIC_RELAXED);
	slab_give_back(p);
	slab_returned[slab_returned_count++] = (uint32_t)p;
	pthread_mutex_unlock(&slab_grow_lock);
	return n;
}

size_t
ttlkv__slab_trim(size_t max_blocks)
{
	size_t done = 0, pages;
	bool over = false;

	if (!ttlkv__slab_on() || pthread_mutex_trylock(&slab_trim_lock) != 0)
		return 0;
	for (size_t c = 2; c <= SLAB_CLASSES && !over; c++)
		over = slab_over_keep(c);
	if (over) {
		pthread_mutex_lock(&slab_grow_lock);
		pages = slab_carved >> SLAB_PAGE_SHIFT;
		pthread_mutex_unlock(&slab_grow_lock);
		for (size_t seen = 0; seen < pages && seen < SLAB_TRIM_SCAN && done < max_blocks; seen++) {
			if (slab_trim_next >= pages)
				slab_trim_next = 0;
			done += slab_return_page(slab_trim_next++);
		}
	}
	pthread_mutex_unlock(&slab_trim_lock);
	return done;
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

size_t
ttlkv_testing_slab_returns_undone(void)
{
	size_t n;

	pthread_mutex_lock(&slab_trim_lock);
	n = slab_returns_undone;
	pthread_mutex_unlock(&slab_trim_lock);
	return n;
}

size_t
ttlkv_testing_slab_returned(size_t *ever)
{
	size_t n;

	pthread_mutex_lock(&slab_grow_lock);
	n = slab_returned_count;
	if (ever != NULL)
		*ever = slab_returned_ever;
	pthread_mutex_unlock(&slab_grow_lock);
	return n;
}
#endif
