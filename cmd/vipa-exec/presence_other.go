//go:build !linux

package main

import (
	"io"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// warnAbsent does nothing: vipa-exec launches nothing here.
func warnAbsent(io.Writer, *policy.Policy) {}
