//go:build linux

package hostaddr

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func update(prefix string, index, flags int, add bool) netlink.AddrUpdate {
	a, n, err := net.ParseCIDR(prefix)
	if err != nil {
		panic(err)
	}
	n.IP = a
	return netlink.AddrUpdate{LinkAddress: *n, LinkIndex: index, Flags: flags, NewAddr: add}
}

func members(s *policy.AddrSet) []netip.Addr {
	var out []netip.Addr
	s.Range(func(a netip.Addr) bool { out = append(out, a); return true })
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// TestTableApply feeds RTM_NEWADDR and RTM_DELADDR updates, as the library
// decodes them, one after the other.
func TestTableApply(t *testing.T) {
	steps := []struct {
		name string
		u    netlink.AddrUpdate
		want []netip.Addr
	}{
		{"IPv4 added", update("192.0.2.10/32", 1, 0, true), addrs("192.0.2.10")},
		{"IPv6 added tentative", update("2001:db8::10/64", 2, unix.IFA_F_TENTATIVE, true), addrs("192.0.2.10")},
		{"DAD done: TENTATIVE cleared", update("2001:db8::10/64", 2, unix.IFA_F_PERMANENT, true), addrs("192.0.2.10", "2001:db8::10")},
		{"same IPv4 on a second interface", update("192.0.2.10/24", 3, 0, true), addrs("192.0.2.10", "2001:db8::10")},
		{"removed from the first: still on the second", update("192.0.2.10/32", 1, 0, false), addrs("192.0.2.10", "2001:db8::10")},
		{"removed from the second", update("192.0.2.10/24", 3, 0, false), addrs("2001:db8::10")},
		{"duplicate address detected", update("2001:db8::10/64", 2, unix.IFA_F_DADFAILED|unix.IFA_F_TENTATIVE, true), nil},
		{"a flag above the low 8 bits does not hide it", update("2001:db8::11/64", 2, unix.IFA_F_NOPREFIXROUTE, true), addrs("2001:db8::11")},
		{"removing an unknown address changes nothing", update("198.51.100.1/32", 1, 0, false), addrs("2001:db8::11")},
		{"not an IP address", netlink.AddrUpdate{LinkAddress: net.IPNet{IP: net.IP{1, 2, 3}}, NewAddr: true}, addrs("2001:db8::11")},
	}
	tab := table{}
	for _, s := range steps {
		tab.apply(s.u)
		if d := testutil.Diff(s.want, members(tab.set())); d != "" {
			t.Errorf("after %s: usable addresses (-want +got):\n%s", s.name, d)
		}
	}
}

// TestDump reads the addresses of a fresh network namespace, one of them
// tentative: on a veth whose peer is down, duplicate address detection waits
// for a carrier.
func TestDump(t *testing.T) {
	ns := testutil.NewNetNS(t)
	ns.AddAddr(t, "192.0.2.10/32")
	ns.AddAddr(t, "2001:db8:2::10/128")
	addTentative(t, ns, "2001:db8:3::1/64")
	var got []Addr
	ns.Do(t, func() error {
		var err error
		got, err = Dump()
		return err
	})
	slices.SortFunc(got, func(a, b Addr) int { return a.Addr.Compare(b.Addr) })
	got = slices.DeleteFunc(got, func(a Addr) bool { return a.Addr.IsLinkLocalUnicast() })
	want := []Addr{
		{Addr: netip.MustParseAddr("127.0.0.1"), Iface: "lo"},
		{Addr: netip.MustParseAddr("192.0.2.10"), Iface: "lo"},
		{Addr: netip.MustParseAddr("::1"), Iface: "lo"},
		{Addr: netip.MustParseAddr("2001:db8:2::10"), Iface: "lo"},
		{Addr: netip.MustParseAddr("2001:db8:3::1"), Iface: "vt0", Tentative: true},
	}
	if d := testutil.Diff(want, got); d != "" {
		t.Errorf("Dump() (-want +got):\n%s", d)
	}
	var usable *policy.AddrSet
	ns.Do(t, func() error {
		var err error
		usable, err = DumpUsable()
		return err
	})
	if d := testutil.Diff(setAddrs(Usable(got)), setAddrs(usable)); d != "" {
		t.Errorf("DumpUsable() against Usable(Dump()) (-want +got):\n%s", d)
	}
}

// addTentative adds prefix to vt0, a veth whose peer vt1 is down: the
// address stays tentative until vt1 comes up.
func addTentative(t *testing.T, ns *testutil.NetNS, prefix string) {
	t.Helper()
	for _, args := range [][]string{
		{"link", "add", "vt0", "type", "veth", "peer", "name", "vt1"},
		{"link", "set", "vt0", "up"},
		{"addr", "add", prefix, "dev", "vt0"},
	} {
		ip(t, ns, args...)
	}
}

func ip(t *testing.T, ns *testutil.NetNS, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// TestWatch follows addresses that come and go, and a tentative one that
// becomes usable once duplicate address detection is done.
func TestWatch(t *testing.T) {
	ns := testutil.NewNetNS(t)
	ns.AddAddr(t, "192.0.2.10/32")
	addTentative(t, ns, "2001:db8:3::1/64")
	changes := make(chan *policy.AddrSet, 100)
	var w *Watcher
	ns.Do(t, func() error {
		var err error
		w, err = Watch(func(_, s *policy.AddrSet) { changes <- s }, func(err error) { t.Errorf("watch: %v", err) })
		return err
	})
	defer w.Close()
	a10, a11, v6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("2001:db8:3::1")
	if s := w.Set(); !s.Has(a10) || s.Has(a11) || s.Has(v6) {
		t.Fatalf("first set %v: want 192.0.2.10, not 192.0.2.11 nor the tentative 2001:db8:3::1", members(s))
	}
	// wait returns the first set that cond accepts.
	wait := func(what string, cond func(*policy.AddrSet) bool) {
		t.Helper()
		timeout := time.After(testutil.WaitTimeout)
		for {
			select {
			case s := <-changes:
				if cond(s) {
					if w.Set() != s && !cond(w.Set()) {
						t.Fatalf("%s: Set() is not the set reported", what)
					}
					return
				}
			case <-timeout:
				t.Fatalf("%s: no such change after %v; now %v", what, testutil.WaitTimeout, members(w.Set()))
			}
		}
	}
	ip(t, ns, "addr", "add", "192.0.2.11/32", "dev", "lo")
	wait("192.0.2.11 added", func(s *policy.AddrSet) bool { return s.Has(a11) && s.Has(a10) })
	ip(t, ns, "addr", "del", "192.0.2.10/32", "dev", "lo")
	wait("192.0.2.10 removed", func(s *policy.AddrSet) bool { return !s.Has(a10) && s.Has(a11) })
	ip(t, ns, "addr", "add", "192.0.2.10/32", "dev", "lo")
	wait("192.0.2.10 back", func(s *policy.AddrSet) bool { return s.Has(a10) })
	ip(t, ns, "link", "set", "vt1", "up")
	wait("2001:db8:3::1 no longer tentative", func(s *policy.AddrSet) bool { return s.Has(v6) })
}

// overrunChild names the environment variable that makes TestWatchOverrun
// the child it runs inside the namespace.
const overrunChild = "HOSTADDR_TEST_OVERRUN_CHILD"

// TestWatchOverrun overruns the watcher's socket: a change it is slow to
// take (onChange blocks) while thousands of addresses are added ends the
// subscription with ENOBUFS, and the watcher subscribes and dumps again.
// The dump after the overrun runs on any thread, so the test runs in a
// child process whose every thread is in the namespace.
func TestWatchOverrun(t *testing.T) {
	const n = 3000
	if os.Getenv(overrunChild) != "" {
		overrun(t, n)
		return
	}
	ns := testutil.NewNetNS(t)
	cmd := ns.Command(t.Context(), os.Args[0], "-test.run=^TestWatchOverrun$", "-test.v")
	cmd.Env = append(cmd.Env, overrunChild+"=1")
	res := testutil.Run(t, cmd)
	if res.Exit != 0 {
		t.Fatalf("child: %v", res)
	}
	if !strings.Contains(res.Stdout, "--- PASS: TestWatchOverrun") {
		t.Fatalf("child did not pass:\n%v", res)
	}
	t.Logf("child: %s", strings.Join(testutil.Lines(res.Stdout), "\n"))
}

func overrun(t *testing.T, n int) {
	release := make(chan struct{})
	changed := make(chan struct{}, 1)
	errc := make(chan error, 10)
	w, err := Watch(func(_, _ *policy.AddrSet) {
		<-release
		select {
		case changed <- struct{}{}:
		default:
		}
	}, func(err error) {
		select {
		case errc <- err:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var batch strings.Builder
	for i := range n {
		fmt.Fprintf(&batch, "addr add 198.18.%d.%d/32 dev lo\n", i/250, 1+i%250)
	}
	cmd := exec.Command("ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v: %s", err, out)
	}
	close(release)
	select {
	case err := <-errc:
		if !strings.Contains(err.Error(), unix.ENOBUFS.Error()) {
			t.Errorf("onError(%v), want ENOBUFS", err)
		}
		t.Logf("onError: %v", err)
	case <-time.After(testutil.WaitTimeout):
		t.Fatalf("no overrun reported after %v", testutil.WaitTimeout)
	}
	last := netip.MustParseAddr(fmt.Sprintf("198.18.%d.%d", (n-1)/250, 1+(n-1)%250))
	timeout := time.After(testutil.WaitTimeout)
	for !w.Set().Has(last) || w.Set().Len() < n {
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("after the overrun: %d addresses, %v missing", w.Set().Len(), last)
		}
	}
}

// setAddrs lists s, sorted.
func setAddrs(s *policy.AddrSet) []netip.Addr {
	var out []netip.Addr
	s.Range(func(a netip.Addr) bool { out = append(out, a); return true })
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
