/*
 * tiocsti: type TEXT into the terminal on fd 0 the way an attacker would,
 * for the shell that reads the terminal after the program has exited
 * (CVE-2016-2779).
 *
 *   tiocsti sti HIGH TEXT     ioctl(0, HIGH << 32 | TIOCSTI, c) for each c
 *   tiocsti linux HIGH        ioctl(0, HIGH << 32 | TIOCLINUX, TIOCL_PASTESEL)
 *
 * The request goes through syscall(2), so that HIGH reaches the kernel
 * (and the seccomp filter) intact in the upper half of the register; the
 * kernel itself reads the request as an unsigned int and ignores it.
 * Prints "ioctl ok", or "ioctl ERRNO" naming the first failure, and exits 0.
 */
#define _GNU_SOURCE
#include <linux/tiocl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int try(unsigned long req, void *arg)
{
	if (syscall(SYS_ioctl, 0, req, arg) == 0)
		return 0;
	printf("ioctl %s\n", strerrorname_np(errno));
	return -1;
}

int main(int argc, char **argv)
{
	char sub = TIOCL_PASTESEL;
	unsigned long high;
	const char *p;

	if (argc == 4 && strcmp(argv[1], "sti") == 0) {
		high = strtoul(argv[2], NULL, 0) << 32;
		for (p = argv[3]; *p; p++)
			if (try(high | TIOCSTI, (void *)p) != 0)
				return 0;
	} else if (argc == 3 && strcmp(argv[1], "linux") == 0) {
		high = strtoul(argv[2], NULL, 0) << 32;
		if (try(high | TIOCLINUX, &sub) != 0)
			return 0;
	} else {
		fprintf(stderr, "usage: tiocsti sti HIGH TEXT | tiocsti linux HIGH\n");
		return 2;
	}
	printf("ioctl ok\n");
	return 0;
}
