//go:build linux

package tests

import (
	"io"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

const bindPolicy = `[[bind]]
ports   = "6000-6999"
sources = ["192.0.2.10"]
policy  = "onevipa"
`

// TestIntegrationBindRule runs a server that binds a wildcard address and
// checks where it really listens: with ss inside the namespace, and by
// connecting to the loopback address (refused once moved) and to the VIPA.
func TestIntegrationBindRule(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.ForEngines(t, testBindRule)
}

func testBindRule(t *testing.T, engine string) {
	loop4 := netip.MustParseAddr("127.0.0.1")
	unspec4 := netip.IPv4Unspecified()
	tests := []struct {
		name    string
		wrapped bool
		network string
		listen  string
		port    uint16
		// want is the address ss must show, unmapped.
		want netip.Addr
		// refused are dialed first and must be refused; then ok is dialed
		// and must reach the server.
		refused []netip.Addr
		ok      netip.Addr
	}{
		{
			name: "baseline 0.0.0.0:6000 without vipa-exec", network: "tcp4", listen: "0.0.0.0:6000", port: 6000,
			want: unspec4, ok: loop4,
		},
		{
			name: "0.0.0.0:6000 moves to the VIPA", wrapped: true, network: "tcp4", listen: "0.0.0.0:6000", port: 6000,
			want: vipa4, refused: []netip.Addr{loop4}, ok: vipa4,
		},
		{
			name: "Go :6000 ([::]:6000) moves to the VIPA", wrapped: true, network: "tcp", listen: ":6000", port: 6000,
			want: vipa4, refused: []netip.Addr{loop4, netip.IPv6Loopback()}, ok: vipa4,
		},
		{
			name: "6999, the end of the range, moves", wrapped: true, network: "tcp4", listen: "0.0.0.0:6999", port: 6999,
			want: vipa4, refused: []netip.Addr{loop4}, ok: vipa4,
		},
		{
			name: "7000 is outside the range", wrapped: true, network: "tcp4", listen: "0.0.0.0:7000", port: 7000,
			want: unspec4, ok: loop4,
		},
		{
			name: "5999 is outside the range", wrapped: true, network: "tcp4", listen: "0.0.0.0:5999", port: 5999,
			want: unspec4, ok: loop4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngineEnv(t, engine)
			argv := []string{goClient(t), "-network", tt.network, "-serve", "-listen", tt.listen}
			if tt.wrapped {
				argv = e.vipa(e.policy(bindPolicy), argv...)
			}
			p := testutil.Start(t, e.command(argv...))
			printed := p.Line(t)

			var got []netip.AddrPort
			for _, ap := range e.ns.Listening(t) {
				if ap.Port() == tt.port {
					got = append(got, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
				}
			}
			want := []netip.AddrPort{netip.AddrPortFrom(tt.want, tt.port)}
			if d := testutil.Diff(want, got); d != "" {
				t.Errorf("ss -ltnH: listeners on port %d (-want +got):\n%s", tt.port, d)
			}
			if ap, err := netip.ParseAddrPort(printed); err != nil || ap.Addr().Unmap() != tt.want {
				t.Errorf("server printed local address %q, want %v", printed, tt.want)
			}

			for _, a := range tt.refused {
				addr := netip.AddrPortFrom(a, tt.port).String()
				c, err := e.ns.Dial("tcp", addr)
				if err == nil {
					_ = c.Close()
					t.Errorf("dial %s: connected, want connection refused", addr)
					break // the server served its one connection
				}
				if !testutil.IsRefused(err) {
					t.Errorf("dial %s: %v, want connection refused", addr, err)
				}
			}
			addr := netip.AddrPortFrom(tt.ok, tt.port).String()
			if c, err := e.ns.Dial("tcp", addr); err != nil {
				t.Errorf("dial %s: %v, want the server", addr, err)
			} else {
				b, err := io.ReadAll(c)
				_ = c.Close()
				if err != nil || string(b) != "hello\n" {
					t.Errorf("dial %s: read %q, %v; want the server's hello", addr, b, err)
				}
			}

			// Unblock a server still waiting after a failed check.
			if t.Failed() {
				_ = p.Cmd.Process.Kill()
			}
			res := p.Wait(t)
			if !t.Failed() {
				wantOK(t, "server", res)
			}
			if tt.wrapped {
				e.supervisorGone(res)
			}
		})
	}
}

// TestIntegrationBindPrivilegedPort: a [[bind]] rule must not lend the
// supervisor's privileges. Port 80 is below ip_unprivileged_port_start, so a
// program without CAP_NET_BIND_SERVICE gets EACCES, as it would without
// vipa-exec; root gets the port on the VIPA.
func TestIntegrationBindPrivilegedPort(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "setpriv")
	testutil.ForEngines(t, testBindPrivilegedPort)
}

