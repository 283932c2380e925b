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
 *   edge addrlen HOST PORT LEN connect|sendto|bind
 *                            TCP connect, UDP sendto or TCP bind (HOST a
 *                            wildcard) with the address at the start of a
 *                            zeroed struct sockaddr_storage given as LEN
 *                            bytes (the kernel takes 16..128 for AF_INET,
 *                            24..128 for AF_INET6)
 *   edge sendmmsg HOST PORT  UDP: two datagrams in one sendmmsg from an
 *                            unbound socket
 *   edge pktinfo HOST PORT SRC
 *                            UDP: one datagram by sendmsg whose IP_PKTINFO
 *                            (IPV6_PKTINFO) names the source SRC
 *
 * HOST is IPv6 when it has a ':'. Every mode but eintr prints the local
 * address after the call; pktinfo prints the unbound socket's wildcard
 * unless something bound it.
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
	struct sockaddr_storage a;
	socklen_t len = sizeof a;
	char buf[INET6_ADDRSTRLEN];
	if (getsockname(s, (struct sockaddr *)&a, &len) != 0)
		fail("getsockname");
	if (a.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a)->sin6_addr, buf, sizeof buf);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, buf, sizeof buf);
	printf("%s\n", buf);
}

/* parse fills a zeroed sockaddr_storage with HOST PORT and returns its family. */
static int parse(const char *host, const char *port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(atoi(port));
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -1;
		return AF_INET6;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons(atoi(port));
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -1;
	return AF_INET;
}

/* extra runs the modes that take any family: 1 if argv named one of them. */
static int extra(int argc, char **argv)
{
	const char *mode = argv[1];
	struct sockaddr_storage dst;
	int family = parse(argv[2], argv[3], &dst);
	if (family < 0) {
		fprintf(stderr, "edge: bad address\n");
		exit(2);
	}
	if (strcmp(mode, "addrlen") == 0 && argc == 6) {
		socklen_t len = atoi(argv[4]);
		const char *call = argv[5];
		int udp = strcmp(call, "sendto") == 0;
		int s = socket(family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
		if (s < 0)
			fail("socket");
		int one = 1;
		if (strcmp(call, "bind") == 0) {
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			if (bind(s, (struct sockaddr *)&dst, len) != 0)
				fail("bind");
		} else if (udp) {
			if (sendto(s, "x", 1, 0, (struct sockaddr *)&dst, len) != 1)
				fail("sendto");
		} else if (connect(s, (struct sockaddr *)&dst, len) != 0) {
			fail("connect");
		}
		print_local(s);
		return 1;
	}
	if (strcmp(mode, "sendmmsg") == 0 && argc == 4) {
		int s = socket(family, SOCK_DGRAM, 0);
		struct iovec iov[2] = {{.iov_base = "one", .iov_len = 3}, {.iov_base = "two", .iov_len = 3}};
		struct mmsghdr m[2];
		memset(m, 0, sizeof m);
		for (int i = 0; i < 2; i++) {
			m[i].msg_hdr.msg_name = &dst;
			m[i].msg_hdr.msg_namelen = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
		}
		if (sendmmsg(s, m, 2, 0) != 2)
			fail("sendmmsg");
		print_local(s);
		return 1;
	}
	if (strcmp(mode, "pktinfo") == 0 && argc == 5) {
		struct sockaddr_storage src;
		if (parse(argv[4], "0", &src) != family) {
			fprintf(stderr, "edge: bad source\n");
			exit(2);
		}
		int s = socket(family, SOCK_DGRAM, 0);
		struct iovec iov = {.iov_base = "x", .iov_len = 1};
		union {
			char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
			struct cmsghdr align;
		} control;
		memset(&control, 0, sizeof control);
		struct msghdr msg = {
			.msg_name = &dst, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
		};
		struct cmsghdr *c = (struct cmsghdr *)control.buf;
		if (family == AF_INET6) {
			struct in6_pktinfo pi = {.ipi6_addr = ((struct sockaddr_in6 *)&src)->sin6_addr};
			msg.msg_namelen = sizeof(struct sockaddr_in6);
			msg.msg_controllen = CMSG_SPACE(sizeof pi);
			c->cmsg_level = IPPROTO_IPV6;
			c->cmsg_type = IPV6_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof pi);
			memcpy(CMSG_DATA(c), &pi, sizeof pi);
		} else {
			struct in_pktinfo pi = {.ipi_spec_dst = ((struct sockaddr_in *)&src)->sin_addr};
			msg.msg_namelen = sizeof(struct sockaddr_in);
			msg.msg_controllen = CMSG_SPACE(sizeof pi);
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof pi);
			memcpy(CMSG_DATA(c), &pi, sizeof pi);
		}
		if (sendmsg(s, &msg, 0) != 1)
			fail("sendmsg");
		print_local(s);
		return 1;
	}
	return 0;
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
		fprintf(stderr, "usage: edge nonblock|tfo|unspec|eintr|addrlen|sendmmsg|pktinfo HOST PORT [ARG...]\n");
		return 2;
	}
	if (extra(argc, argv))
		return 0;
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
