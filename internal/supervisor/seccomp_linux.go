//go:build linux

package supervisor

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
)

// seccompWorkers is how many threads answer notifications at once: more
// than one, so that one slow answer (a page fault in the traced process's
// memory, say) does not stall every other traced thread.
const seccompWorkers = 2

// seccomp is the engine of the seccomp user-notification filter: a
// rewrite.Handler answers the calls the filter traps (internal/notify).
type seccomp struct {
	h       *rewrite.Handler
	started *policy.Policy // the filter was built from it
	path    string
	log     *slog.Logger
}

// newSeccomp is the seccomp engine for p, the policy of the file at path
// that the launcher built the filter from.
func newSeccomp(p *policy.Policy, path string, log *slog.Logger) *seccomp {
	notify.SetPanicReporter(func(p any) {
		log.Error("bug: handler panicked; the call went on unchanged", "panic", fmt.Sprint(p))
	})
	return &seccomp{h: rewrite.NewHandler(p, log), started: p, path: path, log: log}
}

// Reload serves p from now on. The filter cannot change once the program
// runs: what p needs beyond it is logged, once per reload.
func (e *seccomp) Reload(p *policy.Policy) error {
	if p.Options().Filter() != e.started.Options().Filter() {
		e.log.Warn("policy reloaded, but its [options] change what the filter traps: they take effect when the program is started again", "file", e.path)
	}
	if rules := p.Untrapped(e.started.Traps()); len(rules) > 0 {
		e.log.Warn("policy reloaded, but the filter loaded at start does not trap the calls these rules need: they apply to those calls when the program is started again",
			"file", e.path, "rules", strings.Join(rules, ", "))
	}
	e.h.SetPolicy(p)
	return nil
}

func (e *seccomp) Name() string               { return "seccomp" }
func (e *seccomp) Snapshot() rewrite.Snapshot { return e.h.Stats() }
func (e *seccomp) Called(pid int) bool        { return e.h.Called(pid) }
func (e *seccomp) Close() error               { return nil }

// LCSockets is the counts of p's lc sources in s, which the policy's lc
// rules read (State.Sockets).
func (e *seccomp) LCSockets(s *State, p *policy.Policy) map[netip.Addr]int {
	return s.lcSockets(lcSources(p))
}

// serve answers the notifications of l until no process uses the filter.
func (e *seccomp) serve(l *notify.Listener, program int) error {
	pol := e.started
	e.log.Info("supervising", "engine", "seccomp", "program", program, "policy", e.path,
		"connect_rules", len(pol.ConnectRules()), "bind_rules", len(pol.BindRules()),
		"sources", sourcesOf(pol), "sync_wake_up", l.SyncWakeUp(),
		"trap_sendmsg", pol.Options().TrapSendmsg, "allow_io_uring", pol.Options().AllowIOUring)
	return notify.Serve(l, e.h, seccompWorkers)
}

// sourcesOf lists the distinct sources of a policy's rules, in file order.
func sourcesOf(p *policy.Policy) []string {
	seen := map[netip.Addr]bool{}
	var out []string
	add := func(srcs []netip.Addr) {
		for _, a := range srcs {
			if !seen[a] {
				seen[a] = true
				out = append(out, a.String())
			}
		}
	}
	for _, r := range p.ConnectRules() {
		add(r.Sources)
	}
	for _, r := range p.BindRules() {
		add(r.Sources)
	}
	return out
}
