//go:build linux

package tests

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationThreadChurn: 12,000 short-lived threads connect once each,
// under RLIMIT_NOFILE 4096 (soft and hard, so that Go cannot raise it) for
// vipa-exec and so for its supervisor. Every connection must leave from the
// VIPA, and the supervisor, whose workers cache a pidfd per thread, must
// hold a bounded number of descriptors once the threads are gone (a check
// of the seccomp engine: the bpf engine's supervisor sees no thread).
func TestIntegrationThreadChurn(t *testing.T) { testutil.ForEngines(t, testThreadChurn) }

func testThreadChurn(t *testing.T, engine string) {
	const threads, nofile = 12000, 4096
	e := newEngineEnv(t, engine)
	churn := testutil.BuildC(t, "tests/clients/churn/churn.c")
	res := e.run(append([]string{churn, "1"}, hostPort(dst4)...)...)
	wantOK(t, "churn without vipa-exec", res)
	wantSources(t, "without vipa-exec", e.rec4, map[netip.Addr]int{dst4: 1})
	e.rec4.Reset()

	argv := append([]string{"/bin/sh", "-c", `ulimit -n "$0" && exec "$@"`, strconv.Itoa(nofile)},
		e.vipa(e.policy(standardPolicy), append([]string{churn, strconv.Itoa(threads)}, hostPort(dst4)...)...)...)
	cmd := e.command(argv...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, cmd)
	if got, want := p.Line(t), fmt.Sprintf("threads=%d failed=0", threads); got != want {
		t.Errorf("churn printed %q, want %q; stderr:\n%s", got, want, p.Stderr())
	}

	if engine == "seccomp" {
		supervisorFDs(t, p, threads, nofile)
	}
	_ = stdin.Close()
	res = p.Wait(t)
	e.supervisorGone(res)
	wantOK(t, "churn", res)
	wantSources(t, "12,000 threads", e.rec4, map[netip.Addr]int{vipa4: threads})
}

// supervisorFDs checks, while the churn program still runs and its threads
// are gone, that its supervisor holds a bounded number of descriptors.
func supervisorFDs(t *testing.T, p *testutil.Proc, threads, nofile int) {
	t.Helper()
	sup := testutil.WaitSupervisor(t, p.Pid())
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", sup))
	if err != nil {
		t.Fatal(err)
	}
	// The pidfd caches take at most half the limit; 64 is plenty for
	// everything else the supervisor holds.
	t.Logf("supervisor %d holds %d descriptors after %d threads", sup, len(fds), threads)
	if bound := nofile/2 + 64; len(fds) > bound {
		t.Errorf("supervisor holds %d descriptors after %d threads, want at most %d (half of RLIMIT_NOFILE %d, and 64)",
			len(fds), threads, bound, nofile)
	}
}
