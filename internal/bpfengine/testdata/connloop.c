/*
 * connloop: connects to ADDR PORT and closes, N times, and prints the
 * nanoseconds the loop took. With a source, it binds each socket to it first
 * with IP_BIND_ADDRESS_NO_PORT, the ideal the engines are measured against.
 * "rst" closes with SO_LINGER 0 (a reset, no TIME_WAIT), "close" normally.
 *
 *	connloop close|rst N ADDR PORT [SOURCE]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	struct sockaddr_in dst = { .sin_family = AF_INET }, src = { .sin_family = AF_INET };
	struct timespec t0, t1;
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	int one = 1, n, i, reset;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: connloop close|rst N ADDR PORT [SOURCE]\n");
		return 2;
	}
	reset = strcmp(argv[1], "rst") == 0;
	n = atoi(argv[2]);
	dst.sin_port = htons(atoi(argv[4]));
	if (inet_pton(AF_INET, argv[3], &dst.sin_addr) != 1 || (argc == 6 && inet_pton(AF_INET, argv[5], &src.sin_addr) != 1))
		die("inet_pton");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			die("socket");
		if (argc == 6) {
			if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0)
				die("setsockopt");
			if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
				die("bind");
		}
		if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
			die("connect");
		if (reset && setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst)) < 0)
			die("setsockopt");
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%lld\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
	return 0;
}
