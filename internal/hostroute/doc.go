// Package hostroute answers which interface the kernel would route a
// connection to a destination out of, for the [[interface]] rules, and keeps
// the answers while the routing is unchanged.
//
// # Exact first, fast second
//
// Each answer is the kernel's own: one RTM_GETROUTE (ip route get DEST,
// through github.com/vishvananda/netlink), so that every table, metric,
// multipath choice and ip rule the kernel applies to a lookup without a
// source address, mark or user is applied here too, with no routing code of
// ours to get wrong. The answer is cached per destination; a [Table]
// subscribes to the route, rule and link groups (RTNLGRP_IPV4_ROUTE,
// RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE, RTNLGRP_LINK)
// before it answers anything, and every notification, or an overrun of its
// socket, starts a new generation: cached answers of older ones are asked
// again. A warm cache costs a read lock and a map lookup per call.
//
// # Not seen
//
// The lookup has no source address, port, mark or user: ip rules that
// select by those (from, sport, fwmark, uidrange) and routes in a VRF are
// not applied as they will be for the program's socket. Of a multipath
// route the kernel names the next hop it would choose for the destination
// alone.
//
// # Namespace
//
// Routes are those of the caller's network namespace: the supervisor's,
// which is the one vipa-exec was started in.
package hostroute
