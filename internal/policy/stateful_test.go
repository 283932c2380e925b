package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

var three = addrs("192.0.2.1", "192.0.2.2", "192.0.2.3")

// sequence returns the sources of n connects from pid to dst.
func sequence(t *testing.T, p *Policy, dst string, pid, n int) []netip.Addr {
	t.Helper()
	out := make([]netip.Addr, n)
	for i := range out {
		src, _, ok := callConnect(p, netip.MustParseAddrPort(dst), TCP, pid)
		if !ok {
			t.Fatalf("Connect(%s): no match", dst)
		}
		out[i] = src
	}
	return out
}

// wantRotation fails unless seq walks srcs in order, from any start.
func wantRotation(t *testing.T, what string, seq, srcs []netip.Addr) {
	t.Helper()
	if len(seq) == 0 {
		return
	}
	start := slices.Index(srcs, seq[0])
	if start < 0 {
		t.Fatalf("%s: %v is not a source", what, seq[0])
	}
	want := make([]netip.Addr, len(seq))
	for i := range want {
		want[i] = srcs[(start+i)%len(srcs)]
	}
	if d := diff(want, seq); d != "" {
		t.Errorf("%s: not a rotation (-want +got):\n%s", what, d)
	}
}

func mustNew(t *testing.T, connect []ConnectRule, bind []BindRule) *Policy {
	t.Helper()
	p, err := New(connect, bind)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLRR(t *testing.T) {
	p := mustNew(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: three, Policy: LRR}}, nil)
	// Each process rotates on its own, whatever the others do in between.
	a1 := sequence(t, p, "10.0.0.1:80", 100, 4)
	b := sequence(t, p, "10.0.0.1:80", 200, 5)
	a2 := sequence(t, p, "10.0.0.1:80", 100, 4)
	wantRotation(t, "pid 100", append(a1, a2...), three)
	wantRotation(t, "pid 200", b, three)

	// The start is random per process: over many processes, each source
	// starts some rotation. A source never starting one in 300 processes
	// has probability 3 * (2/3)^300, about 1e-52.
	starts := map[netip.Addr]int{}
	for pid := 1000; pid < 1300; pid++ {
		starts[sequence(t, p, "10.0.0.1:80", pid, 1)[0]]++
	}
	if len(starts) != 3 {
		t.Errorf("lrr starts over 300 processes: %v, want all three sources", starts)
	}
}

func TestLRRForgetsExitedProcesses(t *testing.T) {
	var mu sync.Mutex
	alive := map[int]bool{}
	env := Env{Alive: func(pid int) bool {
		mu.Lock()
		defer mu.Unlock()
		return alive[pid]
	}}
	p0 := mustNew(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: three, Policy: LRR}}, nil)
	p, err := p0.WithEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	s := p.connect[0].Selector.(*lrr)

	// Processes 1..1000 come and go; only the last 10 stay alive.
	for pid := 1; pid <= 1000; pid++ {
		mu.Lock()
		alive[pid] = true
		delete(alive, pid-10)
		mu.Unlock()
		sequence(t, p, "10.0.0.1:80", pid, 1)
		if n := s.size(); n > 2*lrrMinLimit {
			t.Fatalf("after process %d lrr remembers %d processes, want at most %d", pid, n, 2*lrrMinLimit)
		}
	}
	// A live process keeps its rotation through sweeps.
	before := sequence(t, p, "10.0.0.1:80", 1000, 2)
	for pid := 2000; pid < 2000+4*lrrMinLimit; pid++ {
		sequence(t, p, "10.0.0.1:80", pid, 1) // dead at once: swept
	}
	after := sequence(t, p, "10.0.0.1:80", 1000, 2)
	wantRotation(t, "live process across sweeps", append(before, after...), three)
	if n := s.size(); n > lrrMinLimit {
		t.Errorf("lrr remembers %d processes with 10 alive, want at most %d", n, lrrMinLimit)
	}

	// Without Alive a sweep forgets everyone, which bounds the table too.
	p = mustNew(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: three, Policy: LRR}}, nil)
	for pid := range 10 * lrrMinLimit {
		sequence(t, p, "10.0.0.1:80", pid, 1)
	}
	if n := p.connect[0].Selector.(*lrr).size(); n > lrrMinLimit {
		t.Errorf("lrr without Alive remembers %d processes, want at most %d", n, lrrMinLimit)
	}
}

