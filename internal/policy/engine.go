package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Engine is [Options.Engine]: what rewrites the program's calls.
type Engine uint8

const (
	// EngineAuto: bpf where it can serve, else seccomp ([ChooseEngine]).
	// The default, and what every src_vipa.conf file asks for.
	EngineAuto Engine = iota
	// EngineBPF: the kernel's cgroup sock_addr hooks, attached to the
	// program's own cgroup, bind its sockets (internal/bpfengine).
	EngineBPF
	// EngineSeccomp: the seccomp filter traps the calls and the supervisor
	// binds the program's sockets; it needs no privilege and no cgroup.
	EngineSeccomp
)

// engineNames are the policy file spellings, by Engine.
var engineNames = []string{EngineAuto: "auto", EngineBPF: "bpf", EngineSeccomp: "seccomp"}

// String returns the policy file spelling.
func (e Engine) String() string {
	if int(e) < len(engineNames) {
		return engineNames[e]
	}
	return "Engine(" + strconv.Itoa(int(e)) + ")"
}

// EngineNames returns the spellings [ParseEngine] accepts, for help and
// error texts.
func EngineNames() []string { return append([]string(nil), engineNames...) }

// ParseEngine parses the policy file (and --engine) spelling of an
// [Engine].
func ParseEngine(s string) (Engine, error) {
	for e, name := range engineNames {
		if s == name {
			return Engine(e), nil
		}
	}
	return 0, fmt.Errorf("%w %q (valid: %s)", ErrInvalidEngine, s, strings.Join(engineNames, ", "))
}

// Errors of [ParseEngine] and [ChooseEngine]; both are bad input (exit
// status 2).
var (
	ErrInvalidEngine     = errors.New("invalid engine")
	ErrEngineUnavailable = errors.New("engine bpf cannot serve")
)

// ChooseEngine decides which engine serves the program: [EngineBPF] or
// [EngineSeccomp], never [EngineAuto].
//
// The request is flag, the command line's --engine ("" when not given), else
// file, the policy file's [options] engine: the command line overrides the
// file, as an explicit --engine auto overrides a file's seccomp. bpf tells
// why the bpf engine cannot run here (bpfengine.Supported: capabilities,
// cgroup v2, the kernel's hooks), nil if it can; needs tells why this
// policy needs the seccomp engine (bpfengine.Unsupported, naming the rule's
// file:line), nil if it does not. They are called only when the request
// leaves a choice to make: asking for seccomp costs neither check.
//
// auto picks bpf when both are nil, else seccomp. Asking for seccomp always
// gets it. Asking for bpf where it cannot serve is an error wrapping
// [ErrEngineUnavailable] and the causes, in one line; a flag that is no
// engine's name wraps [ErrInvalidEngine]. reason is the one line to log at
// info, like "engine seccomp: CAP_BPF missing".
func ChooseEngine(flag string, file Engine, bpfCheck, needsCheck func() error) (e Engine, reason string, err error) {
	asked, by := file, "by the policy file's [options] engine"
	if flag != "" {
		if asked, err = ParseEngine(flag); err != nil {
			return 0, "", fmt.Errorf("--engine: %w", err)
		}
		by = "by --engine"
	}
	switch asked {
	case EngineSeccomp:
		return EngineSeccomp, "engine seccomp: asked for " + by, nil
	case EngineBPF:
		bpf, needs := bpfCheck(), needsCheck()
		switch {
		case bpf != nil && needs != nil:
			return 0, "", fmt.Errorf("%w (asked for %s): %w; %w", ErrEngineUnavailable, by, bpf, needs)
		case bpf != nil:
			return 0, "", fmt.Errorf("%w (asked for %s): %w", ErrEngineUnavailable, by, bpf)
		case needs != nil:
			return 0, "", fmt.Errorf("%w (asked for %s): %w", ErrEngineUnavailable, by, needs)
		}
		return EngineBPF, "engine bpf: asked for " + by, nil
	case EngineAuto:
		if err := bpfCheck(); err != nil {
			return EngineSeccomp, "engine seccomp: " + err.Error(), nil
		}
		if err := needsCheck(); err != nil {
			return EngineSeccomp, "engine seccomp: " + err.Error(), nil
		}
		return EngineBPF, "engine bpf: the kernel's hooks serve this policy here", nil
	}
	return 0, "", fmt.Errorf("%w %v", ErrInvalidEngine, asked)
}
