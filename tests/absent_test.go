//go:build linux

package tests

import (
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// shBatches runs the Go client for a batch of connections each time a line
// arrives on stdin, and then prints "done", or "failed" and "done" when some
// connection failed. The client's own output goes to /dev/null; its errors
// to stderr.
const shBatches = `while read n; do "$0" -n "$n" -c 4 -connect "$1" >/dev/null || echo failed; echo done; done`

// batchClient is shBatches under vipa-exec. The test waits for the
// supervisor's log lines on stderr, and for "done" on stdout: events, so the
// batches never race with an address change.
type batchClient struct {
	t     *testing.T
	p     *testutil.Proc
	stdin io.WriteCloser
	log   *logLines
}

// logLines keeps the lines written to it and wakes whoever waits for one.
type logLines struct {
	mu    sync.Mutex
	buf   string
	lines []string
	more  chan struct{} // closed and replaced on every new line
}

func newLogLines() *logLines { return &logLines{more: make(chan struct{})} }

func (l *logLines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf += string(b)
	for {
		i := strings.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, l.buf[:i])
		l.buf = l.buf[i+1:]
		close(l.more)
		l.more = make(chan struct{})
	}
	return len(b), nil
}

// matching returns the lines that contain every one of needles.
func (l *logLines) matching(needles ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		ok := true
		for _, n := range needles {
			ok = ok && strings.Contains(line, n)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + l.buf
}

// wait blocks until a line contains every one of needles.
func (l *logLines) wait(t *testing.T, needles ...string) {
	t.Helper()
	l.waitN(t, 1, needles...)
}

// waitN blocks until n lines contain every one of needles.
func (l *logLines) waitN(t *testing.T, n int, needles ...string) {
	t.Helper()
	timeout := time.After(testutil.WaitTimeout)
	for {
		l.mu.Lock()
		more := l.more
		l.mu.Unlock()
		if len(l.matching(needles...)) >= n {
			return
		}
		select {
		case <-more:
		case <-timeout:
			t.Fatalf("not %d lines with %q on stderr after %v:\n%s", n, needles, testutil.WaitTimeout, l)
		}
	}
}

// startBatches starts shBatches under vipa-exec with pol and the options
// opts (--log-level debug, say).
func (e *env) startBatches(t *testing.T, pol string, dst netip.Addr, opts ...string) *batchClient {
	t.Helper()
	argv := append(opts, "sh", "-c", shBatches, goClient(t), netip.AddrPortFrom(dst, serverPort).String())
	cmd := e.command(e.vipa(pol, argv...)...)
	c := &batchClient{t: t, log: newLogLines()}
	cmd.Stderr = c.log
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	c.p = testutil.Start(t, cmd)
	t.Cleanup(func() { _ = c.stdin.Close() })
	return c
}

// batch makes n connections and reports whether all succeeded.
func (c *batchClient) batch(n int) bool {
	c.t.Helper()
	if _, err := fmt.Fprintln(c.stdin, n); err != nil {
		c.t.Fatal(err)
	}
	ok := true
	for {
		switch line := c.p.Line(c.t); line {
		case "done":
			return ok
		case "failed":
			ok = false
		default:
			c.t.Fatalf("client printed %q", line)
		}
	}
}

func (c *batchClient) stop() {
	c.t.Helper()
	_ = c.stdin.Close()
	wantOK(c.t, "client", c.p.Wait(c.t))
}

// ip runs ip(8) on the namespace.
func (e *env) ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", e.ns.Name}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// TestIntegrationAbsentSources removes a VIPA from lo while a program
// connects in batches under onevipa and rr, then adds it back: the rule
// skips the source while it is gone, with one warning each way, and no
// connection fails.
func TestIntegrationAbsentSources(t *testing.T) { testutil.ForEngines(t, testAbsentSources) }

func testAbsentSources(t *testing.T, engine string) {
	const n = 40
	for _, tt := range []struct {
		policy           string
		removed          netip.Addr
		before, whileOut map[netip.Addr]int
	}{
		// onevipa falls to the next source listed.
		{"onevipa", vipa4, map[netip.Addr]int{vipa4: n}, map[netip.Addr]int{vipa4b: n}},
		// rr rotates over the sources present.
		{"rr", vipa4b, map[netip.Addr]int{vipa4: n / 2, vipa4b: n / 2}, map[netip.Addr]int{vipa4: n}},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			e := newEngineEnv(t, engine)
			pol := e.policy(fmt.Sprintf("[[connect]]\ndestination = \"10.1.2.0/24\"\nsources     = [%q, %q]\npolicy      = %q\n", vipa4, vipa4b, tt.policy))
			c := e.startBatches(t, pol, dst4)
			prefix := netip.PrefixFrom(tt.removed, 32).String()
			phase := func(what string, want map[netip.Addr]int) {
				t.Helper()
				e.rec4.Reset()
				if !c.batch(n) {
					t.Fatalf("%s: a connection failed; stderr:\n%s", what, c.log)
				}
				wantSources(t, what, e.rec4, want)
			}
			phase("all sources present", tt.before)

			e.ip(t, "addr", "del", prefix, "dev", "lo")
			c.log.wait(t, "source is gone", "source="+tt.removed.String(), "rules="+pol+":1")
			phase("while "+tt.removed.String()+" is gone", tt.whileOut)

			e.ns.AddAddr(t, prefix)
			c.log.wait(t, "source is back", "source="+tt.removed.String())
			phase("once it is back", tt.before)
			c.stop()
			for _, what := range []string{"source is gone", "source is back"} {
				if got := c.log.matching(what); len(got) != 1 {
					t.Errorf("%d lines %q, want 1:\n%s", len(got), what, c.log)
				}
			}
			if got := c.log.matching("no source of the rule"); len(got) != 0 {
				t.Errorf("a source was present all along, yet:\n%s", strings.Join(got, "\n"))
			}
		})
	}
}

