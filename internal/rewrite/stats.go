//go:build linux

package rewrite

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
)

// Stats counts what the handler did, for SIGUSR1 and status queries. Its
// methods are safe for concurrent use and allocate only the first time a
// key is seen.
type Stats struct {
	calls     [5]atomic.Uint64 // connect, bind, sendto, sendmsg, sendmmsg
	bound     atomic.Uint64    // a source was bound (or a bind moved)
	failed    atomic.Uint64    // the program got an errno from vipa-exec
	leftAlone sync.Map         // reason (string) -> *atomic.Uint64
	perSource sync.Map         // sourceKey -> *atomic.Uint64
}

type sourceKey struct {
	rule string
	src  netip.Addr
}

// callNames index Stats.calls.
var callNames = [5]string{"connect", "bind", "sendto", "sendmsg", "sendmmsg"}

func counter(m *sync.Map, key any) *atomic.Uint64 {
	if c, ok := m.Load(key); ok {
		return c.(*atomic.Uint64)
	}
	c, _ := m.LoadOrStore(key, new(atomic.Uint64))
	return c.(*atomic.Uint64)
}

// record counts one decision: call is an index into callNames.
func (s *Stats) record(call int, d *decision, failed bool) {
	s.calls[call].Add(1)
	switch {
	case failed:
		s.failed.Add(1)
	case d.note != "":
		counter(&s.leftAlone, d.note).Add(1)
	case d.src.IsValid():
		s.bound.Add(1)
		counter(&s.perSource, sourceKey{d.rule, d.src}).Add(1)
	default:
		counter(&s.leftAlone, "left alone").Add(1)
	}
}

// Snapshot is a copy of the counters.
type Snapshot struct {
	Calls     map[string]uint64 `json:"calls"`
	Bound     uint64            `json:"bound"`
	Failed    uint64            `json:"failed"`
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
	for i, name := range callNames {
		out.Calls[name] = s.calls[i].Load()
	}
	s.leftAlone.Range(func(k, v any) bool {
		out.LeftAlone[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
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
