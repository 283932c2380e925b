//go:build linux

package notify_test

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
)

// BenchmarkServeConnect is the supervisor's whole per-call path for a real
// connect(2): Serve receives the notification, the rewrite handler reads
// the address and decides, binds the caller's socket where a rule says so,
// and the answer goes back; one op is one connect of the filtered child's.
// With -benchmem it must show 0 allocs/op, with the log at its default
// level (debug off): what Serve and the handler set up once is spread over
// b.N calls.
func BenchmarkServeConnect(b *testing.B) {
	pol, err := conf.Parse("bench.toml", []byte(`[[connect]]
destination = "127.0.0.1/32"
sources     = ["127.0.0.2"]
`))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	for _, bc := range []struct {
		name    string
		dst     netip.AddrPort
		rewrite bool // the source must be the rule's
	}{
		{"rewritten", netip.MustParseAddrPort("127.0.0.1:9"), true},
		{"left alone", netip.MustParseAddrPort("127.0.0.3:9"), false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := notify.StartFilteredChild(b, bc.dst)
			if err := c.L.SetSyncWakeUp(); err != nil {
				b.Logf("without synchronous wake-up: %v", err)
			}
			h := rewrite.NewHandler(pol, log)
			done := make(chan error, 1)
			go func() { done <- notify.Serve(c.L, h, 2) }()
			b.ReportAllocs()
			b.ResetTimer()
			got := c.Run(b, b.N)
			b.StopTimer()
			if err := <-done; err != nil {
				b.Fatalf("Serve: %v", err)
			}
			if got.Errnos[0] != b.N {
				b.Fatalf("the child's connects: %v, want %d successes", got.Errnos, b.N)
			}
			if rewritten := got.Source == netip.MustParseAddr("127.0.0.2"); rewritten != bc.rewrite {
				b.Fatalf("source %v: rewritten %v, want %v", got.Source, rewritten, bc.rewrite)
			}
			if st := h.Stats(); bc.rewrite && st.Bound != uint64(b.N) {
				b.Fatalf("%d calls bound, want %d", st.Bound, b.N)
			}
		})
	}
}
