//go:build linux

package hostroute

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Table is a [Cache] of the kernel's answers, invalidated by every change
// of the routes, rules or links of the caller's network namespace.
type Table struct {
	*Cache
	sock    *nl.NetlinkSocket
	onError func(error)

	closeOnce sync.Once
	closed    chan struct{}
	done      chan struct{}
}

// Watch subscribes to the routing changes and returns an empty Table.
// onError (may be nil) is called when the subscription reports an error
// other than an overrun, after which the Table asks the kernel on every
// call: it cannot tell when its answers go stale.
func Watch(onError func(error)) (*Table, error) {
	sock, err := nl.Subscribe(unix.NETLINK_ROUTE,
		unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE,
		unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE, unix.RTNLGRP_LINK)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink subscribe to route changes: %w", err)
	}
	t := &Table{Cache: NewCache(Lookup), sock: sock, onError: onError, closed: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t, nil
}

func (t *Table) run() {
	defer close(t.done)
	for {
		_, _, err := t.sock.Receive()
		// Whatever arrived, or was lost (ENOBUFS), changed the routing.
		t.Invalidate()
		select {
		case <-t.closed:
			return
		default:
		}
		if err == nil || errors.Is(err, unix.ENOBUFS) {
			continue
		}
		if t.onError != nil {
			t.onError(fmt.Errorf("rtnetlink route changes: %w; asking the kernel on every call", err))
		}
		t.Bypass()
		return
	}
}

// Close ends the subscription and waits for its goroutine.
func (t *Table) Close() {
	t.closeOnce.Do(func() {
		close(t.closed)
		t.sock.Close()
	})
	<-t.done
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
