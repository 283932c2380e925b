// Command vipa-exec runs a program so that its outgoing connections leave
// from a virtual IP address chosen by a policy. See usage below, or
// docs/ARCHITECTURE.md for how.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/launch"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses of vipa-exec itself; PROGRAM's own status is passed through
// unchanged because PROGRAM replaces vipa-exec.
const (
	exitUsage      = 2   // bad options, bad policy, missing kernel feature, setup failure
	exitCannotExec = 126 // PROGRAM found but not executable (as env(1))
	exitNotFound   = 127 // PROGRAM not found (as env(1))
	defaultPolicy  = "/etc/vipa-exec/policy.toml"
	policyEnv      = "VIPA_EXEC_POLICY"
)

const usage = `Usage: vipa-exec [OPTIONS] [--] PROGRAM [ARGS...]

Run PROGRAM so that its outgoing connections leave from a virtual IP address
(VIPA) chosen by a policy, and its listening sockets can be moved onto one.

PROGRAM replaces vipa-exec (same PID, same exit status), under a seccomp
filter that traps bind(2) and connect(2) on IPv4 and IPv6 sockets. A
supervisor process, detached from PROGRAM, reads each trapped address, binds
the socket to the source address the policy selects, and lets the call go
on. It works for static, dynamic, Go, setuid and any other programs, and for
their children; it exits by itself after the last of them.

Options end at the first non-option or at "--".

Options:
  -p, --policy FILE   policy file (TOML); default $VIPA_EXEC_POLICY,
                      then /etc/vipa-exec/policy.toml
  -u, --user USER     run PROGRAM as USER (name or number), with USER's
                      primary group and supplementary groups, as login(1)
                      would set them; needs root
  -g, --group GROUP   run PROGRAM with group GROUP (name or number); alone,
                      it also clears the supplementary groups; needs root
  -h, --help          show this help and exit
      --version       show the version and exit

Policy file:
  [[connect]]                   # outgoing connections
  destination = "10.0.0.0/8"    # the most specific destination wins
  sources     = ["192.0.2.10"]  # VIPAs of the destination's family
  policy      = "onevipa"       # onevipa (first source) or random
  on_error    = "continue"      # or "fail": return bind's errno to PROGRAM

  [[bind]]                      # bind() to 0.0.0.0 or :: with such a port
  ports   = "6000-6999"
  sources = ["192.0.2.10"]
  See examples/policy.toml for every key.

Privileges:
  As root (CAP_SYS_ADMIN), setuid and file-capability programs keep their
  privileges. Otherwise vipa-exec sets no_new_privs, says so once on stderr,
  and such programs run without their extra privileges. vipa-exec never binds
  for PROGRAM what PROGRAM could not bind itself: a [[bind]] port below
  net.ipv4.ip_unprivileged_port_start needs PROGRAM's CAP_NET_BIND_SERVICE.

Environment:
  VIPA_EXEC_POLICY    the policy file when -p is not given

Exit status:
  PROGRAM's own; 2 if vipa-exec fails before starting PROGRAM (bad option,
  bad policy, missing kernel feature); 126 if PROGRAM cannot be executed;
  127 if it is not found.

Requires Linux >= 5.9 (seccomp user notification, pidfd_getfd); Linux >= 6.6
makes each trapped call several times faster (synchronous wake-up).

Examples:
  vipa-exec -p /etc/vipa-exec/web.toml curl https://example.net/
  ExecStart=/usr/bin/vipa-exec -p /etc/vipa-exec/web.toml /usr/sbin/nginx
`

func main() {
	if launch.Stage() != "" {
		os.Exit(launch.RunStage(prepareSupervisor))
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
	if err := fs.Parse(args); err != nil {
		return exitUsage, fmt.Errorf("%v (see vipa-exec --help)", err)
	}
	if help {
		fmt.Fprint(stdout, usage)
		return 0, nil
	}
	if showVersion {
		fmt.Fprintf(stdout, "vipa-exec %s\n", version)
		return 0, nil
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return exitUsage, errors.New("no PROGRAM given (see vipa-exec --help)")
	}

	if policyPath == "" {
		policyPath = os.Getenv(policyEnv)
	}
	if policyPath == "" {
		policyPath = defaultPolicy
	}
	data, err := os.ReadFile(policyPath)
	if errors.Is(err, os.ErrNotExist) {
		return exitUsage, fmt.Errorf("%s: policy file not found (give one with -p or $%s)", policyPath, policyEnv)
	}
	if err != nil {
		return exitUsage, fmt.Errorf("policy file: %w", err)
	}
	if _, err := conf.Parse(policyPath, data); err != nil {
		return exitUsage, err
	}

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

	err = launch.Exec(launch.Options{
		PolicyPath: policyPath,
		PolicyData: data,
		Path:       path,
		Argv:       argv,
		Env:        os.Environ(),
		Cred:       cred,
		Warn:       stderr,
	})
	var execErr *launch.ExecError
	switch {
	case errors.As(err, &execErr) && errors.Is(err, os.ErrNotExist):
		return exitNotFound, err
	case errors.As(err, &execErr):
		return exitCannotExec, err
	}
	return exitUsage, err
}

// oneLine keeps an error message on one line, as every vipa-exec error is.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}
