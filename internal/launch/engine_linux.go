//go:build linux && cgo

package launch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// The engine's hand-off. After the policy's two frames the launcher sends
// one more, the engine it asks for. For seccomp the hand-off goes on as
// before: the listener's number, then the supervisor's ack. For bpf no
// filter is loaded: the supervisor makes PROGRAM's cgroup, moves PROGRAM
// into it, attaches the programs and then answers ackOK, after which
// PROGRAM may run; or, when it cannot and the launcher allowed it,
// ackFallback and a frame saying why, and the seccomp hand-off follows.
const (
	engineSeccomp = 's'
	engineBPF     = 'b' // bpf or nothing (--engine bpf)
	engineBPFAuto = 'a' // bpf, else seccomp with a warning (auto)
	ackFallback   = 'F'
)

// engineRequest is the engine frame for o.
func engineRequest(o Options) []byte {
	switch {
	case !o.InKernel:
		return []byte{engineSeccomp}
	case o.Fallback:
		return []byte{engineBPFAuto}
	}
	return []byte{engineBPF}
}

// parseEngineRequest sets s's engine from the launcher's frame.
func parseEngineRequest(b []byte, s *Setup) error {
	if len(b) != 1 {
		return fmt.Errorf("engine from the launcher: %d bytes", len(b))
	}
	switch b[0] {
	case engineSeccomp:
	case engineBPF:
		s.InKernel = true
	case engineBPFAuto:
		s.InKernel, s.Fallback = true, true
	default:
		return fmt.Errorf("engine from the launcher: %q", b[0])
	}
	return nil
}

// prepareEngine runs prepare for s; when the in-kernel engine fails and s
// allows it, it tells the launcher so (ackFallback, why) and prepares the
// seccomp engine instead. s says, after it, which engine is prepared.
func prepareEngine(conn io.Writer, prepare Prepare, s *Setup) (func(*notify.Listener) error, error) {
	serve, err := prepare(*s)
	if err == nil || !s.InKernel || !s.Fallback {
		return serve, err
	}
	if _, werr := conn.Write([]byte{ackFallback}); werr != nil {
		return nil, werr
	}
	if werr := writeFrame(conn, []byte(err.Error())); werr != nil {
		return nil, werr
	}
	s.InKernel, s.Fallback = false, false
	return prepare(*s)
}

// awaitEngine reads the supervisor's answer to a bpf request. fallback is
// true when the launcher goes on with the filter, the supervisor's reason
// printed as a warning on warn.
func awaitEngine(conn *os.File, warn io.Writer) (fallback bool, err error) {
	var b [1]byte
	n, err := conn.Read(b[:])
	if n == 1 && b[0] == ackFallback {
		why, err := readFrame(conn)
		if err != nil {
			return false, fmt.Errorf("start supervisor: %w", err)
		}
		fmt.Fprintf(warn, "vipa-exec: warning: engine seccomp: the bpf engine failed: %s\n", why)
		return true, nil
	}
	return false, ackResult(conn, b[0], n, err)
}

// execInKernel is Exec for the bpf engine, on the supervisor's socket conn:
// it hands over the policy, runs opts.Meanwhile, waits until PROGRAM's cgroup has the programs
// attached and holds this process, and execs PROGRAM. If the supervisor
// falls back, the seccomp hand-off follows.
func execInKernel(conn *os.File, detacher *os.Process, opts Options) error {
	policyPath, err := filepath.Abs(opts.PolicyPath)
	if err != nil {
		return fmt.Errorf("policy file: %w", err)
	}
	for _, b := range [][]byte{[]byte(policyPath), opts.PolicyData, engineRequest(opts)} {
		if err := writeFrame(conn, b); err != nil {
			return handOffError(conn, err)
		}
	}
	// While the supervisor loads the engine.
	if opts.Meanwhile != nil {
		opts.Meanwhile()
	}
	fallback, err := awaitEngine(conn, opts.Warn)
	if err != nil {
		return err
	}
	if fallback {
		filter, err := newFilter(opts.Filter)
		if err != nil {
			return err
		}
		if err := handOver(conn, filter, opts.Warn); err != nil {
			return err
		}
	} else if err := loadTerminalFilter(opts.Warn); err != nil {
		return err
	}
	if err := reapDetacher(detacher); err != nil {
		return err
	}
	_ = conn.Close()
	return execProgram(opts.Path, opts.Argv, opts.Env, opts.Cred)
}

// compileTerminalFilter compiles what the bpf engine keeps of the seccomp
// filter: nothing trapped, the terminalInjection ioctls refused on every
// ABI, and other ABIs killed, as the full filter does.
func compileTerminalFilter(abis []notify.ABI) ([]byte, error) {
	return compileABIs(abis, func(arch seccomp.ScmpArch, _ bool) (*seccomp.ScmpFilter, error) {
		f, err := archFilter(arch)
		if err != nil {
			return nil, err
		}
		if err := denyTerminalInjection(f); err != nil {
			f.Release()
			return nil, err
		}
		return f, nil
	})
}

// loadTerminalFilter loads compileTerminalFilter's filter on the calling
// process before it execs PROGRAM under the bpf engine, so that a program
// run with -u cannot type into the terminal of the shell that started
// vipa-exec (see terminalInjection) with the bpf engine either. It loads as
// the seccomp engine's filter does (no_new_privs without CAP_SYS_ADMIN, said
// on warn); the listener it comes with has no call to serve and is closed
// at once, which also lets a vipa-exec started below load its own.
func loadTerminalFilter(warn io.Writer) error {
	raw, err := compileTerminalFilter(notify.ABIs)
	if err != nil {
		return err
	}
	filter, err := notify.NewFilter(raw)
	if err != nil {
		return err
	}
	noNewPrivs := !hasCap(unix.CAP_SYS_ADMIN)
	if noNewPrivs {
		fmt.Fprintln(warn, "vipa-exec: warning: no CAP_SYS_ADMIN, so the filter that keeps PROGRAM from typing into the terminal needs no_new_privs: setuid and file-capability programs will run without their extra privileges")
	}
	l, err := filter.Load(noNewPrivs)
	if err != nil {
		return err
	}
	return l.Close()
}
