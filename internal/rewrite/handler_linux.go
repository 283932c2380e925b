//go:build linux

package rewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// Handler applies a policy to trapped bind(2) and connect(2) calls.
// It implements notify.Handler.
type Handler struct {
	policy atomic.Pointer[policy.Policy]
	log    *slog.Logger
	warned sync.Map // warnKey -> struct{}: one warning per source and errno
	stats  Stats
	priv   privChecker
}

type warnKey struct {
	src   netip.Addr
	errno unix.Errno
}

// NewHandler returns a handler for p that logs to log.
func NewHandler(p *policy.Policy, log *slog.Logger) *Handler {
	h := &Handler{log: log}
	h.policy.Store(p)
	return h
}

// Policy returns the policy in force.
func (h *Handler) Policy() *policy.Policy { return h.policy.Load() }

// SetPolicy replaces the policy for calls trapped from now on.
func (h *Handler) SetPolicy(p *policy.Policy) { h.policy.Store(p) }

// Handle implements notify.Handler. The call's arguments come decoded from
// whichever ABI the program used (64-bit, i386 with or without socketcall,
// x32).
func (h *Handler) Handle(r *notify.Request) notify.Response {
	c, err := r.Call()
	if err != nil {
		return notify.Continue()
	}
	var d decision
	var resp notify.Response
	switch c.Op {
	case notify.OpConnect:
		resp = h.connect(r, c, &d)
	case notify.OpBind:
		resp = h.bind(r, c, &d)
	case notify.OpSendto:
		resp = h.sendto(r, c, &d)
	case notify.OpSendmsg:
		resp = h.sendmsg(r, c, &d)
	default:
		return notify.Continue()
	}
	h.stats.record(int(c.Op)-1, &d, resp.Errno != 0)
	if h.log.Enabled(context.Background(), slog.LevelDebug) {
		h.logDecision(r, c, &d, resp)
	}
	return resp
}

// Stats returns a copy of the handler's counters.
func (h *Handler) Stats() Snapshot { return h.stats.Snapshot() }

// decision is what the handler did with one call, for the debug log.
type decision struct {
	dst  netip.AddrPort // the address the call named
	rule string         // FILE:LINE of the rule that matched
	src  netip.Addr     // the source bound, or tried
	note string         // why nothing was bound, or what failed
}

var opNames = [...]string{notify.OpConnect: "connect", notify.OpBind: "bind", notify.OpSendto: "sendto", notify.OpSendmsg: "sendmsg"}

func (h *Handler) logDecision(r *notify.Request, c notify.Call, d *decision, resp notify.Response) {
	result := "bound"
	switch {
	case resp.Errno != 0:
		result = "failed: " + resp.Errno.Error()
	case d.note != "":
		result = d.note
	case !d.src.IsValid():
		result = "left alone"
	}
	attrs := []any{"pid", r.Pid, "call", opNames[c.Op], "result", result}
	if d.dst.IsValid() {
		key := "destination"
		if c.Op == notify.OpBind {
			key = "address"
		}
		attrs = append(attrs, key, d.dst)
	}
	if d.rule != "" {
		attrs = append(attrs, "rule", d.rule)
	}
	if d.src.IsValid() {
		attrs = append(attrs, "source", d.src)
	}
	h.log.Debug("decision", attrs...)
}

// readSockaddr reads and decodes the socket address argument. Whatever it
// cannot read or decode is left to the kernel, which will fail the call
// itself (EFAULT, EINVAL) or run it (AF_UNIX and friends).
func readSockaddr(r *notify.Request, addr, addrlen uint64) (Sockaddr, bool) {
	n := uint32(addrlen)
	if n != SizeofSockaddrInet4 && n != SizeofSockaddrInet6 {
		return Sockaddr{}, false
	}
	var buf [SizeofSockaddrInet6]byte
	if err := r.ReadMem(addr, buf[:n]); err != nil {
		return Sockaddr{}, false
	}
	sa, err := DecodeSockaddr(buf[:n])
	return sa, err == nil
}

func (h *Handler) connect(r *notify.Request, c notify.Call, d *decision) notify.Response {
	sa, ok := readSockaddr(r, c.Addr, c.AddrLen)
	if !ok {
		d.note = "not an IPv4 or IPv6 address"
		return notify.Continue()
	}
	return h.bindSource(r, c.Fd, sa, d)
}

