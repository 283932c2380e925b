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
	"sync"
	"syscall"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/notify"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
	"github.com/vipa-exec/vipa-exec/internal/watch"
)

// supervisorWorkers is how many threads answer notifications at once: more
// than one, so that one slow answer (a page fault in the traced process's
// memory, say) does not stall every other traced thread.
const supervisorWorkers = 2

// prepareSupervisor is the supervisor's side of launch.RunStage.
func prepareSupervisor(path string, data []byte) (func(*notify.Listener) error, error) {
	pol, err := conf.Parse(path, data)
	if err != nil {
		return nil, err
	}
	log := newLogger(os.Stderr, supervisorLogSettings(), toJournal(os.Stderr, os.Getenv("JOURNAL_STREAM"))).
		With("supervisor", os.Getpid())
	env := newPolicyState(path, log)
	if pol, err = env.attach(pol); err != nil {
		env.close()
		return nil, err
	}
	notify.SetPanicReporter(func(p any) {
		log.Error("bug: handler panicked; the call went on unchanged", "panic", fmt.Sprint(p))
	})
	h := rewrite.NewHandler(pol, log)
	watchPolicy(path, data, h, log, env.attach)
	logStatsOn(syscall.SIGUSR1, h, log)
	// Keep a P idle beside the workers blocked in RECV: with none idle, the
	// runtime's sysmon takes the P of a worker blocked in a syscall for over
	// 20 µs and may wake a spare thread for it, which the worker then has to
	// win back when its notification arrives.
	runtime.GOMAXPROCS(supervisorWorkers + 1)
	return func(l *notify.Listener) error {
		defer env.close()
		log.Info("supervising", "program", programPid(), "policy", path,
			"connect_rules", len(pol.ConnectRules()), "bind_rules", len(pol.BindRules()),
			"sources", sourcesOf(pol), "sync_wake_up", l.SyncWakeUp(),
			"trap_sendmsg", pol.Options().TrapSendmsg, "allow_io_uring", pol.Options().AllowIOUring)
		return notify.Serve(l, h, supervisorWorkers)
	}, nil
}

// watchPolicy reloads the policy file when it changes (an in-place write or
// an atomic rename) and on SIGHUP. A new version applies to calls trapped
// after it; a version with errors is logged and the running one kept.
func watchPolicy(path string, loaded []byte, h *rewrite.Handler, log *slog.Logger, attach func(*policy.Policy) (*policy.Policy, error)) {
	var mu sync.Mutex
	started := h.Policy().Options()
	reload := func(trigger string) {
		mu.Lock()
		defer mu.Unlock()
		data, err := os.ReadFile(path)
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
		if pol.Options() != started {
			log.Warn("policy reloaded, but its [options] change what the filter traps: they take effect when the program is started again", "file", path)
		}
		h.SetPolicy(pol)
		loaded = data
		log.Info("policy reloaded", "file", path, "trigger", trigger)
	}
	if _, err := watch.File(path, func() { reload("file changed") }); err != nil {
		log.Warn("cannot watch the policy file; reload with SIGHUP", "err", err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			reload("SIGHUP")
		}
	}()
}

// programPid is the pid of the program the supervisor serves (its argv[1]).
func programPid() string {
	if len(os.Args) > 1 {
		return os.Args[1]
	}
	return ""
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

// logStatsOn logs the handler's counters whenever sig arrives, at warn so
// that the default level shows them: the signal is an explicit request.
func logStatsOn(sig os.Signal, h *rewrite.Handler, log *slog.Logger) {
	start := time.Now()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	go func() {
		for range ch {
			st := h.Stats()
			log.Warn("counters", "program", programPid(), "uptime", time.Since(start).Round(time.Second).String(),
				"calls", st.Calls, "bound", st.Bound, "failed", st.Failed, "left_alone", st.LeftAlone, "per_source", st.PerSource)
		}
	}()
}
