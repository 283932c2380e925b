//go:build linux

package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// statusFields parses --status output: "KEY VALUE" lines, with continuation
// lines (no key) appended to the last key's values.
func statusFields(t *testing.T, out string) map[string][]string {
	t.Helper()
	f := map[string][]string{}
	key := ""
	for _, line := range testutil.Lines(out) {
		if len(line) < 12 {
			t.Fatalf("short --status line %q", line)
		}
		if k := strings.TrimSpace(line[:12]); k != "" {
			key = k
		}
		f[key] = append(f[key], line[12:])
	}
	return f
}

// pySquatter listens on the abstract name of pid argv[1] and answers, twice,
// a report naming as supervisor its own pid plus argv[2], with bound
// argv[3] and error argv[4].
const pySquatter = `
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind("\0vipa-exec/" + sys.argv[1])
s.listen()
print("ready", flush=True)
for _ in range(2):
    c, _ = s.accept()
    r = {"supervisor": os.getpid() + int(sys.argv[2]), "program": int(sys.argv[1]), "mode": "detached", "counters": {"bound": int(sys.argv[3])}}
    if sys.argv[4]:
        r["error"] = sys.argv[4]
    c.sendall(json.dumps(r).encode())
    c.close()
`

// TestIntegrationStatus: vipa-exec --status PID finds the supervisor of a
// program, of its descendants and by its own pid, in both modes, and prints
// its pid, policy file, uptime and counters; it refuses other users and
// says when nothing serves PID.
func TestIntegrationStatus(t *testing.T) {
	e := newEnv(t)
	client := cClient(t)
	for _, mode := range []string{"detached", "parent"} {
		t.Run(mode, func(t *testing.T) {
			e := e.with(t)
			pol := e.policy(standardPolicy)
			// Two matched connections, one no rule matches; then a child
			// that waits, and the program waits for stdin.
			script := client + " -w " + dst4.String() + " 8080 >/dev/null; " +
				client + " -w " + dst4.String() + " 8080 >/dev/null; " +
				client + " -w " + other4.String() + " 8080 >/dev/null; " +
				`sleep 300 & echo $$ $!; read x; kill $!`
			cmd := e.command(e.supervised(mode, pol, "/bin/sh", "-c", script)...)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			p := testutil.Start(t, cmd)
			var program, child int
			if _, err := fmt.Sscanf(p.Line(t), "%d %d", &program, &child); err != nil {
				t.Fatal(err)
			}
			supervisor := p.Pid() // parent mode: vipa-exec itself
			if mode == "detached" {
				supervisor = testutil.WaitSupervisor(t, program)
			}

			for _, pid := range []int{program, child, supervisor} {
				res := e.run(e.vipaExec, "--status", strconv.Itoa(pid))
				wantOK(t, "--status", res)
				f := statusFields(t, res.Stdout)
				want := map[string]string{
					"program":    strconv.Itoa(program),
					"supervisor": fmt.Sprintf("%d (%s)", supervisor, mode),
					"bound":      "2",
					"failed":     "0",
					"left alone": "1 no rule",
					"per source": fmt.Sprintf("2 %v (rule %s:2)", vipa4, pol),
					"calls":      "connect 3, bind 0, sendto 0, sendmsg 0, sendmmsg 0",
				}
				for k, v := range want {
					if got := strings.Join(f[k], "|"); got != v {
						t.Errorf("--status %d: %s %q, want %q\n%s", pid, k, got, v, res.Stdout)
					}
				}
				if got := strings.Join(f["policy"], ""); !strings.HasPrefix(got, pol+", loaded ") || !strings.HasSuffix(got, ", 0 reloads") {
					t.Errorf("--status %d: policy %q, want %s, its load time and 0 reloads", pid, got, pol)
				}
				if len(f["uptime"]) != 1 || !strings.Contains(f["uptime"][0], "s (since ") {
					t.Errorf("--status %d: uptime %q", pid, f["uptime"])
				}
				_, descendant := f["pid"]
				if descendant != (pid == child) {
					t.Errorf("--status %d: pid line %q; want one only for the descendant %d", pid, f["pid"], child)
				}
			}

			// A reload shows: same rules, new bytes.
			if err := os.WriteFile(pol, []byte(standardPolicy+"# edited\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			reloaded := false
			for range 100 {
				res := e.run(e.vipaExec, "--status", strconv.Itoa(program))
				if strings.Contains(res.Stdout, ", 1 reload\n") {
					reloaded = true
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !reloaded {
				t.Errorf("--status never showed the reload of %s", pol)
			}

			// Another user is refused; outside the namespace root's
			// supervisor is found all the same, at its socket path.
			res := e.run(asNobody(e.vipaExec, "--status", strconv.Itoa(program))...)
			if res.Exit != 2 || !strings.Contains(res.Stderr, "permission denied") || res.Stdout != "" {
				t.Errorf("--status as nobody: %v, want exit 2 and permission denied", res)
			}
			res = testutil.Run(t, exec.Command(e.vipaExec, "--status", strconv.Itoa(program)))
			if res.Exit != 0 || strings.Join(statusFields(t, res.Stdout)["program"], "") != strconv.Itoa(program) {
				t.Errorf("--status from outside the namespace: %v, want the report", res)
			}

			stdin.Close()
			wantOK(t, "program", p.Wait(t))
			testutil.WaitSupervisorGone(t, program)
			res = e.run(e.vipaExec, "--status", strconv.Itoa(program))
			if res.Exit != 1 || !strings.Contains(res.Stderr, "no process") {
				t.Errorf("--status of a finished program: %v, want exit 1, no process", res)
			}
		})
	}

	// Abstract names are anybody's: another user who takes a program's
	// name first must not pass off a report of their own, nor an error
	// with escape sequences for root's terminal.
	t.Run("a squatter's report is refused", func(t *testing.T) {
		testutil.RequireTool(t, python)
		e := e.with(t)
		program := testutil.Start(t, e.command("sleep", "300"))
		for _, lie := range []struct {
			name   string
			root   bool   // the squatter runs as root, else as nobody
			offset int    // added to the squatter's own pid in its report
			errMsg string // its report's error
			want   string
		}{
			{"nobody", false, 0, "", "neither root nor you"},
			{"nobody's escape sequences", false, 0, "\x1b]0;pwned\x07\x1b[2J", "neither root nor you"},
			{"root, naming another supervisor", true, 1, "", "which says it is supervisor"},
			{"root's escape sequences", true, 0, "\x1b]0;pwned\x07\x1b[2J", "?]0;pwned??[2J"},
		} {
			argv := []string{python, "-c", pySquatter, strconv.Itoa(program.Pid()), strconv.Itoa(lie.offset), "31337", lie.errMsg}
			if !lie.root {
				argv = asNobody(argv...)
			}
			sq := testutil.Start(t, e.command(argv...))
			if got := sq.Line(t); got != "ready" {
				t.Fatalf("squatter said %q", got)
			}
			res := e.run(e.vipaExec, "--status", strconv.Itoa(program.Pid()))
			if res.Exit != 2 || !strings.Contains(res.Stderr, lie.want) || res.Stdout != "" || strings.ContainsRune(res.Stderr, 0x1b) {
				t.Errorf("--status of a squatted name (%s): %v, want exit 2, %q and no escape", lie.name, res, lie.want)
			}
			if err := sq.Cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			sq.Wait(t)
		}
	})

	// A program that root's vipa-exec runs as nobody can take the names
	// of its own children: root's --status must not print its report as
	// that of their supervisor.
	t.Run("a -u nobody program forging its child's report", func(t *testing.T) {
		testutil.RequireTool(t, python)
		e := e.with(t)
		pol := e.policy(standardPolicy)
		script := `sleep 300 & echo $!; exec ` + python + ` -c "$0" $! 0 31337 ""`
		p := testutil.Start(t, e.command(e.vipaExec, "-p", pol, "-u", "nobody", "/bin/sh", "-c", script, pySquatter))
		child := p.Line(t)
		if got := p.Line(t); got != "ready" {
			t.Fatalf("program said %q", got)
		}
		res := e.run(e.vipaExec, "--status", child)
		if res.Exit == 0 || strings.Contains(res.Stdout, "31337") {
			t.Errorf("--status %s: %v; want a refusal, not the forged report", child, res)
		}
		if err := p.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		p.Wait(t)
	})

	t.Run("no supervisor, bad pid", func(t *testing.T) {
		e := e.with(t)
		res := e.run(e.vipaExec, "--status", "1")
		if res.Exit != 1 || !strings.Contains(res.Stderr, "no vipa-exec supervisor serves pid 1") {
			t.Errorf("--status 1: %v, want exit 1 and no supervisor", res)
		}
		for _, arg := range []string{"abc", "0", "-5"} {
			res := e.run(e.vipaExec, "--status", arg)
			if res.Exit != 2 || len(testutil.Lines(res.Stderr)) != 1 {
				t.Errorf("--status %s: %v, want exit 2 and one line", arg, res)
			}
		}
		res = e.run(e.vipaExec, "--status", "1", "-p", "/etc/p.toml")
		if res.Exit != 2 {
			t.Errorf("--status with --policy: %v, want exit 2", res)
		}
	})
}
