package conf

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestTooDeep(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int // line, 0 for within MaxDepth
	}{
		{"rule table", "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources = [\"192.0.2.10\"]\n", 0},
		{"inline rules", "connect = [{ destination = \"10.0.0.0/8\", sources = [\"192.0.2.10\"] }]\n", 0},
		{"four levels", "a = [[[[1]]]]\n", 0},
		{"five levels", "\na = [[[[[1]]]]]\n", 2},
		{"nested inline tables", "a = {b={c={d={e={f=1}}}}}\n", 1},
		{"dotted keys", "a.b.c.d.e.f = 1\n", 1},
		{"dotted header", "[a.b.c.d.e]\n", 1},
		{"dots in a value", "a = [[1.5, 2.5], [3.5]]\n", 0},
		{"dotted key with blanks", "a . b . c . d . e . f = 1\n", 1},
		{"addresses, not keys", "10.0.0.0/8 onevipa 192.0.2.1 x=1\n", 0},
		{"brackets in strings", "a = \"[[[[[[[[\"\nb = '{{{{{{{{'\nc = \"\"\"\n[[[[[[[[\n\"\"\"\n", 0},
		{"brackets in a comment", "# [[[[[[[[[[\na = 1\n", 0},
		{"escaped quote", "a = \"\\\"[[[[[[[[\"\n", 0},
		{"after a multi-line string", "a = \"\"\"\n\n\"\"\"\nb = [[[[[1]]]]]\n", 4},
		{"unterminated string ends at its line", "a = \"[[[[\nb = [[[[[1]]]]]\n", 2},
		{"closers do not go below zero", "]]]]]]]]\na = [[[[[1]]]]]\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tooDeep([]byte(tt.in), MaxDepth); got != tt.want {
				t.Errorf("tooDeep(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// TestReadLimits: files over the caps are refused before they are parsed,
// with *Error naming a line.
func TestReadLimits(t *testing.T) {
	deep := "[[connect]]\ndestination = \"10.0.0.0/8\"\nsources = [\"192.0.2.10\"]\nx = " +
		strings.Repeat("{a=", 5000) + "1" + strings.Repeat("}", 5000) + "\n"
	big := "# " + strings.Repeat("x", MaxSize) + "\n"
	for _, tt := range []struct {
		name, in string
		line     int
		err      error
	}{
		{"deep", deep, 4, ErrTooDeep},
		{"big", big, 1, ErrTooLarge},
		{"big src_vipa.conf", "10.0.0.0/8 onevipa 192.0.2.10\n" + big, 1, ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(context.Background(), "f.toml", []byte(tt.in), Options{})
			var e *Error
			if !errors.Is(err, tt.err) || !errors.As(err, &e) || e.Line != tt.line {
				t.Fatalf("Read() error %v, want %v at line %d", err, tt.err, tt.line)
			}
			if _, _, err := Convert(context.Background(), "f.conf", []byte(tt.in), Options{}); err == nil {
				t.Errorf("Convert() took it")
			}
		})
	}
}

// TestErrorsQuoteNoLine: a file that is neither format, /etc/passwd say,
// is reported without its contents.
func TestErrorsQuoteNoLine(t *testing.T) {
	for _, in := range []string{
		"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
		"secret/token with spaces\n",
		"/home/user/secret key\n",
	} {
		_, err := Read(context.Background(), "f", []byte(in), Options{})
		if err == nil {
			t.Fatalf("Read(%q) took it", in)
		}
		first, _, _ := strings.Cut(in, "\n")
		for _, w := range strings.FieldsFunc(first, func(r rune) bool { return r == ' ' || r == ':' }) {
			if len(w) > 3 && strings.Contains(err.Error(), w) {
				t.Errorf("Read(%q) error %q quotes %q", in, err, w)
			}
		}
	}
}
