//go:build linux

package tests

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// decisions runs the shell script under vipa-exec at debug level and
// returns the decision lines it logged, per call.
func (e *env) decisions(t *testing.T, pol, script string) map[string][]map[string]any {
	t.Helper()
	res := e.run(e.exec("--log-level", "debug", "--log-format", "json", "-p", pol, "/bin/sh", "-ec", script)...)
	e.supervisorGone(res)
	wantOK(t, "program", res)
	out := map[string][]map[string]any{}
	for _, line := range testutil.Lines(res.Stderr) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		if m["msg"] == "decision" {
			call := m["call"].(string)
			out[call] = append(out[call], m)
		}
	}
	return out
}

// TestIntegrationTrapsFromPolicy: the filter traps bind only for a policy
// with [[bind]] rules, and sendto only as far as a rule can match it (every
// sendto for a rule that can match UDP, only TCP Fast Open's for TCP-only
// rules): a call the filter does not trap cannot come back with EINTR from
// a signal that arrives before the supervisor has it.
func TestIntegrationTrapsFromPolicy(t *testing.T) {
	e := newEnv(t)
	client := testutil.BuildC(t, "tests/clients/edge/edge.c", "-pthread")
	e.ns.ListenPacket(t, "udp4", netip.AddrPortFrom(dst4, serverPort).String())
	const tcpOnly = `[[connect]]
destination = "10.1.2.0/24"
protocol    = "tcp"
sources     = ["192.0.2.10"]
`
	t.Run("connect rules, wildcard binds deferred: bind is trapped", func(t *testing.T) {
		e := e.with(t)
		got := e.decisions(t, e.policy(standardPolicy),
			client+" addrlen 0.0.0.0 6000 16 bind; "+client+" addrlen 0.0.0.0 0 16 bind")
		if n := len(got["bind"]); n != 2 || got["bind"][0]["result"] != "left alone: no rule" ||
			!strings.HasPrefix(got["bind"][1]["result"].(string), "deferred:") {
			t.Errorf("bind decisions %v, want one left alone (port 6000), one deferred (port 0)", got["bind"])
		}
	})
	t.Run("no [[bind]] rule, wildcard binds kept: bind is not trapped", func(t *testing.T) {
		e := e.with(t)
		got := e.decisions(t, e.policy("[options]\ndefer_wildcard_binds = false\n"+standardPolicy),
			client+" addrlen 0.0.0.0 6000 16 bind; "+client+" addrlen "+dst4.String()+" 8080 16 connect")
		if n := len(got["bind"]); n != 0 {
			t.Errorf("the supervisor saw %d binds, want none: %v", n, got["bind"])
		}
		if n := len(got["connect"]); n != 1 || got["connect"][0]["source"] != vipa4.String() {
			t.Errorf("connect decisions %v, want one with source %v", got["connect"], vipa4)
		}
	})
	t.Run("TCP rules only: UDP sendto is not trapped, TCP Fast Open is", func(t *testing.T) {
		e := e.with(t)
		got := e.decisions(t, e.policy(tcpOnly),
			client+" addrlen "+dst4.String()+" 8080 16 sendto; "+client+" tfo "+dst4.String()+" 8080")
		if n := len(got["sendto"]); n != 1 || got["sendto"][0]["source"] != vipa4.String() {
			t.Errorf("sendto decisions %v, want one (TCP Fast Open's) with source %v", got["sendto"], vipa4)
		}
	})
	t.Run("a rule for UDP: sendto is trapped", func(t *testing.T) {
		e := e.with(t)
		got := e.decisions(t, e.policy(standardPolicy), client+" addrlen "+dst4.String()+" 8080 16 sendto")
		if n := len(got["sendto"]); n != 1 || got["sendto"][0]["source"] != vipa4.String() {
			t.Errorf("sendto decisions %v, want one with source %v", got["sendto"], vipa4)
		}
	})
}

// TestIntegrationReloadUntrapped: a reload that adds a rule the filter
// loaded at start cannot serve (a [[bind]] rule, when the first policy had
// none) says so in one warning naming the rule, and the rest of the new
// policy applies.
func TestIntegrationReloadUntrapped(t *testing.T) {
	e := newEnv(t)
	// Without deferred wildcard binds, a connect rule needs no bind trapped.
	const keep = "[options]\ndefer_wildcard_binds = false\n"
	c, pol := e.startReloadClient(t, "detached", keep+policyFor(vipa4))
	if got := c.connect(); got != vipa4 {
		t.Fatalf("before any change: source %v, want %v", got, vipa4)
	}
	writeAtomic(t, pol, keep+policyFor(vipa4b)+bindPolicy)
	c.reloaded(vipa4b, "after the reload")
	c.waitLog("does not trap the calls these rules need", "after adding a [[bind]] rule")
	var warning string
	for _, line := range strings.Split(readLog(t, c.logPath), "\n") {
		if strings.Contains(line, "does not trap") {
			warning = line
		}
	}
	if want := filepath.Base(pol) + ":6 (bind)"; !strings.Contains(warning, want) {
		t.Errorf("warning %q does not name %s", warning, want)
	}
	e.supervisorGone(c.stop())
}
