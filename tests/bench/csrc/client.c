/*
 * Benchmark client for vipa-exec, built with gcc -O2 -static so that it runs
 * the same way under vipa-exec as a static Go or busybox binary would.
 *
 * Each mode times only its own loop with CLOCK_MONOTONIC and prints one line,
 * the rate in operations per second, so process start-up (and vipa-exec's
 * own start-up) stays out of the figure.
 *
 *   client tcp ADDR PORT N SRC|- close|linger
 *       N connect-and-close cycles to ADDR:PORT (IPv4). SRC other than "-"
 *       binds the socket to SRC:0 with IP_BIND_ADDRESS_NO_PORT first, which
 *       is what a program that picks its own source address does. "linger"
 *       sets SO_LINGER {1, 0} before close, so the close sends a RST.
 *   client getpid N
 *       N raw getpid system calls: a call the seccomp filter never traps.
 *   client unix PATH N
 *       N connect-and-close cycles to the AF_UNIX stream socket PATH, whose
 *       last element has at most 12 bytes (an addrlen the filter never traps).
 *   client trap N
 *       N calls connect(-1, {AF_INET 127.0.0.1:9}, 16): the filter traps
 *       them (addrlen 16), no rule matches the destination, so each is one
 *       round trip to the supervisor and back with "continue", after which
 *       the kernel fails the call with EBADF. Nothing reaches the network.
 *
 * A leading -f installs a one-instruction allow-all seccomp filter first:
 * the floor that any seccomp filter costs every system call, against which
 * vipa-exec's own filter is judged.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <limits.h>
#include <stddef.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static void die(const char *what, long i)
{
	fprintf(stderr, "client: %s (iteration %ld): %s\n", what, i, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: client [-f] tcp ADDR PORT N SRC|- close|linger\n"
		"       client [-f] getpid N\n"
		"       client [-f] unix PATH N\n"
		"       client [-f] trap N\n");
	exit(2);
}

static long count(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || n <= 0)
		usage();
	return n;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int tcp(int argc, char **argv)
{
	if (argc != 7)
		usage();
	struct sockaddr_in dst = {.sin_family = AF_INET};
	if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1)
		usage();
	dst.sin_port = htons((unsigned short)count(argv[3]));
	long n = count(argv[4]);
	int bind_src = strcmp(argv[5], "-") != 0;
	struct sockaddr_in src = {.sin_family = AF_INET};
	if (bind_src && inet_pton(AF_INET, argv[5], &src.sin_addr) != 1)
		usage();
	int linger;
	if (strcmp(argv[6], "linger") == 0)
		linger = 1;
	else if (strcmp(argv[6], "close") == 0)
		linger = 0;
	else
		usage();

	const int one = 1;
	const struct linger rst = {.l_onoff = 1, .l_linger = 0};
	double start = now();
	for (long i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			die("socket", i);
		if (bind_src) {
			if (setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0)
				die("setsockopt IP_BIND_ADDRESS_NO_PORT", i);
			if (bind(s, (struct sockaddr *)&src, sizeof src) < 0)
				die("bind", i);
		}
		if (connect(s, (struct sockaddr *)&dst, sizeof dst) < 0)
			die("connect", i);
		if (linger && setsockopt(s, SOL_SOCKET, SO_LINGER, &rst, sizeof rst) < 0)
			die("setsockopt SO_LINGER", i);
		if (close(s) < 0)
			die("close", i);
	}
	printf("%.1f\n", (double)n / (now() - start));
	return 0;
}

static int getpid_loop(int argc, char **argv)
{
	if (argc != 3)
		usage();
	long n = count(argv[2]);
	double start = now();
	for (long i = 0; i < n; i++)
		syscall(SYS_getpid); /* raw: glibc no longer caches getpid, but be sure */
	printf("%.1f\n", (double)n / (now() - start));
	return 0;
}

static int unix_loop(int argc, char **argv)
{
	if (argc != 4)
		usage();
	/*
	 * The filter traps connect with every addrlen from 16 to 128 (an
	 * AF_INET address may come in a sockaddr_storage), so this connects to
	 * PATH's last element from its directory, with the length of that name
	 * alone: at most 12 bytes keep addrlen below 16, an untrapped call.
	 */
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *name = strrchr(argv[2], '/');
	if (name) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%.*s", (int)(name - argv[2]) + 1, argv[2]);
		if (chdir(dir) < 0)
			die("chdir", 0);
		name++;
	} else {
		name = argv[2];
	}
	if (strlen(name) > 12)
		usage();
	strcpy(sun.sun_path, name);
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
	long n = count(argv[3]);
	double start = now();
	for (long i = 0; i < n; i++) {
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			die("socket", i);
		if (connect(s, (struct sockaddr *)&sun, len) < 0)
			die("connect", i);
		if (close(s) < 0)
			die("close", i);
	}
	printf("%.1f\n", (double)n / (now() - start));
	return 0;
}

static int trap_loop(int argc, char **argv)
{
	if (argc != 3)
		usage();
	long n = count(argv[2]);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	double start = now();
	for (long i = 0; i < n; i++) {
		/*
		 * EBADF is the answer the loop expects; anything else means the
		 * call did not go on to the kernel unchanged (a supervisor that
		 * answered with an errno of its own), and the rate would not be
		 * that of a "continue" round trip.
		 */
		if (connect(-1, (struct sockaddr *)&sa, sizeof sa) == 0)
			errno = 0;
		if (errno != EBADF)
			die("connect(-1) did not fail with EBADF", i);
	}
	printf("%.1f\n", (double)n / (now() - start));
	return 0;
}

static void allow_all_filter(void)
{
	struct sock_filter insns[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog prog = {.len = 1, .filter = insns};
	/* Needed without CAP_SYS_ADMIN, and costs nothing per call. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("prctl PR_SET_NO_NEW_PRIVS", -1);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		die("seccomp SECCOMP_SET_MODE_FILTER", -1);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-f") == 0) {
		allow_all_filter();
		argv++;
		argc--;
	}
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "tcp") == 0)
		return tcp(argc, argv);
	if (strcmp(argv[1], "getpid") == 0)
		return getpid_loop(argc, argv);
	if (strcmp(argv[1], "unix") == 0)
		return unix_loop(argc, argv);
	if (strcmp(argv[1], "trap") == 0)
		return trap_loop(argc, argv);
	usage();
	return 2;
}
