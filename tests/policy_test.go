//go:build linux

package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationBadPolicy: a policy vipa-exec cannot use stops it before
// the program starts, with exit status 2 and one line on stderr,
// "vipa-exec: FILE:LINE: [KEY: ]message". It needs no privileges: the
// program is never started.
func TestIntegrationBadPolicy(t *testing.T) {
	vipaExec := testutil.BuildVipaExec(t)
	tests := []struct {
		name   string
		policy string
		// line is the line the message must name; 0 accepts any (a missing
		// key has no line of its own).
		line int
		// key must appear in the message, when set.
		key string
	}{
		{
			name:   "syntax error in a table header",
			policy: "[[connect]]]\ndestination = \"10.0.0.0/8\"\nsources = [\"192.0.2.10\"]\npolicy = \"onevipa\"\n",
			line:   1,
		},
		{
			name:   "syntax error: no =",
			policy: "[[connect]]\ndestination \"10.0.0.0/8\"\nsources = [\"192.0.2.10\"]\npolicy = \"onevipa\"\n",
			line:   2,
		},
		{
			name:   "unterminated string",
			policy: "[[connect]]\ndestination = \"10.0.0.0/8\nsources = [\"192.0.2.10\"]\n",
			line:   2,
		},
		{
			name:   "unknown key",
			policy: "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources     = [\"192.0.2.10\"]\npolicy      = \"onevipa\"\ncolour      = \"red\"\n",
			line:   5, key: "colour",
		},
		{
			name:   "connect key in a bind rule",
			policy: "[[bind]]\nports       = \"6000\"\nsources     = [\"192.0.2.10\"]\npolicy      = \"onevipa\"\ndestination = \"10.0.0.0/8\"\n",
			line:   5, key: "destination",
		},
		{
			name:   "unknown table",
			policy: "[[listen]]\nports   = \"80\"\nsources = [\"192.0.2.10\"]\npolicy  = \"onevipa\"\n",
			line:   1, key: "listen",
		},
		{
			name:   "bad CIDR",
			policy: "[[connect]]\ndestination = \"10.0.0.0/33\"\nsources     = [\"192.0.2.10\"]\npolicy      = \"onevipa\"\n",
			line:   2, key: "destination",
		},
		{
			name:   "CIDR with host bits set",
			policy: "[[connect]]\ndestination = \"10.1.2.3/8\"\nsources     = [\"192.0.2.10\"]\npolicy      = \"onevipa\"\n",
			line:   2, key: "destination",
		},
		{
			name:   "missing destination",
			policy: "[[connect]]\nsources = [\"192.0.2.10\"]\npolicy  = \"onevipa\"\n",
			key:    "destination",
		},
		{
			name:   "missing sources",
			policy: "[[connect]]\ndestination = \"10.0.0.0/8\"\npolicy      = \"onevipa\"\n",
			key:    "sources",
		},
		{
			name:   "empty sources",
			policy: "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources     = []\npolicy      = \"onevipa\"\n",
			line:   3, key: "sources",
		},
		{
			name:   "sources not a list",
			policy: "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources     = \"192.0.2.10\"\npolicy      = \"onevipa\"\n",
			line:   3, key: "sources",
		},
		{
			name:   "source not an address",
			policy: "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources     = [\"gateway\"]\npolicy      = \"onevipa\"\n",
			line:   3, key: "sources",
		},
		{
			name:   "source of the wrong family",
			policy: "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources     = [\"2001:db8:2::10\"]\npolicy      = \"onevipa\"\n",
			line:   3, key: "sources",
		},
		{
			name:   "unknown policy",
			policy: "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources     = [\"192.0.2.10\"]\npolicy      = \"roundrobin\"\n",
			line:   4, key: "policy",
		},
		{
			name:   "bad on_error",
			policy: "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources     = [\"192.0.2.10\"]\npolicy      = \"onevipa\"\non_error    = \"ignore\"\n",
			line:   5, key: "on_error",
		},
		{
			name:   "ports range reversed",
			policy: "[[bind]]\nports   = \"7000-6000\"\nsources = [\"192.0.2.10\"]\npolicy  = \"onevipa\"\n",
			line:   2, key: "ports",
		},
		{
			name:   "port out of range",
			policy: "[[bind]]\nports   = \"70000\"\nsources = [\"192.0.2.10\"]\npolicy  = \"onevipa\"\n",
			line:   2, key: "ports",
		},
		{
			name:   "port not a number",
			policy: "[[bind]]\nports   = \"http\"\nsources = [\"192.0.2.10\"]\npolicy  = \"onevipa\"\n",
			line:   2, key: "ports",
		},
		{
			// Equal destinations would leave file order to break the tie
			// and the second rule dead; vipa-exec refuses them instead.
			name: "duplicate destination",
			policy: "[[connect]]\ndestination = \"10.1.2.0/24\"\nsources     = [\"192.0.2.11\"]\npolicy      = \"onevipa\"\n\n" +
				"[[connect]]\ndestination = \"10.1.2.0/24\"\nsources     = [\"192.0.2.10\"]\npolicy      = \"onevipa\"\n",
			line: 7, key: "destination",
		},
		{
			name: "error in the second rule",
			policy: "# two rules\n\n[[connect]]\ndestination = \"10.0.0.0/8\"\nsources     = [\"192.0.2.10\"]\npolicy      = \"onevipa\"\n\n" +
				"[[connect]]\ndestination = \"2001:db8::/32\"\nsources     = [\"2001:db8:2::10\", \"192.0.2.11\"]\npolicy      = \"random\"\n",
			line: 10, key: "sources",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := testutil.WriteFile(t, dir, "policy.toml", tt.policy)
			res, started := runMarked(t, dir, vipaExec, "-p", file)
			checkPolicyError(t, res, started, file, tt.line, tt.key)
		})
	}

	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "no-such-policy.toml")
		res, started := runMarked(t, dir, vipaExec, "-p", file)
		checkPolicyError(t, res, started, file, -1, "")
	})

	t.Run("VIPA_EXEC_POLICY names the default file", func(t *testing.T) {
		dir := t.TempDir()
		file := testutil.WriteFile(t, dir, "env-policy.toml", "[[connect]]\ndestination = \"10.0.0.0/33\"\nsources = [\"192.0.2.10\"]\npolicy = \"onevipa\"\n")
		t.Setenv("VIPA_EXEC_POLICY", file)
		res, started := runMarked(t, dir, vipaExec)
		checkPolicyError(t, res, started, file, 2, "destination")
	})
}

