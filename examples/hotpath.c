/*
 * hotpath: a loop of single ttlkv_get calls against the same loop over a
 * minimal ck_hs design, in one process, in alternating rounds (issue 19's
 * hot-path target: the store's loop at >= 0.9x the minimal design's).
 *
 * Both hold --keys keys (16-byte keys, 32-byte values, 10 million by
 * default). The minimal design is one ck_hs table in SPMC mode sized so
 * that it never grows, entries {64-bit hash, key length, value length,
 * key, value} compared hash first, and a ck_epoch read section per get:
 * what a store without shards, deadlines, tags, budgets or maintenance
 * would do. --delete gives its table CK_HS_MODE_DELETE, as the store's
 * tables have (a probe-bound byte per slot, read by every ck_hs_get).
 * Rates are keys per second of the readers' CPU time, so that other
 * tenants of a shared machine change them least; the ratio is taken per
 * pair of rounds and printed as median [min-max].
 *
 * --shards N gives the store N shards (default: the store's choice);
 * --huge-pages opens it with TTLKV_HUGE_PAGES (the minimal design keeps
 * what the system gives malloc: with THP "always", huge pages too).
 *
 *   build/hotpath [--keys N] [--threads T] [--rounds R] [--delete] [--shards N] [--huge-pages]
 */
#include <ck_epoch.h>
#include <ck_hs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ttlkv.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bench_common.h"

#define SEED 42
#define PROBE_FLAG 0x80000000u

struct entry {
	uint64_t hash;
	uint32_t key_len, value_len;
	unsigned char bytes[];
};

/* A lookup shaped like an entry's header (ck_hs compares with one callback). */
struct probe {
	uint64_t hash;
	uint32_t key_len, value_len;
	const void *key;
};

static ck_hs_t table;
static ck_epoch_t epoch;
static ttlkv *store;
static uint64_t n_keys = 10000000;
static volatile bool stop;
static bool minimal;

static void *
hs_malloc(size_t n)
{
	return malloc(n);
}

static void
hs_free(void *p, size_t n, bool defer)
{
	(void)n;
	(void)defer; /* nothing is freed while readers run */
	free(p);
}

static struct ck_malloc hs_allocator = { .malloc = hs_malloc, .free = hs_free };

static unsigned long
hs_hash(const void *object, unsigned long seed)
{
	(void)seed;
	return ((const struct entry *)object)->hash;
}

static bool
hs_compare(const void *stored, const void *other)
{
	const struct entry *a = stored;
	const struct probe *b = other;
	const void *key = (b->key_len & PROBE_FLAG) ? b->key : ((const struct entry *)other)->bytes;
	uint32_t len = b->key_len & ~PROBE_FLAG;

	return a->hash == b->hash && a->key_len == len && memcmp(a->bytes, key, len) == 0;
}

static bool
minimal_get(ck_epoch_record_t *record, const unsigned char *key, void *out, size_t *len)
{
	struct probe p = { XXH3_64bits_withSeed(key, 16, SEED), 16 | PROBE_FLAG, 0, key };
	const struct entry *e;

	ck_epoch_begin(record, NULL);
	e = ck_hs_get(&table, p.hash, &p);
	if (e != NULL) {
		memcpy(out, e->bytes + e->key_len, e->value_len);
		*len = e->value_len;
	}
	ck_epoch_end(record, NULL);
	return e != NULL;
}

struct worker {
	pthread_t thread;
	uint64_t id, ops, cpu_ns, misses;
};

static void *
reader(void *arg)
{
	struct worker *w = arg;
	unsigned char keys[16][16], out[16][32];
	size_t got[16];
	uint64_t rng = (w->id + 7) * 0x2545f4914f6cdd1dull + 1, cpu0 = thread_cpu_ns();
	ck_epoch_record_t *record = malloc(sizeof *record);

	if (record == NULL)
		abort();
	ck_epoch_register(&epoch, record, NULL);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < 16; i++)
			key_of(next_random(&rng) % n_keys, keys[i]);
		if (minimal) {
			for (int i = 0; i < 16; i++)
				w->misses += !minimal_get(record, keys[i], out[i], &got[i]);
		} else {
			for (int i = 0; i < 16; i++)
				w->misses += ttlkv_get(store, keys[i], 16, out[i], 32, &got[i]) != TTLKV_OK;
		}
		w->ops += 16;
	}
	w->cpu_ns = thread_cpu_ns() - cpu0;
	ck_epoch_unregister(record); /* records are never freed */
	return NULL;
}

