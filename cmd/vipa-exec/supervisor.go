//go:build linux

package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/launch"
	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
	"github.com/vipa-exec/vipa-exec/internal/status"
	"github.com/vipa-exec/vipa-exec/internal/watch"
)

// supervisorWorkers is how many threads answer notifications at once: more
// than one, so that one slow answer (a page fault in the traced process's
// memory, say) does not stall every other traced thread.
const supervisorWorkers = 2

// supervisorPrepare is the supervisor's side of launch.RunStage and
// launch.Supervise: it logs with settings logs.
func supervisorPrepare(logs logSettings) launch.Prepare {
	return func(s launch.Setup) (func(*notify.Listener) error, error) {
		return prepareSupervisor(s, logs)
	}
}

func prepareSupervisor(s launch.Setup, logs logSettings) (func(*notify.Listener) error, error) {
	path := s.Path
	data, pol, err := readHandoff(path, s.Data)
	if err != nil {
		return nil, err
	}
	log := newLogger(os.Stderr, logs, toJournal(os.Stderr, os.Getenv("JOURNAL_STREAM"))).
		With("supervisor", os.Getpid())
	env := newPolicyState(path, log)
	var served atomic.Pointer[rewrite.Handler]
	present, stopAddrs := watchAddrs(log, func() *policy.Policy {
		if h := served.Load(); h != nil {
			return h.Policy()
		}
		return nil
	})
	env.present = present
	// The route subscription starts once the program runs, not to delay its
	// start: until then a route is the kernel's answer, uncached.
	routes := newRoutes(log)
	env.route = routes.Interface
	if pol, err = env.attach(pol); err != nil {
		stopAddrs()
		env.close()
		return nil, err
	}
	notify.SetPanicReporter(func(p any) {
		log.Error("bug: handler panicked; the call went on unchanged", "panic", fmt.Sprint(p))
	})
	h := rewrite.NewHandler(pol, log)
	served.Store(h)
	// A parent supervisor forwards SIGHUP and SIGUSR1 to PROGRAM: it takes
	// no signal for itself.
	st := newStatusInfo(s, h)
	watchFile := watchPolicy(path, data, h, log, attachLogged(env.attach, present, log), s.Parent, st.reloaded)
	if !s.Parent {
		logStatsOn(syscall.SIGUSR1, s.Program, h, log)
	}
	// Without it only --status fails; the program is served all the same.
	srv, err := status.Serve([]int{s.Program, os.Getpid()}, st.report)
	if err != nil {
		log.Warn("vipa-exec --status will not find this supervisor", "err", oneLine(err))
	}
	return func(l *notify.Listener) error {
		// From here on the program runs: what follows is off its start-up.
		// Keep a P idle beside the workers blocked in RECV: with none idle,
		// the runtime's sysmon takes the P of a worker blocked in a syscall
		// for over 20 µs and may wake a spare thread for it, which the
		// worker then has to win back when its notification arrives. (It
		// stops the world: not before the ack.)
		runtime.GOMAXPROCS(supervisorWorkers + 1)
		defer env.close()
		defer stopAddrs()
		var late sync.WaitGroup
		late.Go(watchFile)
		late.Go(func() {
			if err := routes.Follow(); err != nil {
				log.Warn("cannot follow the host's routes; [[interface]] rules ask the kernel on every call", "err", err)
			}
		})
		defer func() {
			late.Wait()
			routes.Close()
		}()
		if srv != nil {
			defer srv.Close() // removes its socket files
		}
		log.Info("supervising", "program", s.Program, "policy", path,
			"connect_rules", len(pol.ConnectRules()), "bind_rules", len(pol.BindRules()),
			"sources", sourcesOf(pol), "sync_wake_up", l.SyncWakeUp(),
			"trap_sendmsg", pol.Options().TrapSendmsg, "allow_io_uring", pol.Options().AllowIOUring)
		return notify.Serve(l, h, supervisorWorkers)
	}, nil
}

// parentPoll is how often a parent supervisor looks at its policy file.
// It polls rather than holding an inotify instance, whose teardown would
// add some 10 ms to vipa-exec's exit after PROGRAM's, which a shell or
// systemd waits for; a detached supervisor's exit nobody waits for.
const parentPoll = time.Second

