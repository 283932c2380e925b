/*
 * llbind: bind(0.0.0.0:PORT) and listen, optionally after denying itself
 * every TCP bind with Landlock, to show whose kernel checks a [[bind]] rule
 * obeys: the program's, never the supervisor's.
 *
 *   llbind [-l] [-r|-s] [-n N] PORT
 *
 *   -l  first restrict itself with a Landlock ruleset that handles
 *       LANDLOCK_ACCESS_NET_BIND_TCP and allows no port (Landlock ABI >= 4)
 *   -r  pass the address from a read-only buffer (.rodata); PORT must be
 *       6001, the port compiled into it
 *   -s  pass the address from a read-only shared mapping (of a memfd),
 *       which not even /proc/PID/mem can write
 *   -n  bind N sockets one after the other, closing all but the last
 *
 * Prints "local=ADDR:PORT buffer=ADDR" after a successful bind and listen
 * (buffer: the address the bind argument holds afterwards), or
 * "errno=NAME" (EACCES, or the number) after a failed bind, then waits for
 * end of file on standard input, so that the caller can look at its sockets
 * while it runs, and exits 0 either way. Any other failure exits 1 with a
 * message on standard error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * struct landlock_ruleset_attr as of Landlock ABI 4 (Linux 6.7), from
 * include/uapi/linux/landlock.h: older installed headers lack the network
 * field, so it is spelled out here.
 */
struct ruleset_attr_v4 {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
};
#define ACCESS_NET_BIND_TCP (1ULL << 0) /* LANDLOCK_ACCESS_NET_BIND_TCP */

/* The read-only address of -r: const and static, so it sits in .rodata. */
#if __BYTE_ORDER == __LITTLE_ENDIAN
#define PORT_BE(p) ((uint16_t)((((p) & 0xff) << 8) | ((p) >> 8)))
#else
#define PORT_BE(p) ((uint16_t)(p))
#endif
static const struct sockaddr_in rodata_addr = {
	.sin_family = AF_INET,
	.sin_port = PORT_BE(6001),
};

static void deny_tcp_bind(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 4) {
		fprintf(stderr, "llbind: Landlock ABI %ld, need >= 4 for network rules: %s\n", abi,
			abi < 0 ? strerror(errno) : "too old");
		exit(1);
	}
	struct ruleset_attr_v4 attr = {.handled_access_net = ACCESS_NET_BIND_TCP};
	int fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (fd < 0) {
		perror("llbind: landlock_create_ruleset");
		exit(1);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("llbind: PR_SET_NO_NEW_PRIVS");
		exit(1);
	}
	if (syscall(SYS_landlock_restrict_self, fd, 0) != 0) {
		perror("llbind: landlock_restrict_self");
		exit(1);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	int landlock = 0, rodata = 0, shared = 0, n = 1, opt;
	while ((opt = getopt(argc, argv, "lrsn:")) != -1) {
		switch (opt) {
		case 'l':
			landlock = 1;
			break;
		case 'r':
			rodata = 1;
			break;
		case 's':
			shared = 1;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: llbind [-l] [-r|-s] [-n N] PORT\n");
			return 2;
		}
	}
	if (optind != argc - 1 || n < 1) {
		fprintf(stderr, "usage: llbind [-l] [-r|-s] [-n N] PORT\n");
		return 2;
	}
	int port = atoi(argv[optind]);
	if (rodata && port != ntohs(rodata_addr.sin_port)) {
		fprintf(stderr, "llbind: -r binds port %d only\n", ntohs(rodata_addr.sin_port));
		return 2;
	}
	if (landlock)
		deny_tcp_bind();

	struct sockaddr_in rw = {.sin_family = AF_INET, .sin_port = htons(port)};
	const struct sockaddr_in *a = rodata ? &rodata_addr : &rw;
	if (shared) {
		int mfd = memfd_create("llbind", MFD_CLOEXEC);
		if (mfd < 0 || write(mfd, &rw, sizeof rw) != sizeof rw) {
			perror("llbind: memfd");
			return 1;
		}
		a = mmap(NULL, sizeof rw, PROT_READ, MAP_SHARED, mfd, 0);
		if (a == MAP_FAILED) {
			perror("llbind: mmap");
			return 1;
		}
	}
	int s = -1, rc = -1;
	for (int i = 0; i < n; i++) {
		if (s >= 0)
			close(s);
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) {
			perror("llbind: socket");
			return 1;
		}
		rc = bind(s, (const struct sockaddr *)a, sizeof *a);
	}
	if (rc != 0) {
		if (errno == EACCES)
			printf("errno=EACCES\n");
		else
			printf("errno=%d\n", errno);
	} else {
		if (listen(s, 1) != 0) {
			perror("llbind: listen");
			return 1;
		}
		struct sockaddr_in got;
		socklen_t len = sizeof got;
		char buf[INET_ADDRSTRLEN];
		if (getsockname(s, (struct sockaddr *)&got, &len) != 0) {
			perror("llbind: getsockname");
			return 1;
		}
		char bufarg[INET_ADDRSTRLEN];
		printf("local=%s:%d buffer=%s\n", inet_ntop(AF_INET, &got.sin_addr, buf, sizeof buf), ntohs(got.sin_port),
		       inet_ntop(AF_INET, &a->sin_addr, bufarg, sizeof bufarg));
	}
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
