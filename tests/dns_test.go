//go:build linux

package tests

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// dnsServer is dnsmasq answering on dst4:53 and [dst6]:53 (UDP and TCP)
// inside the test's namespace, logging each query with its client's
// address: the source the server saw.
type dnsServer struct {
	log string
}

// startDNS starts dnsmasq in e's namespace; it answers A and AAAA queries
// for *.example.test with other4 and ends with the test.
func startDNS(t *testing.T, e *env) *dnsServer {
	t.Helper()
	testutil.RequireTool(t, "dnsmasq")
	s := &dnsServer{log: filepath.Join(e.dir, "dnsmasq.log")}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := e.ns.Command(ctx, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
		"--bind-interfaces", "--listen-address="+dst4.String(), "--listen-address="+dst6.String(),
		"--port=53", "--pid-file=", "--user=root", "--group=root",
		"--address=/example.test/"+other4.String(), "--log-queries", "--log-facility="+s.log)
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	p := testutil.Start(t, cmd)
	t.Cleanup(func() {
		cancel()
		p.Wait(t)
	})
	testutil.WaitFor(t, "dnsmasq listening on "+dst4.String()+":53", func() bool {
		for _, ap := range e.ns.Listening(t) {
			if ap == netip.AddrPortFrom(dst4, 53) {
				return true
			}
		}
		return false
	})
	return s
}

var queryFrom = regexp.MustCompile(`query\[\w+\] (\S+) from (\S+)`)

