//go:build linux

package rewrite

import (
	"net/netip"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestStatsRecordAllocs: counting a bind allocates only the first time its
// rule and source are seen, not on every call (the supervisor's per-call
// path allocates nothing; BenchmarkServeConnect in internal/notify runs it
// whole).
func TestStatsRecordAllocs(t *testing.T) {
	var s Stats
	bound := decision{rule: "p.toml:1", src: netip.MustParseAddr("192.0.2.10")}
	other := decision{rule: "p.toml:5", src: netip.MustParseAddr("2001:db8::1")}
	left := decision{why: ReasonNoRule}
	s.record(notify.OpConnect, &bound, false)
	s.record(notify.OpConnect, &other, false)
	if n := testing.AllocsPerRun(100, func() {
		s.record(notify.OpConnect, &bound, false)
		s.record(notify.OpSendto, &other, false)
		s.record(notify.OpConnect, &left, false)
	}); n != 0 {
		t.Errorf("%v allocations per round of known keys, want 0", n)
	}
	want := []SourceCount{
		{Rule: "p.toml:1", Source: bound.src, Count: 102},
		{Rule: "p.toml:5", Source: other.src, Count: 102},
	}
	if d := testutil.Diff(want, s.Snapshot().PerSource); d != "" {
		t.Errorf("per source (-want +got):\n%s", d)
	}
}
