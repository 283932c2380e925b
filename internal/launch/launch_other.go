//go:build !linux || !cgo

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
	InKernel      bool
	Fallback      bool
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

// errNotLinux: the launcher needs Linux, and a build with cgo (libseccomp
// compiles the filter; C runs before the Go runtime in the supervisor's
// detaching stage). Without cgo the rest of vipa-exec still builds, vets
// and tests: --check, --explain, --convert and --status need no launcher.
var errNotLinux = fmt.Errorf("vipa-exec needs Linux and a cgo build (libseccomp) to run a program: %w", errors.ErrUnsupported)

// Exec fails: seccomp user notification is Linux-only, and the filter's
// compiler needs cgo.
func Exec(Options) error { return errNotLinux }

// MayChangeCred fails without Linux and cgo.
func MayChangeCred(*Credential) error { return errNotLinux }

// Stage is the internal stage, as on Linux; RunStage fails.
func Stage() string { return os.Getenv("_VIPA_EXEC_STAGE") }

// Setup mirrors the Linux type.
type Setup struct {
	Path     string
	Data     []byte
	Program  int
	Parent   bool
	InKernel bool
	Fallback bool
	Exited   <-chan struct{}
}

// Mode mirrors the Linux type.
type Mode string

// The modes, as on Linux.
const (
	ModeAuto     Mode = "auto"
	ModeDetached Mode = "detached"
	ModeParent   Mode = "parent"
)

// ParseMode fails without Linux and cgo.
func ParseMode(string) (Mode, error) { return "", errNotLinux }

// ChooseMode fails without Linux and cgo.
func ChooseMode(Mode) (Mode, string, error) { return "", "", errNotLinux }

// Supervise fails without Linux and cgo.
func Supervise(Options, Prepare) (int, error) { return 2, errNotLinux }

// FailureStatus is 2: nothing can be executed.
func FailureStatus(error) int { return 2 }

// RunStage fails without Linux and cgo.
func RunStage(func() Prepare) int { return 2 }
