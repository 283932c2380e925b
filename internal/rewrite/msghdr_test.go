package rewrite

import (
	"net/netip"
	"testing"
)

// cmsg encodes one control message in the 64-bit or the compat layout,
// padded to the next one's alignment.
func cmsg(compat bool, level, typ uint32, data []byte) []byte {
	hdr, align := sizeofCmsghdr, 8
	if compat {
		hdr, align = sizeofCompatCmsg, 4
	}
	n := hdr + len(data)
	b := make([]byte, (n+align-1)&^(align-1))
	if compat {
		hostEndian.PutUint32(b[0:], uint32(n))
		hostEndian.PutUint32(b[4:], level)
		hostEndian.PutUint32(b[8:], typ)
	} else {
		hostEndian.PutUint64(b[0:], uint64(n))
		hostEndian.PutUint32(b[8:], level)
		hostEndian.PutUint32(b[12:], typ)
	}
	copy(b[hdr:], data)
	return b
}

func inPktinfo(ifindex uint32, specDst string) []byte {
	b := make([]byte, sizeofInPktinfo)
	hostEndian.PutUint32(b, ifindex)
	a := netip.MustParseAddr(specDst).As4()
	copy(b[4:8], a[:])
	return b
}

func in6Pktinfo(addr string, ifindex uint32) []byte {
	b := make([]byte, sizeofIn6Pktinfo)
	a := netip.MustParseAddr(addr).As16()
	copy(b, a[:])
	hostEndian.PutUint32(b[16:], ifindex)
	return b
}

func TestPktinfoSource(t *testing.T) {
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	for _, compat := range []bool{false, true} {
		rights := cmsg(compat, 1, 1, make([]byte, 4)) // SOL_SOCKET, SCM_RIGHTS
		tests := []struct {
			name string
			b    []byte
			want bool
		}{
			{"none", nil, false},
			{"IP_PKTINFO with a source", cmsg(compat, solIP, ipPktinfo, inPktinfo(0, "192.0.2.11")), true},
			{"IP_PKTINFO, interface only", cmsg(compat, solIP, ipPktinfo, inPktinfo(2, "0.0.0.0")), false},
			{"IPV6_PKTINFO with a source", cmsg(compat, solIPv6, ipv6Pktinfo, in6Pktinfo("2001:db8:2::11", 0)), true},
			{"IPV6_2292PKTINFO with a source", cmsg(compat, solIPv6, ipv62292Pktinfo, in6Pktinfo("2001:db8:2::11", 0)), true},
			{"IPV6_PKTINFO, interface only", cmsg(compat, solIPv6, ipv6Pktinfo, in6Pktinfo("::", 3)), false},
			{"after another message", cat(rights, cmsg(compat, solIP, ipPktinfo, inPktinfo(0, "192.0.2.11"))), true},
			{"other messages only", cat(rights, cmsg(compat, solIP, 1, make([]byte, 4))), false},
			{"IP_PKTINFO too short", cmsg(compat, solIP, ipPktinfo, make([]byte, 8)), false},
			{"cut short", cmsg(compat, solIP, ipPktinfo, inPktinfo(0, "192.0.2.11"))[:sizeofCmsghdr], false},
			{"cmsg_len below the header", func() []byte {
				b := cmsg(compat, solIP, ipPktinfo, inPktinfo(0, "192.0.2.11"))
				b[0] = 4
				return b
			}(), false},
		}
		for _, tt := range tests {
			name := tt.name
			if compat {
				name += " (compat)"
			}
			if got := pktinfoSource(tt.b, compat); got != tt.want {
				t.Errorf("%s: got %v, want %v", name, got, tt.want)
			}
		}
	}
}

func TestDecodeMsghdr(t *testing.T) {
	b := make([]byte, sizeofMsghdr)
	hostEndian.PutUint64(b[0:], 0x7fff_0000_1000)
	hostEndian.PutUint32(b[8:], 28)
	hostEndian.PutUint32(b[12:], 0xdead) // padding
	hostEndian.PutUint64(b[16:], 0x2000) // iov
	hostEndian.PutUint64(b[24:], 1)      // iovlen
	hostEndian.PutUint64(b[32:], 0x3000)
	hostEndian.PutUint64(b[40:], 32)
	if got, want := decodeMsghdr(b, false), (msghdr{0x7fff_0000_1000, 28, 0x3000, 32}); got != want {
		t.Errorf("64-bit: got %+v, want %+v", got, want)
	}
	c := make([]byte, sizeofCompatMsghdr)
	for i, w := range []uint32{0x1000, 16, 0x2000, 1, 0x3000, 20} {
		hostEndian.PutUint32(c[4*i:], w)
	}
	if got, want := decodeMsghdr(c, true), (msghdr{0x1000, 16, 0x3000, 20}); got != want {
		t.Errorf("compat: got %+v, want %+v", got, want)
	}
}

// FuzzPktinfoSource: any control data, never a panic.
func FuzzPktinfoSource(f *testing.F) {
	f.Add(cmsg(false, solIP, ipPktinfo, inPktinfo(0, "192.0.2.11")), false)
	f.Add(cmsg(true, solIPv6, ipv6Pktinfo, in6Pktinfo("2001:db8::1", 0)), true)
	f.Fuzz(func(t *testing.T, b []byte, compat bool) {
		pktinfoSource(b, compat)
	})
}
