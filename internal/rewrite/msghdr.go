package rewrite

import "net/netip"

// The parts of struct msghdr and struct cmsghdr the supervisor reads, in
// the layouts of 64-bit programs (include/linux/socket.h) and of 32-bit
// ones (struct compat_msghdr and compat_cmsghdr, include/net/compat.h).
// struct mmsghdr starts with a struct msghdr, so its first element reads
// the same. Offsets are spelled out so that this file stays pure Go.
const (
	sizeofMsghdr       = 48 // through msg_controllen
	sizeofCompatMsghdr = 24
	sizeofCmsghdr      = 16 // cmsg_len (size_t), cmsg_level, cmsg_type
	sizeofCompatCmsg   = 12

	solIP            = 0  // SOL_IP
	solIPv6          = 41 // SOL_IPV6
	ipPktinfo        = 8  // IP_PKTINFO: struct in_pktinfo
	ipv6Pktinfo      = 50 // IPV6_PKTINFO: struct in6_pktinfo
	ipv62292Pktinfo  = 2  // IPV6_2292PKTINFO, the same struct
	sizeofInPktinfo  = 12 // ipi_ifindex, ipi_spec_dst, ipi_addr
	sizeofIn6Pktinfo = 20 // ipi6_addr, ipi6_ifindex
)

// msghdr is what the supervisor needs of a struct msghdr.
type msghdr struct {
	name, namelen       uint64
	control, controllen uint64
}

// decodeMsghdr decodes the first sizeofMsghdr (or, for a 32-bit caller,
// sizeofCompatMsghdr) bytes of a struct msghdr; b must hold them.
func decodeMsghdr(b []byte, compat bool) msghdr {
	if compat {
		// name, namelen, iov, iovlen, control, controllen: 32 bits each
		w := func(i int) uint64 { return uint64(hostEndian.Uint32(b[4*i:])) }
		return msghdr{name: w(0), namelen: w(1), control: w(4), controllen: w(5)}
	}
	// name (8), namelen (4, then 4 of padding), iov (8), iovlen (8),
	// control (8), controllen (8)
	return msghdr{
		name: hostEndian.Uint64(b[0:]), namelen: uint64(hostEndian.Uint32(b[8:])),
		control: hostEndian.Uint64(b[32:]), controllen: hostEndian.Uint64(b[40:]),
	}
}

// pktinfoSource reports whether control data (msg_control, cut to what was
// read of msg_controllen) holds an IP_PKTINFO or IPV6_PKTINFO message that
// names a source address other than the wildcard: the kernel sends that
// datagram from that address (ipi_spec_dst, ipi6_addr), the program's own
// choice, like a bind of its own (TCP ignores PKTINFO: a sendmsg with
// MSG_FASTOPEN that carries one is left alone all the same). It walks the messages as the kernel's
// __cmsg_nxthdr does and stops at the first malformed one (for which the
// kernel fails the call with EINVAL).
func pktinfoSource(b []byte, compat bool) bool {
	hdr, align := sizeofCmsghdr, 8
	if compat {
		hdr, align = sizeofCompatCmsg, 4
	}
	for len(b) >= hdr {
		var n uint64
		var level, typ uint32
		if compat {
			n, level, typ = uint64(hostEndian.Uint32(b[0:])), hostEndian.Uint32(b[4:]), hostEndian.Uint32(b[8:])
		} else {
			n, level, typ = hostEndian.Uint64(b[0:]), hostEndian.Uint32(b[8:]), hostEndian.Uint32(b[12:])
		}
		if n < uint64(hdr) || n > uint64(len(b)) {
			return false
		}
		data := b[hdr:n]
		switch {
		case level == solIP && typ == ipPktinfo && len(data) >= sizeofInPktinfo:
			if !netip.AddrFrom4([4]byte(data[4:8])).IsUnspecified() {
				return true
			}
		case level == solIPv6 && (typ == ipv6Pktinfo || typ == ipv62292Pktinfo) && len(data) >= sizeofIn6Pktinfo:
			if !netip.AddrFrom16([16]byte(data[0:16])).IsUnspecified() {
				return true
			}
		}
		next := (n + uint64(align) - 1) &^ uint64(align-1)
		if next >= uint64(len(b)) {
			return false
		}
		b = b[next:]
	}
	return false
}
