package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strconv"
	"strings"
)

// Errors wrapped by [New] (inside a [*RuleError]) and by the Check and Parse
// functions that it shares with package conf.
var (
	ErrInvalidDestination   = errors.New("invalid destination")
	ErrDuplicateDestination = errors.New("duplicate destination")
	ErrDuplicateInterface   = errors.New("duplicate interface")
	ErrNoSources            = errors.New("no sources")
	ErrInvalidSource        = errors.New("invalid source")
	ErrDuplicateSource      = errors.New("duplicate source")
	ErrFamilyMismatch       = errors.New("family mismatch")
	ErrInvalidPorts         = errors.New("invalid ports")
	ErrInvalidOnError       = errors.New("invalid on_error")
	ErrInvalidProtocol      = errors.New("invalid protocol")
	ErrInvalidRRMode        = errors.New("invalid rr_mode")
)

// OnError says what happens to a call when binding its socket to the chosen
// source fails.
type OnError uint8

const (
	OnErrorContinue OnError = iota // log a warning, let the original call run unchanged
	OnErrorFail                    // return the bind errno to the program
)

// String returns the policy file spelling.
func (o OnError) String() string {
	switch o {
	case OnErrorContinue:
		return "continue"
	case OnErrorFail:
		return "fail"
	}
	return "OnError(" + strconv.Itoa(int(o)) + ")"
}

// ParseOnError parses the policy file spelling of an [OnError].
func ParseOnError(s string) (OnError, error) {
	switch s {
	case "continue":
		return OnErrorContinue, nil
	case "fail":
		return OnErrorFail, nil
	}
	return 0, fmt.Errorf("%w %q (valid: continue, fail)", ErrInvalidOnError, s)
}

// PortRange is an inclusive range of ports; Lo == Hi is a single port.
type PortRange struct{ Lo, Hi uint16 }

// Contains reports whether p is in r.
func (r PortRange) Contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

// AllPorts is every port, what a [ConnectRule] without Ports matches.
var AllPorts = PortRange{0, 65535}

// orAll is r, or AllPorts for the zero PortRange: the Ports of a
// [ConnectRule] that names none. No connect rule can name port 0 alone: it is
// no destination port.
func (r PortRange) orAll() PortRange {
	if r == (PortRange{}) {
		return AllPorts
	}
	return r
}

// covers reports whether every port of o is in r.
func (r PortRange) covers(o PortRange) bool { return r.Lo <= o.Lo && o.Hi <= r.Hi }

// String returns "80" or "6000-6999", the form [ParsePortRange] reads.
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
}

// ParsePortRange parses "PORT" or "LO-HI" (decimal, 0 to 65535, LO <= HI).
// Port 0 is allowed: bind() then picks an ephemeral port.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	l, err := parsePort(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("%w %q: %w", ErrInvalidPorts, s, err)
	}
	h, err := parsePort(hi)
	if err != nil {
		return PortRange{}, fmt.Errorf("%w %q: %w", ErrInvalidPorts, s, err)
	}
	r := PortRange{Lo: l, Hi: h}
	if err := r.check(); err != nil {
		return PortRange{}, err
	}
	return r, nil
}

// parsePort returns a plain reason, not an error chain: the caller wraps it
// in ErrInvalidPorts once.
func parsePort(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New(`want a port or a range LO-HI, like "80" or "6000-6999"`)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %s out of range 0-65535", s)
	}
	return uint16(n), nil
}

func (r PortRange) check() error {
	if r.Lo > r.Hi {
		return fmt.Errorf("%w %q: reversed range; write %d-%d", ErrInvalidPorts, r.String(), r.Hi, r.Lo)
	}
	return nil
}

// Protocol is the transport protocol a [ConnectRule] applies to, or that of
// a call.
type Protocol uint8

const (
	// AnyProtocol in a rule matches every call. As the protocol of a call
	// it means neither TCP nor UDP (SCTP, raw sockets, ...), or not looked
	// at: [Policy.UsesProtocol] says when looking is needed.
	AnyProtocol Protocol = iota
	TCP                  // SOCK_STREAM sockets of IPPROTO_TCP or IPPROTO_MPTCP
	UDP                  // IPPROTO_UDP
)

