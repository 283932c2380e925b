package sockdiag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// Kernel structures and constants of sock_diag and inet_diag, from
// https://github.com/torvalds/linux/blob/master/include/uapi/linux/inet_diag.h,
// .../uapi/linux/sock_diag.h and .../uapi/linux/netlink.h. They are encoded
// with encoding/binary in host byte order; addresses and ports are in
// network byte order as the kernel keeps them.

// nlMsghdr mirrors struct nlmsghdr (16 bytes).
type nlMsghdr struct {
	Len   uint32
	Type  uint16
	Flags uint16
	Seq   uint32
	Pid   uint32
}

// inetDiagSockID mirrors struct inet_diag_sockid (48 bytes).
type inetDiagSockID struct {
	SPort  [2]byte
	DPort  [2]byte
	Src    [16]byte
	Dst    [16]byte
	If     uint32
	Cookie [2]uint32
}

// inetDiagReqV2 mirrors struct inet_diag_req_v2 (56 bytes).
type inetDiagReqV2 struct {
	Family   uint8
	Protocol uint8
	Ext      uint8
	_        uint8
	States   uint32
	ID       inetDiagSockID
}

// inetDiagMsg mirrors struct inet_diag_msg (72 bytes).
type inetDiagMsg struct {
	Family  uint8
	State   uint8
	Timer   uint8
	Retrans uint8
	ID      inetDiagSockID
	Expires uint32
	RQueue  uint32
	WQueue  uint32
	UID     uint32
	Inode   uint32
}

// nlAttr mirrors struct nlattr (4 bytes).
type nlAttr struct {
	Len  uint16
	Type uint16
}

// bcOp mirrors struct inet_diag_bc_op (4 bytes): after the operation, the
// filter goes Yes bytes on if its condition held, No bytes if not. It
// accepts a socket if it lands exactly on the end.
type bcOp struct {
	Code uint8
	Yes  uint8
	No   uint16
}

// hostCond mirrors struct inet_diag_hostcond (8 bytes), followed by the
// address (4 or 16 bytes).
type hostCond struct {
	Family    uint8
	PrefixLen uint8
	_         [2]byte
	Port      int32 // -1: any
}

const (
	sizeofNlMsghdr   = 16
	sizeofReqV2      = 56
	sizeofInetDiagMs = 72
	sizeofNlAttr     = 4
	sizeofBcOp       = 4
	sizeofHostCond   = 8

	afInet  = 2
	afInet6 = 10

	ipprotoTCP = 6
	ipprotoUDP = 17

	sockDiagByFamily = 20     // SOCK_DIAG_BY_FAMILY
	nlmsgError       = 2      // NLMSG_ERROR
	nlmsgDone        = 3      // NLMSG_DONE
	nlmFRequest      = 0x1    // NLM_F_REQUEST
	nlmFDump         = 0x300  // NLM_F_DUMP
	inetDiagReqBC    = 1      // INET_DIAG_REQ_BYTECODE
	bcSCond          = 7      // INET_DIAG_BC_S_COND
	bcJmp            = 1      // INET_DIAG_BC_JMP
	maxBytecode      = 0xfff0 // nla_len is 16 bits
)

// liveStates are the TCP states (1 << TCP_*) whose sockets count: all but
// TIME_WAIT, which a closed socket leaves behind, and SYN_RECV and
// NEW_SYN_RECV, half-open requests a listener owns. UDP sockets are
// ESTABLISHED (connected) or CLOSE (not), both included.
const liveStates = 0xffffffff &^ (1<<3 | 1<<6 | 1<<12)

// ErrMessage is wrapped by the error for a reply that is not a well-formed
// sock_diag dump.
var ErrMessage = errors.New("malformed sock_diag reply")

// request encodes a dump request for the sockets of a family and protocol
// whose local address passes the filter bc (none if empty).
func request(seq uint32, family, protocol uint8, bc []byte) []byte {
	attrLen := 0
	if len(bc) > 0 {
		attrLen = sizeofNlAttr + len(bc)
	}
	var b bytes.Buffer
	write := func(v any) { _ = binary.Write(&b, binary.NativeEndian, v) } // cannot fail on a Buffer
	write(nlMsghdr{
		Len:   uint32(sizeofNlMsghdr + sizeofReqV2 + align(attrLen)),
		Type:  sockDiagByFamily,
		Flags: nlmFRequest | nlmFDump,
		Seq:   seq,
	})
	write(inetDiagReqV2{Family: family, Protocol: protocol, States: liveStates})
	if attrLen > 0 {
		write(nlAttr{Len: uint16(attrLen), Type: inetDiagReqBC})
		b.Write(bc)
		b.Write(make([]byte, align(attrLen)-attrLen))
	}
	return b.Bytes()
}

