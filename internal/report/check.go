package report

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/hostaddr"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/supervisor"
)

// hostAddr is an address assigned to one of this host's interfaces.
type hostAddr = hostaddr.Addr

// Check is --check: it reads the policy file as a launch would (host
// names resolved), prints its rules with whether each source is an address
// of this host, and the engine a launch here would get (engine: --engine,
// "" if not given), and exits 0, 1 when there is a warning, 2 on an error.
func Check(ctx context.Context, flagPath, engine string, stdout io.Writer) (int, error) {
	path, _, res, err := LoadPolicy(ctx, flagPath)
	if err != nil {
		return ExitUsage, err
	}
	local, err := hostaddr.Dump()
	if err != nil {
		return ExitUsage, err
	}
	_, reason, err := supervisor.ChooseEngine(engine, res.Policy, true)
	if err != nil {
		return ExitUsage, err
	}
	n, err := checkReport(stdout, path, res, local)
	if err != nil {
		return ExitUsage, err
	}
	if _, err := fmt.Fprintln(stdout, reason); err != nil {
		return ExitUsage, fmt.Errorf("write the report: %w", err)
	}
	if n > 0 {
		return ExitWarnings, nil
	}
	return 0, nil
}

// checkReport writes the report of --check and returns the number of
// warnings in it, or the error of writing its table.
func checkReport(out io.Writer, path string, res *conf.Result, local []hostAddr) (int, error) {
	connect, bind := res.Policy.ConnectRules(), res.Policy.BindRules()
	ifaces := 0
	for _, r := range connect {
		if r.Interface != "" {
			ifaces++
		}
	}
	rules := count(len(connect)-ifaces, "[[connect]] rule", "[[connect]] rules")
	if ifaces > 0 {
		rules += ", " + count(ifaces, "[[interface]] rule", "[[interface]] rules")
	}
	fmt.Fprintf(out, "%s: %s file, %s and %s\n", path, res.Format, rules, count(len(bind), "[[bind]] rule", "[[bind]] rules"))
	for _, w := range res.Warnings {
		fmt.Fprintln(out, w)
	}
	bad := 0
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	rule := func(origin, what, pol string, mode fs.FileMode, srcs []netip.Addr) {
		if pol == policy.RR && mode != 0 && mode != policy.DefaultRRMode {
			pol += fmt.Sprintf(" (rr_mode %04o)", uint32(mode))
		}
		fmt.Fprintf(tw, "\n%s: %s, policy %s\n", origin, what, pol)
		if len(srcs) == 0 {
			fmt.Fprintln(tw, "    no sources: the kernel chooses")
		}
		for _, a := range srcs {
			s, ok := sourceState(a, local)
			if !ok {
				bad++
			}
			addr := a.String()
			if n, ok := res.Names[a]; ok {
				addr += " (" + n + ")"
			}
			fmt.Fprintf(tw, "    %s\t%s\n", addr, s)
		}
	}
	for _, r := range connect {
		what := "connect " + r.Destination.String()
		if r.Interface != "" {
			what = "interface " + r.Interface
		}
		if r.Ports != (policy.PortRange{}) {
			what += " ports " + r.Ports.String()
		}
		if r.Protocol != policy.AnyProtocol {
			what += " " + r.Protocol.String()
		}
		rule(r.Origin, what, r.Policy, r.RRMode, r.Sources)
		if r.Interface != "" && !hasInterface(r.Interface) {
			fmt.Fprintf(tw, "    no interface %s on this host (yet): the rule applies once there is\n", r.Interface)
		}
	}
	for _, r := range bind {
		rule(r.Origin, "bind "+r.Ports.String(), r.Policy, r.RRMode, r.Sources)
	}
	if err := tw.Flush(); err != nil {
		return 0, fmt.Errorf("--check: write the report: %w", err)
	}
	n := len(res.Warnings) + bad
	if n == 0 {
		fmt.Fprintln(out, "\nOK: no warnings")
		return 0, nil
	}
	fmt.Fprintf(out, "\n%s: %d about the file, %s\n", count(n, "warning", "warnings"), len(res.Warnings), count(bad, "source not usable on this host", "sources not usable on this host"))
	return n, nil
}

// sourceState says whether a socket can be bound to source a on this host;
// ok is false when it cannot.
func sourceState(a netip.Addr, local []hostAddr) (state string, ok bool) {
	if a.IsUnspecified() {
		return "wildcard: the bind stays on every address", true
	}
	var ifs, tentative []string
	for _, l := range local {
		if l.Addr != a {
			continue
		}
		if l.Tentative {
			tentative = append(tentative, l.Iface)
		} else {
			ifs = append(ifs, l.Iface)
		}
	}
	slices.Sort(ifs)
	switch {
	case len(ifs) > 0:
		return "local (" + strings.Join(slices.Compact(ifs), ", ") + ")", true
	case len(tentative) > 0:
		return "NOT USABLE: tentative on " + strings.Join(tentative, ", ") + " (IPv6 duplicate address detection)", false
	}
	return "NOT LOCAL: on no interface of this host", false
}

// count spells n things: "1 rule", "2 rules".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// hasInterface reports whether this host (network namespace) has an
// interface of that name now.
func hasInterface(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}
