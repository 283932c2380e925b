// Package launch starts the supervisor, loads the filter into the calling
// process and execs PROGRAM in its place.
//
// # Sequence
//
//  1. Before the launcher's Go runtime starts, a C constructor
//     (prestart_linux.c) forks a process that forks and exits; its child,
//     in a session of its own and no child of PROGRAM, execs vipa-exec as
//     the supervisor, whose start-up overlaps the launcher's. It is started
//     before the filter exists, so it is unfiltered. Without it (a failed
//     fork) the launcher re-executes itself in stage detach, whose
//     constructor (detach_linux.c) forks the same way.
//  2. The launcher sends its log settings and the policy bytes it
//     validated, loads the filter on all its threads (TSYNC) and sends the
//     listener's descriptor number.
//  3. The supervisor takes the listener with pidfd_getfd and acknowledges;
//     only then does the launcher close its copy, switch to --user/--group
//     and execve PROGRAM, which keeps the launcher's PID.
//
// Between loading the filter and the acknowledgement the launcher makes no
// bind or connect: nobody would answer it.
//
// With the bpf engine (Options.InKernel) step 2 sends the engine frame and
// loads no trapping filter: the supervisor moves the launcher into the
// program's cgroup with the engine attached, then acknowledges; the
// launcher loads a filter that only refuses the terminal-injection ioctls
// and execs PROGRAM. Under auto (Options.Fallback) a supervisor that
// cannot answers ackFallback and why, and the seccomp steps follow.
//
// # cgo
//
// This is vipa-exec's one cgo package: libseccomp compiles the filter
// (from internal/notify's ABI tables), and C runs where Go cannot (the
// constructors that start the supervisor, before the Go runtime
// starts; the signal catcher; the nesting probe's vfork). Built without cgo, every entry
// point fails with an error wrapping errors.ErrUnsupported.
//
// # Environment
//
// _VIPA_EXEC_STAGE marks the internal stages ("detach", "serve",
// "program"); it is set only in the environment of the re-executed
// processes, never PROGRAM's. Options.SupervisorEnv's _VIPA_EXEC_*
// variables reach the supervisor's environment through its socket.
// _VIPA_EXEC_PRESTART=off in vipa-exec's environment skips the pre-start:
// the launcher starts the supervisor itself, after the policy (the
// fallback path; its tests use it).
package launch
