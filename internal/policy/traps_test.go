package policy

import "testing"

func TestTraps(t *testing.T) {
	conn := func(proto Protocol, pol, origin string) ConnectRule {
		return ConnectRule{Destination: pfx("10.0.0.0/8"), Protocol: proto, Sources: addrs("192.0.2.8"), Policy: pol, Origin: origin}
	}
	bind := BindRule{Ports: PortRange{80, 80}, Sources: addrs("192.0.2.8"), Origin: "b:1"}
	kernelBind := BindRule{Ports: PortRange{80, 80}, Policy: Kernel, Origin: "b:2"}
	keep := Options{KeepWildcardBinds: true}
	tests := []struct {
		name    string
		connect []ConnectRule
		bind    []BindRule
		opts    Options
		want    Traps
		// untrapped are the rules Untrapped names for a filter with no
		// bind and no sendto trapped.
		untrapped []string
	}{
		{"empty", nil, nil, Options{}, Traps{}, nil},
		{"connect rule, any protocol", []ConnectRule{conn(AnyProtocol, "", "c:1")}, nil, Options{},
			Traps{Bind: true, SendtoUDP: true, SendtoTCP: true}, []string{"c:1 (sendto)", "c:1 (wildcard bind)"}},
		{"two connect rules: one wildcard bind", []ConnectRule{conn(AnyProtocol, "", "c:1"), {Destination: pfx("10.1.0.0/16"), Sources: addrs("192.0.2.8"), Origin: "c:2"}}, nil, Options{},
			Traps{Bind: true, SendtoUDP: true, SendtoTCP: true}, []string{"c:1 (sendto)", "c:1 (wildcard bind)", "c:2 (sendto)"}},
		{"connect rule, wildcard binds kept", []ConnectRule{conn(AnyProtocol, "", "c:1")}, nil, keep,
			Traps{SendtoUDP: true, SendtoTCP: true}, []string{"c:1 (sendto)"}},
		{"tcp only", []ConnectRule{conn(TCP, "", "c:1")}, nil, keep, Traps{SendtoTCP: true}, []string{"c:1 (sendto)"}},
		{"udp only", []ConnectRule{conn(UDP, "", "c:1")}, nil, keep, Traps{SendtoUDP: true}, []string{"c:1 (sendto)"}},
		{"kernel rules need nothing", []ConnectRule{conn(AnyProtocol, Kernel, "c:1")}, []BindRule{kernelBind}, Options{}, Traps{}, nil},
		{"bind rule", nil, []BindRule{bind}, Options{}, Traps{Bind: true}, []string{"b:1 (bind)"}},
		{"bind and a kernel bind", nil, []BindRule{kernelBind, {Ports: PortRange{81, 81}, Sources: addrs("192.0.2.8"), Origin: "b:3"}}, Options{},
			Traps{Bind: true}, []string{"b:3 (bind)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.connect {
				if tt.connect[i].Policy == Kernel {
					tt.connect[i].Sources = nil
				}
			}
			p, err := New(tt.connect, tt.bind)
			if err != nil {
				t.Fatal(err)
			}
			p = p.WithOptions(tt.opts)
			if got := p.Traps(); got != tt.want {
				t.Errorf("Traps: got %+v, want %+v", got, tt.want)
			}
			if d := diff(tt.untrapped, p.Untrapped(Traps{})); d != "" {
				t.Errorf("Untrapped(none) (-want +got):\n%s", d)
			}
			if got := p.Untrapped(p.Traps()); got != nil {
				t.Errorf("Untrapped(own traps): %v", got)
			}
		})
	}
	// A filter that traps TCP Fast Open only lacks what a UDP rule needs.
	p, err := New([]ConnectRule{conn(TCP, "", "c:1"), {Destination: pfx("10.1.0.0/16"), Protocol: UDP, Sources: addrs("192.0.2.8"), Origin: "c:2"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]string{"c:1 (wildcard bind)", "c:2 (sendto)"}, p.Untrapped(Traps{SendtoTCP: true})); d != "" {
		t.Errorf("Untrapped(tcp) (-want +got):\n%s", d)
	}
}

// TestWithEnvKeepsWildcardOption: the supervisor's policy, wired to the
// system, keeps defer_wildcard_binds = false: its handler reads it.
func TestWithEnvKeepsWildcardOption(t *testing.T) {
	p, err := New([]ConnectRule{{Destination: pfx("10.0.0.0/8"), Sources: addrs("192.0.2.8"), Origin: "c:1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{TrapSendmsg: true, AllowIOUring: true, KeepWildcardBinds: true}
	q, err := p.WithOptions(opts).WithEnv(Env{})
	if err != nil {
		t.Fatal(err)
	}
	if q.Options() != opts {
		t.Errorf("options after WithEnv: %+v, want %+v", q.Options(), opts)
	}
	if q.DefersWildcardBinds() {
		t.Errorf("DefersWildcardBinds with defer_wildcard_binds = false")
	}
}