// runMarked runs vipa-exec with args and the program `sh -c 'touch MARKER'`,
// and reports whether the program ran.
func runMarked(t *testing.T, dir, vipaExec string, args ...string) (testutil.Result, bool) {
	t.Helper()
	marker := filepath.Join(dir, "started")
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, vipaExec, append(args, "/bin/sh", "-c", `touch "$0"`, marker)...)
	cmd.Env = testutil.CleanEnv()
	if p, ok := os.LookupEnv("VIPA_EXEC_POLICY"); ok {
		cmd.Env = append(cmd.Env, "VIPA_EXEC_POLICY="+p)
	}
	res := testutil.Run(t, cmd)
	_, err := os.Stat(marker)
	return res, err == nil
}

// checkPolicyError checks the one-line error. line > 0 must be named, 0
// means any line, -1 a file that cannot be read: no line, the file named
// anywhere in the message.
func checkPolicyError(t *testing.T, res testutil.Result, started bool, file string, line int, key string) {
	t.Helper()
	if started {
		t.Errorf("the program was started")
	}
	if res.Exit != 2 {
		t.Errorf("exit status %d, want 2", res.Exit)
	}
	if res.Stdout != "" {
		t.Errorf("stdout %q, want nothing", res.Stdout)
	}
	lines := testutil.Lines(res.Stderr)
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want 1:\n%s", len(lines), res.Stderr)
	}
	msg := lines[0]
	if line < 0 {
		if !strings.HasPrefix(msg, "vipa-exec: ") || !strings.Contains(msg, file) {
			t.Errorf("stderr %q: want \"vipa-exec: \" and a message naming %s", msg, file)
		}
		return
	}
	prefix := "vipa-exec: " + file + ":"
	if !strings.HasPrefix(msg, prefix) {
		t.Fatalf("stderr %q does not start with %q", msg, prefix)
	}
	rest := msg[len(prefix):]
	if m := regexp.MustCompile(`^([0-9]+): \S`).FindStringSubmatch(rest); m == nil {
		t.Errorf("stderr %q: want %sLINE: message", msg, prefix)
	} else if line > 0 && m[1] != strconv.Itoa(line) {
		t.Errorf("stderr %q names line %s, want %d", msg, m[1], line)
	}
	if key != "" && !strings.Contains(rest, key) {
		t.Errorf("stderr %q does not name %q", msg, key)
	}
}

