//go:build linux

package tests

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// The two races of the seccomp engine that the bpf engine does not have.
// Under seccomp both are documented (docs/ARCHITECTURE.md): the supervisor
// reads the address from the program's memory, after the program made the
// call, and a signal can end the call before the supervisor answered. The
// bpf hooks run inside the call, on the kernel's copy of the address. So
// these tests run the bpf engine only; run under seccomp they fail.

// raceEngines are the engines the race tests run: bpf only (see above).
var raceEngines = []string{"bpf"}

// TestIntegrationRaceAddressRewrite: a program whose other thread keeps
// rewriting the sockaddr it passes to connect always gets the source of
// the destination it actually reached, over thousands of connects.
func TestIntegrationRaceAddressRewrite(t *testing.T) {
	for _, engine := range raceEngines {
		t.Run(engine, func(t *testing.T) { testRaceAddressRewrite(t, engine) })
	}
}

func testRaceAddressRewrite(t *testing.T, engine string) {
	const n = 3000
	e := newEngineEnv(t, engine)
	recOther := e.recorder(other4)
	pol := e.policy(standardPolicy + `
[[connect]]
destination = "10.9.9.0/24"
sources     = ["192.0.2.11"]
`)
	flip := testutil.BuildC(t, "internal/bpfengine/testdata/flipconnect.c")
	res := e.wrapped(pol, flip, strconv.Itoa(n), dst4.String(), other4.String(), strconv.Itoa(serverPort))
	wantOK(t, "flipconnect", res)
	testutil.WaitFor(t, fmt.Sprintf("%d connections", n), func() bool { return e.rec4.Count()+recOther.Count() == n })
	got4, gotOther := e.rec4.Sources(), recOther.Sources()
	t.Logf("reached %v %d times, %v %d times", dst4, e.rec4.Count(), other4, recOther.Count())
	for src, c := range got4 {
		if src != vipa4 {
			t.Errorf("%d connections reached %v from %v, want only %v (its rule's source)", c, dst4, src, vipa4)
		}
	}
	for src, c := range gotOther {
		if src != vipa4b {
			t.Errorf("%d connections reached %v from %v, want only %v (its rule's source)", c, other4, src, vipa4b)
		}
	}
	// Both destinations reached: the rewriting thread did race the connects.
	if len(got4) == 0 || len(gotOther) == 0 {
		t.Errorf("only one destination reached (%v, %v): the address was not rewritten while connecting", got4, gotOther)
	}
}

// TestIntegrationRaceSignalConnect: blocking connects while a thread
// floods the connecting one with a signal whose handler has no SA_RESTART.
// A connect may fail with EINTR, but then it was started and completes
// asynchronously, as POSIX says; never does a signal leave a socket
// unconnected after EINTR, nor a blocking connect return EINPROGRESS; every
// connection leaves from the VIPA.
func TestIntegrationRaceSignalConnect(t *testing.T) {
	for _, engine := range raceEngines {
		t.Run(engine, func(t *testing.T) { testRaceSignalConnect(t, engine) })
	}
}

func testRaceSignalConnect(t *testing.T, engine string) {
	const n = 2000
	e := newEngineEnv(t, engine)
	client := testutil.BuildC(t, "tests/clients/sigconnect/sigconnect.c")
	for _, tt := range []struct {
		dst, vipa netip.Addr
	}{{dst4, vipa4}, {dst6, vipa6}} {
		t.Run(tt.dst.String(), func(t *testing.T) {
			e := e.with(t)
			argv := []string{client, tt.dst.String(), strconv.Itoa(serverPort), strconv.Itoa(n)}
			// The client is sound: without vipa-exec the kernel's connect
			// passes the same check, from the kernel's source.
			rec := e.rec(tt.dst)
			rec.Reset()
			wantSignalConnect(t, "without vipa-exec", rec, e.run(argv...), n, tt.dst)
			rec.Reset()
			wantSignalConnect(t, "under vipa-exec", rec, e.wrapped(e.policy(standardPolicy), argv...), n, tt.vipa)
		})
	}
}

// wantSignalConnect checks sigconnect's n connects: none unstarted after
// EINTR, none in progress, none failed otherwise, all from src, as the
// server saw too. rec must have been reset before the run.
func wantSignalConnect(t *testing.T, what string, rec *testutil.Recorder, res testutil.Result, n int, src netip.Addr) {
	t.Helper()
	wantOK(t, what, res)
	f := map[string]string{}
	for _, kv := range strings.Fields(strings.TrimSpace(res.Stdout)) {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	t.Logf("%s: %s", what, strings.TrimSpace(res.Stdout))
	for _, k := range []string{"unstarted", "inprogress", "other"} {
		if f[k] != "0" {
			t.Errorf("%s: %s=%s, want 0", what, k, f[k])
		}
	}
	if f["addrs"] != src.String() {
		t.Errorf("%s: local addresses %q, want %v alone", what, f["addrs"], src)
	}
	ok, err1 := strconv.Atoi(f["ok"])
	completed, err2 := strconv.Atoi(f["completed"])
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: sigconnect output: %v", what, res)
	}
	if ok+completed != n {
		t.Errorf("%s: %d connects returned 0 and %d completed after EINTR, want %d in all", what, ok, completed, n)
	}
	wantSources(t, what+": server side", rec, map[netip.Addr]int{src: ok + completed})
}
