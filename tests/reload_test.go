//go:build linux

package tests

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestIntegrationReload: the supervisor applies a new policy file to calls
// made after it changed (atomic rename and in-place write), keeps the
// running policy when the new one has errors, and reloads on SIGHUP.
func TestIntegrationReload(t *testing.T) {
	testutil.RequireTool(t, python)
	e := newEnv(t)
	// The policy is a symlink into another directory, so that a change of
	// its target is invisible to the file watcher and only SIGHUP sees it.
	real := filepath.Join(t.TempDir(), "real.toml")
	write := func(path, text string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	pol := filepath.Join(e.dir, "reload.toml")
	write(pol, policyFor(vipa4))

	logPath := filepath.Join(t.TempDir(), "stderr")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// info: the supervisor logs each reload.
	cmd := e.command(e.vipaExec, "--log-level", "info", "-p", pol, python, "-c", pyOnDemand, dst4.String(), "8080")
	cmd.Stderr = logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, cmd)
	connect := func() netip.Addr {
		t.Helper()
		if _, err := io.WriteString(stdin, "go\n"); err != nil {
			t.Fatalf("client: %v", err)
		}
		a, err := netip.ParseAddr(p.Line(t))
		if err != nil {
			t.Fatalf("client printed no address: %v", err)
		}
		return a
	}
	// eventually connects until the source is want; reloading is
	// asynchronous, so this polls (a liveness bound, not a timing check).
	eventually := func(want netip.Addr, what string) {
		t.Helper()
		deadline := time.Now().Add(testutil.WaitTimeout)
		for {
			got := connect()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: source still %v, want %v; stderr:\n%s", what, got, want, readLog(t, logPath))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog := func(needle, what string) {
		t.Helper()
		deadline := time.Now().Add(testutil.WaitTimeout)
		for !strings.Contains(readLog(t, logPath), needle) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no %q in stderr:\n%s", what, needle, readLog(t, logPath))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if got := connect(); got != vipa4 {
		t.Fatalf("before any change: source %v, want %v", got, vipa4)
	}

	write(pol, policyFor(vipa4b)) // atomic replacement
	eventually(vipa4b, "after an atomic rename")
	waitLog("policy reloaded", "after an atomic rename")

	// A broken in-place edit changes nothing.
	if err := os.WriteFile(pol, []byte("[[connect]]\ndestination = \"10.1.2.0/24\"\nsources = [\"not an address\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog("policy reload failed", "after a broken edit")
	if got := connect(); got != vipa4b {
		t.Errorf("after a broken edit: source %v, want the running policy's %v", got, vipa4b)
	}

	// SIGHUP: point the policy at a file in another directory by a symlink
	// (the watcher sees the symlink appear and reloads), then change that
	// file, which the watcher cannot see, and send SIGHUP.
	write(real, policyFor(vipa4))
	link := pol + ".link"
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link, pol); err != nil {
		t.Fatal(err)
	}
	eventually(vipa4, "after the symlink")
	write(real, policyFor(vipa4b))
	time.Sleep(4 * 50 * time.Millisecond) // a watcher that saw it would have reloaded by now
	if got := connect(); got != vipa4 {
		t.Fatalf("a change the watcher cannot see was applied without SIGHUP: source %v", got)
	}
	sup := testutil.WaitSupervisor(t, p.Pid())
	if err := syscall.Kill(sup, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(vipa4b, "after SIGHUP")
	waitLog("trigger=SIGHUP", "after SIGHUP")

	stdin.Close()
	res := p.Wait(t)
	wantOK(t, "client", res)
	e.supervisorGone(res)
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
