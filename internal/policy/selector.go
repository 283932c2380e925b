package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrUnknownPolicy is wrapped by the error of [NewSelector] for a name it does
// not know.
var ErrUnknownPolicy = errors.New("unknown policy")

// Selector picks one of the sources of a rule for one call.
//
// Implementations must be safe for concurrent use and should not allocate:
// Select runs on every trapped system call.
type Selector interface {
	// Select returns an index into c.Sources. An index out of range picks
	// the first source.
	Select(c Call) int
}

// Peeker is implemented by selectors that can tell which source Select
// would pick next without changing their state (advancing a rotation,
// counting a socket), for vipa-exec --explain.
type Peeker interface {
	Peek(c Call) int
}

// Call is what a [Selector] knows about the call it chooses a source for.
type Call struct {
	Pid     int          // thread-group id of the caller
	Sources []netip.Addr // the candidates, never empty; must not be modified
}

// Policy names accepted by [NewSelector] and by rules.
const (
	OneVIPA = "onevipa" // always the first source
	Random  = "random"  // a uniformly random source on every call
	LRR     = "lrr"     // round robin per process, from a random start
	RR      = "rr"      // round robin shared by every instance using the rule
	LC      = "lc"      // the source with the fewest live sockets
	Kernel  = "kernel"  // no source: the kernel's choice stands
)

// names lists the policies in the order error messages show them.
var names = []string{OneVIPA, Random, LRR, RR, LC, Kernel}

// Names returns the policy names rules accept, for help and error texts.
func Names() []string {
	return append([]string(nil), names...)
}

// CheckName reports whether name is a policy name rules accept.
func CheckName(name string) error {
	for _, n := range names {
		if n == name {
			return nil
		}
	}
	return fmt.Errorf("%w %q (valid: %s)", ErrUnknownPolicy, name, strings.Join(names, ", "))
}

// NewSelector returns a selector of the named policy whose state, if any,
// stays in this process (what a [Policy] gets without [Policy.WithEnv]).
// Kernel has no selector: NewSelector returns nil for it.
func NewSelector(name string) (Selector, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	return newSelector(name, selectorSpec{}, Env{})
}

// selectorSpec is what a stateful selector is built for: one rule, and for
// bind rules one address family, since the candidates differ by family.
type selectorSpec struct {
	key     string       // the rule, as [RuleKey] spells it
	sources []netip.Addr // the candidates
	mode    fs.FileMode  // rr_mode; 0 means DefaultRRMode
}

func newSelector(name string, spec selectorSpec, env Env) (Selector, error) {
	switch name {
	case OneVIPA:
		return oneVIPA{}, nil
	case Random:
		return random{}, nil
	case LRR:
		return newLRR(env.Alive), nil
	case RR:
		if env.Counter == nil {
			return &rr{c: newLocalCounter()}, nil
		}
		c, err := env.Counter(spec.key, modeOf(spec.mode))
		if err != nil {
			return nil, err
		}
		return &rr{c: c}, nil
	case LC:
		if env.Sockets == nil {
			return &lc{n: newLocalSockets(spec.sources)}, nil
		}
		n, err := env.Sockets(spec.sources)
		if err != nil {
			return nil, err
		}
		return &lc{n: n}, nil
	case Kernel:
		return nil, nil
	}
	return nil, CheckName(name)
}

type oneVIPA struct{}

func (oneVIPA) Select(Call) int { return 0 }
func (oneVIPA) Peek(Call) int   { return 0 }

// random uses the top-level math/rand/v2 functions: they are backed by a
// per-thread ChaCha8 state, so concurrent callers neither lock nor allocate.
type random struct{}

func (random) Select(c Call) int {
	if len(c.Sources) <= 1 {
		return 0
	}
	return rand.IntN(len(c.Sources))
}

func (r random) Peek(c Call) int { return r.Select(c) }

// rr is one rotation over the rule's sources: the counter's value modulo
// their number. A counter shared between instances (see [Env]) makes the
// rotation global; the default one is this process's alone.
type rr struct{ c Counter }

func (s *rr) Select(c Call) int {
	if len(c.Sources) <= 1 {
		return 0
	}
	return int(s.c.Next() % uint64(len(c.Sources)))
}

func (s *rr) Peek(c Call) int {
	if len(c.Sources) <= 1 {
		return 0
	}
	return int(s.c.Load() % uint64(len(c.Sources)))
}

