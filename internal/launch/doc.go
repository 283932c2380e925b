// Package launch starts the supervisor, loads the filter into the calling
// process and execs PROGRAM in its place.
//
// # Sequence
//
//  1. vipa-exec re-executes itself; before the Go runtime starts, that
//     process forks and exits, and its child, in a session of its own and
//     no child of PROGRAM, goes on to run the supervisor (no second exec).
//     It is started before the filter exists, so it is unfiltered.
//  2. The launcher sends the policy bytes it validated, loads the filter on
//     all its threads (TSYNC) and sends the listener's descriptor number.
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
// detaching stage's constructor, before the Go runtime starts; the signal
// catcher; the nesting probe's vfork). Built without cgo, every entry
// point fails with an error wrapping errors.ErrUnsupported.
//
// # Environment
//
// _VIPA_EXEC_STAGE marks the internal stages ("detach", "serve"); it is set
// only in the environment of the re-executed processes, never PROGRAM's.
package launch
