/*
 * uring_connect: connects a TCP socket to ADDR PORT through io_uring
 * (IORING_OP_CONNECT, no connect(2) call) and prints the local address it
 * got, "ADDR PORT". No liburing: the rings are mapped by hand.
 *
 *	uring_connect 4|6 ADDR PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	struct io_uring_params p;
	struct sockaddr_storage ss, local;
	socklen_t sslen, llen = sizeof(local);
	char host[INET6_ADDRSTRLEN];
	int ring, fd, v6;

	if (argc != 4) {
		fprintf(stderr, "usage: uring_connect 4|6 ADDR PORT\n");
		return 2;
	}
	v6 = argv[1][0] == '6';
	memset(&ss, 0, sizeof(ss));
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(atoi(argv[3]));
		if (inet_pton(AF_INET6, argv[2], &s6->sin6_addr) != 1)
			die("inet_pton");
		sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(atoi(argv[3]));
		if (inet_pton(AF_INET, argv[2], &s4->sin_addr) != 1)
			die("inet_pton");
		sslen = sizeof(*s4);
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");

	memset(&p, 0, sizeof(p));
	ring = syscall(SYS_io_uring_setup, 4, &p);
	if (ring < 0)
		die("io_uring_setup");
	size_t sqlen = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	char *sq = mmap(NULL, sqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	char *cq = mmap(NULL, cqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		die("mmap");

	unsigned tail = *(unsigned *)(sq + p.sq_off.tail);
	unsigned idx = tail & *(unsigned *)(sq + p.sq_off.ring_mask);
	struct io_uring_sqe *sqe = &sqes[idx];

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_CONNECT;
	sqe->fd = fd;
	sqe->addr = (unsigned long)&ss;
	sqe->off = sslen;
	((unsigned *)(sq + p.sq_off.array))[idx] = idx;
	atomic_store_explicit((_Atomic unsigned *)(sq + p.sq_off.tail), tail + 1, memory_order_release);

	if (syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		die("io_uring_enter");
	unsigned head = atomic_load_explicit((_Atomic unsigned *)(cq + p.cq_off.head), memory_order_acquire);
	struct io_uring_cqe *cqe = &((struct io_uring_cqe *)(cq + p.cq_off.cqes))[head & *(unsigned *)(cq + p.cq_off.ring_mask)];
	if (cqe->res < 0) {
		fprintf(stderr, "uring_connect: connect: %s\n", strerror(-cqe->res));
		return 1;
	}
	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0)
		die("getsockname");
	if (local.ss_family == AF_INET6) {
		struct sockaddr_in6 *l6 = (struct sockaddr_in6 *)&local;

		inet_ntop(AF_INET6, &l6->sin6_addr, host, sizeof(host));
		printf("%s %d\n", host, ntohs(l6->sin6_port));
	} else {
		struct sockaddr_in *l4 = (struct sockaddr_in *)&local;

		inet_ntop(AF_INET, &l4->sin_addr, host, sizeof(host));
		printf("%s %d\n", host, ntohs(l4->sin_port));
	}
	return 0;
}
