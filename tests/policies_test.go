//go:build linux

package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/bpfengine"
	"github.com/vipa-exec/vipa-exec/internal/rrstate"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// thirdVIPA is the third IPv4 VIPA of the policy tests, besides vipa4 and
// vipa4b.
var thirdVIPA = netip.MustParseAddr("192.0.2.12")

// threeVIPAs are the sources of the policy tests, in rule order.
var threeVIPAs = []netip.Addr{vipa4, vipa4b, thirdVIPA}

// policyEnv is a test environment with a third VIPA, whose vipa-exec runs
// the seccomp engine.
func policyEnv(t *testing.T) *env { return policyEngineEnv(t, "seccomp") }

// policyEngineEnv is a test environment with a third VIPA, whose vipa-exec
// runs engine.
func policyEngineEnv(t *testing.T, engine string) *env {
	e := newEngineEnv(t, engine)
	e.ns.AddAddr(t, thirdVIPA.String()+"/32")
	return e
}

// threePolicy is a policy sending dst4's network out of the three VIPAs
// with the given policy and extra keys.
func threePolicy(policy string, extra ...string) string {
	return fmt.Sprintf("[[connect]]\ndestination = \"10.1.2.0/24\"\nsources     = [\"192.0.2.10\", \"192.0.2.11\", \"192.0.2.12\"]\npolicy      = %q\n%s", policy, strings.Join(extra, "\n"))
}

// goDial makes n connections, one at a time, to addr:port.
func goDial(t *testing.T, a netip.Addr, port, n int) []string {
	return []string{goClient(t), "-n", fmt.Sprint(n), "-connect", netip.AddrPortFrom(a, uint16(port)).String()}
}

// peers are the sources of the connections rec accepted, in order.
func peers(rec *testutil.Recorder) []netip.Addr {
	var out []netip.Addr
	for _, p := range rec.Peers() {
		out = append(out, p.Addr())
	}
	return out
}

// wantRotation fails unless seq walks srcs in their order, from any start.
func wantRotation(t *testing.T, what string, seq, srcs []netip.Addr) {
	t.Helper()
	if len(seq) == 0 {
		t.Errorf("%s: no connections", what)
		return
	}
	start := slices.Index(srcs, seq[0])
	want := make([]netip.Addr, len(seq))
	for i := range want {
		want[i] = srcs[(max(start, 0)+i)%len(srcs)]
	}
	if d := testutil.Diff(want, seq); d != "" {
		t.Errorf("%s: sources are not a rotation over %v (-want +got):\n%s", what, srcs, d)
	}
}

func TestIntegrationPolicyOneVIPA(t *testing.T) { testutil.ForEngines(t, testPolicyOneVIPA) }

func testPolicyOneVIPA(t *testing.T, engine string) {
	e := policyEngineEnv(t, engine)
	res := e.wrapped(e.policy(threePolicy("onevipa")), goDial(t, dst4, serverPort, 30)...)
	wantOK(t, "go client", res)
	wantSources(t, "onevipa", e.rec4, map[netip.Addr]int{vipa4: 30})
}

// chiSquareP is the probability that a uniform distribution over
// len(counts) outcomes (an odd number) gives a chi-square statistic at least
// that of counts: Q(x; 2m) = exp(-x/2) * sum_{j<m} (x/2)^j / j!.
func chiSquareP(counts []int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	want := float64(total) / float64(len(counts))
	var x float64
	for _, c := range counts {
		x += (float64(c) - want) * (float64(c) - want) / want
	}
	term, sum := 1.0, 0.0
	for j := 0; j < (len(counts)-1)/2; j++ {
		if j > 0 {
			term *= x / 2 / float64(j)
		}
		sum += term
	}
	return math.Exp(-x/2) * sum
}

func TestIntegrationPolicyRandom(t *testing.T) { testutil.ForEngines(t, testPolicyRandom) }

