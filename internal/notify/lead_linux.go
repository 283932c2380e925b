//go:build linux

package notify

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// leadership is the role of the one worker that waits for the next
// notification: a lock whose waiters sleep in futex(2) itself, not in the
// Go scheduler. The workers are locked to their threads, and a sync.Mutex
// would park a locked goroutine: its hand-off then takes the scheduler's
// detour (the woken goroutine queued on the waker's P, stolen by a spinning
// thread, handed to its own thread), two thread wake-ups where one futex
// wake does. The algorithm is Drepper's "Futexes Are Tricky" mutex 2.
type leadership struct {
	state atomic.Uint32 // 0 free, 1 taken, 2 taken and maybe waited for
}

func (l *leadership) lock() {
	if l.state.CompareAndSwap(0, 1) {
		return
	}
	c := l.state.Load()
	if c != 2 {
		c = l.state.Swap(2)
	}
	for c != 0 {
		// Blocking: Syscall, so the thread's P serves others meanwhile.
		// EAGAIN (the state changed first) and EINTR: the loop looks again.
		_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&l.state)), futexWait|futexPrivateFlag, 2, 0, 0, 0)
		c = l.state.Swap(2)
	}
}

func (l *leadership) unlock() {
	if l.state.Add(^uint32(0)) != 0 { // was 2: someone may wait
		l.state.Store(0)
		_, _, _ = unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&l.state)), futexWake|futexPrivateFlag, 1, 0, 0, 0)
	}
}