// String returns the policy file spelling, "tcp" or "udp"; "any" for
// AnyProtocol.
func (p Protocol) String() string {
	switch p {
	case AnyProtocol:
		return "any"
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return "Protocol(" + strconv.Itoa(int(p)) + ")"
}

// ParseProtocol parses the policy file spelling of a [Protocol]: "tcp" or
// "udp". A rule for every protocol leaves the key out.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	}
	return 0, fmt.Errorf("%w %q (valid: tcp, udp)", ErrInvalidProtocol, s)
}

// DefaultRRMode is the rr_mode of an rr rule that sets none: the shared
// state is the file owner's alone.
const DefaultRRMode fs.FileMode = 0o600

// ParseRRMode parses rr_mode, octal permissions like "0600" or "660"
// (src_vipa's rr:ABC): the mode of the state that rr rules share between
// vipa-exec instances.
func ParseRRMode(s string) (fs.FileMode, error) {
	if s == "" || len(s) > 4 || strings.Trim(s, "01234567") != "" {
		return 0, fmt.Errorf("%w %q: want octal permissions like \"0600\" or \"0660\"", ErrInvalidRRMode, s)
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("%w %q: %w", ErrInvalidRRMode, s, err)
	}
	mode := fs.FileMode(m)
	if err := CheckRRMode(mode); err != nil {
		return 0, err
	}
	return mode, nil
}

// CheckRRMode reports whether mode can be the mode of rr state: permission
// bits only, and read and write for the owner, without which the instance
// that creates the state could not share it with itself.
func CheckRRMode(mode fs.FileMode) error {
	if mode&^fs.ModePerm != 0 {
		return fmt.Errorf("%w %04o: only permission bits (0000-0777) are allowed", ErrInvalidRRMode, uint32(mode))
	}
	if mode&0o600 != 0o600 {
		return fmt.Errorf("%w %04o: the owner needs read and write permission (0600)", ErrInvalidRRMode, uint32(mode))
	}
	return nil
}

// CheckDestination reports whether p can be the destination of a connect
// rule: a valid prefix without host bits, and IPv4 ones written as IPv4.
func CheckDestination(p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("%w: not a valid prefix", ErrInvalidDestination)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		// Such a rule could never match: destinations are unmapped first.
		v4 := netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
		return fmt.Errorf("%w: %s is IPv4-mapped; write %s (IPv4 rules also match IPv4-mapped destinations)", ErrInvalidDestination, p, v4)
	}
	if m := p.Masked(); m != p {
		return fmt.Errorf("%w: %s has host bits set; did you mean %s?", ErrInvalidDestination, p, m)
	}
	return nil
}

// CheckSource reports whether a can be a source (a VIPA) of any rule: a
// unicast address the supervisor can bind a socket to without further
// context.
func CheckSource(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return fmt.Errorf("%w: not an IP address", ErrInvalidSource)
	case a.Zone() != "":
		return fmt.Errorf("%w: %s has a zone; sources must be addresses without %%zone", ErrInvalidSource, a)
	case a.Is4In6():
		// The caller maps IPv4 sources itself where the socket needs it.
		return fmt.Errorf("%w: %s is IPv4-mapped; write %s", ErrInvalidSource, a, a.Unmap())
	case a.IsUnspecified():
		return fmt.Errorf("%w: %s is the unspecified address", ErrInvalidSource, a)
	case a.IsMulticast():
		return fmt.Errorf("%w: %s is a multicast address", ErrInvalidSource, a)
	case a.Is6() && a.IsLinkLocalUnicast():
		// bind() needs a scope id for it, which a rule cannot give.
		return fmt.Errorf("%w: %s is IPv6 link-local; use a global or unique-local address", ErrInvalidSource, a)
	}
	return nil
}

// CheckBindSource is [CheckSource] for the sources of a bind rule, which may
// also be the unspecified address (0.0.0.0 or ::): the bind then stays on
// the wildcard, as src_vipa.conf's ".INADDR_ANY P POLICY 0.0.0.0" says.
func CheckBindSource(a netip.Addr) error {
	if a.IsUnspecified() && a.Zone() == "" {
		return nil
	}
	return CheckSource(a)
}

