//go:build linux

package hostroute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Table is a [Cache] of the kernel's answers, invalidated by every change
// of the routes, rules or links of the caller's network namespace.
type Table struct {
	*Cache
	onChange func(what []string)
	onError  func(error)

	warned sync.Map // lookup errors reported, by errno

	mu        sync.Mutex
	sock      *nl.NetlinkSocket // set by Follow
	closeOnce sync.Once
	closed    chan struct{}
	done      chan struct{} // closed when run returns, once Follow started it
}

// New returns a Table that asks the kernel on every call until Follow has
// subscribed to the routing changes, and caches its answers from then on.
// A lookup that fails (EMFILE, say) leaves the call's interface unknown, so
// no [[interface]] rule matches it: onError hears of it once per errno.
// onChange (may be nil) is called, from one goroutine, after every batch
// of notifications has invalidated the cache, with what changed
// ([Describe]); onError (may be nil) is called when the subscription reports an error
// other than an overrun, after which the Table asks the kernel on every
// call: it cannot tell when its answers go stale.
func New(onChange func(what []string), onError func(error)) *Table {
	t := &Table{onChange: onChange, onError: onError, closed: make(chan struct{})}
	t.Cache = NewCache(t.lookup)
	t.Bypass()
	return t
}

// Follow subscribes to the routing changes; from then on the Table caches
// its answers. Without a subscription it goes on asking the kernel on every
// call.
func (t *Table) Follow() error {
	sock, err := nl.Subscribe(unix.NETLINK_ROUTE,
		unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE,
		unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE, unix.RTNLGRP_LINK)
	if err != nil {
		return fmt.Errorf("rtnetlink subscribe to route changes: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.closed:
		sock.Close()
		return nil
	default:
	}
	t.sock, t.done = sock, make(chan struct{})
	// Answers asked before the subscription may be stale by now.
	t.Invalidate()
	t.bypass.Store(false)
	go t.run()
	return nil
}

// Watch is New and Follow: an empty Table that caches from the start.
func Watch(onChange func(what []string), onError func(error)) (*Table, error) {
	t := New(onChange, onError)
	if err := t.Follow(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Table) run() {
	defer close(t.done)
	for {
		msgs, _, err := t.sock.Receive()
		// Whatever arrived, or was lost (ENOBUFS), changed the routing.
		t.Invalidate()
		select {
		case <-t.closed:
			return
		default:
		}
		if err == nil || errors.Is(err, unix.ENOBUFS) {
			if t.onChange != nil {
				what := []string{"overrun: some changes lost"}
				if err == nil {
					what = what[:0]
					for _, m := range msgs {
						what = append(what, Describe(m))
					}
				}
				t.onChange(what)
			}
			continue
		}
		if t.onError != nil {
			t.onError(fmt.Errorf("rtnetlink route changes: %w; asking the kernel on every call", err))
		}
		t.Bypass()
		return
	}
}

// Describe names a notification of the groups a Table follows, for logs:
// "RTM_NEWROUTE 10.0.0.0/8" (with "default" for a default route),
// "RTM_DELRULE", "RTM_NEWLINK 3" (the interface index).
func Describe(m syscall.NetlinkMessage) string {
	name, ok := msgNames[m.Header.Type]
	if !ok {
		return fmt.Sprintf("message type %d", m.Header.Type)
	}
	switch m.Header.Type {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		if len(m.Data) < unix.SizeofRtMsg {
			return name + " (short)"
		}
		family, bits := m.Data[0], int(m.Data[1]) // rtm_family, rtm_dst_len
		// syscall.ParseNetlinkRouteAttr panics on an attribute longer
		// than the message: walk them here, lengths checked first.
		for b := m.Data[unix.SizeofRtMsg:]; len(b) >= unix.SizeofRtAttr; {
			l := int(binary.NativeEndian.Uint16(b[0:2])) // rta_len
			if l < unix.SizeofRtAttr || l > len(b) {
				return name + " (malformed)"
			}
			if binary.NativeEndian.Uint16(b[2:4]) == unix.RTA_DST {
				addr, ok := netip.AddrFromSlice(b[unix.SizeofRtAttr:l])
				if !ok || (family == unix.AF_INET) != addr.Is4() || bits > addr.BitLen() {
					return name + " (malformed)"
				}
				return name + " " + netip.PrefixFrom(addr, bits).String()
			}
			b = b[min(len(b), (l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
		}
		return name + " default"
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		if len(m.Data) < unix.SizeofIfInfomsg {
			return name + " (short)"
		}
		return fmt.Sprintf("%s %d", name, int32(binary.NativeEndian.Uint32(m.Data[4:8]))) // ifi_index
	}
	return name
}

var msgNames = map[uint16]string{
	unix.RTM_NEWROUTE: "RTM_NEWROUTE", unix.RTM_DELROUTE: "RTM_DELROUTE",
	unix.RTM_NEWRULE: "RTM_NEWRULE", unix.RTM_DELRULE: "RTM_DELRULE",
	unix.RTM_NEWLINK: "RTM_NEWLINK", unix.RTM_DELLINK: "RTM_DELLINK",
}

// lookup is Lookup, its errors reported once per errno.
func (t *Table) lookup(dst netip.Addr) (string, bool, error) {
	name, ok, err := Lookup(dst)
	if err != nil && t.onError != nil {
		var key any = err.Error()
		var errno unix.Errno
		if errors.As(err, &errno) {
			key = errno
		}
		if _, seen := t.warned.LoadOrStore(key, true); !seen {
			t.onError(fmt.Errorf("%w; [[interface]] rules match no call whose route cannot be read", err))
		}
	}
	return name, ok, err
}

// Close ends the subscription, if any, and waits for its goroutine.
func (t *Table) Close() {
	t.mu.Lock()
	t.closeOnce.Do(func() {
		close(t.closed)
		if t.sock != nil {
			t.sock.Close()
		}
	})
	done := t.done
	t.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Lookup asks the kernel which interface it routes dst out of, as ip route
// get DEST does: ok=false when it has no route (ENETUNREACH, EHOSTUNREACH,
// an unreachable or prohibit route).
func Lookup(dst netip.Addr) (string, bool, error) {
	routes, err := netlink.RouteGet(net.IP(dst.Unmap().AsSlice()))
	switch {
	case errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.EACCES), errors.Is(err, unix.EINVAL):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("rtnetlink RTM_GETROUTE %s: %w", dst, err)
	case len(routes) == 0 || routes[0].LinkIndex == 0:
		return "", false, nil
	}
	link, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return "", false, fmt.Errorf("rtnetlink RTM_GETLINK %d: %w", routes[0].LinkIndex, err)
	}
	return link.Attrs().Name, true, nil
}
