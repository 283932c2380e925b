package sockdiag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

var diff = testutil.Diff

// The structures must have the kernel's sizes, or every offset after them is
// wrong.
func TestSizes(t *testing.T) {
	for _, tt := range []struct {
		name string
		v    any
		want int
	}{
		{"nlmsghdr", nlMsghdr{}, sizeofNlMsghdr},
		{"inet_diag_sockid", inetDiagSockID{}, 48},
		{"inet_diag_req_v2", inetDiagReqV2{}, sizeofReqV2},
		{"inet_diag_msg", inetDiagMsg{}, sizeofInetDiagMs},
		{"nlattr", nlAttr{}, sizeofNlAttr},
		{"inet_diag_bc_op", bcOp{}, sizeofBcOp},
		{"inet_diag_hostcond", hostCond{}, sizeofHostCond},
	} {
		if got := binary.Size(tt.v); got != tt.want {
			t.Errorf("struct %s: %d bytes, want %d", tt.name, got, tt.want)
		}
	}
}

func TestRequest(t *testing.T) {
	bc := bytecode([]netip.Addr{netip.MustParseAddr("192.0.2.1")})
	req := request(7, afInet6, ipprotoUDP, bc)
	var h nlMsghdr
	var r inetDiagReqV2
	var a nlAttr
	rd := bytes.NewReader(req)
	_ = binary.Read(rd, binary.NativeEndian, &h)
	_ = binary.Read(rd, binary.NativeEndian, &r)
	_ = binary.Read(rd, binary.NativeEndian, &a)
	type got struct {
		Len, Seq           uint32
		Type, Flags        uint16
		Family, Proto      uint8
		States             uint32
		AttrLen, AttrType  uint16
		Bytecode, TotalLen int
	}
	want := got{uint32(len(req)), 7, sockDiagByFamily, nlmFRequest | nlmFDump, afInet6, ipprotoUDP, liveStates, uint16(4 + len(bc)), inetDiagReqBC, len(bc), 16 + 56 + 4 + len(bc)}
	have := got{h.Len, h.Seq, h.Type, h.Flags, r.Family, r.Protocol, r.States, a.Len, a.Type, rd.Len(), len(req)}
	if d := diff(want, have); d != "" {
		t.Errorf("request (-want +got):\n%s", d)
	}
	if noBC := request(1, afInet, ipprotoTCP, nil); len(noBC) != 16+56 {
		t.Errorf("request without filter: %d bytes, want 72", len(noBC))
	}
}

// The kernel's inet_diag_bc_audit and inet_diag_bc_run (net/ipv4/inet_diag.c),
// for the operations bytecode uses, so that filters are checked without a
// kernel.
func audit(bc []byte) error {
	validCC := func(l, cc int) bool {
		for l >= 0 {
			if cc > l {
				return false
			}
			if cc == l {
				return true
			}
			yes := int(bc[len(bc)-l+1])
			if yes < 4 || yes&3 != 0 {
				return false
			}
			l -= yes
		}
		return false
	}
	l := len(bc)
	if l < 4 {
		return errors.New("short")
	}
	for l > 0 {
		op := bc[len(bc)-l:]
		if len(op) < 4 {
			return errors.New("op past the end")
		}
		code, yes, no := op[0], int(op[1]), int(binary.NativeEndian.Uint16(op[2:]))
		minLen := 4
		switch code {
		case bcSCond:
			minLen += sizeofHostCond
			if l < minLen {
				return errors.New("short hostcond")
			}
			fam, plen := op[4], int(op[5])
			switch fam {
			case afInet:
				minLen += 4
			case afInet6:
				minLen += 16
			default:
				return fmt.Errorf("family %d", fam)
			}
			if l < minLen || plen > (minLen-12)*8 {
				return errors.New("bad hostcond")
			}
		case bcJmp:
		default:
			return fmt.Errorf("code %d", code)
		}
		if no < minLen || no > l+4 || no&3 != 0 {
			return fmt.Errorf("no %d at %d", no, len(bc)-l)
		}
		if no < l && !validCC(len(bc), l-no) {
			return fmt.Errorf("no %d at %d: target not on the yes chain", no, len(bc)-l)
		}
		if yes < minLen || yes > l+4 || yes&3 != 0 {
			return fmt.Errorf("yes %d at %d", yes, len(bc)-l)
		}
		l -= yes
	}
	if l != 0 {
		return errors.New("does not end on the end")
	}
	return nil
}