// TestIntegrationAbsentAll: with every source of a rule gone, on_error =
// "fail" fails the program's connect with EADDRNOTAVAIL (EPERM under bpf),
// and the supervisor says so once; "continue" leaves the kernel's choice.
func TestIntegrationAbsentAll(t *testing.T) { testutil.ForEngines(t, testAbsentAll) }

func testAbsentAll(t *testing.T, engine string) {
	errno, logged := "EADDRNOTAVAIL", "with EADDRNOTAVAIL under the seccomp engine"
	if engine == "bpf" {
		errno, logged = "EPERM", "EPERM under bpf" // a sock_addr program can only refuse
	}
	for _, tt := range []struct {
		onError string
		effect  string
	}{
		{"fail", logged},
		{"continue", "the kernel's choice"},
	} {
		t.Run(tt.onError, func(t *testing.T) {
			e := newEngineEnv(t, engine)
			pol := e.policy(fmt.Sprintf("[[connect]]\ndestination = \"10.1.2.0/24\"\nsources     = [%q]\non_error    = %q\n", vipa4, tt.onError))
			c := e.startBatches(t, pol, dst4)
			if !c.batch(2) {
				t.Fatalf("a connection failed with the source present:\n%s", c.log)
			}
			e.ip(t, "addr", "del", netip.PrefixFrom(vipa4, 32).String(), "dev", "lo")
			c.log.wait(t, "no source of the rule is present", tt.effect, "rule="+pol+":1")
			e.rec4.Reset()
			for range 3 {
				ok := c.batch(2)
				if tt.onError == "fail" && ok {
					t.Fatalf("connections succeeded with no source present; stderr:\n%s", c.log)
				}
				if tt.onError == "continue" && !ok {
					t.Fatalf("a connection failed; stderr:\n%s", c.log)
				}
			}
			if tt.onError == "fail" {
				// Each failed batch's client says why, on another pipe.
				c.log.waitN(t, 3, "errno="+errno)
				if n := e.rec4.Count(); n != 0 {
					t.Errorf("the server saw %d connections, want none", n)
				}
			} else {
				// The kernel's source to a server on lo is the server's address.
				wantSources(t, "no source present", e.rec4, map[netip.Addr]int{dst4: 6})
			}
			e.ns.AddAddr(t, netip.PrefixFrom(vipa4, 32).String())
			c.log.wait(t, "a source of the rule is present again", "rule="+pol+":1")
			e.rec4.Reset()
			if !c.batch(2) {
				t.Fatalf("a connection failed once the source was back:\n%s", c.log)
			}
			wantSources(t, "source back", e.rec4, map[netip.Addr]int{vipa4: 2})
			c.stop()
			if got := c.log.matching("no source of the rule is present"); len(got) != 1 {
				t.Errorf("%d lines about the rule with no source, want 1:\n%s", len(got), c.log)
			}
		})
	}
}

