//go:build linux

package hostroute

import (
	"errors"
	"net/netip"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func ip(t *testing.T, ns *testutil.NetNS, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// TestTable asks the kernel of a fresh namespace, with two veth
// interfaces, and follows a route that moves from one to the other, one
// that goes, an interface that comes, and an ip rule that sends a
// destination to another table.
func TestTable(t *testing.T) {
	ns := testutil.NewNetNS(t)
	for _, args := range [][]string{
		{"link", "add", "d1", "type", "veth", "peer", "name", "p1"},
		{"link", "add", "d2", "type", "veth", "peer", "name", "p2"},
		{"link", "set", "d1", "up"},
		{"link", "set", "d2", "up"},
		{"link", "set", "p1", "up"},
		{"link", "set", "p2", "up"},
		{"addr", "add", "192.0.2.1/32", "dev", "lo"},
		{"route", "add", "10.1.0.0/16", "dev", "d1"},
		{"route", "add", "10.2.0.0/16", "dev", "d2"},
		{"route", "add", "10.0.0.0/8", "dev", "d2", "metric", "10"},
		{"route", "add", "10.0.0.0/8", "dev", "d1", "metric", "5"},
		{"-6", "route", "add", "2001:db8::/32", "dev", "d2"},
	} {
		ip(t, ns, args...)
	}
	var tab *Table
	changes := make(chan string, 1000)
	ns.Do(t, func() error {
		var err error
		tab, err = Watch(func(what []string) {
			for _, w := range what {
				select {
				case changes <- w:
				default:
				}
			}
		}, func(err error) { t.Errorf("watch: %v", err) })
		return err
	})
	defer tab.Close()
	lookup := func(dst string) string {
		var name string
		ns.Do(t, func() error {
			var ok bool
			if name, ok = tab.Interface(netip.MustParseAddr(dst)); !ok {
				name = "none"
			}
			return nil
		})
		return name
	}
	for dst, want := range map[string]string{
		"10.1.2.3":        "d1",
		"10.2.2.3":        "d2",
		"10.3.2.3":        "d1", // the lower metric
		"192.0.2.1":       "lo", // local
		"2001:db8::1":     "d2",
		"198.51.100.1":    "none",
		"2001:db9::1":     "none",
		"::ffff:10.2.0.1": "d2",
	} {
		if got := lookup(dst); got != want {
			t.Errorf("Interface(%s) = %s, want %s", dst, got, want)
		}
	}
	wait := func(what, dst, want string) {
		t.Helper()
		testutil.WaitFor(t, what, func() bool { return lookup(dst) == want })
	}
	ip(t, ns, "route", "replace", "10.1.0.0/16", "dev", "d2")
	for seen := false; !seen; {
		select {
		case w := <-changes:
			seen = w == "RTM_NEWROUTE 10.1.0.0/16"
		case <-time.After(testutil.WaitTimeout):
			t.Fatal("no RTM_NEWROUTE 10.1.0.0/16 reported")
		}
	}
	wait("10.1.0.0/16 moved to d2", "10.1.2.3", "d2")
	ip(t, ns, "route", "del", "10.0.0.0/8", "dev", "d1", "metric", "5")
	wait("10.0.0.0/8 by d2 only", "10.3.2.3", "d2")
	ip(t, ns, "link", "add", "d3", "type", "veth", "peer", "name", "p3")
	ip(t, ns, "link", "set", "p3", "up")
	ip(t, ns, "link", "set", "d3", "up")
	ip(t, ns, "route", "add", "198.51.100.0/24", "dev", "d3")
	wait("a route over the new d3", "198.51.100.1", "d3")
	ip(t, ns, "route", "add", "10.3.0.0/16", "dev", "d3", "table", "100")
	ip(t, ns, "rule", "add", "to", "10.3.0.0/16", "table", "100")
	wait("ip rule to table 100", "10.3.2.3", "d3")
	ip(t, ns, "link", "set", "d3", "down")
	wait("d3 down", "198.51.100.1", "none")
}

// FuzzDescribe feeds Describe any notification: it must not panic.
func FuzzDescribe(f *testing.F) {
	f.Add(uint16(syscall.RTM_NEWROUTE), []byte{2, 16, 0, 0, 254, 3, 1, 0, 0, 0, 0, 0, 8, 0, 1, 0, 10, 1, 0, 0})
	f.Add(uint16(syscall.RTM_DELROUTE), []byte{10, 129, 0, 0, 254, 3, 1, 0, 0, 0, 0, 0, 8, 0, 1, 0, 10, 1, 0, 0})
	f.Add(uint16(syscall.RTM_NEWLINK), []byte{0, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint16(syscall.RTM_NEWRULE), []byte{})
	f.Fuzz(func(t *testing.T, typ uint16, data []byte) {
		Describe(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: typ, Len: uint32(syscall.NLMSG_HDRLEN + len(data))}, Data: data})
	})
}

// TestDescribe decodes route and link notifications as the kernel sends
// them.
func TestDescribe(t *testing.T) {
	tests := []struct {
		typ  uint16
		data []byte
		want string
	}{
		{syscall.RTM_NEWROUTE, []byte{2, 16, 0, 0, 254, 3, 1, 0, 0, 0, 0, 0, 8, 0, 1, 0, 10, 1, 0, 0}, "RTM_NEWROUTE 10.1.0.0/16"},
		{syscall.RTM_DELROUTE, []byte{2, 0, 0, 0, 254, 3, 1, 0, 0, 0, 0, 0}, "RTM_DELROUTE default"},
		{syscall.RTM_NEWROUTE, []byte{2, 33, 0, 0, 254, 3, 1, 0, 0, 0, 0, 0, 8, 0, 1, 0, 10, 1, 0, 0}, "RTM_NEWROUTE (malformed)"},
		{syscall.RTM_NEWROUTE, []byte{2, 16}, "RTM_NEWROUTE (short)"},
		{syscall.RTM_NEWLINK, []byte{0, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "RTM_NEWLINK 3"},
		{syscall.RTM_NEWRULE, nil, "RTM_NEWRULE"},
		{syscall.RTM_NEWADDR, nil, "message type 20"},
	}
	for _, tt := range tests {
		m := syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: tt.typ, Len: uint32(syscall.NLMSG_HDRLEN + len(tt.data))}, Data: tt.data}
		if got := Describe(m); got != tt.want {
			t.Errorf("Describe(%d, % x) = %q, want %q", tt.typ, tt.data, got, tt.want)
		}
	}
}

