//go:build linux

package tests

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationAddrLen: every address length the kernel takes for an
// INET address (16 to 128 bytes for AF_INET, 24 to 128 for AF_INET6, the
// address at the start of a struct sockaddr_storage) is rewritten, for
// connect, sendto and bind; the server sees the VIPA.
func TestIntegrationAddrLen(t *testing.T) { testutil.ForEngines(t, testAddrLen) }

func testAddrLen(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	client := testutil.BuildC(t, "tests/clients/edge/edge.c", "-pthread")
	udp := map[netip.Addr]net.PacketConn{}
	for _, a := range []netip.Addr{dst4, dst6} {
		udp[a] = e.ns.ListenPacket(t, "udp", netip.AddrPortFrom(a, serverPort).String())
	}
	pol := e.policy(standardPolicy + bindPolicy)
	tests := []struct {
		call string
		dst  netip.Addr // for bind, the family's wildcard
		lens []int
		want netip.Addr
	}{
		{"connect", dst4, []int{16, 17, 24, 28, 64, 127, 128}, vipa4},
		{"connect", dst6, []int{24, 27, 28, 64, 128}, vipa6},
		{"sendto", dst4, []int{17, 64, 128}, vipa4},
		{"sendto", dst6, []int{24, 64, 128}, vipa6},
		{"bind", netip.IPv4Unspecified(), []int{17, 128}, vipa4},
		{"bind", netip.IPv6Unspecified(), []int{24, 128}, vipa4},
	}
	for _, tt := range tests {
		for _, n := range tt.lens {
			t.Run(fmt.Sprintf("%s %s len %d", tt.call, tt.dst, n), func(t *testing.T) {
				e := e.with(t)
				port := "8080"
				if tt.call == "bind" {
					port = "6000"
				}
				argv := []string{client, "addrlen", tt.dst.String(), port, strconv.Itoa(n), tt.call}
				switch tt.call {
				case "connect":
					rec := e.rec(tt.dst)
					rec.Reset()
					wantOK(t, "under vipa-exec", e.wrapped(pol, argv...))
					wantSources(t, "connect", rec, map[netip.Addr]int{tt.want: 1})
				case "sendto":
					wantOK(t, "under vipa-exec", e.wrapped(pol, argv...))
					if got := recvFrom(t, udp[tt.dst]); got != tt.want {
						t.Errorf("datagram from %v, want %v", got, tt.want)
					}
				case "bind":
					res := e.wrapped(pol, argv...)
					wantOK(t, "under vipa-exec", res)
					wantLocal(t, "bind", res, tt.want)
				}
			})
		}
	}
}
