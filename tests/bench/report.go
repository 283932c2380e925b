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
	fmt.Fprintf(w, "%-22s %10s %10s %10s   %s\n", "case", "median", "min", "max", "source seen by server")
	med := map[string]float64{}
	for _, r := range res {
		m := median(r.rates)
		med[r.c.name] = m
		fmt.Fprintf(w, "%-22s %10.0f %10.0f %10.0f   %s\n", r.c.name, m, slices.Min(r.rates), slices.Max(r.rates), formatSources(r.sources))
	}
	fmt.Fprintf(w, "\n%-22s %10s %10s   %s\n", "ratio of medians", "close", "linger", "target")
	vi, vil := ratio(med["vipa-exec"], med["ideal"]), ratio(med["vipa-exec+linger"], med["ideal+linger"])
	met := "met"
	if !(vi >= targetIdealRatio && vil >= targetIdealRatio) {
		met = "NOT met"
	}
	fmt.Fprintf(w, "%-22s %10.2f %10.2f   >= %.2f (%s)\n", "vipa-exec/ideal", vi, vil, targetIdealRatio, met)
	for _, row := range []struct{ a, b string }{
		{"c-supervisor", "ideal"},
		{"vipa-exec", "c-supervisor"},
		{"vipa-exec", "bare"},
		{"ideal", "bare"},
	} {
		fmt.Fprintf(w, "%-22s %10.2f %10.2f\n", row.a+"/"+row.b, ratio(med[row.a], med[row.b]), ratio(med[row.a+"+linger"], med[row.b+"+linger"]))
	}
	// The target was set from a C supervisor measured on another machine;
	// the same kernel work in C, measured here in the same run, is the
	// fair reference for how much of the gap is vipa-exec's own.
	fmt.Fprintf(w, "(c-supervisor/ideal: what the same kernel work reaches in minimal C, on this machine, in this run;\n")
	fmt.Fprintf(w, " vipa-exec/c-supervisor: the part of the gap that is vipa-exec's own)\n")
}

// printTrapped reports the trapped loop in microseconds per call, the unit
// the round-trip cost is wanted in.
func printTrapped(w io.Writer, c config, r trappedResult) {
	fmt.Fprintf(w, "\ntrapped round trip: connect(-1, 127.0.0.1:9, 16), %d calls per run, %d runs each. The filter\n", c.trapN, c.reps)
	fmt.Fprintf(w, "traps it, no rule matches: the supervisor reads the address and answers \"continue\", then the\n")
	fmt.Fprintf(w, "kernel fails the call with EBADF (µs per call)\n")
	fmt.Fprintf(w, "%-22s %10s %10s %10s\n", "run", "median", "min", "max")
	us := map[string]float64{}
	for _, v := range trappedVariants {
		xs := make([]float64, len(r.rates[v]))
		for i, rate := range r.rates[v] {
			xs[i] = 1e6 / rate
		}
		us[v] = median(xs)
		fmt.Fprintf(w, "%-22s %10.3f %10.3f %10.3f\n", v, us[v], slices.Min(xs), slices.Max(xs))
	}
	fmt.Fprintf(w, "verdict on calls/s (measured: no run of one overlaps the runs of the other)\n")
	fmt.Fprintf(w, "vipa-exec vs c-supervisor: %s\n", verdict(r.rates[supC], r.rates[supVipaExec]))

	fmt.Fprintf(w, "\nround trip cost: trapped minus bare, medians (µs per call)\n")
	vc, cc := us[supVipaExec]-us["bare"], us[supC]-us["bare"]
	fmt.Fprintf(w, "%-22s %10.3f\n", supVipaExec, vc)
	fmt.Fprintf(w, "%-22s %10.3f\n", supC, cc)
	fmt.Fprintf(w, "%-22s %10.2f\n", "vipa-exec/c-supervisor", ratio(vc, cc))
}

func printStartup(w io.Writer, c config, r startupResult) {
	bare, wrapped, parent := medianDuration(r.bare), medianDuration(r.wrapped), medianDuration(r.parent)
	fmt.Fprintf(w, "\nstart-up: wall time of one run, median of %d runs each, interleaved\n", c.startupRuns)
	fmt.Fprintf(w, "%-45s %8s\n", "true", ms(bare))
	fmt.Fprintf(w, "%-45s %8s\n", "vipa-exec -p POLICY true", ms(wrapped))
	fmt.Fprintf(w, "%-45s %8s\n", "difference", ms(wrapped-bare))
	fmt.Fprintf(w, "%-45s %8s\n", "vipa-exec --supervise=parent -p POLICY true", ms(parent))
	fmt.Fprintf(w, "%-45s %8s\n", "difference (parent)", ms(parent-bare))
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
