//go:build linux && cgo

package launch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/caps"
	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// Credential is the identity PROGRAM runs with.
type Credential struct {
	UID, GID uint32
	SetUID   bool     // change the user id
	SetGID   bool     // change the group id
	Groups   []uint32 // supplementary groups, set whenever SetUID or SetGID
}

// Options say what Exec runs and how.
type Options struct {
	PolicyPath string   // for messages and the supervisor's logs
	PolicyData []byte   // the policy, already validated; the supervisor parses these very bytes
	Path       string   // PROGRAM, resolved
	Argv       []string // PROGRAM's argv, argv[0] included
	Env        []string
	Cred       *Credential // nil keeps vipa-exec's identity
	Warn       io.Writer   // where the one-line warnings go
	Filter     notify.FilterOptions
	// SupervisorEnv is added to the supervisor's environment (not
	// PROGRAM's), NAME=VALUE entries whose names start with
	// _VIPA_EXEC_; it is sent as the first frame, since the supervisor
	// may have started before they were known.
	SupervisorEnv []string
	// InKernel runs PROGRAM under the bpf engine: no filter, the
	// supervisor attaches the engine to a cgroup of PROGRAM's own. With
	// Fallback, when it cannot, the seccomp engine serves instead, with a
	// warning on Warn.
	InKernel, Fallback bool
	// Meanwhile, if set, runs before the filter is loaded and, when the
	// supervisor is detached, once it has the policy: work of the
	// launcher's (the start-up warnings) that then overlaps the
	// supervisor's preparation instead of delaying it.
	Meanwhile func()
}

// Exec runs opts.Path in place of the calling process under the filter,
// after starting the supervisor that serves it. It returns only on failure;
// once the filter is loaded a failure still leaves no process behind, since
// the supervisor exits when the filter has no users left.
func Exec(opts Options) error {
	// The supervisor is started before the filter exists, so it runs
	// unfiltered: a filtered supervisor would trap its own binds. It
	// started with this process (prestart_linux.c), its start-up
	// overlapping this one's, the policy's and the filter's compilation
	// here; on any error below it reads EOF and exits. Under an outer
	// vipa-exec the filter cannot be loaded: say so before anything else.
	if err := checkNotNested(); err != nil {
		return err
	}
	conn, detacher, err := supervisorConn()
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if err := writeFrame(conn, encodeEnv(opts.SupervisorEnv)); err != nil {
		return handOffError(conn, err)
	}
	if opts.InKernel {
		return execInKernel(conn, detacher, opts)
	}
	if err := notify.CheckKernel(); err != nil {
		return err
	}
	filter, err := newFilter(opts.Filter)
	if err != nil {
		return err
	}
	// The supervisor runs in / and reloads the file when it changes: it
	// needs the absolute path.
	policyPath, err := filepath.Abs(opts.PolicyPath)
	if err != nil {
		return fmt.Errorf("policy file: %w", err)
	}
	if err := writeFrame(conn, []byte(policyPath)); err != nil {
		return handOffError(conn, err)
	}
	if err := writeFrame(conn, opts.PolicyData); err != nil {
		return handOffError(conn, err)
	}
	if err := writeFrame(conn, engineRequest(opts)); err != nil {
		return handOffError(conn, err)
	}
	// While the supervisor prepares; nothing here fails, so the supervisor
	// always gets the listener after the policy.
	if opts.Meanwhile != nil {
		opts.Meanwhile()
	}
	if err := handOver(conn, filter, opts.Warn); err != nil {
		return err
	}
	if err := reapDetacher(detacher); err != nil {
		return err
	}
	_ = conn.Close()
	return execProgram(opts.Path, opts.Argv, opts.Env, opts.Cred)
}

// handOver loads filter into the calling process and hands its listener to
// the supervisor at the other end of conn; it returns once the supervisor
// holds it, and PROGRAM inherits no copy. In between nothing may call
// connect or bind: it would wait for an answer that never comes.
func handOver(conn *os.File, filter *notify.Filter, warn io.Writer) error {
	noNewPrivs := !hasCap(unix.CAP_SYS_ADMIN)
	if noNewPrivs {
		fmt.Fprintln(warn, "vipa-exec: warning: no CAP_SYS_ADMIN, so the filter needs no_new_privs: setuid and file-capability programs will run without their extra privileges")
	}
	listener, err := filter.Load(noNewPrivs)
	if err != nil {
		return err
	}
	defer func() { _ = listener.Close() }()
	var fdmsg [4]byte
	binary.NativeEndian.PutUint32(fdmsg[:], uint32(listener.FD()))
	if _, err := conn.Write(fdmsg[:]); err != nil {
		return fmt.Errorf("hand listener to supervisor: %w", err)
	}
	return readAck(conn)
}

// execProgram switches to cred, if any, and execs PROGRAM in place of the
// calling process. It returns only on failure.
func execProgram(path string, argv, env []string, cred *Credential) error {
	if cred != nil {
		if err := setCred(cred); err != nil {
			return err
		}
	}
	err := syscall.Exec(path, argv, env)
	return &ExecError{Path: path, Err: err}
}

// FailureStatus is vipa-exec's exit status when it could not start PROGRAM
// because of err: 127 if PROGRAM was not found and 126 if it could not be
// executed, as env(1) says, and 2 for anything else.
func FailureStatus(err error) int {
	var execErr *ExecError
	switch {
	case errors.As(err, &execErr) && errors.Is(err, os.ErrNotExist):
		return 127
	case errors.As(err, &execErr):
		return 126
	}
	return 2
}

// ExecError is a failed execve of PROGRAM.
type ExecError struct {
	Path string
	Err  error
}

func (e *ExecError) Error() string { return fmt.Sprintf("exec %s: %v", e.Path, e.Err) }
func (e *ExecError) Unwrap() error { return e.Err }

// setCred switches to c on every thread (Go's syscall package applies
// set*id to all threads), groups first, then group, then user.
func setCred(c *Credential) error {
	if c.SetUID || c.SetGID {
		groups := make([]int, len(c.Groups))
		for i, g := range c.Groups {
			groups[i] = int(g)
		}
		if err := syscall.Setgroups(groups); err != nil {
			return fmt.Errorf("set supplementary groups: %w", err)
		}
	}
	if c.SetGID {
		if err := syscall.Setgid(int(c.GID)); err != nil {
			return fmt.Errorf("set group id %d: %w", c.GID, err)
		}
	}
	if c.SetUID {
		if err := syscall.Setuid(int(c.UID)); err != nil {
			return fmt.Errorf("set user id %d: %w", c.UID, err)
		}
	}
	return nil
}

// hasCap reports whether the calling thread has capability c in its
// effective set.
func hasCap(c int) bool {
	eff, err := caps.Effective()
	return err == nil && eff.Has(c)
}

// MayChangeCred reports whether the caller can switch to c.
func MayChangeCred(c *Credential) error {
	if c.SetUID && !hasCap(unix.CAP_SETUID) {
		return errors.New("--user needs root (CAP_SETUID)")
	}
	if (c.SetGID || c.SetUID) && !hasCap(unix.CAP_SETGID) {
		return errors.New("--user and --group need root (CAP_SETGID)")
	}
	return nil
}
