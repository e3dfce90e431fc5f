/*
 * A plugin host's use of the library: dlopen it, use it from a thread,
 * dlclose it while that thread still lives, then let the thread exit. The
 * thread's pthread-key destructors (its reader record, its cache of entry
 * blocks) point into the library: unmapped, they would crash the process
 * here. libttlkv is linked -z nodelete, so dlclose leaves it mapped.
 *
 *   build/dlclose build/libttlkv.so
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <ttlkv.h>

typedef ttlkv_status open_fn(const ttlkv_options *, ttlkv **);
typedef ttlkv_status put_fn(ttlkv *, const void *, size_t, const void *, size_t, uint64_t);
typedef ttlkv_status get_fn(ttlkv *, const void *, size_t, void *, size_t, size_t *);
typedef void close_fn(ttlkv *);

static void *library;
static pthread_mutex_t step = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int stage;

static void
wait_for(int want)
{
	pthread_mutex_lock(&step);
	while (stage < want)
		pthread_cond_wait(&changed, &step);
	pthread_mutex_unlock(&step);
}

static void
advance(void)
{
	pthread_mutex_lock(&step);
	stage++;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&step);
}

static void *
user(void *arg)
{
	open_fn *open_store = (open_fn *)dlsym(library, "ttlkv_open");
	put_fn *put = (put_fn *)dlsym(library, "ttlkv_put");
	get_fn *get = (get_fn *)dlsym(library, "ttlkv_get");
	close_fn *close_store = (close_fn *)dlsym(library, "ttlkv_close");
	ttlkv *s = NULL;
	char out[8];
	size_t n;
	int *ok = arg;

	*ok = open_store != NULL && put != NULL && get != NULL && close_store != NULL &&
	    open_store(NULL, &s) == TTLKV_OK &&
	    put(s, "k", 1, "v", 1, 0) == TTLKV_OK && put(s, "k", 1, "w", 1, 0) == TTLKV_OK &&
	    get(s, "k", 1, out, sizeof out, &n) == TTLKV_OK && n == 1 && out[0] == 'w';
	if (s != NULL)
		close_store(s);
	advance();  /* stage 1: used, destructors registered */
	wait_for(2); /* the library has been dlclosed */
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t thread;
	int ok = 0;

	if (argc != 2 || (library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "dlclose: cannot load %s: %s\n", argc == 2 ? argv[1] : "?", dlerror());
		return 1;
	}
	pthread_create(&thread, NULL, user, &ok);
	wait_for(1);
	dlclose(library);
	advance();
	pthread_join(thread, NULL);
	if (!ok) {
		fprintf(stderr, "dlclose: the library did not work through dlopen\n");
		return 1;
	}
	printf("dlclose: a thread that used the library exited after dlclose\n");
	return 0;
}
