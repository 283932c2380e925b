//go:build linux

package bpfengine

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// BenchmarkConnect measures a loopback connect-and-close loop (a C client,
// in a fresh netns) with the engine attached to the client's cgroup, against
// the ideal: the client binding the VIPA itself with
// IP_BIND_ADDRESS_NO_PORT, with no engine. ns/connect is the client's own
// time for the loop; the ratio ideal/bpf is the figure docs/ARCHITECTURE.md
// reports, for a normal close and a reset. Run with -benchtime=NNNNx: a
// normal close leaves one TIME_WAIT socket per connection.
func BenchmarkConnect(b *testing.B) {
	bin := testutil.BuildC(b, "internal/bpfengine/testdata/connloop.c")
	p := mustPolicy(b, []policy.ConnectRule{{Destination: netip.MustParsePrefix("127.0.0.0/8"), Sources: vipas4[:1]}}, nil)
	w := newWorld(b, p)
	ln := w.ns.Listen(b, "tcp4", "127.0.0.1:0")
	go func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				_ = c.Close()
			}
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	run := func(b *testing.B, close string, cg *testCgroup, source ...string) {
		args := append([]string{close, strconv.Itoa(b.N), "127.0.0.1", port}, source...)
		var res testutil.Result
		if cg != nil {
			res = testutil.Run(b, cg.command(w.ns, bin, args...))
		} else {
			res = testutil.Run(b, w.ns.Command(b.Context(), bin, args...))
		}
		if res.Exit != 0 {
			b.Fatalf("connloop: %v", res)
		}
		ns, err := strconv.ParseFloat(strings.TrimSpace(res.Stdout), 64)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ns/float64(b.N), "ns/connect")
	}
	for _, close := range []string{"close", "rst"} {
		b.Run("ideal/"+close, func(b *testing.B) { run(b, close, nil, vipas4[0].String()) })
		b.Run("bpf/"+close, func(b *testing.B) {
			before := w.e.Snapshot().Bound
			run(b, close, w.cg)
			if got := w.e.Snapshot().Bound - before; got != uint64(b.N) {
				b.Fatalf("the engine bound %d of %d connections", got, b.N)
			}
		})
	}
}

// BenchmarkLoadAttach is what the engine adds to a program's start: get the
// programs and maps, install a policy, attach to a cgroup, and close.
// cold: with no cache, so the programs are loaded, verified and pinned;
// warm: the pins of the one before are there.
func BenchmarkLoadAttach(b *testing.B) {
	p := mustPolicy(b, []policy.ConnectRule{{Destination: netip.MustParsePrefix("127.0.0.0/8"), Sources: vipas4, Policy: policy.RR}}, nil)
	cg := newCgroup(b)
	once := func(b *testing.B) {
		e, err := Load(p, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Attach(cg.fd); err != nil {
			b.Fatal(err)
		}
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			if err := os.RemoveAll(cacheDir()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			once(b)
		}
	})
	b.Run("warm", func(b *testing.B) {
		once(b)
		b.ResetTimer()
		for range b.N {
			once(b)
		}
	})
}
