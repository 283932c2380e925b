//go:build !linux

package launch

import (
	"errors"
	"fmt"
	"os"

	"github.com/vipa-exec/vipa-exec/internal/notify"
)

// Options mirrors the Linux type so that callers build everywhere.
type Options struct {
	PolicyPath    string
	PolicyData    []byte
	Path          string
	Argv          []string
	Env           []string
	Cred          *Credential
	Warn          any
	Filter        notify.FilterOptions
	SupervisorEnv []string
}

// Credential mirrors the Linux type.
type Credential struct {
	UID, GID       uint32
	SetUID, SetGID bool
	Groups         []uint32
}

// ExecError mirrors the Linux type.
type ExecError struct {
	Path string
	Err  error
}

func (e *ExecError) Error() string { return fmt.Sprintf("exec %s: %v", e.Path, e.Err) }
func (e *ExecError) Unwrap() error { return e.Err }

var errNotLinux = fmt.Errorf("vipa-exec needs Linux: %w", errors.ErrUnsupported)

// Exec fails: seccomp user notification is Linux-only.
func Exec(Options) error { return errNotLinux }

// MayChangeCred fails everywhere but Linux.
func MayChangeCred(*Credential) error { return errNotLinux }

// Stage is always "" outside Linux.
func Stage() string { return os.Getenv("_VIPA_EXEC_STAGE") }

// Prepare mirrors the Linux type.
type Prepare func(path string, data []byte) (func(any) error, error)

// RunStage fails everywhere but Linux.
func RunStage(Prepare) int { return 2 }
