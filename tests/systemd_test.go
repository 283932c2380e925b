//go:build linux

package tests

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// No systemd runs in the test environment, so these tests check directly the
// properties the units in examples/systemd rely on.

// TestIntegrationSocketActivation: $LISTEN_FDS/$LISTEN_PID and fd 3 reach
// the program intact, and LISTEN_PID is right: the program keeps the PID
// systemd would have set it to, or, as vipa-exec's child
// (--supervise=parent), LISTEN_PID is set to its own.
func TestIntegrationSocketActivation(t *testing.T) {
	testutil.RequireTool(t, python)
	e := newEnv(t)
	ln := e.ns.Listen(t, "tcp4", "10.1.2.3:9090")
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	const check = `
import os, socket
assert os.environ["LISTEN_FDS"] == "1", os.environ.get("LISTEN_FDS")
assert int(os.environ["LISTEN_PID"]) == os.getpid(), (os.environ["LISTEN_PID"], os.getpid())
s = socket.socket(fileno=3)
print(s.getsockname()[0], s.getsockname()[1], flush=True)
`
	pol := e.policy(standardPolicy)
	for _, mode := range []string{"detached", "parent"} {
		t.Run(mode, func(t *testing.T) {
			e := e.with(t)
			// systemd sets LISTEN_PID to the PID it execs; sh -c 'exec' keeps it.
			argv := append([]string{"/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"`, "sh"},
				e.supervised(mode, pol, python, "-c", check)...)
			cmd := e.command(argv...)
			cmd.ExtraFiles = []*os.File{f}
			res := testutil.Run(t, cmd)
			wantOK(t, "socket-activated program", res)
			if got := strings.TrimSpace(res.Stdout); got != "10.1.2.3 9090" {
				t.Errorf("fd 3 is %q, want the listening socket 10.1.2.3 9090", got)
			}
			e.supervisorGone(res)
		})
	}
}

// TestIntegrationNotifySocket: sd_notify's datagram comes from the PID that
// systemd started (MainPID), with $NOTIFY_SOCKET passed through.
func TestIntegrationNotifySocket(t *testing.T) {
	testutil.RequireTool(t, python)
	e := newEnv(t)
	path := filepath.Join(e.dir, "notify")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(fd) }()
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		t.Fatal(err)
	}
	const notify = `
import os, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
`
	cmd := e.command(e.vipa(e.policy(standardPolicy), python, "-c", notify)...)
	cmd.Env = append(testutil.CleanEnv(), "NOTIFY_SOCKET="+path)
	p := testutil.Start(t, cmd)
	res := p.Wait(t)
	wantOK(t, "notifying program", res)

	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	if got := string(buf[:n]); got != "READY=1" {
		t.Errorf("notification %q, want READY=1", got)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("credentials: %v (%d messages)", err, len(msgs))
	}
	cred, err := unix.ParseUnixCredentials(&msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if int(cred.Pid) != p.Pid() {
		t.Errorf("notification from pid %d, want the started pid %d (MainPID)", cred.Pid, p.Pid())
	}
	e.supervisorGone(res)
}

// TestIntegrationStopWholeGroup: "systemctl stop" sends SIGTERM to every
// process of the unit at once. The supervisor must outlive the program's
// shutdown: connections the program makes while stopping still leave from
// the VIPA, and the program's own exit status is what the unit sees.
func TestIntegrationStopWholeGroup(t *testing.T) {
	testutil.RequireTool(t, python)
	e := newEnv(t)
	const shutdown = `
import os, signal, socket, sys, time
def stop(*_):
    # A last connection while shutting down, after the supervisor got its
    # SIGTERM too. os.write, not print: a handler may run inside a print.
    time.sleep(0.2)
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    os.write(1, s.getsockname()[0].encode() + b"\n")
    sys.exit(3)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    time.sleep(1)
`
	logFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logFile.Close() }()
	cmd := e.command(e.vipa(e.policy(standardPolicy), python, "-c", shutdown, dst4.String(), "8080")...)
	cmd.Stderr = logFile
	p := testutil.Start(t, cmd)
	if got := p.Line(t); got != "ready" {
		t.Fatalf("program said %q, want ready", got)
	}
	sup := testutil.WaitSupervisor(t, p.Pid())
	for _, pid := range []int{sup, p.Pid()} {
		if err := unix.Kill(pid, unix.SIGTERM); err != nil {
			t.Fatalf("SIGTERM %d: %v", pid, err)
		}
	}
	if got := p.Line(t); got != vipa4.String() {
		t.Errorf("connection during shutdown from %q, want %v", got, vipa4)
	}
	res := p.Wait(t)
	if res.Exit != 3 {
		t.Errorf("exit status %d, want the program's own 3 (%v)", res.Exit, res)
	}
	e.supervisorGone(res)
}

// TestSystemdUnitsVerify: systemd itself accepts every example unit, every
// key and value of it. systemd-analyze verify reports a bad key or value
// on stderr but still exits 0, so any output fails the test. The units
// name vipa-exec where make install puts it; this runs them with the one
// the tests built (verify checks that the executable exists).
func TestSystemdUnitsVerify(t *testing.T) {
	testutil.RequireTool(t, "systemd-analyze")
	vipaExec := testutil.BuildVipaExec(t)
	units, err := filepath.Glob(filepath.Join(testutil.ModuleRoot(t), "examples", "systemd", "*.service"))
	if err != nil || len(units) == 0 {
		t.Fatalf("no example units: %v", err)
	}
	dir := t.TempDir()
	for _, unit := range units {
		b, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "ExecStart=/usr/local/bin/vipa-exec ") {
			t.Errorf("%s: no ExecStart=/usr/local/bin/vipa-exec", unit)
			continue
		}
		tmp := filepath.Join(dir, filepath.Base(unit))
		if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/vipa-exec ", vipaExec+" ")), 0o644); err != nil {
			t.Fatal(err)
		}
		res := testutil.Run(t, exec.Command("systemd-analyze", "verify", tmp))
		if res.Exit != 0 || res.Stdout != "" || res.Stderr != "" {
			t.Errorf("systemd-analyze verify %s: %v\n%s%s", filepath.Base(unit), res, res.Stdout, res.Stderr)
		}
	}
}
