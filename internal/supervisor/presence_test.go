package supervisor

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/conf"
	"github.com/vipa-exec/vipa-exec/internal/policy"
	"github.com/vipa-exec/vipa-exec/internal/testutil"
)

const presencePolicy = `[[connect]]
destination = "10.1.0.0/16"
sources     = ["192.0.2.10", "192.0.2.11"]

[[connect]]
destination = "10.2.0.0/16"
sources     = ["192.0.2.11"]
on_error    = "fail"

[[bind]]
ports   = "80"
sources = ["192.0.2.11", "0.0.0.0"]

[[connect]]
destination = "10.3.0.0/16"
policy      = "kernel"
`

func set(ss ...string) *policy.AddrSet {
	var a []netip.Addr
	for _, s := range ss {
		a = append(a, netip.MustParseAddr(s))
	}
	return policy.NewAddrSet(a...)
}

func TestLogPresence(t *testing.T) {
	tests := []struct {
		name     string
		options  string
		old, new *policy.AddrSet
		want     []string
	}{
		{name: "start, all present", new: set("192.0.2.10", "192.0.2.11")},
		{name: "start, one absent", new: set("192.0.2.10"), want: []string{
			`level=WARN msg="source is not an address of this host; its rules skip it until it is" source=192.0.2.11 rules="p.toml:1 p.toml:5 p.toml:10"`,
			`level=WARN msg="no source of the rule is present; its calls fail (on_error = \"fail\"): with EADDRNOTAVAIL under the seccomp engine, EPERM under bpf" rule=p.toml:5`,
		}},
		{name: "start, use", options: "[options]\nabsent_sources = \"use\"\n", new: set("192.0.2.11"), want: []string{
			`level=WARN msg="source is not an address of this host; its rules bind to it anyway (absent_sources = \"use\")" source=192.0.2.10 rules=p.toml:1`,
		}},
		{name: "gone", old: set("192.0.2.10", "192.0.2.11"), new: set("192.0.2.11"), want: []string{
			`level=WARN msg="source is gone from this host; its rules skip it while it is absent" source=192.0.2.10 rules=p.toml:1`,
		}},
		{name: "all gone", old: set("192.0.2.10", "192.0.2.11"), new: set(), want: []string{
			`level=WARN msg="source is gone from this host; its rules skip it while it is absent" source=192.0.2.10 rules=p.toml:1`,
			`level=WARN msg="source is gone from this host; its rules skip it while it is absent" source=192.0.2.11 rules="p.toml:1 p.toml:5 p.toml:10"`,
			`level=WARN msg="no source of the rule is present; its calls keep the kernel's choice (on_error = \"continue\")" rule=p.toml:1`,
			`level=WARN msg="no source of the rule is present; its calls fail (on_error = \"fail\"): with EADDRNOTAVAIL under the seccomp engine, EPERM under bpf" rule=p.toml:5`,
		}},
		{name: "one back", old: set(), new: set("192.0.2.11"), want: []string{
			`level=WARN msg="source is back on this host; its rules use it again" source=192.0.2.11 rules="p.toml:1 p.toml:5 p.toml:10"`,
			`level=WARN msg="a source of the rule is present again" rule=p.toml:1`,
			`level=WARN msg="a source of the rule is present again" rule=p.toml:5`,
		}},
		{name: "gone, use", options: "[options]\nabsent_sources = \"use\"\n", old: set("192.0.2.10", "192.0.2.11"), new: set("192.0.2.10"), want: []string{
			`level=WARN msg="source is gone from this host; its rules still bind to it (absent_sources = \"use\")" source=192.0.2.11 rules="p.toml:1 p.toml:5 p.toml:10"`,
		}},
		{name: "other addresses change", old: set("192.0.2.10", "192.0.2.11"), new: set("192.0.2.10", "192.0.2.11", "198.51.100.1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := conf.Parse("p.toml", []byte(presencePolicy+tt.options))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
			LogPresence(log, p, tt.old, tt.new)
			var got []string
			if out.Len() > 0 {
				got = strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			}
			if d := testutil.Diff(tt.want, got); d != "" {
				t.Errorf("log (-want +got):\n%s", d)
			}
		})
	}
}
