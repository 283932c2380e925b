//go:build linux

package tests

import (
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationIOUringRefused: io_uring would let a program connect and
// bind without a syscall the filter sees, so under vipa-exec io_uring_setup
// fails with ENOSYS and programs fall back to ordinary syscalls.
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
