// The detaching stage of the supervisor's double fork, in C so that it runs
// before the Go runtime starts: the middle process lives only to fork the
// supervisor into a new session and exit, and a Go runtime start-up there
// would add milliseconds to every vipa-exec run. runc's nsexec uses the same
// constructor trick. See supervisor_linux.go for the protocol.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STAGE_ENV "_VIPA_EXEC_STAGE"
#define LAUNCHER_FD 3

// glibc passes argc, argv and envp to ELF constructors.
__attribute__((constructor)) static void vipa_exec_detach(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)envp;
	const char *stage = getenv(STAGE_ENV);
	if (stage == NULL || strcmp(stage, "detach") != 0)
		return;
	if (setenv(STAGE_ENV, "serve", 1) == 0) {
		pid_t pid = fork();
		if (pid > 0)
			_exit(0); // the launcher reaps this process; the supervisor is re-parented
		if (pid == 0) {
			// A new session: no controlling terminal, so ^C, ^Z and a
			// terminal hang-up never reach the supervisor.
			if (setsid() >= 0)
				execv("/proc/self/exe", argv);
		}
	}
	// The launcher reads this instead of the supervisor's acknowledgement.
	dprintf(LAUNCHER_FD, "start supervisor: %s", strerror(errno));
	_exit(1);
}
