/*
 * loadtest: the C core's own speed, tail and memory check, without Swift.
 *
 * Three phases on one store opened for --keys entries (16-byte keys, 32-byte
 * values):
 *   preload  2 threads put every key (with --ttl MS, each with that TTL,
 *            in a store opened with TTLKV_TRACK_EXPIRY as Swift's Store is);
 *            prints puts/s and resident bytes per entry, with the schedule
 *            records a TTL leaves for an expiry worker (none drains them
 *            here) counted apart.
 *   mixed    --threads threads run --seconds of --get percent gets and the
 *            rest puts (half with a TTL) over uniformly random keys, and
 *            print ops/s and per-operation latency percentiles. More threads
 *            than cores is the point: --threads 16 on 2 cores shows what a
 *            preempted thread costs the others.
 *   churn    (--churn R) the life of a TTL store at constant size: each
 *            thread removes its oldest key and inserts a new one until R x
 *            --keys keys have been replaced, printing insert and remove
 *            percentiles per window of --keys / 2 replacements, and the
 *            last window's insert percentiles over the first's.
 *   batched  (--batch B,B,...) read-only rounds over random keys: for each
 *            batch size, a loop of B single ttlkv_get calls against one
 *            ttlkv_get_many of the same B keys, in alternating rounds
 *            (five each), printing keys per second, keys per second of the
 *            readers' CPU time (what other tenants of a shared machine
 *            change least), the ratio, and the latency of a whole batch.
 * A maintenance thread calls ttlkv_maintain every 10 ms (the Swift expiry
 * worker's default tick) during the mixed and churn phases, as an expiry
 * worker does (--no-maintain: none); in a store opened with
 * TTLKV_TRACK_EXPIRY (--ttl) it also drains the record logs, from before
 * the preload if there is a budget, whose evictions leave records that
 * would otherwise refuse writes.
 *
 * --max-bytes B opens the store with a byte budget (options.max_bytes): the
 * preload then evicts, and the mixed phase runs with eviction active (its
 * gets miss the keys evicted; the hit ratio is printed). Preload prints the
 * store's used_bytes, so a run without a budget tells what "half the data"
 * is. Only a failed put (or a failed preload put without a budget) makes the
 * exit status non-zero.
 *
 *   build/loadtest [--keys N] [--threads T] [--seconds S] [--get PCT]
 *                  [--churn R] [--batch B,B,...] [--shards N] [--no-mixed]
 *                  [--no-maintain] [--max-bytes B] [--ttl MS]
 *
 * Latency is measured around each call with CLOCK_MONOTONIC (about 20 ns
 * per read here, included in every figure) into log-linear histograms with
 * 1/64 relative resolution.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ttlkv.h>
#include <unistd.h>

#include "bench_common.h"

static ttlkv *store;
static uint64_t n_keys = 10000000;
static bool stop;
static bool maintain_stop;

/* --- Histograms: 64 sub-buckets per power of two of nanoseconds. */
#define SUB_BITS 6
#define SUB (1 << SUB_BITS)
#define BUCKETS ((64 - SUB_BITS) * SUB)

struct histogram {
	uint64_t count;
	uint64_t max;
	uint64_t bins[BUCKETS];
};

static unsigned
bin_of(uint64_t ns)
{
	unsigned top;

	if (ns < SUB)
		return (unsigned)ns;
	top = 63 - (unsigned)__builtin_clzll(ns);
	return (top - SUB_BITS + 1) * SUB + (unsigned)((ns >> (top - SUB_BITS)) & (SUB - 1));
}

static uint64_t
bin_value(unsigned bin)
{
	unsigned shift;

	if (bin < SUB)
		return bin;
	shift = bin / SUB - 1;
	return ((uint64_t)(SUB + bin % SUB) << shift) + ((UINT64_C(1) << shift) - 1);
}

static void
record(struct histogram *h, uint64_t ns)
{
	h->bins[bin_of(ns)]++;
	h->count++;
	if (ns > h->max)
		h->max = ns;
}

static void
merge(struct histogram *into, const struct histogram *h)
{
	for (unsigned i = 0; i < BUCKETS; i++)
		into->bins[i] += h->bins[i];
	into->count += h->count;
	if (h->max > into->max)
		into->max = h->max;
}

