//go:build linux

package report

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/rewrite"
	"github.com/vipa-exec/vipa-exec/internal/status"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestWriteStatus(t *testing.T) {
	saved := time.Local
	time.Local = time.UTC
	defer func() { time.Local = saved }()
	start := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	r := &status.Report{
		Supervisor: 20, Program: 10, Mode: "parent", Engine: "bpf", Policy: "/etc/vipa-exec/web.toml",
		PolicyLoaded: start.Add(time.Hour), Reloads: 1, Started: start, Now: start.Add(3*time.Hour + 5*time.Second + 400*time.Millisecond),
		Counters: rewrite.Snapshot{
			Calls: map[string]uint64{"connect": 9, "bind": 2, "sendto": 1},
			Bound: 6, Failed: 1,
			LeftAlone: map[string]uint64{"no_rule": 2, "bound_by_program": 1, "caller_gone": 0},
			PerSource: []rewrite.SourceCount{
				{Rule: "/etc/vipa-exec/web.toml:2", Source: netip.MustParseAddr("192.0.2.10"), Count: 4},
				{Rule: "/etc/vipa-exec/web.toml:2", Source: netip.MustParseAddr("192.0.2.11"), Count: 2},
			},
		},
		LCSockets: []status.SocketCount{{Source: netip.MustParseAddr("192.0.2.10"), Count: 3}, {Source: netip.MustParseAddr("192.0.2.11"), Count: 0}},
	}
	const body = `program     10
supervisor  20 (parent)
engine      bpf
policy      /etc/vipa-exec/web.toml, loaded 2026-11-22 08:00:00, 1 reload
uptime      3h0m5s (since 2026-11-22 07:00:00)
calls       connect 9, bind 2, sendto 1, sendmsg 0, sendmmsg 0
bound       6
failed      1
left alone  1 bound by the program
            2 no rule
per source  4 192.0.2.10 (rule /etc/vipa-exec/web.toml:2)
            2 192.0.2.11 (rule /etc/vipa-exec/web.toml:2)
lc sockets  3 192.0.2.10
            0 192.0.2.11
`
	tests := []struct {
		pid  int
		want string
	}{
		{10, body},
		{20, body},
		{30, "pid         30, a process forked from program 10, under its filter\n" + body},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := writeStatus(&b, tt.pid, r); err != nil {
			t.Fatal(err)
		}
		if d := testutil.Diff(testutil.Lines(tt.want), testutil.Lines(b.String())); d != "" {
			t.Errorf("pid %d (-want +got):\n%s", tt.pid, d)
		}
	}

	var b bytes.Buffer
	if err := writeStatus(&b, 10, &status.Report{Program: 10, Supervisor: 10, Mode: "detached\x1b[2J", Policy: "\x1b]0;x\x07/p",
		Counters: rewrite.Snapshot{
			LeftAlone: map[string]uint64{"\x1b[31m": 1},
			PerSource: []rewrite.SourceCount{{Rule: "\u202e/p:1", Source: netip.MustParseAddr("fe80::1%\x1b[2J"), Count: 1}},
		},
		LCSockets: []status.SocketCount{{Source: netip.MustParseAddr("fe80::1%\x1b]0;x\x07"), Count: 1}}}); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsFunc(b.Bytes(), func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x202e }) {
		t.Errorf("control characters printed:\n%q", b.String())
	}

	b.Reset()
	if err := writeStatus(&b, 10, &status.Report{Program: 10, Supervisor: 10, Mode: "detached", Counters: rewrite.Snapshot{}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"left alone  0\n", "per source  none yet\n", "0 reloads"} {
		if !bytes.Contains(b.Bytes(), []byte(want)) {
			t.Errorf("empty counters: no %q in\n%s", want, b.String())
		}
	}
	if bytes.Contains(b.Bytes(), []byte("lc sockets")) {
		t.Errorf("no lc rule: an lc sockets line in\n%s", b.String())
	}
}

func TestWriteList(t *testing.T) {
	start := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	rs := []status.Report{
		{Supervisor: 20, Program: 10, Mode: "detached", Engine: "seccomp", Policy: "/etc/vipa-exec/web policy.toml", Started: start, Now: start.Add(65 * time.Second),
			Counters: rewrite.Snapshot{Calls: map[string]uint64{"connect": 9, "bind": 2}, Bound: 6, Failed: 1,
				LeftAlone: map[string]uint64{"no_rule": 3, "caller_gone": 1}}},
		{Supervisor: 31, Program: 30, UID: 1000, Mode: "parent\x1b[2J", Engine: "bpf", Policy: "/p", Started: start, Now: start},
		// A supervisor older than the engine field.
		{Supervisor: 41, Program: 40, Mode: "detached", Policy: "/q", Started: start, Now: start},
		{Supervisor: 51, Program: 50, Mode: "detached", Engine: "bpf\u202e", Policy: "/r", Started: start, Now: start},
	}
	want := `SUPERVISOR  PROGRAM  UID   MODE        ENGINE   UPTIME  CALLS  BOUND  FAILED  LEFT ALONE  POLICY
20          10       0     detached    seccomp  1m5s    11     6      1       4           /etc/vipa-exec/web policy.toml
31          30       1000  parent?[2J  bpf      0s      0      0      0       0           /p
41          40       0     detached    -        0s      0      0      0       0           /q
51          50       0     detached    bpf?     0s      0      0      0       0           /r
`
	var b bytes.Buffer
	if err := writeList(&b, rs); err != nil {
		t.Fatal(err)
	}
	if d := testutil.Diff(testutil.Lines(want), testutil.Lines(b.String())); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
