//go:build linux

package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/launch"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
	"github.com/vipa-exec/vipa-exec/internal/status"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// records is a slog.Handler that hands every record to the test, which
// waits for the line it expects instead of sleeping.
type records chan slog.Record

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r records) WithGroup(string) slog.Handler            { return r }
func (r records) Handle(_ context.Context, rec slog.Record) error {
	r <- rec.Clone()
	return nil
}

// until returns the records logged from now on up to the first one done
// accepts, that one included. The deadline only ends a test that would
// otherwise hang.
func (r records) until(t *testing.T, done func(slog.Record) bool) []slog.Record {
	t.Helper()
	deadline := time.After(time.Minute)
	var got []slog.Record
	for {
		select {
		case rec := <-r:
			got = append(got, rec)
			if done(rec) {
				return got
			}
		case <-deadline:
			t.Fatalf("no such log line; got %v", messages(got))
		}
	}
}

// reloadEnd accepts the last line of a reload: applied or refused.
func reloadEnd(rec slog.Record) bool {
	return rec.Message == "policy reloaded" || rec.Message == "policy reload failed; keeping the running policy"
}

func messages(recs []slog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Message
	}
	return out
}

// attr is the value of a record's attribute key, as text.
func attr(rec slog.Record, key string) string {
	var v string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// basePolicy's one rule takes connections to 10.0.0.0/8 over TCP from an
// address every host has, so that no presence warning gets in between.
const basePolicy = `[[connect]]
destination = "10.0.0.0/8"
protocol    = "tcp"
sources     = ["127.0.0.1"]
`

// testSupervisor is a supervisor started as the launcher would start it,
// for a program that is a sleep(1) of the test's, with the seccomp engine
// (served by no listener: nothing here needs the filter).
type testSupervisor struct {
	*supervisor
	sc      *seccomp
	path    string
	program int
	log     records
}

func startSupervisor(t *testing.T, text string, parent bool) *testSupervisor {
	t.Helper()
	path, handoff := checkedPolicy(t, text)
	program := exec.Command("sleep", "600")
	if err := program.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := program.Process.Kill(); err != nil {
			t.Error(err)
		}
		_ = program.Wait() // "signal: killed"
	})
	ts := &testSupervisor{path: path, program: program.Process.Pid, log: make(records, 1000)}
	log := slog.New(ts.log)
	var err error
	ts.supervisor, err = start(launch.Setup{Path: path, Data: handoff, Program: ts.program, Parent: parent}, log,
		func(p *policy.Policy) (engine, error) {
			ts.sc = newSeccomp(p, path, log)
			return ts.sc, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.close)
	// What serve does first once the program runs: watch the file.
	t.Cleanup(ts.reloader.watchFile(parent))
	return ts
}

// checkedPolicy writes text as a policy file and returns its path and what
// a launcher that checked it hands the supervisor.
func checkedPolicy(t *testing.T, text string) (path string, handoff []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "policy.toml")
	writeFile(t, path, text)
	res, err := conf.Read(t.Context(), path, []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if handoff, err = EncodeHandoff([]byte(text), res); err != nil {
		t.Fatal(err)
	}
	return path, handoff
}