// watchPolicy reloads the policy file when it changes (an in-place write or
// an atomic rename) and, unless parent, on SIGHUP. A new version applies to
// calls trapped after it; a version with errors is logged and the running
// one kept. SIGHUP counts at once; the file is watched once the returned
// function has run, which the supervisor calls after the program was let
// go (an inotify instance is no part of its start-up), and which then
// reloads a file changed since it was read.
func watchPolicy(path string, loaded []byte, h *rewrite.Handler, log *slog.Logger, attach func(*policy.Policy) (*policy.Policy, error), parent bool, reloaded func()) (watchFile func()) {
	var mu sync.Mutex
	started := h.Policy() // the filter was built from it
	reload := func(trigger string) {
		mu.Lock()
		defer mu.Unlock()
		data, err := readPolicyFile(path)
		if err != nil {
			log.Error("policy reload failed; keeping the running policy", "trigger", trigger, "err", err)
			return
		}
		if bytes.Equal(data, loaded) {
			return
		}
		pol, err := conf.Parse(path, data)
		if err == nil {
			pol, err = attach(pol)
		}
		if err != nil {
			log.Error("policy reload failed; keeping the running policy", "trigger", trigger, "err", oneLine(err))
			return
		}
		if pol.Options().Filter() != started.Options().Filter() {
			log.Warn("policy reloaded, but its [options] change what the filter traps: they take effect when the program is started again", "file", path)
		}
		if rules := pol.Untrapped(started.Traps()); len(rules) > 0 {
			log.Warn("policy reloaded, but the filter loaded at start does not trap the calls these rules need: they apply to those calls when the program is started again",
				"file", path, "rules", strings.Join(rules, ", "))
		}
		h.SetPolicy(pol)
		loaded = data
		reloaded()
		log.Info("policy reloaded", "file", path, "trigger", trigger)
	}
	if parent {
		// SIGHUP is PROGRAM's, forwarded.
		return func() {
			watch.Poll(path, parentPoll, func() { reload("file changed") })
			reload("file changed")
		}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		for range ch {
			reload("SIGHUP")
		}
	}()
	return func() {
		if _, err := watch.File(path, func() { reload("file changed") }); err != nil {
			log.Warn("cannot watch the policy file; reload with SIGHUP", "err", err)
		}
		reload("file changed")
	}
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

// statusInfo is what --status reports beyond the handler's counters.
type statusInfo struct {
	setup   launch.Setup
	h       *rewrite.Handler
	started time.Time
	mu      sync.Mutex
	loaded  time.Time // when the running policy was loaded
	reloads uint64
}

func newStatusInfo(s launch.Setup, h *rewrite.Handler) *statusInfo {
	now := time.Now()
	return &statusInfo{setup: s, h: h, started: now, loaded: now}
}

func (st *statusInfo) reloaded() {
	st.mu.Lock()
	st.loaded = time.Now()
	st.reloads++
	st.mu.Unlock()
}

// report is what the supervisor says of itself, and whether it serves the
// pid asked about, if any.
func (st *statusInfo) report(asked int) status.Report {
	var serves *bool
	if asked > 0 {
		b := status.Serves(asked, st.setup.Program, os.Getpid(), st.h.Called)
		serves = &b
	}
	mode := launch.ModeDetached
	if st.setup.Parent {
		mode = launch.ModeParent
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return status.Report{
		Supervisor: os.Getpid(), Program: st.setup.Program, Mode: string(mode),
		Policy: st.setup.Path, PolicyLoaded: st.loaded, Reloads: st.reloads,
		Started: st.started, Now: time.Now(), Counters: st.h.Stats(), Serves: serves,
	}
}

// counterAttrs are the counters as log attributes under the names of the
// --status --json schema: groups, which the text format writes as
// calls.connect=2 left_alone.no_rule=1 and the json format as objects.
// Reasons that never happened are left out.
func counterAttrs(st rewrite.Snapshot) []any {
	group := func(name string, m map[string]uint64, all bool) slog.Attr {
		keys := make([]string, 0, len(m))
		for k, v := range m {
			if all || v != 0 {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		attrs := make([]any, 0, len(keys))
		for _, k := range keys {
			attrs = append(attrs, slog.Uint64(k, m[k]))
		}
		return slog.Group(name, attrs...)
	}
	per := make([]any, 0, len(st.PerSource))
	for _, s := range st.PerSource {
		per = append(per, slog.Uint64(s.Rule+"/"+s.Source.String(), s.Count))
	}
	return []any{group("calls", st.Calls, true), "bound", st.Bound, "failed", st.Failed,
		group("left_alone", st.LeftAlone, false), slog.Group("per_source", per...)}
}

// logStatsOn logs the handler's counters whenever sig arrives, at warn so
// that the default level shows them: the signal is an explicit request.
func logStatsOn(sig os.Signal, program int, h *rewrite.Handler, log *slog.Logger) {
	start := time.Now()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	go func() {
		for range ch {
			st := h.Stats()
			log.Warn("counters", append([]any{"program", program, "uptime", time.Since(start).Round(time.Second).String()},
				counterAttrs(st)...)...)
		}
	}()
}
