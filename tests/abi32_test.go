//go:build linux && amd64

package tests

import (
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

// TestIntegrationI386 runs a static 32-bit program (gcc -m32 -static): its
// connects and binds go through the i386 ABI, directly or multiplexed by
// socketcall(2) with the arguments in memory, where the filter cannot see
// them. Both must be rewritten, and the privileged-port rule must hold.
func TestIntegrationI386(t *testing.T) {
	e := newEnv(t)
	client := testutil.BuildC(t, "tests/clients/abi32/abi32.c", "-m32", "-static")
	requireIA32(t, client)
	for _, mode := range []string{"direct", "socketcall"} {
		t.Run(mode, func(t *testing.T) {
			e := e.with(t)
			argv := []string{client, mode, dst4.String(), "8080"}
			res := e.run(argv...)
			wantOK(t, "without vipa-exec", res)
			wantLocal(t, "without vipa-exec", res, dst4)
			res = e.wrapped(e.policy(standardPolicy), argv...)
			wantOK(t, "under vipa-exec", res)
			wantLocal(t, "under vipa-exec", res, vipa4)
		})
	}
	t.Run("socketcall bind", func(t *testing.T) {
		e := e.with(t)
		res := e.wrapped(e.policy(bindPolicy), client, "bind", "6000")
		wantOK(t, "under vipa-exec", res)
		if got, want := strings.TrimSpace(res.Stdout), netip.AddrPortFrom(vipa4, 6000).String(); got != want {
			t.Errorf("bound to %q, want %q", got, want)
		}
	})
	t.Run("socketcall bind of a privileged port as nobody", func(t *testing.T) {
		e := e.with(t)
		pol := e.policy("[[bind]]\nports = \"80\"\nsources = [\"192.0.2.10\"]\n")
		res := e.run(append(e.exec("-u", "nobody", "-p", pol), client, "bind", "80")...)
		e.supervisorGone(res)
		if res.Exit != 1 || !strings.Contains(res.Stderr, "Permission denied") {
			t.Errorf("want exit 1 with EACCES, got %v", res)
		}
	})
}

// requireIA32 skips when this kernel runs no 32-bit programs: a kernel built
// with IA32_EMULATION can still have it switched off at boot (ia32_emulation=0,
// or CONFIG_IA32_EMULATION_DEFAULT_DISABLED), and then execve answers ENOEXEC
// and int 0x80 is refused too, so no i386 call can reach the filter. This is
// a property of the kernel, not a missing prerequisite: it skips even under
// CI=true. The i386 section of the filter stays covered by the BPF VM tests in
// internal/notify.
func requireIA32(t *testing.T, client string) {
	t.Helper()
	err := exec.Command(client).Run()
	if errors.Is(err, unix.ENOEXEC) {
		t.Skipf("this kernel runs no 32-bit programs (32-bit emulation disabled at boot): %v", err)
	}
}