// localCounter is a [Counter] of this process, starting at a random value
// so that instances that cannot share one still spread their first calls.
type localCounter struct{ v atomic.Uint64 }

func newLocalCounter() *localCounter {
	c := &localCounter{}
	c.v.Store(rand.Uint64N(1 << 32))
	return c
}

func (c *localCounter) Next() uint64 { return c.v.Add(1) - 1 }
func (c *localCounter) Load() uint64 { return c.v.Load() }

// lrr keeps one rotation per process. Processes that exited are forgotten by
// a sweep, run when a new process would grow the table past its limit: twice
// the number of processes the previous sweep kept, and at least lrrMinLimit.
// So the table holds at most about twice the processes alive, and each
// sweep's cost is paid for by as many new processes.
type lrr struct {
	alive func(pid int) bool // nil: a sweep forgets every process

	mu    sync.RWMutex
	procs map[int]*atomic.Uint64 // pid -> next value of its rotation
	limit int
}

const lrrMinLimit = 64

func newLRR(alive func(int) bool) *lrr {
	return &lrr{alive: alive, procs: make(map[int]*atomic.Uint64), limit: lrrMinLimit}
}

func (s *lrr) Select(c Call) int {
	n := uint64(len(c.Sources))
	if n <= 1 {
		return 0
	}
	next := s.proc(c.Pid)
	if next == nil {
		next = s.add(c.Pid, n)
	}
	return int((next.Add(1) - 1) % n)
}

// proc returns the counter of process pid, or nil before its first call.
func (s *lrr) proc(pid int) *atomic.Uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.procs[pid]
}

func (s *lrr) Peek(c Call) int {
	n := uint64(len(c.Sources))
	if n <= 1 {
		return 0
	}
	next := s.proc(c.Pid)
	if next == nil {
		return rand.IntN(int(n)) // a new process starts anywhere
	}
	return int(next.Load() % n)
}

// add starts the rotation of pid at a random source.
func (s *lrr) add(pid int, n uint64) *atomic.Uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if next := s.procs[pid]; next != nil {
		return next // another worker was first
	}
	if len(s.procs) >= s.limit {
		s.sweep()
	}
	next := new(atomic.Uint64)
	next.Store(rand.Uint64N(n))
	s.procs[pid] = next
	return next
}

// sweep forgets the processes that exited. A pid that was reused by a new
// process meanwhile keeps its rotation, which to the new process is as good
// as a random start.
func (s *lrr) sweep() {
	for pid := range s.procs {
		if s.alive == nil || !s.alive(pid) {
			delete(s.procs, pid)
		}
	}
	s.limit = max(lrrMinLimit, 2*len(s.procs))
}

// size is the number of processes lrr remembers, for tests.
func (s *lrr) size() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.procs)
}

// lc picks the source with the fewest live sockets, the earlier one on a
// tie, and counts the socket it is about to bind, so that the calls until
// the next refresh of the counts see it.
type lc struct{ n SocketCounter }

func (s *lc) Select(c Call) int {
	i := s.Peek(c)
	s.n.Add(c.Sources[i])
	return i
}

func (s *lc) Peek(c Call) int {
	best, fewest := 0, math.MaxInt
	for i, a := range c.Sources {
		if n := s.n.Count(a); n < fewest {
			best, fewest = i, n
		}
	}
	return best
}

// localSockets is the [SocketCounter] without a view of the host: it counts
// the sockets this process bound and never sees them close, which spreads
// binds evenly, like a round robin. The addresses of its rule are counted
// without a lock; others (a selector from NewSelector, which knows no rule)
// under one.
type localSockets struct {
	addrs  []netip.Addr
	counts []atomic.Int64

	mu    sync.Mutex
	other map[netip.Addr]int
}

func newLocalSockets(addrs []netip.Addr) *localSockets {
	return &localSockets{addrs: addrs, counts: make([]atomic.Int64, len(addrs))}
}

func (l *localSockets) Count(a netip.Addr) int {
	for i, b := range l.addrs {
		if a == b {
			return int(l.counts[i].Load())
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.other[a]
}

func (l *localSockets) Add(a netip.Addr) {
	for i, b := range l.addrs {
		if a == b {
			l.counts[i].Add(1)
			return
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.other == nil {
		l.other = make(map[netip.Addr]int)
	}
	l.other[a]++
}
