//go:build linux

package notify

import (
	"os"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestMain fails the package's tests when they leak a file descriptor. Run
// as a filtered child (see StartFilteredChild), the test binary is that
// child instead.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runFilteredChild())
	}
	testutil.Main(m)
}
