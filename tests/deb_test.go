//go:build linux

package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationDeb builds the Debian package as `make deb` does, checks it
// with lintian, installs it on this machine with dpkg -i, runs the installed
// binary and the installed demo (a static busybox wget in a throwaway
// network namespace, its source checked on the server's side), and removes
// the package again.
func TestIntegrationDeb(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "dpkg", "dpkg-deb", "dpkg-shlibdeps", "objcopy", "make", "lintian", "busybox", "ip")
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "vipa-exec").Output(); err == nil && strings.Contains(string(out), "installed") {
		// Not this test's to replace: a developer's machine may use it.
		testutil.Require(t, false, "the vipa-exec package is installed on this machine already (dpkg --purge vipa-exec)")
	}
	root := testutil.ModuleRoot(t)
	out := t.TempDir()
	res := testutil.Run(t, exec.CommandContext(t.Context(), filepath.Join(root, "packaging/deb/build-deb.sh"), out))
	wantOK(t, "build-deb.sh", res)
	deb := strings.TrimSpace(res.Stdout)
	if filepath.Dir(deb) != out || !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("build-deb.sh printed %q, want a .deb in %s", deb, out)
	}

	t.Run("fields", func(t *testing.T) {
		for field, want := range map[string]string{
			"Package":      "vipa-exec",
			"Architecture": dpkgArch(t),
		} {
			if got := debField(t, deb, field); got != want {
				t.Errorf("%s: %q, want %q", field, got, want)
			}
		}
		// The dynamic build needs libseccomp and libc, as dpkg-shlibdeps
		// finds them.
		if dep := debField(t, deb, "Depends"); !strings.Contains(dep, "libseccomp2") || !strings.Contains(dep, "libc6") {
			t.Errorf("Depends: %q, want libseccomp2 and libc6", dep)
		}
	})

	t.Run("lintian", func(t *testing.T) {
		// Every tag down to pedantic: the package has none to explain.
		// lintian takes seconds on a quiet machine, minutes on a busy one.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "lintian", "--display-level", ">=pedantic", "--fail-on", "error,warning,info,pedantic", deb).Output()
		if tags := testutil.Lines(string(out)); err != nil || len(tags) > 0 {
			t.Errorf("lintian: %v, tags:\n%s", err, out)
		}
	})

	version := debField(t, deb, "Version")
	install := exec.CommandContext(t.Context(), "dpkg", "-i", deb)
	install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	purged := false
	purge := func() {
		if purged {
			return
		}
		purged = true
		if out, err := exec.Command("dpkg", "--purge", "vipa-exec").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
	}
	t.Cleanup(purge)

	t.Run("installed files", func(t *testing.T) {
		for _, p := range []string{
			"/usr/bin/vipa-exec",
			"/usr/share/man/man8/vipa-exec.8.gz",
			"/usr/share/doc/vipa-exec/copyright",
			"/usr/share/doc/vipa-exec/examples/policy.toml",
			"/usr/share/doc/vipa-exec/examples/demo.sh",
			"/usr/share/doc/vipa-exec/examples/systemd/simple.service",
		} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("not installed: %v", err)
			}
		}
		if fi, err := os.Stat("/etc/vipa-exec"); err != nil || !fi.IsDir() {
			t.Errorf("/etc/vipa-exec: %v, want a directory", err)
		}
	})

	t.Run("--version", func(t *testing.T) {
		res := testutil.Run(t, exec.CommandContext(t.Context(), "/usr/bin/vipa-exec", "--version"))
		wantOK(t, "vipa-exec --version", res)
		if got, want := strings.TrimSpace(res.Stdout), "vipa-exec "+version; got != want {
			t.Errorf("--version: %q, want %q", got, want)
		}
	})

	t.Run("the installed example checks", func(t *testing.T) {
		// --explain skips sources the host lacks: ask in a namespace
		// that has the example's VIPA.
		ns := testutil.NewNetNS(t)
		ns.AddAddr(t, "192.0.2.10/32")
		res := testutil.Run(t, ns.Command(t.Context(), "/usr/bin/vipa-exec", "--explain", "10.1.2.3:443",
			"-p", "/usr/share/doc/vipa-exec/examples/policy.toml"))
		wantOK(t, "--explain with the installed example policy", res)
		if !strings.Contains(res.Stdout, "next source: 192.0.2.10") {
			t.Errorf("--explain with the installed example policy:\n%s", res.Stdout)
		}
	})

	t.Run("demo", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
		defer cancel()
		res := testutil.Run(t, exec.CommandContext(ctx, "bash", "/usr/share/doc/vipa-exec/examples/demo.sh", "/usr/bin/vipa-exec"))
		wantOK(t, "the installed demo", res)
		if !strings.Contains(res.Stdout, "OK: ") {
			t.Errorf("the demo did not say OK:\n%s", res.Stdout)
		}
	})

	purge()
	if _, err := os.Stat("/usr/bin/vipa-exec"); err == nil {
		t.Errorf("/usr/bin/vipa-exec is still there after dpkg --purge")
	}
}

func dpkgArch(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		t.Fatalf("dpkg --print-architecture: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func debField(t *testing.T, deb, field string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "-f", deb, field).Output()
	if err != nil {
		t.Fatalf("dpkg-deb -f %s %s: %v", deb, field, err)
	}
	return strings.TrimSpace(string(out))
}
