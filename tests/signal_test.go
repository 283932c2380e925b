//go:build linux

package tests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationBindUnderSignals binds 0.0.0.0:6000 two thousand times
// while another thread signals the binding thread without pause, as Go's
// runtime does with SIGURG. A signal that restarted a bind the supervisor
// had already made would make the restarted bind fail with EINVAL (the
// socket is bound already); the filter's wait-killable mode prevents that.
// Without it this test sees tens of EINVALs per run. Under bpf the bind
// hook runs inside the call, so there is no such window, and the same
// check holds.
func TestIntegrationBindUnderSignals(t *testing.T) {
	testutil.ForEngines(t, testBindUnderSignals)
}

func testBindUnderSignals(t *testing.T, engine string) {
	e := newEngineEnv(t, engine)
	client := testutil.BuildC(t, "tests/clients/sigbind/sigbind.c", "-pthread")
	const n = 2000
	tests := []struct {
		name    string
		wrapped bool
		addr    string
	}{
		{name: "without vipa-exec", addr: "0.0.0.0"},
		{name: "with vipa-exec", wrapped: true, addr: vipa4.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := []string{client, "6000", fmt.Sprint(n)}
			if tt.wrapped {
				argv = e.with(t).vipa(e.with(t).policy(bindPolicy), argv...)
			}
			res := e.with(t).run(argv...)
			wantOK(t, "sigbind", res)
			want := fmt.Sprintf("ok=%d einval=0 other=0 addrs=%s", n, tt.addr)
			if got := strings.TrimSpace(res.Stdout); got != want {
				t.Errorf("sigbind: got %q, want %q (stderr %q)", got, want, res.Stderr)
			}
			if tt.wrapped {
				e.with(t).supervisorGone(res)
			}
		})
	}
}
