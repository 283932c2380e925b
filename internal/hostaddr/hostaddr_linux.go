//go:build linux

package hostaddr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// Addr is one address of one interface.
type Addr struct {
	Addr      netip.Addr
	Iface     string // the interface's name, or "ifN" for index N
	Tentative bool   // IPv6 duplicate address detection runs or failed: not bindable
}

// Dump reads the addresses of the host's interfaces.
func Dump() ([]Addr, error) {
	t, err := dump()
	if err != nil {
		return nil, err
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	names := make(map[int]string, len(ifs))
	for _, i := range ifs {
		names[i.Index] = i.Name
	}
	out := make([]Addr, 0, len(t))
	for k, usable := range t {
		name, ok := names[k.index]
		if !ok {
			name = fmt.Sprintf("if%d", k.index)
		}
		out = append(out, Addr{Addr: k.addr, Iface: name, Tentative: !usable})
	}
	return out, nil
}

// DumpUsable reads the host's addresses that can be bound to: Usable of
// Dump, without the second dump that names the interfaces (the launcher's
// start-up warnings need no names).
func DumpUsable() (*policy.AddrSet, error) {
	t, err := dump()
	if err != nil {
		return nil, err
	}
	return t.set(), nil
}

// Usable returns the addresses of addrs that can be bound to.
func Usable(addrs []Addr) *policy.AddrSet {
	var out []netip.Addr
	for _, a := range addrs {
		if !a.Tentative {
			out = append(out, a.Addr)
		}
	}
	return policy.NewAddrSet(out...)
}

// ifAddr is an address of one interface: the same address may be on two.
type ifAddr struct {
	addr  netip.Addr
	index int
}

// table holds every address of the host, and whether it is usable.
type table map[ifAddr]bool

// usable reports whether an address with IFA_* flags can be bound to.
func usable(flags int) bool {
	return flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0
}

// key returns the table key of an address, ok=false for one that is no IP
// address.
func key(n net.IPNet, index int) (ifAddr, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return ifAddr{}, false
	}
	return ifAddr{a.Unmap(), index}, true
}

// apply makes the change of one RTM_NEWADDR or RTM_DELADDR.
func (t table) apply(u netlink.AddrUpdate) {
	k, ok := key(u.LinkAddress, u.LinkIndex)
	if !ok {
		return
	}
	if u.NewAddr {
		t[k] = usable(u.Flags)
	} else {
		delete(t, k)
	}
}

// set returns the usable addresses.
func (t table) set() *policy.AddrSet {
	addrs := make([]netip.Addr, 0, len(t))
	for k, ok := range t {
		if ok {
			addrs = append(addrs, k.addr)
		}
	}
	return policy.NewAddrSet(addrs...)
}

// dumpTries bounds the dumps retried because the table changed during one.
const dumpTries = 10

func dump() (table, error) {
	for try := 1; ; try++ {
		addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
		if errors.Is(err, netlink.ErrDumpInterrupted) && try < dumpTries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rtnetlink RTM_GETADDR: %w", err)
		}
		t := make(table, len(addrs))
		for _, a := range addrs {
			if a.IPNet == nil {
				continue
			}
			if k, ok := key(*a.IPNet, a.LinkIndex); ok {
				t[k] = usable(a.Flags)
			}
		}
		return t, nil
	}
}

// Watcher follows the host's usable addresses.
type Watcher struct {
	cur      atomic.Pointer[policy.AddrSet]
	onChange func(old, new *policy.AddrSet)
	onError  func(error)

	stop      chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

// retry is how long a Watcher waits before it subscribes again after a
// subscription failed to start.
const retry = time.Second

// Watch subscribes to the host's address changes and dumps its addresses.
// onChange is called, from one goroutine, with the previous and the new set
// after every change of the usable addresses; onError when the subscription
// ended (its socket overran, or failed), before the Watcher subscribes and
// dumps again. Both may be nil.
func Watch(onChange func(old, new *policy.AddrSet), onError func(error)) (*Watcher, error) {
	w := &Watcher{onChange: onChange, onError: onError, stop: make(chan struct{}), done: make(chan struct{})}
	s, err := w.subscribe()
	if err != nil {
		return nil, err
	}
	w.cur.Store(s.t.set())
	go w.run(s)
	return w, nil
}

// Set returns the usable addresses as last seen; it never returns nil.
func (w *Watcher) Set() *policy.AddrSet { return w.cur.Load() }

// Close ends the subscription and waits for the Watcher's goroutine.
func (w *Watcher) Close() {
	w.closeOnce.Do(func() { close(w.stop) })
	<-w.done
}

// subscription is one netlink subscription and the table it keeps.
type subscription struct {
	t    table
	ch   chan netlink.AddrUpdate
	done chan struct{} // closing it closes the socket
	err  atomic.Pointer[error]
}

// subscribe subscribes first and dumps second: a change made between the
// two is both in the dump and queued, and applying it again is harmless.
func (w *Watcher) subscribe() (*subscription, error) {
	s := &subscription{ch: make(chan netlink.AddrUpdate, 64), done: make(chan struct{})}
	err := netlink.AddrSubscribeWithOptions(s.ch, s.done, netlink.AddrSubscribeOptions{
		ErrorCallback: func(err error) { s.err.Store(&err) },
	})
	if err != nil {
		close(s.done)
		return nil, fmt.Errorf("rtnetlink subscribe to address changes: %w", err)
	}
	if s.t, err = dump(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// close closes the socket and drains the channel until the library's
// goroutine, which may be blocked sending on it, closes it.
func (s *subscription) close() {
	close(s.done)
	for range s.ch {
	}
}

func (w *Watcher) run(s *subscription) {
	defer close(w.done)
	for {
		if !w.follow(s) {
			s.close()
			return
		}
		err := errors.New("subscription ended")
		if e := s.err.Load(); e != nil {
			err = *e
		}
		s.close()
		if w.onError != nil {
			w.onError(fmt.Errorf("rtnetlink address changes: %w; reading the addresses again", err))
		}
		for {
			var serr error
			if s, serr = w.subscribe(); serr == nil {
				break
			}
			if w.onError != nil {
				w.onError(serr)
			}
			select {
			case <-w.stop:
				return
			case <-time.After(retry):
			}
		}
		w.publish(s.t.set())
	}
}

// follow applies s's changes until the subscription ends (true) or the
// Watcher is closed (false).
func (w *Watcher) follow(s *subscription) bool {
	for {
		select {
		case <-w.stop:
			return false
		case u, ok := <-s.ch:
			if !ok {
				return true
			}
			s.t.apply(u)
			// Apply what else is queued first: one set per burst.
			for more := true; more; {
				select {
				case u, ok := <-s.ch:
					if !ok {
						w.publish(s.t.set())
						return true
					}
					s.t.apply(u)
				default:
					more = false
				}
			}
			w.publish(s.t.set())
		}
	}
}

// publish makes set current and reports it if it differs.
func (w *Watcher) publish(set *policy.AddrSet) {
	old := w.cur.Load()
	if old != nil && sameSet(old, set) {
		return
	}
	w.cur.Store(set)
	if w.onChange != nil {
		w.onChange(old, set)
	}
}

func sameSet(a, b *policy.AddrSet) bool {
	if a.Len() != b.Len() {
		return false
	}
	same := true
	a.Range(func(x netip.Addr) bool {
		same = b.Has(x)
		return same
	})
	return same
}