func TestLRRConcurrent(t *testing.T) {
	p := mustNew(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: three, Policy: LRR}}, nil)
	const workers, per = 8, 300
	counts := make([]map[netip.Addr]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		counts[w] = map[netip.Addr]int{}
		wg.Go(func() {
			for range per {
				src, _, _ := callConnect(p, netip.MustParseAddrPort("10.0.0.1:80"), TCP, 7) // one process, many threads
				counts[w][src]++
			}
		})
	}
	wg.Wait()
	total := map[netip.Addr]int{}
	for _, c := range counts {
		for a, n := range c {
			total[a] += n
		}
	}
	want := map[netip.Addr]int{three[0]: workers * per / 3, three[1]: workers * per / 3, three[2]: workers * per / 3}
	if d := diff(want, total); d != "" {
		t.Errorf("one process's threads share its rotation (-want +got):\n%s", d)
	}
}

// sharedCounters is an Env.Counter whose counters live in a map, as the
// supervisor's live in files: two Policies built with it share rotations.
type sharedCounters struct {
	mu    sync.Mutex
	c     map[string]*localCounter
	modes map[string]fs.FileMode
}

func (s *sharedCounters) counter(key string, mode fs.FileMode) (Counter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		s.c, s.modes = map[string]*localCounter{}, map[string]fs.FileMode{}
	}
	if s.c[key] == nil {
		s.c[key] = &localCounter{}
		s.modes[key] = mode
	}
	return s.c[key], nil
}

func TestRR(t *testing.T) {
	rules := []ConnectRule{
		{Destination: pfx("10.0.0.0/8"), Sources: three, Policy: RR, Origin: "a:1"},
		{Destination: pfx("10.1.0.0/16"), Sources: three, Policy: RR, RRMode: 0o660, Origin: "a:5"},
	}
	// Without an Env, one rotation per rule and Policy.
	p := mustNew(t, rules, nil)
	wantRotation(t, "rr without Env", sequence(t, p, "10.0.0.1:80", 1, 7), three)

	// With a shared counter, one rotation across Policies (instances) and
	// processes: exactly n/3 per source.
	var shared sharedCounters
	env := Env{Counter: shared.counter}
	p1, err := p.WithEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := mustNew(t, rules, nil).WithEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	var seq []netip.Addr
	for i := range 30 {
		pol := p1
		if i%3 == 0 {
			pol = p2
		}
		seq = append(seq, sequence(t, pol, "10.0.0.1:80", 100+i%5, 1)...)
	}
	wantRotation(t, "rr across two instances", seq, three)

	// Each rule has its own counter, named by the rule and created with
	// its rr_mode.
	wantRotation(t, "second rule", sequence(t, p1, "10.1.0.1:80", 1, 4), three)
	wantModes := map[string]fs.FileMode{
		"connect destination=10.0.0.0/8 sources=192.0.2.1,192.0.2.2,192.0.2.3":  0o600,
		"connect destination=10.1.0.0/16 sources=192.0.2.1,192.0.2.2,192.0.2.3": 0o660,
	}
	if d := diff(wantModes, shared.modes); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}
	for k := range wantModes {
		if c := shared.c[k]; c == nil || c.Load() == 0 {
			t.Errorf("counter %q not used", k)
		}
	}
}

