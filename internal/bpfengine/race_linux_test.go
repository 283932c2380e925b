//go:build linux

package bpfengine

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestAddressRewrittenWhileConnecting: a program whose other thread keeps
// rewriting the address it passes to connect always gets the source of the
// destination it reached, since the hook sees the kernel's copy.
func TestAddressRewrittenWhileConnecting(t *testing.T) {
	dst1, dst2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	w := newWorld(t, mustPolicy(t, []policy.ConnectRule{
		{Destination: netip.PrefixFrom(dst1, 32), Sources: vipas4[:1]},
		{Destination: netip.PrefixFrom(dst2, 32), Sources: vipas4[1:2]},
	}, nil))
	want := map[netip.Addr]netip.Addr{dst1: vipas4[0], dst2: vipas4[1]}
	ln := w.ns.Listen(t, "tcp4", "0.0.0.0:0")
	type pair struct{ dst, src netip.Addr }
	var (
		mu    sync.Mutex
		pairs []pair
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			mu.Lock()
			pairs = append(pairs, pair{c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(), c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()})
			mu.Unlock()
			_ = c.Close()
		}
	}()
	t.Cleanup(wg.Wait)
	bin := testutil.BuildC(t, "internal/bpfengine/testdata/flipconnect.c")
	const n = 300
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if res := testutil.Run(t, w.cg.command(w.ns, bin, strconv.Itoa(n), dst1.String(), dst2.String(), port)); res.Exit != 0 {
		t.Fatalf("flipconnect: %v", res)
	}
	testutil.WaitFor(t, "every connection accepted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(pairs) == n
	})
	_ = ln.Close()
	mu.Lock()
	defer mu.Unlock()
	reached := map[netip.Addr]int{}
	for _, p := range pairs {
		reached[p.dst]++
		if want[p.dst] != p.src {
			t.Errorf("connection to %v from %v, want %v", p.dst, p.src, want[p.dst])
		}
	}
	t.Logf("destinations reached: %v", reached)
}
