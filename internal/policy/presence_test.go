package policy

import (
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
)

// presenceEnv is an Env whose host addresses the test sets.
type presenceEnv struct{ set atomic.Pointer[AddrSet] }

func (e *presenceEnv) env() Env { return Env{Present: e.set.Load} }

func (e *presenceEnv) have(a ...string) { e.set.Store(NewAddrSet(addrs(a...)...)) }

// picked returns the distinct sources n calls of m got, sorted.
func picked(m Match, n int) []netip.Addr {
	var out []netip.Addr
	for i := range n {
		a := m.Source(1 + i%3)
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func TestPresence(t *testing.T) {
	all := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}
	tests := []struct {
		policy  string
		present []string // nil: a nil set
		want    []netip.Addr
	}{
		// Every selector chooses among the present sources only.
		{policy: OneVIPA, present: all, want: addrs("192.0.2.1")},
		{policy: OneVIPA, present: []string{"192.0.2.2", "192.0.2.3", "198.51.100.1"}, want: addrs("192.0.2.2")},
		{policy: OneVIPA, present: []string{"192.0.2.3"}, want: addrs("192.0.2.3")},
		{policy: OneVIPA, present: []string{}, want: []netip.Addr{{}}},
		{policy: OneVIPA, present: nil, want: addrs("192.0.2.1")},
		{policy: Random, present: all, want: addrs(all...)},
		{policy: Random, present: []string{"192.0.2.1", "192.0.2.3"}, want: addrs("192.0.2.1", "192.0.2.3")},
		{policy: Random, present: []string{}, want: []netip.Addr{{}}},
		{policy: LRR, present: all, want: addrs(all...)},
		{policy: LRR, present: []string{"192.0.2.2", "192.0.2.3"}, want: addrs("192.0.2.2", "192.0.2.3")},
		{policy: LRR, present: []string{"192.0.2.2"}, want: addrs("192.0.2.2")},
		{policy: LRR, present: []string{}, want: []netip.Addr{{}}},
		{policy: RR, present: all, want: addrs(all...)},
		{policy: RR, present: []string{"192.0.2.1", "192.0.2.2"}, want: addrs("192.0.2.1", "192.0.2.2")},
		{policy: RR, present: []string{"192.0.2.1"}, want: addrs("192.0.2.1")},
		{policy: RR, present: []string{}, want: []netip.Addr{{}}},
		{policy: LC, present: all, want: addrs(all...)},
		{policy: LC, present: []string{"192.0.2.1", "192.0.2.3"}, want: addrs("192.0.2.1", "192.0.2.3")},
		{policy: LC, present: []string{}, want: []netip.Addr{{}}},
	}
	for _, tt := range tests {
		name := tt.policy + " with " + "nil set"
		if tt.present != nil {
			name = tt.policy + " with " + fmtAddrs(tt.present)
		}
		t.Run(name, func(t *testing.T) {
			var e presenceEnv
			if tt.present != nil {
				e.have(tt.present...)
			}
			p := mustPolicy(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: addrs(all...), Policy: tt.policy}}, nil).WithOptions(Options{})
			p, err := p.WithEnv(e.env())
			if err != nil {
				t.Fatal(err)
			}
			m, _ := p.MatchConnect(netip.MustParseAddrPort("10.1.1.1:80"), AnyProtocol)
			if d := diff(tt.want, picked(m, 300)); d != "" {
				t.Errorf("sources picked (-want +got):\n%s", d)
			}
			if pk := m.Peek(1); !slices.Contains(tt.want, pk) {
				t.Errorf("Peek() = %v, want one of %v", pk, tt.want)
			}
			// absent_sources = "use": today's behaviour, every source.
			u, _ := p.WithOptions(Options{AbsentSources: AbsentUse}).MatchConnect(netip.MustParseAddrPort("10.1.1.1:80"), AnyProtocol)
			wantUse := addrs(all...)
			if tt.policy == OneVIPA {
				wantUse = wantUse[:1]
			}
			if d := diff(wantUse, picked(u, 300)); d != "" {
				t.Errorf("absent_sources = use: sources picked (-want +got):\n%s", d)
			}
		})
	}
}

