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
	Meanwhile     func()
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

// Setup mirrors the Linux type.
type Setup struct {
	Path    string
	Data    []byte
	Program int
	Parent  bool
}

// Prepare mirrors the Linux type.
type Prepare func(s Setup) (func(any) error, error)

// Mode mirrors the Linux type.
type Mode string

// The modes, as on Linux.
const (
	ModeAuto     Mode = "auto"
	ModeDetached Mode = "detached"
	ModeParent   Mode = "parent"
)

// ParseMode fails everywhere but Linux.
func ParseMode(string) (Mode, error) { return "", errNotLinux }

// ChooseMode fails everywhere but Linux.
func ChooseMode(Mode) (Mode, string, error) { return "", "", errNotLinux }

// Supervise fails everywhere but Linux.
func Supervise(Options, Prepare) (int, error) { return 2, errNotLinux }

// FailureStatus is 2: nothing can be executed.
func FailureStatus(error) int { return 2 }

// RunStage fails everywhere but Linux.
func RunStage(Prepare) int { return 2 }