/* One round: keys per second of the readers' CPU time. */
static double
round_rate(int threads, double seconds)
{
	struct worker w[64];
	uint64_t ops = 0, cpu = 0;

	memset(w, 0, sizeof w);
	stop = false;
	for (int i = 0; i < threads; i++) {
		w[i].id = (uint64_t)i;
		pthread_create(&w[i].thread, NULL, reader, &w[i]);
	}
	usleep((useconds_t)(seconds * 1e6));
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		ops += w[i].ops;
		cpu += w[i].cpu_ns;
		if (w[i].misses != 0) {
			fprintf(stderr, "hotpath: %llu gets missed\n", (unsigned long long)w[i].misses);
			exit(1);
		}
	}
	return cpu != 0 ? (double)ops / ((double)cpu / 1e9) : 0;
}

static void
print_median(const char *name, double *v, int n, double scale, const char *unit)
{
	qsort(v, (size_t)n, sizeof *v, by_value);
	printf("  %-22s %.2f%s [%.2f-%.2f]\n", name, v[n / 2] / scale, unit, v[0] / scale,
	    v[n - 1] / scale);
}

int
main(int argc, char **argv)
{
	int threads = 2, rounds = 15, delete_mode = 0, shards = 0;
	unsigned flags = 0;
	double *store_rate, *minimal_rate, *ratio;
	unsigned char key[16], value[32] = { 0 };
	ttlkv_options o;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--huge-pages") == 0)
			flags |= TTLKV_HUGE_PAGES;
		else if (strcmp(argv[i], "--delete") == 0)
			delete_mode = CK_HS_MODE_DELETE;
		else if (i + 1 < argc && strcmp(argv[i], "--keys") == 0)
			n_keys = strtoull(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
			threads = atoi(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--rounds") == 0)
			rounds = atoi(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--shards") == 0)
			shards = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--keys N] [--threads T] [--rounds R] [--delete] [--shards N] "
			    "[--huge-pages]\n",
			    argv[0]);
			return 2;
		}
	}
	if (n_keys < 2 || threads < 1 || threads > 64 || rounds < 1)
		return 2;
	store_rate = calloc((size_t)rounds, sizeof *store_rate);
	minimal_rate = calloc((size_t)rounds, sizeof *minimal_rate);
	ratio = calloc((size_t)rounds, sizeof *ratio);
	ttlkv_options_init(&o);
	o.capacity = n_keys;
	o.shards = (uint32_t)shards;
	o.flags = flags;
	ck_epoch_init(&epoch);
	if (store_rate == NULL || minimal_rate == NULL || ratio == NULL ||
	    ttlkv_open(&o, &store) != TTLKV_OK ||
	    !ck_hs_init(&table, CK_HS_MODE_SPMC | CK_HS_MODE_OBJECT | (unsigned)delete_mode,
	        hs_hash, hs_compare, &hs_allocator, 2 * n_keys, SEED))
		return 1;
	for (uint64_t i = 0; i < n_keys; i++) {
		struct entry *e = malloc(sizeof *e + sizeof key + sizeof value);

		key_of(i, key);
		memcpy(value, &i, sizeof i);
		if (e == NULL || ttlkv_put(store, key, sizeof key, value, sizeof value, 0) != TTLKV_OK)
			return 1;
		e->hash = XXH3_64bits_withSeed(key, sizeof key, SEED);
		e->key_len = sizeof key;
		e->value_len = sizeof value;
		memcpy(e->bytes, key, sizeof key);
		memcpy(e->bytes + sizeof key, value, sizeof value);
		if (!ck_hs_put_unique(&table, e->hash, e))
			return 1;
	}
	for (int r = 0; r < rounds; r++) {
		minimal = false;
		store_rate[r] = round_rate(threads, 0.3);
		minimal = true;
		minimal_rate[r] = round_rate(threads, 0.3);
		ratio[r] = minimal_rate[r] != 0 ? store_rate[r] / minimal_rate[r] : 0;
	}
	printf("%llu keys, %d threads, loops of 16 single gets, keys per CPU-second: "
	    "median [min-max] of %d alternating rounds of 0.3 s\n",
	    (unsigned long long)n_keys, threads, rounds);
	print_median("ttlkv_get", store_rate, rounds, 1e6, " M");
	print_median(delete_mode ? "minimal (DELETE mode)" : "minimal", minimal_rate, rounds, 1e6, " M");
	print_median("ttlkv / minimal", ratio, rounds, 1, "x");
	ttlkv_close(store);
	return 0;
}
