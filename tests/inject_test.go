//go:build linux

package tests

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// pyTIOCSTI types its argument into the terminal on fd 0 with TIOCSTI, one
// character at a time, and prints "ioctl ok" or "ioctl ERRNO".
const pyTIOCSTI = `
import errno, fcntl, sys, termios
try:
    for c in sys.argv[1].encode():
        fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))
    print("ioctl ok", flush=True)
except OSError as e:
    print("ioctl", errno.errorcode[e.errno], flush=True)
`

// injected is the line the programs try to type for the shell.
const injected = "echo INJECTED\n"

// TestIntegrationTerminalInjection: a program run by root's shell under
// vipa-exec, as another user or not, cannot type commands into the shell's
// terminal (CVE-2016-2779): TIOCSTI and TIOCLINUX fail with EPERM, also
// with junk in the request's upper half, and the shell then reads what was
// typed on the terminal and nothing else. Root has CAP_SYS_ADMIN, so the
// kernel lets it inject whatever dev.tty.legacy_tiocsti says; the control
// case shows that the test sees an injection.
func TestIntegrationTerminalInjection(t *testing.T) {
	testutil.RequireTool(t, python, "bash")
	e := newEnv(t)
	policy := e.policy(standardPolicy)
	tiocsti := testutil.BuildC(t, "tests/clients/tiocsti/tiocsti.c")
	py := []string{python, "-c", pyTIOCSTI, injected}
	vipa := func(opts ...string) []string {
		return append(e.exec(opts...), "-p", policy)
	}
	tests := []struct {
		name string
		argv []string
		want string // the program's "ioctl" line
	}{
		{"-u nobody", append(vipa("-u", "nobody"), py...), "EPERM"},
		{"-u nobody -g nogroup", append(vipa("-u", "nobody", "-g", "nogroup"), py...), "EPERM"},
		{"-u nobody, request with high bits", append(vipa("-u", "nobody"), tiocsti, "sti", "1", injected), "EPERM"},
		{"-u nobody, request with other high bits", append(vipa("-u", "nobody"), tiocsti, "sti", "0xdeadbeef", injected), "EPERM"},
		{"-u nobody, TIOCLINUX", append(vipa("-u", "nobody"), tiocsti, "linux", "0"), "EPERM"},
		{"-u nobody --supervise=parent", append(vipa("-u", "nobody", "--supervise=parent"), py...), "EPERM"},
		{"same user", append(vipa(), py...), "EPERM"},
		{"control: root without vipa-exec", py, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			// The shell stays on the terminal after the program, as root's
			// interactive shell would, and reads the next line typed there
			// once the test, through fd 3, lets it.
			const script = `"$@" 3<&-; echo "exit $?"; read -r _ <&3; read -r line; echo "read: $line"`
			cmd := e.command(append([]string{"bash", "-c", script, "bash"}, tt.argv...)...)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = w.Close() }()
			cmd.ExtraFiles = []*os.File{r}
			tm := startTerminal(t, cmd)
			_ = r.Close()
			slave := tm.peer(t)
			if m := tm.expect(t, `ioctl (\w+)\r\n`); m[1] != tt.want {
				t.Errorf("the program's ioctl: %s, want %s", m[1], tt.want)
			}
			if m := tm.expect(t, `exit (\d+)\r\n`); m[1] != "0" {
				t.Errorf("the program exited %s:\n%s", m[1], tm.output())
			}
			// Whatever the program typed is in the input queue now: the
			// line discipline took it in during the ioctl.
			n, err := unix.IoctlGetInt(int(slave.Fd()), unix.TIOCINQ)
			if err != nil {
				t.Fatalf("TIOCINQ: %v", err)
			}
			wantN, want := 0, "typed"
			if tt.want == "ok" {
				wantN, want = len(injected), injected[:len(injected)-1]
			}
			if n != wantN {
				t.Errorf("%d bytes wait on the terminal for the shell, want %d", n, wantN)
			}
			if _, err := w.WriteString("\n"); err != nil {
				t.Fatal(err)
			}
			tm.write(t, "typed\n")
			if m := tm.expect(t, `read: (.*)\r\n`); m[1] != want {
				t.Errorf("the shell read %q, want %q", m[1], want)
			}
			if res := tm.wait(t); res.Exit != 0 || res.Signal != 0 {
				t.Errorf("bash: %v", res)
			}
		})
	}
}

// peer opens the terminal's slave side (TIOCGPTPEER), not as a controlling
// terminal, to look at its input queue.
func (tm *terminal) peer(t *testing.T) *os.File {
	t.Helper()
	raw, err := tm.master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	var errno unix.Errno
	if err := raw.Control(func(mfd uintptr) {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, mfd, unix.TIOCGPTPEER, unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC)
		fd, errno = int(r), e
	}); err != nil {
		t.Fatal(err)
	}
	if errno != 0 {
		t.Fatalf("TIOCGPTPEER: %v", errno)
	}
	f := os.NewFile(uintptr(fd), "pty slave")
	t.Cleanup(func() { _ = f.Close() })
	return f
}
