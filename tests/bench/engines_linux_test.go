//go:build linux

package main

import (
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestEngineRows: each engine's figure is judged against its own target,
// at the boundary included; a ratio that could not be computed (0) fails.
func TestEngineRows(t *testing.T) {
	met := func(e engines) []bool {
		var out []bool
		for _, r := range e.rows() {
			out = append(out, r.met)
		}
		return out
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		e    engines
		want []bool // bpf close, bpf RST, seccomp close, seccomp RST, bpf start-up, seccomp start-up
	}{
		{"all met", engines{1.01, 0.97, 0.61, 0.7, 3 * ms, 4 * ms}, []bool{true, true, true, true, true, true}},
		{"at the boundaries", engines{0.95, 0.95, 0.60, 0.60, 5 * ms, 5 * ms}, []bool{true, true, true, true, true, true}},
		{"none met", engines{0.94, 0.9, 0.59, 0.5, 5*ms + 1, 6 * ms}, []bool{false, false, false, false, false, false}},
		// The seccomp engine's 0.61 would not do for bpf.
		{"each its own target", engines{0.61, 0.96, 0.61, 0.61, ms, 9 * ms}, []bool{false, true, true, true, true, false}},
		{"no figures", engines{}, []bool{false, false, false, false, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := testutil.Diff(tc.want, met(tc.e)); d != "" {
				t.Errorf("targets met (-want +got):\n%s", d)
			}
		})
	}
}
