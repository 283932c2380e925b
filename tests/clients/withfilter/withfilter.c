// withfilter PROGRAM [ARGS...]: runs PROGRAM under an allow-all seccomp
// filter without a listener, as a container runtime's or systemd's
// SystemCallFilter= leaves a service: vipa-exec must tell that from an outer
// vipa-exec's filter.
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {.len = 1, .filter = &allow};
	if (argc < 2) {
		fprintf(stderr, "usage: withfilter PROGRAM [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("withfilter: seccomp");
		return 2;
	}
	execvp(argv[1], argv + 1);
	perror("withfilter: exec");
	return 127;
}