func TestRRBindFamilies(t *testing.T) {
	var shared sharedCounters
	p, err := mustNew(t, nil, []BindRule{{Ports: PortRange{80, 80}, Sources: addrs("192.0.2.1", "2001:db8::1", "192.0.2.2", "2001:db8::2", "2001:db8::3"), Policy: RR}}).
		WithEnv(Env{Counter: shared.counter})
	if err != nil {
		t.Fatal(err)
	}
	// Interleaved binds of both families: each family rotates over its own
	// candidates.
	var v4, v6 []netip.Addr
	for range 6 {
		a, _, _ := callBind(p, false, 80, 1)
		b, _, _ := callBind(p, true, 80, 1)
		v4, v6 = append(v4, a), append(v6, b)
	}
	wantRotation(t, "IPv4 binds", v4, addrs("192.0.2.1", "192.0.2.2"))
	wantRotation(t, "IPv6 binds", v6, addrs("2001:db8::1", "2001:db8::2", "2001:db8::3"))
	var keys []string
	for k := range shared.c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{
		"bind ports=80 sources=192.0.2.1,2001:db8::1,192.0.2.2,2001:db8::2,2001:db8::3 family=ipv4",
		"bind ports=80 sources=192.0.2.1,2001:db8::1,192.0.2.2,2001:db8::2,2001:db8::3 family=ipv6",
	}
	if d := diff(want, keys); d != "" {
		t.Errorf("counter keys (-want +got):\n%s", d)
	}

	// A rule without IPv6 sources offers its IPv4 ones to both families,
	// with one rotation.
	p = mustNew(t, nil, []BindRule{{Ports: PortRange{80, 80}, Sources: three, Policy: RR}})
	var both []netip.Addr
	for i := range 6 {
		a, _, _ := callBind(p, i%2 == 1, 80, 1)
		both = append(both, a)
	}
	wantRotation(t, "both families, IPv4 sources", both, three)
}

// fakeSockets is a SocketCounter with fixed counts that records Add.
type fakeSockets struct {
	mu     sync.Mutex
	counts map[netip.Addr]int
	added  []netip.Addr
}

func (f *fakeSockets) Count(a netip.Addr) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[a]
}

func (f *fakeSockets) Add(a netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[a]++
	f.added = append(f.added, a)
}

func TestLC(t *testing.T) {
	fake := &fakeSockets{counts: map[netip.Addr]int{three[0]: 5, three[1]: 3, three[2]: 4}}
	var asked [][]netip.Addr
	env := Env{Sockets: func(a []netip.Addr) (SocketCounter, error) {
		asked = append(asked, a)
		return fake, nil
	}}
	p, err := mustNew(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: three, Policy: LC}}, nil).WithEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([][]netip.Addr{three}, asked); d != "" {
		t.Errorf("Env.Sockets asked for (-want +got):\n%s", d)
	}
	m, _ := p.MatchConnect(netip.MustParseAddrPort("10.0.0.1:80"), TCP)
	if got := m.Peek(1); got != three[1] {
		t.Errorf("Peek = %s, want %s", got, three[1])
	}
	if len(fake.added) != 0 {
		t.Errorf("Peek counted a socket: %v", fake.added)
	}
	// Counts 5 3 4: .2 (then 5 4 4), .2 (a tie goes to the earlier; 5 5 4),
	// .3 (5 5 5), .1 (6 5 5), .2 (6 6 5), .3.
	got := sequence(t, p, "10.0.0.1:80", 1, 6)
	want := []netip.Addr{three[1], three[1], three[2], three[0], three[1], three[2]}
	if d := diff(want, got); d != "" {
		t.Errorf("lc sources (-want +got):\n%s", d)
	}
	if d := diff(want, fake.added); d != "" {
		t.Errorf("lc counted (-want +got):\n%s", d)
	}

	// Without Env, lc counts its own binds: an even spread.
	p = mustNew(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: three, Policy: LC}}, nil)
	want = []netip.Addr{three[0], three[1], three[2], three[0], three[1], three[2]}
	if d := diff(want, sequence(t, p, "10.0.0.1:80", 1, 6)); d != "" {
		t.Errorf("lc without Env (-want +got):\n%s", d)
	}
}

func TestPeekChangesNothing(t *testing.T) {
	for _, name := range []string{OneVIPA, LRR, RR, LC} {
		t.Run(name, func(t *testing.T) {
			p := mustNew(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: three, Policy: name}}, nil)
			sequence(t, p, "10.0.0.1:80", 1, 2) // pid 1 is known to lrr
			m, _ := p.MatchConnect(netip.MustParseAddrPort("10.0.0.1:80"), TCP)
			for range 5 {
				peek := m.Peek(1)
				if got := m.Source(1); got != peek {
					t.Fatalf("Peek = %s, then Source = %s", peek, got)
				}
			}
		})
	}
}

