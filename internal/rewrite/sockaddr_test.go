package rewrite

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func sa4(port uint16, a [4]byte) []byte {
	b := make([]byte, SizeofSockaddrInet4)
	hostEndian.PutUint16(b, AFInet)
	b[2], b[3] = byte(port>>8), byte(port)
	copy(b[4:], a[:])
	return b
}

func sa6(port uint16, a [16]byte, scope uint32) []byte {
	b := make([]byte, SizeofSockaddrInet6)
	hostEndian.PutUint16(b, AFInet6)
	b[2], b[3] = byte(port>>8), byte(port)
	copy(b[4:8], []byte{0xde, 0xad, 0xbe, 0xef}) // flowinfo is ignored
	copy(b[8:24], a[:])
	hostEndian.PutUint32(b[24:], scope)
	return b
}

func TestDecodeSockaddr(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1").As16()
	mapped := netip.MustParseAddr("::ffff:10.1.2.3").As16()
	unix := make([]byte, 16)
	hostEndian.PutUint16(unix, 1) // AF_UNIX
	tests := []struct {
		name    string
		in      []byte
		want    Sockaddr
		dest    string
		wild    bool
		wantErr error
	}{
		{name: "inet", in: sa4(443, [4]byte{10, 1, 2, 3}),
			want: Sockaddr{Family: AFInet, Addr: netip.MustParseAddrPort("10.1.2.3:443")}, dest: "10.1.2.3"},
		{name: "inet port byte order", in: sa4(0x1234, [4]byte{1, 2, 3, 4}),
			want: Sockaddr{Family: AFInet, Addr: netip.MustParseAddrPort("1.2.3.4:4660")}, dest: "1.2.3.4"},
		{name: "inet wildcard", in: sa4(6000, [4]byte{}),
			want: Sockaddr{Family: AFInet, Addr: netip.MustParseAddrPort("0.0.0.0:6000")}, dest: "0.0.0.0", wild: true},
		{name: "inet6", in: sa6(80, v6, 0),
			want: Sockaddr{Family: AFInet6, Addr: netip.MustParseAddrPort("[2001:db8::1]:80")}, dest: "2001:db8::1"},
		{name: "inet6 scope", in: sa6(80, v6, 7),
			want: Sockaddr{Family: AFInet6, Addr: netip.MustParseAddrPort("[2001:db8::1]:80"), ScopeID: 7}, dest: "2001:db8::1"},
		{name: "inet6 mapped stays mapped, dest unmapped", in: sa6(8080, mapped, 0),
			want: Sockaddr{Family: AFInet6, Addr: netip.MustParseAddrPort("[::ffff:10.1.2.3]:8080")}, dest: "10.1.2.3"},
		{name: "inet6 wildcard", in: sa6(6000, [16]byte{}, 0),
			want: Sockaddr{Family: AFInet6, Addr: netip.MustParseAddrPort("[::]:6000")}, dest: "::", wild: true},
		{name: "inet6 mapped wildcard", in: sa6(6000, netip.MustParseAddr("::ffff:0.0.0.0").As16(), 0),
			want: Sockaddr{Family: AFInet6, Addr: netip.MustParseAddrPort("[::ffff:0.0.0.0]:6000")}, dest: "0.0.0.0", wild: true},
		{name: "longer buffer is fine", in: append(sa4(1, [4]byte{127, 0, 0, 1}), 0, 0),
			want: Sockaddr{Family: AFInet, Addr: netip.MustParseAddrPort("127.0.0.1:1")}, dest: "127.0.0.1"},
		{name: "empty", in: nil, wantErr: ErrShortSockaddr},
		{name: "one byte", in: []byte{2}, wantErr: ErrShortSockaddr},
		{name: "inet short", in: sa4(1, [4]byte{1, 2, 3, 4})[:8], wantErr: ErrShortSockaddr},
		{name: "inet6 in 16 bytes", in: sa6(1, v6, 0)[:16], wantErr: ErrShortSockaddr},
		{name: "inet6 in 23 bytes", in: sa6(1, v6, 0)[:23], wantErr: ErrShortSockaddr},
		{name: "inet6 in 24 bytes: no scope id, which is 0", in: sa6(80, v6, 7)[:24],
			want: Sockaddr{Family: AFInet6, Addr: netip.MustParseAddrPort("[2001:db8::1]:80")}, dest: "2001:db8::1"},
		{name: "inet6 in 27 bytes: no scope id", in: sa6(80, v6, 7)[:27],
			want: Sockaddr{Family: AFInet6, Addr: netip.MustParseAddrPort("[2001:db8::1]:80")}, dest: "2001:db8::1"},
		{name: "inet6 in sockaddr_storage", in: append(sa6(80, v6, 7), make([]byte, 100)...),
			want: Sockaddr{Family: AFInet6, Addr: netip.MustParseAddrPort("[2001:db8::1]:80"), ScopeID: 7}, dest: "2001:db8::1"},
		{name: "inet in 17 bytes", in: append(sa4(1, [4]byte{10, 1, 2, 3}), 9),
			want: Sockaddr{Family: AFInet, Addr: netip.MustParseAddrPort("10.1.2.3:1")}, dest: "10.1.2.3"},
		{name: "inet in 15 bytes", in: sa4(1, [4]byte{10, 1, 2, 3})[:15], wantErr: ErrShortSockaddr},
		{name: "unix", in: unix, wantErr: ErrNotInet},
		{name: "unspec", in: make([]byte, 16), wantErr: ErrNotInet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSockaddr(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error: want %v, got %v", tt.wantErr, err)
			}
			if tt.wantErr != nil {
				return
			}
			if got != tt.want {
				t.Errorf("(-want +got)\n-%+v\n+%+v", tt.want, got)
			}
			if d := got.Dest().String(); d != tt.dest {
				t.Errorf("Dest: want %s, got %s", tt.dest, d)
			}
			if got.IsWildcard() != tt.wild {
				t.Errorf("IsWildcard: want %v, got %v", tt.wild, got.IsWildcard())
			}
		})
	}
}

