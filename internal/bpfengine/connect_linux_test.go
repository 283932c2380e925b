//go:build linux

package bpfengine

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// world is a netns with VIPAs on lo, a recorder listening on every address
// of both families, and a cgroup with the engine attached.
type world struct {
	ns  *testutil.NetNS
	cg  *testCgroup
	rec *testutil.Recorder
	e   *Engine
}

var (
	vipas4 = addrs("192.0.2.10", "192.0.2.11", "192.0.2.12")
	vipas6 = addrs("2001:db8::10", "2001:db8::11")
)

func newWorld(tb testing.TB, p *policy.Policy) *world {
	tb.Helper()
	w := &world{ns: testutil.NewNetNS(tb), cg: newCgroup(tb)}
	for _, a := range vipas4 {
		w.ns.AddAddr(tb, netip.PrefixFrom(a, 32).String())
	}
	for _, a := range vipas6 {
		w.ns.AddAddr(tb, netip.PrefixFrom(a, 128).String())
	}
	w.rec = testutil.NewRecorder(tb, w.ns.Listen(tb, "tcp", "[::]:0"))
	w.e = loadEngine(tb, w.cg, p)
	return w
}

// goclient connects n times to dst (an IP) from the cgroup, with network
// tcp4 or tcp6, binding bind first unless "", and returns the sources the
// server saw, unmapped, in order.
func (w *world) goclient(tb testing.TB, network, dst, bind string, n int) []netip.Addr {
	tb.Helper()
	bin := testutil.BuildGo(tb, "./tests/clients/goclient", true)
	w.rec.Reset()
	args := []string{"-network", network, "-n", strconv.Itoa(n), "-connect", net.JoinHostPort(dst, strconv.Itoa(int(w.rec.Addr().Port())))}
	if bind != "" {
		args = append([]string{"-bind", bind}, args...)
	}
	res := testutil.Run(tb, w.cg.command(w.ns, bin, args...))
	if res.Exit != 0 {
		tb.Fatalf("goclient: %v", res)
	}
	w.rec.Wait(tb, n)
	var out []netip.Addr
	for _, p := range w.rec.Peers() {
		out = append(out, p.Addr().Unmap())
	}
	return out
}

// pyclient is the python3 script of [world.python]: argv FAMILY ADDR PORT
// N [BIND], FAMILY 4 or 6; it connects N times, one socket each.
const pyclient = `
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
for _ in range(int(sys.argv[4])):
    s = socket.socket(fam, socket.SOCK_STREAM)
    if len(sys.argv) > 5:
        s.bind((sys.argv[5], 0))
    s.connect((sys.argv[2], int(sys.argv[3])))
    s.recv(1)
    s.close()
`

// python is [world.goclient] with python3, whose AF_INET6 sockets connect
// to IPv4-mapped addresses as given.
func (w *world) python(tb testing.TB, family, dst, bind string, n int) []netip.Addr {
	tb.Helper()
	testutil.RequireTool(tb, "python3")
	w.rec.Reset()
	args := []string{"-c", pyclient, family, dst, strconv.Itoa(int(w.rec.Addr().Port())), strconv.Itoa(n)}
	if bind != "" {
		args = append(args, bind)
	}
	res := testutil.Run(tb, w.cg.command(w.ns, "python3", args...))
	if res.Exit != 0 {
		tb.Fatalf("python3: %v", res)
	}
	w.rec.Wait(tb, n)
	var out []netip.Addr
	for _, p := range w.rec.Peers() {
		out = append(out, p.Addr().Unmap())
	}
	return out
}

func TestConnectOneVIPA(t *testing.T) {
	p := mustPolicy(t, []policy.ConnectRule{
		{Destination: netip.MustParsePrefix("127.0.0.0/8"), Sources: vipas4[1:2]},
		{Destination: netip.MustParsePrefix("::1/128"), Sources: vipas6[:1]},
	}, nil)
	w := newWorld(t, p)
	for _, tc := range []struct {
		name, network, dst, bind string
		want                     netip.Addr
	}{
		{"v4", "tcp4", "127.0.0.1", "", vipas4[1]},
		{"v6", "tcp6", "::1", "", vipas6[0]},
		{"bound by the program", "tcp4", "127.0.0.1", "192.0.2.12", vipas4[2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := w.goclient(t, tc.network, tc.dst, tc.bind, 2)
			for _, a := range got {
				if a != tc.want {
					t.Fatalf("sources %v, want all %v", got, tc.want)
				}
			}
		})
	}
	t.Run("v4-mapped on a v6 socket", func(t *testing.T) {
		got := w.python(t, "6", "::ffff:127.0.0.1", "", 2)
		for _, a := range got {
			if a != vipas4[1] {
				t.Fatalf("sources %v, want all %v", got, vipas4[1])
			}
		}
	})
	t.Run("busybox wget", func(t *testing.T) {
		testutil.RequireTool(t, "busybox")
		w.rec.Reset()
		res := testutil.Run(t, w.cg.command(w.ns, "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:"+strconv.Itoa(int(w.rec.Addr().Port()))+"/"))
		if res.Exit != 0 {
			t.Fatalf("busybox wget: %v", res)
		}
		// The recorder answers with the peer address it saw.
		if got := strings.TrimSpace(res.Stdout); !strings.HasPrefix(got, vipas4[1].String()+":") {
			t.Errorf("busybox wget got %q, want %v", got, vipas4[1])
		}
	})
	s := w.e.Snapshot()
	// goclient binds the wildcard address before it connects, as Go's net
	// package does: bind calls left alone.
	if s.Bound != 7 || s.Calls["connect"] != 9 || s.LeftAlone["bound_by_program"] != 2 {
		t.Errorf("snapshot %+v: want 7 bound, 9 connects, 2 bound_by_program", s)
	}
	want := []rewrite.SourceCount{{Rule: "test.toml:10", Source: vipas4[1], Count: 5}, {Rule: "test.toml:20", Source: vipas6[0], Count: 2}}
	if d := testutil.Diff(want, s.PerSource); d != "" {
		t.Errorf("per source (-want +got):\n%s", d)
	}
}
