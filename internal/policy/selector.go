package policy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// ErrUnknownPolicy is wrapped by the error of [NewSelector] for a name it does
// not know.
var ErrUnknownPolicy = errors.New("unknown policy")

// Selector picks one of the sources of a rule for one call.
//
// Implementations must be safe for concurrent use and should not allocate:
// Select runs on every trapped system call. Call carries the caller's pid and
// the candidates so that later policies (per-process round robin, round robin
// shared between instances, least connections) fit the same interface.
type Selector interface {
	// Select returns an index into c.Sources. An index out of range picks
	// the first source.
	Select(c Call) int
}

// Call is what a [Selector] knows about the call it chooses a source for.
type Call struct {
	Pid     int          // thread-group id of the caller
	Sources []netip.Addr // the candidates, never empty; must not be modified
}

// Policy names accepted by [NewSelector].
const (
	OneVIPA = "onevipa" // always the first source
	Random  = "random"  // a uniformly random source on every call
)

// names lists the policies in the order error messages show them.
var names = []string{OneVIPA, Random}

// Names returns the names [NewSelector] accepts, for help and error texts.
func Names() []string {
	return append([]string(nil), names...)
}

// NewSelector returns the selector of the named policy. Selectors hold no
// per-rule state yet, so rules share them.
func NewSelector(name string) (Selector, error) {
	switch name {
	case OneVIPA:
		return oneVIPA{}, nil
	case Random:
		return random{}, nil
	}
	return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownPolicy, name, strings.Join(names, ", "))
}

type oneVIPA struct{}

func (oneVIPA) Select(Call) int { return 0 }

// random uses the top-level math/rand/v2 functions: they are backed by a
// per-thread ChaCha8 state, so concurrent callers neither lock nor allocate.
type random struct{}

func (random) Select(c Call) int {
	if len(c.Sources) <= 1 {
		return 0
	}
	return rand.IntN(len(c.Sources))
}