func TestEncodeSockaddr(t *testing.T) {
	tests := []struct {
		name    string
		family  uint16
		ap      string
		want    []byte
		wantErr bool
	}{
		{name: "inet", family: AFInet, ap: "192.0.2.10:0", want: sa4(0, [4]byte{192, 0, 2, 10})},
		{name: "inet from mapped", family: AFInet, ap: "[::ffff:192.0.2.10]:80", want: sa4(80, [4]byte{192, 0, 2, 10})},
		{name: "inet6 maps ipv4", family: AFInet6, ap: "192.0.2.10:6000",
			want: func() []byte {
				b := sa6(6000, netip.MustParseAddr("::ffff:192.0.2.10").As16(), 0)
				copy(b[4:8], make([]byte, 4))
				return b
			}()},
		{name: "inet6", family: AFInet6, ap: "[2001:db8::10]:1",
			want: func() []byte {
				b := sa6(1, netip.MustParseAddr("2001:db8::10").As16(), 0)
				copy(b[4:8], make([]byte, 4))
				return b
			}()},
		{name: "inet with ipv6", family: AFInet, ap: "[2001:db8::10]:1", wantErr: true},
		{name: "bad family", family: 1, ap: "1.2.3.4:1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf [SizeofSockaddrInet6]byte
			n, err := EncodeSockaddr(&buf, tt.family, netip.MustParseAddrPort(tt.ap))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error: %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(buf[:n], tt.want) {
				t.Errorf("(-want +got)\n-%x\n+%x", tt.want, buf[:n])
			}
		})
	}
}

