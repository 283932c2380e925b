package rrstate

import (
	"math/rand/v2"
	"sync/atomic"
)

// Local is a counter of this process alone, for an instance that cannot
// share one: it still rotates, from a random start.
type Local struct{ v atomic.Uint64 }

// NewLocal returns a Local counter at a random start.
func NewLocal() *Local {
	l := &Local{}
	l.v.Store(rand.Uint64N(1 << 32))
	return l
}

// Next increments the counter and returns its previous value.
func (l *Local) Next() uint64 { return l.v.Add(1) - 1 }

// Load returns the counter's value.
func (l *Local) Load() uint64 { return l.v.Load() }
