// Package policy decides which virtual IP address (VIPA) a trapped bind or
// connect call is bound to.
//
// A [Policy] holds the [[connect]], [[interface]] and [[bind]] rules of a policy file in file
// order; [Policy.MatchConnect] and [Policy.MatchBind] find the rule that
// applies to a call and the returned [Match] lets the rule's [Selector] pick
// one of its sources. The package is pure Go: it knows nothing of sockets,
// seccomp, files or TOML, so any test can drive it (package conf builds a
// Policy from a file; the supervisor connects it to the system with [Env]).
//
// # Matching
//
// Connect rules match on the destination address, and optionally on its
// port (Ports) and the socket's protocol (Protocol): the longest prefix
// wins, wherever the rule is in the file; among rules with the same prefix
// length, the first in the file that matches the port and protocol wins. A
// rule that an earlier rule with the same destination hides entirely (same
// or wider ports, same or any protocol) is rejected by [New]. An IPv4-mapped
// IPv6 destination (::ffff:a.b.c.d, what an AF_INET6 socket uses to reach
// an IPv4 peer) is unmapped first and matched against the IPv4 rules only,
// so "::/0" never catches IPv4 traffic; the source returned is then plain
// IPv4 and the caller maps it back. The zone of a destination (fe80::1%eth0)
// is ignored for matching.
//
// Interface rules ([ConnectRule] with an Interface) match a connect that no
// connect rule matches, by the interface the kernel routes its destination
// out of ([Env.Route]): the first in file order of that interface whose
// ports and protocol match and that has a source of the destination's
// family. A destination rule comes first because the administrator named
// the destination; policy kernel there still excludes.
//
// Bind rules apply to bind() on the wildcard address and are tried in file
// order: the first whose port range contains the port and that has a source of
// the socket's family wins. For an AF_INET6 socket a rule without IPv6
// sources offers its IPv4 sources, which the caller maps to ::ffff:a.b.c.d
// (a dual-stack server listening on [::]:port then accepts IPv4 clients on the
// VIPA only).
//
// # Policies
//
// onevipa takes the first source, random any. lrr rotates over the sources
// per process (thread group), each process from a random start; rr rotates
// once for every instance using the rule, through a [Counter] shared between
// them; lc takes the source with the fewest live sockets as a
// [SocketCounter] reports them, the earlier on a tie. kernel matches but
// picks nothing: the caller leaves the call alone, which carves exceptions
// out of wider rules.
//
// # Sources that are not there
//
// [Env.Present] tells which addresses the host has now. Every selector then
// chooses among the rule's sources that are present, as it would among all
// of them: onevipa takes the first present, rr and lrr rotate over the
// present ones, lc compares their counts. A rule with none present picks no
// source ([Match.Source] returns the zero Addr) and the caller applies its
// on_error. [Options.AbsentSources] [AbsentUse] turns this off. The
// unspecified source of a bind rule is always present.
//
// # Forgetting processes (lrr)
//
// The package cannot see processes exit. lrr therefore sweeps its table,
// asking [Env.Alive] about each process, whenever a new process would grow
// the table past twice the size the last sweep left (and at least 64): the
// table stays within about twice the processes alive, and each sweep's cost
// is spread over as many new processes. A pid reused before a sweep keeps
// the old rotation, which is as good as a random start.
//
// # Invariants
//
// A Policy is immutable after [New] and safe for concurrent use; the rule
// pointers it returns must be treated as read-only. New pre-splits the rules
// per address family, so matching does not allocate: it runs once per
// trapped system call. Selectors must be safe for concurrent use and must
// not allocate either (lrr allocates once per process; a rule's list of
// present sources is made once per change of [Env.Present]'s set). The state of lrr, rr
// and lc belongs to one Policy: [Policy.WithEnv] and a reloaded file start
// afresh, except rr's shared counters, which outlive any one instance.
package policy
