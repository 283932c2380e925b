package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI, where a test that cannot run
// is a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require stops the test when cond is false: it fails under CI=true and skips
// otherwise. why says what is missing.
func Require(tb testing.TB, cond bool, why string) {
	tb.Helper()
	if cond {
		return
	}
	if InCI() {
		tb.Fatalf("prerequisite missing under CI=true: %s", why)
		return
	}
	tb.Skipf("prerequisite missing: %s", why)
}

// RequireRoot stops the test unless it runs as root (see [Require]).
func RequireRoot(tb testing.TB) {
	tb.Helper()
	Require(tb, os.Geteuid() == 0, "needs root (network namespaces, setuid files, other users)")
}

// RequireTool stops the test unless every named program is found in PATH
// (see [Require]).
func RequireTool(tb testing.TB, names ...string) {
	tb.Helper()
	for _, name := range names {
		_, err := exec.LookPath(name)
		Require(tb, err == nil, "needs "+name+" in PATH")
	}
}
