//go:build linux

package supervisor

import (
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/hostroute"
	"github.com/vipa-exec/vipa-exec/internal/launch"
	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/status"
)

// Prepare is the supervisor's side of launch.RunStage and launch.Supervise;
// it logs on stderr with settings logs. It starts the supervisor from the
// launcher's Setup and serves with the engine the Setup asks for: the bpf
// engine, attached to a cgroup it makes for the program, or the seccomp
// engine on the listener the launcher hands over.
func Prepare(logs LogSettings) launch.Prepare {
	return func(s launch.Setup) (func(*notify.Listener) error, error) {
		log := newLogger(os.Stderr, logs, toJournal(os.Stderr, os.Getenv("JOURNAL_STREAM"))).
			With("supervisor", os.Getpid())
		if s.InKernel {
			return prepareInKernel(s, log)
		}
		var sc *seccomp
		sup, err := start(s, log, func(p *policy.Policy) (engine, error) {
			sc = newSeccomp(p, s.Path, log)
			return sc, nil
		})
		if err != nil {
			return nil, err
		}
		return func(l *notify.Listener) error {
			// From here on the program runs: what follows is off its
			// start-up. Keep a P idle beside the workers blocked in RECV:
			// with none idle, the runtime's sysmon takes the P of a worker
			// blocked in a syscall for over 20 µs and may wake a spare
			// thread for it, which the worker then has to win back when its
			// notification arrives. (It stops the world: not before the ack.)
			runtime.GOMAXPROCS(seccompWorkers + 1)
			defer sup.close()
			return sup.serve(func() error { return sc.serve(l, s.Program) })
		}, nil
	}
}

// prepareInKernel is Prepare for the bpf engine: the programs are attached
// and the program in their cgroup when it returns.
func prepareInKernel(s launch.Setup, log *slog.Logger) (func(*notify.Listener) error, error) {
	var k *inKernel
	sup, err := start(s, log, func(p *policy.Policy) (engine, error) {
		var err error
		k, err = newInKernel(p, s.Program, log)
		return k, err
	})
	if err != nil {
		return nil, err
	}
	// From here the watcher hands the engine each change; the set as of
	// now goes in first, so that a reload's rules know it too (with every
	// source present, the engine installs no new generation for it).
	sup.follow.Store(&k)
	if sup.present != nil {
		k.SetPresent(sup.present())
	}
	sup.onClose(k.followSockets(sup.current.Load))
	return func(*notify.Listener) error {
		defer sup.close()
		return sup.serve(func() error { return k.serve(sup.current.Load(), s.Program, s.Path, s.Exited) })
	}, nil
}

// supervisor is what one supervisor process does around its engine, the
// same for every engine: the policy file and its reloads, the policies'
// state, the host's addresses and routes, the counters on SIGUSR1 and the
// --status answers.
type supervisor struct {
	setup  launch.Setup
	log    *slog.Logger
	state  *State
	routes *hostroute.Table
	eng    engine
	info   *statusInfo
	// current is the policy in force, for the presence logs; nil until
	// there is one.
	current  atomic.Pointer[policy.Policy]
	reloader *reloader
	// present is the host's addresses as followed; nil when they are not.
	present func() *policy.AddrSet
	// follow, when set, is handed the host's addresses on each change
	// (the bpf engine, whose programs cannot ask).
	follow  atomic.Pointer[*inKernel]
	closers []func() // run last first by close
}

// start readies the supervisor for the program s names, before the program
// runs: a failure keeps it from starting. newEngine makes the engine for
// the policy as the launcher checked it, its state attached. The caller
// serves, then calls close.
func start(s launch.Setup, log *slog.Logger, newEngine func(*policy.Policy) (engine, error)) (*supervisor, error) {
	data, pol, err := readHandoff(s.Path, s.Data)
	if err != nil {
		return nil, err
	}
	sup := &supervisor{setup: s, log: log, state: NewState(s.Path, log)}
	sup.onClose(sup.state.Close)
	present, stopAddrs := watchAddrs(log, sup.current.Load, func(set *policy.AddrSet) {
		if k := sup.follow.Load(); k != nil {
			(*k).SetPresent(set)
		}
	})
	sup.onClose(stopAddrs)
	sup.state.present = present
	sup.present = present
	// The route subscription starts once the program runs (serve), not to
	// delay its start: until then a route is the kernel's answer, uncached.
	sup.routes = newRoutes(log)
	sup.onClose(sup.routes.Close)
	sup.state.route = sup.routes.Interface
	if pol, err = sup.state.attach(pol); err != nil {
		sup.close()
		return nil, err
	}
	sup.current.Store(pol)
	if sup.eng, err = newEngine(pol); err != nil {
		sup.close()
		return nil, err
	}
	sup.onClose(func() {
		if err := sup.eng.Close(); err != nil {
			log.Warn("closing the engine", "err", oneLine(err))
		}
	})
	sup.info = newStatusInfo(s, sup.eng, func() map[netip.Addr]int { return sup.eng.LCSockets(sup.state, sup.current.Load()) })
	r := &reloader{path: s.Path, log: log, loaded: data,
		attach: attachLogged(sup.state.attach, present, log),
		apply:  sup.eng.Reload,
		done: func(p *policy.Policy) {
			sup.current.Store(p)
			sup.info.reloaded()
		}}
	sup.reloader = r
	sup.onClose(r.watchSignal(s.Parent))
	// A parent supervisor forwards SIGHUP and SIGUSR1 to PROGRAM: it takes
	// no signal for itself.
	if !s.Parent {
		sup.onClose(logStatsOn(unix.SIGUSR1, s.Program, sup.eng, log))
	}
	// Without it only --status fails; the program is served all the same.
	srv, err := status.Serve([]int{s.Program, os.Getpid()}, sup.info.report)
	if err != nil {
		log.Warn("vipa-exec --status will not find this supervisor", "err", oneLine(err))
	} else {
		sup.onClose(func() { _ = srv.Close() }) // removes its socket files
	}
	return sup, nil
}

// onClose has close run f, before what was registered earlier.
func (sup *supervisor) onClose(f func()) { sup.closers = append(sup.closers, f) }

// serve runs the engine's run, which returns once the program and its
// descendants are gone, and follows the host's routes meanwhile.
func (sup *supervisor) serve(run func() error) error {
	defer sup.reloader.watchFile(sup.setup.Parent)()
	var late sync.WaitGroup
	late.Go(func() {
		if err := sup.routes.Follow(); err != nil {
			sup.log.Warn("cannot follow the host's routes; [[interface]] rules ask the kernel on every call", "err", err)
		}
	})
	defer late.Wait()
	return run()
}

// close stops the reloads and the status answers, closes the engine and
// releases the policies' state; the last supervisor of an rr counter
// removes it.
func (sup *supervisor) close() {
	for i := len(sup.closers) - 1; i >= 0; i-- {
		sup.closers[i]()
	}
	sup.closers = nil
}
