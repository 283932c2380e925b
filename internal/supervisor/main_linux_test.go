//go:build linux

package supervisor

import (
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestMain fails the package's tests when they leak a file descriptor.
func TestMain(m *testing.M) { testutil.Main(m) }
