//go:build linux

package caps

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

func TestBPFSet(t *testing.T) {
	set := func(cs ...int) Set {
		var s Set
		for _, c := range cs {
			s |= 1 << c
		}
		return s
	}
	tests := []struct {
		name string
		eff  Set
		msg  string // "" when allowed
	}{
		{name: "CAP_SYS_ADMIN", eff: set(unix.CAP_SYS_ADMIN)},
		{name: "CAP_BPF and CAP_NET_ADMIN", eff: set(unix.CAP_BPF, unix.CAP_NET_ADMIN)},
		{name: "all", eff: ^Set(0)},
		{name: "none", msg: "CAP_BPF and CAP_NET_ADMIN missing (the bpf engine needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)"},
		{name: "CAP_NET_ADMIN alone", eff: set(unix.CAP_NET_ADMIN),
			msg: "CAP_BPF missing (the bpf engine needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)"},
		{name: "CAP_BPF alone", eff: set(unix.CAP_BPF, unix.CAP_PERFMON),
			msg: "CAP_NET_ADMIN missing (the bpf engine needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := bpf(tt.eff)
			if tt.msg == "" {
				if err != nil {
					t.Errorf("bpf(%#x): %v, want nil", tt.eff, err)
				}
				return
			}
			if !errors.Is(err, ErrMissing) || err.Error() != tt.msg {
				t.Errorf("bpf(%#x): %v, want %q wrapping ErrMissing", tt.eff, err, tt.msg)
			}
		})
	}
}

// childEnv makes the test binary report BPF's result and exit (TestMain).
const childEnv = "VIPA_CAPS_CHILD"

// child prints BPF's result and exits: the test binary runs as the child
// of TestBPFAs.
func child() {
	if err := BPF(); err != nil {
		fmt.Println(err)
	} else {
		fmt.Println("allowed")
	}
	os.Exit(0)
}

// TestBPFAs runs this test binary under setpriv with the credentials of
// each case and checks what BPF tells there.
func TestBPFAs(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "setpriv")
	if err := BPF(); err != nil {
		t.Fatalf("as root: %v", err)
	}
	bin := copyExecutable(t)
	nobody := []string{"--reuid", "nobody", "--regid", "nogroup", "--clear-groups"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "root", want: "allowed"},
		{name: "nobody", args: nobody, want: "CAP_BPF and CAP_NET_ADMIN missing (the bpf engine needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)"},
		{name: "nobody with CAP_BPF and CAP_NET_ADMIN", args: append(nobody, "--inh-caps", "+bpf,+net_admin", "--ambient-caps", "+bpf,+net_admin"), want: "allowed"},
		{name: "nobody with CAP_NET_ADMIN", args: append(nobody, "--inh-caps", "+net_admin", "--ambient-caps", "+net_admin"),
			want: "CAP_BPF missing (the bpf engine needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)"},
		{name: "root without CAP_SYS_ADMIN and CAP_BPF", args: []string{"--inh-caps", "-all", "--bounding-set", "-sys_admin,-bpf"},
			want: "CAP_BPF missing (the bpf engine needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string(nil), tt.args...), bin)
			cmd := exec.Command("setpriv", args...)
			cmd.Env = append(os.Environ(), childEnv+"=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("setpriv %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tt.want {
				t.Errorf("BPF() = %q, want %q", got, tt.want)
			}
		})
	}
}

// copyExecutable copies the test binary into a directory nobody may enter,
// as the build directory is not.
func copyExecutable(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "vipa-caps-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Close() }()
	bin := filepath.Join(dir, "caps.test")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}
