//go:build linux

package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/rewrite"
	"github.com/vipa-exec/vipa-exec/internal/status"
)

// Status is --status: it prints what the supervisor serving pid (or its
// nearest ancestor started by vipa-exec, or the one an ancestor's calls
// name) reports: exit 0, 1 if there is no such process or none serves it,
// 2 on errors (permission denied, and a report that cannot be written,
// among them). Without a pid it lists the supervisors the caller may ask:
// exit 0, 1 if there are none, 2 if the list cannot be written. asJSON
// prints the versioned JSON of docs/vipa-exec.8 instead.
func Status(arg string, asJSON bool, stdout io.Writer) (int, error) {
	if arg == "" {
		return runList(asJSON, stdout)
	}
	pid, err := strconv.Atoi(arg)
	if err != nil || pid <= 0 {
		return ExitUsage, fmt.Errorf("--status %q: want a pid", arg)
	}
	r, err := status.Find(pid)
	switch {
	case errors.Is(err, status.ErrNoSupervisor) || errors.Is(err, status.ErrNoProcess):
		return ExitWarnings, err
	case err != nil:
		return ExitUsage, err
	}
	if asJSON {
		r.Serves = nil // the pid asked is the caller's: it needs no answer
		err = writeJSON(stdout, r)
	} else {
		err = writeStatus(stdout, pid, r)
	}
	if err != nil {
		return ExitUsage, fmt.Errorf("--status: write the report of pid %d: %w", pid, err)
	}
	return 0, nil
}

// runList prints one line per supervisor the caller may ask.
func runList(asJSON bool, stdout io.Writer) (int, error) {
	rs := status.List()
	exit := 0
	if len(rs) == 0 {
		exit = ExitWarnings
	}
	if asJSON {
		if err := writeJSON(stdout, status.Listing{Schema: status.Schema, Supervisors: append([]status.Report{}, rs...)}); err != nil {
			return ExitUsage, fmt.Errorf("--status: write the list: %w", err)
		}
		return exit, nil
	}
	if len(rs) == 0 {
		return exit, errors.New("--status: no vipa-exec supervisor you may ask runs here (root's answer only root; those of another network namespace listen there)")
	}
	if err := writeList(stdout, rs); err != nil {
		return ExitUsage, err
	}
	return 0, nil
}

func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// writeList prints a table of rs, the policy file last as it may hold
// spaces, and returns the error of writing it. A supervisor that names no
// engine (one older than the bpf engine) shows "-" there, so that every
// line has as many fields as the header.
func writeList(w io.Writer, rs []status.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUPERVISOR\tPROGRAM\tUID\tMODE\tENGINE\tUPTIME\tCALLS\tBOUND\tFAILED\tLEFT ALONE\tPOLICY")
	for _, r := range rs {
		var calls, left uint64
		for _, n := range r.Counters.Calls {
			calls += n
		}
		for _, n := range r.Counters.LeftAlone {
			left += n
		}
		engine := status.Clean(r.Engine)
		if engine == "" {
			engine = "-"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Supervisor, r.Program, r.UID,
			status.Clean(r.Mode), engine, r.Uptime().Round(time.Second), calls, r.Counters.Bound, r.Counters.Failed, left, status.Clean(r.Policy))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("--status: write the list: %w", err)
	}
	return nil
}

// writeStatus prints r for the admin who asked about pid, every string
// cleaned of what a terminal would act on, and returns the error of
// writing it.
func writeStatus(w io.Writer, pid int, r *status.Report) error {
	bw := bufio.NewWriter(w) // keeps the first write error for Flush
	line := func(key, format string, args ...any) {
		fmt.Fprintf(bw, "%-12s%s\n", key, fmt.Sprintf(format, args...))
	}
	if pid != r.Program && pid != r.Supervisor {
		line("pid", "%d, a process forked from program %d, under its filter", pid, r.Program)
	}
	line("program", "%d", r.Program)
	line("supervisor", "%d (%s)", r.Supervisor, status.Clean(r.Mode))
	if r.Engine != "" {
		line("engine", "%s", status.Clean(r.Engine))
	}
	line("policy", "%s, loaded %s, %s", status.Clean(r.Policy), r.PolicyLoaded.Local().Format(time.DateTime), plural(r.Reloads, "reload"))
	line("uptime", "%s (since %s)", r.Uptime().Round(time.Second), r.Started.Local().Format(time.DateTime))
	c := r.Counters
	line("calls", "connect %d, bind %d, sendto %d, sendmsg %d, sendmmsg %d",
		c.Calls["connect"], c.Calls["bind"], c.Calls["sendto"], c.Calls["sendmsg"], c.Calls["sendmmsg"])
	line("bound", "%d", c.Bound)
	line("failed", "%d", c.Failed)
	reasons := make([]string, 0, len(c.LeftAlone))
	for k, n := range c.LeftAlone {
		if n != 0 {
			reasons = append(reasons, k)
		}
	}
	sort.Strings(reasons)
	key := "left alone"
	if len(reasons) == 0 {
		line(key, "0")
	}
	for _, k := range reasons {
		line(key, "%d %s", c.LeftAlone[k], status.Clean(rewrite.ReasonText(k)))
		key = ""
	}
	key = "per source"
	if len(c.PerSource) == 0 {
		line(key, "none yet")
	}
	for _, s := range c.PerSource {
		line(key, "%d %s (rule %s)", s.Count, status.Clean(s.Source.String()), status.Clean(s.Rule))
		key = ""
	}
	key = "lc sockets"
	for _, s := range r.LCSockets {
		line(key, "%d %s", s.Count, status.Clean(s.Source.String()))
		key = ""
	}
	return bw.Flush()
}

func plural(n uint64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
