//go:build linux

package bpfengine

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestBind: a bind to the wildcard address moves to the [[bind]] rule's
// source, and the kernel's port-privilege check still applies to the
// program: nobody may not bind port 80 on the VIPA either.
func TestBind(t *testing.T) {
	testutil.RequireTool(t, "setpriv")
	w := newWorld(t, mustPolicy(t, nil, []policy.BindRule{
		{Ports: policy.PortRange{Lo: 80, Hi: 80}, Sources: vipas4[1:2]},
		{Ports: policy.PortRange{Lo: 6000, Hi: 6999}, Sources: []netip.Addr{vipas4[2], vipas6[1]}},
	}))
	bin := testutil.BuildGo(t, "./tests/clients/goclient", true)
	for _, tc := range []struct {
		name, network, listen string
		nobody                bool
		want                  string // the local address, or the errno
	}{
		{"v4", "tcp4", "0.0.0.0:6001", false, "192.0.2.12:6001"},
		{"v6", "tcp6", "[::]:6002", false, "[2001:db8::11]:6002"},
		{"no rule", "tcp4", "0.0.0.0:7001", false, "0.0.0.0:7001"},
		{"not the wildcard", "tcp4", "127.0.0.1:6003", false, "127.0.0.1:6003"},
		{"privileged port as root", "tcp4", "0.0.0.0:80", false, "192.0.2.11:80"},
		{"privileged port as nobody", "tcp4", "0.0.0.0:80", true, "errno=EACCES"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{bin, "-network", tc.network, "-listen", tc.listen}
			if tc.nobody {
				args = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, args...)
			}
			res := testutil.Run(t, w.cg.command(w.ns, args[0], args[1:]...))
			got := strings.TrimSpace(res.Stdout)
			if res.Exit != 0 {
				got = strings.TrimSpace(res.Stderr[strings.LastIndex(res.Stderr, "errno="):])
			}
			if got != tc.want {
				t.Errorf("got %q, want %q (%v)", got, tc.want, res)
			}
		})
	}
}

// TestSendto: an unconnected UDP datagram from an unbound socket gets the
// source of a rule for UDP, per datagram; a TCP-only rule does not apply.
func TestSendto(t *testing.T) {
	testutil.RequireTool(t, "python3")
	w := newWorld(t, mustPolicy(t, []policy.ConnectRule{
		{Destination: netip.MustParsePrefix("127.0.0.1/32"), Protocol: policy.TCP, Sources: vipas4[:1]},
		{Destination: netip.MustParsePrefix("127.0.0.0/8"), Protocol: policy.UDP, Sources: vipas4[1:], Policy: policy.RR},
		{Destination: netip.MustParsePrefix("::1/128"), Protocol: policy.UDP, Sources: vipas6[1:]},
	}, nil))
	for _, tc := range []struct {
		network, listen, family string
		want                    []netip.Addr // the rotation of sources
	}{
		{"udp4", "127.0.0.1:0", "4", vipas4[1:]},
		{"udp6", "[::1]:0", "6", vipas6[1:]},
	} {
		t.Run(tc.network, func(t *testing.T) {
			pc := w.ns.ListenPacket(t, tc.network, tc.listen)
			ap := netip.MustParseAddrPort(pc.LocalAddr().String())
			const script = `
import socket, sys
s = socket.socket(socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(4):
    s.sendto(b"x", (sys.argv[2], int(sys.argv[3])))
`
			res := testutil.Run(t, w.cg.command(w.ns, "python3", "-c", script, tc.family, ap.Addr().String(), strconv.Itoa(int(ap.Port()))))
			if res.Exit != 0 {
				t.Fatalf("python3: %v", res)
			}
			var got []netip.Addr
			buf := make([]byte, 16)
			for range 4 {
				_ = pc.SetReadDeadline(time.Now().Add(testutil.WaitTimeout))
				_, from, err := pc.ReadFrom(buf)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, netip.MustParseAddrPort(from.String()).Addr())
			}
			if !rotates(got, tc.want) {
				t.Errorf("datagram sources %v, want a rotation over %v", got, tc.want)
			}
		})
	}
}

// TestIOUringConnect: a connect submitted through io_uring, without a
// connect(2) call, goes through the same hook.
func TestIOUringConnect(t *testing.T) {
	w := newWorld(t, mustPolicy(t, []policy.ConnectRule{
		{Destination: netip.MustParsePrefix("127.0.0.0/8"), Sources: vipas4[2:]},
		{Destination: netip.MustParsePrefix("::1/128"), Sources: vipas6[1:]},
	}, nil))
	bin := testutil.BuildC(t, "internal/bpfengine/testdata/uring_connect.c")
	for _, tc := range []struct {
		family, dst string
		want        netip.Addr
	}{
		{"4", "127.0.0.1", vipas4[2]},
		{"6", "::1", vipas6[1]},
	} {
		t.Run(tc.family, func(t *testing.T) {
			w.rec.Reset()
			res := testutil.Run(t, w.cg.command(w.ns, bin, tc.family, tc.dst, strconv.Itoa(int(w.rec.Addr().Port()))))
			if res.Exit != 0 {
				t.Fatalf("uring_connect: %v", res)
			}
			w.rec.Wait(t, 1)
			if got := w.rec.Peers()[0].Addr().Unmap(); got != tc.want {
				t.Errorf("source %v, want %v", got, tc.want)
			}
		})
	}
}
