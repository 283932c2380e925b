/*
 * churn: N short-lived threads, one after another, each connecting once to
 * HOST:PORT (shutting down its side, reading to end of file, closing), as a
 * program does that starts a thread per request: every connect comes from a
 * thread id the supervisor has never seen.
 *
 *   churn N HOST PORT
 *
 * Prints "threads=N failed=F" once every thread has been joined, then waits
 * for end of file on standard input, so that the caller can look at the
 * supervisor while the program still runs; exits 0 if no connect failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in dst;

static void *connect_once(void *arg)
{
	(void)arg;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return (void *)(intptr_t)errno;
	if (connect(s, (struct sockaddr *)&dst, sizeof dst) != 0) {
		int err = errno;
		close(s);
		return (void *)(intptr_t)err;
	}
	shutdown(s, SHUT_WR);
	char buf[256];
	while (read(s, buf, sizeof buf) > 0)
		;
	close(s);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: churn N HOST PORT\n");
		return 2;
	}
	long n = atol(argv[1]), failed = 0;
	dst.sin_family = AF_INET;
	dst.sin_port = htons(atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1) {
		fprintf(stderr, "churn: bad IPv4 address %s\n", argv[2]);
		return 2;
	}
	for (long i = 0; i < n; i++) {
		pthread_t th;
		void *res;
		int err = pthread_create(&th, NULL, connect_once, NULL);
		if (err != 0) {
			fprintf(stderr, "churn: pthread_create: %s\n", strerror(err));
			return 1;
		}
		pthread_join(th, &res);
		if (res != NULL && failed++ == 0)
			fprintf(stderr, "churn: connect: %s\n", strerror((int)(intptr_t)res));
	}
	printf("threads=%ld failed=%ld\n", n, failed);
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	return failed != 0;
}
