// Command vipa-exec runs a program so that its outgoing connections leave
// from a virtual IP address chosen by a policy. See usage below, or
// docs/ARCHITECTURE.md for how.
//
// GOMAXPROCS does not follow the cgroup's CPU limit: the launcher lives
// milliseconds, and the supervisor sets GOMAXPROCS itself for its workers.
// The runtime still reads the limit once at start (for a metric), but then
// closes the files instead of keeping two of them open in the supervisor
// for the whole run, and its sysmon no longer re-reads them every second.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/launch"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/report"
	"github.com/vipa-exec/vipa-exec/internal/supervisor"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses of vipa-exec itself; PROGRAM's own status is passed through
// unchanged because PROGRAM replaces vipa-exec. The maintenance verbs'
// are report's.
const (
	exitUsage      = report.ExitUsage // bad options, bad policy, missing kernel feature, setup failure
	exitCannotExec = 126              // PROGRAM found but not executable (as env(1))
	exitNotFound   = 127              // PROGRAM not found (as env(1))
)

const usage = `Usage: vipa-exec [OPTIONS] [--] PROGRAM [ARGS...]
       vipa-exec --check [-p FILE]
       vipa-exec --explain DEST[:PORT] [--protocol tcp|udp] [-p FILE]
       vipa-exec --convert FILE
       vipa-exec --status [PID] [--json]

Run PROGRAM so that its outgoing connections leave from a virtual IP address
(VIPA) chosen by a policy, and its listening sockets can be moved onto one.

PROGRAM replaces vipa-exec (same PID, same exit status). Two engines bind
its sockets, for static, dynamic, Go, setuid and any other programs, and
their children. bpf: the kernel's cgroup hooks, attached to a cgroup of
PROGRAM's own, bind each socket to the source the policy selects when it
connects (io_uring's too); it needs CAP_BPF and CAP_NET_ADMIN (or root) and
cgroup v2. seccomp, for any user: a seccomp filter traps bind(2) and
connect(2) on IPv4 and IPv6 sockets, and a supervisor process, detached from
PROGRAM, reads each trapped address, binds the socket and lets the call go
on; if it dies, their trapped calls fail with ENOSYS. Either way the
supervisor exits by itself after the last of them; --log-level info says
which engine serves, and why.

Options end at the first non-option or at "--".

Options:
  -p, --policy FILE   policy file, TOML or src_vipa.conf; default
                      $VIPA_EXEC_POLICY, then $SRC_VIPA_CONFIG_FILE, then
                      /etc/vipa-exec/policy.toml, then /etc/src_vipa.conf
                      (a file named by -p or a variable must exist)
  -u, --user USER     run PROGRAM as USER (name or number), with USER's
                      primary group and supplementary groups, as login(1)
                      would set them; needs root
  -g, --group GROUP   run PROGRAM with group GROUP (name or number); alone,
                      it also clears the supplementary groups; needs root
      --log-level LEVEL
                      what the supervisor logs on stderr: error, warn
                      (default), info (also one line at start and one per
                      policy reload) or debug (also one line per decision)
      --log-format FORMAT
                      text (default) or json; without timestamps when
                      $JOURNAL_STREAM shows stderr goes to the journal
      --supervise MODE
                      where the supervisor runs: detached (PROGRAM keeps
                      vipa-exec's PID), parent (vipa-exec stays PROGRAM's
                      parent, forwards it every signal but SIGCHLD, SIGURG
                      and SIGPIPE, and exits with its status, 128+N after
                      signal N) or auto (default): detached, unless Yama's
                      ptrace_scope is 1 and vipa-exec lacks CAP_SYS_PTRACE,
                      so that only an ancestor may read PROGRAM's memory
      --engine ENGINE what binds PROGRAM's sockets: bpf (the kernel's
                      cgroup hooks), seccomp (a filter and the supervisor)
                      or auto (default): bpf where it can serve (CAP_BPF and
                      CAP_NET_ADMIN or root, a cgroup v2 group, no
                      [[interface]] rule), else seccomp; a bpf that cannot
                      serve is an error (exit 2); overrides [options] engine
  -h, --help          show this help and exit
      --version       show the version and exit

Maintenance (instead of PROGRAM):
      --check         check the policy file, resolve its host names and
                      list each source with whether it is an address of this
                      host; exit 0, 1 if there are warnings, 2 on errors
      --explain DEST[:PORT]
                      show the rule a connection to DEST (an address, or a
                      host name: each of its addresses) would match
                      (FILE:LINE), its policy and sources, and the source the
                      next connection would get; 0.0.0.0:PORT or [::]:PORT
                      explains a bind instead; exit 1 if no rule matches
      --protocol tcp|udp
                      the protocol --explain assumes (default tcp)
      --convert FILE  print the src_vipa.conf FILE as a TOML policy file,
                      comments kept
      --status PID    show the supervisor serving PID (its nearest
                      ancestor started by vipa-exec, or the program it
                      forked away from and has called through): its pid,
                      policy file, uptime and counters; exit 1 if there is
                      none. Without PID, list the supervisors you may ask.
                      Run it as root for root's supervisors, as the user
                      for theirs; without /run/user/UID, in the program's
                      network namespace
      --json          with --status: print the versioned JSON of the man
                      page's STATUS SCHEMA

Policy file:
  [[connect]]                   # outgoing connections
  destination = "10.0.0.0/8"    # the most specific destination wins
  ports       = "1-1023"        # optional: destination ports
  protocol    = "tcp"           # optional: tcp or udp
  sources     = ["192.0.2.10"]  # VIPAs of the destination's family
  policy      = "onevipa"       # onevipa (first source), random, lrr (round
                                # robin per process), rr (one round robin for
                                # all instances; rr_mode = "0600"), lc (fewest
                                # sockets), kernel (leave the kernel's choice)
  on_error    = "continue"      # or "fail": return bind's errno to PROGRAM

  [[interface]]                 # connections no [[connect]] rule matches
  name    = "eth1"              # whose route goes out of eth1
  sources = ["192.0.2.11"]      # IPv4 and IPv6 may mix; other keys as above

  [options]                     # the filter's are fixed when PROGRAM starts
  trap_sendmsg   = false        # true: sendmsg(), sendmmsg() too; costs each
                                # a round trip to the supervisor
  allow_io_uring = false        # true: io_uring works, its connections are
                                # not rewritten (default: ENOSYS, programs
                                # fall back to ordinary syscalls)
  defer_wildcard_binds = true   # a bind() to 0.0.0.0:0 or [::]:0 (dig, host,
                                # nslookup) leaves the source to the connect
                                # rule; false: the kernel's source
  absent_sources = "skip"       # sources not on the host are skipped while
                                # gone; "use": bind them anyway, on_error decides

  [[bind]]                      # bind() to 0.0.0.0 or :: with such a port
  ports   = "6000-6999"
  sources = ["192.0.2.10"]

  /usr/share/doc/vipa-exec/examples/policy.toml (examples/policy.toml in
  the source) explains every key.

Privileges:
  As root (CAP_SYS_ADMIN), setuid and file-capability programs keep their
  privileges. Otherwise vipa-exec sets no_new_privs, says so once on stderr,
  and such programs run without their extra privileges. vipa-exec never binds
  for PROGRAM what PROGRAM could not bind itself: a [[bind]] port below
  net.ipv4.ip_unprivileged_port_start needs PROGRAM's CAP_NET_BIND_SERVICE.

src_vipa.conf files:
  vipa-exec reads src_vipa 2.x configuration files unchanged, told from TOML
  by their contents: "DEST/MASK POLICY SOURCE..." and ".INADDR_ANY PORT[-PORT]
  POLICY SOURCE..." lines, policies onevipa, random, lrr, rr:ABC and lc, host
  names resolved at start. A policy it cannot parse means round robin, with a
  warning on stderr. --convert shows the same rules in TOML.

Environment:
  VIPA_EXEC_POLICY      the policy file when -p is not given
  SRC_VIPA_CONFIG_FILE  the policy file when neither -p nor $VIPA_EXEC_POLICY
                        is given, as for src_vipa

Exit status:
  PROGRAM's own; 2 if vipa-exec fails before starting PROGRAM (bad option,
  bad policy, missing kernel feature); 126 if PROGRAM cannot be executed;
  127 if it is not found. The maintenance options: 0, 1 for warnings (or no
  matching rule, or no supervisor), 2 for errors.

Requires Linux >= 5.9 (seccomp user notification, pidfd_getfd); Linux >= 6.6
makes each trapped call several times faster (synchronous wake-up). The bpf
engine needs Linux >= 5.12.

Examples:
  vipa-exec -p /etc/vipa-exec/web.toml curl https://example.net/
  ExecStart=/usr/bin/vipa-exec -p /etc/vipa-exec/web.toml /usr/sbin/nginx
  vipa-exec --explain 10.1.2.3:443 -p /etc/vipa-exec/web.toml
  vipa-exec --convert /etc/src_vipa.conf > /etc/vipa-exec/policy.toml
  vipa-exec --status "$(systemctl show -P MainPID web.service)"
`

