//go:build linux

package bpfengine

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// rotates reports whether got follows the order of srcs, from anywhere,
// one step per call.
func rotates(got, srcs []netip.Addr) bool {
	if len(got) == 0 {
		return false
	}
	i := slices.Index(srcs, got[0])
	for _, a := range got {
		if i < 0 || a != srcs[i%len(srcs)] {
			return false
		}
		i++
	}
	return true
}

// TestPolicies runs each policy's connections through the programs, with
// the static Go client, and checks the sources the server saw.
func TestPolicies(t *testing.T) {
	dst := netip.MustParsePrefix("127.0.0.0/8")
	w := newWorld(t, mustPolicy(t, nil, nil))
	for _, tc := range []struct {
		name    string
		rule    policy.ConnectRule
		opts    policy.Options
		present *policy.AddrSet    // for SetPresent
		sockets map[netip.Addr]int // for SetSockets
		n       int                // connections
		check   func([]netip.Addr) bool
	}{
		{name: "onevipa", rule: policy.ConnectRule{Sources: vipas4}, n: 3,
			check: func(got []netip.Addr) bool { return allAre(got, vipas4[0]) }},
		{name: "random", rule: policy.ConnectRule{Sources: vipas4, Policy: policy.Random}, n: 6,
			check: func(got []netip.Addr) bool { return allIn(got, vipas4) }},
		{name: "rr", rule: policy.ConnectRule{Sources: vipas4, Policy: policy.RR}, n: 7,
			check: func(got []netip.Addr) bool { return rotates(got, vipas4) }},
		{name: "lrr", rule: policy.ConnectRule{Sources: vipas4, Policy: policy.LRR}, n: 7,
			check: func(got []netip.Addr) bool { return rotates(got, vipas4) }},
		// 192.0.2.11 has the fewest sockets until it has as many as
		// 192.0.2.12, which wins the tie; then 192.0.2.12.
		{name: "lc", rule: policy.ConnectRule{Sources: vipas4, Policy: policy.LC}, n: 5,
			sockets: map[netip.Addr]int{vipas4[0]: 5, vipas4[1]: 0, vipas4[2]: 3},
			check: func(got []netip.Addr) bool {
				return slices.Equal(got, []netip.Addr{vipas4[1], vipas4[1], vipas4[1], vipas4[1], vipas4[2]})
			}},
		{name: "kernel", rule: policy.ConnectRule{Policy: policy.Kernel}, n: 2,
			check: func(got []netip.Addr) bool { return allAre(got, netip.MustParseAddr("127.0.0.1")) }},
		{name: "absent source skipped", rule: policy.ConnectRule{Sources: vipas4}, n: 3,
			present: policy.NewAddrSet(vipas4[1:]...),
			check:   func(got []netip.Addr) bool { return allAre(got, vipas4[1]) }},
		{name: "absent sources used", rule: policy.ConnectRule{Sources: vipas4}, n: 3,
			opts: policy.Options{AbsentSources: policy.AbsentUse}, present: policy.NewAddrSet(vipas4[1:]...),
			check: func(got []netip.Addr) bool { return allAre(got, vipas4[0]) }},
		{name: "rr among the present", rule: policy.ConnectRule{Sources: vipas4, Policy: policy.RR}, n: 4,
			present: policy.NewAddrSet(vipas4[0], vipas4[2]),
			check:   func(got []netip.Addr) bool { return rotates(got, []netip.Addr{vipas4[0], vipas4[2]}) }},
		// A source the host lacks: bpf_bind fails, the kernel's source stays.
		{name: "on_error continue", rule: policy.ConnectRule{Sources: addrs("192.0.2.99")}, n: 2,
			opts:  policy.Options{AbsentSources: policy.AbsentUse},
			check: func(got []netip.Addr) bool { return allAre(got, netip.MustParseAddr("127.0.0.1")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rule.Destination = dst
			p := mustPolicy(t, []policy.ConnectRule{tc.rule}, nil).WithOptions(tc.opts)
			if err := w.e.SetPresent(nil); err != nil {
				t.Fatal(err)
			}
			if err := w.e.Reload(p); err != nil {
				t.Fatalf("Reload: %v", err)
			}
			if tc.present != nil {
				if err := w.e.SetPresent(tc.present); err != nil {
					t.Fatalf("SetPresent: %v", err)
				}
			}
			if tc.sockets != nil {
				if err := w.e.SetSockets(tc.sockets); err != nil {
					t.Fatalf("SetSockets: %v", err)
				}
			}
			got := w.goclient(t, "tcp4", "127.0.0.1", "", tc.n)
			if !tc.check(got) {
				t.Errorf("sources %v", got)
			}
		})
	}
}

func allAre(got []netip.Addr, want netip.Addr) bool {
	for _, a := range got {
		if a != want {
			return false
		}
	}
	return len(got) > 0
}

func allIn(got, set []netip.Addr) bool {
	for _, a := range got {
		if !slices.Contains(set, a) {
			return false
		}
	}
	return len(got) > 0
}

// TestOnErrorFail: a rule whose bind fails refuses the connect, with EPERM
// (a cgroup sock_addr program can only allow or deny), and so does a rule
// none of whose sources is present.
func TestOnErrorFail(t *testing.T) {
	dst := netip.MustParsePrefix("127.0.0.0/8")
	w := newWorld(t, mustPolicy(t, nil, nil))
	for _, tc := range []struct {
		name    string
		opts    policy.Options
		present *policy.AddrSet
	}{
		{"bind fails", policy.Options{AbsentSources: policy.AbsentUse}, nil},
		{"no source present", policy.Options{}, policy.NewAddrSet(vipas4...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, []policy.ConnectRule{{Destination: dst, Sources: addrs("192.0.2.99"), OnError: policy.OnErrorFail}}, nil).WithOptions(tc.opts)
			if err := w.e.Reload(p); err != nil {
				t.Fatal(err)
			}
			if err := w.e.SetPresent(tc.present); err != nil {
				t.Fatal(err)
			}
			bin := testutil.BuildGo(t, "./tests/clients/goclient", true)
			before := w.e.Snapshot().Failed
			res := testutil.Run(t, w.cg.command(w.ns, bin, "-network", "tcp4", "-connect", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(w.rec.Addr().Port())))))
			if res.Exit != 1 || !strings.Contains(res.Stderr, "errno=EPERM") {
				t.Fatalf("goclient: %v, want errno=EPERM", res)
			}
			if got := w.e.Snapshot().Failed - before; got != 1 {
				t.Errorf("failed counter +%d, want +1", got)
			}
		})
	}
}
