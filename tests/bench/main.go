//go:build linux

package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

//go:embed csrc/client.c
var clientSource []byte

//go:embed csrc/refsup.c
var refsupSource []byte

//go:embed emptygo/main.go
var emptyGoSource []byte

// The policy every vipa-exec case runs under: the one rule the issue names.
const policyText = `[[connect]]
destination = "10.1.2.3/32"
sources     = ["192.0.2.10"]
policy      = "onevipa"
`

// hostPolicyText is the policy of the cases that run in the bench's own
// network namespace (the trapped round trip, start-up, the calls not
// trapped), where 192.0.2.10 is no address of the host: the same rule with a
// source every host has, so that vipa-exec has no absent source to warn
// about at start. None of those cases reaches the rule's destination.
const hostPolicyText = `[[connect]]
destination = "10.1.2.3/32"
sources     = ["127.0.0.1"]
policy      = "onevipa"
`

type config struct {
	vipaExec    string
	n           int // TCP connections per run
	reps        int
	startupRuns int
	getpidN     int
	unixN       int
	trapN       int // trapped connect(-1) calls per run
	startupOnly bool
	verbose     bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
	}
	os.Exit(code)
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./tests/bench -vipa-exec PATH [-n N] [-reps R] [-trap-n N] [-quick] [-startup-only] [-v]\n\n"+
			"Benchmarks vipa-exec against a bare client, an ideal (self-binding) client and a minimal\n"+
			"C supervisor doing the same kernel work (csrc/refsup.c). Needs root.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.vipaExec, "vipa-exec", "", "path of the vipa-exec binary to measure (required)")
	fs.IntVar(&c.n, "n", 10000, "TCP connections per run")
	fs.IntVar(&c.reps, "reps", 5, "runs of every case, interleaved; medians are reported")
	fs.IntVar(&c.startupRuns, "startup-runs", 200, "runs of `true` and of `vipa-exec true` for the start-up cost")
	fs.IntVar(&c.getpidN, "getpid-n", 5000000, "getpid calls per run")
	fs.IntVar(&c.unixN, "unix-n", 50000, "AF_UNIX connects per run")
	fs.IntVar(&c.trapN, "trap-n", 200000, "trapped connect(-1) calls per run, for the round-trip cost")
	quick := fs.Bool("quick", false, "tiny runs (n=300, reps=1, ...) that only check the bench works")
	fs.BoolVar(&c.startupOnly, "startup-only", false, "measure the start-up rows only (with -startup-runs)")
	fs.BoolVar(&c.verbose, "v", false, "print every run on stderr as it finishes")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() != 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.vipaExec == "" {
		return c, errors.New("-vipa-exec PATH is required")
	}
	if *quick {
		c.n, c.reps, c.startupRuns, c.getpidN, c.unixN, c.trapN = 300, 1, 5, 100000, 300, 1000
	}
	for _, v := range []struct {
		name string
		val  int
	}{{"n", c.n}, {"reps", c.reps}, {"startup-runs", c.startupRuns}, {"getpid-n", c.getpidN}, {"unix-n", c.unixN}, {"trap-n", c.trapN}} {
		if v.val <= 0 {
			return c, fmt.Errorf("-%s must be positive, not %d", v.name, v.val)
		}
	}
	// Above the ephemeral port range a run would fail on port exhaustion,
	// not measure anything.
	if c.n > 25000 {
		return c, fmt.Errorf("-n %d is above 25000: the client would run out of ephemeral ports", c.n)
	}
	return c, nil
}

// run is the whole bench; main only turns its result into an exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0, nil
	}
	if err != nil {
		return 2, err
	}
	if os.Geteuid() != 0 {
		return 1, errors.New("must run as root: every TCP run creates its own network namespace (ip netns add); try sudo")
	}
	if c.vipaExec, err = filepath.Abs(c.vipaExec); err != nil {
		return 1, err
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return 1, fmt.Errorf("need iproute2's ip: %w", err)
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		return 1, fmt.Errorf("need util-linux's nsenter: %w", err)
	}

	dir, err := os.MkdirTemp("", "vipa-bench-")
	if err != nil {
		return 1, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	b := &bench{cfg: c, dir: dir, stderr: stderr}
	if err := b.prepare(ctx); err != nil {
		return 1, err
	}

	b.header(stdout)
	if c.startupOnly {
		su, err := b.startup(ctx)
		if err != nil {
			return 1, err
		}
		printStartup(stdout, c, su)
		return 0, nil
	}
	tcp, err := b.tcpCases(ctx)
	if err != nil {
		return 1, err
	}
	var f figures
	f.ideal, f.idealLinger = printTCP(stdout, c, tcp)
	tr, err := b.trapped(ctx)
	if err != nil {
		return 1, err
	}
	f.roundTrip = printTrapped(stdout, c, tr)
	su, err := b.startup(ctx)
	if err != nil {
		return 1, err
	}
	f.startup = printStartup(stdout, c, su)
	nt, err := b.nonTrapped(ctx)
	if err != nil {
		return 1, err
	}
	printNonTrapped(stdout, c, nt)
	f.bpfIdeal, f.bpfIdealLinger, f.bpfStartup = bpfFigures(tcp, su)
	printTargets(stdout, f)
	fmt.Fprintf(stdout, "\nload average at the end: %s\n", loadAvg())
	return 0, nil
}

