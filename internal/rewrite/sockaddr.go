package rewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Address families and sockaddr sizes, as in <linux/socket.h> and <linux/in6.h>.
// They are spelled out here so that this file stays pure Go and builds anywhere.
const (
	AFInet  = 2
	AFInet6 = 10

	SizeofSockaddrInet4 = 16 // struct sockaddr_in
	SizeofSockaddrInet6 = 28 // struct sockaddr_in6
	// MinSockaddrInet6 is SIN6_LEN_RFC2133: the kernel takes an AF_INET6
	// address without sin6_scope_id (then 0) from bind, connect and sendto.
	MinSockaddrInet6 = 24
	// MaxSockaddr is sizeof(struct sockaddr_storage), the longest address
	// the kernel copies in (move_addr_to_kernel).
	MaxSockaddr = 128
)

// ErrNotInet reports a socket address of a family other than AF_INET or AF_INET6.
// The supervisor lets such calls run untouched.
var ErrNotInet = errors.New("not an AF_INET or AF_INET6 socket address")

// ErrShortSockaddr reports a buffer too short for the family it names.
var ErrShortSockaddr = errors.New("socket address shorter than its family requires")

// Sockaddr is a decoded AF_INET or AF_INET6 socket address.
type Sockaddr struct {
	// Family is AFInet or AFInet6: the family the caller wrote, which is not
	// always the family of Addr (an AF_INET6 address may hold ::ffff:a.b.c.d).
	Family uint16
	// Addr is the address and port exactly as written; an IPv4-mapped IPv6
	// address stays mapped, so Addr.Addr().Is4In6() tells the caller it saw one.
	Addr netip.AddrPort
	// ScopeID is sin6_scope_id (0 for AF_INET).
	ScopeID uint32
}

// Dest returns the address to match policy rules against: IPv4-mapped IPv6
// addresses are unmapped, so an AF_INET6 socket reaching an IPv4 host (as Java
// does for every IPv4 connection) matches IPv4 rules.
func (s Sockaddr) Dest() netip.Addr { return s.Addr.Addr().Unmap() }

// IsWildcard reports whether the address is 0.0.0.0, :: or ::ffff:0.0.0.0.
func (s Sockaddr) IsWildcard() bool { return s.Addr.Addr().Unmap().IsUnspecified() }

// DecodeSockaddr decodes a struct sockaddr_in or sockaddr_in6 as the kernel
// receives it from bind(2) or connect(2): family in host byte order, port and
// address in network byte order. It checks the family before the length, and
// the length before reading, like the kernel's inet_bind/inet6_bind: at
// least 16 bytes for AF_INET, 24 for AF_INET6 (sin6_scope_id, in bytes
// 24..27, is 0 when they are missing), whatever follows ignored.
// b is the caller's buffer cut to its addrlen argument, or to the bytes of
// it the family needs.
func DecodeSockaddr(b []byte) (Sockaddr, error) {
	if len(b) < 2 {
		return Sockaddr{}, fmt.Errorf("%w: %d bytes", ErrShortSockaddr, len(b))
	}
	// sa_family_t is in host byte order, unlike the port and address.
	family := hostEndian.Uint16(b)
	switch family {
	case AFInet:
		if len(b) < SizeofSockaddrInet4 {
			return Sockaddr{}, fmt.Errorf("%w: AF_INET in %d bytes", ErrShortSockaddr, len(b))
		}
		port := uint16(b[2])<<8 | uint16(b[3])
		addr := netip.AddrFrom4([4]byte(b[4:8]))
		return Sockaddr{Family: AFInet, Addr: netip.AddrPortFrom(addr, port)}, nil
	case AFInet6:
		if len(b) < MinSockaddrInet6 {
			return Sockaddr{}, fmt.Errorf("%w: AF_INET6 in %d bytes", ErrShortSockaddr, len(b))
		}
		port := uint16(b[2])<<8 | uint16(b[3])
		// b[4:8] is sin6_flowinfo, irrelevant to source selection.
		addr := netip.AddrFrom16([16]byte(b[8:24]))
		sa := Sockaddr{Family: AFInet6, Addr: netip.AddrPortFrom(addr, port)}
		if len(b) >= SizeofSockaddrInet6 {
			sa.ScopeID = hostEndian.Uint32(b[24:28])
		}
		return sa, nil
	default:
		return Sockaddr{}, fmt.Errorf("%w: family %d", ErrNotInet, family)
	}
}

// EncodeSockaddr writes ap as a sockaddr of the given family into buf and
// returns the used length. For AFInet6 an IPv4 address is written IPv4-mapped
// (::ffff:a.b.c.d), which is how an AF_INET6 socket binds an IPv4 source.
// For AFInet, ap must hold an IPv4 (or IPv4-mapped) address.
func EncodeSockaddr(buf *[SizeofSockaddrInet6]byte, family uint16, ap netip.AddrPort) (int, error) {
	*buf = [SizeofSockaddrInet6]byte{}
	hostEndian.PutUint16(buf[0:2], family)
	buf[2] = byte(ap.Port() >> 8)
	buf[3] = byte(ap.Port())
	addr := ap.Addr()
	switch family {
	case AFInet:
		addr = addr.Unmap()
		if !addr.Is4() {
			return 0, fmt.Errorf("encode %s as AF_INET: not an IPv4 address", addr)
		}
		a4 := addr.As4()
		copy(buf[4:8], a4[:])
		return SizeofSockaddrInet4, nil
	case AFInet6:
		if !addr.IsValid() {
			return 0, errors.New("encode AF_INET6: invalid address")
		}
		a16 := addr.As16() // IPv4 becomes ::ffff:a.b.c.d
		copy(buf[8:24], a16[:])
		return SizeofSockaddrInet6, nil
	default:
		return 0, fmt.Errorf("encode family %d: %w", family, ErrNotInet)
	}
}

// ReplaceAddr writes a in place of the address of sockaddr b (as
// DecodeSockaddr accepts it), keeping everything else: family, port, and an
// AF_INET6 address's flow label and scope. An IPv4 address goes into an
// AF_INET6 sockaddr IPv4-mapped; an AF_INET sockaddr takes IPv4 only.
func ReplaceAddr(b []byte, a netip.Addr) error {
	sa, err := DecodeSockaddr(b)
	if err != nil {
		return err
	}
	switch {
	case sa.Family == AFInet && a.Unmap().Is4():
		a4 := a.Unmap().As4()
		copy(b[4:8], a4[:])
	case sa.Family == AFInet6 && a.IsValid():
		a16 := a.As16()
		copy(b[8:24], a16[:])
	default:
		return fmt.Errorf("replace address of family %d with %v: %w", sa.Family, a, ErrNotInet)
	}
	return nil
}

// hostEndian is the byte order of sa_family_t and sin6_scope_id.
var hostEndian = binary.NativeEndian
