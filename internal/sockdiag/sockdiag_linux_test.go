//go:build linux

package sockdiag

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// Loopback addresses no other test or program uses, so that the counts are
// this test's sockets alone.
var (
	lo1 = netip.MustParseAddr("127.77.0.1")
	lo2 = netip.MustParseAddr("127.77.0.2")
	lo3 = netip.MustParseAddr("127.77.0.3")
	lo4 = netip.MustParseAddr("127.77.0.4")
)

func count(t *testing.T, addrs ...netip.Addr) map[netip.Addr]int {
	t.Helper()
	got, err := Count(addrs)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func listenTCP(t *testing.T, network string, a netip.Addr) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func dialFrom(t *testing.T, network string, src netip.Addr, to net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	c, err := d.Dial(network, to.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestCount(t *testing.T) {
	want := map[netip.Addr]int{lo1: 0, lo2: 0, lo3: 0, lo4: 0}
	if d := diff(want, count(t, lo1, lo2, lo3, lo4)); d != "" {
		t.Fatalf("before any socket (-want +got):\n%s", d)
	}

	// A listener on lo1, two connections to it from lo2 (lo1 gets the
	// accepted ends), a UDP socket on lo3, and an IPv6 socket bound to
	// ::ffff:127.77.0.4, which counts as lo4.
	ln := listenTCP(t, "tcp4", lo1)
	dialFrom(t, "tcp4", lo2, ln.Addr())
	dialFrom(t, "tcp4", lo2, ln.Addr())
	for range 2 {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	pc, err := net.ListenPacket("udp4", netip.AddrPortFrom(lo3, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	// Go's net refuses ::ffff: addresses for tcp6; the kernel does not.
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(fd) }()
	if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: lo4.As16()}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}

	want = map[netip.Addr]int{lo1: 3, lo2: 2, lo3: 1, lo4: 1}
	if d := diff(want, count(t, lo1, lo2, lo3, lo4)); d != "" {
		t.Errorf("sockets per address (-want +got):\n%s", d)
	}
	// Only the addresses asked for, and IPv6 too.
	ln6b := listenTCP(t, "tcp6", netip.IPv6Loopback())
	_ = ln6b
	got := count(t, lo3)
	if d := diff(map[netip.Addr]int{lo3: 1}, got); d != "" {
		t.Errorf("one address (-want +got):\n%s", d)
	}
	if n := count(t, netip.IPv6Loopback())[netip.IPv6Loopback()]; n < 1 {
		t.Errorf("::1 has %d sockets, want at least the test's listener", n)
	}
}

func TestViewRefresh(t *testing.T) {
	h := NewHost(time.Hour, func(err error) { t.Errorf("warned: %v", err) })
	defer func() { _ = h.Close() }()
	v := h.View([]netip.Addr{lo1, lo2})
	if n := v.Count(lo1); n != 0 {
		t.Fatalf("Count(%v) = %d before any socket", lo1, n)
	}
	// Own binds count at once.
	v.Add(lo1)
	v.Add(lo1)
	if n := v.Count(lo1); n != 2 {
		t.Errorf("after two Add: Count = %d, want 2", n)
	}
	// Others' sockets only after a refresh: the interval is an hour.
	ln := listenTCP(t, "tcp4", lo2)
	if n := v.Count(lo2); n != 0 {
		t.Errorf("Count(%v) = %d before the refresh, want 0", lo2, n)
	}
	// A refresh replaces the own counts that began before it with what
	// the kernel sees: the two Adds never became sockets.
	if err := h.Refresh(); err != nil {
		t.Fatal(err)
	}
	if n1, n2 := v.Count(lo1), v.Count(lo2); n1 != 0 || n2 != 1 {
		t.Errorf("after the refresh: %v has %d, %v has %d; want 0 and 1", lo1, n1, lo2, n2)
	}
	_ = ln.Close()

	// With no interval (and no bound on the time spent reading) every
	// Count reads the kernel.
	h0 := NewHost(0, nil)
	h0.costShare = 0
	defer func() { _ = h0.Close() }()
	v0 := h0.View([]netip.Addr{lo3})
	if n := v0.Count(lo3); n != 0 {
		t.Fatalf("Count(%v) = %d before any socket", lo3, n)
	}
	pc, err := net.ListenPacket("udp4", netip.AddrPortFrom(lo3, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	if n := v0.Count(lo3); n != 1 {
		t.Errorf("Count(%v) = %d with a UDP socket, want 1", lo3, n)
	}
	_ = pc.Close()
	if n := v0.Count(lo3); n != 0 {
		t.Errorf("Count(%v) = %d after the socket closed, want 0", lo3, n)
	}
	if n := v0.Count(lo4); n != 0 {
		t.Errorf("Count of an address not in the view = %d", n)
	}
}

// Read reports the counts as last read, without own binds, and reads them
// again when a Count would.
func TestHostRead(t *testing.T) {
	h := NewHost(time.Hour, func(err error) { t.Errorf("warned: %v", err) })
	defer func() { _ = h.Close() }()
	v := h.View([]netip.Addr{lo1, lo2})
	v.Add(lo1)
	ln := listenTCP(t, "tcp4", lo2)
	if d := diff(map[netip.Addr]int{lo1: 0, lo2: 0}, h.Read([]netip.Addr{lo1, lo2, lo3})); d != "" {
		t.Errorf("before a refresh (-want +got):\n%s", d)
	}
	if err := h.Refresh(); err != nil {
		t.Fatal(err)
	}
	if d := diff(map[netip.Addr]int{lo2: 1}, h.Read([]netip.Addr{lo2})); d != "" {
		t.Errorf("after a refresh (-want +got):\n%s", d)
	}
	_ = ln.Close()

	h0 := NewHost(0, nil)
	h0.costShare = 0
	defer func() { _ = h0.Close() }()
	h0.View([]netip.Addr{lo3})
	pc, err := net.ListenPacket("udp4", netip.AddrPortFrom(lo3, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	if d := diff(map[netip.Addr]int{lo3: 1}, h0.Read([]netip.Addr{lo3})); d != "" {
		t.Errorf("counts older than the interval: Read reads them (-want +got):\n%s", d)
	}
}

// Two views of one host share the counts of a common address.
func TestViewsShareAddresses(t *testing.T) {
	h := NewHost(time.Hour, nil)
	defer func() { _ = h.Close() }()
	a := h.View([]netip.Addr{lo1, lo2})
	b := h.View([]netip.Addr{lo2, lo3})
	a.Add(lo2)
	if n := b.Count(lo2); n != 1 {
		t.Errorf("Count in the second view = %d, want the first view's Add", n)
	}
}

func BenchmarkRefresh(b *testing.B) {
	h := NewHost(0, nil)
	defer func() { _ = h.Close() }()
	h.View([]netip.Addr{lo1, lo2, lo3})
	for b.Loop() {
		if err := h.Refresh(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCount(b *testing.B) {
	h := NewHost(time.Hour, nil)
	defer func() { _ = h.Close() }()
	v := h.View([]netip.Addr{lo1, lo2, lo3})
	b.ReportAllocs()
	for b.Loop() {
		v.Count(lo2)
	}
}