func fmtAddrs(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	out := s[0]
	for _, a := range s[1:] {
		out += "," + a
	}
	return out
}

// TestPresenceChanges follows one rule while its sources go and come back:
// each call sees the set of its time.
func TestPresenceChanges(t *testing.T) {
	var e presenceEnv
	e.have("192.0.2.1", "192.0.2.2")
	p, err := mustPolicy(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: addrs("192.0.2.1", "192.0.2.2"), Policy: RR}}, nil).WithEnv(e.env())
	if err != nil {
		t.Fatal(err)
	}
	m, _ := p.MatchConnect(netip.MustParseAddrPort("10.1.1.1:80"), AnyProtocol)
	steps := []struct {
		present []string
		want    []netip.Addr
	}{
		{[]string{"192.0.2.1", "192.0.2.2"}, addrs("192.0.2.1", "192.0.2.2")},
		{[]string{"192.0.2.2"}, addrs("192.0.2.2")},
		{[]string{}, []netip.Addr{{}}},
		{[]string{"192.0.2.1"}, addrs("192.0.2.1")},
		{[]string{"192.0.2.1", "192.0.2.2"}, addrs("192.0.2.1", "192.0.2.2")},
	}
	for i, s := range steps {
		e.have(s.present...)
		if d := diff(s.want, picked(m, 20)); d != "" {
			t.Errorf("step %d, present %v: sources picked (-want +got):\n%s", i, s.present, d)
		}
		if d := diff(s.want[0].IsValid(), len(m.Present()) > 0); d != "" {
			t.Errorf("step %d: Present() = %v", i, m.Present())
		}
	}
}

// TestPresenceBind: a bind rule's wildcard source is always present, and
// each family has its own present sources.
func TestPresenceBind(t *testing.T) {
	var e presenceEnv
	e.have("2001:db8::1")
	p, err := mustPolicy(t, nil, []BindRule{{Ports: PortRange{80, 80}, Sources: addrs("192.0.2.1", "0.0.0.0", "2001:db8::1", "2001:db8::2")}}).WithEnv(e.env())
	if err != nil {
		t.Fatal(err)
	}
	m4, _ := p.MatchBind(false, 80)
	if d := diff(addrs("0.0.0.0"), m4.Present()); d != "" {
		t.Errorf("IPv4 present (-want +got):\n%s", d)
	}
	m6, _ := p.MatchBind(true, 80)
	if d := diff(addrs("2001:db8::1"), m6.Present()); d != "" {
		t.Errorf("IPv6 present (-want +got):\n%s", d)
	}
}

// TestPresenceAllocs: while the set stays, a call allocates nothing.
func TestPresenceAllocs(t *testing.T) {
	var e presenceEnv
	e.have("192.0.2.1", "192.0.2.3")
	for _, name := range []string{OneVIPA, Random, RR, LC} {
		p, err := mustPolicy(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: addrs("192.0.2.1", "192.0.2.2", "192.0.2.3"), Policy: name}}, nil).WithEnv(e.env())
		if err != nil {
			t.Fatal(err)
		}
		dst := netip.MustParseAddrPort("10.1.1.1:80")
		m, _ := p.MatchConnect(dst, AnyProtocol)
		m.Source(1)
		if n := testing.AllocsPerRun(100, func() {
			m, _ := p.MatchConnect(dst, AnyProtocol)
			m.Source(1)
		}); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

func mustPolicy(t *testing.T, connect []ConnectRule, bind []BindRule) *Policy {
	t.Helper()
	p, err := New(connect, bind)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWithEnvKeepsOptions: the supervisor attaches its Env to the policy
// conf built with its [options]; they must survive, absent_sources above all.
func TestWithEnvKeepsOptions(t *testing.T) {
	o := Options{TrapSendmsg: true, AllowIOUring: true, AbsentSources: AbsentUse}
	p, err := mustPolicy(t, []ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: addrs("192.0.2.1")}}, nil).WithOptions(o).WithEnv(Env{})
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(o, p.Options()); d != "" {
		t.Errorf("options after WithEnv (-want +got):\n%s", d)
	}
}
