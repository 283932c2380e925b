package main

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

var errBadRate = errors.New("bad rate")

// parseRate reads the one line a client prints: a positive, finite number
// of operations per second.
func parseRate(out string) (float64, error) {
	s := strings.TrimSpace(out)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0, fmt.Errorf("client printed %q: %w", s, errBadRate)
	}
	return v, nil
}

// median of xs, the mean of the middle two for an even count; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

// ratio is a/b, or NaN when b is 0 so a missing figure never reads as a
// ratio of 0 or infinity.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// formatSources lists the addresses with their counts, most frequent first,
// and leaves the count out when there is only one address.
func formatSources(m map[netip.Addr]int) string {
	addrs := make([]netip.Addr, 0, len(m))
	for a := range m {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return a.Compare(b)
	})
	if len(addrs) == 1 {
		return addrs[0].String()
	}
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = fmt.Sprintf("%s (%d)", a, m[a])
	}
	return strings.Join(parts, ", ")
}

// Fewer runs leave too many ways for noise alone to separate them.
const minRunsForVerdict = 3

// verdict calls a difference measured only when the two sets of runs do not
// overlap at all: with five runs each, chance alone separates them about
// once in 126 times, while a single threshold on the medians would flag the
// run-to-run noise of a busy two-core machine.
func verdict(ref, wrapped []float64) string {
	if len(ref) < minRunsForVerdict || len(wrapped) < minRunsForVerdict {
		return fmt.Sprintf("too few runs to tell (need %d)", minRunsForVerdict)
	}
	switch {
	case slices.Max(wrapped) < slices.Min(ref):
		return fmt.Sprintf("measurably slower (%.2f)", median(wrapped)/median(ref))
	case slices.Min(wrapped) > slices.Max(ref):
		return fmt.Sprintf("measurably faster (%.2f)", median(wrapped)/median(ref))
	}
	return "no measurable difference"
}
