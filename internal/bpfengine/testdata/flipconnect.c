/*
 * flipconnect: connects N times to ADDR1 or ADDR2 PORT while another thread
 * keeps rewriting the one sockaddr the connects pass between the two: the
 * race a supervisor that reads the address from the program's memory loses.
 * Closes each connection at once.
 *
 *	flipconnect N ADDR1 ADDR2 PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in sa = { .sin_family = AF_INET };
static struct in_addr addrs[2];
static atomic_int stop;

static void *flip(void *arg)
{
	volatile in_addr_t *a = &sa.sin_addr.s_addr;
	unsigned i = 0;

	(void)arg;
	while (!atomic_load(&stop))
		*a = addrs[i++ & 1].s_addr;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	int n, i;

	if (argc != 5) {
		fprintf(stderr, "usage: flipconnect N ADDR1 ADDR2 PORT\n");
		return 2;
	}
	n = atoi(argv[1]);
	if (inet_pton(AF_INET, argv[2], &addrs[0]) != 1 || inet_pton(AF_INET, argv[3], &addrs[1]) != 1) {
		fprintf(stderr, "flipconnect: bad address\n");
		return 2;
	}
	sa.sin_addr = addrs[0];
	sa.sin_port = htons(atoi(argv[4]));
	if (pthread_create(&t, NULL, flip, NULL) != 0)
		return 1;
	for (i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("flipconnect");
			return 1;
		}
		close(fd);
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	return 0;
}