func align(n int) int { return (n + 3) &^ 3 }

// bytecode returns an inet_diag filter that accepts the sockets whose local
// address is one of addrs, IPv4 ones also as ::ffff:a.b.c.d on IPv6
// sockets; nil (no filter, every socket) for none or too many. It is
// C1 J1 C2 J2 ... Cn: a condition Ci that holds goes on to Ji, a jump to the
// end (accept); one that fails skips Ji to C(i+1); the last one, failing,
// jumps 4 bytes past the end (reject). The kernel's audit wants every
// target reachable by following Yes from the start, which this layout is.
func bytecode(addrs []netip.Addr) []byte {
	if len(addrs) == 0 {
		return nil
	}
	condLen := func(a netip.Addr) int { return sizeofBcOp + sizeofHostCond + a.BitLen()/8 }
	total := 0
	for _, a := range addrs {
		total += condLen(a) + sizeofBcOp
	}
	total -= sizeofBcOp
	if total > maxBytecode {
		return nil
	}
	var b bytes.Buffer
	write := func(v any) { _ = binary.Write(&b, binary.NativeEndian, v) }
	for i, a := range addrs {
		cl := condLen(a)
		write(bcOp{Code: bcSCond, Yes: uint8(cl), No: uint16(cl + sizeofBcOp)})
		fam := uint8(afInet)
		if a.Is6() {
			fam = afInet6
		}
		write(hostCond{Family: fam, PrefixLen: uint8(a.BitLen()), Port: -1})
		b.Write(a.AsSlice())
		if i < len(addrs)-1 {
			write(bcOp{Code: bcJmp, Yes: sizeofBcOp, No: uint16(total - b.Len())})
		}
	}
	return b.Bytes()
}

// parseDump reads one datagram of a dump reply to request seq and calls fn
// with the local address of each socket in it. done reports the end of the
// dump.
func parseDump(b []byte, seq uint32, fn func(netip.Addr)) (done bool, err error) {
	for len(b) > 0 {
		if len(b) < sizeofNlMsghdr {
			return false, fmt.Errorf("%w: %d bytes left, less than a header", ErrMessage, len(b))
		}
		var h nlMsghdr
		_ = binary.Read(bytes.NewReader(b[:sizeofNlMsghdr]), binary.NativeEndian, &h)
		if h.Len < sizeofNlMsghdr || int(h.Len) > len(b) {
			return false, fmt.Errorf("%w: message length %d with %d bytes left", ErrMessage, h.Len, len(b))
		}
		body := b[sizeofNlMsghdr:h.Len]
		b = b[min(align(int(h.Len)), len(b)):]
		if h.Seq != seq {
			continue // an answer to an earlier request that timed out
		}
		switch h.Type {
		case nlmsgDone:
			// A dump's DONE carries the dump's error, if any.
			if len(body) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(body)); e < 0 {
					return true, fmt.Errorf("sock_diag dump: %w", syscall.Errno(-e))
				}
			}
			return true, nil
		case nlmsgError:
			if len(body) < 4 {
				return false, fmt.Errorf("%w: short error message", ErrMessage)
			}
			if e := int32(binary.NativeEndian.Uint32(body)); e < 0 {
				return true, fmt.Errorf("sock_diag: %w", syscall.Errno(-e))
			}
		case sockDiagByFamily:
			if len(body) < sizeofInetDiagMs {
				return false, fmt.Errorf("%w: socket message of %d bytes", ErrMessage, len(body))
			}
			var src [16]byte
			copy(src[:], body[8:24])
			switch body[0] {
			case afInet:
				fn(netip.AddrFrom4([4]byte(src[:4])))
			case afInet6:
				fn(netip.AddrFrom16(src).Unmap())
			default:
				return false, fmt.Errorf("%w: socket of family %d", ErrMessage, body[0])
			}
		default:
			return false, fmt.Errorf("%w: message type %d", ErrMessage, h.Type)
		}
	}
	return false, nil
}