// writeFile writes a policy file in place, as an editor that keeps the
// inode does.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renameOver replaces the file as most editors and configuration tools do:
// a new file renamed over the old.
func renameOver(t *testing.T, path, text string) {
	t.Helper()
	writeFile(t, path+".new", text)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// matches reports whether the served policy has a rule for a TCP
// connection to dst.
func (ts *testSupervisor) matches(dst string) bool {
	_, ok := ts.sc.h.Policy().MatchConnect(netip.MustParseAddrPort(dst), policy.TCP)
	return ok
}

// TestReload: an edit of the policy file, written in place or renamed over
// it, is served from then on; an edit the filter cannot serve in full is
// served with a warning naming what it lacks; a bad edit keeps the running
// policy, with one error line.
func TestReload(t *testing.T) {
	const moved = `[[connect]]
destination = "192.168.0.0/16"
protocol    = "tcp"
sources     = ["127.0.0.1"]
`
	tests := []struct {
		name  string
		edit  func(t *testing.T, path string)
		want  []string
		moved bool // the edit moved the rule to moved's destination
	}{
		{"in-place write", func(t *testing.T, path string) { writeFile(t, path, moved) },
			[]string{"policy reloaded"}, true},
		{"rename over the file", func(t *testing.T, path string) { renameOver(t, path, moved) },
			[]string{"policy reloaded"}, true},
		{"[options] the filter cannot change", func(t *testing.T, path string) {
			writeFile(t, path, basePolicy+"[options]\ntrap_sendmsg = true\n")
		}, []string{
			"policy reloaded, but its [options] change what the filter traps: they take effect when the program is started again",
			"policy reloaded",
		}, false},
		{"rules the filter does not trap", func(t *testing.T, path string) {
			writeFile(t, path, strings.Replace(basePolicy, `"tcp"`, `"udp"`, 1))
		}, []string{
			"policy reloaded, but the filter loaded at start does not trap the calls these rules need: they apply to those calls when the program is started again",
			"policy reloaded",
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startSupervisor(t, basePolicy, false)
			running := ts.sc.h.Policy()
			tt.edit(t, ts.path)
			got := ts.log.until(t, reloadEnd)
			if d := testutil.Diff(tt.want, messages(got)); d != "" {
				t.Fatalf("log (-want +got):\n%s", d)
			}
			if trigger := attr(got[len(got)-1], "trigger"); trigger != "file changed" {
				t.Errorf("trigger %q, want file changed", trigger)
			}
			if ts.sc.h.Policy() == running || tt.moved && (ts.matches("10.1.2.3:80") || !ts.matches("192.168.1.1:80")) {
				t.Errorf("the served policy is not the edited file's")
			}
			r, err := status.Query(ts.program, 0)
			if err != nil {
				t.Fatal(err)
			}
			if r.Reloads != 1 || r.PolicyLoaded.Before(r.Started) {
				t.Errorf("--status: %d reloads, loaded %v, started %v; want 1, loaded since", r.Reloads, r.PolicyLoaded, r.Started)
			}
		})
	}
}

// TestReloadBadEdit: a policy file that does not parse keeps the running
// policy, says so in one error line naming the file and line, and the next
// good edit is served.
func TestReloadBadEdit(t *testing.T) {
	ts := startSupervisor(t, basePolicy, false)
	running := ts.sc.h.Policy()
	writeFile(t, ts.path, strings.Replace(basePolicy, "10.0.0.0/8", "10.0.0.0/33", 1))
	got := ts.log.until(t, reloadEnd)
	if d := testutil.Diff([]string{"policy reload failed; keeping the running policy"}, messages(got)); d != "" {
		t.Fatalf("log (-want +got):\n%s", d)
	}
	rec := got[0]
	if msg := attr(rec, "err"); rec.Level != slog.LevelError || strings.Contains(msg, "\n") || !strings.Contains(msg, ts.path+":2") {
		t.Errorf("error line at %v: %q; want one line naming %s:2", rec.Level, msg, ts.path)
	}
	if ts.sc.h.Policy() != running {
		t.Error("a bad edit replaced the running policy")
	}

	writeFile(t, ts.path, basePolicy+"\n# fixed\n")
	got = ts.log.until(t, reloadEnd)
	if d := testutil.Diff([]string{"policy reloaded"}, messages(got)); d != "" {
		t.Fatalf("log after the fix (-want +got):\n%s", d)
	}
	if ts.sc.h.Policy() == running || !ts.matches("10.1.2.3:80") {
		t.Error("the fixed file is not served")
	}
}

// TestReloadSIGHUP: SIGHUP reloads the file, with no file watch to see the
// change.
func TestReloadSIGHUP(t *testing.T) {
	path, log, sc, r := newReloader(t)
	reloads := 0
	r.done = func(*policy.Policy) { reloads++ }
	stop := r.onSIGHUP()
	defer stop()
	writeFile(t, path, strings.Replace(basePolicy, "10.0.0.0/8", "192.168.0.0/16", 1))
	if err := unix.Kill(os.Getpid(), unix.SIGHUP); err != nil {
		t.Fatal(err)
	}
	got := log.until(t, reloadEnd)
	if d := testutil.Diff([]string{"policy reloaded"}, messages(got)); d != "" {
		t.Fatalf("log (-want +got):\n%s", d)
	}
	if trigger := attr(got[0], "trigger"); trigger != "SIGHUP" {
		t.Errorf("trigger %q, want SIGHUP", trigger)
	}
	if _, ok := sc.h.Policy().MatchConnect(netip.MustParseAddrPort("192.168.1.1:80"), policy.TCP); !ok || reloads != 1 {
		t.Errorf("after SIGHUP: %d reloads, the new rule served: %v; want 1, true", reloads, ok)
	}
}

// TestReloadParent: a parent supervisor, which takes no signal for itself,
// polls the file instead.
func TestReloadParent(t *testing.T) {
	ts := startSupervisor(t, basePolicy, true)
	renameOver(t, ts.path, strings.Replace(basePolicy, "10.0.0.0/8", "192.168.0.0/16", 1))
	got := ts.log.until(t, reloadEnd)
	if d := testutil.Diff([]string{"policy reloaded"}, messages(got)); d != "" {
		t.Fatalf("log (-want +got):\n%s", d)
	}
	if !ts.matches("192.168.1.1:80") {
		t.Error("the edited file is not served")
	}
	r, err := status.Query(ts.program, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "parent" {
		t.Errorf("--status mode %q, want parent", r.Mode)
	}
}

// TestStatusAnswer: the supervisor answers --status for its program and
// for itself, and serves the processes forked from its program.
func TestStatusAnswer(t *testing.T) {
	ts := startSupervisor(t, basePolicy, false)
	for _, pid := range []int{ts.program, os.Getpid()} {
		r, err := status.Query(pid, ts.program)
		if err != nil {
			t.Fatal(err)
		}
		if r.Program != ts.program || r.Supervisor != os.Getpid() || r.Mode != "detached" || r.Policy != ts.path ||
			r.Reloads != 0 || r.Serves == nil || !*r.Serves {
			t.Errorf("--status %d: %+v; want program %d, supervisor %d, detached, %s, serving", pid, r, ts.program, os.Getpid(), ts.path)
		}
	}
	if ts.info.report(1).Serves == nil || *ts.info.report(1).Serves {
		t.Error("pid 1 is served")
	}
}

// TestCountersOnSIGUSR1: SIGUSR1 logs the counters, at warn.
func TestCountersOnSIGUSR1(t *testing.T) {
	ts := startSupervisor(t, basePolicy, false)
	if err := unix.Kill(os.Getpid(), unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	got := ts.log.until(t, func(r slog.Record) bool { return r.Message == "counters" })
	rec := got[len(got)-1]
	if rec.Level != slog.LevelWarn || attr(rec, "program") != strconv.Itoa(ts.program) || attr(rec, "bound") != "0" {
		t.Errorf("counters at %v: program %s, bound %s; want warn, %d, 0", rec.Level, attr(rec, "program"), attr(rec, "bound"), ts.program)
	}
}

// TestCounterAttrs: the counters as the text log writes them, under the
// names of the --status --json schema.
func TestCounterAttrs(t *testing.T) {
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	log.Warn("counters", counterAttrs(rewrite.Snapshot{
		Calls: map[string]uint64{"connect": 3, "bind": 0},
		Bound: 2, Failed: 1,
		LeftAlone: map[string]uint64{"no_rule": 1, "caller_gone": 0},
		PerSource: []rewrite.SourceCount{{Rule: "p.toml:1", Source: netip.MustParseAddr("192.0.2.10"), Count: 2}},
	})...)
	want := "level=WARN msg=counters calls.bind=0 calls.connect=3 bound=2 failed=1 left_alone.no_rule=1 per_source.p.toml:1/192.0.2.10=2\n"
	if d := testutil.Diff(want, b.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestStartRefuses: a hand-off that is not one starts nothing (and leaks
// nothing: TestMain counts the descriptors).
func TestStartRefuses(t *testing.T) {
	_, err := start(launch.Setup{Path: "/p.toml", Data: []byte("[[connect]]\n"), Program: 1}, slog.New(make(records, 10)),
		func(*policy.Policy) (engine, error) { t.Fatal("an engine for no policy"); return nil, nil })
	if err == nil {
		t.Fatal("no error")
	}
}

// TestServe: serve runs the engine's serve while following the routes,
// and returns its error.
func TestServe(t *testing.T) {
	ts := startSupervisor(t, basePolicy, false)
	errDone := os.ErrClosed
	if err := ts.serve(func() error { return errDone }); !errors.Is(err, errDone) {
		t.Errorf("serve() = %v, want the engine's %v", err, errDone)
	}
	if got := sourcesOf(ts.sc.started); !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("sources %v", got)
	}
}

// TestReloadBeforeWatch: a file changed between the launcher's read and
// the file watch, which starts only once the program runs, is reloaded as
// the watch starts.
func TestReloadBeforeWatch(t *testing.T) {
	path, log, sc, r := newReloader(t)
	writeFile(t, path, strings.Replace(basePolicy, "10.0.0.0/8", "192.168.0.0/16", 1))
	stop := r.watchFile(false)
	defer stop()
	got := log.until(t, reloadEnd)
	if d := testutil.Diff([]string{"policy reloaded"}, messages(got)); d != "" {
		t.Fatalf("log (-want +got):\n%s", d)
	}
	if _, ok := sc.h.Policy().MatchConnect(netip.MustParseAddrPort("192.168.1.1:80"), policy.TCP); !ok {
		t.Error("the file changed before the watch is not served")
	}
}

// newReloader is a reloader of a policy file holding basePolicy into a
// seccomp engine, with no supervisor around it; its log goes to log.
func newReloader(t *testing.T) (path string, log records, sc *seccomp, r *reloader) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "policy.toml")
	writeFile(t, path, basePolicy)
	pol, err := conf.Parse(path, []byte(basePolicy))
	if err != nil {
		t.Fatal(err)
	}
	log = make(records, 100)
	sc = newSeccomp(pol, path, slog.New(log))
	r = &reloader{path: path, log: slog.New(log), loaded: []byte(basePolicy),
		attach: func(p *policy.Policy) (*policy.Policy, error) { return p, nil },
		apply:  sc.Reload,
		done:   func(*policy.Policy) {}}
	return path, log, sc, r
}
