//go:build linux

package status

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/rewrite"
)

func TestParseParent(t *testing.T) {
	tests := []struct {
		stat string
		want int
		ok   bool
	}{
		{"1234 (sleep) S 1200 1234 1200 0 -1 4194304", 1200, true},
		{"1234 (a b) c) R 77 1 1", 77, true}, // comm with spaces and ')'
		{"1234 ((sd-pam)) S 1 1 1", 1, true},
		{"1234 (x)", 0, false},
		{"1234 (x) S", 0, false},
		{"garbage", 0, false},
		{"1234 (x) S notanumber", 0, false},
	}
	for _, tt := range tests {
		got, err := parseParent(tt.stat)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseParent(%q) = %d, %v; want %d, ok %v", tt.stat, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseParent(f *testing.F) {
	f.Add("1234 (sleep) S 1200 1234")
	f.Add("1 (a) b) c) S 0")
	f.Fuzz(func(t *testing.T, stat string) {
		pid, err := parseParent(stat)
		if err == nil && !strings.Contains(stat, ")") {
			t.Errorf("parseParent(%q) = %d without a comm field", stat, pid)
		}
	})
}

// TestServeQuery runs a server under this process's pid and asks it, as the
// supervisor's own user: directly, through a child's ancestry, and after
// Close.
func TestServeQuery(t *testing.T) {
	me := os.Getpid()
	started := time.Now().Add(-90 * time.Second)
	want := Report{Supervisor: me, Program: me, Mode: "detached", Policy: "/etc/p.toml",
		Started: started, PolicyLoaded: started, Reloads: 2,
		Counters: rewrite.Snapshot{Bound: 7, Calls: map[string]uint64{"connect": 9}}}
	srv, err := Serve([]int{me}, func() Report { r := want; r.Now = time.Now(); return r })
	if err != nil {
		t.Fatal(err)
	}
	r, err := Query(me)
	if err != nil {
		t.Fatal(err)
	}
	if r.Policy != want.Policy || r.Reloads != 2 || r.Counters.Bound != 7 || r.Counters.Calls["connect"] != 9 || r.Mode != "detached" {
		t.Errorf("got %+v, want %+v", r, want)
	}
	if up := r.Uptime(); up < 90*time.Second {
		t.Errorf("uptime %v, want at least 90s", up)
	}

	// A child of this process is served by its nearest ancestor's server.
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer child.Process.Kill()
	r, err = Find(child.Process.Pid)
	if err != nil || r.Program != me {
		t.Errorf("Find(child %d) = %+v, %v; want the report of %d", child.Process.Pid, r, err, me)
	}

	srv.Close()
	if _, err := Query(me); !errors.Is(err, ErrNoSupervisor) {
		t.Errorf("after Close: %v, want ErrNoSupervisor", err)
	}
	if _, err := Find(child.Process.Pid); !errors.Is(err, ErrNoSupervisor) {
		t.Errorf("Find after Close: %v, want ErrNoSupervisor", err)
	}
}

func TestTrusted(t *testing.T) {
	owners := map[int]uint32{100: 1000, 200: 0}
	owner := func(pid int) (uint32, error) {
		if u, ok := owners[pid]; ok {
			return u, nil
		}
		return 0, os.ErrNotExist
	}
	tests := []struct {
		name       string
		peer       unix.Ucred // the server's credentials
		supervisor int        // the pid its report names
		pid, euid  int        // the pid asked about; the caller's euid
		ok         bool
	}{
		{"root supervisor", unix.Ucred{Pid: 7, Uid: 0}, 7, 100, 0, true},
		{"the caller's own", unix.Ucred{Pid: 7, Uid: 1000}, 7, 200, 1000, true},
		{"the program owner's, asked by root", unix.Ucred{Pid: 7, Uid: 1000}, 7, 100, 0, true},
		{"another user's", unix.Ucred{Pid: 7, Uid: 1001}, 7, 100, 0, false},
		{"another user's, owner unknown", unix.Ucred{Pid: 7, Uid: 1001}, 7, 300, 0, false},
		{"a report naming another supervisor", unix.Ucred{Pid: 8, Uid: 0}, 7, 100, 0, false},
	}
	for _, tt := range tests {
		err := trusted(&tt.peer, &Report{Supervisor: tt.supervisor}, tt.pid, tt.euid, owner)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "not") {
			t.Errorf("%s: %q does not say what is wrong", tt.name, err)
		}
	}
}

func TestFindNoProcess(t *testing.T) {
	// Pids beyond pid_max never exist.
	if _, err := Find(1 << 30); err == nil || !strings.Contains(err.Error(), "no process") {
		t.Errorf("Find of a pid that does not exist: %v", err)
	}
}

func TestServeNameTaken(t *testing.T) {
	me := os.Getpid()
	a, err := Serve([]int{me}, func() Report { return Report{} })
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := Serve([]int{me}, func() Report { return Report{} }); err == nil || !strings.Contains(err.Error(), Name(me)) {
		t.Errorf("second server under %s: %v, want an error naming it", Name(me), err)
	}
}
