package conf

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// comparable returns a policy's rules without what differs between a
// src_vipa.conf file and its conversion: the origins (other lines) and the
// selectors (state of their own).
func comparable(p *policy.Policy) ([]policy.ConnectRule, []policy.BindRule) {
	c, b := p.ConnectRules(), p.BindRules()
	for i := range c {
		c[i].Origin, c[i].Selector = "", nil
	}
	for i := range b {
		b[i].Origin, b[i].Selector = "", nil
	}
	return c, b
}

// checkConverted checks that out is a TOML policy file with the same rules
// as want, in the same order.
func checkConverted(t *testing.T, want *policy.Policy, out []byte) {
	t.Helper()
	if IsLegacy(out) {
		t.Fatalf("converted file is taken for a src_vipa.conf file:\n%s", out)
	}
	got, err := Parse("converted.toml", out)
	if err != nil {
		t.Fatalf("converted file does not parse: %v\n%s", err, out)
	}
	wc, wb := comparable(want)
	gc, gb := comparable(got)
	if d := diff(wc, gc); d != "" {
		t.Fatalf("connect rules (-src_vipa.conf +converted):\n%s\n%s", d, out)
	}
	if d := diff(wb, gb); d != "" {
		t.Fatalf("bind rules (-src_vipa.conf +converted):\n%s\n%s", d, out)
	}
}

// TestConvertGolden converts testdata/*.conf and compares with the .toml
// next to it (go test -update rewrites those), then checks that the
// conversion gives the same rules as the original.
func TestConvertGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.conf: %v", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(in)
			out, warnings, err := Convert(t.Context(), name, data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			golden := in[:len(in)-len(".conf")] + ".toml"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(string(want), string(out)); d != "" {
				t.Errorf("Convert() (-%s +got):\n%s", golden, d)
			}
			r, err := Read(t.Context(), name, data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(r.Warnings, warnings); d != "" {
				t.Errorf("warnings (-Read +Convert):\n%s", d)
			}
			checkConverted(t, r.Policy, out)
		})
	}
}

func TestConvertEveryReadTest(t *testing.T) {
	for _, tt := range readLegacyTests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Read(t.Context(), "f.conf", []byte(tt.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := Convert(t.Context(), "f.conf", []byte(tt.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkConverted(t, r.Policy, out)
		})
	}
}

func TestConvertErrors(t *testing.T) {
	t.Run("TOML file", func(t *testing.T) {
		_, _, err := Convert(t.Context(), "p.toml", []byte(pad()), Options{})
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrNotLegacy) || e.Line != 1 {
			t.Errorf("Convert(TOML) error %v, want a *Error at line 1 wrapping ErrNotLegacy", err)
		}
	})
	t.Run("invalid src_vipa.conf", func(t *testing.T) {
		for _, tt := range legacyErrorTests {
			_, _, err := Convert(t.Context(), "f.conf", []byte(tt.in), Options{})
			if err == nil || err.Error() != tt.msg {
				t.Errorf("%s: Convert() error %v, want %s", tt.name, err, tt.msg)
			}
		}
	})
}

func TestSanitizeComment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"# plain", "# plain"},
		{"# tab\tkept", "# tab\tkept"},
		{"# bell\a and del\x7f", "# bell? and del?"},
		{"# not UTF-8 \xff", "# not UTF-8 \uFFFD"},
		{"# C1 \u0085", "# C1 ?"},
	}
	for _, tt := range tests {
		if got := sanitizeComment(tt.in); got != tt.want {
			t.Errorf("sanitizeComment(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
