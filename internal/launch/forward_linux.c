// Signal catching for the two signals --supervise=parent forwards that
// Go's os/signal cannot deliver: SIGPROF (the runtime keeps it for its
// profiler) and 34, SIGRTMIN under glibc (the runtime reserves it for musl).
// vipa-exec runs no profiler and no musl, so a plain handler that writes the
// signal's number to a pipe takes them over. See parent_linux.go.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <unistd.h>

static int vipa_exec_forward_fd = -1;

static void vipa_exec_forward(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	// Non-blocking: if the pipe is full, the signal is dropped, as a
	// standard signal already pending would be.
	(void)!write(vipa_exec_forward_fd, &b, 1);
	errno = saved;
}

// vipa_exec_catch makes sig write its number to fd; it returns -1 with
// errno on failure.
int vipa_exec_catch(int sig, int fd)
{
	struct sigaction sa = {0};
	vipa_exec_forward_fd = fd;
	sa.sa_handler = vipa_exec_forward;
	// Go gives every thread an alternate signal stack; goroutine stacks are
	// too small to run a handler on.
	sa.sa_flags = SA_RESTART | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}
