//go:build linux

package rewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// stub is a traced program without seccomp: its memory is a few regions the
// test fills, and its descriptors are real ones of the test process, so
// that getsockname, setsockopt and bind on them are the kernel's own.
type stub struct {
	regions  map[uint64][]byte // base address -> the bytes there
	fds      map[int]int       // the program's descriptor -> the test's
	readErr  error             // what reading its memory fails with
	writeErr error             // what writing its memory fails with
	getFDErr error             // what duplicating a descriptor fails with
	tgidErr  error             // what finding its process fails with
	gone     bool              // the notification is no longer pending
}

// self is the test's pid, the stub's caller: read once, not per call, so
// that the benchmark measures the handler rather than getpid.
var self = uint32(os.Getpid())

func (s *stub) pid() uint32 { return self }

// region returns the bytes of n at addr, within one region.
func (s *stub) region(addr uint64, n int) ([]byte, error) {
	for base, b := range s.regions {
		if addr >= base && addr-base+uint64(n) <= uint64(len(b)) {
			return b[addr-base : addr-base+uint64(n)], nil
		}
	}
	return nil, fmt.Errorf("read memory of pid %d: %w", s.pid(), unix.EFAULT)
}

func (s *stub) mem(addr uint64, n int) ([]byte, error) {
	if s.readErr != nil {
		return nil, fmt.Errorf("read memory of pid %d: %w", s.pid(), s.readErr)
	}
	return s.region(addr, n)
}

func (s *stub) setMem(addr uint64, b []byte) error {
	if s.writeErr != nil {
		return fmt.Errorf("write memory of pid %d: %w", s.pid(), s.writeErr)
	}
	dst, err := s.region(addr, len(b))
	if err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

func (s *stub) getFD(fd int) (int, error) {
	if s.getFDErr != nil {
		return -1, fmt.Errorf("get fd %d of pid %d: %w", fd, s.pid(), s.getFDErr)
	}
	own, ok := s.fds[fd]
	if !ok {
		return -1, fmt.Errorf("get fd %d of pid %d: %w", fd, s.pid(), unix.EBADF)
	}
	return unix.FcntlInt(uintptr(own), unix.F_DUPFD_CLOEXEC, 0)
}

func (s *stub) tgid() (int, error) {
	if s.tgidErr != nil {
		return 0, s.tgidErr
	}
	return int(self), nil
}

func (s *stub) valid() bool { return !s.gone }

// Where the stub's program keeps its arguments.
const (
	addrAt    = 0x1000 // a socket address
	msghdrAt  = 0x2000 // a struct msghdr
	controlAt = 0x3000 // its control data
	progFD    = 3      // the socket argument
)

// sockaddr is ap as a struct sockaddr of family.
func sockaddr(family uint16, ap string) []byte {
	var buf [SizeofSockaddrInet6]byte
	n, err := EncodeSockaddr(&buf, family, netip.MustParseAddrPort(ap))
	if err != nil {
		panic(err)
	}
	return buf[:n:n]
}

// msghdrBytes is a 64-bit struct msghdr naming name and control.
func msghdrBytes(name, namelen, control, controllen uint64) []byte {
	b := make([]byte, sizeofMsghdr)
	hostEndian.PutUint64(b[0:], name)
	hostEndian.PutUint32(b[8:], uint32(namelen))
	hostEndian.PutUint64(b[32:], control)
	hostEndian.PutUint64(b[40:], controllen)
	return b
}

// compatMsghdrBytes is a 32-bit struct msghdr naming name.
func compatMsghdrBytes(name, namelen uint32) []byte {
	b := make([]byte, sizeofCompatMsghdr)
	hostEndian.PutUint32(b[0:], name)
	hostEndian.PutUint32(b[4:], namelen)
	return b
}

// pktinfo is control data holding one IP_PKTINFO message with source spec.
func pktinfo(spec string) []byte {
	b := make([]byte, sizeofCmsghdr+sizeofInPktinfo)
	hostEndian.PutUint64(b[0:], uint64(len(b)))
	hostEndian.PutUint32(b[8:], solIP)
	hostEndian.PutUint32(b[12:], ipPktinfo)
	a := netip.MustParseAddr(spec).As4()
	copy(b[sizeofCmsghdr+4:], a[:])
	return b
}

// A socket factory makes a real socket of the test process.
type socketFunc func(t *testing.T) int

func newSocket(domain, typ int) socketFunc {
	return func(t *testing.T) int {
		t.Helper()
		fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("socket: %v", err)
		}
		t.Cleanup(func() { _ = unix.Close(fd) })
		return fd
	}
}

var (
	udp4  = newSocket(unix.AF_INET, unix.SOCK_DGRAM)
	tcp4  = newSocket(unix.AF_INET, unix.SOCK_STREAM)
	udp6  = newSocket(unix.AF_INET6, unix.SOCK_DGRAM)
	unixS = newSocket(unix.AF_UNIX, unix.SOCK_DGRAM)
)

