package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// WaitTimeout bounds every wait in this package. It is a liveness bound
// (something hung), never a performance assertion.
const WaitTimeout = 60 * time.Second

// Recorder accepts connections and records the peer address of each, the
// source address that reached the server. Each connection is answered with a
// minimal HTTP/1.0 response whose body is that peer address and a newline,
// so that wget and curl succeed and can print it; clients that close at once
// are fine too. Safe for concurrent use.
type Recorder struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen []netip.AddrPort
	more chan struct{} // closed and replaced on every new connection
}

// NewRecorder serves ln until tb's cleanup, which closes ln and waits for
// the connections in flight.
func NewRecorder(tb testing.TB, ln net.Listener) *Recorder {
	r := &Recorder{ln: ln, more: make(chan struct{})}
	r.wg.Add(1)
	go r.serve()
	tb.Cleanup(func() {
		_ = ln.Close()
		r.wg.Wait()
	})
	return r
}

// Addr is the address the recorder listens on.
func (r *Recorder) Addr() netip.AddrPort {
	return r.ln.Addr().(*net.TCPAddr).AddrPort()
}

func (r *Recorder) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient accept errors (EMFILE, ECONNABORTED) must not stop
			// recording; the client sees its own failure.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		peer := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		r.record(peer)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			answer(c, peer)
		}()
	}
}

func (r *Recorder) record(peer netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, peer)
	close(r.more)
	r.more = make(chan struct{})
}

// answer reads the request head (if any) and replies; errors only mean the
// client went away first, which connect-and-close clients do.
func answer(c net.Conn, peer netip.AddrPort) {
	defer func() { _ = c.Close() }()
	if c.SetDeadline(time.Now().Add(10*time.Second)) != nil {
		return
	}
	var head []byte
	buf := make([]byte, 1024)
	for !bytes.Contains(head, []byte("\r\n\r\n")) && len(head) < 16<<10 {
		n, err := c.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return
		}
	}
	body := peer.String() + "\n"
	fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

// Count is the number of connections accepted so far.
func (r *Recorder) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// Peers returns the peer address of every connection so far, in accept
// order. IPv4-mapped IPv6 peers are unmapped.
func (r *Recorder) Peers() []netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]netip.AddrPort(nil), r.seen...)
}

// Sources counts connections by source address.
func (r *Recorder) Sources() map[netip.Addr]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[netip.Addr]int)
	for _, ap := range r.seen {
		m[ap.Addr()]++
	}
	return m
}

// Reset forgets the connections recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = nil
}

// Wait blocks until at least n connections were recorded, and fails the test
// after [WaitTimeout].
func (r *Recorder) Wait(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got, more := len(r.seen), r.more
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-more:
		case <-deadline.C:
			tb.Fatalf("recorder %v: %d connections after %v, want %d", r.Addr(), got, WaitTimeout, n)
		}
	}
}