func testPolicyRandom(t *testing.T, engine string) {
	e := policyEngineEnv(t, engine)
	const n = 3000
	res := e.wrapped(e.policy(threePolicy("random")), goClient(t), "-n", fmt.Sprint(n), "-c", "4", "-connect", netip.AddrPortFrom(dst4, serverPort).String())
	wantOK(t, "go client", res)
	e.rec4.Wait(t, n)
	got := e.rec4.Sources()
	counts := []int{got[vipa4], got[vipa4b], got[thirdVIPA]}
	if counts[0]+counts[1]+counts[2] != n {
		t.Fatalf("random: sources %v, want only %v", got, threeVIPAs)
	}
	// A fair selector fails this one run in a million.
	if p := chiSquareP(counts); p < 1e-6 {
		t.Errorf("random over %d connections: %v, chi-square p = %g < 1e-6", n, got, p)
	}
	if p := chiSquareP([]int{1150, 1000, 850}); p >= 1e-6 {
		t.Errorf("the bound passes a biased split 1150/1000/850 (p = %g)", p)
	}
}

// pyTwoProcs forks; parent and child then take turns, each connecting to its
// own port, so their connections interleave strictly.
const pyTwoProcs = `
import os, socket, sys
host, n = sys.argv[1], int(sys.argv[2])
p2c_r, p2c_w = os.pipe()
c2p_r, c2p_w = os.pipe()
pid = os.fork()
me, port, wait, go = ("child", 8081, p2c_r, c2p_w) if pid == 0 else ("parent", 8080, c2p_r, p2c_w)
for i in range(n):
    if me == "child" or i > 0:
        os.read(wait, 1)
    socket.create_connection((host, port)).close()
    os.write(go, b"x")
if pid == 0:
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(1 if status else 0)
`

func TestIntegrationPolicyLRR(t *testing.T) {
	testutil.RequireTool(t, python)
	testutil.ForEngines(t, testPolicyLRR)
}

func testPolicyLRR(t *testing.T, engine string) {
	e := policyEngineEnv(t, engine)
	pol := e.policy(threePolicy("lrr"))

	t.Run("one process", func(t *testing.T) {
		e.rec4.Reset()
		wantOK(t, "go client", e.with(t).wrapped(pol, goDial(t, dst4, serverPort, 30)...))
		e.rec4.Wait(t, 30)
		wantRotation(t, "lrr in one process", peers(e.rec4), threeVIPAs)
	})

	t.Run("two processes rotate independently", func(t *testing.T) {
		e.rec4.Reset()
		rec81 := testutil.NewRecorder(t, e.ns.Listen(t, "tcp4", netip.AddrPortFrom(dst4, 8081).String()))
		const n = 12
		wantOK(t, "python", e.with(t).wrapped(pol, python, "-c", pyTwoProcs, dst4.String(), fmt.Sprint(n)))
		e.rec4.Wait(t, n)
		rec81.Wait(t, n)
		// One rotation shared by both would step each process by two
		// sources: backwards, not a rotation in rule order.
		wantRotation(t, "parent", peers(e.rec4), threeVIPAs)
		wantRotation(t, "child", peers(rec81), threeVIPAs)
	})
}

// pyRR prints "ready" once vipa-exec has started it (and so its supervisor
// holds the rr counter), makes N connections when told to on stdin, prints
// "done", and waits for the end of stdin.
const pyRR = `
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    socket.create_connection((host, port)).close()
print("done", flush=True)
sys.stdin.read()
`

// waiting is a program under vipa-exec that waits for lines on stdin.
type waiting struct {
	p     *testutil.Proc
	stdin io.WriteCloser
}

func (e *env) startWaiting(t *testing.T, policy string, argv ...string) *waiting {
	t.Helper()
	cmd := e.command(e.vipa(policy, argv...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &waiting{p: testutil.Start(t, cmd), stdin: stdin}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = w.p.Cmd.Process.Kill()
	})
	return w
}

func (w *waiting) expect(t *testing.T, want string) {
	t.Helper()
	if got := w.p.Line(t); got != want {
		t.Fatalf("%v printed %q, want %q; stderr:\n%s", w.p.Cmd.Args, got, want, w.p.Stderr())
	}
}

func (w *waiting) tell(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(w.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// rrFiles lists the rr counters of the policy file at path.
func rrFiles(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(rrstate.DefaultDir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ent := range entries {
		b, err := os.ReadFile(filepath.Join(rrstate.DefaultDir, ent.Name()))
		if err == nil && bytes.Contains(b, []byte("policy="+path+" ")) {
			out = append(out, ent.Name())
		}
	}
	return out
}

// rrLeft lists what an engine's rr sharing left of the policy at path once
// its last instance ended: the seccomp engine's counter files, or the bpf
// engine's counters in its cache's rr map. Every bpf instance of root (of
// this binary) shares that map, so it must be empty only when no instance
// at all is alive (another test's, or another user of the machine's, may
// be): when the cache's lock can be locked exclusively.
func rrLeft(t *testing.T, engine, path string) []string {
	t.Helper()
	if engine != "bpf" {
		return rrFiles(t, path)
	}
	lock := filepath.Join(bpfengine.CacheDir(), "lock")
	f, err := os.Open(lock)
	if err != nil {
		t.Fatalf("the bpf engine's cache lock: %v", err)
	}
	defer func() { _ = f.Close() }() // read-only
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Logf("another bpf instance runs (flock %s: %v): its counters are not this test's to judge", lock, err)
		return nil
	}
	defer func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN) }() // closing drops it too
	n, err := bpfengine.RRCounters()
	if err != nil {
		t.Fatalf("the bpf engine's rr counters: %v", err)
	}
	if n != 0 {
		return []string{fmt.Sprintf("%d counters in %s/rr", n, bpfengine.CacheDir())}
	}
	return nil
}

func TestIntegrationPolicyRR(t *testing.T) {
	testutil.RequireTool(t, python)
	testutil.ForEngines(t, testPolicyRR)
}

