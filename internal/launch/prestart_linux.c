// The supervisor's pre-start: a constructor that starts the supervisor
// before the launcher's own Go runtime does, so that the two Go start-ups
// (each some ten milliseconds of dynamic linking, runtime start and page
// faults) overlap instead of following each other. It forks as
// detach_linux.c does for the fallback path (supervisor_linux.go's
// startSupervisor): a middle process forks the supervisor into a new
// session and exits, and the launcher reaps it before it execs PROGRAM, so
// that PROGRAM never inherits a zombie child. The supervisor then execs /proc/self/exe as
// "vipa-exec-supervisor PID" in the serve stage, so ps and /proc/PID/comm
// show what they show on the fallback path.
//
// Only runs that may start PROGRAM pre-start (vipa_exec_prestart_wanted),
// and not under an outer vipa-exec's filter:
// a wrongly skipped pre-start only costs the fallback path, a wrongly made
// one an idle supervisor that exits, silently, when the launcher exits and
// its socket reads EOF. The supervisor gets stderr and the environment of
// the launcher, nothing else: /dev/null on stdin and stdout, its socket on
// fd 3, every other descriptor closed, / as its directory. When the
// first fork fails, or the second (the middle process exits 1), the
// launcher starts the supervisor the old way; a failure after that is
// written on the socket, where the launcher reads it as the supervisor's
// error.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define STAGE_ENV "_VIPA_EXEC_STAGE"
#define PRESTART_ENV "_VIPA_EXEC_PRESTART"
#define SUPERVISOR_FD 3

int vipa_exec_probe_listener(void); // nested_linux.c

// vipa_exec_prestart_fd is the launcher's end of the socket to the
// pre-started supervisor (close-on-exec, never below 3), or -1;
// vipa_exec_prestart_middle the middle process, to be reaped.
int vipa_exec_prestart_fd = -1;
pid_t vipa_exec_prestart_middle = -1;

static int streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

// vipa_exec_name_supervisor names the supervisor's main thread for top and
// /proc/PID/comm (15 bytes at most; ps shows its argv), before the Go
// runtime starts its other threads, which inherit the name; exec named it
// after the binary ("exe" after /proc/self/exe).
void vipa_exec_name_supervisor(void) { prctl(PR_SET_NAME, "vipa-exec-sup", 0, 0, 0); }

static int any(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (streq(name, *list))
			return 1;
	return 0;
}

// The options of cmd/vipa-exec's run (Go's flag syntax: one or two dashes,
// a value after "=" or as the next argument) that take a value, and those
// that mean no PROGRAM runs detached.
static const char *const valueOptions[] = {
	"p", "policy", "u", "user", "g", "group", "log-level", "log-format",
	"supervise", "engine", "explain", "protocol", "convert", "status", NULL,
};
static const char *const flagOptions[] = {"json", NULL};
static const char *const noProgram[] = {
	"h", "help", "version", "check", "explain", "convert", "status", "json", "protocol", NULL,
};

// vipa_exec_prestart_wanted reports whether the command line args (argv
// without argv[0]) starts PROGRAM with a detached supervisor: options that
// run none, --supervise=parent, an unknown option and a missing PROGRAM all
// answer 0.
int vipa_exec_prestart_wanted(int argc, char **args)
{
	for (int i = 0; i < argc; i++) {
		const char *a = args[i];
		if (streq(a, "--"))
			return i + 1 < argc;
		if (a[0] != '-' || a[1] == '\0')
			return 1; // PROGRAM
		const char *name = a + 1 + (a[1] == '-');
		char buf[32];
		const char *value = NULL;
		const char *eq = strchr(name, '=');
		if (eq != NULL) {
			if ((size_t)(eq - name) >= sizeof buf)
				return 0;
			memcpy(buf, name, eq - name);
			buf[eq - name] = '\0';
			name = buf;
			value = eq + 1;
		}
		if (any(name, noProgram))
			return 0;
		if (any(name, valueOptions)) {
			if (value == NULL) {
				if (++i == argc)
					return 0;
				value = args[i];
			}
			if (streq(name, "supervise") && streq(value, "parent"))
				return 0;
		} else if (!any(name, flagOptions)) {
			return 0;
		}
	}
	return 0;
}