func main() {
	if launch.Stage() != "" {
		// The log settings arrive from the launcher once the stage runs.
		os.Exit(launch.RunStage(func() launch.Prepare {
			return supervisor.Prepare(supervisor.LogSettingsFromEnv())
		}))
	}
	code, err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vipa-exec: %s\n", oneLine(err))
	}
	os.Exit(code)
}

// run parses args and execs PROGRAM; it returns only when it did not.
func run(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("vipa-exec", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		policyPath, userName, groupName string
		help, showVersion               bool
		check, jsonOut                  bool
		explain, convert, protocol      string
		statusPid                       string
		logLevel, logFormat             string
		supervise, engine               string
	)
	fs.StringVar(&policyPath, "p", "", "")
	fs.StringVar(&policyPath, "policy", "", "")
	fs.StringVar(&userName, "u", "", "")
	fs.StringVar(&userName, "user", "", "")
	fs.StringVar(&groupName, "g", "", "")
	fs.StringVar(&groupName, "group", "", "")
	fs.BoolVar(&help, "h", false, "")
	fs.BoolVar(&help, "help", false, "")
	fs.BoolVar(&showVersion, "version", false, "")
	fs.BoolVar(&check, "check", false, "")
	fs.StringVar(&explain, "explain", "", "")
	fs.StringVar(&protocol, "protocol", "", "")
	fs.StringVar(&convert, "convert", "", "")
	fs.StringVar(&statusPid, "status", "", "")
	fs.BoolVar(&jsonOut, "json", false, "")
	fs.StringVar(&logLevel, "log-level", "warn", "")
	fs.StringVar(&logFormat, "log-format", "text", "")
	fs.StringVar(&supervise, "supervise", string(launch.ModeAuto), "")
	fs.StringVar(&engine, "engine", "", "")
	if err := fs.Parse(statusArgs(fs, args)); err != nil {
		return exitUsage, fmt.Errorf("%w (see vipa-exec --help)", optionError(fs, args, err))
	}
	if engine != "" {
		if _, err := policy.ParseEngine(engine); err != nil {
			return exitUsage, fmt.Errorf("--engine: %w (see vipa-exec --help)", err)
		}
	}
	if help {
		fmt.Fprint(stdout, usage)
		return 0, nil
	}
	if showVersion {
		fmt.Fprintf(stdout, "vipa-exec %s\n", versionString())
		return 0, nil
	}
	argv := fs.Args()
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if v := verb(set); v != "" {
		if err := verbUsage(v, set, argv); err != nil {
			return exitUsage, fmt.Errorf("%w (see vipa-exec --help)", err)
		}
		ctx := context.Background()
		switch v {
		case "convert":
			return report.Convert(ctx, convert, stdout, stderr)
		case "check":
			return report.Check(ctx, policyPath, engine, stdout)
		case "explain":
			return report.Explain(ctx, policyPath, engine, explain, protocol, stdout, stderr)
		case "status":
			return report.Status(statusPid, jsonOut, stdout)
		}
	}
	if set["json"] {
		return exitUsage, errors.New("--json goes with --status (see vipa-exec --help)")
	}
	if set["protocol"] {
		return exitUsage, errors.New("--protocol goes with --explain (see vipa-exec --help)")
	}
	if len(argv) == 0 {
		return exitUsage, errors.New("no PROGRAM given (see vipa-exec --help)")
	}

	logs, err := supervisor.ParseLogSettings(logLevel, logFormat)
	if err != nil {
		return exitUsage, fmt.Errorf("%w (see vipa-exec --help)", err)
	}
	mode, err := launch.ParseMode(supervise)
	if err != nil {
		return exitUsage, fmt.Errorf("%w (see vipa-exec --help)", err)
	}
	policyPath, data, res, err := report.LoadPolicy(context.Background(), policyPath)
	if err != nil {
		return exitUsage, err
	}
	// Only here: the supervisor parses the same bytes (and addresses) and
	// keeps quiet.
	report.PrintWarnings(stderr, res.Warnings)

	cred, err := lookupCredential(userName, groupName)
	if err != nil {
		return exitUsage, err
	}
	if cred != nil {
		if err := launch.MayChangeCred(cred); err != nil {
			return exitUsage, err
		}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return exitCannotExec, err
		}
		return exitNotFound, err
	}

	eng, reason, err := supervisor.ChooseEngine(engine, res.Policy, false)
	asked := res.Policy.Options().Engine
	if engine != "" {
		asked, _ = policy.ParseEngine(engine) // ChooseEngine checked it
	}
	if err != nil {
		return exitUsage, err
	}
	supervisor.LogEngine(stderr, logs, reason)
	mode, why, err := launch.ChooseMode(mode)
	if err != nil {
		return exitUsage, err
	}
	if why != "" {
		fmt.Fprintln(stderr, why)
	}

	handoff, err := supervisor.EncodeHandoff(data, res)
	if err != nil {
		return exitUsage, err
	}
	opts := res.Policy.Options()
	if opts.AllowIOUring && eng == policy.EngineSeccomp {
		fmt.Fprintln(stderr, "vipa-exec: warning: allow_io_uring: connections made through io_uring are not rewritten")
	}
	lopts := launch.Options{
		PolicyPath: policyPath, // launch makes it absolute for the supervisor
		PolicyData: handoff,    // the addresses checked here, not resolved again
		Path:       path,
		Argv:       argv,
		Env:        os.Environ(),
		Cred:       cred,
		Warn:       stderr,
		Filter:     supervisor.FilterOptions(res.Policy),
		InKernel:   eng == policy.EngineBPF,
		// auto: a supervisor that cannot load the programs falls back.
		Fallback: asked == policy.EngineAuto,
		// A netlink dump: while the supervisor prepares.
		Meanwhile: func() { report.WarnAbsent(stderr, res.Policy) },
	}
	if mode == launch.ModeParent {
		return launch.Supervise(lopts, supervisor.Prepare(logs))
	}
	lopts.SupervisorEnv = []string{supervisor.LogEnv + "=" + logs.String()}
	err = launch.Exec(lopts)
	return launch.FailureStatus(err), err
}