func testPolicyRR(t *testing.T, engine string) {
	e := policyEngineEnv(t, engine)
	pol := e.policy(threePolicy("rr", `rr_mode = "0640"`))

	t.Run("two concurrent instances share one rotation", func(t *testing.T) {
		e.rec4.Reset()
		const per = 300
		a := e.startWaiting(t, pol, python, "-c", pyRR, dst4.String(), "8080", fmt.Sprint(per))
		b := e.startWaiting(t, pol, python, "-c", pyRR, dst4.String(), "8080", fmt.Sprint(per))
		a.expect(t, "ready")
		b.expect(t, "ready")
		// rr_mode is the mode of the seccomp engine's counter files; the
		// bpf engine shares one pinned map per user.
		if engine == "seccomp" {
			files := rrFiles(t, pol)
			if len(files) != 1 {
				t.Fatalf("rr counters of the policy while both run: %v, want one", files)
			}
			if st, err := os.Stat(filepath.Join(rrstate.DefaultDir, files[0])); err != nil || st.Mode().Perm() != 0o640 {
				t.Errorf("rr counter: %v, %v; want mode 0640 (rr_mode)", st.Mode(), err)
			}
		}
		a.tell(t, "go")
		b.tell(t, "go")
		a.expect(t, "done")
		b.expect(t, "done")
		wantSources(t, "rr over two instances", e.rec4, map[netip.Addr]int{vipa4: 2 * per / 3, vipa4b: 2 * per / 3, thirdVIPA: 2 * per / 3})

		// Killed with SIGKILL, the programs cannot clean up; their
		// supervisors, which exit when the programs are gone, do.
		for _, w := range []*waiting{a, b} {
			if err := w.p.Cmd.Process.Signal(unix.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if res := w.p.Wait(t); res.Signal != unix.SIGKILL {
				t.Errorf("program: %v, want killed", res)
			}
			testutil.WaitSupervisorGone(t, w.p.Pid())
		}
		if files := rrLeft(t, engine, pol); len(files) != 0 {
			t.Errorf("rr counters left after both instances ended: %v", files)
		}
	})

	t.Run("the rotation goes on across instances while one holds it", func(t *testing.T) {
		// Nine one-connection runs while a tenth instance keeps the counter:
		// independent counters would match a rotation with probability
		// (1/3)^8.
		e.rec4.Reset()
		holder := e.startWaiting(t, pol, python, "-c", pyRR, dst4.String(), "8080", "0")
		holder.expect(t, "ready")
		for range 9 {
			wantOK(t, "go client", e.with(t).wrapped(pol, goDial(t, dst4, serverPort, 1)...))
		}
		e.rec4.Wait(t, 9)
		wantRotation(t, "rr across sequential instances", peers(e.rec4), threeVIPAs)
		if err := holder.stdin.Close(); err != nil {
			t.Fatal(err)
		}
		holder.expect(t, "done")
		wantOK(t, "holder", holder.p.Wait(t))
		testutil.WaitSupervisorGone(t, holder.p.Pid())
		if files := rrLeft(t, engine, pol); len(files) != 0 {
			t.Errorf("rr counters left after the last instance ended: %v", files)
		}
	})

	// The rest is about the seccomp engine's counter files; the bpf
	// engine's counters left by killed instances are internal/bpfengine's
	// TestCacheStale.
	if engine != "seccomp" {
		return
	}
	t.Run("a killed supervisor's counter is swept by the next instance", func(t *testing.T) {
		e.rec4.Reset()
		holder := e.startWaiting(t, pol, python, "-c", pyRR, dst4.String(), "8080", "0")
		holder.expect(t, "ready")
		sup := testutil.WaitSupervisor(t, holder.p.Pid())
		// Gone for good, not only its main thread: the others hold its
		// files (and locks) until they have exited too.
		killAndWait(t, sup)
		if err := holder.p.Cmd.Process.Signal(unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		holder.p.Wait(t)
		if files := rrFiles(t, pol); len(files) != 1 {
			t.Fatalf("rr counters after the supervisor was killed: %v, want its one left behind", files)
		}
		// Nothing is broken: the next instance removes the stale counter,
		// rotates exactly, and leaves nothing behind.
		wantOK(t, "go client", e.with(t).wrapped(e.policy(threePolicy("rr")), goDial(t, dst4, serverPort, 9)...))
		e.rec4.Wait(t, 9)
		wantRotation(t, "rr after a killed supervisor", peers(e.rec4), threeVIPAs)
		if files := rrFiles(t, pol); len(files) != 0 {
			t.Errorf("stale rr counter not swept: %v", files)
		}
	})

	// Counter names are predictable: another user who made a rule's
	// counter first, or could write it, would choose root's sources.
	t.Run("a counter another user could write is refused", func(t *testing.T) {
		holder := e.startWaiting(t, pol, python, "-c", pyRR, dst4.String(), "8080", "0")
		holder.expect(t, "ready")
		files := rrFiles(t, pol)
		if len(files) != 1 {
			t.Fatalf("rr counters of the policy: %v, want one", files)
		}
		counter := filepath.Join(rrstate.DefaultDir, files[0])
		if err := os.Chown(counter, 65534, -1); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(counter, 0o666); err != nil {
			t.Fatal(err)
		}
		res := e.run(e.vipa(pol, "/bin/echo", "started")...)
		if res.Exit != 2 || strings.Contains(res.Stdout, "started") || len(testutil.Lines(res.Stderr)) != 1 || !strings.Contains(res.Stderr, "refusing a counter") {
			t.Errorf("vipa-exec with a counter of nobody's: %v; want exit 2, one line, the program not started", res)
		}
		if err := holder.stdin.Close(); err != nil {
			t.Fatal(err)
		}
		holder.expect(t, "done")
		holder.p.Wait(t)
	})
}

// killAndWait kills process pid and waits until all its threads have
// exited, when its pidfd polls readable: by then they have closed its
// files and dropped its locks.
func killAndWait(t *testing.T, pid int) {
	t.Helper()
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer func() { _ = unix.Close(pfd) }()
	if err := unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(testutil.WaitTimeout.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll pidfd of %d: %v", pid, err)
		}
		if n == 0 {
			t.Fatalf("pid %d still runs %v after SIGKILL", pid, testutil.WaitTimeout)
		}
		return
	}
}

// holdingServer accepts connections on addr inside the namespace and keeps
// them open until the test ends, counting their sources.
type holdingServer struct {
	mu    sync.Mutex
	peers []netip.Addr
	conns []net.Conn
	more  chan struct{}
}

func holdAt(t *testing.T, e *env, addr netip.AddrPort) *holdingServer {
	ln := e.ns.Listen(t, "tcp4", addr.String())
	s := &holdingServer{more: make(chan struct{}, 1<<10)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.peers = append(s.peers, c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap())
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.more <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			_ = c.Close()
		}
	})
	return s
}

// wait returns the sources of the first n connections.
func (s *holdingServer) wait(t *testing.T, n int) []netip.Addr {
	t.Helper()
	for {
		s.mu.Lock()
		got := slices.Clone(s.peers)
		s.mu.Unlock()
		if len(got) >= n {
			return got[:n]
		}
		select {
		case <-s.more:
		case <-time.After(testutil.WaitTimeout):
			t.Fatalf("holding server: %d connections, want %d", len(got), n)
		}
	}
}