// step is what the pre-started supervisor was doing when it failed.
static const char *step = "setsid";

// supervise is the pre-started supervisor, in its own session: its
// descriptors set, it execs the serve stage. It returns only on failure,
// with the descriptor of its socket, to say why on.
static int supervise(int sock, pid_t launcher, char **envp)
{
	step = "descriptors";
	// The socket first, to 3 without close-on-exec, so that /dev/null
	// cannot land on it when the caller closed stdin.
	if (sock == SUPERVISOR_FD ? fcntl(sock, F_SETFD, 0) < 0 : dup2(sock, SUPERVISOR_FD) < 0)
		return sock;
	int null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		return SUPERVISOR_FD;
	if (close_range(SUPERVISOR_FD + 1, ~0U, 0) < 0)
		return SUPERVISOR_FD;
	step = "chdir /";
	if (chdir("/") < 0)
		return SUPERVISOR_FD;
	size_t n = 0;
	while (envp[n] != NULL)
		n++;
	char **env = malloc((n + 2) * sizeof *env);
	if (env == NULL)
		return SUPERVISOR_FD;
	// First, where getenv and Go's os.Getenv look first.
	env[0] = STAGE_ENV "=serve";
	memcpy(env + 1, envp, (n + 1) * sizeof *env);
	char pid[24];
	snprintf(pid, sizeof pid, "%d", (int)launcher);
	char *argv[] = {"vipa-exec-supervisor", pid, NULL};
	step = "exec /proc/self/exe";
	execve("/proc/self/exe", argv, env);
	return SUPERVISOR_FD;
}

// glibc passes argc, argv and envp to ELF constructors.
__attribute__((constructor)) static void vipa_exec_prestart(int argc, char **argv, char **envp)
{
	const char *stage = getenv(STAGE_ENV);
	if (stage != NULL) {
		if (streq(stage, "serve"))
			vipa_exec_name_supervisor();
		return;
	}
	// _VIPA_EXEC_PRESTART=off: the fallback path, for its tests and for
	// whoever wants the supervisor started after the policy is read.
	const char *prestart = getenv(PRESTART_ENV);
	if (prestart != NULL && streq(prestart, "off"))
		return;
	if (argc < 1 || !vipa_exec_prestart_wanted(argc - 1, argv + 1))
		return;
	// Under an outer vipa-exec this one fails (checkNotNested): a
	// supervisor started for nothing would be a process of the outer
	// one's PROGRAM that outlives this one, if briefly. The probe runs
	// only under some seccomp filter, as checkNotNested's does.
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 0 && vipa_exec_probe_listener() != 0)
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	// Never on 0, 1 or 2, which the caller may have left closed.
	int ours = fcntl(sv[0], F_DUPFD_CLOEXEC, SUPERVISOR_FD);
	close(sv[0]);
	if (ours < 0) {
		close(sv[1]);
		return;
	}
	pid_t launcher = getpid();
	pid_t middle = fork();
	if (middle == 0) {
		close(ours);
		pid_t pid = fork();
		if (pid != 0)
			_exit(pid < 0); // 1: the launcher falls back
		// A new session: no controlling terminal, so ^C, ^Z and a
		// terminal hang-up never reach the supervisor.
		int sock = sv[1];
		if (setsid() >= 0)
			sock = supervise(sock, launcher, envp);
		// The launcher reads this instead of the supervisor's ack.
		dprintf(sock, "start supervisor: %s: %s", step, strerror(errno));
		_exit(1);
	}
	close(sv[1]);
	if (middle < 0) {
		close(ours);
		return;
	}
	// Reaped later, from Go (takePrestarted): waiting here would keep the
	// launcher's start-up waiting for the middle process to be scheduled.
	vipa_exec_prestart_middle = middle;
	vipa_exec_prestart_fd = ours;
}
