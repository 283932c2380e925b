/*
 * uring: calls io_uring_setup(2) once and prints "io_uring_setup=OK" or
 * "io_uring_setup=ERRNO_NAME". io_uring can connect and bind sockets without
 * any syscall a seccomp filter sees, so vipa-exec refuses it by default.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	char params[120]; /* struct io_uring_params, zeroed */
	memset(params, 0, sizeof params);
	long fd = syscall(SYS_io_uring_setup, 8, params);
	if (fd >= 0) {
		close(fd);
		printf("io_uring_setup=OK\n");
	} else {
		printf("io_uring_setup=%s\n", errno == ENOSYS ? "ENOSYS" : strerror(errno));
	}
	return 0;
}
