/*
 * sigconnect: N blocking TCP connects to HOST PORT while another thread
 * sends the connecting thread SIGUSR1 without pause, its handler installed
 * without SA_RESTART. POSIX: a blocking connect interrupted by a signal
 * fails with EINTR and the connection goes on asynchronously, so programs
 * wait for it to become writable. A connect that fails with EINTR before it
 * started (a supervisor's round trip cut short) breaks that: the socket is
 * never connected.
 *
 *   sigconnect HOST PORT N
 *
 * Prints "ok=N eintr=N completed=N unstarted=N inprogress=N other=N
 * addrs=A[,B...]": connects that returned 0, that failed with EINTR (of
 * which completed ended connected and unstarted did not), that returned
 * EINPROGRESS on a blocking socket, that failed otherwise; and the distinct
 * local addresses of the connected sockets. Exits 0 unless a call it does
 * not test fails.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

#define MAXADDRS 8

static atomic_int done;
static pid_t target;
static char addrs[MAXADDRS][INET6_ADDRSTRLEN];
static int naddrs;

static void on_signal(int sig) { (void)sig; }

static void *bombard(void *arg)
{
	(void)arg;
	while (!atomic_load(&done))
		syscall(SYS_tgkill, getpid(), target, SIGUSR1);
	return NULL;
}

/* note records the local address of fd among the distinct ones. */
static void note(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char buf[INET6_ADDRSTRLEN];
	const void *a;
	int i;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		perror("sigconnect: getsockname");
		exit(1);
	}
	if (ss.ss_family == AF_INET6)
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	else
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	inet_ntop(ss.ss_family, a, buf, sizeof(buf));
	for (i = 0; i < naddrs; i++)
		if (strcmp(addrs[i], buf) == 0)
			return;
	if (naddrs < MAXADDRS)
		strcpy(addrs[naddrs++], buf);
}

/* connected waits for an interrupted connect to finish and reports whether
 * the socket ended connected. */
static int connected(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	int err = 0;
	socklen_t elen = sizeof(err);
	int r;

	do
		r = poll(&p, 1, 10000);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0)
		return 0;
	return getpeername(fd, (struct sockaddr *)&peer, &len) == 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct sigaction sa;
	pthread_t t;
	long ok = 0, eintr = 0, completed = 0, unstarted = 0, inprogress = 0, other = 0;
	int n, i;

	if (argc != 4) {
		fprintf(stderr, "usage: sigconnect HOST PORT N\n");
		return 2;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET6, argv[1], &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(atoi(argv[2]));
		sslen = sizeof(struct sockaddr_in6);
	} else if (inet_pton(AF_INET, argv[1], &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(atoi(argv[2]));
		sslen = sizeof(struct sockaddr_in);
	} else {
		fprintf(stderr, "sigconnect: bad address %s\n", argv[1]);
		return 2;
	}
	n = atoi(argv[3]);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0) {
		perror("sigconnect: sigaction");
		return 1;
	}
	target = syscall(SYS_gettid);
	if (pthread_create(&t, NULL, bombard, NULL) != 0) {
		fprintf(stderr, "sigconnect: pthread_create failed\n");
		return 1;
	}
	for (i = 0; i < n; i++) {
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			perror("sigconnect: socket");
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&ss, sslen) == 0) {
			ok++;
			note(fd);
		} else if (errno == EINTR) {
			eintr++;
			if (connected(fd)) {
				completed++;
				note(fd);
			} else {
				unstarted++;
			}
		} else if (errno == EINPROGRESS) {
			inprogress++;
		} else {
			other++;
			fprintf(stderr, "sigconnect: connect: %s\n", strerror(errno));
		}
		close(fd);
	}
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	printf("ok=%ld eintr=%ld completed=%ld unstarted=%ld inprogress=%ld other=%ld addrs=", ok, eintr, completed, unstarted, inprogress, other);
	for (i = 0; i < naddrs; i++)
		printf("%s%s", i ? "," : "", addrs[i]);
	printf("\n");
	return 0;
}
