//go:build linux

package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rrstate"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestStateCounter: two supervisors of the same policy file share an rr
// rule's counter, in the directory of their euid; the last to close
// removes it. Another file's rule of the same key counts on its own.
func TestStateCounter(t *testing.T) {
	testutil.RequireRoot(t) // root's directory is rrstate.DefaultDir
	path := filepath.Join(t.TempDir(), "policy.toml")
	recs := make(records, 10)
	log := slog.New(recs)
	a, b, other := NewState(path, log), NewState(path, log), NewState(path+".other", log)
	const key = "connect test.toml:1"
	count := func(s *State) policy.Counter {
		t.Helper()
		c, err := s.Counter(key, 0o600)
		if err != nil {
			t.Fatalf("Counter: %v", err)
		}
		return c
	}
	ca, cb, co := count(a), count(b), count(other)
	file := filepath.Join(rrstate.DefaultDir, rrstate.FileName(fmt.Sprintf("policy=%s %s rr_mode=%04o", path, key, 0o600)))
	if _, err := os.Stat(file); err != nil {
		t.Errorf("shared counter: %v", err)
	}
	// A counter starts anywhere; the rotation is what is shared.
	first, otherFirst := ca.Load(), co.Load()
	for range 3 {
		ca.Next()
	}
	if n := cb.Next(); n != first+3 {
		t.Errorf("the other supervisor's counter: Next() = %d, want %d", n, first+3)
	}
	if n := ca.Load(); n != first+4 {
		t.Errorf("Load() = %d, want %d", n, first+4)
	}
	if n := co.Load(); n != otherFirst {
		t.Errorf("another file's counter moved: %d, was %d", n, otherFirst)
	}
	a.Close()
	if _, err := os.Stat(file); err != nil {
		t.Errorf("shared counter while a supervisor still uses it: %v", err)
	}
	b.Close()
	other.Close()
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("shared counter after the last Close: %v", err)
	}
	if len(recs) != 0 {
		t.Error("warnings from counters that could be shared")
	}
}

// TestStateSockets: an lc rule's counts are the host's sockets bound to
// each candidate.
func TestStateSockets(t *testing.T) {
	s := NewState("/test.toml", slog.New(make(records, 10)))
	defer s.Close()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 7)}}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	bound, unused := netip.MustParseAddr("127.0.0.7"), netip.MustParseAddr("127.0.0.8")
	v, err := s.Sockets([]netip.Addr{bound, unused})
	if err != nil {
		t.Fatal(err)
	}
	if n := v.Count(bound); n != 1 {
		t.Errorf("Count(%v) = %d, want 1", bound, n)
	}
	if n := v.Count(unused); n != 0 {
		t.Errorf("Count(%v) = %d, want 0", unused, n)
	}
}

// TestEnvAlive: lrr asks whether its processes exist, until reaped
// (cgroup.Alive).
func TestEnvAlive(t *testing.T) {
	alive := (&State{}).Env().Alive
	if !alive(os.Getpid()) {
		t.Error("Env().Alive(the test) = false")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if alive(cmd.Process.Pid) {
		t.Errorf("Env().Alive(%d), reaped, = true", cmd.Process.Pid)
	}
}

// TestChooseEngine: the engine this machine gives a policy. The test runs
// as root on a cgroup v2 host whose kernel has the hooks (CI: a missing
// piece fails); a policy the bpf engine cannot serve gets seccomp, with
// the rule as the reason, or an error when bpf is asked for.
func TestChooseEngine(t *testing.T) {
	testutil.RequireRoot(t)
	usable := bpfUsable(true)
	testutil.Require(t, usable == nil, fmt.Sprintf("the bpf engine usable here (%v)", usable))
	if err := bpfUsable(false); err != nil {
		t.Fatalf("bpfUsable(false) = %v, but with the trial load nil", err)
	}
	a := netip.MustParseAddr
	plain, err := policy.New([]policy.ConnectRule{{Destination: netip.MustParsePrefix("10.0.0.0/8"), Sources: []netip.Addr{a("127.0.0.1")}, Origin: "p.toml:1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	iface, err := policy.New([]policy.ConnectRule{{Interface: "lo", Sources: []netip.Addr{a("127.0.0.1")}, Origin: "p.toml:3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		flag   string
		p      *policy.Policy
		trial  bool
		want   policy.Engine
		reason string // in the reason
		err    error
	}{
		{name: "auto", p: plain, want: policy.EngineBPF, reason: "engine bpf"},
		{name: "auto trial", p: plain, trial: true, want: policy.EngineBPF, reason: "engine bpf"},
		{name: "bpf", flag: "bpf", p: plain, want: policy.EngineBPF, reason: "by --engine"},
		{name: "seccomp", flag: "seccomp", p: plain, want: policy.EngineSeccomp, reason: "by --engine"},
		{name: "interface", p: iface, want: policy.EngineSeccomp, reason: "p.toml:3"},
		{name: "interface bpf", flag: "bpf", p: iface, err: policy.ErrEngineUnavailable},
		{name: "bad flag", flag: "ebpf", p: plain, err: policy.ErrInvalidEngine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, err := ChooseEngine(tt.flag, tt.p, tt.trial)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ChooseEngine: %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || !strings.Contains(reason, tt.reason) {
				t.Errorf("ChooseEngine = %v, %q; want %v, with %q", got, reason, tt.want, tt.reason)
			}
		})
	}
}

// TestLogEngine: the launcher's choice is one info line, as the
// supervisor logs.
func TestLogEngine(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	for _, format := range []string{"text", "json"} {
		s, err := ParseLogSettings("info", format)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		LogEngine(&b, s, "engine seccomp: asked for by --engine")
		out := b.String()
		if strings.Count(out, "\n") != 1 || !strings.Contains(out, "engine seccomp: asked for by --engine") || !strings.Contains(strings.ToLower(out), "info") {
			t.Errorf("%s: %q", format, out)
		}
		b.Reset()
		s, _ = ParseLogSettings("warn", format)
		if LogEngine(&b, s, "engine bpf"); b.Len() != 0 {
			t.Errorf("%s at warn: %q", format, b.String())
		}
	}
	// A file is asked whether it is the journal's stream.
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	s, _ := ParseLogSettings("info", "text")
	LogEngine(f, s, "engine bpf")
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "engine bpf") {
		t.Errorf("log file: %q", data)
	}
}

// TestSeccompCalled: the seccomp engine has served no process before its
// filter traps a call.
func TestSeccompCalled(t *testing.T) {
	p, err := policy.New([]policy.ConnectRule{{Destination: netip.MustParsePrefix("10.0.0.0/8"), Sources: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := newSeccomp(p, "/test.toml", slog.New(make(records, 10)))
	if sc.Called(os.Getpid()) {
		t.Error("Called(the test) = true")
	}
	if sc.Name() != "seccomp" || sc.Close() != nil {
		t.Error("Name or Close")
	}
}
