//go:build linux

package report

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/status"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// writePolicy writes a policy file in a directory of the test's and
// returns its path.
func writePolicy(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVerbs runs --check, --explain and --convert on real files, against
// this host's loopback address, which every host has.
func TestVerbs(t *testing.T) {
	toml := writePolicy(t, "p.toml", `[[connect]]
destination = "10.0.0.0/8"
sources     = ["127.0.0.1"]

[[connect]]
destination = "10.9.0.0/16"
sources     = ["127.0.0.1"]
policy      = "rr"

[[connect]]
destination = "10.8.0.0/16"
sources     = ["127.0.0.1"]
policy      = "lc"

[[bind]]
ports   = "6000"
sources = ["127.0.0.1"]
`)
	legacy := writePolicy(t, "src_vipa.conf", "# web\n10.0.0.0/8 onevipa 127.0.0.1\n")
	explain := func(dest string) func(*bytes.Buffer, *bytes.Buffer) (int, error) {
		return func(stdout, stderr *bytes.Buffer) (int, error) {
			return Explain(t.Context(), toml, "seccomp", dest, "", stdout, stderr)
		}
	}
	tests := []struct {
		name string
		run  func(stdout, stderr *bytes.Buffer) (int, error)
		code int
		want string // stdout, "" for no check; PATH is the policy file's
		// (--engine seccomp: the engine line is the same as any user)
	}{
		{"check", func(stdout, _ *bytes.Buffer) (int, error) { return Check(t.Context(), toml, "seccomp", stdout) }, 0,
			`PATH: TOML file, 3 [[connect]] rules and 1 [[bind]] rule

PATH:1: connect 10.0.0.0/8, policy onevipa
    127.0.0.1   local (lo)

PATH:5: connect 10.9.0.0/16, policy rr
    127.0.0.1   local (lo)

PATH:10: connect 10.8.0.0/16, policy lc
    127.0.0.1   local (lo)

PATH:15: bind 6000, policy onevipa
    127.0.0.1   local (lo)

OK: no warnings
engine seccomp: asked for by --engine
`},
		{"explain a connect", explain("10.1.2.3:80"), 0, `connect to 10.1.2.3:80 over TCP
rule:        PATH:1, destination 10.0.0.0/8
policy:      onevipa: always the first source
sources:     127.0.0.1
next source: 127.0.0.1
bound first: the same after a bind to 0.0.0.0:0 or [::]:0 (dig, host, nslookup); after a wildcard bind to a port of its own, the kernel's source
engine seccomp: asked for by --engine
`},
		{"explain an rr rule", explain("10.9.0.1:80"), 0, ""},
		{"explain an lc rule", explain("10.8.0.1:80"), 0, ""},
		{"explain a bind", explain("0.0.0.0:6000"), 0, `bind to 0.0.0.0:6000
rule:        PATH:15, ports 6000
policy:      onevipa: always the first source
sources:     127.0.0.1
next source: 127.0.0.1
engine seccomp: asked for by --engine
`},
		{"explain no rule", explain("192.168.1.1:80"), ExitWarnings, `connect to 192.168.1.1:80 over TCP
rule:        none: the kernel chooses the source
engine seccomp: asked for by --engine
`},
		{"explain a bind without port", explain("0.0.0.0"), ExitUsage, ""},
		{"explain a bad target", explain("10.0.0.0/8"), ExitUsage, ""},
		{"convert", func(stdout, stderr *bytes.Buffer) (int, error) { return Convert(t.Context(), legacy, stdout, stderr) }, 0, ""},
		{"convert a missing file", func(stdout, stderr *bytes.Buffer) (int, error) {
			return Convert(t.Context(), legacy+".missing", stdout, stderr)
		}, ExitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := tt.run(&stdout, &stderr)
			if code != tt.code || (err != nil) != (code == ExitUsage) {
				t.Fatalf("exit %d, %v; want %d", code, err, tt.code)
			}
			if tt.want == "" {
				return
			}
			want := strings.ReplaceAll(tt.want, "PATH", toml)
			if d := testutil.Diff(testutil.Lines(want), testutil.Lines(stdout.String())); d != "" {
				t.Errorf("stdout (-want +got):\n%s", d)
			}
		})
	}
}

// TestStatusVerb: --status of a pid no supervisor serves, and of no pid.
func TestStatusVerb(t *testing.T) {
	var stdout bytes.Buffer
	code, err := Status(strconv.Itoa(os.Getpid()), false, &stdout)
	if code != ExitWarnings || !errors.Is(err, status.ErrNoSupervisor) {
		t.Errorf("--status of the test: %d, %v; want %d, no supervisor", code, err, ExitWarnings)
	}
	for _, arg := range []string{"abc", "0", "-1"} {
		if code, err := Status(arg, false, &stdout); code != ExitUsage || err == nil {
			t.Errorf("--status %q: %d, %v; want %d", arg, code, err, ExitUsage)
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("printed %q", stdout.String())
	}
}

// TestReportWriteError: a report that cannot be written is an error, and
// the exit status says so.
func TestReportWriteError(t *testing.T) {
	toml := writePolicy(t, "p.toml", "[[bind]]\nports = 80\nsources = [\"127.0.0.1\"]\n")
	if code, err := Check(t.Context(), toml, "seccomp", brokenWriter{}); code != ExitUsage || !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("--check to a closed pipe: exit %d, %v; want %d, %v", code, err, ExitUsage, io.ErrClosedPipe)
	}
	if err := writeList(brokenWriter{}, []status.Report{{Supervisor: 20, Program: 10}}); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("--status list to a closed pipe: %v, want %v", err, io.ErrClosedPipe)
	}
}

// TestStatusWriteError: --status of a pid, as text or JSON, and the JSON
// list, to a stdout that cannot be written: exit 2 and the write's error.
// The test process is the supervisor that answers.
func TestStatusWriteError(t *testing.T) {
	pid := os.Getpid()
	srv, err := status.Serve([]int{pid}, func(int) status.Report {
		return status.Report{Program: pid, Supervisor: pid, Mode: "detached", Policy: "/p.toml"}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, tt := range []struct {
		arg    string
		asJSON bool
	}{{strconv.Itoa(pid), false}, {strconv.Itoa(pid), true}, {"", true}} {
		if code, err := Status(tt.arg, tt.asJSON, brokenWriter{}); code != ExitUsage || !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("--status %q (json %v) to a closed pipe: exit %d, %v; want %d, %v", tt.arg, tt.asJSON, code, err, ExitUsage, io.ErrClosedPipe)
		}
	}
}

// brokenWriter is a stdout whose reader is gone.
type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