// hold opens n long-lived connections from src to addr, outside vipa-exec.
func hold(t *testing.T, e *env, src netip.Addr, addr netip.AddrPort, n int) {
	t.Helper()
	for range n {
		e.ns.Do(t, func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
			c, err := d.Dial("tcp4", addr.String())
			if err == nil {
				t.Cleanup(func() { _ = c.Close() })
			}
			return err
		})
	}
}

// pyHold opens and keeps the number of connections each stdin line asks
// for, printing "held" after each batch.
const pyHold = `
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
held = []
print("ready", flush=True)
while True:
    line = sys.stdin.readline()
    if not line:
        break
    for i in range(int(line)):
        held.append(socket.create_connection((host, port)))
    print("held", flush=True)
`

// lcSockets is lc's socket counts per source as the supervisor serving pid
// reports them (--status --json).
func (e *env) lcSockets(t *testing.T, pid int) map[netip.Addr]int {
	t.Helper()
	res := e.run(e.vipaExec, "--status", strconv.Itoa(pid), "--json")
	wantOK(t, "--status --json", res)
	var r struct {
		LCSockets []struct {
			Source netip.Addr `json:"source"`
			Count  int        `json:"count"`
		} `json:"lc_sockets"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatalf("--status --json: %v\n%s", err, res.Stdout)
	}
	got := map[netip.Addr]int{}
	for _, c := range r.LCSockets {
		got[c.Source] = c.Count
	}
	return got
}

func TestIntegrationPolicyLC(t *testing.T) {
	testutil.RequireTool(t, python)
	testutil.ForEngines(t, testPolicyLC)
}

func testPolicyLC(t *testing.T, engine string) {
	e := policyEngineEnv(t, engine)
	srv := netip.AddrPortFrom(dst4, 9000)
	s := holdAt(t, e, srv)
	// Other programs' long-lived connections: 3 from the first VIPA, 2
	// from the second, none from the third.
	hold(t, e, vipa4, srv, 3)
	hold(t, e, vipa4b, srv, 2)
	s.wait(t, 5)

	p := e.startWaiting(t, e.policy(threePolicy("lc")), python, "-c", pyHold, dst4.String(), "9000")
	p.expect(t, "ready")
	// The supervisor read the counts before the program ran.
	if d := testutil.Diff(map[netip.Addr]int{vipa4: 3, vipa4b: 2, thirdVIPA: 0}, e.lcSockets(t, p.p.Pid())); d != "" {
		t.Errorf("--status: lc's counts at start (-want +got):\n%s", d)
	}
	// Counts 3 2 0: the third twice (3 2 2), the second on the tie (3 3 2),
	// the third (3 3 3), the first on the tie, the second.
	p.tell(t, "6")
	p.expect(t, "held")
	got := s.wait(t, 11)[5:]
	if d := testutil.Diff([]netip.Addr{thirdVIPA, thirdVIPA, vipa4b, thirdVIPA, vipa4, vipa4b}, got); d != "" {
		t.Errorf("lc with 3, 2 and 0 sockets on the sources (-want +got):\n%s", d)
	}

	// Sockets opened meanwhile by another program count once the
	// supervisor has read the counts again (when 100 ms old), as its
	// --status shows: now 4 4 3 + 4 on the third, so the first.
	hold(t, e, thirdVIPA, srv, 4)
	s.wait(t, 15)
	want := map[netip.Addr]int{vipa4: 4, vipa4b: 4, thirdVIPA: 7}
	testutil.WaitFor(t, "lc's counts with the 4 sockets opened meanwhile", func() bool {
		return maps.Equal(e.lcSockets(t, p.p.Pid()), want)
	})
	p.tell(t, "1")
	p.expect(t, "held")
	if got := s.wait(t, 16)[15]; got != vipa4 {
		t.Errorf("lc after others opened 4 more on %v: %v, want %v", thirdVIPA, got, vipa4)
	}
	// End the program and wait for its supervisor, which holds the test's
	// stderr pipe until it exits.
	if err := p.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	wantOK(t, "lc program", p.p.Wait(t))
	testutil.WaitSupervisorGone(t, p.p.Pid())
}

func TestIntegrationPolicyKernel(t *testing.T) { testutil.ForEngines(t, testPolicyKernel) }

func testPolicyKernel(t *testing.T, engine string) {
	e := policyEngineEnv(t, engine)
	recOther := e.recorder(other4)
	pol := e.policy(`[[connect]]
destination = "10.0.0.0/8"
sources     = ["192.0.2.10"]

# an exclusion inside the wider rule: the kernel picks the source
[[connect]]
destination = "10.1.2.3"
policy      = "kernel"
`)
	// Not even a warning: the supervisor does not try a bind.
	for _, dst := range []netip.Addr{dst4, other4} {
		res := e.wrapped(pol, goDial(t, dst, serverPort, 3)...)
		wantOK(t, "go client", res)
		if res.Stderr != "" {
			t.Errorf("connect to %v: stderr %q, want none", dst, res.Stderr)
		}
	}
	// A destination on the same host is reached from itself.
	wantSources(t, "kernel rule", e.rec4, map[netip.Addr]int{dst4: 3})
	wantSources(t, "wider rule", recOther, map[netip.Addr]int{vipa4: 3})

	// In [[bind]] rules, tried in file order, kernel carves a range out.
	bindPol := e.policy(`[[bind]]
ports  = "6100-6199"
policy = "kernel"

[[bind]]
ports   = "6000-6999"
sources = ["192.0.2.10"]
`)
	for port, want := range map[int]string{6150: "0.0.0.0:6150", 6050: "192.0.2.10:6050"} {
		res := e.wrapped(bindPol, goClient(t), "-network", "tcp4", "-listen", fmt.Sprintf("0.0.0.0:%d", port))
		wantOK(t, "go client", res)
		if got := strings.TrimSpace(res.Stdout); got != want || res.Stderr != "" {
			t.Errorf("listen on 0.0.0.0:%d: got %s, stderr %q; want %s and no warning", port, got, res.Stderr, want)
		}
	}
}

// pyUDPTo sends one datagram from an unbound UDP socket to HOST PORT with
// sendto.
const pyUDPTo = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"hello", (sys.argv[1], int(sys.argv[2])))
`

func TestIntegrationPolicyPortsAndProtocol(t *testing.T) {
	testutil.RequireTool(t, python)
	testutil.ForEngines(t, testPolicyPortsAndProtocol)
}

func testPolicyPortsAndProtocol(t *testing.T, engine string) {
	e := policyEngineEnv(t, engine)
	rec81 := testutil.NewRecorder(t, e.ns.Listen(t, "tcp4", netip.AddrPortFrom(dst4, 8081).String()))
	udp80 := e.ns.ListenPacket(t, "udp4", netip.AddrPortFrom(dst4, 8080).String())
	udp81 := e.ns.ListenPacket(t, "udp4", netip.AddrPortFrom(dst4, 8081).String())
	pol := e.policy(`[[connect]]
destination = "10.1.2.0/24"
protocol    = "udp"
sources     = ["192.0.2.11"]

[[connect]]
destination = "10.1.2.0/24"
ports       = "8081-8089"
sources     = ["192.0.2.12"]

[[connect]]
destination = "10.1.2.0/24"
sources     = ["192.0.2.10"]
`)
	wantOK(t, "tcp to 8080", e.wrapped(pol, goDial(t, dst4, 8080, 2)...))
	wantOK(t, "tcp to 8081", e.wrapped(pol, goDial(t, dst4, 8081, 2)...))
	wantSources(t, "tcp to 8080: the rule without ports or protocol", e.rec4, map[netip.Addr]int{vipa4: 2})
	wantSources(t, "tcp to 8081: the ports rule", rec81, map[netip.Addr]int{thirdVIPA: 2})
	for _, tt := range []struct {
		port int
		pc   net.PacketConn
	}{{8080, udp80}, {8081, udp81}} {
		wantOK(t, "udp", e.wrapped(pol, python, "-c", pyUDPTo, dst4.String(), fmt.Sprint(tt.port)))
		if got := recvFrom(t, tt.pc); got != vipa4b {
			t.Errorf("udp to %d: datagram from %v, want %v (the protocol rule, first in the file)", tt.port, got, vipa4b)
		}
	}
}
