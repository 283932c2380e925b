//go:build linux

package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// The target for vipa-exec/ideal; printed, never enforced.
const targetIdealRatio = 0.85

func printTCP(w io.Writer, c config, res []*tcpResult) {
	fmt.Fprintf(w, "\nTCP connect+close over loopback, %d connections per run, fresh netns per run (connections/s)\n", c.n)
	fmt.Fprintf(w, "%-18s %10s %10s %10s   %s\n", "case", "median", "min", "max", "source seen by server")
	med := map[string]float64{}
	for _, r := range res {
		m := median(r.rates)
		med[r.c.name] = m
		fmt.Fprintf(w, "%-18s %10.0f %10.0f %10.0f   %s\n", r.c.name, m, slices.Min(r.rates), slices.Max(r.rates), formatSources(r.sources))
	}
	fmt.Fprintf(w, "\n%-18s %10s %10s   %s\n", "ratio of medians", "close", "linger", "target")
	vi, vil := ratio(med["vipa-exec"], med["ideal"]), ratio(med["vipa-exec+linger"], med["ideal+linger"])
	met := "met"
	if !(vi >= targetIdealRatio && vil >= targetIdealRatio) {
		met = "NOT met"
	}
	fmt.Fprintf(w, "%-18s %10.2f %10.2f   >= %.2f (%s)\n", "vipa-exec/ideal", vi, vil, targetIdealRatio, met)
	fmt.Fprintf(w, "%-18s %10.2f %10.2f\n", "vipa-exec/bare", ratio(med["vipa-exec"], med["bare"]), ratio(med["vipa-exec+linger"], med["bare+linger"]))
	fmt.Fprintf(w, "%-18s %10.2f %10.2f\n", "ideal/bare", ratio(med["ideal"], med["bare"]), ratio(med["ideal+linger"], med["bare+linger"]))
}

func printStartup(w io.Writer, c config, r startupResult) {
	bare, wrapped := medianDuration(r.bare), medianDuration(r.wrapped)
	fmt.Fprintf(w, "\nstart-up: wall time of one run, median of %d runs each, interleaved\n", c.startupRuns)
	fmt.Fprintf(w, "%-26s %8s\n", "true", ms(bare))
	fmt.Fprintf(w, "%-26s %8s\n", "vipa-exec -p POLICY true", ms(wrapped))
	fmt.Fprintf(w, "%-26s %8s\n", "difference", ms(wrapped-bare))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func printNonTrapped(w io.Writer, c config, r nonTrappedResult) {
	fmt.Fprintf(w, "\ncalls the filter does not trap (calls/s over %d runs each; any-filter: the client under a\n", c.reps)
	fmt.Fprintf(w, "one-instruction allow-all seccomp filter, the floor any seccomp filter costs)\n")
	fmt.Fprintf(w, "%-14s %-12s %9s %12s %12s %12s %7s\n", "loop", "run", "calls/run", "median", "min", "max", "/bare")
	loops := []struct {
		name string
		n    int
	}{{"getpid", c.getpidN}, {"unix-connect", c.unixN}}
	for _, l := range loops {
		bare := r.rates[l.name]["bare"]
		for _, v := range nonTrappedVariants {
			xs := r.rates[l.name][v]
			fmt.Fprintf(w, "%-14s %-12s %9d %12.0f %12.0f %12.0f %7.2f\n", l.name, v, l.n, median(xs), slices.Min(xs), slices.Max(xs), ratio(median(xs), median(bare)))
		}
	}
	fmt.Fprintf(w, "verdicts (measured: no run of one overlaps the runs of the other)\n")
	for _, l := range loops {
		m := r.rates[l.name]
		fmt.Fprintf(w, "%-14s vipa-exec vs bare: %s; vs any-filter: %s\n", l.name, verdict(m["bare"], m["vipa-exec"]), verdict(m["any-filter"], m["vipa-exec"]))
	}
	fmt.Fprintf(w, "target: no measurable difference between vipa-exec and bare\n")
}
