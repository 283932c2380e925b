//go:build linux

package tests

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationLogging: --log-level info logs one line at start, debug one
// line per decision with the rule and the source, in --log-format json;
// the default level (warn) logs nothing for a run without trouble.
func TestIntegrationLogging(t *testing.T) {
	e := newEnv(t)
	pol := e.policy(standardPolicy)
	client := cClient(t)

	res := e.wrapped(pol, client, "-w", dst4.String(), "8080")
	wantOK(t, "default level", res)
	if strings.TrimSpace(res.Stderr) != "" {
		t.Errorf("default level: stderr %q, want nothing", res.Stderr)
	}

	res = e.run(e.exec("--log-level", "debug", "--log-format", "json", "-p", pol, client, "-w", dst4.String(), "8080")...)
	e.supervisorGone(res)
	wantOK(t, "debug level", res)
	var start, decision map[string]any
	for _, line := range testutil.Lines(res.Stderr) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		switch m["msg"] {
		case "supervising":
			start = m
		case "decision":
			if m["call"] == "connect" {
				decision = m
			}
		}
	}
	if start == nil || start["policy"] != pol || start["sync_wake_up"] != true {
		t.Errorf("start line: %v, want policy %s and sync_wake_up true", start, pol)
	}
	want := map[string]any{"result": "bound", "destination": "10.1.2.3:8080", "source": "192.0.2.10", "rule": pol + ":2"}
	for k, v := range want {
		if decision[k] != v {
			t.Errorf("decision %s = %v, want %v (line %v)", k, decision[k], v, decision)
		}
	}

	res = e.run(e.vipaExec, "--log-level", "loud", "-p", pol, "true")
	if res.Exit != 2 || !strings.Contains(res.Stderr, "--log-level") {
		t.Errorf("bad --log-level: want exit 2 naming the option, got %v", res)
	}
}

// TestIntegrationCounters: SIGUSR1 makes the supervisor log its counters:
// calls seen, bound (per rule and source), left alone and why, failed.
func TestIntegrationCounters(t *testing.T) {
	e := newEnv(t)
	pol := e.policy(standardPolicy)
	client := cClient(t)
	// Two connections (one matched, one no rule matches); then the test
	// sends SIGUSR1 to this program's supervisor and waits for its log line
	// before letting the program exit.
	script := client + " -w " + dst4.String() + " 8080 >/dev/null; " +
		client + " -w " + other4.String() + " 8080 >/dev/null; echo ready; read x; exit 0"
	counters := func(t *testing.T, format, marker string) string {
		e := e.with(t)
		cmd := e.command(e.exec("--log-format", format, "-p", pol, "/bin/sh", "-c", script)...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := testutil.Start(t, cmd)
		if got := p.Line(t); got != "ready" {
			t.Fatalf("program said %q, want ready", got)
		}
		if err := unix.Kill(testutil.WaitSupervisor(t, p.Pid()), unix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, "counters line on stderr", func() bool { return strings.Contains(p.Stderr(), marker) })
		_ = stdin.Close()
		res := p.Wait(t)
		e.supervisorGone(res)
		wantOK(t, "program", res)
		for _, line := range testutil.Lines(res.Stderr) {
			if strings.Contains(line, marker) {
				return line
			}
		}
		t.Fatalf("no counters line on stderr:\n%s", res.Stderr)
		return ""
	}

	// The text format names each counter as --status --json does.
	t.Run("text", func(t *testing.T) {
		line := counters(t, "text", "msg=counters")
		for _, want := range []string{" calls.connect=2 ", " calls.bind=0 ", " bound=1 ", " failed=0 ", " left_alone.no_rule=1 ",
			" per_source." + pol + ":2/" + vipa4.String() + "=1"} {
			if !strings.Contains(line+" ", want) {
				t.Errorf("counters line %q: no %q", line, want)
			}
		}
		if strings.Contains(line, "map[") || strings.Contains(line, "left_alone.bound_by_program") {
			t.Errorf("counters line %q: want names, and no reason that never happened", line)
		}
	})
	t.Run("json", func(t *testing.T) {
		var got map[string]any
		if err := json.Unmarshal([]byte(counters(t, "json", `"msg":"counters"`)), &got); err != nil {
			t.Fatal(err)
		}
		calls, _ := got["calls"].(map[string]any)
		left, _ := got["left_alone"].(map[string]any)
		per, _ := got["per_source"].(map[string]any)
		if calls["connect"] != 2.0 || got["bound"] != 1.0 || got["failed"] != 0.0 || left["no_rule"] != 1.0 || len(left) != 1 {
			t.Errorf("counters %v: want 2 connects, 1 bound, 1 left alone (no_rule), 0 failed", got)
		}
		if k := pol + ":2/" + vipa4.String(); len(per) != 1 || per[k] != 1.0 {
			t.Errorf("per_source %v, want %s: 1", per, k)
		}
	})
}
