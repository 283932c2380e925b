//go:build linux

package tests

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// pyOnDemand connects to HOST PORT each time a line arrives on stdin and
// prints the local address of that connection.
const pyOnDemand = `
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
for _ in sys.stdin:
    s = socket.create_connection((host, port))
    print(s.getsockname()[0], flush=True)
    s.close()
`

func policyFor(src netip.Addr) string {
	return fmt.Sprintf("[[connect]]\ndestination = \"10.1.2.0/24\"\nsources = [%q]\n", src)
}

// reloadClient is pyOnDemand under vipa-exec, logging at info (the
// supervisor logs each reload), with helpers to drive it.
type reloadClient struct {
	t       *testing.T
	p       *testutil.Proc
	stdin   io.WriteCloser
	logPath string
	reloads int // the "policy reloaded" lines seen
}

// writeAtomic replaces path with text by rename, as editors do.
func writeAtomic(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startReloadClient writes vipa4's policy to a new file and starts the
// client under vipa-exec --supervise=mode with it; it returns the client
// and the policy file.
func (e *env) startReloadClient(t *testing.T, mode string, first ...string) (*reloadClient, string) {
	t.Helper()
	testutil.RequireTool(t, python)
	pol := filepath.Join(e.dir, "reload-"+mode+".toml")
	text := policyFor(vipa4)
	if len(first) > 0 {
		text = first[0]
	}
	writeAtomic(t, pol, text)
	c := &reloadClient{t: t, logPath: filepath.Join(t.TempDir(), "stderr")}
	logFile, err := os.Create(c.logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	cmd := e.command(e.exec("--supervise="+mode, "--log-level", "info", "-p", pol, python, "-c", pyOnDemand, dst4.String(), "8080")...)
	cmd.Stderr = logFile
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	c.p = testutil.Start(t, cmd)
	return c, pol
}

// connect makes one connection and returns its source.
func (c *reloadClient) connect() netip.Addr {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		c.t.Fatalf("client: %v", err)
	}
	a, err := netip.ParseAddr(c.p.Line(c.t))
	if err != nil {
		c.t.Fatalf("client printed no address: %v", err)
	}
	return a
}

// reloadLine is the supervisor's line for a policy put in force.
const reloadLine = `msg="policy reloaded"`

// reloaded waits for the supervisor's next "policy reloaded" line, which it
// writes once the new policy is in force, then checks that a connection
// gets the source want.
func (c *reloadClient) reloaded(want netip.Addr, what string) {
	c.t.Helper()
	n := c.reloads + 1
	c.waitLines(reloadLine, n, what)
	c.reloads = n
	if got := c.connect(); got != want {
		c.t.Fatalf("%s: source %v, want %v; stderr:\n%s", what, got, want, readLog(c.t, c.logPath))
	}
}

// waitLog waits for a line holding needle in the supervisor's log.
func (c *reloadClient) waitLog(needle, what string) {
	c.t.Helper()
	c.waitLines(needle, 1, what)
}

// waitLines waits until n lines of the supervisor's log hold needle.
func (c *reloadClient) waitLines(needle string, n int, what string) {
	c.t.Helper()
	testutil.WaitFor(c.t, fmt.Sprintf("%d lines with %q %s", n, needle, what), func() bool {
		return strings.Count(readLog(c.t, c.logPath), needle) >= n
	})
}

// stop ends the client and returns its result.
func (c *reloadClient) stop() testutil.Result {
	c.t.Helper()
	_ = c.stdin.Close()
	res := c.p.Wait(c.t)
	wantOK(c.t, "client", res)
	return res
}

// changesAndBrokenEdit: an atomic replacement applies, then a broken
// in-place edit changes nothing.
func (c *reloadClient) changesAndBrokenEdit(pol string) {
	c.t.Helper()
	if got := c.connect(); got != vipa4 {
		c.t.Fatalf("before any change: source %v, want %v", got, vipa4)
	}
	writeAtomic(c.t, pol, policyFor(vipa4b))
	c.reloaded(vipa4b, "after an atomic rename")

	if err := os.WriteFile(pol, []byte("[[connect]]\ndestination = \"10.1.2.0/24\"\nsources = [\"not an address\"]\n"), 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.waitLog("policy reload failed", "after a broken edit")
	if got := c.connect(); got != vipa4b {
		c.t.Errorf("after a broken edit: source %v, want the running policy's %v", got, vipa4b)
	}
}

// throughSymlink replaces pol by a symlink to a file in another directory
// with vipa4's policy (the watcher sees the symlink arrive), waits for
// that, then changes the target, which an inotify watch of pol's
// directory cannot see, to vipa4b's.
func (c *reloadClient) throughSymlink(pol string) {
	c.t.Helper()
	target := filepath.Join(c.t.TempDir(), "target.toml")
	writeAtomic(c.t, target, policyFor(vipa4))
	link := pol + ".link"
	if err := os.Symlink(target, link); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(link, pol); err != nil {
		c.t.Fatal(err)
	}
	c.reloaded(vipa4, "after the symlink")
	writeAtomic(c.t, target, policyFor(vipa4b))
}

// TestIntegrationReload: the supervisor applies a new policy file to calls
// made after it changed (atomic rename and in-place write), keeps the
// running policy when the new one has errors, and reloads on SIGHUP.
func TestIntegrationReload(t *testing.T) { testutil.ForEngines(t, testReload) }

func testReload(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	c, pol := e.startReloadClient(t, "detached")
	c.changesAndBrokenEdit(pol)

	// SIGHUP: a change behind a symlink, which the watcher cannot see.
	// (That it passes over events of other files is internal/watch's
	// TestFileIgnoresOthers.) A reload logs only a file that differs from
	// the running policy: the SIGHUP's line shows no reload took the
	// change before it.
	c.throughSymlink(pol)
	if got := c.connect(); got != vipa4 {
		t.Fatalf("a change the watcher cannot see was applied without SIGHUP: source %v", got)
	}
	sup := testutil.WaitSupervisor(t, c.p.Pid())
	if err := unix.Kill(sup, unix.SIGHUP); err != nil {
		t.Fatal(err)
	}
	c.reloaded(vipa4b, "after SIGHUP")
	c.waitLog("trigger=SIGHUP", "after SIGHUP")

	e.supervisorGone(c.stop())
}

// TestIntegrationReloadParent: a parent supervisor, which forwards SIGHUP
// to the program and looks at its file once a second, applies changes
// and keeps the running policy on a broken edit; polling the path, it sees
// a change behind a symlink too.
func TestIntegrationReloadParent(t *testing.T) {
	e := newEnv(t)
	c, pol := e.startReloadClient(t, "parent")
	c.changesAndBrokenEdit(pol)

	c.throughSymlink(pol)
	c.reloaded(vipa4b, "after a change of the symlink's target")
	c.stop()
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIntegrationReloadUntrusted: a root supervisor does not reload a
// policy file that became writable by others; it keeps the running policy
// and says why.
func TestIntegrationReloadUntrusted(t *testing.T) { testutil.ForEngines(t, testReloadUntrusted) }

func testReloadUntrusted(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	c, pol := e.startReloadClient(t, "detached")
	if got := c.connect(); got != vipa4 {
		t.Fatalf("before any change: source %v, want %v", got, vipa4)
	}
	if err := os.Chmod(pol, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pol, []byte(policyFor(vipa4b)), 0o666); err != nil {
		t.Fatal(err)
	}
	c.waitLog("refusing a policy file writable by others", "after an edit of a file writable by all")
	if got := c.connect(); got != vipa4 {
		t.Errorf("after an edit of a file writable by all: source %v, want the running policy's %v", got, vipa4)
	}
	e.supervisorGone(c.stop())
}
