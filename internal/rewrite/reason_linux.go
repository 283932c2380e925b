//go:build linux

package rewrite

import "fmt"

// Reason is why the handler left a call alone: the key of the left_alone
// counters. The names are part of the --status --json schema
// (docs/vipa-exec.8): add new reasons at the end, never rename one.
type Reason uint8

const (
	ReasonNone                Reason = iota // no source was chosen, and no other reason applies
	ReasonNotInet                           // the address is not IPv4 or IPv6 (AF_UNIX and friends)
	ReasonUnreadable                        // the address is unreadable (EFAULT), for the kernel to report
	ReasonCallerGone                        // the caller died or stopped waiting
	ReasonReadFailed                        // reading the address failed, on_error = "continue"
	ReasonNotInetSocket                     // the descriptor is not an IPv4 or IPv6 socket
	ReasonRewriteFailed                     // a step of the rewrite failed, on_error = "continue"
	ReasonBoundByProgram                    // the program bound the socket itself
	ReasonIPv6OnIPv4                        // IPv6 destination on an IPv4 socket
	ReasonNoRule                            // no rule matched
	ReasonPolicyKernel                      // the matching rule says policy = "kernel"
	ReasonNotWildcard                       // a bind to an address other than the wildcard
	ReasonFamilyMismatch                    // the address family differs from the socket's
	ReasonIPv6SourceIPv4                    // IPv6 source for an IPv4 socket
	ReasonWildcardNotDeferred               // a wildcard bind could not be deferred
	ReasonBoundAlready                      // the socket is bound already
	ReasonNotTCPUDP                         // a wildcard bind of a socket neither TCP nor UDP
	ReasonDeferred                          // a wildcard bind to port 0, deferred to connect
	ReasonBindFailed                        // binding the source failed, on_error = "continue"
	ReasonNoSourcePresent                   // no source of the rule is an address of the host
	ReasonNoDestination                     // a send with no destination address
	ReasonPktinfo                           // a sendmsg whose IP_PKTINFO sets the source
	ReasonNoMessage                         // a sendmmsg of no message
	NumReasons                              // the number of reasons, for tables indexed by Reason
)

// reasons name each Reason: a stable snake_case name for machines, and the
// words --status and the debug log print.
var reasons = [NumReasons]struct{ name, text string }{
	ReasonNone:                {"none", "left alone"},
	ReasonNotInet:             {"not_inet", "not an IPv4 or IPv6 address"},
	ReasonUnreadable:          {"address_unreadable", "address unreadable, for the kernel to report"},
	ReasonCallerGone:          {"caller_gone", "the caller is gone"},
	ReasonReadFailed:          {"read_failed", "read the address"},
	ReasonNotInetSocket:       {"not_inet_socket", "not an IPv4 or IPv6 socket"},
	ReasonRewriteFailed:       {"rewrite_failed", "rewrite failed"},
	ReasonBoundByProgram:      {"bound_by_program", "bound by the program"},
	ReasonIPv6OnIPv4:          {"ipv6_destination_ipv4_socket", "IPv6 destination on an IPv4 socket"},
	ReasonNoRule:              {"no_rule", "no rule"},
	ReasonPolicyKernel:        {"policy_kernel", "policy kernel"},
	ReasonNotWildcard:         {"not_wildcard", "not the wildcard address"},
	ReasonFamilyMismatch:      {"family_mismatch", "address family differs from the socket's"},
	ReasonIPv6SourceIPv4:      {"ipv6_source_ipv4_socket", "IPv6 source for an IPv4 socket"},
	ReasonWildcardNotDeferred: {"wildcard_not_deferred", "wildcard bind not deferred"},
	ReasonBoundAlready:        {"bound_already", "bound already"},
	ReasonNotTCPUDP:           {"not_tcp_udp", "wildcard bind of a socket neither TCP nor UDP"},
	ReasonDeferred:            {"deferred", "deferred: wildcard bind to port 0, source and port chosen at connect"},
	ReasonBindFailed:          {"bind_failed", "bind failed"},
	ReasonNoSourcePresent:     {"no_source_present", "no source of the rule is present"},
	ReasonNoDestination:       {"no_destination", "no destination"},
	ReasonPktinfo:             {"source_set_by_pktinfo", "source set by PKTINFO"},
	ReasonNoMessage:           {"no_message", "no message"},
}

// String is the reason's stable name, such as "no_rule".
func (r Reason) String() string {
	if r >= NumReasons {
		return fmt.Sprintf("reason%d", uint8(r))
	}
	return reasons[r].name
}

// Text is the reason in words, such as "no rule".
func (r Reason) Text() string {
	if r >= NumReasons {
		return r.String()
	}
	return reasons[r].text
}

// ReasonText is the words for the reason named name (a key of
// Snapshot.LeftAlone), or name itself if it names none.
func ReasonText(name string) string {
	for _, r := range reasons {
		if r.name == name {
			return r.text
		}
	}
	return name
}
