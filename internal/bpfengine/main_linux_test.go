//go:build linux

package bpfengine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestMain removes the tests' own cache (cachePrefix "test-") when they are
// done, if no instance holds it: the tests leave no pin behind.
func TestMain(m *testing.M) {
	testutil.Main(cleanup{m})
}

type cleanup struct{ m *testing.M }

func (c cleanup) Run() int {
	code := c.m.Run()
	if cachePrefix != "" {
		dir := cacheDir()
		removeIfFree(filepath.Join(dir, lockName), dir)
		if _, err := os.Stat(dir); err == nil {
			_, _ = os.Stderr.WriteString("bpfengine tests: " + dir + " is still in use: left in place\n")
		}
	}
	return code
}
