//go:build linux

package rewrite

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// maxCallers bounds the threads a Handler remembers: past it, the dead are
// forgotten, and if all are alive, new ones are not remembered.
const maxCallers = 1 << 16

// callers remembers the threads that made a trapped call, so that
// --status finds the supervisor of a daemon that forked away from the
// program (its parent exited, it was reparented to init). A thread id may
// be reused once the thread is gone: each is kept with its start time,
// which tells the thread that called from a later one of the same id.
//
// The hot path costs one sync.Map load; /proc is read on a thread's first
// call only. So a thread whose id a dead caller had is taken for known, and
// missed, until the dead one is forgotten: --status may not find a process
// that called only from such a thread.
type callers struct {
	m       sync.Map // tid (uint32) -> start time (uint64), in clock ticks since boot
	n       atomic.Int64
	prune   atomic.Int64 // n at which to forget the dead
	pruning atomic.Bool
}

// saw records tid's call.
func (c *callers) saw(tid uint32) {
	if _, ok := c.m.Load(tid); ok {
		return
	}
	start, err := startTime("/proc/" + strconv.FormatUint(uint64(tid), 10) + "/stat")
	if err != nil {
		return // gone already
	}
	if n := c.n.Load(); n >= maxCallers/2 && n >= c.prune.Load() && c.pruning.CompareAndSwap(false, true) {
		// Off the caller's path: a scan reads /proc once per thread.
		go func() {
			c.forgetDead()
			c.pruning.Store(false)
		}()
	}
	if c.n.Load() >= maxCallers {
		return
	}
	if _, dup := c.m.LoadOrStore(tid, start); !dup {
		c.n.Add(1)
	}
}

// forgetDead drops the threads that are gone, and sets the next pruning
// for when the survivors have doubled: a program with many live threads
// does not pay for a scan on every new one.
func (c *callers) forgetDead() {
	c.m.Range(func(k, v any) bool {
		start, err := startTime("/proc/" + strconv.FormatUint(uint64(k.(uint32)), 10) + "/stat")
		if err != nil || start != v.(uint64) {
			c.m.Delete(k)
			c.n.Add(-1)
		}
		return true
	})
	c.prune.Store(max(2*c.n.Load(), maxCallers/2))
}

// called reports whether a thread of process pid made a trapped call.
func (c *callers) called(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, t := range tasks {
		tid, err := strconv.ParseUint(t.Name(), 10, 32)
		if err != nil {
			continue
		}
		v, ok := c.m.Load(uint32(tid))
		if !ok {
			continue
		}
		if start, err := startTime(dir + t.Name() + "/stat"); err == nil && start == v.(uint64) {
			return true
		}
	}
	return false
}

// Called reports whether a thread of process pid made a call the handler
// served, as far as it remembers (see maxCallers).
func (h *Handler) Called(pid int) bool { return h.callers.called(pid) }

// startTime reads the start time of the process or thread at path, a
// /proc/PID/stat file.
func startTime(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseStartTime(string(b))
}

// parseStartTime reads field 22 (starttime) of a /proc/PID/stat line: the
// comm field may hold spaces and parentheses, so fields count from its
// last ')'.
func parseStartTime(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	const starttime = 22 - 3 // fields 1 and 2 are before ')'
	if len(f) <= starttime {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	return strconv.ParseUint(f[starttime], 10, 64)
}
