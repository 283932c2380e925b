//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/status"
)

// runStatus prints what the supervisor serving pid (or its nearest ancestor
// started by vipa-exec) reports: exit 0, 1 if there is no such process or
// none serves it, 2 on errors (permission denied among them).
func runStatus(arg string, stdout io.Writer) (int, error) {
	pid, err := strconv.Atoi(arg)
	if err != nil || pid <= 0 {
		return exitUsage, fmt.Errorf("--status %q: want a pid", arg)
	}
	r, err := status.Find(pid)
	switch {
	case errors.Is(err, status.ErrNoSupervisor) || errors.Is(err, status.ErrNoProcess):
		return exitWarnings, err
	case err != nil:
		return exitUsage, err
	}
	writeStatus(stdout, pid, r)
	return 0, nil
}

// writeStatus prints r for the admin who asked about pid, every string
// cleaned of what a terminal would act on.
func writeStatus(w io.Writer, pid int, r *status.Report) {
	line := func(key, format string, args ...any) {
		fmt.Fprintf(w, "%-12s%s\n", key, fmt.Sprintf(format, args...))
	}
	if pid != r.Program && pid != r.Supervisor {
		line("pid", "%d, a descendant of program %d, shares its filter", pid, r.Program)
	}
	line("program", "%d", r.Program)
	line("supervisor", "%d (%s)", r.Supervisor, status.Clean(r.Mode))
	line("policy", "%s, loaded %s, %s", status.Clean(r.Policy), r.PolicyLoaded.Local().Format(time.DateTime), plural(r.Reloads, "reload"))
	line("uptime", "%s (since %s)", r.Uptime().Round(time.Second), r.Started.Local().Format(time.DateTime))
	c := r.Counters
	line("calls", "connect %d, bind %d, sendto %d, sendmsg %d, sendmmsg %d",
		c.Calls["connect"], c.Calls["bind"], c.Calls["sendto"], c.Calls["sendmsg"], c.Calls["sendmmsg"])
	line("bound", "%d", c.Bound)
	line("failed", "%d", c.Failed)
	reasons := make([]string, 0, len(c.LeftAlone))
	for k := range c.LeftAlone {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	key := "left alone"
	if len(reasons) == 0 {
		line(key, "0")
	}
	for _, k := range reasons {
		line(key, "%d %s", c.LeftAlone[k], status.Clean(strings.TrimPrefix(k, "left alone: ")))
		key = ""
	}
	key = "per source"
	if len(c.PerSource) == 0 {
		line(key, "none yet")
	}
	for _, s := range c.PerSource {
		line(key, "%d %s (rule %s)", s.Count, s.Source, status.Clean(s.Rule))
		key = ""
	}
}

func plural(n uint64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
