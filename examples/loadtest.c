/*
 * loadtest: the C core's own throughput and memory check.
 *
 * Preloads N keys (16-byte keys, 32-byte values) into a store opened for N,
 * reports the preload rate and resident bytes per entry, then runs T threads
 * for S seconds of 90% get / 10% put over uniformly random keys, half the puts
 * with a TTL, and reports operations per second.
 *
 *   build/loadtest [keys=10000000] [threads=2] [seconds=5]
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ttlkv.h>
#include <unistd.h>

static ttlkv *store;
static uint64_t n_keys = 10000000;
static bool stop;

static double
seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static void
key_of(uint64_t i, unsigned char key[16])
{
	uint64_t salt = i * 0x9e3779b97f4a7c15ull;

	memcpy(key, &i, 8);
	memcpy(key + 8, &salt, 8);
}

static uint64_t
next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

struct worker {
	pthread_t thread;
	uint64_t seed;
	uint64_t ops;
	uint64_t misses;
};

static void *
preload(void *arg)
{
	struct worker *w = arg;
	unsigned char key[16], value[32] = { 0 };

	for (uint64_t i = w->seed; i < n_keys; i += 2) {
		key_of(i, key);
		memcpy(value, &i, sizeof i);
		if (ttlkv_put(store, key, sizeof key, value, sizeof value, 0) != TTLKV_OK)
			w->misses++;
	}
	return NULL;
}

static void *
mixed(void *arg)
{
	struct worker *w = arg;
	unsigned char key[16], value[32] = { 0 }, out[32];
	uint64_t rng = w->seed * 0x2545f4914f6cdd1dull + 1;
	size_t n;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int batch = 0; batch < 1024; batch++) {
			uint64_t r = next_random(&rng);
			uint64_t i = r % n_keys;

			key_of(i, key);
			if ((r >> 40) % 100 < 90) {
				if (ttlkv_get(store, key, sizeof key, out, sizeof out, &n) != TTLKV_OK)
					w->misses++;
			} else {
				memcpy(value, &r, sizeof r);
				ttlkv_put(store, key, sizeof key, value, sizeof value,
				    (r >> 32) & 1 ? 600000 : 0);
			}
		}
		w->ops += 1024;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	double seconds = argc > 3 ? atof(argv[3]) : 5;
	struct worker *w, pre[2];
	ttlkv_options o;
	double rss0, t0, elapsed;
	uint64_t ops = 0, misses = 0;

	if (argc > 1)
		n_keys = strtoull(argv[1], NULL, 10);
	if (threads < 1 || n_keys == 0) {
		fprintf(stderr, "usage: %s [keys] [threads] [seconds]\n", argv[0]);
		return 2;
	}
	w = calloc((size_t)threads, sizeof *w);
	rss0 = resident_bytes();
	ttlkv_options_init(&o);
	o.capacity = n_keys;
	if (ttlkv_open(&o, &store) != TTLKV_OK)
		return 1;

	t0 = seconds_now();
	for (int i = 0; i < 2; i++) {
		pre[i] = (struct worker){ .seed = (uint64_t)i };
		pthread_create(&pre[i].thread, NULL, preload, &pre[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(pre[i].thread, NULL);
	elapsed = seconds_now() - t0;
	printf("preload: %llu keys in %.2f s: %.2f M puts/s (2 threads)\n",
	    (unsigned long long)n_keys, elapsed, (double)n_keys / elapsed / 1e6);
	printf("memory: %.1f resident bytes per entry (16-byte key + 32-byte value = 48 raw)\n",
	    (resident_bytes() - rss0) / (double)n_keys);

	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){ .seed = (uint64_t)i + 1 };
		pthread_create(&w[i].thread, NULL, mixed, &w[i]);
	}
	t0 = seconds_now();
	usleep((useconds_t)(seconds * 1e6));
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		ops += w[i].ops;
		misses += w[i].misses;
	}
	elapsed = seconds_now() - t0;
	printf("mixed 90/10 uniform, %d threads: %.2f M ops/s (%llu gets missed)\n",
	    threads, (double)ops / elapsed / 1e6, (unsigned long long)misses);
	ttlkv_close(store);
	free(w);
	return misses == 0 ? 0 : 1;
}
