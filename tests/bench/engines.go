//go:build linux

package main

import "time"

// Issue 11's target for the bpf engine: its hooks run in the program's own
// connect, so it should come close to the client that binds the VIPA
// itself. Printed, never enforced.
const targetBPFIdeal = 0.95 // bpf/ideal, with either close, at least

// bpfFigures are the bpf engine's medians: bpf/ideal with a plain and with
// an RST close, and `vipa-exec --engine=bpf true` over `true`.
func bpfFigures(tcp []*tcpResult, su startupResult) (ideal, idealLinger float64, startup time.Duration) {
	med := map[string]float64{}
	for _, r := range tcp {
		med[r.c.name] = median(r.rates)
	}
	return ratio(med["bpf"], med["ideal"]), ratio(med["bpf+linger"], med["ideal+linger"]),
		medianDuration(su.bpf) - medianDuration(su.bare)
}