func TestKernel(t *testing.T) {
	p := mustNew(t, []ConnectRule{
		{Destination: pfx("0.0.0.0/0"), Sources: addrs("192.0.2.1"), Origin: "k:1"},
		{Destination: pfx("127.0.0.0/8"), Policy: Kernel, Origin: "k:5"},
		{Destination: pfx("10.0.0.0/8"), Ports: PortRange{22, 22}, Policy: Kernel, Sources: addrs("192.0.2.9"), Origin: "k:8"},
	}, []BindRule{
		{Ports: PortRange{6100, 6199}, Policy: Kernel, Origin: "b:1"},
		{Ports: PortRange{6000, 6999}, Sources: addrs("192.0.2.1"), Origin: "b:4"},
	})
	tests := []struct {
		dst    string
		kernel bool
		origin string
	}{
		{"127.0.0.1:80", true, "k:5"},
		{"[::ffff:127.0.0.53]:53", true, "k:5"},
		{"10.1.1.1:22", true, "k:8"},
		{"10.1.1.1:23", false, "k:1"},
		{"192.0.2.77:80", false, "k:1"},
	}
	for _, tt := range tests {
		src, rule, ok := callConnect(p, netip.MustParseAddrPort(tt.dst), TCP, 1)
		m, _ := p.MatchConnect(netip.MustParseAddrPort(tt.dst), TCP)
		if !ok || rule.Origin != tt.origin || m.Kernel() != tt.kernel || src.IsValid() == tt.kernel {
			t.Errorf("Connect(%s) = %v %+v %v, Kernel() %v; want rule %s, kernel %v", tt.dst, src, rule, ok, m.Kernel(), tt.origin, tt.kernel)
		}
	}
	for _, v6 := range []bool{false, true} {
		for port, want := range map[uint16]string{6150: "b:1", 6050: "b:4", 6999: "b:4"} {
			src, rule, ok := callBind(p, v6, port, 1)
			if !ok || rule.Origin != want || src.IsValid() == (want == "b:1") {
				t.Errorf("Bind(%v, %d) = %v %+v %v; want rule %s", v6, port, src, rule, ok, want)
			}
		}
	}
}

func TestConnectPortsAndProtocol(t *testing.T) {
	p := mustNew(t, []ConnectRule{
		{Destination: pfx("10.0.0.0/8"), Ports: PortRange{53, 53}, Protocol: UDP, Sources: addrs("192.0.2.1"), Origin: "r:1"},
		{Destination: pfx("10.0.0.0/8"), Ports: PortRange{53, 53}, Sources: addrs("192.0.2.2"), Origin: "r:2"},
		{Destination: pfx("10.0.0.0/8"), Protocol: TCP, Sources: addrs("192.0.2.3"), Origin: "r:3"},
		{Destination: pfx("10.0.0.0/8"), Ports: PortRange{1000, 2000}, Sources: addrs("192.0.2.4"), Origin: "r:4"},
		// Longer prefix wins over any ports or protocol.
		{Destination: pfx("10.1.0.0/16"), Sources: addrs("192.0.2.5"), Origin: "r:5"},
		{Destination: pfx("2001:db8::/32"), Ports: PortRange{443, 443}, Protocol: TCP, Sources: addrs("2001:db8::1"), Origin: "r:6"},
	}, nil)
	if !p.UsesProtocol() {
		t.Error("UsesProtocol() = false")
	}
	tests := []struct {
		dst    string
		proto  Protocol
		origin string // "" for no match
	}{
		{"10.2.0.1:53", UDP, "r:1"},
		{"10.2.0.1:53", TCP, "r:2"},
		{"10.2.0.1:53", AnyProtocol, "r:2"},
		{"10.2.0.1:80", TCP, "r:3"},
		{"10.2.0.1:1500", TCP, "r:3"},
		{"10.2.0.1:1500", UDP, "r:4"},
		{"10.2.0.1:2001", UDP, ""},
		{"10.2.0.1:80", AnyProtocol, ""},
		{"[::ffff:10.2.0.1]:53", UDP, "r:1"},
		{"10.1.0.1:53", UDP, "r:5"},
		{"[2001:db8::9]:443", TCP, "r:6"},
		{"[2001:db8::9]:443", UDP, ""},
		{"[2001:db8::9]:80", TCP, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.dst, tt.proto), func(t *testing.T) {
			_, rule, ok := callConnect(p, netip.MustParseAddrPort(tt.dst), tt.proto, 1)
			got := ""
			if ok {
				got = rule.Origin
			}
			if d := diff(tt.origin, got); d != "" {
				t.Errorf("rule (-want +got):%s", d)
			}
		})
	}
	if mustNew(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Ports: PortRange{53, 53}, Sources: three}}, nil).UsesProtocol() {
		t.Error("UsesProtocol() = true without any protocol")
	}
}