// boundUDP4 is a UDP socket the program bound to 127.0.0.1 itself.
func boundUDP4(t *testing.T) int {
	fd := udp4(t)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// pipeFD is a descriptor that is no socket.
func pipeFD(t *testing.T) int {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(p[0]); _ = unix.Close(p[1]) })
	return p[0]
}

// isInet reports whether fd is an IPv4 or IPv6 socket.
func isInet(fd int) bool {
	_, _, err := boundState(fd)
	return err == nil
}

// local is the address a socket is bound to; the wildcard if unbound.
func local(t *testing.T, fd int) netip.Addr {
	t.Helper()
	var rsa unix.RawSockaddrAny
	n := uint32(unsafe.Sizeof(rsa))
	if _, _, errno := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatalf("getsockname: %v", errno)
	}
	sa, err := DecodeSockaddr(unsafe.Slice((*byte)(unsafe.Pointer(&rsa)), n))
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return sa.Addr.Addr()
}

func mustPolicy(connect []policy.ConnectRule, bind []policy.BindRule) *policy.Policy {
	p, err := policy.New(connect, bind)
	if err != nil {
		panic(err)
	}
	return p
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// The policies of the table: sources on lo, present in every network
// namespace whose lo is up, and one that no namespace of the test has.
var (
	// 10.1.0.0/16 binds 127.0.0.2, 2001:db8::/32 binds ::1; 10.2.0.0/16
	// is policy kernel; 10.3.0.0/16 binds an absent address, 10.4.0.0/16
	// too with on_error = "fail".
	connectPolicy = mustPolicy([]policy.ConnectRule{
		{Destination: netip.MustParsePrefix("10.1.0.0/16"), Sources: addrs("127.0.0.2"), Origin: "p:1"},
		{Destination: netip.MustParsePrefix("10.2.0.0/16"), Policy: policy.Kernel, Origin: "p:2"},
		{Destination: netip.MustParsePrefix("10.3.0.0/16"), Sources: addrs("192.0.2.77"), Origin: "p:3"},
		{Destination: netip.MustParsePrefix("10.4.0.0/16"), Sources: addrs("192.0.2.77"), OnError: policy.OnErrorFail, Origin: "p:4"},
		{Destination: netip.MustParsePrefix("2001:db8::/32"), Sources: addrs("::1"), Origin: "p:5"},
	}, nil)
	// The same, every rule with on_error = "fail".
	strictPolicy = mustPolicy([]policy.ConnectRule{
		{Destination: netip.MustParsePrefix("10.1.0.0/16"), Sources: addrs("127.0.0.2"), OnError: policy.OnErrorFail, Origin: "s:1"},
	}, nil)
	// TCP to 10.1.0.0/16 binds 127.0.0.3; UDP there is the kernel's.
	protoPolicy = mustPolicy([]policy.ConnectRule{
		{Destination: netip.MustParsePrefix("10.1.0.0/16"), Protocol: policy.TCP, Sources: addrs("127.0.0.3"), Origin: "t:1"},
		{Destination: netip.MustParsePrefix("10.1.0.0/16"), Protocol: policy.UDP, Policy: policy.Kernel, Origin: "t:2"},
	}, nil)
	// [[bind]] to ports 8000-8999 binds 127.0.0.4 (and ::1 for IPv6);
	// port 9000 is the kernel's; a connect rule makes port-0 binds defer.
	bindPolicy = mustPolicy([]policy.ConnectRule{
		{Destination: netip.MustParsePrefix("10.1.0.0/16"), Sources: addrs("127.0.0.2"), Origin: "b:1"},
	}, []policy.BindRule{
		{Ports: policy.PortRange{Lo: 8000, Hi: 8999}, Sources: addrs("127.0.0.4", "::1"), Origin: "b:2"},
		{Ports: policy.PortRange{Lo: 7000, Hi: 7999}, Sources: addrs("127.0.0.4"), OnError: policy.OnErrorFail, Origin: "b:3"},
		{Ports: policy.PortRange{Lo: 9000, Hi: 9000}, Policy: policy.Kernel, Origin: "b:4"},
	})
	keepPolicy = bindPolicy.WithOptions(policy.Options{KeepWildcardBinds: true})
)

// absent is p with none of its sources present on the host.
func absent(p *policy.Policy) *policy.Policy {
	q, err := p.WithEnv(policy.Env{Present: func() *policy.AddrSet { return policy.NewAddrSet() }})
	if err != nil {
		panic(err)
	}
	return q
}

func connectTo(ap string) (notify.Call, map[uint64][]byte) {
	family := uint16(AFInet)
	if netip.MustParseAddrPort(ap).Addr().Is6() {
		family = AFInet6
	}
	b := sockaddr(family, ap)
	return notify.Call{Op: notify.OpConnect, Fd: progFD, Addr: addrAt, AddrLen: uint64(len(b))},
		map[uint64][]byte{addrAt: b}
}

type handlerCase struct {
	name   string
	policy *policy.Policy
	call   notify.Call
	mem    map[uint64][]byte
	sock   socketFunc // the program's progFD; nil: none
	prog   stub       // its errors
	// callErr is the error of reading the call's arguments.
	callErr error

	want notify.Response
	// why is the reason the call was left alone; with ReasonNone and
	// a valid bound, the call was rewritten.
	why   Reason
	bound netip.Addr // the source the socket, or the bind's address, got
	// result is the debug log's words.
	result string
	// noPort: the socket has IP_BIND_ADDRESS_NO_PORT set afterwards.
	noPort bool
}

func handlerCases() []handlerCase {
	c4, m4 := connectTo("10.1.2.3:53")
	c6, m6 := connectTo("[2001:db8::5]:53")
	cMapped, mMapped := connectTo("[::ffff:10.1.2.3]:53")
	cKernel, mKernel := connectTo("10.2.0.1:53")
	cNoRule, mNoRule := connectTo("10.9.0.1:53")
	cAbsent, mAbsent := connectTo("10.3.0.1:53")
	cAbsentFail, mAbsentFail := connectTo("10.4.0.1:53")
	c6on4, m6on4 := connectTo("[2001:db8::5]:53")
	unixAddr := make([]byte, 110)
	hostEndian.PutUint16(unixAddr, unix.AF_UNIX)
	sendto := func(c notify.Call) notify.Call { c.Op = notify.OpSendto; return c }
	sendmsg := notify.Call{Op: notify.OpSendmsg, Fd: progFD, Addr: msghdrAt}
	msg := func(control []byte) map[uint64][]byte {
		m := map[uint64][]byte{addrAt: sockaddr(AFInet, "10.1.2.3:53"),
			msghdrAt: msghdrBytes(addrAt, SizeofSockaddrInet4, 0, 0)}
		if control != nil {
			m[msghdrAt] = msghdrBytes(addrAt, SizeofSockaddrInet4, controlAt, uint64(len(control)))
			m[controlAt] = control
		}
		return m
	}
	bindTo := func(ap string) (notify.Call, map[uint64][]byte) {
		c, m := connectTo(ap)
		c.Op = notify.OpBind
		return c, m
	}
	bWild, mWild := bindTo("0.0.0.0:8080")
	bWildFail, mWildFail := bindTo("0.0.0.0:7070")
	bWild6, mWild6 := bindTo("[::]:8080")
	bMapped, mBMapped := bindTo("[::ffff:0.0.0.0]:8080")
	bKernel, mBKernel := bindTo("0.0.0.0:9000")
	bNoRule, mBNoRule := bindTo("0.0.0.0:6000")
	bHost, mHost := bindTo("127.0.0.1:8080")
	bZero, mZero := bindTo("0.0.0.0:0")
	bZero6, mZero6 := bindTo("[::]:0")

	v4, v6 := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")
	return []handlerCase{
		// connect
		{name: "connect v4", policy: connectPolicy, call: c4, mem: m4, sock: udp4,
			want: notify.Continue(), bound: v4, result: "bound"},
		{name: "connect v6", policy: connectPolicy, call: c6, mem: m6, sock: udp6,
			want: notify.Continue(), bound: v6, result: "bound"},
		{name: "connect v4-mapped on a v6 socket", policy: connectPolicy, call: cMapped, mem: mMapped, sock: udp6,
			want: notify.Continue(), bound: netip.AddrFrom16(v4.As16()), result: "bound"},
		{name: "connect tcp", policy: connectPolicy, call: c4, mem: m4, sock: tcp4,
			want: notify.Continue(), bound: v4, result: "bound"},
		{name: "connect no rule", policy: connectPolicy, call: cNoRule, mem: mNoRule, sock: udp4,
			want: notify.Continue(), why: ReasonNoRule, result: "left alone: no rule"},
		{name: "connect policy kernel", policy: connectPolicy, call: cKernel, mem: mKernel, sock: udp4,
			want: notify.Continue(), why: ReasonPolicyKernel, result: "left alone: policy kernel"},
		{name: "connect socket bound by the program", policy: connectPolicy, call: c4, mem: m4, sock: boundUDP4,
			want: notify.Continue(), why: ReasonBoundByProgram, bound: netip.MustParseAddr("127.0.0.1"), result: "left alone: bound by the program"},
		{name: "connect v6 destination on a v4 socket", policy: connectPolicy, call: c6on4, mem: m6on4, sock: udp4,
			want: notify.Continue(), why: ReasonIPv6OnIPv4, result: "left alone: IPv6 destination on an IPv4 socket"},
		{name: "connect AF_UNIX", policy: connectPolicy, sock: unixS,
			call: notify.Call{Op: notify.OpConnect, Fd: progFD, Addr: addrAt, AddrLen: uint64(len(unixAddr))},
			mem:  map[uint64][]byte{addrAt: unixAddr},
			want: notify.Continue(), why: ReasonNotInet, result: "not an IPv4 or IPv6 address"},
		{name: "connect addrlen too short", policy: connectPolicy, sock: udp4,
			call: notify.Call{Op: notify.OpConnect, Fd: progFD, Addr: addrAt, AddrLen: 8}, mem: m4,
			want: notify.Continue(), why: ReasonNotInet, result: "not an IPv4 or IPv6 address"},
		{name: "connect address unmapped (EFAULT)", policy: connectPolicy, sock: udp4,
			call: notify.Call{Op: notify.OpConnect, Fd: progFD, Addr: 0xdead000, AddrLen: 16},
			want: notify.Continue(), why: ReasonUnreadable, result: "left alone: address unreadable, for the kernel to report"},
		{name: "connect caller gone (ESRCH)", policy: connectPolicy, call: c4, mem: m4, sock: udp4, prog: stub{readErr: unix.ESRCH},
			want: notify.Continue(), why: ReasonCallerGone, result: "left alone: the caller is gone"},
		{name: "connect read fails, no longer pending", policy: connectPolicy, call: c4, mem: m4, sock: udp4,
			prog: stub{readErr: unix.ENOMEM, gone: true},
			want: notify.Continue(), why: ReasonCallerGone, result: "left alone: the caller is gone"},
		// The privilege check: a program that made itself non-dumpable
		// denies an unprivileged supervisor its memory (EPERM).
		{name: "connect unreadable (EPERM), on_error continue", policy: protoPolicy, call: c4, mem: m4, sock: udp4,
			prog: stub{readErr: unix.EPERM},
			want: notify.Continue(), why: ReasonReadFailed, result: "left alone: read the address: operation not permitted"},
		{name: "connect unreadable (EPERM), a rule says fail", policy: strictPolicy, call: c4, mem: m4, sock: udp4,
			prog: stub{readErr: unix.EPERM},
			want: notify.Fail(unix.EPERM), result: "failed: operation not permitted"},
		{name: "connect not a descriptor", policy: connectPolicy, call: c4, mem: m4,
			want: notify.Continue(), why: ReasonNotInetSocket, result: "left alone: not an IPv4 or IPv6 socket"},
		{name: "connect not a socket", policy: connectPolicy, call: c4, mem: m4, sock: pipeFD,
			want: notify.Continue(), why: ReasonNotInetSocket, result: "left alone: not an IPv4 or IPv6 socket"},
		{name: "connect AF_UNIX socket", policy: connectPolicy, call: c4, mem: m4, sock: unixS,
			want: notify.Continue(), why: ReasonNotInetSocket, result: "left alone: not an IPv4 or IPv6 socket"},
		{name: "connect get socket, not pending", policy: connectPolicy, call: c4, mem: m4, sock: udp4,
			prog: stub{getFDErr: notify.ErrNotPending},
			want: notify.Continue(), why: ReasonCallerGone, result: "left alone: the caller is gone"},
		{name: "connect get socket fails (EMFILE)", policy: connectPolicy, call: c4, mem: m4, sock: udp4,
			prog: stub{getFDErr: unix.EMFILE},
			want: notify.Continue(), why: ReasonRewriteFailed, result: "left alone: get the socket: too many open files"},
		{name: "connect get socket fails (EMFILE), on_error fail", policy: strictPolicy, call: c4, mem: m4, sock: udp4,
			prog: stub{getFDErr: unix.EMFILE},
			want: notify.Fail(unix.EMFILE), result: "failed: too many open files"},
		{name: "connect find the process fails", policy: connectPolicy, call: c4, mem: m4, sock: udp4,
			prog: stub{tgidErr: fmt.Errorf("find process of thread 1: %w", unix.ENOENT)},
			want: notify.Continue(), why: ReasonRewriteFailed, result: "left alone: find the process: no such file or directory"},
		{name: "connect find the process fails, on_error fail", policy: strictPolicy, call: c4, mem: m4, sock: udp4,
			prog: stub{tgidErr: errors.New("no Tgid")},
			want: notify.Fail(unix.EINVAL), result: "failed: invalid argument"},
		{name: "connect no source present", policy: absent(connectPolicy), call: c4, mem: m4, sock: udp4,
			want: notify.Continue(), why: ReasonNoSourcePresent, result: "left alone: no source of the rule is present"},
		{name: "connect no source present, on_error fail", policy: absent(strictPolicy), call: c4, mem: m4, sock: udp4,
			want: notify.Fail(unix.EADDRNOTAVAIL), result: "failed: cannot assign requested address"},
		// The source is not an address of the socket's network namespace.
		{name: "connect bind fails", policy: connectPolicy, call: cAbsent, mem: mAbsent, sock: udp4,
			want: notify.Continue(), why: ReasonBindFailed, noPort: true, result: "left alone: bind failed: cannot assign requested address"},
		{name: "connect bind fails, on_error fail", policy: connectPolicy, call: cAbsentFail, mem: mAbsentFail, sock: udp4,
			want: notify.Fail(unix.EADDRNOTAVAIL), noPort: true, result: "failed: cannot assign requested address"},
		{name: "connect tcp rule, tcp socket", policy: protoPolicy, call: c4, mem: m4, sock: tcp4,
			want: notify.Continue(), bound: netip.MustParseAddr("127.0.0.3"), result: "bound"},
		{name: "connect tcp rule, udp socket", policy: protoPolicy, call: c4, mem: m4, sock: udp4,
			want: notify.Continue(), why: ReasonPolicyKernel, result: "left alone: policy kernel"},
		{name: "connect tcp rule, no rule binds", policy: protoPolicy, call: cNoRule, mem: mNoRule, sock: tcp4,
			want: notify.Continue(), why: ReasonNoRule, result: "left alone: no rule"},
		{name: "connect tcp rule, get socket fails", policy: protoPolicy, call: c4, mem: m4, sock: tcp4,
			prog: stub{getFDErr: unix.ENOMEM},
			want: notify.Continue(), why: ReasonRewriteFailed, result: "left alone: get the socket: cannot allocate memory"},
		// unreadable arguments (i386 socketcall)
		{name: "arguments unreadable", policy: protoPolicy, callErr: fmt.Errorf("read socketcall arguments: %w", unix.EPERM),
			want: notify.Continue(), why: ReasonReadFailed},
		{name: "arguments unreadable, a rule says fail", policy: strictPolicy, callErr: fmt.Errorf("read socketcall arguments: %w", unix.EPERM),
			want: notify.Fail(unix.EPERM)},
		{name: "not a call of vipa-exec's", policy: connectPolicy, call: notify.Call{Op: notify.OpNone},
			want: notify.Continue()},

		// sendto
		{name: "sendto", policy: connectPolicy, call: sendto(c4), mem: m4, sock: udp4,
			want: notify.Continue(), bound: v4, result: "bound"},
		{name: "sendto without destination", policy: connectPolicy, call: notify.Call{Op: notify.OpSendto, Fd: progFD}, sock: udp4,
			want: notify.Continue(), why: ReasonNoDestination, result: "left alone: no destination"},

		// sendmsg, sendmmsg
		{name: "sendmsg", policy: connectPolicy, call: sendmsg, mem: msg(nil), sock: udp4,
			want: notify.Continue(), bound: v4, result: "bound"},
		{name: "sendmsg with a PKTINFO source", policy: connectPolicy, call: sendmsg, mem: msg(pktinfo("127.0.0.9")), sock: udp4,
			want: notify.Continue(), why: ReasonPktinfo, result: "left alone: source set by PKTINFO"},
		{name: "sendmsg with a wildcard PKTINFO", policy: connectPolicy, call: sendmsg, mem: msg(pktinfo("0.0.0.0")), sock: udp4,
			want: notify.Continue(), bound: v4, result: "bound"},
		{name: "sendmsg without destination", policy: connectPolicy, call: sendmsg, sock: udp4,
			mem:  map[uint64][]byte{msghdrAt: msghdrBytes(0, 0, 0, 0)},
			want: notify.Continue(), why: ReasonNoDestination, result: "left alone: no destination"},
		{name: "sendmsg NULL msghdr", policy: connectPolicy, call: notify.Call{Op: notify.OpSendmsg, Fd: progFD}, sock: udp4,
			want: notify.Continue(), result: "left alone"},
		{name: "sendmsg msghdr unmapped", policy: connectPolicy, call: sendmsg, sock: udp4,
			want: notify.Continue(), why: ReasonUnreadable, result: "left alone: address unreadable, for the kernel to report"},
		{name: "sendmsg 32-bit", policy: connectPolicy, sock: udp4,
			call: notify.Call{Op: notify.OpSendmsg, Fd: progFD, Addr: msghdrAt, Compat: true},
			mem:  map[uint64][]byte{addrAt: m4[addrAt], msghdrAt: compatMsghdrBytes(addrAt, SizeofSockaddrInet4)},
			want: notify.Continue(), bound: v4, result: "bound"},
		{name: "sendmmsg", policy: connectPolicy, call: notify.Call{Op: notify.OpSendmmsg, Fd: progFD, Addr: msghdrAt, AddrLen: 2},
			mem: msg(nil), sock: udp4, want: notify.Continue(), bound: v4, result: "bound"},
		{name: "sendmmsg of no message", policy: connectPolicy, call: notify.Call{Op: notify.OpSendmmsg, Fd: progFD, Addr: msghdrAt},
			mem: msg(nil), sock: udp4, want: notify.Continue(), why: ReasonNoMessage, result: "left alone: no message"},

		// bind
		{name: "bind wildcard", policy: bindPolicy, call: bWild, mem: mWild, sock: udp4,
			want: notify.Continue(), bound: netip.MustParseAddr("127.0.0.4"), result: "bound"},
		{name: "bind v6 wildcard", policy: bindPolicy, call: bWild6, mem: mWild6, sock: udp6,
			want: notify.Continue(), bound: v6, result: "bound"},
		{name: "bind v4-mapped wildcard", policy: bindPolicy, call: bMapped, mem: mBMapped, sock: udp6,
			want: notify.Continue(), bound: netip.AddrFrom16(netip.MustParseAddr("127.0.0.4").As16()), result: "bound"},
		{name: "bind not the wildcard", policy: bindPolicy, call: bHost, mem: mHost, sock: udp4,
			want: notify.Continue(), why: ReasonNotWildcard, result: "left alone: not the wildcard address"},
		{name: "bind policy kernel", policy: bindPolicy, call: bKernel, mem: mBKernel, sock: udp4,
			want: notify.Continue(), why: ReasonPolicyKernel, result: "left alone: policy kernel"},
		{name: "bind no rule", policy: bindPolicy, call: bNoRule, mem: mBNoRule, sock: udp4,
			want: notify.Continue(), why: ReasonNoRule, result: "left alone: no rule"},
		{name: "bind family mismatch", policy: bindPolicy, call: bWild6, mem: mWild6, sock: udp4,
			want: notify.Continue(), why: ReasonFamilyMismatch, result: "left alone: address family differs from the socket's"},
		{name: "bind unreadable", policy: bindPolicy, call: bWild, sock: udp4,
			want: notify.Continue(), why: ReasonUnreadable, result: "left alone: address unreadable, for the kernel to report"},
		{name: "bind get socket fails", policy: bindPolicy, call: bWild, mem: mWild, sock: udp4, prog: stub{getFDErr: unix.ENFILE},
			want: notify.Continue(), why: ReasonRewriteFailed, result: "left alone: get the socket: too many open files in system"},
		{name: "bind find the process fails", policy: bindPolicy, call: bWild, mem: mWild, sock: udp4, prog: stub{tgidErr: unix.ENOENT},
			want: notify.Continue(), why: ReasonRewriteFailed, result: "left alone: find the process: no such file or directory"},
		{name: "bind no source present", policy: absent(bindPolicy), call: bWild, mem: mWild, sock: udp4,
			want: notify.Continue(), why: ReasonNoSourcePresent, result: "left alone: no source of the rule is present"},
		{name: "bind write fails", policy: bindPolicy, call: bWild, mem: mWild, sock: udp4, prog: stub{writeErr: unix.EFAULT},
			want: notify.Continue(), why: ReasonRewriteFailed, result: "left alone: write the address: bad address"},
		{name: "bind write fails, on_error fail", policy: bindPolicy, call: bWildFail, mem: mWildFail, sock: udp4, prog: stub{writeErr: unix.EFAULT},
			want: notify.Fail(unix.EFAULT), result: "failed: bad address"},
		{name: "bind write, not pending", policy: bindPolicy, call: bWild, mem: mWild, sock: udp4, prog: stub{writeErr: notify.ErrNotPending},
			want: notify.Continue(), why: ReasonCallerGone, result: "left alone: the caller is gone"},

		// defer_wildcard_binds
		{name: "bind to port 0 deferred", policy: bindPolicy, call: bZero, mem: mZero, sock: udp4,
			want: notify.Continue(), why: ReasonDeferred, noPort: true, result: "deferred: wildcard bind to port 0, source and port chosen at connect"},
		{name: "bind v6 to port 0 deferred", policy: bindPolicy, call: bZero6, mem: mZero6, sock: tcp6,
			want: notify.Continue(), why: ReasonDeferred, noPort: true, result: "deferred: wildcard bind to port 0, source and port chosen at connect"},
		{name: "bind to port 0 kept", policy: keepPolicy, call: bZero, mem: mZero, sock: udp4,
			want: notify.Continue(), why: ReasonNoRule, result: "left alone: no rule"},
		{name: "bind to port 0, bound already", policy: bindPolicy, call: bZero, mem: mZero, sock: boundUDP4,
			want: notify.Continue(), why: ReasonBoundAlready, bound: netip.MustParseAddr("127.0.0.1"), result: "left alone: bound already"},
		{name: "bind to port 0, family mismatch", policy: bindPolicy, call: bZero6, mem: mZero6, sock: udp4,
			want: notify.Continue(), why: ReasonFamilyMismatch, result: "left alone: address family differs from the socket's"},
		{name: "bind to port 0, get socket fails", policy: bindPolicy, call: bZero, mem: mZero, sock: udp4, prog: stub{getFDErr: unix.EMFILE},
			want: notify.Continue(), why: ReasonWildcardNotDeferred, result: "left alone: wildcard bind not deferred: too many open files"},
	}
}

var tcp6 = newSocket(unix.AF_INET6, unix.SOCK_STREAM)

// decisionLog collects the debug log's decision lines.
type decisionLog struct{ buf bytes.Buffer }

func (l *decisionLog) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(&l.buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// records returns the log's records of level.
func (l *decisionLog) records(t *testing.T, level string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["level"] == level {
			out = append(out, rec)
		}
	}
	return out
}

// TestHandle drives the handler's decisions from synthetic calls: the
// program's memory is the stub's, its socket a real one of the test.
func TestHandle(t *testing.T) {
	for _, tt := range handlerCases() {
		t.Run(tt.name, func(t *testing.T) {
			prog := tt.prog
			prog.regions = map[uint64][]byte{}
			for a, b := range tt.mem {
				prog.regions[a] = bytes.Clone(b)
			}
			var sock int
			if tt.sock != nil {
				sock = tt.sock(t)
				prog.fds = map[int]int{progFD: sock}
			}
			var log decisionLog
			h := NewHandler(tt.policy, log.logger())

			got := h.handle(program{stub: &prog}, tt.call, tt.callErr)
			if got != tt.want {
				t.Errorf("response = %+v, want %+v", got, tt.want)
			}

			// The kernel's view of the socket, or the address the
			// program's bind will use.
			switch {
			case tt.call.Op == notify.OpBind && tt.sock != nil && tt.why == ReasonNone && tt.want.Continue:
				sa, err := DecodeSockaddr(prog.regions[addrAt])
				if err != nil {
					t.Fatal(err)
				}
				orig, _ := DecodeSockaddr(tt.mem[addrAt])
				if sa.Addr.Addr() != tt.bound || sa.Addr.Port() != orig.Addr.Port() || sa.Family != orig.Family {
					t.Errorf("the program's address is now %v (family %d), want %v port %d (family %d)",
						sa.Addr, sa.Family, tt.bound, orig.Addr.Port(), orig.Family)
				}
				if l := local(t, sock); !l.IsUnspecified() {
					t.Errorf("the supervisor bound the program's socket to %v: the kernel binds it, as the program", l)
				}
			case tt.sock != nil && isInet(sock):
				want := tt.bound
				if !want.IsValid() {
					want = netip.IPv4Unspecified()
					if local(t, sock).Is6() {
						want = netip.IPv6Unspecified()
					}
				}
				if l := local(t, sock); l != want {
					t.Errorf("socket bound to %v, want %v", l, want)
				}
				if got, err := unix.GetsockoptInt(sock, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT); err != nil {
					t.Errorf("getsockopt IP_BIND_ADDRESS_NO_PORT: %v", err)
				} else if (got != 0) != (tt.noPort || tt.why == ReasonNone && tt.bound.IsValid()) {
					t.Errorf("IP_BIND_ADDRESS_NO_PORT = %d, noPort %v", got, tt.noPort)
				}
			}

			// The counters.
			s := h.Stats()
			want := Snapshot{Calls: map[string]uint64{}, LeftAlone: map[string]uint64{}}
			for op := notify.OpConnect; op < notify.NumOps; op++ {
				want.Calls[op.String()] = 0
			}
			for r := range NumReasons {
				want.LeftAlone[r.String()] = 0
			}
			switch {
			case tt.call.Op == notify.OpNone || tt.callErr != nil:
				// No call of a kind the counters know.
			case tt.want.Errno != 0:
				want.Failed = 1
			case tt.why != ReasonNone:
				want.LeftAlone[tt.why.String()] = 1
			case tt.bound.IsValid():
				want.Bound = 1
				// The rule's source, which a v6 socket binds v4-mapped.
				want.PerSource = []SourceCount{{Rule: originOf(tt), Source: tt.bound.Unmap(), Count: 1}}
			default:
				want.LeftAlone[ReasonNone.String()] = 1
			}
			if tt.call.Op != notify.OpNone && tt.callErr == nil {
				want.Calls[tt.call.Op.String()] = 1
			}
			if d := testutil.Diff(want, s); d != "" {
				t.Errorf("counters (-want +got):\n%s", d)
			}

			// The debug log.
			if tt.result != "" {
				recs := log.records(t, "DEBUG")
				if len(recs) != 1 {
					t.Fatalf("%d decision lines, want 1:\n%s", len(recs), log.buf.String())
				}
				if recs[0]["result"] != tt.result {
					t.Errorf("decision result %q, want %q", recs[0]["result"], tt.result)
				}
			}
		})
	}
}

// originOf is the origin of the rule that bound in a case with a source.
func originOf(tt handlerCase) string {
	var m policy.Match
	var ok bool
	if tt.call.Op == notify.OpBind {
		sa, _ := DecodeSockaddr(tt.mem[addrAt])
		m, ok = tt.policy.MatchBind(sa.Family == AFInet6 && !sa.Addr.Addr().Is4In6(), sa.Addr.Port())
	} else {
		b := tt.mem[addrAt]
		sa, _ := DecodeSockaddr(b)
		proto := policy.AnyProtocol
		if tt.policy.UsesProtocol() {
			proto = policy.TCP
		}
		m, ok = tt.policy.MatchConnect(netip.AddrPortFrom(sa.Dest(), sa.Addr.Port()), proto)
	}
	if !ok {
		return ""
	}
	return m.Origin()
}

// TestHandleForeignNetns: the supervisor binds the program's socket in the
// program's network namespace, not its own. A source present only where
// the program runs is bound; one absent there fails as on_error says, even
// when the supervisor's namespace has it.
func TestHandleForeignNetns(t *testing.T) {
	with, without := testutil.NewNetNS(t), testutil.NewNetNS(t)
	with.AddAddr(t, "10.99.0.1/32")
	pol := mustPolicy([]policy.ConnectRule{
		{Destination: netip.MustParsePrefix("10.1.0.0/16"), Sources: addrs("10.99.0.1"), Origin: "n:1"},
		{Destination: netip.MustParsePrefix("10.2.0.0/16"), Sources: addrs("10.99.0.1"), OnError: policy.OnErrorFail, Origin: "n:2"},
	}, nil)
	socketIn := func(ns *testutil.NetNS) int {
		var fd int
		ns.Do(t, func() (err error) {
			fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			return err
		})
		t.Cleanup(func() { _ = unix.Close(fd) })
		return fd
	}
	tests := []struct {
		name  string
		ns    *testutil.NetNS
		dst   string
		want  notify.Response
		bound netip.Addr
		why   Reason
	}{
		{name: "source present in the program's netns", ns: with, dst: "10.1.0.1:53",
			want: notify.Continue(), bound: netip.MustParseAddr("10.99.0.1")},
		{name: "source absent from the program's netns", ns: without, dst: "10.1.0.1:53",
			want: notify.Continue(), bound: netip.IPv4Unspecified(), why: ReasonBindFailed},
		{name: "source absent, on_error fail", ns: without, dst: "10.2.0.1:53",
			want: notify.Fail(unix.EADDRNOTAVAIL), bound: netip.IPv4Unspecified()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := socketIn(tt.ns)
			c, mem := connectTo(tt.dst)
			h := NewHandler(pol, slog.New(slog.DiscardHandler))
			prog := &stub{regions: mem, fds: map[int]int{progFD: sock}}
			if got := h.handle(program{stub: prog}, c, nil); got != tt.want {
				t.Errorf("response = %+v, want %+v", got, tt.want)
			}
			if l := local(t, sock); l != tt.bound {
				t.Errorf("socket bound to %v, want %v", l, tt.bound)
			}
			if n := h.Stats().LeftAlone[tt.why.String()]; tt.why != ReasonNone && n != 1 {
				t.Errorf("left_alone %s = %d, want 1", tt.why, n)
			}
		})
	}
}

