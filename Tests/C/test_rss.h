/*
 * Resident memory in the C suites: what a process holds, and whether the
 * figure means anything (not under the sanitizers, whose quarantine (ASan)
 * and shadow memory (TSan) grow it on purpose).
 */
#ifndef TTLKV_TEST_RSS_H
#define TTLKV_TEST_RSS_H

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static inline uint64_t
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#endif /* TTLKV_TEST_RSS_H */