func testBindPrivilegedPort(t *testing.T, engine string) {
	const policy = `[[bind]]
ports   = "80"
sources = ["192.0.2.10"]
policy  = "onevipa"
`
	tests := []struct {
		name string
		// argv wraps the server's argv.
		argv func(e *env, pol string, server []string) []string
		// want is the printed local address, or zero for EACCES.
		want    netip.AddrPort
		wrapped bool
	}{
		{
			name: "nobody without vipa-exec",
			argv: func(e *env, pol string, server []string) []string { return asNobody(server...) },
		},
		{
			name: "vipa-exec as root, program as nobody (-u nobody)", wrapped: true,
			argv: func(e *env, pol string, server []string) []string {
				return append(e.exec("-u", "nobody", "-g", "nogroup", "-p", pol), server...)
			},
		},
		{
			name: "vipa-exec as nobody", wrapped: true,
			argv: func(e *env, pol string, server []string) []string { return asNobody(e.vipa(pol, server...)...) },
		},
		{
			name: "root under vipa-exec (control)", wrapped: true,
			argv: func(e *env, pol string, server []string) []string { return e.vipa(pol, server...) },
			want: netip.AddrPortFrom(vipa4, 80),
		},
	}
	for _, tt := range tests {
		// The bpf engine needs privileges nobody lacks: an unprivileged
		// vipa-exec runs seccomp (auto) or exits 2 (--engine=bpf).
		if engine == "bpf" && tt.name == "vipa-exec as nobody" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			e := newEngineEnv(t, engine)
			server := []string{goClient(t), "-network", "tcp4", "-listen", "0.0.0.0:80"}
			res := e.run(tt.argv(e, e.policy(policy), server)...)
			if tt.wrapped {
				e.supervisorGone(res)
			}
			if tt.want.IsValid() {
				wantOK(t, "server", res)
				if got := strings.TrimSpace(res.Stdout); got != tt.want.String() {
					t.Errorf("server listens on %q, want %v", got, tt.want)
				}
				return
			}
			if res.Exit != 1 || !strings.Contains(res.Stderr, "errno=EACCES") {
				t.Errorf("bind 0.0.0.0:80: want exit 1 with errno=EACCES, got %v", res)
			}
		})
	}
}

// TestIntegrationBindProgramChecks: a [[bind]] rule moves the program's own
// bind, which the kernel checks against the program, never against the
// supervisor: a program (run as nobody by a root vipa-exec) that denies
// itself every TCP bind with Landlock gets EACCES and listens nowhere. Its
// sockaddr, also a read-only one, holds the VIPA afterwards.
func TestIntegrationBindProgramChecks(t *testing.T) {
	testutil.RequireRoot(t)
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	testutil.Require(t, errno == 0 && abi >= 4, "needs Landlock ABI 4 (Linux 6.7, landlock in lsm=) for network rules")
	testutil.ForEngines(t, testBindProgramChecks)
}

