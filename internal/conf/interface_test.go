package conf

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// TestParseInterface reads [[interface]] rules: they follow the [[connect]]
// rules in ConnectRules, whatever their place in the file, and keep their
// own origin.
func TestParseInterface(t *testing.T) {
	in := lines(
		`[[interface]]`,
		`name = "veth0"`,
		`ports = 53`,
		`protocol = "udp"`,
		`sources = ["192.0.2.3"]`,
		`[[connect]]`,
		`destination = "10.0.0.0/8"`,
		`sources = ["192.0.2.1"]`,
		`[[interface]]`,
		`name = "veth0"`,
		`sources = ["192.0.2.2", "2001:db8::2"]`,
		`policy = "rr"`,
		`on_error = "fail"`,
		`[[interface]]`,
		`name = "eth1.100"`,
		`policy = "kernel"`,
	)
	p, err := Parse("p.toml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.ConnectRules() {
		got = append(got, fmt.Sprintf("%q %s %s %s %v %s %s %s", r.Interface, r.Destination, r.Ports, r.Protocol, r.Sources, r.Policy, r.OnError, r.Origin))
	}
	want := []string{
		`"" 10.0.0.0/8 0 any [192.0.2.1] onevipa continue p.toml:6`,
		`"veth0" invalid Prefix 53 udp [192.0.2.3] onevipa continue p.toml:1`,
		`"veth0" invalid Prefix 0 any [192.0.2.2 2001:db8::2] rr fail p.toml:9`,
		`"eth1.100" invalid Prefix 0 any [] kernel continue p.toml:14`,
	}
	if d := diff(want, got); d != "" {
		t.Errorf("rules (-want +got):%s", d)
	}
	if tr := p.Traps(); !tr.SendtoUDP || !tr.SendtoTCP || !tr.Bind {
		t.Errorf("Traps() = %+v: [[interface]] rules bind connects and sendtos, and defer wildcard binds", tr)
	}
}

func TestParseInterfaceErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		key  string
		err  error
		msg  string
	}{
		{
			name: "no name",
			in:   pad(`[[interface]]`, `sources = ["192.0.2.1"]`),
			line: 4, key: "interface.name", err: ErrMissingKey,
			msg: `policy.toml:4: interface.name: missing; every [[interface]] rule needs name`,
		},
		{
			name: "name not a string",
			in:   pad(`[[interface]]`, `name = 1`, `sources = ["192.0.2.1"]`),
			line: 5, key: "interface.name", err: ErrType,
			msg: `policy.toml:5: interface.name: want an interface name like "eth0", got an integer`,
		},
		{
			name: "name too long",
			in:   pad(`[[interface]]`, `name = "abcdefghijklmnop"`, `sources = ["192.0.2.1"]`),
			line: 5, key: "interface.name", err: policy.ErrInvalidInterface,
			msg: `policy.toml:5: interface.name: invalid interface name "abcdefghijklmnop": longer than 15 bytes`,
		},
		{
			name: "name with a slash",
			in:   pad(`[[interface]]`, `name = "eth0/1"`, `sources = ["192.0.2.1"]`),
			line: 5, key: "interface.name", err: policy.ErrInvalidInterface,
			msg: `policy.toml:5: interface.name: invalid interface name "eth0/1": no '/', ':', white space or NUL`,
		},
		{
			name: "destination is no key of it",
			in:   pad(`[[interface]]`, `name = "eth0"`, `destination = "10.0.0.0/8"`, `sources = ["192.0.2.1"]`),
			line: 6, key: "interface.destination", err: ErrUnknownKey,
			msg: `policy.toml:6: interface.destination: unknown key in [[interface]] (valid: name, ports, protocol, sources, policy, rr_mode, on_error)`,
		},
		{
			name: "no sources",
			in:   pad(`[[interface]]`, `name = "eth0"`),
			line: 4, key: "interface.sources", err: ErrMissingKey,
			msg: `policy.toml:4: interface.sources: missing; every [[interface]] rule needs sources`,
		},
		{
			name: "bad source, at its line",
			in:   pad(`[[interface]]`, `name = "eth0"`, `sources = [`, `"192.0.2.1",`, `"ff02::1",`, `]`),
			line: 8, key: "interface.sources", err: policy.ErrInvalidSource,
			msg: `policy.toml:8: interface.sources: invalid source: ff02::1 is a multicast address`,
		},
		{
			name: "duplicate interface",
			in:   pad(`[[interface]]`, `name = "eth0"`, `sources = ["192.0.2.1"]`, `[[interface]]`, `name = "eth0"`, `sources = ["192.0.2.2"]`),
			line: 8, key: "interface.name", err: policy.ErrDuplicateInterface,
			msg: `policy.toml:8: interface.name: duplicate interface "eth0": the rule at policy.toml:4 has the same one, so this rule would never match`,
		},
		{
			name: "port 0",
			in:   pad(`[[interface]]`, `name = "eth0"`, `ports = 0`, `sources = ["192.0.2.1"]`),
			line: 6, key: "interface.ports", err: policy.ErrInvalidPorts,
			msg: `policy.toml:6: interface.ports: port 0 is no destination port; leave ports out to match every port`,
		},
		{
			name: "typo",
			in:   pad(`[[interface]]`, `nme = "eth0"`, `sources = ["192.0.2.1"]`),
			line: 5, key: "interface.nme", err: ErrUnknownKey,
			msg: `policy.toml:5: interface.nme: unknown key; did you mean "name"?`,
		},
		{
			name: "[interface] for [[interface]]",
			in:   pad(`[interface]`, `name = "eth0"`, `sources = ["192.0.2.1"]`),
			line: 4, key: "interface", err: ErrType,
			msg: `policy.toml:4: interface: write [[interface]] (one per rule), not [interface]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("policy.toml", []byte(tt.in))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse() = %v, want a *Error", err)
			}
			type where struct {
				Line int
				Key  string
			}
			if d := diff(where{tt.line, tt.key}, where{e.Line, e.Key}); d != "" {
				t.Errorf("position (-want +got):%s", d)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("Parse() error %v does not wrap %v", err, tt.err)
			}
			if d := diff(tt.msg, err.Error()); d != "" {
				t.Errorf("message (-want +got):%s", d)
			}
		})
	}
}
