//go:build linux

package rewrite

import (
	"maps"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// Stats counts what the handler did, for SIGUSR1 and status queries. Its
// methods are safe for concurrent use and allocate only the first time a
// key is seen.
type Stats struct {
	calls     [notify.NumOps]atomic.Uint64
	bound     atomic.Uint64 // a source was bound (or a bind moved)
	failed    atomic.Uint64 // the program got an errno from vipa-exec
	leftAlone [NumReasons]atomic.Uint64
	// perSource is replaced, never changed, when a key is added (under
	// mu): a lookup with a struct key boxes nothing, where a sync.Map's
	// any key costs an allocation on every bind.
	perSource atomic.Pointer[map[sourceKey]*atomic.Uint64]
	mu        sync.Mutex
}

type sourceKey struct {
	rule string
	src  netip.Addr
}

// sourceCounter returns the counter of key, adding it the first time.
func (s *Stats) sourceCounter(key sourceKey) *atomic.Uint64 {
	if m := s.perSource.Load(); m != nil {
		if c, ok := (*m)[key]; ok {
			return c
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.perSource.Load()
	if old != nil {
		if c, ok := (*old)[key]; ok {
			return c
		}
	}
	m := make(map[sourceKey]*atomic.Uint64, 1)
	if old != nil {
		maps.Copy(m, *old)
	}
	c := new(atomic.Uint64)
	m[key] = c
	s.perSource.Store(&m)
	return c
}

// record counts one decision on a call of op.
func (s *Stats) record(op notify.Op, d *decision, failed bool) {
	s.calls[op].Add(1)
	switch {
	case failed:
		s.failed.Add(1)
	case d.why != ReasonNone:
		s.leftAlone[d.why].Add(1)
	case d.src.IsValid():
		s.bound.Add(1)
		s.sourceCounter(sourceKey{d.rule, d.src}).Add(1)
	default:
		s.leftAlone[ReasonNone].Add(1)
	}
}

// Snapshot is a copy of the counters, part of the --status --json schema
// (docs/vipa-exec.8).
type Snapshot struct {
	// Calls counts the calls of each kind, keyed by notify.Op's names
	// ("connect", "bind", "sendto", "sendmsg", "sendmmsg"), all present.
	Calls  map[string]uint64 `json:"calls"`
	Bound  uint64            `json:"bound"`
	Failed uint64            `json:"failed"`
	// LeftAlone counts the calls left alone, keyed by Reason's names,
	// all present.
	LeftAlone map[string]uint64 `json:"left_alone"`
	// PerSource counts the binds of each rule ("FILE:LINE") and source.
	PerSource []SourceCount `json:"per_source"`
}

// SourceCount is how often a rule bound a source.
type SourceCount struct {
	Rule   string     `json:"rule"`
	Source netip.Addr `json:"source"`
	Count  uint64     `json:"count"`
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() Snapshot {
	out := Snapshot{Calls: map[string]uint64{}, LeftAlone: map[string]uint64{},
		Bound: s.bound.Load(), Failed: s.failed.Load()}
	for op := notify.OpConnect; op < notify.NumOps; op++ {
		out.Calls[op.String()] = s.calls[op].Load()
	}
	for r := range NumReasons {
		out.LeftAlone[r.String()] = s.leftAlone[r].Load()
	}
	if m := s.perSource.Load(); m != nil {
		for key, c := range *m {
			out.PerSource = append(out.PerSource, SourceCount{Rule: key.rule, Source: key.src, Count: c.Load()})
		}
	}
	sort.Slice(out.PerSource, func(i, j int) bool {
		a, b := out.PerSource[i], out.PerSource[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Source.Less(b.Source)
	})
	return out
}