// TestIntegrationUntrustedPolicy: as root, vipa-exec refuses a policy file
// that another user could change (its mode, its owner, a directory above
// it), one that is not a regular file, one too large or nested too deep to
// parse cheaply: exit status 2, one line naming the path to fix, and the
// program is never started. --check quotes nothing of a file that is no
// policy at all.
func TestIntegrationUntrustedPolicy(t *testing.T) {
	testutil.RequireRoot(t)
	vipaExec := testutil.BuildVipaExec(t)
	const good = "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources = [\"192.0.2.10\"]\n"
	tests := []struct {
		name string
		// setup returns the policy file and the path the message must
		// name first, in dir (0755, root's).
		setup func(t *testing.T, dir string) (file, blame string)
		line  int // as for checkPolicyError: -1 no line
	}{
		{"writable by all", func(t *testing.T, dir string) (string, string) {
			p := testutil.WriteFile(t, dir, "p.toml", good)
			chmod(t, p, 0o666)
			return p, p
		}, -1},
		{"owned by nobody", func(t *testing.T, dir string) (string, string) {
			p := testutil.WriteFile(t, dir, "p.toml", good)
			chown(t, p, 65534)
			return p, p
		}, -1},
		{"in a directory writable by all", func(t *testing.T, dir string) (string, string) {
			d := filepath.Join(dir, "d")
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			chmod(t, d, 0o777)
			return testutil.WriteFile(t, d, "p.toml", good), d
		}, -1},
		{"symlink into a directory of nobody", func(t *testing.T, dir string) (string, string) {
			d := filepath.Join(dir, "d")
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			chown(t, d, 65534)
			target := testutil.WriteFile(t, d, "p.toml", good)
			l := filepath.Join(dir, "link.toml")
			if err := os.Symlink(target, l); err != nil {
				t.Fatal(err)
			}
			return l, d
		}, -1},
		{"a FIFO", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "fifo.toml")
			if err := unix.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			return p, p
		}, -1},
		{"a sparse terabyte", func(t *testing.T, dir string) (string, string) {
			p := testutil.WriteFile(t, dir, "p.toml", good)
			if err := os.Truncate(p, 1<<40); err != nil {
				t.Fatal(err)
			}
			return p, p
		}, -1},
		{"nested inline tables", func(t *testing.T, dir string) (string, string) {
			p := testutil.WriteFile(t, dir, "p.toml", good+"x = "+strings.Repeat("{a=", 8000)+"1"+strings.Repeat("}", 8000)+"\n")
			return p, p
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testutil.PublicDir(t)
			file, blame := tt.setup(t, dir)
			res, started := runMarked(t, dir, vipaExec, "-p", file)
			checkPolicyError(t, res, started, file, tt.line, "")
			if tt.line < 0 && !strings.HasPrefix(res.Stderr, "vipa-exec: "+blame+": ") {
				t.Errorf("stderr %q does not start with the path to fix, %s", res.Stderr, blame)
			}
		})
	}

	t.Run("--check of /etc/passwd", func(t *testing.T) {
		dir := testutil.PublicDir(t)
		file := testutil.WriteFile(t, dir, "passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
		res := testutil.Run(t, exec.Command(vipaExec, "--check", "-p", file))
		if res.Exit != 2 || strings.Contains(res.Stderr, "root:") || strings.Contains(res.Stderr, "/bin/bash") {
			t.Errorf("--check of a passwd file: %v; want exit 2 and none of its contents", res)
		}
	})
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
}