/* Microseconds at quantile q (the bin's upper end; max for q = 1). */
static double
quantile_us(const struct histogram *h, double q)
{
	uint64_t rank = (uint64_t)(q * (double)h->count + 0.5), seen = 0;

	if (h->count == 0)
		return 0;
	if (q >= 1)
		return (double)h->max / 1e3;
	for (unsigned i = 0; i < BUCKETS; i++) {
		seen += h->bins[i];
		if (seen >= rank && seen != 0) {
			uint64_t v = bin_value(i);
			return (double)(v < h->max ? v : h->max) / 1e3;
		}
	}
	return (double)h->max / 1e3;
}

static const double quantiles[] = { 0.5, 0.99, 0.999, 0.9999, 1 };

static void
print_header(const char *first)
{
	printf("%-10s %10s %9s %9s %9s %9s %9s   (latency in us)\n",
	    first, "ops", "p50", "p99", "p99.9", "p99.99", "max");
}

static void
print_row(const char *name, const struct histogram *h)
{
	printf("%-10s %10llu", name, (unsigned long long)h->count);
	for (size_t i = 0; i < sizeof quantiles / sizeof quantiles[0]; i++)
		printf(" %9.2f", quantile_us(h, quantiles[i]));
	printf("\n");
}

/* --- Keys, time, memory. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
resident_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	fclose(f);
	return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

/* --- Phases. */
struct worker {
	pthread_t thread;
	uint64_t id;
	uint64_t threads;
	uint64_t ops;
	uint64_t misses;     /* failed calls */
	uint64_t get_misses; /* gets of keys the store did not hold */
	struct histogram get, put, remove;
	uint64_t cpu_ns;     /* the thread's CPU time (batched rounds) */
};

static uint64_t preload_ttl;

static void *
preload(void *arg)
{
	struct worker *w = arg;
	unsigned char key[16], value[32] = { 0 };

	for (uint64_t i = w->id; i < n_keys; i += w->threads) {
		key_of(i, key);
		memcpy(value, &i, sizeof i);
		if (ttlkv_put(store, key, sizeof key, value, sizeof value, preload_ttl) != TTLKV_OK)
			w->misses++;
	}
	return NULL;
}

static unsigned get_percent = 90;

static void *
mixed(void *arg)
{
	struct worker *w = arg;
	unsigned char key[16], value[32] = { 0 }, out[32];
	uint64_t rng = (w->id + 1) * 0x2545f4914f6cdd1dull + 1;
	size_t n;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int batch = 0; batch < 256; batch++) {
			uint64_t r = next_random(&rng), t0, t1;

			key_of(r % n_keys, key);
			if ((r >> 40) % 100 < get_percent) {
				ttlkv_status st;

				t0 = now_ns();
				st = ttlkv_get(store, key, sizeof key, out, sizeof out, &n);
				t1 = now_ns();
				w->get_misses += st == TTLKV_NOT_FOUND;
				w->misses += st != TTLKV_OK && st != TTLKV_NOT_FOUND;
				record(&w->get, t1 - t0);
			} else {
				memcpy(value, &r, sizeof r);
				t0 = now_ns();
				if (ttlkv_put(store, key, sizeof key, value, sizeof value,
				    (r >> 32) & 1 ? 600000 : 0) != TTLKV_OK)
					w->misses++;
				t1 = now_ns();
				record(&w->put, t1 - t0);
			}
		}
		w->ops += 256;
	}
	return NULL;
}

/* Churn: thread t owns the keys i with i % threads == t; key i is replaced by
 * key i + n_keys, so the live set slides along and its size never changes. */
static pthread_barrier_t window_start, window_end;
static uint64_t churn_windows, window_size;