func TestShadowMessages(t *testing.T) {
	ok4 := pfx("10.0.0.0/8")
	tests := []struct {
		name  string
		rules []ConnectRule
		msg   string
	}{
		{
			name:  "plain duplicate",
			rules: []ConnectRule{{Destination: ok4, Sources: three, Origin: "p:1"}, {Destination: ok4, Sources: three}},
			msg:   "duplicate destination 10.0.0.0/8: the rule at p:1 has the same one, so this rule would never match",
		},
		{
			name: "same ports and protocol",
			rules: []ConnectRule{
				{Destination: ok4, Ports: PortRange{80, 80}, Protocol: TCP, Sources: three, Origin: "p:1"},
				{Destination: ok4, Ports: PortRange{80, 80}, Protocol: TCP, Sources: three},
			},
			msg: "duplicate destination 10.0.0.0/8: the rule at p:1 has the same one with the same ports and protocol, so this rule would never match",
		},
		{
			name: "wider first",
			rules: []ConnectRule{
				{Destination: ok4, Sources: three},
				{Destination: ok4, Ports: PortRange{80, 80}, Sources: three},
			},
			msg: "duplicate destination 10.0.0.0/8: the rule at index 0 has the same one and matches every port and protocol this rule does, so this rule would never match; put the narrower rule first",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.rules, nil)
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("New() = %v, want a *RuleError", err)
			}
			if d := diff(tt.msg, re.Err.Error()); d != "" {
				t.Errorf("message (-want +got):%s", d)
			}
		})
	}
}

