//go:build linux

package tests

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationIOUringRefused: io_uring would let a program connect and
// bind without a syscall the filter sees, so under the seccomp engine
// io_uring_setup fails with ENOSYS and programs fall back to ordinary
// syscalls. Seccomp only: under bpf io_uring works (TestIntegrationIOUringBPF).
func TestIntegrationIOUringRefused(t *testing.T) {
	e := newEnv(t)
	client := testutil.BuildC(t, "tests/clients/uring/uring.c")
	res := e.run(client)
	wantOK(t, "without vipa-exec", res)
	t.Logf("without vipa-exec: %s", strings.TrimSpace(res.Stdout))
	res = e.wrapped(e.policy(standardPolicy), client)
	wantOK(t, "under vipa-exec", res)
	if got := strings.TrimSpace(res.Stdout); got != "io_uring_setup=ENOSYS" {
		t.Errorf("under vipa-exec: %q, want io_uring_setup=ENOSYS", got)
	}
}

// TestIntegrationIOUringAllowed: [options] allow_io_uring lets io_uring_setup
// through, with one warning that such connections are not rewritten.
// Seccomp only, like the refusal.
func TestIntegrationIOUringAllowed(t *testing.T) {
	e := newEnv(t)
	client := testutil.BuildC(t, "tests/clients/uring/uring.c")
	res := e.wrapped(e.policy(standardPolicy+"\n[options]\nallow_io_uring = true\n"), client)
	wantOK(t, "under vipa-exec with allow_io_uring", res)
	if got := strings.TrimSpace(res.Stdout); got != "io_uring_setup=OK" {
		t.Errorf("with allow_io_uring: %q, want io_uring_setup=OK", got)
	}
	if n := strings.Count(res.Stderr, "allow_io_uring"); n != 1 {
		t.Errorf("want exactly one allow_io_uring warning on stderr, got %d:\n%s", n, res.Stderr)
	}
}

// TestIntegrationIOUringBPF: under the bpf engine io_uring needs no refusal:
// a connect submitted through the ring (IORING_OP_CONNECT, no connect(2))
// goes through the same cgroup hooks, and the server sees the VIPA.
func TestIntegrationIOUringBPF(t *testing.T) {
	e := newEngineEnv(t, "bpf")
	client := testutil.BuildC(t, "internal/bpfengine/testdata/uring_connect.c")
	for _, tt := range []struct {
		fam       string
		dst, vipa netip.Addr
	}{{"4", dst4, vipa4}, {"6", dst6, vipa6}} {
		t.Run("ipv"+tt.fam, func(t *testing.T) {
			e := e.with(t)
			rec := e.rec(tt.dst)
			rec.Reset()
			argv := []string{client, tt.fam, tt.dst.String(), "8080"}
			res := e.wrapped(e.policy(standardPolicy), argv...)
			wantOK(t, "io_uring connect under vipa-exec", res)
			wantSources(t, "io_uring connect", rec, map[netip.Addr]int{tt.vipa: 1})
			// uring_connect prints "ADDR PORT".
			if f := strings.Fields(res.Stdout); len(f) != 2 || f[0] != tt.vipa.String() {
				t.Errorf("local address %q, want %v", res.Stdout, tt.vipa)
			}
		})
	}
}
