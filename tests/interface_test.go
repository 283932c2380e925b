//go:build linux

package tests

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// The server networks of the router namespace, each routed over its own
// veth pair from the test's namespace.
var (
	serverA = netip.MustParseAddr("203.0.113.1")   // in 203.0.113.0/25, over va1 at first
	serverB = netip.MustParseAddr("203.0.113.129") // in 203.0.113.128/25, over va2
)

// routed is a test namespace (e.ns, the client's, with the VIPAs on lo)
// joined to a router namespace by veth pairs: pair N is vaN in e.ns,
// 198.51.100.(4N-3)/30, and vbN in the router, 198.51.100.(4N-2)/30.
// The router has serverA and serverB on lo with a recorder each, and routes
// each VIPA back over the pair of the [[interface]] rule that uses it.
type routed struct {
	*env
	router     *testutil.NetNS
	recA, recB *testutil.Recorder
}

func newRouted(t *testing.T) *routed {
	t.Helper()
	r := &routed{env: newEnv(t), router: testutil.NewNetNS(t)}
	r.ns.AddAddr(t, thirdVIPA.String()+"/32")
	r.pair(t, 1)
	r.pair(t, 2)
	r.router.AddAddr(t, serverA.String()+"/25")
	r.router.AddAddr(t, serverB.String()+"/25")
	r.ip(t, "route", "add", "203.0.113.0/25", "via", "198.51.100.2", "dev", "va1")
	r.ip(t, "route", "add", "203.0.113.128/25", "via", "198.51.100.6", "dev", "va2")
	r.routerIP(t, "route", "add", vipa4.String(), "via", "198.51.100.1", "dev", "vb1")
	r.routerIP(t, "route", "add", vipa4b.String(), "via", "198.51.100.5", "dev", "vb2")
	r.recA = testutil.NewRecorder(t, r.router.Listen(t, "tcp4", netip.AddrPortFrom(serverA, serverPort).String()))
	r.recB = testutil.NewRecorder(t, r.router.Listen(t, "tcp4", netip.AddrPortFrom(serverB, serverPort).String()))
	return r
}

// pair adds veth pair n between the namespaces, both ends up.
func (r *routed) pair(t *testing.T, n int) {
	t.Helper()
	a, b := fmt.Sprintf("va%d", n), fmt.Sprintf("vb%d", n)
	r.ip(t, "link", "add", a, "type", "veth", "peer", "name", b, "netns", r.router.Name)
	r.ip(t, "addr", "add", fmt.Sprintf("198.51.100.%d/30", 4*n-3), "dev", a)
	r.routerIP(t, "addr", "add", fmt.Sprintf("198.51.100.%d/30", 4*n-2), "dev", b)
	r.ip(t, "link", "set", a, "up")
	r.routerIP(t, "link", "set", b, "up")
}

func (r *routed) routerIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", r.router.Name}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip -n router %v: %v: %s", args, err, out)
	}
}

// interfacePolicy gives each pair's interface its own VIPA.
var interfacePolicy = fmt.Sprintf(`[[interface]]
name    = "va1"
sources = [%q]

[[interface]]
name    = "va2"
sources = [%q]
`, vipa4, vipa4b)

// dial makes n connections to dst:8080 under vipa-exec with pol.
func (r *routed) dial(t *testing.T, pol string, dst netip.Addr, n int) testutil.Result {
	t.Helper()
	res := r.with(t).wrapped(pol, goClient(t), "-n", fmt.Sprint(n), "-c", "4", "-connect", netip.AddrPortFrom(dst, serverPort).String())
	wantOK(t, "client", res)
	return res
}

