//go:build linux

package rewrite

import (
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
	perSource sync.Map // sourceKey -> *atomic.Uint64
}

type sourceKey struct {
	rule string
	src  netip.Addr
}

func counter(m *sync.Map, key any) *atomic.Uint64 {
	if c, ok := m.Load(key); ok {
		return c.(*atomic.Uint64)
	}
	c, _ := m.LoadOrStore(key, new(atomic.Uint64))
	return c.(*atomic.Uint64)
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
		counter(&s.perSource, sourceKey{d.rule, d.src}).Add(1)
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
	s.perSource.Range(func(k, v any) bool {
		key := k.(sourceKey)
		out.PerSource = append(out.PerSource, SourceCount{Rule: key.rule, Source: key.src, Count: v.(*atomic.Uint64).Load()})
		return true
	})
	sort.Slice(out.PerSource, func(i, j int) bool {
		a, b := out.PerSource[i], out.PerSource[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Source.Less(b.Source)
	})
	return out
}
