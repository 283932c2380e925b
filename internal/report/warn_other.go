//go:build !linux

package report

import (
	"io"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// WarnAbsent does nothing: vipa-exec launches nothing here.
func WarnAbsent(io.Writer, *policy.Policy) {}
