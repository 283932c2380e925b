package conf

import (
	"fmt"
	"io/fs"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

// TestParsePolicyKeys covers the keys of the policies beyond onevipa and
// random, and the destination ports and protocol of [[connect]] rules.
func TestParsePolicyKeys(t *testing.T) {
	type rule struct {
		Kind, Match, Sources, Policy string
		Mode                         fs.FileMode
		Origin                       string
	}
	tests := []struct {
		name string
		in   string
		want []rule
	}{
		{
			name: "kernel needs no sources",
			in: lines(
				`[[connect]]`, `destination = "0.0.0.0/0"`, `sources = ["192.0.2.1"]`,
				`[[connect]]`, `destination = "127.0.0.0/8"`, `policy = "kernel"`,
				`[[connect]]`, `destination = "::1"`, `policy = "kernel"`, `sources = []`,
				`[[bind]]`, `ports = "6100-6199"`, `policy = "kernel"`,
			),
			want: []rule{
				{"connect", "0.0.0.0/0 any any", "[192.0.2.1]", "onevipa", 0, "p.toml:1"},
				{"connect", "127.0.0.0/8 any any", "[]", "kernel", 0, "p.toml:4"},
				{"connect", "::1/128 any any", "[]", "kernel", 0, "p.toml:7"},
				{"bind", "6100-6199", "[]", "kernel", 0, "p.toml:11"},
			},
		},
		{
			name: "ports and protocol",
			in: lines(
				`[[connect]]`, `destination = "10.0.0.0/8"`, `ports = 53`, `protocol = "udp"`, `sources = ["192.0.2.1"]`,
				`[[connect]]`, `destination = "10.0.0.0/8"`, `ports = "8000-8999"`, `sources = ["192.0.2.2"]`,
				`[[connect]]`, `destination = "10.0.0.0/8"`, `protocol = "tcp"`, `sources = ["192.0.2.3"]`,
				`[[connect]]`, `destination = "10.0.0.0/8"`, `sources = ["192.0.2.4"]`,
			),
			want: []rule{
				{"connect", "10.0.0.0/8 53 udp", "[192.0.2.1]", "onevipa", 0, "p.toml:1"},
				{"connect", "10.0.0.0/8 8000-8999 any", "[192.0.2.2]", "onevipa", 0, "p.toml:6"},
				{"connect", "10.0.0.0/8 any tcp", "[192.0.2.3]", "onevipa", 0, "p.toml:10"},
				{"connect", "10.0.0.0/8 any any", "[192.0.2.4]", "onevipa", 0, "p.toml:14"},
			},
		},
		{
			name: "round robins and least connections",
			in: lines(
				`[[connect]]`, `destination = "10.1.0.0/16"`, `sources = ["192.0.2.1", "192.0.2.2"]`, `policy = "lrr"`,
				`[[connect]]`, `destination = "10.2.0.0/16"`, `sources = ["192.0.2.1", "192.0.2.2"]`, `policy = "rr"`,
				`[[connect]]`, `destination = "10.3.0.0/16"`, `sources = ["192.0.2.1", "192.0.2.2"]`, `policy = "rr"`, `rr_mode = "0660"`,
				`[[bind]]`, `ports = 80`, `sources = ["192.0.2.1", "192.0.2.2"]`, `policy = "rr"`, `rr_mode = 0o644`,
				`[[bind]]`, `ports = 81`, `sources = ["192.0.2.1", "192.0.2.2"]`, `policy = "lc"`,
			),
			want: []rule{
				{"connect", "10.1.0.0/16 any any", "[192.0.2.1 192.0.2.2]", "lrr", 0, "p.toml:1"},
				{"connect", "10.2.0.0/16 any any", "[192.0.2.1 192.0.2.2]", "rr", 0, "p.toml:5"},
				{"connect", "10.3.0.0/16 any any", "[192.0.2.1 192.0.2.2]", "rr", 0o660, "p.toml:9"},
				{"bind", "80", "[192.0.2.1 192.0.2.2]", "rr", 0o644, "p.toml:14"},
				{"bind", "81", "[192.0.2.1 192.0.2.2]", "lc", 0, "p.toml:19"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("p.toml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got []rule
			for _, r := range p.ConnectRules() {
				ports := "any"
				if r.Ports != (policy.PortRange{}) {
					ports = r.Ports.String()
				}
				got = append(got, rule{"connect", fmt.Sprint(r.Destination, " ", ports, " ", r.Protocol), fmt.Sprint(r.Sources), r.Policy, r.RRMode, r.Origin})
			}
			for _, r := range p.BindRules() {
				got = append(got, rule{"bind", r.Ports.String(), fmt.Sprint(r.Sources), r.Policy, r.RRMode, r.Origin})
			}
			if d := diff(tt.want, got); d != "" {
				t.Errorf("rules (-want +got):\n%s", d)
			}
		})
	}
}
