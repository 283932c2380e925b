package main

import (
	"bytes"
	"flag"
	"slices"
	"strings"
	"testing"
)

// TestVerbUsage checks what does not go with the maintenance verbs. Each
// case fails before anything would start a program.
func TestVerbUsage(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"--check", "true"}, `--check takes no PROGRAM, got "true" (see vipa-exec --help)`},
		{[]string{"--check", "--convert", "f"}, `--check and --convert exclude each other (see vipa-exec --help)`},
		{[]string{"--explain", "10.0.0.1", "--check"}, `--check and --explain exclude each other (see vipa-exec --help)`},
		{[]string{"-u", "nobody", "--check"}, `--user goes with a PROGRAM, not with --check (see vipa-exec --help)`},
		{[]string{"--group", "nogroup", "--explain", "10.0.0.1"}, `--group goes with a PROGRAM, not with --explain (see vipa-exec --help)`},
		{[]string{"--supervise=parent", "--status", "1"}, `--supervise goes with a PROGRAM, not with --status (see vipa-exec --help)`},
		{[]string{"--status", "1", "true"}, `--status takes no PROGRAM, got "true" (see vipa-exec --help)`},
		{[]string{"--status", "1", "-p", "f"}, `--status asks the supervisor, which knows its policy file: no --policy (see vipa-exec --help)`},
		{[]string{"--status", "1", "--check"}, `--check and --status exclude each other (see vipa-exec --help)`},
		{[]string{"--status", "abc"}, `--status "abc": want a pid`},
		{[]string{"--status", "-u", "nobody"}, `--user goes with a PROGRAM, not with --status (see vipa-exec --help)`},
		{[]string{"--json", "true"}, `--json goes with --status (see vipa-exec --help)`},
		{[]string{"--check", "--json"}, `--json goes with --status (see vipa-exec --help)`},
		{[]string{"--supervise=both", "true"}, `--supervise "both": want auto, detached or parent (see vipa-exec --help)`},
		{[]string{"--convert", "f", "-p", "g"}, `--convert reads its FILE, not --policy (see vipa-exec --help)`},
		{[]string{"--check", "--protocol", "udp"}, `--protocol goes with --explain (see vipa-exec --help)`},
		{[]string{"--protocol", "udp", "true"}, `--protocol goes with --explain (see vipa-exec --help)`},
		{[]string{"--explain"}, `option --explain needs an argument (see vipa-exec --help)`},
		{[]string{"--engine", "ebpf", "true"}, `--engine: invalid engine "ebpf" (valid: auto, bpf, seccomp) (see vipa-exec --help)`},
		{[]string{"--engine", "bpf", "--status", "1"}, `--engine goes with a PROGRAM, --check or --explain, not with --status (see vipa-exec --help)`},
		{[]string{"--convert", "f", "--engine=seccomp"}, `--engine goes with a PROGRAM, --check or --explain, not with --convert (see vipa-exec --help)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := run(tt.args, &stdout, &stderr)
			if code != exitUsage || err == nil || err.Error() != tt.msg {
				t.Errorf("run() = %d, %v; want %d, %s", code, err, exitUsage, tt.msg)
			}
			if stdout.Len()+stderr.Len() != 0 {
				t.Errorf("run() wrote %q, %q; want nothing", stdout.String(), stderr.String())
			}
		})
	}
}

// TestStatusArgs: a --status without a pid after it gets an empty one;
// option values and PROGRAM's arguments are left as they are.
func TestStatusArgs(t *testing.T) {
	tests := []struct{ args, want []string }{
		{[]string{"--status"}, []string{"--status="}},
		{[]string{"--status", "--json"}, []string{"--status=", "--json"}},
		{[]string{"-status", "1"}, []string{"-status", "1"}},
		{[]string{"--json", "--status", "12"}, []string{"--json", "--status", "12"}},
		{[]string{"--status=7"}, []string{"--status=7"}},
		{[]string{"-p", "--status", "prog", "--status"}, []string{"-p", "--status", "prog", "--status"}},
		{[]string{"prog", "--status"}, []string{"prog", "--status"}},
		{[]string{"--", "--status"}, []string{"--", "--status"}},
		{[]string{"--check", "--status"}, []string{"--check", "--status="}},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.String("status", "", "")
		fs.String("p", "", "")
		fs.Bool("json", false, "")
		fs.Bool("check", false, "")
		if got := statusArgs(fs, tt.args); !slices.Equal(got, tt.want) {
			t.Errorf("statusArgs(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}
