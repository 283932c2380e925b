//go:build linux

package bpfengine

import (
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }
