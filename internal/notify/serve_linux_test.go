//go:build linux

package notify

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// serveChild serves c's listener with h on workers threads in the
// background; the returned function waits for Serve to return, which it
// must once the child has exited.
func serveChild(t *testing.T, c *FilteredChild, h Handler, workers int) (wait func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- Serve(c.L, h, workers) }()
	return func() {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Serve did not return after the last filtered process exited")
		}
	}
}

// refuse answers every trapped connect with ENETDOWN, an errno the child's
// UDP connects to 127.0.0.1 never get from the kernel: each one counted
// came from the supervisor.
var refuse handlerFunc = func(r *Request) Response {
	if c, err := r.Call(); err != nil || c.Op != OpConnect {
		return Fail(unix.EPROTO)
	}
	return Fail(unix.ENETDOWN)
}

// handlerFunc adapts a function to Handler.
type handlerFunc func(r *Request) Response

func (f handlerFunc) Handle(r *Request) Response { return f(r) }

var loopback9 = netipAddrPort("127.0.0.1:9")

// TestServeBefore66 serves real notifications the way a kernel before 6.6
// makes Serve do it (no synchronous wake-up: poll the listener, then RECV),
// on whatever kernel runs the test, and sees Serve end with the child.
func TestServeBefore66(t *testing.T) {
	before66 = true
	t.Cleanup(func() { before66 = false })
	for _, workers := range []int{1, 2, 4} {
		c := StartFilteredChild(t, loopback9)
		if err := c.L.SetSyncWakeUp(); err == nil || c.L.SyncWakeUp() {
			t.Fatalf("SetSyncWakeUp with the pre-6.6 seam: %v, SyncWakeUp %v; want ErrNotSupported, false", err, c.L.SyncWakeUp())
		}
		wait := serveChild(t, c, refuse, workers)
		const n = 300
		got := c.Run(t, n)
		wait()
		if d := testutil.Diff(map[unix.Errno]int{unix.ENETDOWN: n}, got.Errnos); d != "" {
			t.Errorf("%d workers: the child's connects (-want +got):\n%s", workers, d)
		}
	}
}

// TestServeOneWaiter: with several workers, one at a time waits for a
// notification, so a worker is woken only for a notification it receives
// (empty wake-ups, counted as the sleeps in the wait that did not end in
// one). Were every worker to wait, each notification would wake them all.
func TestServeOneWaiter(t *testing.T) {
	for _, tt := range []struct {
		name     string
		before66 bool
	}{{"sync wake-up", false}, {"before 6.6", true}} {
		t.Run(tt.name, func(t *testing.T) {
			before66 = tt.before66
			wakeups = &wakeupCounter{}
			t.Cleanup(func() { before66, wakeups = false, nil })
			c := StartFilteredChild(t, loopback9)
			if err := c.L.SetSyncWakeUp(); (err == nil) == tt.before66 {
				t.Fatalf("SetSyncWakeUp: %v", err)
			}
			wait := serveChild(t, c, refuse, 2)
			const n = 500
			got := c.Run(t, n)
			wait()
			if got.Errnos[unix.ENETDOWN] != n {
				t.Fatalf("the child's connects: %v, want %d ENETDOWN", got.Errnos, n)
			}
			received, empty := wakeups.received.Load(), wakeups.empty.Load()
			t.Logf("%d notifications received, %d empty wake-ups (%.2f per notification)", received, empty, float64(empty)/float64(received))
			if received != n {
				t.Errorf("%d notifications received, want %d", received, n)
			}
			// A stray wake-up (a signal) may happen; one per notification
			// is what every worker waiting in RECV costs.
			if empty > n/10 {
				t.Errorf("%d empty wake-ups for %d notifications: more than one worker waits", empty, n)
			}
		})
	}
}

// TestLeadership: the futex lock lets one holder in at a time, and every
// waiter in eventually, on threads locked as the workers' are.
func TestLeadership(t *testing.T) {
	var (
		l      leadership
		inside atomic.Int32
		total  int
		wg     sync.WaitGroup
	)
	const threads, rounds = 4, 2000
	for range threads {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for range rounds {
				l.lock()
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders at once", n)
				}
				total++
				inside.Add(-1)
				l.unlock()
			}
		})
	}
	wg.Wait()
	if total != threads*rounds || l.state.Load() != 0 {
		t.Errorf("%d rounds, state %d; want %d, 0", total, l.state.Load(), threads*rounds)
	}
}
