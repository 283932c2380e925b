//go:build linux

package bpfengine

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestGeneratedUpToDate runs gen.go's go:generate command into a temporary
// directory and fails if the committed Go file or BPF object differ from
// what the C sources give.
func TestGeneratedUpToDate(t *testing.T) {
	testutil.RequireTool(t, "clang", "llvm-strip")
	if _, err := os.Stat("/usr/include/bpf/bpf_helpers.h"); err != nil {
		testutil.Require(t, false, "needs libbpf-dev (bpf/bpf_helpers.h)")
	}
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//go:generate go "); ok {
			args = splitQuoted(t, rest)
		}
	}
	if len(args) < 3 || args[0] != "run" {
		t.Fatalf("gen.go: no //go:generate go run line: %q", args)
	}
	out := t.TempDir()
	// The flags go before the positional arguments (IDENT SOURCE).
	args = append(args[:2:2], append([]string{"-output-dir", out}, args[2:]...)...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=bpfengine")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	for _, name := range []string{"vipa_bpfel.go", "vipa_bpfel.o"} {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what go generate makes of the C sources: run go generate ./internal/bpfengine and commit", name)
		}
	}
}

// splitQuoted splits a go:generate line as go generate does: at spaces,
// with double-quoted arguments kept whole.
func splitQuoted(t *testing.T, s string) []string {
	var args []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				t.Fatalf("gen.go: unterminated quote in %q", s)
			}
			args = append(args, s[1:end+1])
			s = s[end+2:]
			continue
		}
		arg, rest, _ := strings.Cut(s, " ")
		args = append(args, arg)
		s = rest
	}
	return args
}
