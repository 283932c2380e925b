//go:build linux

package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want config // compared unless bad
		bad  bool   // parseFlags must fail
	}{
		{"defaults", []string{"-vipa-exec", "x"}, config{vipaExec: "x", n: 10000, reps: 5, startupRuns: 200, getpidN: 5000000, unixN: 50000, trapN: 200000}, false},
		{"quick", []string{"-vipa-exec", "x", "-quick", "-v"}, config{vipaExec: "x", n: 300, reps: 1, startupRuns: 5, getpidN: 100000, unixN: 300, trapN: 1000, verbose: true}, false},
		{"startup only", []string{"-vipa-exec", "x", "-startup-only", "-startup-runs", "50"}, config{vipaExec: "x", n: 10000, reps: 5, startupRuns: 50, getpidN: 5000000, unixN: 50000, trapN: 200000, startupOnly: true}, false},
		{"n and reps", []string{"-vipa-exec", "x", "-n", "2000", "-reps", "3"}, config{vipaExec: "x", n: 2000, reps: 3, startupRuns: 200, getpidN: 5000000, unixN: 50000, trapN: 200000}, false},
		{"no binary", nil, config{}, true},
		{"zero reps", []string{"-vipa-exec", "x", "-reps", "0"}, config{}, true},
		{"negative trap-n", []string{"-vipa-exec", "x", "-trap-n", "-1"}, config{}, true},
		{"more than the ports", []string{"-vipa-exec", "x", "-n", "30000"}, config{}, true},
		{"stray argument", []string{"-vipa-exec", "x", "extra"}, config{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFlags(tc.args, io.Discard)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseFlags(%q) = %+v, want an error", tc.args, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tc.args, err)
			}
			if d := testutil.Diff(tc.want, got); d != "" {
				t.Errorf("parseFlags(%q) (-want +got):\n%s", tc.args, d)
			}
		})
	}
}

// Usage problems and -h are settled before the root check, so they can be
// tested anywhere.
func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  bool
	}{
		{"help", []string{"-h"}, 0, false},
		{"missing -vipa-exec", nil, 2, true},
		{"unknown flag", []string{"-frobnicate"}, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if code != tc.wantCode || (err != nil) != tc.wantErr {
				t.Errorf("run(%q) = %d, %v; want %d, error %v", tc.args, code, err, tc.wantCode, tc.wantErr)
			}
		})
	}
}

// TestIntegrationBenchQuick runs the whole bench in -quick mode against a
// freshly built vipa-exec. It checks that every figure is there and
// positive, never how fast anything is.
func TestIntegrationBenchQuick(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "gcc", "ip")
	bin := testutil.BuildVipaExec(t)

	var stdout, stderr bytes.Buffer
	code, err := run(t.Context(), []string{"-vipa-exec", bin, "-quick"}, &stdout, &stderr)
	t.Logf("bench output:\n%s", stdout.String())
	if code != 0 || err != nil {
		t.Fatalf("bench exited %d: %v\nstderr:\n%s", code, err, stderr.String())
	}

	// The report is sections separated by blank lines, each led by a title;
	// rows are keyed by their first field within their own section.
	sections := map[string]map[string][]string{}
	for _, sec := range strings.Split(stdout.String(), "\n\n") {
		lines := strings.Split(strings.TrimSpace(sec), "\n")
		title, _, _ := strings.Cut(lines[0], " ")
		rows := map[string][]string{}
		for _, line := range lines[1:] {
			if f := strings.Fields(line); len(f) > 0 && rows[f[0]] == nil {
				rows[f[0]] = f
			}
		}
		sections[title] = rows
	}
	rows := sections["TCP"]
	positive := func(row, what, s string) {
		t.Helper()
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v > 0) {
			t.Errorf("row %q: %s is %q, want a positive number", row, what, s)
		}
	}
	for _, c := range tcpCaseList {
		f, ok := rows[c.name]
		if !ok || len(f) < 4 {
			t.Errorf("no TCP row for case %q", c.name)
			continue
		}
		positive(c.name, "median connections/s", f[1])
	}
	// Non-trapped rows share their first field, so key them by the first two.
	loops := map[string]bool{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if f := strings.Fields(line); len(f) == 7 && (f[0] == "getpid" || f[0] == "unix-connect") {
			loops[f[0]+" "+f[1]] = true
			positive(f[0]+" "+f[1], "median calls/s", f[3])
		}
	}
	for _, l := range []string{"getpid", "unix-connect"} {
		for _, v := range nonTrappedVariants {
			if !loops[l+" "+v] {
				t.Errorf("no row for the non-trapped loop %q run %q", l, v)
			}
		}
	}
	for _, label := range []string{"true", "empty Go program", "vipa-exec -p POLICY true", "vipa-exec --supervise=parent -p POLICY true", "vipa-exec --engine=bpf -p POLICY true"} {
		found := false
		for _, line := range strings.Split(stdout.String(), "\n") {
			rest, ok := strings.CutPrefix(line, label+"  ")
			if !ok {
				continue
			}
			found = true
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "ms" {
				t.Errorf("start-up row %q: got %q, want \"N ms\"", label, rest)
				continue
			}
			positive(label, "wall time", f[0])
		}
		if !found {
			t.Errorf("no start-up row %q", label)
		}
	}
	// The summary has a row per figure, of both engines, with a measured value.
	for _, r := range targets(figures{}) {
		found := false
		for _, line := range strings.Split(stdout.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, r.name+" "); ok && len(strings.Fields(rest)) >= 3 {
				found = true
			}
		}
		if !found {
			t.Errorf("no summary row %q", r.name)
		}
	}
	for _, row := range []string{"vipa-exec/ideal", "c-supervisor/ideal", "vipa-exec/c-supervisor", "vipa-exec/bare"} {
		if _, ok := sections["ratio"][row]; !ok {
			t.Errorf("no ratio row %q", row)
		}
	}
	for _, v := range trappedVariants {
		f, ok := sections["trapped"][v]
		if !ok || len(f) != 4 {
			t.Errorf("no trapped round-trip row for %q", v)
			continue
		}
		positive("trapped "+v, "median µs per call", f[1])
	}
	// The cost is a difference of two timings, so only its presence is
	// checked: even its sign is up to the machine.
	for _, row := range []string{supVipaExec, supC, "vipa-exec/c-supervisor"} {
		f, ok := sections["round"][row]
		if !ok || len(f) != 2 {
			t.Errorf("no round trip cost row %q", row)
			continue
		}
		if _, err := strconv.ParseFloat(f[1], 64); err != nil {
			t.Errorf("round trip cost row %q: %q is not a number", row, f[1])
		}
	}
}

// A connection the client side never closes is what a supervisor holding a
// duplicate of the client's socket looks like from the server: close must
// count it, or tcpRun could not fail on that.
func TestServerCountsConnectionsWithoutEOF(t *testing.T) {
	srv, err := listenUnix(filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	closed, err := net.Dial("unix", srv.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = closed.Close()
	held, err := net.Dial("unix", srv.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = held.Close() }()
	srv.waitAccepted(t.Context(), 2, time.Second)
	if got := srv.accepted.Load(); got != 2 {
		t.Fatalf("accepted %d connections, want 2", got)
	}
	if _, forced := srv.close(100 * time.Millisecond); forced != 1 {
		t.Errorf("close forced %d connections, want 1 (the one still held)", forced)
	}
}