func testBindProgramChecks(t *testing.T, engine string) {
	llbind := testutil.BuildC(t, "tests/clients/llbind/llbind.c")
	// The seccomp engine rewrites the program's sockaddr; the bpf engine
	// the kernel's copy, and the program's buffer keeps the wildcard.
	moved := "192.0.2.10"
	if engine == "bpf" {
		moved = "0.0.0.0"
	}
	tests := []struct {
		name    string
		wrapped bool
		args    []string
		port    uint16
		// want is the client's line; listen the address ss must show on
		// port, or none.
		want   string
		listen netip.Addr
	}{
		{name: "Landlock without vipa-exec (control)", args: []string{"-l", "6000"}, port: 6000,
			want: "errno=EACCES"},
		{name: "without Landlock the bind moves", wrapped: true, args: []string{"6000"}, port: 6000,
			want: "local=192.0.2.10:6000 buffer=" + moved, listen: vipa4},
		{name: "Landlock denies the moved bind", wrapped: true, args: []string{"-l", "6000"}, port: 6000,
			want: "errno=EACCES"},
		{name: "read-only sockaddr without vipa-exec (control)", args: []string{"-r", "6001"}, port: 6001,
			want: "local=0.0.0.0:6001 buffer=0.0.0.0", listen: netip.IPv4Unspecified()},
		{name: "read-only sockaddr moves", wrapped: true, args: []string{"-r", "6001"}, port: 6001,
			want: "local=192.0.2.10:6001 buffer=" + moved, listen: vipa4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngineEnv(t, engine)
			argv := append([]string{llbind}, tt.args...)
			if tt.wrapped {
				argv = append(e.exec("-u", "nobody", "-g", "nogroup", "-p", e.policy(bindPolicy)), argv...)
			} else {
				argv = asNobody(argv...)
			}
			cmd := e.command(argv...)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			p := testutil.Start(t, cmd)
			if got := p.Line(t); got != tt.want {
				t.Errorf("llbind printed %q, want %q", got, tt.want)
			}
			// llbind waits for end of file: look while it holds its socket.
			var got []netip.Addr
			for _, ap := range e.ns.Listening(t) {
				if ap.Port() == tt.port {
					got = append(got, ap.Addr())
				}
			}
			var want []netip.Addr
			if tt.listen.IsValid() {
				want = append(want, tt.listen)
			}
			if d := testutil.Diff(want, got); d != "" {
				t.Errorf("ss -ltnH: listeners on port %d (-want +got):\n%s", tt.port, d)
			}
			if !tt.listen.IsValid() {
				addr := netip.AddrPortFrom(vipa4, tt.port).String()
				if c, err := e.ns.Dial("tcp", addr); err == nil {
					_ = c.Close()
					t.Errorf("dial %s: connected, want connection refused", addr)
				} else if !testutil.IsRefused(err) {
					t.Errorf("dial %s: %v, want connection refused", addr, err)
				}
			}
			_ = stdin.Close()
			res := p.Wait(t)
			wantOK(t, "llbind", res)
			if tt.wrapped {
				e.supervisorGone(res)
			}
		})
	}
}

// TestIntegrationBindUnwritable: a sockaddr in a read-only shared mapping
// cannot be rewritten (not even /proc/PID/mem writes a shared page the
// program may not write). That is vipa-exec's failure, and the rule's
// on_error decides: "continue" leaves the bind on the wildcard address,
// "fail" returns the errno (EFAULT); either way with one warning for all
// three binds. Under bpf the hook rewrites the kernel's copy of the
// address, so the bind moves, whatever on_error says, without a warning.
func TestIntegrationBindUnwritable(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.ForEngines(t, testBindUnwritable)
}

func testBindUnwritable(t *testing.T, engine string) {
	llbind := testutil.BuildC(t, "tests/clients/llbind/llbind.c")
	const warning = "cannot rewrite a call a rule matched"
	tests := []struct {
		onError  string
		want     string
		warnings int
	}{
		{onError: "continue", want: "local=0.0.0.0:6002 buffer=0.0.0.0", warnings: 1},
		{onError: "fail", want: "errno=14", warnings: 1}, // EFAULT
	}
	if engine == "bpf" {
		for i := range tests {
			tests[i].want, tests[i].warnings = "local=192.0.2.10:6002 buffer=0.0.0.0", 0
		}
	}
	for _, tt := range tests {
		t.Run(tt.onError, func(t *testing.T) {
			e := newEngineEnv(t, engine)
			pol := e.policy(bindPolicy + `on_error = "` + tt.onError + `"` + "\n")
			res := e.wrapped(pol, llbind, "-s", "-n", "3", "6002")
			wantOK(t, "llbind", res)
			if got := strings.TrimSpace(res.Stdout); got != tt.want {
				t.Errorf("llbind printed %q, want %q", got, tt.want)
			}
			if n := strings.Count(res.Stderr, warning); n != tt.warnings {
				t.Errorf("stderr has %d warnings %q, want %d:\n%s", n, warning, tt.warnings, res.Stderr)
			}
		})
	}
}
