// The probe behind checkNotNested (nested_linux.go): does a seccomp filter
// with a listener already sit on this process? The kernel allows one per
// process (NEW_LISTENER answers EBUSY), so an outer vipa-exec's filter means
// this one cannot load its own. A vfork'ed child asks by loading an
// allow-all filter with a listener on itself and exits; the caller's own
// threads and filters are untouched. As in posix_spawn, every signal is
// blocked around vfork, so that no handler of the Go runtime runs in the
// child, and the child makes system calls only, then _exit. vfork, not fork:
// a fork copies the page tables of the whole Go process, several times the
// cost.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// vipa_exec_probe_listener returns 1 when a filter with a listener is on
// the calling process, 0 when not, -1 (errno set) when it cannot tell.
int vipa_exec_probe_listener(void)
{
	sigset_t all, old;
	sigfillset(&all);
	// No signal handler of the Go runtime may run in the child.
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
		return -1;
	pid_t pid = vfork();
	if (pid == 0) {
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = {.len = 1, .filter = &allow};
		if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			_exit(2);
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog) >= 0)
			_exit(0);
		_exit(errno == EBUSY ? 1 : 2);
	}
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		errno = saved;
		return -1;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
		errno = EINVAL;
		return -1;
	}
	return WEXITSTATUS(status);
}
