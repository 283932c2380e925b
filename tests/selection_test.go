//go:build linux

package tests

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationPolicySelection checks, end to end, which rule and which
// source the policy picks.
func TestIntegrationPolicySelection(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.ForEngines(t, testPolicySelection)
}

func testPolicySelection(t *testing.T, engine string) {
	t.Run("most specific destination wins over file order", func(t *testing.T) {
		e := newEngineEnv(t, engine)
		recOther := e.recorder(other4)
		pol := e.policy(`[[connect]]
destination = "10.0.0.0/8"
sources     = ["192.0.2.11"]
policy      = "onevipa"

[[connect]]
destination = "10.1.2.3/32"
sources     = ["192.0.2.10"]
policy      = "onevipa"
`)
		argv := append(append([]string{python, "-c", pyConnect}, hostPort(dst4)...), hostPort(other4)...)
		res := e.wrapped(pol, argv...)
		wantOK(t, "python", res)
		wantSources(t, "10.1.2.3/32 rule", e.rec4, map[netip.Addr]int{vipa4: 1})
		wantSources(t, "10.0.0.0/8 rule", recOther, map[netip.Addr]int{vipa4b: 1})
	})

	t.Run("onevipa takes the first source", func(t *testing.T) {
		e := newEngineEnv(t, engine)
		pol := e.policy(`[[connect]]
destination = "10.1.2.0/24"
sources     = ["192.0.2.11", "192.0.2.10"]
policy      = "onevipa"
`)
		res := e.wrapped(pol, cClient(t), "-t", "4", "-n", "25", dst4.String(), fmt.Sprint(serverPort))
		wantOK(t, "C client", res)
		wantSources(t, "onevipa", e.rec4, map[netip.Addr]int{vipa4b: 100})
	})

	t.Run("random uses every source and only those", func(t *testing.T) {
		e := newEngineEnv(t, engine)
		pol := e.policy(`[[connect]]
destination = "10.1.2.0/24"
sources     = ["192.0.2.10", "192.0.2.11"]
policy      = "random"
`)
		const n = 400
		res := e.wrapped(pol, cClient(t), "-t", "4", "-n", fmt.Sprint(n/4), dst4.String(), fmt.Sprint(serverPort))
		wantOK(t, "C client", res)
		e.rec4.Wait(t, n)
		got := e.rec4.Sources()
		// Each source missing from 400 fair draws has probability 2^-400.
		if len(got) != 2 || got[vipa4] == 0 || got[vipa4b] == 0 || got[vipa4]+got[vipa4b] != n {
			t.Errorf("random over %d connections: sources %v, want both %v and %v and nothing else", n, got, vipa4, vipa4b)
		}
	})
}

// TestIntegrationOnError: a source the machine does not have cannot be
// bound. on_error = "continue" (the default) warns and lets the connection
// go on from the kernel's source; "fail" returns bind's errno to the program
// under seccomp, and EPERM under bpf (a sock_addr program can only allow or
// deny a call).
func TestIntegrationOnError(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.ForEngines(t, testOnError)
}

func testOnError(t *testing.T, engine string) {
	const missing = "192.0.2.99" // on no interface
	policyFor := func(onError string) string {
		s := fmt.Sprintf("[[connect]]\ndestination = \"10.1.2.0/24\"\nsources     = [%q]\npolicy      = \"onevipa\"\n", missing)
		if onError != "" {
			s += fmt.Sprintf("on_error    = %q\n", onError)
		}
		return s
	}
	dst := netip.AddrPortFrom(dst4, serverPort).String()

	for _, onError := range []string{"", "continue"} {
		t.Run(fmt.Sprintf("on_error=%q", onError), func(t *testing.T) {
			e := newEngineEnv(t, engine)
			res := e.wrapped(e.policy(policyFor(onError)), goClient(t), "-connect", dst)
			wantOK(t, "go client", res)
			wantSources(t, "unbindable source", e.rec4, map[netip.Addr]int{dst4: 1})
			if strings.TrimSpace(res.Stderr) == "" {
				t.Errorf("no warning on stderr")
			}
			t.Logf("warning: %s", res.Stderr)
		})
	}

	t.Run(`on_error="fail"`, func(t *testing.T) {
		e := newEngineEnv(t, engine)
		res := e.wrapped(e.policy(policyFor("fail")), goClient(t), "-connect", dst)
		errno := "EADDRNOTAVAIL" // bind's error
		if engine == "bpf" {
			errno = "EPERM"
		}
		if res.Exit != 1 || !strings.Contains(res.Stderr, "errno="+errno) {
			t.Errorf("connect: want exit 1 with errno=%s, got %v", errno, res)
		}
		if n := e.rec4.Count(); n != 0 {
			t.Errorf("the server saw %d connections, want none", n)
		}
	})
}

// pyUDP sends one datagram from a connected UDP socket and prints its local
// address.
const pyUDP = `
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
s.send(b"hello")
print(s.getsockname()[0], flush=True)
`

// TestIntegrationUDPConnect: connect() on a UDP socket is trapped like TCP's,
// and the datagram leaves from the VIPA.
func TestIntegrationUDPConnect(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, python)
	testutil.ForEngines(t, testUDPConnect)
}

func testUDPConnect(t *testing.T, engine string) {
	for _, fam := range []struct {
		name      string
		network   string
		dst, vipa netip.Addr
	}{
		{"ipv4", "udp4", dst4, vipa4},
		{"ipv6", "udp6", dst6, vipa6},
	} {
		t.Run(fam.name, func(t *testing.T) {
			e := newEngineEnv(t, engine)
			pc := e.ns.ListenPacket(t, fam.network, netip.AddrPortFrom(fam.dst, serverPort).String())
			argv := append([]string{python, "-c", pyUDP}, hostPort(fam.dst)...)

			res := e.run(argv...)
			wantOK(t, "without vipa-exec", res)
			if got := recvFrom(t, pc); got != fam.dst {
				t.Errorf("without vipa-exec: datagram from %v, want %v", got, fam.dst)
			}

			res = e.wrapped(e.policy(standardPolicy), argv...)
			wantOK(t, "under vipa-exec", res)
			if got := recvFrom(t, pc); got != fam.vipa {
				t.Errorf("under vipa-exec: datagram from %v, want %v", got, fam.vipa)
			}
			wantLocal(t, "under vipa-exec", res, fam.vipa)
		})
	}
}

// recvFrom reads one datagram and returns its source address.
func recvFrom(t *testing.T, pc net.PacketConn) netip.Addr {
	t.Helper()
	if err := pc.SetReadDeadline(time.Now().Add(testutil.WaitTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	return from.(*net.UDPAddr).AddrPort().Addr().Unmap()
}
