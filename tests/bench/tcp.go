//go:build linux

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

var (
	serverAddr = netip.MustParseAddrPort("10.1.2.3:5001")
	vipa       = netip.MustParseAddr("192.0.2.10")
)

type tcpCase struct {
	name   string
	sup    string // the supervisor the client runs under (supVipaExec, supC), "" for none
	ideal  bool   // the client binds the VIPA itself
	linger bool   // SO_LINGER {1, 0}: close sends a RST
}

// The order is the interleaving order within one rep.
var tcpCaseList = []tcpCase{
	{name: "bare"},
	{name: "ideal", ideal: true},
	{name: "vipa-exec", sup: supVipaExec},
	{name: "c-supervisor", sup: supC},
	{name: "bare+linger", linger: true},
	{name: "ideal+linger", ideal: true, linger: true},
	{name: "vipa-exec+linger", sup: supVipaExec, linger: true},
	{name: "c-supervisor+linger", sup: supC, linger: true},
	{name: "bpf", sup: supBPF},
	{name: "bpf+linger", sup: supBPF, linger: true},
}

type tcpResult struct {
	c       tcpCase
	rates   []float64
	sources map[netip.Addr]int // over all reps
}

func (b *bench) tcpCases(ctx context.Context) ([]*tcpResult, error) {
	res := make([]*tcpResult, len(tcpCaseList))
	for i, c := range tcpCaseList {
		res[i] = &tcpResult{c: c, sources: map[netip.Addr]int{}}
	}
	for rep := 1; rep <= b.cfg.reps; rep++ {
		for _, r := range res {
			rate, sources, err := b.tcpRun(ctx, r.c)
			if err != nil {
				return nil, fmt.Errorf("rep %d, case %s: %w", rep, r.c.name, err)
			}
			r.rates = append(r.rates, rate)
			for a, n := range sources {
				r.sources[a] += n
			}
			b.logf("rep %d/%d %-19s %9.0f conn/s  sources %s", rep, b.cfg.reps, r.c.name, rate, formatSources(sources))
		}
	}
	return res, nil
}

// tcpRun is one run of one case in a namespace of its own.
func (b *bench) tcpRun(ctx context.Context, c tcpCase) (rate float64, sources map[netip.Addr]int, err error) {
	b.nsSeq++
	ns, err := newNetNS(ctx, fmt.Sprintf("vipabench-%d-%d", osPid, b.nsSeq))
	if err != nil {
		return 0, nil, err
	}
	defer func() {
		if derr := ns.delete(); derr != nil && err == nil {
			err = derr
		}
	}()
	srv, err := ns.listenTCP(serverAddr)
	if err != nil {
		return 0, nil, err
	}
	// On every path the server goes before the namespace: its listening
	// socket would otherwise keep the deleted namespace alive.
	closed := false
	defer func() {
		if !closed {
			srv.close(time.Second)
		}
	}()

	src := "-"
	if c.ideal {
		src = vipa.String()
	}
	mode := "close"
	if c.linger {
		mode = "linger"
	}
	// nsenter, not ip netns exec: that mounts a fresh sysfs over /sys, which
	// hides the cgroup v2 hierarchy the bpf engine needs.
	argv := append([]string{"nsenter", "--net=" + ns.path(), "--"}, b.wrapper(c.sup)...)
	argv = append(argv, b.client, "tcp", serverAddr.Addr().String(), fmt.Sprint(serverAddr.Port()), fmt.Sprint(b.cfg.n), src, mode)
	rate, err = b.runClient(ctx, c.name, argv...)
	if err != nil {
		return 0, nil, err
	}
	// Every connect that returned is a connection the kernel finished, so
	// the server should see all of them; a RST can make the kernel drop one
	// from the accept queue first, hence the wait for progress to stop.
	srv.waitAccepted(ctx, int64(b.cfg.n), 250*time.Millisecond)
	closed = true
	sources, open := srv.close(5 * time.Second)
	if open > 0 {
		return 0, nil, fmt.Errorf("%d connections never saw EOF after the client exited: something (the supervisor?) still holds duplicates of the client's sockets", open)
	}
	if len(sources) == 0 {
		return 0, nil, fmt.Errorf("the server accepted no connection")
	}
	if c.sup != "" || c.ideal {
		for a, n := range sources {
			if a != vipa {
				return 0, nil, fmt.Errorf("%d of the connections came from %s, not from the VIPA %s (sources: %s)", n, a, vipa, formatSources(sources))
			}
		}
	}
	return rate, sources, nil
}

// netNS is a network namespace made with ip netns add, so it can be named
// on the nsenter command line and deleted in one step.
type netNS struct {
	name string
}

func newNetNS(ctx context.Context, name string) (*netNS, error) {
	if err := ip(ctx, "netns", "add", name); err != nil {
		return nil, err
	}
	ns := &netNS{name: name}
	for _, cmd := range [][]string{
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "addr", "add", serverAddr.Addr().String() + "/32", "dev", "lo"},
		{"-n", name, "addr", "add", vipa.String() + "/32", "dev", "lo"},
	} {
		if err := ip(ctx, cmd...); err != nil {
			_ = ns.delete() // the first error says more
			return nil, err
		}
	}
	return ns, nil
}

// path is where ip netns add bind-mounted the namespace.
func (ns *netNS) path() string { return "/run/netns/" + ns.name }

func (ns *netNS) delete() error {
	// Not the bench's context: an interrupted bench still removes its
	// namespaces.
	return ip(context.Background(), "netns", "delete", ns.name)
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
