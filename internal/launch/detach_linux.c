// The detaching stage of the supervisor's double fork, in C so that it runs
// before the Go runtime starts: the middle process lives only to fork the
// supervisor into a new session and exit, and a Go runtime start-up there
// would add milliseconds to every vipa-exec run. runc's nsexec uses the same
// constructor trick. The forked child does not exec again: it returns from
// the constructor and becomes the supervisor, its Go runtime the first to
// start, which saves a second execve and dynamic link on the launcher's
// critical path. See supervisor_linux.go for the protocol.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STAGE_ENV "_VIPA_EXEC_STAGE"
#define LAUNCHER_FD 3

void vipa_exec_name_supervisor(void); // prestart_linux.c

// serveStage replaces the stage's entry in the environment. Go reads its
// environment from the array that follows argv on the initial stack, not
// from libc's environ (which setenv may move): this very array, glibc's
// third argument to constructors, is what the supervisor's os.Getenv sees.
static char serveStage[] = STAGE_ENV "=serve";

// glibc passes argc, argv and envp to ELF constructors.
__attribute__((constructor)) static void vipa_exec_detach(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)argv;
	const char *stage = getenv(STAGE_ENV);
	if (stage == NULL || strcmp(stage, "detach") != 0)
		return;
	char **entry = NULL;
	for (char **e = envp; *e != NULL && entry == NULL; e++)
		if (strncmp(*e, STAGE_ENV "=", sizeof(STAGE_ENV)) == 0)
			entry = e; // the first, which getenv and Go's os.Getenv read
	errno = EINVAL;
	// Nothing of the launcher's caller but stderr: os.StartProcess passes
	// on every descriptor the caller left open without close-on-exec.
	if (entry != NULL && close_range(LAUNCHER_FD + 1, ~0U, 0) == 0) {
		pid_t pid = fork();
		if (pid > 0)
			_exit(0); // the launcher reaps this process; the supervisor is re-parented
		if (pid == 0) {
			// A new session: no controlling terminal, so ^C, ^Z and a
			// terminal hang-up never reach the supervisor.
			if (setsid() >= 0) {
				*entry = serveStage;
				vipa_exec_name_supervisor();
				return; // main() runs the supervisor
			}
		}
	}
	// The launcher reads this instead of the supervisor's acknowledgement.
	dprintf(LAUNCHER_FD, "start supervisor: %s", strerror(errno));
	_exit(1);
}
