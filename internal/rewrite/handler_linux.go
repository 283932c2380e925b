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
	policy  atomic.Pointer[policy.Policy]
	log     *slog.Logger
	warned  sync.Map // warnKey -> struct{}: one warning per cause
	stats   Stats
	callers callers // the threads that made a trapped call, for --status
}

// warnKey is one cause of warning: a step that failed, the source it was
// for (binds only) and the errno.
type warnKey struct {
	step  string
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
	return h.handle(program{req: r}, c, err)
}

// handle decides call c of r, whose arguments could not be read if err is
// not nil.
func (h *Handler) handle(r program, c notify.Call, err error) notify.Response {
	if err != nil { // i386 socketcall's arguments, unreadable
		return h.unreadable(r, notify.OpNone, err, &decision{})
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
	case notify.OpSendmmsg:
		resp = h.sendmmsg(r, c, &d)
	default:
		return notify.Continue()
	}
	h.stats.record(c.Op, &d, resp.Errno != 0)
	h.callers.saw(r.pid())
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
	why  Reason         // why nothing was bound: the counters' key
	// detail says what failed, after why's words in the debug log: an
	// errno, or for ReasonRewriteFailed the step and its errno.
	detail string
}

// note is the decision in the debug log's words: "left alone: " and the
// reason's, with what failed. A call that is no concern of vipa-exec's,
// and a deferred bind, are no "left alone"; a failed rewrite names its
// step in place of the reason's words.
func (d *decision) note() string {
	switch d.why {
	case ReasonNotInet, ReasonDeferred:
		return d.why.Text()
	case ReasonRewriteFailed:
		return "left alone: " + d.detail
	}
	s := "left alone: " + d.why.Text()
	if d.detail != "" {
		s += ": " + d.detail
	}
	return s
}

func (h *Handler) logDecision(r program, c notify.Call, d *decision, resp notify.Response) {
	result := "bound"
	switch {
	case resp.Errno != 0:
		result = "failed: " + resp.Errno.Error()
	case d.why != ReasonNone:
		result = d.note()
	case !d.src.IsValid():
		result = "left alone"
	}
	attrs := []any{"pid", r.pid(), "call", c.Op.String(), "result", result}
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

// readSockaddr reads the socket address argument into buf and decodes it.
// Addresses of other lengths and families (AF_UNIX and friends) fail with
// ErrNotInet, to be left to the kernel, like an error of ReadMem.
//
// The filter traps every length from 16 to 128 bytes, which AF_UNIX
// addresses share: one read of at most 28 bytes (what AF_INET6 needs, and
// no dearer than reading the family alone) tells them apart; the rest of a
// longer buffer is padding the kernel ignores too. The bytes read are
// buf[:ReadLen(addrlen)].
func readSockaddr(r program, addr, addrlen uint64, buf *[SizeofSockaddrInet6]byte) (Sockaddr, error) {
	n := uint32(addrlen)
	if n < SizeofSockaddrInet4 || n > MaxSockaddr {
		return Sockaddr{}, ErrNotInet
	}
	b := buf[:ReadLen(addrlen)]
	if err := r.readMem(addr, b); err != nil {
		return Sockaddr{}, err
	}
	return DecodeSockaddr(b)
}

// ReadLen is how many bytes of an address of addrlen bytes vipa-exec reads,
// and writes back: the most an IPv4 or IPv6 address takes.
func ReadLen(addrlen uint64) int { return int(min(uint32(addrlen), SizeofSockaddrInet6)) }

// unreadable decides a call of op whose address could not be read, before
// any rule could match it. An error the kernel will report itself (EFAULT,
// a bad pointer of the program's) and a departed caller leave it alone.
// Anything else is vipa-exec's failure, warned about once per errno: the
// address might have matched any rule, so if some rule for such calls says
// on_error = "fail", the call fails (a program that makes itself
// non-dumpable must not slip past an unprivileged supervisor); otherwise
// it goes on unchanged.
func (h *Handler) unreadable(r program, op notify.Op, err error, d *decision) notify.Response {
	switch {
	case errors.Is(err, ErrNotInet), errors.Is(err, ErrShortSockaddr):
		d.why = ReasonNotInet
		return notify.Continue()
	case errors.Is(err, unix.EFAULT):
		d.why = ReasonUnreadable
		return notify.Continue()
	case errors.Is(err, unix.ESRCH), !r.valid():
		d.why = ReasonCallerGone
		return notify.Continue()
	}
	errno := errnoOf(err)
	strict, fail := failRule(h.policy.Load(), op)
	onError := policy.OnErrorContinue.String()
	if fail {
		onError = policy.OnErrorFail.String() + " (rule " + strict + ")"
	}
	h.warnOnce(warnKey{step: "read the address", errno: errno},
		"cannot read a call's address (further failures of this kind are not logged)",
		"pid", r.pid(), "on_error", onError, "err", err)
	if fail {
		d.rule = strict
		return notify.Fail(errno)
	}
	d.why, d.detail = ReasonReadFailed, errno.Error()
	return notify.Continue()
}

// failRule returns the first rule for calls of op (of either kind for
// OpNone) that binds and has on_error = "fail".
func failRule(pol *policy.Policy, op notify.Op) (origin string, ok bool) {
	if op != notify.OpBind {
		for _, r := range pol.ConnectRules() {
			if r.OnError == policy.OnErrorFail && r.Policy != policy.Kernel {
				return r.Origin, true
			}
		}
	}
	if op == notify.OpBind || op == notify.OpNone {
		for _, r := range pol.BindRules() {
			if r.OnError == policy.OnErrorFail && r.Policy != policy.Kernel {
				return r.Origin, true
			}
		}
	}
	return "", false
}

// unrewritten decides a call that a rule matched but that vipa-exec could
// not rewrite because step failed. What the kernel will refuse by itself
// (a bad descriptor, not a socket) and a caller that no longer waits are
// left alone; anything else is vipa-exec's failure, and obeys the rule's
// on_error, with one warning per step and errno: never silently open.
func (h *Handler) unrewritten(r program, m policy.Match, step string, err error, d *decision) notify.Response {
	switch {
	case errors.Is(err, unix.EBADF), errors.Is(err, unix.ENOTSOCK), errors.Is(err, ErrNotInet):
		d.why = ReasonNotInetSocket
		return notify.Continue()
	case errors.Is(err, notify.ErrNotPending), errors.Is(err, unix.ESRCH), !r.valid():
		d.why = ReasonCallerGone
		return notify.Continue()
	}
	errno := errnoOf(err)
	d.rule = m.Origin()
	h.warnOnce(warnKey{step: step, errno: errno},
		"cannot rewrite a call a rule matched (further failures of this kind are not logged)",
		"pid", r.pid(), "step", step, "rule", m.Origin(), "on_error", m.OnError().String(), "err", err)
	if m.OnError() == policy.OnErrorFail {
		return notify.Fail(errno)
	}
	d.why, d.detail = ReasonRewriteFailed, step+": "+errno.Error()
	return notify.Continue()
}

// warnOnce logs msg at warn level the first time key is seen.
func (h *Handler) warnOnce(key warnKey, msg string, args ...any) {
	if _, dup := h.warned.LoadOrStore(key, struct{}{}); !dup {
		h.log.Warn(msg, args...)
	}
}

// errnoOf is the errno that err wraps, or EINVAL for one without.
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		errno = unix.EINVAL
	}
	return errno
}

