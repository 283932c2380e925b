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