// TestIntegrationInterface: connections with no [[connect]] rule leave from
// the VIPA of the [[interface]] rule of the interface their route goes out
// of; a [[connect]] rule that matches the destination comes first.
func TestIntegrationInterface(t *testing.T) {
	const n = 20
	r := newRouted(t)
	t.Run("by route", func(t *testing.T) {
		r.recA.Reset()
		r.recB.Reset()
		r.dial(t, r.policy(interfacePolicy), serverA, n)
		r.dial(t, r.policy(interfacePolicy), serverB, n)
		wantSources(t, "server A, over va1", r.recA, map[netip.Addr]int{vipa4: n})
		wantSources(t, "server B, over va2", r.recB, map[netip.Addr]int{vipa4b: n})
	})
	t.Run("destination rule first", func(t *testing.T) {
		r.recA.Reset()
		r.recB.Reset()
		pol := r.policy(interfacePolicy + fmt.Sprintf("\n[[connect]]\ndestination = \"203.0.113.128/25\"\nsources     = [%q]\n", vipa4))
		r.dial(t, pol, serverB, n)
		wantSources(t, "server B, over va2 but named by a [[connect]] rule", r.recB, map[netip.Addr]int{vipa4: n})
		// policy kernel excludes too: the kernel's source is va2's address.
		pol = r.policy(interfacePolicy + "\n[[connect]]\ndestination = \"203.0.113.128/25\"\npolicy      = \"kernel\"\n")
		r.recB.Reset()
		r.dial(t, pol, serverB, n)
		wantSources(t, "server B, excluded by policy kernel", r.recB, map[netip.Addr]int{netip.MustParseAddr("198.51.100.5"): n})
	})
	// The bpf engine cannot follow routes: --engine=bpf refuses an
	// [[interface]] policy before the program starts, and auto serves it
	// with the seccomp engine.
	t.Run("bpf refuses [[interface]], auto runs seccomp", func(t *testing.T) {
		e := r.on(t, "bpf")
		marker := filepath.Join(e.dir, "started")
		res := e.run(e.vipa(r.policy(interfacePolicy), "/bin/sh", "-c", `touch "$0"`, marker)...)
		if _, err := os.Stat(marker); res.Exit != 2 || len(testutil.Lines(res.Stderr)) != 1 || err == nil {
			t.Errorf("--engine=bpf with [[interface]] rules: %v (program started: %v); want exit 2, one line, the program not started", res, err == nil)
		}
		r.recA.Reset()
		e = r.on(t, "auto")
		wantOK(t, "auto", e.wrapped(r.policy(interfacePolicy), goClient(t), "-n", fmt.Sprint(n), "-connect", netip.AddrPortFrom(serverA, serverPort).String()))
		wantSources(t, "server A under auto", r.recA, map[netip.Addr]int{vipa4: n})
	})
}

// startDebugBatches is startBatches with the supervisor's debug log, which
// says when the routing changed.
func (e *env) startDebugBatches(t *testing.T, pol string, dst netip.Addr) *batchClient {
	t.Helper()
	return e.startBatches(t, pol, dst, "--log-level", "debug")
}

// routeAChanged is in the supervisor's debug line once the route to
// server A's network changed.
const routeAChanged = "RTM_NEWROUTE 203.0.113.0/25"

// TestIntegrationInterfaceRouteChange moves server A's route from va1 to
// va2 while one program runs: its next connections leave from va2's VIPA.
func TestIntegrationInterfaceRouteChange(t *testing.T) {
	const n = 20
	r := newRouted(t)
	c := r.startDebugBatches(t, r.policy(interfacePolicy), serverA)
	if !c.batch(n) {
		t.Fatalf("a connection failed; stderr:\n%s", c.log)
	}
	wantSources(t, "over va1", r.recA, map[netip.Addr]int{vipa4: n})

	before := len(c.log.matching(routeAChanged))
	r.ip(t, "route", "replace", "203.0.113.0/25", "via", "198.51.100.6", "dev", "va2")
	c.log.waitN(t, before+1, routeAChanged)
	r.recA.Reset()
	if !c.batch(n) {
		t.Fatalf("a connection failed; stderr:\n%s", c.log)
	}
	wantSources(t, "after ip route replace, over va2", r.recA, map[netip.Addr]int{vipa4b: n})
	c.stop()
}

// TestIntegrationInterfaceLater names an interface that does not exist at
// start: vipa-exec warns and runs, and once the interface is there and
// server A's route goes out of it, the rule applies.
func TestIntegrationInterfaceLater(t *testing.T) {
	const n = 20
	r := newRouted(t)
	pol := r.policy(interfacePolicy + fmt.Sprintf("\n[[interface]]\nname    = \"va3\"\nsources = [%q]\n", thirdVIPA))
	c := r.startDebugBatches(t, pol, serverA)
	c.log.wait(t, `no interface "va3"`)
	if !c.batch(n) {
		t.Fatalf("a connection failed; stderr:\n%s", c.log)
	}
	wantSources(t, "over va1", r.recA, map[netip.Addr]int{vipa4: n})

	before := len(c.log.matching(routeAChanged))
	r.pair(t, 3)
	r.routerIP(t, "route", "add", thirdVIPA.String(), "via", "198.51.100.9", "dev", "vb3")
	r.ip(t, "route", "replace", "203.0.113.0/25", "via", "198.51.100.10", "dev", "va3")
	c.log.waitN(t, before+1, routeAChanged)
	r.recA.Reset()
	if !c.batch(n) {
		t.Fatalf("a connection failed; stderr:\n%s", c.log)
	}
	wantSources(t, "over the new va3", r.recA, map[netip.Addr]int{thirdVIPA: n})
	c.stop()
	if got := c.log.matching("warning", `no interface "va3"`); len(got) != 1 {
		t.Errorf("%d warnings about va3, want 1:\n%s", len(got), strings.Join(got, "\n"))
	}
}