type bench struct {
	cfg     config
	dir     string
	client  string // the compiled client.c
	refsup  string // the compiled refsup.c
	policy  string // for the TCP runs, in their namespaces
	hostPol string // for the runs in the bench's own namespace
	version string // first line of vipa-exec --version
	trueBin string
	emptyGo string // the compiled emptygo/main.go
	stderr  io.Writer
	nsSeq   int
}

// prepare compiles the client and the C supervisor, writes the policy and
// checks that vipa-exec runs at all, so a broken binary fails in a second
// rather than mid-bench.
func (b *bench) prepare(ctx context.Context) error {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	var err error
	if b.client, err = b.compile(ctx, cc, "client", clientSource, "-static"); err != nil {
		return fmt.Errorf("static client (needs libc6-dev): %w", err)
	}
	// Dynamic is fine for the supervisor: its start-up is not in any rate,
	// and its per-call work is system calls, not libc.
	if b.refsup, err = b.compile(ctx, cc, "refsup", refsupSource); err != nil {
		return err
	}
	b.policy = filepath.Join(b.dir, "policy.toml")
	if err := os.WriteFile(b.policy, []byte(policyText), 0o644); err != nil {
		return err
	}
	b.hostPol = filepath.Join(b.dir, "host-policy.toml")
	if err := os.WriteFile(b.hostPol, []byte(hostPolicyText), 0o644); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, b.cfg.vipaExec, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --version: %w\n%s", b.cfg.vipaExec, err, out)
	}
	b.version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	if b.trueBin, err = exec.LookPath("true"); err != nil {
		return err
	}
	if b.emptyGo, err = b.buildGo(ctx, "emptygo", emptyGoSource); err != nil {
		return err
	}
	return nil
}

// buildGo builds the embedded Go program source into b.dir, with the go
// command that runs the bench, and returns the binary's path.
func (b *bench) buildGo(ctx context.Context, name string, source []byte) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the empty Go program needs the go command: %w", err)
	}
	src := filepath.Join(b.dir, name+".go")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(b.dir, name)
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-o", bin, src)
	cmd.Dir = b.dir // outside any module: the file alone
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s.go: %w\n%s", name, err, out)
	}
	return bin, nil
}

