//go:build linux

package rewrite

import (
	"os"

	"golang.org/x/sys/unix"

	"regexp"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// snake is the shape of a counter's name in the --status --json schema.
var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// TestNames: every reason and every call has a name, of the schema's
// shape, and no two share one; the words of each reason are its own.
func TestNames(t *testing.T) {
	names, texts := map[string]Reason{}, map[string]Reason{}
	for r := range NumReasons {
		n := r.String()
		if !snake.MatchString(n) {
			t.Errorf("reason %d: name %q, want snake_case", r, n)
		}
		if o, dup := names[n]; dup {
			t.Errorf("reasons %d and %d share the name %q", o, r, n)
		}
		names[n] = r
		if r.Text() == "" {
			t.Errorf("reason %s has no words", n)
		}
		if o, dup := texts[r.Text()]; dup {
			t.Errorf("reasons %s and %s share the words %q", o, r, r.Text())
		}
		texts[r.Text()] = r
		if got := ReasonText(n); got != r.Text() {
			t.Errorf("ReasonText(%q) = %q, want %q", n, got, r.Text())
		}
	}
	if got := ReasonText("\x1b[2J"); got != "\x1b[2J" {
		t.Errorf("ReasonText of an unknown name = %q, want the name", got)
	}
	ops := map[string]bool{}
	for op := range notify.NumOps {
		n := op.String()
		if !snake.MatchString(n) || ops[n] {
			t.Errorf("op %d: name %q, want a unique snake_case name", op, n)
		}
		ops[n] = true
	}
}

// TestSnapshotKeys: a snapshot has every call and every reason, counted
// under its name, so that the JSON has the same keys from the start.
func TestSnapshotKeys(t *testing.T) {
	var s Stats
	s.record(notify.OpConnect, &decision{why: ReasonNoRule}, false)
	s.record(notify.OpSendto, &decision{}, false)
	s.record(notify.OpBind, &decision{}, true)
	got := s.Snapshot()
	if len(got.Calls) != int(notify.NumOps)-1 || len(got.LeftAlone) != int(NumReasons) {
		t.Errorf("snapshot has %d calls and %d reasons, want %d and %d", len(got.Calls), len(got.LeftAlone), notify.NumOps-1, NumReasons)
	}
	want := map[string]uint64{"connect": 1, "bind": 1, "sendto": 1, "sendmsg": 0, "sendmmsg": 0}
	for k, v := range want {
		if got.Calls[k] != v {
			t.Errorf("calls[%s] = %d, want %d", k, got.Calls[k], v)
		}
	}
	if got.LeftAlone["no_rule"] != 1 || got.LeftAlone["none"] != 1 || got.Failed != 1 {
		t.Errorf("left alone %v, failed %d: want no_rule 1, none 1, failed 1", got.LeftAlone, got.Failed)
	}
}

func TestParseStartTime(t *testing.T) {
	tests := []struct {
		stat string
		want uint64
		ok   bool
	}{
		{"1234 (sleep) S 1 1234 1234 0 -1 4194560 96 0 0 0 0 0 0 0 20 0 1 0 5513 8478720 224", 5513, true},
		{"1234 (a b) c) S 1 1234 1234 0 -1 4194560 96 0 0 0 0 0 0 0 20 0 1 0 77 8478720", 77, true},
		{"1234 (sleep) S 1 1234", 0, false},
		{"garbage", 0, false},
	}
	for _, tt := range tests {
		got, err := parseStartTime(tt.stat)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseStartTime(%q) = %d, %v; want %d, ok %v", tt.stat, got, err, tt.want, tt.ok)
		}
	}
}

// TestCallers: a process is known once one of its threads called, and
// a thread id whose start time differs (reused) is not.
func TestCallers(t *testing.T) {
	var c callers
	me, pid := uint32(unix.Gettid()), os.Getpid()
	if c.called(pid) {
		t.Fatal("known before any call")
	}
	c.saw(me)
	if !c.called(pid) {
		t.Errorf("process %d not known after its thread %d called", pid, me)
	}
	var reused callers
	reused.m.Store(me, uint64(1))
	if reused.called(pid) {
		t.Error("a thread id with another start time was taken for the caller")
	}
}

// TestDecisionNote: the debug log's words for each kind of decision, as
// they were when every call site spelt them out.
func TestDecisionNote(t *testing.T) {
	tests := []struct {
		d    decision
		want string
	}{
		{decision{why: ReasonNoRule}, "left alone: no rule"},
		{decision{why: ReasonPolicyKernel}, "left alone: policy kernel"},
		{decision{why: ReasonNotInet}, "not an IPv4 or IPv6 address"},
		{decision{why: ReasonDeferred}, "deferred: wildcard bind to port 0, source and port chosen at connect"},
		{decision{why: ReasonBindFailed, detail: "cannot assign requested address"}, "left alone: bind failed: cannot assign requested address"},
		{decision{why: ReasonReadFailed, detail: "operation not permitted"}, "left alone: read the address: operation not permitted"},
		{decision{why: ReasonRewriteFailed, detail: "get the socket: too many open files"}, "left alone: get the socket: too many open files"},
		{decision{why: ReasonWildcardNotDeferred, detail: "bad file descriptor"}, "left alone: wildcard bind not deferred: bad file descriptor"},
	}
	for _, tt := range tests {
		if got := tt.d.note(); got != tt.want {
			t.Errorf("note of %v = %q, want %q", tt.d.why, got, tt.want)
		}
	}
}