// sources returns the client address of every query for name in the log.
func (s *dnsServer) sources(t *testing.T, name string) []netip.Addr {
	t.Helper()
	b, err := os.ReadFile(s.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, m := range queryFrom.FindAllStringSubmatch(string(b), -1) {
		if m[1] != name {
			continue
		}
		a, err := netip.ParseAddr(m[2])
		if err != nil {
			t.Fatalf("dnsmasq log: client %q: %v", m[2], err)
		}
		out = append(out, a)
	}
	return out
}

// TestIntegrationDNSTools: DNS tools bind their socket to 0.0.0.0:0 or
// [::]:0 before every query; under vipa-exec the query still leaves from
// the VIPA of the server's rule, over UDP and TCP, checked in the server's
// log. With defer_wildcard_binds = false they leave from the kernel's
// source, as --explain says. The bpf engine cannot defer a wildcard bind
// (a hook cannot set IP_BIND_ADDRESS_NO_PORT): the bind takes a port, the
// connect or sendto that follows leaves the socket alone, and the queries
// leave from the kernel's source (docs/ARCHITECTURE.md, the in-kernel
// engine).
func TestIntegrationDNSTools(t *testing.T) {
	testutil.RequireTool(t, "dig", "host", "nslookup", "busybox")
	testutil.ForEngines(t, testDNSTools)
}

func testDNSTools(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	dns := startDNS(t, e)
	pol := e.policy(standardPolicy)
	// A [[bind]] rule makes the filter trap bind: the supervisor itself
	// must leave wildcard binds alone.
	keep := e.policy("[options]\ndefer_wildcard_binds = false\n" + standardPolicy + bindPolicy)
	tools := []struct {
		name string
		argv func(server netip.Addr, name string) []string
	}{
		{"dig", func(s netip.Addr, n string) []string {
			return []string{"dig", "+tries=1", "+time=10", "@" + s.String(), n}
		}},
		{"dig +tcp", func(s netip.Addr, n string) []string {
			return []string{"dig", "+tcp", "+tries=1", "+time=10", "@" + s.String(), n}
		}},
		{"host", func(s netip.Addr, n string) []string { return []string{"host", "-W", "10", "-t", "A", n, s.String()} }},
		{"nslookup", func(s netip.Addr, n string) []string {
			return []string{"nslookup", "-timeout=10", "-type=A", n, s.String()}
		}},
		{"busybox nslookup", func(s netip.Addr, n string) []string { return []string{"busybox", "nslookup", n, s.String()} }},
	}
	for _, tool := range tools {
		for _, fam := range []struct {
			name        string
			server, src netip.Addr
		}{{"ipv4", dst4, vipa4}, {"ipv6", dst6, vipa6}} {
			t.Run(tool.name+"/"+fam.name, func(t *testing.T) {
				e := e.with(t)
				deferred := fam.src
				if engine == "bpf" {
					deferred = fam.server
				}
				for i, tt := range []struct {
					how    string
					policy string // "" runs the tool without vipa-exec
					want   netip.Addr
				}{
					{"without vipa-exec", "", fam.server},
					{"under vipa-exec", pol, deferred},
					{"with defer_wildcard_binds = false", keep, fam.server},
				} {
					// One name per run, so each run counts its own queries.
					name := fmt.Sprintf("q%d-%s-%s.example.test", i, strings.NewReplacer(" ", "-", "+", "").Replace(tool.name), fam.name)
					argv := tool.argv(fam.server, name)
					if tt.policy != "" {
						argv = e.vipa(tt.policy, argv...)
					}
					res := e.run(argv...)
					if !strings.Contains(res.Stdout, other4.String()) {
						t.Errorf("%s: %s got no answer: %v", tt.how, tool.name, res)
						continue
					}
					got := dns.sources(t, name)
					if len(got) == 0 {
						t.Errorf("%s: the server logged no query for %s", tt.how, name)
					}
					for _, a := range got {
						if a != tt.want {
							t.Errorf("%s: the server saw a query for %s from %v, want %v", tt.how, name, a, tt.want)
						}
					}
				}
			})
		}
	}
}

// TestIntegrationWildcardBind: a socket bound to the wildcard address gets
// its connect rule's source when the port was 0, keeps its port and the
// kernel's source otherwise, and a socket bound to a specific address is
// never touched; for TCP and UDP (connect and sendto), both families,
// checked on the server side. Under bpf a wildcard bind to port 0 is not
// deferred: it gets a port at bind, and the kernel's source; but the
// sendmsg hooks give every datagram of a socket not bound to an address the
// rule's source, whatever its port (docs/ARCHITECTURE.md, the in-kernel
// engine).
func TestIntegrationWildcardBind(t *testing.T) {
	testutil.RequireTool(t, python)
	testutil.ForEngines(t, testWildcardBind)
}

func testWildcardBind(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	pol := e.policy(standardPolicy)
	const script = `
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
proto, how, port = sys.argv[3], sys.argv[4], int(sys.argv[5])
s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.bind((sys.argv[6] if len(sys.argv) > 6 else ("::" if fam == socket.AF_INET6 else "0.0.0.0"), port))
dst = (sys.argv[1], int(sys.argv[2]))
if how == "connect":
    s.connect(dst)
    if proto == "udp":
        s.send(b"x")
else:
    s.sendto(b"x", dst)
`
	for _, fam := range []struct {
		name      string
		dst, vipa netip.Addr
		specific  netip.Addr
	}{{"ipv4", dst4, vipa4, vipa4b}, {"ipv6", dst6, vipa6, dst6}} {
		for _, c := range []struct{ proto, how string }{{"tcp", "connect"}, {"udp", "connect"}, {"udp", "sendto"}} {
			t.Run(fam.name+"/"+c.proto+"/"+c.how, func(t *testing.T) {
				e := e.with(t)
				server := netip.AddrPortFrom(fam.dst, 5300)
				// peer returns the source of the next connection or datagram.
				var peer func() netip.AddrPort
				if c.proto == "udp" {
					pc := e.ns.ListenPacket(t, "udp", server.String())
					peer = func() netip.AddrPort {
						if err := pc.SetReadDeadline(time.Now().Add(testutil.WaitTimeout)); err != nil {
							t.Fatal(err)
						}
						var b [16]byte
						_, from, err := pc.ReadFrom(b[:])
						if err != nil {
							t.Fatalf("no datagram: %v", err)
						}
						return from.(*net.UDPAddr).AddrPort()
					}
				} else {
					rec := testutil.NewRecorder(t, e.ns.Listen(t, "tcp", server.String()))
					n := 0
					peer = func() netip.AddrPort {
						n++
						rec.Wait(t, n)
						return rec.Peers()[n-1]
					}
				}
				port0, ownPort := fam.vipa, fam.dst
				if engine == "bpf" && c.how != "sendto" {
					port0 = fam.dst
				}
				if engine == "bpf" && c.how == "sendto" {
					ownPort = fam.vipa
				}
				for _, tt := range []struct {
					what     string
					port     uint16
					bindTo   netip.Addr
					want     netip.Addr
					samePort bool
				}{
					{what: "port 0", want: port0},
					{what: "a port of its own", port: 5400, want: ownPort, samePort: true},
					{what: "a specific address", bindTo: fam.specific, want: fam.specific},
				} {
					argv := []string{python, "-c", script, fam.dst.String(), "5300", c.proto, c.how, fmt.Sprint(tt.port)}
					if tt.bindTo.IsValid() {
						argv = append(argv, tt.bindTo.String())
					}
					wantOK(t, tt.what, e.wrapped(pol, argv...))
					got := peer()
					if got.Addr().Unmap() != tt.want {
						t.Errorf("%s: the server saw %v, want %v", tt.what, got, tt.want)
					}
					if tt.samePort && got.Port() != tt.port {
						t.Errorf("%s: the server saw port %d, want the program's %d", tt.what, got.Port(), tt.port)
					}
				}
			})
		}
	}
}
