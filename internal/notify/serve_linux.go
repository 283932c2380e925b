//go:build linux

package notify

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Handler decides what becomes of one trapped call. It runs on several
// threads at once and must answer every request: whatever it returns is
// sent, and a panic is answered with Continue.
type Handler interface {
	Handle(r *Request) Response
}

// Response is the answer to a notification.
type Response struct {
	// Continue lets the kernel run the original syscall. Otherwise the
	// caller sees Errno (if non-zero) or the return value Val.
	Continue bool
	Val      int64
	Errno    unix.Errno
}

// Continue is the answer that changes nothing.
func Continue() Response { return Response{Continue: true} }

// Return answers val in place of running the syscall.
func Return(val int64) Response { return Response{Val: val} }

// Fail answers -errno in place of running the syscall.
func Fail(errno unix.Errno) Response { return Response{Errno: errno} }

// Request is one trapped call, valid only during Handle.
type Request struct {
	Notif
	l *Listener
	w *worker
}

// ReadMem copies len(buf) bytes at addr in the calling process into buf.
func (r *Request) ReadMem(addr uint64, buf []byte) error {
	local := unix.Iovec{Base: unsafe.SliceData(buf)}
	local.SetLen(len(buf))
	remote := unix.RemoteIovec{Base: uintptr(addr), Len: len(buf)}
	// Not RawSyscall: a page of the caller's may have to be faulted in.
	n, _, errno := unix.Syscall6(unix.SYS_PROCESS_VM_READV, uintptr(r.Pid),
		uintptr(unsafe.Pointer(&local)), 1, uintptr(unsafe.Pointer(&remote)), 1, 0)
	if errno != 0 {
		return fmt.Errorf("read memory of pid %d: %w", r.Pid, errno)
	}
	if int(n) != len(buf) {
		return fmt.Errorf("read memory of pid %d: %w", r.Pid, unix.EFAULT)
	}
	return nil
}

// WriteMem copies b to addr in the calling thread's memory, through
// /proc/TID/mem: the file is opened first and the notification proven
// pending after, so the memory written is the caller's even if its thread
// id is reused at any moment. Unlike process_vm_writev(2), which names its
// target by pid at the time of the write, the open file holds the caller's
// address space; and it writes a read-only private page too (the kernel
// gives the caller its own copy, as for a debugger's breakpoint). A shared
// page the caller may not write fails with EFAULT.
func (r *Request) WriteMem(addr uint64, b []byte) error {
	if addr > math.MaxInt64-uint64(len(b)) {
		return fmt.Errorf("write memory of pid %d: %w", r.Pid, unix.EFAULT)
	}
	fd, err := unix.Open("/proc/"+strconv.FormatUint(uint64(r.Pid), 10)+"/mem", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if !r.Valid() {
			err = ErrNotPending
		}
		return fmt.Errorf("write memory of pid %d: %w", r.Pid, err)
	}
	defer func() { _ = unix.Close(fd) }()
	if !r.Valid() {
		return fmt.Errorf("write memory of pid %d: %w", r.Pid, ErrNotPending)
	}
	n, err := unix.Pwrite(fd, b, int64(addr))
	if err == unix.EIO {
		err = unix.EFAULT // how /proc/PID/mem says the address is not writable
	}
	if err != nil {
		return fmt.Errorf("write memory of pid %d: %w", r.Pid, err)
	}
	if n != len(b) {
		return fmt.Errorf("write memory of pid %d: %w", r.Pid, unix.EFAULT)
	}
	return nil
}

// ErrNotPending reports a notification whose caller no longer waits: it was
// interrupted by a signal, or it died. Nobody is left to answer.
var ErrNotPending = errors.New("the caller no longer waits")

// GetFD returns a duplicate of the caller's file descriptor fd, which refers
// to the same open file (the same socket); the handler must close it. It is
// guaranteed to be the caller's: if the caller's thread id could have been
// reused since the notification arrived, GetFD checks that the notification
// is still pending, and fails with ErrNotPending if not.
func (r *Request) GetFD(fd int) (int, error) {
	dup, fresh, err := r.w.pidfds.getfd(r.Pid, fd)
	if err != nil {
		return -1, fmt.Errorf("get fd %d of pid %d: %w", fd, r.Pid, err)
	}
	if fresh && !r.Valid() {
		_ = unix.Close(dup)
		return -1, fmt.Errorf("get fd %d of pid %d: %w", fd, r.Pid, ErrNotPending)
	}
	return dup, nil
}

// Tgid returns the id of the calling process (thread group); Pid is the
// calling thread's. Call it after GetFD.
func (r *Request) Tgid() (int, error) { return r.w.pidfds.tgid(r.Pid) }

// Valid reports whether the caller still waits for this answer; after a
// true result, what was read from its memory and descriptors was the
// caller's and not that of a process that reused its pid.
func (r *Request) Valid() bool { return r.l.idValid(r.ID) }

