/*
 * hello: the smallest complete TTLKV program. Build it against an installed
 * libttlkv with:  cc hello.c $(pkg-config --cflags --libs ttlkv)
 */
#include <stdio.h>
#include <string.h>
#include <ttlkv.h>

int
main(void)
{
	ttlkv_options options;
	ttlkv *store;
	ttlkv_status status;
	char value[64];
	size_t len;
	uint64_t ttl;

	ttlkv_options_init(&options);
	options.capacity = 1000;
	if ((status = ttlkv_open(&options, &store)) != TTLKV_OK) {
		fprintf(stderr, "open: %s\n", ttlkv_status_string(status));
		return 1;
	}
	/* "session" lives 30 s; "config" never expires. */
	ttlkv_put(store, "session", 7, "alice", 5, 30000);
	ttlkv_put(store, "config", 6, "dark-mode", 9, 0);

	status = ttlkv_get(store, "session", 7, value, sizeof value, &len);
	if (status != TTLKV_OK || len != 5 || memcmp(value, "alice", 5) != 0) {
		fprintf(stderr, "get: %s\n", ttlkv_status_string(status));
		return 1;
	}
	ttlkv_ttl(store, "session", 7, &ttl);
	printf("session = %.*s (expires in %llu ms)\n", (int)len, value, (unsigned long long)ttl);

	status = ttlkv_get(store, "missing", 7, value, sizeof value, &len);
	printf("missing: %s\n", ttlkv_status_string(status));
	ttlkv_close(store);
	return status == TTLKV_NOT_FOUND ? 0 : 1;
}
