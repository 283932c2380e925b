//go:build linux

package bpfengine

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestReloadUnderLoad reloads two policies in turn while a client connects
// in a loop. Each policy sends 127.0.0.1 to its own source by a /32 rule
// over a /8 rule of another source: a connection that saw one policy's
// trie with the other's rules, or a trie half filled, would get a /8
// source, which neither policy gives 127.0.0.1.
func TestReloadUnderLoad(t *testing.T) {
	mk := func(host, wide netip.Addr) *policy.Policy {
		return mustPolicy(t, []policy.ConnectRule{
			{Destination: netip.MustParsePrefix("127.0.0.0/8"), Sources: []netip.Addr{wide}},
			{Destination: netip.MustParsePrefix("127.0.0.1/32"), Sources: []netip.Addr{host}},
		}, nil)
	}
	a, b := mk(vipas4[0], vipas4[2]), mk(vipas4[1], vipas4[2])
	w := newWorld(t, a)
	bin := testutil.BuildGo(t, "./tests/clients/goclient", true)
	const n = 400
	cmd := w.cg.command(w.ns, bin, "-network", "tcp4", "-n", strconv.Itoa(n),
		"-connect", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(w.rec.Addr().Port()))))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	reloads := 0
	for done := false; !done; {
		select {
		case err = <-exited:
			done = true
		default:
			p := a
			if reloads%2 == 0 {
				p = b
			}
			if err := w.e.Reload(p); err != nil {
				t.Fatalf("Reload: %v", err)
			}
			reloads++
		}
	}
	if err != nil {
		t.Fatalf("goclient: %v: %s", err, &stderr)
	}
	w.rec.Wait(t, n)
	got := w.rec.Sources()
	t.Logf("%d reloads during %d connections: sources %v", reloads, n, got)
	for src := range got {
		if src != vipas4[0] && src != vipas4[1] {
			t.Errorf("source %v from neither policy's rule for 127.0.0.1 (sources %v)", src, got)
		}
	}
	if reloads < 2 {
		t.Errorf("%d reloads while the client ran: the test tested nothing", reloads)
	}
}
