/*
 * The rate-limiter pattern as a load: `clients` connections, each sending
 * MULTI; INCR k; EXPIRE k 60 NX; EXEC as one write (as redis-py's
 * transactional pipeline does) for a random key among `keys`, waiting for
 * the four replies, then sending the next, for `seconds` after a one-second
 * warm-up. redis-benchmark sends one command at a time, so it cannot.
 *
 * Prints one line of JSON: transactions measured, their rate, latency
 * percentiles (ms, from the write to the last reply byte), error replies,
 * and every transaction completed (warm-up included), so that the caller
 * can check that the counters add up to it.
 *
 * Usage: rate_limiter port clients seconds keys
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct client {
	int fd;
	double sent;
	int lines;      /* "\r\n" seen of the 6 lines a reply takes */
	int error;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
send_transaction(struct client *c, int keys)
{
	char key[32], request[256];
	int k = snprintf(key, sizeof key, "rate:%d", rand() % keys);
	int n = snprintf(request, sizeof request,
	    "*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n"
	    "*4\r\n$6\r\nEXPIRE\r\n$%d\r\n%s\r\n$2\r\n60\r\n$2\r\nNX\r\n*1\r\n$4\r\nEXEC\r\n", k, key, k, key);

	c->sent = now();
	c->lines = 0;
	if (write(c->fd, request, n) != n) {
		perror("write");
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: rate_limiter port clients seconds keys\n");
		return 2;
	}
	int port = atoi(argv[1]), count = atoi(argv[2]), keys = atoi(argv[4]);
	double seconds = atof(argv[3]);
	struct client *clients = calloc(count, sizeof *clients);
	size_t capacity = 1 << 20, measured = 0;
	double *latencies = malloc(capacity * sizeof *latencies);
	long completed = 0, errors = 0;
	int epoll = epoll_create1(0);

	srand(1);
	for (int i = 0; i < count; i++) {
		struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
		int one = 1;

		inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
		clients[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(clients[i].fd, (struct sockaddr *)&address, sizeof address) != 0) {
			perror("connect");
			return 1;
		}
		setsockopt(clients[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct epoll_event event = { .events = EPOLLIN, .data.ptr = &clients[i] };
		epoll_ctl(epoll, EPOLL_CTL_ADD, clients[i].fd, &event);
	}
	double start = now() + 1, end = start + seconds;
	int outstanding = count;

	for (int i = 0; i < count; i++)
		send_transaction(&clients[i], keys);
	/* Past the end no new transaction starts; those in flight finish. */
	while (outstanding > 0) {
		struct epoll_event events[64];
		int ready = epoll_wait(epoll, events, 64, 10000);

		if (ready <= 0) {
			fprintf(stderr, "no reply for 10 s\n");
			return 1;
		}
		for (int e = 0; e < ready; e++) {
			struct client *c = events[e].data.ptr;
			char buffer[4096];
			ssize_t got = read(c->fd, buffer, sizeof buffer);

			if (got <= 0) {
				fprintf(stderr, "connection closed\n");
				return 1;
			}
			for (ssize_t i = 0; i < got; i++) {
				if (buffer[i] == '-')
					c->error = 1;
				if (buffer[i] == '\n')
					c->lines++;
			}
			if (c->lines < 6)
				continue;
			double done = now();

			completed++;
			errors += c->error;
			c->error = 0;
			if (c->sent >= start && done <= end) {
				if (measured == capacity)
					latencies = realloc(latencies, (capacity *= 2) * sizeof *latencies);
				latencies[measured++] = (done - c->sent) * 1000;
			}
			if (done < end)
				send_transaction(c, keys);
			else
				outstanding--;
		}
	}
	qsort(latencies, measured, sizeof *latencies, compare);
#define AT(p) (measured ? latencies[(size_t)((p) / 100.0 * (measured - 1))] : 0)
	printf("{\"transactions\": %zu, \"per_second\": %.0f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
	    "\"p999_ms\": %.3f, \"max_ms\": %.3f, \"errors\": %ld, \"completed\": %ld}\n",
	    measured, measured / seconds, AT(50), AT(99), AT(99.9), AT(100), errors, completed);
	return 0;
}