func (h *Handler) connect(r program, c notify.Call, d *decision) notify.Response {
	var buf [SizeofSockaddrInet6]byte
	sa, err := readSockaddr(r, c.Addr, c.AddrLen, &buf)
	if err != nil {
		return h.unreadable(r, c.Op, err, d)
	}
	return h.bindSource(r, c.Fd, sa, d)
}

// bindSource gives the caller's socket the source address the policy selects
// for destination sa, if the socket is still unbound, and lets the call go
// on: connect(2), and sendto(2)/sendmsg(2) with a destination.
func (h *Handler) bindSource(r program, fd int, sa Sockaddr, d *decision) notify.Response {
	dst := sa.Dest()
	d.dst = sa.Addr
	pol := h.policy.Load()
	ap := netip.AddrPortFrom(dst, sa.Addr.Port())
	m, ok := pol.MatchConnect(ap, policy.AnyProtocol)
	if !pol.UsesProtocol() {
		if !ok || m.Kernel() {
			return d.leave(m, ok)
		}
	} else if some, found := mayBind(pol, ap); !found {
		return d.leave(m, ok)
	} else if !ok || m.Kernel() {
		m = some // for on_error, until the socket tells the protocol
	}
	sock, family, unbound, err := getSocket(r, fd)
	if err != nil {
		return h.unrewritten(r, m, "get the socket", err, d)
	}
	defer func() { _ = unix.Close(sock) }()
	if !unbound {
		d.why = ReasonBoundByProgram
		return notify.Continue() // its choice stands
	}
	if pol.UsesProtocol() {
		// Only now, with the socket in hand: a rule names a protocol.
		if m, ok = pol.MatchConnect(ap, sockProtocol(sock)); !ok || m.Kernel() {
			return d.leave(m, ok)
		}
	}
	if family == AFInet && !dst.Is4() {
		d.why = ReasonIPv6OnIPv4
		return notify.Continue() // the kernel refuses this connect anyway
	}
	pid, err := r.tgid()
	if err != nil {
		return h.unrewritten(r, m, "find the process", err, d)
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
	d.why = ReasonNoRule
	if matched && m.Kernel() {
		d.rule, d.why = m.Origin(), ReasonPolicyKernel
	}
	return notify.Continue()
}

// mayBind reports whether a call to dst of some protocol matches a rule
// that binds, so that the socket is worth a look, and returns the first.
func mayBind(pol *policy.Policy, dst netip.AddrPort) (policy.Match, bool) {
	for _, proto := range [...]policy.Protocol{policy.AnyProtocol, policy.TCP, policy.UDP} {
		if m, ok := pol.MatchConnect(dst, proto); ok && !m.Kernel() {
			return m, true
		}
	}
	return policy.Match{}, false
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
// and whether it is still unbound. See unrewritten for its errors: EBADF,
// ENOTSOCK and ErrNotInet are the program's, for the kernel to answer.
func getSocket(r program, fd int) (sock int, family uint16, unbound bool, err error) {
	sock, err = r.getFD(fd)
	if err != nil {
		return -1, 0, false, err
	}
	family, unbound, err = boundState(sock)
	if err != nil {
		_ = unix.Close(sock)
		return -1, 0, false, err
	}
	return sock, family, unbound, nil
}

// bind moves a bind(2) to the wildcard address onto the source a [[bind]]
// rule selects, by writing that address into the program's own sockaddr and
// letting the kernel run the call: the bind is made in the program's
// context, so its credentials, user namespace, LSMs and Landlock domain
// decide, and the privileged-port rule is the kernel's, never vipa-exec's.
// The program's struct holds the VIPA after the call; a program that changes
// it again before the kernel reads it binds what it wrote, under its own
// kernel checks.
func (h *Handler) bind(r program, c notify.Call, d *decision) notify.Response {
	var buf [SizeofSockaddrInet6]byte
	sa, err := readSockaddr(r, c.Addr, c.AddrLen, &buf)
	if err != nil {
		return h.unreadable(r, c.Op, err, d)
	}
	d.dst = sa.Addr
	if !sa.IsWildcard() {
		d.why = ReasonNotWildcard
		return notify.Continue()
	}
	// ::ffff:0.0.0.0 is the IPv4 wildcard spelled for an AF_INET6 socket.
	v6 := sa.Family == AFInet6 && !sa.Addr.Addr().Is4In6()
	pol := h.policy.Load()
	m, ok := pol.MatchBind(v6, sa.Addr.Port())
	if !ok && sa.Addr.Port() == 0 && pol.DefersWildcardBinds() {
		return h.deferBind(r, c, sa, d)
	}
	if !ok || m.Kernel() {
		return d.leave(m, ok)
	}
	sock, family, _, err := getSocket(r, c.Fd)
	if err != nil {
		return h.unrewritten(r, m, "get the socket", err, d)
	}
	_ = unix.Close(sock)
	if family != sa.Family {
		d.why = ReasonFamilyMismatch
		return notify.Continue() // the kernel refuses this mix itself
	}
	pid, err := r.tgid()
	if err != nil {
		return h.unrewritten(r, m, "find the process", err, d)
	}
	src := m.Source(pid)
	d.rule, d.src = m.Origin(), src
	if !src.IsValid() {
		return noSource(m, d)
	}
	b := buf[:ReadLen(c.AddrLen)]
	if err := ReplaceAddr(b, src); err != nil {
		d.why = ReasonIPv6SourceIPv4
		return notify.Continue()
	}
	if err := r.writeMem(c.Addr, b); err != nil {
		return h.unrewritten(r, m, "write the address", err, d)
	}
	return notify.Continue()
}

// deferBind makes a bind to the wildcard address and port 0 choose nothing
// at all: with IP_BIND_ADDRESS_NO_PORT set on the socket, the kernel runs the
// program's bind (its own checks apply) and leaves the socket without an
// address or port, so that the connect or sendto that follows finds it
// unbound and its rule gives it a source; the port is picked then, as for a
// socket never bound. DNS tools (dig, host, nslookup, busybox nslookup) bind
// so before every query. Only TCP and UDP sockets, still unbound, of the
// address's family; anything else, and any failure, leaves the bind as it
// is: no rule asked for this one.
func (h *Handler) deferBind(r program, c notify.Call, sa Sockaddr, d *decision) notify.Response {
	sock, family, unbound, err := getSocket(r, c.Fd)
	if err != nil {
		d.why, d.detail = ReasonWildcardNotDeferred, errnoOf(err).Error()
		return notify.Continue()
	}
	defer func() { _ = unix.Close(sock) }()
	switch {
	case family != sa.Family:
		d.why = ReasonFamilyMismatch
	case !unbound:
		d.why = ReasonBoundAlready // the kernel answers EINVAL
	case sockProtocol(sock) == policy.AnyProtocol:
		d.why = ReasonNotTCPUDP
	default:
		if err := setNoPort(sock); err != nil {
			d.why, d.detail = ReasonWildcardNotDeferred, errnoOf(err).Error()
			return notify.Continue()
		}
		d.why = ReasonDeferred
	}
	return notify.Continue()
}

// bindFailed applies a rule's on_error: by default the call goes on as if
// vipa-exec were not there, with one warning per source and errno.
func (h *Handler) bindFailed(m policy.Match, src netip.Addr, err error, d *decision) notify.Response {
	errno := errnoOf(err)
	if m.OnError() == policy.OnErrorFail {
		return notify.Fail(errno)
	}
	d.why, d.detail = ReasonBindFailed, errno.Error()
	h.warnOnce(warnKey{step: "bind", src: src, errno: errno},
		"cannot bind source address; leaving the kernel's choice (further failures for this source and error are not logged)",
		"source", src, "rule", m.Origin(), "err", errno.Error())
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
	d.why = ReasonNoSourcePresent
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
