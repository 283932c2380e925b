//go:build linux

package supervisor

import (
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"sync"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/launch"
	"github.com/vipa-exec/vipa-exec/internal/rewrite"
	"github.com/vipa-exec/vipa-exec/internal/status"
)

// statusInfo is what --status reports beyond the engine's counters.
type statusInfo struct {
	setup   launch.Setup
	eng     engine
	lc      func() map[netip.Addr]int // lc's socket counts (engine.LCSockets)
	started time.Time
	mu      sync.Mutex
	loaded  time.Time // when the running policy was loaded
	reloads uint64
}

func newStatusInfo(s launch.Setup, eng engine, lc func() map[netip.Addr]int) *statusInfo {
	now := time.Now()
	return &statusInfo{setup: s, eng: eng, lc: lc, started: now, loaded: now}
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
		b := status.Serves(asked, st.setup.Program, os.Getpid(), st.eng.Called)
		serves = &b
	}
	mode := launch.ModeDetached
	if st.setup.Parent {
		mode = launch.ModeParent
	}
	var lc []status.SocketCount
	for a, n := range st.lc() {
		lc = append(lc, status.SocketCount{Source: a, Count: n})
	}
	sort.Slice(lc, func(i, j int) bool { return lc[i].Source.Less(lc[j].Source) })
	st.mu.Lock()
	defer st.mu.Unlock()
	return status.Report{
		Supervisor: os.Getpid(), Program: st.setup.Program, Mode: string(mode), Engine: st.eng.Name(),
		Policy: st.setup.Path, PolicyLoaded: st.loaded, Reloads: st.reloads,
		Started: st.started, Now: time.Now(), Counters: st.eng.Snapshot(), LCSockets: lc, Serves: serves,
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

// logStatsOn logs the engine's counters whenever sig arrives, at warn so
// that the default level shows them: the signal is an explicit request.
// stop ignores sig from then on (the supervisor is about to exit: a late
// signal must not end it before it cleans up).
func logStatsOn(sig os.Signal, program int, eng engine, log *slog.Logger) (stop func()) {
	start := time.Now()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range ch {
			log.Warn("counters", append([]any{"program", program, "engine", eng.Name(), "uptime", time.Since(start).Round(time.Second).String()},
				counterAttrs(eng.Snapshot())...)...)
		}
	})
	return func() {
		signal.Ignore(sig) // no send on ch after it returns
		close(ch)
		wg.Wait()
	}
}
