//go:build linux

package status

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipa-exec/vipa-exec/internal/rewrite"
)

// socketDirs points the socket directories of this package's servers and
// clients at a new directory of t, for tests that serve.
func socketDirs(t *testing.T) {
	dir := t.TempDir()
	savedRoot, savedUser := rootDir, userDir
	rootDir, userDir = filepath.Join(dir, "root"), filepath.Join(dir, "user-%d")
	t.Cleanup(func() { rootDir, userDir = savedRoot, savedUser })
}

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
	socketDirs(t)
	me := os.Getpid()
	started := time.Now().Add(-90 * time.Second)
	want := Report{Supervisor: me, Program: me, Mode: "detached", Policy: "/etc/p.toml",
		Started: started, PolicyLoaded: started, Reloads: 2,
		Counters: rewrite.Snapshot{Bound: 7, Calls: map[string]uint64{"connect": 9}}}
	srv, err := Serve([]int{me}, func(int) Report { r := want; r.Now = time.Now(); return r })
	if err != nil {
		t.Fatal(err)
	}
	r, err := Query(me, 0)
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
	defer func() { _ = child.Wait() }()
	defer func() { _ = child.Process.Kill() }()
	r, err = Find(child.Process.Pid)
	if err != nil || r.Program != me {
		t.Errorf("Find(child %d) = %+v, %v; want the report of %d", child.Process.Pid, r, err, me)
	}

	_ = srv.Close()
	if _, err := Query(me, 0); !errors.Is(err, ErrNoSupervisor) {
		t.Errorf("after Close: %v, want ErrNoSupervisor", err)
	}
	if _, err := Find(child.Process.Pid); !errors.Is(err, ErrNoSupervisor) {
		t.Errorf("Find after Close: %v, want ErrNoSupervisor", err)
	}
}

func TestTrustedPeer(t *testing.T) {
	tests := []struct {
		name string
		peer unix.Ucred // the server's credentials
		euid int        // the caller's
		ok   bool
	}{
		{"root supervisor, asked by root", unix.Ucred{Pid: 7, Uid: 0}, 0, true},
		{"root supervisor, asked by a user", unix.Ucred{Pid: 7, Uid: 0}, 1000, true},
		{"the caller's own", unix.Ucred{Pid: 7, Uid: 1000}, 1000, true},
		// A program run as nobody by root's vipa-exec can take the names
		// of its children: root believes only root.
		{"a user's, asked by root", unix.Ucred{Pid: 7, Uid: 65534}, 0, false},
		{"another user's", unix.Ucred{Pid: 7, Uid: 1001}, 1000, false},
	}
	for _, tt := range tests {
		err := trustedPeer(&tt.peer, tt.euid)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrUntrusted) {
			t.Errorf("%s: %v does not wrap ErrUntrusted", tt.name, err)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/etc/vipa-exec/web.toml", "/etc/vipa-exec/web.toml"},
		{"\x1b]0;pwned\x07\x1b[2J", "?]0;pwned??[2J"},
		{"a\nb\rc\td", "a?b?c?d"},
		{"\u202egnp.exe", "?gnp.exe"},
		{"\u009b31m", "?31m"},
		{"caf\u00e9 \xff", "caf\u00e9 ?"},
	}
	for _, tt := range tests {
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFindNoProcess(t *testing.T) {
	// Pids beyond pid_max never exist.
	if _, err := Find(1 << 30); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Find of a pid that does not exist: %v", err)
	}
}

func TestServeNameTaken(t *testing.T) {
	socketDirs(t)
	me := os.Getpid()
	a, err := Serve([]int{me}, func(int) Report { return Report{} })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Close() }()
	if _, err := Serve([]int{me}, func(int) Report { return Report{} }); err == nil || !strings.Contains(err.Error(), Name(me)) {
		t.Errorf("second server under %s: %v, want an error naming it", Name(me), err)
	}
}

