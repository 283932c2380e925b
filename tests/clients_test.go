//go:build linux

package tests

import (
	"debug/elf"
	"net/netip"
	"os/exec"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// client is one program the tests run under vipa-exec.
type client struct {
	name string
	// argv connects once to the server at dst:8080 and prints the local
	// address (or the address the server saw) on its first line.
	argv func(t *testing.T, dst netip.Addr) []string
}

func clients() []client {
	return []client{
		{name: "go-static", argv: func(t *testing.T, dst netip.Addr) []string {
			return []string{goClient(t), "-connect", netip.AddrPortFrom(dst, serverPort).String()}
		}},
		{name: "busybox-wget", argv: func(t *testing.T, dst netip.Addr) []string {
			testutil.RequireTool(t, "busybox")
			return []string{"busybox", "wget", "-q", "-O-", url(dst)}
		}},
		{name: "c-dynamic", argv: func(t *testing.T, dst netip.Addr) []string {
			return append([]string{cClient(t), "-w"}, hostPort(dst)...)
		}},
		{name: "curl", argv: func(t *testing.T, dst netip.Addr) []string {
			testutil.RequireTool(t, "curl")
			return []string{"curl", "-sS", "--noproxy", "*", "--max-time", "60", url(dst)}
		}},
		{name: "python3", argv: func(t *testing.T, dst netip.Addr) []string {
			testutil.RequireTool(t, python)
			return append([]string{python, "-c", pyConnect}, hostPort(dst)...)
		}},
		{name: "java", argv: func(t *testing.T, dst netip.Addr) []string {
			testutil.RequireTool(t, "javac", "java")
			classes := testutil.BuildJava(t, "tests/clients/java/Client.java")
			return append([]string{"java", "-cp", classes, "Client"}, hostPort(dst)...)
		}},
	}
}

// TestIntegrationClients runs every client against an IPv4 and an IPv6
// server, without and with vipa-exec, under each engine, and checks the
// source the server saw.
func TestIntegrationClients(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.ForEngines(t, func(t *testing.T, engine string) {
		testClients(t, engine)
	})
}

func testClients(t *testing.T, engine string) {
	for _, c := range clients() {
		for _, fam := range []struct {
			name      string
			dst, vipa netip.Addr
		}{
			{"ipv4", dst4, vipa4},
			{"ipv6", dst6, vipa6},
		} {
			t.Run(c.name+"/"+fam.name, func(t *testing.T) {
				e := newEngineEnv(t, engine)
				argv := c.argv(t, fam.dst)
				rec := e.rec(fam.dst)

				res := e.run(argv...)
				wantOK(t, "without vipa-exec", res)
				wantSources(t, "without vipa-exec", rec, map[netip.Addr]int{fam.dst: 1})
				wantLocal(t, "without vipa-exec", res, fam.dst)

				rec.Reset()
				res = e.wrapped(e.policy(standardPolicy), argv...)
				wantOK(t, "under vipa-exec", res)
				wantSources(t, "under vipa-exec", rec, map[netip.Addr]int{fam.vipa: 1})
				wantLocal(t, "under vipa-exec", res, fam.vipa)
			})
		}
	}
}

// TestClientLinkage keeps the clients honest: the Go client and busybox are
// static (no ELF interpreter), the C client is dynamic.
func TestClientLinkage(t *testing.T) {
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		dynamic bool
	}{
		{"go-static", goClient, false},
		{"c-dynamic", cClient, true},
		{"busybox", func(t *testing.T) string {
			testutil.RequireTool(t, "busybox")
			p, _ := exec.LookPath("busybox")
			return p
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := elf.Open(tt.path(t))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = f.Close() }()
			dynamic := false
			for _, p := range f.Progs {
				dynamic = dynamic || p.Type == elf.PT_INTERP
			}
			if dynamic != tt.dynamic {
				t.Errorf("dynamically linked = %v, want %v", dynamic, tt.dynamic)
			}
		})
	}
}

// TestIntegrationMappedIPv4 covers AF_INET6 sockets that reach an IPv4
// server as ::ffff:a.b.c.d, as Java does for every IPv4 connection: the IPv4
// rule applies and the socket is bound to ::ffff: and the IPv4 VIPA.
func TestIntegrationMappedIPv4(t *testing.T) {
	testutil.RequireTool(t, python)
	testutil.ForEngines(t, testMappedIPv4)
}

func testMappedIPv4(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	mapped := netip.AddrFrom16(dst4.As16())
	argv := append([]string{python, "-c", pyConnect}, hostPort(mapped)...)

	res := e.run(argv...)
	wantOK(t, "without vipa-exec", res)
	wantSources(t, "without vipa-exec", e.rec4, map[netip.Addr]int{dst4: 1})

	e.rec4.Reset()
	res = e.wrapped(e.policy(standardPolicy), argv...)
	wantOK(t, "under vipa-exec", res)
	wantSources(t, "under vipa-exec", e.rec4, map[netip.Addr]int{vipa4: 1})
	got, err := localAddr(res.Stdout)
	if want := netip.AddrFrom16(vipa4.As16()); err != nil || got != want {
		t.Errorf("AF_INET6 socket's local address %v (%v), want %v", got, err, want)
	}
}

// TestIntegrationPassThrough checks what vipa-exec must leave alone: a
// destination no rule matches and a socket the program bound itself. The
// same run makes a matching connection, which must be rewritten, so the
// test fails if vipa-exec did nothing at all.
func TestIntegrationPassThrough(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.ForEngines(t, testPassThrough)
}

func testPassThrough(t *testing.T, engine string) {
	t.Run("unmatched destination", func(t *testing.T) {
		testutil.RequireTool(t, python)
		e := newEngineEnv(t, engine)
		recOther := e.recorder(other4)
		argv := append(append([]string{python, "-c", pyConnect}, hostPort(other4)...), hostPort(dst4)...)

		res := e.run(argv...)
		wantOK(t, "without vipa-exec", res)
		wantSources(t, "without vipa-exec", recOther, map[netip.Addr]int{other4: 1})
		wantSources(t, "without vipa-exec", e.rec4, map[netip.Addr]int{dst4: 1})

		recOther.Reset()
		e.rec4.Reset()
		res = e.wrapped(e.policy(standardPolicy), argv...)
		wantOK(t, "under vipa-exec", res)
		wantSources(t, "unmatched destination", recOther, map[netip.Addr]int{other4: 1})
		wantSources(t, "matched destination", e.rec4, map[netip.Addr]int{vipa4: 1})
	})

	t.Run("explicit bind", func(t *testing.T) {
		e := newEngineEnv(t, engine)
		gc := goClient(t)
		dst := netip.AddrPortFrom(dst4, serverPort).String()
		// One connection from a socket bound to 192.0.2.11, one unbound.
		argv := []string{"/bin/sh", "-c", `"$0" -bind "$1" -connect "$2" && "$0" -connect "$2"`, gc, vipa4b.String(), dst}

		res := e.run(argv...)
		wantOK(t, "without vipa-exec", res)
		wantSources(t, "without vipa-exec", e.rec4, map[netip.Addr]int{vipa4b: 1, dst4: 1})

		e.rec4.Reset()
		res = e.wrapped(e.policy(standardPolicy), argv...)
		wantOK(t, "under vipa-exec", res)
		wantSources(t, "under vipa-exec", e.rec4, map[netip.Addr]int{vipa4b: 1, vipa4: 1})
	})
}
