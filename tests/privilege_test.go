//go:build linux

package tests

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// whoami is the C client's -w output minus the port-less local address.
type whoami struct {
	uid, euid int
	local     netip.Addr
}

func (w whoami) String() string {
	return fmt.Sprintf("uid=%d euid=%d local=%v", w.uid, w.euid, w.local)
}

func parseWhoami(stdout string) (whoami, error) {
	var w whoami
	var local string
	if _, err := fmt.Sscanf(strings.TrimSpace(stdout), "uid=%d euid=%d local=%s", &w.uid, &w.euid, &local); err != nil {
		return w, fmt.Errorf("whoami output %q: %w", stdout, err)
	}
	a, err := netip.ParseAddr(local)
	if err != nil {
		return w, fmt.Errorf("whoami output %q: %w", stdout, err)
	}
	w.local = a.Unmap()
	return w, nil
}

func wantWhoami(t *testing.T, what string, res testutil.Result, want whoami) {
	t.Helper()
	wantOK(t, what, res)
	got, err := parseWhoami(res.Stdout)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got != want {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

const nobody = 65534

// TestIntegrationSetuid: vipa-exec as root keeps setuid programs working (no
// no_new_privs), also with -u nobody, and still rewrites their connections.
func TestIntegrationSetuid(t *testing.T) {
	testutil.RequireTool(t, "setpriv")
	testutil.ForEngines(t, testSetuid)
}

func testSetuid(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	suid := e.setuidCopy()
	argv := append([]string{suid, "-w"}, hostPort(dst4)...)

	// The copy really is setuid root: nobody runs it with euid 0.
	res := e.run(asNobody(argv...)...)
	wantWhoami(t, "setuid copy as nobody without vipa-exec", res, whoami{uid: nobody, euid: 0, local: dst4})
	wantSources(t, "without vipa-exec", e.rec4, map[netip.Addr]int{dst4: 1})

	e.rec4.Reset()
	pol := e.policy(standardPolicy)
	res = e.wrapped(pol, append([]string{"-u", "nobody"}, argv...)...)
	wantWhoami(t, "vipa-exec -u nobody setuid-copy", res, whoami{uid: nobody, euid: 0, local: vipa4})
	wantSources(t, "under vipa-exec", e.rec4, map[netip.Addr]int{vipa4: 1})
}

// TestIntegrationUser: -u and -g run the program as that user and group,
// and its connections are still rewritten by the privileged supervisor.
func TestIntegrationUser(t *testing.T) { testutil.ForEngines(t, testUser) }

func testUser(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	pol := e.policy(standardPolicy)
	tests := []struct {
		name string
		opts []string
		want string
	}{
		{"-u nobody", []string{"-u", "nobody"}, "65534"},
		{"-u nobody -g nogroup", []string{"-u", "nobody", "-g", "nogroup"}, "65534 65534 65534"},
		{"--user=nobody --group nogroup", []string{"--user=nobody", "--group", "nogroup"}, "65534 65534 65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			// With a group, the supplementary groups must be that group
			// alone: root's own groups must not stay with the program.
			script := `id -u`
			if strings.Contains(tt.want, " ") {
				script = `echo $(id -u) $(id -g) $(id -G)`
			}
			argv := append(e.exec(tt.opts...), "-p", pol, "/bin/sh", "-c", script)
			res := e.run(argv...)
			e.supervisorGone(res)
			wantOK(t, "id", res)
			if got := strings.TrimSpace(res.Stdout); got != tt.want {
				t.Errorf("ids %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("connections of the user", func(t *testing.T) {
		e := e.with(t)
		e.rec4.Reset()
		res := e.wrapped(pol, "-u", "nobody", goClient(t), "-connect", netip.AddrPortFrom(dst4, serverPort).String())
		wantOK(t, "go client as nobody", res)
		wantSources(t, "under vipa-exec -u nobody", e.rec4, map[netip.Addr]int{vipa4: 1})
	})
}

// TestIntegrationUnprivileged runs vipa-exec itself as nobody: it must warn
// once about no_new_privs, setuid programs lose their privileges, and
// connections are still rewritten. Seccomp only: the bpf engine needs
// privileges nobody lacks.
func TestIntegrationUnprivileged(t *testing.T) {
	testutil.RequireTool(t, "setpriv")
	e := newEnv(t)
	suid := e.setuidCopy()
	pol := e.policy(standardPolicy)

	checkWarning := func(t *testing.T, res testutil.Result) {
		t.Helper()
		lines := testutil.Lines(res.Stderr)
		if len(lines) != 1 || !strings.Contains(lines[0], "no_new_privs") {
			t.Errorf("stderr: want exactly one line mentioning no_new_privs, got %q", res.Stderr)
		}
	}

	t.Run("setuid program", func(t *testing.T) {
		e := e.with(t)
		e.rec4.Reset()
		res := e.run(asNobody(e.vipa(pol, append([]string{suid, "-w"}, hostPort(dst4)...)...)...)...)
		e.supervisorGone(res)
		checkWarning(t, res)
		wantWhoami(t, "setuid copy under unprivileged vipa-exec", res, whoami{uid: nobody, euid: nobody, local: vipa4})
		wantSources(t, "under unprivileged vipa-exec", e.rec4, map[netip.Addr]int{vipa4: 1})
	})

	t.Run("static and dynamic clients", func(t *testing.T) {
		e := e.with(t)
		e.rec4.Reset()
		e.rec6.Reset()
		script := `"$0" -connect "$1" && "$2" -t 2 -n 5 "$3" "$4"`
		argv := []string{"/bin/sh", "-c", script, goClient(t), netip.AddrPortFrom(dst6, serverPort).String(), cClient(t)}
		argv = append(argv, hostPort(dst4)...)
		res := e.run(asNobody(e.vipa(pol, argv...)...)...)
		e.supervisorGone(res)
		checkWarning(t, res)
		wantOK(t, "clients", res)
		wantSources(t, "IPv6 under unprivileged vipa-exec", e.rec6, map[netip.Addr]int{vipa6: 1})
		wantSources(t, "IPv4 under unprivileged vipa-exec", e.rec4, map[netip.Addr]int{vipa4: 10})
	})
}

// pyUndumpable makes itself non-dumpable, which keeps a supervisor of the
// same user without CAP_SYS_PTRACE out of its memory, then connects to each
// HOST PORT pair and prints each local address.
const pyUndumpable = `
import ctypes, socket, sys
PR_SET_DUMPABLE = 4
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
    sys.exit("prctl: errno %d" % ctypes.get_errno())
args = sys.argv[1:]
for host, port in zip(args[0::2], args[1::2]):
    s = socket.create_connection((host, int(port)))
    print(s.getsockname()[0], flush=True)
    s.close()
`

// TestIntegrationUndumpable: an unprivileged supervisor cannot read the
// address of a program that made itself non-dumpable. Not silently: the
// supervisor warns, once. The connections go on from the kernel's source
// ("continue": no rule can match an address never read), unless some
// [[connect]] rule says on_error = "fail", which the address might have
// matched: then they fail (EPERM, the supervisor's error).
func TestIntegrationUndumpable(t *testing.T) {
	testutil.RequireTool(t, "setpriv", python)
	tests := []struct {
		onError string
		sources map[netip.Addr]int
	}{
		{onError: "continue", sources: map[netip.Addr]int{dst4: 2}},
		{onError: "fail"},
	}
	for _, tt := range tests {
		t.Run(tt.onError, func(t *testing.T) {
			e := newEnv(t)
			pol := e.policy(standardPolicy + `on_error    = "` + tt.onError + `"` + "\n")
			argv := append(append([]string{python, "-c", pyUndumpable}, hostPort(dst4)...), hostPort(dst4)...)
			res := e.run(asNobody(e.vipa(pol, argv...)...)...)
			e.supervisorGone(res)
			if tt.sources != nil {
				wantOK(t, "python", res)
				wantSources(t, "non-dumpable program", e.rec4, tt.sources)
			} else if res.Exit != 1 || !strings.Contains(res.Stderr, "PermissionError") || e.rec4.Count() != 0 {
				t.Errorf("want exit 1 with PermissionError and no connection, got %d connections and %v", e.rec4.Count(), res)
			}
			const warning = "cannot read a call's address"
			if n := strings.Count(res.Stderr, warning); n != 1 {
				t.Errorf("stderr has %d warnings %q, want 1:\n%s", n, warning, res.Stderr)
			}
		})
	}
}