func TestReplaceAddr(t *testing.T) {
	vipa6 := netip.MustParseAddr("2001:db8:2::10").As16()
	mappedVIPA := netip.MustParseAddr("::ffff:192.0.2.10").As16()
	tests := []struct {
		name    string
		in      []byte
		addr    string
		want    []byte
		wantErr bool
	}{
		{name: "inet keeps the port", in: sa4(6000, [4]byte{}), addr: "192.0.2.10",
			want: sa4(6000, [4]byte{192, 0, 2, 10})},
		{name: "inet takes a mapped address", in: sa4(80, [4]byte{}), addr: "::ffff:192.0.2.10",
			want: sa4(80, [4]byte{192, 0, 2, 10})},
		{name: "inet6 keeps port, flow label and scope", in: sa6(6000, [16]byte{}, 7), addr: "2001:db8:2::10",
			want: sa6(6000, vipa6, 7)},
		{name: "inet6 maps ipv4", in: sa6(6000, netip.MustParseAddr("::ffff:0.0.0.0").As16(), 0), addr: "192.0.2.10",
			want: sa6(6000, mappedVIPA, 0)},
		{name: "inet with ipv6", in: sa4(1, [4]byte{}), addr: "2001:db8:2::10", wantErr: true},
		{name: "not inet", in: []byte{1, 0, 2, 3}, addr: "192.0.2.10", wantErr: true},
		{name: "short", in: sa4(1, [4]byte{})[:8], addr: "192.0.2.10", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(tt.in)
			err := ReplaceAddr(b, netip.MustParseAddr(tt.addr))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error: %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !bytes.Equal(b, tt.in) {
					t.Errorf("failed, yet changed the sockaddr:\n-%x\n+%x", tt.in, b)
				}
				return
			}
			if !bytes.Equal(b, tt.want) {
				t.Errorf("(-want +got)\n-%x\n+%x", tt.want, b)
			}
		})
	}
}

// FuzzDecodeSockaddr checks that decoding never panics, that it accepts
// exactly the inputs the kernel would read as AF_INET/AF_INET6, that
// encoding what it decoded gives back the same address and port, and that
// ReplaceAddr touches nothing but the address.
func FuzzDecodeSockaddr(f *testing.F) {
	f.Add(sa4(80, [4]byte{10, 1, 2, 3}))
	f.Add(sa6(443, netip.MustParseAddr("::ffff:1.2.3.4").As16(), 0))
	f.Add(sa6(443, netip.MustParseAddr("2001:db8::1").As16(), 3))
	f.Add([]byte{})
	f.Add([]byte{10, 0, 1})
	f.Add(sa6(443, netip.MustParseAddr("2001:db8::1").As16(), 3)[:MinSockaddrInet6])
	f.Add(append(sa4(80, [4]byte{10, 1, 2, 3}), make([]byte, MaxSockaddr-SizeofSockaddrInet4)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		sa, err := DecodeSockaddr(b)
		if err != nil {
			if sa != (Sockaddr{}) {
				t.Fatalf("error %v with non-zero result %+v", err, sa)
			}
			return
		}
		var buf [SizeofSockaddrInet6]byte
		n, err := EncodeSockaddr(&buf, sa.Family, sa.Addr)
		if err != nil {
			t.Fatalf("encode of decoded %+v: %v", sa, err)
		}
		if least := map[uint16]int{AFInet: SizeofSockaddrInet4, AFInet6: MinSockaddrInet6}[sa.Family]; len(b) < least || n < least {
			t.Fatalf("family %d decoded from %d bytes, encoded into %d", sa.Family, len(b), n)
		}
		again, err := DecodeSockaddr(buf[:n])
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if again.Family != sa.Family || again.Addr != sa.Addr {
			t.Fatalf("round trip: %+v became %+v", sa, again)
		}
		if sa.Family == AFInet && !sa.Addr.Addr().Is4() {
			t.Fatalf("AF_INET decoded to %s", sa.Addr)
		}
		if sa.Family == AFInet6 && !sa.Addr.Addr().Is6() {
			t.Fatalf("AF_INET6 decoded to %s", sa.Addr)
		}
		// Putting back the address it holds changes no byte.
		same := bytes.Clone(b)
		if err := ReplaceAddr(same, sa.Addr.Addr()); err != nil || !bytes.Equal(same, b) {
			t.Fatalf("ReplaceAddr with its own address: %v\n-%x\n+%x", err, b, same)
		}
	})
}