static void *
churn(void *arg)
{
	struct worker *w = arg;
	unsigned char key[16], value[32] = { 0 };
	uint64_t oldest = w->id;

	for (uint64_t win = 0; win < churn_windows; win++) {
		pthread_barrier_wait(&window_start);
		for (uint64_t j = w->id; j < window_size; j += w->threads) {
			uint64_t t0, t1, t2;

			key_of(oldest, key);
			t0 = now_ns();
			if (ttlkv_delete(store, key, sizeof key) != TTLKV_OK)
				w->misses++;
			t1 = now_ns();
			key_of(oldest + n_keys, key);
			memcpy(value, &oldest, sizeof oldest);
			if (ttlkv_put(store, key, sizeof key, value, sizeof value, 0) != TTLKV_OK)
				w->misses++;
			t2 = now_ns();
			record(&w->remove, t1 - t0);
			record(&w->put, t2 - t1);
			oldest += w->threads;
		}
		pthread_barrier_wait(&window_end);
	}
	return NULL;
}

static bool tracks_expiry;

static void
drop_record(const void *key, size_t key_len, uint64_t deadline_ms, void *context)
{
	(void)key, (void)key_len, (void)deadline_ms, (void)context;
}

/* What an expiry worker does for the table between its ticks: with
 * TTLKV_TRACK_EXPIRY it also takes the record logs (and here drops them),
 * every tick and as soon as they pass half their room, as the Swift worker
 * does, so that under a budget the evictions' records rarely refuse a
 * write (a refused put counts as a failed call). */
static void *
maintain(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&maintain_stop, __ATOMIC_RELAXED)) {
		if (tracks_expiry) {
			ttlkv_drain_schedule(store, drop_record, NULL, NULL);
			ttlkv_drain_expired(store, drop_record, NULL, NULL);
			ttlkv_drain_evicted(store, drop_record, NULL, NULL);
		}
		ttlkv_maintain(store, 262144, NULL);
		/* A tick, cut short when the records ask for a drain. */
		for (int ms = 0; ms < 10 && !(tracks_expiry && ttlkv_drain_wanted(store)); ms++)
			usleep(1000);
	}
	return NULL;
}

/* Batched rounds: every worker reads batches of batch_size random keys,
 * through get_many or through a loop of single gets. */
static size_t batch_size;
static bool batch_loop;
#define ROUNDS 5

static void *
batched(void *arg)
{
	struct worker *w = arg;
	unsigned char keys[64][16], out[64][32];
	ttlkv_key k[64];
	void *bufs[64];
	size_t lens[64], got[64];
	ttlkv_status st[64];
	uint64_t rng = (w->id + 7) * 0x2545f4914f6cdd1dull + 1;

	for (size_t i = 0; i < 64; i++) {
		k[i].data = keys[i];
		k[i].len = 16;
		bufs[i] = out[i];
		lens[i] = sizeof out[i];
	}
	uint64_t cpu0 = thread_cpu_ns();

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		uint64_t t0, t1;

		for (size_t i = 0; i < batch_size; i++)
			key_of(next_random(&rng) % n_keys, keys[i]);
		t0 = now_ns();
		if (batch_loop) {
			for (size_t i = 0; i < batch_size; i++)
				st[i] = ttlkv_get(store, keys[i], 16, out[i], sizeof out[i], &got[i]);
		} else {
			ttlkv_get_many(store, k, batch_size, bufs, lens, got, st);
		}
		t1 = now_ns();
		record(&w->get, t1 - t0);
		for (size_t i = 0; i < batch_size; i++)
			w->misses += st[i] != TTLKV_OK;
		w->ops += batch_size;
	}
	w->cpu_ns = thread_cpu_ns() - cpu0;
	return NULL;
}

static struct worker *
start(struct worker *w, int threads, void *(*fn)(void *))
{
	for (int i = 0; i < threads; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].id = (uint64_t)i;
		w[i].threads = (uint64_t)threads;
		pthread_create(&w[i].thread, NULL, fn, &w[i]);
	}
	return w;
}

static uint64_t
join(struct worker *w, int threads, uint64_t *ops)
{
	uint64_t misses = 0;

	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		misses += w[i].misses;
		if (ops != NULL)
			*ops += w[i].ops;
	}
	return misses;
}

static uint64_t max_bytes;

