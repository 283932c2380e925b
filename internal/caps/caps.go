package caps

import "errors"

// ErrMissing is wrapped by the error of [BPF] when capabilities are missing.
var ErrMissing = errors.New("missing")

// Set is a capability set, bit N for capability N.
type Set uint64

// Has reports whether s holds capability c.
func (s Set) Has(c int) bool { return c >= 0 && c < 64 && s&(1<<c) != 0 }