// TestIntegrationAbsentUse: absent_sources = "use" keeps the behaviour of
// vipa-exec before it followed addresses: a gone source is still chosen,
// its bind fails, and on_error decides. Under bpf the failed bind is the
// program's, in the kernel, and nothing logs it.
func TestIntegrationAbsentUse(t *testing.T) { testutil.ForEngines(t, testAbsentUse) }

func testAbsentUse(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	pol := e.policy(fmt.Sprintf("[options]\nabsent_sources = \"use\"\n\n[[connect]]\ndestination = \"10.1.2.0/24\"\nsources     = [%q, %q]\n", vipa4, vipa4b))
	c := e.startBatches(t, pol, dst4)
	if !c.batch(2) {
		t.Fatalf("a connection failed; stderr:\n%s", c.log)
	}
	wantSources(t, "source present", e.rec4, map[netip.Addr]int{vipa4: 2})
	e.rec4.Reset()
	e.ip(t, "addr", "del", netip.PrefixFrom(vipa4, 32).String(), "dev", "lo")
	c.log.wait(t, "source is gone", "still bind to it", "source="+vipa4.String())
	if !c.batch(4) {
		t.Fatalf("a connection failed; stderr:\n%s", c.log)
	}
	// onevipa stays on its first source; on_error = "continue" leaves the
	// kernel's choice when the bind fails.
	wantSources(t, "absent_sources = use", e.rec4, map[netip.Addr]int{dst4: 4})
	c.stop()
	if engine == "seccomp" {
		c.log.wait(t, "cannot bind source address", "source="+vipa4.String())
	}
}

// TestIntegrationAbsentAtStart: vipa-exec warns once per source that is not
// an address of the host before it starts the program, and the rule skips
// it; an IPv6 address still tentative (duplicate address detection waits
// for the carrier of a veth whose peer is down) counts as absent until it
// is usable.
func TestIntegrationAbsentAtStart(t *testing.T) { testutil.ForEngines(t, testAbsentAtStart) }

