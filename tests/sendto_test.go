//go:build linux

package tests

import (
	"net/netip"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// pySend sends one datagram to HOST PORT from a fresh, unbound UDP socket
// without connecting it, with sendto or sendmsg (argv[3]), from an AF_INET6
// socket when HOST has a ':' (also ::ffff:a.b.c.d), and prints the local
// address the socket got.
const pySend = `
import socket, sys
host, port, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
if how == "sendto":
    s.sendto(b"hello", (host, port))
else:
    s.sendmsg([b"hello"], [], 0, (host, port))
print(s.getsockname()[0], flush=True)
`

// TestIntegrationSendto: an unconnected UDP socket's first sendto to a
// matching destination leaves from the VIPA, as connect would; sendmsg is
// trapped only with [options] trap_sendmsg (see TestIntegrationSendmsg)
// under seccomp, and always under bpf, whose sendmsg hooks see sendto and
// sendmsg alike.
func TestIntegrationSendto(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, python)
	testutil.ForEngines(t, testSendto)
}

func testSendto(t *testing.T, engine string) {
	tests := []struct {
		name      string
		network   string
		listen    netip.Addr
		dst       string // as the client writes it
		want      netip.Addr
		baseline  netip.Addr
		how       string
		noRewrite bool
	}{
		{name: "sendto ipv4", network: "udp4", listen: dst4, dst: dst4.String(), want: vipa4, baseline: dst4, how: "sendto"},
		{name: "sendto ipv6", network: "udp6", listen: dst6, dst: dst6.String(), want: vipa6, baseline: dst6, how: "sendto"},
		{name: "sendto ::ffff:10.1.2.3 from AF_INET6", network: "udp", listen: dst4, dst: "::ffff:" + dst4.String(), want: vipa4, baseline: dst4, how: "sendto"},
		{name: "sendto to a destination no rule matches", network: "udp4", listen: other4, dst: other4.String(), want: other4, baseline: other4, how: "sendto"},
		{name: "sendmsg is not trapped by default", network: "udp4", listen: dst4, dst: dst4.String(), want: dst4, baseline: dst4, how: "sendmsg"},
	}
	if engine == "bpf" {
		tests[len(tests)-1].name, tests[len(tests)-1].want = "sendmsg is always rewritten", vipa4
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngineEnv(t, engine)
			pc := e.ns.ListenPacket(t, tt.network, netip.AddrPortFrom(tt.listen, serverPort).String())
			argv := []string{python, "-c", pySend, tt.dst, "8080", tt.how}

			wantOK(t, "without vipa-exec", e.run(argv...))
			if got := recvFrom(t, pc); got != tt.baseline {
				t.Errorf("without vipa-exec: datagram from %v, want %v", got, tt.baseline)
			}
			res := e.wrapped(e.policy(standardPolicy), argv...)
			wantOK(t, "under vipa-exec", res)
			if got := recvFrom(t, pc); got != tt.want {
				t.Errorf("under vipa-exec: datagram from %v, want %v", got, tt.want)
			}
		})
	}
}

// TestIntegrationSendmsg: with [options] trap_sendmsg, an unconnected UDP
// socket's first sendmsg to a matching destination leaves from the VIPA;
// without it, sendmsg is not trapped (TestIntegrationSendto).
func TestIntegrationSendmsg(t *testing.T) {
	testutil.RequireTool(t, python)
	testutil.ForEngines(t, testSendmsg)
}

func testSendmsg(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	pc := e.ns.ListenPacket(t, "udp4", netip.AddrPortFrom(dst4, serverPort).String())
	argv := []string{python, "-c", pySend, dst4.String(), "8080", "sendmsg"}
	res := e.wrapped(e.policy(standardPolicy+"\n[options]\ntrap_sendmsg = true\n"), argv...)
	wantOK(t, "under vipa-exec with trap_sendmsg", res)
	if got := recvFrom(t, pc); got != vipa4 {
		t.Errorf("sendmsg with trap_sendmsg: datagram from %v, want %v", got, vipa4)
	}
	// The bpf engine sets each datagram's source and leaves the socket on
	// the wildcard address.
	local := vipa4
	if engine == "bpf" {
		local = netip.IPv4Unspecified()
	}
	wantLocal(t, "sendmsg with trap_sendmsg", res, local)
}