func run(bc []byte, family uint8, saddr [16]byte) bool {
	l := len(bc)
	for l > 0 {
		op := bc[len(bc)-l:]
		yes := true
		switch op[0] {
		case bcJmp:
			yes = false
		case bcSCond:
			fam, plen := op[4], int(op[5])
			addr := op[12:]
			if fam != family {
				yes = family == afInet6 && fam == afInet &&
					bytes.Equal(saddr[:12], []byte{10: 0xff, 11: 0xff}) && prefixMatch(saddr[12:16], addr, plen)
				break
			}
			yes = plen == 0 || prefixMatch(saddr[:], addr, plen)
		}
		if yes {
			l -= int(op[1])
		} else {
			l -= int(binary.NativeEndian.Uint16(op[2:]))
		}
	}
	return l == 0
}

func prefixMatch(a, b []byte, bits int) bool {
	full := bits / 8
	if !bytes.Equal(a[:full], b[:full]) {
		return false
	}
	if r := bits % 8; r != 0 {
		mask := byte(0xff << (8 - r))
		return a[full]&mask == b[full]&mask
	}
	return true
}

// sock returns the family and sk_rcv_saddr the kernel shows the filter for
// a socket bound to a (on an AF_INET6 socket if v6).
func sock(a netip.Addr, v6 bool) (uint8, [16]byte) {
	var s [16]byte
	if !v6 && a.Is4() {
		b := a.As4()
		copy(s[:], b[:])
		return afInet, s
	}
	return afInet6, netip.AddrFrom16(a.As16()).As16()
}

