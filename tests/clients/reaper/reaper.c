// reaper PROGRAM [ARGS...]: runs PROGRAM as a child subreaper
// (PR_SET_CHILD_SUBREAPER), so that every process PROGRAM leaves behind is
// re-parented to it; waits for them all and prints one line per process it
// reaped, in the order they ended:
//
//	program STATUS   PROGRAM itself
//	orphan STATUS    any other (a detached vipa-exec supervisor)
//
// STATUS is the exit status, or "signal N". It exits 0 once no child is
// left (ECHILD): the lines then list every process PROGRAM started that
// outlived it, with no timing involved.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: reaper PROGRAM [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
		perror("reaper: PR_SET_CHILD_SUBREAPER");
		return 2;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("reaper: fork");
		return 2;
	}
	if (child == 0) {
		execvp(argv[1], argv + 1);
		perror("reaper: exec");
		_exit(127);
	}
	for (;;) {
		int status;
		pid_t pid = wait(&status);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD)
				return 0;
			perror("reaper: wait");
			return 2;
		}
		const char *who = pid == child ? "program" : "orphan";
		if (WIFEXITED(status))
			printf("reaper: %s %d\n", who, WEXITSTATUS(status));
		else
			printf("reaper: %s signal %d\n", who, WTERMSIG(status));
		fflush(stdout);
	}
}
