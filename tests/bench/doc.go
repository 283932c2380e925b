// Package main is the vipa-exec benchmark behind `make bench`:
//
//	go run ./tests/bench -vipa-exec bin/vipa-exec [-n 10000] [-reps 5] [-trap-n 200000] [-quick] [-startup-only] [-v]
//
// It compiles csrc/client.c (gcc -O2 -static) and csrc/refsup.c (gcc -O2),
// builds emptygo/main.go with the go command, and measures, as root
// (-startup-only: the start-up rows alone):
//
//   - TCP connect-and-close over loopback in ten cases: bare (the kernel
//     picks the source), ideal (the client binds the VIPA itself with
//     IP_BIND_ADDRESS_NO_PORT), vipa-exec (the client does nothing, a
//     policy picks the VIPA; the seccomp engine), bpf (the same under the
//     in-kernel engine) and c-supervisor (the same, under refsup),
//     each with a plain close and with SO_LINGER {1, 0}; with the ratios
//     vipa-exec/ideal (target ≥ 0.60), bpf/ideal (≥ 0.95),
//     c-supervisor/ideal, vipa-exec/c-supervisor and vipa-exec/bare;
//   - the cost of one trapped round trip: connect(-1) to 127.0.0.1:9, which
//     the filter traps and no rule matches, so the supervisor reads the
//     address, answers "continue" and the kernel fails the call with EBADF;
//     in µs per call bare, under vipa-exec and under refsup, and trapped
//     minus bare;
//   - the start-up cost of `vipa-exec -p POLICY true`, and of the same with
//     `--supervise=parent` and with `--engine=bpf`, against `true` (target:
//     at most 5 ms over it, for either engine), and of an empty Go
//     program over `true`: the floor any Go launcher pays on the machine;
//   - the rate of calls the filter never traps (raw getpid, AF_UNIX
//     connect) with and without vipa-exec (target: no measurable
//     difference), and under a one-instruction allow-all seccomp filter:
//     the floor that any seccomp filter costs every system call, which
//     tells vipa-exec's own cost apart from the kernel's.
//
// # The C yardstick
//
// The first target ratio, 0.85, was set from a C supervisor measured on
// another machine; issue 11 set the seccomp engine's at 0.60 of the ideal,
// with a round trip at most 1.3 times the C yardstick's, since on a small
// virtual machine the kernel's own work for a trapped call (two context
// switches, process_vm_readv, pidfd_getfd, bind) may by itself keep any
// supervisor well below 0.85 of the ideal rate. So every run also
// measures csrc/refsup.c, a minimal seccomp-notify supervisor in C that
// makes the same system calls per connect as vipa-exec (with synchronous
// wake-up) and nothing else, interleaved with the other cases:
// c-supervisor/ideal is roughly what this machine allows such a supervisor,
// and vipa-exec/c-supervisor is what vipa-exec adds to it.
//
// # Fair measurement
//
// Every TCP run gets a fresh network namespace (ip netns add, deleted after
// the run) holding the server address 10.1.2.3/32 and the VIPA 192.0.2.10/32
// on lo, so no TIME_WAIT state carries from one run into the next. The
// client closes first, as real clients do; the server, a goroutine per
// connection in this process, reads until EOF and then closes. Cases run
// interleaved (A B C ..., A B C ..., ...) so drift in the machine's speed
// hits every case alike, and medians are reported. The client times its own
// loop with CLOCK_MONOTONIC, so process start-up is not in the rates.
//
// # Checked, not trusted
//
// The server records the source address of every connection it accepts; a
// run of the ideal, vipa-exec or c-supervisor cases that shows any source
// other than the VIPA fails the bench, because a fast number from a wrapper that did not
// rewrite anything is worse than no number. A connection whose server side
// never sees EOF after the client exited also fails the run: it means some
// process (the supervisor) still holds a duplicate of the client's socket.
// The trapped loop fails unless every call ends in EBADF, so a supervisor
// that answered with an error of its own cannot pass for a fast one.
//
// A difference between non-trapped rates counts as measured only when no
// run of one overlaps the runs of the other; a threshold on the medians
// would flag the noise of a busy machine. The load average at the start and
// the end is printed for the same reason.
//
// # Engines
//
// The bench runs as root, where --engine=auto would pick bpf, so every
// vipa-exec command line names its engine: --engine=seccomp for the
// vipa-exec cases, the trapped round trip and the calls not trapped (the
// bpf engine traps nothing), --engine=bpf for the bpf cases.
//
// A summary at the end judges the figures issue 11 names against their
// targets: vipa-exec (seccomp)/ideal with a plain and with an RST close, the
// round trip over the C yardstick's, the start-up over `true`, and the same
// for the bpf engine: bpf/ideal with both closes (at least 0.95) and its
// start-up.
//
// The targets are printed, never enforced: the bench measures, and the
// machine it runs on decides how fast anything is.
package main