// CheckConnectSource is [CheckSource] plus the rule that the sources of a
// connect rule have the family of its destination.
func CheckConnectSource(dst netip.Prefix, a netip.Addr) error {
	if err := CheckSource(a); err != nil {
		return err
	}
	if d := dst.Addr(); d.IsValid() && a.Is4() != d.Is4() {
		return fmt.Errorf("%w: source %s is %s but destination %s is %s", ErrFamilyMismatch, a, family(a), dst, family(d))
	}
	return nil
}

// ErrInvalidInterface is wrapped by the error of [CheckInterfaceName].
var ErrInvalidInterface = errors.New("invalid interface name")

// CheckInterfaceName reports whether name can name a network interface, by
// the kernel's rules (dev_valid_name): 1 to 15 bytes, not "." or "..", no
// '/', ':' or white space. Whether such an interface exists is another
// matter: interfaces come and go.
func CheckInterfaceName(name string) error {
	const ifNameSize = 16 // IFNAMSIZ, with the terminating NUL
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidInterface)
	case len(name) >= ifNameSize:
		return fmt.Errorf("%w %q: longer than %d bytes", ErrInvalidInterface, name, ifNameSize-1)
	case name == "." || name == "..":
		return fmt.Errorf("%w %q", ErrInvalidInterface, name)
	case strings.ContainsAny(name, "/: \t\n\v\f\r\x00"):
		return fmt.Errorf("%w %q: no '/', ':', white space or NUL", ErrInvalidInterface, name)
	}
	return nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// ConnectRule is one [[connect]] rule, or, with Interface set, one
// [[interface]] rule: a rule for the connections the kernel routes out of
// that interface, which no [[connect]] rule matches.
type ConnectRule struct {
	Interface   string       // an [[interface]] rule's interface name; "" for a [[connect]] rule
	Destination netip.Prefix // masked; IPv4 prefixes are plain IPv4, never 4in6; none for an [[interface]] rule
	Ports       PortRange    // destination ports; the zero PortRange means every port
	Protocol    Protocol     // AnyProtocol, TCP or UDP
	Sources     []netip.Addr // all of Destination's family (an [[interface]] rule's may mix); may be empty for policy kernel
	Policy      string       // selector name; "" means onevipa
	Selector    Selector     // nil: the selector of Policy
	RRMode      fs.FileMode  // policy rr only: mode of the shared state; 0 means DefaultRRMode
	OnError     OnError
	Origin      string // "FILE:LINE" of the rule's [[connect]] header, for logs
}

// BindRule is one [[bind]] rule.
type BindRule struct {
	Ports    PortRange
	Sources  []netip.Addr // may mix IPv4 and IPv6; may be empty for policy kernel
	Policy   string       // selector name; "" means onevipa
	Selector Selector     // nil: the selector of Policy
	RRMode   fs.FileMode  // policy rr only: mode of the shared state; 0 means DefaultRRMode
	OnError  OnError
	Origin   string // "FILE:LINE" of the rule's [[bind]] header, for logs
}

// RuleError is the error of [New]: which rule, which field and which source
// (Source >= 0 for an error about one element of Sources) it is about, so
// that package conf can point at the line.
type RuleError struct {
	Kind   string // "connect", "interface" (a ConnectRule with Interface) or "bind"
	Index  int    // index of the rule in the slice given to New
	Field  string // "destination", "name", "ports", "protocol", "sources", "policy", "rr_mode" or "on_error"
	Source int    // index into Sources, or -1
	Err    error
}

func (e *RuleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s rule %d: %s", e.Kind, e.Index, e.Field)
	if e.Source >= 0 {
		fmt.Fprintf(&b, "[%d]", e.Source)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *RuleError) Unwrap() error { return e.Err }

func checkSources(srcs []netip.Addr, check func(netip.Addr) error) (int, error) {
	if len(srcs) == 0 {
		return -1, ErrNoSources
	}
	for i, a := range srcs {
		if err := check(a); err != nil {
			return i, err
		}
		for _, b := range srcs[:i] {
			if a == b {
				return i, fmt.Errorf("%w %s", ErrDuplicateSource, a)
			}
		}
	}
	return -1, nil
}

func checkOnError(o OnError) error {
	if o > OnErrorFail {
		return fmt.Errorf("%w %s", ErrInvalidOnError, o)
	}
	return nil
}
