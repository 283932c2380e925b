/*
 * abi32: a 32-bit (i386) client, built with gcc -m32 -static, that connects
 * to HOST:PORT (IPv4) through one of the two ways the i386 ABI offers and
 * prints the local address it got:
 *
 *   abi32 direct HOST PORT       the connect(2) system call (362)
 *   abi32 socketcall HOST PORT   socketcall(SYS_CONNECT, args), whose
 *                                arguments a seccomp filter cannot see
 *   abi32 bind PORT              socketcall(SYS_BIND) to 0.0.0.0:PORT,
 *                                then prints the bound address
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/net.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void print_local(int s)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	char buf[INET_ADDRSTRLEN];
	if (getsockname(s, (struct sockaddr *)&a, &len) != 0) {
		perror("abi32: getsockname");
		exit(1);
	}
	printf("%s:%d\n", inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf), ntohs(a.sin_port));
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: abi32 direct|socketcall HOST PORT | abi32 bind PORT\n");
		return 2;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	long r;
	if (strcmp(argv[1], "bind") == 0) {
		a.sin_port = htons(atoi(argv[2]));
		unsigned long args[3] = {s, (unsigned long)&a, sizeof a};
		r = syscall(SYS_socketcall, SYS_BIND, args);
	} else {
		if (argc < 4 || inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) {
			fprintf(stderr, "abi32: bad address\n");
			return 2;
		}
		a.sin_port = htons(atoi(argv[3]));
		if (strcmp(argv[1], "direct") == 0) {
			r = syscall(SYS_connect, s, &a, sizeof a);
		} else {
			unsigned long args[3] = {s, (unsigned long)&a, sizeof a};
			r = syscall(SYS_socketcall, SYS_CONNECT, args);
		}
	}
	if (r != 0) {
		perror("abi32");
		return 1;
	}
	print_local(s);
	return 0;
}