func TestWithEnv(t *testing.T) {
	connect := []ConnectRule{
		{Destination: pfx("10.0.0.0/8"), Sources: three, Selector: fixed(2), Policy: RR},
		{Destination: pfx("10.1.0.0/16"), Sources: three, Policy: RR},
	}
	var calls atomic.Int32
	p, err := mustNew(t, connect, nil).WithEnv(Env{Counter: func(string, fs.FileMode) (Counter, error) {
		calls.Add(1)
		return newLocalCounter(), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Env.Counter called %d times, want once (the rule with its own Selector keeps it)", n)
	}
	if src, _, _ := callConnect(p, netip.MustParseAddrPort("10.2.0.1:80"), TCP, 1); src != three[2] {
		t.Errorf("custom selector lost: source %s", src)
	}

	boom := errors.New("no shared state")
	_, err = mustNew(t, connect, nil).WithEnv(Env{Counter: func(string, fs.FileMode) (Counter, error) { return nil, boom }})
	var re *RuleError
	if !errors.Is(err, boom) || !errors.As(err, &re) || re.Index != 1 || re.Field != "policy" {
		t.Errorf("WithEnv with a failing Counter = %v, want a RuleError for rule 1, policy", err)
	}
	_, err = mustNew(t, nil, []BindRule{{Ports: PortRange{1, 1}, Sources: three, Policy: LC}}).
		WithEnv(Env{Sockets: func([]netip.Addr) (SocketCounter, error) { return nil, boom }})
	if !errors.Is(err, boom) || !errors.As(err, &re) || re.Kind != "bind" || re.Field != "policy" {
		t.Errorf("WithEnv with a failing Sockets = %v, want a RuleError for the bind rule, policy", err)
	}
}

func TestRuleKey(t *testing.T) {
	r := ConnectRule{Destination: pfx("10.0.0.0/8"), Sources: three, Origin: "a:1"}
	moved := r
	moved.Origin = "b:7"
	if r.RuleKey() != moved.RuleKey() {
		t.Errorf("key depends on the rule's place: %q, %q", r.RuleKey(), moved.RuleKey())
	}
	keys := map[string]bool{r.RuleKey(): true}
	for _, c := range []ConnectRule{
		{Destination: pfx("10.0.0.0/8"), Sources: three[:2]},
		{Destination: pfx("10.0.0.0/8"), Sources: three, Ports: PortRange{80, 80}},
		{Destination: pfx("10.0.0.0/8"), Sources: three, Protocol: UDP},
		{Destination: pfx("10.0.0.0/9"), Sources: three},
	} {
		if keys[c.RuleKey()] {
			t.Errorf("two rules share key %q", c.RuleKey())
		}
		keys[c.RuleKey()] = true
	}
	b := BindRule{Ports: PortRange{80, 90}, Sources: three}
	if d := diff("bind ports=80-90 sources=192.0.2.1,192.0.2.2,192.0.2.3", b.RuleKey()); d != "" {
		t.Errorf("bind key (-want +got):%s", d)
	}
}

func TestParseRRMode(t *testing.T) {
	tests := []struct {
		in   string
		want fs.FileMode
		msg  string
	}{
		{in: "0600", want: 0o600},
		{in: "600", want: 0o600},
		{in: "0666", want: 0o666},
		{in: "0777", want: 0o777},
		{in: "0400", msg: `invalid rr_mode 0400: the owner needs read and write permission (0600)`},
		{in: "1600", msg: `invalid rr_mode 1600: only permission bits (0000-0777) are allowed`},
		{in: "0800", msg: `invalid rr_mode "0800": want octal permissions like "0600" or "0660"`},
		{in: "", msg: `invalid rr_mode "": want octal permissions like "0600" or "0660"`},
		{in: "00600", msg: `invalid rr_mode "00600": want octal permissions like "0600" or "0660"`},
		{in: "-600", msg: `invalid rr_mode "-600": want octal permissions like "0600" or "0660"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRRMode(tt.in)
			if tt.msg != "" {
				if !errors.Is(err, ErrInvalidRRMode) {
					t.Fatalf("ParseRRMode(%q) = %v, %v; want ErrInvalidRRMode", tt.in, got, err)
				}
				if d := diff(tt.msg, err.Error()); d != "" {
					t.Errorf("message (-want +got):%s", d)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseRRMode(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzParseRRMode(f *testing.F) {
	for _, s := range []string{"0600", "600", "0777", "0400", "1600", "x", "", "0o600"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseRRMode(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRRMode) {
				t.Fatalf("ParseRRMode(%q) error %v does not wrap ErrInvalidRRMode", s, err)
			}
			return
		}
		if CheckRRMode(m) != nil || m&0o600 != 0o600 || m&^fs.ModePerm != 0 {
			t.Fatalf("ParseRRMode(%q) = %o, not a valid mode", s, m)
		}
		if back, err := ParseRRMode(fmt.Sprintf("%04o", uint32(m))); err != nil || back != m {
			t.Fatalf("round trip %q -> %o -> %v, %v", s, m, back, err)
		}
	})
}

func TestParseProtocol(t *testing.T) {
	for _, p := range []Protocol{TCP, UDP} {
		if got, err := ParseProtocol(p.String()); err != nil || got != p {
			t.Errorf("ParseProtocol(%q) = %v, %v", p.String(), got, err)
		}
	}
	for _, s := range []string{"any", "TCP", "sctp", ""} {
		_, err := ParseProtocol(s)
		if !errors.Is(err, ErrInvalidProtocol) {
			t.Errorf("ParseProtocol(%q) = %v, want ErrInvalidProtocol", s, err)
		}
	}
	_, err := ParseProtocol("sctp")
	if d := diff(`invalid protocol "sctp" (valid: tcp, udp)`, err.Error()); d != "" {
		t.Errorf("message (-want +got):%s", d)
	}
}
