//go:build linux

package report

import (
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestMain fails the package's tests when they leak a file descriptor.
func TestMain(m *testing.M) { testutil.Main(m) }
