// Package hostaddr reads the host's IP addresses over rtnetlink and follows
// them as they come and go, so that the supervisor skips sources (VIPAs) an
// administrator removed and uses them again when they are back.
//
// It uses github.com/vishvananda/netlink for the netlink sockets and the
// decoding of RTM_NEWADDR and RTM_DELADDR; this package only keeps the
// table.
//
// # Namespace
//
// Addresses are those of the caller's network namespace: the supervisor's,
// which is the one vipa-exec was started in, and so the program's unless
// the program moves itself to another.
//
// # Invariants
//
// An address is usable when some interface has it and it is neither
// tentative (IPv6 duplicate address detection runs: IFA_F_TENTATIVE) nor
// a duplicate (IFA_F_DADFAILED): the kernel refuses to bind to those. A
// [Watcher] subscribes to the address groups before it dumps the table, so
// that no change between the two is lost (a change the dump already holds
// is applied twice, which changes nothing), and dumps again when its
// socket overran (ENOBUFS ends the subscription).
package hostaddr
