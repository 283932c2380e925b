//go:build linux

package main

import (
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestTargets: each figure, of either engine, is judged against its own
// target, at the boundary included, and a round trip that could not be
// computed (no C yardstick figure) is no success.
func TestTargets(t *testing.T) {
	met := func(f figures) []bool {
		var out []bool
		for _, r := range targets(f) {
			out = append(out, r.met)
		}
		return out
	}
	ms := time.Millisecond
	// seccomp's figures, then bpf's (ideal, RST close, start-up).
	fig := func(ideal, linger, rt float64, start time.Duration, bpf, bpfLinger float64, bpfStart time.Duration) figures {
		return figures{ideal, linger, rt, start, bpf, bpfLinger, bpfStart}
	}
	for _, tc := range []struct {
		name string
		f    figures
		want []bool // close, RST close, round trip, start-up; bpf close, bpf RST close, bpf start-up
	}{
		{"all met", fig(0.61, 0.70, 1.2, 4*ms, 1.01, 0.97, 3*ms), []bool{true, true, true, true, true, true, true}},
		{"at the boundaries", fig(0.60, 0.60, 1.3, 5*ms, 0.95, 0.95, 5*ms), []bool{true, true, true, true, true, true, true}},
		{"none met", fig(0.59, 0.5, 1.31, 5*ms+1, 0.94, 0.9, 6*ms), []bool{false, false, false, false, false, false, false}},
		{"RST close only", fig(0.7, 0.2, 1.0, ms, 0.96, 0.5, ms), []bool{true, false, true, true, true, false, true}},
		{"no yardstick", fig(0.7, 0.7, 0, ms, 1, 1, ms), []bool{true, true, false, true, true, true, true}},
		// The seccomp engine's 0.61 would not do for bpf.
		{"each engine its own target", fig(0.61, 0.61, 1, ms, 0.61, 0.96, 9*ms), []bool{true, true, true, true, false, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := testutil.Diff(tc.want, met(tc.f)); d != "" {
				t.Errorf("targets met (-want +got):\n%s", d)
			}
		})
	}
}