// Serve answers notifications on l with h on workers threads until no
// process uses the filter any more, then returns nil.
//
// One worker at a time waits for the next notification (the leader); the
// others wait for that role. The leader hands it on as soon as it has
// received a notification, before handling it, so that a slow answer (a
// page fault in the caller's memory, say) stalls no other traced thread.
// Were every worker to wait in RECV, the kernel would wake them all for
// each notification (its wait queue is not exclusive): all but one would
// go back to sleep at once, a context switch per call on the caller's CPU
// with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, and before Linux 6.6 a RECV that
// loses the race blocks in the kernel where the filter's end never wakes it.
// The hand-off wakes the next leader instead, off the caller's CPU.
func Serve(l *Listener, h Handler, workers int) error {
	if workers < 1 {
		workers = 1
	}
	// Each worker's pidfds get a share of the descriptors the supervisor
	// may open, read once: it is the supervisor's own limit.
	limit := maxCachedPidfds
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil {
		limit = cacheLimit(rl.Cur, workers)
	}
	var (
		wg   sync.WaitGroup
		lead leadership // held by the worker that waits for the next notification
	)
	errs := make([]error, workers)
	for i := range workers {
		wg.Go(func() {
			// A locked thread keeps the synchronous wake-up pairing the
			// traced thread with one supervisor thread.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			w := &worker{l: l, h: h, lead: &lead, pidfds: newPidfdCache(limit)}
			defer w.pidfds.close()
			errs[i] = w.loop()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

type worker struct {
	l      *Listener
	h      Handler
	lead   *leadership
	pidfds *pidfdCache
	req    Request
}

func (w *worker) loop() error {
	req := &w.req
	req.l, req.w = w.l, w
	for {
		w.lead.lock()
		var slept int64
		if wakeups != nil {
			slept = threadSleeps()
		}
		got, err := w.next(&req.Notif)
		if wakeups != nil && err == nil {
			wakeups.count(got, threadSleeps()-slept)
		}
		w.lead.unlock()
		if err != nil {
			if errors.Is(err, errFilterDone) {
				return nil
			}
			return err
		}
		if !got {
			continue
		}
		resp := w.handle(req)
		out := NotifResp{ID: req.ID, Val: resp.Val}
		switch {
		case resp.Continue:
			out.Flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
		case resp.Errno != 0:
			out.Error = -int32(resp.Errno)
		}
		switch errno := w.l.send(&out); errno {
		case 0, unix.ENOENT:
		default:
			return fmt.Errorf("answer seccomp notification: %w", errno)
		}
	}
}

// errFilterDone ends a worker: no process uses the filter any more.
var errFilterDone = errors.New("no process uses the filter")

// next waits for the next notification and receives it into n (true), or
// returns false when the wait ended without one (a signal, a caller gone
// before it was received), or errFilterDone. Only the leader calls it, so
// a RECV after the pre-6.6 poll never finds the notification taken by
// another worker and blocks.
func (w *worker) next(n *Notif) (bool, error) {
	if !w.l.syncWake {
		pending, err := w.l.wait()
		if err != nil {
			return false, err
		}
		if !pending {
			return false, errFilterDone
		}
	}
	switch errno := w.l.recv(n); errno {
	case 0:
		return true, nil
	case unix.EINTR:
		return false, nil
	case unix.ENOENT:
		// The caller was interrupted or died; or nobody uses the filter
		// any more, and then RECV fails at once for ever: look for HUP.
		if w.l.hungUp() {
			return false, errFilterDone
		}
		return false, nil
	default:
		return false, fmt.Errorf("receive seccomp notification: %w", errno)
	}
}

// wakeups, set by tests, counts how often a worker slept in the kernel
// waiting for a notification that it did not receive: a measure of the
// wake-ups that Serve's single waiter saves.
var wakeups *wakeupCounter

type wakeupCounter struct {
	received atomic.Uint64 // notifications received
	empty    atomic.Uint64 // sleeps that ended without one for this worker
}

// count records one wait that received a notification (got) or not, in
// which the thread slept sleeps times (voluntary context switches): one
// sleep ends in the notification, every other was a wake-up for nothing.
func (c *wakeupCounter) count(got bool, sleeps int64) {
	if got {
		c.received.Add(1)
		sleeps--
	}
	if sleeps > 0 {
		c.empty.Add(uint64(sleeps))
	}
}

// threadSleeps is the calling thread's count of voluntary context switches.
func threadSleeps() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return ru.Nvcsw
}

// handle runs the handler, turning a panic into Continue: a bug in the
// supervisor must not leave a program hanging.
func (w *worker) handle(req *Request) (resp Response) {
	defer func() {
		if p := recover(); p != nil {
			resp = Continue()
			reportPanic(p)
		}
	}()
	return w.h.Handle(req)
}

// reportPanic is replaced by the supervisor to log handler panics.
var reportPanic = func(any) {}

// SetPanicReporter sets the function told about handler panics.
func SetPanicReporter(f func(any)) { reportPanic = f }
