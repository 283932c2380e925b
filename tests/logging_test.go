//go:build linux

package tests

import (
	"encoding/json"
	"strings"
	"testing"

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

	res = e.run(e.vipaExec, "--log-level", "debug", "--log-format", "json", "-p", pol, client, "-w", dst4.String(), "8080")
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
