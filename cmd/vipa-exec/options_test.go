package main

import (
	"flag"
	"io"
	"testing"

	"github.com/vipa-exec/vipa-exec/internal/conf"
)

func TestOptionError(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--polcy", "x", "true"}, "unknown option --polcy (did you mean --policy?)"},
		{[]string{"-polcy", "x"}, "unknown option -polcy (did you mean --policy?)"},
		{[]string{"--stat", "1"}, "unknown option --stat (did you mean --status?)"},
		{[]string{"--usr", "nobody"}, "unknown option --usr (did you mean --user?)"},
		{[]string{"--log-levle=debug"}, "unknown option --log-levle (did you mean --log-level?)"},
		{[]string{"--expl", "10.0.0.1"}, "unknown option --expl (did you mean --explain?)"},
		{[]string{"--xyzzy"}, "unknown option --xyzzy"},
		{[]string{"-x"}, "unknown option -x"},
		{[]string{"-p"}, "option -p needs an argument"},
		{[]string{"--policy"}, "option --policy needs an argument"},
		{[]string{"--check=3"}, `option --check takes no value, got "3"`},
	}
	for _, tt := range tests {
		_, err := run(tt.args, io.Discard, io.Discard)
		want := tt.want + " (see vipa-exec --help)"
		if err == nil || err.Error() != want {
			t.Errorf("run(%q) = %v, want %q", tt.args, err, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"policy", "policy", 0},
		{"polcy", "policy", 1},
		{"ploicy", "policy", 2}, // a swap of neighbours is two edits
		{"user", "usr", 1},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := conf.EditDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := conf.EditDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestSuggestNeedsACloseName(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("policy", "", "")
	fs.String("p", "", "")
	for _, name := range []string{"q", "ab", "zzzzzz", "status"} {
		if s := suggest(fs, name); s != "" {
			t.Errorf("suggest(%q) = %q, want none", name, s)
		}
	}
}