// oneLine keeps an error message on one line, as every vipa-exec error is.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

// The maintenance verbs, options so that they never clash with a PROGRAM.
var verbs = []string{"check", "explain", "convert", "status"}

// verb returns the one maintenance verb among the options set, or "".
func verb(set map[string]bool) string {
	for _, v := range verbs {
		if set[v] {
			return v
		}
	}
	return ""
}

// verbUsage rejects what does not go with verb v.
func verbUsage(v string, set map[string]bool, argv []string) error {
	for _, o := range verbs {
		if o != v && set[o] {
			return fmt.Errorf("--%s and --%s exclude each other", v, o)
		}
	}
	for _, o := range [][2]string{{"u", "user"}, {"g", "group"}, {"supervise", "supervise"}} {
		if set[o[0]] || set[o[1]] {
			return fmt.Errorf("--%s goes with a PROGRAM, not with --%s", o[1], v)
		}
	}
	switch {
	case len(argv) > 0:
		return fmt.Errorf("--%s takes no PROGRAM, got %q", v, argv[0])
	case (v == "status" || v == "convert") && set["engine"]:
		return fmt.Errorf("--engine goes with a PROGRAM, --check or --explain, not with --%s", v)
	case v == "convert" && (set["p"] || set["policy"]):
		return errors.New("--convert reads its FILE, not --policy")
	case v == "status" && (set["p"] || set["policy"]):
		return errors.New("--status asks the supervisor, which knows its policy file: no --policy")
	case v != "explain" && set["protocol"]:
		return errors.New("--protocol goes with --explain")
	case v != "status" && set["json"]:
		return errors.New("--json goes with --status")
	}
	return nil
}

// statusArgs is args with a --status that has no PID after it (the last
// option, or one followed by another option) given an empty one, which
// lists the supervisors: flag would take the next option for its value.
func statusArgs(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args)+1)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		switch f := fs.Lookup(name); {
		case name == "status" && (i+1 == len(args) || strings.HasPrefix(args[i+1], "-")):
			a += "="
		case f != nil && !isBool(f) && i+1 < len(args):
			out = append(out, a) // and its value, which may be anything
			i++
			a = args[i]
		}
		out = append(out, a)
	}
	return out
}

// isBool reports whether f takes no value.
func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
