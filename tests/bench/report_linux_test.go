//go:build linux

package main

import (
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestTargets: each figure is judged against its own target, at the
// boundary included, and a round trip that could not be computed (no C
// yardstick figure) is no success.
func TestTargets(t *testing.T) {
	met := func(f figures) []bool {
		var out []bool
		for _, r := range targets(f) {
			out = append(out, r.met)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    figures
		want []bool // close, RST close, round trip, start-up
	}{
		{"all met", figures{0.61, 0.70, 1.2, 4 * time.Millisecond}, []bool{true, true, true, true}},
		{"at the boundaries", figures{0.60, 0.60, 1.3, 5 * time.Millisecond}, []bool{true, true, true, true}},
		{"none met", figures{0.59, 0.5, 1.31, 5*time.Millisecond + 1}, []bool{false, false, false, false}},
		{"RST close only", figures{0.7, 0.2, 1.0, time.Millisecond}, []bool{true, false, true, true}},
		{"no yardstick", figures{0.7, 0.7, 0, time.Millisecond}, []bool{true, true, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := testutil.Diff(tc.want, met(tc.f)); d != "" {
				t.Errorf("targets met (-want +got):\n%s", d)
			}
		})
	}
}