// bindSource gives the caller's socket the source address the policy selects
// for destination sa, if the socket is still unbound, and lets the call go
// on: connect(2), and sendto(2)/sendmsg(2) with a destination.
func (h *Handler) bindSource(r *notify.Request, fd int, sa Sockaddr, d *decision) notify.Response {
	dst := sa.Dest()
	d.dst = sa.Addr
	pol := h.policy.Load()
	ap := netip.AddrPortFrom(dst, sa.Addr.Port())
	m, ok := pol.MatchConnect(ap, policy.AnyProtocol)
	if !pol.UsesProtocol() {
		if !ok || m.Kernel() {
			return d.leave(m, ok)
		}
	} else if !mayBind(pol, ap) {
		return d.leave(m, ok)
	}
	sock, family, unbound, ok := getSocket(r, fd)
	if !ok {
		d.note = "left alone: not a socket, or the caller is gone"
		return notify.Continue()
	}
	defer unix.Close(sock)
	if !unbound {
		d.note = "left alone: bound by the program"
		return notify.Continue() // its choice stands
	}
	if pol.UsesProtocol() {
		// Only now, with the socket in hand: a rule names a protocol.
		if m, ok = pol.MatchConnect(ap, sockProtocol(sock)); !ok || m.Kernel() {
			return d.leave(m, ok)
		}
	}
	if family == AFInet && !dst.Is4() {
		d.note = "left alone: IPv6 destination on an IPv4 socket"
		return notify.Continue() // the kernel refuses this connect anyway
	}
	pid, err := r.Tgid()
	if err != nil {
		d.note = "left alone: the caller is gone"
		return notify.Continue()
	}
	src := m.Source(pid)
	d.rule, d.src = m.Origin(), src
	if !src.IsValid() {
		return noSource(m, d)
	}
	// Share source ports per 4-tuple, as connect() does by itself: without
	// this, bind(port 0) reserves a port for the source address alone and
	// a busy client runs out of ports at ~28k connections in TIME_WAIT.
	if err := setNoPort(sock); err != nil {
		return h.bindFailed(m, src, err, d)
	}
	if err := bindTo(sock, family, netip.AddrPortFrom(src, 0)); err != nil {
		return h.bindFailed(m, src, err, d)
	}
	return notify.Continue()
}

// leave records why a call no rule binds for is left alone.
func (d *decision) leave(m policy.Match, matched bool) notify.Response {
	d.note = "left alone: no rule"
	if matched && m.Kernel() {
		d.rule, d.note = m.Origin(), "left alone: policy kernel"
	}
	return notify.Continue()
}

// mayBind reports whether a call to dst of some protocol matches a rule
// that binds, so that the socket is worth a look.
func mayBind(pol *policy.Policy, dst netip.AddrPort) bool {
	for _, proto := range [...]policy.Protocol{policy.AnyProtocol, policy.TCP, policy.UDP} {
		if m, ok := pol.MatchConnect(dst, proto); ok && !m.Kernel() {
			return true
		}
	}
	return false
}

// sockProtocol returns the protocol rules know a socket by: SO_PROTOCOL,
// with MPTCP counted as TCP (its sockets are TCP's to a program), and
// anything but TCP and UDP (SCTP, raw, UDP-Lite) as AnyProtocol, which only
// rules without a protocol match.
func sockProtocol(fd int) policy.Protocol {
	var proto int32
	n := uint32(4)
	_, _, errno := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL,
		uintptr(unsafe.Pointer(&proto)), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return policy.AnyProtocol
	}
	switch proto {
	case unix.IPPROTO_TCP, unix.IPPROTO_MPTCP:
		return policy.TCP
	case unix.IPPROTO_UDP:
		return policy.UDP
	}
	return policy.AnyProtocol
}

// getSocket duplicates the caller's socket argument and reports its family
// and whether it is still unbound. It returns ok=false when there is nothing
// to do: a bad descriptor or not a socket (the kernel answers EBADF or
// ENOTSOCK itself), or a caller that no longer waits.
func getSocket(r *notify.Request, fd int) (sock int, family uint16, unbound, ok bool) {
	sock, err := r.GetFD(fd)
	if err != nil {
		return -1, 0, false, false
	}
	family, unbound, err = boundState(sock)
	if err != nil {
		unix.Close(sock)
		return -1, 0, false, false
	}
	return sock, family, unbound, true
}

