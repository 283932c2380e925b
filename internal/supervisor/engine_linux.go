//go:build linux

package supervisor

import (
	"net/netip"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
)

// An engine applies the policy to the program's calls. For each call it
// matches a rule, selects a source, binds it (or writes it into the
// program's bind address) and counts what it did; the supervisor around it
// (start, serve, close) is the same whatever the engine: it reads the
// policy file and reloads it, gives the policies their state (State),
// follows the host's addresses and routes, logs the counters on SIGUSR1 and
// answers --status.
//
// seccomp (seccomp_linux.go): the launcher loads a seccomp filter
// (FilterOptions) and hands over its listener; each trapped call is matched,
// given a source and bound in this process by a rewrite.Handler, with the
// policy's own Match and Source. bpf (inkernel_linux.go): the supervisor
// loads internal/bpfengine's programs, attaches them to a cgroup it makes
// for the program (internal/cgroup) and moves the program into it before
// the program runs; it answers Called from the cgroup's members. Only the
// serves differ: seccomp's serves the listener until no process uses the
// filter, bpf's waits until the cgroup is empty. Since the programs cannot
// ask the supervisor which sources are present, watchAddrs' callback hands
// the bpf engine each new set (bpfengine's SetPresent).
type engine interface {
	// Name is the engine's --engine spelling, for --status and the logs.
	Name() string
	// Reload makes p the policy of the calls from now on, atomically; p
	// has its state attached. On an error the running policy stays.
	Reload(p *policy.Policy) error
	// Snapshot is the counters, in the schema of rewrite.Snapshot (the
	// --status JSON).
	Snapshot() rewrite.Snapshot
	// LCSockets is, for --status, the live sockets per source of p's lc
	// rules as last read from the kernel, from which the engine's next lc
	// choice starts; nil without lc rules. s is the policies' state.
	LCSockets(s *State, p *policy.Policy) map[netip.Addr]int
	// Called reports whether a process pid made a call the engine served,
	// for --status of a pid outside the program's ancestry.
	Called(pid int) bool
	// Close releases what the engine holds, after serving.
	Close() error
}
