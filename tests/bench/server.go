//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

var osPid = os.Getpid()

// backlog is far above what a 10,000-connection burst can queue: a full
// accept queue drops SYNs, and a dropped SYN costs the client a one-second
// retransmit that would swamp everything measured.
const backlog = 65535

// server accepts connections and serves each in a goroutine the way the
// issue describes a server: read until EOF, then close.
type server struct {
	ln       net.Listener
	accepted atomic.Int64
	done     chan struct{} // closed when the accept loop has returned

	mu      sync.Mutex
	conns   map[net.Conn]struct{} // open, still waiting for EOF
	sources map[netip.Addr]int
}

func serve(ln net.Listener) *server {
	s := &server{ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}, sources: map[netip.Addr]int{}}
	go s.acceptLoop()
	return s
}

func (s *server) acceptLoop() {
	defer close(s.done)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // the listener was closed
		}
		var src netip.Addr
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			src = a.AddrPort().Addr().Unmap()
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.sources[src]++
		s.mu.Unlock()
		s.accepted.Add(1)
		go s.handle(c)
	}
}

func (s *server) handle(c net.Conn) {
	_, _ = io.Copy(io.Discard, c) // EOF, or ECONNRESET in the linger cases
	_ = c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// waitAccepted waits until n connections were accepted, or until none has
// been for idle.
func (s *server) waitAccepted(ctx context.Context, n int64, idle time.Duration) {
	last, since := s.accepted.Load(), time.Now()
	for last < n && time.Since(since) < idle && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
		if now := s.accepted.Load(); now != last {
			last, since = now, time.Now()
		}
	}
}

// close stops accepting, gives the open connections up to grace to see EOF,
// closes those that did not, and returns the sources seen and how many
// connections had to be closed by force.
func (s *server) close(grace time.Duration) (sources map[netip.Addr]int, forced int) {
	_ = s.ln.Close()
	<-s.done
	deadline := time.Now().Add(grace)
	for {
		s.mu.Lock()
		open := len(s.conns)
		s.mu.Unlock()
		if open == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
		forced++
	}
	return s.sources, forced
}

// listenTCP makes the listening socket inside the namespace and serves it
// from this process: sockets stay in the namespace they were made in,
// whichever thread later uses them.
func (ns *netNS) listenTCP(addr netip.AddrPort) (*server, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the goroutine returns with its thread still in
		// the namespace, and the runtime then ends that thread instead of
		// handing it to other goroutines.
		runtime.LockOSThread()
		ln, err := ns.listenHere(addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, fmt.Errorf("listen on %s in netns %s: %w", addr, ns.name, r.err)
	}
	return serve(r.ln), nil
}

// listenHere must run on a locked thread it may move to another namespace.
func (ns *netNS) listenHere(addr netip.AddrPort) (net.Listener, error) {
	nsFD, err := unix.Open(ns.path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open netns: %w", err)
	}
	err = unix.Setns(nsFD, unix.CLONE_NEWNET)
	_ = unix.Close(nsFD)
	if err != nil {
		return nil, fmt.Errorf("setns: %w", err)
	}
	// listen() clamps the backlog to the namespace's own somaxconn, and
	// /proc/sys/net shows the namespace of the thread that opens it.
	if err := os.WriteFile("/proc/sys/net/core/somaxconn", []byte(strconv.Itoa(backlog)), 0); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer func() { _ = f.Close() }() // FileListener holds its own duplicate
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return nil, fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return net.FileListener(f)
}

func listenUnix(path string) (*server, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	return serve(ln), nil
}
