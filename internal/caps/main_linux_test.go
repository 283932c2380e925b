//go:build linux

package caps

import (
	"os"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestMain fails the package's tests when they leak a file descriptor. As
// the child of TestBPFAs it reports BPF's result instead.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		child()
	}
	testutil.Main(m)
}
