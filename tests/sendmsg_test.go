//go:build linux

package tests

import (
	"net/netip"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

const trapSendmsg = "\n[options]\ntrap_sendmsg = true\n"

// TestIntegrationSendmmsg: with [options] trap_sendmsg, sendmmsg from an
// unbound UDP socket leaves from the VIPA of its first message's
// destination, both datagrams. Under seccomp the supervisor binds the socket
// to that VIPA; under bpf the sendmsg hooks set each datagram's source and
// the socket stays bound to the wildcard address.
func TestIntegrationSendmmsg(t *testing.T) {
	testutil.ForEngines(t, testSendmmsg)
}

func testSendmmsg(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	client := testutil.BuildC(t, "tests/clients/edge/edge.c", "-pthread")
	pol := e.policy(standardPolicy + trapSendmsg)
	for _, tt := range []struct{ dst, want netip.Addr }{{dst4, vipa4}, {dst6, vipa6}} {
		t.Run(tt.dst.String(), func(t *testing.T) {
			e := e.with(t)
			pc := e.ns.ListenPacket(t, "udp", netip.AddrPortFrom(tt.dst, serverPort).String())
			argv := []string{client, "sendmmsg", tt.dst.String(), "8080"}
			wantOK(t, "without vipa-exec", e.run(argv...))
			for range 2 {
				if got := recvFrom(t, pc); got != tt.dst {
					t.Errorf("without vipa-exec: datagram from %v, want %v", got, tt.dst)
				}
			}
			res := e.wrapped(pol, argv...)
			wantOK(t, "under vipa-exec", res)
			local := tt.want
			if engine == "bpf" {
				local = netip.IPv4Unspecified()
				if tt.dst.Is6() {
					local = netip.IPv6Unspecified()
				}
			}
			wantLocal(t, "under vipa-exec", res, local)
			for range 2 {
				if got := recvFrom(t, pc); got != tt.want {
					t.Errorf("under vipa-exec: datagram from %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestIntegrationPktinfo: a datagram whose IP_PKTINFO or IPV6_PKTINFO names
// its source is the program's choice: with trap_sendmsg the supervisor
// leaves the socket unbound, and the datagram leaves from that source; so
// do the bpf engine's sendmsg hooks.
func TestIntegrationPktinfo(t *testing.T) {
	testutil.ForEngines(t, testPktinfo)
}

func testPktinfo(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	src6 := netip.MustParseAddr("2001:db8:2::11")
	e.ns.AddAddr(t, netip.PrefixFrom(src6, 128).String())
	client := testutil.BuildC(t, "tests/clients/edge/edge.c", "-pthread")
	pol := e.policy(standardPolicy + trapSendmsg)
	for _, tt := range []struct{ dst, src, unbound netip.Addr }{
		{dst4, vipa4b, netip.IPv4Unspecified()},
		{dst6, src6, netip.IPv6Unspecified()},
	} {
		t.Run(tt.dst.String(), func(t *testing.T) {
			e := e.with(t)
			pc := e.ns.ListenPacket(t, "udp", netip.AddrPortFrom(tt.dst, serverPort).String())
			res := e.wrapped(pol, client, "pktinfo", tt.dst.String(), "8080", tt.src.String())
			wantOK(t, "under vipa-exec", res)
			wantLocal(t, "under vipa-exec", res, tt.unbound)
			if got := recvFrom(t, pc); got != tt.src {
				t.Errorf("datagram from %v, want %v", got, tt.src)
			}
		})
	}
}