func testAbsentAtStart(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	const missing = "192.0.2.99"
	tentative := netip.MustParseAddr("2001:db8:2::20")
	e.ip(t, "link", "add", "vt0", "type", "veth", "peer", "name", "vt1")
	e.ip(t, "link", "set", "vt0", "up")
	e.ip(t, "addr", "add", netip.PrefixFrom(tentative, 128).String(), "dev", "vt0")
	pol := e.policy(fmt.Sprintf(`[[connect]]
destination = "10.1.2.0/24"
sources     = [%q, %q]

[[connect]]
destination = "2001:db8:1::/64"
sources     = [%q, %q]
`, missing, vipa4, tentative, vipa6))
	c := e.startBatches(t, pol, dst6)
	for _, src := range []string{missing, tentative.String()} {
		c.log.wait(t, "vipa-exec: warning: source is not an address of this host; its rules skip it until it is (source: "+src+")")
	}
	if !c.batch(3) {
		t.Fatalf("a connection failed; stderr:\n%s", c.log)
	}
	wantSources(t, "IPv6, tentative source", e.rec6, map[netip.Addr]int{vipa6: 3})
	e.ip(t, "link", "set", "vt1", "up")
	c.log.wait(t, "source is back", "source="+tentative.String())
	e.rec6.Reset()
	if !c.batch(3) {
		t.Fatalf("a connection failed; stderr:\n%s", c.log)
	}
	wantSources(t, "IPv6, source usable", e.rec6, map[netip.Addr]int{tentative: 3})
	c.stop()
	if got := c.log.matching("vipa-exec: warning: source is not an address"); len(got) != 2 {
		t.Errorf("%d start-up warnings, want 2 (%s and %s):\n%s", len(got), missing, tentative, c.log)
	}
	// The IPv4 rule too skips the missing source.
	res := e.wrapped(pol, goClient(t), "-connect", netip.AddrPortFrom(dst4, serverPort).String())
	wantOK(t, "go client", res)
	wantSources(t, "IPv4, missing source", e.rec4, map[netip.Addr]int{vipa4: 1})
}

// TestIntegrationExplainAbsent: --explain marks the sources that are not
// addresses of the host and computes the next source without them.
func TestIntegrationExplainAbsent(t *testing.T) {
	e := newEnv(t)
	pol := e.policy(`[[connect]]
destination = "10.1.2.0/24"
sources     = ["192.0.2.99", "192.0.2.10"]

[[connect]]
destination = "10.9.9.0/24"
sources     = ["192.0.2.98"]
on_error    = "fail"
`)
	res := e.run(e.vipaExec, "--explain", netip.AddrPortFrom(dst4, serverPort).String(), "-p", pol)
	wantOK(t, "vipa-exec --explain", res)
	for _, want := range []string{
		"192.0.2.99 (absent: not an address of this host; skipped), 192.0.2.10\n",
		"next source: 192.0.2.10\n",
	} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("--explain %v: no %q in:\n%s", dst4, want, res.Stdout)
		}
	}
	res = e.run(e.vipaExec, "--explain", netip.AddrPortFrom(other4, serverPort).String(), "-p", pol)
	wantOK(t, "vipa-exec --explain", res)
	if want := `next source: none: no source is present, and on_error = "fail": the call fails with EADDRNOTAVAIL`; !strings.Contains(res.Stdout, want) {
		t.Errorf("--explain %v: no %q in:\n%s", other4, want, res.Stdout)
	}
}

// TestIntegrationAbsentReload: a reloaded policy whose source is not an
// address of the host is logged, and its rule skips that source. Under bpf
// the engine started with every source present must still know the host's
// addresses when the reload comes.
func TestIntegrationAbsentReload(t *testing.T) { testutil.ForEngines(t, testAbsentReload) }

func testAbsentReload(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	const missing = "192.0.2.99"
	pol := e.policy(fmt.Sprintf("[[connect]]\ndestination = \"10.1.2.0/24\"\nsources     = [%q]\n", vipa4))
	c := e.startBatches(t, pol, dst4)
	if !c.batch(2) {
		t.Fatalf("a connection failed; stderr:\n%s", c.log)
	}
	wantSources(t, "before the reload", e.rec4, map[netip.Addr]int{vipa4: 2})
	writeAtomic(t, pol, fmt.Sprintf("[[connect]]\ndestination = \"10.1.2.0/24\"\nsources     = [%q, %q]\n", missing, vipa4b))
	c.log.wait(t, "source is not an address of this host", "source="+missing, "rules="+pol+":1")
	e.rec4.Reset()
	if !c.batch(2) {
		t.Fatalf("a connection failed; stderr:\n%s", c.log)
	}
	wantSources(t, "after the reload", e.rec4, map[netip.Addr]int{vipa4b: 2})
	c.stop()
}
