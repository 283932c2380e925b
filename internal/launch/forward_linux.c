// Signal catching for --supervise=parent (see parent_linux.go), for the
// forwarded signals Go's os/signal cannot deliver or cannot describe:
//
//   - SIGPROF (the runtime keeps it for its profiler) and 34, SIGRTMIN
//     under glibc (the runtime reserves it for musl). vipa-exec runs no
//     profiler and no musl, so a plain handler takes them over.
//   - The terminal's SIGINT, SIGQUIT, SIGTSTP and SIGWINCH, which the
//     terminal sends to its whole foreground process group, PROGRAM
//     included: vipa-exec must not send those again, but must forward the
//     same signals sent by kill(2) to it alone. os/signal does not tell the
//     two apart; si_code does: SI_KERNEL for the terminal's.
//
// The handler writes two bytes to a pipe: the signal's number, and 1 when
// the kernel sent it (si_code SI_KERNEL), else 0. Writes of two bytes to a
// pipe are atomic, so the reader sees whole pairs.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <unistd.h>

static int vipa_exec_forward_fd = -1;

static void vipa_exec_forward(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	unsigned char b[2] = {(unsigned char)sig, si != NULL && si->si_code == SI_KERNEL};
	(void)uc;
	// Non-blocking: if the pipe is full, the signal is dropped, as a
	// standard signal already pending would be.
	(void)!write(vipa_exec_forward_fd, b, sizeof b);
	errno = saved;
}

// vipa_exec_catch makes sig write to fd; it returns -1 with errno on
// failure.
int vipa_exec_catch(int sig, int fd)
{
	struct sigaction sa = {0};
	vipa_exec_forward_fd = fd;
	sa.sa_sigaction = vipa_exec_forward;
	// Go gives every thread an alternate signal stack; goroutine stacks are
	// too small to run a handler on.
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}
