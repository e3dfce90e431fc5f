/*
 * Thread churn: 100,000 short-lived threads (fewer under sanitizers), in
 * waves of WAVE live at once, each reading and writing a store it has never
 * seen. Epoch records are per thread inside the library: the domain must end
 * with no more records than the peak of threads alive at once (plus the main
 * thread and the store's own record), however many threads came and went.
 */
#include "check.h"
#include "ttlkv_testing.h"

#include <pthread.h>
#include <string.h>
#include <ttlkv.h>

#define WAVE 16

static ttlkv *store;

static void *
visitor(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	char key[32], buf[32];
	size_t n;

	snprintf(key, sizeof key, "k%u", id % 1000);
	CHECK_STATUS(ttlkv_put(store, key, strlen(key), key, strlen(key), id % 2 ? 60000 : 0), TTLKV_OK);
	CHECK_STATUS(ttlkv_get(store, key, strlen(key), buf, sizeof buf, &n), TTLKV_OK);
	CHECK(n == strlen(key) && memcmp(buf, key, n) == 0);
	return NULL;
}

int
main(void)
{
	const char *scale = getenv("TTLKV_TEST_SCALE");
	unsigned threads = scale == NULL ? 100000 : 10000;
	pthread_t wave[WAVE];
	unsigned records;

	CHECK_STATUS(ttlkv_open(NULL, &store), TTLKV_OK);
	visitor((void *)(uintptr_t)0); /* the main thread holds a record too */
	for (unsigned done = 0; done < threads; done += WAVE) {
		for (unsigned i = 0; i < WAVE; i++)
			CHECK(pthread_create(&wave[i], NULL, visitor, (void *)(uintptr_t)(done + i)) == 0);
		for (unsigned i = 0; i < WAVE; i++)
			pthread_join(wave[i], NULL);
	}
	records = ttlkv_testing_epoch_records();
	CHECK(records <= WAVE + 2);
	CHECK(ttlkv_count(store) == 1000);
	printf("threads: %u threads in waves of %d left %u epoch records\n", threads, WAVE, records);
	ttlkv_close(store);
	return check_exit("threads");
}