func (h *Handler) bind(r *notify.Request, c notify.Call, d *decision) notify.Response {
	sa, ok := readSockaddr(r, c.Addr, c.AddrLen)
	if !ok {
		d.note = "not an IPv4 or IPv6 address"
		return notify.Continue()
	}
	d.dst = sa.Addr
	if !sa.IsWildcard() {
		d.note = "left alone: not the wildcard address"
		return notify.Continue()
	}
	// ::ffff:0.0.0.0 is the IPv4 wildcard spelled for an AF_INET6 socket.
	v6 := sa.Family == AFInet6 && !sa.Addr.Addr().Is4In6()
	port := sa.Addr.Port()
	m, ok := h.policy.Load().MatchBind(v6, port)
	if !ok || m.Kernel() {
		return d.leave(m, ok)
	}
	sock, family, _, ok := getSocket(r, c.Fd)
	if !ok {
		d.note = "left alone: not a socket, or the caller is gone"
		return notify.Continue()
	}
	defer unix.Close(sock)
	if family != sa.Family {
		d.note = "left alone: address family differs from the socket's"
		return notify.Continue() // the kernel refuses this mix itself
	}
	pid, err := r.Tgid()
	if err != nil {
		d.note = "left alone: the caller is gone"
		return notify.Continue()
	}
	src := m.Source(pid)
	d.rule, d.src = m.Origin(), src
	if !src.IsValid() {
		return noSource(m, d)
	}
	if family == AFInet && !src.Is4() {
		d.note = "left alone: IPv6 source for an IPv4 socket"
		return notify.Continue()
	}
	// The supervisor may hold privileges the program lacks: the kernel's
	// privileged-port check would look at the supervisor, so make it here,
	// for the program, exactly as inet_bind would.
	if port != 0 {
		allowed, err := h.priv.mayBindPort(r, sock, port)
		if err != nil {
			h.log.Warn("privileged port check failed; refusing the bind", "pid", r.Pid, "port", port, "err", err)
		}
		if !allowed {
			d.note = "refused: privileged port, and the program lacks CAP_NET_BIND_SERVICE"
			return notify.Fail(unix.EACCES)
		}
	}
	if err := bindTo(sock, family, netip.AddrPortFrom(src, port)); err != nil {
		return h.bindFailed(m, src, err, d)
	}
	return notify.Return(0)
}

// bindFailed applies a rule's on_error: by default the call goes on as if
// vipa-exec were not there, with one warning per source and errno.
func (h *Handler) bindFailed(m policy.Match, src netip.Addr, err error, d *decision) notify.Response {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		errno = unix.EINVAL
	}
	if m.OnError() == policy.OnErrorFail {
		return notify.Fail(errno)
	}
	d.note = "left alone: bind failed: " + errno.Error()
	if _, dup := h.warned.LoadOrStore(warnKey{src, errno}, struct{}{}); !dup {
		h.log.Warn("cannot bind source address; leaving the kernel's choice (further failures for this source and error are not logged)",
			"source", src, "rule", m.Origin(), "err", errno.Error())
	}
	return notify.Continue()
}

// noSource applies on_error to a call whose rule has no source present on
// the host (policy.Env.Present): the call fails as a bind to an absent
// source would, or goes on unchanged. The supervisor logs the rule's state
// when it changes, not per call.
func noSource(m policy.Match, d *decision) notify.Response {
	if m.OnError() == policy.OnErrorFail {
		return notify.Fail(unix.EADDRNOTAVAIL)
	}
	d.note = "left alone: no source of the rule is present"
	return notify.Continue()
}

// boundState returns a socket's family and whether it is still unbound
// (wildcard address and port 0), with one getsockname and no allocation.
func boundState(fd int) (family uint16, unbound bool, err error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unsafe.Sizeof(rsa))
	_, _, errno := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)))
	if errno != 0 {
		return 0, false, errno
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&rsa)), min(int(n), int(unsafe.Sizeof(rsa))))
	sa, err := DecodeSockaddr(b)
	if err != nil {
		return 0, false, err
	}
	return sa.Family, sa.Addr.Port() == 0 && sa.IsWildcard(), nil
}

// setNoPort sets IP_BIND_ADDRESS_NO_PORT. Like getsockname and bind below,
// it is a short call that never blocks, made once per trapped call: raw, so
// without the scheduler's bookkeeping for calls that may block.
func setNoPort(fd int) error {
	one := int32(1)
	_, _, errno := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT,
		uintptr(unsafe.Pointer(&one)), 4, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// bindTo binds fd to ap, spelled for a socket of the given family.
func bindTo(fd int, family uint16, ap netip.AddrPort) error {
	var buf [SizeofSockaddrInet6]byte
	n, err := EncodeSockaddr(&buf, family, ap)
	if err != nil {
		return fmt.Errorf("bind %s: %w", ap, unix.EAFNOSUPPORT)
	}
	_, _, errno := unix.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(n))
	if errno != 0 {
		return fmt.Errorf("bind %s: %w", ap, errno)
	}
	return nil
}