// TestLookupErrorReported: a route that cannot be read is reported, once
// per errno, and not cached.
func TestLookupErrorReported(t *testing.T) {
	errs := make(chan error, 10)
	tab, err := Watch(nil, func(err error) { errs <- err })
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	for range 3 {
		// The kernel refuses an RTM_GETROUTE without an address (ERANGE).
		if name, ok := tab.Interface(netip.Addr{}); ok {
			t.Errorf("Interface(zero Addr) = %s, want none", name)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("%d errors reported, want 1", len(errs))
	}
	if err := <-errs; !errors.Is(err, syscall.ERANGE) {
		t.Errorf("reported %v, want ERANGE", err)
	}
	if n := len(tab.m); n != 0 {
		t.Errorf("%d entries cached, want none", n)
	}
}

// TestNewFollow: a Table from New asks the kernel on every call, caching
// nothing, until Follow has subscribed; Close needs no Follow.
func TestNewFollow(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	tb := New(nil, nil)
	if name, ok := tb.Interface(lo); !ok || name != "lo" {
		t.Fatalf("before Follow: Interface(%v) = %q, %v, want lo", lo, name, ok)
	}
	if n := len(tb.m); n != 0 {
		t.Errorf("before Follow: %d answers cached, want none", n)
	}
	if err := tb.Follow(); err != nil {
		t.Fatal(err)
	}
	if name, ok := tb.Interface(lo); !ok || name != "lo" {
		t.Fatalf("after Follow: Interface(%v) = %q, %v, want lo", lo, name, ok)
	}
	if n := len(tb.m); n != 1 {
		t.Errorf("after Follow: %d answers cached, want 1", n)
	}
	tb.Close()
	New(nil, nil).Close()
}
