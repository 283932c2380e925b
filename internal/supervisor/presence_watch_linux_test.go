//go:build linux

package supervisor

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestWatchAddrs: the supervisor follows the addresses of its network
// namespace: an address added is present from then on, handed to changed
// (the bpf engine) before the presence line for the policy in force is
// logged.
func TestWatchAddrs(t *testing.T) {
	ns := testutil.NewNetNS(t)
	src := netip.MustParseAddr("192.0.2.10")
	p, err := policy.New([]policy.ConnectRule{{Destination: netip.MustParsePrefix("10.0.0.0/8"), Sources: []netip.Addr{src}, Origin: "test.toml:1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := make(records, 100)
	changed := make(chan *policy.AddrSet, 100)
	var present func() *policy.AddrSet
	var stop func()
	ns.Do(t, func() error {
		present, stop = watchAddrs(slog.New(recs), func() *policy.Policy { return p },
			func(set *policy.AddrSet) { changed <- set })
		return nil
	})
	defer stop()
	if present == nil {
		t.Fatal("no watcher in the namespace")
	}
	if present().Has(src) {
		t.Fatalf("%v present before it was added", src)
	}
	ns.AddAddr(t, src.String()+"/32")
	// The deadline only ends a test that would otherwise hang.
	deadline := time.After(time.Minute)
	for handed := false; !handed; {
		select {
		case set := <-changed:
			handed = set.Has(src)
		case <-deadline:
			t.Fatalf("%v added, but not handed to changed", src)
		}
	}
	back := recs.until(t, func(r slog.Record) bool { return r.Message == "source is back on this host; its rules use it again" })
	if got := attr(back[len(back)-1], "source"); got != src.String() {
		t.Errorf("the line names source %q, want %v", got, src)
	}
	if !present().Has(src) {
		t.Errorf("%v not present once added", src)
	}
}
