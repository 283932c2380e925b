//go:build linux

package testutil

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { Main(m) }

func TestDiff(t *testing.T) {
	tests := []struct {
		name       string
		want, got  any
		wantOutput string
	}{
		{name: "equal maps", want: map[string]int{"a": 1}, got: map[string]int{"a": 1}},
		{
			name: "map value differs",
			want: map[string]int{"a": 1, "b": 2}, got: map[string]int{"a": 1, "b": 3},
			wantOutput: " a: 1\n-b: 2\n+b: 3\n",
		},
		{
			name: "slice element added",
			want: []string{"x", "z"}, got: []string{"x", "y", "z"},
			wantOutput: " x\n+y\n z\n",
		},
		{
			name: "nil versus empty",
			want: []string(nil), got: []string{},
			wantOutput: "-[]string(nil)\n+[]string{}\n",
		},
		{name: "ints", want: 1, got: 2, wantOutput: "-1\n+2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Diff(tt.want, tt.got); got != tt.wantOutput {
				t.Errorf("Diff() =\n%s\nwant\n%s", got, tt.wantOutput)
			}
		})
	}
}

func TestParseSSListening(t *testing.T) {
	out := "" +
		"LISTEN 0      4096       192.0.2.10:6000      0.0.0.0:*          \n" +
		"LISTEN 0      4096   [::ffff:192.0.2.10]:6001    *:*  \n" +
		"LISTEN 0      128              *:6002            *:*\n" +
		"LISTEN 0      128          [::]:6003          [::]:*\n" +
		"LISTEN 0      128    127.0.0.53%lo:53      0.0.0.0:*  users:((\"x\",pid=1,fd=3))\n" +
		"\n"
	got, err := ParseSSListening([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.10:6000"),
		netip.MustParseAddrPort("[::ffff:192.0.2.10]:6001"),
		netip.MustParseAddrPort("[::]:6002"),
		netip.MustParseAddrPort("[::]:6003"),
		netip.MustParseAddrPort("127.0.0.53:53"),
	}
	if d := Diff(want, got); d != "" {
		t.Errorf("ParseSSListening (-want +got):\n%s", d)
	}

	for _, bad := range []string{
		"LISTEN 0 128 192.0.2.10 0.0.0.0:*\n",
		"LISTEN 0 128 192.0.2.10:http 0.0.0.0:*\n",
		"LISTEN 0 128 192.0.2.10:70000 0.0.0.0:*\n",
		"LISTEN 0 128 example:80 0.0.0.0:*\n",
		"LISTEN 0 128\n",
	} {
		if got, err := ParseSSListening([]byte(bad)); err == nil {
			t.Errorf("ParseSSListening(%q) = %v, want an error", bad, got)
		}
	}
}

func FuzzParseSSListening(f *testing.F) {
	f.Add([]byte("LISTEN 0 4096 192.0.2.10:6000 0.0.0.0:*\n"))
	f.Add([]byte("LISTEN 0 4096 [::ffff:192.0.2.10]:6000 *:*\n"))
	f.Add([]byte("LISTEN 0 4096 [fe80::1]%lo:22 [::]:*\n"))
	f.Add([]byte("LISTEN 0 4096 *:22 *:*\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		aps, err := ParseSSListening(out)
		if err != nil {
			return
		}
		// Round trip: printing what was parsed the way ss does parses back
		// to the same addresses.
		var b strings.Builder
		for _, ap := range aps {
			fmt.Fprintf(&b, "LISTEN 0 1 %s *:*\n", ap)
		}
		again, err := ParseSSListening([]byte(b.String()))
		if err != nil {
			t.Fatalf("reparse %q: %v", b.String(), err)
		}
		if d := Diff(aps, again); d != "" {
			t.Fatalf("round trip (-first +second):\n%s", d)
		}
	})
}

func TestParseSupervisorCmdline(t *testing.T) {
	tests := []struct {
		cmdline string
		pid     int
		ok      bool
	}{
		{"vipa-exec-supervisor\x001234\x00", 1234, true},
		{"vipa-exec-supervisor\x001234", 0, false},
		{"vipa-exec-supervisor\x00\x00", 0, false},
		{"vipa-exec-supervisor\x001234\x00x\x00", 0, false},
		{"vipa-exec-supervisor\x00+1\x00", 0, false},
		{"vipa-exec-supervisor\x00-1\x00", 0, false},
		{"vipa-exec-supervisor\x000\x00", 0, false},
		{"vipa-exec-supervisor\x00012\x00", 0, false},
		{"vipa-exec\x001234\x00", 0, false},
		{"/usr/bin/vipa-exec-supervisor\x001234\x00", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.cmdline), func(t *testing.T) {
			pid, ok := ParseSupervisorCmdline([]byte(tt.cmdline))
			if pid != tt.pid || ok != tt.ok {
				t.Errorf("ParseSupervisorCmdline() = %d, %v; want %d, %v", pid, ok, tt.pid, tt.ok)
			}
		})
	}
}

