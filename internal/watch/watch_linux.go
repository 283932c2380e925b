//go:build linux

package watch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Settle is how long a burst of events must be quiet before changed runs.
const Settle = 50 * time.Millisecond

// Watcher watches one file; Close stops it.
type Watcher struct {
	f    *os.File // the inotify instance; nil for Poll
	done chan struct{}
	wg   sync.WaitGroup // the goroutines, which Close waits for
}

// File calls changed, on a goroutine of its own, after the file at path was
// written and closed, created, or renamed into place. Calls never overlap.
func File(path string, changed func()) (*Watcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	dir, base := filepath.Split(abs)
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch %s: inotify: %w", path, err)
	}
	const mask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_CREATE
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	// Non-blocking, so reads park in Go's poller instead of holding a thread.
	w := &Watcher{f: os.NewFile(uintptr(fd), "inotify"), done: make(chan struct{})}
	events := make(chan struct{}, 1)
	w.wg.Go(func() { w.read(base, events) })
	w.wg.Go(func() { settle(events, changed, w.done) })
	return w, nil
}

// Close stops the watcher; changed is not called after Close returns, which
// waits for a call in progress. Do not call it from changed.
func (w *Watcher) Close() error {
	close(w.done)
	var err error
	if w.f != nil {
		err = w.f.Close()
	}
	w.wg.Wait()
	return err
}

// read turns inotify events about base into ticks on events.
func (w *Watcher) read(base string, events chan<- struct{}) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				select {
				case <-w.done:
				default:
					fmt.Fprintf(os.Stderr, "vipa-exec-supervisor: policy watch stopped: %v\n", err)
				}
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if unix.ByteSliceToString(name) == base {
				select {
				case events <- struct{}{}:
				default: // a tick is pending already
				}
			}
		}
	}
}

// settle calls changed once a burst of ticks has been quiet for Settle.
func settle(events <-chan struct{}, changed func(), done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-done:
			timer.Stop()
			return
		case <-events:
			timer.Reset(Settle)
		case <-timer.C:
			select {
			case <-done:
				return
			default:
			}
			changed()
		}
	}
}

// Poll calls changed, on a goroutine of its own, when the file at path
// looks different at one of its checks every interval: another inode (a
// rename into place), size, modification or status change time, or it
// appeared or vanished. A change is reported once the file has stayed the
// same for Settle, so a write in progress is not read half-done. Calls
// never overlap.
//
// Poll costs a stat(2) per interval and holds no inotify instance. The
// last close of one waits for the kernel to retire its watches (an SRCU
// grace period, milliseconds), which delays the exit of the process that
// holds it: where that exit is waited for, Poll is the cheaper watch.
func Poll(path string, interval time.Duration, changed func()) *Watcher {
	w := &Watcher{done: make(chan struct{})}
	last := identify(path)
	w.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
			}
			now := identify(path)
			if now == last {
				continue
			}
			// Wait for the file to settle.
			for {
				select {
				case <-w.done:
					return
				case <-time.After(Settle):
				}
				if again := identify(path); again != now {
					now = again
					continue
				}
				break
			}
			last = now
			select {
			case <-w.done:
				return
			default:
			}
			changed()
		}
	})
	return w
}

// fileID is what Poll compares of a file.
type fileID struct {
	exists       bool
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

func identify(path string) fileID {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileID{}
	}
	return fileID{exists: true, dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}