// TestServePath: a supervisor is found at its socket path even when
// someone took its abstract name first; a stale socket is replaced, the
// socket removed on Close; a directory others could write is not used.
func TestServePath(t *testing.T) {
	socketDirs(t)
	me := os.Getpid()
	squatter, err := net.ListenUnix("unix", &net.UnixAddr{Name: Name(me), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = squatter.Close() }()
	if err := os.MkdirAll(rootDir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: Path(os.Geteuid(), me), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	_ = stale.Close()

	srv, err := Serve([]int{me}, func(int) Report { return Report{Supervisor: me, Program: me, Policy: "/p"} })
	if err != nil {
		t.Fatal(err)
	}
	r, err := Query(me, 0)
	if err != nil || r.Policy != "/p" {
		t.Fatalf("Query with the abstract name taken = %+v, %v; want the report at %s", r, err, Path(os.Geteuid(), me))
	}
	_ = srv.Close()
	if _, err := os.Lstat(Path(os.Geteuid(), me)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket after Close: %v, want it removed", err)
	}

	if err := os.Chmod(dirFor(os.Geteuid()), 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Serve([]int{me}, func(int) Report { return Report{} }); err == nil {
		t.Error("Serve used a directory writable by all")
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		line string
		want Request
		ok   bool
	}{
		{"{}\n", Request{}, true},
		{`{"pid": 1234}` + "\n", Request{Pid: 1234}, true},
		{`{"pid": -1}`, Request{}, false},
		{`{"pid": "1"}`, Request{}, false},
		{`{"pid": 1, "x": 2}`, Request{}, false}, // unknown fields
		{`{} {}`, Request{}, false},
		{"", Request{}, false},
		{"serves 1?", Request{}, false},
	}
	for _, tt := range tests {
		got, err := ParseRequest([]byte(tt.line))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseRequest(%q) = %+v, %v; want %+v, ok %v", tt.line, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"pid": 1234}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			return
		}
		if req.Pid < 0 {
			t.Errorf("ParseRequest(%q) = pid %d", b, req.Pid)
		}
		again, err := ParseRequest(append(must(json.Marshal(req)), '\n'))
		if err != nil || again != req {
			t.Errorf("round trip of %+v: %+v, %v", req, again, err)
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestAbstractNames(t *testing.T) {
	const table = `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 22100 @vipa-exec/1234
0000000000000000: 00000002 00000000 00010000 0001 01 22101 @vipa-exec/77
0000000000000000: 00000003 00000000 00000000 0001 03 22102 @vipa-exec/55
0000000000000000: 00000002 00000000 00010000 0001 01 22103 /run/vipa-exec/status/9.sock
0000000000000000: 00000002 00000000 00010000 0001 01 22104 @vipa-exec/x
0000000000000000: 00000002 00000000 00010000 0001 01 22105 @vipa-exec/-3
0000000000000000: 00000002 00000000 00010000 0001 01 22106 @other/12
0000000000000000: 00000002 00000000 00010000 0001 01 22107
`
	got := abstractNames(table)
	if want := []int{1234, 77}; !slices.Equal(got, want) {
		t.Errorf("abstractNames = %v, want %v (listening ones only)", got, want)
	}
}

// TestServes: the program, the supervisor and their descendants are
// served, and a process that is neither but called, with its
// descendants; others are not.
func TestServes(t *testing.T) {
	me := os.Getpid()
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Wait() }()
	defer func() { _ = child.Process.Kill() }()
	c := child.Process.Pid
	none := func(int) bool { return false }
	tests := []struct {
		name              string
		pid, program, sup int
		called            func(int) bool
		want              bool
	}{
		{"the program", me, me, 1 << 30, none, true},
		{"the supervisor", me, 1 << 30, me, none, true},
		{"a descendant of the program", c, me, 1 << 30, none, true},
		{"a stranger", c, 1 << 30, 1 << 30, none, false},
		{"a caller", c, 1 << 30, 1 << 30, func(p int) bool { return p == c }, true},
		{"a caller's descendant", c, 1 << 30, 1 << 30, func(p int) bool { return p == me }, true},
		{"init", 1, 1, 1, func(int) bool { return true }, false},
	}
	for _, tt := range tests {
		if got := Serves(tt.pid, tt.program, tt.sup, tt.called); got != tt.want {
			t.Errorf("%s: Serves(%d) = %v, want %v", tt.name, tt.pid, got, tt.want)
		}
	}
}

// TestFindCaller: a process whose ancestors are no program is found
// through the supervisor that says it serves it, and List names each
// supervisor once.
func TestFindCaller(t *testing.T) {
	socketDirs(t)
	me := os.Getpid()
	stranger := exec.Command("sleep", "30")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stranger.Wait() }()
	defer func() { _ = stranger.Process.Kill() }()
	s := stranger.Process.Pid
	// This process serves as supervisor under its pid and a program's, 1 << 29.
	srv, err := Serve([]int{1 << 29, me}, func(asked int) Report {
		b := asked == s
		return Report{Supervisor: me, Program: 1 << 29, Mode: "detached", Serves: &b}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	r, err := Find(s)
	if err != nil || r.Supervisor != me {
		t.Errorf("Find(%d) = %+v, %v; want supervisor %d", s, r, err, me)
	}
	// Other supervisors of the host may be listed too.
	mine := 0
	for _, r := range List() {
		if r.Supervisor == me && r.Schema == Schema && r.Program == 1<<29 {
			mine++
		}
	}
	if mine != 1 {
		t.Errorf("List() has %d reports of %d, want one, schema %d", mine, me, Schema)
	}
	_ = srv.Close()
	if _, err := Find(s); !errors.Is(err, ErrNoSupervisor) {
		t.Errorf("Find(%d) after Close: %v, want ErrNoSupervisor", s, err)
	}
}