// TestHandleWarnsOnce: a failure the program does not cause is warned
// about once per step and errno, whatever the number of calls.
func TestHandleWarnsOnce(t *testing.T) {
	var log decisionLog
	h := NewHandler(connectPolicy, log.logger())
	c, mem := connectTo("10.1.2.3:53")
	for _, errno := range []unix.Errno{unix.EMFILE, unix.EMFILE, unix.ENOMEM, unix.EMFILE} {
		prog := &stub{regions: mem, getFDErr: errno}
		h.handle(program{stub: prog}, c, nil)
	}
	cAbsent, mAbsent := connectTo("10.3.0.1:53")
	for range 3 {
		sock := udp4(t)
		h.handle(program{stub: &stub{regions: mAbsent, fds: map[int]int{progFD: sock}}}, cAbsent, nil)
	}
	var got []string
	for _, rec := range log.records(t, "WARN") {
		got = append(got, fmt.Sprint(rec["step"], " ", rec["err"], " ", rec["source"]))
	}
	want := []string{
		"get the socket get fd 3 of pid " + fmt.Sprint(os.Getpid()) + ": too many open files <nil>",
		"get the socket get fd 3 of pid " + fmt.Sprint(os.Getpid()) + ": cannot allocate memory <nil>",
		"<nil> cannot assign requested address 192.0.2.77",
	}
	if d := testutil.Diff(want, got); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
}

// BenchmarkHandle is the decision path of one connect, from the call's
// arguments to the bound socket, without the kernel's notification: the
// stub's memory read costs a copy where the kernel's costs a syscall.
func BenchmarkHandle(b *testing.B) {
	h := NewHandler(connectPolicy, slog.New(slog.DiscardHandler))
	c, mem := connectTo("10.1.2.3:53")
	cNoRule, memNoRule := connectTo("10.9.0.1:53")
	b.Run("no rule", func(b *testing.B) {
		prog := program{stub: &stub{regions: memNoRule}}
		b.ReportAllocs()
		for b.Loop() {
			h.handle(prog, cNoRule, nil)
		}
	})
	b.Run("bound by the program", func(b *testing.B) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = unix.Close(fd) }()
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			b.Fatal(err)
		}
		prog := program{stub: &stub{regions: mem, fds: map[int]int{progFD: fd}}}
		b.ReportAllocs()
		for b.Loop() {
			h.handle(prog, c, nil)
		}
	})
}
