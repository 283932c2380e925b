//go:build linux

package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/bpfengine"
	"github.com/vipa-exec/vipa-exec/internal/cgroup"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
	"github.com/vipa-exec/vipa-exec/internal/sockdiag"
)

// inKernel is the bpf engine: internal/bpfengine's programs attached to a
// cgroup of the program's own (internal/cgroup), a child of the one it was
// started in. The programs bind in the program's context; this process
// only keeps their links and maps (which detach and go when it exits, even
// by SIGKILL), reloads, follows the host's addresses, and at the end
// removes the group.
type inKernel struct {
	e   *bpfengine.Engine
	g   *cgroup.Group
	log *slog.Logger
	// lc is the socket counts last handed to the engine, nil when the
	// policy has no lc rules (followSockets).
	lc atomic.Pointer[map[netip.Addr]int]
}

// newInKernel loads the programs for p, attaches them to a new cgroup
// PARENT/vipa-exec.PID (PARENT: program's cgroup, PID: program's) and
// moves program into it: from its next call on, the programs serve it. On
// an error nothing is left: no group, no program.
func newInKernel(p *policy.Policy, program int, log *slog.Logger) (_ *inKernel, err error) {
	parent, err := cgroup.Own(program)
	if err != nil {
		return nil, err
	}
	g, err := cgroup.Create(parent, program)
	if err != nil {
		return nil, err
	}
	k := &inKernel{g: g, log: log}
	defer func() {
		if err != nil {
			_ = k.Close()
		}
	}()
	if k.e, err = bpfengine.Load(p, log); err != nil {
		return nil, err
	}
	// Attached before the program enters: no call of its goes unserved.
	if err := k.e.Attach(g.FD()); err != nil {
		return nil, err
	}
	if err := g.Enter(program); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *inKernel) Name() string                  { return "bpf" }
func (k *inKernel) Reload(p *policy.Policy) error { return k.e.Reload(p) }
func (k *inKernel) Snapshot() rewrite.Snapshot    { return k.e.Snapshot() }

// LCSockets is the counts followSockets last handed the engine, whose
// programs add their binds to them.
func (k *inKernel) LCSockets(*State, *policy.Policy) map[netip.Addr]int {
	if m := k.lc.Load(); m != nil {
		return *m
	}
	return nil
}

// Called reports whether pid is in the program's cgroup or below: its
// calls go through the programs.
func (k *inKernel) Called(pid int) bool {
	own, err := cgroup.Own(pid)
	return err == nil && (own == k.g.Path() || strings.HasPrefix(own, k.g.Path()+"/"))
}

// SetPresent hands the engine the host's addresses as they change.
func (k *inKernel) SetPresent(set *policy.AddrSet) {
	if err := k.e.SetPresent(set); err != nil {
		k.log.Warn("bpf engine: the host's addresses changed, but the rules keep the sources they had", "err", oneLine(err))
	}
}

// followSockets keeps lc's counts in the engine those of the host, from
// sock_diag, for the sources of the lc rules of the policy current returns:
// before it returns and every lcInterval (the seccomp engine's bound on their age);
// the programs add their own binds in between. Without lc rules it reads
// nothing. stop ends it.
func (k *inKernel) followSockets(current func() *policy.Policy) (stop func()) {
	host := sockdiag.NewHost(lcInterval, func(err error) {
		k.log.Warn("policy lc: cannot read the host's socket counts; counting this instance's binds only", "err", err)
	})
	warned := false
	refresh := func() {
		addrs := lcSources(current())
		if len(addrs) == 0 {
			k.lc.Store(nil)
			return
		}
		v := host.View(addrs)
		counts := make(map[netip.Addr]int, len(addrs))
		for _, a := range addrs {
			counts[a] = v.Count(a)
		}
		if err := k.e.SetSockets(counts); err != nil {
			if !warned {
				k.log.Warn("policy lc: cannot hand the engine the host's socket counts", "err", oneLine(err))
				warned = true
			}
			return
		}
		k.lc.Store(&counts)
	}
	refresh() // before the program runs: its first call counts the host's sockets
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(lcInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				refresh()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		_ = host.Close()
	}
}

// Close detaches the programs, frees the maps and removes the group. A
// group that still holds processes (parent mode, descendants outliving the
// program) stays: the next instance under the same parent removes it once
// empty.
func (k *inKernel) Close() error {
	var errs []error
	if k.e != nil {
		errs = append(errs, k.e.Close())
	}
	if populated, err := k.g.Populated(); err != nil || !populated {
		errs = append(errs, k.g.Remove())
	}
	errs = append(errs, k.g.Close())
	return errors.Join(errs...)
}

// serve returns when the program's cgroup is empty: the program and its
// descendants have exited. In parent mode (exited not nil) it also returns
// once the program has exited and exited says so, with a warning if
// descendants outlive it: the parent supervisor does not outlive the
// program, and the programs detach with it.
func (k *inKernel) serve(p *policy.Policy, program int, path string, exited <-chan struct{}) error {
	k.log.Info("supervising", "engine", "bpf", "program", program, "policy", path, "cgroup", k.g.Path(),
		"connect_rules", len(p.ConnectRules()), "bind_rules", len(p.BindRules()), "sources", sourcesOf(p))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if exited != nil {
		go func() {
			select {
			case <-exited:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	err := k.g.WaitEmpty(ctx)
	if err == nil || !errors.Is(err, context.Canceled) {
		return err
	}
	if populated, perr := k.g.Populated(); perr == nil && !populated {
		return nil
	}
	k.log.Warn("processes PROGRAM started outlive it; with vipa-exec gone, the bpf engine no longer binds their sockets: " +
		"keep PROGRAM in the foreground, or use --supervise=detached")
	return nil
}