func TestBytecode(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	v6a := netip.MustParseAddr("2001:db8::1")
	any4 := netip.IPv4Unspecified()
	for _, list := range [][]netip.Addr{{v4a}, {v6a}, {v4a, v6a, v4b}, {any4, v6a}} {
		bc := bytecode(list)
		if err := audit(bc); err != nil {
			t.Fatalf("bytecode(%v) fails the kernel's audit: %v", list, err)
		}
		for _, a := range []netip.Addr{v4a, v4b, v6a, any4, netip.IPv6Unspecified(), netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("2001:db8::2")} {
			for _, v6 := range []bool{false, true} {
				if !a.Is4() && !v6 {
					continue
				}
				fam, s := sock(a, v6)
				want := slices.Contains(list, a)
				if got := run(bc, fam, s); got != want {
					t.Errorf("filter %v on a socket bound to %v (AF_INET6 %v): accepts %v, want %v", list, a, v6, got, want)
				}
			}
		}
	}
	if bc := bytecode(nil); bc != nil {
		t.Errorf("bytecode(nil) = %v, want no filter", bc)
	}
	many := make([]netip.Addr, 3000)
	for i := range many {
		many[i] = netip.AddrFrom16([16]byte{0x20, 1, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
	}
	if bc := bytecode(many); bc != nil {
		t.Errorf("bytecode of %d addresses is %d bytes, more than an attribute holds; want no filter", len(many), len(bc))
	}
}

func FuzzBytecode(f *testing.F) {
	f.Add([]byte{1, 192, 0, 2, 1}, []byte{192, 0, 2, 1}, false)
	f.Add([]byte{1, 192, 0, 2, 1, 2, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{192, 0, 2, 1}, true)
	f.Fuzz(func(t *testing.T, list, sockAddr []byte, v6 bool) {
		var addrs []netip.Addr
		for len(list) > 0 && len(addrs) < 64 {
			n := 4
			if list[0]&1 == 0 {
				n = 16
			}
			list = list[1:]
			if len(list) < n {
				break
			}
			a, _ := netip.AddrFromSlice(list[:n])
			list = list[n:]
			if !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
		bc := bytecode(addrs)
		if len(addrs) == 0 {
			if bc != nil {
				t.Fatal("filter for no addresses")
			}
			return
		}
		if err := audit(bc); err != nil {
			t.Fatalf("bytecode(%v) fails the kernel's audit: %v", addrs, err)
		}
		a := netip.IPv4Unspecified()
		if len(sockAddr) >= 16 {
			a = netip.AddrFrom16([16]byte(sockAddr[:16])).Unmap()
		} else if len(sockAddr) >= 4 {
			a = netip.AddrFrom4([4]byte(sockAddr[:4]))
		}
		if a.Is6() {
			v6 = true
		}
		fam, s := sock(a, v6)
		if got, want := run(bc, fam, s), slices.Contains(addrs, a); got != want {
			t.Fatalf("filter %v on a socket bound to %v (AF_INET6 %v): accepts %v, want %v", addrs, a, v6, got, want)
		}
	})
}

// reply encodes netlink messages as the kernel sends them.
type msg struct {
	typ  uint16
	seq  uint32
	body []byte
}

func reply(msgs ...msg) []byte {
	var b bytes.Buffer
	for _, m := range msgs {
		_ = binary.Write(&b, binary.NativeEndian, nlMsghdr{Len: uint32(16 + len(m.body)), Type: m.typ, Seq: m.seq})
		b.Write(m.body)
		b.Write(make([]byte, align(len(m.body))-len(m.body)))
	}
	return b.Bytes()
}

func diagMsg(a netip.Addr, v6 bool) []byte {
	var m inetDiagMsg
	m.Family, m.ID.Src = sock(a, v6)
	var b bytes.Buffer
	_ = binary.Write(&b, binary.NativeEndian, m)
	return b.Bytes()
}

func errBody(errno int32) []byte {
	return binary.NativeEndian.AppendUint32(make([]byte, 0, 20), uint32(-errno))
}

func TestParseDump(t *testing.T) {
	a4, a6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name  string
		in    []byte
		addrs []netip.Addr
		done  bool
		err   error
	}{
		{
			name:  "sockets then done",
			in:    reply(msg{sockDiagByFamily, 5, diagMsg(a4, false)}, msg{sockDiagByFamily, 5, diagMsg(a6, true)}, msg{sockDiagByFamily, 5, diagMsg(a4, true)}, msg{nlmsgDone, 5, errBody(0)}),
			addrs: []netip.Addr{a4, a6, a4},
			done:  true,
		},
		{
			name:  "more to come",
			in:    reply(msg{sockDiagByFamily, 5, diagMsg(a4, false)}),
			addrs: []netip.Addr{a4},
		},
		{
			name:  "another request's answer is skipped",
			in:    reply(msg{sockDiagByFamily, 4, diagMsg(a6, true)}, msg{nlmsgDone, 4, errBody(0)}, msg{sockDiagByFamily, 5, diagMsg(a4, false)}),
			addrs: []netip.Addr{a4},
		},
		{
			name: "error",
			in:   reply(msg{nlmsgError, 5, errBody(int32(syscall.EINVAL))}),
			done: true, err: syscall.EINVAL,
		},
		{
			name: "dump ended by an error",
			in:   reply(msg{nlmsgDone, 5, errBody(int32(syscall.ENOBUFS))}),
			done: true, err: syscall.ENOBUFS,
		},
		{
			name: "length past the end",
			in:   reply(msg{sockDiagByFamily, 5, diagMsg(a4, false)})[:50],
			err:  ErrMessage,
		},
		{
			name: "length below a header",
			in:   binary.NativeEndian.AppendUint32(make([]byte, 0, 16), 8),
			err:  ErrMessage,
		},
		{
			name: "short socket message",
			in:   reply(msg{sockDiagByFamily, 5, make([]byte, 40)}),
			err:  ErrMessage,
		},
		{
			name: "unknown type",
			in:   reply(msg{99, 5, nil}),
			err:  ErrMessage,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []netip.Addr
			done, err := parseDump(tt.in, 5, func(a netip.Addr) { got = append(got, a) })
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("parseDump() error = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if done != tt.done {
				t.Errorf("done = %v, want %v", done, tt.done)
			}
			if d := diff(tt.addrs, got); d != "" {
				t.Errorf("sockets (-want +got):\n%s", d)
			}
		})
	}
}

func FuzzParseDump(f *testing.F) {
	a4 := netip.MustParseAddr("192.0.2.1")
	f.Add(reply(msg{sockDiagByFamily, 5, diagMsg(a4, false)}, msg{nlmsgDone, 5, errBody(0)}))
	f.Add(reply(msg{nlmsgError, 5, errBody(22)}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		_, err := parseDump(b, 5, func(netip.Addr) { n++ })
		if n*(sizeofNlMsghdr+sizeofInetDiagMs) > len(b) {
			t.Fatalf("%d sockets from %d bytes", n, len(b))
		}
		if err != nil && !errors.Is(err, ErrMessage) {
			var errno syscall.Errno
			if !errors.As(err, &errno) {
				t.Fatalf("error %v is neither ErrMessage nor an errno", err)
			}
		}
	})
}