// compile builds the embedded C source name.c into b.dir and returns the
// binary's path.
func (b *bench) compile(ctx context.Context, cc, name string, source []byte, flags ...string) (string, error) {
	src := filepath.Join(b.dir, name+".c")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(b.dir, name)
	args := append([]string{"-O2", "-Wall"}, flags...)
	args = append(args, "-o", bin, src)
	if out, err := exec.CommandContext(ctx, cc, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("compile %s.c with %s %s: %w\n%s", name, cc, strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// wrapper is the command line that runs a client under supervisor sup:
// vipa-exec with the bench's policy and either engine, or refsup with the
// same one rule.
func (b *bench) wrapper(sup string) []string {
	switch sup {
	case supVipaExec:
		return []string{b.cfg.vipaExec, engineFlag(engineSeccomp), "-p", b.policy}
	case supBPF:
		return []string{b.cfg.vipaExec, engineFlag(engineBPF), "-p", b.policy}
	case supC:
		return []string{b.refsup, serverAddr.Addr().String(), vipa.String()}
	}
	return nil
}

// The supervisors a client can run under; "" is none. vipa-exec is the
// seccomp engine, bpf vipa-exec's in-kernel engine.
const (
	supVipaExec = "vipa-exec"
	supC        = "c-supervisor"
	supBPF      = "bpf"
)

// vipa-exec's engines. The bench runs as root, where auto would pick bpf,
// so every vipa-exec command line names its engine.
const (
	engineSeccomp = "seccomp"
	engineBPF     = "bpf"
)

func engineFlag(engine string) string { return "--engine=" + engine }

func (b *bench) header(w io.Writer) {
	var u unix.Utsname
	kernel := "unknown kernel"
	if unix.Uname(&u) == nil {
		kernel = "Linux " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	fmt.Fprintf(w, "vipa-exec bench\n")
	fmt.Fprintf(w, "  binary    %s (%s)\n", b.cfg.vipaExec, b.version)
	fmt.Fprintf(w, "  machine   %s, %d CPUs, %s\n", kernel, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(w, "  method    reps per case: %d, interleaved, medians; client: gcc -O2 -static, times its own loop\n", b.cfg.reps)
	// Other work on the machine shows up as noise in every figure; the
	// load average tells the reader of a pasted table how much to trust it.
	fmt.Fprintf(w, "  load      %s at the start (1, 5, 15 min)\n", loadAvg())
	fmt.Fprintf(w, "  policy    [[connect]] destination %s/32, sources [%s], onevipa\n", serverAddr.Addr(), vipa)
	fmt.Fprintf(w, "  yardstick c-supervisor: refsup %s %s CLIENT, a minimal seccomp-notify supervisor in C\n", serverAddr.Addr(), vipa)
	fmt.Fprintf(w, "            (csrc/refsup.c, gcc -O2) doing the same kernel work per connect as vipa-exec\n")
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func (b *bench) logf(format string, a ...any) {
	if b.cfg.verbose {
		fmt.Fprintf(b.stderr, "bench: "+format+"\n", a...)
	}
}

// runClient runs one client command and returns the rate it printed. Its
// output goes to files, not pipes: a supervisor that outlived the client
// and still held a pipe would otherwise make Wait hang on it.
func (b *bench) runClient(ctx context.Context, name string, argv ...string) (float64, error) {
	outPath := filepath.Join(b.dir, "client.out")
	errPath := filepath.Join(b.dir, "client.err")
	outF, err := os.Create(outPath)
	if err != nil {
		return 0, err
	}
	defer func() { _ = outF.Close() }()
	errF, err := os.Create(errPath)
	if err != nil {
		return 0, err
	}
	defer func() { _ = errF.Close() }()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = outF, errF
	runErr := cmd.Run()
	out, err := os.ReadFile(outPath)
	if err != nil {
		return 0, err
	}
	errOut, err := os.ReadFile(errPath)
	if err != nil {
		return 0, err
	}
	if runErr != nil {
		return 0, fmt.Errorf("%s: %s: %w\n%s", name, strings.Join(argv, " "), runErr, bytes.TrimSpace(errOut))
	}
	if len(bytes.TrimSpace(errOut)) > 0 {
		// Not fatal (vipa-exec warns without CAP_SYS_ADMIN, for one), but
		// a warning per connection would be a finding, so show it.
		line, _, _ := bytes.Cut(bytes.TrimSpace(errOut), []byte("\n"))
		fmt.Fprintf(b.stderr, "bench: %s: stderr: %s\n", name, line)
	}
	rate, err := parseRate(string(out))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return rate, nil
}

// timeRun is the wall time of one run of argv, start-up to exit.
func (b *bench) timeRun(ctx context.Context, devnull, errF *os.File, argv ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = devnull, errF
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return d, nil
}

type startupResult struct {
	bare, wrapped, parent []time.Duration // parent: --supervise=parent
	emptyGo               []time.Duration // the empty Go program
	bpf                   []time.Duration // --engine=bpf
}

func (b *bench) startup(ctx context.Context) (startupResult, error) {
	var r startupResult
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return r, err
	}
	defer func() { _ = devnull.Close() }()
	errPath := filepath.Join(b.dir, "startup.err")
	errF, err := os.Create(errPath)
	if err != nil {
		return r, err
	}
	defer func() { _ = errF.Close() }()
	bare := []string{b.trueBin}
	emptyGo := []string{b.emptyGo}
	wrapped := []string{b.cfg.vipaExec, engineFlag(engineSeccomp), "-p", b.hostPol, b.trueBin}
	parent := []string{b.cfg.vipaExec, engineFlag(engineSeccomp), "--supervise=parent", "-p", b.hostPol, b.trueBin}
	bpf := []string{b.cfg.vipaExec, engineFlag(engineBPF), "-p", b.hostPol, b.trueBin}
	for i := 0; i < b.cfg.startupRuns; i++ {
		d, err := b.timeRun(ctx, devnull, errF, bare...)
		if err != nil {
			return r, err
		}
		r.bare = append(r.bare, d)
		if d, err = b.timeRun(ctx, devnull, errF, emptyGo...); err != nil {
			return r, err
		}
		r.emptyGo = append(r.emptyGo, d)
		if d, err = b.timeRun(ctx, devnull, errF, wrapped...); err != nil {
			msg, _ := os.ReadFile(errPath)
			return r, fmt.Errorf("start-up: %w\n%s", err, bytes.TrimSpace(msg))
		}
		r.wrapped = append(r.wrapped, d)
		if d, err = b.timeRun(ctx, devnull, errF, parent...); err != nil {
			msg, _ := os.ReadFile(errPath)
			return r, fmt.Errorf("start-up: %w\n%s", err, bytes.TrimSpace(msg))
		}
		r.parent = append(r.parent, d)
		if d, err = b.timeRun(ctx, devnull, errF, bpf...); err != nil {
			msg, _ := os.ReadFile(errPath)
			return r, fmt.Errorf("start-up: %w\n%s", err, bytes.TrimSpace(msg))
		}
		r.bpf = append(r.bpf, d)
	}
	b.logf("start-up: true %v, empty Go %v, vipa-exec true %v, parent mode %v, bpf %v (medians of %d)",
		medianDuration(r.bare), medianDuration(r.emptyGo), medianDuration(r.wrapped), medianDuration(r.parent), medianDuration(r.bpf), b.cfg.startupRuns)
	return r, nil
}

// The runs of the trapped loop, in their interleaving order within a rep.
var trappedVariants = []string{"bare", supVipaExec, supC}

type trappedResult struct {
	rates map[string][]float64 // variant -> calls/s
}

// trapped measures one trapped round trip: connect(-1) to an address no rule
// matches, so the supervisor only reads the address and answers "continue".
func (b *bench) trapped(ctx context.Context) (trappedResult, error) {
	r := trappedResult{rates: map[string][]float64{}}
	for rep := 1; rep <= b.cfg.reps; rep++ {
		for _, v := range trappedVariants {
			wrapper := b.wrapper(v)
			if v == supVipaExec {
				wrapper = []string{b.cfg.vipaExec, engineFlag(engineSeccomp), "-p", b.hostPol}
			}
			argv := append(wrapper, b.client, "trap", fmt.Sprint(b.cfg.trapN))
			name := "trap " + v
			rate, err := b.runClient(ctx, name, argv...)
			if err != nil {
				return r, err
			}
			b.logf("rep %d/%d %-23s %12.0f calls/s", rep, b.cfg.reps, name, rate)
			r.rates[v] = append(r.rates[v], rate)
		}
	}
	return r, nil
}

// The runs of the non-trapped loops, in their interleaving order within a rep.
var nonTrappedVariants = []string{"bare", "any-filter", "vipa-exec"}

type nonTrappedResult struct {
	// loop ("getpid", "unix-connect") -> variant -> rates
	rates map[string]map[string][]float64
}

func (b *bench) nonTrapped(ctx context.Context) (nonTrappedResult, error) {
	r := nonTrappedResult{rates: map[string]map[string][]float64{}}
	path := filepath.Join(b.dir, "unix.sock")
	srv, err := listenUnix(path)
	if err != nil {
		return r, err
	}
	defer srv.close(5 * time.Second)
	loops := []struct {
		name string
		args []string
	}{
		{"getpid", []string{"getpid", fmt.Sprint(b.cfg.getpidN)}},
		{"unix-connect", []string{"unix", path, fmt.Sprint(b.cfg.unixN)}},
	}
	argv := func(variant string, args []string) []string {
		switch variant {
		case "any-filter":
			return append([]string{b.client, "-f"}, args...)
		case "vipa-exec":
			return append([]string{b.cfg.vipaExec, engineFlag(engineSeccomp), "-p", b.hostPol, b.client}, args...)
		}
		return append([]string{b.client}, args...)
	}
	for rep := 1; rep <= b.cfg.reps; rep++ {
		for _, l := range loops {
			if r.rates[l.name] == nil {
				r.rates[l.name] = map[string][]float64{}
			}
			for _, v := range nonTrappedVariants {
				name := l.name + " " + v
				rate, err := b.runClient(ctx, name, argv(v, l.args)...)
				if err != nil {
					return r, err
				}
				b.logf("rep %d/%d %-23s %12.0f calls/s", rep, b.cfg.reps, name, rate)
				r.rates[l.name][v] = append(r.rates[l.name][v], rate)
			}
		}
	}
	return r, nil
}
