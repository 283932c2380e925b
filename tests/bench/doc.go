// Package main is the vipa-exec benchmark behind `make bench`:
//
//	go run ./tests/bench -vipa-exec bin/vipa-exec [-n 10000] [-reps 5] [-quick] [-v]
//
// It compiles csrc/client.c (gcc -O2 -static) and measures, as root:
//
//   - TCP connect-and-close over loopback in six cases: bare (the kernel
//     picks the source), ideal (the client binds the VIPA itself with
//     IP_BIND_ADDRESS_NO_PORT) and vipa-exec (the client does nothing, a
//     policy picks the VIPA), each with a plain close and with SO_LINGER
//     {1, 0}; with the ratios vipa-exec/ideal (target ≥ 0.85) and
//     vipa-exec/bare;
//   - the start-up cost of `vipa-exec -p POLICY true` against `true`;
//   - the rate of calls the filter never traps (raw getpid, AF_UNIX
//     connect) with and without vipa-exec (target: no measurable
//     difference), and under a one-instruction allow-all seccomp filter:
//     the floor that any seccomp filter costs every system call, which
//     tells vipa-exec's own cost apart from the kernel's.
//
// # Fair measurement
//
// Every TCP run gets a fresh network namespace (ip netns add, deleted after
// the run) holding the server address 10.1.2.3/32 and the VIPA 192.0.2.10/32
// on lo, so no TIME_WAIT state carries from one run into the next. The
// client closes first, as real clients do; the server, a goroutine per
// connection in this process, reads until EOF and then closes. Cases run
// interleaved (A B C D E F, A B C D E F, ...) so drift in the machine's speed
// hits every case alike, and medians are reported. The client times its own
// loop with CLOCK_MONOTONIC, so process start-up is not in the rates.
//
// # Checked, not trusted
//
// The server records the source address of every connection it accepts; a
// run of the ideal or vipa-exec cases that shows any source other than the
// VIPA fails the bench, because a fast number from a wrapper that did not
// rewrite anything is worse than no number. A connection whose server side
// never sees EOF after the client exited also fails the run: it means some
// process (the supervisor) still holds a duplicate of the client's socket.
//
// A difference between non-trapped rates counts as measured only when no
// run of one overlaps the runs of the other; a threshold on the medians
// would flag the noise of a busy machine. The load average at the start and
// the end is printed for the same reason.
//
// The targets are printed, never enforced: the bench measures, and the
// machine it runs on decides how fast anything is.
package main