static uint64_t
run_mixed(struct worker *w, int threads, double seconds)
{
	struct histogram *get = calloc(1, sizeof *get), *put = calloc(1, sizeof *put);
	struct histogram *all = calloc(1, sizeof *all);
	uint64_t ops = 0, misses, get_misses = 0, evicted, grows, rebuilds, t0;
	ttlkv_stats stats;
	double elapsed;

	ttlkv_stats_get(store, &stats);
	evicted = stats.evicted;
	grows = stats.table_grows;
	rebuilds = stats.table_rebuilds;
	stop = false;
	t0 = now_ns();
	start(w, threads, mixed);
	usleep((useconds_t)(seconds * 1e6));
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	misses = join(w, threads, &ops);
	elapsed = (double)(now_ns() - t0) / 1e9;
	for (int i = 0; i < threads; i++) {
		merge(get, &w[i].get);
		merge(put, &w[i].put);
		get_misses += w[i].get_misses;
	}
	merge(all, get);
	merge(all, put);
	ttlkv_stats_get(store, &stats);
	printf("mixed %u/%u uniform, %d threads: %.2f M ops/s; %.1f %% of gets hit, "
	    "%llu evicted, %llu failed calls; tables grown %llu, rebuilt %llu times\n",
	    get_percent, 100 - get_percent, threads, (double)ops / elapsed / 1e6,
	    get->count != 0 ? 100.0 * (double)(get->count - get_misses) / (double)get->count : 0.0,
	    (unsigned long long)(stats.evicted - evicted), (unsigned long long)misses,
	    (unsigned long long)(stats.table_grows - grows),
	    (unsigned long long)(stats.table_rebuilds - rebuilds));
	print_header("op");
	print_row("get", get);
	print_row("put", put);
	print_row("all", all);
	free(get);
	free(put);
	free(all);
	return misses;
}

static uint64_t
run_churn(struct worker *w, int threads, double replacements)
{
	struct histogram *first = calloc(1, sizeof *first), *win = calloc(1, sizeof *win);
	struct histogram *removes = calloc(1, sizeof *removes);
	ttlkv_stats stats;
	uint64_t misses;

	window_size = n_keys / 2;
	churn_windows = (uint64_t)(replacements * 2 + 0.5);
	pthread_barrier_init(&window_start, NULL, (unsigned)threads + 1);
	pthread_barrier_init(&window_end, NULL, (unsigned)threads + 1);
	start(w, threads, churn);
	printf("churn: %d threads replace %.1f x %llu keys (delete the oldest, insert a new one)\n",
	    threads, replacements, (unsigned long long)n_keys);
	printf("%-8s %-7s %10s %9s %9s %9s %9s %9s   %s\n", "window", "op", "ops", "p50",
	    "p99", "p99.9", "p99.99", "max", "(latency in us)");
	for (uint64_t i = 0; i < churn_windows; i++) {
		uint64_t t0 = now_ns();
		char name[32];

		pthread_barrier_wait(&window_start);
		pthread_barrier_wait(&window_end);
		memset(win, 0, sizeof *win);
		memset(removes, 0, sizeof *removes);
		for (int t = 0; t < threads; t++) {
			merge(win, &w[t].put);
			merge(removes, &w[t].remove);
			memset(&w[t].put, 0, sizeof w[t].put);
			memset(&w[t].remove, 0, sizeof w[t].remove);
		}
		if (i == 0)
			*first = *win;
		snprintf(name, sizeof name, "%.1fx", (double)(i + 1) / 2);
		printf("%-8s ", name);
		print_row("insert", win);
		printf("%-8s ", "");
		print_row("remove", removes);
		ttlkv_stats_get(store, &stats);
		printf("%-8s entries %llu, table slots %llu, tombstones <= %.1f %%, rebuilds %llu, "
		    "grows %llu, %.2f M replacements/s\n", "",
		    (unsigned long long)stats.entries, (unsigned long long)stats.table_slots,
		    100.0 * (double)stats.tombstones / (double)stats.table_slots,
		    (unsigned long long)stats.table_rebuilds, (unsigned long long)stats.table_grows,
		    (double)window_size / ((double)(now_ns() - t0) / 1e9) / 1e6);
	}
	misses = join(w, threads, NULL);
	printf("churn: last window / first window, insert:");
	for (size_t i = 0; i < sizeof quantiles / sizeof quantiles[0]; i++)
		printf(" %.2fx", quantile_us(win, quantiles[i]) / quantile_us(first, quantiles[i]));
	printf(" (p50 p99 p99.9 p99.99 max); %llu failed calls\n", (unsigned long long)misses);
	pthread_barrier_destroy(&window_start);
	pthread_barrier_destroy(&window_end);
	free(first);
	free(win);
	free(removes);
	return misses;
}

