// Package policy decides which virtual IP address (VIPA) a trapped bind or
// connect call is bound to.
//
// A [Policy] holds the [[connect]] and [[bind]] rules of a policy file in file
// order; [Policy.Connect] and [Policy.Bind] find the rule that applies to a
// call and let the rule's [Selector] pick one of its sources. The package is
// pure Go: it knows nothing of sockets, seccomp or TOML, so any test can drive
// it (package conf builds a Policy from a file).
//
// # Matching
//
// Connect rules match on the destination address: the longest prefix wins,
// wherever the rule is in the file. Two rules with the same destination are
// rejected by [New] (the second could never match), so there are no ties to
// break. An IPv4-mapped IPv6 destination (::ffff:a.b.c.d,
// what an AF_INET6 socket uses to reach an IPv4 peer) is unmapped first and
// matched against the IPv4 rules only, so "::/0" never catches IPv4 traffic;
// the source returned is then plain IPv4 and the caller maps it back. The zone
// of a destination (fe80::1%eth0) is ignored for matching.
//
// Bind rules apply to bind() on the wildcard address and are tried in file
// order: the first whose port range contains the port and that has a source of
// the socket's family wins. For an AF_INET6 socket a rule without IPv6
// sources offers its IPv4 sources, which the caller maps to ::ffff:a.b.c.d
// (a dual-stack server listening on [::]:port then accepts IPv4 clients on the
// VIPA only).
//
// # Invariants
//
// A Policy is immutable after [New] and safe for concurrent use; the rule
// pointers it returns must be treated as read-only. New pre-splits the rules
// per address family, so Connect and Bind do not allocate: they run once per
// trapped system call. Selectors must be safe for concurrent use and must not
// allocate either.
package policy
