//go:build linux

package sockdiag

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Host keeps the socket counts of the addresses its Views were made for,
// refreshed from the kernel at most once per interval. Safe for concurrent
// use.
type Host struct {
	interval time.Duration
	warn     func(error)
	start    time.Time // of the monotonic clock that last counts from

	mu     sync.Mutex // one refresh at a time; guards the fields below
	fd     int        // NETLINK_SOCK_DIAG socket, -1 until needed
	seq    uint32
	buf    []byte
	warned bool
	closed bool

	slots atomic.Pointer[slotMap] // replaced, never changed, when Views add addresses
	last  atomic.Int64            // nanoseconds from start to the last refresh; <0: never
	gap   atomic.Int64            // nanoseconds until the next refresh

	costShare int64 // see the constant; tests set 0
}

// costShare bounds the time spent reading counts: the gap between reads is
// at least costShare times the last read's duration (so reads take at most
// 1% of a CPU on a host whose socket tables are slow to walk).
const costShare = 100

type slotMap struct {
	addrs []netip.Addr
	slots map[netip.Addr]*slot
}

// slot is one address's count: base sockets as the last dump saw them, own
// the binds counted since that dump began.
type slot struct{ base, own atomic.Int64 }

// NewHost returns a Host that refreshes its counts at most once per interval,
// on the first Count after it elapsed. warn is told of the first failure to
// read the counts (the counts then stay as they were, plus own binds).
func NewHost(interval time.Duration, warn func(error)) *Host {
	h := &Host{interval: interval, warn: warn, start: time.Now(), fd: -1, costShare: costShare}
	h.gap.Store(int64(interval))
	h.slots.Store(&slotMap{slots: map[netip.Addr]*slot{}})
	h.last.Store(-1)
	return h
}

// View is the counts of one rule's candidates. It implements
// policy.SocketCounter.
type View struct {
	h     *Host
	addrs []netip.Addr
	slots []*slot
}

// View returns the counts of addrs, with counts read from the kernel now.
func (h *Host) View(addrs []netip.Addr) *View {
	v := &View{h: h, addrs: slices.Clone(addrs), slots: make([]*slot, len(addrs))}
	h.mu.Lock()
	old := h.slots.Load()
	next := &slotMap{addrs: slices.Clone(old.addrs), slots: make(map[netip.Addr]*slot, len(old.slots)+len(addrs))}
	for a, s := range old.slots {
		next.slots[a] = s
	}
	for i, a := range addrs {
		a = a.Unmap()
		s := next.slots[a]
		if s == nil {
			s = new(slot)
			next.slots[a] = s
			next.addrs = append(next.addrs, a)
		}
		v.slots[i] = s
	}
	h.slots.Store(next)
	_ = h.refreshLocked() // warned about there
	h.mu.Unlock()
	return v
}

// Count returns the live sockets bound to a: as of the last refresh, plus
// those Add counted since. It refreshes first if the counts are older than
// the interval and no other refresh runs.
func (v *View) Count(a netip.Addr) int {
	v.h.maybeRefresh()
	if s := v.slot(a); s != nil {
		return int(s.base.Load() + s.own.Load())
	}
	return 0
}

// Add counts a socket about to be bound to a.
func (v *View) Add(a netip.Addr) {
	if s := v.slot(a); s != nil {
		s.own.Add(1)
	}
}

// Read returns the counts of addrs as the last read from the kernel found
// them, reading them first if a Count would: for a report of what lc goes
// by. The binds Add counted since are left out, and so are addresses no
// View was made for.
func (h *Host) Read(addrs []netip.Addr) map[netip.Addr]int {
	h.maybeRefresh()
	m := h.slots.Load()
	out := make(map[netip.Addr]int, len(addrs))
	for _, a := range addrs {
		if s := m.slots[a.Unmap()]; s != nil {
			out[a] = int(s.base.Load())
		}
	}
	return out
}

func (v *View) slot(a netip.Addr) *slot {
	for i, b := range v.addrs {
		if a == b {
			return v.slots[i]
		}
	}
	return nil
}

func (h *Host) fresh() bool {
	last := h.last.Load()
	return last >= 0 && int64(time.Since(h.start))-last < h.gap.Load()
}

func (h *Host) maybeRefresh() {
	if h.fresh() {
		return
	}
	// The caller that finds the counts stale reads them; the others go on
	// with the old ones rather than wait.
	if !h.mu.TryLock() {
		return
	}
	defer h.mu.Unlock()
	if h.fresh() {
		return
	}
	_ = h.refreshLocked() // warned about there
}

func (h *Host) refreshLocked() error {
	if h.closed {
		return errors.New("sock_diag: host closed")
	}
	began := int64(time.Since(h.start))
	m := h.slots.Load()
	// Binds counted before the dump began are in it (or their sockets
	// already closed); binds counted during it may not be, and stay.
	before := make([]int64, len(m.addrs))
	for i, a := range m.addrs {
		before[i] = m.slots[a].own.Load()
	}
	counts, err := h.dump(m.addrs)
	h.last.Store(began)
	h.gap.Store(max(int64(h.interval), h.costShare*(int64(time.Since(h.start))-began)))
	if err != nil {
		if !h.warned && h.warn != nil {
			h.warn(err)
		}
		h.warned = true
		return err
	}
	for i, a := range m.addrs {
		s := m.slots[a]
		s.base.Store(int64(counts[a]))
		s.own.Add(-before[i])
	}
	return nil
}

// dump counts the TCP and UDP sockets of both families bound to addrs.
func (h *Host) dump(addrs []netip.Addr) (map[netip.Addr]int, error) {
	counts := make(map[netip.Addr]int, len(addrs))
	for _, a := range addrs {
		counts[a] = 0
	}
	if len(addrs) == 0 {
		return counts, nil
	}
	if h.fd < 0 {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
		if err != nil {
			return nil, fmt.Errorf("sock_diag socket: %w", err)
		}
		// A dump never blocks for long; a kernel that does not answer must
		// not hold a supervisor thread forever.
		tv := unix.Timeval{Sec: 1}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			_ = unix.Close(fd)
			return nil, fmt.Errorf("sock_diag socket: %w", err)
		}
		h.fd, h.buf = fd, make([]byte, 64<<10)
	}
	bc := bytecode(addrs)
	has4 := slices.ContainsFunc(addrs, netip.Addr.Is4)
	want := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		want[a] = true
	}
	for _, fam := range []uint8{afInet, afInet6} {
		if fam == afInet && !has4 {
			continue // IPv6 addresses are on AF_INET6 sockets only
		}
		for _, proto := range []uint8{ipprotoTCP, ipprotoUDP} {
			h.seq++
			if err := h.dumpOne(request(h.seq, fam, proto, bc), func(a netip.Addr) {
				if want[a] { // without a filter (too many addresses), every socket comes
					counts[a]++
				}
			}); err != nil {
				return nil, err
			}
		}
	}
	return counts, nil
}

func (h *Host) dumpOne(req []byte, fn func(netip.Addr)) error {
	if err := unix.Sendto(h.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	for {
		n, _, flags, _, err := unix.Recvmsg(h.fd, h.buf, nil, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sock_diag reply: %w", err)
		}
		if flags&unix.MSG_TRUNC != 0 {
			return fmt.Errorf("sock_diag reply: %w: truncated", ErrMessage)
		}
		done, err := parseDump(h.buf[:n], h.seq, fn)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// Close releases the netlink socket; Counts go on with the last counts.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.fd < 0 {
		return nil
	}
	err := unix.Close(h.fd)
	h.fd = -1
	return err
}
