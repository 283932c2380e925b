//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/cgroup"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rrstate"
	"github.com/vipa-exec/vipa-exec/internal/sockdiag"
)

// lcInterval is how old lc's socket counts may grow before a call reads
// them again (sockdiag also keeps the reads under 1% of a CPU).
const lcInterval = 100 * time.Millisecond

// State gives the supervisor's policies their state beyond one call: lrr
// asks whether processes still exist, rr shares counters with the other
// supervisors of the same policy file, lc reads the host's sockets. It opens
// what a policy needs when a policy first needs it, and keeps it across
// reloads until Close. It is engine-neutral, and --explain peeks through it
// at what a supervisor's next call would get.
type State struct {
	path string // of the policy file, part of every rr counter's name
	log  *slog.Logger

	mu     sync.Mutex
	rr     *rrstate.Dir
	rrErr  error // why rr state cannot be shared, once known
	rrOpen bool
	warned bool
	host   *sockdiag.Host

	present func() *policy.AddrSet          // the host's addresses; nil: all present
	route   func(netip.Addr) (string, bool) // outgoing interfaces; nil: [[interface]] rules match nothing
}

// NewState is the state of the policies of the file at path (absolute: it
// names rr's shared counters); it warns on log.
func NewState(path string, log *slog.Logger) *State {
	return &State{path: path, log: log}
}

// Env is the system as the policies see it through e: rr's counters, lc's
// socket counts, lrr's processes, and the host's addresses and routes as far
// as the supervisor follows them (none for a State of its own: every
// source present, no route).
func (e *State) Env() policy.Env {
	return policy.Env{Alive: cgroup.Alive, Counter: e.Counter, Sockets: e.Sockets, Present: e.present, Route: e.route}
}

// attach connects p's stateful rules to the system.
func (e *State) attach(p *policy.Policy) (*policy.Policy, error) { return p.WithEnv(e.Env()) }

// Counter opens the shared counter of an rr rule, in the directory of the
// supervisor's euid (rrstate.DirFor). When the state cannot be shared (no
// runtime directory for a user, say), the rule still rotates, within this
// instance, and the supervisor says so once. State that another user could
// write is refused instead: the policy does not start, or does not reload.
func (e *State) Counter(key string, mode fs.FileMode) (policy.Counter, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.rrOpen {
		e.rr, e.rrErr = rrstate.Open(rrstate.DirFor(os.Geteuid()))
		e.rrOpen = true
	}
	err := e.rrErr
	if err == nil {
		// rr_mode is part of the name: a counter is made with it, and
		// refused with bits beyond it.
		c, cerr := e.rr.Counter(fmt.Sprintf("policy=%s %s rr_mode=%04o", e.path, key, mode.Perm()), mode)
		if cerr == nil {
			return c, nil
		}
		err = cerr
	}
	if errors.Is(err, rrstate.ErrUntrusted) {
		return nil, err
	}
	if !e.warned {
		e.log.Warn("policy rr: cannot share the rotation with other instances; this one rotates on its own", "err", err)
		e.warned = true
	}
	return rrstate.NewLocal(), nil
}

// Sockets returns the socket counts of an lc rule's candidates.
func (e *State) Sockets(addrs []netip.Addr) (policy.SocketCounter, error) {
	e.mu.Lock()
	if e.host == nil {
		e.host = sockdiag.NewHost(lcInterval, func(err error) {
			e.log.Warn("policy lc: cannot read the host's socket counts; counting this instance's binds only", "err", err)
		})
	}
	h := e.host
	e.mu.Unlock()
	return h.View(addrs), nil
}

// lcSockets is lc's counts of addrs as the host's last read found them
// (sockdiag.Host.Read), nil before any lc rule.
func (e *State) lcSockets(addrs []netip.Addr) map[netip.Addr]int {
	e.mu.Lock()
	h := e.host
	e.mu.Unlock()
	if h == nil || len(addrs) == 0 {
		return nil
	}
	return h.Read(addrs)
}

// lcSources returns the distinct sources of p's lc rules, nil for none.
func lcSources(p *policy.Policy) []netip.Addr {
	if p == nil {
		return nil
	}
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	add := func(name string, srcs []netip.Addr) {
		if name != policy.LC {
			return
		}
		for _, a := range srcs {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	for _, r := range p.ConnectRules() {
		add(r.Policy, r.Sources)
	}
	for _, r := range p.BindRules() {
		add(r.Policy, r.Sources)
	}
	return out
}

// Close releases the state: the last supervisor using an rr counter
// removes it. No call may use the policies any more.
func (e *State) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rr != nil {
		if err := e.rr.Close(); err != nil {
			e.log.Warn("policy rr: cleaning up the shared state", "err", err)
		}
	}
	if e.host != nil {
		_ = e.host.Close() // a netlink socket
	}
}
