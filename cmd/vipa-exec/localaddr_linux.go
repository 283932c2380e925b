//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// ifAddr is one address of an RTM_GETADDR dump.
type ifAddr struct {
	Addr  netip.Addr
	Index uint32 // of the interface
	Flags uint32 // IFA_F_*
}

// hostAddrs reads the addresses of this host's interfaces (in the caller's
// network namespace) over rtnetlink, with the interfaces' names.
func hostAddrs() ([]hostAddr, error) {
	ifas, err := dumpAddrs()
	if err != nil {
		return nil, err
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	names := make(map[uint32]string, len(ifs))
	for _, i := range ifs {
		names[uint32(i.Index)] = i.Name
	}
	out := make([]hostAddr, len(ifas))
	for i, a := range ifas {
		name, ok := names[a.Index]
		if !ok {
			name = fmt.Sprintf("if%d", a.Index)
		}
		// Not bindable while IPv6 duplicate address detection runs, nor
		// after it failed.
		out[i] = hostAddr{Addr: a.Addr, Iface: name, Tentative: a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0}
	}
	return out, nil
}

// dumpAddrs makes an RTM_GETADDR dump.
func dumpAddrs() ([]ifAddr, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	defer unix.Close(fd)
	const seq = 1
	if err := unix.Sendto(fd, addrDumpRequest(seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("rtnetlink RTM_GETADDR: %w", err)
	}
	var out []ifAddr
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rtnetlink RTM_GETADDR: %w", err)
		}
		addrs, done, err := parseAddrMessages(buf[:n], seq)
		if err != nil {
			return nil, fmt.Errorf("rtnetlink RTM_GETADDR: %w", err)
		}
		out = append(out, addrs...)
		if done {
			return out, nil
		}
	}
}

// addrDumpRequest is an RTM_GETADDR dump request for every family.
func addrDumpRequest(seq uint32) []byte {
	b := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfAddrmsg)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.RTM_GETADDR)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(b[8:], seq)
	// struct ifaddrmsg: all zero, so family AF_UNSPEC.
	return b
}

// errNetlink is wrapped by the errors of parseAddrMessages about malformed
// messages.
var errNetlink = errors.New("malformed netlink message")

func nlAlign(n int) int { return (n + 3) &^ 3 }

// parseAddrMessages decodes one datagram of an RTM_GETADDR dump: the
// addresses it holds, and whether it ends the dump (NLMSG_DONE). Messages of
// another sequence number are skipped. Lengths are checked before anything
// is read, as in linux/netlink.h's NLMSG_OK and RTA_OK.
func parseAddrMessages(b []byte, seq uint32) (addrs []ifAddr, done bool, err error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < unix.SizeofNlMsghdr {
			return nil, false, fmt.Errorf("%w: %d bytes left, want a %d-byte header", errNetlink, len(b), unix.SizeofNlMsghdr)
		}
		l := int(ne.Uint32(b[0:]))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return nil, false, fmt.Errorf("%w: length %d of %d bytes", errNetlink, l, len(b))
		}
		typ, mseq := ne.Uint16(b[4:]), ne.Uint32(b[8:])
		body := b[unix.SizeofNlMsghdr:l]
		b = b[min(nlAlign(l), len(b)):]
		if mseq != seq {
			continue
		}
		switch typ {
		case unix.NLMSG_DONE:
			// A dump that failed half-way says so here.
			if len(body) >= 4 {
				if e := int32(ne.Uint32(body)); e < 0 {
					return nil, false, unix.Errno(-e)
				}
			}
			return addrs, true, nil
		case unix.NLMSG_ERROR:
			if len(body) < 4 {
				return nil, false, fmt.Errorf("%w: short NLMSG_ERROR", errNetlink)
			}
			if e := int32(ne.Uint32(body)); e < 0 {
				return nil, false, unix.Errno(-e)
			}
		case unix.RTM_NEWADDR:
			a, ok, err := parseIfAddr(body)
			if err != nil {
				return nil, false, err
			}
			if ok {
				addrs = append(addrs, a)
			}
		}
	}
	return addrs, false, nil
}

// parseIfAddr decodes the body of an RTM_NEWADDR message: struct ifaddrmsg
// and its attributes. ok is false for a family other than IPv4 and IPv6.
func parseIfAddr(body []byte) (a ifAddr, ok bool, err error) {
	if len(body) < unix.SizeofIfAddrmsg {
		return a, false, fmt.Errorf("%w: RTM_NEWADDR of %d bytes", errNetlink, len(body))
	}
	ne := binary.NativeEndian
	family := body[0]
	a.Flags = uint32(body[2])
	a.Index = ne.Uint32(body[4:])
	var size int
	switch family {
	case unix.AF_INET:
		size = 4
	case unix.AF_INET6:
		size = 16
	default:
		return a, false, nil
	}
	var local, address netip.Addr
	for rest := body[unix.SizeofIfAddrmsg:]; len(rest) > 0; {
		if len(rest) < unix.SizeofRtAttr {
			return a, false, fmt.Errorf("%w: %d bytes left, want an attribute", errNetlink, len(rest))
		}
		l, typ := int(ne.Uint16(rest[0:])), ne.Uint16(rest[2:])
		if l < unix.SizeofRtAttr || l > len(rest) {
			return a, false, fmt.Errorf("%w: attribute length %d of %d bytes", errNetlink, l, len(rest))
		}
		data := rest[unix.SizeofRtAttr:l]
		rest = rest[min(nlAlign(l), len(rest)):]
		switch typ {
		case unix.IFA_LOCAL, unix.IFA_ADDRESS:
			if len(data) != size {
				return a, false, fmt.Errorf("%w: address of %d bytes for family %d", errNetlink, len(data), family)
			}
			ip, _ := netip.AddrFromSlice(data)
			if typ == unix.IFA_LOCAL {
				local = ip
			} else {
				address = ip
			}
		case unix.IFA_FLAGS:
			// The 32-bit flags; ifa_flags holds only the low 8.
			if len(data) != 4 {
				return a, false, fmt.Errorf("%w: IFA_FLAGS of %d bytes", errNetlink, len(data))
			}
			a.Flags = ne.Uint32(data)
		}
	}
	// IFA_LOCAL is the local end where IFA_ADDRESS is a point-to-point
	// peer; IPv6 sends only IFA_ADDRESS.
	a.Addr = local
	if !a.Addr.IsValid() {
		a.Addr = address
	}
	return a, a.Addr.IsValid(), nil
}