/* One round: keys per second, keys per second of the readers' CPU time
 * in *per_cpu (on a shared machine other tenants take cores away, and this
 * one tells what a get costs while it runs), and the batches' latency into h. */
static double
batch_round(struct worker *w, int threads, double seconds, struct histogram *h, double *per_cpu)
{
	uint64_t ops = 0, cpu = 0, t0 = now_ns();

	stop = false;
	start(w, threads, batched);
	usleep((useconds_t)(seconds * 1e6));
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	(void)join(w, threads, &ops);
	for (int i = 0; i < threads; i++) {
		merge(h, &w[i].get);
		cpu += w[i].cpu_ns;
	}
	*per_cpu = (double)ops / ((double)cpu / 1e9);
	return (double)ops / ((double)(now_ns() - t0) / 1e9);
}

static void
run_batched(struct worker *w, int threads, double seconds, const char *sizes)
{
	printf("batched reads, %d threads, uniform keys: median of %d alternating rounds of %.1f s\n",
	    threads, ROUNDS, seconds);
	printf("%-6s %14s %14s %8s %16s %16s %12s %12s %12s   (batch latency in us)\n", "batch",
	    "loop keys/s", "many keys/s", "ratio", "loop keys/cpu-s", "many keys/cpu-s",
	    "many p50", "many p99", "many p99.9");
	for (const char *p = sizes; *p != '\0';) {
		struct histogram *h = calloc(1, sizeof *h), *ignored = calloc(1, sizeof *ignored);
		double loop[ROUNDS], many[ROUNDS], loop_cpu[ROUNDS], many_cpu[ROUNDS];

		batch_size = strtoul(p, NULL, 10);
		if (batch_size < 1 || batch_size > 64) {
			fprintf(stderr, "loadtest: batch sizes are 1 to 64\n");
			exit(2);
		}
		for (int r = 0; r < ROUNDS; r++) {
			batch_loop = true;
			loop[r] = batch_round(w, threads, seconds, ignored, &loop_cpu[r]);
			batch_loop = false;
			many[r] = batch_round(w, threads, seconds, h, &many_cpu[r]);
		}
		qsort(loop, ROUNDS, sizeof loop[0], by_value);
		qsort(many, ROUNDS, sizeof many[0], by_value);
		qsort(loop_cpu, ROUNDS, sizeof loop_cpu[0], by_value);
		qsort(many_cpu, ROUNDS, sizeof many_cpu[0], by_value);
		printf("%-6zu %12.2f M %12.2f M %7.2fx %14.2f M %14.2f M %12.2f %12.2f %12.2f\n",
		    batch_size, loop[ROUNDS / 2] / 1e6, many[ROUNDS / 2] / 1e6,
		    many[ROUNDS / 2] / loop[ROUNDS / 2], loop_cpu[ROUNDS / 2] / 1e6,
		    many_cpu[ROUNDS / 2] / 1e6, quantile_us(h, 0.5), quantile_us(h, 0.99),
		    quantile_us(h, 0.999));
		free(h);
		free(ignored);
		while (*p != '\0' && *p != ',')
			p++;
		if (*p == ',')
			p++;
	}
}

static void
usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--keys N] [--threads T] [--seconds S] [--get PCT] "
	    "[--churn R] [--batch B,B,...] [--shards N] [--no-mixed] [--no-maintain] [--ttl MS] "
	    "[--max-bytes B]\n", argv0);
	exit(2);
}