func FuzzParseSupervisorCmdline(f *testing.F) {
	f.Add([]byte("vipa-exec-supervisor\x001234\x00"))
	f.Add([]byte("vipa-exec-supervisor\x00\x00"))
	f.Fuzz(func(t *testing.T, cmdline []byte) {
		pid, ok := ParseSupervisorCmdline(cmdline)
		if !ok {
			return
		}
		if again := fmt.Sprintf("%s\x00%d\x00", SupervisorName, pid); again != string(cmdline) {
			t.Fatalf("ParseSupervisorCmdline(%q) = %d, which prints as %q", cmdline, pid, again)
		}
	})
}

func TestLeakedFDs(t *testing.T) {
	before := map[int]string{0: "/dev/null", 3: "anon_inode:[eventpoll]", 4: "pipe:[1]"}
	after := map[int]string{0: "/dev/null", 3: "anon_inode:[eventpoll]", 4: "pipe:[2]", 10: "socket:[9]", 9: "/tmp/x"}
	want := []string{"4 -> pipe:[2]", "9 -> /tmp/x", "10 -> socket:[9]"}
	if d := Diff(want, LeakedFDs(before, after)); d != "" {
		t.Errorf("LeakedFDs (-want +got):\n%s", d)
	}
}

func TestOpenFDsSeesNewFile(t *testing.T) {
	before := OpenFDs()
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	fd := f.Fd()
	leaked := LeakedFDs(before, OpenFDs())
	_ = f.Close()
	want := []string{fmt.Sprintf("%d -> /dev/null", fd)}
	if d := Diff(want, leaked); d != "" {
		t.Errorf("leak of an open file (-want +got):\n%s", d)
	}
}

// fakeTB records what Require does instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeTB) Skipf(format string, a ...any)  { f.skip = fmt.Sprintf(format, a...) }
func (f *fakeTB) stopped() (fatal, skip bool)    { return f.fatal != "", f.skip != "" }

func TestRequire(t *testing.T) {
	tests := []struct {
		ci              string
		cond            bool
		wantFatal, skip bool
	}{
		{ci: "true", cond: true},
		{ci: "", cond: true},
		{ci: "true", cond: false, wantFatal: true},
		{ci: "", cond: false, skip: true},
		{ci: "1", cond: false, skip: true}, // only CI=true means CI
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("CI=%q/cond=%v", tt.ci, tt.cond), func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			tb := &fakeTB{}
			Require(tb, tt.cond, "a thing")
			fatal, skip := tb.stopped()
			if fatal != tt.wantFatal || skip != tt.skip {
				t.Errorf("Require: fatal=%v skip=%v, want fatal=%v skip=%v", fatal, skip, tt.wantFatal, tt.skip)
			}
		})
	}
}

