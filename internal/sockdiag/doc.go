// Package sockdiag counts the live sockets bound to given local addresses,
// as the kernel reports them over NETLINK_SOCK_DIAG (inet_diag): TCP and
// UDP, IPv4 and IPv6, of every process in the network namespace. The lc
// policy uses it to find the least used source.
//
// # Freshness
//
// A [Host] reads the counts when a [View] is made, and again on the first
// Count after its interval (the supervisor uses 100 ms) has passed; the
// caller that finds them stale pays for the read, concurrent callers go on
// with the previous counts. Between reads, View.Add counts the binds the
// supervisor itself makes, so its own connections are seen at once; other
// programs' sockets are seen at the next read. The kernel filters the dump
// by address (inet_diag bytecode), so a read costs a walk of the socket
// tables but returns only the sockets counted.
//
// # Counted
//
// A socket counts from the moment it is in the kernel's tables (connected,
// listening, or a bound UDP socket) until it is closed; TCP TIME_WAIT and
// half-open SYN_RECV entries do not count. IPv4 addresses count on IPv6
// sockets too, as ::ffff:a.b.c.d.
package sockdiag
