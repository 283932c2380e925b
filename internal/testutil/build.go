package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// builds caches every build of this test binary by a key naming what was
// built and how, so that each is built once.
var builds struct {
	sync.Mutex
	dir  string // 0755, removed by Main
	done map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// cached returns the output of produce(out) for key, building it on first use.
// out is a fresh path inside the shared 0755 binary directory.
func cached(tb testing.TB, key, name string, produce func(out string) error) string {
	tb.Helper()
	builds.Lock()
	if builds.done == nil {
		builds.done = make(map[string]*build)
	}
	b, ok := builds.done[key]
	if !ok {
		b = new(build)
		builds.done[key] = b
	}
	builds.Unlock()
	b.once.Do(func() {
		dir, err := binDir()
		if err != nil {
			b.err = err
			return
		}
		sub, err := os.MkdirTemp(dir, name+"-")
		if err != nil {
			b.err = err
			return
		}
		if err := os.Chmod(sub, 0o755); err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(sub, name)
		b.err = produce(b.path)
	})
	if b.err != nil {
		tb.Fatalf("build %s: %v", key, b.err)
	}
	return b.path
}

func binDir() (string, error) {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir != "" {
		return builds.dir, nil
	}
	dir, err := os.MkdirTemp("", "vipa-test-bin-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	builds.dir = dir
	return dir, nil
}

// removeBuilds deletes everything the builders made.
func removeBuilds() error {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir == "" {
		return nil
	}
	err := os.RemoveAll(builds.dir)
	builds.dir, builds.done = "", nil
	return err
}

// ModuleRoot is the directory holding the go.mod of vipa-exec, found by
// walking up from the working directory (a package directory under go test).
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// BuildVipaExec returns the path of a vipa-exec binary: $VIPA_EXEC if set,
// otherwise ./cmd/vipa-exec built once per test binary, as a plain `go build`
// on a default Go installation builds it (version-control stamping on, even
// where the machine's go env turns it off).
func BuildVipaExec(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("VIPA_EXEC"); p != "" {
		return p
	}
	root := ModuleRoot(tb)
	return cached(tb, "vipa-exec", "vipa-exec", func(out string) error {
		return run(root, []string{"CGO_ENABLED=1", "GOFLAGS=-buildvcs=auto"}, "go", "build", "-o", out, "./cmd/vipa-exec")
	})
}

// BuildGo builds the main package pkg (an import path or a path relative to
// the module root, like "./tests/clients/goclient"). static builds with
// CGO_ENABLED=0, which gives a statically linked binary.
func BuildGo(tb testing.TB, pkg string, static bool) string {
	tb.Helper()
	root := ModuleRoot(tb)
	cgo := "CGO_ENABLED=1"
	if static {
		cgo = "CGO_ENABLED=0"
	}
	key := fmt.Sprintf("go %s %s", pkg, cgo)
	return cached(tb, key, filepath.Base(pkg), func(out string) error {
		return run(root, []string{cgo}, "go", "build", "-o", out, pkg)
	})
}

// BuildC compiles the C file src (relative to the module root, or absolute)
// with gcc -O2 -Wall -pthread and extraFlags; no -static unless asked.
func BuildC(tb testing.TB, src string, extraFlags ...string) string {
	tb.Helper()
	RequireTool(tb, "gcc")
	root := ModuleRoot(tb)
	if !filepath.IsAbs(src) {
		src = filepath.Join(root, src)
	}
	key := "c " + src + " " + strings.Join(extraFlags, " ")
	name := strings.TrimSuffix(filepath.Base(src), ".c")
	return cached(tb, key, name, func(out string) error {
		args := append([]string{"-O2", "-Wall", "-Werror", "-pthread", "-o", out, src}, extraFlags...)
		return run(root, nil, "gcc", args...)
	})
}

// BuildJava compiles the Java file src (relative to the module root) and
// returns the class directory, for `java -cp DIR Class`.
func BuildJava(tb testing.TB, src string) string {
	tb.Helper()
	root := ModuleRoot(tb)
	if !filepath.IsAbs(src) {
		src = filepath.Join(root, src)
	}
	return cached(tb, "java "+src, "classes", func(out string) error {
		if err := os.Mkdir(out, 0o755); err != nil {
			return err
		}
		return run(root, nil, "javac", "-d", out, src)
	})
}

func run(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// PublicDir returns a new directory of mode 0755 outside the 0700 test
// temporary directories, so that other users (nobody) can read and execute
// what is put there. tb.Cleanup removes it.
func PublicDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "vipa-test-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// WriteFile writes content to name inside dir, gives it mode 0644 (also
// when it existed) and returns its path.
func WriteFile(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// CleanEnv is a minimal environment for programs under test: a PATH, a
// locale, and none of the proxy variables that would send curl or wget
// elsewhere.
func CleanEnv() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C",
		"HOME=/",
	}
}