int
main(int argc, char **argv)
{
	int threads = 2;
	uint32_t shards = 0;
	const char *batch_sizes = NULL;
	double seconds = 5, replacements = 0, rss0, elapsed;
	bool run_mixed_phase = true, run_maintenance = true, drain_early;
	pthread_t maintainer;
	struct worker *w, pre[2];
	ttlkv_options o;
	ttlkv_stats stats;
	uint64_t misses, t0;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(arg, "--no-mixed") == 0) {
			run_mixed_phase = false;
			continue;
		}
		if (strcmp(arg, "--no-maintain") == 0) {
			run_maintenance = false;
			continue;
		}
		if (value == NULL)
			usage(argv[0]);
		if (strcmp(arg, "--keys") == 0)
			n_keys = strtoull(value, NULL, 10);
		else if (strcmp(arg, "--threads") == 0)
			threads = atoi(value);
		else if (strcmp(arg, "--seconds") == 0)
			seconds = atof(value);
		else if (strcmp(arg, "--get") == 0)
			get_percent = (unsigned)atoi(value);
		else if (strcmp(arg, "--churn") == 0)
			replacements = atof(value);
		else if (strcmp(arg, "--batch") == 0)
			batch_sizes = value;
		else if (strcmp(arg, "--shards") == 0)
			shards = (uint32_t)atoi(value);
		else if (strcmp(arg, "--max-bytes") == 0)
			max_bytes = strtoull(value, NULL, 10);
		else if (strcmp(arg, "--ttl") == 0)
			preload_ttl = strtoull(value, NULL, 10);
		else
			usage(argv[0]);
		i++;
	}
	if (threads < 1 || n_keys < 2 || get_percent > 100 || replacements < 0)
		usage(argv[0]);
	w = calloc((size_t)threads, sizeof *w);
	rss0 = resident_bytes();
	ttlkv_options_init(&o);
	/* With a budget the store holds what fits, and the capacity that
	 * fits is not known in advance: its tables grow within the budget. */
	o.capacity = max_bytes != 0 ? TTLKV_DEFAULT_CAPACITY : n_keys;
	o.shards = shards;
	o.max_bytes = max_bytes;
	/* As the Swift Store opens it: writes with a TTL leave schedule records. */
	tracks_expiry = preload_ttl != 0;
	if (tracks_expiry)
		o.flags |= TTLKV_TRACK_EXPIRY;
	if (w == NULL || ttlkv_open(&o, &store) != TTLKV_OK)
		return 1;

	/* Under a budget a tracked store's preload evicts, and its records
	 * must be drained as it goes, as the Swift worker does. */
	drain_early = run_maintenance && tracks_expiry && max_bytes != 0;
	if (drain_early)
		pthread_create(&maintainer, NULL, maintain, NULL);
	t0 = now_ns();
	start(pre, 2, preload);
	misses = join(pre, 2, NULL);
	elapsed = (double)(now_ns() - t0) / 1e9;
	ttlkv_stats_get(store, &stats);
	printf("preload: %llu keys in %.2f s: %.2f M puts/s (2 threads)\n",
	    (unsigned long long)n_keys, elapsed, (double)n_keys / elapsed / 1e6);
	printf("memory: %.1f resident bytes per key written (16-byte key + 32-byte value = 48 raw); "
	    "%llu entries held, used_bytes %llu (max_bytes %llu), %llu evicted\n",
	    (resident_bytes() - rss0) / (double)n_keys, (unsigned long long)stats.entries,
	    (unsigned long long)stats.used_bytes, (unsigned long long)max_bytes,
	    (unsigned long long)stats.evicted);
	if (stats.schedule_records != 0)
		printf("memory: %llu schedule records pending (%.1f bytes per key of them: 12 + key "
		    "length each, plus their buffers' slack)\n",
		    (unsigned long long)stats.schedule_records,
		    (double)stats.schedule_records * (12 + 16) / (double)n_keys);
	if (run_maintenance && !drain_early)
		pthread_create(&maintainer, NULL, maintain, NULL);
	if (run_mixed_phase)
		misses += run_mixed(w, threads, seconds);
	if (replacements > 0)
		misses += run_churn(w, threads, replacements);
	if (batch_sizes != NULL)
		run_batched(w, threads, seconds / 6, batch_sizes);
	if (run_maintenance) {
		__atomic_store_n(&maintain_stop, true, __ATOMIC_RELAXED);
		pthread_join(maintainer, NULL);
	}
	ttlkv_close(store);
	free(w);
	return misses == 0 ? 0 : 1;
}
