/*
 * edge: connect-path corner cases that must behave under vipa-exec exactly
 * as without it, apart from the source address. Each mode prints the local
 * address(es) the socket had, one per line, and exits 0, or exits 1 with the
 * failing step on stderr.
 *
 *   edge nonblock HOST PORT  non-blocking connect: EINPROGRESS, poll, connect
 *                            again (0 on Linux, which reports the completed
 *                            connection once), again (EISCONN), SO_ERROR 0
 *   edge tfo HOST PORT       TCP Fast Open: sendto(MSG_FASTOPEN) on an
 *                            unconnected socket
 *   edge unspec HOST PORT    UDP connect, connect(AF_UNSPEC) to dissolve the
 *                            association, then sendto: prints both addresses
 *   edge eintr HOST PORT N   N blocking connects while another thread
 *                            signals this one (handler without SA_RESTART);
 *                            EINTR is retried as programs do: prints the
 *                            distinct local addresses and the EINTR count on
 *                            stderr
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

static void fail(const char *what)
{
	fprintf(stderr, "edge: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void print_local(int s)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	char buf[INET_ADDRSTRLEN];
	if (getsockname(s, (struct sockaddr *)&a, &len) != 0)
		fail("getsockname");
	printf("%s\n", inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf));
}

static atomic_int done;
static pid_t target;

static void on_signal(int sig) { (void)sig; }

static void *bombard(void *arg)
{
	(void)arg;
	while (!atomic_load(&done)) {
		syscall(SYS_tgkill, getpid(), target, SIGUSR1);
		usleep(50);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: edge nonblock|tfo|unspec|eintr HOST PORT [N]\n");
		return 2;
	}
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
	if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1) {
		fprintf(stderr, "edge: bad address\n");
		return 2;
	}
	const char *mode = argv[1];
	if (strcmp(mode, "nonblock") == 0) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(s, (struct sockaddr *)&dst, sizeof dst) == 0 || errno != EINPROGRESS)
			fail("non-blocking connect did not say EINPROGRESS");
		struct pollfd p = {.fd = s, .events = POLLOUT};
		if (poll(&p, 1, 10000) != 1)
			fail("poll");
		if (connect(s, (struct sockaddr *)&dst, sizeof dst) != 0)
			fail("second connect did not say 0");
		if (connect(s, (struct sockaddr *)&dst, sizeof dst) != -1 || errno != EISCONN)
			fail("third connect did not say EISCONN");
		int err = -1;
		socklen_t len = sizeof err;
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
			fail("SO_ERROR");
		print_local(s);
	} else if (strcmp(mode, "tfo") == 0) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (sendto(s, "GET / HTTP/1.0\r\n\r\n", 18, MSG_FASTOPEN, (struct sockaddr *)&dst, sizeof dst) != 18)
			fail("sendto(MSG_FASTOPEN)");
		print_local(s);
	} else if (strcmp(mode, "unspec") == 0) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		if (connect(s, (struct sockaddr *)&dst, sizeof dst) != 0)
			fail("udp connect");
		print_local(s);
		struct sockaddr unspec = {.sa_family = AF_UNSPEC};
		if (connect(s, &unspec, sizeof unspec) != 0)
			fail("connect(AF_UNSPEC)");
		if (sendto(s, "x", 1, 0, (struct sockaddr *)&dst, sizeof dst) != 1)
			fail("sendto after AF_UNSPEC");
		print_local(s);
	} else if (strcmp(mode, "eintr") == 0 && argc == 5) {
		long n = atol(argv[4]), eintr = 0;
		struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
		target = syscall(SYS_gettid);
		pthread_t th;
		pthread_create(&th, NULL, bombard, NULL);
		char seen[4][INET_ADDRSTRLEN];
		int nseen = 0;
		for (long i = 0; i < n; i++) {
			int s = socket(AF_INET, SOCK_STREAM, 0);
			while (connect(s, (struct sockaddr *)&dst, sizeof dst) != 0) {
				if (errno == EINTR) {
					eintr++;
					continue; /* as programs do; the retry may say EALREADY... */
				}
				if (errno == EALREADY || errno == EINPROGRESS) {
					struct pollfd p = {.fd = s, .events = POLLOUT};
					poll(&p, 1, 10000);
					continue;
				}
				if (errno == EISCONN)
					break;
				fail("connect");
			}
			struct sockaddr_in a;
			socklen_t len = sizeof a;
			char buf[INET_ADDRSTRLEN];
			getsockname(s, (struct sockaddr *)&a, &len);
			inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
			int known = 0;
			for (int j = 0; j < nseen; j++)
				known |= strcmp(seen[j], buf) == 0;
			if (!known && nseen < 4)
				strcpy(seen[nseen++], buf);
			close(s);
		}
		atomic_store(&done, 1);
		pthread_join(th, NULL);
		for (int j = 0; j < nseen; j++)
			printf("%s\n", seen[j]);
		fprintf(stderr, "edge: %ld EINTR\n", eintr);
	} else {
		fprintf(stderr, "edge: unknown mode %s\n", mode);
		return 2;
	}
	return 0;
}
