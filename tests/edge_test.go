//go:build linux

package tests

import (
	"net/netip"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationConnectEdges: corner cases of the connect path behave as
// without vipa-exec, apart from the source address (the C client checks
// every return value and errno on the way; see tests/clients/edge).
func TestIntegrationConnectEdges(t *testing.T) { testutil.ForEngines(t, testConnectEdges) }

func testConnectEdges(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	client := testutil.BuildC(t, "tests/clients/edge/edge.c", "-pthread")
	// For the UDP case, a receiver, so that no ICMP error comes back.
	e.ns.ListenPacket(t, "udp4", netip.AddrPortFrom(dst4, serverPort).String())
	tests := []struct {
		name      string
		mode      string
		extra     []string // after HOST PORT
		bare, vip []string // local addresses printed, without and with vipa-exec
	}{
		{name: "non-blocking connect", mode: "nonblock",
			bare: []string{"10.1.2.3"}, vip: []string{"192.0.2.10"}},
		{name: "TCP Fast Open sendto", mode: "tfo",
			bare: []string{"10.1.2.3"}, vip: []string{"192.0.2.10"}},
		// connect(AF_UNSPEC) dissolves the association. Without vipa-exec
		// the autobound address goes back to the wildcard; under vipa-exec
		// the socket was bound explicitly, and an explicit bind survives
		// AF_UNSPEC, as it would had the program bound itself.
		{name: "UDP connect, then AF_UNSPEC, then sendto", mode: "unspec",
			bare: []string{"10.1.2.3", "0.0.0.0"}, vip: []string{"192.0.2.10", "192.0.2.10"}},
		{name: "connect retried after EINTR", mode: "eintr", extra: []string{"300"},
			bare: []string{"10.1.2.3"}, vip: []string{"192.0.2.10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			args := append([]string{client, tt.mode, dst4.String(), "8080"}, tt.extra...)
			res := e.run(args...)
			wantOK(t, "without vipa-exec", res)
			if d := testutil.Diff(tt.bare, testutil.Lines(res.Stdout)); d != "" {
				t.Errorf("without vipa-exec: local addresses (-want +got):\n%s", d)
			}
			res = e.wrapped(e.policy(standardPolicy), args...)
			wantOK(t, "under vipa-exec", res)
			if d := testutil.Diff(tt.vip, testutil.Lines(res.Stdout)); d != "" {
				t.Errorf("under vipa-exec: local addresses (-want +got):\n%s", d)
			}
		})
	}
}