func TestRecorder(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(t, ln)

	// HTTP clients get their own address back as the body.
	const clients = 8
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local netip.AddrPort
			tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
			defer tr.CloseIdleConnections()
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err == nil {
					local = c.LocalAddr().(*net.TCPAddr).AddrPort()
				}
				return c, err
			}
			resp, err := (&http.Client{Transport: tr}).Get("http://" + rec.Addr().String() + "/")
			if err != nil {
				errs <- err
				return
			}
			defer func() { _ = resp.Body.Close() }()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				errs <- err
				return
			}
			if got, want := string(body), local.String()+"\n"; got != want {
				errs <- fmt.Errorf("body %q, want %q", got, want)
			}
		}()
	}
	// Connect-and-close clients are recorded too.
	for range 2 {
		c, err := net.Dial("tcp4", rec.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rec.Wait(t, clients+2)
	want := map[netip.Addr]int{netip.MustParseAddr("127.0.0.1"): clients + 2}
	if d := Diff(want, rec.Sources()); d != "" {
		t.Errorf("Sources (-want +got):\n%s", d)
	}
	if got := len(rec.Peers()); got != clients+2 {
		t.Errorf("len(Peers()) = %d, want %d", got, clients+2)
	}
	rec.Reset()
	if got := rec.Count(); got != 0 {
		t.Errorf("Count() after Reset = %d, want 0", got)
	}
}

func TestRunResult(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   Result
	}{
		{"exit status", "echo out; echo err >&2; exit 3", Result{Stdout: "out\n", Stderr: "err\n", Exit: 3}},
		{"signal", "kill -TERM $$", Result{Exit: -1, Signal: unix.SIGTERM}},
		{"success", "printf 'a\\nb'", Result{Stdout: "a\nb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Run(t, exec.Command("/bin/sh", "-c", tt.script))
			got.Pid = 0
			if got != tt.want {
				t.Errorf("Run() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestProcLine(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "echo $$; read x; echo got $x")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, cmd)
	if got, want := p.Line(t), fmt.Sprint(p.Pid()); got != want {
		t.Errorf("first line %q, want the pid %q", got, want)
	}
	if _, err := io.WriteString(in, "it\n"); err != nil {
		t.Fatal(err)
	}
	_ = in.Close()
	if got, want := p.Line(t), "got it"; got != want {
		t.Errorf("second line %q, want %q", got, want)
	}
	if res := p.Wait(t); res.Exit != 0 {
		t.Errorf("exit: %v", res)
	}
}

func TestNetNS(t *testing.T) {
	ns := NewNetNS(t)
	ns.AddAddr(t, "192.0.2.10/32")
	ns.AddAddr(t, "2001:db8:2::10/128")

	selfNS := func() string {
		l, err := os.Readlink("/proc/thread-self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	hostNS := selfNS()

	ln := ns.Listen(t, "tcp4", "192.0.2.10:0")
	ln6 := ns.Listen(t, "tcp6", "[2001:db8:2::10]:0")
	if got := selfNS(); got != hostNS {
		t.Fatalf("test thread moved to netns %s", got)
	}
	// The address exists only in the namespace: the host cannot bind it.
	if hl, err := net.Listen("tcp4", "192.0.2.10:0"); err == nil {
		_ = hl.Close()
		t.Fatal("192.0.2.10 is bindable outside the test namespace")
	}

	rec := NewRecorder(t, ln)
	rec6 := NewRecorder(t, ln6)
	for _, r := range []*Recorder{rec, rec6} {
		c, err := ns.Dial("tcp", r.Addr().String())
		if err != nil {
			t.Fatalf("dial %v inside the namespace: %v", r.Addr(), err)
		}
		_ = c.Close()
	}
	rec.Wait(t, 1)
	rec6.Wait(t, 1)
	if d := Diff(map[netip.Addr]int{netip.MustParseAddr("192.0.2.10"): 1}, rec.Sources()); d != "" {
		t.Errorf("sources (-want +got):\n%s", d)
	}
	if d := Diff(map[netip.Addr]int{netip.MustParseAddr("2001:db8:2::10"): 1}, rec6.Sources()); d != "" {
		t.Errorf("IPv6 sources (-want +got):\n%s", d)
	}

	got := ns.Listening(t)
	want := []netip.AddrPort{rec.Addr(), rec6.Addr()}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("ss -ltnH in the namespace: %v missing from %v", w, got)
		}
	}

	if _, err := ns.Dial("tcp4", "127.0.0.1:1"); !IsRefused(err) {
		t.Errorf("dial 127.0.0.1:1 in the namespace: %v, want connection refused", err)
	}

	res := Run(t, ns.Command(t.Context(), "ip", "-o", "addr", "show", "dev", "lo"))
	for _, a := range []string{"192.0.2.10/32", "2001:db8:2::10/128", "127.0.0.1/8"} {
		if !strings.Contains(res.Stdout, " "+a+" ") {
			t.Errorf("ip addr in the namespace lacks %s:\n%s", a, res)
		}
	}
}

// TestNetNSCommands: a command in the namespace runs as the process Start
// returns (no wrapper in between), in a mount namespace of its own (what it
// mounts stays there), and sees the namespace's own /etc files; under
// HostSysCommand it keeps the host's mounts under /sys, the cgroup v2
// hierarchy among them, which Command's `ip netns exec` hides behind a
// fresh sysfs.
func TestNetNSCommands(t *testing.T) {
	ns := NewNetNS(t)
	host, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	hostCgroup2 := strings.Count(string(host), " - cgroup2 ")
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	const hosts = "10.1.2.3 only.in.this.namespace\n"
	ns.SetEtc(t, "hosts", hosts)
	script := `echo $$; readlink /proc/self/ns/mnt; cat /etc/hosts; grep -c " - cgroup2 " /proc/self/mountinfo || true`
	for _, tt := range []struct {
		name    string
		command func(context.Context, string, ...string) *exec.Cmd
		cgroup2 int
	}{
		{"Command", ns.Command, 0},
		{"HostSysCommand", ns.HostSysCommand, hostCgroup2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := Run(t, tt.command(t.Context(), "/bin/sh", "-c", script))
			want := []string{fmt.Sprint(res.Pid), "(another mount namespace)", strings.TrimSpace(hosts), fmt.Sprint(tt.cgroup2)}
			got := Lines(res.Stdout)
			if len(got) == 4 && got[1] != self {
				got[1] = "(another mount namespace)"
			}
			if d := Diff(want, got); d != "" {
				t.Errorf("pid, mount namespace, /etc/hosts, cgroup2 mounts (-want +got):\n%s\n%v", d, res)
			}
		})
	}
}
